// Broker launcher: one child process per broker per scenario run, on its own free port,
// always on 127.0.0.1. Children get PR_SET_PDEATHSIG=KILL via setpriv(1) when available, so
// they die with the orchestrator even if it is SIGKILLed; they are also killed explicitly.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
const NESTMQ_DIST = path.join(ROOT, 'dist', 'index.js');

const children = new Set();
let tmpDir = null;

function which(cmd) {
  for (const d of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/local/sbin', '/sbin'])) {
    const p = path.join(d, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

const SETPRIV = which('setpriv');
export const MOSQUITTO = which('mosquitto');

/** Settings written into the Mosquitto config for every run (also printed in docs). */
export const MOSQUITTO_SETTINGS = [
  'allow_anonymous true',
  'max_connections -1',
  'max_inflight_messages 0',
  'max_queued_messages 0',
  'persistence false',
  'sys_interval 0',
  'log_dest stderr',
  'log_type error',
  'log_type warning',
];

/**
 * Mosquitto's listener lines for the WebSocket scenarios. Mosquitto 2.0.x's libwebsockets
 * listener binds to an interface name, not an address (given 127.0.0.1 it listens on all
 * addresses), and Mosquitto refuses to start with a websockets listener alone ("Unable to start
 * any listening sockets", eclipse-mosquitto/mosquitto#2284), so an unused plain MQTT listener on
 * another loopback port comes first.
 */
export const mosquittoWsListeners = (port, plainPort) => [`listener ${plainPort} 127.0.0.1`, `listener ${port} lo`, 'protocol websockets'];

export const REDIS_SERVER = which('redis-server');

/** Why `name` cannot run the cluster rows (3 nodes + Redis), or null. */
export function clusterAvailability(name) {
  if (!REDIS_SERVER) return 'redis-server not installed';
  if (name === 'nestmq') return availability('nestmq');
  if (name === 'aedes') {
    for (const pkg of ['aedes', 'mqemitter-redis', 'aedes-persistence-redis']) {
      if (!fs.existsSync(path.join(ROOT, 'node_modules', pkg, 'package.json'))) return `${pkg} not installed`;
    }
    return null;
  }
  return 'no cluster mode';
}

export function availability(name) {
  if (name === 'nestmq') {
    return fs.existsSync(NESTMQ_DIST) ? null : `dist/index.js not found (run npm run build)`;
  }
  if (name === 'aedes') {
    return fs.existsSync(path.join(ROOT, 'node_modules', 'aedes', 'package.json')) ? null : 'aedes not installed';
  }
  if (name === 'mosquitto') return MOSQUITTO ? null : 'mosquitto not installed';
  return `unknown broker ${name}`;
}

export function versions() {
  const v = { node: process.version };
  try {
    v.aedes = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'aedes', 'package.json'), 'utf8')).version;
  } catch {
    v.aedes = 'n/a';
  }
  for (const [key, pkg] of [['mqemitterRedis', 'mqemitter-redis'], ['aedesPersistenceRedis', 'aedes-persistence-redis']]) {
    try {
      v[key] = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {
      v[key] = 'n/a';
    }
  }
  v.redis = 'n/a';
  if (REDIS_SERVER) {
    try {
      const m = execFileSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/);
      if (m) v.redis = m[1];
    } catch {}
  }
  try {
    v.nestmq = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  } catch {
    v.nestmq = 'n/a';
  }
  v.mosquitto = 'n/a';
  if (MOSQUITTO) {
    try {
      execFileSync(MOSQUITTO, ['-h'], { stdio: 'pipe' });
    } catch (e) {
      const out = String(e.stdout || '') + String(e.stderr || '');
      const m = out.match(/mosquitto version (\S+)/);
      if (m) v.mosquitto = m[1];
    }
  }
  return v;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function spawnTracked(cmd, args, opts) {
  const [c, a] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
  const child = spawn(c, a, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function trackChild(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function spawnNode(script, args, extra = {}) {
  const child = SETPRIV
    ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', process.execPath, script, ...args], extra)
    : spawn(process.execPath, [script, ...args], extra);
  return trackChild(child);
}

export function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
  if (tmpDir) {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    } catch {}
    tmpDir = null;
  }
}

function benchDir() {
  if (!tmpDir) tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nestmq-bench-'));
  return tmpDir;
}

/**
 * Started as root, Mosquitto drops to the `mosquitto` user and then cannot write its persistence
 * file into our root-owned 0700 folder ("Error saving in-memory database ... Permission denied",
 * at SIGTERM): hand the folder to that user.
 */
function giveToMosquittoUser(dir) {
  if (process.getuid?.() !== 0) return;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mosquitto:'));
  if (!line) return;
  const [, , uid, gid] = line.split(':');
  fs.chownSync(dir, Number(uid), Number(gid));
}

async function mosquittoConfig(port, persistent, ws, dataFile) {
  const file = path.join(benchDir(), `mosquitto-${port}.conf`);
  const [dir, dbName] = dataFile ? [path.dirname(dataFile), path.basename(dataFile)] : [benchDir(), `mosquitto-${port}.db`];
  if (persistent) giveToMosquittoUser(dir);
  const settings = persistent
    ? [...MOSQUITTO_SETTINGS.filter((l) => !l.startsWith('persistence')), 'persistence true', `persistence_location ${dir}/`, `persistence_file ${dbName}`]
    : MOSQUITTO_SETTINGS;
  let listeners = [`listener ${port} 127.0.0.1`];
  if (ws) {
    let plainPort = port;
    while (plainPort === port) plainPort = await freePort();
    listeners = mosquittoWsListeners(port, plainPort);
  }
  fs.writeFileSync(file, [...listeners, ...settings, ''].join('\n'));
  return file;
}

/** A file in this run's temporary folder (removed by killAll), e.g. a database kept across restarts. */
export const benchFile = (name) => path.join(benchDir(), name);

/**
 * Start `name` on a fresh free port. Resolves {name, port, pid, child, exited, stop(), term(), log()}
 * once the broker accepts TCP connections. `ws`: the listener speaks MQTT over WebSocket
 * (path /mqtt, sub-protocol `mqtt`) instead of plain MQTT. `dataFile` (with `persistent`): the
 * SQLite / Mosquitto persistence file to use, so that a restart finds the same data; `env`: extra
 * environment for the child (e.g. NESTMQ_BENCH_LIMITS); `tls` ({ cert, key } files, nestmq only): a
 * TLS listener instead of plain TCP.
 */
export async function startBroker(name, { readyTimeoutMs = 15000, persistent = false, ws = false, redisUrl = null, nodeId = null, dataFile = null, env = null, tls = null } = {}) {
  const port = await freePort();
  const spawnOpts = { cwd: ROOT, ...(env ? { env: { ...process.env, ...env } } : {}) };
  let child;
  if (name === 'redis') {
    // No persistence at all: the cluster rows measure routing, not Redis' disk.
    child = spawnTracked(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', benchDir(), '--logfile', ''], spawnOpts);
  } else if (name === 'aedes-cluster') {
    child = spawnTracked(process.execPath, [path.join(ROOT, 'bench', 'brokers', 'aedes-cluster.mjs'), String(port), redisUrl, nodeId], spawnOpts);
  } else if (name === 'nestmq-cluster') {
    child = spawnTracked(process.execPath, [path.join(ROOT, 'bench', 'brokers', 'nestmq.cjs'), String(port), '--cluster', redisUrl, nodeId], spawnOpts);
  } else if (name === 'mosquitto') {
    child = spawnTracked(MOSQUITTO, ['-c', await mosquittoConfig(port, persistent, ws, dataFile)], spawnOpts);
  } else if (name === 'aedes') {
    const args = [path.join(ROOT, 'bench', 'brokers', 'aedes.mjs'), String(port)];
    if (ws) args.push('--ws');
    child = spawnTracked(process.execPath, args, spawnOpts);
  } else if (name === 'node-relay' || name === 'node-relay-turn') {
    // bench/latency-floor.mjs only: the latency floor of a Node.js process, not a broker.
    const args = [path.join(ROOT, 'bench', 'brokers', 'node-relay.mjs'), String(port)];
    if (name === 'node-relay-turn') args.push('--turn');
    child = spawnTracked(process.execPath, args, spawnOpts);
  } else if (name === 'nestmq') {
    const args = [path.join(ROOT, 'bench', 'brokers', 'nestmq.cjs'), String(port)];
    if (ws) args.push('--ws');
    if (tls) args.push('--tls', tls.cert, tls.key);
    if (persistent) args.push(dataFile ?? path.join(benchDir(), `nestmq-${port}.db`));
    child = spawnTracked(process.execPath, args, spawnOpts);
  } else {
    throw new Error(`unknown broker ${name}`);
  }
  let logTail = '';
  const keep = (d) => {
    logTail = (logTail + d.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (process.env.NESTMQ_BENCH_STATS) child.stderr.pipe(process.stderr);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  const b = {
    name,
    port,
    pid: child.pid,
    child,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    log: () => logTail.trim(),
    async stop() {
      if (exitInfo) return;
      child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    },
    /** SIGTERM (a clean shutdown: Mosquitto writes its persistence file), SIGKILL after `ms`; resolves true if it exited by itself. */
    async term(ms = 60000) {
      if (exitInfo) return true;
      child.kill('SIGTERM');
      const clean = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);
      if (!clean) await this.stop();
      return clean;
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exitInfo) break;
    if (await canConnect(port)) return b;
    await new Promise((r) => setTimeout(r, 50));
  }
  await b.stop();
  throw new Error(
    `${name} did not start listening on 127.0.0.1:${port}` +
      (exitInfo ? ` (exited code=${exitInfo.code} signal=${exitInfo.signal})` : ` within ${readyTimeoutMs} ms`) +
      (logTail ? `: ${logTail.trim().split('\n').slice(-5).join(' | ')}` : ''),
  );
}

/** VmRSS of a process in KB, from /proc/PID/status. */
export function rssKB(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = s.match(/VmRSS:\s+(\d+)\s*kB/);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}
