import type { MqttClient } from 'mqtt';
import { BrokerStats } from '../../src/core/engine';
import { formatUptime, SYS_ROOT, type SysSource, SysTopicsPublisher } from '../../src/core/sys/sys-topics';
import { receivedDuring, TestBroker } from '../helpers/broker';
import { sleep, waitFor } from '../helpers/wait';

/** Latest payload per $SYS topic seen by a client subscribed to `$SYS/#`. */
function sysTree(client: MqttClient): Map<string, string> {
  const tree = new Map<string, string>();
  client.on('message', (topic, payload) => {
    if (topic.startsWith('$SYS/')) tree.set(topic.slice(SYS_ROOT.length), payload.toString());
  });
  return tree;
}

/** sys_interval of the brokers below, in seconds. */
const SYS_INTERVAL_S = 0.2;

describe('$SYS topics (sys_interval > 0)', () => {
  let tb: TestBroker;
  beforeEach(async () => (tb = await TestBroker.start({ sys_interval: SYS_INTERVAL_S })));
  afterEach(() => tb.close());

  it("publishes hbmqtt's and Mosquitto's names, retained, to a $SYS/# subscriber", async () => {
    const c = await tb.client({ clientId: 'sys-reader' });
    const tree = sysTree(c);
    // Retained: the values are there the moment one subscribes.
    const first = await receivedDuring(c, () => c.subscribeAsync('$SYS/#', { qos: 0 }));
    // Retained copies carry RETAIN=1 (a live update may arrive meanwhile, with RETAIN=0).
    const retained = first.filter((m) => m.packet.retain);
    expect(retained.length).toBe(64); // every topic of the tree, version and clients/protocol/3|4|5 included
    expect(retained.map((m) => m.topic)).toContain(`${SYS_ROOT}version`);
    expect(tree.get('version')).toBe(`nestmq version ${require('../../package.json').version}`);

    const hbmqtt = [
      'uptime', 'uptime/formated', 'time', 'clients/connected', 'clients/disconnected', 'clients/maximum', 'clients/total',
      'messages/received', 'messages/sent', 'messages/publish/received', 'messages/publish/sent', 'messages/inflight',
      'messages/inflight/in', 'messages/inflight/out', 'messages/inflight/stored', 'messages/retained/count',
      'messages/subscriptions/count', 'load/bytes/received', 'load/bytes/sent',
    ];
    const mosquitto = [
      'clients/active', 'clients/inactive', 'clients/expired', 'bytes/received', 'bytes/sent', 'publish/messages/received',
      'publish/messages/sent', 'publish/messages/dropped', 'messages/stored', 'store/messages/count', 'retained messages/count',
      'subscriptions/count', 'heap/current', 'heap/maximum',
      ...['messages/received', 'messages/sent', 'publish/received', 'publish/sent', 'publish/dropped', 'bytes/received', 'bytes/sent', 'sockets', 'connections'].flatMap(
        (l) => ['1min', '5min', '15min'].map((w) => `load/${l}/${w}`),
      ),
    ];
    for (const name of [...hbmqtt, ...mosquitto]) expect([name, tree.has(name)]).toEqual([name, true]);
    // The retained values may predate this client; the next update counts it.
    await waitFor(() => tree.get('clients/connected') === '1' && tree.get('clients/active') === '1');
    expect(tree.get('uptime')).toMatch(/^\d+$/);
    expect(tree.get('uptime/formated')).toMatch(/^0:00:0\d$/);
    expect(tree.get('load/messages/received/1min')).toMatch(/^\d+\.\d\d$/);
    expect(Number(tree.get('messages/retained/count'))).toBe(tb.broker.retainedCount);
  });

  it('values move when clients publish: counters, subscriptions, load figures', async () => {
    const reader = await tb.client({ clientId: 'sys-reader' });
    const tree = sysTree(reader);
    await reader.subscribeAsync('$SYS/#');
    await waitFor(() => tree.get('subscriptions/count') === '1'); // the reader's own subscription counted
    const before = {
      publishReceived: Number(tree.get('messages/publish/received')),
      received: Number(tree.get('messages/received')),
      bytes: Number(tree.get('bytes/received')),
      subs: Number(tree.get('subscriptions/count')),
    };

    const pub = await tb.client({ clientId: 'sys-pub' });
    const sub = await tb.client({ clientId: 'sys-sub', clean: false });
    await sub.subscribeAsync('work/#', { qos: 1 });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`work/${i}`, 'x'.repeat(100), { qos: 1 });

    await waitFor(() => Number(tree.get('messages/publish/received')) >= before.publishReceived + 50);
    await waitFor(() => Number(tree.get('load/messages/received/1min')) > 0 && Number(tree.get('load/publish/received/1min')) > 0);
    expect(Number(tree.get('messages/received'))).toBe(before.received + 50); // $SYS updates themselves are not counted
    expect(Number(tree.get('publish/messages/received'))).toBe(before.publishReceived + 50);
    expect(Number(tree.get('bytes/received'))).toBeGreaterThan(before.bytes + 50 * 100);
    expect(Number(tree.get('load/bytes/received'))).toBe(Number(tree.get('bytes/received')));
    expect(Number(tree.get('subscriptions/count'))).toBe(before.subs + 1);
    expect(Number(tree.get('messages/subscriptions/count'))).toBe(before.subs + 1);
    expect(Number(tree.get('load/bytes/received/1min'))).toBeGreaterThan(0);
    expect(Number(tree.get('load/connections/1min'))).toBeGreaterThan(0);
    await waitFor(() => tree.get('clients/connected') === '3' && tree.get('clients/maximum') === '3');

    // A persistent session whose client went away: disconnected (hbmqtt) / inactive (Mosquitto).
    sub.end(true);
    await waitFor(() => tree.get('clients/disconnected') === '1' && tree.get('clients/inactive') === '1');
    expect(tree.get('clients/total')).toBe('3');
  });

  it('wildcards never match $SYS topics [MQTT-4.7.2-1]', async () => {
    const c = await tb.client({ clientId: 'wild' });
    // Subscribed, then $SYS updates published after that, then a round trip: any $SYS delivery
    // to this client (retained copy or update) would have arrived ahead of the round trip's answer.
    const got = await receivedDuring(c, async () => {
      await c.subscribeAsync(['#', '+/broker/#', '+/+/uptime'], { qos: 0 });
      const published = new Set<string>();
      tb.broker.on('messageReceived', (m) => void (m.clientId === '' && published.add(m.topic)));
      await waitFor(() => published.size >= 5, SYS_INTERVAL_S * 1000 * 10, '$SYS updates');
    });
    expect(got.filter((m) => m.topic.startsWith('$'))).toEqual([]);
  });

  it('stops publishing when the broker shuts down (its timer is cleared)', async () => {
    const updates: string[] = [];
    tb.broker.on('messageReceived', (m) => m.clientId === '' && updates.push(m.topic));
    await waitFor(() => updates.includes(`${SYS_ROOT}uptime`) || updates.includes(`${SYS_ROOT}time`));
    await tb.close();
    const n = updates.length;
    // Proving a timer stopped is time-based by nature: more than two intervals.
    await sleep(SYS_INTERVAL_S * 1000 * 2 + 50);
    expect(updates.length).toBe(n);
  });
});

