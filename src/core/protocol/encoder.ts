/**
 * MQTT 3.1.1 encoders (MQTT 5: encoder-v5.ts; encodePacket serves both).
 *
 * Server packets follow chapters 2-3 byte for byte [MQTT-2.2.2-1]: reserved flag nibbles as in
 * Table 2.2 (0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE), Remaining Length minimal.
 * Constant packets are cached buffers shared by every connection: never mutate a returned buffer
 * from PINGRESP, encodeConnack or EncodedPublish#qos0().
 *
 * Invalid arguments (an id outside 1..65535, a SUBACK code outside 0,1,2,0x80, a string longer
 * than 65535 bytes, ...) are programming errors of the caller, not protocol errors of the peer:
 * they throw RangeError.
 */
import {
  ConnectPacket,
  Packet,
  PacketType,
  PublishPacket,
  SubscribePacket,
  UnsubscribePacket,
} from './packets';
import { MAX_REMAINING_LENGTH } from './parser';
import { encodeConnackV5, encodePacketV5 } from './encoder-v5';
import { isReasonCodeAllowed, ReasonCode, reasonCodesFor, toV3ConnackReturnCode } from './reason-codes';

/** PINGRESP, shared [MQTT-3.12.4-1]. */
export const PINGRESP: Buffer = Buffer.from([0xd0, 0x00]);
const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);
const DISCONNECT: Buffer = Buffer.from([0xe0, 0x00]);

/**
 * CONNACK buffers by Connect Reason Code, built once at load for every code CONNACK may carry:
 * index `code * 2 + sessionPresent`. For MQTT 3.1 / 3.1.1 the code is folded into its return
 * code (toV3ConnackReturnCode), `null` where 3.1.1 has none (the client gets no CONNACK); for
 * MQTT 5 the CONNACK carries the code itself, without properties. Session Present is 0 with any
 * code but Success [MQTT-3.2.2-4] (v5 [MQTT-3.2.2-6]).
 */
const CONNACK_V3: (Buffer | null)[] = new Array<Buffer | null>(512).fill(null);
const CONNACK_V5: (Buffer | null)[] = new Array<Buffer | null>(512).fill(null);
for (const code of reasonCodesFor(PacketType.CONNACK)) {
  const v3 = toV3ConnackReturnCode(code);
  if (v3 !== null) {
    CONNACK_V3[code * 2] = Buffer.from([0x20, 0x02, 0x00, v3]);
    CONNACK_V3[code * 2 + 1] = code === ReasonCode.Success ? Buffer.from([0x20, 0x02, 0x01, 0x00]) : CONNACK_V3[code * 2];
  }
  CONNACK_V5[code * 2] = encodeConnackV5(false, code);
  CONNACK_V5[code * 2 + 1] = code === ReasonCode.Success ? encodeConnackV5(true, code) : CONNACK_V5[code * 2];
}

/**
 * The CONNACK for a Connect Reason Code at a connection's protocol level, from a cached buffer
 * (no allocation): 3.1.1's return code for levels 3 and 4, the Reason Code itself for 5.
 * `null` when a 3.1.1 client is sent no CONNACK for this code (a fault in the CONNECT itself
 * [MQTT-3.1.4-1]). RangeError for a code CONNACK cannot carry (a caller bug).
 */
export function encodeConnackFor(sessionPresent: boolean, code: ReasonCode, protocolLevel: number): Buffer | null {
  if (!isReasonCodeAllowed(PacketType.CONNACK, code)) throw new RangeError(`reason code 0x${(code as number).toString(16)} is not a CONNACK reason code`);
  const i = code * 2 + (sessionPresent ? 1 : 0);
  return protocolLevel === 5 ? CONNACK_V5[i] : CONNACK_V3[i];
}

/** The Reason Code each 3.1.1 return code (0..5) stands for, so both take the same buffers. */
const V3_RETURN_CODE_REASON: readonly ReasonCode[] = [
  ReasonCode.Success,
  ReasonCode.UnsupportedProtocolVersion,
  ReasonCode.ClientIdentifierNotValid,
  ReasonCode.ServerUnavailable,
  ReasonCode.BadUserNameOrPassword,
  ReasonCode.NotAuthorized,
];

