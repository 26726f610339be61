/**
 * MQTT 5 properties (section 2.2.2): the table of the 27 property identifiers, their types and the
 * packets that may carry them; the strict decoder the v5 parser uses, and the encoder.
 *
 * Decoding rules (each a ProtocolError whose reasonCode is what a v5 peer is told):
 * - an unknown identifier, or one not allowed in this packet → 0x81 Malformed Packet
 *   [unnumbered §2.2.2.2];
 * - a value that runs past the Property Length, or a Property Length past the packet → 0x81;
 * - a single-valued property present twice → 0x82 Protocol Error (only User Property, and
 *   Subscription Identifier in PUBLISH, may repeat) [unnumbered §2.2.2.2];
 * - byte flags other than 0 or 1 (Payload Format Indicator, Request Problem / Response
 *   Information, Maximum QoS, Retain / Wildcard / Subscription Identifier / Shared Subscription
 *   Available), Receive Maximum 0, Maximum Packet Size 0, Subscription Identifier 0, Authentication
 *   Data without Authentication Method → 0x82 [unnumbered §3.1.2.11, §3.2.2.3, §3.3.2.3.8];
 * - strings follow 1.5.4 (v5 [MQTT-1.5.4-1], v5 [MQTT-1.5.4-2]) and both strings of a User
 *   Property too (v5 [MQTT-1.5.7-1]) → 0x81; a Response Topic holds no wildcard
 *   (v5 [MQTT-3.3.2-14]) → 0x90;
 * - Variable Byte Integers have at most 4 bytes [unnumbered §1.5.5] and use the fewest bytes
 *   possible (v5 [MQTT-1.5.5-1], the strict reading: a non-minimal form is refused) → 0x81.
 * Topic Alias 0 is decoded as is: refusing it (DISCONNECT 0x94, v5 [MQTT-3.3.2-8]) is the
 * broker's job, which knows the Topic Alias Maximum it announced.
 *
 * Payload Format Indicator other than 0/1 is treated like the other byte flags (0x82); the spec
 * gives no explicit code for it.
 */
import { Properties, UserProperty } from './packets';
import { MALFORMED_PACKET, PROTOCOL_ERROR, ProtocolError } from './errors';
import { decodeTopicNameV5, decodeUtf8V5 } from './utf8';

/**
 * Context in which properties appear: the packet type (1..15), or WILL_PROPERTIES for the Will
 * Properties of a CONNECT (packet type 0 is reserved, so the number is free).
 */
export const WILL_PROPERTIES = 0;

/** Largest value of a Variable Byte Integer (section 1.5.5). */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455;

const enum Kind {
  Byte,
  TwoByte,
  FourByte,
  Varint,
  String,
  Binary,
  Pair,
}

const CONNECT = 1 << 1;
const CONNACK = 1 << 2;
const PUBLISH = 1 << 3;
const PUBACK = 1 << 4;
const PUBREC = 1 << 5;
const PUBREL = 1 << 6;
const PUBCOMP = 1 << 7;
const SUBSCRIBE = 1 << 8;
const SUBACK = 1 << 9;
const UNSUBSCRIBE = 1 << 10;
const UNSUBACK = 1 << 11;
const DISCONNECT = 1 << 14;
const AUTH = 1 << 15;
const WILL = 1 << WILL_PROPERTIES;
const ALL = CONNECT | CONNACK | PUBLISH | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBSCRIBE | SUBACK | UNSUBSCRIBE | UNSUBACK | DISCONNECT | AUTH | WILL;

/** Value check beyond the type: what counts as a Protocol Error (0x82). */
const enum Check {
  None,
  /** 0 or 1 only. */
  Flag,
  /** Not 0. */
  NonZero,
}

interface PropertyDef {
  id: number;
  name: keyof Properties;
  kind: Kind;
  /** Bit set of contexts (1 << packet type, 1 << WILL_PROPERTIES) that may carry it. */
  contexts: number;
  check: Check;
}

