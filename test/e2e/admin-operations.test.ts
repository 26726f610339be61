import 'reflect-metadata';
import * as http from 'node:http';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import request from 'supertest';
import { type BrokerConfigInput, hashPassword, validateConfig } from '../../src';
import { TRACER_BUFFER_BYTES, TracerService } from '../../src/modules/admin/tracer.service';
import { type NestmqService, startService } from '../../src/service';
import { sleep, waitFor } from '../helpers/wait';

const TOKEN = 'ops-admin-token-0123456789abcdef';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const enc = encodeURIComponent;

/** The service in-process on ephemeral ports, with a token; its log lines collected. */
class OpsService {
  readonly logs: string[] = [];
  readonly clients: MqttClient[] = [];
  service!: NestmqService;

  static async start(config: BrokerConfigInput = {}): Promise<OpsService> {
    const t = new OpsService();
    const { admin, ...rest } = config;
    t.service = await startService(
      validateConfig({
        listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } },
        logging: { level: 'info' },
        sys_interval: 0,
        ...rest,
        admin: { bind: '127.0.0.1:0', token: TOKEN, ...((admin as object | undefined) ?? {}) },
      }),
      { logDestination: { write: (line: string) => void t.logs.push(line) } },
    );
    return t;
  }

  get http(): string {
    return `http://127.0.0.1:${this.service.adminAddress!.port}`;
  }

  async client(options: IClientOptions = {}): Promise<MqttClient> {
    const c = mqtt.connect(`mqtt://127.0.0.1:${this.service.broker.port()}`, { reconnectPeriod: 0, protocolVersion: 4, ...options });
    this.clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    return c;
  }

  /** Resolves with the CONNACK return code of a CONNECT with these credentials (0 accepted). */
  connectCode(username: string, password: string): Promise<number> {
    return new Promise((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${this.service.broker.port()}`, { reconnectPeriod: 0, protocolVersion: 4, username, password, clientId: `cc-${username}-${Date.now()}` });
      c.once('connect', (p) => {
        c.end(true);
        resolve(p.returnCode ?? 0);
      });
      c.once('error', (err: Error & { code?: number }) => {
        c.end(true);
        resolve(err.code ?? -1);
      });
    });
  }

  auditLines(): Record<string, unknown>[] {
    return this.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end(true);
    await this.service.shutdown('test');
  }
}

/** The next message a client receives on a topic matching `topic` exactly. */
function nextMessage(c: MqttClient, topic: string, ms = 3000): Promise<{ payload: Buffer; retain: boolean; qos: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('message', on);
      reject(new Error(`no message on ${topic} within ${ms} ms`));
    }, ms);
    const on = (t: string, payload: Buffer, packet: { retain: boolean; qos: number }): void => {
      if (t !== topic) return;
      clearTimeout(timer);
      c.off('message', on);
      resolve({ payload, retain: packet.retain, qos: packet.qos });
    };
    c.on('message', on);
  });
}

/** Events of an SSE response, as they arrive. */
function sseEvents(res: http.IncomingMessage): { events: { event: string; data: Record<string, unknown> }[] } {
  const out = { events: [] as { event: string; data: Record<string, unknown> }[] };
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buf += chunk;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data !== undefined) out.events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
    }
  });
  return out;
}

function openTrace(base: string, filter: string, headers: Record<string, string> = AUTH): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/api/v1/trace?filter=${enc(filter)}`, { headers }, resolve);
    req.on('error', reject);
  });
}

