#!/usr/bin/env node
// Scale curves (issue 14, "curves, not points"): how each cost grows with the load, for nestmq,
// Aedes and Mosquitto on the same axes, each point on a fresh broker process (bench/lib/brokers.mjs)
// and a fresh generator process (bench/lib/worker.mjs with the bench/scenarios/scale-*.mjs
// scenarios). Writes docs/scale.md (tables of every point, links to one SVG per curve in
// docs/plots/, drawn by bench/lib/svg-plot.cjs) and docs/scale-results.json (the raw results, so
// that the docs can be re-rendered without a re-run). The hand-written reading of the curves is
// docs/scale-notes.md, which this script never writes.
//
// Curves: idle connections, subscriptions, retained messages (with a restart on the persistence
// file), fan-out to one topic, payload size; and "beyond one process": nestmq's cluster engine
// with 1 and 2 nodes on this host (plus Aedes' Redis cluster), throughput against cores used.
//
// Environment:
//   BENCH_SCALE_MAX=10000        only points whose x (count, or payload bytes) is at most this (smoke runs)
//   BENCH_SCALE_ONLY=idle,subs   curves to run (idle, subs, retained, fanout, payload, cores)
//   BENCH_BROKERS=nestmq,aedes   brokers (default nestmq,aedes,mosquitto)
//   BENCH_SCALE_RSS_CAP_MB=6144  a broker above this RSS is stopped: "did not reach" (the machine is shared)
//   BENCH_DOCS=1|0               force/suppress writing docs (default: only a full run, all curves, no MAX)
//   BENCH_SCALE_RENDER=1         do not measure: re-render docs/scale.md and the plots from docs/scale-results.json
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { ROOT, availability, clusterAvailability, versions, startBroker, spawnNode, killAll, rssKB, benchFile, MOSQUITTO_SETTINGS } from './lib/brokers.mjs';
import { machineBusyMs, processCpuMs, machineLoad } from './lib/cpu.mjs';
import { RUN_MS as CORES_RUN_MS } from './scenarios/scale-cores.mjs';

const { renderPlot } = createRequire(import.meta.url)('./lib/svg-plot.cjs');

const ALL_BROKERS = ['nestmq', 'aedes', 'mosquitto'];
const DOCS = path.join(ROOT, 'docs');
const RESULTS_FILE = path.join(DOCS, 'scale-results.json');
const PLOTS = path.join(DOCS, 'plots');
const MAX_X = Number(process.env.BENCH_SCALE_MAX || Infinity) || Infinity;
const RSS_CAP_KB = Math.max(256, Number(process.env.BENCH_SCALE_RSS_CAP_MB || 6144)) * 1024;
const MIN_AVAILABLE_KB = 4 * 2 ** 20; // stop a point when the machine has less than 4 GiB available
const FD_LIMIT = raiseOpenFileLimit(250_000);

/**
 * `ulimit -n` for this process and so for every broker and generator it starts: raised with
 * prlimit(1) on our own pid where the host allows it (root with CAP_SYS_RESOURCE, or a hard limit
 * already that high); returns the soft limit in force afterwards, which decides the points reached.
 */
