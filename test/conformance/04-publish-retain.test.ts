/**
 * Conformance, section 3.3 PUBLISH: flags (DUP, QoS, RETAIN), retained messages, topic names,
 * the reply per QoS, overlapping subscriptions and refused publishes.
 */
import type { ClientInfo } from '../../src';
import { useBroker } from '../helpers/conformance';
import {
  DISCONNECT,
  PINGREQ,
  PINGRESP,
  connack,
  field,
  hex,
  packet,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
} from '../helpers/raw';

describe('3.3.1 PUBLISH fixed header flags', () => {
  const h = useBroker();

  it('[MQTT-3.3.1-1] [MQTT-4.3.2-1] an unacknowledged QoS 1 delivery is re-sent after reconnect with DUP=1 and the same packet id', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'once', qos: 1, id: 1 });
    const first = await s.nextPublish();
    expect([first.dup, first.qos]).toEqual([false, 1]);
    s.destroy(); // withhold the PUBACK
    await s.waitClosed();
    const s2 = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const again = await s2.nextPublish();
    expect([again.dup, again.qos, again.id, again.payload.toString()]).toEqual([true, 1, first.id, 'once']);
    s2.send(puback(again.id!));
    await h().expectNothing(s2);
  });

  it('[MQTT-3.3.1-1] an unacknowledged QoS 2 delivery (no PUBREC yet) is re-sent after reconnect with DUP=1 and the same id', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'two', qos: 2, id: 1 });
    const first = await s.nextPublish();
    s.destroy();
    await s.waitClosed();
    const s2 = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const again = await s2.nextPublish();
    expect([again.flags, again.id]).toEqual([0x0c, first.id]); // DUP=1, QoS 2, RETAIN=0
  });

  it('[MQTT-3.3.1-2] an inbound QoS 0 PUBLISH with DUP=1 (38 ...): closed, nothing delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 2]);
    const c = await h().connected({ clientId: 'c' });
    c.send(packet(0x38, field('t'), Buffer.from('x')));
    await c.expectClosed();
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.1-2] [MQTT-3.3.1-3] outbound QoS 0 never carries DUP, even when the publisher sent QoS 1 with DUP=1 to a QoS 0 subscription', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', payload: 'x', qos: 1, id: 3, dup: true }));
    await pub.expect(puback(3));
    const p = await sub.next();
    expect(p.bytes[0]).toBe(0x30);
  });

  it('[MQTT-3.3.1-3] the publisher\'s DUP=1 is not forwarded: subscribers see DUP=0 at QoS 1 and QoS 2', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', payload: 'a', qos: 1, id: 3, dup: true }));
    const m1 = await sub.nextPublish();
    expect(m1.flags).toBe(0x02);
    sub.send(puback(m1.id!));
    pub.send(publish({ topic: 't', payload: 'b', qos: 2, id: 4, dup: true }));
    const m2 = await sub.nextPublish();
    expect(m2.flags).toBe(0x04);
  });

  it('[MQTT-3.3.1-4] a PUBLISH with QoS 3 (36 ...): closed, nothing delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 2]);
    const c = await h().connected({ clientId: 'c' });
    c.send(packet(0x36, field('t'), [0, 1], Buffer.from('x')));
    await c.expectClosed();
    await h().expectNothing(sub);
  });
});

