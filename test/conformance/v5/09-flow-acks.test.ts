/**
 * MQTT 5 conformance, flow control and acknowledgements (sections 3.3.4, 4.9, 3.4-3.7, 3.9, 3.11,
 * 3.1.2 Maximum Packet Size / Request Problem Information, 3.3.2 retained expiry). Raw v5
 * clients (packets from encodePacketV5, server packets decoded with mqtt-packet) where a test
 * must hold acknowledgements back or exceed a limit; MQTT.js v5 where a library client serves.
 */
import type { MqttClient } from 'mqtt';
import { type Harness, sleep, useBroker, waitFor } from '../../helpers/conformance';
import { type RawClient, PINGREQ, PINGRESP, toHex } from '../../helpers/raw';
import { connectMqtt5, connectV5, decodeV5 } from '../../helpers/v5';
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType, type Properties, type QoS } from '../../../src/core/protocol/packets';

interface Decoded {
  cmd: string;
  reasonCode?: number;
  messageId?: number;
  topic?: string;
  payload?: Buffer;
  qos?: number;
  retain?: boolean;
  granted?: number[];
  properties?: { reasonString?: string; receiveMaximum?: number; messageExpiryInterval?: number; userProperties?: Record<string, string> };
}

/** A raw v5 client after CONNACK 0x00 (returned decoded). */
async function raw5(h: Harness, clientId: string, properties?: Properties): Promise<{ c: RawClient; connack: Decoded }> {
  const c = await h.raw();
  c.send(connectV5({ clientId, properties }));
  const ack = decodeV5<Decoded>(await c.next());
  expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
  return { c, connack: ack };
}

const pub5 = (topic: string, qos: QoS, packetId: number, payload: string | Buffer = 'x', properties?: Properties, retain = false): Buffer =>
  encodePacketV5({ type: PacketType.PUBLISH, topic, qos, packetId: qos === 0 ? 0 : packetId, payload: Buffer.from(payload), retain, dup: false, properties });
const ack5 = (type: PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP, packetId: number, reasonCode = 0): Buffer =>
  encodePacketV5({ type, packetId, reasonCode });
const sub5 = (packetId: number, ...filters: [string, QoS][]): Buffer =>
  encodePacketV5({ type: PacketType.SUBSCRIBE, packetId, subscriptions: filters.map(([topic, qos]) => ({ topic, qos })) });

async function next5(c: RawClient, ms = 2000): Promise<Decoded> {
  return decodeV5<Decoded>(await c.next(ms));
}

/** Subscribes and checks the SUBACK's codes. */
async function subscribeRaw(c: RawClient, id: number, filters: [string, QoS][], codes: number[]): Promise<void> {
  c.send(sub5(id, ...filters));
  const ack = await next5(c);
  expect([ack.cmd, ack.granted]).toEqual(['suback', codes]);
}

describe('v5 Receive Maximum outbound, broker window 100 (the default)', () => {
  const h = useBroker();

  it('v5 [MQTT-3.3.4-9] [MQTT-4.9.0-1] [MQTT-4.9.0-2] client Receive Maximum 2 (broker 100): two QoS 1 PUBLISHes unacknowledged at most, the third after a PUBACK', async () => {
    const { c: sub } = await raw5(h(), 'sub', { receiveMaximum: 2 });
    await subscribeRaw(sub, 1, [['t', 1]], [1]);
    const { c: pub } = await raw5(h(), 'pub');
    for (let i = 1; i <= 3; i++) pub.send(pub5('t', 1, i, `m${i}`));
    const a = await next5(sub);
    const b = await next5(sub);
    expect([a.payload!.toString(), b.payload!.toString()]).toEqual(['m1', 'm2']);
    await sub.expectNothing(pub); // the third waits in the session queue
    sub.send(ack5(PacketType.PUBACK, a.messageId!));
    const c = await next5(sub);
    expect([c.cmd, c.payload!.toString()]).toEqual(['publish', 'm3']);
  });
});

