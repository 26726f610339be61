import 'reflect-metadata';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import request from 'supertest';
import { type BrokerConfigInput, validateConfig } from '../../src';
import { adminAccess, isLoopback, isLoopbackHost, isLoopbackOrigin, tokenDigest } from '../../src/modules/admin/admin-token.guard';
import { ShutdownService } from '../../src/modules/admin/shutdown.service';
import { type NestmqService, startService } from '../../src/service';
import { waitFor } from '../helpers/wait';

const TOKEN = 'test-admin-token-0123456789abcdef';
const JSON_TYPE = { 'Content-Type': 'application/json' };

/** The service in-process on ephemeral ports (MQTT and admin HTTP), its log lines collected. */
class TestService {
  readonly logs: string[] = [];
  readonly clients: MqttClient[] = [];
  service!: NestmqService;

  static async start(config: BrokerConfigInput = {}): Promise<TestService> {
    const t = new TestService();
    t.service = await startService(
      validateConfig({
        listeners: { 'tcp-a': { bind: '127.0.0.1:0' }, 'tcp-b': { bind: '127.0.0.1:0' } },
        admin: { bind: '127.0.0.1:0' },
        logging: { level: 'debug' },
        ...config,
      }),
      { logDestination: { write: (line: string) => void t.logs.push(line) } },
    );
    return t;
  }

  get http(): string {
    return `http://127.0.0.1:${this.service.adminAddress!.port}`;
  }

  mqttUrl(listener = 'tcp-a'): string {
    return `mqtt://127.0.0.1:${this.service.broker.port(listener)}`;
  }

  async client(options: IClientOptions & { listener?: string } = {}): Promise<MqttClient> {
    const c = mqtt.connect(this.mqttUrl(options.listener), { reconnectPeriod: 0, protocolVersion: 4, ...options });
    this.clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end(true);
    await this.service.shutdown('test');
  }
}

/** One sample of a Prometheus metric from the text exposition. */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  if (m === null) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

