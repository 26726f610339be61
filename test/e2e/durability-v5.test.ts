import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { BrokerConfigInput } from '../../src';
import { encodePacketV5 } from '../../src/core/protocol/encoder-v5';
import { PacketType, type Properties } from '../../src/core/protocol/packets';
import { TestBroker } from '../helpers/broker';
import * as raw from '../helpers/raw';
import { RawClient, type RawPacket, T } from '../helpers/raw';
import { connectV5, decodeV5, endGracefully } from '../helpers/v5';
import { sleep, waitFor } from '../helpers/wait';

/**
 * MQTT 5 state across a real restart: a broker on a SQLite file is shut down and a new one started
 * on the same file; MQTT.js v5 clients (and raw bytes where a client must not acknowledge) check
 * that what the v5 session held comes back as it was (schema v4, docs/durability.md).
 */

const tempDb = (): string => join(mkdtempSync(join(tmpdir(), 'nestmq-dur5-')), 'nestmq.db');

function startOn(path: string, extra: BrokerConfigInput = {}): Promise<TestBroker> {
  return TestBroker.start({ persistence: { backend: 'sqlite', path }, ...extra });
}

/** An MQTT.js v5 client whose PUBLISHes are collected from the first byte (they may follow CONNACK in one chunk). */
class Client5 {
  readonly inbox: IPublishPacket[] = [];
  private wake: (() => void) | null = null;

  private constructor(
    readonly client: MqttClient,
    readonly connack: IConnackPacket,
  ) {}

  static connect(port: number, options: IClientOptions): Promise<Client5> {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options });
    const inbox: IPublishPacket[] = [];
    let self: Client5 | null = null;
    client.on('message', (_t, _p, packet) => {
      if (self === null) inbox.push(packet);
      else {
        self.inbox.push(packet);
        self.wake?.();
      }
    });
    return new Promise((resolve, reject) => {
      client.once('connect', (connack) => {
        self = new Client5(client, connack);
        self.inbox.push(...inbox.splice(0));
        resolve(self);
      });
      client.once('error', (err) => {
        client.end(true);
        reject(err);
      });
    });
  }

  get sessionPresent(): boolean {
    return this.connack.sessionPresent;
  }

  /** The next PUBLISH received (in order), waiting up to `ms`. */
  async next(ms = 3000): Promise<IPublishPacket> {
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no PUBLISH within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.inbox.shift()!;
  }

  /** A QoS 1 PUBLISH, resolved on its PUBACK. */
  publish(topic: string, payload: string, opts: mqtt.IClientPublishOptions): Promise<void> {
    return new Promise((resolve, reject) => this.client.publish(topic, payload, { qos: 1, ...opts }, (err) => (err ? reject(err) : resolve())));
  }

  subscribe(filter: string, opts: mqtt.IClientSubscribeOptions): Promise<number> {
    return new Promise((resolve, reject) =>
      this.client.subscribe(filter, opts, (err, granted) => (err ? reject(err) : resolve(granted![0].qos))),
    );
  }

  /** Proves nothing else is on its way: a PINGREQ round trip, then the inbox is empty. */
  async expectNothingMore(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.client.once('packetreceive', (p) => p.cmd === 'pingresp' && resolve());
      this.client.sendPing();
    });
    expect(this.inbox).toEqual([]);
  }

  end(): Promise<void> {
    return endGracefully(this.client);
  }
}

/** A persistent v5 session: clean start 0 and a Session Expiry Interval. */
const persistent = (clientId: string, sessionExpiryInterval = 300): IClientOptions => ({ clientId, clean: false, properties: { sessionExpiryInterval } });

/** Properties of every message these tests publish; User Properties interleaved, so their order shows. */
const PROPS: Properties = {
  payloadFormatIndicator: 1,
  contentType: 'text/plain; charset=utf-8',
  responseTopic: 'reply/to/me',
  correlationData: Buffer.from([0, 1, 2, 0xfe, 0xff]),
  userProperties: [
    ['zeta', '1'],
    ['alpha', '2'],
    ['zeta', '3'],
  ],
};

/**
 * The User Properties of PROPS as they must appear on the wire, in order v5 [MQTT-3.3.2-18]:
 * checked on the received bytes, since mqtt-packet (and MQTT.js) decode them into an object.
 */
