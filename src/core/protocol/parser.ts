/**
 * Streaming MQTT 3.1.1 and 5.0 parser (pull style).
 *
 *   parser.push(chunk);
 *   let packet;
 *   while ((packet = parser.next()) !== null) handle(packet);
 *
 * push() only queues bytes; next() decodes one packet. The connection can therefore stop in the
 * middle of a chunk (refused CONNECT [MQTT-3.1.4-5], DISCONNECT [MQTT-3.14.4-2], backpressure)
 * and nothing after that point has been acted on.
 *
 * Buffering strategy (this runs for every inbound packet):
 * - fast path: the whole packet lies in the current chunk; it is decoded in place and the offset
 *   advances. No copy: PUBLISH payloads are `subarray` views of the received chunk (they keep the
 *   chunk alive: copy a payload before storing it for long, e.g. as a retained message).
 * - slow path: the packet straddles chunks. The chunks stay queued untouched until the whole packet
 *   has arrived, then its bytes are concatenated once (never re-concatenated per chunk). Runs of
 *   tiny chunks are merged as they queue up, so a trickled packet does not cost one Buffer object
 *   per byte (each byte is copied at most twice in all).
 * - the first byte (type and flags) and the Remaining Length are checked as soon as they are
 *   available, so an oversized or ill-flagged packet is refused before its body is buffered.
 *
 * Every violation throws ProtocolError (with the checklist id when one applies); after that the
 * parser is dead and every further next() throws the same error (reset() revives it).
 * Bytes that are merely incomplete make next() return null.
 *
 * The parser decodes all 14 packet types, server-to-client ones included; refusing a CONNACK,
 * SUBACK, UNSUBACK or PINGRESP from a client is the broker's job (handlers), not the codec's.
 *
 * MQTT 5: a CONNECT announcing level 5 ("MQTT", 5) is decoded with its properties and switches
 * the parser to level 5 (as does setting `protocolLevel = 5`, e.g. on the client side after
 * sending a v5 CONNECT). From then on the fixed header follows the v5 rules (AUTH, type 15, is
 * allowed; acks and DISCONNECT have variable lengths) and bodies are decoded by parser-v5.ts.
 * 3.1.1 decoding is untouched by this (one level test per packet).
 */
import {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  EmptyPacket,
  Packet,
  PacketType,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubscribePacket,
  WillMessage,
} from './packets';
import { PacketTooLargeError, ProtocolError } from './errors';
import { decodeTopicName, decodeUtf8, isValidUtf8 } from './utf8';
import { checkFirstByteV5, decodePublishV5, V5Decoder } from './parser-v5';

export interface ParserOptions {
  /** Largest Remaining Length accepted, in bytes; default (and wire maximum) 268435455. */
  maxPacketSize: number;
  /**
   * Largest Remaining Length of the first packet (a connection's CONNECT); default maxPacketSize.
   * Before login a client has proved nothing, so it may hold only this much memory.
   */
  maxFirstPacketSize: number;
  /**
   * SUBSCRIBE filters decoded into objects; those beyond are validated on their bytes only and
   * counted in SubscribePacket.overflow (the broker refuses them all: max-filters-per-subscribe).
   * Default: no cap.
   */
  maxFiltersPerSubscribe: number;
}

/** Largest value a 4-byte Remaining Length can hold (section 2.2.3). */
export const MAX_REMAINING_LENGTH = 268_435_455;

const EMPTY = Buffer.alloc(0);

/**
 * Tiny chunks (a peer trickling a large packet a few bytes per TCP segment) are merged in runs of
 * this many, so the queue holds few Buffer objects; each byte is copied at most once by this.
 * Runs averaging more than COALESCE_MAX_AVERAGE bytes per chunk are left alone (no copy).
 */
const COALESCE_RUN = 256;
const COALESCE_MAX_AVERAGE = 512;

