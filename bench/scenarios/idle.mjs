// 5. 10,000 idle connections: broker RSS (VmRSS from /proc/PID/status) before and after
// opening N connections (CONNECT keepalive 0, wait for CONNACK, at most 100 handshakes in
// flight). Figure: (RSS after - RSS before) / N, in KB per connection.
import { openMany, sleep, liveCount, destroyAll } from '../lib/client.mjs';
import { rssKB } from '../lib/brokers.mjs';

export const id = 'idle';
export const timeoutMs = 90000;
export const settings = (s) => `${conns(s).toLocaleString('en')} connections, CONNECT keepalive 0, ≤ ${CONC} handshakes in flight; RSS read 1 s after broker start and ${SETTLE_MS / 1000} s after the last CONNACK`;
export const metrics = [
  { key: 'kbPerConn', label: 'Memory per idle connection, 10k conns (KB)', unit: 'KB', better: 'lower' },
];

const CONC = 100;
const SETTLE_MS = 2000;
const conns = (scale) => Math.max(500, Math.round(10000 * Math.min(1, scale)));

export async function run(ctx) {
  const { port, brokerPid, scale } = ctx;
  const N = conns(scale);
  const deadline = Date.now() + 70000;
  await sleep(1000);
  const before = rssKB(brokerPid);
  const t0 = performance.now();
  await openMany(port, N, (i) => ({ clientId: `bench-idle-${i}`, keepalive: 0 }), { concurrency: CONC, deadline });
  const connectMs = performance.now() - t0;
  await sleep(SETTLE_MS);
  const after = rssKB(brokerPid);
  const open = liveCount();
  destroyAll();
  const notes = [
    `RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MB`,
    `${Math.round(N / (connectMs / 1000)).toLocaleString('en')} connections/s`,
  ];
  if (open < N) notes.push(`only ${open} of ${N} still open at the measurement`);
  return { values: { kbPerConn: (after - before) / N }, notes };
}
