/**
 * MQTT 5.0 encoders: every server-to-client packet, and the client packets tests and tools need.
 *
 * Every packet follows chapters 2-3 byte for byte: flag nibbles as in Table 2-2 (AUTH 0000,
 * v5 [MQTT-2.1.3-1]), minimal Variable Byte Integers v5 [MQTT-1.5.5-1], Property Length 0 when a
 * packet that has properties carries none v5 [MQTT-2.2.2-1]. Short forms are used where the spec
 * allows them and they are the common case: PUBACK/PUBREC/PUBREL/PUBCOMP Success without properties
 * (Remaining Length 2, the 3.1.1 bytes), DISCONNECT Normal disconnection and AUTH Success without
 * properties (Remaining Length 0). A failure code without properties is written with an explicit
 * Property Length 0 (`E0 02 82 00`), as mqtt-packet and Mosquitto do.
 *
 * Reason Codes are checked against the packet's list (reason-codes.ts): sending another one is a
 * caller bug (RangeError), v5 [MQTT-3.2.2-8], [MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1],
 * [MQTT-3.7.2-1], [MQTT-3.9.3-2], [MQTT-3.11.3-2], [MQTT-3.14.2-1], [MQTT-3.15.2-1]. So are
 * properties the packet may not carry (properties.ts).
 *
 * Leaving out a Reason String or User Properties that would push a packet past the client's
 * Maximum Packet Size (v5 [MQTT-3.2.2-19] etc.) is the caller's decision: `packetSize` helpers
 * are not needed for that, the returned buffer's length is the whole packet.
 */
import {
  AckPacket,
  ConnectPacket,
  Packet,
  PacketType,
  Properties,
  PublishPacket,
  QoS,
  SubscribePacket,
  UnsubscribePacket,
} from './packets';
import { encodeProperties, variableByteIntegerSize, WILL_PROPERTIES, writeVariableByteInteger } from './properties';
import { isReasonCodeAllowed } from './reason-codes';

const TYPE_NAME: readonly string[] = [
  'reserved(0)', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);
const PINGRESP: Buffer = Buffer.from([0xd0, 0x00]);
/** DISCONNECT 0x00 Normal disconnection, short form; shared. */
const DISCONNECT_NORMAL: Buffer = Buffer.from([0xe0, 0x00]);
/** AUTH 0x00 Success, short form; shared. */
const AUTH_SUCCESS: Buffer = Buffer.from([0xf0, 0x00]);

function checkId(packetId: number): void {
  // v5 [MQTT-2.2.1-3], [MQTT-2.2.1-4] never send packet id 0.
  if (!(packetId >= 1 && packetId <= 0xffff && (packetId | 0) === packetId)) {
    throw new RangeError(`packet id must be an integer in 1..65535, got ${packetId}`);
  }
}

function checkReasonCode(type: number, code: number): void {
  if (!isReasonCodeAllowed(type, code)) {
    throw new RangeError(`${TYPE_NAME[type]} may not carry Reason Code ${code}`);
  }
}

function checkQos(qos: number, what: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`${what} must be 0, 1 or 2, got ${qos}`);
}

function stringLength(s: string, what: string): number {
  const len = Buffer.byteLength(s, 'utf8');
  if (len > 0xffff) throw new RangeError(`${what} is ${len} bytes long; the maximum is 65535`);
  return len;
}

function writeString(buf: Buffer, p: number, s: string, len: number): number {
  buf[p] = len >>> 8;
  buf[p + 1] = len & 0xff;
  if (len > 0) buf.write(s, p + 2, len, 'utf8');
  return p + 2 + len;
}

function writeBinary(buf: Buffer, p: number, b: Buffer): number {
  if (b.length > 0xffff) throw new RangeError(`binary field is ${b.length} bytes long; the maximum is 65535`);
  buf[p] = b.length >>> 8;
  buf[p + 1] = b.length & 0xff;
  b.copy(buf, p + 2);
  return p + 2 + b.length;
}

/** Size of a properties section: Property Length plus the property bytes. */
function sectionSize(props: Buffer): number {
  return variableByteIntegerSize(props.length) + props.length;
}

function writeSection(buf: Buffer, p: number, props: Buffer): number {
  p = writeVariableByteInteger(buf, p, props.length);
  props.copy(buf, p);
  return p + props.length;
}

