/**
 * Adoption of a dead node's persistent sessions (docs/cluster.md "Losing a node"): the survivor
 * that claimed the dead node's cleanup (NodeMembership.onNodeDying, before its routes are dropped)
 * makes them its own detached sessions, so that
 *   - messages published after the death are queued for them (their routes move to the adopter
 *     in one route-log entry, never unrouted), and
 *   - the dead node's inbox entries after its last recorded position (acknowledged to their
 *     publishers, not yet queued by the dead node) reach them.
 * A client that returns later, to any node, loads its session from Redis with those messages.
 *
 * Steps, for dead node D on adopter S:
 *   1. `{n:D}:sessions` (client id -> D's lease token) is read in HSCAN pages of ADOPT_BATCH; per
 *      page one pipeline of ADOPT scripts gives each client id a new token (only if its lease
 *      still carries D's token: a client that reconnected elsewhere keeps its newer session), the
 *      new tokens are written back to D's index (a retry after our failure re-adopts them), and
 *      the sessions are read (one pipeline each); each page extends S's cleanup claim (a large
 *      node outlasts one claim). Their writes are fenced by S's token from now
 *      on; a client's CONNECT on any node takes a newer token and supersedes S.
 *   2. S's bus stops delivering S's inbox (hold) and keeps what S's own publishers send to D in
 *      memory (divert); once S's earlier bus batches are answered, HANDOVER moves the routes
 *      (the adopted sessions' filters to S, D's dropped) in one script and one log entry.
 *   3. After HANDOVER_GRACE_MS (every node has applied the entry; a slower one still writes to D's
 *      inbox, read next) D's inbox is read from its recorded position to its end.
 *   4. In one synchronous step: the sessions join S (router, queue accounting, expiry), D's
 *      inbox tail and the diverted messages are delivered to them (adopted sessions only: the
 *      other subscribers of S had their copy through S's inbox), D leaves S's route copy, S's
 *      inbox is delivered again. Per publisher the order holds: everything it sent before its
 *      node switched went to D's inbox (or S's diversion) and is queued before anything after.
 *   5. D's inbox, index and position keys are deleted.
 * Messages in D's inbox for its CLEAN sessions are dropped: those sessions ended with their
 * connections when D died.
 *
 * Cost (per dead node, not per message): one HSCAN page, one pipeline of scripts and one read
 * pipeline per ADOPT_BATCH sessions; one HANDOVER script whose log entry carries every adopted
 * filter (a reader parses it once); D's inbox tail read in pages of DRAIN_PAGE entries (bounded by
 * the inbox's MAXLEN); S's inbox waits about HANDOVER_GRACE_MS plus the tail read.
 */
