import 'reflect-metadata';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser, chromium, type Page } from 'playwright-core';
import { validateConfig } from '../../src';
import { type NestmqService, startService } from '../../src/service';

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a
 * running broker with real MQTT.js clients. NESTMQ_SCREENSHOTS=1 writes the screenshots to
 * docs/dashboard/ (the ones committed there), otherwise to a temporary folder.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'browser-admin-token-0123456789abcdef';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI !== undefined) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);
const describeBrowser = haveChromium ? describe : describe.skip;

const SHOTS = process.env.NESTMQ_SCREENSHOTS === '1' ? join(__dirname, '../../docs/dashboard') : mkdtempSync(join(tmpdir(), 'nestmq-dashboard-'));

describeBrowser('dashboard in chromium: token, clients, kick, retained tree, tracer', () => {
  let service: NestmqService;
  let browser: Browser;
  let page: Page;
  const clients: MqttClient[] = [];
  const pageErrors: string[] = [];

  const mqttClient = async (clientId: string, clean = true): Promise<MqttClient> => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${service.broker.port()}`, { clientId, clean, reconnectPeriod: 0, protocolVersion: 4 });
    clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    return c;
  };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    service = await startService(
      validateConfig({
        listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } },
        admin: { bind: '127.0.0.1:0', token: TOKEN },
        logging: { level: 'warn' },
        sys_interval: 0,
      }),
      { logDestination: { write: () => undefined } },
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await browser?.close();
    await service?.shutdown('test');
  });

  const base = (): string => `http://127.0.0.1:${service.adminAddress!.port}`;

  it('refuses a wrong token, then signs in; the token stays in sessionStorage, never in a URL', async () => {
    await page.goto(`${base()}/dashboard`);
    await page.fill('#token', 'wrong-token-0123456789abcdef');
    await page.click('#login');
    await page.getByRole('alert').getByText('This token is not accepted.').waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#login');
    await page.locator('#overview').waitFor();
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.getByText('Loading the nestmq dashboard').count()).toBe(0);
    expect(await page.evaluate("sessionStorage.getItem('nestmq.adminToken')")).toBe(TOKEN);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    // The refused attempt logged its 401 in the console: expected, and the only error allowed.
    expect(pageErrors).toEqual(['Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    pageErrors.length = 0;
  }, 20_000);

  it('overview: live charts fill as clients publish', async () => {
    const pub = await mqttClient('dash-publisher');
    for (const id of ['dash-subscriber-1', 'dash-subscriber-2']) await (await mqttClient(id)).subscribeAsync('sensors/#', { qos: 1 });
    // A few seconds of traffic so that the per-second charts have points.
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < 20 * (i + 1); k++) pub.publish('sensors/kitchen/temperature', String(20 + (k % 5)), { qos: 0 });
      await page.waitForTimeout(1000);
    }
    await page.locator('#overview .card').first().waitFor();
    expect(await page.locator('#overview canvas').count()).toBe(4);
    await page.locator('.card', { hasText: 'Clients connected' }).locator('.value', { hasText: '3' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'overview.png') });
  }, 30_000);

  it('clients: a column header sorts the table and a second click reverses it; the detail view shows the session', async () => {
    const kept = await mqttClient('dash-sort-kept', false);
    await kept.subscribeAsync('kept/+/state', { qos: 1 });
    await page.click('#nav-clients');
    await page.locator('tr[data-client-id="dash-sort-kept"]').waitFor();
    const order = (): Promise<string[]> =>
      page.$$eval('#clients-table tbody tr', (rows) => rows.map((r) => r.getAttribute('data-client-id') ?? ''));
    const ids = await order();
    expect(ids.length).toBeGreaterThan(2);
    const ascending = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(ids).toEqual(ascending); // by client id by default
    const header = page.locator('#clients-table th', { hasText: 'Client id' });
    await header.click();
    await page.locator('#clients-table th', { hasText: 'Client id ▼' }).waitFor();
    expect(await order()).toEqual([...ascending].reverse());
    await header.click();
    await page.locator('#clients-table th', { hasText: 'Client id ▲' }).waitFor();
    expect(await order()).toEqual(ascending);
    // By subscription count: the publisher (none) comes before the subscribers.
    await page.locator('#clients-table th', { hasText: 'Subs' }).click();
    await page.locator('#clients-table th', { hasText: 'Subs ▲' }).waitFor();
    const bySubs = await order();
    expect(bySubs.indexOf('dash-publisher')).toBeLessThan(bySubs.indexOf('dash-sort-kept'));
    await page.locator('#clients-table th', { hasText: 'Client id' }).click();

    await page.locator('tr[data-client-id="dash-sort-kept"]').click();
    const detail = page.locator('#client-detail');
    await detail.getByText('kept/+/state').waitFor();
    const kv = await detail.locator('dl.kv').innerText();
    expect(kv).toMatch(/Connected\s+yes/);
    expect(kv).toMatch(/Clean session\s+no/);
    expect(kv).toMatch(/Queued\s+0 \(0 bytes\)/);
    await detail.getByRole('button', { name: 'Close' }).click();
    await detail.waitFor({ state: 'detached' });
  }, 20_000);

  it('clients: the connected MQTT.js client is in the table, search and detail work, and kick disconnects it', async () => {
    const victim = await mqttClient('dash-kick-me', false);
    await victim.subscribeAsync({ 'alerts/#': { qos: 1 }, 'sensors/+/temperature': { qos: 0 } });
    await page.click('#nav-clients');
    const row = page.locator('tr[data-client-id="dash-kick-me"]');
    await row.waitFor();
    await page.fill('#client-search', 'kick');
    await page.waitForFunction("document.querySelectorAll('#clients-table tbody tr').length === 1");
    await row.click();
    await page.locator('#client-detail').getByText('sensors/+/temperature').waitFor();
    await page.screenshot({ path: join(SHOTS, 'clients.png') });

    const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()));
    await row.locator('button.kick').click();
    await closed;
    await row.waitFor({ state: 'detached' });
    expect(service.broker.client('dash-kick-me')).toBeUndefined();
    // Kicked, not forgotten: its persistent session stays.
    expect(service.broker.session('dash-kick-me')?.connected).toBe(false);
  }, 20_000);

  it('retained: the topic tree shows retained messages and their payloads', async () => {
    const pub = await mqttClient('dash-retainer');
    const retained: [string, string][] = [
      ['sensors/kitchen/temperature', '21.5'],
      ['sensors/kitchen/humidity', '48'],
      ['sensors/garage/temperature', '12.0'],
      ['devices/door-1/state', '{"open":false,"battery":87}'],
      ['devices/door-2/state', '{"open":true,"battery":64}'],
    ];
    for (const [topic, payload] of retained) await pub.publishAsync(topic, payload, { qos: 1, retain: true });
    await page.click('#nav-retained');
    const node = page.locator('#retained-tree [data-topic="devices/door-1/state"]');
    await node.waitFor();
    await node.click();
    await page.locator('#retained-message pre').getByText('{"open":false,"battery":87}').waitFor();
    await page.screenshot({ path: join(SHOTS, 'retained.png') });
  }, 20_000);

  it('tracer: watches a filter and receives a message published by a real client', async () => {
    await page.click('#nav-tracer');
    await page.fill('#trace-filter', 'alerts/#');
    await page.click('#trace-start');
    await page.locator('#trace-state', { hasText: 'tracing' }).waitFor();
    const pub = await mqttClient('dash-alerter');
    await pub.publishAsync('sensors/kitchen/temperature', 'not traced', { qos: 1 });
    await pub.publishAsync('alerts/garage/door', 'garage door left open', { qos: 1 });
    await pub.publishAsync('alerts/kitchen/smoke', 'smoke detector test', { qos: 0 });
    await page.locator('#trace-table').getByText('garage door left open').waitFor();
    await page.locator('#trace-table').getByText('smoke detector test').waitFor();
    expect(await page.locator('#trace-table').getByText('not traced').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'tracer.png') });
    await page.click('#trace-stop');
    await page.locator('#trace-state', { hasText: 'stopped' }).waitFor();
  }, 20_000);

  it('loaded without script errors or CSP violations', () => {
    expect(pageErrors).toEqual([]);
  });
});
