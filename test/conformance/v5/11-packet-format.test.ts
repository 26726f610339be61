/**
 * MQTT 5 conformance, chapter 2 control packet format: fixed-header flags, packet identifiers,
 * property sections (Property Length 0, properties not allowed in a packet, repeated ones),
 * forbidden packet types. Raw bytes; server packets read by hand or with mqtt-packet.
 */
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { field, hex, toHex, u16 } from '../../helpers/raw';
import {
  ack5,
  closedWith,
  connected5,
  decodeV5,
  frame5,
  props,
  publish5,
  rawConnect5,
  rawPublish5,
  readPublish5,
  refusedWith,
  sub5,
  subscribe5,
  unsubscribe5,
} from '../../helpers/v5-raw';

describe('v5 2 control packet format', () => {
  const h = useBroker();

  it.each([
    ['PINGREQ C1 00', 'c1 00'],
    ['PUBACK 41 02 00 01', '41 02 00 01'],
    ['AUTH F1 00', 'f1 00'],
    ['SUBSCRIBE 80', '80 06 00 01 00 00 01 61'],
    ['PUBREL 60', '60 02 00 01'],
  ])('v5 [MQTT-2.1.3-1] wrong reserved flags (%s): DISCONNECT 0x81, then the close', async (_name, bytes) => {
    const c = await connected5(h(), 'bad');
    c.send(hex(bytes));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [MQTT-2.1.3-1] [§7.1.1 items 1–4] every packet the server sends carries the flag nibble of Table 2-2 (CONNACK, SUBACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, PINGRESP, DISCONNECT)', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'a', 1, 1), publish5('t', 'b', 2, 2));
    const acks = await p.take(1);
    p.send(ack5(PacketType.PUBREL, 2));
    acks.push(...(await p.take(2)));
    const d1 = await s.next();
    s.send(ack5(PacketType.PUBACK, readPublish5(d1).id!));
    const d2 = await s.next();
    s.send(ack5(PacketType.PUBREC, readPublish5(d2).id!));
    const rel = await s.next();
    s.send(unsubscribe5(3, ['t']), hex('c0 00'));
    const [unsuback, pingresp] = await s.take(2);
    s.send(connectV5Again());
    expect(await closedWith(s)).toBe(0x82);
    const disc = s.history[s.history.length - 1];
    const firstBytes = [s.history[0], s.history[1], d1, d2, ...acks, rel, unsuback, pingresp, disc].map((x) => x.bytes[0].toString(16));
    expect(firstBytes).toEqual(['20', '90', '32', '34', '40', '50', '70', '62', 'b0', 'd0', 'e0']);
  });

  it('v5 [MQTT-2.2.1-2] [MQTT-4.3.1-1] a QoS 0 delivery has no packet id: the Property Length follows the topic, QoS 0, DUP 0', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a/b', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('a/b', 'hello', 0));
    const d = await s.next();
    expect(toHex(d.bytes)).toBe(toHex(Buffer.concat([hex('30 0b'), field('a/b'), hex('00'), Buffer.from('hello')])));
  });

  it('v5 [MQTT-2.2.1-2] an inbound QoS 0 PUBLISH is parsed without a packet id: the Property Length comes right after the topic', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(frame5(0x30, field('t'), [0x00], Buffer.from('payload')));
    expect(readPublish5(await s.next()).payload.toString()).toBe('payload');
  });

  it.each([
    ['SUBSCRIBE', (): Buffer => frame5(0x82, u16(0), [0], field('a'), [0])],
    ['UNSUBSCRIBE', (): Buffer => frame5(0xa2, u16(0), [0], field('a'))],
    ['QoS 1 PUBLISH', (): Buffer => rawPublish5({ topic: 'a', qos: 1, id: 0, payload: 'x' })],
    ['QoS 2 PUBLISH', (): Buffer => rawPublish5({ topic: 'a', qos: 2, id: 0, payload: 'x' })],
  ])('v5 [MQTT-2.2.1-3] packet id 0 in a %s: DISCONNECT 0x81/0x82, the close, nothing acted on', async (_name, bytes) => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a', qos: 1 }]);
    const c = await connected5(h(), 'bad');
    c.send(bytes());
    expect([0x81, 0x82]).toContain(await closedWith(c));
    await h().expectNothing(s);
  });

  it('v5 [MQTT-2.2.1-4] [MQTT-4.3.2-1] [MQTT-4.3.3-1] 300 deliveries while a QoS 1 and a QoS 2 one stay unacknowledged: ids are never 0 and never those in use', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'q1', qos: 1 }, { topic: 'q2', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('q1', 'held1', 1, 1), publish5('q2', 'held2', 2, 2));
    const held1 = readPublish5(await s.next());
    const held2 = readPublish5(await s.next());
    s.send(ack5(PacketType.PUBREC, held2.id!));
    expect((await s.next()).bytes[0]).toBe(0x62);
    const inUse = new Set([held1.id, held2.id]);
    for (let i = 0; i < 300; i++) {
      p.send(publish5('q1', `n${i}`, 1, (i % 60000) + 10));
      await p.next();
      const d = readPublish5(await s.next());
      expect(d.payload.toString()).toBe(`n${i}`);
      expect(d.id).not.toBe(0);
      expect(inUse.has(d.id)).toBe(false);
      s.send(ack5(PacketType.PUBACK, d.id!));
    }
  });

  it('v5 [MQTT-2.2.1-5] PUBACK, PUBREC and PUBCOMP echo the id 0x1234; the server PUBREL echoes the id of its own PUBLISH', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'a', 1, 0x1234));
    expect(toHex((await p.next()).bytes)).toBe('40 02 12 34');
    await s.next().then((d) => s.send(ack5(PacketType.PUBACK, readPublish5(d).id!)));
    p.send(publish5('t', 'b', 2, 0x1234));
    expect(toHex((await p.next()).bytes)).toBe('50 02 12 34');
    p.send(ack5(PacketType.PUBREL, 0x1234));
    expect(toHex((await p.next()).bytes)).toBe('70 02 12 34');
    const d = readPublish5(await s.next());
    s.send(ack5(PacketType.PUBREC, d.id!));
    expect(toHex((await s.next()).bytes)).toBe(toHex(Buffer.concat([hex('62 02'), u16(d.id!)])));
  });

  it('v5 [MQTT-2.2.1-6] SUBACK and UNSUBACK echo the packet id 0xBEEF', async () => {
    const c = await connected5(h(), 'c');
    c.send(subscribe5(0xbeef, [{ topic: 'a', qos: 0 }]));
    expect(decodeV5<{ messageId: number }>(await c.next()).messageId).toBe(0xbeef);
    c.send(unsubscribe5(0xbeef, ['a']));
    expect(decodeV5<{ cmd: string; messageId: number }>(await c.next())).toMatchObject({ cmd: 'unsuback', messageId: 0xbeef });
  });

  it('v5 [MQTT-2.2.2-1] packets without properties carry Property Length 0: CONNACK ends in its properties, SUBACK is 90 04 be ef 00 00, UNSUBACK b0 04 be ef 00 00', async () => {
    const c = await connected5(h(), 'c');
    expect(c.history[0].bytes[0]).toBe(0x20);
    c.send(subscribe5(0xbeef, [{ topic: 'a', qos: 0 }]));
    expect(toHex((await c.next()).bytes)).toBe('90 04 be ef 00 00');
    c.send(unsubscribe5(0xbeef, ['a']));
    expect(toHex((await c.next()).bytes)).toBe('b0 04 be ef 00 00');
  });

  it('v5 [MQTT-2.2.2-1] [§3.4.2.1/3.5.2.1/3.6.2.1/3.7.2.1] the server accepts the short forms: PUBACK with Remaining Length 2, 3 and 4; PUBREC and PUBCOMP likewise', async () => {
    const s = await connected5(h(), 's', { properties: { receiveMaximum: 1 } });
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const p = await connected5(h(), 'p');
    for (const [i, tail] of [[1, ''], [2, '00'], [3, '00 00']] as const) {
      p.send(publish5('t', `q1-${i}`, 1, i));
      await p.next();
      const d = readPublish5(await s.next());
      expect(d.payload.toString()).toBe(`q1-${i}`);
      s.send(frame5(0x40, u16(d.id!), hex(tail)));
    }
    for (const [i, tail] of [[4, ''], [5, '00'], [6, '00 00']] as const) {
      p.send(publish5('t', `q2-${i}`, 2, i));
      await p.next();
      p.send(ack5(PacketType.PUBREL, i));
      await p.next();
      const d = readPublish5(await s.next());
      expect(d.payload.toString()).toBe(`q2-${i}`);
      s.send(frame5(0x50, u16(d.id!), hex(tail)));
      expect(toHex((await s.next()).bytes)).toBe(toHex(Buffer.concat([hex('62 02'), u16(d.id!)])));
      s.send(frame5(0x70, u16(d.id!), hex(tail)));
    }
    await s.pingRoundTrip();
    expect(s.closed).toBe(false);
  });

  it('v5 [§2.2.2.2] a property not allowed in the packet (Topic Alias in CONNECT): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ properties: props([0x23, 0x00, 0x01]), payload: [field('c')] }));
    expect([null, 0x81, 0x82]).toContain(await refusedWith(c));
  });

  it('v5 [§2.2.2.2] [§3.1.2.11] Session Expiry Interval twice in CONNECT: refused (CONNACK 0x82 or close), never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ properties: props([0x11, 0, 0, 0, 10], [0x11, 0, 0, 0, 20]), payload: [field('c')] }));
    expect([null, 0x81, 0x82]).toContain(await refusedWith(c));
  });

  it('v5 [§2.2.2.2] Payload Format Indicator twice in PUBLISH: DISCONNECT 0x82 (or 0x81), nothing routed', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 0 }]);
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', properties: props([0x01, 0x00], [0x01, 0x01]), payload: 'x' }));
    expect([0x81, 0x82]).toContain(await closedWith(c));
    await h().expectNothing(s);
  });

  it('v5 [§2.2.2.2] a Session Expiry Interval (CONNECT-only) in PUBLISH: DISCONNECT 0x81 (or 0x82), nothing routed', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 0 }]);
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', properties: props([0x11, 0, 0, 0, 10]), payload: 'x' }));
    expect([0x81, 0x82]).toContain(await closedWith(c));
    await h().expectNothing(s);
  });

  it.each([
    ['type 0', '00 00'],
    ['CONNACK', '20 03 00 00 00'],
    ['SUBACK', '90 04 00 01 00 00'],
    ['UNSUBACK', 'b0 04 00 01 00 00'],
    ['PINGRESP', 'd0 00'],
  ])('v5 [§2.1.2 Table 2-1] a client sending %s: DISCONNECT 0x81/0x82, then the close', async (_name, bytes) => {
    const c = await connected5(h(), 'bad');
    c.send(hex(bytes));
    expect([0x81, 0x82]).toContain(await closedWith(c));
  });

  it('v5 [§2.2.1] client and server packet id spaces are independent: inbound QoS 2 id 1 and outbound QoS 2 id 1 are in flight together and both complete', async () => {
    const c = await connected5(h(), 'c');
    await sub5(c, 1, [{ topic: 'x', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('x', 'to-c', 2, 7));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 7));
    await p.next();
    const out = readPublish5(await c.next());
    c.send(publish5('y', 'from-c', 2, out.id!));
    expect(toHex((await c.next()).bytes)).toBe(toHex(Buffer.concat([hex('50 02'), u16(out.id!)])));
    c.send(ack5(PacketType.PUBREC, out.id!));
    expect(toHex((await c.next()).bytes)).toBe(toHex(Buffer.concat([hex('62 02'), u16(out.id!)])));
    c.send(ack5(PacketType.PUBREL, out.id!));
    expect(toHex((await c.next()).bytes)).toBe(toHex(Buffer.concat([hex('70 02'), u16(out.id!)])));
    c.send(ack5(PacketType.PUBCOMP, out.id!));
    await c.pingRoundTrip();
    expect(c.closed).toBe(false);
  });
});

/** A second CONNECT on a connection: the server answers DISCONNECT 0x82 v5 [MQTT-3.1.0-2]. */
function connectV5Again(): Buffer {
  return rawConnect5({ payload: [field('s')] });
}
