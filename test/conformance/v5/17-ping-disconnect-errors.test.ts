/**
 * MQTT 5 conformance, sections 3.12-3.14 (PINGREQ, DISCONNECT basics) and 4.13 handling errors:
 * no DISCONNECT before CONNACK, DISCONNECT flags and codes, nothing after a server DISCONNECT,
 * each bad packet closing only its own connection, a close that does not wait for a stuck reader.
 */
import * as net from 'node:net';
import { useBroker } from '../../helpers/conformance';
import { field, hex, toHex } from '../../helpers/raw';
import { waitFor } from '../../helpers/wait';
import { closedWith, connected5, connectV5, decodeV5, frame5, publish5, rawConnect5, readPublish5, sub5, subscribe5 } from '../../helpers/v5-raw';

const will = { topic: 'will/t', payload: Buffer.from('bye'), qos: 0 as const, retain: false };
const DISCONNECT_CODES = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2];

describe('v5 3.12-3.14 PINGREQ and DISCONNECT, 4.13 errors', () => {
  const h = useBroker({ limits: { 'connect-timeout': 1 } });

  async function watcher(): Promise<Awaited<ReturnType<typeof connected5>>> {
    const w = await connected5(h(), 'watcher');
    await sub5(w, 1, [{ topic: 'will/#', qos: 0 }]);
    return w;
  }

  it('v5 [MQTT-3.12.4-1] every PINGREQ gets a PINGRESP (d0 00), three in one write give three', async () => {
    const c = await connected5(h(), 'c');
    c.send(hex('c0 00 c0 00 c0 00'));
    expect((await c.take(3)).map((p) => toHex(p.bytes))).toEqual(['d0 00', 'd0 00', 'd0 00']);
  });

  it('v5 [MQTT-3.14.0-1] no DISCONNECT before CONNACK: a malformed CONNECT, a bad CONNECT property and the connect timeout all end without an E0 byte', async () => {
    const cases = [rawConnect5({ flags: 0x03, payload: [field('a')] }), rawConnect5({ properties: Buffer.from([3, 0x21, 0, 0]), payload: [field('b')] }), null];
    for (const bytes of cases) {
      const c = await h().raw();
      if (bytes !== null) c.send(bytes);
      await c.waitClosed(3000);
      expect(c.history.some((p) => p.type === 14)).toBe(false);
    }
  });

  it('v5 [MQTT-3.14.1-1] a DISCONNECT with reserved flags set (E1 00): DISCONNECT 0x81, and the Will is published', async () => {
    const w = await watcher();
    const c = await connected5(h(), 'c', { will });
    c.send(hex('e1 00'));
    expect(await closedWith(c)).toBe(0x81);
    expect(readPublish5(await w.next()).payload.toString()).toBe('bye');
  });

  it('v5 [MQTT-3.14.2-1] [MQTT-3.14.2-2] the DISCONNECTs the server sends use Disconnect Reason Codes and never carry a Session Expiry Interval', async () => {
    const bad = [hex('36 04 00 01 61 00'), hex('e1 00'), hex('c1 00'), frame5(0x82, Buffer.from([0, 1, 0]))];
    for (const bytes of bad) {
      const c = await connected5(h(), 'c');
      c.send(bytes);
      const code = await closedWith(c);
      expect(DISCONNECT_CODES).toContain(code);
      const d = decodeV5<{ properties?: Record<string, unknown> }>(c.history[c.history.length - 1].bytes);
      expect(d.properties?.sessionExpiryInterval).toBeUndefined();
    }
  });

  it('v5 [MQTT-3.14.4-1] [MQTT-3.14.4-2] after its DISCONNECT the server sends nothing more and closes: a delivery queued in the same write comes before it, never after', async () => {
    const c = await connected5(h(), 'c');
    await sub5(c, 1, [{ topic: 't', qos: 0 }]);
    c.send(publish5('t', 'a', 0), publish5('t', 'b', 0), hex('36 04 00 01 61 00'), publish5('t', 'c', 0));
    await c.waitClosed();
    const types = c.history.slice(2).map((p) => p.type);
    expect(types[types.length - 1]).toBe(14);
    expect(types.filter((t) => t === 14)).toHaveLength(1);
    expect(c.history.slice(2).filter((p) => p.type === 3).map((p) => readPublish5(p).payload.toString())).not.toContain('c');
  });

  it('v5 [§3.14.4] after a client DISCONNECT the server closes the connection, with nothing sent', async () => {
    const c = await connected5(h(), 'c');
    c.send(hex('e0 00'));
    await c.expectClosed();
  });

  it('v5 [MQTT-4.13.1-1] a set of bad packets (QoS 3, bad flags, bad UTF-8, packet id 0, empty SUBSCRIBE, reserved type 0): each closes its own connection with a DISCONNECT >= 0x80, Wills fire, another client is untouched', async () => {
    const w = await watcher();
    const bystander = await connected5(h(), 'bystander');
    await sub5(bystander, 1, [{ topic: 'x', qos: 1 }]);
    const corpus = [
      hex('36 04 00 01 61 00'),
      hex('c1 00'),
      frame5(0x30, Buffer.from([0, 2, 0xc3, 0x28, 0])),
      frame5(0x82, Buffer.from([0, 0, 0, 0, 1, 0x61, 0])),
      frame5(0x82, Buffer.from([0, 1, 0])),
      hex('00 00'),
    ];
    for (const [i, bytes] of corpus.entries()) {
      const c = await connected5(h(), `bad${i}`, { will: { ...will, payload: Buffer.from(`${i}`) } });
      c.send(bytes);
      const code = await closedWith(c);
      expect(code).toBeGreaterThanOrEqual(0x80);
      expect(readPublish5(await w.next()).payload.toString()).toBe(`${i}`);
    }
    const p = await connected5(h(), 'p');
    p.send(publish5('x', 'fine', 1, 1));
    await p.next();
    expect(readPublish5(await bystander.next()).payload.toString()).toBe('fine');
  });
});