function raiseOpenFileLimit(want) {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
  } catch {
    // refused (no CAP_SYS_RESOURCE above the hard limit): try the soft limit up to the hard one
    const hard = fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+\d+\s+(\d+)/m);
    if (hard) {
      try {
        execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard[1]}:${hard[1]}`], { stdio: 'ignore' });
      } catch {}
    }
  }
  return openFileLimit();
}

/** The soft RLIMIT_NOFILE this process (and so every broker and generator it starts) runs with. */
function openFileLimit() {
  const m = fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)\s+(\d+)/m);
  return m ? Number(m[1]) : 1024;
}

/** Why a broker process cannot hold `n` connections on this machine, or null. */
const fdLimitFor = (n) =>
  n + 200 > FD_LIMIT
    ? `needs ${n.toLocaleString('en')} open sockets in one broker process; the open-file limit here is ${FD_LIMIT.toLocaleString('en')} (hard RLIMIT_NOFILE, and this container may not raise it: no CAP_SYS_RESOURCE)`
    : null;

/** The largest round point below the open-file limit: the idle curve's last reachable point. */
const fdPoint = Math.floor((FD_LIMIT - 1000) / 1000) * 1000;

// nestmq limits raised for the curves that go past a default on purpose (each said in the docs).
const RETAINED_LIMITS = { 'max-retained-messages-per-user': 1_000_000_000, 'max-retained-bytes-per-user': 2 ** 40 };
const PAYLOAD_LIMITS = { 'max-packet-size': 2 * 2 ** 20 };

const CURVES = [
  {
    id: 'idle',
    title: 'Idle connections',
    xLabel: 'connections',
    points: [...new Set([1000, 10000, fdPoint, 50000, 100000])].sort((a, b) => a - b),
    scenario: 'scale-idle',
    timeoutMs: 240000,
    unreachable: fdLimitFor,
    setup: 'CONNECT (keepalive 0) and wait for CONNACK, at most 200 handshakes in flight; RSS (VmRSS) 1 s after the broker started and 2 s after the last CONNACK',
    metrics: [
      { key: 'kbPerConn', label: 'RSS per connection', unit: 'KB', fmt: 2 },
      { key: 'connRate', label: 'Connect rate', unit: 'connections/s', fmt: 0 },
      { key: 'rssMB', label: 'Broker RSS', unit: 'MB', fmt: 1, noPlot: true },
    ],
  },
  {
    id: 'fanout',
    title: 'Fan-out to one topic',
    xLabel: 'subscribers',
    points: [10, 100, 1000, 10000],
    scenario: 'scale-fanout',
    timeoutMs: 240000,
    unreachable: fdLimitFor,
    setup: 'N QoS 0 subscribers on `scale/fanout`, one publisher, 16 B payload, 64 publishes per write; warm-up of a fifth, then ~300,000 deliveries (at least 50 publishes) measured from first to last arrival',
    metrics: [
      { key: 'rate', label: 'Deliveries per second', unit: 'deliveries/s', fmt: 0 },
      { key: 'usPerDelivery', label: 'Broker CPU per delivery', unit: 'µs', fmt: 2, logY: true },
    ],
  },
  {
    id: 'payload',
    title: 'Payload size',
    xLabel: 'payload',
    xBytes: true,
    points: [16, 1024, 65536, 1048576],
    scenario: 'scale-payload',
    timeoutMs: 240000,
    setup: 'one publisher → one subscriber, QoS 0, ~256 MiB of payload per phase (64…200,000 messages), warm-up of a quarter first; the subscriber counts bytes; nestmq runs with `max-packet-size` 2 MiB (default 1 MiB refuses a 1 MiB payload plus its topic)',
    metrics: [
      { key: 'mbps', label: 'Payload throughput', unit: 'MB/s', fmt: 1, logY: true },
      { key: 'msgRate', label: 'Messages per second', unit: 'messages/s', fmt: 0, logY: true },
    ],
  },
  {
    id: 'subs',
    title: 'Subscriptions on one broker',
    xLabel: 'distinct filters',
    points: [10000, 100000, 1000000],
    scenario: 'scale-subs',
    timeoutMs: 240000,
    setup:
      '1,000 filters per client (nestmq\'s default max-subscriptions), 100 per SUBSCRIBE; 10% `scale/c<k>/+/w<j>`, 1% `scale/c<k>/w<j>/#`, the rest `scale/c<k>/t<j>`; then 300 QoS 0 publishes to `scale/c0/t0`, one at a time, each timed to its delivery',
    metrics: [
      { key: 'bytesPerSub', label: 'RSS per filter (clients included)', unit: 'B', fmt: 0 },
      { key: 'subRate', label: 'Subscribe rate', unit: 'filters/s', fmt: 0 },
      { key: 'latMs', label: 'Publish-to-delivery, median', unit: 'ms', fmt: 3 },
      { key: 'p99Ms', label: 'Publish-to-delivery, p99', unit: 'ms', fmt: 3, noPlot: true },
      { key: 'rssMB', label: 'Broker RSS', unit: 'MB', fmt: 1, noPlot: true },
    ],
  },
  {
    id: 'retained',
    title: 'Retained messages',
    xLabel: 'retained messages',
    points: [10000, 100000, 1000000],
    timeoutMs: 240000,
    restart: true,
    setup:
      'one client publishes N retained QoS 0 messages (16 B) on `scale/r/<i div 1000>/<i mod 1000>`, 1,000 per write, then PINGREQ; a fresh client subscribes to `#`, timed to the N-th message; then the broker is stopped with SIGTERM and started again on its persistence file (nestmq: SQLite, `persistence.backend sqlite`; Mosquitto: `persistence true`, its file written at SIGTERM), timed as spawn → listening plus a fresh client\'s connect → N-th message on `#` (the generator process\'s own start-up in between not counted). Aedes runs with its default in-memory persistence: no restart figure. nestmq runs with `max-retained-messages-per-user` and `max-retained-bytes-per-user` raised (anonymous clients share one account, default 10,000 messages)',
    metrics: [
      { key: 'bytesPerMsg', label: 'RSS per retained message', unit: 'B', fmt: 0 },
      { key: 'deliverMs', label: 'All delivered on #', unit: 'ms', fmt: 0, logY: true },
      { key: 'restartMs', label: 'Restart to all delivered on #', unit: 'ms', fmt: 0, logY: true },
      { key: 'storeRate', label: 'Store rate', unit: 'messages/s', fmt: 0, noPlot: true },
      { key: 'rssMB', label: 'Broker RSS', unit: 'MB', fmt: 1, noPlot: true },
    ],
  },
];
const CORES = { id: 'cores', title: 'Beyond one process: nodes on one host' };
const ALL_CURVES = [...CURVES.map((c) => c.id), CORES.id];

