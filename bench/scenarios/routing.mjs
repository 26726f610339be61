// 7. Routing to 10,000 subscribers: N subscriber connections, each subscribed to its own
// topic bench/r/<i>; one publisher sends QoS 0 messages to topics drawn at random (fixed-seed
// xorshift, pre-encoded into batches). A calibration phase (20,000 msgs, also the warm-up)
// sizes the measured phase to last about 2 s. Figure: deliveries per second.
import { openClient, openMany, drain, timeArrivals, rateOf, waitForCount, close, destroyAll, generatorMeter, generatorNote, calibrated } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'routing';
export const timeoutMs = 120000;
export const settings = (s) =>
  `${subs(s).toLocaleString('en')} subscribers each on its own topic \`bench/r/<i>\`; 1 publisher, QoS 0 msgs to random topics (fixed-seed xorshift), 16 B payload, ${BATCH} packets per write; calibration ${probe(s).toLocaleString('en')} msgs, then a measured phase sized for ~${target(s)} s (${MIN.toLocaleString('en')}…${max(s).toLocaleString('en')} msgs)`;
export const metrics = [
  { key: 'rate', label: 'Routing to 10k subscribers, 1 topic each (deliveries/s)', unit: 'msgs/s', better: 'higher' },
];

const BATCH = 250;
const NBATCHES = 40;
const MIN = 20000;
const subs = (scale) => Math.max(500, Math.round(10000 * Math.min(1, scale)));
const probe = (scale) => Math.max(5000, Math.round(20000 * Math.min(1, scale)));
const max = (scale) => Math.max(MIN, Math.round(1000000 * scale));
const target = (scale) => (scale >= 1 ? 2 : 1);

export async function run(ctx) {
  const { port, scale } = ctx;
  const N = subs(scale);
  const deadline = Date.now() + 100000;
  let received = 0;
  const onFrame = (h) => {
    if ((h & 0xf0) === PUBLISH) received++;
  };
  const tc = performance.now();
  const clients = await openMany(
    port,
    N,
    (i) => ({ clientId: `bench-r-${i}`, subscribe: [{ topic: `bench/r/${i}`, qos: 0 }], onFrame }),
    { concurrency: 100, deadline: deadline - 40000 },
  );
  const connectMs = performance.now() - tc;
  const t = timeArrivals(clients, () => received);
  const pub = await openClient(port, 'bench-r-pub');
  const payload = Buffer.alloc(16, 0x71);
  const pkts = [];
  for (let i = 0; i < N; i++) pkts.push(P.publish(`bench/r/${i}`, payload, { qos: 0 }));
  let x = 0x9e3779b9 >>> 0;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const batches = [];
  for (let b = 0; b < NBATCHES; b++) {
    const parts = [];
    for (let k = 0; k < BATCH; k++) parts.push(pkts[rnd() % N]);
    batches.push(Buffer.concat(parts));
  }
  // Packets differ in length (topic), so send whole batches only (counts are batch multiples).
  async function phase(total) {
    const sendDeadline = Math.min(Date.now() + 15000, deadline - 15000);
    t.reset();
    const base = received;
    let sent = 0;
    const meter = generatorMeter();
    for (let k = 0; sent < total && Date.now() < sendDeadline; k = (k + 1) % NBATCHES) {
      sent += BATCH;
      if (!pub.sock.write(batches[k])) await drain(pub.sock);
      else if (sent % (BATCH * 16) === 0) await new Promise((r) => setImmediate(r));
    }
    const got = await waitForCount(() => received - base, sent, 2000, deadline, meter);
    return { sent, got, meter, rate: rateOf(t, got), wanted: total, secs: (t.last - t.first) / 1000 };
  }
  const { cal, m, runs } = await calibrated(phase, { probe: probe(scale), target: target(scale), min: MIN, max: max(scale), multiple: BATCH });
  close(pub);
  destroyAll();
  const notes = [
    `${Math.round(N / (connectMs / 1000)).toLocaleString('en')} subscriber connects/s; measured ${m.sent.toLocaleString('en')} msgs in ${m.secs.toFixed(2)} s${runs > 1 ? ', after a re-sizing run' : ''} (calibration ${Math.round(cal.rate / 1000)}k msgs/s; generator ${Math.round(m.meter.load * 100)}% of a core)`,
  ];
  const gn = generatorNote(m.meter);
  if (gn) notes.push(gn);
  if (cal.got < cal.sent) notes.push(`calibration lost ${cal.sent - cal.got} of ${cal.sent}`);
  if (m.sent < m.wanted) notes.push(`send capped by time: ${m.sent} of ${m.wanted}`);
  if (m.got < m.sent) notes.push(`lost ${m.sent - m.got} of ${m.sent}`);
  if (m.got > m.sent) notes.push(`received ${m.got - m.sent} more than sent`);
  return { values: { rate: m.rate }, notes, losses: Math.max(0, m.sent - m.got) };
}
