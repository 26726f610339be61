import mqtt from 'mqtt';
import { ChildBroker, killChildBrokers } from '../helpers/child-broker';
import { TestBroker } from '../helpers/broker';
import * as raw from '../helpers/raw';
import { RawClient, T } from '../helpers/raw';
import { type RedisServer, startRedis } from '../helpers/redis';
import { connectMqtt5, connectV5, decodeV5, endGracefully } from '../helpers/v5';
import { waitFor } from '../helpers/wait';
import type { RedisStore } from '../../src/core/stores/redis';
import type { Stores } from '../../src/core/stores/store';

/** The broker's stores (private to Broker: read here for the counters and the retained state). */
const storesOf = (b: TestBroker): Stores => (b.broker as unknown as { stores: Stores }).stores;

/**
 * Durability on Redis (persistence.backend: redis) with a real redis-server and real brokers:
 * child processes (dist/) for kill -9 and restarts, in-process Brokers where the test reads the
 * store's counters. What was acknowledged survives the broker; nothing is acknowledged that Redis
 * did not answer.
 */
const servers: RedisServer[] = [];
async function redisServer(options?: Parameters<typeof startRedis>[0]): Promise<RedisServer> {
  const r = await startRedis(options);
  servers.push(r);
  return r;
}

function redisConfig(url: string, prefix: string, extra: Record<string, unknown> = {}): { persistence: Record<string, unknown> } & Record<string, unknown> {
  return { listeners: { default: { bind: '127.0.0.1:0' } }, persistence: { backend: 'redis', redis: url, 'redis-prefix': prefix, ...extra } };
}

let prefixes = 0;
const freshPrefix = (): string => `t${process.pid}x${++prefixes}`;

async function rawConnect(port: number, clientId: string, clean: boolean): Promise<{ c: RawClient; sessionPresent: number }> {
  const c = await RawClient.tcp(port);
  c.send(raw.connect({ clientId, clean }));
  const ack = await c.next(5000);
  expect(ack.type).toBe(T.CONNACK);
  expect(ack.body[1]).toBe(0);
  return { c, sessionPresent: ack.body[0] };
}

async function persistentSubscriber(port: number): Promise<void> {
  const { c } = await rawConnect(port, 'sub', false);
  c.send(raw.subscribe(1, ['d/#', 2]));
  expect((await c.next()).bytes).toEqual(raw.suback(1, 2));
  c.send(raw.DISCONNECT);
  await c.waitClosed();
}

async function publishAcknowledged(url: string, n: number): Promise<void> {
  const pub = mqtt.connect(url, { clientId: 'pub', reconnectPeriod: 0 });
  await new Promise((r) => pub.once('connect', r));
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    acks.push(pub.publishAsync('d/q1', String(i), { qos: 1 }));
    acks.push(pub.publishAsync('d/q2', String(i), { qos: 2 }));
  }
  await Promise.all(acks);
  pub.end(true);
}

/** Takes deliveries (acknowledging them, QoS 2 through PUBCOMP) until `n` PUBLISHes arrived. */
async function receiveAll(c: RawClient, n: number): Promise<{ q1: string[]; q2: string[] }> {
  const got = { q1: [] as string[], q2: [] as string[] };
  const awaitingRel = new Set<number>();
  let count = 0;
  while (count < n || awaitingRel.size > 0) {
    const p = await c.next(5000);
    if (p.type === T.PUBREL) {
      expect(awaitingRel.delete(raw.idOf(p))).toBe(true);
      c.send(raw.pubcomp(raw.idOf(p)));
      continue;
    }
    const m = raw.readPublish(p);
    (m.topic === 'd/q1' ? got.q1 : got.q2).push(m.payload.toString());
    count++;
    if (m.qos === 1) c.send(raw.puback(m.id!));
    if (m.qos === 2) {
      awaitingRel.add(m.id!);
      c.send(raw.pubrec(m.id!));
    }
  }
  return got;
}

const seq = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i));

