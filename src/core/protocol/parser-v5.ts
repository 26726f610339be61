/**
 * MQTT 5.0 packet bodies, decoded for PacketParser once the connection's protocol level is 5
 * (the CONNECT body too, once its header announced level 5). The framing (fixed header, Remaining
 * Length, buffering) is PacketParser's; this file knows what is inside.
 *
 * Every violation throws ProtocolError with the v5 checklist id and the Reason Code a v5 peer is
 * told (errors.ts): 0x81 Malformed Packet by default, 0x82 Protocol Error where the spec says so.
 *
 * Short forms v5 [MQTT-2.2.2-1] and [unnumbered §3.4.2.1/3.5.2.1/3.6.2.1/3.7.2.1, §3.14.2.1]:
 * PUBACK/PUBREC/PUBREL/PUBCOMP with Remaining Length 2 mean Reason Code 0x00 and no properties,
 * with 3 a Reason Code and no properties; DISCONNECT with 0 means 0x00, with 1 a code only;
 * AUTH with 0 means 0x00 Success and no properties.
 */
import {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  EmptyPacket,
  Packet,
  PacketType,
  Properties,
  PublishPacket,
  QoS,
  RetainHandling,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubscribePacket,
  WillMessage,
} from './packets';
import { PROTOCOL_ERROR, ProtocolError } from './errors';
import { Cursor, readProperties, WILL_PROPERTIES } from './properties';
import { isReasonCodeAllowed } from './reason-codes';
import { decodeTopicNameV5, decodeUtf8V5, isValidUtf8 } from './utf8';

const EMPTY = Buffer.alloc(0);

/** ReasonCode.TopicNameInvalid, ReasonCode.TopicFilterInvalid. */
const TOPIC_NAME_INVALID = 0x90;
const TOPIC_FILTER_INVALID = 0x8f;

