// 1c. QoS 0 fan-in over MQTT 5.0: the fan-in scenario (8 publishers → 1 subscriber on bench/#,
// same sizing, figure and loss count) with every client connecting at protocol level 5 and
// sending v5 PUBLISHes (empty property block). Its 3.1.1 counterpart is `fanin`: the table's
// "MQTT 5 / 3.1.1" row pairs the two per run. Aedes has no MQTT 5: n/a.
import * as base from './fanin.mjs';

export const id = 'fanin5';
export const timeoutMs = base.timeoutMs;
export const v5 = true;
export const settings = (s) => `as QoS 0 fan-in, every client on MQTT 5.0 (level 5 CONNECT without properties, PUBLISH with an empty property block); ${base.settings(s)}`;
export const metrics = [
  { key: 'rate', label: 'MQTT 5: QoS 0 fan-in, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

export function run(ctx) {
  return base.run({ ...ctx, v5: true });
}
