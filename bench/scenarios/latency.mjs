// 4. Latency: 1 publisher at a fixed rate (2,000 msgs/s, QoS 0) for ~5 s; each payload
// carries a sequence number and a performance.now() timestamp taken just before write();
// the subscriber (same process, same clock) records arrival - timestamp. The first 0.5 s
// are warm-up and excluded. Figures: p50 and p99 in ms.
import { openClient, waitForCount, close } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import { percentileSorted } from '../lib/stats.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'latency';
export const timeoutMs = 40000;
export const settings = (s) => `1 publisher at ${RATE.toLocaleString('en')} msgs/s for ${dur(s)} s, QoS 0, 16 B payload (seq + timestamp), one write per message, paced by a 1 ms timer; 1 subscriber on the same topic; first ${WARMUP_S} s excluded`;
export const metrics = [
  { key: 'p50', label: 'Latency p50 @ 2,000 msgs/s (ms)', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'Latency p99 @ 2,000 msgs/s (ms)', unit: 'ms', better: 'lower' },
];

const RATE = 2000;
const WARMUP_S = 0.5;
const dur = (scale) => (scale >= 1 ? 5 : Math.max(1, Math.round(5 * scale * 10) / 10));

export async function run(ctx) {
  const { port, scale } = ctx;
  const deadline = Date.now() + 30000;
  const TOTAL = Math.round(RATE * dur(scale));
  const WARM = Math.round(RATE * WARMUP_S);
  const lat = new Float64Array(TOTAL).fill(NaN);
  let received = 0;
  let outOfOrder = 0;
  let lastSeq = -1;
  const sub = await openClient(port, 'bench-lat-sub', {
    subscribe: [{ topic: 'bench/latency', qos: 0 }],
    onFrame: (h, buf, s) => {
      if ((h & 0xf0) !== PUBLISH) return;
      const now = performance.now();
      const p = s + 2 + ((buf[s] << 8) | buf[s + 1]) + ((h & 6) !== 0 ? 2 : 0);
      const seq = buf.readUInt32BE(p);
      if (seq < lastSeq) outOfOrder++;
      lastSeq = seq;
      if (seq < TOTAL) lat[seq] = now - buf.readDoubleLE(p + 8);
      received++;
    },
  });
  const pub = await openClient(port, 'bench-lat-pub');
  const tpl = P.publish('bench/latency', Buffer.alloc(16), { qos: 0 });
  const { payloadOffset } = P.publishLayout(tpl);
  const interval = 1000 / RATE;
  // A ring of pre-encoded buffers (no allocation, hence no generator GC, while measuring); a
  // buffer is reused only once the socket has flushed everything (it then cannot be queued).
  const RING = 256;
  const ring = Array.from({ length: RING }, () => Buffer.from(tpl));
  let sent = 0;
  let fresh = 0;
  await new Promise((resolve) => {
    const start = performance.now();
    const tick = () => {
      const due = Math.min(TOTAL, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < due) {
        let b = ring[sent % RING];
        if (pub.sock.writableLength > 0) {
          b = Buffer.from(tpl); // something is still queued: do not touch ring buffers
          fresh++;
        }
        b.writeUInt32BE(sent, payloadOffset);
        b.writeDoubleLE(performance.now(), payloadOffset + 8);
        pub.sock.write(b);
        sent++;
      }
      if (sent >= TOTAL || Date.now() > deadline - 5000) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
  const got = await waitForCount(() => received, sent, 1000, deadline);
  close(pub);
  close(sub);
  const xs = Array.from(lat.subarray(WARM, sent)).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const notes = [];
  if (sent < TOTAL) notes.push(`send capped by time: ${sent} of ${TOTAL}`);
  if (got < sent) notes.push(`lost ${sent - got} of ${sent}`);
  if (outOfOrder) notes.push(`${outOfOrder} out of order`);
  if (fresh) notes.push(`${fresh} sends found the socket still busy`);
  notes.push(`p99.9 ${percentileSorted(xs, 99.9).toFixed(3)} ms, max ${xs.length ? xs[xs.length - 1].toFixed(3) : 'n/a'} ms`);
  return {
    values: { p50: percentileSorted(xs, 50), p99: percentileSorted(xs, 99) },
    notes,
    losses: sent - got,
    info: true,
  };
}