/** A packet buffer with its fixed header written; the body starts at 1 + VBI size. */
function allocPacket(firstByte: number, remaining: number): Buffer {
  const buf = Buffer.allocUnsafe(1 + variableByteIntegerSize(remaining) + remaining);
  buf[0] = firstByte;
  writeVariableByteInteger(buf, 1, remaining);
  return buf;
}

function bodyStart(remaining: number): number {
  return 1 + variableByteIntegerSize(remaining);
}

// ---- server-to-client packets ----

/**
 * CONNACK v5: acknowledge flags, Connect Reason Code, properties (Property Length 0 when none,
 * v5 [MQTT-2.2.2-1]). Session Present is forced to 0 with a failure code v5 [MQTT-3.2.2-6];
 * flag bits 7-1 are 0 v5 [MQTT-3.2.2-1].
 */
export function encodeConnackV5(sessionPresent: boolean, reasonCode: number, properties?: Properties): Buffer {
  checkReasonCode(PacketType.CONNACK, reasonCode); // v5 [MQTT-3.2.2-8]
  const props = encodeProperties(properties, PacketType.CONNACK);
  const remaining = 2 + sectionSize(props);
  const buf = allocPacket(0x20, remaining);
  let p = bodyStart(remaining);
  buf[p++] = sessionPresent && reasonCode === 0 ? 1 : 0;
  buf[p++] = reasonCode;
  writeSection(buf, p, props);
  return buf;
}

type PubAckType = PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP;

const ACK_HEADER: readonly number[] = [0, 0, 0, 0, 0x40, 0x50, 0x62, 0x70];

/**
 * PUBACK, PUBREC, PUBREL (flags 0010, v5 [MQTT-3.6.1-1]) or PUBCOMP with a Reason Code and
 * properties. Success without properties takes the 4-byte short form [unnumbered §3.4.2.1].
 */
export function encodeAckV5(type: PubAckType, packetId: number, reasonCode = 0, properties?: Properties): Buffer {
  const header = ACK_HEADER[type];
  if (header === undefined || header === 0) throw new RangeError(`not a PUBACK/PUBREC/PUBREL/PUBCOMP type: ${type}`);
  checkId(packetId); // v5 [MQTT-2.2.1-5] the id of the PUBLISH (or PUBREC) answered
  checkReasonCode(type, reasonCode);
  const props = encodeProperties(properties, type);
  if (reasonCode === 0 && props.length === 0) {
    const buf = Buffer.allocUnsafe(4);
    buf[0] = header;
    buf[1] = 2;
    buf[2] = packetId >>> 8;
    buf[3] = packetId & 0xff;
    return buf;
  }
  const remaining = 3 + sectionSize(props);
  const buf = allocPacket(header, remaining);
  let p = bodyStart(remaining);
  buf[p++] = packetId >>> 8;
  buf[p++] = packetId & 0xff;
  buf[p++] = reasonCode;
  writeSection(buf, p, props);
  return buf;
}

function encodeCodesPacket(type: PacketType.SUBACK | PacketType.UNSUBACK, packetId: number, codes: number[], properties?: Properties): Buffer {
  checkId(packetId); // v5 [MQTT-2.2.1-6]
  if (codes.length === 0) throw new RangeError(`${TYPE_NAME[type]} needs at least one Reason Code`);
  for (const code of codes) checkReasonCode(type, code);
  const props = encodeProperties(properties, type);
  const remaining = 2 + sectionSize(props) + codes.length;
  const buf = allocPacket(type << 4, remaining);
  let p = bodyStart(remaining);
  buf[p++] = packetId >>> 8;
  buf[p++] = packetId & 0xff;
  p = writeSection(buf, p, props);
  for (let i = 0; i < codes.length; i++) buf[p++] = codes[i];
  return buf;
}

/** SUBACK v5: one Subscribe Reason Code per filter in request order, v5 [MQTT-3.9.3-1], [MQTT-3.9.3-2]. */
export function encodeSubackV5(packetId: number, reasonCodes: number[], properties?: Properties): Buffer {
  return encodeCodesPacket(PacketType.SUBACK, packetId, reasonCodes, properties);
}

