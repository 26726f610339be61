import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', 'fixtures', 'broker-child.cjs');

/** Every child started here, so a failing test cannot leave a broker running. */
const children = new Set<ChildProcess>();

/** Kills every child broker still running (call in afterAll). */
export function killChildBrokers(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A broker in a child process (dist/ build), for kill -9 and restart tests. */
export class ChildBroker {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(config: object): Promise<ChildBroker> {
    const child = track(spawn(process.execPath, [SCRIPT, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${err.trim()}`)));
    });
    return new ChildBroker(child, port);
  }

  /** Starts a broker expected to fail; resolves with its exit code and stderr. */
  static async failing(config: object): Promise<{ code: number | null; stderr: string }> {
    const child = track(spawn(process.execPath, [SCRIPT, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    clearTimeout(timer);
    return { code, stderr: err };
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** kill -9: no shutdown code runs. */
  async crash(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM: graceful; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGTERM');
    return exited;
  }
}
