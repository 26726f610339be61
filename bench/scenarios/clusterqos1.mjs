// Cluster row: QoS 1 end to end across nodes. The qos1 scenario (8 publishers with 100 un-acked
// PUBLISHes each, one QoS 1 subscriber PUBACKing everything, every message checked off) with
// 64 B payloads, the subscriber on node 1 and the publishers on node 2 of a 3-node cluster
// sharing one Redis. Figure: messages per second delivered, plus the Redis traffic per message.
import { run as qos1, settings as qos1Settings } from './qos1.mjs';

export const id = 'clusterqos1';
export const cluster = true;
export const timeoutMs = 90000;
export const PAYLOAD = 64;
export const settings = (s) =>
  `3 nodes + Redis, subscriber on node 1, publishers on node 2; ${qos1Settings(s).replace('8 B payload', `${PAYLOAD} B payload`)}`;
export const metrics = [
  { key: 'rate', label: 'Cluster: QoS 1 end-to-end, 8 pub (node 2) → 1 sub (node 1) (msgs/s)', unit: 'msgs/s', better: 'higher' },
  { key: 'redisBytes', label: 'Cluster: Redis bytes per message, QoS 1 (B)', unit: 'B', better: 'lower' },
];

export const run = (ctx) => qos1({ ...ctx, payload: PAYLOAD });