/** UNSUBACK v5: one Unsubscribe Reason Code per filter in request order, v5 [MQTT-3.11.3-1], [MQTT-3.11.3-2]. */
export function encodeUnsubackV5(packetId: number, reasonCodes: number[], properties?: Properties): Buffer {
  return encodeCodesPacket(PacketType.UNSUBACK, packetId, reasonCodes, properties);
}

/**
 * DISCONNECT v5. 0x00 without properties is the shared 2-byte short form. The server never sends
 * a Session Expiry Interval here v5 [MQTT-3.14.2-2]: that check is the caller's (a client may).
 */
export function encodeDisconnectV5(reasonCode = 0, properties?: Properties): Buffer {
  checkReasonCode(PacketType.DISCONNECT, reasonCode); // v5 [MQTT-3.14.2-1]
  const props = encodeProperties(properties, PacketType.DISCONNECT);
  if (reasonCode === 0 && props.length === 0) return DISCONNECT_NORMAL;
  const remaining = 1 + sectionSize(props);
  const buf = allocPacket(0xe0, remaining);
  let p = bodyStart(remaining);
  buf[p++] = reasonCode;
  writeSection(buf, p, props);
  return buf;
}

/** AUTH (flags 0000, v5 [MQTT-3.15.1-1]); 0x00 without properties is the shared short form. */
export function encodeAuth(reasonCode: number, properties?: Properties): Buffer {
  checkReasonCode(PacketType.AUTH, reasonCode); // v5 [MQTT-3.15.2-1]
  const props = encodeProperties(properties, PacketType.AUTH);
  if (reasonCode === 0 && props.length === 0) return AUTH_SUCCESS;
  const remaining = 1 + sectionSize(props);
  const buf = allocPacket(0xf0, remaining);
  let p = bodyStart(remaining);
  buf[p++] = reasonCode;
  writeSection(buf, p, props);
  return buf;
}

// ---- PUBLISH ----

/** Empty list for "no Subscription Identifiers". */
const NO_IDS: readonly number[] = [];

/**
 * A v5 PUBLISH encoded once and written to many subscribers [STYLE 5].
 *
 * The parts every receiver shares are built once, when the message is: the topic's length and the
 * message's own properties (Payload Format Indicator, Message Expiry Interval, Content Type,
 * Response Topic, Correlation Data, User Properties), encoded as property bytes; and the payload.
 * One EncodedPublishV5 stands for one (message, property set): a copy forwarded later with a
 * smaller Message Expiry Interval (v5 [MQTT-3.3.2-6]) is a new EncodedPublishV5.
 *
 * What may differ per receiver is passed per call:
 * - QoS, DUP and packet id (as in 3.1.1), and RETAIN (Retain As Published, v5 [MQTT-3.3.1-12]);
 * - the Topic Alias (0 = none; never 0 on the wire, v5 [MQTT-3.3.2-8]) and whether the topic is
 *   sent along (first use of an alias) or left empty (alias already known to the receiver);
 * - the Subscription Identifiers of the receiver's matching subscriptions, v5 [MQTT-3.3.4-3/4/5].
 * These go first in the properties (Topic Alias 0x23, then Subscription Identifiers 0x0B), before
 * the shared property bytes: property order is free (section 2.2.2.2).
 *
 * Three paths, cheapest first:
 * - qos0(retain): no alias, no identifiers: one buffer per RETAIN value, shared by every such
 *   receiver (never mutate it);
 * - withId(qos, id, dup, retain): no alias, no identifiers: a copy of a template built once, with
 *   the first byte and packet id patched in (the 3.1.1 scheme);
 * - withIdAndExtras(...): anything else: one allocation of the exact size; the shared property
 *   bytes and the payload are copied in.
 * head(...) builds only the bytes before the payload, for a caller that writes head and payload
 * as two buffers (writev) and so never copies the payload; size(...) is the whole packet's length,
 * to compare with the receiver's Maximum Packet Size before encoding v5 [MQTT-3.1.2-24].
 */
