/**
 * MQTT 5 conformance, sections 4.1 session state, 4.2 network connections, 4.5 message receipt
 * and 4.7 Topic Names and Topic Filters, over raw bytes and MQTT.js v5.
 */
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { field, toHex, u16 } from '../../helpers/raw';
import { connectMqtt5 } from '../../helpers/v5';
import { ack5, closedWith, connected5, connectV5, decodeV5, disconnect5, frame5, publish5, rawPublish5, readPublish5, refusedWith, sub5, subscribe5 } from '../../helpers/v5-raw';

const persistent = { cleanSession: false, properties: { sessionExpiryInterval: 300 } };

describe('v5 4.1 sessions, 4.2 connections, 4.5 receipt, 4.7 topics', () => {
  const h = useBroker({ limits: { 'session-expiry': 3600 } });

  it('v5 [MQTT-4.1.0-1] while the connection is open nothing is discarded: 150 QoS 1 messages to a subscriber that acknowledges none of the first 100 (in-flight window 100) all arrive once it does', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 1 }]);
    const p = await connected5(h(), 'p');
    const batch: Buffer[] = [];
    for (let i = 1; i <= 150; i++) batch.push(publish5('t', `${i}`, 1, i));
    p.send(...batch);
    await p.take(150, 10000);
    const got: number[] = [];
    const first = await s.take(100, 10000);
    await s.expectNothing();
    for (const d of first) {
      const x = readPublish5(d);
      got.push(Number(x.payload.toString()));
      s.send(ack5(PacketType.PUBACK, x.id!));
    }
    while (got.length < 150) {
      const x = readPublish5(await s.next());
      got.push(Number(x.payload.toString()));
      s.send(ack5(PacketType.PUBACK, x.id!));
    }
    expect(got).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  it('v5 [§4.1] incoming QoS 2 state is session state: PUBLISH (PUBREC), drop, reconnect with the session, PUBREL gets PUBCOMP and the message is delivered exactly once', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const c = await connected5(h(), 'c', persistent);
    c.send(publish5('t', 'once', 2, 5));
    expect(toHex((await c.next()).bytes)).toBe('50 02 00 05');
    c.destroy();
    await h().gone('c');
    const again = await connected5(h(), 'c', persistent);
    expect(again.connack.sessionPresent).toBe(true);
    again.send(publish5('t', 'once', 2, 5, undefined, { dup: true }));
    expect(toHex((await again.next()).bytes)).toBe('50 02 00 05');
    again.send(ack5(PacketType.PUBREL, 5));
    expect(toHex((await again.next()).bytes)).toBe('70 02 00 05');
    const d = readPublish5(await s.next());
    expect(d.payload.toString()).toBe('once');
    s.send(ack5(PacketType.PUBREC, d.id!));
    expect((await s.next()).type).toBe(6);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-4.2.0-1] MQTT 5 over TCP: MQTT.js (protocolVersion 5) subscribes and receives its own QoS 1 message', async () => {
    const { client } = await connectMqtt5(h().port, { clientId: 'js5' });
    try {
      await client.subscribeAsync('tcp/t', { qos: 1 });
      const got = new Promise<string>((resolve) => client.once('message', (_t, payload) => resolve(payload.toString())));
      await client.publishAsync('tcp/t', 'over tcp', { qos: 1 });
      expect(await got).toBe('over tcp');
    } finally {
      client.end(true);
    }
  });

  it('v5 [MQTT-4.7.1-1] "#" must be last and alone in its level: "a/#/b" and "a#" are refused (SUBACK >= 0x80); "a/#" matches "a" and "a/x/y"', async () => {
    const s = await connected5(h(), 's');
    s.send(subscribe5(1, [{ topic: 'a/#/b', qos: 0 }, { topic: 'a#', qos: 0 }, { topic: 'a/#', qos: 0 }]));
    const ack = decodeV5<{ granted: number[] }>(await s.next());
    expect(ack.granted[0]).toBeGreaterThanOrEqual(0x80);
    expect(ack.granted[1]).toBeGreaterThanOrEqual(0x80);
    expect(ack.granted[2]).toBe(0);
    const p = await connected5(h(), 'p');
    p.send(publish5('a', '1', 0), publish5('a/x/y', '2', 0), publish5('b', '3', 0));
    expect([readPublish5(await s.next()).topic, readPublish5(await s.next()).topic]).toEqual(['a', 'a/x/y']);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-4.7.1-2] "+" fills a whole level: "a+/b" and "+a" are refused; "a/+/b" matches "a//b" and "a/x/b"; "+/+" and "#" combine', async () => {
    const s = await connected5(h(), 's');
    s.send(subscribe5(1, [{ topic: 'a+/b', qos: 0 }, { topic: '+a', qos: 0 }, { topic: 'a/+/b', qos: 0 }, { topic: '+/+/#', qos: 0 }]));
    const ack = decodeV5<{ granted: number[] }>(await s.next());
    expect(ack.granted.map((g) => g >= 0x80)).toEqual([true, true, false, false]);
    const p = await connected5(h(), 'p');
    p.send(publish5('a//b', '1', 0), publish5('a/x/b', '2', 0), publish5('q/r', '3', 0), publish5('q', '4', 0));
    const got = [];
    for (let i = 0; i < 3; i++) got.push(readPublish5(await s.next()).payload.toString());
    expect(got).toEqual(['1', '2', '3']);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-4.7.2-1] "#" and "+/x" do not match "$x/x"; "$x/#" does', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '#', qos: 0 }, { topic: '+/x', qos: 0 }]);
    const d = await connected5(h(), 'd');
    await sub5(d, 1, [{ topic: '$x/#', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('$x/x', 'dollar', 0));
    expect(readPublish5(await d.next()).topic).toBe('$x/x');
    await h().expectNothing(s);
  });

  it('v5 [MQTT-4.7.3-1] empty Topic Filters and an empty Will Topic are refused: SUBSCRIBE "" (SUBACK >= 0x80 or DISCONNECT), Will Topic "" (no CONNACK 0x00)', async () => {
    const s = await connected5(h(), 's');
    s.send(frame5(0x82, u16(1), [0], field(''), [0]));
    const first = await s.next().catch(() => null);
    if (first?.type === 9) expect(first.body[3]).toBeGreaterThanOrEqual(0x80);
    else expect(await closedWith(s)).toBeGreaterThanOrEqual(0x80);
    const u = await connected5(h(), 'u');
    u.send(frame5(0xa2, u16(1), [0], field('')));
    const ua = await u.next().catch(() => null);
    if (ua?.type === 11) expect(ua.body[3]).toBeGreaterThanOrEqual(0x80);
    else expect(await closedWith(u)).toBeGreaterThanOrEqual(0x80);
    const w = await h().raw();
    w.send(connectV5({ clientId: 'w', will: { topic: '', payload: Buffer.from('x'), qos: 0, retain: false } }));
    expect([null, 0x81, 0x82, 0x90]).toContain(await refusedWith(w));
  });

  it('v5 [MQTT-4.7.3-2] U+0000 in a Topic Filter: DISCONNECT 0x81', async () => {
    const c = await connected5(h(), 'c');
    c.send(frame5(0x82, u16(1), [0], field('a\0b'), [0]));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [MQTT-4.7.3-3] a 65535-byte Topic Name (the encoding limit, and the default max-topic-length) is accepted and delivered', async () => {
    const topic = 'l/' + 'x'.repeat(65533);
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 'l/+', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(rawPublish5({ topic, payload: 'long' }));
    const d = readPublish5(await s.next());
    expect([d.topic.length, d.payload.toString()]).toEqual([65535, 'long']);
  });

  it('v5 [MQTT-4.7.3-4] topics match exactly as sent: "Café" NFC and NFD, "A" and "a", "a//b" and "a/b" are all distinct', async () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: nfc, qos: 0 }, { topic: 'A', qos: 0 }, { topic: 'a//b', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5(nfd, 'nfd', 0), publish5('a', 'lower', 0), publish5('a/b', 'collapsed', 0), publish5(nfc, 'nfc', 0), publish5('A', 'upper', 0), publish5('a//b', 'double', 0));
    const got = [];
    for (let i = 0; i < 3; i++) got.push(readPublish5(await s.next()).payload.toString());
    expect(got).toEqual(['nfc', 'upper', 'double']);
    await h().expectNothing(s);
  });

  it('v5 [§4.7.1–4.7.3 examples] sport/# matches sport; sport/+ matches sport/ not sport; /finance matches +/+ and /+, not +; # matches every non-$ topic; $share/g//finance matches like /finance', async () => {
    const cases: [string, string[], string[]][] = [
      ['sport/#', ['sport', 'sport/x/y'], ['sports']],
      ['sport/+', ['sport/'], ['sport']],
      ['+/+', ['/finance'], ['finance']],
      ['/+', ['/finance'], ['finance/x']],
      ['+', ['finance'], ['/finance']],
      ['#', ['/finance', 'x'], ['$SYS/x']],
      ['$share/g//finance', ['/finance'], ['finance']],
    ];
    const p = await connected5(h(), 'p');
    for (const [i, [filter, yes, no]] of cases.entries()) {
      const s = await connected5(h(), `s${i}`);
      await sub5(s, 1, [{ topic: filter, qos: 0 }]);
      for (const t of [...no, ...yes]) p.send(rawPublish5({ topic: t, payload: t }));
      const got = [];
      for (let k = 0; k < yes.length; k++) got.push(readPublish5(await s.next()).topic);
      expect([filter, got]).toEqual([filter, yes]);
      await h().expectNothing(s);
      s.send(disconnect5());
    }
  });

  it('v5 [§4.7.2] a client PUBLISH to $SYS/... is acknowledged PUBACK 0x87 and dropped (documented choice): a $SYS/# subscriber never sees it', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '$SYS/test/#', qos: 1 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('$SYS/test/x', 'fake', 1, 1));
    const ack = await p.next();
    expect([ack.type, toHex(ack.bytes.subarray(2, 5))]).toEqual([4, '00 01 87']);
    await h().expectNothing(s);
  });
});
