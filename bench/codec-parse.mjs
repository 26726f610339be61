// Micro-benchmark of the MQTT codec's parser: a buffer of N small PUBLISH packets (QoS 0 and 1
// alternating, ~40 bytes each) parsed by nestmq's PacketParser and by mqtt-packet, fed in 64 KiB
// chunks (a socket's usual read size) and in 1460-byte chunks (one TCP segment: many packets
// straddle two chunks and take the parser's slow path).
//
//   npx tsc -p tsconfig.build.json && node bench/codec-parse.mjs [N]
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { PacketParser } = require('../dist/core/protocol/parser.js');
const mqttPacket = require('mqtt-packet');

const N = Number(process.argv[2] ?? 1_000_000);

function publishBytes(i) {
  const qos = i % 2;
  return mqttPacket.generate({
    cmd: 'publish',
    topic: `sensors/room${i % 100}/temperature`,
    payload: Buffer.from(`{"v":${i % 1000}}`),
    qos,
    messageId: qos ? (i % 65535) + 1 : undefined,
    retain: false,
    dup: false,
  });
}
const whole = Buffer.concat(Array.from({ length: N }, (_, i) => publishBytes(i)));

function split(size) {
  const chunks = [];
  for (let off = 0; off < whole.length; off += size) chunks.push(whole.subarray(off, off + size));
  return chunks;
}

function runOurs(chunks) {
  const parser = new PacketParser();
  let count = 0;
  let sink = 0;
  for (const chunk of chunks) {
    parser.push(chunk);
    let p;
    while ((p = parser.next()) !== null) {
      count++;
      sink += p.payload.length;
    }
  }
  return count + (sink & 0);
}

function runMqttPacket(chunks) {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let count = 0;
  let sink = 0;
  parser.on('packet', (p) => {
    count++;
    sink += p.payload.length;
  });
  parser.on('error', (e) => {
    throw e;
  });
  for (const chunk of chunks) parser.parse(chunk);
  return count + (sink & 0);
}

function measure(name, fn, chunks, rounds) {
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const count = fn(chunks);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (count !== N) throw new Error(`${name}: parsed ${count} packets, expected ${N}`);
    best = Math.max(best, count / seconds);
  }
  return best;
}

console.log(`${N} PUBLISH packets, ${(whole.length / 1e6).toFixed(1)} MB, node ${process.version}`);
for (const size of [65536, 1460]) {
  const chunks = split(size);
  const ours = measure('nestmq', runOurs, chunks, 5);
  const theirs = measure('mqtt-packet', runMqttPacket, chunks, 3);
  console.log(
    `chunks of ${String(size).padStart(5)} B: nestmq ${(ours / 1e6).toFixed(2)} M packets/s, ` +
      `mqtt-packet ${(theirs / 1e6).toFixed(2)} M packets/s (${(ours / theirs).toFixed(1)}x)`,
  );
}
