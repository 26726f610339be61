// Reconnect storm against auth.file: 1,000 known users (bcrypt cost 10 in the password file)
// connect at once, disconnect, and connect again. The first wave finds the verification cache
// cold (one bcrypt per client, in libuv's thread pool), the second finds it warm (one HMAC per
// client). Prints the time of each wave and the worst event-loop stall of the broker meanwhile.
//
//   npm run build && node bench/auth-storm.mjs [--users N] [--cost C] [--distinct] [--connect-timeout S]
//
// By default the users share one bcrypt hash (each check costs the same whatever the hash;
// generating 1,000 distinct cost-10 hashes takes about a minute on two cores): --distinct
// gives every user its own password and hash.
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Broker } = require('../dist/index.js');
const bcrypt = require('bcrypt');
const mqttPacket = require('mqtt-packet');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const USERS = opt('--users', 1000);
const COST = opt('--cost', 10);
const DISTINCT = args.includes('--distinct');
const IN_FLIGHT = 200; // connects in progress at once (the listen backlog is 511)

const dir = mkdtempSync(join(tmpdir(), 'nestmq-auth-storm-'));
const file = join(dir, 'passwd');
const users = Array.from({ length: USERS }, (_, i) => `user${String(i).padStart(4, '0')}`);
const password = (u) => (DISTINCT ? `pw-${u}` : 'storm-password');

let t = performance.now();
const shared = DISTINCT ? null : await bcrypt.hash('storm-password', COST);
const hashes = DISTINCT ? await Promise.all(users.map((u) => bcrypt.hash(password(u), COST))) : users.map(() => shared);
writeFileSync(file, users.map((u, i) => `${u}:${hashes[i]}\n`).join(''), { mode: 0o600 });
console.log(`password file: ${USERS} users, bcrypt cost ${COST}${DISTINCT ? ', distinct hashes' : ', one shared hash'} (${((performance.now() - t) / 1000).toFixed(1)} s to write)`);

// connect-timeout stops once a CONNECT is in, so the authentication wait of a cold storm
// (~USERS x 60 ms / cores of bcrypt) is not cut by it; the option stays for comparisons
// (a slow generator can take long to send its CONNECTs).
const CONNECT_TIMEOUT = opt('--connect-timeout', 120);
const broker = new Broker({
  listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } },
  auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file },
  // Every simulated client comes from 127.0.0.1: lift the per-address bound that would otherwise
  // (rightly, for one real address) refuse most of the 200 connects in flight with 0x03.
  limits: { 'connect-timeout': CONNECT_TIMEOUT, 'max-pending-auth-per-address': 0 },
});
broker.on('warning', (e) => console.error('warning:', e.message));
await broker.start();
const port = broker.port();

const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });

/** Connect one user; resolves with the socket once CONNACK 0 arrived, or null if refused or closed. */
function connect(user) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    sock.once('connect', () =>
      sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `storm-${user}`, keepalive: 60, username: user, password: Buffer.from(password(user)) })),
    );
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4) return;
      sock.removeAllListeners('data');
      if (buf[0] === 0x20 && buf[3] === 0) resolve(sock);
      else {
        sock.destroy();
        resolve(null);
      }
    });
    sock.once('error', () => resolve(null));
    sock.once('close', () => resolve(null));
  });
}

async function wave() {
  const sockets = [];
  let failed = 0;
  let next = 0;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const start = performance.now();
  const worker = async () => {
    while (next < users.length) {
      const sock = await connect(users[next++]);
      if (sock === null) failed++;
      else sockets.push(sock);
    }
  };
  const progress = setInterval(() => process.stderr.write(`  ${sockets.length}/${users.length} connected\r`), 1000);
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    clearInterval(progress);
  }
  const ms = performance.now() - start;
  delay.disable();
  for (const s of sockets) s.end(DISCONNECT);
  await new Promise((r) => setTimeout(r, 300));
  return { ms, failed, maxLoopStall: delay.max / 1e6, p99LoopStall: delay.percentile(99) / 1e6 };
}

const threads = process.env.UV_THREADPOOL_SIZE ?? '4 (default)';
console.log(`${availableParallelism()} CPUs, libuv thread pool ${threads}, ${IN_FLIGHT} connects in flight, connect-timeout ${CONNECT_TIMEOUT} s`);
const cold = await wave();
const warm = await wave();
const cache = broker.plugins?.find?.((p) => p.cache)?.cache;
const fmt = (w) =>
  `${(w.ms / 1000).toFixed(2)} s (${Math.round((USERS / w.ms) * 1000)} connects/s${w.failed ? `, ${w.failed} FAILED` : ''}), ` +
  `event loop stall max ${w.maxLoopStall.toFixed(1)} ms, p99 ${w.p99LoopStall.toFixed(1)} ms`;
console.log(`cold cache: ${USERS} reconnects in ${fmt(cold)}`);
console.log(`warm cache: ${USERS} reconnects in ${fmt(warm)}`);
if (cache) console.log(`cache: ${cache.size} entries, ${cache.hits} hits, ${cache.misses} misses`);
await broker.shutdown();