describe('v5 Receive Maximum (flow control)', () => {
  const h = useBroker({ limits: { 'max-inflight-messages': 2 } });

  it('v5 [MQTT-3.3.4-9] the window is min(max-inflight-messages, Receive Maximum): Receive Maximum 1 below the broker\'s 2', async () => {
    const { c: sub } = await raw5(h(), 'sub1', { receiveMaximum: 1 });
    await subscribeRaw(sub, 1, [['t', 2]], [2]);
    const { c: pub } = await raw5(h(), 'pub1');
    pub.send(pub5('t', 1, 1, 'a'), pub5('t', 1, 2, 'b'));
    const a = await next5(sub);
    expect(a.payload!.toString()).toBe('a');
    await sub.expectNothing(pub);
    sub.send(ack5(PacketType.PUBACK, a.messageId!));
    expect((await next5(sub)).payload!.toString()).toBe('b');
  });

  it('v5 [MQTT-3.3.4-9] [MQTT-4.3.3-4] [§4.9] a QoS 2 delivery holds its slot until PUBCOMP (not PUBREC), and a PUBREC 0x80+ frees it with no PUBREL', async () => {
    const { c: sub } = await raw5(h(), 'sub2', { receiveMaximum: 1 });
    await subscribeRaw(sub, 1, [['t', 2]], [2]);
    const { c: pub } = await raw5(h(), 'pub2');
    for (const [id, payload] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) await publishExactlyOnce(pub, 't', id, payload);
    const a = await next5(sub);
    expect([a.qos, a.payload!.toString()]).toEqual([2, 'a']);
    sub.send(ack5(PacketType.PUBREC, a.messageId!));
    const rel = await next5(sub);
    expect([rel.cmd, rel.messageId]).toEqual(['pubrel', a.messageId]);
    await sub.expectNothing(pub); // PUBREC alone does not free the slot
    sub.send(ack5(PacketType.PUBCOMP, a.messageId!));
    const b = await next5(sub);
    expect(b.payload!.toString()).toBe('b');
    // v5 [MQTT-4.3.3-4] a failure PUBREC ends the exchange: no PUBREL, the slot is free for 'c'.
    sub.send(ack5(PacketType.PUBREC, b.messageId!, 0x80));
    const c = await next5(sub);
    expect([c.cmd, c.payload!.toString()]).toEqual(['publish', 'c']);
    await sub.expectNothing();
    expect(h().broker.session('sub2')!.inflight).toBe(1);
  });

  it('v5 [MQTT-3.3.4-9] [§4.9] re-sent PUBLISHes count too: back with Receive Maximum 1, the two in flight are re-sent one per PUBACK, then the queued one', async () => {
    const { c: first } = await raw5(h(), 'back', { receiveMaximum: 3, sessionExpiryInterval: 60 });
    await subscribeRaw(first, 1, [['t', 1]], [1]);
    const { c: pub } = await raw5(h(), 'pubb');
    // max-inflight-messages is 2 here: two go in flight, the third is queued.
    pub.send(pub5('t', 1, 1, 'a'), pub5('t', 1, 2, 'b'), pub5('t', 1, 3, 'c'));
    await first.take(2);
    await pub.pingRoundTrip();
    first.destroy();
    await h().gone('back');
    const again = await h().raw();
    again.send(connectV5({ clientId: 'back', cleanSession: false, properties: { receiveMaximum: 1, sessionExpiryInterval: 60 } }));
    expect(decodeV5<{ sessionPresent: boolean }>(await again.next()).sessionPresent).toBe(true);
    const a = decodeV5<Decoded & { dup: boolean }>(await again.next());
    expect([a.payload!.toString(), a.dup]).toEqual(['a', true]);
    await again.expectNothing();
    again.send(ack5(PacketType.PUBACK, a.messageId!));
    const b = decodeV5<Decoded & { dup: boolean }>(await again.next());
    expect([b.payload!.toString(), b.dup]).toEqual(['b', true]);
    await again.expectNothing();
    again.send(ack5(PacketType.PUBACK, b.messageId!));
    const c = decodeV5<Decoded & { dup: boolean }>(await again.next());
    expect([c.payload!.toString(), c.dup]).toEqual(['c', false]);
  });

  it('v5 [MQTT-3.3.4-10] [MQTT-4.9.0-3] a full window delays no other packet: SUBACK and PINGRESP still answered', async () => {
    const { c: sub } = await raw5(h(), 'sub3', { receiveMaximum: 1 });
    await subscribeRaw(sub, 1, [['t', 1]], [1]);
    const { c: pub } = await raw5(h(), 'pub3');
    pub.send(pub5('t', 1, 1, 'a'), pub5('t', 1, 2, 'b'));
    await next5(sub);
    await pub.pingRoundTrip();
    await subscribeRaw(sub, 2, [['u', 1]], [1]);
    sub.send(PINGREQ);
    expect(toHex((await sub.next()).bytes)).toBe(toHex(PINGRESP));
  });

  it('v5 [MQTT-3.3.4-7] CONNACK announces Receive Maximum = max-inflight-messages; a third QoS 2 PUBLISH unacknowledged by us (no PUBREL) is DISCONNECT 0x93', async () => {
    const { c, connack: ack } = await raw5(h(), 'flood');
    expect(ack.properties!.receiveMaximum).toBe(2);
    c.send(pub5('t', 2, 1), pub5('t', 2, 2));
    expect((await take5(c, 2)).map((p) => [p.cmd, p.reasonCode ?? 0])).toEqual([['pubrec', 0], ['pubrec', 0]]);
    // A repeat of an id already counted is not a new one.
    c.send(pub5('t', 2, 2));
    expect((await next5(c)).cmd).toBe('pubrec');
    c.send(pub5('t', 2, 3));
    const d = await next5(c);
    expect([d.cmd, d.reasonCode]).toEqual(['disconnect', 0x93]);
    await h().gone('flood');
    expect(h().broker.stats.closedReceiveMaximum).toBe(1);
  });

  it('v5 [MQTT-3.3.4-7] the quota comes back when PUBCOMP is sent: PUBREL then a new QoS 2 PUBLISH is accepted', async () => {
    const { c } = await raw5(h(), 'steady');
    c.send(pub5('t', 2, 1), pub5('t', 2, 2));
    await take5(c, 2);
    c.send(ack5(PacketType.PUBREL, 1));
    expect((await next5(c)).cmd).toBe('pubcomp');
    c.send(pub5('t', 2, 3));
    expect((await next5(c)).cmd).toBe('pubrec');
    c.send(ack5(PacketType.PUBREL, 2));
    expect((await next5(c)).cmd).toBe('pubcomp');
    // Now only 3 waits for its PUBREL: a QoS 1 PUBLISH fits (its PUBACK frees it at once).
    c.send(pub5('t', 1, 4), pub5('t', 1, 5));
    expect((await take5(c, 2)).map((p) => p.cmd)).toEqual(['puback', 'puback']);
    await c.expectNothing();
    expect(h().broker.client('steady')).toBeDefined();
  });

});