describe('admin HTTP: health, clients, stats, metrics, OpenAPI (no token: loopback only)', () => {
  let t: TestService;
  beforeAll(async () => (t = await TestService.start()));
  afterAll(() => t.close());

  it('liveness and readiness answer 200 with the indicators, without a token', async () => {
    const live = await request(t.http).get('/health/live').expect(200);
    expect(live.body.status).toBe('ok');
    expect(live.body.details.process).toMatchObject({ status: 'up', pid: process.pid });

    const ready = await request(t.http).get('/health/ready').expect(200);
    expect(ready.body.details.broker).toMatchObject({ status: 'up', state: 'started' });
    expect(ready.body.details.listeners).toMatchObject({
      status: 'up',
      'tcp-a': { bound: true, address: `127.0.0.1:${t.service.broker.port('tcp-a')}` },
      'tcp-b': { bound: true },
    });
    expect(ready.body.details.persistence).toMatchObject({ status: 'up', backend: 'memory' });
  });

  it('lists real MQTT.js clients with their fields, sorted, paged and filtered', async () => {
    const before = Date.now();
    const a = await t.client({ clientId: 'list-a', username: 'alice', keepalive: 30, clean: true });
    await t.client({ clientId: 'list-b', username: 'bob', keepalive: 45, clean: false, listener: 'tcp-b' });
    await t.client({ clientId: 'list-c', username: 'alice', keepalive: 0 });
    await a.subscribeAsync({ 'x/+': { qos: 1 }, 'y/#': { qos: 0 } });

    const all = await request(t.http).get('/api/v1/clients?clientIdPrefix=list-').expect(200);
    expect(all.body).toMatchObject({ total: 3, offset: 0, limit: 100 });
    expect(all.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['list-a', 'list-b', 'list-c']);
    const itemA = all.body.items[0];
    expect(itemA).toEqual({
      clientId: 'list-a',
      username: 'alice',
      remoteAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      listener: 'tcp-a',
      protocolLevel: 4,
      connectedAt: expect.any(String),
      keepalive: 30,
      cleanSession: true,
      subscriptions: 2,
      inflight: 0,
      queued: 0,
    });
    expect(Date.parse(itemA.connectedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(itemA.remoteAddress).toBe(`127.0.0.1:${(a.stream as unknown as { localPort: number }).localPort}`);
    expect(all.body.items[1]).toMatchObject({ listener: 'tcp-b', keepalive: 45, cleanSession: false, username: 'bob' });

    const page1 = await request(t.http).get('/api/v1/clients?clientIdPrefix=list-&limit=2').expect(200);
    expect(page1.body.total).toBe(3);
    expect(page1.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['list-a', 'list-b']);
    const page2 = await request(t.http).get('/api/v1/clients?clientIdPrefix=list-&limit=2&offset=2').expect(200);
    expect(page2.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['list-c']);

    const alice = await request(t.http).get('/api/v1/clients?username=alice').expect(200);
    expect(alice.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['list-a', 'list-c']);
    const onB = await request(t.http).get('/api/v1/clients?listener=tcp-b').expect(200);
    expect(onB.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['list-b']);

    await request(t.http).get('/api/v1/clients?limit=0').expect(400);
    await request(t.http).get('/api/v1/clients?limit=5000').expect(400);
    await request(t.http).get('/api/v1/clients?offset=-1').expect(400);
    await request(t.http).get('/api/v1/clients?limit=abc').expect(400);
  });

  it('shows one client with its subscriptions; 404 for an unknown one', async () => {
    const c = await t.client({ clientId: 'one/with space', username: 'carol' });
    await c.subscribeAsync('sensors/+/temp', { qos: 1 });
    const res = await request(t.http).get(`/api/v1/clients/${encodeURIComponent('one/with space')}`).expect(200);
    expect(res.body).toMatchObject({ clientId: 'one/with space', username: 'carol', subscriptions: 1 });
    expect(res.body.subscriptionList).toEqual([{ filter: 'sensors/+/temp', qos: 1 }]);
    await request(t.http).get('/api/v1/clients/nobody-here').expect(404);
  });

  it('disconnecting a client closes its socket; discardSession drops its persistent session', async () => {
    const c = await t.client({ clientId: 'kick-me', clean: false });
    await c.subscribeAsync('k/#', { qos: 1 });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const res = await request(t.http).delete('/api/v1/clients/kick-me').set(JSON_TYPE).expect(200);
    expect(res.body).toEqual({ clientId: 'kick-me', disconnected: true, sessionDiscarded: false });
    await closed;
    await request(t.http).get('/api/v1/clients/kick-me').expect(404);
    const stats = await request(t.http).get('/api/v1/stats').expect(200);
    const sessions = stats.body.sessions;

    // The persistent session outlived the connection; discarding it works while offline.
    const gone = await request(t.http).delete('/api/v1/clients/kick-me?discardSession=true').set(JSON_TYPE).expect(200);
    expect(gone.body).toEqual({ clientId: 'kick-me', disconnected: false, sessionDiscarded: true });
    expect((await request(t.http).get('/api/v1/stats')).body.sessions).toBe(sessions - 1);
    await request(t.http).delete('/api/v1/clients/kick-me?discardSession=true').set(JSON_TYPE).expect(404);
    await request(t.http).delete('/api/v1/clients/kick-me').set(JSON_TYPE).expect(404);
    await request(t.http).delete('/api/v1/clients/kick-me?discardSession=maybe').set(JSON_TYPE).expect(400);
  });

  it('MQTT 5 clients: protocolLevel 5 in the clients and sessions views, connected clients by protocol version in /metrics, an admin DISCONNECT counted by reason code', async () => {
    const five = await t.client({ clientId: 'proto-5', protocolVersion: 5 });
    await t.client({ clientId: 'proto-4' });
    const clients = (await request(t.http).get('/api/v1/clients?clientIdPrefix=proto-').expect(200)).body;
    expect(clients.items.map((c: { clientId: string; protocolLevel: number }) => [c.clientId, c.protocolLevel])).toEqual([['proto-4', 4], ['proto-5', 5]]);
    const sessions = (await request(t.http).get('/api/v1/sessions?clientIdPrefix=proto-').expect(200)).body;
    expect(sessions.items.map((s: { clientId: string; protocolLevel: number | null }) => [s.clientId, s.protocolLevel])).toEqual([['proto-4', 4], ['proto-5', 5]]);
    const m0 = (await request(t.http).get('/metrics').expect(200)).text;
    expect(metric(m0, 'nestmq_clients_connected_by_protocol{protocol_version="5.0"}')).toBeGreaterThanOrEqual(1);
    expect(metric(m0, 'nestmq_clients_connected_by_protocol{protocol_version="3.1"}')).toBe(0);
    const before = /^nestmq_disconnect_sent_total\{reason_code="0x98"\} (\d+)$/m.exec(m0);

    // The admin disconnect is DISCONNECT 0x98 Administrative action to the v5 client, counted.
    const reason = new Promise<number | undefined>((resolve) => five.once('disconnect', (p) => resolve(p.reasonCode)));
    await request(t.http).delete('/api/v1/clients/proto-5').set(JSON_TYPE).expect(200);
    expect(await reason).toBe(0x98);
    const m1 = (await request(t.http).get('/metrics').expect(200)).text;
    expect(metric(m1, 'nestmq_disconnect_sent_total{reason_code="0x98"}')).toBe((before === null ? 0 : Number(before[1])) + 1);
    expect(metric(m1, 'nestmq_clients_connected_by_protocol{protocol_version="5.0"}')).toBe(metric(m0, 'nestmq_clients_connected_by_protocol{protocol_version="5.0"}') - 1);
  });

  it('stats and metrics move when clients publish', async () => {
    const s0 = (await request(t.http).get('/api/v1/stats').expect(200)).body;
    const m0 = (await request(t.http).get('/metrics').expect(200)).text;
    const sub = await t.client({ clientId: 'stats-sub' });
    await sub.subscribeAsync('stats/#', { qos: 1 });
    const pub = await t.client({ clientId: 'stats-pub' });
    const got = new Promise<void>((resolve) => {
      let n = 0;
      sub.on('message', () => ++n === 5 && resolve());
    });
    for (let i = 0; i < 5; i++) await pub.publishAsync(`stats/${i}`, 'payload', { qos: 1, retain: i === 0 });
    await got;

    const s1 = (await request(t.http).get('/api/v1/stats').expect(200)).body;
    expect(s1.state).toBe('started');
    expect(s1.uptimeSeconds).toBeGreaterThan(0);
    expect(s1.connections.clients).toBe(s0.connections.clients + 2);
    expect(s1.connections.total).toBe(s0.connections.total + 2);
    expect(s1.subscriptions).toBe(s0.subscriptions + 1);
    expect(s1.retained).toBe(s0.retained + 1);
    expect(s1.messages.received).toBe(s0.messages.received + 5);
    expect(s1.messages.sent).toBe(s0.messages.sent + 5);
    expect(s1.messages.publishReceived).toBe(s0.messages.publishReceived + 5);
    expect(s1.bytes.received).toBeGreaterThan(s0.bytes.received);
    expect(s1.bytes.sent).toBeGreaterThan(s0.bytes.sent);

    const res = await request(t.http).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    const m1 = res.text;
    expect(metric(m1, 'nestmq_messages_received_total')).toBe(metric(m0, 'nestmq_messages_received_total') + 5);
    expect(metric(m1, 'nestmq_publish_received_total')).toBe(metric(m0, 'nestmq_publish_received_total') + 5);
    expect(metric(m1, 'nestmq_messages_sent_total')).toBe(metric(m0, 'nestmq_messages_sent_total') + 5);
    expect(metric(m1, 'nestmq_bytes_received_total')).toBeGreaterThan(metric(m0, 'nestmq_bytes_received_total'));
    expect(metric(m1, 'nestmq_clients_connected')).toBe(s1.connections.clients);
    expect(metric(m1, 'nestmq_retained_messages')).toBe(s1.retained);
    expect(metric(m1, 'nestmq_up')).toBe(1);
    expect(metric(m1, 'nestmq_listener_connections{listener="tcp-a"}')).toBeGreaterThanOrEqual(2);
    expect(metric(m1, 'nestmq_messages_dropped_total{reason="queue_full"}')).toBe(0);
    // prom-client's default process metrics are there too.
    expect(m1).toMatch(/^process_cpu_user_seconds_total /m);
    expect(m1).toMatch(/^nodejs_heap_size_used_bytes /m);
  });

  it('serves its OpenAPI description at /api/docs (UI) and /api/docs-json', async () => {
    const doc = (await request(t.http).get('/api/docs-json').expect(200)).body;
    expect(doc.openapi).toMatch(/^3\./);
    // The operations routes (sessions, retained, users, trace...) are checked in admin-operations.test.ts.
    expect(Object.keys(doc.paths).sort()).toEqual(
      expect.arrayContaining(['/api/v1/clients', '/api/v1/clients/{clientId}', '/api/v1/reload', '/api/v1/shutdown', '/api/v1/stats', '/health/live', '/health/ready', '/metrics']),
    );
    expect(Object.keys(doc.paths['/api/v1/clients/{clientId}']).sort()).toEqual(['delete', 'get']);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.ClientSummaryDto.required).toEqual(expect.arrayContaining(['clientId', 'remoteAddress', 'inflight', 'queued']));
    const ui = await request(t.http).get('/api/docs').expect(200);
    expect(ui.text).toMatch(/swagger-ui/i);
  });

  it('logs connection lifecycle at info and packets at debug, as JSON lines', async () => {
    const c = await t.client({ clientId: 'logged', username: 'dave' });
    await c.subscribeAsync('log/me', { qos: 0 });
    await c.publishAsync('log/me', 'secret-payload-text', { qos: 1 });
    c.end(true);
    await waitFor(() => t.logs.some((l) => l.includes('"client.disconnected"') && l.includes('"logged"')));
    const records = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r.event === 'client.connected' && r.clientId === 'logged')).toMatchObject({
      level: 30,
      username: 'dave',
      listener: 'tcp-a',
      remoteAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(records.find((r) => r.event === 'client.disconnected' && r.clientId === 'logged')).toMatchObject({ level: 30, reason: 'closed' });
    expect(records.find((r) => r.event === 'client.subscribed' && r.clientId === 'logged')).toMatchObject({ level: 20, filter: 'log/me' });
    expect(records.find((r) => r.event === 'message.received' && r.clientId === 'logged')).toMatchObject({ level: 20, topic: 'log/me', qos: 1, bytes: 19 });
    // Payloads are never logged.
    expect(t.logs.join('')).not.toContain('secret-payload-text');
  });
});

describe('admin token', () => {
  let t: TestService;
  beforeAll(async () => (t = await TestService.start({ admin: { bind: '127.0.0.1:0', token: TOKEN }, logging: { level: 'debug' } })));
  afterAll(() => t.close());

  it('every API route needs the bearer token: none or a wrong one gets 401, the right one 200', async () => {
    for (const path of ['/api/v1/stats', '/api/v1/clients', '/api/v1/clients/x']) {
      const none = await request(t.http).get(path).expect(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      await request(t.http).get(path).set('Authorization', `Bearer ${TOKEN}x`).expect(401);
      await request(t.http).get(path).set('Authorization', 'Bearer short').expect(401);
      await request(t.http).get(path).set('Authorization', `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`).expect(401);
    }
    await request(t.http).delete('/api/v1/clients/x').set(JSON_TYPE).expect(401);
    await request(t.http).post('/api/v1/shutdown').set('Authorization', 'Bearer wrong-token').expect(401);
    expect(t.service.broker.state).toBe('started');

    await request(t.http).get('/api/v1/stats').set('Authorization', `Bearer ${TOKEN}`).expect(200);
    await request(t.http).get('/api/v1/clients').set('Authorization', `bearer ${TOKEN}`).expect(200);
    // The OpenAPI UI and document are open (they hold no secret; a browser cannot send the token for the UI's assets).
    await request(t.http).get('/api/docs-json').expect(200);
  });

  it('health and metrics stay open', async () => {
    await request(t.http).get('/health/live').expect(200);
    await request(t.http).get('/health/ready').expect(200);
    await request(t.http).get('/metrics').expect(200);
  });

  it('the token never appears in the logs, whatever the level', async () => {
    await request(t.http).get('/api/v1/stats').set('Authorization', `Bearer ${TOKEN}`).expect(200);
    await request(t.http).get('/api/v1/stats').set('Authorization', `Bearer ${TOKEN}-wrong`).expect(401);
    const all = t.logs.join('\n');
    expect(all).toContain('GET /api/v1/stats 200');
    expect(all).toContain('GET /api/v1/stats 401');
    expect(all).not.toContain(TOKEN);
    expect(all.toLowerCase()).not.toContain('authorization');
  });
});

/** One real HTTP request with exactly these headers (Host included); resolves with status and body. */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, setHost: false, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('admin without a token: cross-site requests and DNS rebinding', () => {
  let t: TestService;
  let shutdownRequests: string[];
  beforeAll(async () => {
    t = await TestService.start({ logging: { level: 'error' } });
    shutdownRequests = [];
    t.service.onShutdownRequest((reason) => void shutdownRequests.push(reason));
  });
  afterAll(() => t.close());

  const port = (): number => t.service.adminAddress!.port;

  it('the attack: POST /api/v1/shutdown with a foreign Origin, a rebound Host and text/plain gets 403; the broker runs on', async () => {
    const res = await rawRequest(port(), 'POST', '/api/v1/shutdown', {
      Host: 'rebind.evil.example',
      Origin: 'http://evil.example',
      'Content-Type': 'text/plain',
    }, 'x');
    expect(res.status).toBe(403);
    expect(shutdownRequests).toEqual([]);
    expect(t.service.broker.state).toBe('started');
  });

  it('a rebound Host alone is refused (403), for reads too; loopback names with any port pass', async () => {
    for (const host of ['rebind.evil.example', `rebind.evil.example:${port()}`, '127.0.0.1.evil.example', 'localhost.evil.example', '10.0.0.1']) {
      expect((await rawRequest(port(), 'GET', '/api/v1/stats', { Host: host })).status).toBe(403);
    }
    // No Host at all: Node's HTTP server itself answers 400.
    expect((await rawRequest(port(), 'GET', '/api/v1/stats', {})).status).toBe(400);
    for (const host of ['localhost', `localhost:${port()}`, `127.0.0.1:${port()}`, '127.0.0.2', `[::1]:${port()}`, 'LOCALHOST']) {
      expect((await rawRequest(port(), 'GET', '/api/v1/stats', { Host: host })).status).toBe(200);
    }
    // Probes and metrics stay open to any Host (Kubernetes probes name the pod IP).
    expect((await rawRequest(port(), 'GET', '/health/live', { Host: '10.1.2.3:18883' })).status).toBe(200);
  });

  it('a foreign Origin is refused (403) even with a loopback Host; a loopback Origin passes', async () => {
    const host = `127.0.0.1:${port()}`;
    for (const origin of ['http://evil.example', 'null', 'http://localhost.evil.example', 'file://']) {
      expect((await rawRequest(port(), 'GET', '/api/v1/stats', { Host: host, Origin: origin })).status).toBe(403);
      expect((await rawRequest(port(), 'DELETE', '/api/v1/clients/nobody', { Host: host, Origin: origin, 'Content-Type': 'application/json' })).status).toBe(403);
    }
    expect((await rawRequest(port(), 'GET', '/api/v1/stats', { Host: host, Origin: 'http://localhost:3000' })).status).toBe(200);
    expect((await rawRequest(port(), 'GET', '/api/v1/stats', { Host: host, Origin: `http://127.0.0.1:${port()}` })).status).toBe(200);
  });

  it('state-changing requests need Content-Type: application/json or X-Nestmq-Request (else 415)', async () => {
    const host = `localhost:${port()}`;
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const headers: Record<string, string> = { Host: host };
      if (type !== undefined) headers['Content-Type'] = type;
      expect((await rawRequest(port(), 'POST', '/api/v1/shutdown', headers)).status).toBe(415);
      expect((await rawRequest(port(), 'DELETE', '/api/v1/clients/nobody', headers)).status).toBe(415);
    }
    expect(shutdownRequests).toEqual([]);
    expect((await rawRequest(port(), 'DELETE', '/api/v1/clients/nobody', { Host: host, 'X-Nestmq-Request': '1' })).status).toBe(404);
    expect((await rawRequest(port(), 'DELETE', '/api/v1/clients/nobody', { Host: host, 'Content-Type': 'application/json; charset=utf-8' })).status).toBe(404);
    expect((await rawRequest(port(), 'POST', '/api/v1/shutdown', { Host: host, 'Content-Type': 'application/json' })).status).toBe(202);
    expect(shutdownRequests).toEqual(['admin API']);
  });

  it('with a token, any Host may call, but state-changing requests still need the JSON type or the header', async () => {
    const tt = await TestService.start({ admin: { bind: '127.0.0.1:0', token: TOKEN }, logging: { level: 'error' } });
    try {
      const p = tt.service.adminAddress!.port;
      const auth = { Authorization: `Bearer ${TOKEN}`, Host: 'broker.example.net' };
      expect((await rawRequest(p, 'GET', '/api/v1/stats', auth)).status).toBe(200);
      expect((await rawRequest(p, 'DELETE', '/api/v1/clients/nobody', { ...auth, 'Content-Type': 'text/plain' })).status).toBe(415);
      expect((await rawRequest(p, 'DELETE', '/api/v1/clients/nobody', { ...auth, 'Content-Type': 'application/json' })).status).toBe(404);
    } finally {
      await tt.close();
    }
  });

  it('the Host and Origin rules on their own', () => {
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('[::1]:8080')).toBe(true);
    expect(isLoopbackHost('[::2]:8080')).toBe(false);
    expect(isLoopbackHost('127.0.0.1:99999')).toBe(false);
    expect(isLoopbackHost(undefined)).toBe(false);
    expect(isLoopbackOrigin('https://localhost')).toBe(true);
    expect(isLoopbackOrigin('http://127.0.0.1:8080')).toBe(true);
    expect(isLoopbackOrigin('http://127.0.0.1@evil.example')).toBe(false);
    expect(isLoopbackOrigin('null')).toBe(false);
  });
});

