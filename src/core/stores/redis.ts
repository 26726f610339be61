import Redis from 'ioredis';
import { ClusterKeys } from '../cluster/keys';
import type { PersistenceConfig } from '../config/types';
import type { QoS } from '../protocol/packets';
import type { InflightMessage, Message, QueuedMessage } from '../sessions/message';
import { Fifo } from '../sessions/fifo';
import { Session } from '../sessions/session';
import { type RetainedCursor, RetainedTrie } from '../topics/retained-trie';
import { type DecodedEntry, decodeEntry, decodeRetained, encodeEntry, encodeRetained, inflightFrom, queuedFrom, seqText } from './redis-codec';
import type { RetainedStore, SessionJournal, SessionStore, StoreCounter, Stores } from './store';
import { decodeStoredOptions, encodeStoredOptions, encodeStoredProperties } from './stored-message';

/**
 * Sessions and retained messages in Redis (persistence.backend: redis, and every clustered node).
 * Key layout of docs/cluster.md: per client `{c:<id>}:sess` HASH (metadata + `s:<filter>` ->
 * subscription), `:queue` LIST, `:infl` HASH packet id -> entry, `:qos2` SET; `<prefix>:retained`
 * HASH topic -> message. Encodings: redis-codec.ts.
 *
 * As with SQLite the engine works on in-memory objects and this store mirrors every change it is
 * told about (SessionJournal, retained set/delete) into a batch. The batch leaves once per
 * event-loop turn as ONE pipeline: one script call per client touched (CLIENT_BATCH: its ops in
 * order, fenced by the client's lease token when clustered), one for the retained changes, then
 * WAIT when persistence.redis-wait-replicas asks for it. The engine holds the acknowledgements of
 * a turn until the batch holding that turn's changes is answered (commitTicket / onCommit, see
 * engine/commit-gate.ts): no per-message promise, one promise per batch.
 *
 * Every op is idempotent (queue pushes and pops compare the entry's seq), so a batch whose reply
 * was lost can be sent again. A batch that fails is not retried op by op: the sessions and
 * retained topics it touched are marked dirty and rewritten whole from memory once Redis answers
 * again (memory bounded by the number of sessions and topics, whatever the length of the outage).
 */

/** One client's ops, applied in order by one script call. KEYS: lease, sess, queue, infl, qos2. ARGV[1]: token ('' = unfenced). */
const CLIENT_BATCH = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end
local i = 2
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'C' then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
    redis.call('HSET', KEYS[2], 'created', ARGV[i + 1])
    i = i + 2
  elseif op == 'D' then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
    i = i + 1
  elseif op == 'M' then
    if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2]) end
    i = i + 3
  elseif op == '+' then
    if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 's:' .. ARGV[i + 1], ARGV[i + 2]) end
    i = i + 3
  elseif op == '-' then
    redis.call('HDEL', KEYS[2], 's:' .. ARGV[i + 1])
    i = i + 2
  elseif op == 'Q' then
    local tail = redis.call('LINDEX', KEYS[3], -1)
    if (not tail) or string.sub(tail, 1, 16) < string.sub(ARGV[i + 1], 1, 16) then redis.call('RPUSH', KEYS[3], ARGV[i + 1]) end
    i = i + 2
  elseif op == 'q' then
    local head = redis.call('LINDEX', KEYS[3], 0)
    if head and string.sub(head, 1, 16) == ARGV[i + 1] then redis.call('LPOP', KEYS[3]) end
    i = i + 2
  elseif op == 'I' then
    redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'i' then
    redis.call('HDEL', KEYS[4], ARGV[i + 1])
    i = i + 2
  elseif op == 'R' then
    redis.call('SADD', KEYS[5], ARGV[i + 1])
    i = i + 2
  elseif op == 'r' then
    redis.call('SREM', KEYS[5], ARGV[i + 1])
    i = i + 2
  elseif op == 'E' then
    local ms = tonumber(ARGV[i + 1])
    for k = 2, 5 do
      if ms < 0 then redis.call('PERSIST', KEYS[k]) else redis.call('PEXPIRE', KEYS[k], ms) end
    end
    i = i + 2
  else
    return redis.error_reply('unknown op ' .. op)
  end
end
return 1`;

/**
 * The retained changes of a batch, then one notice to every node. KEYS: retained hash.
 * ARGV: channel, origin, then topic, value pairs ('' = delete). Receivers read the topics back
 * (HMGET), so whatever order notices arrive in, every node ends with what the hash holds: the
 * last write that reached Redis wins.
 */
const RETAINED_BATCH = `
local topics = {}
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  topics[#topics + 1] = ARGV[i]
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. '\\0' .. table.concat(topics, '\\0'))
return #topics`;

/** Delay before a refused batch's state is written again while Redis stays connected. */
const RETRY_MS = 250;

/**
 * A client's batch was refused (FENCED): its client id, the stale token, and the refused ops
 * (the token first, then CLIENT_BATCH's ops) or null for a whole-state rewrite.
 */
export type FencedHandler = (clientId: string, token: string, ops: readonly (string | Buffer)[] | null) => void;

/** How many arguments follow each op of CLIENT_BATCH (its Lua above). */
const CLIENT_BATCH_ARGS: Readonly<Record<string, number>> = { C: 1, D: 0, M: 2, '+': 2, '-': 1, Q: 1, q: 1, I: 2, i: 1, R: 1, r: 1, E: 1 };