describe('admin operations API: sessions, subscriptions, retained, publish, tracer (token required)', () => {
  let t: OpsService;
  beforeAll(async () => (t = await OpsService.start({ admin: { 'max-tracers': 1 } })));
  afterAll(() => t.close());

  it('every new endpoint answers 401 without the token and 415 for a state change without JSON or X-Nestmq-Request', async () => {
    const routes: [string, string][] = [
      ['get', '/api/v1/sessions'],
      ['get', '/api/v1/sessions/x'],
      ['delete', '/api/v1/sessions/x'],
      ['get', '/api/v1/subscriptions'],
      ['get', '/api/v1/sessions/x/subscriptions'],
      ['post', '/api/v1/sessions/x/subscriptions'],
      ['delete', '/api/v1/sessions/x/subscriptions?filter=a'],
      ['get', '/api/v1/retained'],
      ['get', '/api/v1/retained/a'],
      ['delete', '/api/v1/retained/a'],
      ['post', '/api/v1/publish'],
      ['get', '/api/v1/users'],
      ['post', '/api/v1/users'],
      ['put', '/api/v1/users/u'],
      ['delete', '/api/v1/users/u'],
      ['get', '/api/v1/trace'],
    ];
    for (const [method, path] of routes) {
      const r = await (request(t.http) as unknown as Record<string, (p: string) => request.Test>)[method](path).set('Content-Type', 'application/json');
      expect([method, path, r.status]).toEqual([method, path, 401]);
      const wrong = await (request(t.http) as unknown as Record<string, (p: string) => request.Test>)[method](path)
        .set('Authorization', 'Bearer wrong-token-0123456789abcdef')
        .set('Content-Type', 'application/json');
      expect([method, path, wrong.status]).toEqual([method, path, 401]);
    }
    for (const [method, path] of routes.filter(([m]) => m !== 'get')) {
      const r = await (request(t.http) as unknown as Record<string, (p: string) => request.Test>)[method](path).set(AUTH).set('Content-Type', 'text/plain').send('x');
      expect([method, path, r.status]).toEqual([method, path, 415]);
    }
    // The tracer's 401 comes before any stream is opened.
    const res = await openTrace(t.http, '#', {});
    expect(res.statusCode).toBe(401);
    res.resume();
  });

  it('sessions: lists connected and offline ones with expiry, gets one, 404 for unknown, paging bounds, deletes', async () => {
    const p = await t.client({ clientId: 'sess-offline', clean: false });
    await p.subscribeAsync({ 'sess/a': { qos: 1 }, 'sess/b/#': { qos: 2 } });
    await p.endAsync();
    const live = await t.client({ clientId: 'sess-live', clean: true });
    await waitFor(() => t.service.broker.session('sess-offline')?.connected === false, 3000, 'offline session');

    const page = await request(t.http).get('/api/v1/sessions?clientIdPrefix=sess-').set(AUTH).expect(200);
    expect(page.body).toMatchObject({ total: 2, offset: 0, limit: 100 });
    expect(page.body.items.map((s: { clientId: string }) => s.clientId)).toEqual(['sess-live', 'sess-offline']);
    const off = page.body.items[1];
    expect(off).toMatchObject({ connected: false, clean: false, subscriptions: 2, inflight: 0, queued: 0 });
    expect(Date.parse(off.expiresAt) - Date.parse(off.disconnectedAt)).toBe(7 * 24 * 3600 * 1000);
    expect(page.body.items[0]).toMatchObject({ connected: true, clean: true, expiresAt: null, disconnectedAt: null });

    const offline = await request(t.http).get('/api/v1/sessions?clientIdPrefix=sess-&connected=false').set(AUTH).expect(200);
    expect(offline.body.items.map((s: { clientId: string }) => s.clientId)).toEqual(['sess-offline']);
    const second = await request(t.http).get('/api/v1/sessions?clientIdPrefix=sess-&limit=1&offset=1').set(AUTH).expect(200);
    expect(second.body.items.map((s: { clientId: string }) => s.clientId)).toEqual(['sess-offline']);

    const detail = await request(t.http).get('/api/v1/sessions/sess-offline').set(AUTH).expect(200);
    expect(detail.body.subscriptionList).toEqual([{ filter: 'sess/a', qos: 1 }, { filter: 'sess/b/#', qos: 2 }]);

    await request(t.http).get('/api/v1/sessions/no-such-client').set(AUTH).expect(404);
    await request(t.http).delete('/api/v1/sessions/no-such-client').set(AUTH).set('X-Nestmq-Request', '1').expect(404);
    for (const q of ['limit=0', 'limit=1001', 'offset=-1', 'limit=abc']) await request(t.http).get(`/api/v1/sessions?${q}`).set(AUTH).expect(400);
    await request(t.http).get('/api/v1/sessions?limit=1000').set(AUTH).expect(200);

    // Deleting a connected client's session disconnects it.
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    const del = await request(t.http).delete('/api/v1/sessions/sess-live').set(AUTH).set('X-Nestmq-Request', '1').expect(200);
    expect(del.body).toEqual({ clientId: 'sess-live', deleted: true, disconnected: true });
    await closed;
    await request(t.http).delete('/api/v1/sessions/sess-offline').set(AUTH).set('X-Nestmq-Request', '1').expect(200);
    await request(t.http).get('/api/v1/sessions/sess-offline').set(AUTH).expect(404);
    expect(t.service.broker.subscriptionList().filter((s) => s.clientId === 'sess-offline')).toEqual([]);
  });

  it('subscriptions: lists across the broker and per client; the admin adds one to a live client, which gets the retained message and live ones', async () => {
    const pub = await t.client({ clientId: 'sub-pub' });
    await pub.publishAsync('subr/kept', 'retained-1', { qos: 1, retain: true });
    const c = await t.client({ clientId: 'sub-live' });
    await c.subscribeAsync('subx/own', { qos: 0 });

    const retained = nextMessage(c, 'subr/kept');
    const add = await request(t.http).post('/api/v1/sessions/sub-live/subscriptions').set(AUTH).send({ filter: 'subr/+', qos: 1 }).expect(200);
    expect(add.body).toEqual({ clientId: 'sub-live', filter: 'subr/+', qos: 1, created: true, retainedQueued: 0 });
    const r = await retained;
    expect(r.payload.toString()).toBe('retained-1');
    expect(r.retain).toBe(true); // [MQTT-3.3.1-8] a copy sent for a new subscription
    const liveMsg = nextMessage(c, 'subr/new');
    await pub.publishAsync('subr/new', 'live', { qos: 1 });
    expect((await liveMsg).qos).toBe(1);

    const all = await request(t.http).get('/api/v1/subscriptions?clientIdPrefix=sub-').set(AUTH).expect(200);
    expect(all.body.items).toEqual([
      { clientId: 'sub-live', filter: 'subr/+', qos: 1 },
      { clientId: 'sub-live', filter: 'subx/own', qos: 0 },
    ]);
    const prefixed = await request(t.http).get('/api/v1/subscriptions?filterPrefix=subr/').set(AUTH).expect(200);
    expect(prefixed.body.total).toBe(1);
    const mine = await request(t.http).get('/api/v1/sessions/sub-live/subscriptions?limit=1&offset=1').set(AUTH).expect(200);
    expect(mine.body).toMatchObject({ total: 2, items: [{ clientId: 'sub-live', filter: 'subx/own', qos: 0 }] });
    await request(t.http).get('/api/v1/sessions/nobody/subscriptions').set(AUTH).expect(404);
    await request(t.http).get('/api/v1/subscriptions?limit=1001').set(AUTH).expect(400);

    // Replacing keeps one entry [MQTT-3.8.4-3]; bad input is refused.
    const again = await request(t.http).post('/api/v1/sessions/sub-live/subscriptions').set(AUTH).send({ filter: 'subr/+', qos: 0 }).expect(200);
    expect(again.body.created).toBe(false);
    await request(t.http).post('/api/v1/sessions/sub-live/subscriptions').set(AUTH).send({ filter: 'a/#/b', qos: 0 }).expect(400);
    await request(t.http).post('/api/v1/sessions/sub-live/subscriptions').set(AUTH).send({ filter: 'a', qos: 3 }).expect(400);
    await request(t.http).post('/api/v1/sessions/nobody/subscriptions').set(AUTH).send({ filter: 'a', qos: 0 }).expect(404);

    // Removal: no more deliveries on it; the client's own subscription still works (sentinel).
    const removed = await request(t.http).delete(`/api/v1/sessions/sub-live/subscriptions?filter=${enc('subr/+')}`).set(AUTH).set('X-Nestmq-Request', '1').expect(200);
    expect(removed.body).toEqual({ clientId: 'sub-live', filter: 'subr/+', removed: true });
    const got: string[] = [];
    c.on('message', (topic) => got.push(topic));
    const sentinel = nextMessage(c, 'subx/own');
    await pub.publishAsync('subr/after', 'x', { qos: 1 });
    await pub.publishAsync('subx/own', 'sentinel', { qos: 1 });
    await sentinel;
    expect(got).toEqual(['subx/own']);
    await request(t.http).delete(`/api/v1/sessions/sub-live/subscriptions?filter=${enc('subr/+')}`).set(AUTH).set('X-Nestmq-Request', '1').expect(404);
    await request(t.http).delete('/api/v1/sessions/sub-live/subscriptions').set(AUTH).set('X-Nestmq-Request', '1').expect(400);
  });

  it('subscriptions: added to an offline persistent session, its retained messages are queued and delivered on return', async () => {
    const pub = await t.client({ clientId: 'off-pub' });
    await pub.publishAsync('offr/one', 'r1', { qos: 1, retain: true });
    await pub.publishAsync('offr/two', 'r2', { qos: 1, retain: true });
    const c = await t.client({ clientId: 'off-sub', clean: false });
    await c.endAsync();
    await waitFor(() => t.service.broker.session('off-sub')?.connected === false, 3000, 'offline');
    const add = await request(t.http).post('/api/v1/sessions/off-sub/subscriptions').set(AUTH).send({ filter: 'offr/#', qos: 1 }).expect(200);
    expect(add.body).toMatchObject({ created: true, retainedQueued: 2 });
    const detail = await request(t.http).get('/api/v1/sessions/off-sub').set(AUTH).expect(200);
    expect(detail.body).toMatchObject({ connected: false, queued: 2, subscriptionList: [{ filter: 'offr/#', qos: 1 }] });

    const back = mqtt.connect(`mqtt://127.0.0.1:${t.service.broker.port()}`, { reconnectPeriod: 0, clientId: 'off-sub', clean: false, protocolVersion: 4 });
    t.clients.push(back);
    const got = new Map<string, string>();
    back.on('message', (topic, payload) => got.set(topic, payload.toString()));
    await waitFor(() => got.size === 2, 3000, 'queued retained messages');
    expect(Object.fromEntries(got)).toEqual({ 'offr/one': 'r1', 'offr/two': 'r2' });
  });

  it('retained: lists by MQTT filter with paging, gets UTF-8 and binary, deletes, 404 for unknown, bounds', async () => {
    const pub = await t.client({ clientId: 'ret-pub' });
    for (const topic of ['rt/a/x', 'rt/a/y', 'rt/b/x', 'rt/b']) await pub.publishAsync(topic, `v-${topic}`, { qos: 1, retain: true });
    await pub.publishAsync('rt/bin', Buffer.from([0xff, 0xfe, 0x00]), { qos: 0, retain: true });
    t.service.broker.publishInternal('$SYS/ops/test', 'sys', true);
    await waitFor(() => t.service.broker.retainedMessage('rt/bin') !== undefined, 3000, 'retained stored');

    const plus = await request(t.http).get(`/api/v1/retained?filter=${enc('rt/+/x')}`).set(AUTH).expect(200);
    expect(plus.body.items.map((m: { topic: string }) => m.topic).sort()).toEqual(['rt/a/x', 'rt/b/x']);
    expect(plus.body.next).toBeNull();
    const hash = await request(t.http).get(`/api/v1/retained?filter=${enc('rt/#')}&limit=2`).set(AUTH).expect(200);
    expect(hash.body.items).toHaveLength(2);
    expect(hash.body.next).toBe(2);
    const seen = hash.body.items.map((m: { topic: string }) => m.topic);
    let offset: number | null = hash.body.next;
    while (offset !== null) {
      const next = await request(t.http).get(`/api/v1/retained?filter=${enc('rt/#')}&limit=2&offset=${offset}`).set(AUTH).expect(200);
      seen.push(...next.body.items.map((m: { topic: string }) => m.topic));
      offset = next.body.next;
    }
    expect(seen.sort()).toEqual(['rt/a/x', 'rt/a/y', 'rt/b', 'rt/b/x', 'rt/bin']);
    // [MQTT-4.7.2-1] a leading wildcard does not reach $ topics; naming them does.
    const everything = await request(t.http).get('/api/v1/retained?limit=1000').set(AUTH).expect(200);
    expect(everything.body.items.some((m: { topic: string }) => m.topic.startsWith('$'))).toBe(false);
    const sys = await request(t.http).get(`/api/v1/retained?filter=${enc('$SYS/#')}`).set(AUTH).expect(200);
    expect(sys.body.items.map((m: { topic: string }) => m.topic)).toEqual(['$SYS/ops/test']);

    const text = await request(t.http).get(`/api/v1/retained/${enc('rt/a/x')}`).set(AUTH).expect(200);
    expect(text.body).toEqual({ topic: 'rt/a/x', qos: 1, size: 8, payloadBase64: Buffer.from('v-rt/a/x').toString('base64'), payloadUtf8: 'v-rt/a/x' });
    const bin = await request(t.http).get(`/api/v1/retained/${enc('rt/bin')}`).set(AUTH).expect(200);
    expect(bin.body).toMatchObject({ payloadBase64: '//4A', payloadUtf8: null, size: 3 });
    await request(t.http).get(`/api/v1/retained/${enc('rt/none')}`).set(AUTH).expect(404);

    await request(t.http).delete(`/api/v1/retained/${enc('rt/a/y')}`).set(AUTH).set('X-Nestmq-Request', '1').expect(200);
    await request(t.http).get(`/api/v1/retained/${enc('rt/a/y')}`).set(AUTH).expect(404);
    await request(t.http).delete(`/api/v1/retained/${enc('rt/a/y')}`).set(AUTH).set('X-Nestmq-Request', '1').expect(404);
    // A new subscriber no longer gets it.
    const sub = await t.client({ clientId: 'ret-sub' });
    const got: string[] = [];
    sub.on('message', (topic) => got.push(topic));
    await sub.subscribeAsync('rt/a/#', { qos: 1 });
    await waitFor(() => got.length === 1, 3000, 'retained rt/a/x');
    expect(got).toEqual(['rt/a/x']);

    for (const q of ['limit=0', 'limit=1001', 'offset=-1', `filter=${enc('a/#/b')}`, `filter=${enc('a+')}`]) {
      await request(t.http).get(`/api/v1/retained?${q}`).set(AUTH).expect(400);
    }
  });

  it('a non-integer limit or offset on every listing (or a non-boolean connected) gets a 400 that names the parameter', async () => {
    const listings = ['/api/v1/clients', '/api/v1/sessions', '/api/v1/subscriptions', '/api/v1/sessions/nobody/subscriptions', '/api/v1/retained'];
    for (const path of listings) {
      for (const name of ['limit', 'offset']) {
        const res = await request(t.http).get(`${path}?${name}=abc`).set(AUTH).expect(400);
        expect({ path, message: (res.body as { message: string }).message }).toEqual({ path, message: `${name}: expected an integer` });
      }
    }
    const connected = await request(t.http).get('/api/v1/sessions?connected=maybe').set(AUTH).expect(400);
    expect((connected.body as { message: string }).message).toBe('connected: expected true or false');
  });

  it('publish: text and base64 payloads reach a real subscriber with QoS and retain; $SYS, wildcards and bad base64 are refused', async () => {
    const sub = await t.client({ clientId: 'pub-sub' });
    await sub.subscribeAsync('ops/#', { qos: 2 });
    const m1 = nextMessage(sub, 'ops/text');
    const r1 = await request(t.http).post('/api/v1/publish').set(AUTH).send({ topic: 'ops/text', payload: 'héllo', qos: 1 }).expect(200);
    expect(r1.body).toEqual({ topic: 'ops/text', size: 6, qos: 1, retain: false });
    const got1 = await m1;
    expect(got1.payload.toString()).toBe('héllo');
    expect(got1.qos).toBe(1);

    const m2 = nextMessage(sub, 'ops/bin');
    await request(t.http).post('/api/v1/publish').set(AUTH).send({ topic: 'ops/bin', payloadBase64: '//4A', qos: 0, retain: true }).expect(200);
    expect([...(await m2).payload]).toEqual([0xff, 0xfe, 0x00]);
    expect(t.service.broker.retainedMessage('ops/bin')?.payload).toEqual(Buffer.from([0xff, 0xfe, 0x00]));

    const bad = [
      { topic: '$SYS/broker/uptime', payload: 'x' },
      { topic: '$share/x', payload: 'x' },
      { topic: 'a/+', payload: 'x' },
      { topic: '', payload: 'x' },
      { topic: 'a', payloadBase64: 'not base64!' },
      { topic: 'a', payload: 'x', payloadBase64: 'eA==' },
      { topic: 'a', payload: 'x', qos: 3 },
      { topic: 'a', payload: 'x', retain: 'yes' },
      { topic: 'a', payload: 42 },
    ];
    for (const body of bad) {
      const r = await request(t.http).post('/api/v1/publish').set(AUTH).send(body);
      expect([body, r.status]).toEqual([body, 400]);
    }
  });

  it('tracer: streams a published message as SSE; a second tracer beyond admin.max-tracers gets 429 until the first closes', async () => {
    const res = await openTrace(t.http, 'trace/#');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['cache-control']).toBe('no-store');
    const stream = sseEvents(res);
    await waitFor(() => stream.events.length > 0, 3000, 'open event');
    expect(stream.events[0]).toEqual({ event: 'open', data: expect.objectContaining({ filter: 'trace/#' }) });

    const second = await openTrace(t.http, '#');
    expect(second.statusCode).toBe(429);
    second.resume();

    const pub = await t.client({ clientId: 'trace-pub' });
    await pub.publishAsync('other/topic', 'not traced', { qos: 1 });
    await pub.publishAsync('trace/x', 'traced payload', { qos: 1, retain: true });
    await waitFor(() => stream.events.some((e) => e.event === 'message'), 3000, 'traced message');
    const msgs = stream.events.filter((e) => e.event === 'message').map((e) => e.data);
    expect(msgs).toEqual([
      expect.objectContaining({ clientId: 'trace-pub', topic: 'trace/x', qos: 1, retain: true, payloadUtf8: 'traced payload', size: 14, dropped: 0 }),
    ]);

    res.destroy();
    const tracers = t.service.app.get(TracerService);
    await waitFor(() => tracers.open === 0, 3000, 'tracer closed');
    expect(t.service.broker.listenerCount('messageReceived')).toBe(0);
    const third = await openTrace(t.http, '#');
    expect(third.statusCode).toBe(200);
    third.destroy();
    await waitFor(() => tracers.open === 0, 3000, 'tracer closed');
    await request(t.http).get(`/api/v1/trace?filter=${enc('a/#/b')}`).set(AUTH).expect(400);
  });

  it('tracer: a browser that does not read has its messages dropped and counted, within a bounded buffer', async () => {
    const res = await openTrace(t.http, 'flood/#');
    expect(res.statusCode).toBe(200);
    res.pause(); // never read: the server's buffer must not grow without bound
    const tracers = t.service.app.get(TracerService);
    const payload = Buffer.alloc(4096, 0x61);
    for (let i = 0; i < 3000; i++) t.service.broker.publishInternal('flood/x', payload);
    await waitFor(() => tracers.stats.tracerMessagesDropped > 0, 5000, 'drops');
    const metrics = await request(t.http).get('/metrics').expect(200);
    expect(Number(/^nestmq_admin_tracer_messages_dropped_total (\d+)$/m.exec(metrics.text)?.[1])).toBeGreaterThan(0);
    expect(Number(/^nestmq_admin_tracers_refused_total (\d+)$/m.exec(metrics.text)?.[1])).toBeGreaterThan(0);
    // 3000 events of ~11 KB (a 4 KiB preview as base64 and text) are ~33 MB: far more than the
    // buffer and the kernel's socket buffers hold, so most were dropped rather than buffered.
    expect(tracers.stats.tracerMessagesDropped * 11_000).toBeGreaterThan(3000 * 11_000 - 64 * TRACER_BUFFER_BYTES);
    res.destroy();
    await waitFor(() => tracers.open === 0, 3000, 'tracer closed');
  });

  it('the audit log names who, what and the target of each request, never a payload', async () => {
    await request(t.http).post('/api/v1/publish').set(AUTH).send({ topic: 'audit/x', payload: 'SECRET-PAYLOAD-xyz' }).expect(200);
    await request(t.http).get('/api/v1/sessions/nobody-here').set(AUTH).expect(404);
    const lines = t.auditLines();
    expect(lines).toContainEqual(
      expect.objectContaining({
        context: 'audit',
        who: { remoteAddress: expect.stringMatching(/127\.0\.0\.1$/), via: 'token' },
        method: 'POST',
        path: '/api/v1/publish',
        target: { topic: 'audit/x' },
        status: 200,
        time: expect.anything(),
      }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ method: 'GET', path: '/api/v1/sessions/nobody-here', target: { clientId: 'nobody-here' }, status: 404 }));
    expect(t.logs.join('\n')).not.toContain('SECRET-PAYLOAD-xyz');
    expect(t.logs.join('\n')).not.toContain(TOKEN);
  });

  it('OpenAPI documents every new endpoint behind the bearer token', async () => {
    const doc = (await request(t.http).get('/api/docs-json').set(AUTH).expect(200)).body;
    const paths: Record<string, Record<string, { security?: unknown[] }>> = doc.paths;
    const expected: Record<string, string[]> = {
      '/api/v1/sessions': ['get'],
      '/api/v1/sessions/{clientId}': ['delete', 'get'],
      '/api/v1/subscriptions': ['get'],
      '/api/v1/sessions/{clientId}/subscriptions': ['delete', 'get', 'post'],
      '/api/v1/retained': ['get'],
      '/api/v1/retained/{topic}': ['delete', 'get'],
      '/api/v1/publish': ['post'],
      '/api/v1/users': ['get', 'post'],
      '/api/v1/users/{username}': ['delete', 'put'],
      '/api/v1/trace': ['get'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      expect([path, Object.keys(paths[path] ?? {}).sort()]).toEqual([path, methods]);
      for (const m of methods) expect(paths[path][m].security).toEqual([{ bearer: [] }]);
    }
    expect(Object.keys(paths).some((p) => p.startsWith('/dashboard'))).toBe(false);
  });

  it('the dashboard is served at /dashboard with a strict CSP, and nothing outside its files', async () => {
    const page = await request(t.http).get('/dashboard').expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.text).toContain('/dashboard/app.mjs');
    expect(page.text).not.toContain(TOKEN);
    const js = await request(t.http).get('/dashboard/vendor/preact.mjs').expect(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    await request(t.http).get('/dashboard/app.mjs').expect(200);
    for (const p of ['/dashboard/../package.json', '/dashboard/%2e%2e/%2e%2e/package.json', '/dashboard/..%2f..%2fpackage.json', '/dashboard/nope.js']) {
      const r = await request(t.http).get(p);
      expect([p, r.status]).toEqual([p, 404]);
    }
  });
});