/**
 * Exact Remaining Length of the fixed-size packet types, -1 where it varies. Indexed by type.
 * (Type 0 never gets here: the first byte is checked before; type 15, AUTH, only at level 5.)
 */
const FIXED_LENGTH: readonly number[] = [-1, -1, 2, -1, 2, 2, 2, 2, -1, -1, -1, 2, 0, 0, 0, -1];
/** The same for MQTT 5, where only PINGREQ and PINGRESP keep a fixed length. */
const FIXED_LENGTH_V5: readonly number[] = [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, -1, -1];

/** Checklist id for a wrong reserved flag nibble, by type [MQTT-2.2.2-2]. */
const FLAG_RULE: readonly string[] = [
  '', 'MQTT-2.2.2-2', 'MQTT-2.2.2-2', '', 'MQTT-2.2.2-2', 'MQTT-2.2.2-2', 'MQTT-3.6.1-1', 'MQTT-2.2.2-2',
  'MQTT-3.8.1-1', 'MQTT-2.2.2-2', 'MQTT-3.10.1-1', 'MQTT-2.2.2-2', 'MQTT-2.2.2-2', 'MQTT-2.2.2-2',
  'MQTT-3.14.1-1', '',
];

const TYPE_NAME: readonly string[] = [
  'reserved(0)', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'reserved(15)',
];

/** Validates the first byte of a fixed header (packet type and flag nibble). */
function checkFirstByte(b0: number): void {
  const type = b0 >>> 4;
  const flags = b0 & 0x0f;
  if (type === PacketType.PUBLISH) {
    const qos = (flags >>> 1) & 3;
    if (qos === 3) throw new ProtocolError('PUBLISH with QoS 3', 'MQTT-3.3.1-4');
    if (qos === 0 && (flags & 0x08) !== 0) throw new ProtocolError('QoS 0 PUBLISH with DUP set', 'MQTT-3.3.1-2');
    return;
  }
  // [unnumbered §2.2.1] types 0 and 15 are reserved.
  if (type === 0 || type === 15) throw new ProtocolError(`reserved packet type ${type}`);
  const required = type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE ? 2 : 0;
  if (flags !== required) {
    throw new ProtocolError(`${TYPE_NAME[type]} with reserved flags ${flags.toString(2).padStart(4, '0')}`, FLAG_RULE[type]);
  }
}

function remainingLengthTooLong(): ProtocolError {
  // [unnumbered §2.2.3 + Errata 01] at most four Remaining Length bytes.
  return new ProtocolError('Remaining Length longer than 4 bytes');
}

function truncated(what: string, rule?: string): ProtocolError {
  return new ProtocolError(`malformed packet: ${what} runs past the Remaining Length`, rule);
}

function trailing(type: number, rule?: string): ProtocolError {
  return new ProtocolError(`${TYPE_NAME[type]} has bytes after its last field`, rule);
}

function zeroId(type: number): ProtocolError {
  return new ProtocolError(`${TYPE_NAME[type]} with packet id 0`, 'MQTT-2.3.1-1');
}

function decodePublish(b0: number, buf: Buffer, p: number, end: number): PublishPacket {
  if (end - p < 2) throw truncated('PUBLISH topic length', 'MQTT-3.3.2-1');
  const topicLength = (buf[p] << 8) | buf[p + 1];
  const topicEnd = p + 2 + topicLength;
  if (topicEnd > end) throw truncated('PUBLISH topic', 'MQTT-3.3.2-1');
  if (topicLength === 0) throw new ProtocolError('PUBLISH with an empty topic', 'MQTT-4.7.3-1');
  const topic = decodeTopicName(buf, p + 2, topicEnd, 'MQTT-3.3.2-2');
  p = topicEnd;
  const qos = ((b0 >>> 1) & 3) as QoS;
  let packetId = 0;
  if (qos !== 0) {
    if (end - p < 2) throw truncated('PUBLISH packet id');
    packetId = (buf[p] << 8) | buf[p + 1];
    if (packetId === 0) throw zeroId(PacketType.PUBLISH);
    p += 2;
  }
  // [MQTT-2.3.1-5] a QoS 0 PUBLISH has no packet id: the payload follows the topic.
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: buf.subarray(p, end),
    qos,
    retain: (b0 & 1) !== 0,
    dup: (b0 & 8) !== 0,
    packetId,
  };
}