describe('durability (Redis, child-process brokers)', () => {
  jest.setTimeout(30000);
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await redisServer();
  });
  afterAll(async () => {
    killChildBrokers();
    for (const s of servers) await s.destroy();
  });
  const N = 50;

  it.each(['kill -9', 'SIGTERM'])(
    '[MQTT-4.1.0-1][MQTT-3.1.2-5] after %s, an offline persistent subscriber receives every acknowledged QoS 1/2 message, in order, QoS 2 exactly once',
    async (how) => {
      const config = redisConfig(redis.url, freshPrefix());
      let broker = await ChildBroker.start(config);
      await persistentSubscriber(broker.port);
      await publishAcknowledged(broker.url, N);
      if (how === 'kill -9') await broker.crash();
      else expect(await broker.stop()).toBe(0);

      broker = await ChildBroker.start(config);
      const { c, sessionPresent } = await rawConnect(broker.port, 'sub', false);
      expect(sessionPresent).toBe(1);
      const got = await receiveAll(c, 2 * N);
      expect(got.q1).toEqual(seq(N));
      expect(got.q2).toEqual(seq(N));
      await c.expectNothing(); // no duplicate follows
      c.destroy();
      await broker.stop();
    },
  );

  it("[MQTT-4.4.0-1][MQTT-4.3.3-1] in-flight deliveries survive kill -9: unacked PUBLISH re-sent with DUP=1 and its id, PUBREC'd ones get PUBREL", async () => {
    const config = redisConfig(redis.url, freshPrefix());
    let broker = await ChildBroker.start(config);
    const first = await rawConnect(broker.port, 'sub', false);
    first.c.send(raw.subscribe(1, ['d/#', 2]));
    await first.c.next();
    const pub = mqtt.connect(broker.url, { reconnectPeriod: 0 });
    await new Promise((r) => pub.once('connect', r));
    await pub.publishAsync('d/q1', 'one', { qos: 1 });
    await pub.publishAsync('d/q2', 'two', { qos: 2 });
    pub.end(true);
    const m1 = raw.readPublish(await first.c.next());
    const m2 = raw.readPublish(await first.c.next());
    expect([m1.qos, m2.qos]).toEqual([1, 2]);
    first.c.send(raw.pubrec(m2.id!));
    expect(raw.idOf(await first.c.next())).toBe(m2.id); // PUBREL: the PUBREC state is in Redis
    await broker.crash();
    first.c.destroy();

    broker = await ChildBroker.start(config);
    const { c, sessionPresent } = await rawConnect(broker.port, 'sub', false);
    expect(sessionPresent).toBe(1);
    const again = raw.readPublish(await c.next());
    expect(again).toMatchObject({ topic: 'd/q1', qos: 1, dup: true, id: m1.id });
    expect(again.payload.toString()).toBe('one');
    expect((await c.next()).bytes).toEqual(raw.pubrel(m2.id!));
    await c.expectNothing(); // the QoS 2 PUBLISH itself is never re-sent after PUBREC
    c.destroy();
    await broker.stop();
  });

  it('[MQTT-4.3.3-2] an inbound QoS 2 message awaiting PUBREL survives kill -9: the re-sent PUBLISH is not routed twice', async () => {
    const config = redisConfig(redis.url, freshPrefix());
    let broker = await ChildBroker.start(config);
    const watcher = await rawConnect(broker.port, 'watch', false);
    watcher.c.send(raw.subscribe(1, ['x/#', 0]));
    await watcher.c.next();
    const pub = await rawConnect(broker.port, 'pub2', false);
    pub.c.send(raw.publish({ topic: 'x/1', payload: 'once', qos: 2, id: 7 }));
    expect((await pub.c.next()).bytes).toEqual(raw.pubrec(7));
    expect(raw.readPublish(await watcher.c.next()).payload.toString()).toBe('once');
    await broker.crash();
    pub.c.destroy();
    watcher.c.destroy();

    broker = await ChildBroker.start(config);
    const w = await rawConnect(broker.port, 'watch', false);
    const p = await rawConnect(broker.port, 'pub2', false);
    expect(p.sessionPresent).toBe(1);
    p.c.send(raw.publish({ topic: 'x/1', payload: 'once', qos: 2, id: 7, dup: true }));
    expect((await p.c.next()).bytes).toEqual(raw.pubrec(7));
    p.c.send(raw.pubrel(7));
    expect((await p.c.next()).bytes).toEqual(raw.pubcomp(7));
    await w.c.expectNothing(p.c); // not delivered a second time
    p.c.destroy();
    w.c.destroy();
    await broker.stop();
  });

  it('v5 [MQTT-3.1.2-23] a session with a Session Expiry Interval survives a restart with its subscription options, and queued messages keep their properties and remaining expiry', async () => {
    const config = redisConfig(redis.url, freshPrefix());
    let broker = await ChildBroker.start(config);
    const sub = await connectMqtt5(broker.port, { clientId: 'v5sub', clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.client.subscribeAsync('v/#', { qos: 1, nl: true, rap: true });
    await endGracefully(sub.client);
    // The Subscription Options are stored with the QoS: `<qos>|<options JSON>`.
    const inspect = redis.inspector();
    const stored = (await inspect.hget(`${String(config.persistence['redis-prefix'])}:{c:v5sub}:sess`, 's:v/#')) ?? '';
    expect(stored.slice(0, 2)).toBe('1|');
    expect(JSON.parse(stored.slice(2))).toMatchObject({ noLocal: true, retainAsPublished: true });
    const pub = await connectMqtt5(broker.port, { clientId: 'v5pub' });
    await pub.client.publishAsync('v/1', 'props', {
      qos: 1,
      properties: { contentType: 'text/plain', userProperties: { k: 'v' }, messageExpiryInterval: 120, correlationData: Buffer.from('cd') },
    });
    await endGracefully(pub.client);
    expect(await broker.stop()).toBe(0);

    broker = await ChildBroker.start(config);
    const c = await RawClient.tcp(broker.port);
    c.send(connectV5({ clientId: 'v5sub', cleanSession: false, properties: { sessionExpiryInterval: 300 } }));
    const connack = decodeV5<{ cmd: string; sessionPresent: boolean; reasonCode: number }>(await c.next(5000));
    expect(connack).toMatchObject({ cmd: 'connack', sessionPresent: true, reasonCode: 0 });
    const m = decodeV5<{ cmd: string; topic: string; payload: Buffer; qos: number; properties: Record<string, unknown> }>(await c.next());
    expect(m).toMatchObject({ cmd: 'publish', topic: 'v/1', qos: 1 });
    expect(m.payload.toString()).toBe('props');
    expect(m.properties).toMatchObject({ contentType: 'text/plain', userProperties: { k: 'v' }, correlationData: Buffer.from('cd') });
    // v5 [MQTT-3.3.2-6] the remaining interval, not the original one, and not reset by the restart.
    expect(m.properties.messageExpiryInterval).toBeGreaterThan(100);
    expect(m.properties.messageExpiryInterval).toBeLessThanOrEqual(120);
    c.destroy();
    await broker.stop();
  });

  it('v5 [MQTT-3.3.2-5] a queued message whose expiry passes while the broker is down is not delivered after the restart', async () => {
    const config = redisConfig(redis.url, freshPrefix());
    let broker = await ChildBroker.start(config);
    const sub = await connectMqtt5(broker.port, { clientId: 'exp', clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.client.subscribeAsync('e/#', { qos: 1 });
    await endGracefully(sub.client);
    const pub = await connectMqtt5(broker.port, { clientId: 'exppub' });
    await pub.client.publishAsync('e/short', 'gone', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.client.publishAsync('e/long', 'kept', { qos: 1, properties: { messageExpiryInterval: 600 } });
    await endGracefully(pub.client);
    await broker.crash();
    const stoppedAt = Date.now();
    broker = await ChildBroker.start(config);
    // The expiry is a timer by nature: wait it out (from when the message was accepted).
    await new Promise((r) => setTimeout(r, Math.max(0, 1100 - (Date.now() - stoppedAt))));
    const c = await RawClient.tcp(broker.port);
    c.send(connectV5({ clientId: 'exp', cleanSession: false, properties: { sessionExpiryInterval: 300 } }));
    expect(decodeV5<{ sessionPresent: boolean; reasonCode: number }>(await c.next(5000))).toMatchObject({ sessionPresent: true, reasonCode: 0 });
    const m = decodeV5<{ cmd: string; topic: string; messageId: number }>(await c.next());
    expect(m).toMatchObject({ cmd: 'publish', topic: 'e/long' });
    c.send(raw.puback(m.messageId));
    await c.expectNothing(); // e/short is gone
    c.destroy();
    await broker.stop();
  });
});

describe('retained messages in Redis (two in-process brokers on one Redis)', () => {
  jest.setTimeout(20000);
  let redis: RedisServer;
  const brokers: TestBroker[] = [];
  beforeAll(async () => {
    redis = await redisServer();
  });
  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.close();
  });
  afterAll(async () => {
    for (const s of servers.splice(0)) await s.destroy();
  });

  async function broker(prefix: string): Promise<TestBroker> {
    const b = await TestBroker.start(redisConfig(redis.url, prefix) as never);
    brokers.push(b);
    return b;
  }

  async function retainedOn(b: TestBroker, topic: string): Promise<string> {
    const c = await b.client({ clean: true });
    const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync(topic, { qos: 1 });
    const value = await got;
    c.end(true);
    return value;
  }

  it('[MQTT-3.3.1-5] one store: the last retained message written by either broker is what both, and a broker started later, deliver', async () => {
    const prefix = freshPrefix();
    const a = await broker(prefix);
    const b = await broker(prefix);
    const pa = await a.client();
    await pa.publishAsync('r/t', 'from-a', { qos: 1, retain: true });
    const pb = await b.client();
    await pb.publishAsync('r/t', 'from-b', { qos: 1, retain: true });
    // b's write reached Redis last (its PUBACK came after a's): a learns it from the change notice.
    await waitFor(() => storesOf(a).retained.get('r/t')?.payload.toString() === 'from-b', 3000, 'notice on a');
    expect(await retainedOn(a, 'r/#')).toBe('from-b');
    expect(await retainedOn(b, 'r/#')).toBe('from-b');
    const c = await broker(prefix);
    expect(await retainedOn(c, 'r/t')).toBe('from-b');
    // [MQTT-3.3.1-10] an empty retained message deletes it everywhere.
    await pa.publishAsync('r/t', '', { qos: 1, retain: true });
    await waitFor(() => storesOf(b).retained.get('r/t') === undefined && storesOf(c).retained.get('r/t') === undefined, 3000, 'delete notice');
  });

  it('[MQTT-3.3.1-5] v5 retained properties and expiry survive a restart of the only broker', async () => {
    const prefix = freshPrefix();
    const a = await broker(prefix);
    const pub = await connectMqtt5(a.port, { clientId: 'rp' });
    await pub.client.publishAsync('rv/1', 'v', { qos: 1, retain: true, properties: { contentType: 'a/b', messageExpiryInterval: 300 } });
    await endGracefully(pub.client);
    await a.close();
    brokers.length = 0;
    const again = await broker(prefix);
    const sub = await connectMqtt5(again.port, { clientId: 'rs' });
    const got = new Promise<mqtt.IPublishPacket>((resolve) => sub.client.once('message', (_t, _p, packet) => resolve(packet)));
    await sub.client.subscribeAsync('rv/#', { qos: 1 });
    const p = await got;
    expect(p.retain).toBe(true);
    expect(p.properties).toMatchObject({ contentType: 'a/b' });
    expect(p.properties?.messageExpiryInterval).toBeGreaterThan(250);
    sub.client.end(true);
  });
});

describe('Redis down (in-process broker)', () => {
  jest.setTimeout(30000);
  let redis: RedisServer;
  afterAll(async () => {
    for (const s of servers.splice(0)) await s.destroy();
  });

  it('[MQTT-4.3.2-2][MQTT-4.3.3-2] no PUBACK/PUBREC for a message Redis did not take; CONNACK 0x03 (v5 0x88) while it is down; service resumes by itself when it returns', async () => {
    redis = await redisServer({ appendonly: 'yes', appendfsync: 'always' });
    const tb = await TestBroker.start(redisConfig(redis.url, freshPrefix()) as never);
    const store = (storesOf(tb).sessions as unknown as { store: RedisStore }).store;
    try {
      await persistentSubscriber(tb.port);
      const pub = await rawConnect(tb.port, 'p', true);
      pub.c.send(raw.publish({ topic: 'd/1', payload: 'before', qos: 1, id: 1 }));
      expect((await pub.c.next()).bytes).toEqual(raw.puback(1));

      await redis.kill();
      pub.c.send(raw.publish({ topic: 'd/1', payload: 'during', qos: 1, id: 2 }));
      pub.c.send(raw.publish({ topic: 'd/2', payload: 'during2', qos: 2, id: 3 }));
      // The batch holding them fails: the connection is closed and no acknowledgement was sent.
      await pub.c.waitClosed(5000);
      expect(pub.c.history.filter((p) => p.type === T.PUBACK || p.type === T.PUBREC).map((p) => raw.idOf(p))).toEqual([1]);
      expect(store.stats.failedBatches).toBeGreaterThan(0);

      const refused = await RawClient.tcp(tb.port);
      refused.send(raw.connect({ clientId: 'sub', clean: false }));
      expect((await refused.next(5000)).bytes).toEqual(raw.connack(0, 0x03));
      const refused5 = await RawClient.tcp(tb.port);
      refused5.send(connectV5({ clientId: 'sub5', cleanSession: false }));
      expect(decodeV5<{ cmd: string; reasonCode: number }>(await refused5.next(5000))).toMatchObject({ cmd: 'connack', reasonCode: 0x88 });
      expect(store.stats.loadFailures).toBeGreaterThanOrEqual(2);

      await redis.start();
      await waitFor(() => !store.down, 10000, 'store back');
      const again = await rawConnect(tb.port, 'p', true);
      again.c.send(raw.publish({ topic: 'd/1', payload: 'after', qos: 1, id: 4 }));
      expect((await again.c.next()).bytes).toEqual(raw.puback(4));
      again.c.destroy();
      const { c, sessionPresent } = await rawConnect(tb.port, 'sub', false);
      expect(sessionPresent).toBe(1);
      // Every acknowledged message, in order. The unacknowledged ones may come too (at least
      // once: the broker had routed them in memory; their publisher re-sends them anyway).
      const payloads: string[] = [];
      while (payloads[payloads.length - 1] !== 'after') {
        const m = raw.readPublish(await c.next(5000));
        payloads.push(m.payload.toString());
        if (m.qos === 1) c.send(raw.puback(m.id!));
        if (m.qos === 2) c.send(raw.pubrec(m.id!));
        expect(payloads.length).toBeLessThanOrEqual(4);
      }
      expect(payloads[0]).toBe('before');
      c.destroy();
    } finally {
      await tb.close();
    }
  });

  it('[MQTT-4.3.2-2] an acknowledgement waits for the batch holding its own write, not the batch in flight when it was made', async () => {
    const server = await redisServer();
    const prefix = freshPrefix();
    const tb = await TestBroker.start(redisConfig(server.url, prefix) as never);
    const store = (storesOf(tb).sessions as unknown as { store: RedisStore }).store;
    const inspect = server.inspector();
    try {
      await persistentSubscriber(tb.port); // 'sub' on d/#
      const { c: s2 } = await rawConnect(tb.port, 'sub2', false);
      s2.send(raw.subscribe(1, ['e/#', 1]));
      await s2.next();
      s2.send(raw.DISCONNECT);
      await s2.waitClosed();
      // sub2's queue key of the wrong type: the script writing to it fails, and so its batch.
      await inspect.set(`${prefix}:{c:sub2}:queue`, 'not a list');
      const a = await rawConnect(tb.port, 'a', true);
      const b = await rawConnect(tb.port, 'b', true);

      // Batch 1 (a's message queued for sub) is sent and held by Redis...
      await inspect.call('CLIENT', 'PAUSE', '5000', 'WRITE');
      a.c.send(raw.publish({ topic: 'd/1', payload: 'one', qos: 1, id: 1 }));
      await waitFor(async () => /blocked_clients:1/.test(await inspect.info('clients')), 3000, 'batch 1 held by CLIENT PAUSE');
      // ...while b's message, for sub2, goes into batch 2.
      const inFlight = store.commitTicket;
      b.c.send(raw.publish({ topic: 'e/1', payload: 'two', qos: 1, id: 2 }));
      await waitFor(() => store.commitTicket === inFlight + 1, 3000, "b's write in batch 2");
      await inspect.call('CLIENT', 'UNPAUSE');

      expect((await a.c.next(3000)).bytes).toEqual(raw.puback(1));
      // Batch 2 fails: b never gets its PUBACK (batch 1's answer does not release it).
      await b.c.waitClosed(3000);
      expect(b.c.history.some((p) => p.type === T.PUBACK)).toBe(false);
      a.c.destroy();
    } finally {
      await inspect.call('CLIENT', 'UNPAUSE').catch(() => {});
      await tb.close().catch(() => {});
    }
  });

  it('persistence.redis-wait-replicas: without the replica in time nothing is acknowledged (no CONNACK for a new persistent session, no PUBACK); with a real replica attached both come', async () => {
    const primary = await redisServer();
    const tb = await TestBroker.start(redisConfig(primary.url, freshPrefix(), { 'redis-wait-replicas': 1, 'redis-wait-timeout': 200 }) as never);
    try {
      // The new session's record is written, but WAIT finds no replica: closed without CONNACK.
      const lonely = await RawClient.tcp(tb.port);
      lonely.send(raw.connect({ clientId: 'sub', clean: false }));
      await lonely.expectClosedSilently(5000);

      await redisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
      const inspect = primary.inspector();
      await waitFor(async () => /connected_slaves:1/.test(await inspect.info('replication')), 10000, 'replica attached');
      // The store rewrites what it could not make durable, then accepts connections again.
      await waitFor(async () => {
        const c = await RawClient.tcp(tb.port);
        c.send(raw.connect({ clientId: 'sub', clean: false }));
        const ack = await c.next(3000).catch(() => null);
        c.destroy();
        return ack !== null && ack.type === T.CONNACK && ack.body[1] === 0;
      }, 15000, 'CONNACK once the replica has the writes');
      await persistentSubscriber(tb.port);
      const pub = await rawConnect(tb.port, 'p', true);
      // Queued for the offline subscriber: written, WAITed for, then acknowledged.
      pub.c.send(raw.publish({ topic: 'd/1', payload: 'y', qos: 1, id: 2 }));
      expect((await pub.c.next(3000)).bytes).toEqual(raw.puback(2));
      pub.c.destroy();
    } finally {
      await tb.close();
    }
  });
});

describe('persistence.redis* config keys', () => {
  it('backend redis needs persistence.redis (a redis:// URL); the WAIT keys are bounded; defaults', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { validateConfig } = require('../../src/core/config/validate') as typeof import('../../src/core/config/validate');
    expect(() => validateConfig({ persistence: { backend: 'redis' } })).toThrow(/persistence.redis: required/);
    expect(() => validateConfig({ persistence: { backend: 'redis', redis: 'http://x' } })).toThrow(/persistence.redis: expected a redis:\/\//);
    expect(() => validateConfig({ persistence: { backend: 'redis', redis: 'redis://x', 'redis-wait-replicas': -1 } })).toThrow(/persistence.redis-wait-replicas/);
    expect(() => validateConfig({ persistence: { backend: 'redis', redis: 'redis://x', 'redis-wait-timeout': 0 } })).toThrow(/persistence.redis-wait-timeout/);
    const p = validateConfig({ persistence: { backend: 'redis', redis: 'redis://x:1' } }).persistence;
    expect(p).toMatchObject({ backend: 'redis', redis: 'redis://x:1', redisPrefix: 'nestmq', redisWaitReplicas: 0, redisWaitTimeout: 1000 });
  });
});
