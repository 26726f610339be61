// 1. QoS 0 fan-in: 8 publishers blast QoS 0 PUBLISHes on bench/fanin/<i> as fast as their
// sockets take them; one subscriber on bench/#. A calibration phase (8 × 5,000 msgs, also the
// warm-up) sizes the measured phase to last about TARGET_S seconds on this broker.
// Figure: messages received by the subscriber per second (first to last arrival) in the
// measured phase. Messages not received within 2 s of the last arrival count as lost.
// With ctx.ws (the faninws scenario) every client connects over WebSocket instead. With
// ctx.cluster (clusterfanin) the subscriber is on node 1 (ctx.subPort) and the publishers on node 2
// (ctx.pubPort), and the run starts once a message crosses from node 2 to node 1. With ctx.v5
// (fanin5) every client speaks MQTT 5.0: the same packets with an empty property block.
import { openClient, openMany, pump, pumpWs, timeArrivals, rateOf, waitForCount, close, calibrated, generatorMeter, generatorNote, awaitCrossNode } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';
import { processCpuMs } from '../lib/cpu.mjs';

export const id = 'fanin';
export const timeoutMs = 60000;
export const settings = (s) =>
  `${PUBS} publishers, QoS 0, ${PAYLOAD} B payload, ${BATCH} packets per write, 1 subscriber on \`bench/#\`; calibration ${PUBS} × ${probe(s).toLocaleString('en')} msgs, then a measured phase sized for ~${target(s)} s (${PUBS} × ${MIN.toLocaleString('en')}…${PUBS} × ${max(s).toLocaleString('en')} msgs)`;
export const metrics = [
  { key: 'rate', label: 'QoS 0 fan-in, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
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
  const subPort = ctx.subPort ?? port;
  const pubPort = ctx.pubPort ?? port;
  const ws = ctx.ws === true;
  const v5 = ctx.v5 === true;
  const name = ws ? 'bench-faninws' : ctx.cluster ? 'bench-clusterfanin' : v5 ? 'bench-fanin5' : 'bench-fanin';
  const deadline = Date.now() + 50000;
  let received = 0;
  let malformed = 0;
  const payload = Buffer.alloc(ctx.payload ?? PAYLOAD, 0x61);
  // 1-byte Remaining Length; a v5 delivery has the same empty property block as the PUBLISH sent.
  const bodyLen = P.publish('bench/fanin/0', payload, { qos: 0, v5 }).length - 2;
  const sub = await openClient(subPort, `${name}-sub`, {
    ws,
    v5,
    subscribe: [{ topic: 'bench/#', qos: 0 }],
    onFrame: (h, buf, s, e) => {
      if ((h & 0xf0) !== PUBLISH) return;
      received++;
      if (e - s !== bodyLen || (h & 6) !== 0 || buf[e - 1] !== 0x61) malformed++;
    },
  });
  let routed = 0;
  let crossNodeMs = NaN;
  if (ctx.cluster) {
    // The probe is a real message of publisher 0 (same topic and payload): it counts as received.
    const probe = await awaitCrossNode(pubPort, `${name}-probe`, P.publish('bench/fanin/0', payload, { qos: 0 }), () => received > 0);
    if (!Number.isFinite(probe.ms)) throw new Error('not clustered: no message from node 2 reached node 1 within 10 s');
    crossNodeMs = probe.ms;
    routed = probe.sent;
  }
  const t = timeArrivals([sub], () => received);
  const pubs = await openMany(pubPort, PUBS, (i) => ({ clientId: `${name}-pub-${i}`, ws, v5 }));
  const batches = pubs.map((_, i) => P.repeat(P.publish(`bench/fanin/${i}`, payload, { qos: 0, v5 }), BATCH));
  const pktLen = batches[0].length / BATCH;

  async function phase(per) {
    const sendDeadline = Math.min(Date.now() + 15000, deadline - 12000);
    t.reset();
    const tSend = performance.now();
    const meter = generatorMeter();
    const brokerCpu0 = processCpuMs(ctx.brokerPid);
    const base = received;
    const sentPer = await Promise.all(
      pubs.map((c, i) => (ws ? pumpWs(c, [batches[i]], BATCH, pktLen, per, sendDeadline) : pump(c.sock, [batches[i]], BATCH, pktLen, per, sendDeadline))),
    );
    const sent = sentPer.reduce((a, b) => a + b, 0);
    routed += sent;
    const got = await waitForCount(() => received - base, sent, 2000, deadline, meter);
    // The broker's CPU time per message received: a figure that other load on the machine moves less.
    const brokerUs = ((processCpuMs(ctx.brokerPid) - brokerCpu0) * 1000) / got;
    return { brokerUs, sent, got, meter, rate: rateOf(t, got), e2e: got / ((t.last - tSend) / 1000), wanted: per * PUBS, secs: (t.last - t.first) / 1000 };
  }

  const { cal, m, runs } = await calibrated(phase, { probe: probe(scale), target: target(scale), min: MIN, max: max(scale), multiple: BATCH, perCount: PUBS });
  for (const c of [sub, ...pubs]) close(c);
  const notes = [`measured ${m.sent.toLocaleString('en')} msgs in ${m.secs.toFixed(2)} s${runs > 1 ? ', after a re-sizing run' : ''} (first send → last arrival: ${Math.round(m.e2e / 1000)}k msgs/s; calibration ${Math.round(cal.rate / 1000)}k msgs/s; generator ${Math.round(m.meter.load * 100)}% of a core)`];
  const gn = generatorNote(m.meter);
  if (gn) notes.push(gn);
  if (cal.got < cal.sent) notes.push(`calibration lost ${cal.sent - cal.got} of ${cal.sent}`);
  if (m.sent < m.wanted) notes.push(`send capped by time: ${m.sent} of ${m.wanted} sent`);
  if (m.got < m.sent) notes.push(`lost ${m.sent - m.got} of ${m.sent} (${(((m.sent - m.got) / m.sent) * 100).toFixed(2)}%)`);
  if (m.got > m.sent) notes.push(`received ${m.got - m.sent} more than sent`);
  if (malformed) notes.push(`${malformed} PUBLISHes with unexpected length, QoS or payload`);
  if (ctx.cluster) notes.push(`first message across nodes after ${Math.round(crossNodeMs)} ms`);
  // Only the single-broker rows: ctx.brokerPid is one node of a cluster.
  const brokerUs = ctx.cluster ? null : m.brokerUs;
  if (Number.isFinite(brokerUs)) notes.push(`broker CPU ${brokerUs.toFixed(2)} µs per message received in the measured phase`);
  return { values: { rate: m.rate, brokerUs }, notes, losses: Math.max(0, m.sent - m.got) + malformed, routed };
}
