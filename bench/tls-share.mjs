#!/usr/bin/env node
// Would worker threads for TLS pay? The CPU share of TLS in nestmq's QoS 0 fan-in: the same
// fan-in (PUBS publishers → 1 subscriber, 64 B, QoS 0) against a nestmq child process with a
// plain TCP listener and with a TLS listener (self-signed RSA 2048 certificate, Node's default
// TLS 1.3 / AES-GCM), ROUNDS rounds alternating TCP and TLS; each run pumps for RUN_MS and the
// broker's CPU time (/proc/PID/stat) is divided by the messages the subscriber received between
// WARM_MS and the end. TLS share = (µs per message over TLS − over TCP) / over TLS, from the
// medians. The generator is in this process (TLS on its side costs the generator, not the broker).
// Usage: node bench/tls-share.mjs   (prints a Markdown table; run `npm run build` first)
import tls from 'node:tls';
import net from 'node:net';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startBroker, killAll, benchFile } from './lib/brokers.mjs';
import { processCpuMs } from './lib/cpu.mjs';
import { FrameSplitter, CONNACK, PUBLISH } from './lib/frames.mjs';
import { median } from './lib/stats.mjs';
import * as P from './lib/packets.mjs';

const PUBS = 4;
const BATCH = 64;
const RUN_MS = 6000;
const WARM_MS = 2000;
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);

process.on('exit', killAll);

const cert = benchFile('tls-share.crt');
const key = benchFile('tls-share.key');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });

/** A connected, CONNACKed client (plain or TLS) whose later frames go to onFrame. */
function connect(port, secure, clientId, onFrame, extra = null) {
  return new Promise((resolve, reject) => {
    const sock = secure ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect({ port, host: '127.0.0.1' });
    sock.setNoDelay(true);
    let ready = false;
    const splitter = new FrameSplitter((h, buf, s, e) => {
      if (!ready) {
        if ((h & 0xf0) === CONNACK) {
          ready = true;
          resolve(sock);
        }
        return;
      }
      onFrame(h, buf, s, e);
    });
    sock.on('data', (d) => splitter.push(d));
    sock.on('error', reject);
    sock.once(secure ? 'secureConnect' : 'connect', () => sock.write(extra ? Buffer.concat([P.connect(clientId), extra]) : P.connect(clientId)));
  });
}

async function runOnce(secure) {
  const broker = await startBroker('nestmq', secure ? { tls: { cert, key } } : {});
  try {
    let received = 0;
    const sub = await connect(broker.port, secure, 'tls-share-sub', (h) => {
      if ((h & 0xf0) === PUBLISH) received++;
    }, P.subscribe(1, [{ topic: 'tls/#', qos: 0 }]));
    await new Promise((r) => setTimeout(r, 300)); // SUBACK
    const pubs = await Promise.all(Array.from({ length: PUBS }, (_, i) => connect(broker.port, secure, `tls-share-pub-${i}`, () => {})));
    const end = Date.now() + RUN_MS;
    let atWarm = 0;
    let cpuWarm = 0;
    const warm = new Promise((r) =>
      setTimeout(() => {
        atWarm = received;
        cpuWarm = processCpuMs(broker.pid);
        r();
      }, WARM_MS),
    );
    await Promise.all(
      pubs.map(async (sock, i) => {
        const batch = P.repeat(P.publish(`tls/${i}`, Buffer.alloc(64, 0x74)), BATCH);
        while (Date.now() < end) {
          if (!sock.write(batch)) await new Promise((r) => sock.once('drain', r));
          else await new Promise((r) => setImmediate(r));
        }
      }),
    );
    await warm;
    const cpuMs = processCpuMs(broker.pid) - cpuWarm;
    const msgs = received - atWarm;
    for (const s of [sub, ...pubs]) s.destroy();
    return { usPerMsg: (cpuMs * 1000) / msgs, rate: msgs / ((RUN_MS - WARM_MS) / 1000) };
  } finally {
    await broker.stop();
  }
}

const runs = { tcp: [], tls: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const secure of [false, true]) {
    const res = await runOnce(secure);
    runs[secure ? 'tls' : 'tcp'].push(res);
    console.error(`round ${r + 1} ${secure ? 'tls' : 'tcp'}: ${res.usPerMsg.toFixed(2)} µs broker CPU per message, ${Math.round(res.rate)} msgs/s`);
  }
}
const mTcp = median(runs.tcp.map((x) => x.usPerMsg));
const mTls = median(runs.tls.map((x) => x.usPerMsg));
console.log(`| listener | broker CPU per message (µs), median of ${ROUNDS} | per run | messages/s, median |`);
console.log('|:---|---:|:---|---:|');
for (const [k, m] of [['tcp', mTcp], ['tls', mTls]]) {
  console.log(`| ${k.toUpperCase()} | ${m.toFixed(2)} | ${runs[k].map((x) => x.usPerMsg.toFixed(2)).join(', ')} | ${Math.round(median(runs[k].map((x) => x.rate)))} |`);
}
console.log(`\nTLS share of the broker's CPU in the TLS fan-in: ${(((mTls - mTcp) / mTls) * 100).toFixed(0)}%`);
fs.rmSync(cert, { force: true });
fs.rmSync(key, { force: true });
