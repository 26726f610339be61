/**
 * Cross-node flow control (docs/cluster.md "Flow control across nodes"): a slow QoS 1 subscriber
 * on node 0 slows the publishers on node 1 the way a slow subscriber slows a publisher on one
 * node; a stuck one holds the others back no longer than max-publisher-pause. Real redis-server,
 * broker child processes, MQTT.js. Needs dist/ (rm -rf dist && npx tsc -p tsconfig.build.json).
 */
import type Redis from 'ioredis';
import type { MqttClient } from 'mqtt';
import { encodePacketV5 } from '../../src/core/protocol/encoder-v5';
import { PacketType } from '../../src/core/protocol/packets';
import { startCluster, killClusterNodes, type TestCluster } from '../helpers/cluster-nodes';
import { RawClient } from '../helpers/raw';
import { connectV5, decodeV5, lastDisconnect } from '../helpers/v5';
import { waitFor } from '../helpers/wait';
import { connectTo, endClients, routed } from './cluster-clients';

/** max-queued-messages of every node: small, so that a slow subscriber is over it at once. */
const QUEUE = 50;

/** A node's latest stats snapshot in Redis (written every 2 s, cluster-node.ts). */
async function nodeStats(redis: Redis, node: string): Promise<Record<string, number> | null> {
  const raw = await redis.get(`nestmq:{n:${node}}:stats`);
  return raw === null ? null : (JSON.parse(raw) as Record<string, number>);
}

/** Waits for a snapshot of `node` taken after `since` (epoch ms) and returns it. */
async function statsAfter(redis: Redis, node: string, since: number): Promise<Record<string, number>> {
  let stats: Record<string, number> | null = null;
  await waitFor(async () => {
    stats = await nodeStats(redis, node);
    return stats !== null && stats.at > since;
  }, 8000, `a stats snapshot of ${node}`);
  return stats!;
}

/**
 * Publishes `count` QoS 1 messages `<tag>:<i>` on `topic`, `window` unacknowledged at most (as the
 * benchmark's publishers); resolves with the acknowledged ones, in order.
 */
function publishWindowed(client: MqttClient, topic: string, tag: string, count: number, window: number): Promise<string[]> {
  const acked: string[] = [];
  let next = 0;
  let settled = 0;
  return new Promise((resolve) => {
    const one = (): void => {
      const i = next++;
      client.publishAsync(topic, `${tag}:${i}`, { qos: 1 }).then(
        () => void acked.push(`${tag}:${i}`),
        () => undefined,
      ).finally(() => {
        if (++settled === count) resolve(acked);
        else if (next < count) one();
      });
    };
    for (let k = 0; k < window && k < count; k++) one();
  });
}

