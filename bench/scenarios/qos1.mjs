// 3. QoS 1 end-to-end: 8 publishers send QoS 1 with up to WINDOW un-acknowledged PUBLISHes
// each (packet ids recycled as PUBACKs return); one subscriber on bench/# at QoS 1 PUBACKs
// every message (one batched write per received chunk). Every (publisher, seq) is checked off.
// Figure: messages delivered to the subscriber per second.
import { openClient, openMany, timeArrivals, rateOf, waitForCount, close } from '../lib/client.mjs';
import { PUBLISH, PUBACK } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'qos1';
export const timeoutMs = 60000;
export const settings = (s) => `${PUBS} publishers × ${per(s).toLocaleString('en')} msgs, QoS 1, window ${WINDOW} un-acked per publisher, 8 B payload; 1 subscriber on \`bench/#\` at QoS 1, PUBACK per message`;
export const metrics = [
  { key: 'rate', label: 'QoS 1 end-to-end, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

const PUBS = 8;
const WINDOW = 100;
const per = (scale) => Math.max(1000, Math.round(20000 * scale));

export async function run(ctx) {
  const { port, scale } = ctx;
  const deadline = Date.now() + 40000;
  const sendDeadline = deadline - 8000;
  const PER = per(scale);

  // ---- subscriber: check off every (publisher, seq), PUBACK everything
  const seen = Array.from({ length: PUBS }, () => new Uint8Array(PER));
  let received = 0;
  let dups = 0;
  let bogus = 0;
  let ackBuf = Buffer.allocUnsafe(64 * 1024);
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
    const pi = buf.readUInt32BE(p);
    const seq = buf.readUInt32BE(p + 4);
    if (pi >= PUBS || seq >= PER) {
      bogus++;
      return;
    }
    if (seen[pi][seq]) dups++;
    else {
      seen[pi][seq] = 1;
      received++;
    }
  };
  sub = await openClient(port, 'bench-qos1-sub', { subscribe: [{ topic: 'bench/#', qos: 1 }], onFrame: subFrame });
  sub.sock.on('data', flushAcks);
  const t = timeArrivals([sub.sock], () => received);

  // ---- publishers: free-id stack, refill the window after every chunk of PUBACKs
  const states = [];
  let pubsDone = 0;
  let donePromiseResolve;
  const allSent = new Promise((r) => (donePromiseResolve = r));
  const pubs = await openMany(port, PUBS, (i) => {
    const st = { i, sent: 0, acked: 0, free: [], done: false };
    for (let id = WINDOW; id >= 1; id--) st.free.push(id);
    states[i] = st;
    return {
      clientId: `bench-qos1-pub-${i}`,
      onFrame: (h, buf, s) => {
        if ((h & 0xf0) !== PUBACK) return;
        st.free.push((buf[s] << 8) | buf[s + 1]);
        st.acked++;
      },
    };
  });
  const refill = (c, st, tpl, idOff, plOff) => {
    if (st.done) return;
    // past the send deadline: send nothing more, just wait for the outstanding PUBACKs
    const n = Date.now() > sendDeadline ? 0 : Math.min(st.free.length, PER - st.sent);
    if (n > 0) {
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
    if (st.acked === st.sent && (st.sent === PER || Date.now() > sendDeadline)) {
      st.done = true;
      if (++pubsDone === PUBS) donePromiseResolve();
    }
  };
  pubs.forEach((c, i) => {
    const st = states[i];
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(i, 0);
    const tpl = P.publish(`bench/qos1/${i}`, payload, { qos: 1, messageId: 1 });
    const { idOffset, payloadOffset } = P.publishLayout(tpl);
    c.sock.on('data', () => refill(c, st, tpl, idOffset, payloadOffset));
    refill(c, st, tpl, idOffset, payloadOffset);
  });
  // A stalled publisher (no PUBACKs) is caught by the deadline below.
  await Promise.race([allSent, new Promise((r) => setTimeout(r, Math.max(0, deadline - 4000 - Date.now())))]);
  const sent = states.reduce((a, st) => a + st.sent, 0);
  const acked = states.reduce((a, st) => a + st.acked, 0);
  const got = await waitForCount(() => received, sent, 2000, deadline);
  flushAcks();
  for (const c of [sub, ...pubs]) close(c);
  const notes = [];
  if (sent < PUBS * PER) notes.push(`send capped by time: ${sent} of ${PUBS * PER} sent`);
  if (acked < sent) notes.push(`${sent - acked} PUBLISHes never PUBACKed by the broker`);
  if (got < sent) notes.push(`MISSING ${sent - got} of ${sent} QoS 1 messages`);
  if (dups) notes.push(`${dups} duplicates`);
  if (bogus) notes.push(`${bogus} messages with unexpected payload`);
  return { values: { rate: rateOf(t, got) }, notes, losses: sent - got };
}
