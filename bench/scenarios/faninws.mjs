// 1b. QoS 0 fan-in over WebSocket: the fan-in scenario (8 publishers → 1 subscriber on
// bench/#, same sizing, figure and loss count) with every client on MQTT over WebSocket
// (ws://127.0.0.1:PORT/mqtt, sub-protocol `mqtt`, binary frames; the `ws` package in the
// generator). Each batch of pre-encoded PUBLISHes goes out as one binary frame; received frames
// go through the same frame splitter. The brokers run a WebSocket listener instead of TCP.
import * as base from './fanin.mjs';

export const id = 'faninws';
export const timeoutMs = base.timeoutMs;
export const transport = 'ws';
export const settings = (s) =>
  `as QoS 0 fan-in, every client over WebSocket (\`ws://127.0.0.1:PORT/mqtt\`, sub-protocol \`mqtt\`, no compression; the generator uses the \`ws\` package, sends each batch as one binary frame with an all-zero masking key and feeds received frames to the same splitter); ${base.settings(s)}`;
export const metrics = [
  { key: 'rate', label: 'QoS 0 fan-in over WebSocket, 8 pub → 1 sub (msgs/s)', unit: 'msgs/s', better: 'higher' },
];

export function run(ctx) {
  return base.run({ ...ctx, ws: true });
}
