// 2. QoS 0 fan-out: 1 publisher on bench/fanout (as fast as its socket takes them), 100
// subscribers on that topic. A calibration phase (1,000 publishes, also the warm-up) sizes the
// measured phase to last about TARGET_S seconds on this broker.
// Figure: total deliveries per second across all subscribers in the measured phase.
import { openClient, openMany, pump, timeArrivals, rateOf, waitForCount, close, calibrated, generatorMeter, generatorNote } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';
import { processCpuMs } from '../lib/cpu.mjs';

export const id = 'fanout';
export const timeoutMs = 60000;
export const settings = (s) =>
  `1 publisher, QoS 0, ${PAYLOAD} B payload, ${BATCH} packets per write; ${SUBS} subscribers on \`bench/fanout\`; calibration ${probe(s).toLocaleString('en')} publishes, then a measured phase sized for ~${target(s)} s (${MIN.toLocaleString('en')}…${max(s).toLocaleString('en')} publishes)`;
export const metrics = [
  { key: 'rate', label: 'QoS 0 fan-out, 1 pub → 100 subs (deliveries/s)', unit: 'msgs/s', better: 'higher' },
];

const SUBS = 100;
const PAYLOAD = 16;
const BATCH = 64;
const MIN = 1000;
const probe = (scale) => Math.max(200, Math.round(1000 * Math.min(1, scale)));
const max = (scale) => Math.max(MIN, Math.round(250000 * scale));
const target = (scale) => (scale >= 1 ? 3 : 1);

export async function run(ctx) {
  const { port, scale } = ctx;
  const deadline = Date.now() + 50000;
  let received = 0;
  let malformed = 0;
  const pkt = P.publish('bench/fanout', Buffer.alloc(PAYLOAD, 0x62), { qos: 0 });
  const bodyLen = pkt.length - 2; // 1-byte Remaining Length
  const perSub = new Uint32Array(SUBS);
  const subs = await openMany(port, SUBS, (i) => ({
    clientId: `bench-fanout-sub-${i}`,
    subscribe: [{ topic: 'bench/fanout', qos: 0 }],
    onFrame: (h, buf, s, e) => {
      if ((h & 0xf0) !== PUBLISH) return;
      received++;
      perSub[i]++;
      if (e - s !== bodyLen || buf[e - 1] !== 0x62) malformed++;
    },
  }));
  const t = timeArrivals(subs, () => received);
  const pub = await openClient(port, 'bench-fanout-pub');
  const batch = P.repeat(pkt, BATCH);

  async function phase(n) {
    const sendDeadline = Math.min(Date.now() + 15000, deadline - 12000);
    t.reset();
    const tSend = performance.now();
    const meter = generatorMeter();
    const brokerCpu0 = processCpuMs(ctx.brokerPid);
    perSub.fill(0);
    const base = received;
    const sent = await pump(pub.sock, [batch], BATCH, pkt.length, n, sendDeadline);
    const expected = sent * SUBS;
    const got = await waitForCount(() => received - base, expected, 2000, deadline, meter);
    const over = perSub.filter((k) => k > sent).length;
    // The broker's CPU time per message received: a figure that other load on the machine moves less.
    const brokerUs = ((processCpuMs(ctx.brokerPid) - brokerCpu0) * 1000) / got;
    return { brokerUs, sent, expected, got, over, meter, rate: rateOf(t, got), e2e: got / ((t.last - tSend) / 1000), wanted: n, secs: (t.last - t.first) / 1000 };
  }

  const { cal, m, runs } = await calibrated(phase, { probe: probe(scale), target: target(scale), min: MIN, max: max(scale), multiple: BATCH, perCount: SUBS });
  for (const c of [pub, ...subs]) close(c);
  const notes = [`measured ${m.sent.toLocaleString('en')} publishes in ${m.secs.toFixed(2)} s${runs > 1 ? ', after a re-sizing run' : ''} (first send → last arrival: ${Math.round(m.e2e / 1000)}k deliveries/s; calibration ${Math.round(cal.rate / 1000)}k deliveries/s; generator ${Math.round(m.meter.load * 100)}% of a core)`];
  const gn = generatorNote(m.meter);
  if (gn) notes.push(gn);
  if (cal.got < cal.expected) notes.push(`calibration lost ${cal.expected - cal.got} of ${cal.expected}`);
  if (m.sent < m.wanted) notes.push(`send capped by time: ${m.sent} of ${m.wanted} sent`);
  if (m.got < m.expected) notes.push(`lost ${m.expected - m.got} of ${m.expected} deliveries (${(((m.expected - m.got) / m.expected) * 100).toFixed(2)}%)`);
  if (m.over) notes.push(`${m.over} subscribers received more messages than were sent`);
  if (m.got > m.expected) notes.push(`received ${m.got - m.expected} more than sent`);
  if (malformed) notes.push(`${malformed} PUBLISHes with unexpected length or payload`);
  const brokerUs = m.brokerUs;
  if (Number.isFinite(brokerUs)) notes.push(`broker CPU ${brokerUs.toFixed(2)} µs per delivery received in the measured phase`);
  return { values: { rate: m.rate, brokerUs }, notes, losses: Math.max(0, m.expected - m.got) + malformed };
}