function listEnv(name, all) {
  const v = process.env[name];
  if (!v) return all;
  const want = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = want.filter((w) => !all.includes(w));
  if (bad.length) {
    console.error(`${name}: unknown ${bad.join(', ')} (known: ${all.join(', ')})`);
    process.exit(2);
  }
  return all.filter((a) => want.includes(a));
}

// ---------------------------------------------------------------- cleanup on every exit path
const workers = new Set();
function cleanup() {
  for (const w of workers) {
    try {
      w.kill('SIGKILL');
    } catch {}
  }
  workers.clear();
  killAll();
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping brokers and generators`);
    cleanup();
    process.exit(130);
  });
}

function memAvailableKB() {
  const m = fs.readFileSync('/proc/meminfo', 'utf8').match(/MemAvailable:\s+(\d+)/);
  return m ? Number(m[1]) : Infinity;
}

/**
 * One generator process for `scenario` against `broker` with context `ctx`. Resolves its result;
 * a time-out, the broker exiting, the broker passing RSS_CAP_KB or the machine running low on
 * memory end it as failed. `watchPids`: processes whose RSS is watched (default the broker).
 */
function runWorker(scenario, broker, ctx, timeoutMs, watchPids = [broker.pid]) {
  return new Promise((resolve) => {
    const w = spawnNode(path.join(ROOT, 'bench', 'lib', 'worker.mjs'), [scenario, String(broker.port), String(broker.pid), '1', JSON.stringify(ctx)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    workers.add(w);
    let out = '';
    let err = '';
    let peakKB = 0;
    w.stdout.on('data', (d) => (out += d));
    w.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    let done = false;
    const finish = (res) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(watch);
      try {
        w.kill('SIGKILL');
      } catch {}
      workers.delete(w);
      res.peakRssMB = peakKB / 1024;
      resolve(res);
    };
    const timer = setTimeout(() => finish({ ok: false, error: `timed out after ${timeoutMs / 1000} s` }), timeoutMs);
    const watch = setInterval(() => {
      let kb = 0;
      for (const pid of watchPids) {
        try {
          kb += rssKB(pid);
        } catch {}
      }
      peakKB = Math.max(peakKB, kb);
      if (kb > RSS_CAP_KB) finish({ ok: false, error: `broker RSS passed the ${(RSS_CAP_KB / 2 ** 20).toFixed(0)} GiB cap of this shared machine (BENCH_SCALE_RSS_CAP_MB)` });
      else if (memAvailableKB() < MIN_AVAILABLE_KB) finish({ ok: false, error: 'stopped: the machine had less than 4 GiB of memory available' });
    }, 500);
    broker.exited.then((info) => finish({ ok: false, error: `broker exited (code ${info.code}, signal ${info.signal})` + (broker.log() ? `: ${broker.log().split('\n').slice(-2).join(' | ')}` : '') }));
    w.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) setTimeout(() => finish(JSON.parse(line.slice(7))), 100);
      else finish({ ok: false, error: `generator exited (code ${code}, signal ${signal}) without a result: ${err.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

/** Wait up to 5 s for the machine to be quiet; returns the load (cores busy) seen last. */
async function waitQuiet() {
  const until = Date.now() + 5000;
  let load = 0;
  while (Date.now() < until) {
    load = await machineLoad(250);
    if (load < 0.25) return load;
  }
  return load;
}

const brokerEnv = (curve, b) => (b !== 'nestmq' ? null : curve.id === 'retained' ? { NESTMQ_BENCH_LIMITS: JSON.stringify(RETAINED_LIMITS) } : curve.id === 'payload' ? { NESTMQ_BENCH_LIMITS: JSON.stringify(PAYLOAD_LIMITS) } : null);

/** One point of one curve on one broker: a fresh broker, the scenario, CPU accounting. */
async function runPoint(curve, b, n) {
  const load0 = await waitQuiet();
  const busy0 = machineBusyMs();
  const t0 = performance.now();
  const persistent = curve.restart && b !== 'aedes';
  const dataFile = persistent ? benchFile(`${b}-retained-${n}.db`) : null;
  let broker;
  try {
    broker = await startBroker(b, { persistent, dataFile, env: brokerEnv(curve, b) });
  } catch (err) {
    return { ok: false, error: err.message };
  }
  let res;
  let brokerMs = NaN;
  try {
    res = await runWorker(curve.scenario ?? `scale-${curve.id}`, broker, { n, phase: 'store' }, curve.timeoutMs);
    brokerMs = processCpuMs(broker.pid);
    if (res.ok && persistent) {
      // Restart on the same file: SIGTERM (Mosquitto writes its file then; nestmq flushes and closes SQLite).
      const clean = await broker.term(120000);
      if (!clean) (res.notes ??= []).push('did not stop within 120 s of SIGTERM (killed)');
      const tSpawn = Date.now();
      try {
        broker = await startBroker(b, { persistent, dataFile, env: brokerEnv(curve, b), readyTimeoutMs: 120000 });
        const listenMs = Date.now() - tSpawn;
        const r2 = await runWorker(curve.scenario ?? `scale-${curve.id}`, broker, { n, phase: 'load' }, curve.timeoutMs);
        if (r2.ok) {
          // spawn → listening, then the generator's connect → n-th message (its own start-up not counted)
          res.values.restartMs = listenMs + r2.values.afterListenMs;
          res.notes.push(`restart: listening after ${listenMs} ms, then all ${n.toLocaleString('en')} on # ${Math.round(r2.values.afterListenMs)} ms after connecting`);
        } else res.notes.push(`restart: ${r2.error}`);
      } catch (err) {
        res.notes.push(`restart: ${err.message}`);
      }
    }
  } finally {
    await broker.stop();
    if (dataFile) for (const f of [dataFile, dataFile + '-wal', dataFile + '-shm']) fs.rmSync(f, { force: true });
  }
  const wall = performance.now() - t0;
  res.secs = wall / 1000;
  res.loadBefore = load0;
  res.brokerCores = brokerMs / wall;
  res.otherCores = Math.max(0, (machineBusyMs() - busy0 - brokerMs - (res.generatorCpuMs ?? 0)) / wall);
  return res;
}

// ---------------------------------------------------------------- beyond one process
/**
 * nestmq alone, and 1 and 2 nodes of nestmq's cluster (and of Aedes' Redis cluster) with one
 * generator per node (scale-cores), all pumping over the same window. Figures: messages per
 * second received in all, and the cores the broker side used (nodes + Redis, CPU time over the
 * window).
 */
async function runCores(b, nodes, clustered) {
  await waitQuiet();
  const started = [];
  const busy0 = machineBusyMs();
  const t0 = performance.now();
  try {
    let redisPid = null;
    const ports = [];
    const pids = [];
    if (clustered) {
      const redis = await startBroker('redis');
      started.push(redis);
      redisPid = redis.pid;
      for (let i = 0; i < nodes; i++) {
        const node = await startBroker(`${b}-cluster`, { redisUrl: `redis://127.0.0.1:${redis.port}`, nodeId: `scale-node-${i + 1}`, readyTimeoutMs: 30000 });
        started.push(node);
        ports.push(node.port);
        pids.push(node.pid);
      }
    } else {
      const single = await startBroker(b);
      started.push(single);
      ports.push(single.port);
      pids.push(single.pid);
    }
    const all = redisPid ? [...pids, redisPid] : pids;
    const startAt = Date.now() + 3000;
    const cpu = () => all.reduce((a, pid) => a + processCpuMs(pid), 0);
    let cpu0 = NaN;
    const tCpu = setTimeout(() => (cpu0 = cpu()), startAt - Date.now());
    const results = await Promise.all(
      ports.map((port, i) => runWorker('scale-cores', { port, pid: pids[i], exited: new Promise(() => {}), log: () => '' }, { port, node: i + 1, startAt }, 60000, all)),
    );
    clearTimeout(tCpu);
    const cores = (cpu() - cpu0) / CORES_RUN_MS;
    const bad = results.find((r) => !r.ok);
    if (bad) return { ok: false, error: bad.error };
    const rate = results.reduce((a, r) => a + r.values.rate, 0);
    const wall = performance.now() - t0;
    const genMs = results.reduce((a, r) => a + (r.generatorCpuMs ?? 0), 0);
    return { ok: true, values: { rate, cores, perCore: rate / cores, generatorCores: genMs / wall }, notes: [], otherCores: Math.max(0, (machineBusyMs() - busy0 - genMs) / wall - cores) };
  } catch (err) {
    return { ok: false, error: err.message };
  } finally {
    await Promise.all(started.map((s) => s.stop()));
  }
}

// ---------------------------------------------------------------- main
if (process.env.BENCH_SCALE_RENDER === '1') {
  const saved = JSON.parse(fs.readFileSync(RESULTS_FILE, 'utf8'));
  writeDocs(saved);
  process.exit(0);
}
const curveIds = listEnv('BENCH_SCALE_ONLY', ALL_CURVES);
const brokerNames = listEnv('BENCH_BROKERS', ALL_BROKERS);
const skipped = {};
for (const b of brokerNames) {
  const why = availability(b);
  if (why) skipped[b] = why;
}
const brokers = brokerNames.filter((b) => !skipped[b]);
console.log(`nestmq scale curves: ${curveIds.join(',')}; brokers ${brokers.join(',')}; open-file limit ${FD_LIMIT}${Number.isFinite(MAX_X) ? `; points up to ${MAX_X}` : ''}`);
const tStart = Date.now();
const results = { curves: {}, cores: [], skipped, maxX: Number.isFinite(MAX_X) ? MAX_X : null, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), machine: machine(), versions: versions(), fdLimit: FD_LIMIT, mosquittoSettings: MOSQUITTO_SETTINGS, elapsedS: 0, otherCoresMedian: null };
const loadSamples = [];
const full = curveIds.length === ALL_CURVES.length && !Number.isFinite(MAX_X);
const writing = process.env.BENCH_DOCS === '1' || (process.env.BENCH_DOCS !== '0' && full);
/** After every point when the docs will be written: an interrupted run can still be rendered (BENCH_SCALE_RENDER=1). */
function saveResults() {
  results.elapsedS = (Date.now() - tStart) / 1000;
  results.otherCoresMedian = loadSamples.length ? [...loadSamples].sort((a, b) => a - b)[loadSamples.length >> 1] : null;
  if (!writing) return;
  fs.mkdirSync(DOCS, { recursive: true });
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 1) + '\n');
}
if (curveIds.includes('cores')) await runAllCores();
for (const curve of CURVES) {
  if (!curveIds.includes(curve.id)) continue;
  const rc = (results.curves[curve.id] = {});
  for (const n of curve.points) {
    if (n > MAX_X) continue;
    for (const b of brokers) {
      const prior = rc[b] ?? (rc[b] = []);
      const failedAt = prior.find((p) => !p.res.ok && !p.res.unreachable);
      const why = curve.unreachable?.(n);
      let res;
      if (why) res = { ok: false, unreachable: true, error: `machine limit: ${why}` };
      else if (failedAt) res = { ok: false, skipped: true, error: `not tried: did not reach ${failedAt.n.toLocaleString('en')}` };
      else res = await runPoint(curve, b, n);
      prior.push({ n, res });
      if (Number.isFinite(res.loadBefore)) loadSamples.push(res.otherCores);
      const vals = res.ok ? curve.metrics.map((m) => `${m.key}=${fmt(res.values[m.key], m.fmt)}`).join(' ') : `DID NOT REACH: ${res.error}`;
      const notes = res.ok && res.notes?.length ? `  [${res.notes.join('; ')}]` : '';
      const cpu = Number.isFinite(res.brokerCores) ? ` (${res.secs.toFixed(1)} s, broker ${res.brokerCores.toFixed(2)} cores, other ${res.otherCores.toFixed(2)})` : '';
      console.log(`${curve.id.padEnd(8)} ${String(n).padStart(8)} ${b.padEnd(9)} ${vals}${notes}${cpu}`);
      saveResults();
    }
  }
}
async function runAllCores() {
  const configs = [];
  for (const b of brokers) {
    if (b === 'nestmq') configs.push(['nestmq', 'nestmq, one process, no cluster', 1, false]);
    if (clusterAvailability(b)) continue;
    configs.push([b, `${b} cluster (Redis), 1 node`, 1, true], [b, `${b} cluster (Redis), 2 nodes`, 2, true]);
  }
  for (const [b, label, nodes, clustered] of configs) {
    const res = await runCores(b, nodes, clustered);
    results.cores.push({ broker: b, label, nodes, clustered, res });
    saveResults();
    console.log(`cores    ${label.padEnd(36)} ${res.ok ? `rate=${fmt(res.values.rate, 0)} msgs/s, broker cores=${res.values.cores.toFixed(2)}, generators=${res.values.generatorCores.toFixed(2)} cores (other ${res.otherCores.toFixed(2)})` : `FAILED: ${res.error}`}`);
  }
}
saveResults();
cleanup();
if (writing) {
  writeDocs(results);
  console.log(`wrote docs/scale.md, docs/scale-results.json and docs/plots/ (${results.elapsedS.toFixed(0)} s)`);
} else {
  console.log(`docs not written (partial run; BENCH_DOCS=1 forces) — ${results.elapsedS.toFixed(0)} s`);
}

