/**
 * Conformance, sections 3.12-3.14 (PINGREQ, PINGRESP, DISCONNECT), keep alive, and the Will:
 * published on every kind of unclean close (socket killed, keep alive expired, protocol error,
 * takeover), never after DISCONNECT, never twice.
 */
import { nextMessage } from '../helpers/broker';
import { type Harness, sleep, useBroker } from '../helpers/conformance';
import { DISCONNECT, PINGREQ, PINGRESP, type RawClient, connect, hex, puback, publish, readPublish, toHex } from '../helpers/raw';

/** A raw watcher subscribed to `will/#` at QoS 2. */
async function watcher(h: Harness): Promise<RawClient> {
  const w = await h.connected({ clientId: 'watcher' });
  await w.subscribe(1, ['will/#', 2]);
  return w;
}

describe('3.12 PINGREQ', () => {
  const h = useBroker();

  it('[MQTT-3.12.4-1] every PINGREQ gets a PINGRESP D0 00 (three PINGREQs in one write -> three PINGRESPs)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(PINGREQ, PINGREQ, PINGREQ);
    const got = await c.take(3);
    expect(got.map((p) => toHex(p.bytes))).toEqual(['d0 00', 'd0 00', 'd0 00']);
    await h().expectNothing(c);
  });

  it('[MQTT-3.12.4-1] [MQTT-3.1.0-1] a PINGREQ before CONNECT gets no PINGRESP: the connection is closed', async () => {
    const c = await h().raw();
    c.send(PINGREQ);
    await c.expectClosedSilently();
  });
});

describe('3.14 DISCONNECT', () => {
  const h = useBroker();

  it('[MQTT-3.14.1-1] DISCONNECT with reserved flags (E1 00) is not a clean DISCONNECT: closed and the Will is published', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/c', payload: 'bye' } });
    c.send(hex('e1 00'));
    await c.expectClosed();
    const m = await w.nextPublish();
    expect([m.topic, m.payload.toString()]).toEqual(['will/c', 'bye']);
  });

  it('[MQTT-3.14.4-2] DISCONNECT followed by a PUBLISH in the same write: the PUBLISH is not acted on', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 1]);
    const c = await h().connected({ clientId: 'c' });
    c.send(DISCONNECT, publish({ topic: 'after', payload: 'x', qos: 1, id: 1 }), publish({ topic: 'after', payload: 'y' }));
    await c.expectClosed();
    await h().expectNothing(sub);
  });

  it('[MQTT-3.14.4-3] [MQTT-3.1.2-10] DISCONNECT discards the Will: DISCONNECT then socket closed -> no Will', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/c', payload: 'bye', qos: 1 } });
    c.send(DISCONNECT);
    c.destroy(); // the socket goes right after, racing the DISCONNECT handling
    await c.waitClosed();
    await h().gone('c'); // its close is handled: a Will would be on its way to w by now
    await h().expectNothing(w);
  });

  it('[MQTT-3.14.4-3] an MQTT.js client that ends cleanly (DISCONNECT) does not publish its Will', async () => {
    const w = await watcher(h());
    const c = await h().client({ clientId: 'js', will: { topic: 'will/js', payload: Buffer.from('bye'), qos: 1, retain: false } });
    await c.endAsync();
    await h().gone('js');
    await h().expectNothing(w);
  });

  it('[§3.14.4] the server closes the connection after DISCONNECT even if the client keeps its socket open', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(DISCONNECT);
    await c.expectClosed(1000);
  });
});

