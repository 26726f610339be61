// 6. Retained: publish N retained QoS 0 messages on distinct topics (bench/retained/<i>),
// PINGREQ/PINGRESP, then a first client subscribes to '#' and counts all N (proves the broker
// stores them; also warms up); then a fresh client connects, and the figure is ms from
// writing SUBSCRIBE '#' to receiving the N-th retained message.
import { openClient, drain, waitForCount, close, waitUntil } from '../lib/client.mjs';
import { PUBLISH, PINGRESP } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

export const id = 'retained';
export const timeoutMs = 60000;
export const settings = (s) => `${count(s).toLocaleString('en')} retained QoS 0 messages on distinct topics, 16 B payload; fresh client subscribes to \`#\` (QoS 0); timed from SUBSCRIBE write to the last retained PUBLISH`;
export const metrics = [
  { key: 'ms', label: '10k retained delivered on # (ms)', unit: 'ms', better: 'lower' },
];

const count = (scale) => Math.max(500, Math.round(10000 * Math.min(1, scale)));

async function subscribeAndCount(port, clientId, N, deadline) {
  let got = 0;
  let tEnd = 0;
  const c = await openClient(port, clientId, {
    onFrame: (h) => {
      if ((h & 0xf1) === (PUBLISH | 1) && ++got === N) tEnd = performance.now();
    },
  });
  const t0 = performance.now();
  c.sock.write(P.subscribe(1, [{ topic: '#', qos: 0 }]));
  const n = await waitForCount(() => got, N, 3000, deadline);
  close(c);
  return { got: n, ms: tEnd ? tEnd - t0 : NaN };
}

export async function run(ctx) {
  const { port, scale } = ctx;
  const N = count(scale);
  const deadline = Date.now() + 50000;
  let pong = false;
  const pub = await openClient(port, 'bench-ret-pub', {
    onFrame: (h) => {
      if ((h & 0xf0) === PINGRESP) pong = true;
    },
  });
  const payload = Buffer.alloc(16, 0x72);
  const pkts = [];
  for (let i = 0; i < N; i++) pkts.push(P.publish(`bench/retained/${i}`, payload, { retain: true }));
  // one write per 100 packets, honoring backpressure
  const batches = [];
  for (let i = 0; i < N; i += 100) batches.push(Buffer.concat(pkts.slice(i, i + 100)));
  for (const b of batches) {
    if (!pub.sock.write(b)) await drain(pub.sock);
  }
  pub.sock.write(P.PINGREQ);
  if (!(await waitUntil(() => pong, deadline - 30000))) throw new Error('no PINGRESP after publishing retained messages');
  close(pub);
  const warm = await subscribeAndCount(port, 'bench-ret-check', N, deadline - 15000);
  if (warm.got < N) throw new Error(`broker holds only ${warm.got} of ${N} retained messages`);
  const r = await subscribeAndCount(port, 'bench-ret-sub', N, deadline);
  const notes = [`first subscriber (check/warm-up): ${warm.ms.toFixed(1)} ms`];
  if (r.got < N) notes.push(`only ${r.got} of ${N} retained messages delivered`);
  if (r.got > N) notes.push(`${r.got - N} extra messages`);
  return { values: { ms: r.got >= N ? r.ms : NaN }, notes, losses: N - r.got };
}
