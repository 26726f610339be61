/**
 * Losing a node (docs/cluster.md "Losing a node"): SIGKILL mid-stream; its clients reconnect to
 * another node and continue, no acknowledged message is lost on the way to other nodes; the Wills
 * of its clients are published by the survivor that claims its cleanup, after their Will Delay,
 * unless the client took its id elsewhere meanwhile. Three broker processes, one redis-server.
 * Needs dist/.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, TEST_NODE_TTL_MS, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients, routed } from './cluster-clients';

/** Resolves with the time of the first message on `topic`. */
function firstMessage(client: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve) => {
    const on = (t: string): void => {
      if (t !== topic) return;
      client.off('message', on);
      resolve(Date.now());
    };
    client.on('message', on);
  });
}

describe('cluster: losing a node (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 3 });
  }, 30000);
  afterEach(async () => {
    await endClients();
    await cluster?.stop();
  });
  afterAll(() => killClusterNodes());

  it('SIGKILL of the publisher\'s node mid-stream: it reconnects to another node and continues; every acknowledged QoS 1 message reaches the subscriber', async () => {
    const sub = await connectTo(cluster.url(2), { clientId: 'death-sub' });
    await sub.subscribeAsync('stream/#', { qos: 1 });
    const servers = [0, 1].map((i) => ({ host: '127.0.0.1', port: cluster.port(i) }));
    const pub = await connectTo(cluster.url(0), { clientId: 'death-pub', servers, reconnectPeriod: 100 });
    await routed(pub, sub, 'stream/probe');
    const got = collect(sub);
    const acked = new Set<number>();
    let stop = false;
    let seq = 0;
    const publishing = (async () => {
      while (!stop) {
        const n = seq++;
        // PUBACK only once the bus batch carrying it reached Redis; retried by MQTT.js after the reconnect.
        await pub.publishAsync('stream/x', String(n), { qos: 1 }).then(() => acked.add(n), () => undefined);
      }
    })();
    await waitFor(() => acked.size >= 50, 5000, '50 acknowledged before the kill');
    const ackedBeforeKill = acked.size;
    await cluster.kill(0);
    // Continues through node 1.
    await waitFor(() => acked.size >= ackedBeforeKill + 50, 10000, '50 more acknowledged after the kill');
    stop = true;
    await publishing;
    await waitFor(() => [...acked].every((n) => got.some((m) => Number(m.payload) === n)), 5000, 'every acknowledged message delivered');
    expect(pub.connected).toBe(true);
    expect((pub.options as { port?: number }).port).toBe(cluster.port(1));
  });

  it('the Will of a client of a SIGKILLed node is published by a survivor within node TTL + reap interval', async () => {
    const watcher = await connectTo(cluster.url(2), { clientId: 'will-watcher' });
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    const probePub = await connectTo(cluster.url(1), { clientId: 'will-probe' });
    await routed(probePub, watcher, 'wills/probe');
    await connectTo(cluster.url(1), { clientId: 'dies-with-node', will: { topic: 'wills/dead', payload: Buffer.from('gone'), qos: 1, retain: false } });
    const will = firstMessage(watcher, 'wills/dead');
    const killedAt = Date.now();
    await cluster.kill(1);
    const at = await will;
    // Detection: the heartbeat TTL plus at most one reap pass (TTL / 4), plus scheduling slack.
    expect(at - killedAt).toBeLessThan(TEST_NODE_TTL_MS + 1500);
  });

  it('v5 [MQTT-3.1.2-8] a dead node\'s client Will waits for its Will Delay; v5 [MQTT-3.1.3-9] none when the client reconnected elsewhere within it', async () => {
    const watcher = await connectTo(cluster.url(2), { clientId: 'delay-watcher' });
    await watcher.subscribeAsync('dwills/#', { qos: 1 });
    const probePub = await connectTo(cluster.url(1), { clientId: 'delay-probe' });
    await routed(probePub, watcher, 'dwills/probe');
    const got = collect(watcher);
    const will = (topic: string): NonNullable<IClientOptions['will']> => ({ topic, payload: Buffer.from('late'), qos: 1, retain: false, properties: { willDelayInterval: 2 } });
    await connectTo(cluster.url(0), { clientId: 'delayed', clean: false, properties: { sessionExpiryInterval: 60 }, will: will('dwills/delayed') });
    await connectTo(cluster.url(0), { clientId: 'comes-back', clean: false, properties: { sessionExpiryInterval: 60 }, will: will('dwills/back') });
    const delayed = firstMessage(watcher, 'dwills/delayed');
    const killedAt = Date.now();
    await cluster.kill(0);
    // 'comes-back' reconnects to node 1 at once: its id's lease gets a newer token.
    await connectTo(cluster.url(1), { clientId: 'comes-back', clean: false, properties: { sessionExpiryInterval: 60 } });
    const at = await delayed;
    expect(at - killedAt).toBeGreaterThanOrEqual(2000);
    expect(at - killedAt).toBeLessThan(2000 + TEST_NODE_TTL_MS + 1500);
    // Both Wills were due together; one more round trip through node 1 to the watcher: no other Will.
    await routed(probePub, watcher, 'dwills/probe');
    expect(got.map((m) => m.topic)).toEqual(['dwills/delayed']);
  });
});
