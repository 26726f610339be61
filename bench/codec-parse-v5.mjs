// Micro-benchmark of the parser on MQTT 5 vs 3.1.1: N small PUBLISH packets (QoS 0 and 1
// alternating, ~40 bytes each) parsed by nestmq's PacketParser at level 4, at level 5 with no
// properties (Property Length 0, the common case), at level 5 with two properties (Message Expiry
// Interval and one User Property), and by mqtt-packet at level 5, in 64 KiB chunks.
//
//   npx tsc -p tsconfig.build.json && node bench/codec-parse-v5.mjs [N] [dist dir]
// The optional dist dir (default ../dist) lets the same run measure an older build's level 4.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const dist = path.resolve(process.argv[3] ?? new URL('../dist', import.meta.url).pathname);
const { PacketParser } = require(path.join(dist, 'core/protocol/parser.js'));
const mqttPacket = require('mqtt-packet');

const N = Number(process.argv[2] ?? 1_000_000);

function publish(i, version, properties) {
  const qos = i % 2;
  return mqttPacket.generate(
    {
      cmd: 'publish',
      topic: `sensors/room${i % 100}/temperature`,
      payload: Buffer.from(`{"v":${i % 1000}}`),
      qos,
      messageId: qos ? (i % 65535) + 1 : undefined,
      retain: false,
      dup: false,
      properties,
    },
    { protocolVersion: version },
  );
}

function stream(version, properties) {
  const whole = Buffer.concat(Array.from({ length: N }, (_, i) => publish(i, version, properties)));
  const chunks = [];
  for (let off = 0; off < whole.length; off += 65536) chunks.push(whole.subarray(off, off + 65536));
  return { whole, chunks };
}

function runOurs(chunks, level) {
  const parser = new PacketParser();
  parser.protocolLevel = level;
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

function runMqttPacket(chunks, version) {
  const parser = mqttPacket.parser({ protocolVersion: version });
  let count = 0;
  parser.on('packet', () => count++);
  parser.on('error', (e) => {
    throw e;
  });
  for (const chunk of chunks) parser.parse(chunk);
  return count;
}

function measure(name, fn, rounds) {
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    const count = fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (count !== N) throw new Error(`${name}: parsed ${count} packets, expected ${N}`);
    best = Math.max(best, count / seconds);
  }
  return best;
}

const v4 = stream(4);
const v5 = stream(5);
const v5props = stream(5, { messageExpiryInterval: 60, userProperties: { k: 'v' } });
console.log(`${N} PUBLISH packets, node ${process.version}, dist ${dist}`);
const rows = [
  ['nestmq level 4', () => runOurs(v4.chunks, 4), v4.whole.length],
  ['nestmq level 5, no properties', () => runOurs(v5.chunks, 5), v5.whole.length],
  ['nestmq level 5, 2 properties', () => runOurs(v5props.chunks, 5), v5props.whole.length],
  ['mqtt-packet level 5, no properties', () => runMqttPacket(v5.chunks, 5), v5.whole.length],
  ['mqtt-packet level 5, 2 properties', () => runMqttPacket(v5props.chunks, 5), v5props.whole.length],
];
for (const [name, fn, bytes] of rows) {
  const rate = measure(name, fn, name.startsWith('nestmq') ? 7 : 3);
  console.log(`${name.padEnd(36)} ${(rate / 1e6).toFixed(2)} M packets/s  (${(bytes / N).toFixed(1)} B/packet)`);
}