export class EncodedPublishV5 {
  /** Property bytes shared by every receiver (without Property Length). */
  readonly sharedProperties: Buffer;
  private readonly topicLength: number;
  // Two fields rather than an array indexed by RETAIN: one allocation less per message.
  private qos0Bytes: Buffer | null = null;
  private qos0RetainBytes: Buffer | null = null;
  private template: Buffer | null = null;
  private idOffset = 0;
  /**
   * The last QoS 0 packet with a Topic Alias (and no Subscription Identifiers), shared like
   * qos0(): in a fan-out the receivers that took aliases in the same order hold the same alias
   * for this topic, so they get the same bytes instead of one packet each (the allocation and
   * copy per receiver made a v5 fan-out with aliases mostly garbage collection). Keyed by the
   * alias and the flags it was built with; one entry, so a message holds at most one more packet.
   */
  private aliasedQos0: Buffer | null = null;
  private aliasedQos0Alias = 0;
  private aliasedQos0Flags = 0;

  /** `topicLength`: the topic's UTF-8 length when the caller knows it (Message's 3.1.1 encoding did the walk). */
  constructor(readonly topic: string, readonly payload: Buffer, readonly properties?: Properties, topicLength = -1) {
    this.topicLength = topicLength >= 0 ? topicLength : stringLength(topic, 'PUBLISH topic');
    if (properties !== undefined && (properties.topicAlias !== undefined || properties.subscriptionIdentifiers !== undefined)) {
      throw new RangeError('Topic Alias and Subscription Identifiers are per receiver: pass them to withIdAndExtras');
    }
    this.sharedProperties = encodeProperties(properties, PacketType.PUBLISH);
  }

  /** QoS 0, no alias, no identifiers: a buffer shared by every such receiver; DUP 0 v5 [MQTT-3.3.1-2]. */
  qos0(retain: boolean): Buffer {
    if (retain) return this.qos0RetainBytes ?? (this.qos0RetainBytes = this.buildQos0(true));
    return this.qos0Bytes ?? (this.qos0Bytes = this.buildQos0(false));
  }

  /**
   * build() for the shared QoS 0 bytes (no id, alias or identifiers): once per message in a
   * fan-in, so none of build()'s argument checks and extras, like 3.1.1's EncodedPublish.build.
   */
  private buildQos0(retain: boolean): Buffer {
    return this.buildPlain(retain ? 0x31 : 0x30, false);
  }

  /**
   * The plain packet (no alias, no identifiers), straight-line: the shared QoS 0 bytes, or with
   * `withId` the QoS>0 template that withId() copies, its zero packet id at `idOffset`.
   */
  private buildPlain(firstByte: number, withId: boolean): Buffer {
    const props = this.sharedProperties;
    const payload = this.payload;
    const idBytes = withId ? 2 : 0;
    const remaining = 2 + this.topicLength + idBytes + variableByteIntegerSize(props.length) + props.length + payload.length;
    const buf = Buffer.allocUnsafe(1 + variableByteIntegerSize(remaining) + remaining);
    buf[0] = firstByte;
    let p = writeVariableByteInteger(buf, 1, remaining);
    p = writeString(buf, p, this.topic, this.topicLength);
    if (withId) {
      this.idOffset = p;
      buf[p++] = 0;
      buf[p++] = 0;
    }
    if (props.length === 0) {
      buf[p++] = 0; // Property Length 0
    } else {
      p = writeVariableByteInteger(buf, p, props.length);
      props.copy(buf, p);
      p += props.length;
    }
    payload.copy(buf, p);
    return buf;
  }

