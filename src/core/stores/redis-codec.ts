import type { QoS } from '../protocol/packets';
import { InflightMessage, type Message, QueuedMessage } from '../sessions/message';
import { restoreMessage } from './stored-message';

/**
 * Binary form of the messages the Redis store keeps (docs/durability.md "Redis"). No JSON and no
 * base64: payloads and MQTT 5 properties (the codec's own encoding, stores/stored-message.ts) are
 * copied as they are.
 *
 * Queue / in-flight entry:
 *   16 ASCII hex digits  seq (the entry's order; the Lua script compares it as a string)
 *   u8 msg QoS | u8 delivery QoS | u8 retain flag | u8 in-flight state | f64 expiresAt (epoch ms, 0 never)
 *   u16 topic length, topic | u32 properties length (0xffffffff: none), properties | payload
 * Retained value:
 *   u8 QoS | u8 owner kind (0 broker, 1 anonymous, 2 username) | f64 expiresAt
 *   u16 owner length, owner | u32 properties length (0xffffffff: none), properties | payload
 */

export const SEQ_DIGITS = 16;
const NO_PROPERTIES = 0xffffffff;

/** The fixed-width text of a seq: string order = numeric order, which the Lua script relies on. */
export function seqText(seq: number): string {
  return seq.toString(16).padStart(SEQ_DIGITS, '0');
}

export function encodeEntry(seq: number, m: Message, qos: QoS, retainFlag: boolean, state: number, props: Buffer | null): Buffer {
  const topicLength = Buffer.byteLength(m.topic);
  const propsLength = props === null ? 0 : props.length;
  const out = Buffer.allocUnsafe(SEQ_DIGITS + 4 + 8 + 2 + topicLength + 4 + propsLength + m.payload.length);
  let at = out.write(seqText(seq), 0, 'latin1');
  out[at++] = m.qos;
  out[at++] = qos;
  out[at++] = retainFlag ? 1 : 0;
  out[at++] = state;
  out.writeDoubleBE(m.expiresAt, at); at += 8;
  out.writeUInt16BE(topicLength, at); at += 2;
  at += out.write(m.topic, at, 'utf8');
  out.writeUInt32BE(props === null ? NO_PROPERTIES : propsLength, at); at += 4;
  if (props !== null) at += props.copy(out, at);
  m.payload.copy(out, at);
  return out;
}

export interface DecodedEntry {
  seq: number;
  message: Message;
  qos: QoS;
  retainFlag: boolean;
  state: number;
}

/** Reads an entry written by encodeEntry; throws on a truncated one (never reads past it). */
export function decodeEntry(b: Buffer): DecodedEntry {
  if (b.length < SEQ_DIGITS + 18) throw new Error('stored entry truncated');
  const seq = parseInt(b.toString('latin1', 0, SEQ_DIGITS), 16);
  let at = SEQ_DIGITS;
  const msgQos = b[at++] as QoS;
  const qos = b[at++] as QoS;
  const retainFlag = b[at++] === 1;
  const state = b[at++];
  const expiresAt = b.readDoubleBE(at); at += 8;
  const topicLength = b.readUInt16BE(at); at += 2;
  if (b.length < at + topicLength + 4) throw new Error('stored entry truncated');
  const topic = b.toString('utf8', at, at + topicLength); at += topicLength;
  const propsLength = b.readUInt32BE(at); at += 4;
  let props: Buffer | null = null;
  if (propsLength !== NO_PROPERTIES) {
    if (b.length < at + propsLength) throw new Error('stored entry truncated');
    props = Buffer.from(b.subarray(at, at + propsLength)); at += propsLength;
  }
  const payload = Buffer.from(b.subarray(at));
  return { seq, message: restoreMessage(topic, payload, msgQos, false, props, expiresAt), qos, retainFlag, state };
}

export function queuedFrom(d: DecodedEntry): QueuedMessage {
  const item = new QueuedMessage(d.message, d.qos, d.retainFlag);
  item.seq = d.seq;
  return item;
}

export function inflightFrom(packetId: number, d: DecodedEntry): InflightMessage {
  const entry = new InflightMessage(packetId, d.message, d.qos as 1 | 2, d.retainFlag, d.state);
  entry.seq = d.seq;
  return entry;
}

export function encodeRetained(m: Message, props: Buffer | null): Buffer {
  const owner = m.retainedOwner;
  const ownerText = typeof owner === 'string' ? owner : '';
  const ownerLength = Buffer.byteLength(ownerText);
  const propsLength = props === null ? 0 : props.length;
  const out = Buffer.allocUnsafe(2 + 8 + 2 + ownerLength + 4 + propsLength + m.payload.length);
  let at = 0;
  out[at++] = m.qos;
  out[at++] = owner === undefined ? 0 : owner === null ? 1 : 2;
  out.writeDoubleBE(m.expiresAt, at); at += 8;
  out.writeUInt16BE(ownerLength, at); at += 2;
  at += out.write(ownerText, at, 'utf8');
  out.writeUInt32BE(props === null ? NO_PROPERTIES : propsLength, at); at += 4;
  if (props !== null) at += props.copy(out, at);
  m.payload.copy(out, at);
  return out;
}

export function decodeRetained(topic: string, b: Buffer): Message {
  if (b.length < 16) throw new Error('stored retained message truncated');
  let at = 0;
  const qos = b[at++] as QoS;
  const kind = b[at++];
  const expiresAt = b.readDoubleBE(at); at += 8;
  const ownerLength = b.readUInt16BE(at); at += 2;
  if (b.length < at + ownerLength + 4) throw new Error('stored retained message truncated');
  const owner = b.toString('utf8', at, at + ownerLength); at += ownerLength;
  const propsLength = b.readUInt32BE(at); at += 4;
  let props: Buffer | null = null;
  if (propsLength !== NO_PROPERTIES) {
    if (b.length < at + propsLength) throw new Error('stored retained message truncated');
    props = Buffer.from(b.subarray(at, at + propsLength)); at += propsLength;
  }
  const m = restoreMessage(topic, Buffer.from(b.subarray(at)), qos, true, props, expiresAt);
  m.retainedOwner = kind === 2 ? owner : kind === 1 ? null : undefined;
  return m;
}
