/**
 * Differential tests against mqtt-packet (the codec of aedes and MQTT.js).
 *
 * 1. Valid packets of every type (3.1.1 rules respected) encoded by mqtt-packet are decoded by our
 *    parser into the same packet that mqtt-packet's own parser yields; our encoder produces the
 *    same bytes, and mqtt-packet decodes our bytes into the same packet.
 * 2. Mutated, invalid packets: our parser throws ProtocolError (or returns null for a mere
 *    truncation of the stream).
 *
 * Where mqtt-packet 9 is more lenient than we are (it decodes these without error; the checklist's
 * Node pitfalls say the same), all verified by the mutations below or the parser tables:
 * - ill-formed UTF-8 in any string (it substitutes U+FFFD) [MQTT-1.5.3-1]; U+0000 in strings [MQTT-1.5.3-2];
 * - '+'/'#' in a PUBLISH topic or Will Topic [MQTT-3.3.2-2, MQTT-4.7.1-1]; empty topic names and
 *   filters [MQTT-4.7.3-1];
 * - packet id 0 in PUBLISH QoS>0, PUBACK/PUBREC/PUBREL/PUBCOMP, SUBSCRIBE, UNSUBSCRIBE [MQTT-2.3.1-1];
 * - password flag without user name flag [MQTT-3.1.2-22]; bytes left after the last CONNECT field
 *   [MQTT-3.1.2-18/20];
 * - SUBSCRIBE/UNSUBSCRIBE holding only a packet id [MQTT-3.8.3-3, MQTT-3.10.3-2];
 * - Remaining Length other than 2 for PUBACK/PUBREC/PUBREL/PUBCOMP/CONNACK and other than 0 for
 *   PINGREQ/PINGRESP/DISCONNECT (extra bytes ignored) [unnumbered §3.4.1 etc.];
 * - CONNACK reserved return codes 6..255 and Session Present with a refusal [MQTT-3.2.2-4];
 * - SUBACK without return codes.
 * It is stricter in one place: it refuses a CONNECT with a protocol level other than 3, 4, 5
 * instead of letting the broker answer CONNACK 0x01 [MQTT-3.1.2-2].
 */
import fc from 'fast-check';
import { PacketParser } from '../../src/core/protocol/parser';
import { encodePacket } from '../../src/core/protocol/encoder';
import { ProtocolError } from '../../src/core/protocol/errors';
import {
  ConnectPacket,
  Packet,
  PacketType,
  PublishPacket,
  QoS,
  SubscribePacket,
  UnsubscribePacket,
} from '../../src/core/protocol/packets';
import { chunked, field, frame, toHex, unframe } from '../helpers/raw';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */
interface MqttPacketLib {
  generate(packet: any, opts?: { protocolVersion: number }): Buffer;
  parser(opts?: { protocolVersion: number }): {
    on(event: 'packet', cb: (p: any) => void): void;
    on(event: 'error', cb: (e: Error) => void): void;
    parse(buf: Buffer): number;
  };
}
const mqtt: MqttPacketLib = require('mqtt-packet');

// ---------------------------------------------------------------------------------------------
// Arbitraries: valid MQTT 3.1.1 packets in our shape.
// ---------------------------------------------------------------------------------------------

const char = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\uFEFF', '/', '$', '\u0001', '\u007f', 'é', '€', '😀', '\uFFFF') },
);
/** Valid MQTT string: well-formed (no lone surrogates: 'binary' never makes them), no U+0000. */
const mqttString = (minLength: number, maxLength: number) =>
  fc.string({ unit: char, minLength, maxLength }).map((s) => s.replace(/\0/g, '0'));
const topicName = mqttString(1, 20).map((s) => s.replace(/[+#]/g, '_'));
const topicFilter = fc.oneof(
  { weight: 4, arbitrary: mqttString(1, 20) },
  { weight: 1, arbitrary: fc.constantFrom('#', '+', 'a/+/b', 'a/#', '+/+', '/', 'a/#/b', '$SYS/#') },
);
const payload = fc
  .oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 100, maxLength: 20000 }) },
  )
  .map((u) => Buffer.from(u));
const packetId = fc.integer({ min: 1, max: 65535 });
const qos = fc.constantFrom<QoS>(0, 1, 2);

