/**
 * MQTT 5 conformance, section 3.2 CONNACK basics: flags, Session Present, what the server
 * announces (QoS 2 and retained messages supported), a single CONNACK per connection.
 */
import { useBroker } from '../../helpers/conformance';
import { sleep } from '../../helpers/wait';
import { toHex } from '../../helpers/raw';
import { connected5, disconnect5, publish5, readPublish5, sub5 } from '../../helpers/v5-raw';

describe('v5 3.2 CONNACK', () => {
  const h = useBroker({ limits: { 'session-expiry': 3600 } });

  it('v5 [MQTT-3.2.2-1] [MQTT-3.2.2-2] CONNACK flag bits 7-1 are 0: Clean Start 1 gives 20 xx 00 00, a resumed session 20 xx 01 00', async () => {
    const a = await connected5(h(), 'f', { cleanSession: true, properties: { sessionExpiryInterval: 60 } });
    expect(toHex(a.history[0].bytes.subarray(2, 4))).toBe('00 00');
    a.send(disconnect5());
    await a.waitClosed();
    await h().gone('f');
    const b = await connected5(h(), 'f', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    expect(toHex(b.history[0].bytes.subarray(2, 4))).toBe('01 00');
  });

  it('v5 [MQTT-3.2.2-3] [MQTT-4.1.0-2] Session Present 1 for a stored session without any subscription; 0 once its Session Expiry Interval ran out', async () => {
    const a = await connected5(h(), 'sp', { cleanSession: false, properties: { sessionExpiryInterval: 1 } });
    a.send(disconnect5());
    await a.waitClosed();
    await h().gone('sp');
    const b = await connected5(h(), 'sp', { cleanSession: false, properties: { sessionExpiryInterval: 1 } });
    expect(b.connack.sessionPresent).toBe(true);
    b.send(disconnect5());
    await b.waitClosed();
    await h().gone('sp');
    await sleep(2200);
    const c = await connected5(h(), 'sp', { cleanSession: false, properties: { sessionExpiryInterval: 1 } });
    expect(c.connack.sessionPresent).toBe(false);
  });

  it('v5 [MQTT-3.2.2-9] [MQTT-3.2.2-10] nestmq supports QoS 2: CONNACK carries no Maximum QoS, and SUBSCRIBE at QoS 0, 1 and 2 is granted as asked', async () => {
    const c = await connected5(h(), 'q');
    expect(c.connack.properties?.maximumQoS).toBeUndefined();
    await sub5(c, 1, [{ topic: 'a', qos: 0 }, { topic: 'b', qos: 1 }, { topic: 'c', qos: 2 }]);
  });

  it('v5 [MQTT-3.2.2-11] [MQTT-3.2.2-12] with no Maximum QoS announced, a QoS 2 PUBLISH and a QoS 2 Will are accepted', async () => {
    const c = await connected5(h(), 'w', { will: { topic: 'will/t', payload: Buffer.from('x'), qos: 2, retain: false } });
    c.send(publish5('t', 'x', 2, 1));
    expect((await c.next()).bytes[0]).toBe(0x50);
  });

  it('v5 [MQTT-3.2.2-13] [MQTT-3.2.2-14] retained messages are available (Retain Available absent or 1): a Will Retain 1 and a RETAIN 1 PUBLISH are accepted and stored', async () => {
    const c = await connected5(h(), 'w', { will: { topic: 'will/t', payload: Buffer.from('x'), qos: 0, retain: true } });
    expect(c.connack.properties?.retainAvailable ?? true).toBeTruthy();
    c.send(publish5('r', 'kept', 1, 1, undefined, { retain: true }));
    await c.next();
    const s = await connected5(h(), 's');
    s.send(Buffer.from(subscribeBytes('r')));
    const [, d] = await s.take(2);
    expect([readPublish5(d).payload.toString(), readPublish5(d).retain]).toEqual(['kept', true]);
  });
});

function subscribeBytes(filter: string): Buffer {
  const body = Buffer.concat([Buffer.from([0, 1, 0]), Buffer.from([0, filter.length]), Buffer.from(filter), Buffer.from([0])]);
  return Buffer.concat([Buffer.from([0x82, body.length]), body]);
}
