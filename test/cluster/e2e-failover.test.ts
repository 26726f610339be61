/**
 * Failover of persistent sessions (docs/cluster.md "Losing a node"): a node holding a persistent
 * subscriber, or a shared-group member, with QoS 1 messages in flight and queued is SIGKILLed;
 * the client reconnects to another node and gets every message whose PUBACK the publisher had
 * (in-flight ones again with DUP). Three broker processes, one redis-server, MQTT.js. Needs dist/.
 */
import type Redis from 'ioredis';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients, routed } from './cluster-clients';

const key = (clientId: string, part: 'queue' | 'infl'): string => `nestmq:{c:${clientId}}:${part}`;

interface Received {
  payload: string;
  dup: boolean;
}

describe('cluster: persistent sessions survive a SIGKILLed node (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  let redis: Redis;
  const extra: MqttClient[] = [];
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 3 });
    redis = cluster.redis.inspector();
  }, 30000);
  afterEach(async () => {
    for (const c of extra.splice(0)) c.end(true);
    await endClients();
    await cluster?.stop();
  });
  afterAll(() => killClusterNodes());

  /** A client that never acknowledges: what it is sent stays in flight in its session. */
  async function silent(node: number, o: IClientOptions): Promise<MqttClient> {
    const c = await connectTo(cluster.url(node), o);
    c.handleMessage = (): void => undefined; // no callback: MQTT.js never sends the PUBACK
    return c;
  }

  /** Reconnects `clientId` with a clean start 0 on `node`, listening before the CONNACK (the session's messages follow it at once). */
  async function resume(node: number, o: IClientOptions): Promise<{ client: MqttClient; got: Received[]; present: boolean }> {
    const got: Received[] = [];
    const client = mqtt.connect(cluster.url(node), { protocolVersion: 5, reconnectPeriod: 0, clean: false, ...o });
    extra.push(client);
    client.on('message', (_t, p, packet) => got.push({ payload: p.toString(), dup: packet.dup }));
    const present = await new Promise<boolean>((resolve, reject) => {
      client.once('connect', (connack) => resolve(connack.sessionPresent));
      client.once('error', reject);
    });
    return { client, got, present };
  }

  it('v5 [MQTT-4.4.0-1] SIGKILL of a persistent subscriber\'s node: it reconnects to another node and gets every acknowledged QoS 1 message, in flight (DUP) and queued', async () => {
    const o = { clientId: 'fo-sub', clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 4 } };
    const sub = await silent(0, o);
    await sub.subscribeAsync('fo/#', { qos: 1 });
    const pub = await connectTo(cluster.url(2), { clientId: 'fo-pub' });
    const watch = await connectTo(cluster.url(0), { clientId: 'fo-watch' });
    await watch.subscribeAsync('fo/#');
    await routed(pub, watch, 'fo/probe');
    // (The probes are QoS 0: nothing of theirs is in flight or queued.)
    const N = 30;
    for (let i = 0; i < N; i++) await pub.publishAsync('fo/x', String(i), { qos: 1 });
    // Acknowledged to the publisher; node 0 holds them in the subscriber's session (4 in flight,
    // the rest queued) and has written them to Redis.
    await waitFor(async () => {
      const [infl, queue] = [await redis.hvals(key('fo-sub', 'infl')), await redis.lrange(key('fo-sub', 'queue'), 0, -1)];
      return [...infl, ...queue].filter((v) => !v.includes('__probe__')).length >= N;
    }, 5000, 'the session state in Redis');
    expect(await redis.hlen(key('fo-sub', 'infl'))).toBeGreaterThan(0);
    expect(await redis.llen(key('fo-sub', 'queue'))).toBeGreaterThan(0);
    await cluster.kill(0);
    sub.end(true);

    const { got, present } = await resume(1, o);
    expect(present).toBe(true);
    await waitFor(() => new Set(got.filter((m) => m.payload !== '__probe__').map((m) => m.payload)).size >= N, 8000, 'every acknowledged message');
    const payloads = new Set(got.map((m) => m.payload));
    for (let i = 0; i < N; i++) expect(payloads.has(String(i))).toBe(true);
    // The ones that were in flight come again flagged DUP [MQTT-4.4.0-1].
    expect(got.some((m) => m.dup)).toBe(true);
  });

  it('shared subscriptions on failover (v5 §4.8.2, unnumbered: the server MAY wait for the member to reconnect): a $share member on a SIGKILLed node had QoS 1 messages in flight: they reach it again when its session resumes on another node; with the other member, every message at least once', async () => {
    const o = { clientId: 'fo-member', clean: false, properties: { sessionExpiryInterval: 300 } };
    const a = await silent(0, o);
    await a.subscribeAsync('$share/fog/fs/#', { qos: 1 });
    const b = await connectTo(cluster.url(1), { clientId: 'fo-member-b' });
    await b.subscribeAsync('$share/fog/fs/#', { qos: 1 });
    const gotB = collect(b);
    const pub = await connectTo(cluster.url(2), { clientId: 'fo-share-pub' });
    const watch0 = await connectTo(cluster.url(0), { clientId: 'fo-watch0' });
    await watch0.subscribeAsync('sync/fo');
    const watch1 = await connectTo(cluster.url(1), { clientId: 'fo-watch1' });
    await watch1.subscribeAsync('sync/fo');
    await routed(pub, watch0, 'sync/fo');
    await routed(pub, watch1, 'sync/fo');
    const N = 20;
    for (let i = 0; i < N; i++) await pub.publishAsync('fs/x', String(i), { qos: 1 });
    // Each went to one member: B acknowledged its own, A's stay in flight (written to Redis).
    await waitFor(async () => gotB.length + (await redis.hlen(key('fo-member', 'infl'))) >= N, 5000, 'every message placed');
    const heldByA = await redis.hlen(key('fo-member', 'infl'));
    expect(heldByA).toBeGreaterThan(0);
    await cluster.kill(0);
    a.end(true);

    const { got, present } = await resume(2, o);
    expect(present).toBe(true);
    await waitFor(() => got.length >= heldByA, 8000, 'the in-flight messages again');
    expect(got.every((m) => m.dup)).toBe(true);
    const all = new Set([...gotB.map((m) => m.payload), ...got.map((m) => m.payload)]);
    for (let i = 0; i < N; i++) expect(all.has(String(i))).toBe(true);
  });
});