const connectArb: fc.Arbitrary<ConnectPacket> = fc
  .record({
    protocol: fc.constantFrom(['MQTT', 4] as const, ['MQIsdp', 3] as const),
    cleanSession: fc.boolean(),
    keepalive: fc.integer({ min: 0, max: 65535 }),
    clientId: mqttString(0, 23),
    will: fc.option(fc.record({ topic: topicName, payload, qos, retain: fc.boolean() })),
    username: fc.option(mqttString(0, 20)),
    password: fc.option(fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u))),
  })
  .map(({ protocol, cleanSession, clientId, username, password, ...rest }) => {
    // mqtt-packet refuses an empty client id with cleanSession 0, or at all before 3.1.1.
    if (clientId === '' && (protocol[1] === 3 || !cleanSession)) clientId = 'id';
    // [MQTT-3.1.2-22] a password needs a user name.
    if (password !== null && username === null) username = 'user';
    return {
      type: PacketType.CONNECT,
      protocolName: protocol[0],
      protocolLevel: protocol[1],
      cleanSession,
      clientId,
      username,
      password,
      ...rest,
    };
  });

const publishArb: fc.Arbitrary<PublishPacket> = fc
  .record({ topic: topicName, payload, qos, retain: fc.boolean(), dup: fc.boolean(), packetId })
  .map((p) => ({
    type: PacketType.PUBLISH,
    topic: p.topic,
    payload: p.payload,
    qos: p.qos,
    retain: p.retain,
    dup: p.qos === 0 ? false : p.dup, // [MQTT-3.3.1-2]
    packetId: p.qos === 0 ? 0 : p.packetId, // [MQTT-2.3.1-5]
  }));

const subscribeArb: fc.Arbitrary<SubscribePacket> = fc
  .record({ packetId, subscriptions: fc.array(fc.record({ topic: topicFilter, qos }), { minLength: 1, maxLength: 8 }) })
  .map((p) => ({ type: PacketType.SUBSCRIBE, ...p }));

const unsubscribeArb: fc.Arbitrary<UnsubscribePacket> = fc
  .record({ packetId, topics: fc.array(topicFilter, { minLength: 1, maxLength: 8 }) })
  .map((p) => ({ type: PacketType.UNSUBSCRIBE, ...p }));

const packetArb: fc.Arbitrary<Packet> = fc.oneof(
  connectArb,
  fc
    .record({ sessionPresent: fc.boolean(), returnCode: fc.integer({ min: 0, max: 5 }) })
    .map((p) => ({ type: PacketType.CONNACK as const, sessionPresent: p.returnCode === 0 && p.sessionPresent, returnCode: p.returnCode })),
  { weight: 3, arbitrary: publishArb },
  fc
    .record({
      type: fc.constantFrom(PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP, PacketType.UNSUBACK),
      packetId,
    })
    .map((p) => p as Packet),
  subscribeArb,
  fc
    .record({ packetId, granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 10 }) })
    .map((p) => ({ type: PacketType.SUBACK as const, ...p })),
  unsubscribeArb,
  fc.constantFrom(PacketType.PINGREQ, PacketType.PINGRESP, PacketType.DISCONNECT).map((type) => ({ type }) as Packet),
);

// ---------------------------------------------------------------------------------------------
// Field-name mapping between our shapes and mqtt-packet's.
// ---------------------------------------------------------------------------------------------

const CMD: Record<number, string> = {
  [PacketType.CONNECT]: 'connect',
  [PacketType.CONNACK]: 'connack',
  [PacketType.PUBLISH]: 'publish',
  [PacketType.PUBACK]: 'puback',
  [PacketType.PUBREC]: 'pubrec',
  [PacketType.PUBREL]: 'pubrel',
  [PacketType.PUBCOMP]: 'pubcomp',
  [PacketType.SUBSCRIBE]: 'subscribe',
  [PacketType.SUBACK]: 'suback',
  [PacketType.UNSUBSCRIBE]: 'unsubscribe',
  [PacketType.UNSUBACK]: 'unsuback',
  [PacketType.PINGREQ]: 'pingreq',
  [PacketType.PINGRESP]: 'pingresp',
  [PacketType.DISCONNECT]: 'disconnect',
};
const TYPE: Record<string, PacketType> = Object.fromEntries(Object.entries(CMD).map(([k, v]) => [v, Number(k)]));