const TYPE_NAME: readonly string[] = [
  'reserved(0)', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

/** v5 checklist id for a Reason Code the packet may not carry, by type. */
const REASON_CODE_RULE: readonly (string | undefined)[] = [
  undefined, undefined, 'MQTT-3.2.2-8', undefined, 'MQTT-3.4.2-1', 'MQTT-3.5.2-1', 'MQTT-3.6.2-1', 'MQTT-3.7.2-1',
  undefined, 'MQTT-3.9.3-2', undefined, 'MQTT-3.11.3-2', undefined, undefined, 'MQTT-3.14.2-1', 'MQTT-3.15.2-1',
];

/** v5 checklist id for a wrong flag nibble, by type: v5 [MQTT-2.1.3-1] and the per-packet ones. */
const FLAG_RULE: readonly string[] = [
  '', 'MQTT-2.1.3-1', 'MQTT-2.1.3-1', '', 'MQTT-2.1.3-1', 'MQTT-2.1.3-1', 'MQTT-3.6.1-1', 'MQTT-2.1.3-1',
  'MQTT-3.8.1-1', 'MQTT-2.1.3-1', 'MQTT-3.10.1-1', 'MQTT-2.1.3-1', 'MQTT-2.1.3-1', 'MQTT-2.1.3-1',
  'MQTT-3.14.1-1', 'MQTT-3.15.1-1',
];

/**
 * First byte of a v5 fixed header: as in 3.1.1, plus AUTH (type 15) with flags 0000. All are
 * Malformed Packets (0x81): v5 [MQTT-2.1.3-1], v5 [MQTT-3.3.1-4] (QoS 3), v5 [MQTT-3.3.1-2] (DUP on QoS 0,
 * the strict reading).
 */
export function checkFirstByteV5(b0: number): void {
  const type = b0 >>> 4;
  const flags = b0 & 0x0f;
  if (type === PacketType.PUBLISH) {
    const qos = (flags >>> 1) & 3;
    if (qos === 3) throw new ProtocolError('PUBLISH with QoS 3', 'MQTT-3.3.1-4');
    if (qos === 0 && (flags & 0x08) !== 0) throw new ProtocolError('QoS 0 PUBLISH with DUP set', 'MQTT-3.3.1-2');
    return;
  }
  // [unnumbered §2.1.2 Table 2-1] type 0 is reserved.
  if (type === 0) throw new ProtocolError('reserved packet type 0');
  const required = type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE ? 2 : 0;
  if (flags !== required) {
    throw new ProtocolError(`${TYPE_NAME[type]} with reserved flags ${flags.toString(2).padStart(4, '0')}`, FLAG_RULE[type]);
  }
}

function truncated(what: string, rule?: string): ProtocolError {
  return new ProtocolError(`malformed packet: ${what} runs past the Remaining Length`, rule);
}

function zeroId(type: number): ProtocolError {
  // v5 [MQTT-2.2.1-3] a packet id is non-zero: a Protocol Error.
  return new ProtocolError(`${TYPE_NAME[type]} with packet id 0`, 'MQTT-2.2.1-3', PROTOCOL_ERROR);
}

function checkReasonCode(type: number, code: number): void {
  if (!isReasonCodeAllowed(type, code)) {
    throw new ProtocolError(`${TYPE_NAME[type]} with Reason Code 0x${code.toString(16)}`, REASON_CODE_RULE[type], PROTOCOL_ERROR);
  }
}

/**
 * A v5 PUBLISH body `buf[p, end)` (the hot path: plain locals, like 3.1.1's decodePublish; the
 * cursor is only used when there are properties, and let go of afterwards).
 */
export function decodePublishV5(b0: number, buf: Buffer, p: number, end: number, cursor: Cursor): PublishPacket {
  // v5 [MQTT-3.3.2-1] the Topic Name comes first and is a UTF-8 string.
  if (end - p < 2) throw truncated('PUBLISH topic length', 'MQTT-3.3.2-1');
  const topicStart = p + 2;
  const topicEnd = topicStart + ((buf[p] << 8) | buf[p + 1]);
  if (topicEnd > end) throw truncated('PUBLISH topic', 'MQTT-3.3.2-1');
  // v5 [MQTT-3.3.2-2] no wildcards: 0x90 Topic Name invalid.
  const topic = decodeTopicNameV5(buf, topicStart, topicEnd, 'MQTT-3.3.2-2');
  p = topicEnd;
  const qos = ((b0 >>> 1) & 3) as QoS;
  let packetId = 0;
  if (qos !== 0) {
    if (end - p < 2) throw truncated('PUBLISH packet id');
    packetId = (buf[p] << 8) | buf[p + 1];
    if (packetId === 0) throw zeroId(PacketType.PUBLISH);
    p += 2;
  }
  // v5 [MQTT-2.2.1-2] a QoS 0 PUBLISH has no packet id: the Property Length follows the topic.
  let properties: Properties | undefined;
  if (p < end && buf[p] === 0) {
    p++; // Property Length 0, the usual case
  } else {
    cursor.buf = buf;
    cursor.p = p;
    cursor.e = end;
    try {
      properties = readProperties(cursor, PacketType.PUBLISH);
    } finally {
      cursor.buf = EMPTY;
    }
    p = cursor.p;
  }
  // [unnumbered §3.3.2.1] an empty Topic Name is only allowed with a Topic Alias.
  if (topicStart === topicEnd && properties?.topicAlias === undefined) {
    throw new ProtocolError('PUBLISH with an empty topic and no Topic Alias', undefined, PROTOCOL_ERROR);
  }
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: buf.subarray(p, end),
    qos,
    retain: (b0 & 1) !== 0,
    dup: (b0 & 8) !== 0,
    packetId,
    properties,
  };
}

/**
 * Decoder of MQTT 5 packet bodies. One per parser; it is a Cursor over the packet being decoded
 * and lets go of the chunk when done.
 */