/** A QoS 2 PUBLISH from a raw v5 client, PUBREC and PUBREL answered (its own quota stays free). */
async function publishExactlyOnce(c: RawClient, topic: string, id: number, payload: string): Promise<void> {
  c.send(pub5(topic, 2, id, payload));
  expect((await next5(c)).cmd).toBe('pubrec');
  c.send(ack5(PacketType.PUBREL, id));
  expect((await next5(c)).cmd).toBe('pubcomp');
}

async function take5(c: RawClient, n: number): Promise<Decoded[]> {
  return (await c.take(n)).map((p) => decodeV5<Decoded>(p));
}

describe('v5 Maximum Packet Size outbound', () => {
  const h = useBroker();

  it('v5 [MQTT-3.1.2-24] [MQTT-3.1.2-25] a PUBLISH larger than the client\'s Maximum Packet Size is not sent and counts as delivered (Receive Maximum 1: the next one still arrives)', async () => {
    const { c: sub } = await raw5(h(), 'small', { maximumPacketSize: 64, receiveMaximum: 1 });
    await subscribeRaw(sub, 1, [['t', 1]], [1]);
    const { c: pub } = await raw5(h(), 'big');
    pub.send(pub5('t', 1, 1, 'x'.repeat(200)), pub5('t', 1, 2, 'ok'));
    const p = await next5(sub);
    expect([p.cmd, p.payload!.toString()]).toEqual(['publish', 'ok']);
    expect(p.messageId).toBeDefined();
    await sub.expectNothing(pub);
    expect(h().broker.stats.droppedPacketTooLarge).toBe(1);
    expect(h().broker.session('small')!.inflight).toBe(1); // only 'ok', the dropped one never entered
    for (const q of sub.history) expect(q.bytes.length).toBeLessThanOrEqual(64);
  });

  it('v5 [MQTT-3.1.2-24] a packet of exactly the Maximum Packet Size is sent, one byte more is not', async () => {
    const { c: sub } = await raw5(h(), 'edge', { maximumPacketSize: 20 });
    await subscribeRaw(sub, 1, [['t', 0]], [0]);
    const { c: pub } = await raw5(h(), 'edgep');
    // QoS 0 PUBLISH to a v5 client: 1 + 1 (RL) + 2 + 1 (topic) + 1 (property length) + payload = 6 + payload.
    pub.send(pub5('t', 0, 0, 'y'.repeat(15)), pub5('t', 0, 0, 'z'.repeat(14)));
    const p = await sub.next();
    expect(p.bytes.length).toBe(20);
    expect(decodeV5<Decoded>(p).payload!.toString()).toBe('z'.repeat(14));
    await sub.expectNothing(pub);
  });

  it('v5 [MQTT-3.1.2-24] the size that counts includes the receiver\'s Subscription Identifier: a PUBLISH that fits without it and not with it is not sent', async () => {
    const { c: sub } = await raw5(h(), 'edgeid', { maximumPacketSize: 20 });
    sub.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 't', qos: 0 }], properties: { subscriptionIdentifiers: [5] } }));
    expect((await next5(sub)).cmd).toBe('suback');
    const { c: pub } = await raw5(h(), 'edgeidp');
    // 6 + payload bytes as above, plus 2 for Subscription Identifier 5 (0x0B 0x05): 14 bytes of
    // payload make 22 (over), 12 make exactly 20.
    pub.send(pub5('t', 0, 0, 'y'.repeat(14)), pub5('t', 0, 0, 'z'.repeat(12)));
    const p = await sub.next();
    expect(p.bytes.length).toBe(20);
    const d = decodeV5<Decoded & { properties?: { subscriptionIdentifier?: number | number[] } }>(p);
    expect([d.payload!.toString(), d.properties?.subscriptionIdentifier]).toEqual(['z'.repeat(12), 5]);
    await sub.expectNothing(pub);
    expect(h().broker.stats.droppedPacketTooLarge).toBeGreaterThanOrEqual(1);
  });
});

