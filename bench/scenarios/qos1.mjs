// 3. QoS 1 end-to-end: 8 publishers send QoS 1 with up to WINDOW un-acknowledged PUBLISHes
// each (packet ids recycled as PUBACKs return); one subscriber on bench/# at QoS 1 PUBACKs
// every message (one batched write per received chunk). Every (phase, publisher, seq) is
// checked off, so losses and duplicates are exact. A calibration phase (8 × 2,500 msgs, also
// the warm-up) sizes the measured phase to last about TARGET_S seconds on this broker.
// Figure: messages delivered to the subscriber per second in the measured phase.
// With ctx.cluster (clusterqos1) the subscriber is on node 1 (ctx.subPort), the publishers on
// node 2 (ctx.pubPort), payloads are ctx.payload bytes, and the run starts once a message crosses.
// With ctx.v5 (qos1v5) every client speaks MQTT 5.0: PUBLISHes with an empty property block (the
// subscriber reads whatever block the broker sends), 2-byte PUBACKs (Reason Code 0 left out, as
// v5 allows) from the subscriber; the broker's PUBACKs to the publishers are read by packet id only.
import { openClient, openMany, timeArrivals, rateOf, waitForCount, close, calibrated, generatorMeter, generatorNote, awaitCrossNode } from '../lib/client.mjs';
import { PUBLISH, PUBACK } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';
import { processCpuMs } from '../lib/cpu.mjs';

export const id = 'qos1';
export const timeoutMs = 60000;
export const settings = (s) =>
  `${PUBS} publishers, QoS 1, window ${WINDOW} un-acked per publisher, 8 B payload; 1 subscriber on \`bench/#\` at QoS 1, PUBACK for every message; calibration ${PUBS} × ${probe(s).toLocaleString('en')} msgs, then a measured phase sized for ~${target(s)} s (${PUBS} × ${MIN.toLocaleString('en')}…${PUBS} × ${max(s).toLocaleString('en')} msgs)`;
