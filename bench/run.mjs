#!/usr/bin/env node
// nestmq benchmark orchestrator. Runs nestmq, Aedes and Mosquitto through the same scenarios
// with one low-overhead load generator (bench/lib/worker.mjs, raw sockets + pre-encoded
// packets), each broker in a fresh child process per scenario run, and prints a table (also
// written to docs/benchmarks.md).
//
// Cluster rows (clusterfanin, clusterqos1, clusterlatency): a fresh redis-server per run (free
// loopback port, no persistence) and 3 nodes of one broker kind pointing at it; the generator's
// subscriber on node 1, its publishers on node 2 (bench/lib/cluster.mjs). The `nestmq` column is
// 3 nestmq nodes (`cluster.redis`), the `aedes` column 3 Aedes nodes with mqemitter-redis and
// aedes-persistence-redis (bench/brokers/aedes-cluster.mjs): BENCH_BROKERS=aedes selects Aedes
// for both the single and the cluster rows (the cluster rows' peer is Aedes as its users cluster
// it, not another broker). Mosquitto has no cluster mode: "n/a" in those rows. A nestmq build
// without the cluster mode (the `cluster` key refused, or no message crossing from node 2 to
// node 1 within 10 s) shows "not clustered (skipped)" there, and the rest of the run goes on.
// The cluster rows also give Redis' network bytes (in + out) per routed message.
//
// MQTT 5 rows (fanin5, qos1v5, fanout5alias): the generator's clients at protocol level 5
// (bench/lib/packets.mjs `v5`), against nestmq and Mosquitto; Aedes has no MQTT 5 ("n/a").
// When a v5 row and its 3.1.1 counterpart (fanin, qos1) both ran, a row "MQTT 5 / 3.1.1" gives
// each broker's v5 figure as a percentage of its 3.1.1 one: the median of the per-run ratios
// (run r of the v5 row against run r of the 3.1.1 row, taken minutes apart at most), for the
// throughput and for messages per second of broker CPU (the scenarios' `brokerUs`).
//
// Environment:
//   BENCH_RUNS=3                 runs per scenario and broker; the median is reported
//   BENCH_ONLY=fanin,latency     scenarios to run (default: all)
//   BENCH_BROKERS=aedes,mosquitto  brokers to run (default: nestmq,aedes,mosquitto)
//   BENCH_SCALE=1                multiplies message/connection counts (e.g. 0.2 for a smoke test)
//   BENCH_QUIET_WAIT=5           before each run, wait up to this many seconds for the machine to
//                                be idle (other processes < 0.25 cores); 0 disables
//   BENCH_DOCS=1|0               force/suppress writing docs/benchmarks.md (default: only when
//                                all scenarios ran at scale 1)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  ROOT,
  availability,
  clusterAvailability,
  versions,
  startBroker,
  spawnNode,
  killAll,
  MOSQUITTO_SETTINGS,
  mosquittoWsListeners,
} from './lib/brokers.mjs';
import { median, fmtValue, fmtRatio } from './lib/stats.mjs';
import { machineBusyMs, processCpuMs, machineLoad } from './lib/cpu.mjs';
import { startCluster, redisInfo, redisCost, NODES } from './lib/cluster.mjs';

const ALL_SCENARIOS = ['fanin', 'faninws', 'fanout', 'qos1', 'qos1persist', 'latency', 'idle', 'retained', 'routing', 'shared', 'fanin5', 'qos1v5', 'fanout5alias', 'clusterfanin', 'clusterqos1', 'clusterlatency'];
/** MQTT 5 rows and the 3.1.1 row each is compared with (same scenario otherwise): [v5, 3.1.1, label]. */
const V5_PAIRS = [
  ['fanin5', 'fanin', 'QoS 0 fan-in'],
  ['qos1v5', 'qos1', 'QoS 1 end-to-end'],
];
const ALL_BROKERS = ['nestmq', 'aedes', 'mosquitto'];

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

const RUNS = Math.max(1, Math.min(9, Number(process.env.BENCH_RUNS || 3) || 3));
const SCALE = Math.max(0.01, Math.min(10, Number(process.env.BENCH_SCALE || 1) || 1));
const QUIET_WAIT_S = Math.max(0, Math.min(60, Number(process.env.BENCH_QUIET_WAIT ?? 5) || 0));
const BUSY_CORES = 0.2; // other processes using more than this (average cores) during a run get flagged
const scenarioIds = listEnv('BENCH_ONLY', ALL_SCENARIOS);
const brokerNames = listEnv('BENCH_BROKERS', ALL_BROKERS);

