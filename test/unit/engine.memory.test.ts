/**
 * The engine through bytes, over in-memory transports and jest's fake clock: the time-bound
 * behaviours (keepalive, connect-timeout, the slow-consumer grace period) are tested to the
 * millisecond without waiting, and no test reads a private field. setImmediate and nextTick stay
 * real: the engine flushes its output batch on setImmediate, and transports close on nextTick.
 */
import type { ClientDisconnectedEvent } from '../../src/core/hooks/events';
import { createMemoryEngine, type MemoryEngine } from '../helpers/memory-engine';
import { settle, type MemoryClient } from '../helpers/memory-transport';
import {
  DISCONNECT, PINGREQ, PINGRESP, T, connack, connect, puback, pubcomp, publish, pubrec, pubrel, suback, subscribe,
  type ConnectOptions,
} from '../helpers/raw';

let engine: MemoryEngine;
let disconnected: ClientDisconnectedEvent[];

function start(config: Parameters<typeof createMemoryEngine>[0] = {}): MemoryEngine {
  engine = createMemoryEngine(config);
  disconnected = [];
  engine.events.on('clientDisconnected', (e) => void disconnected.push(e));
  return engine;
}

/** A client connected with CONNECT `o` (CONNACK accepted, Session Present 0 asserted). */
async function connected(o: ConnectOptions = {}, options?: { highWaterMark?: number }): Promise<MemoryClient> {
  const c = engine.accept(options);
  c.send(connect(o));
  await c.expect(connack(0, 0));
  return c;
}

async function subscribed(clientId: string, filter: string, qos: number): Promise<MemoryClient> {
  const c = await connected({ clientId });
  c.send(subscribe(1, [filter, qos]));
  await c.expect(suback(1, qos));
  return c;
}

beforeEach(() => {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
});

afterEach(async () => {
  await engine?.shutdown();
  jest.useRealTimers();
});