export class PacketParser {
  /** Protocol level in force; 4 until a CONNECT sets it. 5 selects MQTT 5 decoding. */
  protocolLevel = 4;

  /** MQTT 5 body decoder, created with the first v5 packet. */
  private v5: V5Decoder | null = null;

  private maxPacketSize: number;
  /** SUBSCRIBE filters decoded into objects (ParserOptions.maxFiltersPerSubscribe). */
  private maxFilters: number;
  /** The limit for the next packet: maxFirstPacketSize until a first packet's length passed, then maxPacketSize. */
  private limit: number;

  /** Current chunk and read offset in it. When it is exhausted the queue is empty. */
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Chunks received after `buf`, not yet reached; `queue[queueHead]` is the next one. */
  private queue: Buffer[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  /** Start in `queue` of the chunks not yet considered for coalescing. */
  private runStart = 0;

  /** Slow path: total size (header + body) of the packet being waited for, -1 if unknown. */
  private need = -1;
  /** Slow path: fixed header size of that packet. */
  private needHeader = 0;

  /** First error thrown; once set, the parser is dead. */
  private failure: unknown = null;

  /** Cursor used while decoding the variable-size packets other than PUBLISH. */
  private d: Buffer = EMPTY;
  private p = 0;
  private e = 0;

  constructor(options?: Partial<ParserOptions>) {
    const max = options?.maxPacketSize ?? MAX_REMAINING_LENGTH;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxPacketSize must be a non-negative integer, got ${max}`);
    this.maxPacketSize = Math.min(max, MAX_REMAINING_LENGTH);
    const first = options?.maxFirstPacketSize ?? this.maxPacketSize;
    if (!Number.isInteger(first) || first < 0) throw new RangeError(`maxFirstPacketSize must be a non-negative integer, got ${first}`);
    this.limit = Math.min(first, this.maxPacketSize);
    const filters = options?.maxFiltersPerSubscribe ?? Infinity;
    if (!(filters >= 0)) throw new RangeError(`maxFiltersPerSubscribe must be a non-negative number, got ${filters}`);
    this.maxFilters = filters;
  }

  /**
   * Re-arms a released parser for a connection's next bytes (acquireParser): the state reset()
   * clears, plus this connection's limits and level. The options were validated by the config.
   */
  rearm(maxPacketSize: number, maxFirstPacketSize: number, protocolLevel: number, maxFiltersPerSubscribe: number): void {
    this.reset();
    this.maxFilters = maxFiltersPerSubscribe;
    this.maxPacketSize = Math.min(maxPacketSize, MAX_REMAINING_LENGTH);
    this.limit = Math.min(maxFirstPacketSize, this.maxPacketSize);
    this.protocolLevel = protocolLevel;
  }

  /** Appends received bytes; nothing is parsed here. Ignored once the parser is dead. */
  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure !== null) return;
    if (this.pos === this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
      if (this.queue.length - this.runStart >= COALESCE_RUN) this.coalesce();
    }
  }

  /** Merges the latest run of queued chunks into one if they are small on average. */
  private coalesce(): void {
    const queue = this.queue;
    const start = Math.max(this.runStart, this.queueHead);
    let bytes = 0;
    for (let i = start; i < queue.length; i++) bytes += queue[i].length;
    if (queue.length - start > 1 && bytes <= (queue.length - start) * COALESCE_MAX_AVERAGE) {
      const merged = Buffer.concat(queue.slice(start), bytes);
      queue.length = start;
      queue.push(merged);
    }
    this.runStart = queue.length;
  }

  /** Bytes received and not yet consumed by a decoded packet. */
  get bufferedBytes(): number {
    return this.buf.length - this.pos + this.queuedBytes;
  }

  /** Drops all buffered bytes and any error; the protocol level goes back to 4. */
  reset(): void {
    this.buf = EMPTY;
    this.pos = 0;
    if (this.queue.length !== 0) this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.runStart = 0;
    this.need = -1;
    this.needHeader = 0;
    this.failure = null;
    this.d = EMPTY;
    this.protocolLevel = 4;
  }

  /**
   * Decodes the next complete packet; null when more bytes are needed.
   * Throws ProtocolError on malformed input, and again on every later call.
   */
  next(): Packet | null {
    if (this.failure !== null) throw this.failure;
    try {
      if (this.need < 0) {
        // Fast path: the whole packet is inside the current chunk.
        const buf = this.buf;
        const pos = this.pos;
        const bufEnd = buf.length;
        if (bufEnd - pos >= 2) {
          const b0 = buf[pos];
          const v5 = this.protocolLevel === 5;
          if (v5) checkFirstByteV5(b0);
          else checkFirstByte(b0);
          let i = pos + 1;
          let b = buf[i++];
          let len = b & 0x7f;
          if (b > 0x7f) {
            let mul = 0x80;
            do {
              if (i - pos > 4) throw remainingLengthTooLong();
              if (i >= bufEnd) return this.slowNext();
              b = buf[i++];
              len += (b & 0x7f) * mul;
              mul *= 0x80;
            } while (b > 0x7f);
          }
          const end = i + len;
          if (end <= bufEnd) {
            this.checkLength(b0 >>> 4, len);
            const packet =
              b0 >>> 4 !== PacketType.PUBLISH
                ? this.decode(b0, buf, i, end)
                : v5
                  ? decodePublishV5(b0, buf, i, end, this.v5Decoder())
                  : decodePublish(b0, buf, i, end);
            if (end === bufEnd) this.nextChunk();
            else this.pos = end;
            return packet;
          }
        }
      }
      return this.slowNext();
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  /** Current chunk exhausted: move to the next queued one, or to empty. */
  private nextChunk(): void {
    if (this.queueHead < this.queue.length) {
      const chunk = this.queue[this.queueHead];
      this.queue[this.queueHead++] = EMPTY;
      this.queuedBytes -= chunk.length;
      if (this.queueHead === this.queue.length) {
        this.queue = [];
        this.queueHead = 0;
        this.runStart = 0;
      }
      this.buf = chunk;
    } else {
      this.buf = EMPTY;
    }
    this.pos = 0;
  }

  /** The k-th unconsumed byte (k < bufferedBytes); only used for the few header bytes. */
  private byteAt(k: number): number {
    const inBuf = this.buf.length - this.pos;
    if (k < inBuf) return this.buf[this.pos + k];
    k -= inBuf;
    for (let q = this.queueHead; ; q++) {
      const chunk = this.queue[q];
      if (k < chunk.length) return chunk[k];
      k -= chunk.length;
    }
  }

  private checkLength(type: number, len: number): void {
    const limit = this.limit;
    if (len > limit) throw new PacketTooLargeError(len, limit, limit !== this.maxPacketSize);
    this.limit = this.maxPacketSize;
    const fixed = FIXED_LENGTH[type];
    // The level is only consulted off the 3.1.1 path: most v5 packets have no fixed length.
    if (fixed >= 0 && len !== fixed && !(this.protocolLevel === 5 && FIXED_LENGTH_V5[type] < 0)) {
      throw new ProtocolError(`${TYPE_NAME[type]} with Remaining Length ${len}, expected ${fixed}`);
    }
  }

  private slowNext(): Packet | null {
    let need = this.need;
    const available = this.bufferedBytes;
    if (need < 0) {
      if (available === 0) return null;
      const b0 = this.byteAt(0);
      if (this.protocolLevel === 5) checkFirstByteV5(b0);
      else checkFirstByte(b0);
      let len = 0;
      let mul = 1;
      let k = 1;
      let b: number;
      do {
        if (k > 4) throw remainingLengthTooLong();
        if (k >= available) return null;
        b = this.byteAt(k++);
        len += (b & 0x7f) * mul;
        mul *= 0x80;
      } while (b > 0x7f);
      this.checkLength(b0 >>> 4, len);
      need = this.need = k + len;
      this.needHeader = k;
    }
    if (available < need) return null;
    const whole = this.take(need);
    this.need = -1;
    return this.decode(whole[0], whole, this.needHeader, need);
  }

  /** Removes the next n buffered bytes (n <= bufferedBytes) and returns them as one buffer. */
  private take(n: number): Buffer {
    const first = this.buf.length - this.pos;
    if (n <= first) {
      // Not reached from slowNext (a packet that fits the current chunk takes the fast path);
      // kept so take() is correct on its own.
      const out = this.buf.subarray(this.pos, this.pos + n);
      if (n === first) this.nextChunk();
      else this.pos += n;
      return out;
    }
    const parts: Buffer[] = [this.buf.subarray(this.pos)];
    let got = first;
    this.nextChunk();
    while (got < n) {
      const rest = n - got;
      if (this.buf.length <= rest) {
        parts.push(this.buf);
        got += this.buf.length;
        this.nextChunk();
      } else {
        parts.push(this.buf.subarray(0, rest));
        this.pos = rest;
        got = n;
      }
    }
    return Buffer.concat(parts, n);
  }

  private decode(b0: number, buf: Buffer, start: number, end: number): Packet {
    const type = b0 >>> 4;
    // MQTT 5 bodies, except CONNECT: its header says which level it is (decodeConnect).
    if (this.protocolLevel === 5 && type !== PacketType.CONNECT) return this.v5Decoder().decode(b0, buf, start, end);
    switch (type) {
      case PacketType.PUBLISH:
        return decodePublish(b0, buf, start, end);
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
      case PacketType.UNSUBACK: {
        // Remaining Length is exactly 2 (checked in checkLength).
        const packetId = (buf[start] << 8) | buf[start + 1];
        if (packetId === 0) throw zeroId(type);
        return { type, packetId } as AckPacket;
      }
      case PacketType.PINGREQ:
      case PacketType.PINGRESP:
      case PacketType.DISCONNECT:
        return { type } as EmptyPacket;
      case PacketType.CONNACK:
        return decodeConnack(buf, start);
    }
    this.d = buf;
    this.p = start;
    this.e = end;
    try {
      switch (type) {
        case PacketType.CONNECT:
          return this.decodeConnect();
        case PacketType.SUBSCRIBE:
          return this.decodeSubscribe();
        case PacketType.SUBACK:
          return this.decodeSuback();
        default: // PacketType.UNSUBSCRIBE; 0 and 15 were refused by checkFirstByte
          return this.decodeUnsubscribe();
      }
    } finally {
      this.d = EMPTY; // do not keep the chunk alive
    }
  }

  private v5Decoder(): V5Decoder {
    const v5 = this.v5 ?? (this.v5 = new V5Decoder());
    v5.maxFilters = this.maxFilters;
    return v5;
  }

  // ---- cursor helpers for the variable-size packets other than PUBLISH ----

  private u8(what: string, rule?: string): number {
    if (this.p >= this.e) throw truncated(what, rule);
    return this.d[this.p++];
  }

  private u16(what: string, rule?: string): number {
    const p = this.p;
    if (this.e - p < 2) throw truncated(what, rule);
    this.p = p + 2;
    return (this.d[p] << 8) | this.d[p + 1];
  }

  /** A UTF-8 string; with `wildcardRule`, a Topic Name refusing '+' and '#'. */
  private str(what: string, rule?: string, wildcardRule?: string): string {
    const len = this.u16(what, rule);
    const start = this.p;
    const end = start + len;
    if (end > this.e) throw truncated(what, rule);
    this.p = end;
    return wildcardRule === undefined ? decodeUtf8(this.d, start, end) : decodeTopicName(this.d, start, end, wildcardRule);
  }

  /** Binary data (Will Message, password): copied, since the connection keeps them for its lifetime. */
  private bin(what: string, rule?: string): Buffer {
    const len = this.u16(what, rule);
    const start = this.p;
    const end = start + len;
    if (end > this.e) throw truncated(what, rule);
    this.p = end;
    return Buffer.from(this.d.subarray(start, end));
  }

  private decodeConnect(): ConnectPacket {
    // Protocol name, compared as bytes: anything but "MQTT" or "MQIsdp" is closed [MQTT-3.1.2-1].
    const nameLength = this.u16('protocol name', 'MQTT-3.1.2-1');
    const d = this.d;
    const n = this.p;
    if (n + nameLength > this.e) throw truncated('protocol name', 'MQTT-3.1.2-1');
    let protocolName: string;
    if (nameLength === 4 && d[n] === 0x4d && d[n + 1] === 0x51 && d[n + 2] === 0x54 && d[n + 3] === 0x54) {
      protocolName = 'MQTT';
    } else if (
      nameLength === 6 && d[n] === 0x4d && d[n + 1] === 0x51 && d[n + 2] === 0x49 &&
      d[n + 3] === 0x73 && d[n + 4] === 0x64 && d[n + 5] === 0x70
    ) {
      protocolName = 'MQIsdp';
    } else {
      throw new ProtocolError('CONNECT with an unknown protocol name', 'MQTT-3.1.2-1');
    }
    this.p = n + nameLength;
    const protocolLevel = this.u8('protocol level', 'MQTT-3.1.2-1');
    if (protocolLevel === 5 && protocolName === 'MQTT') {
      // MQTT 5: the rest of the CONNECT, then every later packet, follow the v5 layout.
      const packet = this.v5Decoder().connect(this.d, this.p, this.e, protocolName);
      this.protocolLevel = 5;
      return packet;
    }
    if (!((protocolLevel === 4 && protocolName === 'MQTT') || (protocolLevel === 3 && protocolName === 'MQIsdp'))) {
      // [MQTT-3.1.2-2] unsupported level: not parsed further; the broker answers CONNACK 0x01.
      return {
        type: PacketType.CONNECT,
        protocolName,
        protocolLevel,
        cleanSession: true,
        keepalive: 0,
        clientId: '',
        will: null,
        username: null,
        password: null,
      };
    }
    const flags = this.u8('connect flags');
    if ((flags & 0x01) !== 0) throw new ProtocolError('CONNECT reserved flag is set', 'MQTT-3.1.2-3');
    const willFlag = (flags & 0x04) !== 0;
    const willQos = (flags >>> 3) & 3;
    const willRetain = (flags & 0x20) !== 0;
    const passwordFlag = (flags & 0x40) !== 0;
    const usernameFlag = (flags & 0x80) !== 0;
    if (!willFlag) {
      if (willQos !== 0) throw new ProtocolError('CONNECT Will QoS set without Will flag', 'MQTT-3.1.2-13');
      if (willRetain) throw new ProtocolError('CONNECT Will Retain set without Will flag', 'MQTT-3.1.2-15');
    } else if (willQos === 3) {
      throw new ProtocolError('CONNECT Will QoS 3', 'MQTT-3.1.2-14');
    }
    if (passwordFlag && !usernameFlag) {
      throw new ProtocolError('CONNECT password flag without user name flag', 'MQTT-3.1.2-22');
    }
    const keepalive = this.u16('keep alive');
    const clientId = this.str('client id', 'MQTT-3.1.3-3');
    let will: WillMessage | null = null;
    if (willFlag) {
      const topic = this.str('Will Topic', 'MQTT-3.1.2-9', 'MQTT-4.7.1-1');
      if (topic.length === 0) throw new ProtocolError('CONNECT with an empty Will Topic', 'MQTT-4.7.3-1');
      const payload = this.bin('Will Message', 'MQTT-3.1.2-9');
      will = { topic, payload, qos: willQos as QoS, retain: willRetain };
    }
    const username = usernameFlag ? this.str('user name', 'MQTT-3.1.2-19') : null;
    const password = passwordFlag ? this.bin('password', 'MQTT-3.1.2-21') : null;
    if (this.p !== this.e) {
      // Leftover bytes: a user name or password sent without its flag, or inconsistent lengths.
      throw trailing(PacketType.CONNECT, !usernameFlag ? 'MQTT-3.1.2-18' : !passwordFlag ? 'MQTT-3.1.2-20' : 'MQTT-3.1.3-1');
    }
    this.protocolLevel = protocolLevel;
    return {
      type: PacketType.CONNECT,
      protocolName,
      protocolLevel,
      cleanSession: (flags & 0x02) !== 0,
      keepalive,
      clientId,
      will,
      username,
      password,
    };
  }

  private decodeSubscribe(): SubscribePacket {
    const packetId = this.u16('SUBSCRIBE packet id');
    if (packetId === 0) throw zeroId(PacketType.SUBSCRIBE);
    const subscriptions: Subscription[] = [];
    const max = this.maxFilters;
    while (this.p < this.e && subscriptions.length < max) {
      const topic = this.str('SUBSCRIBE topic filter', 'MQTT-3.8.3-1');
      if (topic.length === 0) throw new ProtocolError('SUBSCRIBE with an empty topic filter', 'MQTT-4.7.3-1');
      const qos = this.u8('SUBSCRIBE requested QoS', 'MQTT-3.8.3-4');
      if (qos > 2) throw new ProtocolError(`SUBSCRIBE requested-QoS byte 0x${qos.toString(16)}`, 'MQTT-3.8.3-4');
      subscriptions.push({ topic, qos: qos as QoS });
    }
    if (subscriptions.length === 0) throw new ProtocolError('SUBSCRIBE without any topic filter', 'MQTT-3.8.3-3');
    if (this.p === this.e) return { type: PacketType.SUBSCRIBE, packetId, subscriptions };
    // Beyond the cap: the same checks on the bytes (the packet stays as malformed or as valid
    // as if decoded), no string, no object; the handler refuses these filters by count.
    const overflow = this.skipFilters();
    return { type: PacketType.SUBSCRIBE, packetId, subscriptions, overflow };
  }

  /** Validates the rest of a SUBSCRIBE's filters without decoding them; returns their count. */
  private skipFilters(): number {
    const d = this.d;
    const e = this.e;
    let p = this.p;
    let count = 0;
    while (p < e) {
      if (e - p < 2) throw truncated('SUBSCRIBE topic filter', 'MQTT-3.8.3-1');
      const len = (d[p] << 8) | d[p + 1];
      const start = p + 2;
      const end = start + len;
      if (end > e) throw truncated('SUBSCRIBE topic filter', 'MQTT-3.8.3-1');
      if (len === 0) throw new ProtocolError('SUBSCRIBE with an empty topic filter', 'MQTT-4.7.3-1');
      if (!isValidUtf8(d, start, end)) {
        decodeUtf8(d, start, end); // throws the precise error ([MQTT-1.5.3-1] or [MQTT-1.5.3-2])
        throw new ProtocolError('string is not well-formed UTF-8', 'MQTT-1.5.3-1');
      }
      if (end >= e) throw truncated('SUBSCRIBE requested QoS', 'MQTT-3.8.3-4');
      const qos = d[end];
      if (qos > 2) throw new ProtocolError(`SUBSCRIBE requested-QoS byte 0x${qos.toString(16)}`, 'MQTT-3.8.3-4');
      p = end + 1;
      count++;
    }
    this.p = p;
    return count;
  }

  private decodeSuback(): SubackPacket {
    const packetId = this.u16('SUBACK packet id');
    if (packetId === 0) throw zeroId(PacketType.SUBACK);
    const granted: number[] = [];
    const d = this.d;
    for (let i = this.p; i < this.e; i++) {
      const code = d[i];
      if (code > 2 && code !== 0x80) throw new ProtocolError(`SUBACK return code 0x${code.toString(16)}`, 'MQTT-3.9.3-2');
      granted.push(code);
    }
    if (granted.length === 0) throw new ProtocolError('SUBACK without any return code');
    return { type: PacketType.SUBACK, packetId, granted };
  }

  private decodeUnsubscribe(): UnsubscribePacket {
    const packetId = this.u16('UNSUBSCRIBE packet id');
    if (packetId === 0) throw zeroId(PacketType.UNSUBSCRIBE);
    const topics: string[] = [];
    while (this.p < this.e) {
      const topic = this.str('UNSUBSCRIBE topic filter', 'MQTT-3.10.3-1');
      if (topic.length === 0) throw new ProtocolError('UNSUBSCRIBE with an empty topic filter', 'MQTT-4.7.3-1');
      topics.push(topic);
    }
    if (topics.length === 0) throw new ProtocolError('UNSUBSCRIBE without any topic filter', 'MQTT-3.10.3-2');
    return { type: PacketType.UNSUBSCRIBE, packetId, topics };
  }
}

/**
 * Parsers between uses. A connection holds a parser only while bytes of an incomplete packet are
 * buffered (an idle connection holds none); one whose chunk ended on a packet boundary, the
 * common case on a busy connection, gives it back here and takes one again with its next chunk,
 * so a busy broker does not allocate a parser per received chunk. Processing is sequential, so a
 * handful covers every connection between two chunks; a parser here holds no chunk.
 */
const sparePool: PacketParser[] = [];
const SPARE_MAX = 8;

/** A parser for a connection's next chunk: a spare one re-armed, or a new one. */
export function acquireParser(maxPacketSize: number, maxFirstPacketSize: number, protocolLevel: number, maxFiltersPerSubscribe: number): PacketParser {
  const parser = sparePool.pop();
  if (parser === undefined) {
    const fresh = new PacketParser({ maxPacketSize, maxFirstPacketSize, maxFiltersPerSubscribe });
    fresh.protocolLevel = protocolLevel;
    return fresh;
  }
  parser.rearm(maxPacketSize, maxFirstPacketSize, protocolLevel, maxFiltersPerSubscribe);
  return parser;
}

/** Gives back a parser with nothing buffered (a dead one is dropped). */
export function releaseParser(parser: PacketParser): void {
  if (sparePool.length < SPARE_MAX && parser.bufferedBytes === 0) sparePool.push(parser);
}

function decodeConnack(buf: Buffer, p: number): ConnackPacket {
  // Remaining Length is exactly 2 (checked in checkLength).
  const ackFlags = buf[p];
  const returnCode = buf[p + 1];
  // [unnumbered §3.2.2.1] acknowledge-flag bits 7-1 are reserved; return codes 6-255 are reserved.
  if ((ackFlags & 0xfe) !== 0) throw new ProtocolError('CONNACK with reserved acknowledge flags set');
  if (returnCode > 5) throw new ProtocolError(`CONNACK with reserved return code ${returnCode}`);
  const sessionPresent = ackFlags === 1;
  if (sessionPresent && returnCode !== 0) {
    throw new ProtocolError('CONNACK refusing the connection with Session Present set', 'MQTT-3.2.2-4');
  }
  return { type: PacketType.CONNACK, sessionPresent, returnCode };
}
