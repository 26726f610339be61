import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { TestBroker, nextMessage } from '../helpers/broker';

const run = promisify(execFile);

/** Debian's mosquitto_pub / mosquitto_sub (installed by .ci/run) against nestmq. */
describe('[MQTT-7.0.0-2] interoperability with mosquitto-clients', () => {
  let tb: TestBroker;
  beforeEach(async () => (tb = await TestBroker.start()));
  afterEach(() => tb.close());

  it.each([0, 1, 2])('mosquitto_pub at QoS %i reaches an MQTT.js subscriber', async (qos) => {
    const sub = await tb.client();
    await sub.subscribeAsync('interop/#', { qos: 2 });
    const got = nextMessage(sub);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-q', String(qos), '-t', 'interop/pub', '-m', `hello ${qos}`]);
    const m = await got;
    expect(m.topic).toBe('interop/pub');
    expect(m.payload.toString()).toBe(`hello ${qos}`);
    expect(m.packet.qos).toBe(qos);
  });

  it.each([0, 1, 2])('mosquitto_sub at QoS %i receives live and retained messages', async (qos) => {
    const pub = await tb.client();
    await pub.publishAsync('interop/retained', 'kept', { qos: 1, retain: true });
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(tb.port), '-q', String(qos), '-t', 'interop/#', '-v', '-C', '2', '-W', '5']);
    let out = '';
    let err = '';
    sub.stdout.on('data', (d) => (out += d));
    sub.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => sub.once('exit', r));
    // Wait until the subscription exists (the retained copy arrives first), then publish live.
    await new Promise<void>((resolve) => {
      const check = (): void => void (out.includes('interop/retained kept') && resolve());
      sub.stdout.on('data', check);
      void exited.then(() => resolve()); // -W 5 bounds the wait
      check();
    });
    expect({ out, err }).toEqual({ out: 'interop/retained kept\n', err: '' });
    await pub.publishAsync('interop/live', 'now', { qos: 2 });
    const code = await exited;
    expect(code).toBe(0);
    expect(out.trim().split('\n')).toEqual(['interop/retained kept', 'interop/live now']);
  });

  it('mosquitto_sub with a persistent session gets QoS 1 messages published while it was away', async () => {
    const args = ['-h', '127.0.0.1', '-p', String(tb.port), '-q', '1', '-t', 'offline/t', '-i', 'mosq-persist', '-c'];
    // First run: create the session and subscription, then leave.
    await run('mosquitto_sub', [...args, '-W', '1']).catch(() => undefined);
    const pub = await tb.client();
    await pub.publishAsync('offline/t', 'while away', { qos: 1 });
    const { stdout } = await run('mosquitto_sub', [...args, '-C', '1', '-W', '5']);
    expect(stdout.trim()).toBe('while away');
  });
});
