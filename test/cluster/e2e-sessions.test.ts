/**
 * Sessions and retained messages live in Redis when clustered (docs/cluster.md "Sessions in
 * Redis"): a persistent session resumes on ANY node with its subscriptions, its queued and
 * in-flight messages and its inbound QoS 2 state; an MQTT 5 session expires after its interval
 * even when its node died; one retained store, last writer wins. Three broker processes, one
 * redis-server, MQTT.js and raw 3.1.1 sockets. Needs dist/.
 */
import type Redis from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { connack, idOf, pubcomp, publish, puback, pubrel, RawClient, readPublish, T } from '../helpers/raw';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients, routed } from './cluster-clients';

/** The Redis key of a client's session part (docs/cluster.md key layout, prefix nestmq). */
const key = (clientId: string, part: 'sess' | 'queue' | 'infl' | 'qos2'): string => `nestmq:{c:${clientId}}:${part}`;

describe('cluster: sessions and retained messages in Redis (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  let redis: Redis;
  const raws: RawClient[] = [];
  const extra: MqttClient[] = [];
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 3 });
    redis = cluster.redis.inspector();
  }, 30000);
  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    for (const c of extra.splice(0)) c.end(true);
    await endClients();
    await cluster?.stop();
  });
  afterAll(() => killClusterNodes());

  async function raw(node: number): Promise<RawClient> {
    const c = await RawClient.tcp(cluster.port(node));
    raws.push(c);
    return c;
  }

  it('v5 [MQTT-3.1.2-5] a persistent MQTT 5 session resumes on another node with its subscriptions and the messages queued while it was away (published on a third node)', async () => {
    const opts = { clientId: 'sess-v5', clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await connectTo(cluster.url(0), opts);
    await first.subscribeAsync('sess/#', { qos: 1 });
    const pub = await connectTo(cluster.url(2), { clientId: 'sess-pub' });
    await routed(pub, first, 'sess/probe');
    await first.endAsync();
    await waitFor(async () => Number((await redis.hget(key('sess-v5', 'sess'), 'disc')) ?? 0) > 0, 5000, 'the session detached');
    for (let i = 0; i < 5; i++) await pub.publishAsync('sess/q', `m${i}`, { qos: 1 });
    // Node 0 holds the detached session: it queued them, and its writes reached Redis.
    await waitFor(async () => (await redis.llen(key('sess-v5', 'queue'))) === 5, 5000, 'five queued in Redis');

    const got: string[] = [];
    // Listening before the CONNACK: the queue follows it at once.
    const again = mqtt.connect(cluster.url(1), { protocolVersion: 5, reconnectPeriod: 0, ...opts });
    extra.push(again);
    again.on('message', (_t, p) => got.push(p.toString()));
    await new Promise((resolve) => again.once('connect', resolve));
    expect(sessionPresent(again)).toBe(true);
    // The client does not subscribe again: the session brought its subscription to node 1.
    expect(again.connected).toBe(true);
    await waitFor(() => got.length >= 5, 5000, 'the queued messages');
    expect(got.slice(0, 5)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // Its subscription is routed from node 2 to node 1 now.
    await routed(pub, again, 'sess/probe');
    const live = collect(again);
    await pub.publishAsync('sess/live', 'after', { qos: 1 });
    await waitFor(() => live.some((m) => m.payload === 'after'), 5000, 'a message after the resume');
  });

  it('[MQTT-3.1.2-4] [MQTT-4.4.0-1] a 3.1.1 clean session 0 resumes on another node: an unacknowledged QoS 1 message is sent again with DUP, then the queue', async () => {
    const a = await raw(0);
    await a.connect({ clientId: 'sess-311', clean: false });
    await a.subscribe(1, ['inf/#', 1]);
    const pub = await connectTo(cluster.url(2), { clientId: 'inf-pub', protocolVersion: 4 });
    const watcher = await connectTo(cluster.url(0), { clientId: 'inf-watch' });
    await watcher.subscribeAsync('inf/#');
    await routed(pub, watcher, 'inf/probe');
    await pub.publishAsync('inf/x', 'held', { qos: 1 });
    // Received and never acknowledged: in flight, written to Redis by node 0.
    let p = readPublish(await a.next());
    while (p.payload.toString() === '__probe__') {
      if (p.qos > 0) a.send(puback(p.id!));
      p = readPublish(await a.next());
    }
    expect(p.payload.toString()).toBe('held');
    await waitFor(async () => (await redis.hlen(key('sess-311', 'infl'))) === 1, 5000, 'in flight in Redis');
    a.destroy();
    await a.waitClosed();
    // Node 0 saw the close: the session is detached (its disconnect time written), so what
    // comes now is queued rather than sent to the dead socket.
    await waitFor(async () => Number((await redis.hget(key('sess-311', 'sess'), 'disc')) ?? 0) > 0, 5000, 'the session detached');
    await pub.publishAsync('inf/x', 'queued', { qos: 1 });
    await waitFor(async () => (await redis.llen(key('sess-311', 'queue'))) === 1, 5000, 'queued in Redis');

    const b = await raw(1);
    await b.connect({ clientId: 'sess-311', clean: false }, connack(1, 0));
    const resent = readPublish(await b.next());
    expect(resent.payload.toString()).toBe('held');
    expect(resent.dup).toBe(true);
    b.send(puback(resent.id!));
    const next = readPublish(await b.next());
    expect(next.payload.toString()).toBe('queued');
    b.send(puback(next.id!));
    await b.pingRoundTrip();
  });

  it('[MQTT-4.3.3-2] inbound QoS 2 state follows the session: a PUBREL sent on another node after reconnecting gets PUBCOMP, and the message is delivered once', async () => {
    const sub = await connectTo(cluster.url(2), { clientId: 'q2-sub' });
    await sub.subscribeAsync('q2/#', { qos: 2 });
    const probe = await connectTo(cluster.url(0), { clientId: 'q2-probe' });
    await routed(probe, sub, 'q2/probe');
    const got = collect(sub);
    const a = await raw(0);
    await a.connect({ clientId: 'q2-pub', clean: false });
    a.send(publish({ topic: 'q2/x', payload: 'once', qos: 2, id: 7 }));
    const rec = await a.next();
    expect(rec.type).toBe(T.PUBREC);
    expect(idOf(rec)).toBe(7);
    await waitFor(async () => (await redis.sismember(key('q2-pub', 'qos2'), '7')) === 1, 5000, 'QoS 2 state in Redis');
    a.destroy();
    await a.waitClosed();
    const b = await raw(1);
    await b.connect({ clientId: 'q2-pub', clean: false }, connack(1, 0));
    // [MQTT-4.3.3-2] the publisher may send the same PUBLISH again with DUP before PUBREL: no second delivery.
    b.send(publish({ topic: 'q2/x', payload: 'once', qos: 2, id: 7, dup: true }));
    const rec2 = await b.next();
    expect(rec2.type).toBe(T.PUBREC);
    b.send(pubrel(7));
    const comp = await b.next();
    expect(comp.type).toBe(T.PUBCOMP);
    expect(comp.bytes).toEqual(pubcomp(7));
    await waitFor(() => got.some((m) => m.payload === 'once'), 5000, 'the message');
    await sub.publishAsync('q2/end', 'end', { qos: 1 });
    await waitFor(() => got.some((m) => m.topic === 'q2/end'), 5000, 'a later message');
    expect(got.filter((m) => m.payload === 'once')).toHaveLength(1);
    expect(await redis.scard(key('q2-pub', 'qos2'))).toBe(0);
  });

  it('v5 [MQTT-3.1.2-23] [MQTT-4.1.0-2] a session expires after its Session Expiry Interval even when its node died; a longer one resumes on another node', async () => {
    const short = await connectTo(cluster.url(0), { clientId: 'exp-short', clean: false, properties: { sessionExpiryInterval: 2 } });
    await short.subscribeAsync('exp/a', { qos: 1 });
    const long = await connectTo(cluster.url(0), { clientId: 'exp-long', clean: false, properties: { sessionExpiryInterval: 300 } });
    await long.subscribeAsync('exp/b', { qos: 1 });
    await short.endAsync();
    await long.endAsync();
    await waitFor(async () => (await redis.pttl(key('exp-short', 'sess'))) > 0, 5000, 'detached in Redis');
    await cluster.kill(0);
    // Nobody is left to expire it but Redis: the session's keys go after the interval.
    await waitFor(async () => (await redis.exists(key('exp-short', 'sess'))) === 0, 6000, 'expired in Redis');
    const s = await connectTo(cluster.url(1), { clientId: 'exp-short', clean: false, properties: { sessionExpiryInterval: 2 } });
    expect(sessionPresent(s)).toBe(false);
    const l = await connectTo(cluster.url(1), { clientId: 'exp-long', clean: false, properties: { sessionExpiryInterval: 300 } });
    expect(sessionPresent(l)).toBe(true);
    const pub = await connectTo(cluster.url(2), { clientId: 'exp-pub' });
    await routed(pub, l, 'exp/b');
  });

  it('retained messages cluster-wide, last writer wins: two nodes write the same topic, a subscriber on the third gets the last', async () => {
    const a = await connectTo(cluster.url(0), { clientId: 'ret-a' });
    const b = await connectTo(cluster.url(1), { clientId: 'ret-b' });
    await a.publishAsync('ret/x', 'first', { qos: 1, retain: true });
    await b.publishAsync('ret/x', 'second', { qos: 1, retain: true });
    expect((await redis.hkeys('nestmq:retained')).includes('ret/x')).toBe(true);
    let seen = '';
    // Node 2 follows the change notices: a new subscriber there gets what Redis holds.
    await waitFor(
      async () => {
        const c = await connectTo(cluster.url(2), { clientId: `ret-c-${Date.now()}` });
        const got = collect(c);
        await c.subscribeAsync('ret/x', { qos: 1 });
        await c.publishAsync('ret/none', '', { qos: 1 }); // a round trip after the SUBACK
        seen = got.find((m) => m.topic === 'ret/x')?.payload ?? '';
        await c.endAsync();
        return seen === 'second';
      },
      5000,
      'the last retained message on node 2',
    );
    expect(seen).toBe('second');
  });
});

/** The CONNACK's Session Present flag as MQTT.js reports it. */
function sessionPresent(client: unknown): boolean {
  return (client as { connackPacket?: { sessionPresent?: boolean } }).connackPacket?.sessionPresent === true;
}
