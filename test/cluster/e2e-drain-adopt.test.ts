/**
 * A drained node (SIGTERM) and a node restarted under its own node id hand their persistent
 * sessions to adoption instead of dropping them (docs/cluster.md "Draining", "Restarted under the
 * same node id"): messages published for those sessions while their clients are away, and what
 * the node's inbox held unread, are queued for them; a drained client's Will is not published
 * when it comes back. Broker processes, one redis-server, MQTT.js. Needs dist/.
 *
 * Waits: on messages and PUBACKs; the adoption itself announces itself by no protocol event, so
 * its end is read from Redis (the node's index key gone / the dying SET) and the Will's decision
 * from the deciding node's stats snapshot (`{n:<id>}:stats`, counters orphanWills*).
 */
import type Redis from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { sleep, waitFor } from '../helpers/wait';
import { connectTo, endClients, routed } from './cluster-clients';

let cluster: TestCluster;
let redis: Redis;
const extra: MqttClient[] = [];

afterEach(async () => {
  for (const c of extra.splice(0)) c.end(true);
  await endClients();
  cluster?.nodes.forEach((n) => n.child?.kill('SIGCONT'));
  await cluster?.stop();
});
afterAll(() => killClusterNodes());

/** Resumes `clientId` (clean start 0) on `node`, listening before the CONNACK. */
async function resume(node: number, clientId: string): Promise<{ got: string[]; present: boolean }> {
  const got: string[] = [];
  const client = mqtt.connect(cluster.url(node), { protocolVersion: 5, reconnectPeriod: 0, clean: false, clientId, properties: { sessionExpiryInterval: 300 } });
  extra.push(client);
  client.on('message', (_t, p) => {
    if (p.toString() !== '__probe__') got.push(p.toString());
  });
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { got, present };
}

/** First arrivals in order of arrival: every acknowledged message there, in publish order. */
function expectAllInOrder(received: string[], acked: number[]): void {
  const seen = new Set<string>();
  const first: number[] = [];
  for (const p of received) {
    if (seen.has(p)) continue; // at least once: a message in flight at the stop comes again (DUP)
    seen.add(p);
    first.push(Number(p));
  }
  const missing = acked.filter((i) => !seen.has(String(i)));
  expect(missing).toEqual([]);
  for (let i = 1; i < first.length; i++) expect(first[i]).toBeGreaterThan(first[i - 1]);
}

/** Waits until `arrivals()` holds every one of `acked` (then the caller checks order and names what is missing). */
function allArrived(arrivals: () => string[], acked: number[], what: string): Promise<void> {
  return waitFor(() => {
    const have = new Set(arrivals());
    return acked.every((i) => have.has(String(i)));
  }, 10000, what);
}

