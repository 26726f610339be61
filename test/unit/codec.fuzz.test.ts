/**
 * Fuzzing the parser: random bytes, random framed bodies and random mutations of valid packets,
 * fed in random chunks. The parser must
 * - never throw anything but ProtocolError (then stay dead),
 * - never hang (every packet consumes bytes; a drain loop ends),
 * - never return a packet that breaks the rules it enforces (checked here independently),
 * - give the same packets and the same error whatever the chunking.
 */
import fc from 'fast-check';
import { PacketParser } from '../../src/core/protocol/parser';
import { ProtocolError } from '../../src/core/protocol/errors';
import { Packet, PacketType } from '../../src/core/protocol/packets';
import { chunked, connectHeader, field, frame, toHex, u16 } from '../helpers/raw';

function validString(s: unknown): boolean {
  // Well-formed (a lone surrogate would not survive the UTF-8 round trip) and no U+0000.
  return typeof s === 'string' && !s.includes('\0') && Buffer.from(s, 'utf8').toString('utf8') === s;
}
const validId = (id: unknown) => typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 65535;
const validQos = (q: unknown) => q === 0 || q === 1 || q === 2;
const topicName = (t: unknown) => validString(t) && (t as string).length > 0 && !/[+#]/.test(t as string);

/** Throws with a description when `p` breaks a rule the parser promises to enforce. */
function checkPacket(p: Packet): void {
  const fail = (why: string) => {
    throw new Error(`parser returned an invalid packet (${why}): ${JSON.stringify(p)}`);
  };
  const keys = Object.keys(p).sort().join(',');
  switch (p.type) {
    case PacketType.CONNECT: {
      if (keys !== 'cleanSession,clientId,keepalive,password,protocolLevel,protocolName,type,username,will') fail('shape');
      if (p.protocolName !== 'MQTT' && p.protocolName !== 'MQIsdp') fail('protocol name');
      const supported = (p.protocolName === 'MQTT' && p.protocolLevel === 4) || (p.protocolName === 'MQIsdp' && p.protocolLevel === 3);
      if (!supported) {
        if (!p.cleanSession || p.keepalive !== 0 || p.clientId !== '' || p.will !== null || p.username !== null || p.password !== null) fail('unsupported level with data');
        return;
      }
      if (!validString(p.clientId)) fail('client id');
      if (!(Number.isInteger(p.keepalive) && p.keepalive >= 0 && p.keepalive <= 65535)) fail('keepalive');
      if (p.will !== null) {
        if (!topicName(p.will.topic) || !validQos(p.will.qos) || !Buffer.isBuffer(p.will.payload)) fail('will');
      }
      if (p.username !== null && !validString(p.username)) fail('user name');
      if (p.password !== null && (p.username === null || !Buffer.isBuffer(p.password))) fail('password');
      return;
    }
    case PacketType.CONNACK:
      if (keys !== 'returnCode,sessionPresent,type') fail('shape');
      if (!(p.returnCode >= 0 && p.returnCode <= 5) || (p.sessionPresent && p.returnCode !== 0)) fail('connack');
      return;
    case PacketType.PUBLISH:
      if (keys !== 'dup,packetId,payload,qos,retain,topic,type') fail('shape');
      if (!topicName(p.topic)) fail('topic');
      if (!validQos(p.qos) || !Buffer.isBuffer(p.payload)) fail('qos/payload');
      if (p.qos === 0 ? p.dup || p.packetId !== 0 : !validId(p.packetId)) fail('dup/packet id');
      return;
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      if (keys !== 'packetId,type' || !validId(p.packetId)) fail('ack');
      return;
    case PacketType.SUBSCRIBE:
      if (keys !== 'packetId,subscriptions,type' || !validId(p.packetId) || p.subscriptions.length === 0) fail('subscribe');
      for (const s of p.subscriptions) if (!validString(s.topic) || s.topic.length === 0 || !validQos(s.qos)) fail('subscription');
      return;
    case PacketType.SUBACK:
      if (keys !== 'granted,packetId,type' || !validId(p.packetId) || p.granted.length === 0) fail('suback');
      for (const g of p.granted) if (g !== 0 && g !== 1 && g !== 2 && g !== 0x80) fail('suback code');
      return;
    case PacketType.UNSUBSCRIBE:
      if (keys !== 'packetId,topics,type' || !validId(p.packetId) || p.topics.length === 0) fail('unsubscribe');
      for (const t of p.topics) if (!validString(t) || t.length === 0) fail('unsubscribe filter');
      return;
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
    case PacketType.DISCONNECT:
      if (keys !== 'type') fail('shape');
      return;
    default:
      fail('type');
  }
}

interface Outcome {
  packets: Packet[];
  error: string | null;
}

/** Feeds `chunks`, drains after each; checks every invariant on the way. */
function run(chunks: Buffer[]): Outcome {
  const parser = new PacketParser({ maxPacketSize: 1 << 20 });
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    // A packet is at least 2 bytes: more iterations than that means a hang.
    for (let guard = parser.bufferedBytes / 2 + 1; ; guard--) {
      if (guard < 0) throw new Error('parser does not make progress');
      const before = parser.bufferedBytes;
      let p: Packet | null;
      try {
        p = parser.next();
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        // Dead from now on, with the same error. (Plain checks, not expect(): this loop is hot.)
        let again: unknown = null;
        try {
          parser.next();
        } catch (e) {
          again = e;
        }
        if (again !== err) throw new Error('a dead parser must throw the same error again');
        return { packets, error: `${err.rule} ${err.message}` };
      }
      if (p === null) {
        if (parser.bufferedBytes !== before) throw new Error('next() returned null but consumed bytes');
        break;
      }
      checkPacket(p);
      if (before - parser.bufferedBytes < 2) throw new Error('a packet consumed fewer than 2 bytes');
      packets.push(p);
    }
  }
  return { packets, error: null };
}

