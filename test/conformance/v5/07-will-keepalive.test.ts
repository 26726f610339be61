/**
 * MQTT 5 conformance, the connection layer's second round: Will Delay Interval (section 3.1.2.5,
 * 3.1.3.2.2), the Will on a takeover (3.1.4), DISCONNECT 0x8B at shutdown, Server Keep Alive
 * (3.1.2.10, 3.2.2.3.14), Request / Response Information (3.1.2.11.6, 3.2.2.3.15) and Reason
 * Strings on CONNACK and DISCONNECT (3.2.2.3.9, 3.14.2.2.3), over real sockets: raw bytes for the
 * client under test (encodePacketV5, server packets decoded with mqtt-packet), MQTT.js v5 for
 * watchers.
 */
import type { MqttClient } from 'mqtt';
import type { Properties } from '../../../src/core/protocol/packets';
import { type Harness, useBroker } from '../../helpers/conformance';
import { hex, type RawClient, toHex } from '../../helpers/raw';
import { connectMqtt5, connectV5, decodeV5 } from '../../helpers/v5';
import { readPublish5, sub5 } from '../../helpers/v5-raw';
import { sleep, waitFor } from '../../helpers/wait';

interface Connack {
  cmd: string;
  reasonCode: number;
  sessionPresent: boolean;
  properties?: { serverKeepAlive?: number; responseInformation?: string; reasonString?: string };
}

interface Disconnect {
  cmd: string;
  reasonCode: number;
  properties?: { reasonString?: string; sessionExpiryInterval?: number };
}

function willWith(properties: Properties = {}, payload = 'bye', retain = false): { topic: string; payload: Buffer; qos: 1; retain: boolean; properties: Properties } {
  return { topic: 'will/t', payload: Buffer.from(payload), qos: 1, retain, properties };
}

/** A watcher (MQTT.js v5) subscribed to will/#, recording what it receives. */
class Watcher {
  readonly payloads: string[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (_topic, payload) => this.payloads.push(payload.toString()));
  }

  static async start(h: Harness, clients: MqttClient[]): Promise<Watcher> {
    const { client } = await connectMqtt5(h.port, { clientId: 'watcher' });
    clients.push(client);
    await client.subscribeAsync('will/#', { qos: 1 });
    return new Watcher(client);
  }

  /** Everything routed to the watcher before now has reached it: a QoS 1 round trip through the broker. */
  async settled(): Promise<void> {
    await this.client.publishAsync('other', 'sync', { qos: 1 });
  }

  async nextWill(ms = 3000): Promise<string> {
    await waitFor(() => this.payloads.length > 0, ms, 'a Will');
    return this.payloads[0];
  }
}