/**
 * The messages a refused client batch (CLIENT_BATCH ops, token first) queued or sent that its
 * client's new node cannot have: queued ones ('Q') not delivered from the queue in the same batch
 * ('q' without an 'I' for them), and fresh in-flight ones ('I', state 0) not acknowledged in it
 * ('i'), a delivery from the queue counted once. Entries that do not decode are skipped.
 */
export function unsentOf(ops: readonly (string | Buffer)[]): DecodedEntry[] {
  const queued = new Map<string, DecodedEntry>();
  const dequeued = new Set<string>();
  const inflight = new Map<string, DecodedEntry>();
  for (let i = 1; i < ops.length; ) {
    const op = String(ops[i]);
    const n = CLIENT_BATCH_ARGS[op];
    if (n === undefined) return []; // not a batch this reads: forward nothing rather than guess
    try {
      if (op === 'Q') {
        const e = decodeEntry(ops[i + 1] as Buffer);
        queued.set(seqText(e.seq), e);
      } else if (op === 'q') dequeued.add(String(ops[i + 1]));
      else if (op === 'I') {
        const e = decodeEntry(ops[i + 2] as Buffer);
        const id = String(ops[i + 1]);
        if (e.state === 0) inflight.set(id, e);
        else inflight.delete(id);
      } else if (op === 'i') inflight.delete(String(ops[i + 1]));
    } catch {
      // a truncated entry: skipped
    }
    i += 1 + n;
  }
  const out: DecodedEntry[] = [];
  for (const e of inflight.values()) {
    const seq = seqText(e.seq);
    if (!dequeued.has(seq) || queued.has(seq)) out.push(e); // direct delivery, or queued in this batch
  }
  for (const [seq, e] of queued) if (!dequeued.has(seq)) out.push(e);
  return out;
}

/** Returned by CLIENT_BATCH when the lease token is not the current one. */
const FENCED = -1;

type ScriptedRedis = Redis & {
  clientBatch(lease: string, s: string, q: string, i: string, q2: string, ...argv: (string | Buffer)[]): Promise<number>;
  retainedBatch(key: string, ...argv: (string | Buffer)[]): Promise<number>;
};

/** Options of createRedisStores; the config keys are persistence.redis*, cl-core passes cluster.redis. */
export interface RedisStoreOptions {
  /** redis://host:port[/db] (rediss:// for TLS). */
  url: string;
  /** Key prefix (docs/cluster.md key layout); several brokers may share one Redis with different prefixes. */
  prefix?: string;
  /** Name of this node in retained-change notices (its own are skipped). */
  nodeId?: string;
  /** WAIT for this many replicas after each batch before its acknowledgements leave (0: no WAIT). */
  waitReplicas?: number;
  /** WAIT timeout, ms; fewer replicas in time fails the batch (its acknowledgements are not sent). */
  waitTimeoutMs?: number;
  /**
   * Clustered: at CONNECT the session is read from Redis (another node may have changed it), not
   * taken from memory. Single node: memory is the truth and a CONNECT needs no Redis read.
   */
  loadOnConnect?: boolean;
  /** How long open() waits for Redis. */
  connectTimeoutMs?: number;
  /**
   * Clustered: keep `{n:<nodeId>}:sessions` (client id -> lease token) of the persistent sessions
   * this node holds, so that a survivor finds and adopts them if the node dies
   * (cluster/session-adoption.ts). Written in the same pipeline as the session batches.
   */
  indexSessions?: boolean;
}

/** Counters for stats/metrics (readable by the embedder and the cluster layer). */
export class RedisStoreStats {
  /** Batches answered by Redis. */
  batches = 0;
  /** Batches that failed (Redis down, WAIT short): their acknowledgements were not sent. */
  failedBatches = 0;
  /** Client batches refused because the lease token was not current (another node owns the client). */
  fencedWrites = 0;
  /** CONNECTs refused with "server unavailable" because Redis could not be read. */
  loadFailures = 0;
  /** Bytes of values sent (payloads, properties, topics and framing; not RESP overhead). */
  bytesWritten = 0;
}

/** The fencing token of a session: cl-core sets `clusterToken` from the client's lease; none = unfenced. */
function fenceTokenOf(session: Session): string {
  const token = (session as Session & { clusterToken?: string | null }).clusterToken;
  return token === undefined || token === null ? '' : token;
}

/** A client's ops of the batch being built. */
interface PendingClient {
  session: Session;
  args: (string | Buffer | LateSubscription)[];
}

const SUB = 's:';