const USER_PROPERTY_BYTES = Buffer.concat(
  PROPS.userProperties!.flatMap(([k, v]) => [Buffer.from([0x26, 0, k.length]), Buffer.from(k), Buffer.from([0, v.length]), Buffer.from(v)]),
);

/** A received PUBLISH carries PROPS: decoded by mqtt-packet, and the User Properties' bytes in order. */
function expectRawProps(p: RawPacket): IPublishPacket {
  const d = decodeV5<IPublishPacket>(p);
  const got = { ...d.properties };
  delete got.messageExpiryInterval;
  expect(got).toEqual({
    payloadFormatIndicator: true,
    contentType: PROPS.contentType,
    responseTopic: PROPS.responseTopic,
    correlationData: PROPS.correlationData,
    userProperties: { zeta: ['1', '3'], alpha: '2' },
  });
  expect(p.bytes.includes(USER_PROPERTY_BYTES)).toBe(true);
  return d;
}

/** A raw v5 connection: CONNECT (Clean Start 0 with a Session Expiry Interval when `expiry` > 0), CONNACK decoded. */
async function rawV5(port: number, clientId: string, expiry = 0): Promise<{ c: RawClient; connack: IConnackPacket }> {
  const c = await RawClient.tcp(port);
  c.send(connectV5({ clientId, cleanSession: expiry === 0, properties: expiry === 0 ? undefined : { sessionExpiryInterval: expiry } }));
  const connack = decodeV5<IConnackPacket>(await c.next());
  expect(connack.reasonCode).toBe(0);
  return { c, connack };
}

/** A raw v5 QoS 1 PUBLISH with PROPS, resolved on its PUBACK. */
async function publishWithProps(c: RawClient, id: number, topic: string, payload: string, retain = false): Promise<void> {
  c.send(encodePacketV5({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos: 1, retain, dup: false, packetId: id, properties: PROPS }));
  const ack = await c.next();
  expect([ack.type, raw.idOf(ack)]).toEqual([T.PUBACK, id]);
}

function rawSubscribe(c: RawClient, id: number, filter: string): Promise<RawPacket> {
  c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions: [{ topic: filter, qos: 1 }] }));
  return c.next();
}