describe('v5 Will Delay Interval', () => {
  const h = useBroker();
  const clients: MqttClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true);
  });

  async function connected(clientId: string, o: { will?: ReturnType<typeof willWith> | null; properties?: Properties; clean?: boolean } = {}): Promise<{ c: RawClient; ack: Connack }> {
    const c = await h().raw();
    c.send(connectV5({ clientId, will: o.will ?? null, properties: o.properties, cleanSession: o.clean ?? true }));
    const ack = decodeV5<Connack>(await c.next());
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
    return { c, ack };
  }

  it('v5 [MQTT-3.1.2-8] Will Delay 1 s, Session Expiry 60 s, socket dropped: nothing at the close, the Will once the delay has passed', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d1', { will: willWith({ willDelayInterval: 1 }), properties: { sessionExpiryInterval: 60 } });
    const closedAt = Date.now();
    c.destroy();
    await h().gone('d1');
    await w.settled();
    expect(w.payloads).toEqual([]);
    expect(await w.nextWill()).toBe('bye');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(900);
    expect(h().broker.stats.willsDelayed).toBe(1);
  });

  it('v5 [MQTT-3.1.3-9] [MQTT-3.1.2-10] a new connection to the session (Clean Start 0) within the Will Delay: that Will is never sent', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d2', { will: willWith({ willDelayInterval: 1 }), properties: { sessionExpiryInterval: 60 } });
    c.destroy();
    await h().gone('d2');
    const { ack } = await connected('d2', { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(ack.sessionPresent).toBe(true);
    await sleep(1300); // past the delay: a Will still scheduled would have fired by now
    await w.settled();
    expect(w.payloads).toEqual([]);
  });

  it('v5 [MQTT-3.1.2-8] [MQTT-4.1.0-2] Will Delay 30 s, Session Expiry 1 s: the session ends first and its Will is published then (~1 s)', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d3', { will: willWith({ willDelayInterval: 30 }), properties: { sessionExpiryInterval: 1 } });
    const closedAt = Date.now();
    c.destroy();
    await h().gone('d3');
    expect(await w.nextWill(4000)).toBe('bye');
    const after = Date.now() - closedAt;
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(4000);
    expect(h().broker.sessionCount).toBe(1); // the watcher's: d3's ended
  });

  it('v5 [MQTT-3.1.2-8] Will Delay 30 s, Session Expiry 0: the session ends at the close, so the Will is published at once', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d4', { will: willWith({ willDelayInterval: 30 }) });
    c.destroy();
    await h().gone('d4');
    await w.settled();
    expect(w.payloads).toEqual(['bye']);
  });

  it('v5 [MQTT-3.1.2-8] [MQTT-3.1.2-4] Will Delay 30 s: a new connection with Clean Start 1 ends the session, and the Will is published then', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d5', { will: willWith({ willDelayInterval: 30 }), properties: { sessionExpiryInterval: 60 } });
    c.destroy();
    await h().gone('d5');
    await w.settled();
    expect(w.payloads).toEqual([]);
    const { ack } = await connected('d5', { clean: true, properties: { sessionExpiryInterval: 60 } });
    expect(ack.sessionPresent).toBe(false);
    expect(await w.nextWill()).toBe('bye');
  });

  it('v5 [MQTT-3.14.4-3] [MQTT-3.1.2-8] DISCONNECT 0x04 with a Will Delay of 1 s: the Will is published after the delay, not at the close', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d6', { will: willWith({ willDelayInterval: 1 }), properties: { sessionExpiryInterval: 60 } });
    const closedAt = Date.now();
    c.send(hex('e0 01 04'));
    await c.waitClosed();
    await h().gone('d6');
    await w.settled();
    expect(w.payloads).toEqual([]);
    expect(await w.nextWill()).toBe('bye');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(900);
  });

  it('v5 [§3.1.2.5] a Will still waiting for its delay at broker shutdown is published then (delayed Wills are not kept across a restart)', async () => {
    const { c } = await connected('d8', { will: willWith({ willDelayInterval: 30 }, 'last', true), properties: { sessionExpiryInterval: 60 } });
    c.destroy();
    await h().gone('d8');
    expect(h().broker.retainedCount).toBe(0);
    await h().broker.shutdown();
    expect(h().broker.retainedCount).toBe(1);
  });

  it('v5 [MQTT-3.1.3-10] the Will is published with its User Properties in their original order, repeated names included', async () => {
    const watcher = await h().raw();
    watcher.send(connectV5({ clientId: 'order-watch' }));
    decodeV5<Connack>(await watcher.next());
    await sub5(watcher, 1, [{ topic: 'will/#', qos: 0 }]);
    const userProperties: [string, string][] = [['b', '1'], ['a', '2'], ['b', '3'], ['A', '0']];
    const { c } = await connected('ordered', { will: willWith({ userProperties }) });
    c.destroy();
    const will = readPublish5(await watcher.next());
    expect(will.topic).toBe('will/t');
    expect(will.properties.filter(([id]) => id === 0x26).map(([, pair]) => pair)).toEqual(userProperties);
  });

  it('v5 [§3.1.3.2.4] a Will Message Expiry Interval becomes the published Will\'s Message Expiry Interval; a Will without one has none', async () => {
    const watcher = await h().raw();
    watcher.send(connectV5({ clientId: 'expiry-watch' }));
    decodeV5<Connack>(await watcher.next());
    await sub5(watcher, 1, [{ topic: 'will/#', qos: 0 }]);
    const { c: expiring } = await connected('expiring', { will: willWith({ messageExpiryInterval: 60 }, 'e') });
    expiring.destroy();
    const first = readPublish5(await watcher.next());
    expect(first.payload.toString()).toBe('e');
    const interval = first.properties.find(([id]) => id === 0x02)?.[1] as number;
    expect(interval).toBeGreaterThanOrEqual(59);
    expect(interval).toBeLessThanOrEqual(60);
    const { c: lasting } = await connected('lasting', { will: willWith({}, 'l') });
    lasting.destroy();
    const second = readPublish5(await watcher.next());
    expect([second.payload.toString(), second.properties.some(([id]) => id === 0x02)]).toEqual(['l', false]);
  });

  it('v5 [MQTT-3.1.2-10] a delayed Will fires once: the client comes back after it fired and drops again without a Will -> no second Will', async () => {
    const w = await Watcher.start(h(), clients);
    const { c } = await connected('d7', { will: willWith({ willDelayInterval: 1 }), properties: { sessionExpiryInterval: 60 } });
    c.destroy();
    expect(await w.nextWill()).toBe('bye');
    const { c: again } = await connected('d7', { clean: false, properties: { sessionExpiryInterval: 60 } });
    again.destroy();
    await h().gone('d7');
    await sleep(1300);
    await w.settled();
    expect(w.payloads).toEqual(['bye']);
  });
});

