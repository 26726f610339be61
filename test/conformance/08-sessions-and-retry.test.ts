/**
 * Conformance, sections 4.1 (storing state), 4.4 (delivery retry), 4.5 (message receipt) and
 * session takeover [MQTT-3.1.4-2].
 */
import { useBroker, waitFor } from '../helpers/conformance';
import {
  DISCONNECT,
  PINGREQ,
  PINGRESP,
  T,
  connack,
  connect,
  idOf,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
  readPublish,
  toHex,
} from '../helpers/raw';

describe('3.1.4-2 session takeover', () => {
  const h = useBroker();

  it('[MQTT-3.1.4-2] a second connection with the same client id closes the first; the second gets the session (SP=1), its subscription and the unacknowledged message', async () => {
    const old = await h().connected({ clientId: 'dev', clean: false });
    await old.subscribe(1, ['d', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'd', payload: 'inflight', qos: 1, id: 1 });
    const first = await old.nextPublish();
    const next = await h().raw();
    next.send(connect({ clientId: 'dev', clean: false }));
    const [ack, resent] = await next.take(2);
    expect(toHex(ack.bytes)).toBe('20 02 01 00');
    const m = readPublish(resent);
    expect([m.dup, m.id, m.payload.toString()]).toEqual([true, first.id, 'inflight']);
    await old.expectClosed();
    next.send(puback(m.id!));
    await pub.publish({ topic: 'd', payload: 'after', qos: 1, id: 2 });
    expect((await next.nextPublish()).payload.toString()).toBe('after');
  });

  it('[MQTT-3.1.4-2] [MQTT-3.1.2-6] a takeover with CleanSession=1 discards the old session: SP=0, no subscription left', async () => {
    const old = await h().connected({ clientId: 'dev', clean: false });
    await old.subscribe(1, ['d', 1]);
    const next = await h().connected({ clientId: 'dev', clean: true }, connack(0, 0));
    await old.expectClosed();
    expect(h().broker.subscriptionCount).toBe(0);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'd', payload: 'x', qos: 1, id: 1 });
    await h().expectNothing(next);
  });

  it('[MQTT-3.1.4-2] the old connection\'s late teardown does not break the new one: it stays registered and keeps receiving', async () => {
    const old = await h().connected({ clientId: 'dev', clean: false });
    await old.subscribe(1, ['d', 0]);
    const next = await h().connected({ clientId: 'dev', clean: false }, connack(1, 0));
    await old.waitClosed();
    old.destroy();
    // The old connection's teardown is done once the broker no longer counts it.
    await waitFor(() => h().broker.connectionCount === 1, 2000, 'the old connection to be torn down');
    expect(h().broker.client('dev')).toBeDefined();
    expect(h().broker.clientCount).toBe(1);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'd', payload: 'still here' }));
    expect((await next.nextPublish()).payload.toString()).toBe('still here');
    next.send(PINGREQ);
    await next.expect(PINGRESP);
  });

  it('[MQTT-3.1.4-2] ten takeovers in a row: each earlier connection is closed, the last one owns the session and works', async () => {
    const conns = [];
    for (let i = 0; i < 10; i++) {
      const c = await h().raw();
      c.send(connect({ clientId: 'ping-pong', clean: false }));
      await c.next();
      conns.push(c);
    }
    for (const c of conns.slice(0, -1)) await c.waitClosed();
    const last = conns[conns.length - 1];
    expect(h().broker.clientCount).toBe(1);
    await last.subscribe(1, ['pp', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'pp', payload: 'ok' }));
    expect((await last.nextPublish()).payload.toString()).toBe('ok');
  });
});