describe('MQTT 5 durability across a restart (SQLite schema v4)', () => {
  jest.setTimeout(30_000);
  let tb: TestBroker | null = null;
  afterEach(async () => {
    await tb?.close();
    tb = null;
  });

  it('v5 [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] [MQTT-3.1.2-5] a message queued for an offline v5 session keeps its properties across a restart, User Properties in order', async () => {
    const path = tempDb();
    tb = await startOn(path);
    const sub = await rawV5(tb.port, 'sub', 300);
    expect((await rawSubscribe(sub.c, 1, 'd/#')).type).toBe(T.SUBACK);
    sub.c.send(encodePacketV5({ type: PacketType.DISCONNECT, reasonCode: 0 }));
    await sub.c.waitClosed();
    const pub = await rawV5(tb.port, 'pub');
    await publishWithProps(pub.c, 1, 'd/1', 'with properties');
    const plain = await Client5.connect(tb.port, { clientId: 'plain' });
    await plain.publish('d/2', 'plain', {});
    await plain.end();
    pub.c.destroy();
    await tb.close();

    tb = await startOn(path);
    const back = await rawV5(tb.port, 'sub', 300);
    expect(back.connack.sessionPresent).toBe(true);
    const first = expectRawProps(await back.c.next());
    expect([first.topic, first.payload.toString(), first.qos]).toEqual(['d/1', 'with properties', 1]);
    back.c.send(raw.puback(first.messageId!));
    const second = decodeV5<IPublishPacket>(await back.c.next());
    expect([second.topic, second.payload.toString()]).toEqual(['d/2', 'plain']);
    expect(second.properties ?? {}).toEqual({});
    back.c.send(raw.puback(second.messageId!));
    await back.c.expectNothing();
    back.c.destroy();
  });

  it('v5 [MQTT-4.4.0-1] [MQTT-3.3.2-17] [MQTT-3.3.2-18] an in-flight QoS 1 delivery not acknowledged before the restart is re-sent with DUP=1, its packet id and its properties', async () => {
    const path = tempDb();
    tb = await startOn(path);
    let sub = await rawV5(tb.port, 'sub', 300);
    expect((await rawSubscribe(sub.c, 1, 'f/#')).type).toBe(T.SUBACK);
    const pub = await rawV5(tb.port, 'pub');
    await publishWithProps(pub.c, 1, 'f/x', 'unacked');
    const sent = expectRawProps(await sub.c.next());
    expect(sent.dup).toBe(false);
    // Not acknowledged: the delivery stays in flight through the restart.
    sub.c.destroy();
    pub.c.destroy();
    await tb.close();

    tb = await startOn(path);
    sub = await rawV5(tb.port, 'sub', 300);
    expect(sub.connack.sessionPresent).toBe(true);
    const again = expectRawProps(await sub.c.next());
    expect([again.topic, again.payload.toString(), again.dup, again.messageId]).toEqual(['f/x', 'unacked', true, sent.messageId]);
    sub.c.destroy();
  });

  it('v5 [MQTT-3.3.1-5] [MQTT-3.3.2-18] [MQTT-3.3.2-20] a retained message keeps its properties across a restart', async () => {
    const path = tempDb();
    tb = await startOn(path);
    const pub = await rawV5(tb.port, 'pub');
    await publishWithProps(pub.c, 1, 'r/props', 'retained', true);
    pub.c.destroy();
    await tb.close();

    tb = await startOn(path);
    const sub = await rawV5(tb.port, 'reader');
    expect((await rawSubscribe(sub.c, 1, 'r/#')).type).toBe(T.SUBACK);
    const p = expectRawProps(await sub.c.next());
    expect([p.topic, p.payload.toString(), p.retain]).toEqual(['r/props', 'retained', true]);
    sub.c.destroy();
  });

  it('v5 [MQTT-3.3.2-5] [MQTT-3.3.2-6] Message Expiry is a deadline a restart keeps: the expired queued and retained copies are not delivered, the others carry what is left', async () => {
    const path = tempDb();
    tb = await startOn(path);
    const sub = await Client5.connect(tb.port, persistent('sub'));
    await sub.subscribe('e/#', { qos: 1 });
    await sub.end();
    const pub = await Client5.connect(tb.port, { clientId: 'pub' });
    const publishedAt = Date.now();
    await pub.publish('e/short', 'expires', { properties: { messageExpiryInterval: 1 } });
    await pub.publish('e/long', 'stays', { properties: { messageExpiryInterval: 60, contentType: 'c' } });
    await pub.publish('k/short', 'expires', { retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publish('k/long', 'stays', { retain: true, properties: { messageExpiryInterval: 60 } });
    await pub.end();
    await tb.close();
    // The broker is down while the 1 s interval passes: the wait is on the clock by nature.
    await sleep(Math.max(0, publishedAt + 2000 - Date.now()));

    tb = await startOn(path);
    const back = await Client5.connect(tb.port, persistent('sub'));
    expect(back.sessionPresent).toBe(true);
    const p = await back.next(); // e/short, queued before it, is dropped
    expect([p.topic, p.payload.toString(), p.properties?.contentType]).toEqual(['e/long', 'stays', 'c']);
    // What is left of 60 s, counted from the publish, not from the restart.
    const elapsed = Math.floor((Date.now() - publishedAt) / 1000);
    expect(p.properties!.messageExpiryInterval).toBeLessThanOrEqual(60 - elapsed + 1);
    expect(p.properties!.messageExpiryInterval).toBeLessThanOrEqual(59);
    await back.expectNothingMore();
    await back.end();

    const reader = await Client5.connect(tb.port, { clientId: 'reader' });
    await reader.subscribe('k/#', { qos: 1 });
    const r = await reader.next();
    expect([r.topic, r.retain]).toEqual(['k/long', true]);
    expect(r.properties!.messageExpiryInterval).toBeLessThanOrEqual(59);
    await reader.expectNothingMore();
    await reader.end();
  });

  it('v5 [MQTT-3.8.3-3] [MQTT-3.3.1-13] [MQTT-3.3.1-10] Subscription Options survive a restart: No Local, Retain As Published, and Retain Handling 1 sees the restored subscription', async () => {
    const path = tempDb();
    tb = await startOn(path);
    const own = await Client5.connect(tb.port, persistent('own'));
    await own.subscribe('o/#', { qos: 1, nl: true, rap: true });
    await own.end();
    await tb.close();

    tb = await startOn(path);
    const back = await Client5.connect(tb.port, persistent('own'));
    expect(back.sessionPresent).toBe(true);
    // No Local: its own message is not sent back; Retain As Published: another's keeps RETAIN=1.
    await back.publish('o/mine', 'own', { retain: true });
    const other = await Client5.connect(tb.port, { clientId: 'other' });
    await other.publish('o/theirs', 'theirs', { retain: true });
    const p = await back.next();
    expect([p.topic, p.retain]).toEqual(['o/theirs', true]);
    // Retain Handling 1: retained messages only for a subscription that did not exist; it does.
    expect(await back.subscribe('o/#', { qos: 1, nl: true, rap: true, rh: 1 })).toBe(1);
    await back.expectNothingMore();
    await back.end();
    await other.end();
  });

  it('v5 [MQTT-3.1.2-23] [MQTT-4.1.0-2] each session keeps its own Session Expiry Interval across a restart; a 3.1.1 session follows limits.session-expiry', async () => {
    const path = tempDb();
    tb = await startOn(path, { limits: { 'session-expiry': 3600 } });
    const short = await Client5.connect(tb.port, persistent('short', 2));
    await short.subscribe('s/#', { qos: 1 });
    const long = await Client5.connect(tb.port, persistent('long', 300));
    await long.subscribe('l/#', { qos: 1 });
    const classic = await tb.client({ clientId: 'classic', clean: false });
    await new Promise((resolve) => classic.subscribe('c/#', { qos: 1 }, resolve));
    await Promise.all([short.end(), long.end(), new Promise((resolve) => classic.end(false, {}, resolve))]);
    const leftAt = Date.now();
    await tb.close();

    // Restarted with a 1 s limit: only the 3.1.1 session takes it.
    tb = await startOn(path, { limits: { 'session-expiry': 1 } });
    const broker = tb.broker;
    const deadline = (id: string): number => broker.session(id)!.expiresAt!;
    expect(deadline('long') - leftAt).toBeGreaterThan(299_000);
    expect(deadline('long') - leftAt).toBeLessThanOrEqual(300_000);
    expect(deadline('short') - leftAt).toBeGreaterThan(1_000);
    expect(deadline('short') - leftAt).toBeLessThanOrEqual(2_000);
    expect(deadline('classic') - leftAt).toBeLessThanOrEqual(1_000);
    await waitFor(() => broker.stats.sessionsExpired === 2, 5000, 'short and classic to expire');
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(2_000 - 50);
    expect(broker.session('short')).toBeUndefined();
    expect(broker.session('classic')).toBeUndefined();
    const back = await Client5.connect(tb.port, persistent('long'));
    expect(back.sessionPresent).toBe(true);
    await back.end();
  });

  it('v5 [MQTT-3.1.2-5] shared subscription membership survives a restart: each member restored gets its share', async () => {
    const path = tempDb();
    tb = await startOn(path);
    for (const id of ['m1', 'm2']) {
      const m = await Client5.connect(tb.port, persistent(id));
      await m.subscribe('$share/g/s/#', { qos: 1 });
      await m.end();
    }
    await tb.close();

    tb = await startOn(path);
    const m1 = await Client5.connect(tb.port, persistent('m1'));
    const m2 = await Client5.connect(tb.port, persistent('m2'));
    expect([m1.sessionPresent, m2.sessionPresent]).toEqual([true, true]);
    const pub = await Client5.connect(tb.port, { clientId: 'pub' });
    for (let i = 0; i < 6; i++) await pub.publish(`s/${i}`, String(i), {});
    await waitFor(() => m1.inbox.length + m2.inbox.length === 6, 3000, 'six deliveries');
    const got = [...m1.inbox, ...m2.inbox].map((p) => p.payload.toString()).sort();
    expect(got).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(m1.inbox.length).toBeGreaterThan(0);
    expect(m2.inbox.length).toBeGreaterThan(0);
    m1.inbox.length = 0;
    m2.inbox.length = 0;
    await m1.expectNothingMore();
    await m2.expectNothingMore();
    await Promise.all([m1.end(), m2.end(), pub.end()]);
  });
});