describe('v5 Will on takeover', () => {
  const h = useBroker();
  const clients: MqttClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true);
  });

  async function connected(clientId: string, o: { will?: ReturnType<typeof willWith> | null; properties?: Properties; clean?: boolean } = {}): Promise<{ c: RawClient; ack: Connack }> {
    const c = await h().raw();
    c.send(connectV5({ clientId, will: o.will ?? null, properties: o.properties, cleanSession: o.clean ?? true }));
    const ack = decodeV5<Connack>(await c.next());
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
    return { c, ack };
  }

  it('v5 [MQTT-3.1.4-3] [MQTT-3.1.3-9] a takeover that continues the session (Clean Start 0, expiry > 0): the old connection gets DISCONNECT 0x8E and its Will is not published', async () => {
    const w = await Watcher.start(h(), clients);
    const { c: old } = await connected('t1', { will: willWith(), properties: { sessionExpiryInterval: 60 } });
    const { ack } = await connected('t1', { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(ack.sessionPresent).toBe(true);
    await old.waitClosed();
    const d = decodeV5<Disconnect>(old.history[old.history.length - 1]);
    expect([d.cmd, d.reasonCode]).toEqual(['disconnect', 0x8e]);
    expect(d.properties?.reasonString).toBe('another connection took over this client identifier');
    await w.settled();
    expect(w.payloads).toEqual([]);
  });

  it('v5 [MQTT-3.1.4-3] [MQTT-3.1.2-4] a takeover with Clean Start 1 ends the old session: its Will is published', async () => {
    const w = await Watcher.start(h(), clients);
    const { c: old } = await connected('t2', { will: willWith(), properties: { sessionExpiryInterval: 60 } });
    const { ack } = await connected('t2', { clean: true, properties: { sessionExpiryInterval: 60 } });
    expect(ack.sessionPresent).toBe(false);
    await old.waitClosed();
    expect(await w.nextWill()).toBe('bye');
  });

  it('v5 [MQTT-3.1.4-3] [MQTT-3.1.2-23] a takeover of a session with Session Expiry 0 (it ends with its connection): the Will is published', async () => {
    const w = await Watcher.start(h(), clients);
    const { c: old } = await connected('t3', { will: willWith() });
    await connected('t3', { clean: false, properties: { sessionExpiryInterval: 60 } });
    await old.waitClosed();
    expect(await w.nextWill()).toBe('bye');
  });
});

describe('v5 DISCONNECT 0x8B at shutdown', () => {
  const h = useBroker();

  it('v5 [MQTT-3.14.2-1] [MQTT-3.14.4-2] broker.shutdown(): an MQTT.js v5 client receives DISCONNECT 0x8B Server shutting down, with a Reason String, then the close', async () => {
    const { client } = await connectMqtt5(h().port, { clientId: 'bye' });
    const disconnect = new Promise<{ reasonCode?: number; properties?: { reasonString?: string } }>((resolve) => client.once('disconnect', resolve));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await h().broker.shutdown();
    const packet = await disconnect;
    expect(packet.reasonCode).toBe(0x8b);
    expect(packet.properties?.reasonString).toBe('server shutting down');
    await closed;
    client.end(true);
  });
});