describe('engine over memory transports', () => {
  it('CONNECT is answered by CONNACK 0 [MQTT-3.2.0-1]', async () => {
    start();
    const c = engine.accept();
    c.send(connect({ clientId: 'one' }));
    await c.expect(connack(0, 0));
    expect(engine.clientCount).toBe(1);
    expect(c.closed).toBe(false);
  });

  it('a connected client holds no end-of-stream listener: only a connection that is authenticating listens for it', async () => {
    start();
    const c = await connected({ clientId: 'idle' });
    expect(c.transport.listenerCount('end')).toBe(0);
    expect(c.transport.listenerCount('data')).toBe(1);
  });

  it('an unsupported protocol level gets CONNACK 0x01, then the close [MQTT-3.1.2-2]', async () => {
    start();
    const c = engine.accept();
    c.send(connect({ clientId: 'old', level: 6 }));
    await c.expect(connack(0, 1));
    await settle();
    expect(c.closed).toBe(true);
    expect(engine.connectionCount).toBe(0);
  });

  it('a packet split across writes is assembled; two packets in one write are both handled', async () => {
    start();
    const c = engine.accept();
    const bytes = connect({ clientId: 'split' });
    c.send(bytes.subarray(0, 3));
    c.send(bytes.subarray(3));
    await c.expect(connack(0, 0));
    c.send(Buffer.concat([PINGREQ, PINGREQ]));
    await c.expect(PINGRESP);
    await c.expect(PINGRESP);
  });

  it.each([0, 1, 2])('QoS %i publish reaches a QoS 2 subscriber at the same QoS', async (qos) => {
    start();
    const sub = await subscribed('sub', 'a/+', 2);
    const pub = await connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'a/b', payload: `q${qos}`, qos, id: 7 }));
    if (qos === 1) await pub.expect(puback(7));
    if (qos === 2) {
      await pub.expect(pubrec(7));
      pub.send(pubrel(7));
      await pub.expect(pubcomp(7));
    }
    const got = await sub.nextPublish();
    expect({ topic: got.topic, payload: got.payload.toString(), qos: got.qos, dup: got.dup }).toEqual({ topic: 'a/b', payload: `q${qos}`, qos, dup: false });
    if (qos === 1) sub.send(puback(got.id!));
    if (qos === 2) {
      sub.send(pubrec(got.id!));
      await sub.expect(pubrel(got.id!));
      sub.send(pubcomp(got.id!));
    }
    await settle();
    expect(sub.untaken()).toEqual([]);
    expect(pub.untaken()).toEqual([]);
  });

  it('delivery is downgraded to the granted QoS [MQTT-3.8.4-6]', async () => {
    start();
    const sub = await subscribed('sub', 't', 0);
    const pub = await connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', payload: 'x', qos: 2, id: 1 }));
    await pub.expect(pubrec(1));
    const got = await sub.nextPublish();
    expect(got.qos).toBe(0);
    expect(got.id).toBeUndefined();
  });

  describe('keepalive [MQTT-3.1.2-24]', () => {
    it('closes at 1.5 x the keepalive: open at 1.49 x, closed at 1.51 x', async () => {
      start();
      const c = await connected({ clientId: 'ka', keepalive: 10 });
      jest.advanceTimersByTime(14_900);
      await settle();
      expect(c.closed).toBe(false);
      jest.advanceTimersByTime(200); // 15.1 s
      await settle();
      expect(c.closed).toBe(true);
      expect(disconnected.map((e) => [e.clientId, e.reason])).toEqual([['ka', 'keepalive']]);
      expect(engine.stats.closedKeepalive).toBe(1);
    });

    it('any packet restarts the period', async () => {
      start();
      const c = await connected({ clientId: 'ka', keepalive: 10 });
      jest.advanceTimersByTime(14_000);
      c.send(PINGREQ);
      await c.expect(PINGRESP);
      jest.advanceTimersByTime(14_900); // 28.9 s after CONNECT, 14.9 s after the PINGREQ
      await settle();
      expect(c.closed).toBe(false);
      jest.advanceTimersByTime(200);
      await settle();
      expect(c.closed).toBe(true);
    });

    it('keepalive 0 never times out', async () => {
      start();
      const c = await connected({ clientId: 'forever', keepalive: 0 });
      jest.advanceTimersByTime(24 * 3600 * 1000);
      await settle();
      expect(c.closed).toBe(false);
    });
  });

  it('connect-timeout: a connection that sends no CONNECT is closed silently at the limit', async () => {
    start({ limits: { 'connect-timeout': 5 } });
    const c = engine.accept();
    jest.advanceTimersByTime(4_990);
    await settle();
    expect(c.closed).toBe(false);
    jest.advanceTimersByTime(20);
    await settle();
    expect(c.closed).toBe(true);
    expect(c.history).toEqual([]);
    expect(engine.stats.closedConnectTimeout).toBe(1);
    expect(engine.connectionCount).toBe(0);
    expect(disconnected).toEqual([]); // never connected: no clientDisconnected
  });

  it('in-flight window: max-inflight-messages out, the rest queued, released in order by acks [MQTT-4.6.0-6]', async () => {
    start({ limits: { 'max-inflight-messages': 2 } });
    const sub = await subscribed('sub', 'q', 1);
    const pub = await connected({ clientId: 'pub' });
    for (let i = 0; i < 5; i++) {
      pub.send(publish({ topic: 'q', payload: `m${i}`, qos: 1, id: i + 1 }));
      await pub.expect(puback(i + 1));
    }
    await settle();
    const first = [await sub.nextPublish(), await sub.nextPublish()];
    expect(first.map((p) => p.payload.toString())).toEqual(['m0', 'm1']);
    expect(sub.untaken()).toEqual([]); // the window is full
    const seen = first.map((p) => p.payload.toString());
    let window = first;
    while (seen.length < 5) {
      // Acknowledge the oldest: exactly one more comes.
      sub.send(puback(window[0].id!));
      const next = await sub.nextPublish();
      seen.push(next.payload.toString());
      await settle();
      expect(sub.untaken()).toEqual([]);
      window = [window[1], next];
    }
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('takeover: a second CONNECT with the same client id closes the first, whose Will fires [MQTT-3.1.4-2]', async () => {
    start();
    const watcher = await subscribed('watcher', 'will/#', 0);
    const first = await connected({ clientId: 'dup', will: { topic: 'will/dup', payload: 'gone' } });
    const second = engine.accept();
    second.send(connect({ clientId: 'dup' }));
    await second.expect(connack(0, 0));
    await settle();
    expect(first.closed).toBe(true);
    expect(second.closed).toBe(false);
    expect(disconnected.map((e) => [e.clientId, e.reason, e.willPublished])).toEqual([['dup', 'takeover', true]]);
    const will = await watcher.nextPublish();
    expect([will.topic, will.payload.toString()]).toEqual(['will/dup', 'gone']);
    expect(engine.clientCount).toBe(2);
    // The newcomer owns the session: a message to it arrives on the second connection.
    second.send(subscribe(2, ['to/dup', 0]));
    await second.expect(suback(2, 0));
  });

  it('takeover of a persistent session: the newcomer gets it (Session Present 1) and the old close does not unregister it', async () => {
    start();
    const first = await connected({ clientId: 'keep', clean: false });
    first.send(subscribe(1, ['to/keep', 1]));
    await first.expect(suback(1, 1));
    const second = engine.accept();
    second.send(connect({ clientId: 'keep', clean: false }));
    await second.expect(connack(1, 0));
    await settle();
    expect(first.closed).toBe(true);
    expect(engine.clientCount).toBe(1);
    const publisher = await connected({ clientId: 'pub' });
    publisher.send(publish({ topic: 'to/keep', payload: 'x', qos: 0 }));
    const msg = await second.nextPublish();
    expect(msg.topic).toBe('to/keep');
    expect(first.untaken()).toEqual([]);
  });

  describe('session expiry (one deadline per session on the expiry heap)', () => {
    it('a detached persistent session is removed at session-expiry after its disconnect, not before', async () => {
      start({ limits: { 'session-expiry': 10 } });
      const c = await connected({ clientId: 'away', clean: false });
      c.send(DISCONNECT);
      await settle();
      expect(engine.sessionCount).toBe(1);
      jest.advanceTimersByTime(9_999);
      expect(engine.sessionCount).toBe(1);
      expect(engine.stats.sessionsExpired).toBe(0);
      jest.advanceTimersByTime(2);
      expect(engine.sessionCount).toBe(0);
      expect(engine.stats.sessionsExpired).toBe(1);
    });

    it('a client that returns in time cancels the deadline; its next disconnect sets a new one', async () => {
      start({ limits: { 'session-expiry': 10 } });
      const c = await connected({ clientId: 'back', clean: false });
      c.send(DISCONNECT);
      await settle();
      jest.advanceTimersByTime(6_000);
      const again = engine.accept();
      again.send(connect({ clientId: 'back', clean: false }));
      await again.expect(connack(1, 0));
      jest.advanceTimersByTime(20_000); // connected: never expires
      expect(engine.sessionCount).toBe(1);
      again.send(DISCONNECT);
      await settle();
      jest.advanceTimersByTime(9_999);
      expect(engine.sessionCount).toBe(1);
      jest.advanceTimersByTime(2);
      expect(engine.sessionCount).toBe(0);
      expect(engine.stats.sessionsExpired).toBe(1);
    });

    it('session-expiry 0: sessions never expire', async () => {
      start({ limits: { 'session-expiry': 0 } });
      const c = await connected({ clientId: 'forever', clean: false });
      c.send(DISCONNECT);
      await settle();
      jest.advanceTimersByTime(365 * 24 * 3600 * 1000);
      expect(engine.sessionCount).toBe(1);
    });
  });

  it('a DISCONNECT closes without the Will [MQTT-3.1.2-10]', async () => {
    start();
    const watcher = await subscribed('watcher', 'will/#', 0);
    const c = await connected({ clientId: 'bye', will: { topic: 'will/bye', payload: 'x' } });
    c.send(DISCONNECT);
    await settle();
    expect(c.closed).toBe(true);
    expect(disconnected.map((e) => [e.reason, e.willPublished])).toEqual([['disconnect', false]]);
    expect(watcher.untaken()).toEqual([]);
  });

  describe('slow consumer', () => {
    // The soft write limit is max-write-buffer / 4 (16 KiB here): a subscriber with more than
    // that unread slows its publishers for the grace period (1 s).
    const config = { limits: { 'max-write-buffer': 64 * 1024 } };
    const payload = Buffer.alloc(4 * 1024, 0x61);

    /** Publishes QoS 0 until the publisher is paused (bounded); returns how many were sent. */
    async function publishUntilPaused(pub: MemoryClient): Promise<number> {
      for (let i = 0; i < 50; i++) {
        pub.send(publish({ topic: 'slow', payload, qos: 0 }));
        await settle(1);
        if (pub.transport.paused) return i + 1;
      }
      throw new Error('publisher never paused');
    }

    it('a subscriber that does not read pauses the publisher, which resumes after the grace period', async () => {
      start(config);
      const sub = await subscribed('sub', 'slow', 0);
      const pub = await connected({ clientId: 'pub' });
      // CONNECT itself may pause reading while authentication runs: count from here.
      const pausesBefore = pub.transport.pauseCalls;
      const resumesBefore = pub.transport.resumeCalls;
      sub.stopReading();
      const sent = await publishUntilPaused(pub);
      expect(sent).toBeGreaterThan(3); // not before the subscriber is really behind (16 KiB)
      expect(pub.transport.pauseCalls - pausesBefore).toBe(1);
      expect(sub.transport.writableLength).toBeGreaterThan(16 * 1024);
      // What the publisher sends meanwhile is not read by the server.
      pub.send(PINGREQ);
      await settle();
      expect(pub.untaken()).toEqual([]);
      jest.advanceTimersByTime(999);
      await settle();
      expect(pub.transport.paused).toBe(true);
      jest.advanceTimersByTime(1);
      await settle();
      expect(pub.transport.paused).toBe(false);
      expect(pub.transport.resumeCalls - resumesBefore).toBe(1);
      await pub.expect(PINGRESP);
      // The subscriber is a slow consumer now: QoS 0 to it no longer holds publishers back.
      await publishUntilPaused(pub).then(
        () => {
          throw new Error('paused again');
        },
        (err: Error) => expect(err.message).toBe('publisher never paused'),
      );
      expect(engine.stats.droppedSlowConsumer).toBeGreaterThan(0);
      expect(sub.closed).toBe(false);
    });

    it('the publisher resumes as soon as the subscriber reads (drain)', async () => {
      start(config);
      const sub = await subscribed('sub', 'slow', 0);
      const pub = await connected({ clientId: 'pub' });
      sub.stopReading();
      const sent = await publishUntilPaused(pub);
      pub.send(PINGREQ);
      sub.read(); // 'drain'
      await settle();
      expect(pub.transport.paused).toBe(false);
      await pub.expect(PINGRESP);
      // Every message reached the subscriber, in order, none dropped.
      const got = sub.inbox.filter((p) => p.type === T.PUBLISH);
      expect(got).toHaveLength(sent);
      expect(engine.stats.droppedSlowConsumer).toBe(0);
    });
  });

  it('packet ids of deliveries are in use until acknowledged', async () => {
    start({ limits: { 'max-inflight-messages': 3 } });
    const sub = await subscribed('sub', 'ids', 1);
    const pub = await connected({ clientId: 'pub' });
    for (let i = 0; i < 3; i++) pub.send(publish({ topic: 'ids', payload: `${i}`, qos: 1, id: 10 + i }));
    await settle();
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await sub.nextPublish()).id!);
    expect(new Set(ids).size).toBe(3);
    // One acknowledged: a fourth delivery may use a free id, never one still in flight.
    sub.send(puback(ids[0]));
    pub.send(publish({ topic: 'ids', payload: '3', qos: 1, id: 13 }));
    const fourth = await sub.nextPublish();
    expect([ids[1], ids[2]]).not.toContain(fourth.id);
  });
});
