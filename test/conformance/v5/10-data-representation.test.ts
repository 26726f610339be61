/**
 * MQTT 5 conformance, section 1.5 data representation: UTF-8 strings (topics, client ids and the
 * v5 string properties), U+0000, U+FEFF, UTF-8 String Pairs, Variable Byte Integers. Raw bytes.
 */
import { useBroker } from '../../helpers/conformance';
import { field, hex, toHex } from '../../helpers/raw';
import { closedWith, connected5, frame5, props, rawConnect5, rawPublish5, readPublish5, refusedWith, strProp, sub5, userProp } from '../../helpers/v5-raw';

const ILL_FORMED: [string, Buffer][] = [
  ['surrogate ED A0 80', hex('ed a0 80')],
  ['C3 28', hex('c3 28')],
  ['overlong C0 AF', hex('c0 af')],
];

describe('v5 1.5 data representation', () => {
  const h = useBroker();

  /** A subscriber to everything, to prove a refused PUBLISH was routed nowhere. */
  async function watcher(): Promise<Awaited<ReturnType<typeof connected5>>> {
    const w = await connected5(h(), 'watcher');
    await sub5(w, 1, [{ topic: '#', qos: 1 }]);
    return w;
  }

  it.each(ILL_FORMED)('v5 [MQTT-1.5.4-1] [MQTT-3.3.2-1] ill-formed UTF-8 in a PUBLISH topic (%s): DISCONNECT 0x81, nothing routed', async (_name, bad) => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: Buffer.concat([Buffer.from('t/'), bad]), qos: 1, payload: 'x' }));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it.each(ILL_FORMED)('v5 [MQTT-1.5.4-1] [MQTT-3.3.2-19] ill-formed UTF-8 in a Content Type (%s): DISCONNECT 0x81, nothing routed', async (_name, bad) => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', qos: 1, properties: props(strProp(0x03, bad)), payload: 'x' }));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it('v5 [MQTT-1.5.4-1] [MQTT-3.3.2-13] ill-formed UTF-8 in a Response Topic: DISCONNECT 0x81, nothing routed', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', qos: 0, properties: props(strProp(0x08, hex('72 2f c3 28'))), payload: 'x' }));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it('v5 [MQTT-1.5.4-1] [MQTT-3.1.3-4] an ill-formed client id (FF FE): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ payload: [field(hex('ff fe'))] }));
    expect([null, 0x81, 0x85]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-1.5.4-1] [MQTT-3.1.3-12] an ill-formed user name (C3 28): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x82, payload: [field('u1'), field(hex('c3 28'))] }));
    expect([null, 0x81]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-1.5.4-2] U+0000 in a client id: refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ payload: [field('a\0b')] }));
    expect([null, 0x81, 0x85]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-1.5.4-2] [MQTT-4.7.3-2] U+0000 in a PUBLISH topic: DISCONNECT 0x81, nothing routed', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 'a\0b', qos: 1, payload: 'x' }));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it('v5 [MQTT-1.5.4-2] [MQTT-1.5.7-1] U+0000 in a User Property name: DISCONNECT 0x81, nothing routed', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', qos: 1, properties: props(userProp('k\0', 'v')), payload: 'x' }));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it.each(ILL_FORMED)('v5 [MQTT-1.5.7-1] ill-formed UTF-8 in a User Property value (%s): DISCONNECT 0x81, nothing routed', async (_name, bad) => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(rawPublish5({ topic: 't', qos: 1, properties: props(userProp('k', bad)), payload: 'x' }));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it('v5 [MQTT-1.5.4-3] U+FEFF is kept: a subscription to "\\uFEFFa" gets only that topic, and a User Property starting with it arrives byte-identical', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '\uFEFFa', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(rawPublish5({ topic: 'a', payload: 'plain' }));
    p.send(rawPublish5({ topic: '\uFEFFa', properties: props(userProp('k', '\uFEFFv')), payload: 'bom' }));
    const got = readPublish5(await s.next());
    expect([toHex(Buffer.from(got.topic)), got.payload.toString()]).toEqual([toHex(hex('ef bb bf 61')), 'bom']);
    expect(got.properties).toEqual([[0x26, ['k', '\uFEFFv']]]);
    await h().expectNothing(s);
  });

  it('v5 [MQTT-1.5.5-1] the server writes minimal Variable Byte Integers: a 200-byte delivery has Remaining Length "xx 01" and Property Length "00"', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: 't', qos: 0 }]);
    const p = await connected5(h(), 'p');
    p.send(rawPublish5({ topic: 't', payload: Buffer.alloc(200, 0x61) }));
    const d = await s.next();
    // 2 + 1 (topic) + 1 (Property Length 0) + 200 = 204 = 0xCC 0x01
    expect(toHex(d.bytes.subarray(0, 7))).toBe('30 cc 01 00 01 74 00');
  });

  it('v5 [MQTT-1.5.5-1] an inbound non-minimal Property Length (80 00) is Malformed (strict reading): DISCONNECT 0x81, nothing routed', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'bad');
    c.send(frame5(0x30, field('t'), [0x80, 0x00], Buffer.from('x')));
    expect(await closedWith(c)).toBe(0x81);
    await h().expectNothing(w);
  });

  it('v5 [§1.5.4] control characters U+0001-U+001F, U+007F-U+009F and non-characters are accepted in topics and User Properties (documented choice)', async () => {
    const s = await connected5(h(), 's');
    await sub5(s, 1, [{ topic: '#', qos: 0 }]);
    const p = await connected5(h(), 'p');
    const topic = 'c/\u0001\u001f\u007f\u009f\uFFFE';
    p.send(rawPublish5({ topic, properties: props(userProp('\u0007', '\uFDD0')), payload: 'x' }));
    const got = readPublish5(await s.next());
    expect(got.topic).toBe(topic);
    expect(got.properties).toEqual([[0x26, ['\u0007', '\uFDD0']]]);
  });

  it('v5 [§1.5.5] a fifth Remaining Length byte is malformed: 30 FF FF FF FF 01 closes the connection', async () => {
    const c = await connected5(h(), 'bad');
    c.send(hex('30 ff ff ff ff 01'));
    expect([null, 0x81]).toContain(await closedWith(c));
  });
});