describe('4.1 storing state', () => {
  const h = useBroker();

  it('[MQTT-4.1.0-1] the whole session state survives a dropped connection: subscription, unacked QoS 1, unacked QoS 2, PUBREC\'d QoS 2, queued message, inbound QoS 2 awaiting PUBREL', async () => {
    const watch = await h().connected({ clientId: 'watch' });
    await watch.subscribe(1, ['in', 2]);
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['out', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'out', payload: 'q1', qos: 1, id: 1 });
    await pub.publish({ topic: 'out', payload: 'q2', qos: 2, id: 2 });
    await pub.publish({ topic: 'out', payload: 'q2-recd', qos: 2, id: 3 });
    const [m1, m2, m3] = [await s.nextPublish(), await s.nextPublish(), await s.nextPublish()];
    s.send(pubrec(m3.id!));
    await s.expect(pubrel(m3.id!));
    // Inbound QoS 2 from the session's client, PUBREC'd but not released.
    s.send(publish({ topic: 'in', payload: 'inbound', qos: 2, id: 5 }));
    await s.expect(pubrec(5));
    expect((await watch.nextPublish()).payload.toString()).toBe('inbound');
    s.destroy();
    await h().gone('s'); // the server noticed: 'queued' goes to the offline session, not the dying socket
    await pub.publish({ topic: 'out', payload: 'queued', qos: 1, id: 4 });

    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const got = await back.take(4);
    const r1 = readPublish(got[0]);
    const r2 = readPublish(got[1]);
    expect([r1.id, r1.dup, r1.payload.toString()]).toEqual([m1.id, true, 'q1']);
    expect([r2.id, r2.dup, r2.payload.toString()]).toEqual([m2.id, true, 'q2']);
    expect([got[2].type, idOf(got[2])]).toEqual([T.PUBREL, m3.id]);
    const r4 = readPublish(got[3]);
    expect([r4.dup, r4.payload.toString()]).toEqual([false, 'queued']);
    // The inbound id 5 is still awaiting PUBREL: a resend is acknowledged, not routed again.
    back.send(publish({ topic: 'in', payload: 'inbound', qos: 2, id: 5, dup: true }));
    await back.expect(pubrec(5));
    back.send(pubrel(5));
    await back.expect(pubcomp(5));
    await h().expectNothing(watch);
    // Everything completes.
    back.send(puback(r1.id!), pubrec(r2.id!));
    await back.expect(pubrel(r2.id!));
    back.send(pubcomp(r2.id!), pubcomp(m3.id!), puback(r4.id!));
    await h().expectNothing(back);
    expect(h().broker.client('s')!.inflight).toBe(0);
  });

  it('[MQTT-4.1.0-2] a CleanSession=1 session lasts as long as its connection: state intact while connected, gone once it ends', async () => {
    const s = await h().connected({ clientId: 'c1', clean: true });
    await s.subscribe(1, ['x', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'x', payload: 'a', qos: 1, id: 1 });
    const m = await s.nextPublish();
    await h().expectNothing(s);
    const snap = h().broker.client('c1')!;
    expect([snap.subscriptions, snap.inflight]).toEqual([1, 1]);
    s.send(puback(m.id!));
    s.send(DISCONNECT);
    await s.waitClosed();
    await h().gone('c1'); // the session ends in the same step as the client
    expect(h().broker.sessionCount).toBe(1); // the publisher's
    expect(h().broker.subscriptionCount).toBe(0);
  });

  it('[§4.1] retained messages survive publisher and subscriber churn', async () => {
    for (let i = 0; i < 5; i++) {
      const p = await h().connected({ clientId: `pub${i}`, clean: i % 2 === 0 });
      await p.publish({ topic: `churn/${i}`, payload: `${i}`, qos: 1, id: 1, retain: true });
      p.destroy();
      const s = await h().connected({ clientId: `sub${i}` });
      await s.subscribe(1, ['churn/#', 0]);
      await s.take(i + 1);
      s.send(DISCONNECT);
    }
    const last = await h().connected({ clientId: 'last' });
    await last.subscribe(1, ['churn/#', 0]);
    const topics = (await last.take(5)).map((p) => readPublish(p).topic).sort();
    expect(topics).toEqual(['churn/0', 'churn/1', 'churn/2', 'churn/3', 'churn/4']);
  });
});

describe('4.4 message delivery retry', () => {
  const h = useBroker();

  it('[MQTT-4.4.0-1] on reconnect with CleanSession=0, unacknowledged PUBLISHes are re-sent with DUP=1 and their original ids, and PUBRELs for the PUBREC\'d ones', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['t/1', 1], ['t/2', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 3; i++) await pub.publish({ topic: 't/1', payload: `a${i}`, qos: 1, id: 10 + i });
    for (let i = 0; i < 2; i++) await pub.publish({ topic: 't/2', payload: `b${i}`, qos: 2, id: 20 + i });
    const first = [];
    for (let i = 0; i < 5; i++) first.push(await s.nextPublish());
    s.send(pubrec(first[4].id!)); // the last QoS 2 one moves on to PUBREL
    await s.expect(pubrel(first[4].id!));
    s.destroy();
    await s.waitClosed();
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const got = await back.take(5);
    const resent = got.slice(0, 4).map(readPublish);
    expect(resent.map((m) => [m.id, m.dup, m.payload.toString()])).toEqual(
      first.slice(0, 4).map((m) => [m.id, true, m.payload.toString()]),
    );
    expect(toHex(got[4].bytes)).toBe(toHex(pubrel(first[4].id!)));
    await h().expectNothing(back);
  });

  it('[§4.4] no timed retry within a live connection (documented choice): an unacknowledged QoS 1 delivery is not re-sent while connected', async () => {
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'x', qos: 1, id: 1 });
    await s.nextPublish();
    // Proving that no timer fires is time-based by nature; there is no retry interval to derive
    // the window from (none is configurable), so one second stands for "a plausible retry period".
    await s.nothing(1000);
  });
});

