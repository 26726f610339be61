/**
 * RouteTable against a real redis-server: three "nodes" in one process, each with its own
 * connections. Routes travel only to nodes with a matching filter; a restart resyncs by itself.
 */
import type Redis from 'ioredis';
import { ClusterKeys } from '../../src/core/cluster/keys';
import type { RedisFactory } from '../../src/core/cluster/redis-connection';
import { compareIds } from '../../src/core/cluster/redis-message-bus';
import { RedisRouteTable } from '../../src/core/cluster/redis-route-table';
import { RouteMatch } from '../../src/core/cluster/types';
import { type RedisServer, startRedis } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

const sorted = (a: string[]): string[] => [...a].sort();

describe('RedisRouteTable', () => {
  let redis: RedisServer;
  let tables: RedisRouteTable[];
  const factory = (): RedisFactory => (role) => redis.client(role === 'blocking' ? { autoResendUnfulfilledCommands: false } : {});

  async function nodes(...ids: string[]): Promise<RedisRouteTable[]> {
    const made = ids.map((nodeId) => new RedisRouteTable({ nodeId, connect: factory(), blockMs: 500 }));
    await Promise.all(made.map((t) => t.start()));
    tables.push(...made);
    return made;
  }

  beforeEach(async () => {
    redis = await startRedis({ appendonly: 'no' });
    tables = [];
  });
  afterEach(async () => {
    await Promise.all(tables.map((t) => t.close()));
    await redis.destroy();
  }, 60_000); // closing clients that are reconnecting to a restarted Redis can take a while on a loaded machine

  test('a message goes only to the nodes holding a matching filter, seen by every node', async () => {
    const [a, b, c] = await nodes('a', 'b', 'c');
    a.addFilter('sensors/+/temp');
    b.addFilter('sensors/#');
    c.addFilter('other/x');
    await Promise.all([a.flushed(), b.flushed(), c.flushed()]);
    for (const t of [a, b, c]) {
      await waitFor(() => t.nodesFor('other/x').length === 1 && t.nodesFor('sensors/1/temp').length === 2, 3000, `routes on ${t.nodeId}`);
      expect(sorted(t.nodesFor('sensors/1/temp'))).toEqual(['a', 'b']);
      expect(t.nodesFor('sensors/1/hum')).toEqual(['b']);
      expect(t.nodesFor('other/x')).toEqual(['c']);
      expect(t.nodesFor('nothing/here')).toEqual([]);
    }
  });

  test('mark: a cut marker after the route changes made before it, one per turn; a node that applied it routes to those filters', async () => {
    const [a, b] = await nodes('a', 'b');
    const inspect: Redis = redis.inspector();
    const keys = new ClusterKeys();
    a.addFilter('moved/1/#');
    const first = a.mark();
    a.addFilter('moved/2/#'); // same turn: shares the marker, and is written before it too
    const second = a.mark();
    const [m1, m2] = await Promise.all([first, second]);
    expect(m2).toBe(m1);
    const log = await inspect.xrange(keys.routeLog, '-', '+');
    const at = (f: string): number => log.findIndex(([, fields]) => fields.includes(f));
    const marker = log.findIndex(([id]) => id === m1);
    expect(marker).toBeGreaterThan(at('moved/1/#'));
    expect(marker).toBeGreaterThan(at('moved/2/#'));
    expect(log[marker][1]).toEqual(['op', 'c', 'n', 'a']);
    // A later turn gets a later marker.
    const m3 = await a.mark();
    expect(compareIds(m3, m1)).toBe(1);
    // b, once its applied position is at the marker, routes the filters to a.
    await waitFor(() => b.appliedPosition === m3, 3000, 'b applied the marker');
    expect(b.nodesFor('moved/2/x')).toEqual(['a']);
  });

  test('handOver: a dead node\'s routes go and its adopter holds the adopted filters in ONE log entry; the adopter still routes to the dead node until forgetNode', async () => {
    const [a, b, c] = await nodes('a', 'b', 'c');
    const inspect: Redis = redis.inspector();
    const keys = new ClusterKeys();
    c.addFilter('dev/1/#');
    c.addFilter('clean/only');
    c.addFilter('$share/g/jobs/#');
    await c.flushed();
    await waitFor(() => a.nodesFor('dev/1/x').includes('c') && b.nodesFor('dev/1/x').includes('c'), 3000, 'c\'s routes everywhere');
    const before = await inspect.xlen(keys.routeLog);
    await b.handOver('c', ['dev/1/#', '$share/g/jobs/#']);
    expect(await inspect.xlen(keys.routeLog)).toBe(before + 1);
    expect(sorted(await inspect.smembers(keys.routes('b')))).toEqual(['$share/g/jobs/#', 'dev/1/#']);
    expect(await inspect.exists(keys.routes('c'))).toBe(0);
    await waitFor(() => a.nodesFor('dev/1/x').join() === 'b', 3000, 'the handover on a');
    expect(a.nodesFor('clean/only')).toEqual([]); // a clean session's filter is not adopted
    expect(a.nodesFor('jobs/1')).toEqual(['b']);
    // The adopter's own copy switches when it says so (its local publishers keep the order).
    expect(b.nodesFor('dev/1/x')).toEqual(['c']);
    b.forgetNode('c');
    expect(b.nodesFor('dev/1/x')).toEqual([]);
    // A snapshot (a node started now) agrees with the log.
    const [d] = await nodes('d');
    expect(d.nodesFor('dev/1/x')).toEqual(['b']);
  });

  test('reference counts: only the first add and the last remove reach Redis', async () => {
    const [a, b] = await nodes('a', 'b');
    const inspect: Redis = redis.inspector();
    const keys = new ClusterKeys();
    a.addFilter('x/y');
    a.addFilter('x/y');
    await a.flushed();
    expect(await inspect.xlen(keys.routeLog)).toBe(1);
    a.removeFilter('x/y');
    await a.flushed();
    expect(await inspect.smembers(keys.routes('a'))).toEqual(['x/y']);
    await waitFor(() => b.nodesFor('x/y').length === 1, 3000, 'b sees x/y');
    a.removeFilter('x/y');
    await a.flushed();
    expect(await inspect.smembers(keys.routes('a'))).toEqual([]);
    expect(await inspect.xlen(keys.routeLog)).toBe(2);
    await waitFor(() => b.nodesFor('x/y').length === 0, 3000, 'b drops x/y');
  });

  test('shared subscriptions: one node per group, round-robin; the picked node learns the group', async () => {
    const [a, b, c] = await nodes('a', 'b', 'c');
    a.addFilter('$share/g/jobs/+');
    b.addFilter('$share/g/jobs/+');
    c.addFilter('jobs/#');
    await Promise.all([a.flushed(), b.flushed(), c.flushed()]);
    await waitFor(() => sorted(c.knownNodes()).join() === 'a,b,c', 3000, 'c sees both members of the group');
    const picks: string[] = [];
    const out = new RouteMatch();
    for (let i = 0; i < 4; i++) {
      c.match('jobs/1', out);
      const nodesNow = out.nodes.slice(0, out.nodeCount);
      expect(nodesNow).toContain('c');
      expect(nodesNow).toHaveLength(2);
      picks.push(nodesNow.find((n) => n !== 'c')!);
    }
    expect(sorted(picks)).toEqual(['a', 'a', 'b', 'b']);
    // on a picked node, match() names the group it must deliver to locally
    await waitFor(() => sorted(a.knownNodes()).join() === 'a,b,c', 3000, 'a sees b and c');
    let local = 0;
    for (let i = 0; i < 4; i++) {
      a.match('jobs/1', out);
      if (out.localGroupCount === 1) {
        expect(out.localGroups[0]).toBe('$share/g/jobs/+');
        local++;
      }
    }
    expect(local).toBe(2);
  });

  test('dropNode removes a node\'s routes on every node', async () => {
    const [a, b, c] = await nodes('a', 'b', 'c');
    b.addFilter('t/#');
    await b.flushed();
    await waitFor(() => a.nodesFor('t/1').length === 1 && c.nodesFor('t/1').length === 1, 3000, 'b routes seen');
    await a.dropNode('b');
    await waitFor(() => a.nodesFor('t/1').length === 0 && c.nodesFor('t/1').length === 0, 3000, 'b routes dropped');
  });

  test('a garbage route in Redis is skipped, not thrown', async () => {
    const [a] = await nodes('a');
    const inspect = redis.inspector();
    const keys = new ClusterKeys();
    await inspect.xadd(keys.routeLog, '*', 'op', '+', 'n', 'evil', 'f', 'a/#/b');
    await inspect.xadd(keys.routeLog, '*', 'op', '+', 'n', 'ok', 'f', 'a/b');
    await waitFor(() => a.nodesFor('a/b').length === 1, 3000, 'valid route after the bad one');
    expect(a.stats.invalidRoutes).toBe(1);
  });

  test('Redis restarted empty: every node re-asserts its routes and resyncs by itself', async () => {
    const [a, b, c] = await nodes('a', 'b', 'c');
    a.addFilter('one/#');
    b.addFilter('two/#');
    await Promise.all([a.flushed(), b.flushed()]);
    await waitFor(() => c.nodesFor('one/1').length === 1 && c.nodesFor('two/1').length === 1, 3000, 'initial routes');
    await redis.restart('kill'); // appendonly no: the restarted server is empty
    const inspect = redis.inspector();
    const keys = new ClusterKeys();
    await waitFor(async () => (await inspect.smembers(keys.routes('a')).catch(() => [])).length === 1, 8000, 'a re-asserted');
    await waitFor(async () => (await inspect.smembers(keys.routes('b')).catch(() => [])).length === 1, 8000, 'b re-asserted');
    // a change made after the restart reaches everyone through the log
    c.addFilter('three/#');
    await c.flushed();
    for (const t of [a, b, c]) {
      await waitFor(() => t.nodesFor('one/1').join() === 'a' && t.nodesFor('two/1').join() === 'b' && t.nodesFor('three/1').join() === 'c', 8000, `resync on ${t.nodeId}`);
    }
    expect(a.stats.resyncs).toBeGreaterThanOrEqual(2);
  });
});