describe('admin users API: the password file', () => {
  it('answers 409 with a clear message when no password file is configured', async () => {
    const t = await OpsService.start();
    try {
      const r = await request(t.http).get('/api/v1/users').set(AUTH).expect(409);
      expect(r.body.message).toMatch(/no password file is configured \(auth\.password-file\)/);
      await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'a', password: 'b' }).expect(409);
      await request(t.http).put('/api/v1/users/a').set(AUTH).send({ password: 'b' }).expect(409);
      await request(t.http).delete('/api/v1/users/a').set(AUTH).set('X-Nestmq-Request', '1').expect(409);
    } finally {
      await t.close();
    }
  });

  it('adds, lists (schemes, never hashes), changes and deletes users; each change applies to the next CONNECT at once; 0600; no password logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-users-'));
    const file = join(dir, 'passwd');
    writeFileSync(file, '# operators\n', { mode: 0o644 });
    const t = await OpsService.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file } });
    try {
      expect(await t.connectCode('carol', 'first-Passw0rd')).not.toBe(0);
      const created = await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'carol', password: 'first-Passw0rd' }).expect(201);
      expect(created.body).toEqual({ username: 'carol', result: 'created', warning: null });
      expect(await t.connectCode('carol', 'first-Passw0rd')).toBe(0);
      await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'dave', password: 'dave-Passw0rd', scheme: 'scram-sha-256' }).expect(201);
      expect(await t.connectCode('dave', 'dave-Passw0rd')).toBe(0);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(/^# operators\ncarol:\$2[aby]\$10\$.+\ndave:SCRAM-SHA-256\$.+\n$/);

      const list = await request(t.http).get('/api/v1/users').set(AUTH).expect(200);
      expect(list.body).toEqual({ file, items: [{ username: 'carol', scheme: 'bcrypt' }, { username: 'dave', scheme: 'scram-sha-256' }] });
      expect(list.text).not.toMatch(/\$2[aby]\$|SCRAM-SHA-256\$/);

      await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'carol', password: 'x' }).expect(409);
      await request(t.http).put('/api/v1/users/carol').set(AUTH).send({ password: 'second-Passw0rd' }).expect(200);
      expect(await t.connectCode('carol', 'first-Passw0rd')).not.toBe(0);
      expect(await t.connectCode('carol', 'second-Passw0rd')).toBe(0);
      await request(t.http).put('/api/v1/users/nobody').set(AUTH).send({ password: 'x' }).expect(404);

      for (const body of [{ username: 'a:b', password: 'x' }, { username: 'e', password: 'line\nbreak' }, { username: ' sp', password: 'x' }]) {
        const r = await request(t.http).post('/api/v1/users').set(AUTH).send(body);
        expect([body.username, r.status]).toEqual([body.username, 422]);
      }
      await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'f', password: 'x', scheme: 'md5' }).expect(400);
      await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'f' }).expect(400);

      await request(t.http).delete('/api/v1/users/carol').set(AUTH).set('X-Nestmq-Request', '1').expect(200);
      expect(await t.connectCode('carol', 'second-Passw0rd')).not.toBe(0);
      await request(t.http).delete('/api/v1/users/carol').set(AUTH).set('X-Nestmq-Request', '1').expect(404);
      expect(readFileSync(file, 'utf8')).toMatch(/^# operators\ndave:/);

      // Concurrent changes are applied one after the other: none is lost.
      await Promise.all(['u1', 'u2', 'u3', 'u4'].map((u) => request(t.http).post('/api/v1/users').set(AUTH).send({ username: u, password: `${u}-pw` }).expect(201)));
      const after = await request(t.http).get('/api/v1/users').set(AUTH).expect(200);
      expect(after.body.items.map((u: { username: string }) => u.username).sort()).toEqual(['dave', 'u1', 'u2', 'u3', 'u4']);

      const logs = t.logs.join('\n');
      for (const secret of ['first-Passw0rd', 'second-Passw0rd', 'dave-Passw0rd', 'u1-pw']) expect(logs).not.toContain(secret);
      expect(t.auditLines()).toContainEqual(expect.objectContaining({ method: 'PUT', path: '/api/v1/users/carol', target: { username: 'carol' }, status: 200 }));
    } finally {
      await t.close();
    }
  });
  it('a change through the users API is reloaded once: the file watch does not reload the same write again, and still reloads a later outside edit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-users-watch-'));
    const file = join(dir, 'passwd');
    writeFileSync(file, '# operators\n', { mode: 0o600 });
    const debounce = 0.1;
    const t = await OpsService.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file }, reload: { watch: true, debounce } });
    const watchReloads = (): string[] => t.logs.filter((l) => l.includes('reload (changed'));
    try {
      await waitFor(() => t.logs.some((l) => l.includes('reload.watch: watching')), 3000, 'the watch to start');
      await request(t.http).post('/api/v1/users').set(AUTH).send({ username: 'carol', password: 'carol-Passw0rd' }).expect(201);
      expect(await t.connectCode('carol', 'carol-Passw0rd')).toBe(0);
      // Nothing can be awaited for a reload that must not happen: give the watch ten debounce periods.
      await sleep(debounce * 10_000);
      expect(watchReloads()).toEqual([]);
      // An edit from outside (kubectl, an editor) is still seen and reloaded, once.
      writeFileSync(file, `${readFileSync(file, 'utf8')}erin:${await hashPassword('erin-pw', 4)}\n`);
      await waitFor(() => watchReloads().length > 0, 5000, 'the watch to reload the outside edit');
      expect(await t.connectCode('erin', 'erin-pw')).toBe(0);
      expect(watchReloads()).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});

