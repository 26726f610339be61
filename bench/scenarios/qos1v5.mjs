// 3b. QoS 1 end-to-end over MQTT 5.0: the QoS 1 scenario (8 publishers, window 100 each → 1
// subscriber on bench/# at QoS 1 acknowledging everything; every message checked off) with
// every client at protocol level 5: v5 PUBLISHes (empty property block) and 2-byte PUBACKs
// (Reason Code Success left out). Its 3.1.1 counterpart is `qos1`: the table's "MQTT 5 / 3.1.1"
// row pairs the two per run. Aedes has no MQTT 5: n/a.
import * as base from './qos1.mjs';

export const id = 'qos1v5';
export const timeoutMs = base.timeoutMs;
export const v5 = true;
export const settings = (s) => `as QoS 1 end-to-end, every client on MQTT 5.0 (level 5 CONNECT without properties, PUBLISH with an empty property block, PUBACK without Reason Code); ${base.settings(s)}`;
export const metrics = [
  { key: 'rate', label: 'MQTT 5: QoS 1 end-to-end, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

export function run(ctx) {
  return base.run({ ...ctx, v5: true });
}
