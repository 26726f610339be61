/**
 * MQTT 5 conformance, message layer: Topic Aliases both ways (sections 3.3.2.3.4, 3.2.2.3.8,
 * 3.1.2.11.5) and Subscription Identifiers (3.8.2.1.2, 3.3.2.3.8, 3.3.4). Raw bytes (client
 * packets from encodePacketV5, server packets decoded by mqtt-packet) and MQTT.js v5.
 */
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType, type Properties, type QoS, type Subscription } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { toHex, type RawClient } from '../../helpers/raw';
import { connectV5, decodeV5, lastDisconnect } from '../../helpers/v5';

type Pub = { cmd: string; topic: string; payload: Buffer; qos: number; messageId?: number; properties?: { topicAlias?: number; subscriptionIdentifier?: number | number[] } };
type Connack = { cmd: string; reasonCode: number; properties?: { topicAliasMaximum?: number; subscriptionIdentifiersAvailable?: boolean } };

function publishPacket(topic: string, payload: string, properties?: Properties, qos: QoS = 0, packetId = 0): Buffer {
  return encodePacketV5({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos, retain: false, dup: false, packetId, properties });
}

/** The Subscription Identifiers of a decoded PUBLISH, sorted (mqtt-packet gives a number or an array). */
function idsOf(p: Pub): number[] {
  const ids = p.properties?.subscriptionIdentifier;
  return ids === undefined ? [] : (Array.isArray(ids) ? [...ids] : [ids]).sort((a, b) => a - b);
}

function helpers(h: () => import('../../helpers/conformance').Harness) {
  async function client(clientId: string, properties?: Properties, cleanSession = true): Promise<{ c: RawClient; connack: Connack }> {
    const c = await h().raw();
    c.send(connectV5({ clientId, properties, cleanSession }));
    const connack = decodeV5<Connack>(await c.next());
    expect(connack.reasonCode).toBe(0);
    return { c, connack };
  }
  async function sub(c: RawClient, id: number, s: Subscription | Subscription[], properties?: Properties): Promise<number[]> {
    const subscriptions = Array.isArray(s) ? s : [s];
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions, properties }));
    const ack = decodeV5<{ cmd: string; granted: number[] }>(await c.next());
    expect(ack.cmd).toBe('suback');
    return ack.granted;
  }
  async function closedWith(c: RawClient, code: number): Promise<void> {
    await c.waitClosed();
    expect(lastDisconnect(c)).toBe(code); // a Reason String may follow the code
  }
  return { client, sub, closedWith };
}