describe('v5 4.13.2 a stuck reader', () => {
  const h = useBroker({ limits: { 'max-write-buffer': 65536 } });

  it('v5 [MQTT-4.13.2-1] a connection taken over while its client has stopped reading (write buffer full) is closed at once: DISCONNECT 0x8E cannot be written, the newcomer still gets CONNACK within 2 s', async () => {
    const socket = net.connect(h().port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(connectV5({ clientId: 'stuck' }));
    await waitFor(() => h().broker.client('stuck') !== undefined, 2000, 'stuck to connect');
    socket.write(subscribe5(1, [{ topic: 'flood', qos: 0 }]));
    socket.pause();
    const p = await connected5(h(), 'p');
    const big = publish5('flood', Buffer.alloc(64 * 1024, 0x61), 0);
    for (let i = 0; i < 150; i++) p.send(big);
    await p.pingRoundTrip(10000);
    // The stuck client's write buffer is over max-write-buffer: the rest of the flood was dropped.
    expect(h().broker.stats.droppedSlowConsumer).toBeGreaterThan(0);
    const newcomer = await h().raw();
    newcomer.send(connectV5({ clientId: 'stuck' }));
    expect(decodeV5<{ cmd: string; reasonCode: number }>(await newcomer.next(2000))).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    socket.destroy();
  });
});

describe('v5 3.2.2 Maximum Packet Size announced by the server', () => {
  const h = useBroker({ limits: { 'max-packet-size': 1024 } });

  it('v5 [MQTT-3.2.2-15] a PUBLISH above the announced Maximum Packet Size (1024, a 2000-byte packet): DISCONNECT 0x95, the close, nothing routed', async () => {
    const s = await connected5(h(), 's');
    expect(s.connack.properties?.maximumPacketSize).toBe(1024);
    await sub5(s, 1, [{ topic: 't', qos: 0 }]);
    const c = await connected5(h(), 'big');
    c.send(publish5('t', Buffer.alloc(2000, 0x61), 0));
    expect(await closedWith(c)).toBe(0x95);
    await h().expectNothing(s);
  });
});
