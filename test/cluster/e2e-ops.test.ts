/**
 * The cluster's operations side (docs/cluster.md "Operations"): admin API across nodes, $SYS per
 * node, readiness and metrics including Redis, the SIGTERM drain (Wills of sessions that go on are
 * not published), Redis down and back. Broker processes are the real service (`node dist/main.js`,
 * admin HTTP on its own port), one real redis-server, MQTT.js clients. Needs dist/.
 */
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients, routed } from './cluster-clients';

interface Page {
  total: number;
  items: { clientId: string; node?: string; protocolLevel: number; username: string | null }[];
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

async function status(url: string): Promise<number> {
  return (await fetch(url)).status;
}

/** The value of a metric line (no labels) in a /metrics scrape. */
async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}

/** Resolves when `client`'s connection is closed, with the DISCONNECT the server sent (if any). */
function closedWith(client: MqttClient): Promise<{ disconnect: IDisconnectPacket | null; at: number }> {
  return new Promise((resolve) => {
    let disconnect: IDisconnectPacket | null = null;
    client.on('disconnect', (p) => (disconnect = p));
    client.once('close', () => resolve({ disconnect, at: Date.now() }));
  });
}

/** A PINGREQ -> PINGRESP round trip: everything sent to `client` before it has arrived. */
function pingRoundTrip(client: MqttClient, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no PINGRESP')), ms);
    const on = (p: { cmd: string }): void => {
      if (p.cmd !== 'pingresp') return;
      clearTimeout(timer);
      client.off('packetreceive', on);
      resolve();
    };
    client.on('packetreceive', on);
    (client as unknown as { _sendPacket(p: object): void })._sendPacket({ cmd: 'pingreq' });
  });
}