/**
 * A 3.1.1 CONNACK from its wire return code (the codec, clients, tests; the broker speaks in
 * Reason Codes through encodeConnackFor). Session Present is forced to 0 when the return code is
 * not 0 [MQTT-3.2.2-4]. Return codes 6..255 are reserved [unnumbered §3.2.2.3]: RangeError.
 */
export function encodeConnack(sessionPresent: boolean, returnCode: number): Buffer {
  const code = V3_RETURN_CODE_REASON[returnCode];
  if (code === undefined) throw new RangeError(`CONNACK return code must be 0..5, got ${returnCode}`);
  return encodeConnackFor(sessionPresent, code, 4)!;
}

type AckType = PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP | PacketType.UNSUBACK;

function checkId(packetId: number): void {
  // [MQTT-2.3.1-1] never send packet id 0.
  if (!(packetId >= 1 && packetId <= 0xffff && (packetId | 0) === packetId)) {
    throw new RangeError(`packet id must be an integer in 1..65535, got ${packetId}`);
  }
}

function ackHeader(type: number): number {
  switch (type) {
    case PacketType.PUBACK:
      return 0x40;
    case PacketType.PUBREC:
      return 0x50;
    case PacketType.PUBREL:
      return 0x62; // flags 0010 [MQTT-3.6.1-1]
    case PacketType.PUBCOMP:
      return 0x70;
    case PacketType.UNSUBACK:
      return 0xb0;
    default:
      throw new RangeError(`not an acknowledgement type: ${type}`);
  }
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK carrying `packetId` [MQTT-2.3.1-6/7]. */
export function encodeAck(type: AckType, packetId: number): Buffer {
  const header = ackHeader(type);
  checkId(packetId);
  const buf = Buffer.allocUnsafe(4);
  buf[0] = header;
  buf[1] = 2;
  buf[2] = packetId >>> 8;
  buf[3] = packetId & 0xff;
  return buf;
}

/**
 * PUBACKs of packet ids 1..PUBACK_CACHED_IDS are cached: every QoS 1 PUBLISH we receive is
 * answered by one, and most clients recycle low ids (their in-flight window), so the ack costs no
 * allocation (issue 11/14: a 4-byte buffer per ack). Views into one slab, made on first use of an
 * id: at most 16 KiB of bytes and one view per id ever used. Higher ids are encoded per ack.
 */
const PUBACK_CACHED_IDS = 4096;
let pubackSlab: Buffer | null = null;
const pubacks: (Buffer | undefined)[] = [];

/** PUBACK (3.1.1, or MQTT 5 with Reason Code 0 left out) for `packetId`; a shared buffer for low ids. */
export function encodePuback(packetId: number): Buffer {
  if (packetId < 1 || packetId > PUBACK_CACHED_IDS) return encodeAck(PacketType.PUBACK, packetId);
  const cached = pubacks[packetId];
  if (cached !== undefined) return cached;
  const slab = (pubackSlab ??= Buffer.alloc(4 * PUBACK_CACHED_IDS));
  const at = 4 * (packetId - 1);
  slab[at] = 0x40;
  slab[at + 1] = 2;
  slab[at + 2] = packetId >>> 8;
  slab[at + 3] = packetId & 0xff;
  return (pubacks[packetId] = slab.subarray(at, at + 4));
}

/** SUBACK; one code per filter, in request order [MQTT-3.9.3-1]; only 0, 1, 2, 0x80 [MQTT-3.9.3-2]. */
export function encodeSuback(packetId: number, granted: number[]): Buffer {
  checkId(packetId);
  const n = granted.length;
  if (n === 0) throw new RangeError('SUBACK needs at least one return code');
  const remaining = 2 + n;
  const buf = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  buf[0] = 0x90;
  let p = writeRemainingLength(buf, 1, remaining);
  buf[p++] = packetId >>> 8;
  buf[p++] = packetId & 0xff;
  for (let i = 0; i < n; i++) {
    const code = granted[i];
    if (code !== 0 && code !== 1 && code !== 2 && code !== 0x80) {
      throw new RangeError(`SUBACK return code must be 0, 1, 2 or 0x80, got ${code} [MQTT-3.9.3-2]`);
    }
    buf[p++] = code;
  }
  return buf;
}

// ---- helpers ----

function remainingLengthSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n <= MAX_REMAINING_LENGTH) return 4;
  throw new RangeError(`packet too large: Remaining Length ${n} exceeds ${MAX_REMAINING_LENGTH}`);
}

