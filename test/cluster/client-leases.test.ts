/**
 * ClientLeases against a real redis-server: takeover race, fencing, the username rule, kicks,
 * batched renewal, and loss of leases when Redis is unreachable.
 */
import type { RedisFactory } from '../../src/core/cluster/redis-connection';
import { RedisClientLeases, tokenBefore } from '../../src/core/cluster/redis-client-leases';
import { type RedisServer, startRedis } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

describe('RedisClientLeases', () => {
  let redis: RedisServer;
  let made: RedisClientLeases[];
  const factory = (): RedisFactory => () => redis.client();

  async function leases(nodeId: string, leaseMs = 30000): Promise<RedisClientLeases> {
    const l = new RedisClientLeases({ nodeId, connect: factory(), leaseMs });
    await l.start();
    made.push(l);
    return l;
  }

  beforeEach(async () => {
    redis = await startRedis();
    made = [];
  });
  afterEach(async () => {
    await Promise.all(made.map((l) => l.close()));
    await redis.destroy();
  }, 60_000); // closing clients that are reconnecting to a restarted Redis can take a while on a loaded machine

  test('[MQTT-3.1.4-2] two acquires at the same moment: one wins with the higher token, it learns the previous owner', async () => {
    const a = await leases('a');
    const b = await leases('b');
    for (let round = 0; round < 20; round++) {
      const id = `race-${round}`;
      const [ra, rb] = await Promise.all([a.acquire(id, 'alice'), b.acquire(id, 'alice')]);
      if (!('token' in ra) || !('token' in rb)) throw new Error('refused');
      expect(ra.token).not.toBe(rb.token);
      const [winner, loser, winnerNode, loserNode] = tokenBefore(ra.token, rb.token) ? [rb, ra, 'b', 'a'] : [ra, rb, 'a', 'b'];
      expect(winner.previousOwner).toBe(loserNode);
      expect(loser.previousOwner).toBeNull();
      expect(await a.check(id, winner.token)).toBe(true);
      expect(await a.check(id, loser.token)).toBe(false);
      void winnerNode;
    }
  });

  test('tokens strictly increase, even after the record is forgotten', async () => {
    const a = await leases('a');
    const r1 = await a.acquire('c1', null);
    const r2 = await a.acquire('c1', null);
    if (!('token' in r1) || !('token' in r2)) throw new Error('refused');
    expect(tokenBefore(r1.token, r2.token)).toBe(true);
    expect(await a.forget('c1', r1.token)).toBe(false); // stale token cannot delete
    expect(await a.forget('c1', r2.token)).toBe(true);
    const r3 = await a.acquire('c1', null);
    if (!('token' in r3)) throw new Error('refused');
    expect(tokenBefore(r2.token, r3.token)).toBe(true);
  });

  test('release only with the current token; a released lease has no previous owner', async () => {
    const a = await leases('a');
    const b = await leases('b');
    const r1 = await a.acquire('c', 'u');
    if (!('token' in r1)) throw new Error('refused');
    const r2 = await b.acquire('c', 'u');
    if (!('token' in r2)) throw new Error('refused');
    expect(await a.release('c', r1.token)).toBe(false); // stale owner cannot release the new one
    expect(await b.release('c', r2.token)).toBe(true);
    const r3 = await a.acquire('c', 'u');
    expect(r3).toMatchObject({ previousOwner: null });
  });

  test('username rule: a session belongs to the username that created it', async () => {
    const a = await leases('a');
    const r = await a.acquire('shared-id', 'alice', 60000);
    if (!('token' in r)) throw new Error('refused');
    expect(await a.acquire('shared-id', 'mallory')).toEqual({ refused: 'owner' });
    expect(await a.acquire('shared-id', null)).toEqual({ refused: 'owner' }); // anonymous is not alice
    expect(await a.acquire('shared-id', '')).toEqual({ refused: 'owner' });
    await a.release('shared-id', r.token); // disconnected, session kept (keepMs 60 s)
    expect(await a.acquire('shared-id', 'mallory')).toEqual({ refused: 'owner' });
    expect(await a.acquire('shared-id', 'alice')).toMatchObject({ previousOwner: null });
    // anonymous sessions are anonymous's: '' (present, empty) is another username
    const n = await a.acquire('anon-id', null);
    if (!('token' in n)) throw new Error('refused');
    expect(await a.acquire('anon-id', '')).toEqual({ refused: 'owner' });
  });

  test('kick: the old owner is told to close within one round trip; a stale kick never closes a newer lease', async () => {
    const a = await leases('a');
    const b = await leases('b');
    const lost: string[] = [];
    a.onLost((id, token, why) => lost.push(`${id}:${why}`));
    const r1 = await a.acquire('dev', null);
    if (!('token' in r1)) throw new Error('refused');
    const r2 = await b.acquire('dev', null);
    if (!('token' in r2) || r2.previousOwner === null) throw new Error('no takeover');
    const sent = Date.now();
    await b.kick(r2.previousOwner, 'dev', r2.token);
    await waitFor(() => lost.length === 1, 2000, 'kick delivered');
    console.log(`kick delivered after ${Date.now() - sent} ms`);
    expect(lost).toEqual(['dev:kicked']);
    // the client comes back to a; a late kick naming b's older token must not close it
    const r3 = await a.acquire('dev', null);
    if (!('token' in r3)) throw new Error('refused');
    await b.kick('a', 'dev', r2.token);
    await b.kick('a', 'dev', r2.token);
    await new Promise((r) => setTimeout(r, 100));
    expect(lost).toEqual(['dev:kicked']);
  });

  test('renewal: one round trip for all local leases; a lease taken meanwhile is reported lost', async () => {
    const a = await leases('a', 600);
    const b = await leases('b', 600);
    const lost: string[] = [];
    a.onLost((id, _token, why) => lost.push(`${id}:${why}`));
    for (let i = 0; i < 1200; i++) await a.acquire(`c${i}`, null); // > renewChunk: several scripts, one pipeline
    await new Promise((r) => setTimeout(r, 800)); // longer than the lease: kept alive by renewals only
    const r = await b.acquire('c5', null);
    expect(r).toMatchObject({ previousOwner: 'a' });
    expect(a.stats.renewals).toBeGreaterThanOrEqual(2);
    expect(a.stats.renewFailures).toBe(0);
    await waitFor(() => lost.length === 1, 2000, 'loss detected by renewal');
    expect(lost).toEqual(['c5:expired']);
    expect(a.size).toBe(1199);
  });

  test('Redis unreachable: every local lease is reported lost before another node could take it', async () => {
    const a = await leases('a', 600);
    const lost: string[] = [];
    a.onLost((id, _token, why) => lost.push(`${id}:${why}`));
    await a.acquire('x', null);
    await redis.kill();
    const killed = Date.now();
    await waitFor(() => lost.length === 1, 3000, 'leases dropped');
    console.log(`leases dropped ${Date.now() - killed} ms after Redis went away (lease 600 ms)`);
    expect(Date.now() - killed).toBeLessThan(600);
    expect(lost).toEqual(['x:expired']);
    await redis.start();
  });
});
