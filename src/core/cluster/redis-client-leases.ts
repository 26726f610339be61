/**
 * ClientLeases over Redis: who owns a client id, as a lease with a fencing token.
 *
 * Record: HASH `{c:<id>}:lease` { node, token, user, exp } where exp is the lease deadline in the
 * Redis server's clock (scripts read TIME, so node clocks do not matter). The record outlives the
 * lease by keepMs (the session expiry interval) because it also carries the session's username
 * and the token high-water mark.
 *
 * Token: max(previous token + 1, server time in µs), as a decimal string. Strictly increasing per
 * client id, even across a deleted record (the clock has moved past every earlier token), so a
 * writer holding an old token can never match again. Session writes (RedisStateOps) pass the
 * token and their scripts refuse unless it equals the stored one: a node that lost the lease
 * (paused, partitioned, kicked) cannot write after the new owner took over.
 *
 * Takeover [MQTT-3.1.4-2]: acquire() returns the previous live owner; the caller kick()s it. A kick
 * is a PUBLISH on the owner's kick channel: delivered within one round trip when the old owner is
 * connected. If it is not (partition), the old owner's next renewal (every leaseMs/3) reports the
 * lease lost; and if it cannot reach Redis at all it declares every local lease lost once
 * leaseMs - renew interval has passed without a renewal. Bound: the old connection is closed
 * within leaseMs at worst, one round trip usually.
 *
 * Username rule: a session belongs to the username that created it. acquire() refuses with
 * 'owner' while a record with another username exists (live lease or not), so a client cannot
 * take over, or read the queued messages of, someone else's session by reusing its client id.
 * Anonymous (null) is a username of its own, distinct from '' (present but empty).
 */
import type Redis from 'ioredis';
import { ClusterKeys } from './keys';
import { closeConnection, type RedisFactory, whenReady } from './redis-connection';
import type { AcquireResult, ClientLeases, Username } from './types';

/** Reads the server clock: now in ms, and in µs as the token floor. */
const NOW = `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

/**
 * KEYS: lease. ARGV: node, user, leaseMs, keepMs, force ('1' or ''). Returns {token, previous
 * owner or '', holder or ''}, {'', 'refused'} or {'', 'adopting'}. `holder` is the node that held
 * the session last (connected or detached: kept when the lease is released, set by an adoption):
 * a node other than this one means the session comes from there (the caller records its cut,
 * session-adoption.ts). 'adopting': a survivor is adopting the session of a dead node right now
 * (ADOPT set the field; it clears it once the adopted state is written): taking the token now
 * would fence the adopter's writes off before the dead inbox's tail is in Redis, so the caller
 * asks again shortly, and forces after a bound (ClusterClientRegistry).
 */
const ACQUIRE = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'node', 'token', 'user', 'exp', 'holder', 'adopting')
if h[3] and h[3] ~= ARGV[2] then return {'', 'refused'} end
if h[6] and h[6] ~= '' and ARGV[5] ~= '1' then return {'', 'adopting'} end
local previous = ''
if h[1] and h[1] ~= '' and tonumber(h[4]) > nowMs then previous = h[1] end
local holder = h[5] or h[1] or ''
local token = nowUs
local old = tonumber(h[2] or '0')
if old >= token then token = old + 1 end
local ts = string.format('%.0f', token)
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'token', ts, 'user', ARGV[2], 'exp', string.format('%.0f', nowMs + tonumber(ARGV[3])), 'holder', ARGV[1])
if h[6] then redis.call('HDEL', KEYS[1], 'adopting') end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]))
return {ts, previous, holder}`;

/**
 * KEYS: lease. ARGV: node the session came from, the cut as stored ('<token> <route-log id>', or
 * '<token> -' for a session that started afresh: cutValue). Only on an existing record (never
 * recreates one without its expiry). One field per node the client left (bounded by the number
 * of nodes).
 */