export const metrics = [
  { key: 'rate', label: 'QoS 1 end-to-end, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

const PUBS = 8;
const WINDOW = 100;
const MIN = 2500;
const probe = (scale) => Math.max(500, Math.round(2500 * Math.min(1, scale)));
const max = (scale) => Math.max(MIN, Math.round(200000 * scale));
const target = (scale) => (scale >= 1 ? 3 : 1);

export async function run(ctx) {
  const { port, scale } = ctx;
  const subPort = ctx.subPort ?? port;
  const pubPort = ctx.pubPort ?? port;
  const v5 = ctx.v5 === true;
  const name = ctx.cluster ? 'bench-clusterqos1' : v5 ? 'bench-qos1v5' : 'bench-qos1';
  const deadline = Date.now() + 50000;

  // ---- subscriber: check off every (publisher, seq) of the current phase, PUBACK everything
  let phaseNo = 0;
  let PER = 0;
  let seen = [];
  let received = 0;
  let dups = 0;
  let stale = 0;
  const ackBuf = Buffer.allocUnsafe(64 * 1024);
  let ackLen = 0;
  let sub = null;
  const flushAcks = () => {
    if (ackLen === 0) return;
    const out = Buffer.allocUnsafe(ackLen);
    ackBuf.copy(out, 0, 0, ackLen);
    ackLen = 0;
    sub.sock.write(out);
  };
  const subFrame = (h, buf, s) => {
    if ((h & 0xf0) !== PUBLISH) return;
    const tl = (buf[s] << 8) | buf[s + 1];
    let p = s + 2 + tl;
    if ((h & 6) !== 0) {
      if (ackLen + 4 > ackBuf.length) flushAcks();
      P.writePuback(ackBuf, ackLen, (buf[p] << 8) | buf[p + 1]);
      ackLen += 4;
      p += 2;
    }
    if (v5) p = P.skipProperties(buf, p);
    const tag = buf.readUInt32BE(p);
    const seq = buf.readUInt32BE(p + 4);
    const pi = tag & 0xff;
    if (tag >>> 8 !== phaseNo || pi >= PUBS || seq >= PER) {
      stale++;
      return;
    }
    if (seen[pi][seq]) dups++;
    else {
      seen[pi][seq] = 1;
      received++;
    }
  };
  // With persistence on, the subscriber's session is persistent (clean=0), so every delivery is
  // journaled: that is what the durable store has to keep up with.
  sub = await openClient(subPort, `${name}-sub`, { v5, subscribe: [{ topic: 'bench/#', qos: 1 }], clean: !ctx.persistent, onFrame: subFrame });
  sub.afterRead.push(flushAcks);
  let routed = 0;
  let crossNodeMs = NaN;
  if (ctx.cluster) {
    // A QoS 0 probe with phase tag 0 (no phase has that number): counted as stale, reset below.
    const probe = await awaitCrossNode(pubPort, `${name}-probe`, P.publish('bench/qos1/probe', Buffer.alloc(8), { qos: 0 }), () => stale > 0);
    if (!Number.isFinite(probe.ms)) throw new Error('not clustered: no message from node 2 reached node 1 within 10 s');
    crossNodeMs = probe.ms;
    routed = probe.sent;
    stale = 0;
  }
  const t = timeArrivals([sub], () => received);

  // ---- publishers: free-id stack, refill the window after every chunk of PUBACKs
  const states = [];
  const pubs = await openMany(pubPort, PUBS, (i) => {
    const st = { i, sent: 0, acked: 0, free: [], done: true, per: 0, stopAt: 0, tpl: null, idOff: 0, plOff: 0 };
    for (let id = WINDOW; id >= 1; id--) st.free.push(id);
    states[i] = st;
    return {
      clientId: `${name}-pub-${i}`,
      v5,
      onFrame: (h, buf, s) => {
        if ((h & 0xf0) !== PUBACK) return;
        st.free.push((buf[s] << 8) | buf[s + 1]);
        st.acked++;
      },
    };
  });
  let pubsDone = 0;
  let onAllDone = () => {};
  const refill = (c, st) => {
    if (st.done) return;
    // past the send deadline: send nothing more, just wait for the outstanding PUBACKs
    const late = Date.now() > st.stopAt;
    const n = late ? 0 : Math.min(st.free.length, st.per - st.sent);
    if (n > 0) {
      const { tpl, idOff, plOff } = st;
      const L = tpl.length;
      const out = Buffer.allocUnsafe(n * L);
      for (let k = 0; k < n; k++) {
        const o = k * L;
        tpl.copy(out, o);
        const id = st.free.pop();
        out[o + idOff] = id >> 8;
        out[o + idOff + 1] = id & 255;
        out.writeUInt32BE(st.sent++, o + plOff + 4);
      }
      c.sock.write(out);
    }
    if (st.acked === st.sent && (st.sent === st.per || late)) {
      st.done = true;
      if (++pubsDone === PUBS) onAllDone();
    }
  };
  pubs.forEach((c, i) => c.afterRead.push(() => refill(c, states[i])));

  async function phase(per) {
    const stopAt = Math.min(Date.now() + 15000, deadline - 14000);
    phaseNo++;
    PER = per;
    const dups0 = dups;
    const stale0 = stale;
    seen = Array.from({ length: PUBS }, () => new Uint8Array(per));
    received = 0;
    t.reset();
    const tSend = performance.now();
    const meter = generatorMeter();
    const brokerCpu0 = processCpuMs(ctx.brokerPid);
    pubsDone = 0;
    const allDone = new Promise((r) => (onAllDone = r));
    pubs.forEach((c, i) => {
      const st = states[i];
      const payload = Buffer.alloc(Math.max(8, ctx.payload ?? 8));
      payload.writeUInt32BE((phaseNo << 8) | i, 0);
      st.tpl = P.publish(`bench/qos1/${i}`, payload, { qos: 1, messageId: 1, v5 });
      const lay = P.publishLayout(st.tpl, v5);
      st.idOff = lay.idOffset;
      st.plOff = lay.payloadOffset;
      Object.assign(st, { sent: 0, acked: 0, done: false, per, stopAt });
      refill(c, st);
    });
    // A stalled publisher (no PUBACKs) is caught by the time limit here.
    let timer;
    await Promise.race([allDone, new Promise((r) => (timer = setTimeout(r, Math.max(0, stopAt + 4000 - Date.now()))))]);
    clearTimeout(timer);
    const sent = states.reduce((a, st) => a + st.sent, 0);
    routed += sent;
    const acked = states.reduce((a, st) => a + st.acked, 0);
    const got = await waitForCount(() => received, sent, 2000, deadline, meter);
    flushAcks();
    // The broker's CPU time per message received: a figure that other load on the machine moves less.
    const brokerUs = ((processCpuMs(ctx.brokerPid) - brokerCpu0) * 1000) / got;
    return { brokerUs, sent, acked, got, meter, rate: rateOf(t, got), e2e: got / ((t.last - tSend) / 1000), wanted: per * PUBS, secs: (t.last - t.first) / 1000, dups: dups - dups0, stale: stale - stale0 };
  }

  const { cal, m, runs } = await calibrated(phase, {
    probe: probe(scale),
    target: target(scale),
    min: MIN,
    max: max(scale),
    multiple: WINDOW,
    perCount: PUBS,
  });
  for (const c of [sub, ...pubs]) close(c);
  const notes = [`measured ${m.sent.toLocaleString('en')} msgs in ${m.secs.toFixed(2)} s${runs > 1 ? ', after a re-sizing run' : ''} (first send → last arrival: ${Math.round(m.e2e / 1000)}k msgs/s; calibration ${Math.round(cal.rate / 1000)}k msgs/s; generator ${Math.round(m.meter.load * 100)}% of a core)`];
  const gn = generatorNote(m.meter);
  if (gn) notes.push(gn);
  if (cal.got < cal.sent) notes.push(`calibration: MISSING ${cal.sent - cal.got} of ${cal.sent}`);
  if (m.sent < m.wanted) notes.push(`send capped by time: ${m.sent} of ${m.wanted} sent`);
  if (m.acked < m.sent) notes.push(`${m.sent - m.acked} PUBLISHes never PUBACKed by the broker`);
  if (m.got < m.sent) notes.push(`MISSING ${m.sent - m.got} of ${m.sent} QoS 1 messages`);
  if (dups) notes.push(`${dups} duplicates (${m.dups} in the measured phase)`);
  if (stale) notes.push(`${stale} messages with unexpected payload or from an earlier phase (${m.stale} in the measured phase)`);
  if (ctx.cluster) notes.push(`first message across nodes after ${Math.round(crossNodeMs)} ms`);
  // Only the single-broker rows: ctx.brokerPid is one node of a cluster.
  const brokerUs = ctx.cluster ? null : m.brokerUs;
  if (Number.isFinite(brokerUs)) notes.push(`broker CPU ${brokerUs.toFixed(2)} µs per message received in the measured phase`);
  return { values: { rate: m.rate, brokerUs }, notes, losses: Math.max(0, m.sent - m.got), routed };
}