describe('cluster flow control (2 nodes, real redis-server)', () => {
  let cluster: TestCluster | null = null;
  const raws: RawClient[] = [];
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await endClients();
    await cluster?.stop();
    cluster = null;
    killClusterNodes();
  });

  it('a slow QoS 1 subscriber on node 0 slows the publishers on node 1: every acknowledged message arrives in order, the subscriber stays connected', async () => {
    cluster = await startCluster({ nodes: 2, config: { limits: { 'max-queued-messages': QUEUE } } });
    const redis = cluster.redis.inspector();
    let closed = 0;
    // Slow: acknowledges each delivery a timer later, 10 in flight at most (Receive Maximum);
    // MQTT.js reads its next packet only once the previous one is acknowledged.
    const sub = await connectTo(cluster.url(0), {
      clean: true,
      properties: { receiveMaximum: 10 },
      customHandleAcks: (_topic, _message, _packet, done) => void setTimeout(() => done(0), 1),
    });
    sub.on('close', () => closed++);
    await sub.subscribeAsync('flow/#', { qos: 1 });
    const publishers: MqttClient[] = [];
    for (let k = 0; k < 4; k++) publishers.push(await connectTo(cluster.url(1)));
    await routed(publishers[0], sub, 'flow/probe');
    const got = new Map<string, number[]>();
    let received = 0;
    sub.on('message', (topic, payload) => {
      const text = payload.toString();
      if (text === '__probe__') return;
      const [tag, i] = text.split(':');
      let list = got.get(tag);
      if (list === undefined) got.set(tag, (list = []));
      list.push(Number(i));
      received++;
    });
    const acked = await Promise.all(publishers.map((p, k) => publishWindowed(p, `flow/${k}`, `p${k}`, 500, 20)));
    const ackedCount = acked.reduce((n, a) => n + a.length, 0);
    await waitFor(() => received >= ackedCount || closed > 0, 60000, 'every acknowledged message at the subscriber');
    expect(closed).toBe(0);
    // Every acknowledged message arrived, each publisher's in its order.
    for (let k = 0; k < publishers.length; k++) {
      const list = got.get(`p${k}`) ?? [];
      for (const m of acked[k]) expect(list).toContain(Number(m.split(':')[1]));
      expect(list).toEqual([...list].sort((a, b) => a - b));
    }
    // Node 1's publishers were paused for node 0 (cluster-flow.ts), node 0 closed nobody.
    const ended = Date.now(); // the snapshots must be taken after everything counted happened
    const publishing = await statsAfter(redis, 'node-1', ended);
    const receiving = await statsAfter(redis, 'node-0', ended);
    expect(publishing.clusterFlowPauses).toBeGreaterThan(0);
    expect(receiving.clusterFlowBusySent).toBeGreaterThan(0);
    expect(receiving.closedQueueOverflow).toBe(0);
  }, 90000);

  it('v5 [MQTT-3.3.4-9] a stuck subscriber on node 0 (never more than its Receive Maximum unacknowledged) holds another subscriber of node 0 back no longer than max-publisher-pause, then is closed as on one node (v5: 0x97)', async () => {
    cluster = await startCluster({ nodes: 2, config: { limits: { 'max-queued-messages': QUEUE, 'max-publisher-pause': 1 } } });
    const redis = cluster.redis.inspector();
    // Stuck: reads everything, acknowledges nothing (raw bytes), Receive Maximum 10.
    const stuck = await RawClient.tcp(cluster.port(0));
    raws.push(stuck);
    stuck.send(connectV5({ clientId: 'stuck', properties: { receiveMaximum: 10 } }));
    expect(decodeV5<{ cmd: string; reasonCode: number }>(await stuck.next())).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    stuck.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'stuck/#', qos: 1 }] }));
    expect(decodeV5<{ cmd: string; granted: number[] }>(await stuck.next())).toMatchObject({ cmd: 'suback', granted: [1] });
    const healthy = await connectTo(cluster.url(0));
    await healthy.subscribeAsync('ok/#', { qos: 1 });
    const pubStuck = await connectTo(cluster.url(1));
    const pubOk = await connectTo(cluster.url(1));
    await routed(pubOk, healthy, 'ok/probe');
    const healthyGot: string[] = [];
    healthy.on('message', (_t, payload) => {
      if (payload.toString() !== '__probe__') healthyGot.push(payload.toString());
    });
    // The stuck subscriber's publisher goes on publishing while the healthy one's publishes one
    // message at a time; its longest wait for a PUBACK is how long the stuck one held it.
    let stop = false;
    const flood = (async () => {
      for (let i = 0; !stop && i < 2000; i++) await pubStuck.publishAsync('stuck/x', `s:${i}`, { qos: 1 }).catch(() => undefined);
    })();
    let longestWait = 0;
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const t = Date.now();
      await pubOk.publishAsync('ok/x', `ok:${i}`, { qos: 1 });
      longestWait = Math.max(longestWait, Date.now() - t);
      sent.push(`ok:${i}`);
      if (i === 100) await waitFor(() => stuck.closed, 10000, 'the stuck subscriber closed'); // the rest after it is gone
    }
    stop = true;
    await flood;
    await waitFor(() => healthyGot.length >= sent.length, 10000, 'every healthy message');
    expect(healthyGot).toEqual(sent);
    // Held about one max-publisher-pause (1 s) plus the signals' way through Redis, not for as
    // long as the stuck one stays (for ever); slack for a loaded machine.
    expect(longestWait).toBeLessThan(4000);
    expect(stuck.closed).toBe(true);
    // v5 [MQTT-3.3.4-9] what crossed nodes still went to it 10 at a time: it acknowledged none.
    expect(stuck.history.filter((p) => p.type === 3).length).toBe(10);
    expect(lastDisconnect(stuck)).toBe(0x97); // Quota exceeded: QueueOverflow, as on one node
    const ended = Date.now(); // the snapshots must be taken after everything counted happened
    const publishing = await statsAfter(redis, 'node-1', ended);
    expect(publishing.clusterFlowPauses).toBeGreaterThan(0);
    const receiving = await statsAfter(redis, 'node-0', ended);
    expect(receiving.clusterFlowBusySent).toBeGreaterThan(0);
    expect(receiving.closedQueueOverflow).toBe(1);
  }, 90000);
});
