/**
 * shutdown-drain-delay: readiness answers 503 first while the listeners keep serving, then the
 * drain closes the clients. And the queue and authentication-failure metrics the monitoring kit
 * (deploy/monitoring) queries.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type BrokerConfigInput, hashPassword, validateConfig } from '../../src';
import { type NestmqService, startService } from '../../src/service';
import { waitFor } from '../helpers/wait';

const clients: MqttClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.end(true);
});

function connect(url: string, options: IClientOptions = {}): Promise<{ code: number; client: MqttClient }> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 4, ...options });
    clients.push(c);
    c.once('connect', () => resolve({ code: 0, client: c }));
    c.once('error', (err: Error & { code?: number }) => {
      c.end(true);
      resolve({ code: err.code ?? -1, client: c });
    });
  });
}

async function start(config: BrokerConfigInput): Promise<NestmqService> {
  return startService(validateConfig({ listeners: { tcp: { bind: '127.0.0.1:0' } }, admin: { bind: '127.0.0.1:0' }, ...config }), {
    logDestination: { write: () => undefined },
  });
}

describe('shutdown-drain-delay', () => {
  it('readiness answers 503 during the delay while MQTT clients can still connect; then every client is closed', async () => {
    const service = await start({ 'shutdown-drain-delay': 1.5 });
    const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${service.adminAddress!.port}/health/ready`)).status;
    const url = `mqtt://127.0.0.1:${service.broker.port('tcp')}`;
    expect(await ready()).toBe(200);
    const early = await connect(url, { clientId: 'early' });
    const earlyClosed = new Promise<number>((resolve) => early.client.once('close', () => resolve(Date.now())));
    const t0 = Date.now();
    const stopped = service.shutdown('SIGTERM');
    expect(await ready()).toBe(503);
    // A client the load balancer still sends is served.
    expect((await connect(url, { clientId: 'late' })).code).toBe(0);
    expect(await ready()).toBe(503);
    expect(early.client.connected).toBe(true);
    const closedAt = await earlyClosed;
    expect(closedAt - t0).toBeGreaterThanOrEqual(1400);
    await stopped;
    expect(service.broker.state).toBe('stopped');
  });

  it('is validated: a number of seconds from 0 to 3600', () => {
    expect(() => validateConfig({ 'shutdown-drain-delay': -1 })).toThrow('shutdown-drain-delay: expected a number from 0 to 3600, got -1');
    expect(validateConfig({}).shutdownDrainDelay).toBe(0);
  });
});

describe('metrics the monitoring kit needs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestmq-metrics-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function metric(text: string, name: string): number {
    const escaped = name.replace(/[{}"]/g, (c) => `\\${c}`);
    const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
    if (m === null) throw new Error(`no metric ${name}`);
    return Number(m[1]);
  }

  it('nestmq_auth_failures_total counts refusals by the auth plugins; nestmq_queued_* follow the session queues', async () => {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `alice:${await hashPassword('alice-pw', 4)}\n`);
    const service = await start({
      auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': passwd },
      limits: { 'max-queued-bytes': 123456, 'max-queued-bytes-per-session': 10 },
    });
    try {
      const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${service.adminAddress!.port}/metrics`)).text();
      const url = `mqtt://127.0.0.1:${service.broker.port('tcp')}`;
      let text = await scrape();
      expect([metric(text, 'nestmq_auth_failures_total'), metric(text, 'nestmq_queued_messages'), metric(text, 'nestmq_queued_bytes')]).toEqual([0, 0, 0]);
      expect(metric(text, 'nestmq_queued_bytes_limit')).toBe(123456);
      expect((await connect(url, { clientId: 'x1', username: 'alice', password: 'wrong' })).code).toBe(4);
      expect((await connect(url, { clientId: 'x2', username: 'mallory', password: 'pw' })).code).toBe(4);
      expect((await connect(url, { clientId: 'x3' })).code).toBe(5);
      // An offline persistent session with a QoS 1 subscription queues what is published.
      const sub = await connect(url, { clientId: 'sub', username: 'alice', password: 'alice-pw', clean: false });
      await new Promise<void>((resolve, reject) => sub.client.subscribe('q/#', { qos: 1 }, (err) => (err ? reject(err) : resolve())));
      await new Promise<void>((resolve) => sub.client.end(false, {}, () => resolve()));
      await waitFor(() => service.broker.clientCount === 0, 3000, 'the subscriber to leave');
      const pub = await connect(url, { clientId: 'pub', username: 'alice', password: 'alice-pw' });
      for (let i = 0; i < 3; i++) await pub.client.publishAsync('q/1', Buffer.alloc(100), { qos: 1 });
      text = await scrape();
      expect(metric(text, 'nestmq_auth_failures_total')).toBe(3);
      expect(metric(text, 'nestmq_queued_messages')).toBe(3);
      expect(metric(text, 'nestmq_queued_bytes')).toBe(300);
      // Beyond the 10-byte reserve: 290 bytes count against max-queued-bytes.
      expect(metric(text, 'nestmq_queued_bytes_shared')).toBe(290);
      // CONNACKs by Reason Code: the 3.1.1 return codes 4 and 5 count as 0x86 and 0x87.
      expect(metric(text, 'nestmq_connack_sent_total{reason_code="0x86"}')).toBe(2);
      expect(metric(text, 'nestmq_connack_sent_total{reason_code="0x87"}')).toBe(1);
      expect(metric(text, 'nestmq_connack_sent_total{reason_code="0x00"}')).toBe(2);
      // No DISCONNECT is sent to a 3.1.1 client: the family is there, with no sample.
      expect(text).toMatch(/^# TYPE nestmq_disconnect_sent_total counter$/m);
      expect(text).not.toMatch(/^nestmq_disconnect_sent_total\{/m);
    } finally {
      await service.shutdown('test');
    }
  });
});