/** The parser on `bytes` whole, in random chunks and byte by byte: same outcome. */
function checkStream(bytes: Buffer, cuts: number[]): Outcome {
  const whole = run([bytes]);
  const split = run(chunked(bytes, cuts));
  if (JSON.stringify(split) !== JSON.stringify(whole)) {
    throw new Error(`chunking changed the outcome for ${toHex(bytes)}`);
  }
  if (bytes.length <= 64) {
    const bytewise = run([...bytes].map((x) => Buffer.from([x])));
    if (JSON.stringify(bytewise) !== JSON.stringify(whole)) throw new Error(`byte-wise feeding changed the outcome for ${toHex(bytes)}`);
  }
  return whole;
}

// ---- valid packets built by hand (independent of both encoders) ----

const str = fc.string({ unit: fc.constantFrom('a', 'b', '/', '+', '#', 'é', '\uFEFF', '$', ' '), maxLength: 8 });
const id = fc.integer({ min: 0, max: 3 }).map((n) => [1, 2, 0x1234, 0xffff][n]);
const validPacketBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(str, fc.integer({ min: 0, max: 2 }), id, fc.uint8Array({ maxLength: 20 }), fc.boolean()).map(([t, q, i, pl, r]) =>
    frame(0x30 | (q << 1) | (r ? 1 : 0), field(t.replace(/[+#]/g, '') || 't'), q ? u16(i) : [], pl),
  ),
  fc.tuple(id, fc.array(fc.tuple(str, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 3 })).map(([i, subs]) =>
    frame(0x82, u16(i), ...subs.flatMap(([t, q]) => [field(t || 'x'), [q]])),
  ),
  fc.tuple(id, fc.array(str, { minLength: 1, maxLength: 3 })).map(([i, ts]) => frame(0xa2, u16(i), ...ts.map((t) => field(t || 'x')))),
  fc.tuple(fc.constantFrom(0x40, 0x50, 0x62, 0x70, 0xb0), id).map(([b0, i]) => frame(b0, u16(i))),
  fc.tuple(id, fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 4 })).map(([i, g]) => frame(0x90, u16(i), g)),
  fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 })).map(([sp, rc]) => frame(0x20, [sp && rc === 0 ? 1 : 0, rc])),
  fc.constantFrom(0xc0, 0xd0, 0xe0).map((b0) => frame(b0)),
  fc.tuple(str, fc.option(fc.tuple(str, fc.uint8Array({ maxLength: 5 }), fc.integer({ min: 0, max: 2 }), fc.boolean())), fc.option(str), fc.option(fc.uint8Array({ maxLength: 5 }))).map(
    ([cid, will, user, pass]) => {
      const u = pass !== null && user === null ? 'u' : user;
      const flags = 0x02 | (will ? 0x04 | (will[2] << 3) | (will[3] ? 0x20 : 0) : 0) | (u !== null ? 0x80 : 0) | (pass !== null ? 0x40 : 0);
      const parts = [connectHeader(flags, 30), field(cid)];
      if (will) parts.push(field(will[0].replace(/[+#]/g, '') || 'w'), field(will[1]));
      if (u !== null) parts.push(field(u));
      if (pass !== null) parts.push(field(pass));
      return frame(0x10, ...parts);
    },
  ),
);

type Op = { kind: 'set' | 'insert' | 'delete'; at: number; value: number };
/** Byte values that hit rules (NUL, wildcards, UTF-8 lead/continuation bytes, flag bits) more often than chance. */
const byteValue = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x23, 0x2b, 0x7f, 0x80, 0xc0, 0xed, 0xff));
const op: fc.Arbitrary<Op> = fc.record({ kind: fc.constantFrom('set', 'insert', 'delete'), at: fc.nat(), value: byteValue }) as fc.Arbitrary<Op>;

function mutate(bytes: Buffer, ops: Op[]): Buffer {
  const a = [...bytes];
  for (const o of ops) {
    if (a.length === 0) break;
    const at = o.at % a.length;
    if (o.kind === 'set') a[at] = o.value;
    else if (o.kind === 'insert') a.splice(at, 0, o.value);
    else a.splice(at, 1);
  }
  return Buffer.from(a);
}

// -------------------------------------------------------------------------------------------

describe('fuzz: PacketParser', () => {
  it('[MQTT-1.5.3-1][MQTT-2.2.2-2] random bytes in random chunks: only ProtocolError, no hang, no invalid packet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        checkStream(Buffer.from(bytes), cuts);
      }),
      { numRuns: 10000 },
    );
  });

  it('random bodies behind every possible first byte, with a matching Remaining Length', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (packets, cuts) => {
          checkStream(Buffer.concat(packets.map(([b0, body]) => frame(b0, body))), cuts);
        },
      ),
      { numRuns: 10000 },
    );
  });

  it('random strings behind a valid PUBLISH/SUBSCRIBE/CONNECT header: strict UTF-8 or ProtocolError', () => {
    const anyString = fc.uint8Array({ maxLength: 12 });
    fc.assert(
      fc.property(anyString, anyString, fc.array(fc.nat(), { maxLength: 6 }), (s1, s2, cuts) => {
        checkStream(
          Buffer.concat([
            frame(0x10, connectHeader(0xc6, 5), field(s1), field(s2), field('m'), field(s1), field('p')),
            frame(0x32, field(s1), u16(7), s2),
            frame(0x82, u16(9), field(s1), [1], field(s2), [2]),
            frame(0xa2, u16(9), field(s2)),
          ]),
          cuts,
        );
      }),
      { numRuns: 5000 },
    );
  });

  it('random mutations of streams of valid packets: only ProtocolError, no hang, no invalid packet', () => {
    fc.assert(
      fc.property(
        fc.array(validPacketBytes, { minLength: 1, maxLength: 8 }),
        fc.array(op, { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (packets, ops, cuts) => {
          checkStream(mutate(Buffer.concat(packets), ops), cuts);
        },
      ),
      { numRuns: 10000 },
    );
  });

  it('the valid-packet generator itself yields only valid packets (sanity check of the fuzz corpus)', () => {
    fc.assert(
      fc.property(fc.array(validPacketBytes, { minLength: 1, maxLength: 8 }), (packets) => {
        const outcome = run([Buffer.concat(packets)]);
        expect(outcome.error).toBeNull();
        expect(outcome.packets).toHaveLength(packets.length);
      }),
      { numRuns: 500 },
    );
  });
});