describe('admin changes to sessions are durable (SQLite)', () => {
  it('a subscription added to an offline session and a deleted retained message survive a restart', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'nestmq-ops-db-')), 'nestmq.db');
    const config = { persistence: { backend: 'sqlite', path } } as BrokerConfigInput;
    const first = await OpsService.start(config);
    const c = await first.client({ clientId: 'durable-sub', clean: false });
    await c.publishAsync('dur/gone', 'x', { qos: 1, retain: true });
    await c.publishAsync('dur/kept', 'y', { qos: 1, retain: true });
    await c.endAsync();
    await waitFor(() => first.service.broker.session('durable-sub')?.connected === false, 3000, 'offline');
    await request(first.http).post('/api/v1/sessions/durable-sub/subscriptions').set(AUTH).send({ filter: 'dur/#', qos: 1 }).expect(200);
    await request(first.http).delete(`/api/v1/retained/${enc('dur/gone')}`).set(AUTH).set('X-Nestmq-Request', '1').expect(200);
    await first.close();

    const second = await OpsService.start(config);
    try {
      const s = await request(second.http).get('/api/v1/sessions/durable-sub').set(AUTH).expect(200);
      expect(s.body.subscriptionList).toEqual([{ filter: 'dur/#', qos: 1 }]);
      expect(s.body.queued).toBe(2); // the retained messages queued when the subscription was added
      await request(second.http).get(`/api/v1/retained/${enc('dur/gone')}`).set(AUTH).expect(404);
      await request(second.http).get(`/api/v1/retained/${enc('dur/kept')}`).set(AUTH).expect(200);
    } finally {
      await second.close();
    }
  });
});

describe('admin.max-tracers', () => {
  it('defaults to 4 and accepts integers from 0 to 64 only', () => {
    expect(validateConfig({}).admin.maxTracers).toBe(4);
    expect(validateConfig({ admin: { 'max-tracers': 0 } }).admin.maxTracers).toBe(0);
    for (const bad of [65, -1, 1.5, 'many']) expect(() => validateConfig({ admin: { 'max-tracers': bad } })).toThrow(/admin\.max-tracers/);
  });
});
