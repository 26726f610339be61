/**
 * Fuzzing the MQTT 5 parser, the property decoder above all: random bytes, random property sections
 * inside every packet type that has one, and mutations of valid v5 packets, fed in random chunks.
 * The parser must
 * - never throw anything but ProtocolError, with a Reason Code of the DISCONNECT list (then stay dead),
 * - never hang (every packet consumes bytes; a drain loop ends),
 * - never return properties that break the rules it enforces (checked here independently),
 * - give the same packets and the same error whatever the chunking.
 */
import fc from 'fast-check';
import { PacketParser } from '../../src/core/protocol/parser';
import { ProtocolError } from '../../src/core/protocol/errors';
import { Packet, PacketType, Properties } from '../../src/core/protocol/packets';
import { isPropertyAllowed, WILL_PROPERTIES } from '../../src/core/protocol/properties';
import { isReasonCodeAllowed } from '../../src/core/protocol/reason-codes';
import { chunked, field, frame, remainingLengthBytes, u16 } from '../helpers/raw';

/* eslint-disable @typescript-eslint/no-require-imports */
const mqtt: { generate(packet: unknown, opts?: { protocolVersion: number }): Buffer } = require('mqtt-packet');

const ID: Record<keyof Properties, number> = {
  payloadFormatIndicator: 0x01,
  messageExpiryInterval: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  subscriptionIdentifiers: 0x0b,
  sessionExpiryInterval: 0x11,
  assignedClientIdentifier: 0x12,
  serverKeepAlive: 0x13,
  authenticationMethod: 0x15,
  authenticationData: 0x16,
  requestProblemInformation: 0x17,
  willDelayInterval: 0x18,
  requestResponseInformation: 0x19,
  responseInformation: 0x1a,
  serverReference: 0x1c,
  reasonString: 0x1f,
  receiveMaximum: 0x21,
  topicAliasMaximum: 0x22,
  topicAlias: 0x23,
  maximumQoS: 0x24,
  retainAvailable: 0x25,
  userProperties: 0x26,
  maximumPacketSize: 0x27,
  wildcardSubscriptionAvailable: 0x28,
  subscriptionIdentifierAvailable: 0x29,
  sharedSubscriptionAvailable: 0x2a,
};
const FLAGS = new Set(['payloadFormatIndicator', 'requestProblemInformation', 'requestResponseInformation', 'maximumQoS', 'retainAvailable', 'wildcardSubscriptionAvailable', 'subscriptionIdentifierAvailable', 'sharedSubscriptionAvailable']);

const validString = (s: unknown) => typeof s === 'string' && !s.includes('\0') && Buffer.from(s, 'utf8').toString('utf8') === s;

