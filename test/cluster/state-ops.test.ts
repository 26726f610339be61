/** RedisStateOps against a real redis-server: fenced session writes, queues, retained scan. */
import type { RedisFactory } from '../../src/core/cluster/redis-connection';
import { RedisClientLeases } from '../../src/core/cluster/redis-client-leases';
import { FENCED, matchesFilter, RedisStateOps } from '../../src/core/cluster/redis-state-ops';
import { type RedisServer, startRedis } from '../helpers/redis';

describe('RedisStateOps', () => {
  let redis: RedisServer;
  let ops: RedisStateOps;
  let a: RedisClientLeases;
  let b: RedisClientLeases;

  beforeEach(async () => {
    redis = await startRedis({ appendonly: 'yes', appendfsync: 'always' });
    const factory: RedisFactory = () => redis.client();
    ops = new RedisStateOps(factory);
    a = new RedisClientLeases({ nodeId: 'a', connect: factory });
    b = new RedisClientLeases({ nodeId: 'b', connect: factory });
    await Promise.all([ops.start(), a.start(), b.start()]);
  });
  afterEach(async () => {
    ops.close();
    await Promise.all([a.close(), b.close()]);
    await redis.destroy();
  }, 60_000); // closing clients that are reconnecting to a restarted Redis can take a while on a loaded machine

  async function token(leases: RedisClientLeases, id: string): Promise<string> {
    const r = await leases.acquire(id, 'u', 60000);
    if (!('token' in r)) throw new Error('refused');
    return r.token;
  }

  test('fencing: after a takeover every write with the stale token is refused, the new owner\'s succeeds', async () => {
    const stale = await token(a, 'c');
    expect(await ops.sessionSave('c', stale, { created: '1', subscriptions: [{ filter: 'a/#', options: '1' }] })).toBe(1);
    const fresh = await token(b, 'c'); // takeover
    expect(await ops.sessionSave('c', stale, { created: '2', subscriptions: [] })).toBe(FENCED);
    expect(await ops.sessionSubscribe('c', stale, 'evil/#', '2')).toBe(FENCED);
    expect(await ops.inflightSet('c', stale, 1, Buffer.from('m'))).toBe(FENCED);
    expect(await ops.qos2Add('c', stale, 7)).toBe(FENCED);
    expect(await ops.queuePop('c', stale, 10)).toBe(FENCED);
    expect(await ops.sessionExpiry('c', stale, 1)).toBe(FENCED);
    expect(await ops.sessionDelete('c', stale)).toBe(FENCED);
    expect(await ops.sessionLoad('c')).toEqual({ created: '1', subscriptions: [{ filter: 'a/#', options: '1' }] });
    expect(await ops.sessionSubscribe('c', fresh, 'b/+', '0')).toBe(1);
    expect(await ops.qos2Add('c', fresh, 7)).toBe(1);
    expect(await ops.qos2Has('c', 7)).toBe(true);
    const loaded = await ops.sessionLoad('c');
    expect(loaded?.subscriptions.map((s) => s.filter).sort()).toEqual(['a/#', 'b/+']);
  });

  test('queue: push from any node is capped and needs a session; owner moves messages to in-flight atomically', async () => {
    const t = await token(a, 'q');
    expect(await ops.queuePush('q', [Buffer.from('x')], 10)).toBe(1); // no session yet: dropped
    await ops.sessionSave('q', t, { created: '1', subscriptions: [] });
    const msgs = Array.from({ length: 5 }, (_, i) => Buffer.from(`m${i}`));
    expect(await ops.queuePush('q', msgs, 3)).toBe(2); // cap 3: two dropped
    expect(await ops.queuePush('q', [Buffer.from('late')], 3)).toBe(1);
    expect(await ops.queueToInflight('q', t, [11, 12])).toEqual([Buffer.from('m0'), Buffer.from('m1')]);
    expect(await ops.inflightAll('q')).toEqual(new Map([[11, Buffer.from('m0')], [12, Buffer.from('m1')]]));
    expect(await ops.inflightDelete('q', t, 11)).toBe(1);
    expect(await ops.queuePop('q', t, 10)).toEqual([Buffer.from('m2')]);
    expect(await ops.queuePop('q', t, 10)).toEqual([]);
  });

  test('session expiry applies to all of a session\'s keys; delete removes them', async () => {
    const t = await token(a, 'e');
    await ops.sessionSave('e', t, { created: '1', subscriptions: [] });
    await ops.queuePush('e', [Buffer.from('m')], 10);
    expect(await ops.sessionExpiry('e', t, 150)).toBe(1);
    const inspect = redis.inspector();
    expect(await inspect.pttl('nestmq:{c:e}:queue')).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 250));
    expect(await ops.sessionLoad('e')).toBeNull();
    expect(await inspect.exists('nestmq:{c:e}:queue')).toBe(0);
  });

  test('retained: last writer wins, delete, scan by MQTT filter with glob characters taken literally', async () => {
    await ops.retainedSet('s/1/t', Buffer.from('old'));
    await ops.retainedSet('s/1/t', Buffer.from('new'));
    await ops.retainedSet('s/2/t', Buffer.from('two'));
    await ops.retainedSet('s/*/t', Buffer.from('star'));
    await ops.retainedSet('$SYS/x', Buffer.from('sys'));
    await ops.retainedSet('s', Buffer.from('parent'));
    const seen = new Map<string, string>();
    await ops.retainedScan('s/+/t', (topic, m) => seen.set(topic, m.toString()));
    expect(seen).toEqual(new Map([['s/1/t', 'new'], ['s/2/t', 'two'], ['s/*/t', 'star']]));
    const literal: string[] = [];
    await ops.retainedScan('s/*/t', (topic) => literal.push(topic));
    expect(literal).toEqual(['s/*/t']);
    const all: string[] = [];
    await ops.retainedScan('#', (topic) => all.push(topic));
    expect(all.sort()).toEqual(['s', 's/*/t', 's/1/t', 's/2/t']); // [MQTT-4.7.2-1] no $SYS
    const withParent: string[] = [];
    await ops.retainedScan('s/#', (topic) => withParent.push(topic));
    expect(withParent).toContain('s'); // [MQTT-4.7.1-2]
    expect(await ops.retainedDelete('s/1/t')).toBe(true);
    expect(await ops.retainedGet('s/1/t')).toBeNull();
  });

  test('durability: WAIT answers how many replicas have the writes (none here), without blocking past its timeout', async () => {
    await ops.retainedSet('d', Buffer.from('x'));
    const started = Date.now();
    expect(await ops.waitReplicas(1, 100)).toBe(0);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('matchesFilter follows the trie\'s rules', () => {
    expect(matchesFilter('a/+/b', 'a//b')).toBe(true);
    expect(matchesFilter('sport/+', 'sport')).toBe(false);
    expect(matchesFilter('+/+', '/finance')).toBe(true);
    expect(matchesFilter('+', '$SYS')).toBe(false);
    expect(matchesFilter('$SYS/#', '$SYS/x')).toBe(true);
  });
});
