/**
 * The assembled Redis cluster engine, three nodes in one process against a real redis-server:
 * a publish routed by the route table and carried by the bus reaches only the subscribed nodes;
 * Redis killed mid-stream and restarted empty: every part reconnects and resyncs by itself.
 */
import type { RedisFactory } from '../../src/core/cluster/redis-connection';
import { RedisClusterEngine } from '../../src/core/cluster/redis-engine';
import { type ClusterMessage, RouteMatch } from '../../src/core/cluster/types';
import { type RedisServer, startRedis } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

describe('RedisClusterEngine', () => {
  let redis: RedisServer;
  let engines: RedisClusterEngine[];
  const received = new Map<string, string[]>();
  const factory = (): RedisFactory => (role) => redis.client(role === 'blocking' ? { autoResendUnfulfilledCommands: false } : {});

  beforeEach(async () => {
    redis = await startRedis({ appendonly: 'no' });
    received.clear();
    engines = ['a', 'b', 'c'].map((nodeId) => new RedisClusterEngine({ nodeId, connect: factory(), nodeTtlMs: 600, reapMs: 200, leaseMs: 3000, blockMs: 500 }));
    await Promise.all(engines.map((e) => {
      received.set(e.nodeId, []);
      return e.start((m: ClusterMessage) => received.get(e.nodeId)!.push(`${m.origin}>${m.topic}`));
    }));
  });
  afterEach(async () => {
    await Promise.all(engines.map((e) => e.close()));
    await redis.destroy();
  }, 60_000); // closing clients that are reconnecting to a restarted Redis can take a while on a loaded machine

  /** What a node's router would do with a local PUBLISH. */
  function publish(from: RedisClusterEngine, topic: string, out = new RouteMatch()): void {
    from.routes.match(topic, out);
    from.bus.send({ topic, payload: Buffer.from('x'), qos: 1, retain: false, origin: from.nodeId, publisherId: 'p', properties: null }, out.nodes, out.nodeCount);
  }

  test('routed, not broadcast; survives Redis being killed and restarted empty', async () => {
    const [a, b, c] = engines;
    b.routes.addFilter('room/+/temp');
    await b.routes.flushed();
    await waitFor(() => a.routes.nodesFor('room/1/temp').join() === 'b', 3000, 'route of b on a');
    publish(a, 'room/1/temp');
    publish(a, 'hall/1/temp'); // nobody: no Redis write at all
    await waitFor(() => received.get('b')!.length === 1, 3000, 'b got it');
    expect(received.get('c')).toEqual([]);
    expect(a.bus.stats.sentEntries).toBe(1);

    await redis.restart('kill');
    // nobody calls anything: routes, membership, bus and leases find their way back
    await waitFor(async () => (await a.membership.liveNodes().catch(() => [])).join() === 'a,b,c', 10000, 'members back');
    await waitFor(() => a.routes.nodesFor('room/1/temp').join() === 'b' && c.routes.nodesFor('room/1/temp').join() === 'b', 10000, 'routes back');
    c.routes.addFilter('room/#');
    await c.routes.flushed();
    await waitFor(() => a.routes.nodesFor('room/2/temp').length === 2, 10000, 'new route after restart');
    publish(a, 'room/2/temp');
    await waitFor(() => received.get('b')!.includes('a>room/2/temp') && received.get('c')!.includes('a>room/2/temp'), 10000, 'delivery after restart');
  });

  test('a node that dies: survivors drop its routes and one of them gets onNodeDied', async () => {
    const [a, b, c] = engines;
    const died: string[] = [];
    a.membership.onNodeDied((id) => void died.push(`a:${id}`));
    b.membership.onNodeDied((id) => void died.push(`b:${id}`));
    c.routes.addFilter('c/#');
    await c.routes.flushed();
    await waitFor(() => a.routes.nodesFor('c/1').join() === 'c', 3000, 'route of c');
    c.membership.crash();
    await waitFor(() => died.length === 1 && a.routes.nodesFor('c/1').length === 0 && b.routes.nodesFor('c/1').length === 0, 5000, 'c reaped');
    expect(died[0]).toMatch(/^[ab]:c$/);
  });
});
