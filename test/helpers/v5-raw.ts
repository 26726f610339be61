/**
 * Raw-byte helpers for the MQTT 5 conformance tests (test/conformance/v5/1N-*): well-formed client
 * packets from the codec's encodePacketV5, hand-built ones where the bytes are the point (bad
 * properties, bad strings), and an independent reader of server properties that keeps User
 * Properties as an ordered list of pairs (mqtt-packet folds them into an object).
 */
import { encodePacketV5 } from '../../src/core/protocol/encoder-v5';
import { PacketType, type Properties, type QoS, type Subscription } from '../../src/core/protocol/packets';
import type { Harness } from './conformance';
import { field, remainingLengthBytes, toHex, u16, type RawClient, type RawPacket } from './raw';
import { connectV5, decodeV5 } from './v5';

export { connectV5, decodeV5 };

/** A Variable Byte Integer (minimal form). */
export function vbi(n: number): Buffer {
  return remainingLengthBytes(n);
}

/** A packet from a first byte and body parts (Remaining Length computed). */
export function frame5(firstByte: number, ...parts: (Buffer | number[])[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  return Buffer.concat([Buffer.from([firstByte]), remainingLengthBytes(body.length), body]);
}

/** A property block: Property Length then the given property bytes. */
export function props(...bytes: (Buffer | number[])[]): Buffer {
  const b = Buffer.concat(bytes.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  return Buffer.concat([vbi(b.length), b]);
}

/** A UTF-8 String property (or any length-prefixed one) with raw bytes for the value. */
export function strProp(id: number, value: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([id]), field(value)]);
}

/** A User Property with raw name and value bytes. */
export function userProp(name: Buffer | string, value: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([0x26]), field(name), field(value)]);
}

/** A hand-built v5 PUBLISH: topic bytes, optional packet id, property block, payload. */
export function rawPublish5(o: { topic: Buffer | string; qos?: QoS; id?: number; properties?: Buffer; payload?: Buffer | string; flags?: number }): Buffer {
  const qos = o.qos ?? 0;
  const first = 0x30 | (o.flags ?? qos << 1);
  return frame5(first, field(o.topic), qos > 0 ? u16(o.id ?? 1) : [], o.properties ?? [0], Buffer.from(o.payload ?? ''));
}

/** A hand-built v5 CONNECT: flags byte, property block, payload fields already encoded. */
export function rawConnect5(o: { flags?: number; keepalive?: number; properties?: Buffer; payload: (Buffer | number[])[] }): Buffer {
  return frame5(0x10, field('MQTT'), [5, o.flags ?? 0x02], u16(o.keepalive ?? 60), o.properties ?? [0], ...o.payload);
}

export function publish5(topic: string, payload: string | Buffer, qos: QoS = 0, packetId = 0, properties?: Properties, extra: { retain?: boolean; dup?: boolean } = {}): Buffer {
  return encodePacketV5({
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: extra.retain ?? false,
    dup: extra.dup ?? false,
    packetId: qos > 0 ? packetId || 1 : 0,
    properties,
  });
}

export function subscribe5(packetId: number, subscriptions: Subscription[], properties?: Properties): Buffer {
  return encodePacketV5({ type: PacketType.SUBSCRIBE, packetId, subscriptions, properties });
}

export function unsubscribe5(packetId: number, topics: string[]): Buffer {
  return encodePacketV5({ type: PacketType.UNSUBSCRIBE, packetId, topics });
}

export function ack5(type: PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP, packetId: number, reasonCode = 0): Buffer {
  return encodePacketV5({ type, packetId, reasonCode });
}

export function disconnect5(reasonCode = 0, properties?: Properties): Buffer {
  return encodePacketV5({ type: PacketType.DISCONNECT, reasonCode, properties });
}

/** A raw v5 connection that got CONNACK 0x00; returns it with the decoded CONNACK. */
export async function connected5(h: Harness, clientId: string, o: Parameters<typeof connectV5>[0] = {}): Promise<RawClient & { connack: Connack5 }> {
  const c = await h.raw();
  c.send(connectV5({ clientId, ...o }));
  const connack = decodeV5<Connack5>(await c.next());
  expect([connack.cmd, connack.reasonCode]).toEqual(['connack', 0]);
  return Object.assign(c, { connack });
}

export interface Connack5 {
  cmd: string;
  sessionPresent: boolean;
  reasonCode: number;
  properties?: Record<string, unknown>;
}

