import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const main = join(root, 'dist', 'main.js');

describe('nestmq command line (the package bin)', () => {
  it('--help and --version', async () => {
    const help = await run(process.execPath, [main, '--help']);
    expect(help.stdout).toMatch(/--config FILE/);
    const version = await run(process.execPath, [main, '--version']);
    expect(version.stdout.trim()).toBe(require('../../package.json').version);
  });

  it('a bad config file stops start-up with one message naming the file and the keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'listeners:\n  default:\n    bind: "nope"\n    max-connections: lots\nsys_interval: -3\n');
    const err = await run(process.execPath, [main, '--config', file]).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain(file);
    expect(err.stderr).toMatch(/listeners\.default\.bind: expected host:port/);
    expect(err.stderr).toMatch(/listeners\.default\.max-connections: expected an integer/);
    expect(err.stderr).toMatch(/sys_interval: expected a number/);
    expect(err.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a missing config file is named in the error', async () => {
    const err = await run(process.execPath, [main, '--config', '/nonexistent/broker.yaml']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/\/nonexistent\/broker\.yaml.*\n.*ENOENT/);
  });

  it('serves MQTT from a YAML file and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-'));
    const file = join(dir, 'broker.yaml');
    writeFileSync(file, 'listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:0\nadmin:\n  bind: 127.0.0.1:0\n');
    const child = spawn(process.execPath, [main, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /bound to mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    await new Promise((r) => c.once('connect', r));
    c.end(true);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