describe('3.3.1 retained messages', () => {
  const h = useBroker();

  it('[MQTT-3.3.1-5] a retained QoS 1 message is stored with its QoS: a new QoS 2 subscriber receives it at QoS 1 with RETAIN=1', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r', payload: 'v', qos: 1, id: 1, retain: true });
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['r', 2]);
    const m = await sub.nextPublish();
    expect([m.flags & 0x07, m.payload.toString()]).toEqual([0x03, 'v']);
  });

  it('[MQTT-3.3.1-6] subscribing to a/+ sends the retained messages of a/b and a/c (and not of a/b/c or b)', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    for (const t of ['a/b', 'a/c', 'a/b/c', 'b']) await pub.publish({ topic: t, payload: t, qos: 1, id: 1, retain: true });
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['a/+', 0]);
    const got = [(await sub.nextPublish()).topic, (await sub.nextPublish()).topic].sort();
    expect(got).toEqual(['a/b', 'a/c']);
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.1-7] a retained QoS 0 publish replaces the retained QoS 1 message: a new subscriber gets "y" (QoS 0), never "x"', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r', payload: 'x', qos: 1, id: 1, retain: true });
    await pub.publish({ topic: 'r', payload: 'y', qos: 0, retain: true });
    pub.send(PINGREQ);
    await pub.expect(PINGRESP);
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['r', 2]);
    const m = await sub.nextPublish();
    expect([m.payload.toString(), m.qos, m.retain]).toEqual(['y', 0, true]);
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.1-8] copies sent because a subscription was just made carry RETAIN=1 (QoS 0, 1 and 2)', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r/0', payload: '0', qos: 0, retain: true });
    await pub.publish({ topic: 'r/1', payload: '1', qos: 1, id: 1, retain: true });
    await pub.publish({ topic: 'r/2', payload: '2', qos: 2, id: 2, retain: true });
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['r/#', 2]);
    const ms = [await sub.nextPublish(), await sub.nextPublish(), await sub.nextPublish()];
    expect(ms.map((m) => [m.topic, m.qos, m.retain]).sort()).toEqual([
      ['r/0', 0, true],
      ['r/1', 1, true],
      ['r/2', 2, true],
    ]);
  });

  it('[MQTT-3.3.1-9] live subscribers receive a retained publish with RETAIN=0 (QoS 0 and QoS 1)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['r', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'r', payload: 'a', retain: true }));
    expect((await sub.next()).bytes[0]).toBe(0x30);
    pub.send(publish({ topic: 'r', payload: 'b', qos: 1, id: 1, retain: true }));
    expect((await sub.next()).bytes[0]).toBe(0x32);
  });

  it('[MQTT-3.3.1-9] a retained publish queued for an offline persistent subscriber (subscription made before it) arrives with RETAIN=0', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['r', 1]);
    s.send(DISCONNECT);
    await s.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r', payload: 'while away', qos: 1, id: 1, retain: true });
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const m = await back.nextPublish();
    expect([m.payload.toString(), m.retain]).toEqual(['while away', false]);
  });

  it('[MQTT-3.3.1-10] a retained publish with an empty payload is delivered to current subscribers and deletes the retained message', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r', payload: 'old', qos: 1, id: 1, retain: true });
    const live = await h().connected({ clientId: 'live' });
    await live.subscribe(1, ['r', 1]);
    expect((await live.nextPublish()).payload.toString()).toBe('old');
    await pub.publish({ topic: 'r', payload: '', qos: 1, id: 2, retain: true });
    const m = await live.nextPublish();
    expect([m.payload.length, m.retain]).toEqual([0, false]);
    live.send(puback(m.id!));
    const late = await h().connected({ clientId: 'late' });
    await late.subscribe(1, ['r', 1]);
    await h().expectNothing(late);
    expect(h().broker.retainedCount).toBe(0);
  });

  it('[MQTT-3.3.1-11] a zero-byte retained payload is never stored (no prior retained message, QoS 0 and 1)', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'e/0', payload: '', retain: true });
    await pub.publish({ topic: 'e/1', payload: '', qos: 1, id: 1, retain: true });
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['e/#', 1]);
    await h().expectNothing(sub);
    expect(h().broker.retainedCount).toBe(0);
  });

  it('[MQTT-3.3.1-12] a RETAIN=0 publish stores nothing and leaves the retained message untouched', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r', payload: 'x', qos: 1, id: 1, retain: true });
    await pub.publish({ topic: 'r', payload: 'y', qos: 1, id: 2 });
    await pub.publish({ topic: 'other', payload: 'z', qos: 1, id: 3 });
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 1]);
    const m = await sub.nextPublish();
    expect([m.topic, m.payload.toString(), m.retain]).toEqual(['r', 'x', true]);
    await h().expectNothing(sub);
  });
});

