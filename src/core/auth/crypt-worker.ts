/**
 * Runs SHA-512-crypt in a worker thread, off the event loop (about 7 ms of CPU per check at the
 * default 5000 rounds). bcrypt and PBKDF2 need no help: their async APIs already run in libuv's
 * thread pool.
 *
 * One worker, started on first use and stopped after a few idle seconds; unref'd, so it never
 * keeps a process alive. Its code is the source text of sha512CryptDigest (self-contained by
 * design), so it works the same from dist/ and under ts-jest. Should the worker fail to start or
 * die, the digest is computed inline instead: slower for the loop, never wrong.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { sha512CryptDigest } from './sha512-crypt';

interface Job {
  password: Buffer;
  salt: Buffer;
  rounds: number;
  resolve: (digest: Buffer) => void;
}

const IDLE_MS = 5000;

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const digest = (${sha512CryptDigest.toString()});
parentPort.on('message', (m) => {
  let d = null;
  try { d = digest(createHash, Buffer.from(m.password), Buffer.from(m.salt), m.rounds); } catch (e) { d = null; }
  parentPort.postMessage({ id: m.id, digest: d });
});
`;

let worker: Worker | null = null;
let broken = false;
let nextId = 1;
const jobs = new Map<number, Job>();
let idleTimer: NodeJS.Timeout | null = null;

function inline(job: Job): void {
  job.resolve(sha512CryptDigest(createHash, job.password, job.salt, job.rounds));
}

/** The worker died or could not start: finish what it held inline, and stop using workers. */
function fail(): void {
  broken = true;
  const w = worker;
  worker = null;
  if (w !== null) w.terminate().catch(() => undefined);
  const pending = [...jobs.values()];
  jobs.clear();
  for (const job of pending) inline(job);
}

function getWorker(): Worker | null {
  if (worker !== null || broken) return worker;
  try {
    const w = new Worker(SOURCE, { eval: true });
    w.on('message', (m: { id: number; digest: Uint8Array | null }) => {
      const job = jobs.get(m.id);
      if (job === undefined) return;
      jobs.delete(m.id);
      if (m.digest === null) inline(job);
      else job.resolve(Buffer.from(m.digest.buffer, m.digest.byteOffset, m.digest.byteLength));
      if (jobs.size === 0) scheduleIdle();
    });
    w.on('error', fail);
    w.on('exit', () => {
      if (worker === w) {
        worker = null;
        if (jobs.size > 0) fail();
      }
    });
    // After the listeners: adding a 'message' listener refs the worker again.
    w.unref();
    worker = w;
  } catch {
    broken = true;
  }
  return worker;
}

function scheduleIdle(): void {
  if (idleTimer !== null) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    idleTimer = null;
    if (jobs.size === 0 && worker !== null) {
      const w = worker;
      worker = null;
      w.terminate().catch(() => undefined);
    }
  }, IDLE_MS);
  idleTimer.unref();
}

/** sha512CryptDigest, computed in the worker thread. */
export function sha512CryptDigestAsync(password: Buffer, salt: Buffer, rounds: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const job: Job = { password, salt, rounds, resolve };
    const w = getWorker();
    if (w === null) return inline(job);
    const id = nextId++;
    jobs.set(id, job);
    if (idleTimer !== null) {
      clearTimeout(idleTimer);
      idleTimer = null;
    }
    w.postMessage({ id, password, salt, rounds });
  });
}

/** Stops the worker now (tests, shutdown); the next check starts a new one. */
export async function stopCryptWorker(): Promise<void> {
  if (idleTimer !== null) clearTimeout(idleTimer);
  idleTimer = null;
  const w = worker;
  worker = null;
  if (w !== null) {
    const pending = [...jobs.values()];
    jobs.clear();
    await w.terminate();
    for (const job of pending) inline(job);
  }
}