/** Table 2-4, in identifier order (which is also the order the encoder writes them in). */
const DEFS: readonly PropertyDef[] = [
  { id: 0x01, name: 'payloadFormatIndicator', kind: Kind.Byte, contexts: PUBLISH | WILL, check: Check.Flag },
  { id: 0x02, name: 'messageExpiryInterval', kind: Kind.FourByte, contexts: PUBLISH | WILL, check: Check.None },
  { id: 0x03, name: 'contentType', kind: Kind.String, contexts: PUBLISH | WILL, check: Check.None },
  { id: 0x08, name: 'responseTopic', kind: Kind.String, contexts: PUBLISH | WILL, check: Check.None },
  { id: 0x09, name: 'correlationData', kind: Kind.Binary, contexts: PUBLISH | WILL, check: Check.None },
  { id: 0x0b, name: 'subscriptionIdentifiers', kind: Kind.Varint, contexts: PUBLISH | SUBSCRIBE, check: Check.NonZero },
  { id: 0x11, name: 'sessionExpiryInterval', kind: Kind.FourByte, contexts: CONNECT | CONNACK | DISCONNECT, check: Check.None },
  { id: 0x12, name: 'assignedClientIdentifier', kind: Kind.String, contexts: CONNACK, check: Check.None },
  { id: 0x13, name: 'serverKeepAlive', kind: Kind.TwoByte, contexts: CONNACK, check: Check.None },
  { id: 0x15, name: 'authenticationMethod', kind: Kind.String, contexts: CONNECT | CONNACK | AUTH, check: Check.None },
  { id: 0x16, name: 'authenticationData', kind: Kind.Binary, contexts: CONNECT | CONNACK | AUTH, check: Check.None },
  { id: 0x17, name: 'requestProblemInformation', kind: Kind.Byte, contexts: CONNECT, check: Check.Flag },
  { id: 0x18, name: 'willDelayInterval', kind: Kind.FourByte, contexts: WILL, check: Check.None },
  { id: 0x19, name: 'requestResponseInformation', kind: Kind.Byte, contexts: CONNECT, check: Check.Flag },
  { id: 0x1a, name: 'responseInformation', kind: Kind.String, contexts: CONNACK, check: Check.None },
  { id: 0x1c, name: 'serverReference', kind: Kind.String, contexts: CONNACK | DISCONNECT, check: Check.None },
  {
    id: 0x1f,
    name: 'reasonString',
    kind: Kind.String,
    contexts: CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH,
    check: Check.None,
  },
  { id: 0x21, name: 'receiveMaximum', kind: Kind.TwoByte, contexts: CONNECT | CONNACK, check: Check.NonZero },
  { id: 0x22, name: 'topicAliasMaximum', kind: Kind.TwoByte, contexts: CONNECT | CONNACK, check: Check.None },
  { id: 0x23, name: 'topicAlias', kind: Kind.TwoByte, contexts: PUBLISH, check: Check.None },
  { id: 0x24, name: 'maximumQoS', kind: Kind.Byte, contexts: CONNACK, check: Check.Flag },
  { id: 0x25, name: 'retainAvailable', kind: Kind.Byte, contexts: CONNACK, check: Check.Flag },
  { id: 0x26, name: 'userProperties', kind: Kind.Pair, contexts: ALL, check: Check.None },
  { id: 0x27, name: 'maximumPacketSize', kind: Kind.FourByte, contexts: CONNECT | CONNACK, check: Check.NonZero },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', kind: Kind.Byte, contexts: CONNACK, check: Check.Flag },
  { id: 0x29, name: 'subscriptionIdentifierAvailable', kind: Kind.Byte, contexts: CONNACK, check: Check.Flag },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', kind: Kind.Byte, contexts: CONNACK, check: Check.Flag },
];

/** Property definitions by identifier (undefined for the unassigned ones). */
const BY_ID: (PropertyDef | undefined)[] = new Array(256).fill(undefined);
for (const def of DEFS) BY_ID[def.id] = def;

