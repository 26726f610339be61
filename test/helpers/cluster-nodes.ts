/**
 * A real cluster for tests: one redis-server (test/helpers/redis.ts) and N broker processes
 * (dist/ build, test/fixtures/broker-child.cjs), each on its own loopback port with `cluster.redis`
 * pointing at that server. Nothing is mocked.
 *
 *   const cluster = await startCluster({ nodes: 3 });
 *   mqtt.connect(cluster.url(0)); ...
 *   await cluster.kill(1);            // SIGKILL by default; 'SIGTERM' = graceful shutdown
 *   await cluster.restart(1);         // same port, same node id
 *   await cluster.stop();             // every node and Redis (afterAll / afterEach)
 *
 * Needs `rm -rf dist && npx tsc -p tsconfig.build.json` first (as every test spawning dist/).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RedisServer, type RedisServerOptions, startRedis } from './redis';

const SCRIPT = join(__dirname, '..', 'fixtures', 'broker-child.cjs');
/** The command line (Nest app: admin HTTP, health, metrics, drain), for `cli: true`. */
const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

/** Every node process started here, so a failing test cannot leave one running. */
const running = new Set<ChildProcess>();

/** Kills every node process still running (safety net for afterAll). */
export function killClusterNodes(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

export interface ClusterNodeHandle {
  /** cluster.node-id */
  readonly id: string;
  readonly port: number;
  /** The node's process, null while it is down. */
  child: ChildProcess | null;
  /** What the node wrote to stderr (warnings, failures). */
  stderr: string;
  /** Admin HTTP port (`cli: true` only, else 0). */
  readonly adminPort: number;
}

export interface StartClusterOptions {
  nodes?: number;
  /** Merged into each node's config (`cluster` merged key by key); a function gets the node index. */
  config?: Record<string, unknown> | ((index: number) => Record<string, unknown>);
  /** Options of the redis-server. */
  redis?: RedisServerOptions;
  /**
   * Run `node dist/main.js --config <file>` (the whole service: admin HTTP on `adminPort`,
   * /health, /metrics, SIGTERM drain) instead of the embeddable Broker. Memory persistence.
   */
  cli?: boolean;
}

/** Defaults for tests: short lease and TTL so takeovers and deaths show within a second or two. */
export const TEST_LEASE_MS = 3000;
export const TEST_NODE_TTL_MS = 1000;

export class TestCluster {
  private constructor(
    readonly redis: RedisServer,
    readonly nodes: ClusterNodeHandle[],
    private readonly configOf: (index: number) => object,
    private readonly cli: boolean,
    private readonly dir: string | null,
  ) {}

  static async start(options: StartClusterOptions = {}): Promise<TestCluster> {
    const redis = await startRedis(options.redis);
    const count = options.nodes ?? 3;
    const ports: number[] = [];
    const adminPorts: number[] = [];
    const cli = options.cli === true;
    for (let i = 0; i < count; i++) ports.push(await freePort());
    if (cli) for (let i = 0; i < count; i++) adminPorts.push(await freePort());
    const extra = options.config;
    const configOf = (i: number): object => {
      const e = (typeof extra === 'function' ? extra(i) : extra) ?? {};
      const { cluster, ...rest } = e as { cluster?: Record<string, unknown> };
      return {
        listeners: { default: { type: 'tcp', bind: `127.0.0.1:${ports[i]}` } },
        sys_interval: 0,
        ...(cli ? { admin: { enabled: true, bind: `127.0.0.1:${adminPorts[i]}` }, persistence: { backend: 'memory' }, logging: { level: 'info' } } : {}),
        ...rest,
        cluster: { redis: redis.url, 'node-id': `node-${i}`, 'lease-ms': TEST_LEASE_MS, 'node-ttl-ms': TEST_NODE_TTL_MS, ...cluster },
      };
    };
    const nodes = ports.map((port, i) => ({ id: `node-${i}`, port, child: null, stderr: '', adminPort: cli ? adminPorts[i] : 0 }));
    const cluster = new TestCluster(redis, nodes, configOf, cli, cli ? mkdtempSync(join(tmpdir(), 'nestmq-cluster-')) : null);
    try {
      await Promise.all(nodes.map((_, i) => cluster.launch(i)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** mqtt://127.0.0.1:PORT of node `i`. */
  url(i: number): string {
    return `mqtt://127.0.0.1:${this.nodes[i].port}`;
  }

  port(i: number): number {
    return this.nodes[i].port;
  }

  /** http://127.0.0.1:ADMINPORT of node `i` (`cli: true`). */
  admin(i: number): string {
    return `http://127.0.0.1:${this.nodes[i].adminPort}`;
  }

  private launch(i: number): Promise<void> {
    const node = this.nodes[i];
    let args: string[];
    if (this.cli) {
      const file = join(this.dir!, `node-${i}.yaml`);
      writeFileSync(file, JSON.stringify(this.configOf(i))); // YAML reads JSON
      args = [MAIN, '--config', file];
    } else args = [SCRIPT, JSON.stringify(this.configOf(i))];
    const ready = (out: string): boolean =>
      this.cli ? out.includes(`bound to mqtt://127.0.0.1:${node.port}`) && out.includes('admin API bound to') : /ready \d+/.test(out);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => {
      running.delete(child);
      if (node.child === child) node.child = null;
    });
    node.child = child;
    child.stderr!.on('data', (d: Buffer) => (node.stderr += d.toString()));
    let out = '';
    return new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (ready(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`node ${node.id} exited with ${code}: ${node.stderr.trim()}`)));
    });
  }

  /** Sends `signal` (default SIGKILL) to node `i` and waits for its exit. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.nodes[i].child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  /** Starts node `i` again (same port, same node id) after a kill. */
  async restart(i: number): Promise<void> {
    await this.kill(i);
    await this.launch(i);
  }

  /** Stops every node (SIGKILL: the test is over) and Redis. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.kill(i)));
    await this.redis.destroy();
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function startCluster(options?: StartClusterOptions): Promise<TestCluster> {
  return TestCluster.start(options);
}