describe('cluster admin, $SYS and metrics across nodes (2 service processes, real redis-server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2, cli: true, config: { sys_interval: 1 } });
  }, 30000);
  afterEach(() => endClients());
  afterAll(async () => {
    await cluster?.stop();
    killClusterNodes();
  });

  it('GET /api/v1/clients on any node lists the clients of every node, each with its node', async () => {
    await connectTo(cluster.url(0), { clientId: 'adm-a' });
    await connectTo(cluster.url(1), { clientId: 'adm-b', protocolVersion: 4 });
    for (const i of [0, 1]) {
      let page: Page = { total: 0, items: [] };
      await waitFor(async () => {
        page = (await getJson<Page>(`${cluster.admin(i)}/api/v1/clients?clientIdPrefix=adm-`)).body;
        return page.total === 2;
      }, 5000, `node ${i} lists both clients`);
      expect(page.items.map((c) => [c.clientId, c.node, c.protocolLevel])).toEqual([
        ['adm-a', 'node-0', 5],
        ['adm-b', 'node-1', 4],
      ]);
    }
    // Bounded like the single-node API: a page at most.
    const one = (await getJson<Page>(`${cluster.admin(0)}/api/v1/clients?clientIdPrefix=adm-&limit=1&offset=1`)).body;
    expect(one.items.map((c) => c.clientId)).toEqual(['adm-b']);
    expect(one.total).toBe(2);
  });

  it('DELETE /api/v1/clients/:id on node 0 disconnects a client of node 1 (v5: DISCONNECT 0x98), and it leaves the listing', async () => {
    const victim = await connectTo(cluster.url(1), { clientId: 'adm-kick' });
    const closed = closedWith(victim);
    await waitFor(async () => (await getJson<Page>(`${cluster.admin(0)}/api/v1/clients?clientIdPrefix=adm-kick`)).body.total === 1, 5000);
    const res = await fetch(`${cluster.admin(0)}/api/v1/clients/adm-kick`, { method: 'DELETE', headers: { 'X-Nestmq-Request': '1' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ clientId: 'adm-kick', disconnected: true, node: 'node-1' });
    const { disconnect } = await closed;
    expect(disconnect?.reasonCode).toBe(0x98);
    await waitFor(async () => (await getJson<Page>(`${cluster.admin(0)}/api/v1/clients?clientIdPrefix=adm-kick`)).body.total === 0, 5000);
    expect((await fetch(`${cluster.admin(0)}/api/v1/clients/nobody-here`, { method: 'DELETE', headers: { 'X-Nestmq-Request': '1' } })).status).toBe(404);
  });

  it('GET /api/v1/stats has every node under nodes and cluster totals', async () => {
    await connectTo(cluster.url(0), { clientId: 'st-a' });
    await connectTo(cluster.url(1), { clientId: 'st-b' });
    await connectTo(cluster.url(1), { clientId: 'st-c' });
    type Stats = { node: string; nodes: Record<string, { clientsConnected: number } | null>; cluster: { nodes: number; clientsConnected: number } };
    let body!: Stats;
    await waitFor(async () => {
      body = (await getJson<Stats>(`${cluster.admin(0)}/api/v1/stats`)).body;
      return body.nodes?.['node-0']?.clientsConnected === 1 && body.nodes?.['node-1']?.clientsConnected === 2;
    }, 8000, 'both snapshots');
    expect(body.node).toBe('node-0');
    expect(body.cluster).toMatchObject({ nodes: 2, clientsConnected: 3 });
  });

  it('$SYS per node: each node publishes under $SYS/brokers/<node-id>/..., seen from any node; not under $SYS/broker/', async () => {
    const sub = await connectTo(cluster.url(0), { clientId: 'sys-sub' });
    const got = collect(sub);
    await sub.subscribeAsync(['$SYS/brokers/+/uptime', '$SYS/broker/#']);
    await waitFor(() => ['node-0', 'node-1'].every((n) => got.some((m) => m.topic === `$SYS/brokers/${n}/uptime`)), 8000, 'uptime of both nodes');
    expect(got.some((m) => m.topic.startsWith('$SYS/broker/'))).toBe(false);
  });

  it('readiness includes Redis (up here) and /metrics has nestmq_cluster_redis_up and the cluster counters', async () => {
    const sub = await connectTo(cluster.url(1), { clientId: 'met-sub' });
    await sub.subscribeAsync('met/#');
    await routed(await connectTo(cluster.url(0), { clientId: 'met-pub' }), sub, 'met/x');
    const ready = await getJson<{ info: Record<string, { status: string; node?: string }> }>(`${cluster.admin(1)}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.info.cluster).toMatchObject({ status: 'up', node: 'node-1', redis: 'up' });
    expect(await metric(cluster.admin(1), 'nestmq_cluster_redis_up')).toBe(1);
    expect(await metric(cluster.admin(0), 'nestmq_cluster_bus_batches_sent_total')).toBeGreaterThan(0);
    expect(await metric(cluster.admin(0), 'nestmq_cluster_bus_bytes_sent_total')).toBeGreaterThan(0);
    for (const name of ['nestmq_cluster_bus_batches_failed_total', 'nestmq_cluster_routes_local', 'nestmq_cluster_leases_lost_total', 'nestmq_cluster_bus_wait_short_total']) {
      expect(Number.isFinite(await metric(cluster.admin(0), name))).toBe(true);
    }
    // The Redis session store's own counters: the subscription and the session writes went through it.
    expect(await metric(cluster.admin(1), 'nestmq_store_redis_batches_total')).toBeGreaterThan(0);
    expect(await metric(cluster.admin(1), 'nestmq_store_redis_bytes_written_total')).toBeGreaterThan(0);
    for (const name of ['nestmq_store_redis_batches_failed_total', 'nestmq_store_redis_fenced_writes_total', 'nestmq_store_redis_load_failures_total']) {
      expect(await metric(cluster.admin(1), name)).toBe(0);
    }
  });
});

describe('cluster drain on SIGTERM (2 service processes, real redis-server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2, cli: true, config: { 'shutdown-drain-delay': 1 } });
  }, 30000);
  afterEach(() => endClients());
  afterAll(async () => {
    await cluster?.stop();
    killClusterNodes();
  });

  it('SIGTERM: readiness fails first, then DISCONNECT 0x8B after the drain delay; clients reconnect to the other node; Wills of sessions that go on are not published, a clean session\'s is, and a persistent client that does not come back gets its Will from the survivor', async () => {
    const observer = await connectTo(cluster.url(1), { clientId: 'drain-observer' });
    const wills = collect(observer);
    await observer.subscribeAsync('will/#', { qos: 1 });
    const servers = [
      { host: '127.0.0.1', port: cluster.port(0) },
      { host: '127.0.0.1', port: cluster.port(1) },
    ];
    const will = (t: string) => ({ topic: `will/${t}`, payload: Buffer.from(t), qos: 1 as const, retain: false });
    // 3.1.1, clean session 0: its session goes on, it reconnects to node 1.
    const persistent = await connectTo(cluster.url(0), { clientId: 'drain-p', protocolVersion: 4, clean: false, will: will('p'), servers, reconnectPeriod: 300 });
    // MQTT 5, Session Expiry 300 s: same.
    const v5 = await connectTo(cluster.url(0), {
      clientId: 'drain-v5', clean: false, properties: { sessionExpiryInterval: 300 }, will: will('v5'), servers, reconnectPeriod: 300,
    });
    // 3.1.1 clean session: the session ends at the close, so does its Will's reprieve.
    await connectTo(cluster.url(0), { clientId: 'drain-c', protocolVersion: 4, clean: true, will: will('c') });
    // Persistent, but does not come back: the survivor publishes its Will after the grace (lease-ms).
    await connectTo(cluster.url(0), { clientId: 'drain-gone', protocolVersion: 4, clean: false, will: will('gone') });
    await routed(persistent, observer, 'will/probe');

    const v5Closed = closedWith(v5);
    const signalAt = Date.now();
    cluster.nodes[0].child!.kill('SIGTERM');
    let notReadyAt = 0;
    await waitFor(async () => (await status(`${cluster.admin(0)}/health/ready`).catch(() => 0)) === 503 && (notReadyAt = Date.now()) > 0, 3000, 'readiness 503');
    const { disconnect, at } = await v5Closed;
    expect(notReadyAt).toBeLessThan(at); // readiness first
    expect(at - signalAt).toBeGreaterThanOrEqual(900); // shutdown-drain-delay: 1 s of service first
    expect(disconnect?.reasonCode).toBe(0x8b);

    await waitFor(() => persistent.connected && v5.connected, 8000, 'both reconnected to node 1');
    expect((persistent.options as { port?: number }).port).toBe(cluster.port(1));
    // The survivor decides the handed-over Wills after lease-ms: one published (drain-gone), two skipped.
    await waitFor(async () => (await metric(cluster.admin(1), 'nestmq_cluster_orphan_wills_skipped_total')) === 2, 10000, 'two Wills skipped');
    await waitFor(() => wills.some((m) => m.topic === 'will/gone'), 5000, 'the Will of the client that did not come back');
    await pingRoundTrip(observer);
    expect(wills.map((m) => m.topic).filter((t) => t !== 'will/probe').sort()).toEqual(['will/c', 'will/gone']);
  }, 30000);
});

describe('cluster while Redis is down (2 service processes, real redis-server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    // A lease long enough that local clients stay while Redis is away for a few seconds.
    cluster = await startCluster({ nodes: 2, cli: true, config: { cluster: { 'lease-ms': 20000 } } });
  }, 30000);
  afterEach(() => endClients());
  afterAll(async () => {
    await cluster?.stop();
    killClusterNodes();
  });

  it('readiness 503 while Redis is down, liveness 200; local QoS 0 goes on; no PUBACK for a message bound for another node; routing resumes when Redis is back', async () => {
    const remoteSub = await connectTo(cluster.url(1), { clientId: 'rd-remote' });
    const remote = collect(remoteSub);
    await remoteSub.subscribeAsync('rd/#', { qos: 1 });
    const localSub = await connectTo(cluster.url(0), { clientId: 'rd-local' });
    const local = collect(localSub);
    await localSub.subscribeAsync('local/#', { qos: 0 });
    const pub = await connectTo(cluster.url(0), { clientId: 'rd-pub' });
    await routed(pub, remoteSub, 'rd/probe');
    expect(await status(`${cluster.admin(0)}/health/ready`)).toBe(200);

    await cluster.redis.kill();
    await waitFor(async () => (await status(`${cluster.admin(0)}/health/ready`)) === 503, 5000, 'node 0 not ready');
    expect(await status(`${cluster.admin(0)}/health/live`)).toBe(200);
    expect(await metric(cluster.admin(0), 'nestmq_cluster_redis_up')).toBe(0);

    // Local QoS 0 pub/sub keeps working.
    pub.publish('local/x', 'still here', { qos: 0 });
    await waitFor(() => local.some((m) => m.payload === 'still here'), 3000, 'local delivery');

    // A QoS 1 message for node 1's subscriber needs the bus write: no PUBACK, the publisher is closed.
    const acks: string[] = [];
    pub.on('packetreceive', (p) => p.cmd === 'puback' && acks.push(p.cmd));
    const closed = closedWith(pub);
    pub.publish('rd/lost', 'no ack', { qos: 1 });
    await closed;
    expect(acks).toEqual([]);
    const before = await metric(cluster.admin(0), 'nestmq_cluster_bus_batches_failed_total');
    expect(before).toBeGreaterThan(0);

    await cluster.redis.start();
    await waitFor(async () => (await status(`${cluster.admin(0)}/health/ready`)) === 200, 10000, 'node 0 ready again');
    await waitFor(async () => (await status(`${cluster.admin(1)}/health/ready`)) === 200, 10000, 'node 1 ready again');
    expect(await metric(cluster.admin(0), 'nestmq_cluster_redis_up')).toBe(1);
    // Routes re-asserted by the resync (Redis restarted empty): cross-node delivery resumes.
    const pub2 = await connectTo(cluster.url(0), { clientId: 'rd-pub2' });
    await routed(pub2, remoteSub, 'rd/probe', 10000);
    await pub2.publishAsync('rd/after', 'back', { qos: 1 });
    await waitFor(() => remote.some((m) => m.payload === 'back'), 5000, 'cross-node delivery');
    // The admin directory came back too (rewritten after the rejoin).
    await waitFor(async () => (await getJson<Page>(`${cluster.admin(1)}/api/v1/clients?clientIdPrefix=rd-`)).body.total === 3, 8000, 'directory rewritten');
  }, 40000);
});
