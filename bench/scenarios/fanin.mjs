// 1. QoS 0 fan-in: 8 publishers blast QoS 0 PUBLISHes on bench/fanin/<i>; one subscriber on
// bench/#. Figure: messages received by the subscriber per second (first to last arrival).
import { openClient, openMany, pump, timeArrivals, rateOf, waitForCount, close } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'fanin';
export const timeoutMs = 60000;
export const settings = (s) => `${PUBS} publishers × ${per(s).toLocaleString('en')} msgs, QoS 0, ${PAYLOAD} B payload, ${BATCH} packets per write, 1 subscriber on \`bench/#\``;
export const metrics = [
  { key: 'rate', label: 'QoS 0 fan-in, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

const PUBS = 8;
const PAYLOAD = 16;
const BATCH = 128;
const per = (scale) => Math.max(1000, Math.round(40000 * scale));

export async function run(ctx) {
  const { port, scale } = ctx;
  const deadline = Date.now() + 40000;
  const PER = per(scale);
  let received = 0;
  const sub = await openClient(port, 'bench-fanin-sub', {
    subscribe: [{ topic: 'bench/#', qos: 0 }],
    onFrame: (h) => {
      if ((h & 0xf0) === PUBLISH) received++;
    },
  });
  const t = timeArrivals([sub.sock], () => received);
  const pubs = await openMany(port, PUBS, (i) => ({ clientId: `bench-fanin-pub-${i}` }));
  const payload = Buffer.alloc(PAYLOAD, 0x61);
  const sentPer = await Promise.all(
    pubs.map((c, i) => {
      const pkt = P.publish(`bench/fanin/${i}`, payload, { qos: 0 });
      return pump(c.sock, [P.repeat(pkt, BATCH)], BATCH, pkt.length, PER, deadline - 8000);
    }),
  );
  const sent = sentPer.reduce((a, b) => a + b, 0);
  const got = await waitForCount(() => received, sent, 2000, deadline);
  for (const c of [sub, ...pubs]) close(c);
  const notes = [];
  if (sent < PUBS * PER) notes.push(`send capped by time: ${sent} of ${PUBS * PER} sent`);
  if (got < sent) notes.push(`lost ${sent - got} of ${sent} (${(((sent - got) / sent) * 100).toFixed(2)}%)`);
  if (got > sent) notes.push(`received ${got - sent} more than sent`);
  return { values: { rate: rateOf(t, got) }, notes, losses: sent - got };
}
