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