  /** QoS 1 or 2, no alias, no identifiers: a copy of the template with flags and packet id patched in. */
  withId(qos: 1 | 2, packetId: number, dup: boolean, retain: boolean): Buffer {
    if (qos !== 1 && qos !== 2) throw new RangeError(`withId QoS must be 1 or 2, got ${qos}`);
    checkId(packetId);
    const template = this.template ?? this.buildTemplate();
    const out = Buffer.allocUnsafe(template.length);
    template.copy(out, 0);
    out[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
    out[this.idOffset] = packetId >>> 8;
    out[this.idOffset + 1] = packetId & 0xff;
    return out;
  }

  /**
   * The QoS>0 template withId() copies (flags and id patched per receiver): straight-line like
   * the QoS 0 bytes, since every QoS 1/2 message to a v5 receiver builds one (issue 11: the
   * general build() with its argument checks and two remaining() walks cost the v5 QoS 1 path).
   */
  private buildTemplate(): Buffer {
    return (this.template = this.buildPlain(0x32, true));
  }

  /**
   * The packet for one receiver. `packetId` and `dup` are ignored at QoS 0. `topicAlias` 0 means no
   * alias (then the topic is always sent); with an alias, `sendTopic` false leaves the topic empty.
   * Takes the cached paths when there is nothing per receiver but QoS, DUP, id and RETAIN.
   */
  withIdAndExtras(
    qos: QoS,
    packetId: number,
    dup: boolean,
    retain: boolean,
    topicAlias: number,
    sendTopic: boolean,
    subscriptionIdentifiers: readonly number[] | undefined,
  ): Buffer {
    const ids = subscriptionIdentifiers ?? NO_IDS;
    if (topicAlias === 0 && ids.length === 0) return qos === 0 ? this.qos0(retain) : this.withId(qos, packetId, dup, retain);
    if (qos === 0 && ids.length === 0) {
      const flags = (sendTopic ? 2 : 0) | (retain ? 1 : 0);
      if (this.aliasedQos0 !== null && this.aliasedQos0Alias === topicAlias && this.aliasedQos0Flags === flags) return this.aliasedQos0;
      // build() checks the alias before it is cached.
      const bytes = this.build(0, 0, false, retain, topicAlias, sendTopic, ids, true);
      this.aliasedQos0 = bytes;
      this.aliasedQos0Alias = topicAlias;
      this.aliasedQos0Flags = flags;
      return bytes;
    }
    return this.build(qos, packetId, dup, retain, topicAlias, sendTopic, ids, true);
  }

  /** withIdAndExtras without the payload: write the payload after it. Always a fresh buffer. */
  head(
    qos: QoS,
    packetId: number,
    dup: boolean,
    retain: boolean,
    topicAlias: number,
    sendTopic: boolean,
    subscriptionIdentifiers: readonly number[] | undefined,
  ): Buffer {
    return this.build(qos, packetId, dup, retain, topicAlias, sendTopic, subscriptionIdentifiers ?? NO_IDS, false);
  }

  /** Length in bytes of the whole packet withIdAndExtras would return, v5 [MQTT-3.1.2-24]. */
  size(qos: QoS, topicAlias: number, sendTopic: boolean, subscriptionIdentifiers: readonly number[] | undefined): number {
    const remaining = this.remaining(qos, topicAlias, sendTopic, subscriptionIdentifiers ?? NO_IDS);
    return 1 + variableByteIntegerSize(remaining) + remaining;
  }

  private extrasSize(topicAlias: number, ids: readonly number[]): number {
    let n = topicAlias !== 0 ? 3 : 0;
    for (let i = 0; i < ids.length; i++) n += 1 + variableByteIntegerSize(ids[i]);
    return n;
  }

  private remaining(qos: QoS, topicAlias: number, sendTopic: boolean, ids: readonly number[]): number {
    const propertyLength = this.extrasSize(topicAlias, ids) + this.sharedProperties.length;
    return (
      2 +
      (sendTopic || topicAlias === 0 ? this.topicLength : 0) +
      (qos === 0 ? 0 : 2) +
      variableByteIntegerSize(propertyLength) +
      propertyLength +
      this.payload.length
    );
  }

  private build(
    qos: QoS,
    packetId: number,
    dup: boolean,
    retain: boolean,
    topicAlias: number,
    sendTopic: boolean,
    ids: readonly number[],
    withPayload: boolean,
  ): Buffer {
    checkQos(qos, 'PUBLISH QoS');
    if (qos !== 0) checkId(packetId);
    if (!(topicAlias >= 0 && topicAlias <= 0xffff && (topicAlias | 0) === topicAlias)) {
      throw new RangeError(`Topic Alias must be an integer in 1..65535 (0 for none), got ${topicAlias}`);
    }
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 1 && id <= 268_435_455 && Math.floor(id) === id)) {
        throw new RangeError(`Subscription Identifier must be an integer in 1..268435455, got ${id}`);
      }
    }
    const remaining = this.remaining(qos, topicAlias, sendTopic, ids);
    const total = 1 + variableByteIntegerSize(remaining) + remaining;
    const buf = Buffer.allocUnsafe(withPayload ? total : total - this.payload.length);
    // v5 [MQTT-3.3.1-2] DUP only with QoS > 0.
    buf[0] = 0x30 | (dup && qos !== 0 ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
    let p = writeVariableByteInteger(buf, 1, remaining);
    if (sendTopic || topicAlias === 0) {
      p = writeString(buf, p, this.topic, this.topicLength);
    } else {
      buf[p++] = 0; // empty Topic Name: the receiver uses its alias mapping
      buf[p++] = 0;
    }
    if (qos !== 0) {
      buf[p++] = packetId >>> 8;
      buf[p++] = packetId & 0xff;
    }
    p = writeVariableByteInteger(buf, p, this.extrasSize(topicAlias, ids) + this.sharedProperties.length);
    if (topicAlias !== 0) {
      buf[p++] = 0x23;
      buf[p++] = topicAlias >>> 8;
      buf[p++] = topicAlias & 0xff;
    }
    for (let i = 0; i < ids.length; i++) {
      buf[p++] = 0x0b;
      p = writeVariableByteInteger(buf, p, ids[i]);
    }
    this.sharedProperties.copy(buf, p);
    p += this.sharedProperties.length;
    if (withPayload) this.payload.copy(buf, p);
    return buf;
  }
}

