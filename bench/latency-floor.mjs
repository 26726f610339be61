// Latency floor: the `latency` row (1 publisher at 2,000 msgs/s, QoS 0, 16 B, subscriber in the
// same process; bench/scenarios/latency.mjs) against Mosquitto, nestmq, and a minimal Node.js
// relay (bench/brokers/node-relay.mjs: no broker logic at all) writing from the read callback or
// once per event-loop turn. Rounds alternate the brokers, so each sees the same machine. What it
// tells: how much of nestmq's p99 any Node.js process on this machine pays, whatever it does.
// Usage: npm run build && node bench/latency-floor.mjs [ROUNDS]
import { startBroker, killAll } from './lib/brokers.mjs';
import { median } from './lib/stats.mjs';
import * as latency from './scenarios/latency.mjs';

const ROUNDS = Math.max(1, Number(process.argv[2] || 5));
const BROKERS = ['mosquitto', 'node-relay', 'node-relay-turn', 'nestmq'];
const results = Object.fromEntries(BROKERS.map((b) => [b, { p50: [], p99: [], p999: [] }]));
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of BROKERS) {
      const broker = await startBroker(name);
      try {
        const r = await latency.run({ port: broker.port, scale: 1 });
        const p999 = Number(/p99\.9 ([\d.]+) ms/.exec(r.notes.join(' '))?.[1] ?? NaN);
        results[name].p50.push(r.values.p50);
        results[name].p99.push(r.values.p99);
        results[name].p999.push(p999);
        console.log(`round ${round} ${name.padEnd(16)} p50 ${r.values.p50.toFixed(3)} ms  p99 ${r.values.p99.toFixed(3)} ms  p99.9 ${p999.toFixed(3)} ms${r.losses ? `  lost ${r.losses}` : ''}`);
      } finally {
        await broker.stop();
      }
    }
  }
} finally {
  killAll();
}
console.log(`\nmedians of ${ROUNDS} rounds (ms):`);
console.log('| broker | p50 | p99 | p99.9 |\n|---|---|---|---|');
for (const name of BROKERS) {
  const r = results[name];
  console.log(`| ${name} | ${median(r.p50).toFixed(3)} | ${median(r.p99).toFixed(3)} | ${median(r.p999).toFixed(3)} |`);
}