/** Context names for messages. */
const CONTEXT_NAME: readonly string[] = [
  'Will Properties', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

/** True when the property `id` may appear in `context` (a packet type or WILL_PROPERTIES). */
export function isPropertyAllowed(id: number, context: number): boolean {
  const def = BY_ID[id];
  return def !== undefined && (def.contexts & (1 << context)) !== 0;
}

/** A bounded read position in a packet; the v5 decoder is one. */
export interface Cursor {
  buf: Buffer;
  /** Next byte to read. */
  p: number;
  /** End (exclusive) of the packet's bytes. */
  e: number;
}

function malformed(message: string, rule?: string): ProtocolError {
  return new ProtocolError(message, rule, MALFORMED_PACKET);
}

function protocolError(message: string, rule?: string): ProtocolError {
  return new ProtocolError(message, rule, PROTOCOL_ERROR);
}

/**
 * Reads a Variable Byte Integer at c.p, bounded by c.e: at most 4 bytes [unnumbered §1.5.5],
 * minimal v5 [MQTT-1.5.5-1]. `what` names it in errors.
 */
export function readVariableByteInteger(c: Cursor, what: string): number {
  const buf = c.buf;
  let p = c.p;
  let value = 0;
  let mul = 1;
  for (let n = 0; ; n++) {
    if (n === 4) throw malformed(`${what}: Variable Byte Integer longer than 4 bytes`);
    if (p >= c.e) throw malformed(`${what} runs past the Remaining Length`);
    const b = buf[p++];
    value += (b & 0x7f) * mul;
    if (b < 0x80) {
      // A last byte of 0 after the first one means a shorter form existed.
      if (b === 0 && n > 0) throw malformed(`${what}: Variable Byte Integer not in its shortest form`, 'MQTT-1.5.5-1');
      c.p = p;
      return value;
    }
    mul *= 0x80;
  }
}

function readString(c: Cursor, def: PropertyDef, context: number): string {
  const p = c.p;
  if (c.e - p < 2) throw truncatedProperty(def, context);
  const start = p + 2;
  const end = start + ((c.buf[p] << 8) | c.buf[p + 1]);
  if (end > c.e) throw truncatedProperty(def, context);
  c.p = end;
  return def.id === 0x08 ? decodeTopicNameV5(c.buf, start, end, 'MQTT-3.3.2-14') : decodeUtf8V5(c.buf, start, end);
}

function truncatedProperty(def: PropertyDef, context: number): ProtocolError {
  return malformed(`${CONTEXT_NAME[context]} property ${def.name} runs past the Property Length`);
}

/**
 * Decodes the properties at c.p (Property Length first) for `context`, leaving c.p after them.
 * Returns undefined when the Property Length is 0 (no allocation for the common case).
 * Binary values (Correlation Data, Authentication Data) are copied: they outlive the chunk.
 */
export function readProperties(c: Cursor, context: number): Properties | undefined {
  const length = readVariableByteInteger(c, `${CONTEXT_NAME[context]} Property Length`);
  if (length === 0) return undefined;
  const end = c.p + length;
  if (end > c.e) throw malformed(`${CONTEXT_NAME[context]} Property Length runs past the Remaining Length`);
  const outerEnd = c.e;
  c.e = end; // values are bounded by the Property Length, not only by the packet
  const props: Properties = {};
  const buf = c.buf;
  const contextBit = 1 << context;
  while (c.p < end) {
    // Identifiers are Variable Byte Integers; all assigned ones fit in one byte, so a byte with the
    // continuation bit is an unknown identifier whatever follows.
    const id = buf[c.p++];
    const def = BY_ID[id];
    if (def === undefined) throw malformed(`${CONTEXT_NAME[context]} with unknown property identifier 0x${id.toString(16)}`);
    if ((def.contexts & contextBit) === 0) {
      throw malformed(`${CONTEXT_NAME[context]} may not carry property ${def.name} (0x${id.toString(16)})`);
    }
    let value: number | string | Buffer;
    switch (def.kind) {
      case Kind.Byte:
        if (c.p >= end) throw truncatedProperty(def, context);
        value = buf[c.p++];
        break;
      case Kind.TwoByte:
        if (end - c.p < 2) throw truncatedProperty(def, context);
        value = (buf[c.p] << 8) | buf[c.p + 1];
        c.p += 2;
        break;
      case Kind.FourByte:
        if (end - c.p < 4) throw truncatedProperty(def, context);
        value = buf.readUInt32BE(c.p);
        c.p += 4;
        break;
      case Kind.Varint:
        value = readVariableByteInteger(c, `${CONTEXT_NAME[context]} property ${def.name}`);
        break;
      case Kind.String:
        value = readString(c, def, context);
        break;
      case Kind.Binary: {
        const p = c.p;
        if (end - p < 2) throw truncatedProperty(def, context);
        const start = p + 2;
        const valueEnd = start + ((buf[p] << 8) | buf[p + 1]);
        if (valueEnd > end) throw truncatedProperty(def, context);
        c.p = valueEnd;
        value = Buffer.from(buf.subarray(start, valueEnd));
        break;
      }
      default: {
        // Kind.Pair: v5 [MQTT-1.5.7-1] both strings follow the UTF-8 rules.
        const name = readString(c, def, context);
        const pairValue = readString(c, def, context);
        const pair: UserProperty = [name, pairValue];
        if (props.userProperties === undefined) props.userProperties = [pair];
        else props.userProperties.push(pair);
        continue;
      }
    }
    if (def.check !== Check.None) {
      if (def.check === Check.Flag ? value !== 0 && value !== 1 : value === 0) {
        throw protocolError(`${CONTEXT_NAME[context]} property ${def.name} with value ${value as number}`);
      }
    }
    if (def.id === 0x0b) {
      // Subscription Identifier: several in a server's PUBLISH (v5 [MQTT-3.3.4-4]), one in SUBSCRIBE
      // [unnumbered §3.8.2.1.2].
      const ids = props.subscriptionIdentifiers;
      if (ids === undefined) props.subscriptionIdentifiers = [value as number];
      else if (context === 3) ids.push(value as number);
      else throw protocolError(`${CONTEXT_NAME[context]} with Subscription Identifier twice`);
      continue;
    }
    if (props[def.name] !== undefined) {
      throw protocolError(`${CONTEXT_NAME[context]} with property ${def.name} twice`);
    }
    (props as Record<string, unknown>)[def.name] = value;
  }
  c.e = outerEnd;
  // [unnumbered §3.1.2.11.10, §3.15.2.2] Authentication Data needs an Authentication Method.
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
    throw protocolError(`${CONTEXT_NAME[context]} with Authentication Data but no Authentication Method`);
  }
  return props;
}

