/**
 * MQTT 5 differential tests against mqtt-packet 9 (protocolVersion 5), for random valid packets of
 * every type, both directions:
 * 1. mqtt-packet encodes, our parser decodes: the packet we started from;
 * 2. our encoder encodes, mqtt-packet decodes: the packet we started from.
 *
 * Translation between the two shapes (mqtt-packet's quirks, checklist "Node/TypeScript pitfalls"):
 * byte-valued flags come back from mqtt-packet as booleans; User Properties are an object keyed by
 * name (duplicates as arrays), so the generator groups a name's values together, which is the one
 * order both representations keep (our own order-keeping is tested in codec.v5.test.ts); a single
 * Subscription Identifier comes back as a number; `subscriptionIdentifiersAvailable` is spelled
 * with an s. mqtt-packet writes acks, DISCONNECT with a property length even when it could use a
 * short form, so this also covers our decoding of the long forms, and mqtt-packet decoding ours.
 */
import fc from 'fast-check';
import { PacketParser } from '../../src/core/protocol/parser';
import { encodePacketV5 } from '../../src/core/protocol/encoder-v5';
import { Packet, PacketType, Properties, QoS, UserProperty } from '../../src/core/protocol/packets';
import { reasonCodesFor } from '../../src/core/protocol/reason-codes';
import { toHex } from '../helpers/raw';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */
const mqtt: {
  generate(packet: any, opts?: { protocolVersion: number }): Buffer;
  parser(opts?: { protocolVersion: number }): {
    on(event: 'packet', cb: (p: any) => void): void;
    on(event: 'error', cb: (e: Error) => void): void;
    parse(buf: Buffer): number;
  };
} = require('mqtt-packet');

// ---- arbitraries ----