const CUT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cut:' .. ARGV[1], ARGV[2])
return 1`;

/** KEYS: leases. ARGV: node, leaseMs, then token, keepMs per key. Returns the 1-based indexes lost. */
const RENEW = `${NOW}
local lost = {}
for i = 1, #KEYS do
  local token, keep = ARGV[1 + i * 2], tonumber(ARGV[2 + i * 2])
  local h = redis.call('HMGET', KEYS[i], 'node', 'token')
  if h[1] == ARGV[1] and h[2] == token then
    redis.call('HSET', KEYS[i], 'exp', string.format('%.0f', nowMs + tonumber(ARGV[2])))
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]) + keep)
  else
    lost[#lost + 1] = i
  end
end
return lost`;

/** KEYS: lease. ARGV: token, keepMs. */
const RELEASE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', '', 'exp', '0')
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1`;

/** KEYS: lease. ARGV: token. */
const FORGET = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

type ScriptedRedis = Redis & {
  leaseAcquire(lease: string, node: string, user: string, leaseMs: number, keepMs: number, force: string): Promise<[string, string, string?]>;
  leaseCut(lease: string, from: string, cut: string): Promise<number>;
  leaseRenew(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  leaseRelease(lease: string, token: string, keepMs: number): Promise<number>;
  leaseForget(lease: string, token: string): Promise<number>;
};

export interface RedisClientLeasesOptions {
  nodeId: string;
  connect: RedisFactory;
  keys?: ClusterKeys;
  /** Lease length; renewed every leaseMs/3 for all local clients in one round trip. */
  leaseMs?: number;
  /** Keys per renewal script call (one pipeline carries all calls). */
  renewChunk?: number;
}

/**
 * A lease's `cut:<node>` field is '<token> <route-log id>' (or '<token> -' for a session that
 * started afresh): the cut of the move that took that token. The id (or '-') when `token` is the
 * lease's token now; null when the field is missing or from an earlier move (the client went to
 * that node again since: its new cut is not written yet).
 */
export function cutFor(value: string | null | undefined, token: string): string | null {
  const id = cutIdOf(value);
  return id !== null && value!.slice(0, value!.indexOf(' ')) === token ? id : null;
}

/** The route-log id (or '-') of a stored cut, whatever move wrote it; null when missing or malformed. */
export function cutIdOf(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const space = value.indexOf(' ');
  return space < 0 || space === value.length - 1 ? null : value.slice(space + 1);
}

/** Encodes a username so that null (no username) and '' differ. */
export function encodeUsername(username: Username): string {
  return username === null ? '-' : `u:${username}`;
}

class LocalLease {
  constructor(
    public token: string,
    public keepMs: number,
  ) {}
}

/** Token field of an administrator's kick (tokens are digits: never equal). */
const ADMIN_KICK = 'admin';

export class RedisClientLeases implements ClientLeases {
  readonly nodeId: string;
  readonly stats = { renewals: 0, renewFailures: 0, kicksSent: 0, kicksReceived: 0, lost: 0 };
  private readonly keys: ClusterKeys;
  private readonly connect: RedisFactory;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly renewChunk: number;
  private command: ScriptedRedis | null = null;
  private subscriber: Redis | null = null;
  private readonly local = new Map<string, LocalLease>();
  private renewTimer: NodeJS.Timeout | null = null;
  private lostHandler: ((clientId: string, token: string, why: 'kicked' | 'expired') => void) | null = null;
  private adminKickHandler: ((clientId: string) => void) | null = null;
  /** Time (local clock) of the last renewal that reached Redis. */
  private lastRenewed = Date.now();
  private renewing = false;
  private closed = false;

  constructor(options: RedisClientLeasesOptions) {
    this.nodeId = options.nodeId;
    this.connect = options.connect;
    this.keys = options.keys ?? new ClusterKeys();
    this.leaseMs = options.leaseMs ?? 30000;
    this.renewMs = Math.max(20, Math.floor(this.leaseMs / 3));
    this.renewChunk = options.renewChunk ?? 500;
  }

  async start(): Promise<void> {
    const command = this.connect('command') as ScriptedRedis;
    command.defineCommand('leaseAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    command.defineCommand('leaseRenew', { lua: RENEW });
    command.defineCommand('leaseRelease', { numberOfKeys: 1, lua: RELEASE });
    command.defineCommand('leaseForget', { numberOfKeys: 1, lua: FORGET });
    command.defineCommand('leaseCut', { numberOfKeys: 1, lua: CUT });
    this.command = command;
    const subscriber = this.connect('subscriber');
    this.subscriber = subscriber;
    subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.onKick(message));
    await Promise.all([whenReady(command), whenReady(subscriber)]);
    await subscriber.subscribe(this.keys.kick(this.nodeId)); // re-subscribed by ioredis after reconnects
    this.lastRenewed = Date.now();
    this.renewTimer = setInterval(() => void this.renew(), this.renewMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    if (this.subscriber !== null) closeConnection(this.subscriber);
    if (this.command !== null) closeConnection(this.command);
  }

  onLost(handler: ((clientId: string, token: string, why: 'kicked' | 'expired') => void) | null): void {
    this.lostHandler = handler;
  }

  /** Client ids this node holds a lease for. */
  get size(): number {
    return this.local.size;
  }

  async acquire(clientId: string, username: Username, keepMs = 0, force = false): Promise<AcquireResult> {
    const [token, previous, holder] = await this.command!.leaseAcquire(this.keys.lease(clientId), this.nodeId, encodeUsername(username), this.leaseMs, keepMs, force ? '1' : '');
    if (token === '') return previous === 'adopting' ? { adopting: true } : { refused: 'owner' };
    this.local.set(clientId, new LocalLease(token, keepMs));
    return { token, previousOwner: previous === '' ? null : previous, holder: holder === undefined || holder === '' ? null : holder };
  }

  /**
   * Records on `clientId`'s lease record the cut of its move from node `from` to this one, the
   * move that took lease `token` (session-adoption.ts "returned clients"): a route-log id, or '-'
   * when its session started afresh.
   */
  async recordCut(clientId: string, from: string, token: string, cut: string): Promise<void> {
    await this.command!.leaseCut(this.keys.lease(clientId), from, `${token} ${cut}`);
  }

  /**
   * The lease's token and holder now, and the cut of the move away from node `from` that took
   * that token (null when it is missing, or from an earlier move: see cutFor). Token null: no
   * record (the session is gone).
   */
  async moveFrom(clientId: string, from: string): Promise<{ token: string | null; holder: string | null; cut: string | null }> {
    const [token, holder, value] = (await this.command!.hmget(this.keys.lease(clientId), 'token', 'holder', `cut:${from}`)) as (string | null)[];
    return { token, holder, cut: token === null ? null : cutFor(value, token) };
  }

  async release(clientId: string, token: string): Promise<boolean> {
    const held = this.local.get(clientId);
    if (held !== undefined && held.token === token) this.local.delete(clientId);
    return (await this.command!.leaseRelease(this.keys.lease(clientId), token, held?.keepMs ?? 0)) === 1;
  }

  async check(clientId: string, token: string): Promise<boolean> {
    return (await this.command!.hget(this.keys.lease(clientId), 'token')) === token;
  }

  async forget(clientId: string, token: string): Promise<boolean> {
    const held = this.local.get(clientId);
    if (held !== undefined && held.token === token) this.local.delete(clientId);
    return (await this.command!.leaseForget(this.keys.lease(clientId), token)) === 1;
  }

  async kick(node: string, clientId: string, token: string): Promise<void> {
    this.stats.kicksSent++;
    if (node === this.nodeId) {
      this.onKick(Buffer.from(`${token}\n${clientId}`));
      return;
    }
    await this.command!.publish(this.keys.kick(node), `${token}\n${clientId}`);
  }

  async kickAdmin(node: string, clientId: string): Promise<void> {
    this.stats.kicksSent++;
    if (node === this.nodeId) {
      this.onKick(Buffer.from(`${ADMIN_KICK}\n${clientId}`));
      return;
    }
    await this.command!.publish(this.keys.kick(node), `${ADMIN_KICK}\n${clientId}`);
  }

  onAdminKick(handler: ((clientId: string) => void) | null): void {
    this.adminKickHandler = handler;
  }

  /** A kick names the NEW token: only a local lease older than it is closed, never a newer one. */
  private onKick(message: Buffer): void {
    const nl = message.indexOf(0x0a);
    if (nl < 0) return;
    const token = message.toString('latin1', 0, nl);
    const clientId = message.toString('utf8', nl + 1);
    if (token === ADMIN_KICK) {
      // An administrator's disconnect (DELETE /api/v1/clients/:id on any node): no token, the
      // lease stays with the connection until it closes.
      this.adminKickHandler?.(clientId);
      return;
    }
    const held = this.local.get(clientId);
    if (held === undefined || !tokenBefore(held.token, token)) return;
    this.stats.kicksReceived++;
    this.lose(clientId, held.token, 'kicked');
  }

  private lose(clientId: string, token: string, why: 'kicked' | 'expired'): void {
    this.local.delete(clientId);
    this.stats.lost++;
    this.lostHandler?.(clientId, token, why);
  }

  /** Renews every local lease: one pipeline (scripts of renewChunk keys each), one round trip. */
  async renew(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    const started = Date.now();
    try {
      if (this.local.size === 0 || this.command === null || this.command.status !== 'ready') {
        if (this.local.size === 0 || this.command?.status === 'ready') this.lastRenewed = started;
        else this.expireIfStale(started);
        return;
      }
      const ids: string[] = [];
      const tokens: string[] = [];
      for (const [clientId, lease] of this.local) {
        ids.push(clientId);
        tokens.push(lease.token);
      }
      const pipeline = this.command.pipeline();
      for (let from = 0; from < ids.length; from += this.renewChunk) {
        const to = Math.min(ids.length, from + this.renewChunk);
        const args: (string | number)[] = [to - from];
        for (let i = from; i < to; i++) args.push(this.keys.lease(ids[i]));
        args.push(this.nodeId, this.leaseMs);
        for (let i = from; i < to; i++) args.push(tokens[i], this.local.get(ids[i])!.keepMs);
        void (pipeline as unknown as ScriptedRedis).leaseRenew(...(args as [number, ...string[]]));
      }
      const results = await pipeline.exec();
      if (results === null) throw new Error('renewal pipeline aborted');
      let chunk = 0;
      for (const [err, lost] of results) {
        if (err !== null) throw err;
        for (const i of lost as number[]) {
          const at = chunk * this.renewChunk + i - 1;
          const held = this.local.get(ids[at]);
          if (held !== undefined && held.token === tokens[at]) this.lose(ids[at], tokens[at], 'expired');
        }
        chunk++;
      }
      this.stats.renewals++;
      this.lastRenewed = started;
    } catch {
      this.stats.renewFailures++;
      this.expireIfStale(started);
    } finally {
      this.renewing = false;
    }
  }

  /**
   * No renewal reached Redis for so long that another node may take our leases at the next
   * renewal slot: report them all lost now, before anyone else can own them.
   */
  private expireIfStale(now: number): void {
    if (now - this.lastRenewed < this.leaseMs - this.renewMs) return;
    for (const [clientId, lease] of [...this.local]) this.lose(clientId, lease.token, 'expired');
  }
}

/** Whether token `a` was issued before `b` (decimal strings without leading zeros). */
export function tokenBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}