describe('v5 reason codes on acknowledgements', () => {
  const h = useBroker({
    limits: { 'max-retained-messages': 1 },
    'topic-check': { enabled: true, plugins: ['topic_acl'], acl: { anonymous: ['#'] }, 'publish-acl': { anonymous: ['open/#', 'r/#', '$SYS/#'] } },
  });

  it('v5 [MQTT-3.4.2-1] [MQTT-4.3.3-8] a publish the ACL refuses: PUBACK / PUBREC 0x87 with a Reason String, nothing delivered', async () => {
    const { c: sub } = await raw5(h(), 'watch');
    await subscribeRaw(sub, 1, [['#', 2]], [2]);
    const { c } = await raw5(h(), 'p');
    c.send(pub5('closed/a', 1, 1), pub5('closed/a', 2, 2));
    const [a, b] = await take5(c, 2);
    expect([a.cmd, a.messageId, a.reasonCode, a.properties?.reasonString]).toEqual(['puback', 1, 0x87, 'not authorized']);
    expect([b.cmd, b.messageId, b.reasonCode]).toEqual(['pubrec', 2, 0x87]);
    await sub.expectNothing(c);
  });

  it('v5 [MQTT-3.5.2-1] [MQTT-4.3.3-9] after PUBREC 0x87 the id is free: no PUBREL expected, the same id is a new message', async () => {
    const { c: sub } = await raw5(h(), 'watch2');
    await subscribeRaw(sub, 1, [['open/#', 2]], [2]);
    const { c } = await raw5(h(), 'p2');
    c.send(pub5('$SYS/x', 2, 7));
    const a = await next5(c);
    expect([a.cmd, a.reasonCode]).toEqual(['pubrec', 0x87]);
    // The id was not kept for a PUBREL: one now is for an unknown id.
    c.send(ack5(PacketType.PUBREL, 7));
    expect([(await next5(c)).reasonCode]).toEqual([0x92]);
    c.send(pub5('open/x', 2, 7, 'fresh'));
    const b = await next5(c);
    expect([b.cmd, b.reasonCode ?? 0]).toEqual(['pubrec', 0]);
    expect((await next5(sub)).payload!.toString()).toBe('fresh');
  });

  it('v5 [MQTT-3.1.2-29] Request Problem Information 0: PUBACK 0x87 without Reason String', async () => {
    const { c } = await raw5(h(), 'quiet', { requestProblemInformation: 0 });
    c.send(pub5('closed/a', 1, 1));
    const a = await next5(c);
    expect([a.cmd, a.reasonCode, a.properties?.reasonString]).toEqual(['puback', 0x87, undefined]);
    expect(a.properties?.userProperties).toBeUndefined();
  });

  it('v5 [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] a Reason String that would exceed the client\'s Maximum Packet Size is left out', async () => {
    const { c } = await raw5(h(), 'tiny', { maximumPacketSize: 12 });
    c.send(pub5('closed/a', 1, 1), pub5('closed/a', 2, 2));
    const acks = await c.take(2);
    for (const p of acks) expect(p.bytes.length).toBeLessThanOrEqual(12);
    expect(acks.map((p) => [decodeV5<Decoded>(p).reasonCode, decodeV5<Decoded>(p).properties?.reasonString])).toEqual([
      [0x87, undefined],
      [0x87, undefined],
    ]);
  });

  it('v5 [MQTT-3.4.2-1] Payload Format Indicator 1 with a payload that is not UTF-8: PUBACK 0x99, not routed', async () => {
    const { c: sub } = await raw5(h(), 'watch3');
    await subscribeRaw(sub, 1, [['open/#', 1]], [1]);
    const { c } = await raw5(h(), 'p3');
    c.send(pub5('open/bad', 1, 1, Buffer.from([0xc3, 0x28]), { payloadFormatIndicator: 1 }));
    const a = await next5(c);
    expect([a.cmd, a.reasonCode]).toEqual(['puback', 0x99]);
    // The same bytes without the indicator are plain binary: routed.
    c.send(pub5('open/bad', 1, 2, Buffer.from([0xc3, 0x28])), pub5('open/good', 1, 3, 'é', { payloadFormatIndicator: 1 }));
    expect((await take5(c, 2)).map((p) => p.reasonCode ?? 0)).toEqual([0, 0]);
    expect((await take5(sub, 2)).map((p) => p.topic)).toEqual(['open/bad', 'open/good']);
  });

  it('v5 [MQTT-3.4.2-1] [§4.13.2] a retained publish over the retained quota: PUBACK 0x97 (delivered live, not retained)', async () => {
    const { c: sub } = await raw5(h(), 'watch4');
    await subscribeRaw(sub, 1, [['r/#', 1]], [1]);
    const { c } = await raw5(h(), 'p4');
    c.send(pub5('r/1', 1, 1, 'a', undefined, true), pub5('r/2', 1, 2, 'b', undefined, true));
    const [a, b] = await take5(c, 2);
    expect([a.reasonCode ?? 0, b.reasonCode, b.properties?.reasonString]).toEqual([0, 0x97, 'quota exceeded']);
    expect((await take5(sub, 2)).map((p) => p.payload!.toString())).toEqual(['a', 'b']);
  });

  it('v5 [MQTT-3.7.2-1] [MQTT-4.3.3-11] PUBREL for an unknown id gets PUBCOMP 0x92; a known one PUBCOMP 0x00', async () => {
    const { c } = await raw5(h(), 'rel');
    c.send(ack5(PacketType.PUBREL, 99));
    const a = await next5(c);
    expect([a.cmd, a.messageId, a.reasonCode]).toEqual(['pubcomp', 99, 0x92]);
    c.send(pub5('open/q', 2, 5));
    expect((await next5(c)).cmd).toBe('pubrec');
    c.send(ack5(PacketType.PUBREL, 5));
    const b = await c.next();
    expect(toHex(b.bytes)).toBe('70 02 00 05');
  });

  it('v5 [MQTT-3.6.2-1] a PUBREC for an id not in flight gets PUBREL 0x92 with a Reason String (a PUBACK for one is ignored); a known exchange\'s PUBREL is 0x00', async () => {
    const { c } = await raw5(h(), 'stray');
    c.send(ack5(PacketType.PUBACK, 11), ack5(PacketType.PUBREC, 12));
    const rel = await next5(c);
    expect([rel.cmd, rel.messageId, rel.reasonCode, rel.properties?.reasonString]).toEqual(['pubrel', 12, 0x92, 'packet identifier not found']);
    await c.expectNothing();
    c.send(ack5(PacketType.PUBREC, 13, 0x80)); // a failure code ends the exchange: nothing to answer
    await c.expectNothing();
    await subscribeRaw(c, 1, [['open/known', 2]], [2]);
    const { c: pub } = await raw5(h(), 'known-pub');
    await publishExactlyOnce(pub, 'open/known', 1, 'k');
    const p = await next5(c);
    expect([p.cmd, p.qos]).toEqual(['publish', 2]);
    c.send(ack5(PacketType.PUBREC, p.messageId!));
    expect(toHex((await c.next()).bytes)).toBe(`62 02 00 ${p.messageId!.toString(16).padStart(2, '0')}`);
  });

  it('v5 [MQTT-3.6.2-2] [MQTT-3.7.2-2] a client Maximum Packet Size of 8: PUBREL 0x92 and PUBCOMP 0x92 go without their Reason String', async () => {
    const { c } = await raw5(h(), 'tiny', { maximumPacketSize: 8 });
    c.send(ack5(PacketType.PUBREC, 12));
    expect(toHex((await c.next()).bytes)).toBe('62 04 00 0c 92 00');
    c.send(ack5(PacketType.PUBREL, 13));
    expect(toHex((await c.next()).bytes)).toBe('70 04 00 0d 92 00');
  });

  it('v5 [MQTT-3.4.2-1] interop: MQTT.js sees the PUBACK reason code of a refused publish', async () => {
    const { client } = await connectMqtt5(h().port, { clientId: 'js' });
    try {
      const err = await new Promise<Error | undefined>((resolve) => client.publish('closed/z', 'x', { qos: 1 }, (e) => resolve(e ?? undefined)));
      expect(err).toBeDefined();
      expect((err as Error & { code?: number }).code).toBe(0x87);
    } finally {
      (client as MqttClient).end(true);
    }
  });
});

