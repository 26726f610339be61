/**
 * Wire format of a message routed between nodes (one Redis Stream entry carries a batch).
 *
 * An entry has the fields `o` = origin node id (once per batch, not per message), `r` = the
 * route-log position the sender routed with (redis-message-bus.ts) and `m` = the frames of the
 * batch, concatenated. One frame:
 *
 *   u8   flags        bits 0-1 QoS, bit 2 retain, bit 3 properties present
 *   u16  topic length, topic (UTF-8)
 *   u16  publisher client id length, publisher id (UTF-8; 0 = none)
 *   u32  properties length, properties   (only when bit 3 is set; MQTT 5, opaque here)
 *   u32  payload length, payload
 *   [u16 group count, then per group u16 length, '$share/g/f']   (only when bit 4 is set)
 *   bit 5: not for the receiver's plain subscriptions (picked for the groups only)
 *
 * 9 bytes of framing per message (13 with properties): smaller than JSON and no base64 for the
 * payload. Decoding checks every length against the buffer: a truncated or hostile entry throws
 * ClusterCodecError and the reader skips that entry instead of reading past it.
 */
import type { ClusterMessage, QoS } from './types';

export class ClusterCodecError extends Error {}

const FLAG_RETAIN = 0x04;
const FLAG_PROPS = 0x08;
const FLAG_GROUPS = 0x10;
const FLAG_NO_PLAIN = 0x20;

/** Bytes encodeFrame() writes for `m`. */
export function frameLength(m: ClusterMessage): number {
  return (
    1 + 2 + Buffer.byteLength(m.topic) + 2 + Buffer.byteLength(m.publisherId) +
    (m.properties !== null ? 4 + m.properties.length : 0) + 4 + m.payload.length + groupsLength(m.groups)
  );
}

function groupsLength(groups: readonly string[] | null | undefined): number {
  if (groups === undefined || groups === null || groups.length === 0) return 0;
  let n = 2;
  for (let i = 0; i < groups.length; i++) n += 2 + Buffer.byteLength(groups[i]);
  return n;
}

/** One frame for `m`, encoded once and shared by every destination node. */
export function encodeFrame(m: ClusterMessage): Buffer {
  const topicLength = Buffer.byteLength(m.topic);
  const publisherLength = Buffer.byteLength(m.publisherId);
  if (topicLength > 0xffff) throw new ClusterCodecError('topic longer than 65535 bytes');
  if (publisherLength > 0xffff) throw new ClusterCodecError('publisher id longer than 65535 bytes');
  const props = m.properties;
  const out = Buffer.allocUnsafe(frameLength(m));
  let at = 0;
  const groups = m.groups !== undefined && m.groups !== null && m.groups.length > 0 ? m.groups : null;
  if (groups !== null) for (let i = 0; i < groups.length; i++) if (Buffer.byteLength(groups[i]) > 0xffff) throw new ClusterCodecError('group longer than 65535 bytes');
  out[at++] = (m.qos & 3) | (m.retain ? FLAG_RETAIN : 0) | (props !== null ? FLAG_PROPS : 0) | (groups !== null ? FLAG_GROUPS : 0) | (m.plain === false ? FLAG_NO_PLAIN : 0);
  out.writeUInt16BE(topicLength, at); at += 2;
  at += out.write(m.topic, at, 'utf8');
  out.writeUInt16BE(publisherLength, at); at += 2;
  at += out.write(m.publisherId, at, 'utf8');
  if (props !== null) {
    out.writeUInt32BE(props.length, at); at += 4;
    at += props.copy(out, at);
  }
  out.writeUInt32BE(m.payload.length, at); at += 4;
  at += m.payload.copy(out, at);
  if (groups !== null) {
    out.writeUInt16BE(groups.length, at); at += 2;
    for (let i = 0; i < groups.length; i++) {
      const length = Buffer.byteLength(groups[i]);
      out.writeUInt16BE(length, at); at += 2;
      at += out.write(groups[i], at, 'utf8');
    }
  }
  return out;
}

/**
 * Calls `each` for every frame in `batch`, in order. Payload and properties are views into
 * `batch` (no copy): the receiver copies them if it keeps them past the call.
 */
export function decodeBatch(batch: Buffer, origin: string, each: (m: ClusterMessage) => void): number {
  let count = 0;
  decodeFrames(batch, origin, 0, (m) => {
    each(m);
    count++;
    return true;
  });
  return count;
}

/**
 * Calls `each` for the frames of `batch` from byte offset `from`, in order, until it returns false
 * (after the frame it was given) or the batch ends. Returns the offset of the next frame (the
 * batch's length when every frame was delivered): a reader that stops (cross-node flow control)
 * resumes there. Payload and properties are views into `batch`.
 */
export function decodeFrames(batch: Buffer, origin: string, from: number, each: (m: ClusterMessage) => boolean): number {
  let at = from;
  const end = batch.length;
  while (at < end) {
    if (end - at < 5) throw new ClusterCodecError('truncated frame header');
    const flags = batch[at++];
    if ((flags & 3) === 3 || (flags & 0xc0) !== 0) throw new ClusterCodecError('bad flags');
    const topicLength = batch.readUInt16BE(at); at += 2;
    if (end - at < topicLength + 2) throw new ClusterCodecError('truncated topic');
    const topic = batch.toString('utf8', at, at + topicLength); at += topicLength;
    const publisherLength = batch.readUInt16BE(at); at += 2;
    if (end - at < publisherLength + 4) throw new ClusterCodecError('truncated publisher id');
    const publisherId = batch.toString('utf8', at, at + publisherLength); at += publisherLength;
    let properties: Buffer | null = null;
    if ((flags & FLAG_PROPS) !== 0) {
      const propsLength = batch.readUInt32BE(at); at += 4;
      if (end - at < propsLength + 4) throw new ClusterCodecError('truncated properties');
      properties = batch.subarray(at, at + propsLength); at += propsLength;
    }
    if (end - at < 4) throw new ClusterCodecError('truncated payload length');
    const payloadLength = batch.readUInt32BE(at); at += 4;
    if (end - at < payloadLength) throw new ClusterCodecError('truncated payload');
    const payload = batch.subarray(at, at + payloadLength); at += payloadLength;
    let groups: string[] | null = null;
    if ((flags & FLAG_GROUPS) !== 0) {
      if (end - at < 2) throw new ClusterCodecError('truncated group count');
      const n = batch.readUInt16BE(at); at += 2;
      groups = [];
      for (let i = 0; i < n; i++) {
        if (end - at < 2) throw new ClusterCodecError('truncated group length');
        const length = batch.readUInt16BE(at); at += 2;
        if (end - at < length) throw new ClusterCodecError('truncated group');
        groups.push(batch.toString('utf8', at, at + length)); at += length;
      }
    }
    const more = each({ topic, payload, qos: (flags & 3) as QoS, retain: (flags & FLAG_RETAIN) !== 0, origin, publisherId, properties, groups: groups ?? undefined, plain: (flags & FLAG_NO_PLAIN) !== 0 ? false : undefined });
    if (!more) return at;
  }
  return at;
}
