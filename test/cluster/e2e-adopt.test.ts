/**
 * Adoption of a SIGKILLed node's persistent sessions by the survivor that claims its cleanup
 * (docs/cluster.md "Losing a node", src/core/cluster/session-adoption.ts): messages published
 * after the death, and messages the dead node had acknowledged (bus XADD) but not read yet, are
 * queued for the session until its client returns, to any node. Three broker processes, one
 * redis-server, MQTT.js. Needs dist/.
 *
 * "Adopted" is waited for as an event: the subscriber's Will, which the same survivor publishes
 * right after the adoption (membership: onNodeDying, then onNodeDied).
 */
import type Redis from 'ioredis';
import type { MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { sleep, waitFor } from '../helpers/wait';
import { connectTo, endClients, resumeSession, routed } from './cluster-clients';

describe('cluster: a dead node\'s persistent sessions are adopted by a survivor (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  let redis: Redis;
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 3 });
    redis = cluster.redis.inspector();
  }, 30000);
  afterEach(async () => {
    await endClients();
    // A node left stopped by a failing test: killed by stop() all the same.
    cluster?.nodes.forEach((n) => n.child?.kill('SIGCONT'));
    await cluster?.stop();
  });
  afterAll(() => killClusterNodes());

  const resume = (node: number, clientId: string): ReturnType<typeof resumeSession> => resumeSession(cluster.url(node), clientId);

  /** A persistent QoS 1 subscriber on `node` with a Will on `willTopic` (its publication = "adopted"), and a watcher of that Will on `watchNode`. */
  async function subscriberWithWill(node: number, clientId: string, filter: string, willTopic: string, watchNode: number): Promise<{ sub: MqttClient; received: string[]; will: Promise<void> }> {
    const received: string[] = [];
    const sub = await connectTo(cluster.url(node), {
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      will: { topic: willTopic, payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    sub.on('message', (_t, p) => {
      if (p.toString() !== '__probe__') received.push(p.toString());
    });
    await sub.subscribeAsync(filter, { qos: 1 });
    const watch = await connectTo(cluster.url(watchNode), { clientId: `${clientId}-watch` });
    await watch.subscribeAsync(willTopic, { qos: 1 });
    const will = new Promise<void>((resolve) => watch.on('message', (t) => t === willTopic && resolve()));
    return { sub, received, will };
  }

  /** First arrivals in order of arrival: every acknowledged message, each publisher's in its order. */
  function expectAllInOrder(received: string[], acked: number[]): void {
    const seen = new Set<string>();
    const first: number[] = [];
    for (const p of received) {
      if (seen.has(p)) continue; // at least once: a message in flight at the kill comes again (DUP)
      seen.add(p);
      first.push(Number(p));
    }
    for (const i of acked) expect(seen.has(String(i))).toBe(true);
    for (let i = 1; i < first.length; i++) expect(first[i]).toBeGreaterThan(first[i - 1]);
  }

  it('v5 [MQTT-3.1.2-5] [MQTT-4.6.0-5] SIGKILL of a persistent QoS 1 subscriber\'s node while a publisher on another node goes on: a survivor adopts the session, and the subscriber, back later on a third node, gets every acknowledged message in order', async () => {
    const { sub, received, will } = await subscriberWithWill(1, 'ad-sub', 'ad/#', 'adwill/sub', 2);
    const pub = await connectTo(cluster.url(2), { clientId: 'ad-pub' });
    await routed(pub, sub, 'ad/probe');

    const acked: number[] = [];
    let stop = false;
    let seq = 0;
    const publishing = (async (): Promise<void> => {
      while (!stop) {
        const i = seq++;
        await pub.publishAsync('ad/x', String(i), { qos: 1 });
        acked.push(i); // PUBACKed: the message is the broker's
        await sleep(5); // a steady stream, within limits.max-queued-messages (1000) of the session while it is away
      }
    })();
    await waitFor(() => acked.length >= 20, 5000, 'messages before the kill');
    await cluster.kill(1);
    sub.end(true);
    await will; // the survivor adopted node 1's sessions (then published the Will)
    const atAdoption = acked.length;
    // The adopter indexes the session under itself, with the token it took.
    const adopter = (await redis.hexists('nestmq:{n:node-0}:sessions', 'ad-sub')) === 1 ? 'node-0' : 'node-2';
    expect(await redis.hget(`nestmq:{n:${adopter}}:sessions`, 'ad-sub')).toBe(await redis.hget('nestmq:{c:ad-sub}:lease', 'token'));
    await waitFor(() => acked.length >= atAdoption + 30, 5000, 'messages after the adoption');
    stop = true;
    await publishing;

    const { got, present } = await resume(0, 'ad-sub');
    expect(present).toBe(true);
    const wanted = new Set(acked.map(String));
    await waitFor(() => {
      const have = new Set([...received, ...got]);
      for (const w of wanted) if (!have.has(w)) return false;
      return true;
    }, 10000, 'every acknowledged message');
    expectAllInOrder([...received, ...got], acked);
    // The session lives on node 0 now; node 1's keys are gone, and the adopter (if node 2) lets
    // its copy go at its first write after the client came back (fenced by node 0's token).
    expect(await redis.exists('nestmq:{n:node-1}:sessions', 'nestmq:{n:node-1}:in')).toBe(0);
    await pub.publishAsync('ad/x', 'last', { qos: 1 });
    await waitFor(() => got.includes('last'), 5000, 'a message after the return');
    await waitFor(async () => (await redis.hexists('nestmq:{n:node-2}:sessions', 'ad-sub')) === 0, 5000, 'no copy left on the adopter');
    expect(await redis.hget('nestmq:{n:node-0}:sessions', 'ad-sub')).toBe(await redis.hget('nestmq:{c:ad-sub}:lease', 'token'));
  }, 30000);

  it('v5 [MQTT-3.1.2-5] [MQTT-4.6.0-5] the messages a SIGKILLed node had in its inbox but had not read (acknowledged to the publisher on another node) reach its persistent subscriber when it returns on another node', async () => {
    const { sub, received, will } = await subscriberWithWill(1, 'ad-tail', 'tail/#', 'adwill/tail', 0);
    const pub = await connectTo(cluster.url(2), { clientId: 'ad-tail-pub' });
    await routed(pub, sub, 'tail/probe');
    // Node 1 stops reading: what is published now is acknowledged once it is in node 1's inbox.
    cluster.nodes[1].child!.kill('SIGSTOP');
    const N = 40;
    for (let i = 0; i < N; i++) await pub.publishAsync('tail/x', String(i), { qos: 1 });
    // All of them wait in node 1's inbox after the last position it recorded.
    const position = await redis.get('nestmq:{n:node-1}:pos');
    const unread = await redis.xrange('nestmq:{n:node-1}:in', position === null ? '-' : `(${position}`, '+');
    expect(unread.length).toBeGreaterThan(0);
    await cluster.kill(1);
    sub.end(true);
    await will;

    const { got, present } = await resume(2, 'ad-tail');
    expect(present).toBe(true);
    await waitFor(() => new Set(got).size >= N, 10000, 'the unread messages');
    expectAllInOrder([...received, ...got], Array.from({ length: N }, (_, i) => i));
    expect(received).toEqual([]); // none reached the subscriber before the kill
  }, 30000);

  it('a detached copy left on a node the client moved away from (no lease to kick: it had disconnected) leaves that node at its first fenced write: memory, index entry and route', async () => {
    const sub = await connectTo(cluster.url(0), { clientId: 'st-sub', clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync('st/#', { qos: 1 });
    await waitFor(async () => (await redis.hexists('nestmq:{n:node-0}:sessions', 'st-sub')) === 1, 5000, 'node 0 indexes the session');
    await sub.endAsync(); // DISCONNECT: detached on node 0, its lease released (nothing to kick later)
    const { got, present } = await resume(1, 'st-sub');
    expect(present).toBe(true);
    const pub = await connectTo(cluster.url(2), { clientId: 'st-pub' });
    // Node 2 routes to node 0 (the stale copy) and node 1: node 0's write for it is fenced.
    await waitFor(async () => (await redis.sismember('nestmq:{meta}:routes:node-1', 'st/#')) === 1, 5000, 'the route of node 1');
    await pub.publishAsync('st/x', 'one', { qos: 1 });
    await waitFor(() => got.includes('one'), 5000, 'the message on node 1');
    await waitFor(async () => (await redis.hexists('nestmq:{n:node-0}:sessions', 'st-sub')) === 0, 5000, 'node 0 lets the copy go');
    expect(await redis.sismember('nestmq:{meta}:routes:node-0', 'st/#')).toBe(0);
    expect(await redis.hexists('nestmq:{n:node-1}:sessions', 'st-sub')).toBe(1);
    await pub.publishAsync('st/x', 'two', { qos: 1 });
    await waitFor(() => got.includes('two'), 5000, 'the next message');
    expect(got.filter((p) => p === 'one' || p === 'two')).toEqual(['one', 'two']);
  }, 30000);
});