describe('v5 Server Keep Alive (limits.max-keepalive 1)', () => {
  const h = useBroker({ limits: { 'max-keepalive': 1 } });

  it('v5 [MQTT-3.1.2-21] [MQTT-3.2.2-21] [MQTT-3.1.2-22] Keep Alive 60 above the maximum: CONNACK Server Keep Alive 1, and a silent client is closed after 1.5 s with DISCONNECT 0x8D', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'ka', keepalive: 60 }));
    const ack = decodeV5<Connack>(await c.next());
    expect([ack.reasonCode, ack.properties?.serverKeepAlive]).toEqual([0, 1]);
    const since = Date.now();
    await c.waitClosed(4000);
    const silent = Date.now() - since;
    expect(silent).toBeGreaterThanOrEqual(1400);
    expect(silent).toBeLessThan(3000);
    const d = decodeV5<Disconnect>(c.history[c.history.length - 1]);
    expect([d.cmd, d.reasonCode, d.properties?.reasonString]).toEqual(['disconnect', 0x8d, 'nothing received within 1.5 times the Keep Alive']);
    expect(h().broker.stats.closedKeepalive).toBe(1);
  });

  it('v5 [MQTT-3.1.2-20] [MQTT-3.1.2-22] a client that sends PINGREQ within the Keep Alive in force (1 s) stays: 2.5 s of PINGREQs every 0.5 s, each answered', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'pinger', keepalive: 1 }));
    expect(decodeV5<Connack>(await c.next()).reasonCode).toBe(0);
    for (let i = 0; i < 5; i++) {
      await sleep(500);
      await c.pingRoundTrip();
    }
    expect([c.closed, h().broker.stats.closedKeepalive]).toEqual([false, 0]);
  });

  it('v5 [MQTT-3.1.2-21] Keep Alive 0 (no check asked) with a maximum configured: Server Keep Alive is the maximum', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'ka0', keepalive: 0 }));
    const ack = decodeV5<Connack>(await c.next());
    expect(ack.properties?.serverKeepAlive).toBe(1);
    expect(h().broker.client('ka0')?.keepalive).toBe(1);
  });

  it('v5 [MQTT-3.1.2-21] a Keep Alive within the maximum is kept, and told back as Server Keep Alive', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'ka1', keepalive: 1 }));
    const ack = decodeV5<Connack>(await c.next());
    expect(ack.properties?.serverKeepAlive).toBe(1);
  });

  it('v5 [MQTT-3.14.2-3] a client Maximum Packet Size of 5: the Keep Alive DISCONNECT goes without its Reason String (E0 02 8D 00)', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'small', keepalive: 60, properties: { maximumPacketSize: 5 } }));
    decodeV5<Connack>(await c.next());
    await c.waitClosed(4000);
    expect(toHex(c.history[c.history.length - 1].bytes)).toBe('e0 02 8d 00');
  });

});

describe('v5 Server Keep Alive absent without max-keepalive', () => {
  const h = useBroker();

  it('v5 [MQTT-3.2.2-22] no maximum configured: CONNACK has no Server Keep Alive and the client\'s Keep Alive is the one in force', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'free', keepalive: 60 }));
    const ack = decodeV5<Connack>(await c.next());
    expect(ack.properties?.serverKeepAlive).toBeUndefined();
    expect(h().broker.client('free')?.keepalive).toBe(60);
  });

  it('v5 [MQTT-3.1.2-28] Request Response Information 1 but nothing configured: no Response Information', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'rr', properties: { requestResponseInformation: 1 } }));
    const ack = decodeV5<Connack>(await c.next());
    expect(ack.properties?.responseInformation).toBeUndefined();
  });
});

describe('v5 Response Information (response-information: reply/)', () => {
  const h = useBroker({ 'response-information': 'reply/' });

  it('v5 [MQTT-3.1.2-28] Request Response Information absent (0): no Response Information in CONNACK, even with a prefix configured', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'no-rri' }));
    const ack = decodeV5<Connack>(await c.next());
    expect(ack.reasonCode).toBe(0);
    expect(ack.properties?.responseInformation).toBeUndefined();
  });

  it('v5 [MQTT-3.1.2-28] [§4.10] Request Response Information 1: CONNACK carries Response Information = prefix + client id, a topic the client can use', async () => {
    const { client, connack } = await connectMqtt5(h().port, { clientId: 'asker', properties: { requestResponseInformation: true } });
    try {
      expect(connack.properties?.responseInformation).toBe('reply/asker');
      await client.subscribeAsync('reply/asker/#', { qos: 1 });
      const got = new Promise<string>((resolve) => client.once('message', (topic) => resolve(topic)));
      await client.publishAsync('reply/asker/1', 'x', { qos: 1 });
      expect(await got).toBe('reply/asker/1');
    } finally {
      client.end(true);
    }
  });
});

describe('v5 Reason Strings on CONNACK (limits.max-client-id-length 5)', () => {
  const h = useBroker({ limits: { 'max-client-id-length': 5 } });

  it('v5 [MQTT-3.1.3-8] [MQTT-3.2.2-8] a refused CONNECT (client id over max-client-id-length) gets CONNACK 0x85 with a Reason String saying why', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'much-too-long' }));
    const ack = decodeV5<Connack>(await c.next());
    expect([ack.reasonCode, ack.properties?.reasonString]).toEqual([0x85, 'client identifier not accepted (max-client-id-length)']);
    await c.waitClosed();
  });

  it('v5 [MQTT-3.1.2-29] Request Problem Information 0: the same refusal carries no Reason String (20 03 00 85 00)', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'much-too-long', properties: { requestProblemInformation: 0 } }));
    expect(toHex((await c.next()).bytes)).toBe('20 03 00 85 00');
    await c.waitClosed();
  });

  it('v5 [MQTT-3.2.2-19] a client Maximum Packet Size the Reason String would exceed: the CONNACK goes without it (20 03 00 85 00)', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'much-too-long', properties: { maximumPacketSize: 20 } }));
    expect(toHex((await c.next()).bytes)).toBe('20 03 00 85 00');
    await c.waitClosed();
  });
});