/** Throws when decoded properties break a rule the decoder promises to enforce. */
function checkProperties(p: Properties | undefined, context: number): void {
  if (p === undefined) return;
  const fail = (why: string) => {
    throw new Error(`invalid properties (${why}) in context ${context}: ${JSON.stringify(p)}`);
  };
  if (Object.keys(p).length === 0) fail('empty object instead of undefined');
  for (const [name, value] of Object.entries(p) as [keyof Properties, unknown][]) {
    if (!isPropertyAllowed(ID[name], context)) fail(`${name} not allowed`);
    if (FLAGS.has(name) && value !== 0 && value !== 1) fail(`${name} flag`);
    if ((name === 'receiveMaximum' || name === 'maximumPacketSize') && value === 0) fail(`${name} 0`);
    if (typeof value === 'string' && !validString(value)) fail(`${name} string`);
    if (name === 'responseTopic' && /[+#]/.test(value as string)) fail('wildcard in Response Topic');
  }
  if (p.subscriptionIdentifiers !== undefined) {
    if (p.subscriptionIdentifiers.some((id) => !(id >= 1 && id <= 268_435_455))) fail('subscription identifier range');
    if (context !== PacketType.PUBLISH && p.subscriptionIdentifiers.length !== 1) fail('several subscription identifiers');
  }
  if (p.userProperties !== undefined && p.userProperties.some(([k, v]) => !validString(k) || !validString(v))) fail('user property');
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) fail('data without method');
}

/**
 * `level` is the parser's level when it decoded `p`. Before a v5 CONNECT the level is 3.1.1's, so a
 * mutated CONNECT that became another packet decodes in its 3.1.1 form (a DISCONNECT or an ack
 * without a Reason Code): right for the codec, and the dispatch closes the connection on any first
 * packet that is not CONNECT [MQTT-3.1.0-1]. Only v5 packets must carry a v5 Reason Code.
 */
function checkPacket(p: Packet, level: number): void {
  const code = (type: number, c: number | undefined) => {
    if (c === undefined && level < 5) return;
    if (c === undefined || !isReasonCodeAllowed(type, c)) throw new Error(`reason code ${c} on ${type}`);
  };
  switch (p.type) {
    case PacketType.CONNECT:
      checkProperties(p.properties, PacketType.CONNECT);
      if (p.will !== null) checkProperties(p.will.properties, WILL_PROPERTIES);
      return;
    case PacketType.PUBLISH:
      checkProperties(p.properties, PacketType.PUBLISH);
      if (p.topic === '' && p.properties?.topicAlias === undefined) throw new Error('empty topic without alias');
      if (/[+#]/.test(p.topic)) throw new Error('wildcard topic');
      return;
    case PacketType.UNSUBACK:
      checkProperties(p.properties, p.type);
      if (level === 5 && (p.reasonCodes === undefined || p.reasonCodes.length === 0)) throw new Error('no reason codes');
      for (const c of p.reasonCodes ?? []) code(p.type, c);
      return;
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      checkProperties(p.properties, p.type);
      code(p.type, p.reasonCode);
      return;
    case PacketType.CONNACK:
      checkProperties(p.properties, p.type);
      code(p.type, p.reasonCode);
      return;
    case PacketType.SUBACK:
      checkProperties(p.properties, p.type);
      for (const c of p.granted) code(p.type, c);
      return;
    case PacketType.SUBSCRIBE:
      checkProperties(p.properties, p.type);
      for (const s of p.subscriptions) {
        if (s.topic === '' || s.qos > 2 || s.retainHandling === undefined || s.retainHandling > 2) throw new Error('subscription');
      }
      return;
    case PacketType.UNSUBSCRIBE:
      checkProperties(p.properties, p.type);
      return;
    default:
      return;
  }
}

interface Outcome {
  packets: string[];
  error: string | null;
}

/** Feeds chunks to a parser (at `level`) and drains it; bounded, so a hang fails the test. */
function run(chunks: Buffer[], level: 4 | 5): Outcome {
  const parser = new PacketParser();
  parser.protocolLevel = level;
  const packets: string[] = [];
  let total = 0;
  for (const c of chunks) total += c.length;
  let steps = 0;
  try {
    for (const chunk of chunks) {
      parser.push(chunk);
      let p: Packet | null;
      let level = parser.protocolLevel;
      while ((p = parser.next()) !== null) {
        if (++steps > total + chunks.length + 1) throw new Error('parser does not make progress');
        checkPacket(p, level);
        level = parser.protocolLevel;
        packets.push(JSON.stringify(p));
      }
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    // A code a v5 DISCONNECT (or CONNACK, for a CONNECT) may carry.
    if (!isReasonCodeAllowed(PacketType.DISCONNECT, err.reasonCode)) throw new Error(`reason code ${err.reasonCode} not sendable`);
    // Dead from now on: the same error, whatever comes next.
    parser.push(Buffer.from([0xc0, 0x00]));
    expect(() => parser.next()).toThrow(err);
    return { packets, error: err.message };
  }
  return { packets, error: null };
}

const cuts = fc.array(fc.nat(), { maxLength: 8 });

/** A properties section from random bytes: either a correct Property Length or a random one. */
const propertySection = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.concat([remainingLengthBytes(u.length), Buffer.from(u)])),
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  // Random sequences of well-formed properties (any id, right-size values): duplicates and wrong
  // contexts are the interesting part.
  fc
    .array(
      fc.tuple(fc.constantFrom(...Object.values(ID), 0x00, 0x04, 0x7f), fc.uint8Array({ minLength: 0, maxLength: 6 })),
      { maxLength: 6 },
    )
    .map((list) => {
      const body = Buffer.concat(list.map(([id, value]) => Buffer.concat([Buffer.from([id]), u16(value.length), Buffer.from(value)])));
      return Buffer.concat([remainingLengthBytes(body.length), body]);
    }),
  fc
    .array(fc.constantFrom(...Object.values(ID)).chain((id) => fc.tuple(fc.constant(id), fc.constantFrom(0, 1, 2, 0xff))), { maxLength: 6 })
    .map((list) => {
      const body = Buffer.concat(list.map(([id, v]) => Buffer.from([id, v, v, v, v])));
      return Buffer.concat([remainingLengthBytes(body.length), body]);
    }),
);

/** Every packet type that carries properties, around a fuzzed properties section. */
const withProperties = fc.tuple(fc.integer({ min: 0, max: 10 }), propertySection).map(([kind, props]) => {
  switch (kind) {
    case 0:
      return frame(0x30, field('t'), props, 'aa');
    case 1:
      return frame(0x32, field(''), u16(1), props);
    case 2:
      return frame(0x40, u16(1), [0x10], props);
    case 3:
      return frame(0x62, u16(1), [0x92], props);
    case 4:
      return frame(0x20, [0, 0], props);
    case 5:
      return frame(0x82, u16(1), props, field('a/#'), [0x15]);
    case 6:
      return frame(0x90, u16(1), props, [0, 1]);
    case 7:
      return frame(0xa2, u16(1), props, field('a'));
    case 8:
      return frame(0xb0, u16(1), props, [0x11]);
    case 9:
      return frame(0xe0, [0x04], props);
    default:
      return frame(0xf0, [0x18], props);
  }
});

const connectWithProperties = fc.tuple(propertySection, propertySection).map(([props, willProps]) =>
  frame(0x10, field('MQTT'), [5, 0x0e], u16(30), props, field('c'), willProps, field('w'), field('p')),
);

/** Valid v5 packets from mqtt-packet, as seeds for mutation. */
const SEEDS: Buffer[] = [
  { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 5, properties: { contentType: 'c', userProperties: { k: ['1', '2'] }, subscriptionIdentifier: [1, 300], topicAlias: 2, messageExpiryInterval: 9, correlationData: Buffer.from([1]) } },
  { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0 },
  { cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { reasonString: 'r' } },
  { cmd: 'pubrel', messageId: 1, reasonCode: 0x92 },
  { cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a/+', qos: 2, nl: true, rap: true, rh: 1 }], properties: { subscriptionIdentifier: 7 } },
  { cmd: 'suback', messageId: 2, granted: [0, 0x80], properties: { reasonString: 'r' } },
  { cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['a'], properties: { userProperties: { a: 'b' } } },
  { cmd: 'unsuback', messageId: 3, granted: [0x11] },
  { cmd: 'connack', sessionPresent: true, reasonCode: 0, properties: { assignedClientIdentifier: 'id', maximumQoS: 1, receiveMaximum: 5, topicAliasMaximum: 3 } },
  { cmd: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'bye', serverReference: 's' } },
  { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'm', authenticationData: Buffer.from([1]) } },
].map((p) => mqtt.generate(p, { protocolVersion: 5 }));
const CONNECT_SEED = mqtt.generate(
  {
    cmd: 'connect',
    protocolVersion: 5,
    clientId: 'c',
    clean: true,
    keepalive: 10,
    username: 'u',
    password: Buffer.from('p'),
    will: { topic: 'w', payload: Buffer.from('p'), qos: 1, retain: true, properties: { willDelayInterval: 3, contentType: 'x' } },
    properties: { sessionExpiryInterval: 9, receiveMaximum: 3, authenticationMethod: 'm', userProperties: { a: 'b' } },
  },
  { protocolVersion: 5 },
);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
);

