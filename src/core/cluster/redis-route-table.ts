/**
 * RouteTable over Redis: which node holds which filters, so a PUBLISH travels only to the nodes
 * with a matching subscription instead of to every node.
 *
 * Store: one SET of filters per node (`{meta}:routes:<node>`), the SET of nodes that have one, and
 * a Stream of changes (`{meta}:routelog`: op '+'/'-' with node n and filter f, 'x' = node n
 * dropped, 'h' = dead node d dropped and its adopter n holding filters f, one step: HANDOVER). Every change is one Lua script that updates the SET and appends to the log together,
 * so a snapshot (all SETs + the log's last id, read by one script) and the log after that id
 * always agree.
 *
 * Local copy: a per-level trie (SubscriptionTrie, subscriber = node id) for plain filters and a
 * second trie of shared groups ('$share/group/filter', subscriber = the group record holding its
 * nodes). match() walks both, no I/O, no allocation once warm. For a shared group it picks one
 * node round-robin: that node's router then gives the message to one of its local members.
 *
 * Following: a blocking XREAD from the last id applied. After any reconnect, or when the log was
 * trimmed past us, or when this node learns it was dropped (membership rejoin), resync():
 * re-assert this node's own filters (the local reference counts are the truth; Redis may have
 * restarted empty), then reload the snapshot and continue from its id.
 */
import type Redis from 'ioredis';
import { MatchResult, SubscriptionTrie } from '../topics/subscription-trie';
import { ClusterKeys } from './keys';
import { closeConnection, type RedisFactory, whenReady, settleWithin } from './redis-connection';
import { compareIds, streamInfoField } from './redis-message-bus';
import { RouteMatch, type RouteTable } from './types';

/** How long close() waits for a pending write or the read loop before cutting the connections. */
const CLOSE_WAIT_MS = 2000;

/** KEYS: node routes set, route nodes set, log. ARGV: node, maxlen, then op, filter pairs. */
const CHANGE = `
local changed = 0
for i = 3, #ARGV, 2 do
  local op, f = ARGV[i], ARGV[i + 1]
  local n
  if op == '+' then n = redis.call('SADD', KEYS[1], f) else n = redis.call('SREM', KEYS[1], f) end
  if n == 1 then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', op, 'n', ARGV[1], 'f', f)
    changed = changed + 1
  end
end
if redis.call('SCARD', KEYS[1]) > 0 then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
return changed`;

/** KEYS: node routes set, route nodes set, log. ARGV: node, maxlen, filters... (the full set). */
const SYNC = `
local want = {}
for i = 3, #ARGV do want[ARGV[i]] = true end
local changed = 0
for _, f in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if want[f] then want[f] = nil else
    redis.call('SREM', KEYS[1], f)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', '-', 'n', ARGV[1], 'f', f)
    changed = changed + 1
  end
end
for i = 3, #ARGV do
  local f = ARGV[i]
  if want[f] then
    want[f] = nil
    redis.call('SADD', KEYS[1], f)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', '+', 'n', ARGV[1], 'f', f)
    changed = changed + 1
  end
end
if redis.call('SCARD', KEYS[1]) > 0 then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
return changed`;

/** KEYS: route nodes set, log. ARGV: routes key prefix. Returns {lastId, node, {filters}, ...}. */
const SNAPSHOT = `
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local out = {'0-0'}
if #last > 0 then out[1] = last[1][1] end
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = n
  out[#out + 1] = redis.call('SMEMBERS', ARGV[1] .. n)
end
return out`;

/** KEYS: node routes set, route nodes set, log. ARGV: node, maxlen. */
const DROP = `
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'x', 'n', ARGV[1])
return existed`;

/**
 * A dead node's routes handed to the survivor adopting its persistent sessions, in ONE log entry
 * (op 'h', n adopter, d dead node, f the filters joined by NUL, never in a filter): a reader
 * applies both halves together, so no node routes a message to neither or to both.
 * KEYS: adopter routes set, route nodes set, log, dead node's routes set. ARGV: adopter, maxlen, dead, filters...
 */