/** A QoS 1 publisher loop: each message acknowledged is pushed to `acked`. */
function publishLoop(pub: MqttClient, topic: string, from = 0): { acked: number[]; stop: () => Promise<void> } {
  const acked: number[] = [];
  let stopped = false;
  let seq = from;
  const running = (async (): Promise<void> => {
    while (!stopped) {
      const i = seq++;
      await pub.publishAsync(topic, String(i), { qos: 1 });
      acked.push(i); // PUBACKed: the message is the broker's
      await sleep(5); // a steady stream, well within the session's max-queued-messages
    }
  })();
  return {
    acked,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

/** A node's latest stats snapshot (written every 2 s) from Redis; {} when none. */
async function snapshot(node: string): Promise<Record<string, number>> {
  const raw = await redis.get(`nestmq:{n:${node}}:stats`);
  return raw === null ? {} : (JSON.parse(raw) as Record<string, number>);
}

describe('cluster: a drained node\'s persistent sessions are adopted, not dropped (3 nodes, real redis-server)', () => {
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 3 });
    redis = cluster.redis.inspector();
  }, 30000);

  it('v5 [MQTT-3.1.2-5] [MQTT-4.6.0-5] SIGTERM of a persistent QoS 1 subscriber\'s node while a publisher on another node goes on: a survivor adopts the session at once (no TTL wait), the subscriber back later on a third node gets every acknowledged message in order, and its Will is not published (v5 [MQTT-3.1.3-9]: the session went on)', async () => {
    const sub = await connectTo(cluster.url(0), {
      clientId: 'dr-sub',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      will: { topic: 'drwill/sub', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    const received: string[] = [];
    sub.on('message', (_t, p) => {
      if (p.toString() !== '__probe__') received.push(p.toString());
    });
    await sub.subscribeAsync('dr/#', { qos: 1 });
    const watch = await connectTo(cluster.url(2), { clientId: 'dr-watch' });
    const wills: string[] = [];
    watch.on('message', (t) => wills.push(t));
    await watch.subscribeAsync('drwill/#', { qos: 1 });
    const pub = await connectTo(cluster.url(1), { clientId: 'dr-pub' });
    await routed(pub, sub, 'dr/probe');
    await waitFor(async () => (await redis.hexists('nestmq:{n:node-0}:sessions', 'dr-sub')) === 1, 5000, 'node 0 indexes the session');

    const loop = publishLoop(pub, 'dr/x');
    await waitFor(() => loop.acked.length >= 20, 5000, 'messages before the drain');
    const drained = Date.now();
    const closed = new Promise<void>((resolve) => sub.once('close', () => resolve()));
    await cluster.kill(0, 'SIGTERM'); // DISCONNECT 0x8B; the client stays away (no reconnect)
    await closed;
    // Adopted at once by a survivor: node 0's index moved under the adopter, the dying entry done.
    await waitFor(async () => (await redis.exists('nestmq:{n:node-0}:sessions')) === 0 && (await redis.sismember('nestmq:{meta}:dying', 'node-0')) === 0, 5000, 'the adoption of node 0');
    // Far below node TTL + a reap pass (1 s + 250 ms) plus the adoption's own ~300 ms grace would be
    // a TTL wait on top: the drain enters the dying SET itself.
    expect(Date.now() - drained).toBeLessThan(3000);
    const adopter = (await redis.hexists('nestmq:{n:node-1}:sessions', 'dr-sub')) === 1 ? 'node-1' : 'node-2';
    expect(await redis.hget(`nestmq:{n:${adopter}}:sessions`, 'dr-sub')).toBe(await redis.hget('nestmq:{c:dr-sub}:lease', 'token'));
    expect(await redis.sismember(`nestmq:{meta}:routes:${adopter}`, 'dr/#')).toBe(1);
    expect(await redis.exists('nestmq:{meta}:routes:node-0', 'nestmq:{n:node-0}:in', 'nestmq:{n:node-0}:pos')).toBe(0);
    const atAdoption = loop.acked.length;
    await waitFor(() => loop.acked.length >= atAdoption + 30, 5000, 'messages after the adoption');
    await loop.stop();

    // Back on node 2 (not necessarily the adopter), within the Will's grace (lease-ms, 3 s).
    const { got, present } = await resume(2, 'dr-sub');
    expect(present).toBe(true);
    await allArrived(() => [...received, ...got], loop.acked, 'every acknowledged message').catch(() => undefined);
    expectAllInOrder([...received, ...got], loop.acked);
    expect(received.length).toBeGreaterThan(0); // some arrived before the drain: the session went on
    // The Will: the adopter decides after the grace; the client came back (a newer token): skipped.
    await waitFor(async () => ((await snapshot(adopter)).clusterOrphanWillsSkipped ?? 0) >= 1, 10000, 'the Will decided (skipped) by the adopter');
    expect((await snapshot(adopter)).clusterOrphanWillsPublished ?? 0).toBe(0);
    expect(wills).toEqual([]);
  }, 40000);

  it('the last node drained: its persistent session waits in Redis (dying entry) and the next node to start adopts it: messages published after that start reach the subscriber, and a drained client that never comes back gets its Will once', async () => {
    // Only node 0 is left.
    await cluster.kill(1, 'SIGTERM');
    await cluster.kill(2, 'SIGTERM');
    await waitFor(async () => (await redis.smembers('nestmq:{meta}:nodes')).join() === 'node-0', 5000, 'node 0 alone');
    const sub = await connectTo(cluster.url(0), { clientId: 'ln-sub', clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync('ln/#', { qos: 1 });
    const gone = await connectTo(cluster.url(0), {
      clientId: 'ln-gone',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      will: { topic: 'lnwill/gone', payload: Buffer.from('gone'), qos: 1, retain: true },
    });
    await gone.subscribeAsync('ln/unused', { qos: 1 });
    const clean = await connectTo(cluster.url(0), { clientId: 'ln-clean', clean: true });
    await clean.subscribeAsync('lnclean/#', { qos: 1 });
    await waitFor(async () => (await redis.sismember('nestmq:{meta}:routes:node-0', 'lnclean/#')) === 1, 5000, 'the clean session\'s route');
    await sub.endAsync(); // away: the session is detached on node 0
    const pub0 = await connectTo(cluster.url(0), { clientId: 'ln-pub0' });
    const acked: number[] = [];
    for (let i = 0; i < 10; i++) {
      await pub0.publishAsync('ln/x', String(i), { qos: 1 });
      acked.push(i);
    }
    await cluster.kill(0, 'SIGTERM'); // the last node: nobody to adopt yet
    expect(await redis.sismember('nestmq:{meta}:dying', 'node-0')).toBe(1);
    expect(await redis.hexists('nestmq:{n:node-0}:sessions', 'ln-sub')).toBe(1);
    // The persistent session's route stays for its adopter's HANDOVER; the clean session's went.
    expect(await redis.sismember('nestmq:{meta}:routes:node-0', 'ln/#')).toBe(1);
    expect(await redis.sismember('nestmq:{meta}:routes:node-0', 'lnclean/#')).toBe(0);

    await cluster.restart(1); // another node id starts: its reaper claims node 0 and adopts
    await waitFor(async () => (await redis.sismember('nestmq:{meta}:dying', 'node-0')) === 0, 5000, 'node 1 adopts node 0');
    expect(await redis.hexists('nestmq:{n:node-1}:sessions', 'ln-sub')).toBe(1);
    expect(await redis.sismember('nestmq:{meta}:routes:node-1', 'ln/#')).toBe(1);
    const pub1 = await connectTo(cluster.url(1), { clientId: 'ln-pub1' });
    for (let i = 10; i < 20; i++) {
      await pub1.publishAsync('ln/x', String(i), { qos: 1 });
      acked.push(i);
    }
    const { got, present } = await resume(1, 'ln-sub');
    expect(present).toBe(true);
    await allArrived(() => got, acked, 'every acknowledged message').catch(() => undefined);
    expectAllInOrder(got, acked);
    // ln-gone never comes back: node 1 publishes its Will after the grace (retained: read it).
    await waitFor(async () => ((await snapshot('node-1')).clusterOrphanWillsPublished ?? 0) >= 1, 10000, 'the Will of the client that did not come back');
    const watch = await connectTo(cluster.url(1), { clientId: 'ln-watch' });
    const wills: string[] = [];
    watch.on('message', (t, p) => wills.push(`${t}=${p.toString()}`));
    await watch.subscribeAsync('lnwill/#', { qos: 1 });
    await waitFor(() => wills.length >= 1, 5000, 'the retained Will');
    expect(wills).toEqual(['lnwill/gone=gone']);
    expect((await snapshot('node-1')).clusterOrphanWillsPublished).toBe(1);
  }, 40000);
});

describe('cluster: a node restarted under the same node id before it was declared dead adopts its earlier run (real redis-server)', () => {
  beforeEach(async () => {
    // A node TTL long enough that the restart comes before the survivors could declare node 0 dead.
    cluster = await startCluster({ nodes: 3, config: { cluster: { 'node-ttl-ms': 6000 } } });
    redis = cluster.redis.inspector();
  }, 30000);

  it('v5 [MQTT-3.1.2-5] [MQTT-4.6.0-5] SIGKILL of a persistent subscriber\'s node with unread entries in its inbox, restarted at once with the same node id while a publisher on another node goes on: the restarted node takes the session back, its routes never go, and the subscriber gets every acknowledged message in order', async () => {
    const sub = await connectTo(cluster.url(0), { clientId: 'rr-sub', clean: false, properties: { sessionExpiryInterval: 300 } });
    const received: string[] = [];
    sub.on('message', (_t, p) => {
      if (p.toString() !== '__probe__') received.push(p.toString());
    });
    await sub.subscribeAsync('rr/#', { qos: 1 });
    const pub = await connectTo(cluster.url(1), { clientId: 'rr-pub' });
    await routed(pub, sub, 'rr/probe');
    await waitFor(async () => (await redis.hexists('nestmq:{n:node-0}:sessions', 'rr-sub')) === 1, 5000, 'node 0 indexes the session');
    const before = await redis.hget('nestmq:{c:rr-sub}:lease', 'token');
    // Node 0 stops reading: what is published now waits, unread, in its inbox (acknowledged).
    cluster.nodes[0].child!.kill('SIGSTOP');
    const acked: number[] = [];
    for (let i = 0; i < 20; i++) {
      await pub.publishAsync('rr/x', String(i), { qos: 1 });
      acked.push(i);
    }
    const position = await redis.get('nestmq:{n:node-0}:pos');
    expect((await redis.xrange('nestmq:{n:node-0}:in', position === null ? '-' : `(${position}`, '+')).length).toBeGreaterThan(0);
    // Published during the restart too (routes of node 0 stay: the publisher's node keeps sending there).
    const loop = publishLoop(pub, 'rr/y', 1000);
    await cluster.restart(0); // SIGKILL, then the same port and node id at once
    sub.end(true);
    const atRestart = loop.acked.length;
    await waitFor(() => loop.acked.length >= atRestart + 30, 5000, 'messages after the restart');
    await loop.stop();
    // Node 0 took the session back itself: indexed under node 0 with a new token, never dying.
    expect(await redis.hget('nestmq:{n:node-0}:sessions', 'rr-sub')).toBe(await redis.hget('nestmq:{c:rr-sub}:lease', 'token'));
    expect(await redis.hget('nestmq:{c:rr-sub}:lease', 'token')).not.toBe(before);
    expect(await redis.sismember('nestmq:{meta}:routes:node-0', 'rr/#')).toBe(1);
    expect(await redis.sismember('nestmq:{meta}:dying', 'node-0')).toBe(0);
    await waitFor(async () => ((await snapshot('node-0')).clusterEarlierRunsAdopted ?? 0) === 1, 5000, 'node 0 reports the earlier run adopted');

    const { got, present } = await resume(2, 'rr-sub');
    expect(present).toBe(true);
    const wanted = [...acked, ...loop.acked];
    await allArrived(() => got, wanted, 'every acknowledged message').catch(() => undefined);
    expectAllInOrder(got, wanted); // the unread tail (0..19) first, then 1000.. in order
    expect(received).toEqual([]); // none reached the subscriber before the kill
  }, 40000);

  it('v5 [MQTT-3.1.2-5] [MQTT-4.6.0-5] the subscriber back on another node BEFORE its SIGKILLed node restarts under the same node id: the restarted node forwards it the entries its inbox held unread', async () => {
    const sub = await connectTo(cluster.url(0), { clientId: 'rf-sub', clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync('rf/#', { qos: 1 });
    const pub = await connectTo(cluster.url(2), { clientId: 'rf-pub' });
    await routed(pub, sub, 'rf/probe');
    await waitFor(async () => (await redis.hexists('nestmq:{n:node-0}:sessions', 'rf-sub')) === 1, 5000, 'node 0 indexes the session');
    cluster.nodes[0].child!.kill('SIGSTOP'); // what is published now waits unread in node 0's inbox
    const acked: number[] = [];
    for (let i = 0; i < 20; i++) {
      await pub.publishAsync('rf/x', String(i), { qos: 1 });
      acked.push(i);
    }
    sub.end(true);
    const { got, present } = await resume(1, 'rf-sub'); // node 1 takes the id over (node 0 is stopped)
    expect(present).toBe(true);
    await waitFor(async () => (await redis.hexists('nestmq:{c:rf-sub}:lease', 'cut:node-0')) === 1, 5000, 'node 1 records its cut');
    await cluster.restart(0); // SIGKILL, then the same node id at once: it finds rf-sub gone elsewhere
    await allArrived(() => got, acked, 'the unread entries, forwarded').catch(() => undefined);
    expectAllInOrder(got, acked);
    expect(await redis.hexists('nestmq:{n:node-0}:sessions', 'rf-sub')).toBe(0); // not taken back: it lives on node 1
  }, 40000);
});


describe('cluster: the only node drained and started again under its own node id (real redis-server)', () => {
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 1 });
    redis = cluster.redis.inspector();
  }, 30000);

  it('v5 [MQTT-3.1.2-5] [MQTT-3.1.3-9] SIGTERM of the only node, then a start with the same node id: it takes its drained sessions back before any client returns (messages published meanwhile are queued for them), the Will of the client that returns is not published, that of the client that never does is, once', async () => {
    const willOf = (t: string) => ({ topic: `srwill/${t}`, payload: Buffer.from(t), qos: 1 as const, retain: true });
    const sub = await connectTo(cluster.url(0), { clientId: 'sr-sub', clean: false, properties: { sessionExpiryInterval: 300 }, will: willOf('sub') });
    await sub.subscribeAsync('sr/#', { qos: 1 });
    const gone = await connectTo(cluster.url(0), { clientId: 'sr-gone', clean: false, properties: { sessionExpiryInterval: 300 }, will: willOf('gone') });
    await gone.subscribeAsync('sr/unused', { qos: 1 });
    await waitFor(async () => (await redis.hlen('nestmq:{n:node-0}:sessions')) === 2, 5000, 'node 0 indexes both sessions');
    await cluster.kill(0, 'SIGTERM');
    expect(await redis.sismember('nestmq:{meta}:dying', 'node-0')).toBe(1);
    expect(await redis.hlen('nestmq:{n:node-0}:wills')).toBe(2); // handed over, not published

    await cluster.restart(0); // the same node id: it takes the dying entry back itself
    expect(await redis.sismember('nestmq:{meta}:dying', 'node-0')).toBe(0);
    expect(await redis.hget('nestmq:{n:node-0}:sessions', 'sr-sub')).toBe(await redis.hget('nestmq:{c:sr-sub}:lease', 'token'));
    const pub = await connectTo(cluster.url(0), { clientId: 'sr-pub' });
    const acked: number[] = [];
    for (let i = 0; i < 10; i++) {
      await pub.publishAsync('sr/x', String(i), { qos: 1 });
      acked.push(i);
    }
    const { got, present } = await resume(0, 'sr-sub');
    expect(present).toBe(true);
    await allArrived(() => got, acked, 'every message published before the return').catch(() => undefined);
    expectAllInOrder(got, acked);
    // Both Wills decided by node 0's own reaper (the `node-0~<time>` entry) after the grace.
    await waitFor(async () => {
      const s = await snapshot('node-0');
      return (s.clusterOrphanWillsPublished ?? 0) + (s.clusterOrphanWillsSkipped ?? 0) >= 2;
    }, 10000, 'both Wills decided');
    const s = await snapshot('node-0');
    expect([s.clusterOrphanWillsPublished, s.clusterOrphanWillsSkipped, s.clusterEarlierRunsAdopted]).toEqual([1, 1, 1]);
    const watch = await connectTo(cluster.url(0), { clientId: 'sr-watch' });
    const wills: string[] = [];
    watch.on('message', (t, p) => wills.push(`${t}=${p.toString()}`));
    await watch.subscribeAsync('srwill/#', { qos: 1 });
    await waitFor(() => wills.length >= 1, 5000, 'the retained Will');
    expect(wills).toEqual(['srwill/gone=gone']);
  }, 40000);
});

describe('cluster: a rolling restart, the drained node\'s client back elsewhere at once (real redis-server)', () => {
  beforeEach(async () => {
    // A reap pass every second: the client is back (on another node) before a survivor adopts.
    cluster = await startCluster({ nodes: 3, config: { cluster: { 'node-ttl-ms': 4000 } } });
    redis = cluster.redis.inspector();
  }, 30000);

  it('v5 [MQTT-3.1.2-5] [MQTT-4.6.0-5] SIGTERM of a persistent subscriber\'s node, messages published right after it stopped (into its inbox: its routes stay) and the subscriber back on another node at once: it gets every acknowledged message (the adopter forwards what its new node did not get), and no Will', async () => {
    const sub = await connectTo(cluster.url(0), {
      clientId: 'rb-sub',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      will: { topic: 'rbwill/sub', payload: Buffer.from('gone'), qos: 1, retain: true },
    });
    const received: string[] = [];
    sub.on('message', (_t, p) => {
      if (p.toString() !== '__probe__') received.push(p.toString());
    });
    await sub.subscribeAsync('rb/#', { qos: 1 });
    const pub = await connectTo(cluster.url(2), { clientId: 'rb-pub' });
    await routed(pub, sub, 'rb/probe');
    const acked: number[] = [];
    for (let i = 0; i < 10; i++) {
      await pub.publishAsync('rb/x', String(i), { qos: 1 });
      acked.push(i);
    }
    await cluster.kill(0, 'SIGTERM');
    // Node 0 has stopped reading; its routes stay until an adopter's HANDOVER: these wait in its inbox.
    await Promise.all(Array.from({ length: 20 }, (_, j) => pub.publishAsync('rb/x', String(10 + j), { qos: 1 }).then(() => acked.push(10 + j))));
    const { got, present } = await resume(1, 'rb-sub');
    expect(present).toBe(true);
    for (let i = 30; i < 40; i++) {
      await pub.publishAsync('rb/x', String(i), { qos: 1 });
      acked.push(i);
    }
    acked.sort((a, b) => a - b);
    await allArrived(() => [...received, ...got], acked, 'every acknowledged message').catch(() => undefined);
    const seen = new Set([...received, ...got]);
    expect(acked.filter((i) => !seen.has(String(i)))).toEqual([]);
    // The Will: decided by node 0's adopter after the grace, skipped (the client came back).
    await waitFor(async () => (await redis.sismember('nestmq:{meta}:dying', 'node-0')) === 0, 10000, 'the adoption of node 0');
    await waitFor(async () => {
      const [a, b] = [await snapshot('node-1'), await snapshot('node-2')];
      return (a.clusterOrphanWillsSkipped ?? 0) + (b.clusterOrphanWillsSkipped ?? 0) >= 1;
    }, 10000, 'the Will decided (skipped)');
    const [a, b] = [await snapshot('node-1'), await snapshot('node-2')];
    expect((a.clusterOrphanWillsPublished ?? 0) + (b.clusterOrphanWillsPublished ?? 0)).toBe(0);
    expect(await redis.exists('nestmq:retained')).toBe(0); // no retained Will either
  }, 40000);
});
