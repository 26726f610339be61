/**
 * MQTT 5 conformance, section 3.1 CONNECT basics: first packet, second CONNECT, protocol name and
 * level, Connect Flags, Clean Start and sessions, the Will (without Will Delay), payload fields,
 * client ids, authentication refusals, CONNECT property errors. Raw bytes (client packets from
 * encodePacketV5 or by hand), server packets decoded with mqtt-packet or by hand.
 */
import type { AuthenticateRequest } from '../../../src';
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { connect, field, hex, toHex } from '../../helpers/raw';
import {
  ack5,
  closedWith,
  connected5,
  connectV5,
  decodeV5,
  disconnect5,
  props,
  publish5,
  rawConnect5,
  readPublish5,
  refusedWith,
  sub5,
  type Connack5,
} from '../../helpers/v5-raw';

const will = { topic: 'will/t', payload: Buffer.from('bye'), qos: 0 as const, retain: false };

describe('v5 3.1 CONNECT', () => {
  const h = useBroker({ limits: { 'connect-timeout': 1, 'session-expiry': 3600 } }, () => ({
    plugins: [
      {
        authenticate: (req: AuthenticateRequest) => {
          if (req.username === null) return true;
          return req.password?.toString() === 'good';
        },
      },
    ],
  }));

  async function watcher(filter = 'will/#'): Promise<Awaited<ReturnType<typeof connected5>>> {
    const w = await connected5(h(), 'watcher');
    await sub5(w, 1, [{ topic: filter, qos: 1 }]);
    return w;
  }

  it.each([
    ['PUBLISH', (): Buffer => publish5('t', 'x', 0)],
    ['PINGREQ', (): Buffer => hex('c0 00')],
    ['AUTH', (): Buffer => hex('f0 00')],
    ['SUBSCRIBE', (): Buffer => hex('82 06 00 01 00 00 01 74 00')],
  ])('v5 [MQTT-3.1.0-1] a first packet other than CONNECT (%s): closed with zero bytes sent', async (_name, bytes) => {
    const c = await h().raw();
    c.send(bytes());
    await c.expectClosedSilently();
  });

  it('v5 [MQTT-3.1.0-2] [MQTT-3.2.0-2] a second CONNECT: DISCONNECT 0x82 (no second CONNACK), the close, and the Will is published', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'twice', { will });
    c.send(connectV5({ clientId: 'twice' }));
    expect(await closedWith(c)).toBe(0x82);
    expect(c.history.filter((p) => p.type === 2)).toHaveLength(1);
    expect(readPublish5(await w.next()).payload.toString()).toBe('bye');
  });

  it.each([['MQTX'], ['mqtt'], ['MQIsdp']])('v5 [MQTT-3.1.2-1] protocol name "%s" with level 5: refused without CONNACK 0x00 (closed silently or CONNACK 0x84/0x01)', async (name) => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'n', protocolName: name }));
    await c.waitClosed();
    expect(c.history.every((p) => p.type === 2 && p.body[1] !== 0)).toBe(true);
  });

  it('v5 [MQTT-3.1.2-2] protocol level 6: CONNACK 0x01 in the 3.1.1 format (documented choice), then EOF', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'l6', level: 6 }));
    await c.waitClosed();
    expect(toHex(c.received)).toBe('20 02 00 01');
  });

  it('v5 [MQTT-3.1.2-2] a level 4 client gets a 3.1.1 CONNACK (20 02 00 00), never the v5 form', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'l4', level: 4 }));
    await c.expect(hex('20 02 00 00'));
  });

  it('v5 [MQTT-3.1.2-3] [MQTT-3.1.4-1] the reserved CONNECT flag set (flags 0x03): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x03, payload: [field('r')] }));
    expect([null, 0x81]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-4] [MQTT-3.1.4-4] Clean Start 1 discards the stored session: subscriptions and queued messages are gone, Session Present 0', async () => {
    const s = await connected5(h(), 'cs', { cleanSession: false, properties: { sessionExpiryInterval: 300 } });
    await sub5(s, 1, [{ topic: 'q', qos: 1 }]);
    s.send(disconnect5());
    await s.waitClosed();
    await h().gone('cs');
    const p = await connected5(h(), 'p');
    p.send(publish5('q', 'queued', 1, 1));
    await p.next();
    const again = await connected5(h(), 'cs', { cleanSession: true, properties: { sessionExpiryInterval: 300 } });
    expect(again.connack.sessionPresent).toBe(false);
    p.send(publish5('q', 'live', 1, 2));
    await p.next();
    await h().expectNothing(again);
  });

  it('v5 [MQTT-3.1.2-5] [MQTT-3.1.4-4] [MQTT-4.5.0-1] Clean Start 0 resumes the session: Session Present 1, the message queued meanwhile, the subscription still there', async () => {
    const s = await connected5(h(), 'cs', { cleanSession: false, properties: { sessionExpiryInterval: 300 } });
    await sub5(s, 1, [{ topic: 'q', qos: 1 }]);
    s.send(disconnect5());
    await s.waitClosed();
    await h().gone('cs');
    const p = await connected5(h(), 'p');
    p.send(publish5('q', 'queued', 1, 1));
    await p.next();
    const again = await connected5(h(), 'cs', { cleanSession: false, properties: { sessionExpiryInterval: 300 } });
    expect(again.connack.sessionPresent).toBe(true);
    const d = readPublish5(await again.next());
    expect([d.payload.toString(), d.qos]).toEqual(['queued', 1]);
    again.send(ack5(PacketType.PUBACK, d.id!));
    p.send(publish5('q', 'live', 0));
    expect(readPublish5(await again.next()).payload.toString()).toBe('live');
  });

  it('v5 [MQTT-3.1.2-6] [MQTT-3.1.4-4] Clean Start 0 without a stored session: a new one, Session Present 0, the connection works', async () => {
    const c = await connected5(h(), 'fresh', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    expect(c.connack.sessionPresent).toBe(false);
    await sub5(c, 1, [{ topic: 't', qos: 0 }]);
  });

  it('v5 [MQTT-3.1.2-7] [MQTT-3.1.2-14] the Will is stored and published (not retained) when the connection drops', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'w', { will: { ...will, properties: { contentType: 'text/x' } } });
    c.destroy();
    const d = readPublish5(await w.next());
    expect([d.topic, d.payload.toString(), d.retain]).toEqual(['will/t', 'bye', false]);
    expect(d.properties).toEqual([[0x03, 'text/x']]);
    const late = await connected5(h(), 'late');
    await sub5(late, 1, [{ topic: 'will/#', qos: 0 }]);
    await h().expectNothing(late);
  });

  it('v5 [MQTT-3.1.2-15] Will Retain 1: the Will is published retained; a later subscriber gets it with RETAIN 1', async () => {
    const c = await connected5(h(), 'w', { will: { ...will, retain: true } });
    c.destroy();
    await h().gone('w');
    const late = await connected5(h(), 'late');
    late.send(encodeSub('will/#'));
    const [suback, pub] = await late.take(2);
    expect(suback.type).toBe(9);
    const d = readPublish5(pub);
    expect([d.topic, d.payload.toString(), d.retain]).toEqual(['will/t', 'bye', true]);
  });

  it('v5 [MQTT-3.1.2-9] [MQTT-3.1.3-1] Will Flag set but the payload ends after the client id: refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x06, payload: [field('w')] }));
    expect([null, 0x81]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-11] Will QoS 1 without Will Flag (flags 0x0A): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x0a, payload: badWillPayload(0x0a) }));
    expect([null, 0x81, 0x82]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-12] Will QoS 3 (flags 0x1E): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x1e, payload: badWillPayload(0x1e) }));
    expect([null, 0x81, 0x82]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-13] Will Retain without Will Flag (flags 0x22): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x22, payload: badWillPayload(0x22) }));
    expect([null, 0x81, 0x82]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-16] [MQTT-3.1.2-18] User Name and Password Flags 0 with bytes after the client id: refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x02, payload: [field('u'), field('extra')] }));
    expect([null, 0x81]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-17] [MQTT-3.1.3-1] User Name Flag 1 with the user name missing: refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x82, payload: [field('u')] }));
    expect([null, 0x81]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.2-19] a Password without a User Name (flags 0x42) is accepted; authentication decides', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x42, payload: [field('pw'), field('anything')] }));
    expect(decodeV5<Connack5>(await c.next()).reasonCode).toBe(0);
  });

  it('v5 [MQTT-3.1.3-2] session state is keyed by client id: A and B have separate sessions, reconnecting as A resumes A\'s', async () => {
    const a = await connected5(h(), 'A', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    await sub5(a, 1, [{ topic: 'for/a', qos: 1 }]);
    const b = await connected5(h(), 'B', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    await sub5(b, 1, [{ topic: 'for/b', qos: 1 }]);
    a.send(disconnect5());
    b.send(disconnect5());
    await a.waitClosed();
    await b.waitClosed();
    await h().gone('A');
    await h().gone('B');
    const a2 = await connected5(h(), 'A', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    expect(a2.connack.sessionPresent).toBe(true);
    const p = await connected5(h(), 'p');
    p.send(publish5('for/b', 'b', 0), publish5('for/a', 'a', 0));
    expect(readPublish5(await a2.next()).payload.toString()).toBe('a');
    await h().expectNothing(a2);
  });

  it('v5 [MQTT-3.1.3-3] an empty CONNECT payload (no client id field): refused, never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ payload: [] }));
    expect([null, 0x81]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.3-5] client ids "a" and 23 alphanumerics are accepted', async () => {
    await connected5(h(), 'a');
    await connected5(h(), '0123456789abcdefghijKLM');
  });

  it('v5 [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] two empty-id clients get distinct Assigned Client Identifiers; reconnecting with one resumes its session', async () => {
    const a = await connected5(h(), '', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    const b = await connected5(h(), '', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    const idA = a.connack.properties!.assignedClientIdentifier as string;
    const idB = b.connack.properties!.assignedClientIdentifier as string;
    expect(typeof idA).toBe('string');
    expect(idA).not.toBe(idB);
    expect(h().broker.client(idA)).toBeDefined();
    a.send(disconnect5());
    await a.waitClosed();
    await h().gone(idA);
    const again = await connected5(h(), idA, { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    expect(again.connack.sessionPresent).toBe(true);
    expect(again.connack.properties?.assignedClientIdentifier).toBeUndefined();
  });

  it('v5 [MQTT-3.1.3-11] [MQTT-4.7.0-1] a Will Topic with a wildcard ("will/+"): refused (CONNACK 0x90/0x81/0x82 or close), never CONNACK 0x00', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'wt', will: { ...will, topic: 'will/+' } }));
    expect([null, 0x81, 0x82, 0x90]).toContain(await refusedWith(c));
  });

  it('v5 [MQTT-3.1.4-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7] a wrong password: CONNACK 0x86 with Session Present 0 even for a stored session, then EOF', async () => {
    const s = await connected5(h(), 'auth', { username: 'u', password: Buffer.from('good'), cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    s.send(disconnect5());
    await s.waitClosed();
    await h().gone('auth');
    const c = await h().raw();
    c.send(connectV5({ clientId: 'auth', username: 'u', password: Buffer.from('bad'), cleanSession: false, properties: { sessionExpiryInterval: 60 } }));
    const ack = decodeV5<Connack5>(await c.next());
    expect([ack.reasonCode, ack.sessionPresent]).toEqual([0x86, false]);
    await c.expectClosed();
  });

  it('v5 [MQTT-3.1.4-5] [MQTT-3.2.0-1] an accepted CONNECT gets CONNACK 0x00 first, before the queued messages of its session', async () => {
    const s = await connected5(h(), 'q', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    await sub5(s, 1, [{ topic: 'q', qos: 1 }]);
    s.send(disconnect5());
    await s.waitClosed();
    await h().gone('q');
    const p = await connected5(h(), 'p');
    for (let i = 1; i <= 3; i++) {
      p.send(publish5('q', `m${i}`, 1, i));
      await p.next();
    }
    const c = await h().raw();
    c.send(connectV5({ clientId: 'q', cleanSession: false, properties: { sessionExpiryInterval: 60 } }));
    const packets = await c.take(4);
    expect(packets.map((x) => x.type)).toEqual([2, 3, 3, 3]);
    expect(toHex(packets[0].bytes.subarray(0, 4))).toMatch(/^20 [0-9a-f]{2} 01 00$/);
  });

  it('v5 [MQTT-3.1.4-6] after a refused CONNECT (bad password), a PUBLISH in the same write is not processed', async () => {
    const w = await watcher('t');
    const c = await h().raw();
    c.send(connectV5({ clientId: 'x', username: 'u', password: Buffer.from('bad') }), publish5('t', 'sneaky', 0));
    await c.waitClosed();
    await h().expectNothing(w);
  });

  it('v5 [§3.1.4 step 1] a connection that sends no CONNECT is closed after connect-timeout, without a byte sent', async () => {
    const c = await h().raw();
    await c.expectClosedSilently(3000);
  });

  it.each([
    ['Receive Maximum 0', [0x21, 0x00, 0x00]],
    ['Maximum Packet Size 0', [0x27, 0, 0, 0, 0]],
    ['Request Response Information 2', [0x19, 0x02]],
    ['Request Problem Information 2', [0x17, 0x02]],
    ['Authentication Data without Authentication Method', [0x16, 0x00, 0x01, 0x61]],
  ])('v5 [§3.1.2.11] a CONNECT property error (%s): refused (CONNACK 0x82/0x81 or close), never CONNACK 0x00', async (_name, bytes) => {
    const c = await h().raw();
    c.send(rawConnect5({ properties: props(bytes), payload: [field('p')] }));
    expect([null, 0x81, 0x82]).toContain(await refusedWith(c));
  });

  it('v5 [§3.1.3.2.3] a Will with Payload Format Indicator 1 and a non-UTF-8 payload: CONNACK 0x99 Payload format invalid (documented choice V7: payloads are checked)', async () => {
    const c = await h().raw();
    c.send(rawConnect5({ flags: 0x06, payload: [field('pfi'), Buffer.from([2, 0x01, 0x01]), field('will/t'), Buffer.from([0, 2, 0xc3, 0x28])], keepalive: 0 }));
    expect(await refusedWith(c)).toBe(0x99);
  });

  it('v5 [§3.1.3.2.3] a Will with Payload Format Indicator 1 and a UTF-8 payload is accepted and published with the indicator', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'pfi', { will: { ...will, payload: Buffer.from('h\u00e9'), properties: { payloadFormatIndicator: 1 } } });
    c.destroy();
    const d = readPublish5(await w.next());
    expect(d.payload.toString()).toBe('h\u00e9');
    expect(d.properties).toEqual([[0x01, 1]]);
  });
});

function encodeSub(filter: string): Buffer {
  return Buffer.concat([hex('82'), Buffer.from([2 + 1 + 2 + filter.length + 1]), hex('00 01 00'), field(filter), hex('00')]);
}

/** The payload for a CONNECT with these flags: client id, and Will fields when the Will Flag is set. */
function badWillPayload(flags: number): Buffer[] {
  return flags & 0x04 ? [field('f'), Buffer.from([0]), field('will/t'), field('x')] : [field('f')];
}