import type Redis from 'ioredis';
import type { QoS } from '../protocol/packets';
import { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import { MatchResult, SubscriptionTrie } from '../topics/subscription-trie';
import { messageFromCluster } from './cluster-message';
import { ClusterCodecError, decodeBatch, encodeFrame } from './codec';
import type { ClusterKeys } from './keys';
import { cutIdOf } from './redis-client-leases';
import { compareIds, inboxEntry, streamInfoField, type RedisMessageBus } from './redis-message-bus';
import type { RedisRouteTable } from './redis-route-table';
import type { ClusterMessage } from './types';

/** Sessions per HSCAN page, ADOPT pipeline and read wave. */
export const ADOPT_BATCH = 500;
/** Inbox entries per XRANGE page of the dead node's tail. */
const DRAIN_PAGE = 200;
/** Frames per directed entry of a forward to a returned client. */
const FORWARD_FRAMES = 500;
/** Returned clients matched against the dead inbox's tail at once. */
const FORWARD_GROUP = 500;
/** How long other nodes get to apply the HANDOVER entry before the dead inbox is read. */
export const HANDOVER_GRACE_MS = 300;

const NOW = `
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
`;

/**
 * KEYS: lease. ARGV: the dead node's token, the adopter. A new token (as ClientLeases.acquire
 * makes them) if the lease still carries it, the lease left released (node '', as after a
 * disconnect: the session is detached, nobody renews it) and held by the adopter, marked
 * `adopting` until the adopted state is written (a CONNECT meanwhile waits: ClientLeases ACQUIRE);
 * '' when another connection has taken the client id since.
 */
const ADOPT = `${NOW}
local t = redis.call('HGET', KEYS[1], 'token')
if (not t) or t ~= ARGV[1] then return '' end
local token = nowUs
local old = tonumber(t)
if old >= token then token = old + 1 end
local ts = string.format('%.0f', token)
redis.call('HSET', KEYS[1], 'token', ts, 'node', '', 'exp', '0', 'holder', ARGV[2], 'adopting', ARGV[2])
return ts`;

/** KEYS: the reap claim. ARGV: claimer, ms. Extends the claim only while it is still ours. */
const EXTEND_CLAIM = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;

/** How long each page extends the cleanup claim (the membership's own claim lasts 30 s). */
const CLAIM_EXTEND_MS = 30000;

type ScriptedRedis = Redis & {
  adoptLease(lease: string, token: string, adopter: string): Promise<string>;
  extendClaim(reap: string, claimer: string, ms: number): Promise<number>;
};

/** What adoption needs of this node's engine (ClusterNode builds it from the Engine). */
export interface AdoptionHost {
  /** The stored session of `clientId` (Redis), not installed. */
  read(clientId: string): Promise<Session | undefined>;
  /** Makes `session` one of this node's detached sessions; false when its client is connected here now. */
  adopt(session: Session): boolean;
  /** The session's client was connected on the dead node: detached from now (its expiry counts from here). */
  detached(session: Session): void;
  /** Queues `msg` for `session` at `qos` (the engine's delivery, as for any offline session). */
  deliver(session: Session, msg: Message, qos: QoS): void;
  /** Resolves once the session store has written what was queued so far (its batch answered). */
  flush(): Promise<void>;
  /** Most messages forwarded to one returned client (limits.max-queued-messages: its node would drop the rest). */
  readonly maxForwardPerSession: number;
}

export interface AdoptionStats {
  /** Dead nodes whose sessions were adopted here. */
  adoptions: number;
  /** Sessions adopted here. */
  sessionsAdopted: number;
  /** Sessions skipped: their client had taken its id again elsewhere, or the session was gone. */
  sessionsSkipped: number;
  /** Messages of dead inboxes (and of this node's diversion) queued into adopted sessions. */
  messagesRecovered: number;
  /** Milliseconds the last adoption took. */
  lastAdoptionMs: number;
  /**
   * Returned clients (back on another node before the death was declared): sessions that got
   * dead-inbox messages forwarded, the messages forwarded, and sessions whose cut was not found
   * (nothing forwarded: see docs/cluster.md).
   */
  sessionsForwarded: number;
  messagesForwarded: number;
  cutsMissing: number;
  /** Messages not forwarded to a returned client beyond maxForwardPerSession. */
  forwardsOverLimit: number;
  /**
   * Dead inboxes whose unread tail had lost entries to their MAXLEN ~ trim before the adoption
   * read it (the dead node was more than `inboxMaxLen` entries behind): those messages are lost.
   */
  tailsTrimmed: number;
}

/** A client of the dead node back on another node: its lease token, the node holding its session, its cut. */
interface ReturnedClient {
  id: string;
  token: string;
  holder: string;
  cut: string;
}

/** A message of the dead inbox, decoded, waiting for the synchronous step. */
interface Pending {
  msg: Message;
  plain: boolean;
  groups: readonly string[] | null;
  /** As decoded, re-encoded for a forward to a returned client (`msg.route`: its entry's `r`). */
  m: ClusterMessage;
}

/** The adopted sessions' subscriptions, to deliver the dead node's messages to them only. */
class AdoptedMatcher {
  private readonly plain = new SubscriptionTrie<Session>();
  private readonly result = new MatchResult<Session>();
  /** '$share/group/filter' -> adopted members and their QoS; a round-robin cursor. */
  private readonly groups = new Map<string, { members: Session[]; qos: QoS[]; next: number }>();
  readonly filters = new Set<string>();

  add(session: Session): void {
    const subs = session.subscriptions;
    if (subs === null) return;
    for (const [filter, qos] of subs) {
      this.filters.add(filter);
      if (filter.startsWith('$share/')) {
        let g = this.groups.get(filter);
        if (g === undefined) this.groups.set(filter, (g = { members: [], qos: [], next: 0 }));
        g.members.push(session);
        g.qos.push(qos);
        continue;
      }
      try {
        this.plain.add(filter, session, qos);
      } catch {
        // not a valid filter (a store from before validation): nothing routes to it either
      }
    }
  }

  deliver(p: Pending, host: Pick<AdoptionHost, 'deliver'>): number {
    const msg = p.msg;
    let n = 0;
    if (p.plain) {
      const r = this.result;
      this.plain.match(msg.topic, r);
      for (let i = 0; i < r.length; i++) {
        const g = r.qos[i];
        host.deliver(r.subscribers[i], msg, (g < msg.qos ? g : msg.qos) as QoS);
        n++;
      }
      r.reset();
    }
    if (p.groups !== null) {
      // The sender picked the dead node for these groups: one adopted member gets it.
      for (const key of p.groups) {
        const g = this.groups.get(key);
        if (g === undefined) continue;
        const i = g.next++ % g.members.length;
        const q = g.qos[i];
        host.deliver(g.members[i], msg, (q < msg.qos ? q : msg.qos) as QoS);
        n++;
      }
    }
    return n;
  }
}

export class SessionAdoption {
  readonly stats: AdoptionStats = {
    adoptions: 0, sessionsAdopted: 0, sessionsSkipped: 0, messagesRecovered: 0, lastAdoptionMs: 0, sessionsForwarded: 0, messagesForwarded: 0, cutsMissing: 0, forwardsOverLimit: 0, tailsTrimmed: 0,
  };
  /** Dead node -> (client id -> the token this node adopted it with), until its Wills are decided. */
  private readonly adoptedTokens = new Map<string, Map<string, string>>();
  /** adoptOwn: the earlier run's clients that went on elsewhere and its tail, until forwardOwnTail(). */
  private ownReturned: { ids: string[]; tail: Pending[] } | null = null;

  constructor(
    private readonly nodeId: string,
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly bus: RedisMessageBus,
    private readonly routes: RedisRouteTable,
    private readonly host: AdoptionHost,
    private readonly graceMs = HANDOVER_GRACE_MS,
  ) {
    (redis as ScriptedRedis).defineCommand('adoptLease', { numberOfKeys: 1, lua: ADOPT });
    (redis as ScriptedRedis).defineCommand('extendClaim', { numberOfKeys: 1, lua: EXTEND_CLAIM });
  }

  /**
   * The tokens `dead`'s sessions were adopted with (onNodeDied: a Will is skipped only for a
   * newer token than those, i.e. a reconnection); forgotten here.
   */
  takeTokens(dead: string): Map<string, string> | undefined {
    const tokens = this.adoptedTokens.get(dead);
    this.adoptedTokens.delete(dead);
    return tokens;
  }

  /** Adopts the persistent sessions of `dead` (this node claimed its cleanup; its routes are still in place). */
  async adopt(dead: string): Promise<void> {
    const started = Date.now();
    const redis = this.redis;
    const k = this.keys;
    const position = await redis.get(k.inboxPosition(dead));
    const sessions: Session[] = [];
    const returned: string[] = [];
    const marked: string[] = [];
    try {
      let cursor = '0';
      do {
        const [next, flat] = await redis.hscan(k.sessionIndex(dead), cursor, 'COUNT', ADOPT_BATCH);
        cursor = next;
        // A large node takes longer than one claim: keep it ours while pages go on.
        await (redis as ScriptedRedis).extendClaim(k.reap(dead), this.nodeId, CLAIM_EXTEND_MS);
        await this.adoptPage(dead, flat, started, sessions, returned, marked);
      } while (cursor !== '0');
      if (sessions.length > 0 || returned.length > 0) {
        const tail = await this.switchOver(dead, position, sessions);
        if (returned.length > 0 && tail.length > 0) await this.forwardToReturned(dead, returned, tail);
      }
    } finally {
      // The adopted state (tail included) is in Redis now: clients waiting to CONNECT go on.
      await this.host.flush().catch(() => undefined);
      await this.unmark(marked).catch(() => undefined);
    }
    await redis.del(k.inbox(dead), k.sessionIndex(dead), k.inboxPosition(dead));
    this.stats.adoptions++;
    this.stats.lastAdoptionMs = Date.now() - started;
  }

  /**
   * A restart under this node's own id (ClusterNode.start, before its bus reads and its routes
   * resync; docs/cluster.md "Restarted under the same node id"): the earlier run's persistent
   * sessions (`{n:<self>}:sessions`) are adopted here as a dead node's are (ADOPT tokens, written
   * back to the index, the sessions read), and its inbox after its recorded position up to
   * `upTo` (where this run's bus starts) is queued into them. No HANDOVER: the routes of the
   * earlier run are this node's and stay (the route table's resync at start keeps the adopted
   * sessions' filters, which they hold now, and removes the rest). Index entries not adopted (the
   * client went on elsewhere, or the session expired) leave the index. The clients that went on
   * elsewhere before this start (a newer token: "returned") get the tail entries their new node
   * did not get as well, as for a dead node (forwardToReturned), once this node's bus runs:
   * forwardOwnTail(). Returns client id -> the token taken (the earlier run's Will records are
   * rewritten with it).
   */
  async adoptOwn(upTo: string): Promise<Map<string, string>> {
    const started = Date.now();
    const me = this.nodeId;
    const k = this.keys;
    const position = await this.redis.get(k.inboxPosition(me));
    const sessions: Session[] = [];
    const returned: string[] = [];
    const marked: string[] = [];
    const listed: string[] = [];
    let tokens: Map<string, string>;
    try {
      let cursor = '0';
      do {
        const [next, flat] = await this.redis.hscan(k.sessionIndex(me), cursor, 'COUNT', ADOPT_BATCH);
        cursor = next;
        for (let i = 0; i < flat.length; i += 2) listed.push(flat[i]);
        await this.adoptPage(me, flat, started, sessions, returned, marked);
      } while (cursor !== '0');
      tokens = this.takeTokens(me) ?? new Map<string, string>();
      const gone = listed.filter((id) => !tokens.has(id)); // adoptPage keeps a token only with its session read
      for (let i = 0; i < gone.length; i += ADOPT_BATCH) await this.redis.hdel(k.sessionIndex(me), ...gone.slice(i, i + ADOPT_BATCH));
      if (sessions.length === 0 && returned.length === 0) return tokens;
      const matcher = new AdoptedMatcher();
      for (const s of sessions) matcher.add(s);
      const pending = position !== null && position === upTo ? [] : await this.readTail(me, position, upTo);
      if (returned.length > 0 && pending.length > 0) this.ownReturned = { ids: returned, tail: pending };
      let recovered = 0;
      for (const s of sessions) {
        if (this.host.adopt(s)) this.stats.sessionsAdopted++;
        else this.stats.sessionsSkipped++;
      }
      for (const p of pending) recovered += matcher.deliver(p, this.host);
      this.stats.messagesRecovered += recovered;
    } finally {
      // As adopt(): the adopted state (tail included) is in Redis before waiting CONNECTs go on.
      await this.host.flush().catch(() => undefined);
      await this.unmark(marked).catch(() => undefined);
    }
    this.stats.adoptions++;
    this.stats.lastAdoptionMs = Date.now() - started;
    return tokens;
  }

  /** After adoptOwn, once this node's bus runs: the earlier run's tail to its clients that went on elsewhere. */
  async forwardOwnTail(): Promise<void> {
    const own = this.ownReturned;
    this.ownReturned = null;
    if (own !== null) await this.forwardToReturned(this.nodeId, own.ids, own.tail);
  }

  /**
   * One index page (client id, token pairs): new tokens, written back to the index, then the
   * sessions read. Client ids taken since by a newer connection go to `returned`.
   */
  private async adoptPage(dead: string, flat: string[], started: number, out: Session[], returned: string[], marked: string[]): Promise<void> {
    if (flat.length === 0) return;
    const k = this.keys;
    const pipeline = this.redis.pipeline();
    for (let i = 0; i + 1 < flat.length; i += 2) void (pipeline as unknown as ScriptedRedis).adoptLease(k.lease(flat[i]), flat[i + 1], this.nodeId);
    const replies = (await pipeline.exec()) ?? [];
    const ids: string[] = [];
    const tokens: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [err, token] = replies[i >> 1] ?? [new Error('no reply'), ''];
      if (err !== null) throw err;
      if (token === '') {
        this.stats.sessionsSkipped++;
        returned.push(flat[i]);
      } else {
        marked.push(flat[i]);
        ids.push(flat[i]);
        tokens.push(token as string);
      }
    }
    if (ids.length === 0) return;
    const back: string[] = [];
    for (let i = 0; i < ids.length; i++) back.push(ids[i], tokens[i]);
    await this.redis.hset(k.sessionIndex(dead), ...back);
    const read = await Promise.all(ids.map((id) => this.host.read(id)));
    for (let i = 0; i < ids.length; i++) {
      const session = read[i];
      if (session === undefined) {
        this.stats.sessionsSkipped++; // expired meanwhile
        continue;
      }
      session.clusterToken = tokens[i];
      // Its client was connected on the dead node (no disconnect time stored): detached now.
      if (session.disconnectedAt >= started) this.host.detached(session);
      let tokensOf = this.adoptedTokens.get(dead);
      if (tokensOf === undefined) this.adoptedTokens.set(dead, (tokensOf = new Map()));
      tokensOf.set(ids[i], tokens[i]);
      out.push(session);
    }
  }

  /**
   * Steps 2-4 of the header: routes handed over, the dead inbox's tail read, then one synchronous
   * switch. Returns the tail (for the returned clients).
   */
  private async switchOver(dead: string, position: string | null, sessions: Session[]): Promise<Pending[]> {
    const matcher = new AdoptedMatcher();
    for (const s of sessions) matcher.add(s);
    const bus = this.bus;
    bus.hold();
    bus.divert(dead);
    let pending: Pending[] = [];
    let joined = false;
    try {
      await bus.idle(); // what this node sent to the dead inbox before the diversion is in it
      await this.routes.handOver(dead, [...matcher.filters]);
      await delay(this.graceMs);
      pending = await this.readTail(dead, position);
      joined = true;
      this.join(dead, sessions, matcher, pending);
    } finally {
      if (!joined) {
        // Failed before the switch (Redis): the sessions join all the same (their routes are
        // here now); the claim expires and the cleanup is retried, re-adopting from the index.
        this.join(dead, sessions, matcher, pending);
      }
      bus.release();
    }
    return pending;
  }

  /** Clears the `adopting` mark ADOPT set on these leases (pages of ADOPT_BATCH). */
  private async unmark(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ADOPT_BATCH) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + ADOPT_BATCH)) pipeline.hdel(this.keys.lease(id), 'adopting');
      await pipeline.exec();
    }
  }

  /**
   * Clients of the dead node that came back on another node before it was declared dead (their
   * lease has a newer token): their new node never reads the dead inbox. Each such node recorded a
   * cut on the lease (ClusterNode.clientMoved: a route-log marker written after its routes for the
   * session). A tail entry whose sender had applied the route log up to the cut was routed with
   * those routes, so its messages reached the new node too, after the session was there: not
   * forwarded. Older entries (and entries without a position) are matched against the session's
   * subscriptions and forwarded to the node holding it, as directed entries for that lease token.
   * No cut (the client moved on twice, or its node could not write it): nothing forwarded, counted.
   */
  private async forwardToReturned(dead: string, ids: string[], tail: Pending[]): Promise<void> {
    // In groups of FORWARD_GROUP clients: one pipeline of lease reads, one matcher, and memory for
    // one group's frames (each session's capped), whatever the number of returned clients.
    for (let g = 0; g < ids.length; g += FORWARD_GROUP) await this.forwardGroup(dead, ids.slice(g, g + FORWARD_GROUP), tail);
  }

  private async forwardGroup(dead: string, ids: string[], tail: Pending[]): Promise<void> {
    const k = this.keys;
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(k.lease(id), 'token', 'holder', `cut:${dead}`);
    const replies = (await pipeline.exec()) ?? [];
    const targets: ReturnedClient[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [err, fields] = replies[i] ?? [new Error('no reply'), null];
      if (err !== null) throw err;
      const [token, holder, cut] = (fields ?? []) as (string | null)[];
      if (token === null || token === undefined || holder === null || holder === undefined || holder === '' || holder === dead) continue; // session gone
      // '<token> <id>': the move away from the dead node (the client may have moved on since:
      // the same cut holds for where it is now, the session carried along).
      const id = cutIdOf(cut);
      if (id === null) this.stats.cutsMissing++;
      else if (id !== '-') targets.push({ id: ids[i], token, holder, cut: id });
    }
    if (targets.length === 0) return;
    const read = await Promise.all(targets.map((t) => this.host.read(t.id)));
    const matcher = new AdoptedMatcher();
    const cutOf = new Map<Session, ReturnedClient>();
    for (let i = 0; i < targets.length; i++) {
      const session = read[i];
      if (session === undefined) continue;
      matcher.add(session);
      cutOf.set(session, targets[i]);
    }
    const max = this.host.maxForwardPerSession;
    const frames = new Map<Session, Buffer[]>();
    let current: Pending | null = null;
    const collect: Pick<AdoptionHost, 'deliver'> = {
      deliver: (session, _msg, qos) => {
        const p = current!;
        const target = cutOf.get(session)!;
        const route = p.msg.route;
        if (route !== '' && compareIds(route, target.cut) >= 0) return; // reached the new node as well
        let list = frames.get(session);
        if (list === undefined) frames.set(session, (list = []));
        if (list.length >= max) {
          this.stats.forwardsOverLimit++;
          return;
        }
        list.push(encodeFrame({ ...p.m, qos, plain: true, groups: null }));
      },
    };
    for (const p of tail) {
      current = p;
      matcher.deliver(p, collect);
    }
    for (const [session, list] of frames) {
      const target = cutOf.get(session)!;
      for (let from = 0; from < list.length; from += FORWARD_FRAMES) {
        await this.bus.sendDirected(target.holder, target.id, target.token, Buffer.concat(list.slice(from, from + FORWARD_FRAMES)));
      }
      this.stats.sessionsForwarded++;
      this.stats.messagesForwarded += list.length;
    }
  }

  /** The synchronous step: nothing this node publishes can come between its parts. */
  private join(dead: string, sessions: Session[], matcher: AdoptedMatcher, pending: Pending[]): void {
    const host = this.host;
    for (const s of sessions) {
      if (host.adopt(s)) this.stats.sessionsAdopted++;
      else this.stats.sessionsSkipped++;
    }
    let recovered = 0;
    for (const p of pending) recovered += matcher.deliver(p, host);
    const diverted = this.bus.undivert();
    if (diverted.length > 0) {
      const mine: Pending[] = [];
      try {
        decodeBatch(Buffer.concat(diverted), this.nodeId, (m) => {
          const p = pendingFrom(m, '');
          if (p !== null) mine.push(p);
        });
      } catch (err) {
        if (!(err instanceof ClusterCodecError)) throw err; // our own frames: never malformed
      }
      for (const p of mine) recovered += matcher.deliver(p, host);
    }
    this.routes.forgetNode(dead);
    this.stats.messagesRecovered += recovered;
  }

  /** The dead node's inbox after `position` (its whole stream when it recorded none) up to `end`, decoded. */
  private async readTail(dead: string, position: string | null, end = '+'): Promise<Pending[]> {
    const out: Pending[] = [];
    const key = this.keys.inbox(dead);
    // Entries trimmed (MAXLEN ~) after the recorded position were never read by anyone: counted.
    const deleted = streamInfoField(await this.redis.call('XINFO', 'STREAM', key).catch(() => null), 'max-deleted-entry-id');
    if (deleted !== null && position !== null && compareIds(deleted, position) > 0) this.stats.tailsTrimmed++;
    let from = position === null ? '-' : `(${position}`;
    for (;;) {
      const entries = (await this.redis.xrangeBuffer(key, from, end, 'COUNT', DRAIN_PAGE)) as unknown as [Buffer, Buffer[]][];
      for (const [id, fields] of entries) {
        from = `(${id.toString()}`;
        const { origin, body, route, directed } = inboxEntry(fields);
        if (body === null || directed !== null) continue; // a forward to a session of the dead node: it went with it
        try {
          decodeBatch(body, origin, (m) => {
            const p = pendingFrom(m, route);
            if (p !== null) out.push(p);
          });
        } catch (err) {
          if (!(err instanceof ClusterCodecError)) throw err; // a malformed entry: skipped, as the bus does
        }
      }
      if (entries.length < DRAIN_PAGE) return out;
    }
  }
}

/** A bus message as a Message of this node (as ClusterNode.onMessage builds it); null when its properties do not decode. */
function pendingFrom(m: ClusterMessage, route: string): Pending | null {
  const msg = messageFromCluster(m);
  if (msg === null) return null;
  msg.route = route;
  return { msg, plain: m.plain !== false, groups: m.groups === undefined || m.groups === null ? null : [...m.groups], m };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