export class V5Decoder implements Cursor {
  buf: Buffer = EMPTY;
  p = 0;
  e = 0;
  /**
   * SUBSCRIBE filters decoded into objects (max-filters-per-subscribe, set by PacketParser); the
   * rest are checked on their bytes and counted in SubscribePacket.overflow, as in 3.1.1.
   */
  maxFilters = Infinity;

  /** Decodes the body `buf[start, end)` of the packet whose first byte is b0 (already checked). */
  decode(b0: number, buf: Buffer, start: number, end: number): Packet {
    this.buf = buf;
    this.p = start;
    this.e = end;
    try {
      switch (b0 >>> 4) {
        case PacketType.PUBLISH:
          return decodePublishV5(b0, buf, start, end, this);
        case PacketType.PUBACK:
        case PacketType.PUBREC:
        case PacketType.PUBREL:
        case PacketType.PUBCOMP:
          return this.ack(b0 >>> 4);
        case PacketType.SUBSCRIBE:
          return this.subscribe();
        case PacketType.SUBACK:
          return this.suback();
        case PacketType.UNSUBSCRIBE:
          return this.unsubscribe();
        case PacketType.UNSUBACK:
          return this.unsuback();
        case PacketType.CONNACK:
          return this.connack();
        case PacketType.DISCONNECT:
          return this.disconnect();
        case PacketType.AUTH:
          return this.auth();
        case PacketType.PINGREQ:
        case PacketType.PINGRESP:
          return { type: b0 >>> 4 } as EmptyPacket;
        default:
          // CONNECT bodies come through connect(), called by PacketParser after the header.
          throw new Error(`V5Decoder cannot decode packet type ${b0 >>> 4}`);
      }
    } finally {
      this.buf = EMPTY; // do not keep the chunk alive
    }
  }

  // ---- cursor helpers ----

  private u8(what: string, rule?: string): number {
    if (this.p >= this.e) throw truncated(what, rule);
    return this.buf[this.p++];
  }

  private u16(what: string, rule?: string): number {
    const p = this.p;
    if (this.e - p < 2) throw truncated(what, rule);
    this.p = p + 2;
    return (this.buf[p] << 8) | this.buf[p + 1];
  }

  /** Start and end of a length-prefixed field; leaves p after it. */
  private field(what: string, rule?: string): number {
    const len = this.u16(what, rule);
    const start = this.p;
    if (start + len > this.e) throw truncated(what, rule);
    this.p = start + len;
    return start;
  }

  private str(what: string, rule?: string): string {
    const start = this.field(what, rule);
    return decodeUtf8V5(this.buf, start, this.p);
  }

  private bin(what: string, rule?: string): Buffer {
    const start = this.field(what, rule);
    return Buffer.from(this.buf.subarray(start, this.p));
  }

  private trailing(type: number, rule?: string): void {
    if (this.p !== this.e) throw new ProtocolError(`${TYPE_NAME[type]} has bytes after its last field`, rule);
  }

  // ---- packets ----

  /**
   * CONNECT body from the Connect Flags on (the caller has read the protocol name and level 5).
   */
  connect(buf: Buffer, start: number, end: number, protocolName: string): ConnectPacket {
    this.buf = buf;
    this.p = start;
    this.e = end;
    try {
      return this.connectBody(protocolName);
    } finally {
      this.buf = EMPTY;
    }
  }