/** Writes `n` as a Remaining Length at `p`; returns the offset after it. */
function writeRemainingLength(buf: Buffer, p: number, n: number): number {
  do {
    let digit = n & 0x7f;
    n >>>= 7;
    if (n > 0) digit |= 0x80;
    buf[p++] = digit;
  } while (n > 0);
  return p;
}

function stringLength(s: string, what: string): number {
  const len = Buffer.byteLength(s, 'utf8');
  if (len > 0xffff) throw new RangeError(`${what} is ${len} bytes long; the maximum is 65535`);
  return len;
}

function binaryLength(b: Buffer, what: string): number {
  if (b.length > 0xffff) throw new RangeError(`${what} is ${b.length} bytes long; the maximum is 65535`);
  return b.length;
}

/** Writes a length-prefixed UTF-8 string whose byte length is `len`; returns the offset after it. */
function writeString(buf: Buffer, p: number, s: string, len: number): number {
  buf[p] = len >>> 8;
  buf[p + 1] = len & 0xff;
  if (len > 0) buf.write(s, p + 2, len, 'utf8');
  return p + 2 + len;
}

function writeBinary(buf: Buffer, p: number, b: Buffer): number {
  const len = b.length;
  buf[p] = len >>> 8;
  buf[p + 1] = len & 0xff;
  b.copy(buf, p + 2);
  return p + 2 + len;
}

function checkQos(qos: number, what: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`${what} must be 0, 1 or 2, got ${qos}`);
}

// ---- PUBLISH ----

/**
 * A PUBLISH encoded once and written to many subscribers [STYLE 5].
 * The topic is encoded once; QoS 0 receivers share one buffer, QoS 1/2 receivers each get a copy
 * of one template with QoS, DUP and packet id patched in (the id differs per receiver, and a
 * buffer handed to a socket must not change while it is queued).
 */
const EMPTY_PAYLOAD = Buffer.alloc(0);

export class EncodedPublish {
  private qos0Bytes: Buffer | null = null;
  private template: Buffer | null = null;
  /** Offset of the packet id in the QoS>0 template. */
  private idOffset = 0;
  /** The topic's UTF-8 length (the MQTT 5 encoding of the same message reuses it). */
  readonly topicLength: number;

  constructor(readonly topic: string, payload: Buffer, readonly retain: boolean) {
    this.topicLength = stringLength(topic, 'PUBLISH topic');
    this.payloadBytes = payload;
  }

  /** The payload; a view into a received chunk until adoptPayload swaps in a copy. */
  get payload(): Buffer {
    return this.payloadBytes;
  }

  private payloadBytes: Buffer = EMPTY_PAYLOAD;

  /**
   * Swap the payload for a copy with the same bytes (Message.compact): the bytes built so far
   * (QoS 0 buffer, QoS>0 template) are already copies and stay valid, so nothing is encoded twice.
   */
  adoptPayload(copy: Buffer): void {
    if (copy.length !== this.payloadBytes.length) throw new RangeError('adoptPayload needs a copy of the same length');
    this.payloadBytes = copy;
  }

  /** QoS 0 bytes, computed once lazily and shared by every QoS 0 receiver. DUP is never set on QoS 0 [MQTT-3.3.1-2]. */
  qos0(): Buffer {
    if (this.qos0Bytes === null) this.qos0Bytes = this.build(false);
    return this.qos0Bytes;
  }