// ---- encoding ----

/** Bytes a Variable Byte Integer takes (RangeError above the maximum). */
export function variableByteIntegerSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n <= MAX_VARIABLE_BYTE_INTEGER) return 4;
  throw new RangeError(`${n} does not fit a Variable Byte Integer (maximum ${MAX_VARIABLE_BYTE_INTEGER})`);
}

/** Writes `n` as a minimal Variable Byte Integer at `p` v5 [MQTT-1.5.5-1]; returns the offset after it. */
export function writeVariableByteInteger(buf: Buffer, p: number, n: number): number {
  do {
    let digit = n & 0x7f;
    n >>>= 7;
    if (n > 0) digit |= 0x80;
    buf[p++] = digit;
  } while (n > 0);
  return p;
}

const EMPTY = Buffer.alloc(0);

function checkInteger(def: PropertyDef, value: unknown, max: number, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`property ${def.name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

function stringBytes(def: PropertyDef, s: unknown): number {
  if (typeof s !== 'string') throw new RangeError(`property ${def.name} must be a string`);
  const len = Buffer.byteLength(s, 'utf8');
  if (len > 0xffff) throw new RangeError(`property ${def.name} is ${len} bytes long; the maximum is 65535`);
  return len;
}

/**
 * Encodes `props` for `context` as property bytes (without the Property Length), in identifier
 * order. A property the context may not carry, or a value out of range, is a caller bug: RangeError.
 * Returns a shared empty buffer when there is nothing to write.
 */
export function encodeProperties(props: Properties | undefined, context: number): Buffer {
  if (props === undefined) return EMPTY;
  const contextBit = 1 << context;
  let size = 0;
  for (let i = 0; i < DEFS.length; i++) {
    const def = DEFS[i];
    const value = props[def.name];
    if (value === undefined) continue;
    if ((def.contexts & contextBit) === 0) {
      throw new RangeError(`${CONTEXT_NAME[context]} may not carry property ${def.name}`);
    }
    switch (def.kind) {
      case Kind.Byte:
        checkInteger(def, value, def.check === Check.Flag ? 1 : 0xff, 0);
        size += 2;
        break;
      case Kind.TwoByte:
        checkInteger(def, value, 0xffff, def.check === Check.NonZero ? 1 : 0);
        size += 3;
        break;
      case Kind.FourByte:
        checkInteger(def, value, 0xffffffff, def.check === Check.NonZero ? 1 : 0);
        size += 5;
        break;
      case Kind.Varint: {
        const ids = value as number[];
        if (!Array.isArray(ids)) throw new RangeError(`property ${def.name} must be an array`);
        if (ids.length > 1 && context !== 3) throw new RangeError(`${CONTEXT_NAME[context]} carries at most one ${def.name}`);
        for (const id of ids) size += 1 + variableByteIntegerSize(checkInteger(def, id, MAX_VARIABLE_BYTE_INTEGER, 1));
        break;
      }
      case Kind.String:
        size += 3 + stringBytes(def, value);
        break;
      case Kind.Binary:
        if (!Buffer.isBuffer(value)) throw new RangeError(`property ${def.name} must be a Buffer`);
        if (value.length > 0xffff) throw new RangeError(`property ${def.name} is ${value.length} bytes long; the maximum is 65535`);
        size += 3 + value.length;
        break;
      default: {
        const pairs = value as UserProperty[];
        if (!Array.isArray(pairs)) throw new RangeError(`property ${def.name} must be an array of [name, value]`);
        for (const pair of pairs) size += 5 + stringBytes(def, pair[0]) + stringBytes(def, pair[1]);
      }
    }
  }
  if (size === 0) return EMPTY;
  const buf = Buffer.allocUnsafe(size);
  let p = 0;
  for (let i = 0; i < DEFS.length; i++) {
    const def = DEFS[i];
    const value = props[def.name];
    if (value === undefined) continue;
    switch (def.kind) {
      case Kind.Byte:
        buf[p++] = def.id;
        buf[p++] = value as number;
        break;
      case Kind.TwoByte:
        buf[p++] = def.id;
        buf[p++] = (value as number) >>> 8;
        buf[p++] = (value as number) & 0xff;
        break;
      case Kind.FourByte:
        buf[p++] = def.id;
        buf.writeUInt32BE(value as number, p);
        p += 4;
        break;
      case Kind.Varint:
        for (const id of value as number[]) {
          buf[p++] = def.id;
          p = writeVariableByteInteger(buf, p, id);
        }
        break;
      case Kind.String:
        buf[p++] = def.id;
        p = writeString(buf, p, value as string);
        break;
      case Kind.Binary: {
        const b = value as Buffer;
        buf[p++] = def.id;
        buf[p++] = b.length >>> 8;
        buf[p++] = b.length & 0xff;
        b.copy(buf, p);
        p += b.length;
        break;
      }
      default:
        for (const pair of value as UserProperty[]) {
          buf[p++] = def.id;
          p = writeString(buf, p, pair[0]);
          p = writeString(buf, p, pair[1]);
        }
    }
  }
  return buf;
}

function writeString(buf: Buffer, p: number, s: string): number {
  const len = buf.write(s, p + 2, 'utf8');
  buf[p] = len >>> 8;
  buf[p + 1] = len & 0xff;
  return p + 2 + len;
}
