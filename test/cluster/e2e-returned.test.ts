/**
 * A client back on another node BEFORE its SIGKILLed node is declared dead (docs/cluster.md "A
 * client back before its node is declared dead"): its new node records a cut on the lease (a
 * route-log marker after its routes); the survivor adopting the dead node forwards the dead
 * inbox's unread messages that did not also reach the new node, and only those. Three broker
 * processes, one redis-server, MQTT.js. Needs dist/.
 *
 * The node TTL is 4 s here (1 s elsewhere) so that the client's return, the cut and the messages
 * published after it all happen before the death is declared.
 */
import type Redis from 'ioredis';
import type { MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { connectTo, endClients, resumeSession, routed } from './cluster-clients';

describe('cluster: a client back on another node before its dead node is declared dead gets the dead inbox\'s unread messages once (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  let redis: Redis;
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 3, config: { cluster: { 'node-ttl-ms': 4000 } } });
    redis = cluster.redis.inspector();
  }, 30000);
  afterEach(async () => {
    await endClients();
    cluster?.nodes.forEach((n) => n.child?.kill('SIGCONT'));
    await cluster?.stop();
  });
  afterAll(() => killClusterNodes());

  /**
   * A persistent QoS 1 subscriber on node 1 and a publisher on node 2; node 1 stopped (SIGSTOP),
   * `n` messages acknowledged into its inbox unread, then node 1 killed.
   */
  async function unreadTailOnDeadNode(clientId: string, filter: string, topic: string, n: number): Promise<MqttClient> {
    const sub = await connectTo(cluster.url(1), { clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync(filter, { qos: 1 });
    const pub = await connectTo(cluster.url(2), { clientId: `${clientId}-pub` });
    await routed(pub, sub, `${topic}/probe`);
    cluster.nodes[1].child!.kill('SIGSTOP');
    for (let i = 0; i < n; i++) await pub.publishAsync(`${topic}/x`, `a${i}`, { qos: 1 }); // PUBACKed: in node 1's inbox
    await cluster.kill(1);
    sub.end(true);
    return pub;
  }

  /** The adopter is done with node 1 (it deletes the dead inbox last, after the forwards). */
  const adopted = async (): Promise<boolean> => (await redis.exists('nestmq:{n:node-1}:in')) === 0;

  it('v5 [MQTT-4.6.0-5] SIGKILL with acknowledged messages unread in the node\'s inbox; the subscriber is back on node 0 at once (lease still live); messages published after its return come directly: every message arrives exactly once, the unread ones forwarded by the adopter', async () => {
    const N = 20;
    const pub = await unreadTailOnDeadNode('rt-sub', 'rt/#', 'rt', N);
    expect(await adopted()).toBe(false); // not declared dead yet

    const { got, present } = await resumeSession(cluster.url(0), 'rt-sub');
    expect(present).toBe(true);
    // Node 0 records its cut once its routes for the session are written: the lease's cut:node-1.
    await waitFor(async () => (await redis.hget('nestmq:{c:rt-sub}:lease', 'cut:node-1')) !== null, 5000, 'the cut of node 0');
    expect(await redis.hget('nestmq:{c:rt-sub}:lease', 'cut:node-1')).toMatch(/^\d+ \d+-\d+$/);
    // Published after the return: node 2 routes them to node 0 (and still to node 1's inbox).
    const M = 20;
    for (let i = 0; i < M; i++) await pub.publishAsync('rt/x', `b${i}`, { qos: 1 });
    expect(await adopted()).toBe(false); // all of it before the death is declared

    const want = [...Array.from({ length: N }, (_, i) => `a${i}`), ...Array.from({ length: M }, (_, i) => `b${i}`)];
    await waitFor(() => want.every((w) => got.includes(w)), 15000, 'every acknowledged message');
    await waitFor(adopted, 15000, 'the adoption of node 1');
    // Exactly once: the b's also sat in node 1's inbox, after the cut, and were not forwarded.
    for (const w of want) expect(got.filter((p) => p === w)).toEqual([w]);
    expect(got.length).toBe(N + M);
    // The a's (forwarded together) keep their publisher's order among themselves.
    const as = got.filter((p) => p.startsWith('a')).map((p) => Number(p.slice(1)));
    expect(as).toEqual(Array.from({ length: N }, (_, i) => i));
    // Still one session, on node 0: a message now arrives once.
    await pub.publishAsync('rt/x', 'last', { qos: 1 });
    await waitFor(() => got.includes('last'), 5000, 'a message after the adoption');
    expect(got.filter((p) => p === 'last')).toEqual(['last']);
  }, 60000);

  it('v5 [MQTT-4.6.0-5] the client back DURING the adoption (its lease marked adopting): its CONNECT waits until the adopter has written the session, then gets every unread message once', async () => {
    const N = 20;
    await unreadTailOnDeadNode('ra-sub', 'ra/#', 'ra', N);
    // The survivor's ADOPT marks the lease; the client comes back on node 2 while the mark is there.
    await waitFor(async () => (await redis.hget('nestmq:{c:ra-sub}:lease', 'adopting')) !== null, 15000, 'the adoption of node 1 under way');
    const adopter = await redis.hget('nestmq:{c:ra-sub}:lease', 'adopting');
    const { got, present } = await resumeSession(cluster.url(2), 'ra-sub');
    expect(present).toBe(true);
    // The token the client holds now is newer than the adopter's, and the mark is gone.
    expect(await redis.hget('nestmq:{c:ra-sub}:lease', 'adopting')).toBeNull();
    expect(await redis.hget('nestmq:{c:ra-sub}:lease', 'holder')).toBe('node-2');
    const want = Array.from({ length: N }, (_, i) => `a${i}`);
    await waitFor(() => want.every((w) => got.includes(w)), 10000, 'the unread messages');
    await waitFor(adopted, 15000, 'the end of the adoption');
    expect(got).toEqual(want); // in order, once each
    expect(adopter === 'node-0' || adopter === 'node-2').toBe(true);
  }, 60000);

  it('v5 [MQTT-3.1.2-4] the client back at once with Clean Start 1 started a new session: nothing of the dead inbox is forwarded to it', async () => {
    const N = 10;
    const pub = await unreadTailOnDeadNode('rc-sub', 'rc/#', 'rc', N);
    const { client, got, present } = await resumeSession(cluster.url(0), 'rc-sub', true);
    expect(present).toBe(false);
    await waitFor(async () => (await redis.hget('nestmq:{c:rc-sub}:lease', 'cut:node-1')) !== null, 5000, 'the cut of node 0');
    expect(await redis.hget('nestmq:{c:rc-sub}:lease', 'cut:node-1')).toMatch(/^\d+ -$/);
    await client.subscribeAsync('rc/#', { qos: 1 });
    await waitFor(adopted, 15000, 'the adoption of node 1');
    // The new session's own subscription works; the old session's messages never come.
    await routed(pub, client, 'rc/probe');
    await pub.publishAsync('rc/x', 'new', { qos: 1 });
    await waitFor(() => got.includes('new'), 5000, 'a message of the new session');
    expect(got).toEqual(['new']);
  }, 60000);
});