  private connectBody(protocolName: string): ConnectPacket {
    const flags = this.u8('connect flags');
    if ((flags & 0x01) !== 0) throw new ProtocolError('CONNECT reserved flag is set', 'MQTT-3.1.2-3');
    const willFlag = (flags & 0x04) !== 0;
    const willQos = (flags >>> 3) & 3;
    const willRetain = (flags & 0x20) !== 0;
    const passwordFlag = (flags & 0x40) !== 0;
    const usernameFlag = (flags & 0x80) !== 0;
    if (!willFlag) {
      if (willQos !== 0) throw new ProtocolError('CONNECT Will QoS set without Will flag', 'MQTT-3.1.2-11');
      if (willRetain) throw new ProtocolError('CONNECT Will Retain set without Will flag', 'MQTT-3.1.2-13');
    } else if (willQos === 3) {
      throw new ProtocolError('CONNECT Will QoS 3', 'MQTT-3.1.2-12');
    }
    // v5 [MQTT-3.1.2-19]: unlike 3.1.1, a password without a user name is allowed.
    const keepalive = this.u16('keep alive');
    const properties = readProperties(this, PacketType.CONNECT);
    const clientId = this.str('client id', 'MQTT-3.1.3-3'); // v5 [MQTT-3.1.3-3], [MQTT-3.1.3-4]
    let will: WillMessage | null = null;
    if (willFlag) {
      // v5 [MQTT-3.1.2-9] Will Properties, Will Topic and Will Payload follow; v5 [MQTT-3.1.3-1] in that order.
      const willProperties = readProperties(this, WILL_PROPERTIES);
      const topicStart = this.field('Will Topic', 'MQTT-3.1.2-9');
      // v5 [MQTT-3.1.3-11] UTF-8, v5 [MQTT-4.7.0-1] no wildcard (0x90 Topic Name invalid).
      const topic = decodeTopicNameV5(this.buf, topicStart, this.p, 'MQTT-4.7.0-1');
      if (topic.length === 0) throw new ProtocolError('CONNECT with an empty Will Topic', 'MQTT-4.7.3-1', TOPIC_NAME_INVALID);
      const payload = this.bin('Will Payload', 'MQTT-3.1.2-9');
      will = { topic, payload, qos: willQos as QoS, retain: willRetain, properties: willProperties };
    }
    const username = usernameFlag ? this.str('user name', 'MQTT-3.1.2-17') : null; // v5 [MQTT-3.1.3-12]
    const password = passwordFlag ? this.bin('password', 'MQTT-3.1.2-19') : null;
    // Leftover bytes: a user name or password sent without its flag, or inconsistent lengths.
    this.trailing(PacketType.CONNECT, !usernameFlag ? 'MQTT-3.1.2-16' : !passwordFlag ? 'MQTT-3.1.2-18' : 'MQTT-3.1.3-1');
    return {
      type: PacketType.CONNECT,
      protocolName,
      protocolLevel: 5,
      cleanSession: (flags & 0x02) !== 0,
      keepalive,
      clientId,
      will,
      username,
      password,
      properties,
    };
  }

  private ack(type: number): AckPacket {
    const packetId = this.u16(`${TYPE_NAME[type]} packet id`);
    if (packetId === 0) throw zeroId(type);
    let reasonCode = 0;
    let properties: Properties | undefined;
    if (this.p < this.e) {
      reasonCode = this.buf[this.p++];
      checkReasonCode(type, reasonCode);
      if (this.p < this.e) properties = readProperties(this, type);
    }
    this.trailing(type);
    return { type, packetId, reasonCode, properties } as AckPacket;
  }

  private connack(): ConnackPacket {
    const ackFlags = this.u8('CONNACK acknowledge flags');
    const reasonCode = this.u8('CONNACK Reason Code');
    // v5 [MQTT-3.2.2-1] acknowledge-flag bits 7-1 are reserved.
    if ((ackFlags & 0xfe) !== 0) throw new ProtocolError('CONNACK with reserved acknowledge flags set', 'MQTT-3.2.2-1');
    checkReasonCode(PacketType.CONNACK, reasonCode);
    const sessionPresent = ackFlags === 1;
    if (sessionPresent && reasonCode !== 0) {
      throw new ProtocolError('CONNACK refusing the connection with Session Present set', 'MQTT-3.2.2-6', PROTOCOL_ERROR);
    }
    // v5 [MQTT-2.2.2-1] the Property Length is always there (0 when there are no properties).
    const properties = readProperties(this, PacketType.CONNACK);
    this.trailing(PacketType.CONNACK);
    return { type: PacketType.CONNACK, sessionPresent, returnCode: reasonCode, reasonCode, properties };
  }