const HANDOVER = `
local fs = {}
for i = 4, #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
  fs[#fs + 1] = ARGV[i]
end
if redis.call('SCARD', KEYS[1]) > 0 then redis.call('SADD', KEYS[2], ARGV[1]) end
redis.call('DEL', KEYS[4])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'h', 'n', ARGV[1], 'd', ARGV[3], 'f', table.concat(fs, '\\0'))
return #fs`;

type ScriptedRedis = Redis & {
  routeChange(k1: string, k2: string, k3: string, ...argv: (string | number)[]): Promise<number>;
  routeSync(k1: string, k2: string, k3: string, ...argv: (string | number)[]): Promise<number>;
  routeSnapshot(k1: string, k2: string, prefix: string): Promise<unknown[]>;
  routeDrop(k1: string, k2: string, k3: string, node: string, maxLen: number): Promise<number>;
  routeHandover(k1: string, k2: string, k3: string, k4: string, ...argv: (string | number)[]): Promise<number>;
};

export interface RedisRouteTableOptions {
  nodeId: string;
  connect: RedisFactory;
  keys?: ClusterKeys;
  /** Approximate cap of the change log (MAXLEN ~). */
  logMaxLen?: number;
  readCount?: number;
  blockMs?: number;
}

/** A shared subscription group: its nodes and the round-robin cursor. */
class SharedGroup {
  readonly key: string;
  readonly nodes: string[] = [];
  cursor = 0;
  constructor(key: string) {
    this.key = key;
  }
}

/** '$share/group/filter' -> [group key, filter], or null when `filter` is not a shared one. */
function parseShared(filter: string): [string, string] | null {
  if (!filter.startsWith('$share/')) return null;
  const slash = filter.indexOf('/', 7);
  if (slash <= 7 || slash === filter.length - 1) return null; // empty group or filter: not a valid share
  const group = filter.substring(7, slash);
  if (group.includes('+') || group.includes('#')) return null;
  return [filter, filter.substring(slash + 1)];
}

export interface RouteTableStats {
  resyncs: number;
  /** Entries from the store that were not valid filters (skipped, never thrown). */
  invalidRoutes: number;
  /** Route writes that failed (Redis down); they are re-asserted by the next resync. */
  failedWrites: number;
  /** Cut markers written (mark()). */
  marks: number;
}

export class RedisRouteTable implements RouteTable {
  readonly nodeId: string;
  readonly stats: RouteTableStats = { resyncs: 0, invalidRoutes: 0, failedWrites: 0, marks: 0 };
  private readonly keys: ClusterKeys;
  private readonly connect: RedisFactory;
  private readonly logMaxLen: number;
  private readonly readCount: number;
  private readonly blockMs: number;
  private command: ScriptedRedis | null = null;
  private blocking: Redis | null = null;

  /** This node's filters and how many local subscriptions hold each. */
  private readonly refs = new Map<string, number>();

  /** Distinct filters this node holds (metrics). */
  get localFilterCount(): number {
    return this.refs.size;
  }
  /** Changes of this turn: filter -> '+' (now held) or '-' (now gone). */
  private readonly pending = new Map<string, '+' | '-'>();
  private flushScheduled: NodeJS.Immediate | null = null;
  private lastWrite: Promise<void> = Promise.resolve();

  /** The local copy: node -> its filters, and the two tries built from it. */
  private readonly byNode = new Map<string, Set<string>>();
  private readonly plain = new SubscriptionTrie<string>();
  private readonly sharedTrie = new SubscriptionTrie<SharedGroup>();
  private readonly groups = new Map<string, SharedGroup>();
  private readonly plainResult = new MatchResult<string>();
  private readonly sharedResult = new MatchResult<SharedGroup>();

  private lastId = '0-0';
  /** The marker of this turn's mark() callers, until it is written. */
  private markTurn: Promise<string> | null = null;
  private closed = false;
  private needResync = false;
  private wake: (() => void) | null = null;
  private reading: Promise<void> | null = null;
  private readonly flushBound = (): void => this.flush();