describe('v5 SUBACK reason codes', () => {
  const h = useBroker({
    limits: { 'max-subscriptions': 2 },
    'topic-check': { enabled: true, plugins: ['topic_acl'], acl: { anonymous: ['a/#'] } },
  });

  it('v5 [MQTT-3.9.3-1] [MQTT-3.9.3-2] refusals name their cause: 0x87 (ACL), 0x8F (ill-formed filter), 0x97 (max-subscriptions), with a Reason String', async () => {
    const { c } = await raw5(h(), 'subs');
    c.send(sub5(1, ['a/1', 1], ['b/1', 1], ['a/#/x', 0], ['a/2', 2], ['a/3', 0]));
    const ack = await next5(c);
    expect([ack.cmd, ack.granted]).toEqual(['suback', [1, 0x87, 0x8f, 2, 0x97]]);
    expect(ack.properties?.reasonString).toBe('not authorized');
  });

  it('v5 [MQTT-3.1.2-29] Request Problem Information 0: SUBACK codes without Reason String', async () => {
    const { c } = await raw5(h(), 'subsq', { requestProblemInformation: 0 });
    c.send(sub5(1, ['b/1', 1]));
    const ack = await next5(c);
    expect([ack.granted, ack.properties?.reasonString]).toEqual([[0x87], undefined]);
  });

  it('v5 [MQTT-3.9.2-1] a client Maximum Packet Size the SUBACK Reason String would exceed: SUBACK 0x87 without it', async () => {
    const { c } = await raw5(h(), 'subs-tiny', { maximumPacketSize: 10 });
    c.send(sub5(1, ['b/1', 1]));
    expect(toHex((await c.next()).bytes)).toBe('90 04 00 01 00 87');
  });

});