describe('v5 Topic Aliases from the client (max-topic-alias 3)', () => {
  const h = useBroker({ limits: { 'max-topic-alias': 3 } });
  const { client, sub, closedWith } = helpers(h);

  it('v5 [MQTT-3.3.2-12] CONNACK announces Topic Alias Maximum 3; aliases 1..3 are accepted: topic + alias sets, empty topic + alias uses, topic + alias remaps; subscribers get the full topics', async () => {
    const { c: s } = await client('sub');
    await sub(s, 1, { topic: 't/#', qos: 0 });
    const { c: p, connack } = await client('pub');
    expect(connack.properties?.topicAliasMaximum).toBe(3);
    p.send(publishPacket('t/one', '1', { topicAlias: 1 }));
    p.send(publishPacket('t/three', '2', { topicAlias: 3 }));
    p.send(publishPacket('', '3', { topicAlias: 1 }));
    p.send(publishPacket('', '4', { topicAlias: 3 }));
    p.send(publishPacket('t/other', '5', { topicAlias: 1 }));
    p.send(publishPacket('', '6', { topicAlias: 1 }));
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const m = decodeV5<Pub>(await s.next());
      expect(m.properties?.topicAlias).toBeUndefined();
      got.push(`${m.topic}=${m.payload.toString()}`);
    }
    expect(got).toEqual(['t/one=1', 't/three=2', 't/one=3', 't/three=4', 't/other=5', 't/other=6']);
    await p.pingRoundTrip();
  });

  it('v5 [MQTT-3.3.2-12] an empty topic with an alias never set on this connection: DISCONNECT 0x82', async () => {
    const { c } = await client('unknown');
    c.send(publishPacket('a', 'x', { topicAlias: 1 }));
    c.send(publishPacket('', 'y', { topicAlias: 2 }));
    await closedWith(c, 0x82);
  });

  it('v5 [MQTT-3.3.2-8] Topic Alias 0: DISCONNECT 0x94', async () => {
    const { c } = await client('zero');
    c.send(publishPacket('a', 'x', { topicAlias: 0 }));
    await closedWith(c, 0x94);
  });

  it('v5 [MQTT-3.2.2-17] [MQTT-3.3.2-9] an alias above the announced maximum (4 > 3): DISCONNECT 0x94', async () => {
    const { c } = await client('above');
    const stats = h().broker.stats;
    const before = [stats.protocolErrors, stats.reasonCodesSent.disconnect[0x94]];
    c.send(publishPacket('a', 'x', { topicAlias: 4 }));
    await closedWith(c, 0x94);
    // Counted: a protocol error, and a DISCONNECT 0x94 sent (stats, metrics).
    expect([stats.protocolErrors, stats.reasonCodesSent.disconnect[0x94]]).toEqual([before[0] + 1, before[1] + 1]);
  });

  it('v5 [MQTT-3.3.2-7] inbound aliases live for one network connection: after a reconnect (Clean Start 0, same session) the old alias is unknown (0x82)', async () => {
    const { c: a } = await client('again', { sessionExpiryInterval: 60 }, false);
    a.send(publishPacket('a/b', 'x', { topicAlias: 1 }));
    await a.pingRoundTrip();
    a.send(encodePacketV5({ type: PacketType.DISCONNECT, reasonCode: 0 }));
    await a.waitClosed();
    const { c: b } = await client('again', { sessionExpiryInterval: 60 }, false);
    b.send(publishPacket('', 'y', { topicAlias: 1 }));
    await closedWith(b, 0x82);
  });

  it('v5 [MQTT-3.3.4-6] a PUBLISH from a client with a Subscription Identifier: DISCONNECT 0x82, not forwarded', async () => {
    const { c: s } = await client('watch');
    await sub(s, 1, { topic: 'sid', qos: 0 });
    const { c } = await client('bad-sid');
    c.send(publishPacket('sid', 'x', { subscriptionIdentifiers: [5] }));
    await closedWith(c, 0x82);
    await s.expectNothing();
  });
});

describe('v5 Topic Aliases from the client (max-topic-alias 0)', () => {
  const h = useBroker({ limits: { 'max-topic-alias': 0 } });
  const { client, closedWith } = helpers(h);

  it('v5 [MQTT-3.2.2-18] no Topic Alias Maximum in CONNACK; any alias is DISCONNECT 0x94', async () => {
    const { c, connack } = await client('none');
    expect(connack.properties?.topicAliasMaximum).toBeUndefined();
    c.send(publishPacket('a', 'x', { topicAlias: 1 }));
    await closedWith(c, 0x94);
  });
});

