// Minimal MQTT frame splitter: reads only the fixed header byte and the Remaining Length,
// hands (headerByte, buf, bodyStart, bodyEnd) to a callback. No allocation on the hot path
// except when a frame straddles two reads (one small copy + one concat per straddle).

export const CONNACK = 0x20;
export const PUBLISH = 0x30;
export const PUBACK = 0x40;
export const SUBACK = 0x90;
export const PINGRESP = 0xd0;

export class FrameSplitter {
  /** @param {(h:number, buf:Buffer, start:number, end:number)=>void} onFrame */
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.pending = null;
  }

  push(chunk) {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const len = buf.length;
    let pos = 0;
    while (pos + 1 < len) {
      // Remaining Length: 1..4 bytes, 7 bits each, little-endian groups
      let i = pos + 1;
      let b = buf[i++];
      let rl = b & 127;
      if (b & 128) {
        if (i >= len) break;
        b = buf[i++];
        rl |= (b & 127) << 7;
        if (b & 128) {
          if (i >= len) break;
          b = buf[i++];
          rl |= (b & 127) << 14;
          if (b & 128) {
            if (i >= len) break;
            b = buf[i++];
            if (b & 128) throw new Error('malformed Remaining Length');
            rl |= (b & 127) << 21;
          }
        }
      }
      const end = i + rl;
      if (end > len) break;
      this.onFrame(buf[pos], buf, i, end);
      pos = end;
    }
    // Keep the unfinished frame. Always copy: `chunk` may be a read buffer that is reused.
    if (pos < len) this.pending = Buffer.from(buf.subarray(pos));
  }
}

/** Offset of the payload of a PUBLISH body (after topic and, for QoS>0, the packet id). */
export function publishPayloadOffset(h, buf, start) {
  const tl = (buf[start] << 8) | buf[start + 1];
  return start + 2 + tl + ((h & 6) !== 0 ? 2 : 0);
}

/**
 * An MQTT 5 PUBLISH body's layout, filled in by parsePublishV5: one shared object, so that the
 * receive path allocates nothing per frame. `alias` is the Topic Alias property (0 when absent);
 * a PUBLISH sent with a known alias has `topicLen` 0.
 */
export const publishV5 = { topicLen: 0, alias: 0, payload: 0 };

/**
 * Read a v5 PUBLISH body (start..end): Topic Name, the packet id for QoS > 0, then the property
 * block (Variable Byte Integer length and properties, which a 3.1.1 PUBLISH does not have).
 * Sets publishV5 and returns the payload offset. Throws on a property it does not know.
 */
export function parsePublishV5(h, buf, start, end) {
  const tl = (buf[start] << 8) | buf[start + 1];
  let p = start + 2 + tl + ((h & 6) !== 0 ? 2 : 0);
  let len = 0;
  let shift = 0;
  let b;
  do {
    b = buf[p++];
    len |= (b & 127) << shift;
    shift += 7;
  } while (b & 128 && shift < 28);
  const propsEnd = p + len;
  let alias = 0;
  while (p < propsEnd) {
    const id = buf[p++];
    if (id === 0x23) {
      alias = (buf[p] << 8) | buf[p + 1];
      p += 2;
    } else p = skipProperty(id, buf, p);
  }
  if (propsEnd > end) throw new Error('malformed v5 PUBLISH: properties past the end of the packet');
  publishV5.topicLen = tl;
  publishV5.alias = alias;
  publishV5.payload = propsEnd;
  return propsEnd;
}

/** The offset after the value of property `id` at `p` (MQTT 5.0 §2.2.2.2 data types). */
function skipProperty(id, buf, p) {
  switch (id) {
    case 0x01: // Payload Format Indicator
      return p + 1;
    case 0x02: // Message Expiry Interval
      return p + 4;
    case 0x03: // Content Type
    case 0x08: // Response Topic
    case 0x09: // Correlation Data (binary: same 2-byte length prefix)
      return p + 2 + ((buf[p] << 8) | buf[p + 1]);
    case 0x0b: // Subscription Identifier (Variable Byte Integer)
      while (buf[p++] & 128);
      return p;
    case 0x26: {
      // User Property: two strings
      const q = p + 2 + ((buf[p] << 8) | buf[p + 1]);
      return q + 2 + ((buf[q] << 8) | buf[q + 1]);
    }
    default:
      throw new Error(`v5 PUBLISH with unexpected property 0x${id.toString(16)}`);
  }
}