describe('v5 retained message expiry', () => {
  const h = useBroker({ limits: { 'max-retained-messages': 1 } });

  it('v5 [MQTT-3.3.2-5] [§3.3.1.3] a retained message whose Message Expiry Interval passed is not sent on subscribe, and is removed (counted, quota freed)', async () => {
    const { c: pub } = await raw5(h(), 'rp');
    pub.send(pub5('keep/short', 1, 1, 'gone soon', { messageExpiryInterval: 1 }, true));
    expect((await next5(pub)).reasonCode ?? 0).toBe(0);
    expect(h().broker.retainedCount).toBe(1);
    // The only wait on a clock: the interval itself (the timer removes it, then the lookup would skip it).
    await sleep(1100);
    const { c: sub } = await raw5(h(), 'rs');
    await subscribeRaw(sub, 1, [['keep/#', 1]], [1]);
    await sub.expectNothing();
    await waitFor(() => h().broker.retainedCount === 0, 2000, 'the expired retained message to be removed');
    expect(h().broker.stats.retainedExpired).toBe(1);
    // max-retained-messages 1: its slot is free again.
    pub.send(pub5('keep/other', 1, 2, 'next', undefined, true));
    expect((await next5(pub)).reasonCode ?? 0).toBe(0);
  });

  it('v5 [MQTT-3.3.2-6] a retained message sent on a later subscribe carries what is left of its interval', async () => {
    const { c: pub } = await raw5(h(), 'rp2');
    pub.send(pub5('keep/long', 1, 1, 'v', { messageExpiryInterval: 10 }, true));
    await next5(pub);
    await sleep(1100);
    const { c: sub } = await raw5(h(), 'rs2');
    await subscribeRaw(sub, 1, [['keep/#', 1]], [1]);
    const p = await next5(sub);
    expect([p.cmd, p.retain, p.payload!.toString()]).toEqual(['publish', true, 'v']);
    expect(p.properties!.messageExpiryInterval).toBeGreaterThanOrEqual(8);
    expect(p.properties!.messageExpiryInterval).toBeLessThanOrEqual(9);
  });

  it('v5 [MQTT-3.3.2-5] an expired retained message is removed without any lookup (deadline timer, no sweep); a replaced one is not', async () => {
    const { c: pub } = await raw5(h(), 'rp3');
    pub.send(pub5('keep/a', 1, 1, 'old', { messageExpiryInterval: 1 }, true), pub5('keep/a', 1, 2, 'new', undefined, true));
    await take5(pub, 2);
    pub.send(pub5('keep/a', 1, 3, 'again', { messageExpiryInterval: 1 }, true));
    await next5(pub);
    await waitFor(() => h().broker.retainedCount === 0, 3000, 'the retained message to expire');
    expect(h().broker.stats.retainedExpired).toBe(1);
  });
});

