import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { Broker, ConfigError } from '../../src';
import { nextMessage } from '../helpers/broker';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

describe('embedding API', () => {
  it('client() and session() are read-only snapshots: output and pause state of a connection, offline sessions', async () => {
    const broker = new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } }, limits: { 'session-expiry': 3600 } });
    await broker.start();
    try {
      const c = mqtt.connect(`mqtt://127.0.0.1:${broker.port()}`, { reconnectPeriod: 0, clientId: 'snap', clean: false });
      await new Promise((r) => c.once('connect', r));
      await c.subscribeAsync('t', { qos: 1 });
      expect(broker.client('snap')).toMatchObject({ bufferedBytes: 0, readPaused: false, throttled: false, writeBlocked: false, subscriptions: 1 });
      expect(broker.session('snap')).toMatchObject({ clientId: 'snap', clean: false, connected: true, subscriptions: 1, disconnectedAt: 0, expiresAt: null });
      await new Promise<void>((r) => c.end(false, {}, () => r()));
      for (let i = 0; i < 100 && broker.client('snap') !== undefined; i++) await new Promise((r) => setTimeout(r, 10));
      const pub = mqtt.connect(`mqtt://127.0.0.1:${broker.port()}`, { reconnectPeriod: 0 });
      await new Promise((r) => pub.once('connect', r));
      await pub.publishAsync('t', 'x', { qos: 1 });
      pub.end(true);
      const offline = broker.session('snap')!;
      expect(offline).toMatchObject({ connected: false, queued: 1, inflight: 0, subscriptions: 1 });
      expect(offline.expiresAt! - offline.disconnectedAt).toBe(3600 * 1000);
      expect(broker.session('nobody')).toBeUndefined();
    } finally {
      await broker.shutdown();
    }
  });

  it('starts from the smallest hbmqtt-style config, serves a client, and shuts down', async () => {
    const events: string[] = [];
    const broker = new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } } });
    for (const e of ['starting', 'started', 'stopping', 'stopped', 'clientConnected', 'clientDisconnected', 'clientSubscribed', 'clientUnsubscribed', 'messageReceived'] as const) {
      broker.on(e, () => events.push(e));
    }
    const t0 = process.hrtime.bigint();
    await broker.start();
    const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(startMs).toBeLessThan(1000);
    expect(broker.state).toBe('started');

    const c = mqtt.connect(`mqtt://127.0.0.1:${broker.port()}`, { reconnectPeriod: 0 });
    await new Promise((r) => c.once('connect', r));
    await c.subscribeAsync('t');
    const got = nextMessage(c);
    await c.publishAsync('t', 'x', { qos: 1 });
    expect((await got).payload.toString()).toBe('x');
    await c.unsubscribeAsync('t');
    expect(broker.clients().map((s) => s.clientId)).toEqual([c.options.clientId]);

    const closed = new Promise<void>((r) => c.once('close', () => r()));
    await broker.shutdown();
    await closed; // shutdown really closes client sockets
    expect(broker.state).toBe('stopped');
    expect(events).toEqual([
      'starting', 'started', 'clientConnected', 'clientSubscribed', 'messageReceived', 'clientUnsubscribed',
      'stopping', 'clientDisconnected', 'stopped',
    ]);
  });

  it('reports every config problem at once, by key path', () => {
    let err: unknown;
    try {
      new Broker({ listeners: { a: { bind: 'x:y' as string, type: 'udp' as 'tcp' } }, bogus: 1, limits: { 'max-packet-size': 0 } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'bogus: unknown key',
        expect.stringMatching(/^listeners\.a\.type: expected tcp or ws/),
        expect.stringMatching(/^listeners\.a\.bind: expected host:port/),
        expect.stringMatching(/^limits\.max-packet-size: expected an integer from 1 to 268435455/),
      ]),
    );
  });

  it('rejects start() with the listener and address when the port is taken', async () => {
    const a = new Broker({ listeners: { default: { bind: '127.0.0.1:0' } } });
    await a.start();
    const b = new Broker({ listeners: { mine: { bind: `127.0.0.1:${a.port()}` } } });
    await expect(b.start()).rejects.toThrow(/listeners\.mine\.bind: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    await a.shutdown();
  });

  it('the package entry gives Broker to require() and to import', async () => {
    const cjs = await run(process.execPath, ['-e', "const { Broker } = require('nestmq'); console.log(typeof Broker)"], { cwd: root });
    expect(cjs.stdout.trim()).toBe('function');
    const esm = await run(process.execPath, ['--input-type=module', '-e', "import { Broker } from 'nestmq'; console.log(typeof Broker)"], { cwd: root });
    expect(esm.stdout.trim()).toBe('function');
  });
});