function mutate(bytes: Buffer, mutations: { kind: 'flip' | 'insert' | 'delete'; at: number; value: number }[]): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const at = m.at % (out.length + 1);
    if (m.kind === 'flip' && at < out.length) out[at] = m.value;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from([m.value]), out.subarray(at)]);
    else if (m.kind === 'delete' && at < out.length) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}

function sameInAnyChunking(bytes: Buffer, cutPoints: number[], level: 4 | 5): void {
  const whole = run([bytes], level);
  expect(run(chunked(bytes, cutPoints), level)).toEqual(whole);
  const bytewise: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) bytewise.push(bytes.subarray(i, i + 1));
  expect(run(bytewise, level)).toEqual(whole);
}

describe('MQTT 5 parser fuzzing', () => {
  it('random bytes: only ProtocolError, then dead; same outcome in any chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), cuts, (u, c) => sameInAnyChunking(Buffer.from(u), c, 5)),
      { numRuns: 1500 },
    );
  });

  it('random property sections in every packet type with properties: decoded properties obey every rule, or a ProtocolError', () => {
    fc.assert(fc.property(withProperties, cuts, (bytes, c) => sameInAnyChunking(bytes, c, 5)), { numRuns: 3000 });
  });

  it('random CONNECT and Will property sections (the parser starts at level 4)', () => {
    fc.assert(fc.property(connectWithProperties, cuts, (bytes, c) => sameInAnyChunking(bytes, c, 4)), { numRuns: 1500 });
  });

  it('mutated valid v5 packets (mqtt-packet seeds), several per stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...SEEDS), { minLength: 1, maxLength: 4 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        cuts,
        (seeds, mutations, c) => sameInAnyChunking(mutate(Buffer.concat(seeds), mutations), c, 5),
      ),
      { numRuns: 2000 },
    );
  });

  it('mutated v5 CONNECT followed by valid packets', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), cuts, (mutations, c) =>
        sameInAnyChunking(Buffer.concat([mutate(CONNECT_SEED, mutations), SEEDS[0], SEEDS[2]]), c, 4),
      ),
      { numRuns: 1500 },
    );
  });

  it('the unmutated seeds all decode', () => {
    expect(run([Buffer.concat(SEEDS)], 5)).toMatchObject({ error: null });
    expect(run([SEEDS.length ? Buffer.concat(SEEDS) : Buffer.alloc(0)], 5).packets).toHaveLength(SEEDS.length);
    expect(run([CONNECT_SEED], 4)).toMatchObject({ error: null, packets: [expect.stringContaining('"protocolLevel":5')] });
  });
});
