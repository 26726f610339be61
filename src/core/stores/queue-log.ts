import type { QoS } from '../protocol/packets';
import type { Message } from '../sessions/message';
import { QueuedMessage } from '../sessions/message';
import { restoreMessage } from './stored-message';

/**
 * The SQLite store's queue as a log. A group commit writes the messages it queued for one client
 * as ONE `queue_log` row (this encoding), not one `queue` row each: a row insert into a B-tree
 * (and its delete once delivered) cost more than the rest of a persisted QoS 1 message together,
 * while appending bytes to one blob costs about as much as copying them. A session's queue is a
 * FIFO of rising seq, so a client's log rows are consumed in order: a row whose last seq is
 * dequeued is deleted whole, and the dequeued prefix of the one row partly consumed is skipped at
 * load by the session's `queue_done` mark (migration 5, sqlite.ts).
 *
 * One entry, big-endian:
 *   seq            float64 (an integer below 2^53)
 *   flags          uint8: bits 0-1 the delivery QoS, 2-3 the message's QoS, 4 the retain flag,
 *                  5 properties follow
 *   expires at     float64 (epoch ms, 0: never)
 *   topic          uint16 length, UTF-8 bytes
 *   properties     uint32 length, bytes (stored-message.ts encoding), only with flag bit 5
 *   payload        uint32 length, bytes
 */

/** Bytes of an entry besides its topic, properties and payload (seq, flags, expiry, three lengths). */
const ENTRY_HEAD = 8 + 1 + 8 + 2 + 4 + 4;

/** Encodes log rows into one buffer reused from row to row (SQLite copies a bound blob). */
export class QueueLogWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;

  /** Starts a row. */
  begin(): void {
    this.at = 0;
  }

  /** Appends one queued message; `properties` is its stored properties' encoding, or null. */
  add(item: QueuedMessage, properties: Buffer | null): void {
    const m = item.message;
    const topic = m.topic;
    const need = ENTRY_HEAD + topic.length * 3 + (properties === null ? 0 : properties.length) + m.payload.length;
    if (this.at + need > this.buf.length) this.grow(this.at + need);
    const buf = this.buf;
    let p = this.at;
    buf.writeDoubleBE(item.seq, p);
    buf[p + 8] = item.qos | (m.qos << 2) | (item.retainFlag ? 16 : 0) | (properties === null ? 0 : 32);
    buf.writeDoubleBE(m.expiresAt, p + 9);
    const topicBytes = buf.write(topic, p + 19, 'utf8');
    buf.writeUInt16BE(topicBytes, p + 17);
    p += 19 + topicBytes;
    if (properties !== null) {
      buf.writeUInt32BE(properties.length, p);
      properties.copy(buf, p + 4);
      p += 4 + properties.length;
    }
    const payload = m.payload;
    buf.writeUInt32BE(payload.length, p);
    payload.copy(buf, p + 4);
    this.at = p + 4 + payload.length;
  }

  /** The row's bytes: a view of the shared buffer, valid until the next begin(). */
  end(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private grow(min: number): void {
    let size = this.buf.length * 2;
    while (size < min) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
}

/**
 * Reads one log row: each entry past seq `after` (the client's consumed prefix) is restored and
 * handed to `take`, in order. Returns the row's highest seq. Throws on a row it cannot read
 * (truncated: Buffer's reads check their bounds): start-up then names the file (PersistenceError).
 */
export function readQueueLog(body: Buffer, after: number, take: (item: QueuedMessage) => void): number {
  let p = 0;
  let last = 0;
  while (p < body.length) {
    const seq = body.readDoubleBE(p);
    const flags = body[p + 8];
    const expiresAt = body.readDoubleBE(p + 9);
    const topicLen = body.readUInt16BE(p + 17);
    const topicEnd = p + 19 + topicLen;
    let q = topicEnd;
    let properties: Buffer | null = null;
    if ((flags & 32) !== 0) {
      const len = body.readUInt32BE(q);
      properties = Buffer.from(body.subarray(q + 4, q + 4 + len));
      q += 4 + len;
    }
    const payloadLen = body.readUInt32BE(q);
    const end = q + 4 + payloadLen;
    if (end > body.length) throw new Error('queue_log: truncated entry');
    last = seq;
    if (seq > after) {
      // Copies: a restored message must not keep the whole row alive.
      const payload = Buffer.from(body.subarray(q + 4, end));
      const msg: Message = restoreMessage(body.toString('utf8', p + 19, topicEnd), payload, ((flags >> 2) & 3) as QoS, false, properties, expiresAt);
      const item = new QueuedMessage(msg, (flags & 3) as QoS, (flags & 16) !== 0);
      item.seq = seq;
      take(item);
    }
    p = end;
  }
  return last;
}