describe('admin slow clients (slowloris) and the connection cap', () => {
  let t: TestService;
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    t = await TestService.start({
      admin: { bind: '127.0.0.1:0', 'headers-timeout': 1, 'request-timeout': 2, 'max-connections': 4 },
      logging: { level: 'error' },
    });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await t.close();
  });

  /** A raw TCP connection to the admin port, resolved once connected. */
  async function open(): Promise<net.Socket> {
    const s = net.connect(t.service.adminAddress!.port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return s;
  }

  /** Milliseconds until the server closes `s` while `drip` sends a byte every 100 ms; fails after `ms`. */
  function closedWhileDripping(s: net.Socket, drip: string, ms: number): Promise<number> {
    const start = Date.now();
    let i = 0;
    const timer = setInterval(() => s.writable && s.write(drip[i++ % drip.length]), 100);
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        clearInterval(timer);
        reject(new Error(`still open after ${ms} ms`));
      }, ms);
      s.once('close', () => {
        clearInterval(timer);
        clearTimeout(deadline);
        resolve(Date.now() - start);
      });
    });
  }

  it('headers sent a byte at a time: closed within admin.headers-timeout (1 s), counted', async () => {
    const s = await open();
    s.write('GET /api/v1/stats HTTP/1.1\r\nHost: localhost\r\n');
    const ms = await closedWhileDripping(s, 'X-Slow: aaaaaaaaaaaaaaaa\r\n', 5000);
    expect(ms).toBeLessThan(2500);
  });

  it('a body sent a byte at a time: closed within admin.request-timeout (2 s)', async () => {
    const s = await open();
    s.write('POST /api/v1/shutdown HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n');
    const ms = await closedWhileDripping(s, ' ', 6000);
    expect(ms).toBeLessThan(3500);
    expect(t.service.broker.state).toBe('started');
  });

  it('connections over admin.max-connections (4) are closed at accept, counted; the API answers again once they go', async () => {
    const held = [await open(), await open(), await open(), await open()];
    const over = await open();
    const closedAt = Date.now();
    await new Promise<void>((resolve) => (over.destroyed ? resolve() : over.once('close', () => resolve())));
    expect(Date.now() - closedAt).toBeLessThan(1000);
    for (const s of held) s.destroy();
    // The server notices the closes (its count drops), then answers again.
    const server = (t.service.app as unknown as { getHttpServer(): net.Server }).getHttpServer();
    await waitFor(() => new Promise<boolean>((r) => server.getConnections((_e, n) => r(n === 0))), 5000, "the admin server to count 0 connections");
    await request(t.http).get('/health/live').expect(200);
    const text = (await request(t.http).get('/metrics').expect(200)).text;
    expect(metric(text, 'nestmq_admin_connections_closed_total{reason="max_connections"}')).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'nestmq_admin_connections_closed_total{reason="request_timeout"}')).toBeGreaterThanOrEqual(2);
  });
});

