// Shared subscriptions: QoS 0 fan-in from 8 publishers (as fanin.mjs) to a 2-member share group
// `$share/bench/bench/#`, against the same fan-in to one plain subscriber on `bench/#`, in one
// broker process (plain first, then shared; each calibrated as fanin.mjs is). Figures: messages
// received per second by all subscribers together (first to last arrival), each way, and
// shared / plain. Every message must arrive exactly once in the shared phase (one member of the
// group); a duplicate or a loss is counted. The target: shared no more than 10% below plain.
import { openClient, openMany, pump, timeArrivals, rateOf, waitForCount, close, calibrated, generatorMeter, generatorNote } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'shared';
export const timeoutMs = 110000;
export const settings = (s) =>
  `${PUBS} publishers, QoS 0, ${PAYLOAD} B payload, ${BATCH} packets per write; plain: 1 subscriber on \`bench/#\`, then shared: 2 members of \`$share/bench/bench/#\`; each calibrated (${PUBS} × ${probe(s).toLocaleString('en')} msgs) then measured for ~${target(s)} s`;
export const metrics = [
  { key: 'plain', label: 'QoS 0 fan-in, 8 pub → 1 plain sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
  { key: 'shared', label: 'QoS 0 fan-in, 8 pub → $share group of 2 (msgs/s)', unit: 'msgs/s', better: 'higher' },
  { key: 'ratio', label: 'shared / plain (%)', unit: '%', better: 'higher' },
];

const PUBS = 8;
const PAYLOAD = 16;
const BATCH = 128;
const MIN = 5000;
const probe = (scale) => Math.max(1000, Math.round(5000 * Math.min(1, scale)));
const max = (scale) => Math.max(MIN, Math.round(250000 * scale));
const target = (scale) => (scale >= 1 ? 3 : 1);

export async function run(ctx) {
  const { port, scale } = ctx;
  const notes = [];
  let losses = 0;
  const pubs = await openMany(port, PUBS, (i) => ({ clientId: `bench-shared-pub-${i}` }));
  const payload = Buffer.alloc(PAYLOAD, 0x61);
  const batches = pubs.map((_, i) => P.repeat(P.publish(`bench/fanin/${i}`, payload, { qos: 0 }), BATCH));
  const pktLen = batches[0].length / BATCH;

  async function measure(label, filter, members) {
    const deadline = Date.now() + 50000;
    let received = 0;
    const perSub = new Array(members).fill(0);
    const subs = [];
    for (let k = 0; k < members; k++) {
      subs.push(
        await openClient(port, `bench-shared-${label}-${k}`, {
          subscribe: [{ topic: filter, qos: 0 }],
          onFrame: (h) => {
            if ((h & 0xf0) !== PUBLISH) return;
            received++;
            perSub[k]++;
          },
        }),
      );
    }
    const t = timeArrivals(subs, () => received);
    async function phase(per) {
      const sendDeadline = Math.min(Date.now() + 15000, deadline - 12000);
      t.reset();
      const meter = generatorMeter();
      const base = received;
      const sentPer = await Promise.all(pubs.map((c, i) => pump(c.sock, [batches[i]], BATCH, pktLen, per, sendDeadline)));
      const sent = sentPer.reduce((a, b) => a + b, 0);
      const got = await waitForCount(() => received - base, sent, 2000, deadline, meter);
      return { sent, got, meter, rate: rateOf(t, got), wanted: per * PUBS, secs: (t.last - t.first) / 1000 };
    }
    const { m, runs } = await calibrated(phase, { probe: probe(scale), target: target(scale), min: MIN, max: max(scale), multiple: BATCH, perCount: PUBS });
    for (const c of subs) close(c);
    notes.push(`${label}: ${m.sent.toLocaleString('en')} msgs in ${m.secs.toFixed(2)} s${runs > 1 ? ' (re-sized)' : ''}, per subscriber over the whole run ${perSub.map((n) => n.toLocaleString('en')).join(' / ')}`);
    const gn = generatorNote(m.meter);
    if (gn) notes.push(`${label}: ${gn}`);
    if (m.got < m.sent) notes.push(`${label}: lost ${m.sent - m.got} of ${m.sent}`);
    if (m.got > m.sent) notes.push(`${label}: received ${m.got - m.sent} more than sent (duplicates)`);
    losses += Math.abs(m.sent - m.got);
    return m.rate;
  }

  const plain = await measure('plain', 'bench/#', 1);
  const shared = await measure('shared', '$share/bench/bench/#', 2);
  for (const c of pubs) close(c);
  return { values: { plain, shared, ratio: (shared / plain) * 100 }, notes, losses };
}