function encodePublishV5(packet: PublishPacket): Buffer {
  const qos = packet.qos;
  checkQos(qos, 'PUBLISH QoS');
  if (qos !== 0) checkId(packet.packetId);
  const props = encodeProperties(packet.properties, PacketType.PUBLISH);
  const topicLength = stringLength(packet.topic, 'PUBLISH topic');
  const remaining = 2 + topicLength + (qos === 0 ? 0 : 2) + sectionSize(props) + packet.payload.length;
  const buf = allocPacket(0x30 | (packet.dup && qos !== 0 ? 0x08 : 0) | (qos << 1) | (packet.retain ? 1 : 0), remaining);
  let p = writeString(buf, bodyStart(remaining), packet.topic, topicLength);
  if (qos !== 0) {
    buf[p++] = packet.packetId >>> 8;
    buf[p++] = packet.packetId & 0xff;
  }
  p = writeSection(buf, p, props);
  packet.payload.copy(buf, p);
  return buf;
}

// ---- client-to-server packets (tests, tools, load generator) ----

function encodeConnectV5(packet: ConnectPacket): Buffer {
  const name = packet.protocolName;
  const nameLength = stringLength(name, 'protocol name');
  const keepalive = packet.keepalive;
  if (!(keepalive >= 0 && keepalive <= 0xffff && (keepalive | 0) === keepalive)) {
    throw new RangeError(`keepalive must be an integer in 0..65535, got ${keepalive}`);
  }
  const props = encodeProperties(packet.properties, PacketType.CONNECT);
  const clientIdLength = stringLength(packet.clientId, 'client id');
  let remaining = 2 + nameLength + 1 + 1 + 2 + sectionSize(props) + 2 + clientIdLength;
  let flags = packet.cleanSession ? 0x02 : 0;
  const will = packet.will;
  let willProps: Buffer | null = null;
  let willTopicLength = 0;
  if (will !== null) {
    checkQos(will.qos, 'Will QoS');
    willProps = encodeProperties(will.properties, WILL_PROPERTIES);
    willTopicLength = stringLength(will.topic, 'Will Topic');
    remaining += sectionSize(willProps) + 2 + willTopicLength + 2 + will.payload.length;
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  }
  let usernameLength = 0;
  if (packet.username !== null) {
    usernameLength = stringLength(packet.username, 'user name');
    remaining += 2 + usernameLength;
    flags |= 0x80;
  }
  if (packet.password !== null) {
    remaining += 2 + packet.password.length;
    flags |= 0x40; // v5 [MQTT-3.1.2-19] allowed without a user name
  }
  const buf = allocPacket(0x10, remaining);
  let p = writeString(buf, bodyStart(remaining), name, nameLength);
  buf[p++] = 5;
  buf[p++] = flags;
  buf[p++] = keepalive >>> 8;
  buf[p++] = keepalive & 0xff;
  p = writeSection(buf, p, props);
  p = writeString(buf, p, packet.clientId, clientIdLength);
  if (will !== null && willProps !== null) {
    p = writeSection(buf, p, willProps);
    p = writeString(buf, p, will.topic, willTopicLength);
    p = writeBinary(buf, p, will.payload);
  }
  if (packet.username !== null) p = writeString(buf, p, packet.username, usernameLength);
  if (packet.password !== null) writeBinary(buf, p, packet.password);
  return buf;
}

