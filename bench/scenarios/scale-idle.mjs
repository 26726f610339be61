// Scale curve "idle connections" (bench/scale.mjs): ctx.n connections (CONNECT keepalive 0, wait
// for CONNACK, at most CONC handshakes in flight). Figures: broker RSS growth per connection
// (VmRSS 1 s after start and SETTLE_MS after the last CONNACK) and connections per second.
import { openMany, sleep, liveCount } from '../lib/client.mjs';
import { rssKB } from '../lib/brokers.mjs';

const CONC = 200;
const SETTLE_MS = 2000;

export async function run(ctx) {
  const { port, brokerPid, n } = ctx;
  await sleep(1000);
  const before = rssKB(brokerPid);
  const t0 = performance.now();
  await openMany(port, n, (i) => ({ clientId: `scale-idle-${i}`, keepalive: 0, timeoutMs: 60000 }), { concurrency: CONC, deadline: Date.now() + 150000 });
  const connectMs = performance.now() - t0;
  await sleep(SETTLE_MS);
  const after = rssKB(brokerPid);
  const open = liveCount();
  if (open < n) throw new Error(`only ${open} of ${n} connections still open at the measurement`);
  return { values: { kbPerConn: (after - before) / n, connRate: n / (connectMs / 1000), rssMB: after / 1024 }, notes: [`RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MB`] };
}