// ---------------------------------------------------------------- docs
function fmt(v, digits) {
  if (!Number.isFinite(v)) return 'n/a';
  return v.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtX(n, bytes) {
  if (bytes) return n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
  return n.toLocaleString('en');
}

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpu = m[1].trim();
  } catch {}
  return { nproc: os.cpus().length, cpu, mem: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`, kernel: `${os.type()} ${os.release()}` };
}

/** What the open-file limit allowed, for the docs. */
function fdSentence(limit) {
  const raised = `the script raises its own limit (prlimit on its pid, inherited by every broker and generator) to ${limit.toLocaleString('en')}`;
  if (limit >= 100200) return raised + '.';
  return `${raised} per process, the hard limit here: this container may not raise it (prlimit is refused: no CAP_SYS_RESOURCE), so no broker can hold 50,000 or 100,000 sockets here; the idle curve adds the largest point below the limit instead.`;
}

function writeDocs(r) {
  fs.mkdirSync(PLOTS, { recursive: true });
  // A run that ended "ok" without its main figure (e.g. no delivery at all, from a build of the
  // fan-out scenario that did not fail then) is a point not reached, not a point to draw.
  for (const curve of CURVES) {
    for (const pts of Object.values(r.curves[curve.id] ?? {})) {
      for (const p of pts) {
        if (p.res.ok && !Number.isFinite(p.res.values?.[curve.metrics[0].key])) {
          p.res = { ...p.res, ok: false, error: `no ${curve.metrics[0].label.toLowerCase()} figure: ${(p.res.notes ?? []).join('; ')}` };
        }
      }
    }
  }
  const out = [];
  const problems = [];
  out.push('# Scale curves');
  out.push('');
  out.push(
    `Generated by \`npm run bench:scale\` (\`bench/scale.mjs\`) on ${r.date}; do not edit by hand (re-run, or \`BENCH_SCALE_RENDER=1\` to redraw from \`docs/scale-results.json\`). Where the curves bend, and why: [scale-notes.md](scale-notes.md) (hand-written).`,
  );
  out.push('');
  out.push(
    `**Taken on a shared ${r.machine.nproc}-core machine** (${r.machine.cpu}, ${r.machine.mem}, ${r.machine.kernel}) while other engineers ran tests: other processes used ${r.otherCoresMedian == null ? 'n/a' : r.otherCoresMedian.toFixed(2)} cores on average during a point (median over the points). One run per point; the broker, the load generator and (cluster) Redis share those ${r.machine.nproc} cores. Memory and CPU-per-message figures move less with the load than rates do. Node.js ${r.versions.node}, nestmq ${r.versions.nestmq}, Aedes ${r.versions.aedes}, Mosquitto ${r.versions.mosquitto}, Redis ${r.versions.redis}. Total time ${Math.round(r.elapsedS)} s.`,
  );
  out.push('');
  out.push(
    `Every point runs on a fresh broker process (defaults, as in [benchmarks.md](benchmarks.md), except where a curve says) and a fresh load-generator process (\`bench/lib/worker.mjs\`, raw sockets, pre-encoded packets). A broker that fails a point is not tried at the larger ones. A broker whose RSS passes ${(RSS_CAP_KB / 2 ** 20).toFixed(0)} GiB, or a point running past its time limit, "did not reach" it. Open files: ${fdSentence(r.fdLimit)} (Loopback ephemeral ports, ~28,000 per source address, would be the next limit: the generator would then spread its sockets over several 127.0.0.x source addresses; below ${r.fdLimit.toLocaleString('en')} sockets it does not need to.)`,
  );
  if (r.maxX) out.push('', `**Smoke run**: points up to ${r.maxX.toLocaleString('en')} only (BENCH_SCALE_MAX).`);
  for (const curve of CURVES) {
    const rc = r.curves[curve.id];
    if (!rc) continue;
    const cols = ALL_BROKERS.filter((b) => rc[b]);
    const points = [...new Set(cols.flatMap((b) => rc[b].map((p) => p.n)))].sort((a, b) => a - b);
    out.push('', `## ${curve.title}`, '', `Set-up: ${curve.setup}.`);
    for (const m of curve.metrics) {
      out.push('', `**${m.label}** (${m.unit})`, '');
      out.push(`| ${curve.xLabel} | ${cols.join(' | ')} |`, `|---:|${cols.map(() => '---:').join('|')}|`);
      for (const n of points) {
        const cells = cols.map((b) => {
          const p = rc[b].find((q) => q.n === n);
          if (!p) return '–';
          if (p.res.ok) return Number.isFinite(p.res.values[m.key]) ? fmt(p.res.values[m.key], m.fmt) + (p.res.losses > 0 ? ' †' : '') : 'n/a';
          return p.res.unreachable ? 'machine limit' : 'did not reach';
        });
        out.push(`| ${fmtX(n, curve.xBytes)} | ${cells.join(' | ')} |`);
      }
      if (!m.noPlot) {
        const file = `${curve.id}-${m.key}.svg`;
        const svg = renderPlot({
          title: `${curve.title}: ${m.label}`,
          xLabel: curve.xLabel,
          yLabel: m.unit,
          logY: m.logY === true,
          xBytes: curve.xBytes === true,
          note: `shared ${r.machine.nproc}-core machine, ${r.date.slice(0, 10)}`,
          series: cols.map((b) => ({ name: b, points: rc[b].filter((p) => p.res.ok).map((p) => [p.n, p.res.values[m.key]]) })),
        });
        fs.writeFileSync(path.join(PLOTS, file), svg);
        out.push('', `![${curve.title}: ${m.label}](plots/${file})`);
      }
    }
    for (const b of cols) {
      for (const p of rc[b]) {
        const where = `${b} at ${fmtX(p.n, curve.xBytes)}`;
        if (!p.res.ok) problems.push(`- ${curve.title}, ${where}: ${p.res.error}`);
        else if (p.res.notes?.length) problems.push(`- ${curve.title}, ${where}: ${p.res.notes.join('; ')}${p.res.losses > 0 ? ` († ${p.res.losses.toLocaleString('en')} messages lost)` : ''}`);
      }
    }
  }
  if (r.cores?.length) {
    out.push('', `## ${CORES.title}`, '');
    out.push(
      `Each node gets its own load: 4 publishers and 1 subscriber per node, 64 B QoS 0 on that node's own topics (\`cores/<node>/<p>\`, the subscriber on \`cores/<node>/#\`), one generator process per node, all generators pumping over the same ${CORES_RUN_MS / 1000} s window (the first 2 s not counted). "Broker cores" is the CPU time of the nodes and Redis over the window divided by its length. This machine has ${r.machine.nproc} cores for the brokers, Redis and the generators together, so two nodes compete with their own load generators: read the per-core figure, not the total.`,
    );
    out.push('', '| set-up | messages/s | broker cores (nodes + Redis) | broker CPU per message (µs) | messages/s per broker core |', '|:---|---:|---:|---:|---:|');
    for (const c of r.cores) {
      out.push(c.res.ok ? `| ${c.label} | ${fmt(c.res.values.rate, 0)} | ${c.res.values.cores.toFixed(2)} | ${fmt((c.res.values.cores * 1e6) / c.res.values.rate, 2)} | ${fmt(c.res.values.perCore, 0)} |` : `| ${c.label} | did not run | | | |`);
      if (!c.res.ok) problems.push(`- ${CORES.title}, ${c.label}: ${c.res.error}`);
    }
    const series = [...new Set(r.cores.filter((c) => c.clustered).map((c) => c.broker))].map((b) => ({
      name: `${b} cluster`,
      points: r.cores.filter((c) => c.clustered && c.broker === b && c.res.ok).map((c) => [c.nodes, c.res.values.rate]),
    }));
    if (series.length) {
      fs.writeFileSync(
        path.join(PLOTS, 'cores-rate.svg'),
        renderPlot({ title: 'Nodes on one host: throughput', xLabel: 'nodes', yLabel: 'messages/s', series, note: `shared ${r.machine.nproc}-core machine, ${r.date.slice(0, 10)}` }),
      );
      out.push('', '![Nodes on one host: throughput](plots/cores-rate.svg)');
    }
  }
  out.push('', '## Notes from the runs', '', problems.length ? problems.join('\n') : '- none', '');
  out.push('† = some QoS 0 messages were not delivered in the measured phase (see the notes).', '');
  out.push('Mosquitto settings (persistence on only for the retained curve):', '', '```', ...r.mosquittoSettings, '```', '');
  fs.writeFileSync(path.join(DOCS, 'scale.md'), out.join('\n'));
}
