// Micro-benchmark: parse a buffer of N small QoS 0/1 PUBLISH packets with nestmq's parser and with
// mqtt-packet. Build first: npx tsc -p tsconfig.build.json   Run: node bench/codec-parse.mjs [N]
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { PacketParser } = require('../dist/core/protocol/parser.js');
const mqttPacket = require('mqtt-packet');

const N = Number(process.argv[2] ?? 1_000_000);
const CHUNK = 64 * 1024; // what a TCP socket typically hands over

function publishBytes(i) {
  const qos = i % 2;
  const topic = `sensors/room${i % 100}/temperature`;
  const payload = Buffer.from(`{"v":${i % 1000}}`);
  return mqttPacket.generate({ cmd: 'publish', topic, payload, qos, messageId: qos ? (i % 65535) + 1 : undefined, retain: false, dup: false });
}
const whole = Buffer.concat(Array.from({ length: N }, (_, i) => publishBytes(i)));
const chunks = [];
for (let off = 0; off < whole.length; off += CHUNK) chunks.push(whole.subarray(off, off + CHUNK));
console.log(`${N} PUBLISH packets, ${(whole.length / 1e6).toFixed(1)} MB, fed in ${chunks.length} chunks of ${CHUNK} bytes`);

function runOurs() {
  const parser = new PacketParser();
  let count = 0;
  let sink = 0;
  for (const chunk of chunks) {
    parser.push(chunk);
    let p;
    while ((p = parser.next()) !== null) { count++; sink += p.payload.length; }
  }
  return [count, sink];
}

function runMqttPacket() {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let count = 0;
  let sink = 0;
  parser.on('packet', (p) => { count++; sink += p.payload.length; });
  parser.on('error', (e) => { throw e; });
  for (const chunk of chunks) parser.parse(chunk);
  return [count, sink];
}

function measure(name, fn, rounds) {
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const [count] = fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (count !== N) throw new Error(`${name}: parsed ${count} packets, expected ${N}`);
    best = Math.max(best, count / s);
  }
  console.log(`${name.padEnd(12)} ${(best / 1e6).toFixed(2)} M packets/s (best of ${rounds})`);
  return best;
}

const ours = measure('nestmq', runOurs, 5);
const theirs = measure('mqtt-packet', runMqttPacket, 3);
console.log(`ratio: ${(ours / theirs).toFixed(1)}x`);