describe('v5 Topic Aliases to the client', () => {
  const h = useBroker();
  const { client, sub } = helpers(h);

  /** Publishes `topics` in order (QoS 0, payload = index) from a fresh v5 publisher; returns it. */
  async function publishAll(topics: string[], qos: QoS = 0): Promise<RawClient> {
    const { c: p } = await client(`pub-${Math.random().toString(36).slice(2, 8)}`);
    topics.forEach((t, i) => p.send(publishPacket(t, String(i), undefined, qos, qos === 0 ? 0 : i + 1)));
    return p;
  }
  async function received(c: RawClient, n: number): Promise<Pub[]> {
    const out: Pub[] = [];
    for (let i = 0; i < n; i++) out.push(decodeV5<Pub>(await c.next()));
    return out;
  }

  it('v5 [MQTT-3.1.2-26] [MQTT-3.3.2-11] client Topic Alias Maximum 2: the first two topics get aliases 1 and 2 (topic sent once, then empty), a third topic goes without; never an alias above 2', async () => {
    const { c: s } = await client('aliased', { topicAliasMaximum: 2 });
    await sub(s, 1, { topic: 'x/#', qos: 1 });
    const topics = ['x/a', 'x/b', 'x/c', 'x/a', 'x/b', 'x/c', 'x/a'];
    await publishAll(topics, 1);
    const got = await received(s, topics.length);
    expect(got.map((m) => [m.topic, m.properties?.topicAlias ?? 0, m.payload.toString()])).toEqual([
      ['x/a', 1, '0'],
      ['x/b', 2, '1'],
      ['x/c', 0, '2'],
      ['', 1, '3'],
      ['', 2, '4'],
      ['x/c', 0, '5'],
      ['', 1, '6'],
    ]);
  });

  it('v5 [MQTT-3.1.2-27] a client without Topic Alias Maximum never gets an alias (40 publishes on one topic: no property 0x23)', async () => {
    const { c: s } = await client('plain');
    await sub(s, 1, { topic: 'p', qos: 0 });
    await publishAll(new Array<string>(40).fill('p'));
    const got = await received(s, 40);
    expect(got.every((m) => m.topic === 'p' && m.properties?.topicAlias === undefined)).toBe(true);
    // The raw bytes too: topic "p", then Property Length 0.
    const raw = s.history.filter((p) => p.type === 3).map((p) => toHex(p.bytes));
    expect(raw.length).toBe(40);
    expect(raw.every((b) => /^30 0[56] 00 01 70 00 /.test(b))).toBe(true);
  });

  it('v5 [MQTT-3.3.2-7] outbound aliases live for one network connection: after a reconnect the topic is sent again with its alias', async () => {
    const { c: a } = await client('re', { topicAliasMaximum: 5, sessionExpiryInterval: 60 }, false);
    await sub(a, 1, { topic: 'r', qos: 1 });
    await publishAll(['r', 'r']);
    expect((await received(a, 2)).map((m) => [m.topic, m.properties?.topicAlias])).toEqual([['r', 1], ['', 1]]);
    a.send(encodePacketV5({ type: PacketType.DISCONNECT, reasonCode: 0 }));
    await a.waitClosed();
    const { c: b } = await client('re', { topicAliasMaximum: 5, sessionExpiryInterval: 60 }, false);
    await publishAll(['r', 'r']);
    expect((await received(b, 2)).map((m) => [m.topic, m.properties?.topicAlias])).toEqual([['r', 1], ['', 1]]);
  });

  it('v5 [MQTT-3.3.2-12] interop: MQTT.js (topicAliasMaximum 3) resolves our aliases to the full topics', async () => {
    const mqtt = await import('mqtt');
    const js = mqtt.connect(`mqtt://127.0.0.1:${h().port}`, { protocolVersion: 5, clientId: 'js', reconnectPeriod: 0, properties: { topicAliasMaximum: 3 } });
    try {
      await new Promise<void>((resolve, reject) => {
        js.once('connect', () => resolve());
        js.once('error', reject);
      });
      await js.subscribeAsync('j/#', { qos: 0 });
      const seen: [string, number | undefined][] = [];
      js.on('message', (topic, _payload, packet) => seen.push([topic, packet.properties?.topicAlias]));
      await publishAll(['j/1', 'j/2', 'j/1', 'j/2']);
      const deadline = Date.now() + 3000;
      while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toEqual([['j/1', 1], ['j/2', 2], ['j/1', 1], ['j/2', 2]]);
    } finally {
      js.end(true);
    }
  });
});

describe('v5 Topic Aliases to the client (max-outbound-topic-aliases 1)', () => {
  const h = useBroker({ limits: { 'max-outbound-topic-aliases': 1 } });
  const { client, sub } = helpers(h);

  it('v5 [MQTT-3.3.2-11] our cap bounds the aliases per connection below the client\'s maximum (client 10, cap 1: only alias 1)', async () => {
    const { c: s } = await client('capped', { topicAliasMaximum: 10 });
    await sub(s, 1, { topic: 'c/#', qos: 0 });
    const { c: p } = await client('cpub');
    for (const t of ['c/1', 'c/2', 'c/1', 'c/2']) p.send(publishPacket(t, 'x'));
    const got: [string, number][] = [];
    for (let i = 0; i < 4; i++) {
      const m = decodeV5<Pub>(await s.next());
      got.push([m.topic, m.properties?.topicAlias ?? 0]);
    }
    expect(got).toEqual([['c/1', 1], ['c/2', 0], ['', 1], ['c/2', 0]]);
  });
});

