/**
 * MQTT 5 conformance, section 3.3 PUBLISH basics: DUP, QoS 3, RETAIN, Topic Names, the
 * properties forwarded unaltered (checked on the wire: User Properties as an ordered list), the
 * acknowledgement per QoS, overlapping subscriptions. Aliases, Subscription Identifiers and
 * expiry are tested by their own files.
 */
import { randomBytes } from 'node:crypto';
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { field, hex, toHex } from '../../helpers/raw';
import { ack5, closedWith, connected5, decodeV5, publish5, rawPublish5, readPublish5, sub5 } from '../../helpers/v5-raw';

describe('v5 3.3 PUBLISH', () => {
  const h = useBroker();

  it('v5 [MQTT-3.3.1-2] an inbound QoS 0 PUBLISH with DUP 1 (38 ...): DISCONNECT 0x81, nothing routed; outbound QoS 0 never has DUP', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'ok', 0));
    expect((await s.next()).bytes[0]).toBe(0x30);
    const bad = await connected5(h(), 'bad');
    bad.send(rawPublish5({ topic: 't', flags: 0x08, payload: 'x' }));
    expect(await closedWith(bad)).toBe(0x81);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.3.1-3] [MQTT-4.3.2-2] [MQTT-4.3.3-2] a QoS 1/2 PUBLISH sent with DUP 1 reaches the subscriber with DUP 0 (first transmission)', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'a', 1, 1, undefined, { dup: true }));
    const d1 = readPublish5(await s.next());
    expect([d1.qos, d1.dup]).toEqual([1, false]);
    s.send(ack5(PacketType.PUBACK, d1.id!));
    p.send(publish5('t', 'b', 2, 2, undefined, { dup: true }));
    await p.take(1);
    p.send(ack5(PacketType.PUBREL, 2));
    const d2 = readPublish5(await s.next());
    expect([d2.qos, d2.dup]).toEqual([2, false]);
  });

  it('v5 [MQTT-3.3.1-4] QoS 3 (both bits set): DISCONNECT 0x81, the close', async () => {
    const c = await connected5(h(), 'bad');
    c.send(hex('36 05 00 01 61 00 00'));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [MQTT-3.3.1-5] a retained message keeps its v5 properties: a new subscriber gets Content Type, Correlation Data and User Properties in order', async () => {
    const p = await connected5(h(), 'p');
    const userProperties: [string, string][] = [['a', '1'], ['b', '2'], ['a', '3']];
    p.send(publish5('r', 'kept', 1, 1, { contentType: 'text/plain', correlationData: Buffer.from([0, 1]), userProperties }, { retain: true }));
    await p.next();
    const s = await connected5(h(), 's');
    s.send(subscribeBytes('r', 1));
    const [, d] = await s.take(2);
    const got = readPublish5(d);
    expect([got.payload.toString(), got.retain]).toEqual(['kept', true]);
    expect(got.properties).toEqual([
      [0x03, 'text/plain'],
      [0x09, Buffer.from([0, 1])],
      [0x26, ['a', '1']],
      [0x26, ['b', '2']],
      [0x26, ['a', '3']],
    ]);
  });

  it('v5 [MQTT-3.3.1-6] [MQTT-3.3.1-7] a retained PUBLISH with an empty payload is delivered to live subscribers and clears the retained message; nothing is stored', async () => {
    const p = await connected5(h(), 'p');
    p.send(publish5('r', 'old', 1, 1, undefined, { retain: true }));
    await p.next();
    const live = await connected5(h(), 'live');
    live.send(subscribeBytes('r', 2));
    await live.take(2);
    p.send(publish5('r', '', 1, 2, undefined, { retain: true }));
    await p.next();
    const d = readPublish5(await live.next());
    expect(d.payload.length).toBe(0);
    const late = await connected5(h(), 'late');
    late.send(subscribeBytes('r', 3));
    expect((await late.next()).type).toBe(9);
    await h().expectNothing(late);
  });

  it('v5 [MQTT-3.3.1-8] RETAIN 0 stores nothing and leaves the retained message alone', async () => {
    const p = await connected5(h(), 'p');
    p.send(publish5('r', 'x', 1, 1, undefined, { retain: true }), publish5('r', 'y', 1, 2));
    await p.take(2);
    const s = await connected5(h(), 's');
    s.send(subscribeBytes('r', 4));
    const [, d] = await s.take(2);
    expect(readPublish5(d).payload.toString()).toBe('x');
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.3.2-2] [MQTT-4.7.0-1] a PUBLISH to a Topic Name with a wildcard ("a/+", "a/#"): refused (DISCONNECT or PUBACK >= 0x80), never routed', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '#', qos: 1 }]);
    for (const topic of ['a/+', 'a/#']) {
      const c = await connected5(h(), 'bad');
      c.send(publish5ToBadTopic(topic));
      const first = await c.next().catch(() => null);
      if (first !== null && first.type === 4) expect(first.body[2]).toBeGreaterThanOrEqual(0x80);
      else {
        expect(first?.type).toBe(14);
        expect(first!.body[0]).toBeGreaterThanOrEqual(0x80);
      }
      c.destroy();
    }
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.3.2-3] the topic of every delivery matches the subscription\'s filter', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a/+/c', qos: 0 }]);
    const p = await connected5(h(), 'p');
    for (const t of ['a/b/c', 'a/b', 'a/b/c/d', 'a//c', 'x/b/c', 'a/x/c']) p.send(publish5(t, t, 0));
    const got = [readPublish5(await s.next()).topic, readPublish5(await s.next()).topic, readPublish5(await s.next()).topic];
    expect(got).toEqual(['a/b/c', 'a//c', 'a/x/c']);
    await h().expectNothing(s);
  });

  it('v5 [§3.3.2.1] a zero-length Topic Name without a Topic Alias: DISCONNECT 0x82, nothing routed', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '#', qos: 0 }]);
    const c = await connected5(h(), 'bad');
    c.send(hex('30 04 00 00 00 78'));
    expect(await closedWith(c)).toBe(0x82);
    await h().expectNothing(s);
  });

  it('v5 [§3.3.2.3.2] a Payload Format Indicator 1 PUBLISH with a non-UTF-8 payload: PUBACK 0x99, not forwarded (documented choice V7: payloads are checked)', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 1 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', hex('c3 28'), 1, 1, { payloadFormatIndicator: 1 }));
    const ack = (await p.next()).bytes;
    expect([ack[0], ack[4]]).toEqual([0x40, 0x99]);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.3.2-14] a Response Topic with a wildcard ("r/#"): DISCONNECT 0x90 Topic Name invalid, not forwarded', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 1 }]);
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', qos: 1, properties: Buffer.concat([Buffer.from([6, 0x08]), field('r/#')]), payload: 'x' }));
    expect(await closedWith(c)).toBe(0x90);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20] Payload Format Indicator, Response Topic, 300 random bytes of Correlation Data (with NULs) and Content Type arrive byte for byte', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 1 }]);
    const p = await connected5(h(), 'p');
    const correlationData = Buffer.concat([Buffer.from([0, 0]), randomBytes(298)]);
    const properties = { payloadFormatIndicator: 1, responseTopic: 'reply/\u00e9t\u00e9', correlationData, contentType: 'application/json; charset=utf-8' };
    p.send(publish5('t', '{}', 1, 1, properties));
    await p.next();
    const d = readPublish5(await s.next());
    expect(d.properties).toEqual([
      [0x01, 1],
      [0x03, 'application/json; charset=utf-8'],
      [0x08, 'reply/\u00e9t\u00e9'],
      [0x09, correlationData],
    ]);
  });

  it('v5 [MQTT-3.3.2-17] [MQTT-3.3.2-18] User Properties a=1, b=2, a=3 arrive as exactly that list, duplicates and order kept', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'x', 0, 0, { userProperties: [['a', '1'], ['b', '2'], ['a', '3'], ['a', '3']] }));
    const d = readPublish5(await s.next());
    expect(d.properties).toEqual([
      [0x26, ['a', '1']],
      [0x26, ['b', '2']],
      [0x26, ['a', '3']],
      [0x26, ['a', '3']],
    ]);
  });

  it('v5 [MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-4.3.3-8] the answer follows the QoS: nothing for QoS 0, PUBACK for QoS 1, PUBREC for QoS 2 (same id)', async () => {
    const c = await connected5(h(), 'c');
    c.send(publish5('t', 'x', 0), publish5('t', 'x', 1, 5), publish5('t', 'x', 2, 6));
    const acks = await c.take(2);
    expect(acks.map((a) => toHex(a.bytes))).toEqual(['40 02 00 05', '50 02 00 06']);
    await c.expectNothing();
  });

  it('v5 [MQTT-3.3.4-2] overlapping subscriptions (a/# QoS 1, a/b QoS 2): one copy at QoS 2', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'a/#', qos: 1 }, { topic: 'a/b', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('a/b', 'x', 2, 1));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 1));
    await p.next();
    const d = readPublish5(await s.next());
    expect(d.qos).toBe(2);
    s.send(ack5(PacketType.PUBREC, d.id!));
    expect((await s.next()).type).toBe(6);
    await h().expectNothing(s);
    expect(decodeV5<{ cmd: string }>(p.history[0].bytes).cmd).toBe('connack');
  });
});

function subscribeBytes(filter: string, id: number): Buffer {
  const body = Buffer.concat([Buffer.from([0, id, 0]), field(filter), Buffer.from([2])]);
  return Buffer.concat([Buffer.from([0x82, body.length]), body]);
}

/** A QoS 1 PUBLISH to `topic`, by hand (the codec's encoder refuses wildcards in a Topic Name). */
function publish5ToBadTopic(topic: string): Buffer {
  return rawPublish5({ topic, qos: 1, id: 9, payload: 'x' });
}
