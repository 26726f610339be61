/**
 * NodeMembership over Redis: heartbeat keys with PX, a member SET, and a periodic reaper on every
 * node. No keyspace notifications (they need server config, and are fire-and-forget: a node that
 * misses the expiry event would never clean up).
 *
 *   heartbeat (every ttl/3): SADD members id; SET {meta}:node:<id> PX ttl. If the node was not a
 *     member (it stalled past its TTL and was reaped, or Redis restarted empty) it is told so and
 *     calls onRejoined: the engine re-asserts its routes. While its cleanup by another node is
 *     still running (it is in the dying SET) it does not rejoin, so the cleanup cannot delete
 *     routes it re-asserted.
 *   reaper (every reapMs): one script moves every member whose heartbeat key is gone to the dying
 *     SET and claims, with SET NX PX, each dying node not claimed yet. Exactly one survivor gets a
 *     claim; it runs cleanup (routes) and onNodeDied (wills), then removes the node from dying.
 *     If it dies meanwhile its claim expires and another survivor claims the node again.
 * Detection time: the dead node's TTL plus at most one reap interval.
 */
import type Redis from 'ioredis';
import { ClusterKeys } from './keys';
import { closeConnection, type RedisFactory, whenReady, settleWithin } from './redis-connection';
import type { NodeMembership } from './types';

/** KEYS: members, dying, node key. ARGV: id, ttl ms, info. Returns 1 member, 0 was not, -1 dying. */
const HEARTBEAT = `
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[2])
return 1 - redis.call('SADD', KEYS[1], ARGV[1])`;

/** KEYS: members, dying. ARGV: node key prefix, reap key prefix, claimer, claim ms. */
const REAP = `
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. n) == 0 then
    redis.call('SREM', KEYS[1], n)
    redis.call('SADD', KEYS[2], n)
  end
end
local claimed = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('SET', ARGV[2] .. n, ARGV[3], 'NX', 'PX', ARGV[4]) then claimed[#claimed + 1] = n end
end
return claimed`;

/** KEYS: dying, reap key. ARGV: node, claimer. */
const REAPED = `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1`;

/** KEYS: members, node key. ARGV: id. */
const LEAVE = `
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2])`;

type ScriptedRedis = Redis & {
  heartbeat(members: string, dying: string, node: string, id: string, ttl: number, info: string): Promise<number>;
  reap(members: string, dying: string, nodePrefix: string, reapPrefix: string, claimer: string, claimMs: number): Promise<string[]>;
  reaped(dying: string, reap: string, node: string, claimer: string): Promise<number>;
  leave(members: string, node: string, id: string): Promise<number>;
};

export interface RedisMembershipOptions {
  nodeId: string;
  connect: RedisFactory;
  keys?: ClusterKeys;
  /** Heartbeat key TTL: a silent node is dead after this. Heartbeats every ttlMs/3. */
  ttlMs?: number;
  /** How often every node looks for dead members. */
  reapMs?: number;
  /** How long a survivor's claim on a dead node's cleanup lasts before another may retry. */
  claimMs?: number;
  /** Runs before onNodeDied (the engine passes routes.dropNode). */
  cleanup?: (nodeId: string) => Promise<void>;
}

export class RedisMembership implements NodeMembership {
  readonly nodeId: string;
  private readonly keys: ClusterKeys;
  private readonly connect: RedisFactory;
  private readonly ttlMs: number;
  private readonly reapMs: number;
  private readonly claimMs: number;
  private readonly cleanup: ((nodeId: string) => Promise<void>) | null;
  private command: ScriptedRedis | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reapTimer: NodeJS.Timeout | null = null;
  private diedHandler: ((nodeId: string) => void | Promise<void>) | null = null;
  private dyingHandler: ((nodeId: string) => Promise<void>) | null = null;
  private rejoinedHandler: (() => void) | null = null;
  private reaping = false;
  private closed = false;
  /** When a heartbeat last found (or made) this node a member: readiness asks memberNow(). */
  private memberAt = 0;