describe('v5 Subscription Identifiers', () => {
  const h = useBroker();
  const { client, sub, closedWith } = helpers(h);

  async function publisher(): Promise<RawClient> {
    return (await client('publisher')).c;
  }

  it('v5 [MQTT-3.3.4-3] [§3.3.2.3.8] CONNACK says Subscription Identifiers Available; a subscription\'s identifier goes with its deliveries (bytes 0B 07), also the largest 268435455', async () => {
    const { c: s, connack } = await client('ids');
    expect(connack.properties?.subscriptionIdentifiersAvailable).toBe(true);
    await sub(s, 1, { topic: 'a/b', qos: 0 }, { subscriptionIdentifiers: [7] });
    await sub(s, 2, { topic: 'big', qos: 0 }, { subscriptionIdentifiers: [268_435_455] });
    const p = await publisher();
    p.send(publishPacket('a/b', 'x'));
    const m = await s.next();
    expect(idsOf(decodeV5<Pub>(m))).toEqual([7]);
    expect(toHex(m.bytes)).toContain('0b 07');
    p.send(publishPacket('big', 'y'));
    expect(idsOf(decodeV5<Pub>(await s.next()))).toEqual([268_435_455]);
  });

  it('v5 [MQTT-3.3.4-4] overlapping subscriptions (a/+ id 7, a/# id 9, a/b without id): ONE copy carrying 7 and 9, at the highest QoS', async () => {
    const { c: s } = await client('overlap');
    await sub(s, 1, { topic: 'a/+', qos: 0 }, { subscriptionIdentifiers: [7] });
    await sub(s, 2, { topic: 'a/#', qos: 1 }, { subscriptionIdentifiers: [9] });
    await sub(s, 3, { topic: 'a/b', qos: 0 });
    const p = await publisher();
    p.send(publishPacket('a/b', 'x', undefined, 1, 1));
    const m = decodeV5<Pub>(await s.next());
    expect([m.topic, m.qos, idsOf(m)]).toEqual(['a/b', 1, [7, 9]]);
    await s.expectNothing();
    // Only a/# matches a/b/c: its identifier alone.
    p.send(publishPacket('a/b/c', 'y'));
    expect(idsOf(decodeV5<Pub>(await s.next()))).toEqual([9]);
  });

  it('v5 [MQTT-3.8.4-3] [§3.8.2.1.2] a re-subscribe replaces the identifier (5 -> none -> 6); an unsubscribe removes it', async () => {
    const { c: s } = await client('resub');
    const p = await publisher();
    const next = async (): Promise<number[]> => {
      p.send(publishPacket('r/1', 'x'));
      return idsOf(decodeV5<Pub>(await s.next()));
    };
    await sub(s, 1, { topic: 'r/1', qos: 0 }, { subscriptionIdentifiers: [5] });
    expect(await next()).toEqual([5]);
    await sub(s, 2, { topic: 'r/1', qos: 0 });
    expect(await next()).toEqual([]);
    await sub(s, 3, { topic: 'r/1', qos: 0 }, { subscriptionIdentifiers: [6] });
    await sub(s, 4, { topic: 'r/+', qos: 0 }, { subscriptionIdentifiers: [8] });
    expect(await next()).toEqual([6, 8]);
    s.send(encodePacketV5({ type: PacketType.UNSUBSCRIBE, packetId: 5, topics: ['r/1'] }));
    expect(decodeV5<{ cmd: string }>(await s.next()).cmd).toBe('unsuback');
    expect(await next()).toEqual([8]);
    expect(h().broker.session('resub')!.subscriptionList.map((x) => x.filter)).toEqual(['r/+']);
  });

  it('v5 [MQTT-3.3.4-3] [§3.3.4] a shared subscription\'s copy carries its own identifier; the session\'s non-shared match is another copy with its identifier', async () => {
    const { c: s } = await client('sharer');
    await sub(s, 1, { topic: '$share/g/s/#', qos: 0 }, { subscriptionIdentifiers: [11] });
    await sub(s, 2, { topic: 's/+', qos: 0 }, { subscriptionIdentifiers: [12] });
    const p = await publisher();
    p.send(publishPacket('s/1', 'x'));
    const two = [idsOf(decodeV5<Pub>(await s.next())), idsOf(decodeV5<Pub>(await s.next()))].sort((a, b) => a[0] - b[0]);
    expect(two).toEqual([[11], [12]]);
  });

  it('v5 [MQTT-3.3.4-3] retained messages sent for a new subscription carry its identifier; a queued copy sent after a reconnect carries the identifiers too', async () => {
    const p = await publisher();
    p.send(encodePacketV5({ type: PacketType.PUBLISH, topic: 'kept', payload: Buffer.from('r'), qos: 1, retain: true, dup: false, packetId: 1 }));
    expect(decodeV5<{ cmd: string }>(await p.next()).cmd).toBe('puback');
    const { c: s } = await client('later', { sessionExpiryInterval: 60 }, false);
    await sub(s, 1, { topic: 'kept', qos: 1 }, { subscriptionIdentifiers: [3] });
    const r = decodeV5<Pub>(await s.next());
    expect([r.topic, idsOf(r)]).toEqual(['kept', [3]]);
    s.send(encodePacketV5({ type: PacketType.PUBACK, packetId: r.messageId!, reasonCode: 0 }));
    s.send(encodePacketV5({ type: PacketType.DISCONNECT, reasonCode: 0 }));
    await s.waitClosed();
    p.send(publishPacket('kept', 'q', undefined, 1, 2));
    expect(decodeV5<{ cmd: string }>(await p.next()).cmd).toBe('puback');
    const { c: back } = await client('later', { sessionExpiryInterval: 60 }, false);
    const q = decodeV5<Pub>(await back.next());
    expect([q.payload.toString(), idsOf(q)]).toEqual(['q', [3]]);
  });

  it('v5 [MQTT-3.8.3-3] [MQTT-3.3.4-4] No Local: the client\'s own message goes through a/+ (id 7) only, so it carries 7 and not the No Local a/# (id 9)', async () => {
    const { c: s } = await client('self');
    await sub(s, 1, { topic: 'a/#', qos: 0, noLocal: true }, { subscriptionIdentifiers: [9] });
    await sub(s, 2, { topic: 'a/+', qos: 0 }, { subscriptionIdentifiers: [7] });
    s.send(publishPacket('a/x', 'mine'));
    expect(idsOf(decodeV5<Pub>(await s.next()))).toEqual([7]);
  });

  it('v5 [MQTT-3.1.2-26] [MQTT-3.3.4-4] alias and identifiers together: the per-receiver copy has both, and a subscriber without them shares the plain encoding', async () => {
    const { c: s } = await client('both', { topicAliasMaximum: 1 });
    await sub(s, 1, { topic: 'b', qos: 0 }, { subscriptionIdentifiers: [4] });
    const { c: plain } = await client('plainer');
    await sub(plain, 1, { topic: 'b', qos: 0 });
    const p = await publisher();
    p.send(publishPacket('b', '1'));
    p.send(publishPacket('b', '2'));
    const [m1, m2] = [decodeV5<Pub>(await s.next()), decodeV5<Pub>(await s.next())];
    expect([m1.topic, m1.properties?.topicAlias, idsOf(m1)]).toEqual(['b', 1, [4]]);
    expect([m2.topic, m2.properties?.topicAlias, idsOf(m2)]).toEqual(['', 1, [4]]);
    const n = decodeV5<Pub>(await plain.next());
    expect([n.topic, n.properties]).toEqual(['b', undefined]);
  });

  it('v5 [§3.8.2.1.2] [§3.3.2.3.8] Subscription Identifier 0 in SUBSCRIBE: DISCONNECT 0x82', async () => {
    const { c } = await client('zero-id');
    // 82 len | id 00 01 | props: len 2, 0B 00 | filter "x" options 0
    c.send(Buffer.from([0x82, 0x08, 0x00, 0x01, 0x02, 0x0b, 0x00, 0x00, 0x01, 0x78, 0x00]));
    await closedWith(c, 0x82);
  });
});
