// 3b. QoS 1 end-to-end with persistence on: the QoS 1 scenario with a persistent subscriber
// session (clean=0) and each broker's persistence enabled — nestmq on SQLite (WAL, synchronous
// normal: a commit per event-loop turn, before any acknowledgement), Mosquitto with
// `persistence true` (Mosquitto writes its database on autosave and at shutdown, not per message),
// Aedes has no durable store of its own and runs in memory (noted in the table).
import * as base from './qos1.mjs';

export const id = 'qos1persist';
export const timeoutMs = base.timeoutMs;
export const persistence = true;
export const settings = (s) => `as QoS 1 end-to-end, with a persistent subscriber session and persistence on; ${base.settings(s)}`;
export const metrics = [
  { key: 'rate', label: 'QoS 1 end-to-end, persistence on (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

export function run(ctx) {
  return base.run({ ...ctx, persistent: true });
}