  constructor(options: RedisMembershipOptions) {
    this.nodeId = options.nodeId;
    this.connect = options.connect;
    this.keys = options.keys ?? new ClusterKeys();
    this.ttlMs = options.ttlMs ?? 10000;
    this.reapMs = options.reapMs ?? Math.max(100, Math.floor(this.ttlMs / 2));
    this.claimMs = options.claimMs ?? 30000;
    this.cleanup = options.cleanup ?? null;
  }

  async start(): Promise<void> {
    const command = this.connect('command') as ScriptedRedis;
    command.defineCommand('heartbeat', { numberOfKeys: 3, lua: HEARTBEAT });
    command.defineCommand('reap', { numberOfKeys: 2, lua: REAP });
    command.defineCommand('reaped', { numberOfKeys: 2, lua: REAPED });
    command.defineCommand('leave', { numberOfKeys: 2, lua: LEAVE });
    this.command = command;
    await whenReady(command);
    await this.beat(true);
    this.heartbeatTimer = setInterval(() => void this.beat(false), Math.max(50, Math.floor(this.ttlMs / 3)));
    this.reapTimer = setInterval(() => void this.reapOnce(), this.reapMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.reapTimer !== null) clearInterval(this.reapTimer);
    const command = this.command;
    if (command !== null) {
      // Bounded: a Redis that stops answering must not hold the shutdown (the TTL ends the membership).
      if (command.status === 'ready') await settleWithin(command.leave(this.keys.members, this.keys.node(this.nodeId), this.nodeId), 2000);
      closeConnection(command);
    }
  }

  /** Stops heartbeating without leaving: what a crashed node looks like to the others (tests). */
  crash(): void {
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    if (this.reapTimer !== null) clearInterval(this.reapTimer);
    if (this.command !== null) closeConnection(this.command);
  }

  async liveNodes(): Promise<string[]> {
    return (await this.command!.smembers(this.keys.members)).sort();
  }

  onNodeDied(handler: ((nodeId: string) => void | Promise<void>) | null): void {
    this.diedHandler = handler;
  }

  onRejoined(handler: (() => void) | null): void {
    this.rejoinedHandler = handler;
  }

  onNodeDying(handler: ((nodeId: string) => Promise<void>) | null): void {
    this.dyingHandler = handler;
  }

  private async beat(first: boolean): Promise<void> {
    const k = this.keys;
    try {
      const was = await this.command!.heartbeat(k.members, k.dying, k.node(this.nodeId), this.nodeId, this.ttlMs, String(Date.now()));
      if (was === 0 && !first && !this.closed) this.rejoinedHandler?.();
      if (was >= 0) this.memberAt = Date.now();
    } catch {
      // Redis unreachable: the next beat retries; if none lands within the TTL, the others reap us.
    }
  }

  /** A heartbeat within the TTL found this node a member (not declared dead, Redis reachable). */
  memberNow(now = Date.now()): boolean {
    return !this.closed && this.memberAt > 0 && now - this.memberAt < this.ttlMs;
  }

  /** One reaper pass; exposed so tests and shutdown paths can run it without waiting. */
  async reapOnce(): Promise<string[]> {
    if (this.reaping || this.closed) return [];
    this.reaping = true;
    const k = this.keys;
    const done: string[] = [];
    try {
      const claimed = await this.command!.reap(k.members, k.dying, k.nodePrefix, k.reapPrefix, this.nodeId, this.claimMs);
      for (const node of claimed) {
        try {
          // Before the routes go: the adopter takes the routes of the sessions it adopts.
          if (this.dyingHandler !== null && node !== this.nodeId) await this.dyingHandler(node);
          if (this.cleanup !== null) await this.cleanup(node);
          // Ourselves: we stalled past the TTL and were declared dead. Our routes are dropped
          // (clean slate); no wills, our clients are still here; the next heartbeat rejoins.
          if (this.diedHandler !== null && node !== this.nodeId) await this.diedHandler(node);
          await this.command!.reaped(k.dying, k.reap(node), node, this.nodeId);
          done.push(node);
        } catch {
          // leave the claim to expire: another survivor (or we) retries the whole cleanup
        }
      }
    } catch {
      // Redis unreachable: next pass
    } finally {
      this.reaping = false;
    }
    return done;
  }
}
