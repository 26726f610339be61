// Cluster row: QoS 0 fan-in across nodes. The fanin scenario (8 publishers blasting QoS 0, one
// subscriber on bench/#) with 64 B payloads, the subscriber on node 1 and the publishers on node 2
// of a 3-node cluster sharing one Redis (bench/lib/cluster.mjs starts them). Figure: messages per
// second received by the subscriber, plus the Redis traffic per routed message.
import { run as fanin, settings as faninSettings } from './fanin.mjs';

export const id = 'clusterfanin';
export const cluster = true;
export const timeoutMs = 90000;
export const PAYLOAD = 64;
export const settings = (s) =>
  `3 nodes + Redis, subscriber on node 1, publishers on node 2; ${faninSettings(s).replace('16 B payload', `${PAYLOAD} B payload`)}`;
export const metrics = [
  { key: 'rate', label: 'Cluster: QoS 0 fan-in, 8 pub (node 2) → 1 sub (node 1) (msgs/s)', unit: 'msgs/s', better: 'higher' },
  { key: 'redisBytes', label: 'Cluster: Redis bytes per message, QoS 0 fan-in (B)', unit: 'B', better: 'lower' },
];

export const run = (ctx) => fanin({ ...ctx, payload: PAYLOAD });