describe('3.3.2 topic name, 3.3.4 response, 3.3.5 actions', () => {
  const h = useBroker();

  it('[MQTT-3.3.2-1] the topic is the first field and a UTF-8 string: invalid UTF-8 or a length running past the packet closes', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    for (const bad of [publish({ topic: hex('ff fe'), payload: 'x' }), hex('30 03 00 05 61'), hex('30 01 00')]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(bad);
      await c.expectClosed();
    }
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.2-2] PUBLISH to a/+, a/# or # closes the connection and nothing is delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0], ['a/+', 0]);
    for (const topic of ['a/+', 'a/#', '#', '+']) {
      const c = await h().connected({ clientId: 'c' });
      c.send(publish({ topic, payload: 'x', qos: 1, id: 1 }));
      await c.expectClosed();
    }
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.4-1] the reply follows the QoS: nothing for QoS 0, PUBACK for QoS 1, PUBREC for QoS 2', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(publish({ topic: 't', payload: '0' }));
    await h().expectNothing(c);
    c.send(publish({ topic: 't', payload: '1', qos: 1, id: 11 }));
    await c.expect(puback(11));
    c.send(publish({ topic: 't', payload: '2', qos: 2, id: 12 }));
    await c.expect(pubrec(12));
    c.send(pubrel(12));
    await c.expect(pubcomp(12));
  });

  it('[MQTT-3.3.5-1] subscriptions a/b@0 and a/#@2 overlap: a QoS 2 publish arrives once, at QoS 2 (documented choice: one copy at max QoS)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['a/b', 0], ['a/#', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a/b', payload: 'x', qos: 2, id: 1 });
    const m = await sub.nextPublish();
    expect(m.qos).toBe(2);
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.5-1] the order of the overlapping subscriptions does not matter: a/#@1 then a/b@0, QoS 1 publish arrives once at QoS 1', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['a/#', 1]);
    await sub.subscribe(2, ['a/b', 0]);
    await sub.subscribe(3, ['+/b', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a/b', payload: 'x', qos: 1, id: 1 });
    expect((await sub.nextPublish()).qos).toBe(1);
    await h().expectNothing(sub);
  });

  it('[MQTT-3.3.5-2] a publish to $SYS/x is acknowledged (PUBACK, PUBREC) and dropped, never silence (documented choice)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['$SYS/#', 2]);
    const c = await h().connected({ clientId: 'c' });
    c.send(publish({ topic: '$SYS/x', payload: 'fake', qos: 1, id: 1 }));
    await c.expect(puback(1));
    c.send(publish({ topic: '$SYS/x', payload: 'fake', qos: 2, id: 2 }));
    await c.expect(pubrec(2));
    c.send(pubrel(2));
    await c.expect(pubcomp(2));
    await h().expectNothing(sub);
  });
});

describe('3.3.5 refused publish (authorisation plugin)', () => {
  const h = useBroker({}, () => ({
    plugins: [{ authorizePublish: (_c: ClientInfo, topic: string) => !topic.startsWith('forbidden') }],
  }));

  it('[MQTT-3.3.5-2] [§5.4.1–5.4.2] a QoS 1/2 publish refused by authorisation is acknowledged normally and not delivered; the client stays connected', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 2]);
    const c = await h().connected({ clientId: 'c' });
    c.send(publish({ topic: 'forbidden/x', payload: 'no', qos: 1, id: 1 }));
    await c.expect(puback(1));
    c.send(publish({ topic: 'forbidden/y', payload: 'no', qos: 2, id: 2 }));
    await c.expect(pubrec(2));
    c.send(pubrel(2));
    await c.expect(pubcomp(2));
    c.send(publish({ topic: 'allowed', payload: 'yes', qos: 1, id: 3 }));
    await c.expect(puback(3));
    const m = await sub.nextPublish();
    expect(m.topic).toBe('allowed');
    await h().expectNothing(sub);
    expect(h().broker.stats.droppedUnauthorized).toBe(2);
  });

  it('[MQTT-3.3.5-2] a refused retained publish is not stored as the retained message', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.publish({ topic: 'forbidden', payload: 'no', qos: 1, id: 1, retain: true });
    expect(h().broker.retainedCount).toBe(0);
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 1]);
    await h().expectNothing(sub);
    c.send(DISCONNECT);
    await c.expectClosed();
  });
});
