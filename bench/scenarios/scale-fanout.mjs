// Scale curve "fan-out to one topic" (bench/scale.mjs): ctx.n subscribers on `scale/fanout`
// (QoS 0), one publisher sends 16 B QoS 0 messages, 64 per write, backpressure honoured. A
// warm-up phase of a fifth of the messages, then the measured phase: about DELIVERIES deliveries
// in all (publishes = DELIVERIES / n, at least MIN_PUBS). Figure: deliveries per second from the
// first to the last arrival of the measured phase; messages missing 10 s after the last arrival
// count as lost (a broker that drops QoS 0 for a slow subscriber shows here).
import { openClient, openMany, pump, timeArrivals, rateOf, waitForCount, generatorMeter, generatorNote } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import { processCpuMs } from '../lib/cpu.mjs';
import * as P from '../lib/packets.mjs';

const DELIVERIES = 300_000;
const MIN_PUBS = 50;
const BATCH = 64;
/** Silence that ends a phase: a broker slow to start delivering to 10,000 sockets still gets counted. */
const IDLE_MS = 10000;

export async function run(ctx) {
  const { port, brokerPid, n } = ctx;
  const deadline = Date.now() + 170000;
  let received = 0;
  const subs = await openMany(port, n, (i) => ({
    clientId: `scale-fan-${i}`,
    subscribe: [{ topic: 'scale/fanout', qos: 0 }],
    timeoutMs: 60000,
    onFrame: (h) => {
      if ((h & 0xf0) === PUBLISH) received++;
    },
  }), { concurrency: 200 });
  const t = timeArrivals(subs, () => received);
  const pub = await openClient(port, 'scale-fan-pub');
  const pkt = P.publish('scale/fanout', Buffer.alloc(16, 0x66));
  const batch = P.repeat(pkt, BATCH);
  const pubs = Math.max(MIN_PUBS, Math.round(DELIVERIES / n));
  const phase = async (m) => {
    t.reset();
    const base = received;
    const meter = generatorMeter();
    const cpu0 = processCpuMs(brokerPid);
    const sent = await pump(pub.sock, [batch], BATCH, pkt.length, m, deadline - 20000);
    const got = await waitForCount(() => received - base, sent * n, IDLE_MS, deadline, meter);
    return { sent, got, rate: rateOf(t, got), cpuMs: processCpuMs(brokerPid) - cpu0, meter };
  };
  await phase(Math.max(10, Math.round(pubs / 5)));
  const m = await phase(pubs);
  if (m.got === 0) throw new Error(`no delivery arrived within ${IDLE_MS / 1000} s of the last of ${m.sent} publishes`);
  const notes = [`${m.sent} publishes, ${m.got} of ${m.sent * n} deliveries`, `broker CPU ${((m.cpuMs * 1000) / Math.max(1, m.got)).toFixed(2)} µs per delivery`];
  const g = generatorNote(m.meter);
  if (g) notes.push(g);
  return { values: { rate: m.rate, usPerDelivery: (m.cpuMs * 1000) / Math.max(1, m.got) }, notes, losses: m.sent * n - m.got };
}
