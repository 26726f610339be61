/**
 * Conformance, sections 3.8-3.11: SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
 */
import type { ClientInfo, QoS } from '../../src';
import { useBroker } from '../helpers/conformance';
import {
  T,
  field,
  hex,
  idOf,
  packet,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
  subscribe,
  suback,
  toHex,
  u16,
  unsubscribe,
  unsuback,
} from '../helpers/raw';

const ALLOWED_SUBACK_CODES = new Set([0x00, 0x01, 0x02, 0x80]);

describe('3.8 SUBSCRIBE', () => {
  const h = useBroker();

  it('[MQTT-3.8.1-1] SUBSCRIBE with flags 0000 (header 80): closed, no SUBACK, no subscription', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(packet(0x80, u16(1), field('a'), [0]));
    await c.expectClosed();
    expect(h().broker.subscriptionCount).toBe(0);
  });

  it('[MQTT-3.8.3-1] a topic filter with invalid UTF-8 (C3 28, ED A0 80): closed, no SUBACK', async () => {
    for (const bad of ['c3 28', 'ed a0 80']) {
      const c = await h().connected({ clientId: 'c' });
      c.send(subscribe(1, [hex(bad), 0]));
      await c.expectClosed();
    }
  });

  it('[MQTT-3.8.3-3] a SUBSCRIBE holding only a packet id (82 02 00 01): closed, no empty SUBACK', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(hex('82 02 00 01'));
    await c.expectClosed();
  });

  it('[MQTT-3.8.3-4] requested-QoS byte 03, 41 or 80, or missing: closed, never clamped or answered with 0x80', async () => {
    for (const q of [0x03, 0x41, 0x80, 0x04]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(subscribe(1, ['a', 0], ['b', q]));
      await c.expectClosed();
    }
    const c = await h().connected({ clientId: 'c' });
    c.send(packet(0x82, u16(1), field('a'))); // filter without its QoS byte
    await c.expectClosed();
    expect(h().broker.subscriptionCount).toBe(0);
  });

  it('[MQTT-3.8.4-1] a SUBSCRIBE whose filters are all refused (a/#/b, a+, #/x) still gets a SUBACK: 90 05 00 01 80 80 80 (documented choice: invalid filter -> 0x80)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(1, ['a/#/b', 0], ['a+', 1], ['#/x', 2]));
    await c.expect(hex('90 05 00 01 80 80 80'));
    expect(h().broker.subscriptionCount).toBe(0);
  });

  it('[MQTT-3.8.4-2] the SUBACK carries the SUBSCRIBE packet id (1, 0x7fff, 0xffff)', async () => {
    const c = await h().connected({ clientId: 'c' });
    for (const id of [1, 0x7fff, 0xffff]) {
      c.send(subscribe(id, ['x', 1]));
      await c.expect(suback(id, 1));
    }
  });

  it('[MQTT-3.8.4-3] re-subscribing a@0 as a@2 replaces the subscription: one copy per publish at QoS 2, and the retained message is sent again', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a', payload: 'ret', qos: 2, id: 1, retain: true });
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a', 0]);
    const r1 = await c.nextPublish();
    expect([r1.payload.toString(), r1.qos, r1.retain]).toEqual(['ret', 0, true]);
    await c.subscribe(2, ['a', 2]);
    const r2 = await c.nextPublish();
    expect([r2.payload.toString(), r2.qos, r2.retain]).toEqual(['ret', 2, true]);
    c.send(pubrec(r2.id!));
    await c.expect(pubrel(r2.id!));
    c.send(pubcomp(r2.id!));
    expect(h().broker.subscriptionCount).toBe(1);
    await pub.publish({ topic: 'a', payload: 'live', qos: 2, id: 2 });
    const m = await c.nextPublish();
    expect([m.payload.toString(), m.qos]).toEqual(['live', 2]);
    await h().expectNothing(c);
  });

  it('[MQTT-3.8.4-3] re-subscribing loses no publication: messages published between the two SUBSCRIBEs all arrive', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      pub.send(publish({ topic: 'a', payload: `${i}`, qos: 1, id: i + 1 }));
      if (i === 10) c.send(subscribe(2, ['a', 2]));
    }
    const deadline = Date.now() + 2000;
    while (seen.length < 20 && Date.now() < deadline) {
      const p = await c.next();
      if (p.type === T.SUBACK) continue;
      const b = p.body;
      const topicLen = (b[0] << 8) | b[1];
      const id = (b[2 + topicLen] << 8) | b[3 + topicLen];
      seen.push(b.subarray(4 + topicLen).toString());
      if ((p.flags & 0x06) === 0x02) c.send(puback(id));
      else c.send(pubrec(id));
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`));
  });

  it('[MQTT-3.8.4-4] [MQTT-3.9.3-1] [MQTT-3.9.3-2] three filters get one SUBACK with three codes in request order; only 00, 01, 02, 80 are used', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(5, ['x/2', 2], ['x/bad+', 0], ['x/0', 0], ['x/1', 1]));
    const p = await c.next();
    expect(toHex(p.bytes)).toBe('90 06 00 05 02 80 00 01');
    for (const code of p.body.subarray(2)) expect(ALLOWED_SUBACK_CODES.has(code)).toBe(true);
    await h().expectNothing(c);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'x/0', payload: 'zero', qos: 2, id: 1 });
    expect((await c.nextPublish()).qos).toBe(0);
  });

  it('[MQTT-3.8.4-6] delivery at min(publish QoS, granted QoS), never upgraded: QoS 0 to a QoS 2 subscription arrives at 0, QoS 2 to a QoS 1 subscription at 1', async () => {
    const s2 = await h().connected({ clientId: 's2' });
    await s2.subscribe(1, ['t', 2]);
    const s1 = await h().connected({ clientId: 's1' });
    await s1.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'q0' });
    expect((await s2.nextPublish()).qos).toBe(0);
    expect((await s1.nextPublish()).qos).toBe(0);
    await pub.publish({ topic: 't', payload: 'q2', qos: 2, id: 1 });
    expect((await s2.nextPublish()).qos).toBe(2);
    expect((await s1.nextPublish()).qos).toBe(1);
  });

  it('[MQTT-3.8.4-6] the same min() applies to retained and to queued messages', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r/q0', payload: 'a', qos: 0, retain: true });
    await pub.publish({ topic: 'r/q2', payload: 'b', qos: 2, id: 1, retain: true });
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['r/#', 1]);
    const got = [await s.nextPublish(), await s.nextPublish()].map((m) => `${m.topic}@${m.qos}`).sort();
    expect(got).toEqual(['r/q0@0', 'r/q2@1']);

    const off = await h().connected({ clientId: 'off', clean: false });
    await off.subscribe(1, ['o', 1]);
    off.destroy();
    await h().gone('off');
    await pub.publish({ topic: 'o', payload: 'q2', qos: 2, id: 2 });
    const back = await h().connected({ clientId: 'off', clean: false }, hex('20 02 01 00'));
    expect((await back.nextPublish()).qos).toBe(1);
  });
});

describe('3.8.4 granted QoS chosen by an authorisation plugin', () => {
  const h = useBroker({}, () => ({
    plugins: [
      {
        authorizeSubscribe: (_c: ClientInfo, filter: string): boolean | QoS | undefined =>
          filter.startsWith('deny') ? false : filter.startsWith('low') ? 0 : undefined,
      },
    ],
  }));

  it('[MQTT-3.8.4-5] [§5.4.1–5.4.2] one code per filter: the granted maximum (possibly below the request) or 0x80; a low grant caps delivery', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(3, ['ok', 2], ['deny/x', 1], ['low/x', 2]));
    await c.expect(hex('90 05 00 03 02 80 00'));
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'deny/x', payload: 'no', qos: 1, id: 1 });
    await pub.publish({ topic: 'low/x', payload: 'low', qos: 2, id: 2 });
    const m = await c.nextPublish();
    expect([m.topic, m.qos]).toEqual(['low/x', 0]);
    await h().expectNothing(c);
  });
});

describe('3.10 UNSUBSCRIBE, 3.11 UNSUBACK', () => {
  const h = useBroker();

  it('[MQTT-3.10.1-1] UNSUBSCRIBE with flags 0000 (header A0): closed, no UNSUBACK, the subscription stays', async () => {
    const c = await h().connected({ clientId: 'c', clean: false });
    await c.subscribe(1, ['a', 0]);
    c.send(packet(0xa0, u16(2), field('a')));
    await c.expectClosed();
    expect(h().broker.subscriptionCount).toBe(1);
  });

  it('[MQTT-3.10.3-1] UNSUBSCRIBE filters are UTF-8 strings back to back: invalid UTF-8 or a length past the end closes', async () => {
    for (const bad of [unsubscribe(1, hex('c3 28')), unsubscribe(1, 'a', hex('ed a0 80')), hex('a2 05 00 01 00 09 61')]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(bad);
      await c.expectClosed();
    }
  });

  it('[MQTT-3.10.3-2] an UNSUBSCRIBE with only a packet id (A2 02 00 01): closed, no UNSUBACK', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(hex('a2 02 00 01'));
    await c.expectClosed();
  });

  it('[MQTT-3.10.4-1] only identical filters are deleted: subscribe a/b, unsubscribe a/# and a/+ -> a/b still delivers', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a/b', 0]);
    c.send(unsubscribe(2, 'a/#', 'a/+', 'A/b', 'a/b/'));
    await c.expect(unsuback(2));
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'a/b', payload: 'still' }));
    expect((await c.nextPublish()).payload.toString()).toBe('still');
  });

  it('[MQTT-3.10.4-1] an identical wildcard filter is deleted (a/+), the overlapping a/b stays, and another client\'s identical filter is untouched', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a/+', 1], ['a/b', 0]);
    const other = await h().connected({ clientId: 'other' });
    await other.subscribe(1, ['a/+', 0]);
    c.send(unsubscribe(2, 'a/+'));
    await c.expect(unsuback(2));
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a/c', payload: 'c', qos: 1, id: 1 });
    await pub.publish({ topic: 'a/b', payload: 'b', qos: 1, id: 2 });
    const m = await c.nextPublish();
    expect([m.topic, m.qos]).toEqual(['a/b', 0]); // now only a/b@0 matches
    await h().expectNothing(c);
    expect([(await other.nextPublish()).topic, (await other.nextPublish()).topic]).toEqual(['a/c', 'a/b']);
  });

  it('[MQTT-3.10.4-2] after UNSUBACK no new message is added for the deleted subscription', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a', 1], ['b', 1]);
    c.send(unsubscribe(2, 'a'));
    await c.expect(unsuback(2));
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a', payload: 'gone', qos: 1, id: 1 });
    await pub.publish({ topic: 'b', payload: 'kept', qos: 1, id: 2 });
    const m = await c.nextPublish();
    expect(m.topic).toBe('b');
    c.send(puback(m.id!));
    await h().expectNothing(c);
  });

  it('[MQTT-3.10.4-3] a QoS 2 delivery in mid-flow when its subscription is deleted still completes: PUBREL and PUBCOMP are exchanged', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'a', payload: 'x', qos: 2, id: 1 });
    await pub.publish({ topic: 'a', payload: 'y', qos: 1, id: 2 });
    const m = await c.nextPublish();
    const n = await c.nextPublish();
    c.send(unsubscribe(2, 'a'));
    await c.expect(unsuback(2));
    c.send(pubrec(m.id!));
    await c.expect(pubrel(m.id!));
    c.send(pubcomp(m.id!), puback(n.id!));
    await h().expectNothing(c);
    expect(h().broker.client('c')!.inflight).toBe(0);
  });

  it('[MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBACK carries the packet id, also when nothing was deleted', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(unsubscribe(0x1234, 'never/subscribed'));
    await c.expect(hex('b0 02 12 34'));
  });

  it('[MQTT-3.10.4-6] an UNSUBSCRIBE with three filters is answered by exactly one UNSUBACK and deletes all three', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['a', 0], ['b', 0], ['c', 0]);
    c.send(unsubscribe(9, 'a', 'b', 'c'));
    await c.expect(unsuback(9));
    await h().expectNothing(c);
    expect(h().broker.subscriptionCount).toBe(0);
  });

  it('[§3.11.1] UNSUBACK is exactly B0 02 and the packet id, no payload', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(unsubscribe(0xfffe, 'a', 'b'));
    const p = await c.next();
    expect([toHex(p.bytes), idOf(p)]).toEqual(['b0 02 ff fe', 0xfffe]);
  });
});

describe('3.8.4 subscription limit', () => {
  const h = useBroker({ limits: { 'max-subscriptions': 2 } });

  it('[MQTT-3.8.4-5] a filter beyond max-subscriptions (2) gets 0x80 while the others are granted; re-subscribing an existing filter still works', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(1, ['a', 1], ['b', 2], ['c', 0]));
    await c.expect(hex('90 05 00 01 01 02 80'));
    c.send(subscribe(2, ['a', 2]));
    await c.expect(suback(2, 2));
    expect(h().broker.subscriptionCount).toBe(2);
  });
});
