/**
 * The Redis operations the cluster's RetainedStore and SessionStore will be built from (their
 * interfaces are being reshaped by the engine restructuring; these are the primitives).
 *
 * Fencing: every write to a session's keys takes the lease token (ClientLeases) and runs as a
 * Lua script that first compares it with the token in `{c:<id>}:lease`; it refuses (returns
 * FENCED) unless they are equal. All of a client's keys share the hash tag `{c:<id>}`, so each
 * script stays in one Redis Cluster slot. Writes by OTHER nodes to a session (queueing a message
 * for an offline persistent session) are not fenced by a token (the writer holds none): they
 * require that the session exists and cap the queue length instead.
 *
 * Durability: a reply from Redis means the write is in the primary's memory and, with AOF,
 * written to the AOF file at the pace of appendfsync: `always` = fsynced before the reply (an
 * acknowledged write survives a crash of the host), `everysec` = up to ~1 s of acknowledged writes
 * lost on a power cut (not on a process crash), `no` = the kernel decides. waitReplicas() adds
 * WAIT: the reply tells how many replicas have the writes so far, which is what survives a
 * failover; Redis replication stays asynchronous, so WAIT lowers, never removes, that window.
 */
import type Redis from 'ioredis';
import { ClusterKeys } from './keys';
import { matchesFilter } from '../topics/topic-match';
import { closeConnection, type RedisFactory, whenReady } from './redis-connection';

/** Returned by a fenced write when the token is not the current one. */
export const FENCED = -1;

const FENCE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
`;

/** KEYS: lease, session. ARGV: token, expiryMs (-1 = none), field, value pairs (full record). */
const SESSION_SAVE = `${FENCE}
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'created', ARGV[3], unpack(ARGV, 4))
if tonumber(ARGV[2]) >= 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`;

/** KEYS: lease, session. ARGV: token, op ('+' field value | '-' field). */
const SESSION_SUB = `${FENCE}
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if ARGV[2] == '+' then redis.call('HSET', KEYS[2], ARGV[3], ARGV[4]) else redis.call('HDEL', KEYS[2], ARGV[3]) end
return 1`;

/** KEYS: lease, session, queue, inflight, qos2. ARGV: token, expiryMs (-1 = keep while connected). */
const SESSION_EXPIRY = `${FENCE}
for i = 2, 5 do
  if tonumber(ARGV[2]) < 0 then redis.call('PERSIST', KEYS[i]) else redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
return 1`;

/** KEYS: lease, session, queue, inflight, qos2. ARGV: token. */
const SESSION_DELETE = `${FENCE}
return redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])`;

/** KEYS: session, queue. ARGV: max length, messages... Returns how many were dropped (queue full or no session). */
const QUEUE_PUSH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return #ARGV - 1 end
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
local n = #ARGV - 1
if room <= 0 then return n end
if room > n then room = n end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 2, room + 1))
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return n - room`;

/** KEYS: lease, queue, inflight. ARGV: token, packet ids... Moves one message per id, atomically. */
const QUEUE_TO_INFLIGHT = `${FENCE}
local out = {}
for i = 2, #ARGV do
  local m = redis.call('LPOP', KEYS[2])
  if not m then break end
  redis.call('HSET', KEYS[3], ARGV[i], m)
  out[#out + 1] = m
end
return out`;

/** KEYS: lease, queue. ARGV: token, count. */
const QUEUE_POP = `${FENCE}
return redis.call('LPOP', KEYS[2], ARGV[2]) or {}`;

/** KEYS: lease, hash-or-set. ARGV: token, op, member [, value]. One fenced write to inflight/qos2. */
const FENCED_WRITE = `${FENCE}
local op = ARGV[2]
if op == 'hset' then return redis.call('HSET', KEYS[2], ARGV[3], ARGV[4]) end
if op == 'hdel' then return redis.call('HDEL', KEYS[2], ARGV[3]) end
if op == 'sadd' then return redis.call('SADD', KEYS[2], ARGV[3]) end
if op == 'srem' then return redis.call('SREM', KEYS[2], ARGV[3]) end
return redis.error_reply('unknown op')`;