describe('Will published on every unclean close', () => {
  const h = useBroker();

  it('[MQTT-3.1.2-8] the socket is killed: the Will is published', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/kill', payload: 'dead', qos: 1 } });
    c.destroy();
    const m = await w.nextPublish();
    expect([m.topic, m.payload.toString(), m.qos]).toEqual(['will/kill', 'dead', 1]);
  });

  it('[MQTT-3.1.2-8] the connection is reset (TCP RST): the Will is published', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/rst', payload: 'reset' } });
    c.reset();
    expect((await w.nextPublish()).topic).toBe('will/rst');
  });

  it('[MQTT-3.1.2-8] [MQTT-4.8.0-1] a protocol error (QoS 3 PUBLISH) closes the connection and the Will is published', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/err', payload: 'bad' } });
    c.send(hex('36 05 00 01 74 00 01'));
    await c.expectClosed();
    expect((await w.nextPublish()).topic).toBe('will/err');
  });

  it('[MQTT-3.1.2-8] [MQTT-3.1.4-2] a takeover by the same client id closes the old connection and publishes its Will', async () => {
    const w = await watcher(h());
    const old = await h().connected({ clientId: 'dup', will: { topic: 'will/dup', payload: 'old' } });
    await h().connected({ clientId: 'dup' });
    await old.expectClosed();
    expect((await w.nextPublish()).payload.toString()).toBe('old');
  });

  it('[MQTT-3.1.4-2] takeover of a persistent session (both CleanSession=0): the takeover is a reconnection, the old Will is not published (documented choice, as Mosquitto)', async () => {
    const w = await watcher(h());
    const old = await h().connected({ clientId: 'keep', clean: false, will: { topic: 'will/keep', payload: 'old' } });
    await h().connected({ clientId: 'keep', clean: false }, hex('20 02 01 00'));
    await old.expectClosed();
    await h().expectNothing(w);
  });

  it('[MQTT-3.1.4-2] [MQTT-3.1.2-6] takeover of a persistent session by CleanSession=1: the session ends there, so the old Will is published', async () => {
    const w = await watcher(h());
    const old = await h().connected({ clientId: 'ends', clean: false, will: { topic: 'will/ends', payload: 'old' } });
    await h().connected({ clientId: 'ends', clean: true });
    await old.expectClosed();
    expect((await w.nextPublish()).payload.toString()).toBe('old');
  });

  it('[MQTT-3.1.2-10] the Will fires once: after a takeover published it, the replacement ends cleanly and the old socket closes late -> exactly one Will', async () => {
    const w = await watcher(h());
    const old = await h().connected({ clientId: 'once', will: { topic: 'will/once', payload: 'w' } });
    const next = await h().connected({ clientId: 'once' });
    await old.waitClosed();
    next.send(DISCONNECT);
    await next.waitClosed();
    old.destroy();
    const m = await w.nextPublish();
    expect(m.topic).toBe('will/once');
    await h().expectNothing(w);
  });

  it('[MQTT-3.1.2-12] no Will flag: killing the socket publishes nothing', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 2]);
    const c = await h().connected({ clientId: 'c' });
    c.destroy();
    await h().gone('c');
    await h().expectNothing(sub);
  });

  it('[MQTT-3.1.2-16] Will Retain 0: published as an ordinary message, nothing retained afterwards', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/nr', payload: 'x', qos: 1, retain: false } });
    c.destroy();
    const m = await w.nextPublish();
    expect([m.topic, m.retain]).toEqual(['will/nr', false]);
    const late = await h().connected({ clientId: 'late' });
    await late.subscribe(1, ['will/#', 1]);
    await h().expectNothing(late);
    expect(h().broker.retainedCount).toBe(0);
  });

  it('[MQTT-3.1.2-17] Will Retain 1: stored as retained; live subscribers see RETAIN=0, a later subscriber gets it with RETAIN=1', async () => {
    const w = await watcher(h());
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/r', payload: 'last', qos: 1, retain: true } });
    c.destroy();
    const live = await w.nextPublish();
    expect([live.topic, live.retain]).toEqual(['will/r', false]);
    const late = await h().connected({ clientId: 'late' });
    await late.subscribe(1, ['will/#', 2]);
    const m = await late.nextPublish();
    expect([m.topic, m.payload.toString(), m.retain, m.qos]).toEqual(['will/r', 'last', true, 1]);
  });

  it('[MQTT-3.8.4-6] the Will is delivered at min(Will QoS 2, granted QoS 1)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['will/#', 1]);
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/q', payload: 'x', qos: 2 } });
    c.destroy();
    expect((await sub.nextPublish()).qos).toBe(1);
  });

  it('[MQTT-3.1.2-8] an MQTT.js subscriber receives the Will of a raw client whose socket died', async () => {
    const js = await h().client({ clientId: 'js' });
    await js.subscribeAsync('will/#', { qos: 1 });
    const c = await h().connected({ clientId: 'c', will: { topic: 'will/js', payload: 'from raw', qos: 1 } });
    const got = nextMessage(js);
    c.destroy();
    const m = await got;
    expect([m.topic, m.payload.toString()]).toEqual(['will/js', 'from raw']);
  });
});

/** The keepalive these tests connect with, in seconds (the smallest there is: the tests wait on it). */
const KEEPALIVE_S = 1;