describe('admin access rule (the guard\'s decision, by socket address)', () => {
  const digest = tokenDigest(TOKEN);

  it('without a token: loopback clients only', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(adminAccess(null, undefined, a)).toBe('allowed');
    for (const a of ['10.0.0.5', '192.168.1.20', '::ffff:10.1.1.1', 'fe80::1', '128.0.0.1', '', undefined]) {
      expect(adminAccess(null, undefined, a)).toBe('forbidden');
    }
    // A header never stands in for the socket address.
    expect(adminAccess(null, `Bearer ${TOKEN}`, '10.0.0.5')).toBe('forbidden');
    expect(isLoopback('127.0.0.1.evil')).toBe(false);
  });

  it('with a token: the bearer token, from any address', () => {
    expect(adminAccess(digest, `Bearer ${TOKEN}`, '10.0.0.5')).toBe('allowed');
    expect(adminAccess(digest, `Bearer ${TOKEN}`, '127.0.0.1')).toBe('allowed');
    expect(adminAccess(digest, undefined, '127.0.0.1')).toBe('unauthorized');
    expect(adminAccess(digest, `Bearer ${TOKEN.slice(0, -1)}`, '10.0.0.5')).toBe('unauthorized');
    expect(adminAccess(digest, `Bearer ${TOKEN} extra`, '10.0.0.5')).toBe('unauthorized');
    expect(adminAccess(digest, TOKEN, '10.0.0.5')).toBe('unauthorized');
  });

  it('over HTTP, a loopback client passes without a token', async () => {
    const t = await TestService.start({ logging: { level: 'error' } });
    try {
      await request(t.http).get('/api/v1/stats').expect(200);
    } finally {
      await t.close();
    }
  });
});