type ScriptedRedis = Redis & {
  sessionSave(lease: string, session: string, token: string, expiryMs: number, created: string, ...fields: (string | Buffer)[]): Promise<number>;
  sessionSub(lease: string, session: string, token: string, op: '+' | '-', field: string, value?: string): Promise<number>;
  sessionExpiry(lease: string, s: string, q: string, i: string, q2: string, token: string, expiryMs: number): Promise<number>;
  sessionDelete(lease: string, s: string, q: string, i: string, q2: string, token: string): Promise<number>;
  queuePush(session: string, queue: string, max: number, ...messages: Buffer[]): Promise<number>;
  queueToInflightBuffer(lease: string, queue: string, inflight: string, token: string, ...ids: number[]): Promise<Buffer[] | number>;
  queuePopBuffer(lease: string, queue: string, token: string, count: number): Promise<Buffer[] | number>;
  fencedWrite(lease: string, key: string, token: string, op: string, member: string | number, value?: Buffer | string): Promise<number>;
};

/** A subscription as a session record keeps it: options encoded by the caller (QoS, MQTT 5 flags). */
export interface StoredSubscription {
  filter: string;
  options: string;
}

export interface StoredSession {
  created: string;
  subscriptions: StoredSubscription[];
}

/** Prefix of subscription fields in the session hash (other fields are metadata). */
const SUB = 's:';

export class RedisStateOps {
  private readonly keys: ClusterKeys;
  private command: ScriptedRedis | null = null;

  constructor(
    private readonly connect: RedisFactory,
    keys?: ClusterKeys,
  ) {
    this.keys = keys ?? new ClusterKeys();
  }

  async start(): Promise<void> {
    const c = this.connect('command') as ScriptedRedis;
    c.defineCommand('sessionSave', { numberOfKeys: 2, lua: SESSION_SAVE });
    c.defineCommand('sessionSub', { numberOfKeys: 2, lua: SESSION_SUB });
    c.defineCommand('sessionExpiry', { numberOfKeys: 5, lua: SESSION_EXPIRY });
    c.defineCommand('sessionDelete', { numberOfKeys: 5, lua: SESSION_DELETE });
    c.defineCommand('queuePush', { numberOfKeys: 2, lua: QUEUE_PUSH });
    c.defineCommand('queueToInflight', { numberOfKeys: 3, lua: QUEUE_TO_INFLIGHT });
    c.defineCommand('queuePop', { numberOfKeys: 2, lua: QUEUE_POP });
    c.defineCommand('fencedWrite', { numberOfKeys: 2, lua: FENCED_WRITE });
    this.command = c;
    await whenReady(c);
  }

  close(): void {
    if (this.command !== null) closeConnection(this.command);
  }

  private get redis(): ScriptedRedis {
    return this.command!;
  }

  // --- retained: one hash, topic -> encoded message; last writer (by arrival at Redis) wins ---

  async retainedSet(topic: string, message: Buffer): Promise<void> {
    await this.redis.hset(this.keys.retained, topic, message);
  }