  private subscribe(): SubscribePacket {
    const packetId = this.u16('SUBSCRIBE packet id');
    if (packetId === 0) throw zeroId(PacketType.SUBSCRIBE);
    const properties = readProperties(this, PacketType.SUBSCRIBE);
    const subscriptions: Subscription[] = [];
    const max = this.maxFilters;
    while (this.p < this.e && subscriptions.length < max) {
      const topic = this.str('SUBSCRIBE topic filter', 'MQTT-3.8.3-1'); // v5 [MQTT-3.8.3-1]
      if (topic.length === 0) {
        throw new ProtocolError('SUBSCRIBE with an empty topic filter', 'MQTT-4.7.3-1', TOPIC_FILTER_INVALID);
      }
      const options = this.u8('SUBSCRIBE subscription options', 'MQTT-3.8.3-1');
      // v5 [MQTT-3.8.3-5] reserved bits 6-7: Malformed Packet.
      if ((options & 0xc0) !== 0) {
        throw new ProtocolError(`SUBSCRIBE options 0x${options.toString(16)} with reserved bits set`, 'MQTT-3.8.3-5');
      }
      const qos = options & 3;
      const retainHandling = (options >>> 4) & 3;
      // [unnumbered §3.8.3.1] Maximum QoS 3 and Retain Handling 3 are Protocol Errors.
      if (qos === 3) throw new ProtocolError('SUBSCRIBE with Maximum QoS 3', undefined, PROTOCOL_ERROR);
      if (retainHandling === 3) throw new ProtocolError('SUBSCRIBE with Retain Handling 3', undefined, PROTOCOL_ERROR);
      subscriptions.push({
        topic,
        qos: qos as QoS,
        noLocal: (options & 0x04) !== 0,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as RetainHandling,
      });
    }
    // v5 [MQTT-3.8.3-2] at least one filter: a Protocol Error otherwise.
    if (subscriptions.length === 0) throw new ProtocolError('SUBSCRIBE without any topic filter', 'MQTT-3.8.3-2', PROTOCOL_ERROR);
    if (this.p === this.e) return { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties };
    // Beyond the cap: the same checks on the bytes (the packet stays as malformed or as valid as
    // if decoded), no string, no object; the handler refuses these filters by count.
    const overflow = this.skipFilters();
    return { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties, overflow };
  }

  /** Validates the rest of a SUBSCRIBE's filters and options without decoding them; returns their count. */
  private skipFilters(): number {
    const d = this.buf;
    const e = this.e;
    let p = this.p;
    let count = 0;
    while (p < e) {
      if (e - p < 2) throw truncated('SUBSCRIBE topic filter', 'MQTT-3.8.3-1');
      const len = (d[p] << 8) | d[p + 1];
      const start = p + 2;
      const end = start + len;
      if (end > e) throw truncated('SUBSCRIBE topic filter', 'MQTT-3.8.3-1');
      if (len === 0) throw new ProtocolError('SUBSCRIBE with an empty topic filter', 'MQTT-4.7.3-1', TOPIC_FILTER_INVALID);
      if (!isValidUtf8(d, start, end)) {
        decodeUtf8V5(d, start, end); // throws the precise error (v5 [MQTT-1.5.4-1] or [MQTT-1.5.4-2])
        throw new ProtocolError('string is not well-formed UTF-8', 'MQTT-1.5.4-1');
      }
      if (end >= e) throw truncated('SUBSCRIBE subscription options', 'MQTT-3.8.3-1');
      const options = d[end];
      if ((options & 0xc0) !== 0) {
        throw new ProtocolError(`SUBSCRIBE options 0x${options.toString(16)} with reserved bits set`, 'MQTT-3.8.3-5');
      }
      if ((options & 3) === 3) throw new ProtocolError('SUBSCRIBE with Maximum QoS 3', undefined, PROTOCOL_ERROR);
      if (((options >>> 4) & 3) === 3) throw new ProtocolError('SUBSCRIBE with Retain Handling 3', undefined, PROTOCOL_ERROR);
      p = end + 1;
      count++;
    }
    this.p = p;
    return count;
  }