  /** Fresh buffer for one receiver: a copy of a template encoded once, with QoS, DUP and packet id patched in. */
  withId(qos: 1 | 2, packetId: number, dup: boolean): Buffer {
    if (qos !== 1 && qos !== 2) throw new RangeError(`withId QoS must be 1 or 2, got ${qos}`);
    checkId(packetId);
    if (this.template === null) this.template = this.build(true);
    const template = this.template;
    const out = Buffer.allocUnsafe(template.length);
    template.copy(out, 0);
    out[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (this.retain ? 1 : 0);
    out[this.idOffset] = packetId >>> 8;
    out[this.idOffset + 1] = packetId & 0xff;
    return out;
  }

  private build(withId: boolean): Buffer {
    const remaining = 2 + this.topicLength + (withId ? 2 : 0) + this.payload.length;
    const buf = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
    buf[0] = 0x30 | (this.retain ? 1 : 0);
    let p = writeRemainingLength(buf, 1, remaining);
    p = writeString(buf, p, this.topic, this.topicLength);
    if (withId) {
      this.idOffset = p;
      buf[p++] = 0;
      buf[p++] = 0;
    }
    this.payload.copy(buf, p);
    return buf;
  }
}

function encodePublish(packet: PublishPacket): Buffer {
  const qos = packet.qos;
  checkQos(qos, 'PUBLISH QoS');
  if (qos !== 0) checkId(packet.packetId);
  const topicLength = stringLength(packet.topic, 'PUBLISH topic');
  const payload = packet.payload;
  // [MQTT-2.3.1-5] no packet id field at QoS 0.
  const remaining = 2 + topicLength + (qos === 0 ? 0 : 2) + payload.length;
  const buf = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  // [MQTT-3.3.1-2] DUP only with QoS > 0.
  buf[0] = 0x30 | (packet.dup && qos !== 0 ? 0x08 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
  let p = writeRemainingLength(buf, 1, remaining);
  p = writeString(buf, p, packet.topic, topicLength);
  if (qos !== 0) {
    buf[p++] = packet.packetId >>> 8;
    buf[p++] = packet.packetId & 0xff;
  }
  payload.copy(buf, p);
  return buf;
}

// ---- client-side packets (tests, tools, load generator) ----

function encodeConnect(packet: ConnectPacket): Buffer {
  const name = packet.protocolName;
  const nameLength = stringLength(name, 'protocol name');
  const level = packet.protocolLevel;
  if (!(level >= 0 && level <= 255 && (level | 0) === level)) throw new RangeError(`protocol level must be a byte, got ${level}`);
  const keepalive = packet.keepalive;
  if (!(keepalive >= 0 && keepalive <= 0xffff && (keepalive | 0) === keepalive)) {
    throw new RangeError(`keepalive must be an integer in 0..65535, got ${keepalive}`);
  }
  const will = packet.will;
  const username = packet.username;
  const password = packet.password;
  if (password !== null && username === null) {
    throw new RangeError('a password needs a user name in MQTT 3.1.1 [MQTT-3.1.2-22]');
  }
  const clientIdLength = stringLength(packet.clientId, 'client id');
  let remaining = 2 + nameLength + 1 + 1 + 2 + 2 + clientIdLength;
  let flags = packet.cleanSession ? 0x02 : 0;
  let willTopicLength = 0;
  if (will !== null) {
    checkQos(will.qos, 'Will QoS');
    willTopicLength = stringLength(will.topic, 'Will Topic');
    remaining += 2 + willTopicLength + 2 + binaryLength(will.payload, 'Will Message');
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  }
  let usernameLength = 0;
  if (username !== null) {
    usernameLength = stringLength(username, 'user name');
    remaining += 2 + usernameLength;
    flags |= 0x80;
  }
  if (password !== null) {
    remaining += 2 + binaryLength(password, 'password');
    flags |= 0x40;
  }
  const buf = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  buf[0] = 0x10;
  let p = writeRemainingLength(buf, 1, remaining);
  p = writeString(buf, p, name, nameLength);
  buf[p++] = level;
  buf[p++] = flags;
  buf[p++] = keepalive >>> 8;
  buf[p++] = keepalive & 0xff;
  p = writeString(buf, p, packet.clientId, clientIdLength);
  if (will !== null) {
    p = writeString(buf, p, will.topic, willTopicLength);
    p = writeBinary(buf, p, will.payload);
  }
  if (username !== null) p = writeString(buf, p, username, usernameLength);
  if (password !== null) writeBinary(buf, p, password);
  return buf;
}

function encodeSubscribe(packet: SubscribePacket): Buffer {
  checkId(packet.packetId);
  const subs = packet.subscriptions;
  if (subs.length === 0) throw new RangeError('SUBSCRIBE needs at least one topic filter [MQTT-3.8.3-3]');
  const lengths: number[] = [];
  let remaining = 2;
  for (const s of subs) {
    checkQos(s.qos, 'requested QoS');
    const len = stringLength(s.topic, 'topic filter');
    lengths.push(len);
    remaining += 2 + len + 1;
  }
  const buf = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  buf[0] = 0x82; // flags 0010 [MQTT-3.8.1-1]
  let p = writeRemainingLength(buf, 1, remaining);
  buf[p++] = packet.packetId >>> 8;
  buf[p++] = packet.packetId & 0xff;
  for (let i = 0; i < subs.length; i++) {
    p = writeString(buf, p, subs[i].topic, lengths[i]);
    buf[p++] = subs[i].qos;
  }
  return buf;
}

function encodeUnsubscribe(packet: UnsubscribePacket): Buffer {
  checkId(packet.packetId);
  const topics = packet.topics;
  if (topics.length === 0) throw new RangeError('UNSUBSCRIBE needs at least one topic filter [MQTT-3.10.3-2]');
  const lengths: number[] = [];
  let remaining = 2;
  for (const t of topics) {
    const len = stringLength(t, 'topic filter');
    lengths.push(len);
    remaining += 2 + len;
  }
  const buf = Buffer.allocUnsafe(1 + remainingLengthSize(remaining) + remaining);
  buf[0] = 0xa2; // flags 0010 [MQTT-3.10.1-1]
  let p = writeRemainingLength(buf, 1, remaining);
  buf[p++] = packet.packetId >>> 8;
  buf[p++] = packet.packetId & 0xff;
  for (let i = 0; i < topics.length; i++) p = writeString(buf, p, topics[i], lengths[i]);
  return buf;
}

/**
 * Encodes any of the 14 packet types. Server packets give the same bytes as the dedicated
 * encoders above (which the hot path should call directly); a fresh buffer is returned except
 * for CONNACK, PINGREQ, PINGRESP and DISCONNECT, which are shared constants.
 * With `protocolLevel` 5, the MQTT 5 form (encodePacketV5, which also encodes AUTH).
 */
export function encodePacket(packet: Packet, protocolLevel = 4): Buffer {
  if (protocolLevel === 5) return encodePacketV5(packet);
  switch (packet.type) {
    case PacketType.PUBLISH:
      return encodePublish(packet);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      return encodeAck(packet.type, packet.packetId);
    case PacketType.CONNECT:
      return encodeConnect(packet);
    case PacketType.CONNACK:
      return encodeConnack(packet.sessionPresent, packet.returnCode);
    case PacketType.SUBSCRIBE:
      return encodeSubscribe(packet);
    case PacketType.SUBACK:
      return encodeSuback(packet.packetId, packet.granted);
    case PacketType.UNSUBSCRIBE:
      return encodeUnsubscribe(packet);
    case PacketType.PINGREQ:
      return PINGREQ;
    case PacketType.PINGRESP:
      return PINGRESP;
    case PacketType.DISCONNECT:
      return DISCONNECT;
    case PacketType.AUTH:
      throw new RangeError('AUTH exists only in MQTT 5');
    default: {
      const never: never = packet;
      throw new RangeError(`unknown packet type ${(never as { type: unknown }).type}`);
    }
  }
}
