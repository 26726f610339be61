// 4. Latency: 1 publisher at a fixed rate (2,000 msgs/s, QoS 0) for ~5 s; each payload
// carries a sequence number and a performance.now() timestamp taken just before write();
// the subscriber (same process, same clock) records arrival - timestamp. The first 0.5 s
// are warm-up and excluded. Figures: p50 and p99 in ms.
// With ctx.cluster (clusterlatency) the subscriber is on node 1 (ctx.subPort), the publisher on
// node 2 (ctx.pubPort), the rate is ctx.rate, payloads are ctx.payload bytes, and the run starts
// once a message crosses.
import { openClient, waitForCount, close, awaitCrossNode } from '../lib/client.mjs';
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
  const subPort = ctx.subPort ?? port;
  const pubPort = ctx.pubPort ?? port;
  const rate = ctx.rate ?? RATE;
  const name = ctx.cluster ? 'bench-clusterlat' : 'bench-lat';
  const deadline = Date.now() + 30000;
  const TOTAL = Math.round(rate * dur(scale));
  const WARM = Math.round(rate * WARMUP_S);
  const lat = new Float64Array(TOTAL).fill(NaN);
  let received = 0;
  let outOfOrder = 0;
  let lastSeq = -1;
  const sub = await openClient(subPort, `${name}-sub`, {
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
  let routed = 0;
  if (ctx.cluster) {
    // Probes carry sequence number 0xffffffff (never recorded); the counters are reset after.
    const probePayload = Buffer.alloc(16);
    probePayload.writeUInt32BE(0xffffffff, 0);
    const probe = await awaitCrossNode(pubPort, `${name}-probe`, P.publish('bench/latency', probePayload, { qos: 0 }), () => received > 0);
    if (!Number.isFinite(probe.ms)) throw new Error('not clustered: no message from node 2 reached node 1 within 10 s');
    routed = probe.sent;
    received = 0;
    lastSeq = -1;
    outOfOrder = 0;
  }
  const pub = await openClient(pubPort, `${name}-pub`);
  const tpl = P.publish('bench/latency', Buffer.alloc(Math.max(16, ctx.payload ?? 16)), { qos: 0 });
  const { payloadOffset } = P.publishLayout(tpl);
  const interval = 1000 / rate;
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
    routed: routed + sent,
    info: true,
  };
}