function toMqttPacket(p: Packet): any {
  const cmd = CMD[p.type];
  switch (p.type) {
    case PacketType.CONNECT:
      return {
        cmd,
        protocolId: p.protocolName,
        protocolVersion: p.protocolLevel,
        clean: p.cleanSession,
        keepalive: p.keepalive,
        clientId: p.clientId,
        will: p.will === null ? undefined : { ...p.will },
        username: p.username ?? undefined,
        password: p.password ?? undefined,
      };
    case PacketType.CONNACK:
      return { cmd, sessionPresent: p.sessionPresent, returnCode: p.returnCode };
    case PacketType.PUBLISH:
      return { cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.qos === 0 ? undefined : p.packetId };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      return { cmd, messageId: p.packetId };
    case PacketType.SUBSCRIBE:
      return { cmd, messageId: p.packetId, subscriptions: p.subscriptions.map((s) => ({ ...s })) };
    case PacketType.SUBACK:
      return { cmd, messageId: p.packetId, granted: [...p.granted] };
    case PacketType.UNSUBSCRIBE:
      return { cmd, messageId: p.packetId, unsubscriptions: [...p.topics] };
    default:
      return { cmd };
  }
}

function fromMqttPacket(m: any): Packet {
  const type = TYPE[m.cmd];
  switch (type) {
    case PacketType.CONNECT:
      return {
        type,
        protocolName: m.protocolId,
        protocolLevel: m.protocolVersion,
        cleanSession: m.clean,
        keepalive: m.keepalive,
        clientId: m.clientId,
        will: m.will ? { topic: m.will.topic, payload: Buffer.from(m.will.payload), qos: m.will.qos, retain: m.will.retain } : null,
        username: m.username ?? null,
        password: m.password === undefined ? null : Buffer.from(m.password),
      };
    case PacketType.CONNACK:
      return { type, sessionPresent: m.sessionPresent, returnCode: m.returnCode };
    case PacketType.PUBLISH:
      return { type, topic: m.topic, payload: Buffer.from(m.payload), qos: m.qos, retain: m.retain, dup: m.dup, packetId: m.messageId ?? 0 };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      return { type, packetId: m.messageId };
    case PacketType.SUBSCRIBE:
      return { type, packetId: m.messageId, subscriptions: m.subscriptions.map((s: any) => ({ topic: s.topic, qos: s.qos })) };
    case PacketType.SUBACK:
      return { type, packetId: m.messageId, granted: m.granted };
    case PacketType.UNSUBSCRIBE:
      return { type, packetId: m.messageId, topics: m.unsubscriptions };
    default:
      return { type } as Packet;
  }
}

function mqttParse(bytes: Buffer): { packets: Packet[]; errors: Error[] } {
  const parser = mqtt.parser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p) => packets.push(fromMqttPacket(p)));
  parser.on('error', (e) => errors.push(e));
  parser.parse(bytes);
  return { packets, errors };
}

/** Our parser over the given chunks; a thrown error is returned, not rethrown. */
function ourParse(chunks: Buffer[]): { packets: Packet[]; error: unknown; buffered: number } {
  const parser = new PacketParser();
  const packets: Packet[] = [];
  try {
    for (const c of chunks) {
      parser.push(c);
      let p: Packet | null;
      while ((p = parser.next()) !== null) packets.push(p);
    }
  } catch (error) {
    return { packets, error, buffered: parser.bufferedBytes };
  }
  return { packets, error: null, buffered: parser.bufferedBytes };
}

const generate = (p: Packet) => mqtt.generate(toMqttPacket(p), { protocolVersion: 4 });

// ---------------------------------------------------------------------------------------------

