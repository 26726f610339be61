#!/usr/bin/env node
// Micro-benchmarks of per-packet paths (no sockets): node bench/hotpath-micro.mjs [DIST]
// (DIST defaults to ./dist; pass an older build to compare). Prints ns per operation and bytes
// allocated per operation (heap growth with GC off between samples is not measurable, so the
// allocation figure is the heapUsed delta over the run: exact only when no GC runs, e.g.
// MICRO_N=200000 node --expose-gc --max-semi-space-size=512 bench/hotpath-micro.mjs).
//   parser-chunk: a connection's chunk holding one 16 B QoS 1 PUBLISH: parser taken, packet
//                 decoded, parser released (or, in builds without acquireParser, a new parser).
//   qos1-deliver: a received message delivered at QoS 1 to one subscriber: compact() then
//                 withId() (the QoS>0 template is built once per message).
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dist = path.resolve(process.argv[2] || 'dist');
const parserMod = require(path.join(dist, 'core/protocol/parser.js'));
const { Message } = require(path.join(dist, 'core/sessions/message.js'));

function publishBytes(topic, payload, qos, id) {
  const t = Buffer.from(topic);
  const rem = 2 + t.length + (qos ? 2 : 0) + payload.length;
  const b = Buffer.alloc(2 + rem);
  b[0] = 0x30 | (qos << 1);
  b[1] = rem;
  b.writeUInt16BE(t.length, 2);
  t.copy(b, 4);
  let p = 4 + t.length;
  if (qos) {
    b.writeUInt16BE(id, p);
    p += 2;
  }
  payload.copy(b, p);
  return b;
}

function time(name, n, fn) {
  for (let i = 0; i < n / 10; i++) fn(i); // warm-up
  global.gc?.();
  const h0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  const bytes = (process.memoryUsage().heapUsed - h0) / n;
  console.log(`${name.padEnd(14)} ${ns.toFixed(1).padStart(7)} ns/op  ~${bytes.toFixed(0)} B/op (heap growth, GC may run)`);
}

const N = Number(process.env.MICRO_N || 2_000_000);
// One chunk per packet, each a separate Buffer (as the socket gives them).
const chunks = Array.from({ length: 1024 }, (_, i) => Buffer.from(publishBytes('bench/latency', Buffer.alloc(16, i), 1, (i % 65535) + 1)));
const pooled = typeof parserMod.acquireParser === 'function';
time('parser-chunk', N, (i) => {
  const p = pooled ? parserMod.acquireParser(268435455, 268435455, 4, 256) : new parserMod.PacketParser({ maxPacketSize: 268435455, maxFirstPacketSize: 268435455 });
  p.push(chunks[i & 1023]);
  const pkt = p.next();
  if (pkt === null || p.next() !== null) throw new Error('bad');
  if (pooled) parserMod.releaseParser(p);
});

// A received chunk of 100 packets: payloads are views, compact() copies them.
const big = Buffer.concat(Array.from({ length: 100 }, () => publishBytes('bench/qos1', Buffer.alloc(8, 7), 1, 1)));
time('qos1-deliver', N / 2, (i) => {
  const m = new Message('bench/qos1', big.subarray(20, 28), 1, false, 'pub');
  m.compact();
  const b = m.encoded.withId(1, (i % 65535) + 1, false);
  if (b.length !== 24) throw new Error('bad ' + b.length);
});
console.log(`(${pooled ? 'pooled parsers' : 'parser per chunk'}; dist ${dist})`);
