/**
 * Real redis-server processes for the cluster tests: each on a free loopback port with its own
 * temporary directory, stopped (or killed) by the test that started it. Nothing is mocked: the
 * cluster building blocks are only worth what they do against a real server, restarts included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisServerOptions {
  /** AOF on ('yes') keeps data across restart; 'no' starts empty after every restart. */
  appendonly?: 'yes' | 'no';
  /** appendfsync policy when AOF is on. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Extra `--key value` arguments. */
  args?: string[];
}

/** A free loopback TCP port (the OS picks it; closed again before redis-server binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  readonly dir: string;
  port = 0;
  private child: ChildProcess | null = null;
  private readonly clients: Redis[] = [];

  constructor(private readonly options: RedisServerOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'nestmq-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts redis-server (on a new free port the first time, the same port and dir afterwards). */
  async start(): Promise<void> {
    if (this.child !== null) throw new Error('redis-server already running');
    if (this.port === 0) this.port = await freePort();
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.options.appendonly ?? 'no',
      '--appendfsync', this.options.appendfsync ?? 'everysec',
      '--protected-mode', 'yes',
      '--daemonize', 'no',
      '--loglevel', 'warning',
      ...(this.options.args ?? []),
    ];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    // Ready when it answers PING; bounded.
    const deadline = Date.now() + 10000;
    for (;;) {
      if (this.child !== child) throw new Error(`redis-server exited: ${output}`);
      if (await this.pingOnce()) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${this.port}: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** One PING over a plain socket (an ioredis probe would leave a reconnect timer behind). */
  private pingOnce(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      let reply = '';
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(1000, () => done(false));
      socket.once('error', () => done(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d: Buffer) => {
        reply += d.toString();
        if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
      });
    });
  }

  /** Graceful stop (SIGTERM: with AOF on, everything acknowledged so far is kept). */
  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  /** kill -9: whatever appendfsync had not synced is lost. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** Stop (or kill) and start again on the same port and directory. */
  async restart(how: 'stop' | 'kill' = 'stop'): Promise<void> {
    await (how === 'kill' ? this.kill() : this.stop());
    await this.start();
  }

  private signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => {
        // the pipes of a killed server can stay open a while; they would hold the test process
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve();
      });
      child.kill(sig);
    });
  }

  /**
   * A client with the options the cluster components expect (fail fast while disconnected,
   * reconnect quickly); closed by destroy().
   */
  client(extra: RedisOptions = {}): Redis {
    const client = new Redis(this.port, '127.0.0.1', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 20, 200),
      ...extra,
    });
    client.on('error', () => {}); // reconnection errors are expected during kill/restart tests
    this.clients.push(client);
    return client;
  }

  /** A client for the test's own inspection: it queues commands until connected. */
  inspector(): Redis {
    return this.client({ enableOfflineQueue: true, maxRetriesPerRequest: 20 });
  }

  /** Disconnects every client made by client(), stops the server, removes the directory. */
  async destroy(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    this.clients.length = 0;
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a server; the caller destroys it in afterAll/afterEach. */
export async function startRedis(options?: RedisServerOptions): Promise<RedisServer> {
  const server = new RedisServer(options);
  await server.start();
  return server;
}