export class RedisStore implements SessionJournal {
  readonly sessions: RedisSessionStore;
  readonly retained: RedisRetainedStore;
  readonly stats = new RedisStoreStats();
  private readonly keys: ClusterKeys;
  private readonly channel: string;
  private readonly nodeId: string;
  private command: ScriptedRedis | null = null;
  private subscriber: Redis | null = null;
  private pendingClients = new Map<string, PendingClient>();
  /** Session index changes (indexSessions): client id -> lease token, '' = the session left this node. */
  private pendingIndex = new Map<string, string>();
  /** topic -> encoded value, '' for delete. */
  private pendingRetained = new Map<string, Buffer | string>();
  /**
   * Topics of retained writes sent and not answered yet, with how many batches carry each. A
   * notice's read-back (HMGET) sent before such a batch is answered before it, on the same
   * connection, and so holds the value this node's own write replaces: it must not be applied.
   */
  private retainedInFlight = new Map<string, number>();
  /** Sessions (by id) and retained topics whose Redis copy is not known: rewritten whole when Redis answers. */
  private readonly dirtySessions = new Set<string>();
  private readonly dirtyTopics = new Set<string>();
  private scheduled = false;
  /** A dirty session or topic changed since the last batch left: the next batch rewrites it, and the turn's acknowledgements wait for that. */
  private dirtyTouched = false;
  /**
   * A batch failed and the engine may not have held every acknowledgement that depended on it
   * (its failure can be known before the turn's output is flushed): the next commit() throws,
   * so that turn's connections are closed unsent (CommitGate.tryCommit).
   */
  private failureUnreported = false;
  /** Number of the batch being built (changes made now go into it). */
  private building = 1;
  /** Number of the last batch answered (or failed). */
  private completed = 0;
  private inFlight = false;
  private readonly listeners: ((err?: Error, ticket?: number) => void)[] = [];
  private readonly flushWaiters: { ticket: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private seq = Date.now() * 1000;
  private lastEncoded: Message | null = null;
  private lastEncodedProperties: Buffer | null = null;
  private opened = false;
  private closing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** True after a failed batch or lost connection, until a batch succeeds again. */
  down = false;
  /**
   * Clustered: a client's writes were refused because its lease has a newer token (the client
   * went on on another node): told the client id and the stale token (ClusterNode drops a
   * detached copy still held here). Called after the batch, never during it. `ops`: the refused
   * changes of that client in this batch (CLIENT_BATCH ops after the token), for a node that
   * forwards what they queued to the client's new node; null for a whole-state rewrite.
   */
  fencedHandler: FencedHandler | null = null;

  constructor(readonly options: RedisStoreOptions) {
    this.keys = new ClusterKeys(options.prefix ?? 'nestmq');
    this.channel = `${this.keys.prefix}:retained:changes`;
    this.nodeId = options.nodeId ?? `${process.pid}-${Math.random().toString(36).slice(2)}`;
    this.sessions = new RedisSessionStore(this);
    this.retained = new RedisRetainedStore(this);
  }

  private connection(): Redis {
    const redis = new Redis(this.options.url, {
      // A command while Redis is down fails at once: a publish flood during an outage must not
      // grow an in-memory queue (cluster/redis-connection.ts).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 50, 1000),
      lazyConnect: true,
    });
    redis.on('error', () => {}); // reported through failed batches and loads, not as crashes
    return redis;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    const command = this.connection() as ScriptedRedis;
    command.defineCommand('clientBatch', { numberOfKeys: 5, lua: CLIENT_BATCH });
    command.defineCommand('retainedBatch', { numberOfKeys: 1, lua: RETAINED_BATCH });
    this.command = command;
    const subscriber = this.connection();
    this.subscriber = subscriber;
    const timeout = this.options.connectTimeoutMs ?? 10000;
    try {
      await withTimeout(Promise.all([command.connect(), subscriber.connect()]), timeout, `persistence.redis: no answer from ${redactUrl(this.options.url)} within ${timeout} ms`);
      await subscriber.subscribe(this.channel);
      subscriber.on('messageBuffer', this.onRetainedNotice);
      await this.loadAll(command);
    } catch (err) {
      command.disconnect();
      subscriber.disconnect();
      this.command = null;
      this.subscriber = null;
      throw err;
    }
    command.on('close', this.onConnectionLost);
    command.on('ready', this.onConnectionBack);
    // Notices missed while the subscriber was away: read the whole retained hash again.
    subscriber.on('ready', () => void this.reloadRetained().catch(() => {}));
  }

  /**
   * Every session and retained message, into memory (single node: memory is the truth).
   * Clustered (loadOnConnect): retained messages only. A session is read when its client
   * connects here; loading them all on every node would put every session's routes on every
   * node, each queueing the same messages.
   */
  private async loadAll(redis: Redis): Promise<void> {
    if (this.options.loadOnConnect === true) return this.reloadRetained();
    const sessions = new Map<string, Session>();
    const pattern = `${this.keys.prefix}:{c:*}:sess`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const id = key.substring(this.keys.prefix.length + 4, key.length - 6);
        if (this.keys.session(id) !== key) continue;
        const s = await this.read(redis, id);
        if (s !== undefined) sessions.set(id, s);
      }
    } while (cursor !== '0');
    this.sessions.loaded(sessions);
    await this.reloadRetained();
  }

  /** Reads one client's keys (one pipeline) into a Session; undefined when it has none. */
  async read(redis: Redis, clientId: string): Promise<Session | undefined> {
    const k = this.keys;
    const replies = await redis
      .pipeline()
      .hgetall(k.session(clientId))
      .lrangeBuffer(k.queue(clientId), 0, -1)
      .hgetallBuffer(k.inflight(clientId))
      .smembers(k.qos2(clientId))
      .exec();
    if (replies === null) throw new Error('redis: no reply');
    for (const [err] of replies) if (err) throw err;
    const h = replies[0][1] as Record<string, string>;
    if (h.created === undefined) return undefined;
    const s = new Session(clientId, false, this);
    if (h.user !== undefined) s.username = h.user === '\0' ? null : h.user.substring(1);
    if (h.exp !== undefined && h.exp !== '') {
      // The MQTT 5 client's own Session Expiry Interval, counted from its disconnect.
      s.expiryInterval = Number(h.exp);
      s.expiryRequested = true;
    }
    const disc = Number(h.disc ?? 0);
    s.disconnectedAt = disc > 0 ? disc : Date.now();
    for (const field of Object.keys(h)) {
      if (!field.startsWith(SUB)) continue;
      const filter = field.substring(SUB.length);
      const v = h[field];
      const bar = v.indexOf('|');
      if (s.subscriptions === null) s.subscriptions = new Map();
      s.subscriptions.set(filter, Number(bar < 0 ? v : v.substring(0, bar)) as QoS);
      if (bar >= 0) (s.subscriptionOptions ??= new Map()).set(filter, decodeStoredOptions(v.substring(bar + 1)));
    }
    const queue = replies[1][1] as Buffer[];
    for (const b of queue) {
      const d = decodeEntry(b);
      if (s.queue === null) s.queue = new Fifo();
      const item = queuedFrom(d);
      s.queue.push(item);
      if (d.seq > this.seq) this.seq = d.seq;
    }
    const infl = replies[2][1] as Record<string, Buffer>;
    const entries: InflightMessage[] = [];
    for (const id of Object.keys(infl)) {
      const d = decodeEntry(infl[id]);
      entries.push(inflightFrom(Number(id), d));
      if (d.seq > this.seq) this.seq = d.seq;
    }
    // Map order is send order, which resends keep [MQTT-4.6.0-1].
    entries.sort((a, b) => a.seq - b.seq);
    for (const e of entries) (s.inflight ??= new Map()).set(e.packetId, e);
    for (const id of replies[3][1] as string[]) (s.incomingQos2 ??= new Set()).add(Number(id));
    return s;
  }

  private async reloadRetained(): Promise<void> {
    const redis = this.command;
    if (redis === null) return;
    const all = await redis.hgetallBuffer(this.keys.retained);
    const now = Date.now();
    const seen = new Set<string>();
    for (const topic of Object.keys(all)) {
      const m = decodeRetained(topic, all[topic]);
      // v5 [MQTT-3.3.2-5] expired while stored: never delivered again.
      if (m.expiresAt !== 0 && m.expiresAt <= now) continue;
      seen.add(topic);
      if (!this.pendingRetained.has(topic)) this.retained.loaded(m);
    }
    const stale: string[] = [];
    this.retained.forEach((m) => {
      if (!seen.has(m.topic) && !this.pendingRetained.has(m.topic)) stale.push(m.topic);
    });
    for (const t of stale) this.retained.unloaded(t);
  }

  /** Another node changed retained messages: read those topics back from the hash. */
  private readonly onRetainedNotice = (_channel: Buffer, message: Buffer): void => {
    const parts = message.toString('utf8').split('\0');
    if (parts[0] === this.nodeId || this.command === null || parts.length < 2) return;
    const topics = parts.slice(1);
    this.command.hmgetBuffer(this.keys.retained, ...topics).then(
      (values) => {
        for (let i = 0; i < topics.length; i++) {
          // A local change not yet written, or written and not answered, wins over what the hash
          // held when it was read (it is later).
          if (this.pendingRetained.has(topics[i]) || this.retainedInFlight.has(topics[i])) continue;
          const v = values[i];
          if (v === null) this.retained.unloaded(topics[i]);
          else this.retained.loaded(decodeRetained(topics[i], v));
        }
      },
      () => this.dirtyTopics.size, // missed: the reload on the next 'ready' catches up
    );
  };

  private readonly retry = (): void => {
    this.retryTimer = null;
    if (this.closing || (this.dirtySessions.size === 0 && this.dirtyTopics.size === 0)) return;
    this.dirtyTouched = true;
    this.schedule();
  };

  private readonly onConnectionLost = (): void => {
    if (!this.closing) this.down = true;
  };

  /** Redis is back: write the dirty state (which clears `down` when it succeeds). */
  private readonly onConnectionBack = (): void => {
    if (this.closing) return;
    if (this.dirtySessions.size === 0 && this.dirtyTopics.size === 0) {
      this.down = false;
      return;
    }
    this.dirtyTouched = true;
    this.schedule();
  };

  // ---- the batch ------------------------------------------------------------------------

  /** The batch of `session`'s client, null when its state is dirty anyway (rewritten whole later). */
  private client(session: Session): (string | Buffer | LateSubscription)[] | null {
    const id = session.clientId;
    if (this.dirtySessions.has(id)) {
      this.dirtyTouched = true;
      this.schedule();
      return null;
    }
    let p = this.pendingClients.get(id);
    if (p === undefined || p.session !== session) {
      if (p !== undefined) {
        // A new session object under the same id in the same batch (takeover with a clean
        // start): rewrite the client's keys from the newest session.
        this.dirtySessions.add(id);
        this.dirtyTouched = true;
        this.pendingClients.delete(id);
        return null;
      }
      p = { session, args: [] };
      this.pendingClients.set(id, p);
    }
    this.schedule();
    return p.args;
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      // Sent once the turn's packets are handled, before the engine's own flush (which holds
      // the turn's acknowledgements until this batch is answered).
      setImmediate(this.send);
    }
  }

  /** Changes wait in the batch being built. */
  private get hasBatchChanges(): boolean {
    return this.pendingClients.size > 0 || this.pendingRetained.size > 0 || this.dirtyTouched;
  }

  /** Throws once after a failed batch (see failureUnreported): nothing else to do synchronously. */
  commit(): void {
    if (this.failureUnreported) {
      this.failureUnreported = false;
      throw new Error('redis: a write batch failed');
    }
  }

  get hasPendingChanges(): boolean {
    return this.inFlight || this.hasBatchChanges;
  }

  /** The number of the batch that holds every change made so far (the one in flight when none is being built). */
  get commitTicket(): number {
    return this.hasBatchChanges ? this.building : this.building - 1;
  }

  onCommit(listener: (err?: Error, ticket?: number) => void): void {
    if (!this.listeners.includes(listener)) this.listeners.push(listener);
  }

  private readonly send = (): void => {
    this.scheduled = false;
    // One batch in flight at a time: changes made meanwhile wait for its reply (then go at once).
    if (this.inFlight) return;
    const redis = this.command;
    if (redis === null) return;
    if (this.pendingClients.size === 0 && this.pendingRetained.size === 0 && this.dirtySessions.size === 0 && this.dirtyTopics.size === 0 && this.pendingIndex.size === 0) return;
    const ticket = this.building++;
    const clients = this.pendingClients;
    const retained = this.pendingRetained;
    const index = this.pendingIndex;
    this.pendingClients = new Map();
    this.pendingRetained = new Map();
    for (const topic of retained.keys()) this.retainedInFlight.set(topic, (this.retainedInFlight.get(topic) ?? 0) + 1);
    if (index.size > 0) this.pendingIndex = new Map();
    this.dirtyTouched = false;
    this.lastEncoded = null;
    this.lastEncodedProperties = null;
    if (redis.status !== 'ready') {
      // Redis is away: fail the batch at once, without encoding anything (the state is rewritten
      // whole when it is back, and nothing waits on a command that cannot be sent).
      this.inFlight = true;
      this.indexFailed(index);
      this.retainedAnswered(retained);
      void Promise.resolve().then(() => this.batchDone(ticket, new Error(`redis: ${redis.status}`), clients, retained, 0, [], []));
      return;
    }
    // Dirty state leaves whole with this batch.
    const dirtySessions = [...this.dirtySessions];
    const dirtyTopics = [...this.dirtyTopics];
    this.dirtySessions.clear();
    this.dirtyTopics.clear();
    const pipeline = redis.pipeline();
    const k = this.keys;
    // The node's session index first (its own reply slots come before the client batches').
    let indexOps = 0;
    if (index.size > 0) {
      const indexKey = k.sessionIndex(this.nodeId);
      for (const [id, token] of index) {
        if (token === '') pipeline.hdel(indexKey, id);
        else pipeline.hset(indexKey, id, token);
        indexOps++;
      }
    }
    const fencedIds: string[] = [];
    const fencedTokens: string[] = [];
    const fencedOps: ((string | Buffer)[] | null)[] = [];
    let bytes = 0;
    const sendClient = (id: string, args: (string | Buffer | LateSubscription)[], incremental: boolean): void => {
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a instanceof LateSubscription) args[i] = a.toString();
        bytes += (args[i] as string | Buffer).length;
      }
      void (pipeline as unknown as ScriptedRedis).clientBatch(k.lease(id), k.session(id), k.queue(id), k.inflight(id), k.qos2(id), ...(args as (string | Buffer)[]));
      fencedIds.push(id);
      fencedTokens.push(args[0] as string);
      fencedOps.push(incremental ? (args as (string | Buffer)[]) : null);
    };
    for (const [id, p] of clients) sendClient(id, [fenceTokenOf(p.session), ...p.args], true);
    for (const id of dirtySessions) sendClient(id, this.snapshot(id), false);
    for (const t of dirtyTopics) {
      const m = this.retained.get(t);
      retained.set(t, m === undefined ? '' : encodeRetained(m, m.properties === null ? null : encodeStoredProperties(m.properties)));
    }
    if (retained.size > 0) {
      const argv: (string | Buffer)[] = [this.channel, this.nodeId];
      for (const [topic, value] of retained) {
        argv.push(topic, value);
        bytes += topic.length + value.length;
      }
      void (pipeline as unknown as ScriptedRedis).retainedBatch(k.retained, ...argv);
    }
    const wait = this.options.waitReplicas ?? 0;
    if (wait > 0) pipeline.call('WAIT', wait, this.options.waitTimeoutMs ?? 1000);
    this.inFlight = true;
    pipeline.exec().then(
      (replies) => {
        this.retainedAnswered(retained);
        let error: Error | undefined;
        if (replies === null) error = new Error('redis: no reply');
        else {
          for (let i = 0; i < replies.length && error === undefined; i++) if (replies[i][0]) error = replies[i][0] as Error;
          if (error === undefined) {
            for (let i = 0; i < fencedIds.length; i++) {
              if (replies[indexOps + i][1] === FENCED) {
                // Another node holds this client's lease: nothing of it was written here.
                this.stats.fencedWrites++;
                if (fencedTokens[i] !== '') this.fencedHandler?.(fencedIds[i], fencedTokens[i], fencedOps[i]);
              }
            }
            if (wait > 0) {
              const acked = Number(replies[replies.length - 1][1]);
              if (acked < wait) error = new Error(`redis: WAIT ${wait} answered ${acked} replicas within ${this.options.waitTimeoutMs ?? 1000} ms`);
            }
          }
        }
        if (error !== undefined) this.indexFailed(index);
        this.batchDone(ticket, error, clients, retained, bytes, dirtySessions, dirtyTopics);
      },
      (err: Error) => {
        this.retainedAnswered(retained);
        this.indexFailed(index);
        this.batchDone(ticket, err, clients, retained, bytes, dirtySessions, dirtyTopics);
      },
    );
  };

  /** A batch carrying these retained writes was answered (or failed): they are no longer in flight. */
  private retainedAnswered(retained: Map<string, Buffer | string>): void {
    for (const topic of retained.keys()) {
      const n = this.retainedInFlight.get(topic) ?? 0;
      if (n <= 1) this.retainedInFlight.delete(topic);
      else this.retainedInFlight.set(topic, n - 1);
    }
  }

  /** Index changes of a batch that did not reach Redis: again with the next batch, unless superseded. */
  private indexFailed(index: Map<string, string>): void {
    for (const [id, token] of index) if (!this.pendingIndex.has(id)) this.pendingIndex.set(id, token);
  }

  /** Records (token) or forgets ('') a persistent session in this node's index (indexSessions). */
  indexSession(clientId: string, token: string): void {
    if (this.options.indexSessions !== true) return;
    this.pendingIndex.set(clientId, token);
    this.schedule();
  }

  private batchDone(
    ticket: number,
    error: Error | undefined,
    clients: Map<string, PendingClient>,
    retained: Map<string, Buffer | string>,
    bytes: number,
    dirtySessions: string[],
    dirtyTopics: string[],
  ): void {
    this.inFlight = false;
    this.completed = ticket;
    if (error === undefined) {
      this.stats.batches++;
      this.stats.bytesWritten += bytes;
      if (this.dirtySessions.size === 0 && this.dirtyTopics.size === 0) this.down = false;
    } else {
      this.stats.failedBatches++;
      this.down = true;
      this.failureUnreported = true;
      // What reached Redis is not known: rewrite it whole once Redis answers again.
      for (const id of clients.keys()) this.dirtySessions.add(id);
      for (const id of dirtySessions) this.dirtySessions.add(id);
      for (const t of retained.keys()) this.dirtyTopics.add(t);
      for (const t of dirtyTopics) this.dirtyTopics.add(t);
      // Connected but refused (WAIT short, a script error): try the rewrite again shortly; when
      // the connection is lost, its 'ready' does that.
      if (this.command !== null && this.command.status === 'ready' && this.retryTimer === null) {
        this.retryTimer = setTimeout(this.retry, RETRY_MS);
        this.retryTimer.unref();
      }
    }
    for (const l of this.listeners) l(error, ticket);
    for (let i = 0; i < this.flushWaiters.length; ) {
      const w = this.flushWaiters[i];
      if (w.ticket <= ticket) {
        this.flushWaiters.splice(i, 1);
        if (error === undefined) w.resolve();
        else w.reject(error);
      } else i++;
    }
    if (this.pendingClients.size > 0 || this.pendingRetained.size > 0) this.schedule();
    else if (!this.down && this.flushWaiters.length > 0) this.schedule();
  }

  /** The ops that rewrite a client's keys from memory (or delete them when it has no session). */
  private snapshot(id: string): (string | Buffer)[] {
    const s = this.sessions.get(id);
    if (s === undefined || s.journal === null) return ['', 'D'];
    const args: (string | Buffer)[] = [fenceTokenOf(s), 'C', String(Date.now())];
    this.metaOps(s, args);
    if (s.connection === null) this.detachOps(s, args);
    if (s.subscriptions !== null) for (const [filter, qos] of s.subscriptions) args.push('+', filter, subscriptionValue(s, filter, qos));
    if (s.queue !== null) for (const item of s.queue) args.push('Q', encodeEntry(item.seq, item.message, item.qos, item.retainFlag, 0, this.propertiesOf(item.message)));
    if (s.inflight !== null) for (const e of s.inflight.values()) args.push('I', String(e.packetId), encodeEntry(e.seq, e.message, e.qos, e.retainFlag, e.state, this.propertiesOf(e.message)));
    if (s.incomingQos2 !== null) for (const id2 of s.incomingQos2) args.push('R', String(id2));
    return args;
  }

  private metaOps(s: Session, args: (string | Buffer | LateSubscription)[]): void {
    if (s.username !== undefined) args.push('M', 'user', s.username === null ? '\0' : `=${s.username}`);
    args.push('M', 'exp', s.expiryRequested ? String(s.expiryInterval) : '');
  }

  private detachOps(s: Session, args: (string | Buffer | LateSubscription)[]): void {
    args.push('M', 'disc', String(s.disconnectedAt), 'M', 'exp', s.expiryRequested ? String(s.expiryInterval) : '');
    // Redis drops an abandoned session by itself a second after the broker would (a backstop:
    // the broker deletes it at expiry when it runs).
    args.push('E', s.expiryInterval > 0 ? String(s.expiryInterval * 1000 + 1000) : '-1');
  }

  /** Resolves once every change made so far is answered by Redis. */
  flush(): Promise<void> {
    // Readiness (Broker.checkStores) asks this: a store that cannot write is not ready.
    if (this.down) return Promise.reject(new Error('persistence: redis unavailable'));
    if (!this.hasPendingChanges) return Promise.resolve();
    const ticket = this.commitTicket;
    this.schedule();
    return new Promise((resolve, reject) => this.flushWaiters.push({ ticket, resolve, reject }));
  }

  propertiesOf(m: Message): Buffer | null {
    if (m.properties === null) return null;
    if (this.lastEncoded !== m) {
      this.lastEncodedProperties = encodeStoredProperties(m.properties);
      this.lastEncoded = m;
    }
    return this.lastEncodedProperties;
  }

  async close(): Promise<void> {
    if (this.command === null) return;
    try {
      if (!this.down) await withTimeout(this.flush(), 5000, 'redis: final flush timed out');
    } catch {
      // the state stays as Redis had it; a broker on it later finds the last batch answered
    } finally {
      this.closing = true;
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.command?.disconnect();
      this.subscriber?.disconnect();
      this.command = null;
      this.subscriber = null;
    }
  }

  get redis(): Redis | null {
    return this.command;
  }

  // ---- called by the views ----------------------------------------------------------------

  sessionCreated(session: Session): void {
    const args = this.client(session);
    if (args !== null) args.push('C', String(Date.now()));
  }

  sessionDeleted(session: Session): void {
    if (this.options.indexSessions === true) this.indexSession(session.clientId, '');
    const args = this.client(session);
    if (args !== null) args.push('D');
  }

  sessionAttached(session: Session): void {
    if (this.options.indexSessions === true) this.indexSession(session.clientId, fenceTokenOf(session));
    const args = this.client(session);
    if (args === null) return;
    this.metaOps(session, args);
    args.push('M', 'disc', '0', 'E', '-1');
  }

  sessionDetached(session: Session): void {
    const args = this.client(session);
    if (args !== null) this.detachOps(session, args);
  }

  retainedSet(msg: Message): void {
    this.pendingRetained.set(msg.topic, encodeRetained(msg, this.propertiesOf(msg)));
    this.schedule();
  }

  retainedDeleted(topic: string): void {
    this.pendingRetained.set(topic, '');
    this.schedule();
  }

  /** Clustered: read the session from Redis at CONNECT, once this node's own writes are in. */
  async loadFresh(clientId: string): Promise<Session | undefined> {
    await this.flush();
    const redis = this.command;
    if (redis === null) throw new Error('redis store closed');
    return this.read(redis, clientId);
  }

  // ---- SessionJournal ---------------------------------------------------------------------

  subscriptionSet(session: Session, filter: string, qos: QoS): void {
    const args = this.client(session);
    if (args === null) return;
    // The SUBSCRIBE handler sets the filter's options after its QoS: the value is read at send.
    args.push('+', filter, new LateSubscription(session, filter, qos));
  }

  subscriptionDeleted(session: Session, filter: string): void {
    this.client(session)?.push('-', filter);
  }

  inflightSet(session: Session, e: InflightMessage): void {
    const args = this.client(session);
    if (e.seq === 0) e.seq = ++this.seq;
    if (args === null) return;
    const m = e.message;
    args.push('I', String(e.packetId), encodeEntry(e.seq, m, e.qos, e.retainFlag, e.state, this.propertiesOf(m)));
  }

  inflightDeleted(session: Session, packetId: number): void {
    this.client(session)?.push('i', String(packetId));
  }

  queued(session: Session, item: QueuedMessage): void {
    item.seq = ++this.seq;
    const args = this.client(session);
    if (args === null) return;
    const m = item.message;
    args.push('Q', encodeEntry(item.seq, m, item.qos, item.retainFlag, 0, this.propertiesOf(m)));
  }

  dequeued(session: Session, item: QueuedMessage): void {
    this.client(session)?.push('q', seqText(item.seq));
  }

  incomingQos2Set(session: Session, packetId: number): void {
    this.client(session)?.push('R', String(packetId));
  }

  incomingQos2Deleted(session: Session, packetId: number): void {
    this.client(session)?.push('r', String(packetId));
  }
}