describe('v5 failure codes and expiry in the QoS 1/2 exchanges', () => {
  const h = useBroker();

  /** A raw v5 subscriber with a session (Session Expiry 60 s), subscribed to `filter`. */
  async function subscriber(clientId: string, filter: string, qos: QoS, clean = true): Promise<RawClient> {
    const c = await h().raw();
    c.send(connectV5({ clientId, cleanSession: clean, properties: { sessionExpiryInterval: 60 } }));
    expect((await next5(c)).reasonCode).toBe(0);
    if (filter !== '') await subscribeRaw(c, 1, [[filter, qos]], [qos]);
    return c;
  }

  async function resume(clientId: string): Promise<RawClient> {
    return subscriber(clientId, '', 0, false);
  }

  it('v5 [MQTT-4.4.0-2] a PUBACK or PUBREC with a failure code acknowledges the PUBLISH: after a reconnect (Clean Start 0) neither is re-sent', async () => {
    const c = await subscriber('refuser', 'f/#', 2);
    const { c: pub } = await raw5(h(), 'f-pub');
    pub.send(pub5('f/1', 1, 1, 'one'));
    expect((await next5(pub)).cmd).toBe('puback');
    await publishExactlyOnce(pub, 'f/2', 2, 'two');
    const [one, two] = await take5(c, 2);
    expect([one.qos, two.qos]).toEqual([1, 2]);
    c.send(ack5(PacketType.PUBACK, one.messageId!, 0x80), ack5(PacketType.PUBREC, two.messageId!, 0x80));
    await c.expectNothing();
    c.destroy();
    await h().gone('refuser');
    const again = await resume('refuser');
    await again.expectNothing();
    expect(again.history.map((p) => decodeV5<Decoded>(p).cmd)).toEqual(['connack', 'pingresp']);
  });

  it('v5 [MQTT-4.3.3-7] a QoS 2 PUBLISH already sent is re-sent after a reconnect although its Message Expiry Interval (1 s) has passed', async () => {
    const c = await subscriber('late', 'x/q2', 2);
    const { c: pub } = await raw5(h(), 'x-pub');
    pub.send(pub5('x/q2', 2, 1, 'kept', { messageExpiryInterval: 1 }));
    expect((await next5(pub)).cmd).toBe('pubrec');
    const first = await next5(c);
    expect([first.cmd, first.payload!.toString()]).toEqual(['publish', 'kept']);
    c.destroy();
    await h().gone('late');
    await sleep(1500);
    const again = await resume('late');
    const resent = await next5(again);
    expect([resent.cmd, resent.messageId, resent.payload!.toString()]).toEqual(['publish', first.messageId, 'kept']);
  });

  it('v5 [MQTT-4.3.3-13] the QoS 2 acknowledgements go on after the Message Expiry Interval (1 s) passed: PUBREL gets PUBCOMP 0x00 inbound, PUBREC gets PUBREL outbound', async () => {
    const c = await subscriber('slow-acks', 'y/q2', 2);
    const { c: pub } = await raw5(h(), 'y-pub');
    pub.send(pub5('y/q2', 2, 3, 'y', { messageExpiryInterval: 1 }));
    expect((await next5(pub)).cmd).toBe('pubrec');
    const delivered = await next5(c);
    await sleep(1500);
    pub.send(ack5(PacketType.PUBREL, 3));
    expect(toHex((await pub.next()).bytes)).toBe('70 02 00 03');
    c.send(ack5(PacketType.PUBREC, delivered.messageId!));
    const rel = await next5(c);
    expect([rel.cmd, rel.messageId, rel.reasonCode ?? 0]).toEqual(['pubrel', delivered.messageId, 0]);
  });
});