  private suback(): SubackPacket {
    const packetId = this.u16('SUBACK packet id');
    if (packetId === 0) throw zeroId(PacketType.SUBACK);
    const properties = readProperties(this, PacketType.SUBACK);
    const granted = this.reasonCodes(PacketType.SUBACK);
    return { type: PacketType.SUBACK, packetId, granted, properties };
  }

  private unsubscribe(): UnsubscribePacket {
    const packetId = this.u16('UNSUBSCRIBE packet id');
    if (packetId === 0) throw zeroId(PacketType.UNSUBSCRIBE);
    const properties = readProperties(this, PacketType.UNSUBSCRIBE);
    const topics: string[] = [];
    while (this.p < this.e) {
      const topic = this.str('UNSUBSCRIBE topic filter', 'MQTT-3.10.3-1'); // v5 [MQTT-3.10.3-1]
      if (topic.length === 0) {
        throw new ProtocolError('UNSUBSCRIBE with an empty topic filter', 'MQTT-4.7.3-1', TOPIC_FILTER_INVALID);
      }
      topics.push(topic);
    }
    // v5 [MQTT-3.10.3-2] at least one filter: a Protocol Error otherwise.
    if (topics.length === 0) throw new ProtocolError('UNSUBSCRIBE without any topic filter', 'MQTT-3.10.3-2', PROTOCOL_ERROR);
    return { type: PacketType.UNSUBSCRIBE, packetId, topics, properties };
  }

  private unsuback(): AckPacket {
    const packetId = this.u16('UNSUBACK packet id');
    if (packetId === 0) throw zeroId(PacketType.UNSUBACK);
    const properties = readProperties(this, PacketType.UNSUBACK);
    const reasonCodes = this.reasonCodes(PacketType.UNSUBACK);
    return { type: PacketType.UNSUBACK, packetId, reasonCodes, properties };
  }

  /** The rest of a SUBACK or UNSUBACK: one Reason Code per filter, at least one. */
  private reasonCodes(type: number): number[] {
    const codes: number[] = [];
    const buf = this.buf;
    for (let i = this.p; i < this.e; i++) {
      checkReasonCode(type, buf[i]); // v5 [MQTT-3.9.3-2], [MQTT-3.11.3-2]
      codes.push(buf[i]);
    }
    this.p = this.e;
    if (codes.length === 0) throw new ProtocolError(`${TYPE_NAME[type]} without any Reason Code`, undefined, PROTOCOL_ERROR);
    return codes;
  }

  private disconnect(): EmptyPacket {
    let reasonCode = 0;
    let properties: Properties | undefined;
    // [unnumbered §3.14.2.1] Remaining Length 0: Normal disconnection; below 2: no properties.
    if (this.p < this.e) {
      reasonCode = this.buf[this.p++];
      checkReasonCode(PacketType.DISCONNECT, reasonCode); // v5 [MQTT-3.14.2-1]
      if (this.p < this.e) properties = readProperties(this, PacketType.DISCONNECT);
    }
    this.trailing(PacketType.DISCONNECT);
    return { type: PacketType.DISCONNECT, reasonCode, properties };
  }

  private auth(): AuthPacket {
    let reasonCode = 0;
    let properties: Properties | undefined;
    // [unnumbered §3.15.2.1] Remaining Length 0: Success without properties; otherwise both fields.
    if (this.p < this.e) {
      reasonCode = this.buf[this.p++];
      checkReasonCode(PacketType.AUTH, reasonCode); // v5 [MQTT-3.15.2-1]
      if (this.p === this.e) throw truncated('AUTH Property Length');
      properties = readProperties(this, PacketType.AUTH);
    }
    this.trailing(PacketType.AUTH);
    return { type: PacketType.AUTH, reasonCode, properties };
  }
}
