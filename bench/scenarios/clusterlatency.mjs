// Cluster row: cross-node latency at a fixed rate. The latency scenario (one QoS 0 publisher,
// payload = sequence number + timestamp, subscriber in the same process) at 1,000 msgs/s with
// 64 B payloads, the subscriber on node 1 and the publisher on node 2 of a 3-node cluster
// sharing one Redis. Figures: p50 and p99 in ms, plus the Redis traffic per message.
import { run as latency, settings as latencySettings } from './latency.mjs';

export const id = 'clusterlatency';
export const cluster = true;
export const timeoutMs = 60000;
export const RATE = 1000;
export const PAYLOAD = 64;
export const settings = (s) =>
  `3 nodes + Redis, subscriber on node 1, publisher on node 2; ${latencySettings(s).replace('2,000 msgs/s', `${RATE.toLocaleString('en')} msgs/s`).replace('16 B payload (seq + timestamp)', `${PAYLOAD} B payload (seq + timestamp + padding)`)}`;
export const metrics = [
  { key: 'p50', label: 'Cluster: latency p50 @ 1,000 msgs/s, node 2 → node 1 (ms)', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'Cluster: latency p99 @ 1,000 msgs/s, node 2 → node 1 (ms)', unit: 'ms', better: 'lower' },
  { key: 'redisBytes', label: 'Cluster: Redis bytes per message, latency run (B)', unit: 'B', better: 'lower' },
];

export const run = (ctx) => latency({ ...ctx, rate: RATE, payload: PAYLOAD });