describe('4.5 message receipt', () => {
  const h = useBroker();

  it('[MQTT-4.5.0-1] [MQTT-3.1.2-5] an offline persistent subscriber gets every matching message published while away, from several publishers', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['m/+', 1]);
    s.send(DISCONNECT);
    await s.waitClosed();
    const p1 = await h().connected({ clientId: 'p1' });
    const p2 = await h().connected({ clientId: 'p2' });
    await p1.publish({ topic: 'm/1', payload: 'one', qos: 1, id: 1 });
    await p2.publish({ topic: 'm/2', payload: 'two', qos: 2, id: 1 });
    await p1.publish({ topic: 'other', payload: 'no', qos: 1, id: 2 });
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const got = (await back.take(2)).map((p) => readPublish(p).payload.toString());
    expect(got).toEqual(['one', 'two']);
    await h().expectNothing(back);
  });
});

describe('4.5 delivery to a live subscriber with a full queue', () => {
  const h = useBroker({ limits: { 'max-inflight-messages': 1, 'max-queued-messages': 4 } });

  it('[MQTT-4.5.0-1] a live subscriber\'s full queue pauses the QoS 1 publisher instead of dropping: all 20 messages arrive once it acknowledges (documented choice)', async () => {
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 20; i++) pub.send(publish({ topic: 't', payload: `${i}`, qos: 1, id: i + 1 }));
    await waitFor(() => (h().broker.client('s')?.queued ?? 0) >= 4, 2000, "the subscriber's queue to fill");
    // The window holds 1, the queue 4: the publisher is paused, not all of its PUBLISHes acknowledged yet.
    expect(pub.inbox.length).toBeLessThan(20);
    const got: string[] = [];
    while (got.length < 20) {
      const m = await s.nextPublish();
      got.push(m.payload.toString());
      s.send(puback(m.id!));
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`));
    const acks = await pub.take(20);
    expect(acks.map(idOf)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(h().broker.stats.droppedQueueFull).toBe(0);
  });
});

describe('3.1.2-5 offline queue limit', () => {
  const h = useBroker({ limits: { 'max-queued-messages': 3 } });

  it('[MQTT-3.1.2-5] offline queue limit (max-queued-messages 3): the first 3 messages are kept, later ones dropped and counted (documented choice)', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['t', 1]);
    s.send(DISCONNECT);
    await s.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 5; i++) await pub.publish({ topic: 't', payload: `${i}`, qos: 1, id: i + 1 });
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const got = (await back.take(3)).map((p) => readPublish(p).payload.toString());
    expect(got).toEqual(['0', '1', '2']);
    await h().expectNothing(back);
    expect(h().broker.stats.droppedQueueFull).toBe(2);
  });
});

describe('3.1.2-5 optional QoS 0 queueing', () => {
  const h = useBroker({ limits: { 'queue-qos0-messages': true } });

  it('[MQTT-3.1.2-5] with queue-qos0-messages: true, offline QoS 0 messages are stored too: QoS 0, 1 and 2 all arrive after reconnect, in order', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['o', 2]);
    s.send(DISCONNECT);
    await s.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'o', payload: 'q0' });
    await pub.publish({ topic: 'o', payload: 'q1', qos: 1, id: 1 });
    await pub.publish({ topic: 'o', payload: 'q2', qos: 2, id: 2 });
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const got = (await back.take(3)).map(readPublish).map((m) => `${m.payload.toString()}@${m.qos}`);
    expect(got).toEqual(['q0@0', 'q1@1', 'q2@2']);
  });
});

describe('3.1.4-2 takeover happens only after the newcomer is accepted', () => {
  const h = useBroker({}, () => ({ plugins: [{ authenticate: (req) => req.password?.toString() !== 'wrong' }] }));

  it('[MQTT-3.1.4-2] [MQTT-3.1.4-5] a CONNECT for a connected client id that fails authentication does not disconnect the existing connection', async () => {
    const w = await h().connected({ clientId: 'w' });
    await w.subscribe(1, ['will/#', 0]);
    const owner = await h().connected({ clientId: 'dev', username: 'u', password: 'right', will: { topic: 'will/dev', payload: 'x' } });
    const intruder = await h().raw();
    intruder.send(connect({ clientId: 'dev', username: 'u', password: 'wrong' }));
    await intruder.waitClosed();
    expect(toHex(intruder.received)).toBe('20 02 00 04');
    owner.send(PINGREQ);
    await owner.expect(PINGRESP);
    await h().expectNothing(w);
  });
});