describe('$SYS off (sys_interval 0)', () => {
  it('publishes nothing, not even the version', async () => {
    const tb = await TestBroker.start({ sys_interval: 0 });
    try {
      const c = await tb.client();
      expect(await receivedDuring(c, () => c.subscribeAsync('$SYS/#'))).toEqual([]);
      expect(tb.broker.retainedCount).toBe(0);
    } finally {
      await tb.close();
    }
  });
});

describe('SysTopicsPublisher (fake broker and clock)', () => {
  function fake(): { source: SysSource; stats: BrokerStats; published: Map<string, string>; count: () => number; tick: (ms: number) => void; now: () => number } {
    const stats = new BrokerStats();
    const published = new Map<string, string>();
    let n = 0;
    let clock = 1_000_000;
    const source: SysSource = {
      stats,
      uptimeSeconds: 0,
      clientCount: 0,
      sessionCount: 0,
      subscriptionCount: 0,
      retainedCount: 0,
      sessionTotals: () => ({ inflightOut: 0, inflightIn: 0, queued: 0 }),
      publishInternal: (topic, payload) => {
        n++;
        published.set(topic.slice(SYS_ROOT.length), payload);
      },
      onClientConnected: () => () => undefined,
    };
    return { source, stats, published, count: () => n, tick: (ms) => (clock += ms), now: () => clock };
  }

  it("computes Mosquitto's load averages: per-minute rates, exponentially averaged over 1/5/15 minutes", () => {
    const f = fake();
    const p = new SysTopicsPublisher(f.source, 1, '1.2.3', f.now);
    p.start();
    p.stop(); // drive updates by hand
    expect(f.published.get('load/messages/received/1min')).toBe('0.00');
    // A steady 60 messages a minute (one a second) for one minute, updated every second.
    for (let i = 0; i < 60; i++) {
      f.stats.messagesReceived++;
      f.tick(1000);
      p.update();
    }
    // value = 60 * (1 - e^(-t/window)) after t seconds from 0
    expect(Number(f.published.get('load/messages/received/1min'))).toBeCloseTo(60 * (1 - Math.exp(-1)), 1);
    expect(Number(f.published.get('load/messages/received/5min'))).toBeCloseTo(60 * (1 - Math.exp(-60 / 300)), 1);
    expect(Number(f.published.get('load/messages/received/15min'))).toBeCloseTo(60 * (1 - Math.exp(-60 / 900)), 1);
    // Silence decays it.
    for (let i = 0; i < 60; i++) {
      f.tick(1000);
      p.update();
    }
    expect(Number(f.published.get('load/messages/received/1min'))).toBeCloseTo(60 * (1 - Math.exp(-1)) * Math.exp(-1), 1);
  });

  it('re-publishes a topic only when its value changed', () => {
    const f = fake();
    const p = new SysTopicsPublisher(f.source, 1, '1.2.3', f.now);
    p.start();
    p.stop();
    expect(f.published.get('version')).toBe('nestmq version 1.2.3');
    const n = f.count();
    p.update(); // same instant, nothing changed but the heap figure
    expect(f.count() - n).toBeLessThanOrEqual(2);
    f.stats.publishReceived = 7;
    const m = f.count();
    p.update();
    expect(f.published.get('messages/publish/received')).toBe('7');
    expect(f.published.get('publish/messages/received')).toBe('7');
    expect(f.count() - m).toBeLessThanOrEqual(2 + 2 + 3 * 2); // the two names, heap, and publish/received loads
  });

  it("formats uptime as hbmqtt's str(timedelta)", () => {
    expect(formatUptime(0)).toBe('0:00:00');
    expect(formatUptime(3723)).toBe('1:02:03');
    expect(formatUptime(86400 + 5)).toBe('1 day, 0:00:05');
    expect(formatUptime(3 * 86400 + 59)).toBe('3 days, 0:00:59');
  });
});
