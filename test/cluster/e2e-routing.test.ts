/**
 * Routing across broker processes (docs/cluster.md "Routing"): three nodes, one redis-server, real
 * MQTT.js and mosquitto clients. Needs dist/ (rm -rf dist && npx tsc -p tsconfig.build.json).
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { startCluster, killClusterNodes, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients, routed } from './cluster-clients';

const run = promisify(execFile);

describe('cluster routing (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
  }, 30000);
  afterEach(() => endClients());
  afterAll(async () => {
    await cluster?.stop();
    killClusterNodes();
  });

  const inbox = (node: number): string => `nestmq:{n:node-${node}}:in`;

  it('QoS 0, 1 and 2 published on node 0 reach subscribers on nodes 1 and 2 at their QoS', async () => {
    const pub = await connectTo(cluster.url(0));
    const sub1 = await connectTo(cluster.url(1));
    const sub2 = await connectTo(cluster.url(2), { protocolVersion: 4 }); // a 3.1.1 subscriber too
    await sub1.subscribeAsync('r/#', { qos: 2 });
    await sub2.subscribeAsync('r/#', { qos: 2 });
    await routed(pub, sub1, 'r/probe');
    await routed(pub, sub2, 'r/probe');
    const got1 = collect(sub1);
    const got2 = collect(sub2);
    // publishAsync resolves on PUBACK / PUBCOMP: given only once the bus batch reached Redis.
    await pub.publishAsync('r/q0', 'zero', { qos: 0 });
    await pub.publishAsync('r/q1', 'one', { qos: 1 });
    await pub.publishAsync('r/q2', 'two', { qos: 2 });
    await waitFor(() => got1.length === 3 && got2.length === 3, 5000, 'three messages on each node');
    const expected = [
      { topic: 'r/q0', payload: 'zero', qos: 0 },
      { topic: 'r/q1', payload: 'one', qos: 1 },
      { topic: 'r/q2', payload: 'two', qos: 2 },
    ];
    expect(got1).toEqual(expected);
    expect(got2).toEqual(expected);
  });

  it('v5 [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] MQTT 5 properties travel to another node unchanged; v5 [MQTT-3.3.2-6] Message Expiry as the interval left', async () => {
    const pub = await connectTo(cluster.url(1));
    const sub = await connectTo(cluster.url(2));
    await sub.subscribeAsync('props/#', { qos: 1 });
    await routed(pub, sub, 'props/probe');
    const got = new Promise<Record<string, unknown>>((resolve) => {
      sub.on('message', (topic, _payload, packet) => {
        if (topic === 'props/x') resolve(packet.properties as Record<string, unknown>);
      });
    });
    const properties = {
      userProperties: { a: '1', b: '2' },
      contentType: 'text/plain',
      responseTopic: 'props/reply',
      correlationData: Buffer.from('corr'),
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
    };
    await pub.publishAsync('props/x', 'with properties', { qos: 1, properties });
    const p = await got;
    expect(p).toMatchObject({
      userProperties: { a: '1', b: '2' },
      contentType: 'text/plain',
      responseTopic: 'props/reply',
      correlationData: Buffer.from('corr'),
      payloadFormatIndicator: true,
    });
    expect(p.messageExpiryInterval).toBeGreaterThanOrEqual(59);
    expect(p.messageExpiryInterval).toBeLessThanOrEqual(60);
  });

  it('keeps the order of one publisher: 300 QoS 1 messages arrive on another node in order', async () => {
    const pub = await connectTo(cluster.url(2));
    const sub = await connectTo(cluster.url(0));
    await sub.subscribeAsync('order/#', { qos: 1 });
    await routed(pub, sub, 'order/probe');
    const got = collect(sub);
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) sent.push(pub.publishAsync('order/x', String(i), { qos: 1 }));
    await Promise.all(sent);
    await waitFor(() => got.length === 300, 10000, '300 messages');
    expect(got.map((m) => Number(m.payload))).toEqual([...Array(300).keys()]);
  });

  it('sends a message only to the nodes with a matching route: nothing reaches the inbox of a node without one', async () => {
    const redis = cluster.redis.inspector();
    const pub = await connectTo(cluster.url(1));
    const sub = await connectTo(cluster.url(0));
    await sub.subscribeAsync('only0/#', { qos: 1 });
    await routed(pub, sub, 'only0/probe');
    const got = collect(sub);
    const N = 500;
    const before = { n0: await redis.xlen(inbox(0)), n2: await redis.xlen(inbox(2)) };
    const memBefore = Number((await redis.call('MEMORY', 'USAGE', inbox(0), 'SAMPLES', '0')) ?? 0);
    // 26-byte payloads, one per turn (each awaits its PUBACK): one XADD each, the worst case.
    for (let i = 0; i < N; i++) await pub.publishAsync('only0/a/b', `payload-${String(i).padStart(18, '0')}`, { qos: 1 });
    // A topic nobody subscribes to anywhere: no Redis write at all.
    for (let i = 0; i < 20; i++) await pub.publishAsync('nobody/x', 'x', { qos: 1 });
    await waitFor(() => got.length === N, 5000, `${N} messages on node 0`);
    const after = { n0: await redis.xlen(inbox(0)), n2: await redis.xlen(inbox(2)) };
    expect(after.n2).toBe(before.n2);
    expect(after.n0 - before.n0).toBeGreaterThan(0);
    expect(after.n0 - before.n0).toBeLessThanOrEqual(N);
    const memAfter = Number(await redis.call('MEMORY', 'USAGE', inbox(0), 'SAMPLES', '0'));
    // Reported in docs/cluster.md: Redis bytes per routed message, one message per turn.
    // (MEMORY USAGE grows by whole stream nodes of <= 4 KB: N = 500 keeps that error under 10 bytes.)
    process.stdout.write(`cluster routing: ${((memAfter - memBefore) / N).toFixed(1)} Redis bytes per routed message (one per turn, topic 9 B, publisher id 15 B, payload 26 B)\n`);
  });

  it('mosquitto_pub -V mqttv5 on node 0 reaches mosquitto_sub -V mqttv5 on node 2 (QoS 1)', async () => {
    const sub = spawn('mosquitto_sub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(cluster.port(2)), '-q', '1', '-t', 'mosq/#', '-v', '-W', '10']);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => sub.once('exit', () => r()));
    try {
      // Until the route reached node 0: mosquitto_pub again every 100 ms (each a new connection).
      await waitFor(
        async () => {
          await run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(cluster.port(0)), '-q', '1', '-t', 'mosq/hello', '-m', 'from node 0']);
          return out.includes('mosq/hello from node 0');
        },
        8000,
        'mosquitto_sub output',
      );
    } finally {
      sub.kill('SIGTERM');
      await exited;
    }
    expect(out).toContain('mosq/hello from node 0\n');
  });

  it('does not acknowledge a QoS 1 message bound for another node while Redis is down: the publisher is closed, no PUBACK', async () => {
    const pub = await connectTo(cluster.url(0));
    const sub = await connectTo(cluster.url(1));
    await sub.subscribeAsync('down/#', { qos: 1 });
    await routed(pub, sub, 'down/probe');
    await cluster.redis.kill();
    try {
      let acked = false;
      const closed = new Promise<void>((r) => pub.once('close', () => r()));
      pub.publish('down/x', 'lost?', { qos: 1 }, (err) => {
        if (err === undefined || err === null) acked = true;
      });
      await closed;
      expect(acked).toBe(false);
    } finally {
      await cluster.redis.start();
    }
  });

  it('refuses a CONNECT while Redis is down with CONNACK 0x88 Server unavailable (the client id cannot be owned cluster-wide)', async () => {
    await cluster.redis.kill();
    try {
      await expect(connectTo(cluster.url(2), { clientId: 'no-redis' })).rejects.toMatchObject({ code: 0x88 });
    } finally {
      await cluster.redis.start();
    }
  });
});