describe('shutdown through the admin surface', () => {
  it('probes flip to 503 during shutdown: draining first, then the broker stopped', async () => {
    const t = await TestService.start({ logging: { level: 'error' } });
    try {
      await request(t.http).get('/health/ready').expect(200);
      // The shutdown's first step: readiness answers 503 at once, while the listeners still serve.
      t.service.app.get(ShutdownService).beginDrain('test');
      const draining = await request(t.http).get('/health/ready').expect(503);
      expect(draining.body.status).toBe('error');
      expect(draining.body.error.broker).toMatchObject({ status: 'down', state: 'started', shuttingDown: 'test' });
      expect(draining.body.details.listeners.status).toBe('up');
      await request(t.http).get('/health/live').expect(200);

      // Then the broker stops: listeners unbound, clients closed; HTTP still answers until the app closes.
      const c = await t.client({ clientId: 'until-the-end' });
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      await t.service.broker.shutdown();
      await closed;
      const stopped = await request(t.http).get('/health/ready').expect(503);
      expect(stopped.body.error.broker).toMatchObject({ status: 'down', state: 'stopped' });
      expect(stopped.body.error.listeners).toMatchObject({ status: 'down', 'tcp-a': { bound: false } });
      expect(stopped.body.error.persistence).toMatchObject({ status: 'down' });
      expect(metric((await request(t.http).get('/metrics').expect(200)).text, 'nestmq_up')).toBe(0);
      await request(t.http).get('/health/live').expect(200);
    } finally {
      await t.close();
    }
  });

  it('POST /api/v1/shutdown answers 202 first, then the service shuts down', async () => {
    const t = await TestService.start({ logging: { level: 'error' }, 'shutdown-grace-period': 7 });
    const c = await t.client({ clientId: 'bye' });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const res = await request(t.http).post('/api/v1/shutdown').set(JSON_TYPE).expect(202);
    expect(res.body).toEqual({ status: 'shutting down', gracePeriodSeconds: 7 });
    await closed;
    await waitFor(() => t.service.broker.state === 'stopped');
    await waitFor(async () => (await fetch(`${t.http}/health/live`).then(() => false, () => true)));
    await t.service.shutdown('test'); // idempotent: the same promise
  });

  it('readiness checks a durable store (SQLite) and reports the backend', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-admin-'));
    const t = await TestService.start({ logging: { level: 'error' }, persistence: { backend: 'sqlite', path: join(dir, 'nestmq.db') } });
    try {
      const ready = await request(t.http).get('/health/ready').expect(200);
      expect(ready.body.details.persistence).toEqual({ status: 'up', backend: 'sqlite' });
    } finally {
      await t.close();
    }
  });

  it('with admin disabled the service runs as an application context', async () => {
    const service = await startService(
      validateConfig({ listeners: { default: { bind: '127.0.0.1:0' } }, admin: { enabled: false }, logging: { level: 'error' } }),
      { logDestination: { write: () => undefined } },
    );
    expect(service.adminAddress).toBeNull();
    const c = mqtt.connect(`mqtt://127.0.0.1:${service.broker.port()}`, { reconnectPeriod: 0 });
    await new Promise((r) => c.once('connect', r));
    c.end(true);
    await service.shutdown('test');
    expect(service.broker.state).toBe('stopped');
  });
});