/** SUBSCRIBE and expect the SUBACK codes (default: each requested QoS). */
export async function sub5(c: RawClient, packetId: number, subscriptions: Subscription[], codes = subscriptions.map((s) => s.qos as number)): Promise<void> {
  c.send(subscribe5(packetId, subscriptions));
  const ack = decodeV5<{ cmd: string; messageId: number; granted: number[] }>(await c.next());
  expect([ack.cmd, ack.messageId, ack.granted]).toEqual(['suback', packetId, codes]);
}

export interface Publish5 {
  topic: string;
  payload: Buffer;
  qos: number;
  dup: boolean;
  retain: boolean;
  id: number | undefined;
  /** The property bytes, as received. */
  propertyBytes: Buffer;
  /** Properties in wire order: [id, value]; User Properties as [0x26, [name, value]]. */
  properties: [number, unknown][];
}

const BYTE = new Set([0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a]);
const FOUR = new Set([0x02, 0x11, 0x18, 0x27]);
const TWO = new Set([0x13, 0x21, 0x22, 0x23]);
const STRING = new Set([0x03, 0x08, 0x12, 0x15, 0x1a, 0x1c, 0x1f]);
const BINARY = new Set([0x09, 0x16]);

function readVbi(b: Buffer, off: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (let i = 0; i < 4; i++) {
    const x = b[off + i];
    n += (x & 0x7f) * mul;
    mul *= 128;
    if ((x & 0x80) === 0) return [n, off + i + 1];
  }
  throw new Error('Variable Byte Integer over 4 bytes');
}

/** Reads a property block at `off`: the properties in order and the offset after the block. */
export function readProperties(b: Buffer, off: number): { list: [number, unknown][]; bytes: Buffer; end: number } {
  const [len, start] = readVbi(b, off);
  const end = start + len;
  const list: [number, unknown][] = [];
  let i = start;
  const str = (): Buffer => {
    const n = b.readUInt16BE(i);
    const s = b.subarray(i + 2, i + 2 + n);
    i += 2 + n;
    return s;
  };
  while (i < end) {
    const id = b[i++];
    if (BYTE.has(id)) list.push([id, b[i++]]);
    else if (TWO.has(id)) {
      list.push([id, b.readUInt16BE(i)]);
      i += 2;
    } else if (FOUR.has(id)) {
      list.push([id, b.readUInt32BE(i)]);
      i += 4;
    }
    else if (STRING.has(id)) list.push([id, str().toString('utf8')]);
    else if (BINARY.has(id)) list.push([id, Buffer.from(str())]);
    else if (id === 0x26) list.push([id, [str().toString('utf8'), str().toString('utf8')]]);
    else if (id === 0x0b) {
      const [v, next] = readVbi(b, i);
      list.push([id, v]);
      i = next;
    } else throw new Error(`unknown property 0x${id.toString(16)} in ${toHex(b)}`);
  }
  return { list, bytes: b.subarray(start, end), end };
}

/** Decodes a v5 PUBLISH from the server, by hand (independent of both codecs). */
export function readPublish5(p: RawPacket): Publish5 {
  if (p.type !== 3) throw new Error(`expected PUBLISH, got ${toHex(p.bytes)}`);
  const b = p.body;
  const len = b.readUInt16BE(0);
  const topic = b.subarray(2, 2 + len).toString('utf8');
  const qos = (p.flags >> 1) & 3;
  let off = 2 + len;
  let id: number | undefined;
  if (qos > 0) {
    id = b.readUInt16BE(off);
    off += 2;
  }
  const pr = readProperties(b, off);
  return { topic, payload: b.subarray(pr.end), qos, dup: (p.flags & 8) !== 0, retain: (p.flags & 1) !== 0, id, propertyBytes: pr.bytes, properties: pr.list };
}

/** Resolves once the server closed `c`; returns the Reason Code of its last DISCONNECT, or null if none came. */
export async function closedWith(c: RawClient, ms = 2000): Promise<number | null> {
  await c.waitClosed(ms);
  const last = c.history[c.history.length - 1];
  if (last === undefined || last.type !== 14) return null;
  return last.body.length === 0 ? 0 : last.body[0];
}

/** Resolves once the server closed `c`; returns the CONNACK Reason Code it sent first, or null if it sent nothing. */
export async function refusedWith(c: RawClient, ms = 2000): Promise<number | null> {
  await c.waitClosed(ms);
  const first = c.history[0];
  if (first === undefined) return null;
  if (first.type !== 2) throw new Error(`expected CONNACK or nothing, got ${toHex(first.bytes)}`);
  return first.body[1];
}
