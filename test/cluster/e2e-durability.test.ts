/**
 * Strict durability (docs/cluster.md "Durability", docs/durability.md "## Redis"):
 * persistence.redis-wait-replicas makes every Redis batch a QoS 1/2 acknowledgement depends on
 * (the bus batch carrying a message to another node, the session/retained store batch) end with
 * WAIT: the PUBACK leaves only once a replica has the write; with the replica gone, WAIT times
 * out, the batch fails and the PUBACK is never sent (the publisher is closed and sends again after
 * reconnecting). A real primary and a real replica redis-server (--replicaof), 2 broker processes.
 * Needs dist/.
 */
import type Redis from 'ioredis';
import type { MqttClient } from 'mqtt';
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { type RedisServer, startRedis } from '../helpers/redis';
import { waitFor } from '../helpers/wait';
import { connectTo, endClients, routed } from './cluster-clients';

/** Publishes QoS 1 and reports whether a PUBACK came or the connection closed first. */
function publishOutcome(client: MqttClient, topic: string, payload: string, retain = false): Promise<'puback' | 'closed'> {
  return new Promise((resolve) => {
    const onClose = (): void => resolve('closed');
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err) return; // the close reports it
      client.off('close', onClose);
      resolve('puback');
    });
  });
}

describe('cluster: strict durability, WAIT for a replica (2 nodes, primary + replica redis-server)', () => {
  let cluster: TestCluster;
  let replica: RedisServer;
  let replicaClient: Redis;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2, config: { persistence: { 'redis-wait-replicas': 1, 'redis-wait-timeout': 300 } } });
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(cluster.redis.port)] });
    replicaClient = replica.inspector();
    const primary = cluster.redis.inspector();
    await waitFor(async () => /connected_slaves:1/.test(await primary.info('replication')) && /master_link_status:up/.test(await replicaClient.info('replication')), 10000, 'the replica in sync');
  }, 40000);
  afterEach(() => endClients());
  afterAll(async () => {
    await replica?.destroy();
    await cluster?.stop();
    killClusterNodes();
  });

  it('with the replica up, a QoS 1 PUBACK comes once the replica has the write: the message bound for another node and a retained message', async () => {
    const sub = await connectTo(cluster.url(1), { clientId: 'wait-sub' });
    await sub.subscribeAsync('wait/#', { qos: 1 });
    const pub = await connectTo(cluster.url(0), { clientId: 'wait-pub' });
    await routed(pub, sub, 'wait/probe');
    expect(await publishOutcome(pub, 'wait/x', 'replicated')).toBe('puback');
    // The inbox entry carrying it is on the replica at the moment of the PUBACK.
    const entries = await replicaClient.xrange('nestmq:{n:node-1}:in', '-', '+');
    expect(entries.some(([, fields]) => fields.join(' ').includes('replicated'))).toBe(true);
    expect(await publishOutcome(pub, 'kept/r', 'retained', true)).toBe('puback');
    expect(await replicaClient.hexists('nestmq:retained', 'kept/r')).toBe(1);
  });

  it('with the replica gone, WAIT times out: no PUBACK, the publisher is closed (bus batch and retained store batch alike)', async () => {
    const sub = await connectTo(cluster.url(1), { clientId: 'nowait-sub' });
    await sub.subscribeAsync('wait/#', { qos: 1 });
    const pub = await connectTo(cluster.url(0), { clientId: 'nowait-pub' });
    await routed(pub, sub, 'wait/probe');
    await replica.kill();
    const primary = cluster.redis.inspector();
    await waitFor(async () => /connected_slaves:0/.test(await primary.info('replication')), 10000, 'the primary without replica');
    expect(await publishOutcome(pub, 'wait/x', 'not-replicated')).toBe('closed');
    const pub2 = await connectTo(cluster.url(1), { clientId: 'nowait-pub2' });
    expect(await publishOutcome(pub2, 'alone/r', 'retained', true)).toBe('closed');
  });
});