  constructor(options: RedisRouteTableOptions) {
    this.nodeId = options.nodeId;
    this.connect = options.connect;
    this.keys = options.keys ?? new ClusterKeys();
    this.logMaxLen = options.logMaxLen ?? 100000;
    this.readCount = options.readCount ?? 512;
    this.blockMs = options.blockMs ?? 2000;
  }

  async start(): Promise<void> {
    const command = this.connect('command') as ScriptedRedis;
    command.defineCommand('routeChange', { numberOfKeys: 3, lua: CHANGE });
    command.defineCommand('routeSync', { numberOfKeys: 3, lua: SYNC });
    command.defineCommand('routeSnapshot', { numberOfKeys: 2, lua: SNAPSHOT });
    command.defineCommand('routeDrop', { numberOfKeys: 3, lua: DROP });
    command.defineCommand('routeHandover', { numberOfKeys: 4, lua: HANDOVER });
    this.command = command;
    this.blocking = this.connect('blocking');
    await Promise.all([whenReady(command), whenReady(this.blocking)]);
    await this.resync();
    this.reading = this.readLoop();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flush();
    }
    await settleWithin(this.lastWrite, CLOSE_WAIT_MS);
    this.closed = true;
    if (this.blocking !== null) closeConnection(this.blocking);
    await settleWithin(this.reading, CLOSE_WAIT_MS);
    if (this.command !== null) closeConnection(this.command);
  }

  addFilter(filter: string): void {
    const n = this.refs.get(filter) ?? 0;
    this.refs.set(filter, n + 1);
    if (n > 0) return;
    this.applyLocal('+', this.nodeId, filter);
    this.queue(filter, '+');
  }

  removeFilter(filter: string): void {
    const n = this.refs.get(filter);
    if (n === undefined) return;
    if (n > 1) {
      this.refs.set(filter, n - 1);
      return;
    }
    this.refs.delete(filter);
    this.applyLocal('-', this.nodeId, filter);
    this.queue(filter, '-');
  }

  /**
   * The last route-log id applied here (the bus writes it into each entry, field `r`): every log
   * entry up to it is in this node's routing, so a message routed now reaches every node whose
   * route was logged at or before it.
   */
  get appliedPosition(): string {
    return this.lastId;
  }

  /**
   * A marker in the route log, written after this node's pending route changes: its id is a cut
   * (session-adoption.ts "returned clients"). A sender whose applied position is at or past it
   * routed after the marker was written, so after everything this node had installed before
   * calling mark(), with this node's routes of that moment. Readers ignore the entry (op 'c').
   */
  mark(): Promise<string> {
    // One marker per turn however many clients moved in it (a rolling restart moves thousands):
    // every caller of this turn queued its route changes before calling, so the flush below
    // covers them all.
    if (this.markTurn === null) {
      this.markTurn = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.markTurn = null;
        return this.writeMark();
      });
    }
    return this.markTurn;
  }

  private async writeMark(): Promise<string> {
    const failed = this.stats.failedWrites;
    await this.flushed();
    const command = this.command;
    if (command === null || this.closed) throw new Error('route table closed');
    // A change that did not reach Redis is not behind the marker: no cut (the resync re-asserts it later).
    if (this.stats.failedWrites !== failed || this.needResync) throw new Error('route changes not written');
    const id = await command.xadd(this.keys.routeLog, 'MAXLEN', '~', this.logMaxLen, '*', 'op', 'c', 'n', this.nodeId);
    this.stats.marks++;
    return String(id);
  }

  flushed(): Promise<void> {
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flush();
    }
    return this.lastWrite;
  }

  match(topic: string, out: RouteMatch): void {
    const nodes = out.nodes;
    let count = 0;
    this.plain.match(topic, this.plainResult);
    const plain = this.plainResult;
    for (let i = 0; i < plain.length; i++) nodes[count++] = plain.subscribers[i];
    out.plainCount = count;
    out.localGroupCount = 0;
    out.pickCount = 0;
    if (this.groups.size > 0) {
      this.sharedTrie.match(topic, this.sharedResult);
      const shared = this.sharedResult;
      for (let i = 0; i < shared.length; i++) {
        const group = shared.subscribers[i];
        const pick = group.nodes[group.cursor++ % group.nodes.length];
        if (group.cursor >= group.nodes.length) group.cursor = 0;
        if (pick === this.nodeId) out.localGroups[out.localGroupCount++] = group.key;
        out.pickGroups[out.pickCount] = group.key;
        out.pickNodes[out.pickCount++] = pick;
        let seen = false;
        for (let j = 0; j < count; j++) if (nodes[j] === pick) { seen = true; break; }
        if (!seen) nodes[count++] = pick;
      }
    }
    out.nodeCount = count;
  }

  nodesFor(topic: string): string[] {
    const out = new RouteMatch();
    this.match(topic, out);
    return out.nodes.slice(0, out.nodeCount);
  }

  /** Every filter the local copy holds for `node` (tests, admin). */
  filtersOf(node: string): string[] {
    return [...(this.byNode.get(node) ?? [])];
  }

  /** Nodes present in the local copy. */
  knownNodes(): string[] {
    return [...this.byNode.keys()];
  }

  async dropNode(nodeId: string): Promise<void> {
    const k = this.keys;
    await this.command!.routeDrop(k.routes(nodeId), k.routeNodes, k.routeLog, nodeId, this.logMaxLen);
  }

  /**
   * Adoption (session-adoption.ts): the dead node's routes end and this node holds `filters` (the
   * adopted sessions' subscriptions), in one script and one log entry (HANDOVER). This node's
   * own copy still routes to `dead` until forgetNode(): the adopter switches its local publishers
   * when it has drained the dead inbox. The filters get their local reference counts when the
   * sessions join the router (addFilter then finds them stored: no second log entry).
   */
  async handOver(dead: string, filters: readonly string[]): Promise<void> {
    const k = this.keys;
    await this.command!.routeHandover(k.routes(this.nodeId), k.routeNodes, k.routeLog, k.routes(dead), this.nodeId, this.logMaxLen, dead, ...filters);
  }

  /** Drops `node` from this node's local copy only (the store already has: handOver). */
  forgetNode(node: string): void {
    if (node !== this.nodeId) this.clearNode(node);
  }

  /**
   * Re-asserts this node's filters, reloads the snapshot and continues from its id. Called at
   * start, after reconnects, after a log gap, and by the engine when membership says we rejoined.
   */
  async resync(): Promise<void> {
    const k = this.keys;
    const command = this.command!;
    this.stats.resyncs++;
    this.pending.clear(); // the full set below supersedes queued changes
    await command.routeSync(k.routes(this.nodeId), k.routeNodes, k.routeLog, this.nodeId, this.logMaxLen, ...this.refs.keys());
    const snapshot = await command.routeSnapshot(k.routeNodes, k.routeLog, k.routesPrefix);
    for (const node of [...this.byNode.keys()]) if (node !== this.nodeId) this.clearNode(node);
    for (let i = 1; i + 1 < snapshot.length; i += 2) {
      const node = String(snapshot[i]);
      if (node === this.nodeId) continue;
      for (const f of snapshot[i + 1] as string[]) this.applyLocal('+', node, f);
    }
    this.lastId = String(snapshot[0]);
    this.needResync = false;
  }

  /** Asks the reader to resync at its next turn (membership rejoin). */
  requestResync(): void {
    this.needResync = true;
    this.blocking?.disconnect(true); // interrupts the blocking read; reconnects at once
  }

  private queue(filter: string, op: '+' | '-'): void {
    this.pending.set(filter, op);
    if (this.flushScheduled === null) this.flushScheduled = setImmediate(this.flushBound);
  }

  private flush(): void {
    this.flushScheduled = null;
    if (this.pending.size === 0 || this.command === null) return;
    const argv: string[] = [this.nodeId, String(this.logMaxLen)];
    for (const [filter, op] of this.pending) argv.push(op, filter);
    this.pending.clear();
    const k = this.keys;
    const write = this.command
      .routeChange(k.routes(this.nodeId), k.routeNodes, k.routeLog, ...argv)
      .then(
        () => undefined,
        () => {
          // Redis unreachable: the local refs still hold the truth; the resync after the
          // reconnect writes the whole set.
          this.stats.failedWrites++;
          this.needResync = true;
        },
      );
    this.lastWrite = this.lastWrite.then(() => write);
  }

  private applyLocal(op: '+' | '-', node: string, filter: string): void {
    let filters = this.byNode.get(node);
    if (op === '+') {
      if (filters === undefined) this.byNode.set(node, (filters = new Set()));
      if (filters.has(filter)) return;
      filters.add(filter);
      this.trieAdd(node, filter);
    } else {
      if (filters === undefined || !filters.delete(filter)) return;
      if (filters.size === 0) this.byNode.delete(node);
      this.trieRemove(node, filter);
    }
  }

  private clearNode(node: string): void {
    const filters = this.byNode.get(node);
    if (filters === undefined) return;
    this.byNode.delete(node);
    for (const f of filters) this.trieRemove(node, f);
  }

  private trieAdd(node: string, filter: string): void {
    const shared = parseShared(filter);
    try {
      if (shared === null) {
        this.plain.add(filter, node, 0);
        return;
      }
      let group = this.groups.get(shared[0]);
      if (group === undefined) {
        group = new SharedGroup(shared[0]);
        this.sharedTrie.add(shared[1], group, 0); // throws on an invalid filter before we keep the group
        this.groups.set(shared[0], group);
      }
      if (!group.nodes.includes(node)) group.nodes.push(node);
    } catch {
      this.stats.invalidRoutes++; // another node's bad entry must not stop this one
    }
  }

  private trieRemove(node: string, filter: string): void {
    const shared = parseShared(filter);
    if (shared === null) {
      this.plain.remove(filter, node);
      return;
    }
    const group = this.groups.get(shared[0]);
    if (group === undefined) return;
    const at = group.nodes.indexOf(node);
    if (at >= 0) group.nodes.splice(at, 1);
    if (group.nodes.length === 0) {
      this.groups.delete(shared[0]);
      this.sharedTrie.remove(shared[1], group);
    }
  }

  private applyEntry(fields: string[]): void {
    let op = '';
    let node = '';
    let filter = '';
    let dead = '';
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'op') op = fields[i + 1];
      else if (fields[i] === 'n') node = fields[i + 1];
      else if (fields[i] === 'f') filter = fields[i + 1];
      else if (fields[i] === 'd') dead = fields[i + 1];
    }
    if (node === this.nodeId) return; // our own changes are applied locally when made
    if (op === '+' || op === '-') this.applyLocal(op, node, filter);
    else if (op === 'x') this.clearNode(node);
    else if (op === 'h') {
      // A dead node's routes handed to its adopter: both halves in this one step.
      if (dead !== this.nodeId) this.clearNode(dead);
      if (filter !== '') for (const f of filter.split('\0')) this.applyLocal('+', node, f);
    }
  }

  private async readLoop(): Promise<void> {
    const blocking = this.blocking!;
    const key = this.keys.routeLog;
    while (!this.closed) {
      try {
        if (this.needResync) {
          await whenReady(blocking);
          await whenReady(this.command!);
          await this.resync();
        }
        const reply = (await blocking.xread('COUNT', this.readCount, 'BLOCK', this.blockMs, 'STREAMS', key, this.lastId)) as
          | [string, [string, string[]][]][]
          | null;
        if (reply === null) continue;
        const entries = reply[0][1];
        for (const [id, fields] of entries) {
          this.lastId = id;
          this.applyEntry(fields);
        }
        if (entries.length === this.readCount) {
          // Behind: if entries after lastId were trimmed, the log has a gap; reload.
          const info = await blocking.call('XINFO', 'STREAM', key);
          const deleted = streamInfoField(info, 'max-deleted-entry-id');
          if (deleted !== null && compareIds(deleted, this.lastId) > 0) this.needResync = true;
        }
      } catch {
        if (this.closed) break;
        this.needResync = true;
        try {
          if (blocking.status === 'ready' && this.command!.status === 'ready') await delay(50);
          else await whenReady(blocking);
        } catch {
          break;
        }
      }
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
