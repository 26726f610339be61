/** NodeMembership against a real redis-server: a crashed node is detected after its TTL, cleaned once. */
import type { RedisFactory } from '../../src/core/cluster/redis-connection';
import { RedisMembership } from '../../src/core/cluster/redis-membership';
import { RedisRouteTable } from '../../src/core/cluster/redis-route-table';
import { type RedisServer, startRedis } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

describe('RedisMembership', () => {
  let redis: RedisServer;
  const closers: (() => Promise<void>)[] = [];
  const factory = (): RedisFactory => (role) => redis.client(role === 'blocking' ? { autoResendUnfulfilledCommands: false } : {});

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await redis.destroy();
  }, 60_000); // closing clients that are reconnecting to a restarted Redis can take a while on a loaded machine

  async function node(nodeId: string, died: string[]): Promise<{ m: RedisMembership; r: RedisRouteTable }> {
    const r = new RedisRouteTable({ nodeId, connect: factory(), blockMs: 500 });
    await r.start();
    const m = new RedisMembership({ nodeId, connect: factory(), ttlMs: 300, reapMs: 100, cleanup: (id) => r.dropNode(id) });
    m.onNodeDied((id) => void died.push(`${nodeId}:${id}`));
    await m.start();
    closers.push(() => m.close(), () => r.close());
    return { m, r };
  }

  test('a crashed node is seen dead after its TTL; exactly one survivor cleans its routes and calls onNodeDied', async () => {
    const died: string[] = [];
    const a = await node('a', died);
    const b = await node('b', died);
    const c = await node('c', died);
    c.r.addFilter('c/only');
    await c.r.flushed();
    await waitFor(() => a.r.nodesFor('c/only').length === 1 && b.r.nodesFor('c/only').length === 1, 3000, 'route of c');
    expect(await a.m.liveNodes()).toEqual(['a', 'b', 'c']);
    const crashedAt = Date.now();
    c.m.crash();
    await waitFor(() => died.length === 1, 3000, 'death of c');
    const detectedAfter = Date.now() - crashedAt;
    console.log(`node death detected after ${detectedAfter} ms (TTL 300 ms, reap every 100 ms)`);
    expect(detectedAfter).toBeGreaterThanOrEqual(200); // not before its TTL (heartbeat may be up to ttl/3 old)
    expect(died[0]).toMatch(/^[ab]:c$/);
    await waitFor(() => a.r.nodesFor('c/only').length === 0 && b.r.nodesFor('c/only').length === 0, 3000, 'routes of c gone');
    expect(await a.m.liveNodes()).toEqual(['a', 'b']);
    await new Promise((r) => setTimeout(r, 400)); // a few more reap passes: nobody reports c again
    expect(died).toHaveLength(1);
  });

  test('a clean close is seen at once, without a TTL wait or onNodeDied', async () => {
    const died: string[] = [];
    const a = await node('a', died);
    const b = await node('b', died);
    await b.m.close();
    expect(await a.m.liveNodes()).toEqual(['a']);
    expect(await a.m.reapOnce()).toEqual([]);
    expect(died).toEqual([]);
  });

  test('Redis restarted empty: every node rejoins by itself', async () => {
    const died: string[] = [];
    const a = await node('a', died);
    const b = await node('b', died);
    let rejoined = 0;
    a.m.onRejoined(() => {
      rejoined++;
      a.r.requestResync();
    });
    b.m.onRejoined(() => b.r.requestResync());
    b.r.addFilter('b/x');
    await b.r.flushed();
    await redis.restart('kill');
    await waitFor(async () => (await a.m.liveNodes().catch(() => [])).join() === 'a,b', 8000, 'both rejoined');
    await waitFor(() => a.r.nodesFor('b/x').join() === 'b', 8000, 'routes back');
    expect(rejoined).toBeGreaterThanOrEqual(1);
    expect(died).toEqual([]);
  });
});
