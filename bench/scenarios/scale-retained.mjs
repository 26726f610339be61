// Scale curve "retained messages" (bench/scale.mjs), phase `store` (ctx.phase): one client
// publishes ctx.n retained QoS 0 messages (16 B) on distinct topics `scale/r/<i div 1000>/<i mod
// 1000>`, in writes of 1,000 packets honouring backpressure, then PINGREQ → PINGRESP; then a
// fresh client subscribes to `#` and the figure is ms from writing SUBSCRIBE to the n-th retained
// PUBLISH (which also proves the broker holds all n). RSS growth per message before that.
// Phase `load` (after the orchestrator restarted the broker on its persistence file): a client
// subscribes to `#` at once and counts to n; figure: ms from its connect to the n-th.
import { openClient, drain, waitForCount, close, waitUntil, sleep } from '../lib/client.mjs';
import { PUBLISH, PINGRESP } from '../lib/frames.mjs';
import { rssKB } from '../lib/brokers.mjs';
import * as P from '../lib/packets.mjs';

const topicOf = (i) => `scale/r/${Math.floor(i / 1000)}/${i % 1000}`;

async function countOnHash(port, clientId, n, idleMs, deadline) {
  let got = 0;
  let tEnd = 0;
  const c = await openClient(port, clientId, {
    onFrame: (h) => {
      if ((h & 0xf1) === (PUBLISH | 1) && ++got === n) tEnd = performance.now();
    },
  });
  const t0 = performance.now();
  c.sock.write(P.subscribe(1, [{ topic: '#', qos: 0 }]));
  const got2 = await waitForCount(() => got, n, idleMs, deadline);
  close(c);
  return { got: got2, ms: tEnd ? tEnd - t0 : NaN, tEnd };
}

export async function run(ctx) {
  const { port, brokerPid, n, phase } = ctx;
  const deadline = Date.now() + 280000;
  if (phase === 'load') {
    const t0 = performance.now();
    const r = await countOnHash(port, 'scale-ret-load', n, 20000, deadline);
    if (r.got < n) throw new Error(`after restart only ${r.got} of ${n} retained messages delivered`);
    // from this client's connect to the n-th delivery (the orchestrator adds spawn-to-listening)
    return { values: { afterListenMs: r.tEnd - t0 }, notes: [] };
  }
  await sleep(1000);
  const before = rssKB(brokerPid);
  let pong = false;
  const pub = await openClient(port, 'scale-ret-pub', {
    onFrame: (h) => {
      if ((h & 0xf0) === PINGRESP) pong = true;
    },
  });
  const payload = Buffer.alloc(16, 0x72);
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const pkts = [];
    for (let k = i; k < Math.min(n, i + 1000); k++) pkts.push(P.publish(topicOf(k), payload, { retain: true }));
    if (!pub.sock.write(Buffer.concat(pkts))) await drain(pub.sock);
  }
  pub.sock.write(P.PINGREQ);
  if (!(await waitUntil(() => pong, deadline))) throw new Error('no PINGRESP after publishing the retained messages');
  const storeMs = performance.now() - t0;
  close(pub);
  await sleep(2000);
  const after = rssKB(brokerPid);
  const r = await countOnHash(port, 'scale-ret-sub', n, 10000, deadline);
  if (r.got < n) throw new Error(`broker delivered only ${r.got} of ${n} retained messages on #`);
  return {
    values: { bytesPerMsg: ((after - before) * 1024) / n, storeRate: n / (storeMs / 1000), deliverMs: r.ms, rssMB: after / 1024 },
    notes: [`RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MB`],
  };
}
