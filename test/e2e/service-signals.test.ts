import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

/** The built service (`npm test` builds first: the `pretest` script). */
const main = join(__dirname, '..', '..', 'dist', 'main.js');
const GRACE_SECONDS = 5;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  mqttPort: number;
  adminPort: number;
  /** stdout lines so far (JSON log records). */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `node dist/main.js --config <tmp yaml>` on ephemeral ports; resolves once both are bound. */
async function startChild(): Promise<Child> {
  const dir = mkdtempSync(join(tmpdir(), 'nestmq-signals-'));
  const file = join(dir, 'broker.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  default:',
      '    type: tcp',
      '    bind: 127.0.0.1:0',
      'admin:',
      '  bind: 127.0.0.1:0',
      `shutdown-grace-period: ${GRACE_SECONDS}`,
      'sys_interval: 1',
      '',
    ].join('\n'),
  );
  const proc = spawn(process.execPath, [main, '--config', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffered = '';
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const ports = await new Promise<{ mqttPort: number; adminPort: number }>((resolve, reject) => {
    let mqttPort = 0;
    let adminPort = 0;
    proc.stdout.on('data', (d) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        mqttPort ||= Number(/bound to mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1] ?? 0);
        adminPort ||= Number(/admin API bound to http:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1] ?? 0);
        if (mqttPort && adminPort && / started"/.test(line)) resolve({ mqttPort, adminPort });
      }
    });
    void exited.then(() => reject(new Error(`exited early: ${lines.join('\n')}\n${stderr}`)));
  });
  return { proc, lines, exited, ...ports };
}

/** GET on a keep-alive agent: status code, or 0 when the connection is refused or reset. */
function get(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

/**
 * A readiness request the server has begun (headers read) but cannot answer until we send its
 * 2-byte body: it is in progress when the shutdown starts, so the server must answer it rather
 * than drop it, and its answer shows what readiness says at that moment. Resolves once the
 * server has read the headers: `Expect: 100-continue` makes it say so (RFC 9110 10.1.1).
 */
async function heldReadinessRequest(port: number): Promise<{ release: () => Promise<string> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let response = '';
  socket.on('data', (d) => (response += d));
  const ended = new Promise<string>((resolve) => socket.once('close', () => resolve(response)));
  const headersRead = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 100 Continue within 3 s: ${response}`)), 3000);
    const check = (): void => {
      if (!response.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      socket.off('data', check);
      resolve();
    };
    socket.on('data', check);
  });
  socket.write(
    'GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n' +
      'Expect: 100-continue\r\nConnection: close\r\n\r\n',
  );
  await headersRead;
  return {
    release: () => {
      socket.write('{}');
      // The final response, without the interim 100 Continue.
      return ended.then((all) => all.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''));
    },
  };
}

/** Resolves when the child has logged a line matching `re`. */
async function logged(child: Child, re: RegExp, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!child.lines.some((l) => re.test(l))) {
    if (Date.now() > end) throw new Error(`no log line ${re} in:\n${child.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function records(child: Child): Record<string, unknown>[] {
  return child.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the service process: signals and graceful shutdown', () => {
  const children: Child[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  });

  it('SIGTERM: readiness turns 503, clients are closed, the process exits 0 within the grace period', async () => {
    const child = await startChild();
    children.push(child);
    const agent = new http.Agent({ keepAlive: true });
    expect(await get(agent, child.adminPort, '/health/ready')).toBe(200);
    agent.destroy();

    const client = mqtt.connect(`mqtt://127.0.0.1:${child.mqttPort}`, { reconnectPeriod: 0, clientId: 'until-sigterm' });
    await new Promise((r) => client.once('connect', r));
    const clientClosed = new Promise<void>((r) => client.once('close', () => r()));

    const held = await heldReadinessRequest(child.adminPort);
    const sentAt = Date.now();
    child.proc.kill('SIGTERM');
    // Mid-shutdown: the broker has stopped, the admin server is closing and waits for our request.
    await logged(child, /"broker stopped"/);
    const response = await held.release();
    const exit = await child.exited;
    await clientClosed;

    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sentAt).toBeLessThan(GRACE_SECONDS * 1000);
    expect(response).toMatch(/^HTTP\/1\.1 503 /);
    // terminus answers `shutting_down` once the application is closing; before that, the broker
    // indicator is down with the reason (test/e2e/admin.test.ts checks that stage in-process).
    const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { status: string; error?: Record<string, unknown> };
    if (body.status === 'error') expect(body.error?.broker).toMatchObject({ status: 'down', shuttingDown: 'SIGTERM' });
    else expect(body.status).toBe('shutting_down');
    // Once shut down, nothing listens any more.
    expect(await get(new http.Agent(), child.adminPort, '/health/live')).toBe(0);

    const log = records(child);
    const i = (pred: (r: Record<string, unknown>) => boolean): number => log.findIndex(pred);
    const shuttingDown = i((r) => r.msg === `SIGTERM: shutting down (grace period ${GRACE_SECONDS} s)`);
    const disconnected = i((r) => r.event === 'client.disconnected' && r.clientId === 'until-sigterm' && r.reason === 'shutdown');
    const stopped = i((r) => r.event === 'broker.stopped');
    const complete = i((r) => r.msg === 'shutdown complete');
    expect([shuttingDown, disconnected, stopped, complete].every((x) => x >= 0)).toBe(true);
    expect(shuttingDown < disconnected && disconnected < stopped && stopped < complete).toBe(true);
  });

  it('SIGINT takes the same path and exits 0', async () => {
    const child = await startChild();
    children.push(child);
    child.proc.kill('SIGINT');
    expect(await child.exited).toMatchObject({ code: 0, signal: null });
    expect(records(child).some((r) => r.msg === 'SIGINT: shutting down (grace period 5 s)')).toBe(true);
  });

  it('POST /api/v1/shutdown answers 202, then the process exits 0', async () => {
    const child = await startChild();
    children.push(child);
    const res = await fetch(`http://127.0.0.1:${child.adminPort}/api/v1/shutdown`, { method: 'POST', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ status: 'shutting down', gracePeriodSeconds: GRACE_SECONDS });
    expect(await child.exited).toMatchObject({ code: 0, signal: null });
    expect(records(child).some((r) => r.msg === 'admin API: shutting down (grace period 5 s)')).toBe(true);
  });
});
