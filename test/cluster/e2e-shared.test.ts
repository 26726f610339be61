/**
 * Shared subscriptions cluster-wide (docs/cluster.md "Shared subscriptions"): the publisher's node
 * picks one node per group, that node one local member: each message once per group. Three
 * broker processes, one redis-server, MQTT.js clients. Needs dist/.
 */
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients, routed } from './cluster-clients';

describe('cluster shared subscriptions (3 nodes, real redis-server)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
  }, 30000);
  afterEach(() => endClients());
  afterAll(async () => {
    await cluster?.stop();
    killClusterNodes();
  });

  /** Until every node's route set in Redis holds `filter`. */
  async function routesStored(filter: string, nodes: number[]): Promise<void> {
    const redis = cluster.redis.inspector();
    await waitFor(async () => {
      for (const n of nodes) if ((await redis.sismember(`nestmq:{meta}:routes:node-${n}`, filter)) !== 1) return false;
      return true;
    }, 5000, `routes for ${filter}`);
  }

  it('v5 [MQTT-4.8.2-3] a group with a member on each of 3 nodes gets each message once, at the member\'s QoS; a second group and a plain subscriber get their own copy', async () => {
    const members = await Promise.all([0, 1, 2].map((n) => connectTo(cluster.url(n), { clientId: `member-${n}` })));
    await Promise.all(members.map((m, n) => m.subscribeAsync('$share/g1/sh/#', { qos: n === 2 ? 0 : 1 })));
    const g2 = await Promise.all([1, 2].map((n) => connectTo(cluster.url(n), { clientId: `g2-${n}` })));
    await Promise.all(g2.map((m) => m.subscribeAsync('$share/g2/sh/#', { qos: 1 })));
    const plain = await connectTo(cluster.url(1), { clientId: 'plain-1' });
    await plain.subscribeAsync('sh/#', { qos: 1 });
    await routesStored('$share/g1/sh/#', [0, 1, 2]);
    await routesStored('$share/g2/sh/#', [1, 2]);
    // A route stored after those (one route log): once node 0 routes it, it knows the groups too.
    const pub = await connectTo(cluster.url(0), { clientId: 'shared-pub' });
    const probe = await connectTo(cluster.url(2));
    await probe.subscribeAsync('sync/shared', { qos: 0 });
    await routed(pub, probe, 'sync/shared');

    const got1 = members.map((m) => collect(m));
    const got2 = g2.map((m) => collect(m));
    const gotPlain = collect(plain);
    const N = 60;
    for (let i = 0; i < N; i++) await pub.publishAsync('sh/x', String(i), { qos: 1 });
    const count = (lists: { payload: string }[][]): number => lists.reduce((n, l) => n + l.length, 0);
    await waitFor(() => count(got1) >= N && count(got2) >= N && gotPlain.length >= N, 8000, 'every copy');
    // One more round trip to each member: nothing else is on its way.
    await Promise.all([...members, ...g2, plain].map((c) => c.publishAsync('nobody/else', '', { qos: 1 })));
    const sorted = (lists: { payload: string }[][]): number[] => lists.flat().map((m) => Number(m.payload)).sort((a, b) => a - b);
    expect(sorted(got1)).toEqual([...Array(N).keys()]);
    expect(sorted(got2)).toEqual([...Array(N).keys()]);
    expect(gotPlain.map((m) => Number(m.payload))).toEqual([...Array(N).keys()]);
    // Spread over the nodes (round-robin per group), each member at its own granted QoS.
    expect(got1.filter((l) => l.length > 0).length).toBeGreaterThanOrEqual(2);
    expect(got1[2].every((m) => (m as { qos: number }).qos === 0)).toBe(true);
    expect(got1[0].every((m) => (m as { qos: number }).qos === 1)).toBe(true);
  });
});
