// 2. QoS 0 fan-out: 1 publisher on bench/fanout, 100 subscribers on the same topic.
// Figure: total deliveries per second across all subscribers.
import { openClient, openMany, pump, timeArrivals, rateOf, waitForCount, close } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'fanout';
export const timeoutMs = 60000;
export const settings = (s) => `1 publisher × ${msgs(s).toLocaleString('en')} msgs, QoS 0, ${PAYLOAD} B payload, ${BATCH} packets per write; ${SUBS} subscribers on \`bench/fanout\``;
export const metrics = [
  { key: 'rate', label: 'QoS 0 fan-out, 1 pub → 100 subs (deliveries/s)', unit: 'msgs/s', better: 'higher' },
];

const SUBS = 100;
const PAYLOAD = 16;
const BATCH = 64;
const msgs = (scale) => Math.max(200, Math.round(4000 * scale));

export async function run(ctx) {
  const { port, scale } = ctx;
  const deadline = Date.now() + 40000;
  const N = msgs(scale);
  let received = 0;
  const onFrame = (h) => {
    if ((h & 0xf0) === PUBLISH) received++;
  };
  const subs = await openMany(port, SUBS, (i) => ({
    clientId: `bench-fanout-sub-${i}`,
    subscribe: [{ topic: 'bench/fanout', qos: 0 }],
    onFrame,
  }));
  const t = timeArrivals(subs.map((c) => c.sock), () => received);
  const pub = await openClient(port, 'bench-fanout-pub');
  const pkt = P.publish('bench/fanout', Buffer.alloc(PAYLOAD, 0x62), { qos: 0 });
  const sent = await pump(pub.sock, [P.repeat(pkt, BATCH)], BATCH, pkt.length, N, deadline - 8000);
  const expected = sent * SUBS;
  const got = await waitForCount(() => received, expected, 2000, deadline);
  for (const c of [pub, ...subs]) close(c);
  const notes = [];
  if (sent < N) notes.push(`send capped by time: ${sent} of ${N} sent`);
  if (got < expected) notes.push(`lost ${expected - got} of ${expected} deliveries (${(((expected - got) / expected) * 100).toFixed(2)}%)`);
  return { values: { rate: rateOf(t, got) }, notes, losses: expected - got };
}
