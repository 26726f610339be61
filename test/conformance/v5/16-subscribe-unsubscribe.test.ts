/**
 * MQTT 5 conformance, sections 3.8-3.11 SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK basics:
 * malformed requests, one acknowledgement per request with one code per filter in order,
 * replacement of an identical filter, granted QoS, unsubscribe semantics. Subscription
 * Identifiers are tested with their feature (08-*). Raw bytes.
 */
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { field, hex, toHex, u16 } from '../../helpers/raw';
import { ack5, closedWith, connected5, decodeV5, frame5, publish5, readPublish5, sub5, subscribe5, unsubscribe5 } from '../../helpers/v5-raw';

const SUBSCRIBE_CODES = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];

describe('v5 3.8-3.11 SUBSCRIBE and UNSUBSCRIBE', () => {
  const h = useBroker();

  it('v5 [MQTT-3.8.1-1] a SUBSCRIBE with flags 0000 (80 ...): DISCONNECT 0x81, no SUBACK', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0x80, u16(1), [0], field('a'), [0]));
    expect(await closedWith(c)).toBe(0x81);
    expect(c.history.some((p) => p.type === 9)).toBe(false);
  });

  it('v5 [MQTT-3.8.3-1] an ill-formed UTF-8 Topic Filter (C3 28): DISCONNECT 0x81', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0x82, u16(1), [0], field(hex('61 2f c3 28')), [0]));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [MQTT-3.8.3-2] a SUBSCRIBE with no filter (packet id and properties only): DISCONNECT 0x82, no SUBACK', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0x82, u16(1), [0]));
    expect(await closedWith(c)).toBe(0x82);
    expect(c.history.some((p) => p.type === 9)).toBe(false);
  });

  it('v5 [MQTT-3.8.3-5] Subscription Options with reserved bits 6-7 set (C1): DISCONNECT 0x81', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0x82, u16(1), [0], field('a'), [0xc1]));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [§3.8.3.1] Maximum QoS 3 (options 03) and Retain Handling 3 (options 30): DISCONNECT 0x82 (or 0x81)', async () => {
    for (const options of [0x03, 0x30]) {
      const c = await connected5(h(), `c${options}`);
      c.send(frame5(0x82, u16(1), [0], field('a'), [options]));
      expect([0x81, 0x82]).toContain(await closedWith(c));
    }
  });

  it('v5 [MQTT-3.8.4-1] [MQTT-3.8.4-7] [MQTT-3.9.3-2] a SUBSCRIBE whose filters are all invalid still gets a SUBACK, of failure codes from the Subscribe Reason Code list', async () => {
    const c = await connected5(h(), 'c');
    c.send(subscribe5(4, [{ topic: 'a/#/b', qos: 1 }, { topic: 'a+', qos: 0 }]));
    const ack = decodeV5<{ cmd: string; messageId: number; granted: number[] }>(await c.next());
    expect([ack.cmd, ack.messageId]).toEqual(['suback', 4]);
    expect(ack.granted).toHaveLength(2);
    for (const code of ack.granted) {
      expect(code).toBeGreaterThanOrEqual(0x80);
      expect(SUBSCRIBE_CODES).toContain(code);
    }
    await c.pingRoundTrip();
  });

  it('v5 [MQTT-3.8.4-2] [MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1] three filters, one invalid in the middle: one SUBACK with the id and three codes in filter order', async () => {
    const c = await connected5(h(), 'c');
    c.send(subscribe5(0x1234, [{ topic: 'x', qos: 2 }, { topic: 'bad/#/x', qos: 1 }, { topic: 'y', qos: 0 }]));
    const ack = await c.next();
    // Type, packet id, then (after the properties: a Reason String may say why) one code per filter.
    expect(toHex(ack.bytes.subarray(0, 1))).toBe('90');
    expect(toHex(ack.body.subarray(0, 2))).toBe('12 34');
    const codes = ack.body.subarray(ack.body.length - 3);
    expect([codes[0], codes[1] >= 0x80, codes[2]]).toEqual([2, true, 0]);
    await c.expectNothing();
  });

  it('v5 [MQTT-3.8.4-3] an identical filter replaces the subscription: "a" QoS 0 then "a" QoS 2 gives one copy per publish, at QoS 2', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a', qos: 0 }]);
    await sub5(s, 2, [{ topic: 'a', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('a', 'x', 2, 1));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 1));
    await p.next();
    const d = readPublish5(await s.next());
    expect(d.qos).toBe(2);
    s.send(ack5(PacketType.PUBREC, d.id!));
    await s.next();
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.8.4-4] replacing a subscription with Retain Handling 0 re-sends the retained message, and no message published meanwhile is lost', async () => {
    const p = await connected5(h(), 'p');
    p.send(publish5('r', 'kept', 1, 1, undefined, { retain: true }));
    await p.next();
    const s = await connected5(h(), 's');
    s.send(subscribe5(1, [{ topic: 'r', qos: 1 }]));
    const first = await s.take(2);
    expect(first.map((x) => x.type)).toEqual([9, 3]);
    s.send(ack5(PacketType.PUBACK, readPublish5(first[1]).id!));
    const stream: Buffer[] = [];
    for (let i = 0; i < 50; i++) stream.push(publish5('r', `${i}`, 0));
    p.send(...stream.slice(0, 25));
    s.send(subscribe5(2, [{ topic: 'r', qos: 1, retainHandling: 0 }]));
    p.send(...stream.slice(25));
    const live: string[] = [];
    let resent = 0;
    while (live.length < 50) {
      const x = await s.next();
      if (x.type === 9) continue;
      const d = readPublish5(x);
      if (d.retain) {
        expect(d.payload.toString()).toBe('kept');
        resent++;
        if (d.qos > 0) s.send(ack5(PacketType.PUBACK, d.id!));
      } else live.push(d.payload.toString());
    }
    expect(resent).toBe(1);
    expect(live).toEqual(Array.from({ length: 50 }, (_, i) => `${i}`));
  });

  it('v5 [MQTT-3.8.4-8] delivery QoS is the minimum of published and granted QoS, for live, queued and retained copies', async () => {
    const p = await connected5(h(), 'p');
    p.send(publish5('r', 'retained', 2, 1, undefined, { retain: true }));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 1));
    await p.next();
    const s = await connected5(h(), 's', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    s.send(subscribe5(1, [{ topic: 'r', qos: 1 }, { topic: 'z', qos: 0 }]));
    const [, retained] = await s.take(2);
    const r = readPublish5(retained);
    expect([r.payload.toString(), r.qos]).toEqual(['retained', 1]);
    s.send(ack5(PacketType.PUBACK, r.id!));
    p.send(publish5('r', 'live', 2, 2));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 2));
    await p.next();
    const live = readPublish5(await s.next());
    expect([live.payload.toString(), live.qos]).toEqual(['live', 1]);
    s.send(ack5(PacketType.PUBACK, live.id!));
    p.send(publish5('z', 'qos0', 1, 3));
    await p.next();
    expect(readPublish5(await s.next()).qos).toBe(0);
  });

  it('v5 [MQTT-3.10.1-1] an UNSUBSCRIBE with flags 0000 (A0 ...): DISCONNECT 0x81, no UNSUBACK', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0xa0, u16(1), [0], field('a')));
    expect(await closedWith(c)).toBe(0x81);
    expect(c.history.some((p) => p.type === 11)).toBe(false);
  });

  it('v5 [MQTT-3.10.3-1] an ill-formed UTF-8 filter in UNSUBSCRIBE: DISCONNECT 0x81', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0xa2, u16(1), [0], field(hex('c3 28'))));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [MQTT-3.10.3-2] an UNSUBSCRIBE with no filter: DISCONNECT 0x82, no UNSUBACK', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0xa2, u16(1), [0]));
    expect(await closedWith(c)).toBe(0x82);
    expect(c.history.some((p) => p.type === 11)).toBe(false);
  });

  it('v5 [MQTT-3.10.4-1] [MQTT-3.10.4-5] UNSUBSCRIBE compares filters character for character: "a/#" does not remove "a/b" (UNSUBACK 0x11), which still delivers', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a/b', qos: 0 }]);
    s.send(unsubscribe5(2, ['a/#']));
    expect(toHex((await s.next()).bytes)).toBe('b0 04 00 02 00 11');
    const p = await connected5(h(), 'p');
    p.send(publish5('a/b', 'still', 0));
    expect(readPublish5(await s.next()).payload.toString()).toBe('still');
  });

  it('v5 [MQTT-3.10.4-2] [MQTT-3.10.4-4] after UNSUBACK no new message matching the filter is sent', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a', qos: 1 }]);
    s.send(unsubscribe5(2, ['a']));
    expect(toHex((await s.next()).bytes)).toBe('b0 04 00 02 00 00');
    const p = await connected5(h(), 'p');
    p.send(publish5('a', 'x', 1, 1));
    await p.next();
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.10.4-3] a QoS 2 delivery started before UNSUBSCRIBE is completed: PUBREL and PUBCOMP still flow', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('a', 'x', 2, 1));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 1));
    await p.next();
    const d = readPublish5(await s.next());
    s.send(unsubscribe5(2, ['a']));
    expect((await s.next()).type).toBe(11);
    s.send(ack5(PacketType.PUBREC, d.id!));
    expect(toHex((await s.next()).bytes)).toBe(toHex(Buffer.concat([hex('62 02'), u16(d.id!)])));
    s.send(ack5(PacketType.PUBCOMP, d.id!));
    await s.expectNothing();
  });

  it('v5 [MQTT-3.10.4-6] an UNSUBSCRIBE of three filters is answered by one UNSUBACK with three codes', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a', qos: 0 }, { topic: 'c', qos: 0 }]);
    s.send(unsubscribe5(9, ['a', 'b', 'c']));
    expect(toHex((await s.next()).bytes)).toBe('b0 06 00 09 00 00 11 00');
    await s.expectNothing();
  });

  it('v5 [§3.8.4] a new shared subscription gets no retained messages; a new non-shared one does', async () => {
    const p = await connected5(h(), 'p');
    p.send(publish5('r', 'kept', 0, 0, undefined, { retain: true }));
    await p.pingRoundTrip();
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '$share/g/r', qos: 0 }]);
    await h().expectNothing(s);
    s.send(subscribe5(2, [{ topic: 'r', qos: 0 }]));
    const [, d] = await s.take(2);
    expect(readPublish5(d).retain).toBe(true);
  });

  it('v5 [§3.10.4] when one member of a shared subscription unsubscribes, the other gets every message', async () => {
    const a = await connected5(h(), 'a');
    const b = await connected5(h(), 'b');
    await sub5(a, 1, [{ topic: '$share/g/t', qos: 0 }]);
    await sub5(b, 1, [{ topic: '$share/g/t', qos: 0 }]);
    a.send(unsubscribe5(2, ['$share/g/t']));
    expect(toHex((await a.next()).bytes)).toBe('b0 04 00 02 00 00');
    const p = await connected5(h(), 'p');
    for (let i = 0; i < 4; i++) p.send(publish5('t', `${i}`, 0));
    const got = [];
    for (let i = 0; i < 4; i++) got.push(readPublish5(await b.next()).payload.toString());
    expect(got).toEqual(['0', '1', '2', '3']);
    await h().expectNothing(a);
  });
});