function encodeSubscribeV5(packet: SubscribePacket): Buffer {
  checkId(packet.packetId);
  const subs = packet.subscriptions;
  if (subs.length === 0) throw new RangeError('SUBSCRIBE needs at least one topic filter v5 [MQTT-3.8.3-2]');
  const props = encodeProperties(packet.properties, PacketType.SUBSCRIBE);
  const lengths: number[] = [];
  let remaining = 2 + sectionSize(props);
  for (const s of subs) {
    checkQos(s.qos, 'Maximum QoS');
    const rh = s.retainHandling ?? 0;
    if (rh !== 0 && rh !== 1 && rh !== 2) throw new RangeError(`Retain Handling must be 0, 1 or 2, got ${rh}`);
    const len = stringLength(s.topic, 'topic filter');
    lengths.push(len);
    remaining += 2 + len + 1;
  }
  const buf = allocPacket(0x82, remaining); // flags 0010 v5 [MQTT-3.8.1-1]
  let p = bodyStart(remaining);
  buf[p++] = packet.packetId >>> 8;
  buf[p++] = packet.packetId & 0xff;
  p = writeSection(buf, p, props);
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i];
    p = writeString(buf, p, s.topic, lengths[i]);
    buf[p++] = s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4);
  }
  return buf;
}

function encodeUnsubscribeV5(packet: UnsubscribePacket): Buffer {
  checkId(packet.packetId);
  const topics = packet.topics;
  if (topics.length === 0) throw new RangeError('UNSUBSCRIBE needs at least one topic filter v5 [MQTT-3.10.3-2]');
  const props = encodeProperties(packet.properties, PacketType.UNSUBSCRIBE);
  const lengths: number[] = [];
  let remaining = 2 + sectionSize(props);
  for (const t of topics) {
    const len = stringLength(t, 'topic filter');
    lengths.push(len);
    remaining += 2 + len;
  }
  const buf = allocPacket(0xa2, remaining); // flags 0010 v5 [MQTT-3.10.1-1]
  let p = bodyStart(remaining);
  buf[p++] = packet.packetId >>> 8;
  buf[p++] = packet.packetId & 0xff;
  p = writeSection(buf, p, props);
  for (let i = 0; i < topics.length; i++) p = writeString(buf, p, topics[i], lengths[i]);
  return buf;
}

/**
 * Encodes any packet in its MQTT 5 form (CONNECT is written with level 5 whatever its
 * protocolLevel says). PINGREQ, PINGRESP, the short DISCONNECT and AUTH are shared constants.
 */
export function encodePacketV5(packet: Packet): Buffer {
  switch (packet.type) {
    case PacketType.PUBLISH:
      return encodePublishV5(packet);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return encodeAckV5(packet.type, packet.packetId, packet.reasonCode ?? 0, packet.properties);
    case PacketType.UNSUBACK:
      return encodeUnsubackV5(packet.packetId, (packet as AckPacket).reasonCodes ?? [], packet.properties);
    case PacketType.CONNECT:
      return encodeConnectV5(packet);
    case PacketType.CONNACK:
      return encodeConnackV5(packet.sessionPresent, packet.reasonCode ?? packet.returnCode, packet.properties);
    case PacketType.SUBSCRIBE:
      return encodeSubscribeV5(packet);
    case PacketType.SUBACK:
      return encodeSubackV5(packet.packetId, packet.granted, packet.properties);
    case PacketType.UNSUBSCRIBE:
      return encodeUnsubscribeV5(packet);
    case PacketType.PINGREQ:
      return PINGREQ;
    case PacketType.PINGRESP:
      return PINGRESP;
    case PacketType.DISCONNECT:
      return encodeDisconnectV5(packet.reasonCode ?? 0, packet.properties);
    case PacketType.AUTH:
      return encodeAuth(packet.reasonCode, packet.properties);
    default: {
      const never: never = packet;
      throw new RangeError(`unknown packet type ${(never as { type: unknown }).type}`);
    }
  }
}