  async retainedDelete(topic: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.retained, topic)) === 1;
  }

  async retainedGet(topic: string): Promise<Buffer | null> {
    return this.redis.hgetBuffer(this.keys.retained, topic);
  }

  /**
   * Every retained message whose topic matches the MQTT filter. HSCAN narrows by the filter's
   * literal prefix (glob characters escaped); matchesFilter() decides, level by level, no RegExp.
   */
  async retainedScan(filter: string, each: (topic: string, message: Buffer) => void): Promise<number> {
    const wild = firstWildcard(filter);
    // 'a/#' also matches 'a' itself [MQTT-4.7.1-2]: its prefix stops before the '/'
    const end = wild > 0 && filter.charCodeAt(wild) === 0x23 ? wild - 1 : wild;
    const pattern = escapeGlob(wild < 0 ? filter : filter.substring(0, end)) + (wild < 0 ? '' : '*');
    let cursor = '0';
    let found = 0;
    do {
      const [next, flat] = await this.redis.hscanBuffer(this.keys.retained, cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next.toString();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const topic = flat[i].toString();
        if (matchesFilter(filter, topic)) {
          each(topic, flat[i + 1]);
          found++;
        }
      }
    } while (cursor !== '0');
    return found;
  }

  // --- session record ---

  /** Writes the whole record (fenced). expiryMs -1: no expiry while connected. */
  async sessionSave(clientId: string, token: string, session: StoredSession, expiryMs = -1): Promise<number> {
    const fields: string[] = [];
    for (const s of session.subscriptions) fields.push(SUB + s.filter, s.options);
    return this.redis.sessionSave(this.keys.lease(clientId), this.keys.session(clientId), token, expiryMs, session.created, ...fields);
  }

  async sessionSubscribe(clientId: string, token: string, filter: string, options: string): Promise<number> {
    return this.redis.sessionSub(this.keys.lease(clientId), this.keys.session(clientId), token, '+', SUB + filter, options);
  }

  async sessionUnsubscribe(clientId: string, token: string, filter: string): Promise<number> {
    return this.redis.sessionSub(this.keys.lease(clientId), this.keys.session(clientId), token, '-', SUB + filter);
  }

  async sessionLoad(clientId: string): Promise<StoredSession | null> {
    const h = await this.redis.hgetall(this.keys.session(clientId));
    if (h.created === undefined) return null;
    const subscriptions: StoredSubscription[] = [];
    for (const field of Object.keys(h)) if (field.startsWith(SUB)) subscriptions.push({ filter: field.substring(SUB.length), options: h[field] });
    return { created: h.created, subscriptions };
  }

  /** Per-session expiry: set when the client disconnects, cleared (-1) when it is back. */
  async sessionExpiry(clientId: string, token: string, expiryMs: number): Promise<number> {
    const k = this.keys;
    return this.redis.sessionExpiry(k.lease(clientId), k.session(clientId), k.queue(clientId), k.inflight(clientId), k.qos2(clientId), token, expiryMs);
  }

  async sessionDelete(clientId: string, token: string): Promise<number> {
    const k = this.keys;
    return this.redis.sessionDelete(k.lease(clientId), k.session(clientId), k.queue(clientId), k.inflight(clientId), k.qos2(clientId), token);
  }

  // --- offline queue ---

  /** Appends for an offline session (any node); returns how many were dropped (full, or no session). */
  async queuePush(clientId: string, messages: Buffer[], maxLength: number): Promise<number> {
    return this.redis.queuePush(this.keys.session(clientId), this.keys.queue(clientId), maxLength, ...messages);
  }

  /** Owner only: pops up to `count` (fenced). FENCED when the token is stale. */
  async queuePop(clientId: string, token: string, count: number): Promise<Buffer[] | typeof FENCED> {
    const r = await this.redis.queuePopBuffer(this.keys.lease(clientId), this.keys.queue(clientId), token, count);
    return r === FENCED ? FENCED : (r as Buffer[]);
  }

  /** Owner only: moves one queued message per packet id into in-flight, atomically (fenced). */
  async queueToInflight(clientId: string, token: string, packetIds: number[]): Promise<Buffer[] | typeof FENCED> {
    const k = this.keys;
    const r = await this.redis.queueToInflightBuffer(k.lease(clientId), k.queue(clientId), k.inflight(clientId), token, ...packetIds);
    return r === FENCED ? FENCED : (r as Buffer[]);
  }

  // --- in-flight and inbound QoS 2 ---

  async inflightSet(clientId: string, token: string, packetId: number, message: Buffer): Promise<number> {
    return this.redis.fencedWrite(this.keys.lease(clientId), this.keys.inflight(clientId), token, 'hset', packetId, message);
  }

  async inflightDelete(clientId: string, token: string, packetId: number): Promise<number> {
    return this.redis.fencedWrite(this.keys.lease(clientId), this.keys.inflight(clientId), token, 'hdel', packetId);
  }

  async inflightAll(clientId: string): Promise<Map<number, Buffer>> {
    const flat = await this.redis.hgetallBuffer(this.keys.inflight(clientId));
    const out = new Map<number, Buffer>();
    for (const [id, m] of Object.entries(flat)) out.set(Number(id), m);
    return out;
  }

  async qos2Add(clientId: string, token: string, packetId: number): Promise<number> {
    return this.redis.fencedWrite(this.keys.lease(clientId), this.keys.qos2(clientId), token, 'sadd', packetId);
  }

  async qos2Remove(clientId: string, token: string, packetId: number): Promise<number> {
    return this.redis.fencedWrite(this.keys.lease(clientId), this.keys.qos2(clientId), token, 'srem', packetId);
  }

  async qos2Has(clientId: string, packetId: number): Promise<boolean> {
    return (await this.redis.sismember(this.keys.qos2(clientId), String(packetId))) === 1;
  }

  // --- durability ---

  /** WAIT numreplicas timeout: how many replicas acknowledged every write made so far. */
  async waitReplicas(numReplicas: number, timeoutMs: number): Promise<number> {
    return Number(await this.redis.call('WAIT', numReplicas, timeoutMs));
  }
}

function firstWildcard(filter: string): number {
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0x2b || c === 0x23) return i;
  }
  return -1;
}

/** Escapes Redis glob specials so the prefix matches literally. */
function escapeGlob(s: string): string {
  let out = '';
  for (const ch of s) out += ch === '*' || ch === '?' || ch === '[' || ch === ']' || ch === '\\' ? `\\${ch}` : ch;
  return out;
}

export { matchesFilter } from '../topics/topic-match';
