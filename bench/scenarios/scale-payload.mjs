// Scale curve "payload size" (bench/scale.mjs): one publisher → one subscriber on
// `scale/payload`, QoS 0, ctx.n payload bytes per message, TOTAL bytes of payload per phase
// (MIN_MSGS … MAX_MSGS messages), a warm-up phase of a quarter of that first. The subscriber
// only counts the bytes it reads (no frame splitting: a 1 MiB frame would be copied at every
// read); figure: payload MB/s (10^6 bytes) from the first to the last read of the measured
// phase. Bytes missing 2 s after the last read count as lost messages.
import { openClient, pump, waitForCount, generatorMeter, generatorNote } from '../lib/client.mjs';
import { processCpuMs } from '../lib/cpu.mjs';
import * as P from '../lib/packets.mjs';

const TOTAL = 256 * 2 ** 20;
const MIN_MSGS = 64;
const MAX_MSGS = 200_000;

export async function run(ctx) {
  const { port, brokerPid, n: size } = ctx;
  const deadline = Date.now() + 170000;
  const pkt = P.publish('scale/payload', Buffer.alloc(size, 0x70));
  let bytes = 0;
  let first = 0;
  let last = 0;
  const sub = await openClient(port, 'scale-pay-sub', { subscribe: [{ topic: 'scale/payload', qos: 0 }] });
  // After the handshake: count bytes only.
  sub.splitter = { push: (chunk) => (bytes += chunk.length) };
  sub.afterRead.push(() => {
    const now = performance.now();
    if (first === 0) first = now;
    last = now;
  });
  const pub = await openClient(port, 'scale-pay-pub');
  const perWrite = Math.max(1, Math.min(64, Math.floor((256 * 1024) / pkt.length)));
  const batch = P.repeat(pkt, perWrite);
  const msgs = Math.max(MIN_MSGS, Math.min(MAX_MSGS, Math.round(TOTAL / size)));
  const phase = async (m) => {
    first = 0;
    last = 0;
    const base = bytes;
    const meter = generatorMeter();
    const cpu0 = processCpuMs(brokerPid);
    const sent = await pump(pub.sock, [batch], perWrite, pkt.length, m, deadline - 20000);
    await waitForCount(() => bytes - base, sent * pkt.length, 2000, deadline, meter);
    const got = (bytes - base) / pkt.length; // the broker's frame is the generator's (same topic, no properties)
    return { sent, got, mbps: ((got * size) / 1e6) / ((last - first) / 1000), cpuMs: processCpuMs(brokerPid) - cpu0, meter };
  };
  await phase(Math.max(16, Math.round(msgs / 4)));
  const m = await phase(msgs);
  const notes = [`${m.sent} messages, ${Math.floor(m.got)} received`, `broker CPU ${((m.cpuMs * 1e6) / Math.max(1, m.got * size)).toFixed(2)} ns per payload byte`];
  const g = generatorNote(m.meter);
  if (g) notes.push(g);
  return { values: { mbps: m.mbps, msgRate: m.mbps * 1e6 / size }, notes, losses: Math.max(0, Math.round(m.sent - m.got)) };
}
