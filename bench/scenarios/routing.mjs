// 7. Routing to 10,000 subscribers: N subscriber connections, each subscribed to its own
// topic bench/r/<i>; one publisher sends M QoS 0 messages to topics drawn at random
// (fixed-seed xorshift, pre-encoded into batches). Figure: deliveries per second.
import { openClient, openMany, drain, timeArrivals, rateOf, waitForCount, close, destroyAll } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'routing';
export const timeoutMs = 120000;
export const settings = (s) => `${subs(s).toLocaleString('en')} subscribers each on its own topic \`bench/r/<i>\`; 1 publisher × ${msgs(s).toLocaleString('en')} QoS 0 msgs to random topics, 16 B payload, ${BATCH} packets per write`;
export const metrics = [
  { key: 'rate', label: 'Routing to 10k subscribers, 1 topic each (deliveries/s)', unit: 'msgs/s', better: 'higher' },
];

const BATCH = 250;
const NBATCHES = 40;
const subs = (scale) => Math.max(500, Math.round(10000 * Math.min(1, scale)));
const msgs = (scale) => Math.max(10000, Math.round(100000 * scale));

export async function run(ctx) {
  const { port, scale } = ctx;
  const N = subs(scale);
  const M = msgs(scale);
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
  const t = timeArrivals(clients.map((c) => c.sock), () => received);
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
  // Packets differ in length (topic), so send whole batches only: round M up to a batch multiple.
  const total = Math.ceil(M / BATCH) * BATCH;
  let sent = 0;
  for (let k = 0; sent < total && Date.now() < deadline - 20000; k = (k + 1) % NBATCHES) {
    sent += BATCH;
    if (!pub.sock.write(batches[k])) await drain(pub.sock);
    else if (sent % (BATCH * 16) === 0) await new Promise((r) => setImmediate(r));
  }
  const got = await waitForCount(() => received, sent, 2000, deadline);
  close(pub);
  destroyAll();
  const notes = [`${Math.round(N / (connectMs / 1000)).toLocaleString('en')} subscriber connects/s`];
  if (sent < total) notes.push(`send capped by time: ${sent} of ${total}`);
  if (got < sent) notes.push(`lost ${sent - got} of ${sent}`);
  return { values: { rate: rateOf(t, got) }, notes, losses: sent - got };
}
