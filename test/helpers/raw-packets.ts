/**
 * Tiny hand-written byte builders for codec and conformance tests.
 * Deliberately independent of src/core/protocol/encoder.ts: the parser is never tested against
 * bytes produced by our own encoder.
 */

/** 'hex bytes with optional spaces' -> Buffer. */
export function hex(s: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${s}`);
  return Buffer.from(clean, 'hex');
}

/** Buffer -> 'aa bb cc' (for readable failure messages). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

/** Two-byte big-endian integer. */
export function u16(n: number): Buffer {
  return Buffer.from([(n >>> 8) & 0xff, n & 0xff]);
}

/** Length-prefixed field: a string (UTF-8) or raw bytes. */
export function field(v: string | Uint8Array): Buffer {
  const body = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
  return Buffer.concat([u16(body.length), body]);
}

/** Remaining Length bytes (section 2.2.3 algorithm). */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return Buffer.from(out);
}

/** First byte + minimal Remaining Length + body parts (Buffers, byte arrays or hex strings). */
export function frame(firstByte: number, ...body: Array<Uint8Array | number[] | string>): Buffer {
  const parts = body.map((b) => (typeof b === 'string' ? hex(b) : Buffer.from(b)));
  const payload = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(payload.length), payload]);
}

/** Splits a packet into [first byte, header length, body] (valid Remaining Length assumed). */
export function unframe(packet: Buffer): { firstByte: number; headerLength: number; body: Buffer } {
  let i = 1;
  while (packet[i] & 0x80) i++;
  const headerLength = i + 1;
  return { firstByte: packet[0], headerLength, body: packet.subarray(headerLength) };
}

/** CONNECT variable header for protocol "MQTT" level 4 with the given flags and keepalive. */
export function connectHeader(flags: number, keepalive = 60): Buffer {
  return Buffer.concat([field('MQTT'), Buffer.from([4, flags]), u16(keepalive)]);
}

/** `bytes` split at the given cut points (taken modulo length + 1, deduplicated): the pieces of a random chunking. */
export function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}