/** A subscription op whose value (QoS and Subscription Options) is read when the batch leaves. */
class LateSubscription {
  constructor(
    readonly session: Session,
    readonly filter: string,
    readonly qos: QoS,
  ) {}

  toString(): string {
    return subscriptionValue(this.session, this.filter, this.qos);
  }
}

/** `qos` or `qos|options-json` (MQTT 5 Subscription Options, stores/stored-message.ts). */
function subscriptionValue(s: Session, filter: string, qos: QoS): string {
  const options = encodeStoredOptions(s.subscriptionOptions?.get(filter));
  return options === null ? String(qos) : `${qos}|${options}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** The lifecycle both views of one Redis store share: one open, one batch, one commit. */
abstract class RedisView {
  readonly durable = true;

  constructor(protected readonly store: RedisStore) {}

  open(): Promise<void> {
    return this.store.open();
  }

  /** Nothing to write synchronously (the batch leaves on its own schedule); throws once after a failed batch. */
  commit(): void {
    this.store.commit();
  }

  get hasPendingChanges(): boolean {
    return this.store.hasPendingChanges;
  }

  get commitTicket(): number {
    return this.store.commitTicket;
  }

  onCommit(listener: (err?: Error, ticket?: number) => void): void {
    this.store.onCommit(listener);
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

export class RedisSessionStore extends RedisView implements SessionStore {
  private sessions = new Map<string, Session>();

  loaded(sessions: Map<string, Session>): void {
    this.sessions = sessions;
  }

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  /**
   * Single node: the session is in memory already, nothing to wait for, unless Redis is down:
   * then the CONNECT is refused with "server unavailable" (3.1.1 0x03, MQTT 5 0x88), since its
   * session could not be written. Clustered: read from Redis (another node may have changed it).
   */
  load(clientId: string): Session | undefined | Promise<Session | undefined> {
    const store = this.store;
    if (store.down) {
      store.stats.loadFailures++;
      return Promise.reject(new Error('persistence: redis unavailable'));
    }
    const local = this.sessions.get(clientId);
    if (store.options.loadOnConnect !== true || (local !== undefined && local.connection !== null)) return local;
    return store.loadFresh(clientId).then(
      (s) => {
        const now = this.sessions.get(clientId);
        // Connected meanwhile on this node: that session is the newer one.
        if (now !== undefined && now.connection !== null) return now;
        if (s === undefined) this.sessions.delete(clientId);
        else this.sessions.set(clientId, s);
        return s;
      },
      (err: Error) => {
        store.stats.loadFailures++;
        throw err;
      },
    );
  }

  create(clientId: string, clean: boolean): Session {
    // Clean sessions end with their connection: nothing of theirs is written.
    const session = new Session(clientId, clean, clean ? null : this.store);
    this.sessions.set(clientId, session);
    if (!clean) this.store.sessionCreated(session);
    return session;
  }

  delete(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    this.sessions.delete(session.clientId);
    if (session.journal !== null) this.store.sessionDeleted(session);
  }

  detached(session: Session): void {
    session.disconnectedAt = Date.now();
    if (session.journal !== null) this.store.sessionDetached(session);
  }

  attached(session: Session): void {
    if (session.journal !== null) this.store.sessionAttached(session);
  }

  /**
   * Cluster adoption (cluster/session-adoption.ts): a persistent session read from Redis and
   * taken over from a dead node becomes this node's (detached), indexed under this node.
   */
  install(session: Session): void {
    this.sessions.set(session.clientId, session);
    this.store.indexSession(session.clientId, fenceTokenOf(session));
  }

  /** See RedisStore.fencedHandler. */
  set fencedHandler(handler: FencedHandler | null) {
    this.store.fencedHandler = handler;
  }

  /** The stored session of `clientId` as Redis has it now (one pipeline), not installed. */
  readStored(clientId: string): Promise<Session | undefined> {
    const redis = this.store.redis;
    if (redis === null) return Promise.reject(new Error('redis store closed'));
    return this.store.read(redis, clientId);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  override close(): Promise<void> {
    return super.close().finally(() => this.sessions.clear());
  }
}

export class RedisRetainedStore extends RedisView implements RetainedStore {
  private readonly trie = new RetainedTrie<Message>();

  /** A message read from Redis (load, another node's change): into memory, not written back. */
  loaded(msg: Message): void {
    this.trie.set(msg.topic, msg);
  }

  unloaded(topic: string): void {
    this.trie.delete(topic);
  }

  get size(): number {
    return this.trie.size;
  }

  get(topic: string): Message | undefined {
    return this.trie.get(topic);
  }

  set(msg: Message): void {
    this.trie.set(msg.topic, msg);
    this.store.retainedSet(msg);
  }

  delete(topic: string): void {
    if (this.trie.delete(topic)) this.store.retainedDeleted(topic);
  }

  match(filter: string, out: Message[]): void {
    this.trie.match(filter, out);
  }

  cursor(filter: string): RetainedCursor<Message> {
    return this.trie.cursor(filter);
  }

  forEach(fn: (msg: Message) => void): void {
    this.trie.forEach(fn);
  }
}

/**
 * The Redis stores. `persistence: { backend: redis, redis: <url> }` selects them (stores/index.ts);
 * a clustered node (cl-core) calls this with `cluster.redis`, its node id and `loadOnConnect: true`.
 */
export function createRedisStores(options: RedisStoreOptions): Stores & { store: RedisStore } {
  const store = new RedisStore(options);
  const stats = store.stats;
  const counters = (): StoreCounter[] => [
    { name: 'redis_batches', help: 'Store batches (one pipeline per turn) answered by Redis', value: stats.batches },
    { name: 'redis_batches_failed', help: 'Store batches that failed (Redis down, WAIT short of replicas): their acknowledgements were not sent', value: stats.failedBatches },
    { name: 'redis_fenced_writes', help: 'Session writes refused because another node owns the client id now (lease token not current)', value: stats.fencedWrites },
    { name: 'redis_load_failures', help: 'CONNECTs refused (server unavailable) because the session could not be read from Redis', value: stats.loadFailures },
    { name: 'redis_bytes_written', help: 'Value bytes written to Redis by the store (payloads, properties, topics, framing; not RESP)', value: stats.bytesWritten },
  ];
  return { sessions: store.sessions, retained: store.retained, store, counters };
}

/** RedisStoreOptions from the persistence config (single node unless the caller says otherwise). */
export function redisOptionsFrom(persistence: PersistenceConfig, url: string | null = persistence.redis ?? null): RedisStoreOptions {
  if (url === null) throw new Error('persistence.redis: required with backend redis');
  return {
    url,
    prefix: persistence.redisPrefix,
    waitReplicas: persistence.redisWaitReplicas,
    waitTimeoutMs: persistence.redisWaitTimeout,
  };
}