describe('v5 shared subscriptions and failure codes', () => {
  const h = useBroker();

  it('v5 [MQTT-4.8.2-6] a PUBACK 0x80 from the member that got a shared message discards it: it is not offered to the other member, nor re-sent', async () => {
    const a = (await raw5(h(), 'member-a')).c;
    const b = (await raw5(h(), 'member-b')).c;
    await subscribeRaw(a, 1, [['$share/g/s/1', 1]], [1]);
    await subscribeRaw(b, 1, [['$share/g/s/1', 1]], [1]);
    const { c: pub } = await raw5(h(), 's-pub');
    pub.send(pub5('s/1', 1, 1, 'once'));
    expect((await next5(pub)).cmd).toBe('puback');
    await waitFor(() => a.inbox.length + b.inbox.length > 0, 2000, 'the shared delivery');
    const [got, other] = a.inbox.length > 0 ? [a, b] : [b, a];
    const p = await next5(got);
    expect([p.cmd, p.payload!.toString()]).toEqual(['publish', 'once']);
    got.send(ack5(PacketType.PUBACK, p.messageId!, 0x80));
    await got.expectNothing();
    await other.expectNothing();
    expect(other.history.map((x) => decodeV5<Decoded>(x).cmd)).toEqual(['connack', 'suback', 'pingresp']);
  });
});