// ---------------------------------------------------------------- cleanup on every exit path
let currentWorker = null;
function cleanup() {
  if (currentWorker) {
    try {
      currentWorker.kill('SIGKILL');
    } catch {}
    currentWorker = null;
  }
  killAll();
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping brokers and generator`);
    cleanup();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  console.error('bench: fatal:', err);
  cleanup();
  process.exit(1);
});

// ---------------------------------------------------------------- one scenario run
function runWorker(scenario, broker, timeoutMs) {
  return new Promise((resolve) => {
    const w = spawnNode(
      path.join(ROOT, 'bench', 'lib', 'worker.mjs'),
      [scenario, String(broker.port), String(broker.pid), String(SCALE), ...(broker.ctx ? [JSON.stringify(broker.ctx)] : [])],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    currentWorker = w;
    let out = '';
    let err = '';
    w.stdout.on('data', (d) => (out += d));
    w.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    let done = false;
    const finish = (res) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        w.kill('SIGKILL');
      } catch {}
      currentWorker = null;
      resolve(res);
    };
    const timer = setTimeout(() => finish({ ok: false, error: `timed out after ${timeoutMs / 1000} s`, fatal: true }), timeoutMs);
    broker.exited.then((info) =>
      finish({
        ok: false,
        fatal: true,
        error: `broker exited (code ${info.code}, signal ${info.signal})` + (broker.log() ? `: ${broker.log().split('\n').slice(-3).join(' | ')}` : ''),
      }),
    );
    w.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) {
        // give a crashing broker a moment to be noticed (a crash can be what ended the run)
        setTimeout(() => finish(JSON.parse(line.slice(7))), 100);
      } else {
        finish({ ok: false, error: `generator exited (code ${code}, signal ${signal}) without a result: ${err.trim().split('\n').slice(-3).join(' | ')}` });
      }
    });
  });
}

async function waitQuiet() {
  const until = Date.now() + QUIET_WAIT_S * 1000;
  let load = 0;
  while (Date.now() < until) {
    load = await machineLoad(250);
    if (load < 0.25) return load;
  }
  return load;
}

async function runOne(mod, brokerName) {
  if (mod.cluster) return runCluster(mod, brokerName);
  if (QUIET_WAIT_S > 0) await waitQuiet();
  const busy0 = machineBusyMs();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  let broker;
  try {
    broker = await startBroker(brokerName, { persistent: mod.persistence === true, ws: mod.transport === 'ws' });
  } catch (err) {
    return { ok: false, error: err.message, fatal: true };
  }
  let res;
  let brokerMs = NaN;
  try {
    res = await runWorker(mod.id, broker, mod.timeoutMs);
    brokerMs = processCpuMs(broker.pid);
  } finally {
    await broker.stop();
  }
  const wall = performance.now() - t0;
  const ownU = process.cpuUsage(own0);
  const foreign = machineBusyMs() - busy0 - brokerMs - (res.generatorCpuMs ?? NaN) - (ownU.user + ownU.system) / 1000;
  res.secs = wall / 1000;
  res.brokerCores = brokerMs / wall;
  res.generatorCores = res.generatorCpuMs / wall;
  res.foreignCores = Math.max(0, foreign / wall);
  if (res.ok && res.foreignCores > BUSY_CORES) {
    res.busy = true;
    (res.notes ??= []).push(`machine busy: other processes used ${res.foreignCores.toFixed(2)} cores on average`);
  }
  return res;
}

/**
 * A cluster row: Redis + NODES nodes, the generator against nodes 1 and 2. The broker CPU is the
 * nodes' and Redis' together; Redis' own cost per routed message comes from INFO before and after
 * the generator (see redisCost in bench/lib/cluster.mjs).
 */
async function runCluster(mod, brokerName) {
  if (QUIET_WAIT_S > 0) await waitQuiet();
  const busy0 = machineBusyMs();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  let cluster;
  try {
    cluster = await startCluster(brokerName);
  } catch (err) {
    return { ok: false, error: err.message, fatal: true, notClustered: err.notClustered === true };
  }
  let res;
  let nodesMs = NaN;
  let redisMs = NaN;
  try {
    const info0 = await redisInfo(cluster.redisPort);
    const tw = performance.now();
    res = await runWorker(mod.id, cluster, mod.timeoutMs);
    const wallW = performance.now() - tw;
    nodesMs = cluster.nodePids.reduce((a, pid) => a + processCpuMs(pid), 0);
    redisMs = processCpuMs(cluster.redisPid);
    if (res.ok) {
      const cost = redisCost(info0, await redisInfo(cluster.redisPort), res.routed, wallW);
      res.values.redisBytes = cost.bytesPerMessage;
      (res.notes ??= []).push(
        `Redis: ${Math.round(cost.bytesPerMessage)} B and ${cost.commandsPerMessage.toFixed(2)} commands per routed message (${res.routed.toLocaleString('en')} messages), ${cost.redisCores.toFixed(2)} cores, used_memory ${(cost.usedMemory / 2 ** 20).toFixed(1)} MiB at the end`,
      );
    } else if (/^not clustered/.test(res.error ?? '')) {
      res.notClustered = true;
    }
  } catch (err) {
    res = { ok: false, error: `cluster run: ${err.message}`, fatal: true };
  } finally {
    await cluster.stop();
  }
  const wall = performance.now() - t0;
  const ownU = process.cpuUsage(own0);
  const brokerMs = nodesMs + redisMs;
  const foreign = machineBusyMs() - busy0 - brokerMs - (res.generatorCpuMs ?? NaN) - (ownU.user + ownU.system) / 1000;
  res.secs = wall / 1000;
  res.brokerCores = brokerMs / wall;
  res.generatorCores = res.generatorCpuMs / wall;
  res.foreignCores = Math.max(0, foreign / wall);
  if (res.ok) {
    res.notes.push(`CPU: ${NODES} nodes ${(nodesMs / wall).toFixed(2)} cores, Redis ${(redisMs / wall).toFixed(2)} cores (whole run, start-up included)`);
    if (res.foreignCores > BUSY_CORES) {
      res.busy = true;
      res.notes.push(`machine busy: other processes used ${res.foreignCores.toFixed(2)} cores on average`);
    }
  }
  return res;
}

/**
 * Whether broker column `b` takes part in scenario `mod` (Mosquitto has no cluster rows, Aedes
 * no MQTT 5 rows).
 */
const takesPart = (mod, b) => (!mod.cluster || b === 'nestmq' || b === 'aedes') && (!mod.v5 || b !== 'aedes');
/** The cell of a column that does not take part in a row. */
const notPartCell = (mod) => (mod.v5 ? 'n/a: no MQTT 5' : 'n/a');

// ---------------------------------------------------------------- main
const mods = {};
for (const id of scenarioIds) mods[id] = await import(`./scenarios/${id}.mjs`);

const skipped = {};
for (const b of brokerNames) {
  const why = availability(b);
  if (why) {
    skipped[b] = why;
    console.log(`note: ${b} skipped: ${why}`);
  }
}
const brokers = brokerNames.filter((b) => !skipped[b]);
for (const b of ALL_BROKERS) if (!brokerNames.includes(b)) skipped[b] = 'not selected (BENCH_BROKERS)';
// The cluster rows need more (redis-server, Aedes' Redis modules): a missing piece skips only them.
const clusterSkipped = {};
if (scenarioIds.some((id) => mods[id].cluster)) {
  for (const b of brokers) {
    const why = clusterAvailability(b);
    if (why && b !== 'mosquitto') {
      clusterSkipped[b] = why;
      console.log(`note: ${b} cluster rows skipped: ${why}`);
    }
  }
}

const ver = versions();
console.log(
  `nestmq bench: ${RUNS} run(s), scale ${SCALE}, scenarios ${scenarioIds.join(',')}, brokers ${brokers.join(',') || '(none)'}`,
);
// results[scenario][broker] = [run results]
const results = {};
const gaveUp = {};
const t0 = Date.now();
for (let r = 1; r <= RUNS; r++) {
  for (const id of scenarioIds) {
    const mod = mods[id];
    results[id] ??= {};
    for (const b of brokers) {
      if (!takesPart(mod, b) || (mod.cluster && clusterSkipped[b])) continue;
      results[id][b] ??= [];
      const key = `${id}/${b}`;
      if (gaveUp[key]) {
        results[id][b].push({ ok: false, error: 'not retried after: ' + gaveUp[key], skipped: true });
        continue;
      }
      const res = await runOne(mod, b);
      res.secs ??= 0;
      results[id][b].push(res);
      if (!res.ok && (res.fatal || res.notClustered)) gaveUp[key] = res.error;
      // Not clustered is a property of the build: the other cluster rows would find the same.
      if (res.notClustered) for (const other of scenarioIds) if (mods[other].cluster) gaveUp[`${other}/${b}`] ??= res.error;
      const vals = res.ok
        ? mod.metrics.map((m) => `${m.key}=${fmtValue(res.values[m.key], m.unit)}${m.unit === 'msgs/s' ? '' : ' ' + m.unit}`).join(' ')
        : `FAILED: ${res.error}`;
      const notes = res.ok && res.notes?.length ? `  [${res.notes.join('; ')}]` : '';
      const cpu = Number.isFinite(res.brokerCores)
        ? `, cpu: broker ${res.brokerCores.toFixed(2)} gen ${res.generatorCores.toFixed(2)} other ${res.foreignCores.toFixed(2)}`
        : '';
      console.log(`[run ${r}/${RUNS}] ${id.padEnd(8)} ${b.padEnd(9)} ${vals}${notes}  (${res.secs.toFixed(1)} s${cpu})`);
    }
  }
}
const elapsed = (Date.now() - t0) / 1000;

// ---------------------------------------------------------------- table
const rows = [];
const footnotes = [];
const v5Ratios = []; // the MQTT 5 / 3.1.1 rows (v5RatioRow), also for the docs' per-run table
for (const id of scenarioIds) {
  const mod = mods[id];
  for (const m of mod.metrics) {
    const med = {};
    const cells = {};
    for (const b of ALL_BROKERS) {
      const cell = specialCell(mod, b, results[id]?.[b]);
      if (cell) {
        cells[b] = cell;
        med[b] = NaN;
        continue;
      }
      const runs = results[id]?.[b] ?? [];
      const okRuns = runs.filter((x) => x.ok && Number.isFinite(x.values?.[m.key]));
      med[b] = median(okRuns.map((x) => x.values[m.key]));
      if (okRuns.length === 0) {
        cells[b] = 'failed';
      } else {
        cells[b] = fmtValue(med[b], m.unit) + (okRuns.length < runs.length ? ` (${okRuns.length}/${runs.length} ok)` : '');
        if (okRuns.some((x) => x.losses > 0)) cells[b] += ' †';
        if (okRuns.some((x) => x.busy)) cells[b] += ' ‡';
      }
    }
    const ratio = (peer) => {
      const n = med.nestmq;
      const p = med[peer];
      if (!Number.isFinite(n) || !Number.isFinite(p) || n <= 0 || p <= 0) return '–';
      return fmtRatio(m.better === 'higher' ? n / p : p / n);
    };
    rows.push({ label: m.label, cells, r1: ratio('aedes'), r2: ratio('mosquitto'), better: m.better });
  }
  const pair = V5_PAIRS.find((p) => p[0] === id);
  if (pair && scenarioIds.includes(pair[1])) {
    for (const cpu of [false, true]) {
      const r = v5RatioRow(...pair, cpu);
      v5Ratios.push(r);
      rows.push({ label: r.label, cells: r.cells, r1: '–', r2: '–', better: 'higher' });
    }
  }
  for (const b of brokers) {
    const runs = results[id]?.[b] ?? [];
    runs.forEach((x, i) => {
      if (!x.ok && notClustered(x)) {
        if (x.notClustered) footnotes.push(`${id} / ${b} / run ${i + 1}: not clustered (skipped): ${x.error}`);
      } else if (!x.ok) footnotes.push(`${id} / ${b} / run ${i + 1}: **failed**: ${x.error}`);
      else if (x.notes?.length) footnotes.push(`${id} / ${b} / run ${i + 1}: ${x.notes.join('; ')}`);
    });
  }
}

/**
 * An "MQTT 5 / 3.1.1" row of a V5_PAIRS entry: each broker's v5 figure against its own 3.1.1
 * figure, run r against run r (both rows run in every round), median of those ratios, in %.
 * `cpu` false: throughput (rate5 / rate3); true: messages per second of broker CPU in the
 * measured phase (brokerUs3 / brokerUs5), which other load on a shared machine moves less than
 * the throughput. `perRun` holds the docs' per-run cells.
 */
function v5RatioRow(v5id, v3id, what, cpu) {
  const ratioOf = (x, y) => (cpu ? y.values.brokerUs / x.values.brokerUs : x.values.rate / y.values.rate) * 100;
  const cells = {};
  const perRun = {};
  for (const b of ALL_BROKERS) {
    const cell = specialCell(mods[v5id], b, results[v5id]?.[b]) ?? specialCell(mods[v3id], b, results[v3id]?.[b]);
    if (cell) {
      cells[b] = perRun[b] = cell;
      continue;
    }
    const a = results[v5id]?.[b] ?? [];
    const c = results[v3id]?.[b] ?? [];
    const ratios = a.map((x, i) => (x.ok && c[i]?.ok ? ratioOf(x, c[i]) : NaN));
    const ok = ratios.filter(Number.isFinite);
    cells[b] = ok.length ? fmtValue(median(ok), '%') + (ok.length < ratios.length ? ` (${ok.length}/${ratios.length} pairs)` : '') : 'failed';
    perRun[b] = ratios.map((r) => (Number.isFinite(r) ? fmtValue(r, '%') : 'failed')).join(', ');
  }
  const label = cpu ? `MQTT 5 / 3.1.1, ${what}, msgs per broker CPU second (%)` : `MQTT 5 / 3.1.1, ${what}, throughput (%)`;
  return { v5id, label, cells, perRun };
}

/**
 * The cell of a column that has no figure for a reason other than failing: not selected or not
 * installed ('skipped'), no cluster mode (Mosquitto: 'n/a'), cluster pieces missing, or a nestmq
 * build that is not clustered yet. Null when the column has figures (or failed).
 */
function specialCell(mod, b, runs) {
  if (!takesPart(mod, b)) return notPartCell(mod);
  if (skipped[b]) return 'skipped';
  if (mod.cluster && clusterSkipped[b]) return 'skipped';
  if (mod.cluster && runs?.length && runs.every(notClustered)) return 'not clustered (skipped)';
  return null;
}

/** A cluster run that found no cluster mode (or was not retried because of one). */
function notClustered(x) {
  return !x.ok && (x.notClustered === true || /^(not retried after: )?not clustered/.test(x.error ?? ''));
}

const HEAD = ['Scenario', 'nestmq', 'aedes', 'mosquitto', 'nestmq/aedes', 'nestmq/mosquitto'];
const tableRows = rows.map((r) => [r.label, r.cells.nestmq, r.cells.aedes, r.cells.mosquitto, r.r1, r.r2]);
const RATIO_NOTE =
  'Ratios: > 1 means nestmq is better. Throughput rows: nestmq/peer. Latency, memory and retained-ms rows (lower is better): peer/nestmq. † = some messages were lost in at least one run; ‡ = other processes competed for the CPU in at least one run (see notes).' +
  (v5Ratios.length ? ' MQTT 5 / 3.1.1 rows: each broker\'s MQTT 5 figure as a percentage of its own 3.1.1 figure, throughput and messages per second of broker CPU in the measured phase (median of the per-run ratios, run r against run r; target for nestmq: at least 95%).' : '');

function textTable(head, body) {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}
function mdTable(head, body) {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? ':---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

console.log(`\nMedian of ${RUNS} run(s) (${elapsed.toFixed(0)} s total)\n`);
console.log(textTable(HEAD, tableRows));
console.log('\n' + RATIO_NOTE);
for (const [b, why] of Object.entries(skipped)) console.log(`${b}: skipped: ${why}`);
if (footnotes.length) console.log('\nNotes:\n' + footnotes.map((f) => '  ' + f.replace(/\*\*/g, '')).join('\n'));

// ---------------------------------------------------------------- docs/benchmarks.md
const full = scenarioIds.length === ALL_SCENARIOS.length && SCALE === 1;
const writeDocs = process.env.BENCH_DOCS === '1' || (process.env.BENCH_DOCS !== '0' && full);
if (!writeDocs) {
  console.log('\ndocs/benchmarks.md not updated (partial run; set BENCH_DOCS=1 to force)');
} else {
  const md = renderDocs({ tableMd: mdTable(HEAD, tableRows), footnotes, elapsed });
  fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'docs', 'benchmarks.md'), md);
  console.log('\nwrote docs/benchmarks.md');
}
cleanup();

function machine() {
  let nproc = String(os.cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {}
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpu = m[1].trim();
  } catch {}
  return {
    nproc,
    cpu,
    mem: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
  };
}

function renderDocs({ tableMd, footnotes, elapsed }) {
  const mc = machine();
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const settings = scenarioIds.map((id) => `- **${id}**: ${mods[id].settings(SCALE)}`).join('\n');
  const skippedLines = Object.entries(skipped).map(([b, why]) => `- ${b}: skipped: ${why}`).join('\n');
  const perRun = [];
  for (const id of scenarioIds) {
    for (const m of mods[id].metrics) {
      const cells = ALL_BROKERS.map((b) => {
        const cell = specialCell(mods[id], b, results[id]?.[b]);
        if (cell) return cell;
        return (results[id]?.[b] ?? []).map((x) => (x.ok ? fmtValue(x.values[m.key], m.unit) : 'failed')).join(', ');
      });
      perRun.push(`| ${m.label} | ${cells.join(' | ')} |`);
    }
    for (const r of v5Ratios) if (r.v5id === id) perRun.push(`| ${r.label} | ${ALL_BROKERS.map((b) => r.perRun[b]).join(' | ')} |`);
  }
  return `# Benchmarks

Generated by \`npm run bench\` (\`bench/run.mjs\`) on ${date}. Do not edit by hand: re-run the
benchmark instead (\`BENCH_RUNS\`, \`BENCH_ONLY\`, \`BENCH_BROKERS\`, \`BENCH_SCALE\`: see
\`bench/run.mjs\`).

## Results

Median of ${RUNS} run(s) per scenario and broker; each run starts a fresh broker process.

${tableMd}

${RATIO_NOTE}
${skippedLines ? '\n' + skippedLines + '\n' : ''}
Per-run values (${RUNS} run(s), in order):

| Scenario | nestmq | aedes | mosquitto |
|:---|---:|---:|---:|
${perRun.join('\n')}
${curvesSection()}
## Machine

- CPUs (\`nproc\`): ${mc.nproc}
- CPU model: ${mc.cpu}
- Memory: ${mc.mem}
- Kernel: ${mc.kernel}
- Node.js: ${ver.node}
- nestmq: ${ver.nestmq} (\`dist/\` built by \`npm run build\`)
- Aedes: ${ver.aedes}
- Mosquitto: ${ver.mosquitto}
- Cluster rows: Redis ${ver.redis} (redis-server), mqemitter-redis ${ver.mqemitterRedis}, aedes-persistence-redis ${ver.aedesPersistenceRedis}
- Date: ${date}
- Total bench time: ${elapsed.toFixed(0)} s

Brokers and the load generator share the same machine (all traffic on 127.0.0.1): the
broker gets roughly one core and the generator the other, so absolute figures are lower than
on a dedicated broker host; the comparison between brokers is the point.

## Method

- **One load generator** (\`bench/lib/worker.mjs\`, a fresh Node process per scenario run) for
  all brokers: raw \`net\` sockets (\`noDelay\`), packets encoded once with mqtt-packet's
  \`generate\` and concatenated into batches (one \`write()\` per batch, waiting for
  \`'drain'\` when \`write()\` returns false). Input is read with net's \`onread\` option into one
  shared 256 KB buffer (no per-read allocation, no \`'data'\` events) and cut into frames by a
  minimal splitter that reads only the fixed header and Remaining Length
  (\`bench/lib/frames.mjs\`). No MQTT client library is on the hot path. QoS 1 PUBACKs are
  pre-encoded with the packet id patched in, one write per received chunk.
- **Brokers**, each in its own child process on its own free ephemeral port on 127.0.0.1,
  started fresh for every scenario run and killed (SIGKILL) afterwards:
  - nestmq: \`bench/brokers/nestmq.cjs\` — \`new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:PORT' } } })\`,
    all other options at their defaults.
  - Aedes: \`bench/brokers/aedes.mjs\` — \`await Aedes.createBroker()\` with default options
    (in-memory persistence and mqemitter) on a plain \`net.createServer(aedes.handle)\`.
  - Mosquitto: \`mosquitto -c FILE\` with this config:

    \`\`\`
    listener PORT 127.0.0.1
${MOSQUITTO_SETTINGS.map((s) => '    ' + s).join('\n')}
    \`\`\`

    \`max_inflight_messages 0\` and \`max_queued_messages 0\` lift Mosquitto's per-client
    limits (defaults 20 and 1000) so that it neither throttles the QoS 1 subscriber to 20
    in-flight messages nor drops QoS 0 messages when the subscriber falls behind; Aedes has no
    such limits. \`persistence false\` and \`sys_interval 0\` keep disk and \`$SYS\` traffic out.
- **WebSocket** (the fan-in over WebSocket scenario): the generator's clients use the \`ws\`
  package (\`ws://127.0.0.1:PORT/mqtt\`, sub-protocol \`mqtt\`, no compression). Each batch
  goes out as one binary frame (\`send()\`, waiting for the socket's \`'drain'\` when its
  buffer, i.e. the WebSocket's \`bufferedAmount\`, passes the high-water mark), masked with an
  all-zero key so that the generator does not copy and XOR every batch (the brokers still
  unmask every frame); each received binary message is fed to the same frame splitter. The
  brokers then run a WebSocket listener on the port instead of a TCP one: nestmq
  \`{ type: 'ws', bind: '127.0.0.1:PORT' }\` (its built-in \`ws\` listener, path /mqtt); Aedes
  an \`http\` server with a \`ws\` \`WebSocketServer\` on path /mqtt (sub-protocol \`mqtt\`,
  no compression) handing \`createWebSocketStream(socket)\` to \`aedes.handle()\`, as in
  Aedes' own example (that stream sends every write of Aedes' packet writer as a frame of its
  own: about five small frames per PUBLISH, where nestmq sends one frame per flush and
  Mosquitto one per packet); Mosquitto its built-in libwebsockets listener, with the settings
  above after these listener lines instead of \`listener PORT 127.0.0.1\`:

  \`\`\`
${mosquittoWsListeners('PORT', 'PORT2').map((s) => '  ' + s).join('\n')}
  \`\`\`

  Mosquitto 2.0's WebSocket listener binds to an interface name, not an address (given
  \`127.0.0.1\` it listens on all addresses), and Mosquitto 2.0 does not start with a
  WebSocket listener alone, hence the unused plain listener on a second loopback port (PORT2).
- **Sizing.** The throughput scenarios (fan-in, also over WebSocket, fan-out, QoS 1, routing)
  first run a short calibration phase (which is also the JIT warm-up of the Node brokers), then
  a measured phase whose message count is chosen from the calibration rate to last a few
  seconds on *that* broker (clamped, see the settings below); if the measured phase still ends
  in under half the target time it is re-sized and repeated once. Only the measured phase
  counts.
- **Figures.** Throughput is measured at the receiving side, from the first to the last
  message received in the measured phase (per-read timestamps). QoS 0 messages not received
  within 2 s of the last arrival count as lost (†); QoS 1 messages are checked off one by one.
  The notes also give "first send → last arrival" rates, which include any start-up delay.
- **Failures.** A run that does not finish within the scenario's time limit, or whose broker
  exits, or in which the broker closes a generator connection, is recorded as failed; after a
  time-out or crash the broker/scenario pair is not retried in later runs. Cells show the
  median over the successful runs (\`(k/n ok)\` when some failed).
- **Cluster rows** (\`clusterfanin\`, \`clusterqos1\`, \`clusterlatency\`; \`bench/lib/cluster.mjs\`).
  For every run a fresh \`redis-server\` on a free loopback port with no persistence
  (\`--save '' --appendonly no\`) and 3 nodes of one broker pointing at it, all on this machine
  with the generator: the subscriber connects to node 1, the publishers to node 2, node 3 holds no
  client. The **nestmq** column is 3 \`bench/brokers/nestmq.cjs\` nodes with
  \`cluster: { redis: redis://127.0.0.1:PORT, node-id: bench-node-N }\`, defaults otherwise; the
  **aedes** column is 3 \`bench/brokers/aedes-cluster.mjs\` nodes: Aedes with mqemitter-redis
  (messages between nodes over Redis pub/sub) and aedes-persistence-redis (subscriptions,
  retained, offline queues in Redis), default options apart from the Redis address, which is how
  Aedes users cluster it. \`BENCH_BROKERS=aedes\` selects Aedes for the single-broker and the
  cluster rows alike; Mosquitto has no cluster mode (\`n/a\`). Each run starts once one probe
  message published on node 2 has reached the subscriber on node 1 (the subscription has to reach
  the other nodes through Redis first); a nestmq build whose config refuses the \`cluster\` key,
  or whose nodes do not pass a message from node 2 to node 1 within 10 s, is shown as
  "not clustered (skipped)". Payloads are 64 B; the scenarios are otherwise those of the fan-in,
  QoS 1 and latency rows (the latency row at 1,000 msgs/s). **Redis bytes per message**:
  Redis' \`total_net_input_bytes\` + \`total_net_output_bytes\` (\`INFO\`) after the generator minus
  before it (the first \`INFO\` reply and the second \`INFO\` command taken out), divided by every
  message the generator published in the run (calibration and probes included). Network bytes
  rather than \`INFO commandstats\`: they count what each message costs Redis in both directions,
  the pub/sub fan-out to the receiving nodes and the replies included, which commandstats (calls
  and time per command, no bytes) does not show; background traffic during the run (heartbeats,
  lease renewals) is included, as it would be in production. The notes add Redis commands per
  message, Redis' CPU and its memory at the end. The broker CPU of a cluster run is the 3 nodes'
  and Redis' together.
- **MQTT 5 rows** (\`fanin5\`, \`qos1v5\`, \`fanout5alias\`). The generator's clients connect at
  protocol level 5 (\`bench/lib/packets.mjs\`, mqtt-packet's \`generate\` with
  \`protocolVersion: 5\`, encoded once as for 3.1.1): CONNECT without properties, except the
  fan-out subscribers' Topic Alias Maximum 10; PUBLISH and SUBSCRIBE with an empty property
  block (one 0x00 byte); the QoS 1 subscriber's PUBACKs are the 2-byte form (Reason Code
  Success left out, as MQTT 5 allows). On the receive side a v5 PUBLISH is read past its
  property block (\`parsePublishV5\` in \`bench/lib/frames.mjs\`, no allocation per frame); SUBACK
  reason codes are read past theirs (any code from 0x80 up fails the run). \`fanin5\` and
  \`qos1v5\` are the fan-in and QoS 1 scenarios otherwise unchanged. \`fanout5alias\` is a QoS 0
  fan-out, 1 publisher → 100 subscribers on \`bench/fanout/+\`, the publisher going round-robin
  over 8 topics \`bench/fanout/0..7\` so that a broker sending outbound Topic Aliases sends each
  topic once per subscriber and then only its alias with an empty Topic Name; every delivery is
  checked (payload byte 0 is the topic's index: a topic, or an alias resolved through what that
  subscriber was told, naming another topic, an alias above 10 or never set, counts against the
  run), and the notes give the share of deliveries that came with the alias only (nestmq
  aliases its first 10 topics per connection, \`limits.max-outbound-topic-aliases\`; Mosquitto
  2.0.11 sent none in our runs, so its figure is a plain v5 fan-out over 8 topics, not
  comparable with the single-topic \`fanout\` row). nestmq and Mosquitto run with the settings
  above; Aedes has no MQTT 5 (\`n/a: no MQTT 5\`). When \`fanin5\`/\`fanin\` or \`qos1v5\`/\`qos1\`
  both ran, a row **MQTT 5 / 3.1.1** gives each broker's v5 figure as a percentage of its own
  3.1.1 figure: run r of the v5 row against run r of the 3.1.1 row (every round runs all rows
  before the next, so the pair is minutes apart at most), the median of those ratios; once for
  the throughput, and once for the messages per second of broker CPU: the broker's CPU time
  (\`/proc/PID/stat\`, 10 ms ticks) over the measured phase divided by the messages received in
  it (also in the notes, "broker CPU … µs per message", for the fan-in, fan-out and QoS 1 rows),
  a figure that other load on a shared machine moves much less than the throughput.
- **CPU accounting.** For every run the harness reads the machine's busy time
  (\`/proc/stat\`) and the broker's and generator's own CPU time: when other processes used more
  than ${BUSY_CORES} cores on average during a run the cell is marked ‡. Before each run it
  waits up to ${QUIET_WAIT_S} s for the machine to be idle. When the generator itself was
  busy more than 85% of a core during a measurement, the note says so: that figure may be
  limited by the generator and is then a lower bound for the broker.

### Scenario settings

${settings}

## Notes from the runs

${footnotes.length ? footnotes.map((f) => '- ' + f).join('\n') : '- none'}
`;
}

/**
 * The scale curves (\`npm run bench:scale\`, docs/scale.md) embedded here, as issue 14 asks: the
 * plots docs/scale.md shows, in its order, with a pointer to its figures and to where each bends.
 */
function curvesSection() {
  const scale = path.join(ROOT, 'docs', 'scale.md');
  if (!fs.existsSync(scale)) return '';
  const images = fs.readFileSync(scale, 'utf8').split('\n').filter((l) => /^!\[[^\]]*\]\(plots\/[^)]+\.svg\)$/.test(l.trim()));
  if (images.length === 0) return '';
  return `
## Curves

How cost grows with load, from \`npm run bench:scale\` (a separate, longer run; its figures, settings and
machine are in [scale.md](scale.md), and where each curve bends, and why, in
[scale-notes.md](scale-notes.md)). nestmq, Aedes and Mosquitto on the same axes where the peer can run.

${images.map((l) => l.trim()).join('\n\n')}
`;
}