describe('differential: valid packets', () => {
  it('[MQTT-1.5.3-1][MQTT-2.2.2-1] mqtt-packet bytes -> our parser gives the same packet as mqtt-packet\'s parser', () => {
    fc.assert(
      fc.property(packetArb, (packet) => {
        const bytes = generate(packet);
        const ours = ourParse([bytes]);
        expect(ours.error).toBeNull();
        expect(ours.packets).toEqual([packet]);
        const theirs = mqttParse(bytes);
        expect(theirs.errors).toEqual([]);
        expect(theirs.packets).toEqual(ours.packets);
      }),
      { numRuns: 1500 },
    );
  });

  it('[MQTT-2.2.2-1] our encoder writes exactly the bytes mqtt-packet writes, and mqtt-packet reads them back', () => {
    fc.assert(
      fc.property(packetArb, (packet) => {
        const ours = encodePacket(packet);
        expect(toHex(ours)).toBe(toHex(generate(packet)));
        const theirs = mqttParse(ours);
        expect(theirs.errors).toEqual([]);
        expect(theirs.packets).toEqual([packet]);
      }),
      { numRuns: 1500 },
    );
  });

  it('streams of many packets in random chunks decode the same with both parsers', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (packets, cuts) => {
        // Only one CONNECT, first, as on a real connection (mqtt-packet switches protocol version on it).
        const stream = packets.filter((p) => p.type !== PacketType.CONNECT);
        if (stream.length === 0) return;
        const bytes = Buffer.concat(stream.map(generate));
        const ours = ourParse(chunked(bytes, cuts));
        expect(ours.error).toBeNull();
        expect(ours.packets).toEqual(stream);
        expect(ours.buffered).toBe(0);
        expect(mqttParse(bytes).packets).toEqual(stream);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Mutations. Each takes a valid packet (as our shape and mqtt-packet's bytes) and returns invalid
// bytes plus the rule our parser must report (undefined = an unnumbered rule), or null when the
// mutation does not apply to that packet.
// ---------------------------------------------------------------------------------------------

interface Mutant {
  bytes: Buffer;
  rules: Array<string | undefined>;
}

const FLAG_RULES = ['MQTT-2.2.2-2', 'MQTT-3.6.1-1', 'MQTT-3.8.1-1', 'MQTT-3.10.1-1', 'MQTT-3.14.1-1'];

/** Offset in the body of the CONNECT client id field. */
function connectClientIdOffset(p: ConnectPacket): number {
  return 2 + Buffer.byteLength(p.protocolName) + 1 + 1 + 2;
}

/** Offset in the body of the first string with at least one byte, or -1. */
function firstStringOffset(p: Packet): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      return 0;
    case PacketType.SUBSCRIBE:
    case PacketType.UNSUBSCRIBE:
      return 2;
    case PacketType.CONNECT:
      return p.clientId.length > 0 ? connectClientIdOffset(p) : -1;
    default:
      return -1;
  }
}

function withByte(bytes: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = value;
  return copy;
}

const mutations: Record<string, (p: Packet, bytes: Buffer, k: number) => Mutant | null> = {
  '[MQTT-2.2.2-2][MQTT-3.6.1-1][MQTT-3.8.1-1][MQTT-3.10.1-1][MQTT-3.14.1-1] flip a reserved header flag bit': (p, bytes, k) => {
    if (p.type === PacketType.PUBLISH) return null;
    return { bytes: withByte(bytes, 0, bytes[0] ^ (1 << (k % 4))), rules: FLAG_RULES };
  },
  '[MQTT-3.3.1-4] PUBLISH QoS 3': (p, bytes) =>
    p.type === PacketType.PUBLISH ? { bytes: withByte(bytes, 0, bytes[0] | 0x06), rules: ['MQTT-3.3.1-4'] } : null,
  '[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP': (p, bytes) =>
    p.type === PacketType.PUBLISH && p.qos === 0 ? { bytes: withByte(bytes, 0, bytes[0] | 0x08), rules: ['MQTT-3.3.1-2'] } : null,
  '[unnumbered §2.2.3] 5-byte Remaining Length': (_p, bytes) => {
    const { firstByte, body } = unframe(bytes);
    return { bytes: Buffer.concat([Buffer.from([firstByte, 0xff, 0xff, 0xff, 0xff, 0x01]), body]), rules: [undefined] };
  },
  '[MQTT-2.3.1-1] packet id 0': (p, bytes) => {
    const { headerLength } = unframe(bytes);
    let at: number;
    switch (p.type) {
      case PacketType.PUBLISH:
        if (p.qos === 0) return null;
        at = headerLength + 2 + Buffer.byteLength(p.topic);
        break;
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
      case PacketType.UNSUBACK:
      case PacketType.SUBSCRIBE:
      case PacketType.SUBACK:
      case PacketType.UNSUBSCRIBE:
        at = headerLength;
        break;
      default:
        return null;
    }
    return { bytes: withByte(withByte(bytes, at, 0), at + 1, 0), rules: ['MQTT-2.3.1-1'] };
  },
  '[MQTT-1.5.3-1] invalid UTF-8 byte FF in a string': (p, bytes) => {
    const off = firstStringOffset(p);
    if (off < 0) return null;
    return { bytes: withByte(bytes, unframe(bytes).headerLength + off + 2, 0xff), rules: ['MQTT-1.5.3-1'] };
  },
  '[MQTT-1.5.3-1] encoded surrogate ED A0 80 in a string': (p) => {
    // Built by hand: Buffer.from('\uD800') would give EF BF BD.
    switch (p.type) {
      case PacketType.PUBLISH:
        return { bytes: frame(0x30, field(Buffer.from([0x61, 0xed, 0xa0, 0x80])), p.payload), rules: ['MQTT-1.5.3-1'] };
      case PacketType.UNSUBSCRIBE:
        return { bytes: frame(0xa2, [0, 1], field(Buffer.from([0xed, 0xa0, 0x80]))), rules: ['MQTT-1.5.3-1'] };
      default:
        return null;
    }
  },
  '[MQTT-1.5.3-2] U+0000 in a string': (p, bytes) => {
    const off = firstStringOffset(p);
    if (off < 0) return null;
    return { bytes: withByte(bytes, unframe(bytes).headerLength + off + 2, 0x00), rules: ['MQTT-1.5.3-2'] };
  },
  '[MQTT-3.3.2-2][MQTT-4.7.1-1] wildcard in a Topic Name': (p, _bytes, k) => {
    const wildcard = ['+', '#', 'a/+', 'a/#', '+/b'][k % 5];
    if (p.type === PacketType.PUBLISH) {
      return { bytes: generate({ ...p, topic: p.topic + wildcard }), rules: ['MQTT-3.3.2-2'] };
    }
    if (p.type === PacketType.CONNECT && p.will !== null) {
      return { bytes: generate({ ...p, will: { ...p.will, topic: wildcard } }), rules: ['MQTT-4.7.1-1'] };
    }
    return null;
  },
  '[MQTT-4.7.3-1] empty topic name or filter': (p) => {
    switch (p.type) {
      case PacketType.PUBLISH:
        return { bytes: frame(0x30, field(''), p.payload), rules: ['MQTT-4.7.3-1'] };
      case PacketType.SUBSCRIBE:
        return { bytes: generate({ ...p, subscriptions: [...p.subscriptions, { topic: '', qos: 0 }] }), rules: ['MQTT-4.7.3-1'] };
      case PacketType.UNSUBSCRIBE:
        return { bytes: generate({ ...p, topics: ['', ...p.topics] }), rules: ['MQTT-4.7.3-1'] };
      default:
        return null;
    }
  },
  '[MQTT-3.1.2-22] password without user name': (p) => {
    if (p.type !== PacketType.CONNECT) return null;
    const { body } = unframe(generate({ ...p, username: null, password: null }));
    const flagsAt = 2 + Buffer.byteLength(p.protocolName) + 1;
    const mutated = Buffer.concat([body, field('secret')]);
    mutated[flagsAt] |= 0x40;
    return { bytes: frame(0x10, mutated), rules: ['MQTT-3.1.2-22'] };
  },
  '[MQTT-3.1.2-3] CONNECT reserved flag': (p, bytes) => {
    if (p.type !== PacketType.CONNECT) return null;
    const at = unframe(bytes).headerLength + 2 + Buffer.byteLength(p.protocolName) + 1;
    return { bytes: withByte(bytes, at, bytes[at] | 0x01), rules: ['MQTT-3.1.2-3'] };
  },
  '[MQTT-3.8.3-4] SUBSCRIBE requested-QoS byte with reserved bits or QoS 3': (p, bytes, k) => {
    if (p.type !== PacketType.SUBSCRIBE) return null;
    const at = unframe(bytes).headerLength + 2 + 2 + Buffer.byteLength(p.subscriptions[0].topic);
    return { bytes: withByte(bytes, at, [3, 4, 0x40, 0x80, 0xff, 0x43][k % 6]), rules: ['MQTT-3.8.3-4'] };
  },
  '[MQTT-3.8.3-3][MQTT-3.10.3-2] SUBSCRIBE/UNSUBSCRIBE with no filter': (p) => {
    if (p.type === PacketType.SUBSCRIBE) return { bytes: frame(0x82, [p.packetId >> 8, p.packetId & 0xff]), rules: ['MQTT-3.8.3-3'] };
    if (p.type === PacketType.UNSUBSCRIBE) return { bytes: frame(0xa2, [p.packetId >> 8, p.packetId & 0xff]), rules: ['MQTT-3.10.3-2'] };
    return null;
  },
  '[MQTT-3.1.2-18][MQTT-3.1.2-20] trailing byte after the last field': (p, bytes) => {
    if (p.type === PacketType.PUBLISH) return null; // the payload runs to the end: nothing can trail
    const { firstByte, body } = unframe(bytes);
    // 0x55 is not a SUBACK return code either.
    return { bytes: frame(firstByte, body, [0x55]), rules: ['MQTT-3.1.2-18', 'MQTT-3.1.2-20', 'MQTT-3.1.3-1', 'MQTT-3.8.3-1', 'MQTT-3.10.3-1', 'MQTT-3.9.3-2', undefined] };
  },
  '[unnumbered] body truncated inside a mandatory field (Remaining Length adjusted)': (p, bytes, k) => {
    const { firstByte, body } = unframe(bytes);
    let mandatory: number; // body bytes that no valid packet of this shape can do without
    switch (p.type) {
      case PacketType.PUBLISH:
        mandatory = 2 + Buffer.byteLength(p.topic) + (p.qos === 0 ? 0 : 2);
        break;
      case PacketType.SUBSCRIBE:
        mandatory = 2 + 2 + Buffer.byteLength(p.subscriptions[0].topic) + 1;
        break;
      case PacketType.UNSUBSCRIBE:
        mandatory = 2 + 2 + Buffer.byteLength(p.topics[0]);
        break;
      case PacketType.SUBACK:
        mandatory = 3;
        break;
      default:
        mandatory = body.length; // every field of the other types is mandatory
    }
    if (mandatory === 0) return null;
    return { bytes: frame(firstByte, body.subarray(0, k % mandatory)), rules: [] };
  },
};

/** Every type, with more of the types that carry strings (most mutations target those). */
const mutationBase: fc.Arbitrary<Packet> = fc.oneof(packetArb, connectArb, publishArb, subscribeArb, unsubscribeArb);

describe('differential: mutated invalid packets', () => {
  it.each(Object.keys(mutations))('%s: our parser throws ProtocolError', (name) => {
    const mutate = mutations[name];
    let applied = 0;
    fc.assert(
      fc.property(mutationBase, fc.nat(), fc.array(fc.nat(), { maxLength: 8 }), (packet, k, cuts) => {
        const mutant = mutate(packet, generate(packet), k);
        if (mutant === null) return;
        applied++;
        const whole = ourParse([mutant.bytes]);
        expect(whole.packets).toEqual([]);
        if (!(whole.error instanceof ProtocolError)) {
          throw new Error(`not refused: ${toHex(mutant.bytes)} -> ${String(whole.error)}`);
        }
        if (mutant.rules.length > 0) expect(mutant.rules).toContain(whole.error.rule);
        // Same verdict in any chunking.
        const split = ourParse(chunked(mutant.bytes, cuts));
        expect(split.error).toBeInstanceOf(ProtocolError);
        expect((split.error as ProtocolError).rule).toBe(whole.error.rule);
      }),
      { numRuns: 300 },
    );
    expect(applied).toBeGreaterThan(0);
  });

  it('a truncated stream (bytes still to come) returns null, never throws', () => {
    fc.assert(
      fc.property(packetArb, fc.nat(), (packet, k) => {
        const bytes = generate(packet);
        const prefix = bytes.subarray(0, k % bytes.length);
        const ours = ourParse([prefix]);
        expect(ours.error).toBeNull();
        expect(ours.packets).toEqual([]);
        expect(ours.buffered).toBe(prefix.length);
      }),
      { numRuns: 500 },
    );
  });
});