describe('3.1.2.10 Keep Alive', () => {
  const h = useBroker();

  it('[MQTT-3.1.2-23] [MQTT-3.1.2-24] [MQTT-3.1.2-8] keepalive=1 and silence: closed between 1.5 and 2.2 s, as a network failure (the Will fires)', async () => {
    const w = await watcher(h());
    const c = await h().raw();
    c.send(connect({ clientId: 'quiet', keepalive: KEEPALIVE_S, will: { topic: 'will/quiet', payload: 'timeout' } }));
    await c.next();
    const t0 = Date.now();
    await c.waitClosed(3000);
    const elapsed = Date.now() - t0;
    // [MQTT-3.1.2-24] closed at 1.5 x keepalive (timer granularity below, a loaded machine above).
    expect(elapsed).toBeGreaterThanOrEqual(KEEPALIVE_S * 1500 - 50);
    expect(elapsed).toBeLessThan(KEEPALIVE_S * 1500 + 700);
    expect((await w.nextPublish()).topic).toBe('will/quiet');
  });

  it('[MQTT-3.1.2-24] any packet resets the keep alive timer, not only PINGREQ: QoS 0 PUBLISHes every half keepalive keep a keepalive=1 client open past the moment a silent keepalive=1 client is closed', async () => {
    const silent = await h().connected({ clientId: 'silent', keepalive: KEEPALIVE_S });
    const c = await h().connected({ clientId: 'chatty', keepalive: KEEPALIVE_S });
    const silentClosed = silent.waitClosed(KEEPALIVE_S * 3000);
    silentClosed.catch(() => undefined); // awaited below; the loop only races it
    // The client's duty is time-based: a packet every half keepalive until the control is closed.
    for (let i = 0; !silent.closed; i++) {
      await Promise.race([sleep((KEEPALIVE_S * 1000) / 2), silentClosed]);
      c.send(publish({ topic: 'noise', payload: `${i}` }));
    }
    await silentClosed;
    c.send(PINGREQ);
    await c.expect(PINGRESP);
    expect(c.closed).toBe(false);
  });

  it('[MQTT-3.1.2-24] keepalive=0 disables the check: a silent client is still open once a silent keepalive=1 client connected with it has been closed', async () => {
    const control = await h().connected({ clientId: 'control', keepalive: KEEPALIVE_S });
    const c = await h().connected({ clientId: 'zero', keepalive: 0 });
    await control.waitClosed(KEEPALIVE_S * 3000);
    c.send(PINGREQ);
    await c.expect(PINGRESP);
  });

  it('[MQTT-3.1.2-24] the keep alive close is the network-failure path: the stored session of a clean=0 client survives it', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'ka', keepalive: KEEPALIVE_S, clean: false }));
    await c.next();
    c.send(hex('82 06 00 01 00 01 61 01')); // SUBSCRIBE 'a' QoS 1
    await c.expect(hex('90 03 00 01 01'));
    await c.waitClosed(3000);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a', payload: 'while away', qos: 1, id: 1 });
    const back = await h().connected({ clientId: 'ka', clean: false }, hex('20 02 01 00'));
    expect(readPublish(await back.next()).payload.toString()).toBe('while away');
  });
});

describe('Will topic policy', () => {
  const h = useBroker();

  it('[MQTT-3.3.5-2] a Will whose topic is in $SYS is dropped like any client publish to $SYS (documented choice)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['$SYS/#', 1]);
    const c = await h().connected({ clientId: 'c', will: { topic: '$SYS/broker/fake', payload: 'spoofed', retain: true } });
    c.destroy();
    await h().gone('c');
    await h().expectNothing(sub);
    expect(h().broker.retainedCount).toBe(0);
  });
});

describe('Keep Alive of a publisher the broker itself holds back', () => {
  const h = useBroker({ limits: { 'max-inflight-messages': 1, 'max-queued-messages': 2 } });

  it('[MQTT-3.1.2-24] a keepalive=1 publisher paused by a slow subscriber (documented backpressure) that keeps sending PINGREQs is not closed as dead, and its Will does not fire', async () => {
    const w = await watcher(h());
    const s = await h().connected({ clientId: 'slow' });
    await s.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub', keepalive: KEEPALIVE_S, will: { topic: 'will/pub', payload: 'false alarm' } });
    for (let i = 0; i < 10; i++) pub.send(publish({ topic: 't', payload: `${i}`, qos: 1, id: i + 1 }));
    // The client does its duty [MQTT-3.1.2-23]: a PINGREQ every half keepalive while the broker
    // holds it back, for longer than the 1.5 x keepalive that would close a silent client.
    for (let i = 0; i < 5; i++) {
      await sleep((KEEPALIVE_S * 1000) / 2);
      pub.send(PINGREQ);
    }
    expect(pub.closed).toBe(false);
    // The subscriber catches up: everything flows, the publisher's PINGREQs are answered.
    const got: string[] = [];
    while (got.length < 10) {
      const m = await s.nextPublish();
      got.push(m.payload.toString());
      s.send(puback(m.id!));
    }
    expect(got).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const replies = await pub.take(15);
    expect(replies.filter((p) => p.bytes[0] === 0xd0)).toHaveLength(5);
    await h().expectNothing(w);
  });
});