const char = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\uFEFF', '/', 'é', '€', '😀', '\u0001') },
);
const mqttString = (min: number, max: number) => fc.string({ unit: char, minLength: min, maxLength: max }).map((s) => s.replace(/\0/g, '0'));
const topicName = mqttString(1, 16).map((s) => s.replace(/[+#]/g, '_'));
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const flag = fc.constantFrom(0, 1);
const packetId = fc.integer({ min: 1, max: 0xffff });
const qos = fc.constantFrom<QoS>(0, 1, 2);

/**
 * User Properties with each name's values together (see the header). Names are never integer-like
 * (object key order); values are never empty (mqtt-packet's parser overwrites a name whose first
 * value is "" instead of collecting the repeat).
 */
const userProperties = fc
  .uniqueArray(fc.tuple(mqttString(0, 6).map((s) => `k${s}`), fc.array(mqttString(1, 6), { minLength: 1, maxLength: 3 })), {
    maxLength: 3,
    selector: (t) => t[0],
  })
  .map((groups) => groups.flatMap(([k, vs]) => vs.map((v) => [k, v] as UserProperty)));

const common = { reasonString: mqttString(0, 12), userProperties };
const messageProps = {
  payloadFormatIndicator: flag,
  messageExpiryInterval: u32,
  contentType: mqttString(0, 12),
  responseTopic: topicName,
  correlationData: bytes(16),
  userProperties,
};

/** Random subset of the given property arbitraries; undefined when none came out. */
function propsOf(model: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Properties | undefined> {
  return fc.record(model, { requiredKeys: [] }).map((p) => {
    const out = p as Properties;
    if (out.userProperties !== undefined && out.userProperties.length === 0) delete out.userProperties;
    return Object.keys(out).length === 0 ? undefined : out;
  });
}

const reasonCode = (type: number) => fc.constantFrom(...reasonCodesFor(type));

const connectArb: fc.Arbitrary<Packet> = fc
  .record({
    cleanSession: fc.boolean(),
    keepalive: u16,
    clientId: mqttString(0, 23),
    will: fc.option(
      fc.record({
        topic: topicName,
        payload: bytes(32),
        qos,
        retain: fc.boolean(),
        properties: propsOf({ ...messageProps, willDelayInterval: u32 }),
      }),
      { nil: null },
    ),
    username: fc.option(mqttString(0, 12), { nil: null }),
    password: fc.option(bytes(12), { nil: null }),
    properties: propsOf({
      sessionExpiryInterval: u32,
      receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
      maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
      topicAliasMaximum: u16,
      requestResponseInformation: flag,
      requestProblemInformation: flag,
      userProperties,
      authenticationMethod: mqttString(1, 8),
    }),
    authData: fc.option(bytes(8), { nil: undefined }),
  })
  .map((r) => {
    const properties = r.properties;
    // Authentication Data only with a method [unnumbered §3.1.2.11].
    if (properties?.authenticationMethod !== undefined && r.authData !== undefined) properties.authenticationData = r.authData;
    return {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 5,
      cleanSession: r.cleanSession,
      keepalive: r.keepalive,
      // mqtt-packet refuses an empty client id with Clean Start 0 (a 3.1.1 rule; v5 allows it, v5 [MQTT-3.1.3-6]).
      clientId: r.clientId === '' && !r.cleanSession ? 'c' : r.clientId,
      will: r.will,
      username: r.password !== null && r.username === null ? 'u' : r.username, // mqtt-packet needs a user name with a password
      password: r.password,
      properties,
    } as Packet;
  });

const connackArb: fc.Arbitrary<Packet> = fc
  .record({
    sessionPresent: fc.boolean(),
    reasonCode: reasonCode(PacketType.CONNACK),
    properties: propsOf({
      ...common,
      sessionExpiryInterval: u32,
      assignedClientIdentifier: mqttString(1, 12),
      serverKeepAlive: u16,
      authenticationMethod: mqttString(1, 8),
      responseInformation: mqttString(0, 8),
      serverReference: mqttString(0, 8),
      receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
      topicAliasMaximum: u16,
      maximumQoS: flag,
      retainAvailable: flag,
      maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
      wildcardSubscriptionAvailable: flag,
      subscriptionIdentifierAvailable: flag,
      sharedSubscriptionAvailable: flag,
    }),
  })
  .map((r) => ({
    type: PacketType.CONNACK,
    sessionPresent: r.sessionPresent && r.reasonCode === 0,
    returnCode: r.reasonCode,
    reasonCode: r.reasonCode,
    properties: r.properties,
  }));

const publishArb: fc.Arbitrary<Packet> = fc
  .record({
    topic: topicName,
    payload: bytes(64),
    qos,
    retain: fc.boolean(),
    dup: fc.boolean(),
    packetId,
    properties: propsOf({
      ...messageProps,
      topicAlias: fc.integer({ min: 1, max: 0xffff }),
      subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }),
    }),
  })
  .map((r) => ({ type: PacketType.PUBLISH, ...r, dup: r.qos !== 0 && r.dup, packetId: r.qos === 0 ? 0 : r.packetId }) as Packet);

const ackArb: fc.Arbitrary<Packet> = fc
  .constantFrom(PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP)
  .chain((type) =>
    fc.record({ packetId, reasonCode: reasonCode(type), properties: propsOf(common) }).map((r) => ({ type, ...r }) as Packet),
  );

const subscribeArb: fc.Arbitrary<Packet> = fc
  .record({
    packetId,
    subscriptions: fc.array(
      fc.record({
        topic: mqttString(1, 16),
        qos,
        noLocal: fc.boolean(),
        retainAsPublished: fc.boolean(),
        retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    properties: propsOf({ userProperties, subscriptionIdentifiers: fc.integer({ min: 1, max: 268_435_455 }).map((n) => [n]) }),
  })
  .map((r) => ({ type: PacketType.SUBSCRIBE, ...r }) as Packet);

const subackArb: fc.Arbitrary<Packet> = fc
  .record({ packetId, granted: fc.array(reasonCode(PacketType.SUBACK), { minLength: 1, maxLength: 5 }), properties: propsOf(common) })
  .map((r) => ({ type: PacketType.SUBACK, ...r }) as Packet);

const unsubscribeArb: fc.Arbitrary<Packet> = fc
  .record({ packetId, topics: fc.array(mqttString(1, 16), { minLength: 1, maxLength: 4 }), properties: propsOf({ userProperties }) })
  .map((r) => ({ type: PacketType.UNSUBSCRIBE, ...r }) as Packet);

const unsubackArb: fc.Arbitrary<Packet> = fc
  .record({ packetId, reasonCodes: fc.array(reasonCode(PacketType.UNSUBACK), { minLength: 1, maxLength: 5 }), properties: propsOf(common) })
  .map((r) => ({ type: PacketType.UNSUBACK, ...r }) as Packet);

// 0x8C Bad authentication method: Table 2-6 lists it for DISCONNECT, Table 3-10 (DISCONNECT's own
// list) does not; reason-codes.ts follows Table 2-6, mqtt-packet Table 3-10 and refuses it.
const disconnectArb: fc.Arbitrary<Packet> = fc
  .record({
    reasonCode: fc.constantFrom(...reasonCodesFor(PacketType.DISCONNECT).filter((c) => c !== 0x8c)),
    properties: propsOf({ ...common, sessionExpiryInterval: u32, serverReference: mqttString(0, 8) }),
  })
  .map((r) => ({ type: PacketType.DISCONNECT, ...r }) as Packet);

const authArb: fc.Arbitrary<Packet> = fc
  .record({
    reasonCode: reasonCode(PacketType.AUTH),
    method: mqttString(1, 8),
    data: fc.option(bytes(16), { nil: undefined }),
    rest: propsOf(common),
  })
  .map((r) => {
    const properties: Properties = { ...r.rest, authenticationMethod: r.method };
    if (r.data !== undefined) properties.authenticationData = r.data;
    return { type: PacketType.AUTH, reasonCode: r.reasonCode, properties } as Packet;
  });

const pingArb: fc.Arbitrary<Packet> = fc.constantFrom(PacketType.PINGREQ, PacketType.PINGRESP).map((type) => ({ type }) as Packet);

const anyPacket = fc.oneof(
  connackArb,
  publishArb,
  ackArb,
  subscribeArb,
  subackArb,
  unsubscribeArb,
  unsubackArb,
  disconnectArb,
  authArb,
  pingArb,
);

// ---- translation ----

const FLAGS: (keyof Properties)[] = [
  'payloadFormatIndicator',
  'requestProblemInformation',
  'requestResponseInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'sharedSubscriptionAvailable',
];

function propsToMp(p: Properties | undefined, single = false): any {
  if (p === undefined) return undefined;
  const out: any = { ...p };
  if (p.userProperties !== undefined) {
    const obj: Record<string, string | string[]> = {};
    for (const [k, v] of p.userProperties) {
      const prev = obj[k];
      obj[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    out.userProperties = obj;
  }
  if (p.subscriptionIdentifiers !== undefined) {
    delete out.subscriptionIdentifiers;
    out.subscriptionIdentifier = single || p.subscriptionIdentifiers.length === 1 ? p.subscriptionIdentifiers[0] : p.subscriptionIdentifiers;
  }
  if (p.subscriptionIdentifierAvailable !== undefined) {
    delete out.subscriptionIdentifierAvailable;
    out.subscriptionIdentifiersAvailable = p.subscriptionIdentifierAvailable === 1;
  }
  for (const f of FLAGS) if (p[f] !== undefined) out[f] = p[f] === 1;
  return out;
}

function propsFromMp(p: any): Properties | undefined {
  if (p === undefined || p === null || Object.keys(p).length === 0) return undefined;
  const out: any = { ...p };
  if (p.userProperties !== undefined) {
    out.userProperties = Object.entries(p.userProperties as Record<string, string | string[]>).flatMap(([k, v]) =>
      (Array.isArray(v) ? v : [v]).map((x) => [k, x]),
    );
  }
  if (p.subscriptionIdentifier !== undefined) {
    delete out.subscriptionIdentifier;
    out.subscriptionIdentifiers = Array.isArray(p.subscriptionIdentifier) ? p.subscriptionIdentifier : [p.subscriptionIdentifier];
  }
  if (p.subscriptionIdentifiersAvailable !== undefined) {
    delete out.subscriptionIdentifiersAvailable;
    out.subscriptionIdentifierAvailable = Number(p.subscriptionIdentifiersAvailable);
  }
  for (const f of FLAGS) if (p[f] !== undefined) out[f] = Number(p[f]);
  return out;
}

const CMD = ['', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'];

function toMp(p: Packet): any {
  const cmd = CMD[p.type];
  switch (p.type) {
    case PacketType.CONNECT:
      return {
        cmd,
        protocolId: 'MQTT',
        protocolVersion: 5,
        clean: p.cleanSession,
        keepalive: p.keepalive,
        clientId: p.clientId,
        will: p.will === null ? undefined : { ...p.will, properties: propsToMp(p.will.properties) },
        username: p.username ?? undefined,
        password: p.password ?? undefined,
        properties: propsToMp(p.properties),
      };
    case PacketType.CONNACK:
      return { cmd, sessionPresent: p.sessionPresent, reasonCode: p.reasonCode, properties: propsToMp(p.properties) };
    case PacketType.PUBLISH:
      return { cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.qos === 0 ? undefined : p.packetId, properties: propsToMp(p.properties) };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return { cmd, messageId: p.packetId, reasonCode: p.reasonCode, properties: propsToMp(p.properties) };
    case PacketType.UNSUBACK:
      return { cmd, messageId: p.packetId, granted: p.reasonCodes, properties: propsToMp(p.properties) };
    case PacketType.SUBSCRIBE:
      return {
        cmd,
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling })),
        properties: propsToMp(p.properties, true),
      };
    case PacketType.SUBACK:
      return { cmd, messageId: p.packetId, granted: p.granted, properties: propsToMp(p.properties) };
    case PacketType.UNSUBSCRIBE:
      return { cmd, messageId: p.packetId, unsubscriptions: p.topics, properties: propsToMp(p.properties) };
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return { cmd, reasonCode: p.reasonCode, properties: propsToMp(p.properties) };
    default:
      return { cmd };
  }
}

function fromMp(m: any): Packet {
  const type = CMD.indexOf(m.cmd) as PacketType;
  const properties = propsFromMp(m.properties);
  switch (type) {
    case PacketType.CONNECT:
      return {
        type,
        protocolName: m.protocolId,
        protocolLevel: m.protocolVersion,
        cleanSession: m.clean,
        keepalive: m.keepalive,
        clientId: m.clientId,
        will: m.will ? { topic: m.will.topic, payload: Buffer.from(m.will.payload), qos: m.will.qos, retain: m.will.retain, properties: propsFromMp(m.will.properties) } : null,
        username: m.username ?? null,
        password: m.password ?? null,
        properties,
      };
    case PacketType.CONNACK:
      return { type, sessionPresent: m.sessionPresent, returnCode: m.reasonCode, reasonCode: m.reasonCode, properties };
    case PacketType.PUBLISH:
      return { type, topic: m.topic, payload: Buffer.from(m.payload), qos: m.qos, retain: m.retain, dup: m.dup, packetId: m.qos === 0 ? 0 : m.messageId, properties };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return { type, packetId: m.messageId, reasonCode: m.reasonCode ?? 0, properties };
    case PacketType.UNSUBACK:
      return { type, packetId: m.messageId, reasonCodes: m.granted, properties };
    case PacketType.SUBSCRIBE:
      return {
        type,
        packetId: m.messageId,
        subscriptions: m.subscriptions.map((s: any) => ({ topic: s.topic, qos: s.qos, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh })),
        properties,
      };
    case PacketType.SUBACK:
      return { type, packetId: m.messageId, granted: m.granted, properties };
    case PacketType.UNSUBSCRIBE:
      return { type, packetId: m.messageId, topics: m.unsubscriptions, properties };
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return { type, reasonCode: m.reasonCode ?? 0, properties } as Packet;
    default:
      return { type } as Packet;
  }
}

function mqttParse(bytes: Buffer): any[] {
  const parser = mqtt.parser({ protocolVersion: 5 });
  const out: any[] = [];
  parser.on('packet', (p) => out.push(p));
  parser.on('error', (e) => {
    throw e;
  });
  parser.parse(bytes);
  return out;
}

function ourParse(bytes: Buffer, level: 4 | 5): Packet[] {
  const parser = new PacketParser();
  parser.protocolLevel = level;
  parser.push(bytes);
  const out: Packet[] = [];
  let p;
  while ((p = parser.next()) !== null) out.push(p);
  expect(parser.bufferedBytes).toBe(0);
  return out;
}

/** toEqual-friendly: Buffers compared by content, absent and undefined alike. */
const plain = (p: Packet) => JSON.parse(JSON.stringify(p));

const RUNS = 400;

describe('MQTT 5 differential against mqtt-packet', () => {
  it('mqtt-packet encodes, we decode: the same packet (every type but CONNECT)', () => {
    fc.assert(
      fc.property(anyPacket, (packet) => {
        const bytes = mqtt.generate(toMp(packet), { protocolVersion: 5 });
        const [ours] = ourParse(bytes, 5);
        expect(plain(ours)).toEqual(plain(packet));
      }),
      { numRuns: RUNS },
    );
  });

  it('we encode, mqtt-packet decodes: the same packet (every type but CONNECT)', () => {
    fc.assert(
      fc.property(anyPacket, (packet) => {
        const bytes = encodePacketV5(packet);
        const [theirs] = mqttParse(bytes);
        expect(plain(fromMp(theirs))).toEqual(plain(packet));
        // and our own parser agrees
        expect(plain(ourParse(bytes, 5)[0])).toEqual(plain(packet));
      }),
      { numRuns: RUNS },
    );
  });

  it('v5 [MQTT-3.1.2-2] CONNECT both ways; the parser starts at level 4 and the CONNECT switches it', () => {
    fc.assert(
      fc.property(connectArb, (packet) => {
        const theirs = mqtt.generate(toMp(packet), { protocolVersion: 5 });
        expect(plain(ourParse(theirs, 4)[0])).toEqual(plain(packet));
        const ours = encodePacketV5(packet);
        expect(plain(fromMp(mqttParse(ours)[0]))).toEqual(plain(packet));
      }),
      { numRuns: RUNS },
    );
  });

  it('a stream of random packets generated by mqtt-packet, fed byte by byte after a v5 CONNECT', () => {
    fc.assert(
      fc.property(connectArb, fc.array(anyPacket, { maxLength: 8 }), (connect, packets) => {
        const stream = Buffer.concat([connect, ...packets].map((p) => mqtt.generate(toMp(p), { protocolVersion: 5 })));
        const parser = new PacketParser();
        const got: Packet[] = [];
        for (let i = 0; i < stream.length; i++) {
          parser.push(stream.subarray(i, i + 1));
          let p;
          while ((p = parser.next()) !== null) got.push(p);
        }
        expect(got.map(plain)).toEqual([connect, ...packets].map(plain));
      }),
      { numRuns: 100 },
    );
  });

  it('mqtt-packet and we agree on the bytes of the short-form-free packets (CONNACK, SUBACK, UNSUBACK, SUBSCRIBE, UNSUBSCRIBE) without properties', () => {
    const cases: Packet[] = [
      { type: PacketType.CONNACK, sessionPresent: true, returnCode: 0, reasonCode: 0 },
      { type: PacketType.SUBACK, packetId: 3, granted: [0, 1, 0x80] },
      { type: PacketType.UNSUBACK, packetId: 3, reasonCodes: [0, 0x11] },
      { type: PacketType.SUBSCRIBE, packetId: 3, subscriptions: [{ topic: 'a/#', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2 }] },
      { type: PacketType.UNSUBSCRIBE, packetId: 3, topics: ['a', 'b'] },
      { type: PacketType.DISCONNECT, reasonCode: 0x8e },
    ];
    for (const c of cases) expect(toHex(encodePacketV5(c))).toBe(toHex(mqtt.generate(toMp(c), { protocolVersion: 5 })));
  });
});
