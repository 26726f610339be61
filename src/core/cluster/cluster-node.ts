/**
 * This broker as one node of a cluster (docs/cluster.md): the ClusterEngine's parts plugged into
 * the engine's seams.
 *
 *   Router.remote (RemoteRoute)   a routed message goes to the nodes whose routes match, nowhere
 *                                 else; one node per share group is picked cluster-wide.
 *   Router.routes (RouteSink)     local subscriptions become routes (reference-counted).
 *   CommitGate (RemoteAckGate)    PUBACK/PUBREC of a QoS 1/2 message that left for another node
 *                                 wait until Redis accepted the bus batch carrying it.
 *   ClusterClientRegistry         client ids unique cluster-wide: a lease with a fencing token.
 *   ClusterFlow (cluster-flow.ts) a slow subscriber here pauses this node's inbox reader and the
 *                                 publishers on the sending nodes, through the engine's Backpressure.
 *   membership.onNodeDying        a dead node's persistent sessions adopted by the survivor that
 *                                 claimed it, their routes and its unread inbox with them
 *                                 (session-adoption.ts); then onNodeDied: its clients' Wills.
 *
 * Messages arriving from the bus are delivered locally only (Router.publishFromCluster): never
 * forwarded again, retained state untouched (the publishing node's store did it).
 *
 * Per message: RouteTable.match (memory), one frame encoded and appended per destination; no
 * promise, no closure. Wills: one Redis write per CONNECT that carries a Will, one per close.
 */
import Redis from 'ioredis';
import type { ClusterConfig } from '../config/types';
import type { ClientLink } from '../connection/link';
import type { Engine } from '../engine';
import type { BrokerEmitter, RemoteAckGate, RemoteRoute, RouteSink } from '../engine/ports';
import { PacketType, type Properties, type QoS, type WillMessage } from '../protocol/packets';
import { encodeProperties, readProperties, variableByteIntegerSize, writeVariableByteInteger } from '../protocol/properties';
import { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import type { Router } from '../engine/router';
import { RedisClusterEngine } from './redis-engine';
import { type RedisFactory, whenReady } from './redis-connection';
import { messageFromCluster } from './cluster-message';
import { ClusterCodecError, decodeBatch, encodeFrame } from './codec';
import type { DecodedEntry } from '../stores/redis-codec';
import { type FencedHandler, unsentOf } from '../stores/redis';
import { compareIds, streamInfoField } from './redis-message-bus';
import { ClusterKeys } from './keys';
import { RouteMatch, type ClusterMessage } from './types';
import { SessionAdoption, type AdoptionStats } from './session-adoption';
import { ClusterFlow } from './cluster-flow';

/**
 * KEYS: dying, the reap claim of this node id, members, its heartbeat key. ARGV: id, ttl ms, info.
 * -1: a survivor is cleaning up an earlier run of this id (wait); otherwise this id leaves the
 * dying SET (nobody claimed it: this start adopts it), and 1 with its heartbeat renewed when the
 * earlier run is still a member (crashed within the TTL), else 0.
 */
const CLAIM_EARLIER_RUN = `
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[2])
return 1`;

/**
 * A session taken over by another node stays this long after this node applied the new node's cut
 * (retire): the senders apply the same log a little later (50 ms lost a message about 1 run in 10).
 */
const RETIRE_GRACE_MS = 250;
/** ... and never longer than this; the lease's cut is looked for this often. */
const RETIRE_MAX_MS = 5000;
const RETIRE_POLL_MS = 10;

/** A refused write's forward waits for the new node's cut this often, this many times (then forwards all). */
const FENCED_CUT_RETRY_MS = 20;
const FENCED_CUT_RETRIES = 15;

/** A forward that overtook its session's CONNECT is tried again this often, this many times. */
const DIRECTED_RETRY_MS = 50;
const DIRECTED_RETRIES = 40;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** setTimeout's limit (~24.8 days): a longer Will Delay is published then (documented). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The Will of a client of this node, as kept in Redis so a survivor can publish it. */
interface StoredWill {
  /** Lease token of the connection that left it: not published if the client id has a newer one. */
  t: string;
  /** Username, for the publish authorization. */
  u: string | null;
  topic: string;
  /** Payload, base64. */
  p: string;
  qos: 0 | 1 | 2;
  r: boolean;
  /** MQTT 5 Will Properties (codec bytes, base64), or null. */
  props: string | null;
  /** Will Delay Interval (s). */
  d: number;
  /**
   * Handed over at a drain (ms): the client's session goes on, so a survivor waits this long
   * (or the Will Delay, if longer) for it to reconnect elsewhere before publishing. Absent: 0.
   */
  g?: number;
}

/** One connected client as the cluster-wide listing shows it (`{n:<node>}:clients`). */
export interface ClusterClientEntry {
  clientId: string;
  node: string;
  username: string | null;
  protocolLevel: number;
  connectedAt: number;
  remoteAddress: string;
  listener: string;
}

/** A connected client's directory record (the node and client id are the key and field). */
interface DirectoryRecord {
  u: string | null;
  l: number;
  c: number;
  a: string;
  n: string;
}

/** Seconds between a node's stats snapshots in Redis; the key lives three of them. */
export const CLUSTER_STATS_INTERVAL_MS = 2000;

/** Most clients read from one node's directory for one listing (HSCAN pages); the rest is counted, not listed. */
export const CLUSTER_LIST_MAX_PER_NODE = 10000;

export interface ClusterNodeStats {
  /** Messages sent to other nodes (one per destination node). */
  forwarded: number;
  /** Messages received from other nodes. */
  received: number;
  /** Wills of dead nodes' clients published here. */
  orphanWillsPublished: number;
  /** Of those, skipped because the client id was taken again elsewhere (newer lease token). */
  orphanWillsSkipped: number;
  /** Wills handed over to the survivors at a drain (sessions that go on elsewhere). */
  willsHandedOver: number;
  /** Starts that found Will records of an earlier run of this node id and handed them to the survivors. */
  leftoverWillsHandedOver: number;
  /** Directory writes (connected clients) that failed: the directory is rewritten whole. */
  directoryFailures: number;
  /** Inbox positions recorded (after the session store's batch holding what was read). */
  inboxPositions: number;
  /** Detached sessions dropped from memory here because their writes were fenced (the client went on elsewhere). */
  staleSessionsDropped: number;
  /** Drains that left persistent sessions (or Wills) to adoption: the node put itself in the dying SET. */
  drainHandOvers: number;
  /** Starts that took back an earlier run of this node id (its sessions, inbox tail and routes). */
  earlierRunsAdopted: number;
  /** Cuts recorded for clients whose session came here from another node (and recordings that failed). */
  cutsRecorded: number;
  cutFailures: number;
  /** Messages of a dead node's inbox an adopter forwarded to a session here, queued; and dropped (session gone or taken again). */
  forwardedQueued: number;
  forwardedDropped: number;
  /** CONNECT retries here while a survivor was adopting the client's session (ClusterClientRegistry). */
  adoptionWaits: number;
  /** Messages of this node's refused (fenced) session writes forwarded to the client's new node, and those that could not be. */
  fencedForwarded: number;
  fencedForwardsLost: number;
}

export class ClusterNode implements RemoteRoute, RouteSink, RemoteAckGate {
  readonly nodeId: string;
  readonly engine: RedisClusterEngine;
  readonly stats: ClusterNodeStats = { forwarded: 0, received: 0, orphanWillsPublished: 0, orphanWillsSkipped: 0, willsHandedOver: 0, leftoverWillsHandedOver: 0, directoryFailures: 0, inboxPositions: 0, staleSessionsDropped: 0, drainHandOvers: 0, earlierRunsAdopted: 0, cutsRecorded: 0, cutFailures: 0, forwardedQueued: 0, forwardedDropped: 0, adoptionWaits: 0, fencedForwarded: 0, fencedForwardsLost: 0 };
  localGroups: readonly string[] = [];
  localGroupCount = 0;
  private readonly keys: ClusterKeys;
  private readonly match = new RouteMatch();
  /** Reused for every outgoing message: send() encodes it at once. */
  private readonly outgoing: ClusterMessage = { topic: '', payload: Buffer.alloc(0), qos: 0, retain: false, origin: '', publisherId: '', properties: null, groups: null, plain: true };
  private router: Router | null = null;
  private brokerEngine: Engine | null = null;
  /** Cross-node flow control; made by bind() (it needs the engine's Backpressure). */
  flow: ClusterFlow | null = null;
  /** Latest bus batch carrying a QoS 1/2 client message for another node; settledBatch: the latest settled. */
  private ackBatch = 0;
  private settledBatch = 0;
  private settledHandler: ((batch: number, ok: boolean) => void) | null = null;
  /** Own connection for the Will records (`{n:<id>}:wills`), next to the engine's. */
  private command: Redis | null = null;
  private readonly willTimers = new Set<NodeJS.Timeout>();
  /** Adoption of dead nodes' persistent sessions (created at start, once Redis answers). */
  private adoption: SessionAdoption | null = null;
  /** Last inbox id read and not yet recorded; a recording in progress. */
  private positionPending: string | null = null;
  private positionWriting = false;
  private positionWrite: Promise<void> = Promise.resolve();
  /** Last inbox entry delivered whole (or where the bus started): the position a drain records. */
  private readUpTo: string | null = null;
  private closed = false;
  /** Directory changes of this turn: client id -> record JSON, or null for gone; flushed once per turn. */
  private readonly directoryChanges = new Map<string, string | null>();
  private directoryFlushScheduled = false;
  /** A directory write failed (or Redis came back empty): rewrite it whole at the next snapshot. */
  private directoryStale = false;
  private statsTimer: NodeJS.Timeout | null = null;
  /** This node's figures for the cluster stats (the Broker sets it). */
  statsSource: (() => Record<string, number>) | null = null;
  /** Connected clients of this node, for rewriting the directory (the Broker sets it). */
  clientsSource: (() => Iterable<ClientLink>) | null = null;

  constructor(
    readonly config: ClusterConfig,
    private readonly events: BrokerEmitter,
    /** persistence.redis-wait-replicas / -timeout: the bus WAITs as the session store does. */
    durability: { waitReplicas: number; waitTimeoutMs: number } = { waitReplicas: 0, waitTimeoutMs: 1000 },
  ) {
    this.nodeId = config.nodeId;
    this.keys = new ClusterKeys(config.prefix);
    this.engine = new RedisClusterEngine({
      nodeId: config.nodeId,
      connect: this.connect,
      prefix: config.prefix,
      leaseMs: config.leaseMs,
      nodeTtlMs: config.nodeTtlMs,
      reapMs: Math.max(100, Math.floor(config.nodeTtlMs / 4)),
      waitReplicas: durability.waitReplicas,
      waitTimeoutMs: durability.waitTimeoutMs,
    });
  }

  /** Opens a Redis connection with the options the parts expect (redis-connection.ts). */
  private readonly connect: RedisFactory = (role) => {
    const redis = new Redis(this.config.redis, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 50, 1000),
      // A blocking XREAD re-sent after a reconnect would read from a stale position.
      autoResendUnfulfilledCommands: role !== 'blocking',
      lazyConnect: false,
    });
    redis.on('error', this.onRedisError);
    return redis;
  };

  private lastErrorReport = 0;
  private readonly onRedisError = (err: Error): void => {
    const now = Date.now();
    if (this.closed || now - this.lastErrorReport < 5000) return; // reconnect attempts: one warning per 5 s
    this.lastErrorReport = now;
    this.events.emit('warning', new Error(`cluster: redis: ${err.message}`));
  };

  /** Plugs this node into the engine (before start: restored subscriptions become routes). */
  bind(engine: Engine): void {
    this.brokerEngine = engine;
    this.router = engine.router;
    engine.router.remote = this;
    engine.router.routes = this;
    engine.commitGate.setRemoteGate(this);
    const sessions = engine.sessions as { fencedHandler?: FencedHandler | null };
    if ('fencedHandler' in sessions) sessions.fencedHandler = this.onSessionFenced;
    this.flow = new ClusterFlow(this.engine.bus, engine.backpressure, engine.limits.maxPublisherPause);
  }

  /**
   * A session's write was refused: its lease has a newer token, so its client went on on another
   * node (an adopted session whose client came back elsewhere, or a client that left this node
   * and reconnected elsewhere with no lease to kick). A detached copy still here with that token
   * goes (memory, routes, index entry; its Redis delete is fenced off as well) and a Will waiting
   * with it is dropped. A copy that is connected, or newer (another token), stays.
   */
  private readonly onSessionFenced = (clientId: string, token: string, ops: readonly (string | Buffer)[] | null): void => {
    if (ops !== null) this.forwardFenced(clientId, ops);
    const engine = this.brokerEngine;
    const session = engine?.sessions.get(clientId);
    if (engine === null || engine === undefined || session === undefined || session.connection !== null || session.clusterToken !== token) return;
    this.retire(session);
  };

  /** Sessions taken over by another node, kept here until the senders route to it (retire). */
  private readonly retiring = new Set<Session>();

  /**
   * A session whose client went on on another node (kicked by its takeover, or a copy whose write
   * was refused) leaves this node, but not at once: until the other nodes have applied the new
   * node's routes, messages for it still come here, and dropping the copy (and its routes) now
   * would lose them (they reach neither node). It stays, detached, until this node has applied
   * the new node's cut (the route-log marker its CONNECT recorded on the lease, `cut:<this
   * node>`) and RETIRE_GRACE_MS more, RETIRE_MAX_MS at most; what it queues meanwhile is refused
   * by Redis (fenced) and forwarded to the new node (forwardFenced). Then it goes (dropStale: no
   * Will, its store delete fenced off).
   */
  retire(session: Session): void {
    const engine = this.brokerEngine;
    if (engine === null || this.retiring.has(session)) return;
    this.retiring.add(session);
    const started = Date.now();
    const done = (): void => {
      this.retiring.delete(session);
      if (engine.sessions.get(session.clientId) !== session || session.connection !== null) return;
      this.stats.staleSessionsDropped++;
      engine.lifecycle.dropStale(session);
    };
    const waitCut = async (): Promise<void> => {
      const command = this.command;
      // Read from the lease until the new node has recorded it; then only this node's log position is watched.
      let cut: string | null = null;
      while (command !== null && !this.closed && Date.now() - started < RETIRE_MAX_MS) {
        if (cut === null) {
          const move = await this.engine.leases.moveFrom(session.clientId, this.nodeId).catch(() => null);
          if (move === null || move.token === null) break; // Redis away, or the session is gone
          if (move.cut === '-') break; // a new session there: nothing to route to it
          cut = move.cut;
        }
        if (cut !== null && compareIds(this.engine.routes.appliedPosition, cut) >= 0) {
          await delay(RETIRE_GRACE_MS);
          break;
        }
        await delay(RETIRE_POLL_MS);
      }
    };
    void waitCut().finally(done);
  }

  /**
   * What a refused (fenced) write of `clientId` queued or sent that the client's new node cannot
   * have: its new owner took the lease before this node wrote it, so the session it loaded lacks
   * it (a takeover racing deliveries here, or a copy left here that a message reached before the
   * routes moved). Those messages are forwarded to the node holding the session now, as directed
   * entries for its lease token (docs/cluster.md "Takeover while messages flow"): queued ones not
   * delivered from the queue in the same batch, and fresh in-flight ones (state 0) not acknowledged
   * in it. A message also routed to the new node directly may arrive twice (at least once).
   */
  private forwardFenced(clientId: string, ops: readonly (string | Buffer)[]): void {
    const unsent = unsentOf(ops);
    if (unsent.length === 0) return;
    const command = this.command;
    if (command === null || this.closed) {
      this.stats.fencedForwardsLost += unsent.length;
      return;
    }
    // The route each was routed with, from this node's copy (still here: retire keeps it).
    const routeOf = new Map<number, string>();
    const session = this.brokerEngine?.sessions.get(clientId);
    if (session !== undefined) {
      if (session.queue !== null) for (const item of session.queue) routeOf.set(item.seq, item.message.route);
      if (session.inflight !== null) for (const e of session.inflight.values()) routeOf.set(e.seq, e.message.route);
    }
    void this.sendFenced(clientId, unsent, routeOf).catch(() => void (this.stats.fencedForwardsLost += unsent.length));
  }

  /**
   * forwardFenced's I/O: the lease's token, holder and this node's cut (waited for a little: the
   * new node records it once its routes are written), then one directed entry with the messages
   * that did not also reach the new node (routed at or past the cut: skipped).
   */
  private async sendFenced(clientId: string, unsent: DecodedEntry[], routeOf: Map<number, string>): Promise<void> {
    const leases = this.engine.leases;
    let move = await leases.moveFrom(clientId, this.nodeId);
    for (let i = 0; i < FENCED_CUT_RETRIES && move.token !== null && move.cut === null; i++) {
      await delay(FENCED_CUT_RETRY_MS);
      move = await leases.moveFrom(clientId, this.nodeId);
    }
    const { token, holder, cut } = move;
    if (token === null || holder === null || holder === '' || holder === this.nodeId || cut === '-') {
      this.stats.fencedForwardsLost += unsent.length; // the session is gone, here again, or started afresh
      return;
    }
    const frames: Buffer[] = [];
    for (const e of unsent) {
      const route = routeOf.get(e.seq) ?? '';
      if (cut !== null && route !== '' && compareIds(route, cut) >= 0) continue; // routed to the new node as well
      const m = e.message;
      frames.push(encodeFrame({ topic: m.topic, payload: m.payload, qos: e.qos, retain: e.retainFlag, origin: this.nodeId, publisherId: m.origin, properties: propertiesFrame(m), groups: null, plain: true }));
    }
    if (frames.length === 0) return;
    await this.engine.bus.sendDirected(holder, clientId, token, Buffer.concat(frames));
    this.stats.fencedForwarded += frames.length;
  }

  async start(): Promise<void> {
    this.engine.bus.onBatch(this.onBatch);
    if (this.flow !== null) this.engine.bus.onFlow(this.flow.onFlow);
    this.engine.membership.onNodeDied(this.onNodeDied);
    const command = (this.command = this.connect('command'));
    await whenReady(command);
    // The directory of an earlier run of this node id starts afresh (none of its clients is here).
    await command.del(this.keys.clients(this.nodeId));
    this.adoption = this.createAdoption(command);
    // An earlier run of this node id (crashed, or drained and not adopted yet): no survivor may
    // clean it up while this start takes its sessions back (its heartbeat kept meanwhile).
    const keepAlive = await this.claimEarlierRun(command);
    try {
      const adopted = await this.adoptEarlierRun(command);
      await this.handOverLeftoverWills(command, adopted);
      if (this.adoption !== null) this.engine.membership.onNodeDying(this.onNodeDying);
      this.engine.bus.onRead(this.onInboxRead);
      this.engine.bus.onDirected(this.onDirected);
      await this.engine.start(this.onMessage);
    } finally {
      if (keepAlive !== null) clearInterval(keepAlive);
    }
    // The earlier run's clients that went on elsewhere before this start: its tail, forwarded now
    // that the bus runs (in the background: nothing of this node waits for it).
    this.adoption?.forwardOwnTail().catch((err: Error) => this.events.emit('warning', new Error(`cluster: forwarding the earlier run's inbox tail: ${err.message}`)));
    this.engine.membership.onRejoined(this.onRejoined);
    this.statsTimer = setInterval(this.snapshot, CLUSTER_STATS_INTERVAL_MS);
    this.statsTimer.unref();
    this.snapshot();
  }

  /**
   * Before anything of an earlier run of this node id is touched: if a survivor is cleaning it up
   * (its reap claim exists: it was declared dead, or it drained into the dying SET and was
   * claimed), wait until that is done (its adopter deletes the index and inbox: nothing left
   * here); otherwise take this id out of the dying SET (a drained run nobody claimed: this start
   * adopts it instead) and, if the earlier run is still a member (crashed within the node TTL),
   * renew its heartbeat and keep it alive until the membership starts, so that no survivor
   * declares it dead while its sessions come back here. Returns that keep-alive timer.
   */
  private async claimEarlierRun(command: Redis): Promise<NodeJS.Timeout | null> {
    const k = this.keys;
    const ttl = this.config.nodeTtlMs;
    const nodeKey = k.node(this.nodeId);
    for (let waited = 0; ; waited += 100) {
      const member = (await command.eval(CLAIM_EARLIER_RUN, 4, k.dying, k.reap(this.nodeId), k.members, nodeKey, this.nodeId, ttl, String(Date.now()))) as number;
      if (member >= 0) {
        if (member === 0) return null;
        const timer = setInterval(() => void command.set(nodeKey, String(Date.now()), 'PX', ttl, 'XX').catch(() => undefined), Math.max(50, Math.floor(ttl / 3)));
        timer.unref();
        return timer;
      }
      if (waited > 0 && waited % 5000 === 0) this.events.emit('warning', new Error(`cluster: waiting for another node to finish the cleanup of an earlier run of ${this.nodeId}`));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * A restart under the same node id (a Kubernetes container restarted in place keeps its pod
   * name; or a drain followed by a start before a survivor adopted): the earlier run's persistent
   * sessions are adopted by this node itself (SessionAdoption.adoptOwn), its inbox entries after
   * its recorded position up to the stream's end now are queued into them, and this run's bus
   * reads on after that entry: every entry is either in the tail or read by the bus. Their routes
   * never go away (the earlier run's route set is this node's; the resync at start keeps the
   * filters the adopted sessions hold). Then the store's batch is flushed and the position
   * recorded. Without adoption (no Redis session store) the index and position are dropped and
   * the bus starts at the end, as before. Returns client id -> the new lease token.
   */
  private async adoptEarlierRun(command: Redis): Promise<Map<string, string>> {
    const k = this.keys;
    const info = await command.call('XINFO', 'STREAM', k.inbox(this.nodeId)).catch(() => null);
    const upTo = streamInfoField(info, 'last-generated-id') ?? '0-0';
    this.engine.bus.startAfter = upTo;
    if (this.adoption === null) {
      await command.del(k.sessionIndex(this.nodeId), k.inboxPosition(this.nodeId));
      this.readUpTo = upTo;
      return new Map();
    }
    const adopted = await this.adoption.adoptOwn(upTo);
    if (adopted.size > 0) this.stats.earlierRunsAdopted++;
    await this.brokerEngine?.sessions.flush();
    await command.set(k.inboxPosition(this.nodeId), upTo);
    // Only now: a start failing before this point must not record `upTo` at its close (the
    // tail before it would be skipped by whoever adopts the index then).
    this.readUpTo = upTo;
    return adopted;
  }

  /**
   * Will records left by an earlier run of this node id: Wills a drain handed over (sessions that
   * go on) or, after a crash and a restart within the node TTL (a StatefulSet pod), the records of
   * every client that run had. None of those clients is connected here now. They are handed to the
   * survivors as a dead node's, under a one-off id put in the dying SET, and decided there as any
   * dead node's Wills (published after the Will Delay or grace unless the client came back); this
   * node's own reaper may be the one that claims them. Deleting them, as an earlier version did,
   * lost the Wills of a crashed run and of a drained one restarted at once. A session this start
   * adopted (`adopted`: client id -> its new lease token) has its record's token rewritten: its
   * Will is still published unless the client comes back (a newer token).
   */
  private async handOverLeftoverWills(command: Redis, adopted: Map<string, string>): Promise<void> {
    const key = this.keys.wills(this.nodeId);
    if ((await command.exists(key)) === 0) return;
    const ids = [...adopted.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const page = ids.slice(i, i + 500);
      const raws = await command.hmget(key, ...page);
      const back: string[] = [];
      raws.forEach((raw, j) => {
        if (raw === null) return;
        try {
          const will = JSON.parse(raw) as StoredWill;
          will.t = adopted.get(page[j])!;
          back.push(page[j], JSON.stringify(will));
        } catch {
          // not ours: left as it is
        }
      });
      if (back.length > 0) await command.hset(key, ...back);
    }
    const leftover = `${this.nodeId}~${Date.now().toString(36)}`;
    await command.rename(key, this.keys.wills(leftover));
    await command.sadd(this.keys.dying, leftover);
    this.stats.leftoverWillsHandedOver++;
  }

  /** Adoption figures (zeros before start or without a Redis session store). */
  get adoptionStats(): AdoptionStats {
    return this.adoption?.stats ?? { adoptions: 0, sessionsAdopted: 0, sessionsSkipped: 0, messagesRecovered: 0, lastAdoptionMs: 0, sessionsForwarded: 0, messagesForwarded: 0, cutsMissing: 0, forwardsOverLimit: 0, tailsTrimmed: 0 };
  }

  /** The adopter of dead nodes' sessions, over the engine's Redis session store (none with another store). */
  private createAdoption(command: Redis): SessionAdoption | null {
    const engine = this.brokerEngine;
    const sessions = engine?.sessions as (Engine['sessions'] & { readStored?(clientId: string): Promise<import('../sessions/session').Session | undefined> }) | undefined;
    if (engine === null || engine === undefined || sessions?.readStored === undefined || sessions.install === undefined) return null;
    return new SessionAdoption(this.nodeId, command, this.keys, this.engine.bus, this.engine.routes, {
      read: (clientId) => sessions.readStored!(clientId),
      adopt: (session) => engine.lifecycle.adopt(session),
      detached: (session) => sessions.detached(session),
      deliver: (session, msg, qos) => engine.delivery.deliver(session, msg, qos, false, null),
      flush: () => engine.sessions.flush(),
      maxForwardPerSession: engine.limits.maxQueuedMessages,
    });
  }

  /** This node claimed dead node `dead`: its persistent sessions come here, before its routes go. */
  private readonly onNodeDying = (dead: string): Promise<void> => this.adoption!.adopt(dead);

  /**
   * The bus delivered inbox entries up to `lastId`: recorded as this node's position once the
   * session store's batch holding what they queued is answered (a survivor adopting this node's
   * sessions reads the inbox after it). Coalesced: one recording at a time, the latest id.
   */
  private readonly onInboxRead = (lastId: string): void => {
    this.readUpTo = lastId;
    this.positionPending = lastId;
    if (!this.positionWriting) this.positionWrite = this.writePosition();
  };

  private async writePosition(): Promise<void> {
    const engine = this.brokerEngine;
    const command = this.command;
    if (engine === null || command === null) return;
    this.positionWriting = true;
    try {
      while (this.positionPending !== null && !this.closed) {
        const id = this.positionPending;
        this.positionPending = null;
        await engine.sessions.flush();
        await command.set(this.keys.inboxPosition(this.nodeId), id);
        this.stats.inboxPositions++;
      }
    } catch {
      // Store or Redis away: the position stays older (an adopter reads some entries twice: at least once).
    } finally {
      this.positionWriting = false;
    }
  }

  /** Redis reachable and this node a member: what readiness and `nestmq_cluster_redis_up` report. */
  get redisUp(): boolean {
    return !this.closed && this.command?.status === 'ready' && this.engine.membership.memberNow();
  }

  /** We were declared dead or Redis restarted empty: the directory may be gone with our keys. */
  private readonly onRejoined = (): void => {
    this.directoryStale = true;
    this.engine.routes.requestResync();
  };

  /** The drain begins: no more inbox entries are delivered here (RedisMessageBus.stopReading). */
  stopInbox(): void {
    this.engine.bus.stopReading();
  }

  /**
   * A clean stop (drain). After the broker closed its clients (clean sessions ended: their routes
   * went with them, flushed here), this node hands what goes on to adoption instead of dropping
   * it: it leaves the membership (its bus stops reading), records its inbox position once the
   * session store holds everything it read, and KEEPS its session index, its inbox and the routes
   * of its persistent sessions; then it puts itself in the dying SET, where a survivor's reaper
   * claims it at once (not after the node TTL) and adopts its persistent sessions as a dead
   * node's: routes moved in one HANDOVER, the inbox read after the position, then the Wills
   * handed over at the drain decided (session-adoption.ts, docs/cluster.md "Draining").
   * With no survivor (the last node) the entry waits for the next node to start: its reaper
   * claims it; the same node id restarted takes it back itself (adoptEarlierRun).
   * Nothing to hand over (no persistent session, no Will): the index and position go, as before.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.willTimers) clearTimeout(t);
    this.willTimers.clear();
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    // The clean sessions' route removals (their connections closed): persistent sessions' routes
    // are never removed at a stop (the router keeps detached sessions): HANDOVER moves them.
    await this.engine.routes.flushed().catch(() => undefined);
    const command = this.command;
    const ready = command?.status === 'ready';
    if (ready) await command!.del(this.keys.clients(this.nodeId), this.keys.stats(this.nodeId)).catch(() => undefined);
    await this.engine.close(); // membership left first; then the bus stops reading (readUpTo is final)
    let handOver = this.stats.willsHandedOver > 0;
    if (ready) {
      try {
        handOver = (await this.recordFinalPosition(command!)) || handOver;
      } catch {
        // The store's flush or Redis failed: the index and an older position stay, adopted from
        // there (at least once) through the dying entry if Redis takes it; else by the next start
        // of this node id, or after the node TTL if the leave did not reach Redis either.
        handOver = true;
      }
      if (!handOver) {
        // A clean stop with nothing that goes on: no Will record (none handed over), no index.
        await command!.del(this.keys.wills(this.nodeId), this.keys.sessionIndex(this.nodeId), this.keys.inboxPosition(this.nodeId)).catch(() => undefined);
      } else {
        await command!.sadd(this.keys.dying, this.nodeId).catch(() => undefined);
        this.stats.drainHandOvers++;
      }
    }
    command?.disconnect(false);
  }

  /**
   * The drain's last step before adoption: the position writer stopped, the session store's batch
   * holding everything the bus delivered answered, then `{n:<id>}:pos` = the last entry
   * delivered. True when this node's index holds persistent sessions (to be adopted).
   */
  private async recordFinalPosition(command: Redis): Promise<boolean> {
    await this.positionWrite;
    const engine = this.brokerEngine;
    if (engine !== null) await engine.sessions.flush();
    if (this.readUpTo !== null) await command.set(this.keys.inboxPosition(this.nodeId), this.readUpTo);
    return (await command.hlen(this.keys.sessionIndex(this.nodeId))) > 0;
  }

  // ---- admin: directory of connected clients, stats snapshots --------------------------------

  /** A client connected here: its directory record, written with this turn's other changes. */
  clientConnected(conn: ClientLink): void {
    const record: DirectoryRecord = { u: conn.username, l: conn.protocolLevel, c: conn.connectedAt, a: conn.remoteAddress, n: conn.listener };
    this.directoryChange(conn.clientId, JSON.stringify(record));
  }

  /** The client id's last connection here ended. */
  clientGone(clientId: string): void {
    this.directoryChange(clientId, null);
  }

  private directoryChange(clientId: string, record: string | null): void {
    this.directoryChanges.set(clientId, record);
    if (this.directoryFlushScheduled) return;
    this.directoryFlushScheduled = true;
    setImmediate(this.flushDirectory);
  }

  /** One pipeline per turn for every connect and disconnect of the turn. */
  private readonly flushDirectory = (): void => {
    this.directoryFlushScheduled = false;
    const command = this.command;
    if (command === null || this.closed) return this.directoryChanges.clear();
    if (command.status !== 'ready') {
      this.directoryChanges.clear();
      this.directoryStale = true;
      return;
    }
    const key = this.keys.clients(this.nodeId);
    const pipeline = command.pipeline();
    for (const [clientId, record] of this.directoryChanges) {
      if (record === null) pipeline.hdel(key, clientId);
      else pipeline.hset(key, clientId, record);
    }
    this.directoryChanges.clear();
    pipeline.exec().then(
      (results) => {
        if (results === null || results.some(([err]) => err !== null)) this.directoryFailed();
      },
      () => this.directoryFailed(),
    );
  };

  private directoryFailed(): void {
    this.stats.directoryFailures++;
    this.directoryStale = true;
  }

  /** Every CLUSTER_STATS_INTERVAL_MS: this node's stats (SET PX), and the directory rewritten if stale. */
  private readonly snapshot = (): void => {
    const command = this.command;
    if (command === null || this.closed || command.status !== 'ready') return;
    const pipeline = command.pipeline();
    if (this.statsSource !== null) {
      pipeline.set(this.keys.stats(this.nodeId), JSON.stringify(this.statsSource()), 'PX', CLUSTER_STATS_INTERVAL_MS * 3);
    }
    if (this.directoryStale && this.clientsSource !== null) {
      this.directoryStale = false;
      const key = this.keys.clients(this.nodeId);
      pipeline.del(key);
      for (const conn of this.clientsSource()) {
        const record: DirectoryRecord = { u: conn.username, l: conn.protocolLevel, c: conn.connectedAt, a: conn.remoteAddress, n: conn.listener };
        pipeline.hset(key, conn.clientId, JSON.stringify(record));
      }
    }
    pipeline.exec().then(
      (results) => {
        if (results === null || results.some(([err]) => err !== null)) this.directoryStale = true;
      },
      () => (this.directoryStale = true),
    );
  };

  /** Member nodes (the heartbeat SET). */
  async members(): Promise<string[]> {
    return (await this.command!.smembers(this.keys.members)).sort();
  }

  /**
   * Connected clients of every member node, at most CLUSTER_LIST_MAX_PER_NODE per node (HSCAN
   * pages of 1000); `total` counts every entry (HLEN), listed or not.
   */
  async listClients(): Promise<{ items: ClusterClientEntry[]; total: number; truncated: boolean }> {
    const command = this.command!;
    const items: ClusterClientEntry[] = [];
    let total = 0;
    let truncated = false;
    for (const node of await this.members()) {
      const key = this.keys.clients(node);
      total += await command.hlen(key);
      let cursor = '0';
      let read = 0;
      do {
        const [next, flat] = await command.hscan(key, cursor, 'COUNT', 1000);
        cursor = next;
        for (let i = 0; i + 1 < flat.length; i += 2) {
          if (read >= CLUSTER_LIST_MAX_PER_NODE) {
            truncated = true;
            break;
          }
          read++;
          try {
            const r = JSON.parse(flat[i + 1]) as DirectoryRecord;
            items.push({ clientId: flat[i], node, username: r.u, protocolLevel: r.l, connectedAt: r.c, remoteAddress: r.a, listener: r.n });
          } catch {
            // not ours: skipped
          }
        }
      } while (cursor !== '0' && read < CLUSTER_LIST_MAX_PER_NODE);
      if (cursor !== '0') truncated = true;
    }
    return { items, total, truncated };
  }

  /** The node holding `clientId`'s live lease, or null. */
  async ownerOf(clientId: string): Promise<string | null> {
    const node = await this.command!.hget(this.keys.lease(clientId), 'node');
    if (node === null) return null;
    return (await this.command!.hexists(this.keys.clients(node), clientId)) === 1 ? node : null;
  }

  /** Asks the node connected to `clientId` to disconnect it as an administrator (0x98); false when none is. */
  async kickAdmin(clientId: string): Promise<string | null> {
    const node = await this.ownerOf(clientId);
    if (node === null) return null;
    await this.engine.leases.kickAdmin(node, clientId);
    return node;
  }

  /** Every member's latest stats snapshot (null for a node whose snapshot expired). */
  async nodeStats(): Promise<Record<string, Record<string, number> | null>> {
    const nodes = await this.members();
    const out: Record<string, Record<string, number> | null> = {};
    if (nodes.length === 0) return out;
    const raw = await this.command!.mget(nodes.map((n) => this.keys.stats(n)));
    nodes.forEach((n, i) => {
      try {
        out[n] = raw[i] === null ? null : (JSON.parse(raw[i]!) as Record<string, number>);
      } catch {
        out[n] = null;
      }
    });
    return out;
  }

  // ---- RouteSink ----------------------------------------------------------------------------

  addFilter(filter: string): void {
    this.engine.routes.addFilter(filter);
  }

  removeFilter(filter: string): void {
    this.engine.routes.removeFilter(filter);
  }

  // ---- RemoteRoute --------------------------------------------------------------------------

  forward(msg: Message, publisher: ClientLink | null): void {
    msg.route = this.engine.routes.appliedPosition;
    const match = this.match;
    this.engine.routes.match(msg.topic, match);
    this.localGroups = match.localGroups;
    this.localGroupCount = match.localGroupCount;
    const n = match.nodeCount;
    if (n === 0 || (n === 1 && match.nodes[0] === this.nodeId)) return;
    const out = this.outgoing;
    out.topic = msg.topic;
    out.payload = msg.payload;
    out.qos = msg.qos;
    out.retain = msg.retain;
    out.publisherId = msg.origin;
    out.properties = propertiesFrame(msg);
    out.groups = null;
    out.plain = true;
    const batch = match.pickCount === 0 ? this.sendPlain(out, match) : this.sendWithGroups(out, match);
    if (publisher === null || batch === 0) return;
    // Only a client's QoS 1/2 PUBLISH has an acknowledgement to hold.
    if (msg.qos > 0) this.ackBatch = batch;
    // A destination said busy (a subscriber there is over its queue): pause this publisher.
    const flow = this.flow!;
    if (flow.busyNodes > 0) flow.hold(publisher, match.nodes, n);
  }

  /** To every matching node but this one; the batch number, 0 when nothing left. */
  private sendPlain(out: ClusterMessage, match: RouteMatch): number {
    const nodes = match.nodes;
    const n = match.nodeCount;
    let others = 0;
    for (let i = 0; i < n; i++) if (nodes[i] !== this.nodeId) others++;
    if (others === 0) return 0;
    this.stats.forwarded += others;
    return this.engine.bus.send(out, nodes, n);
  }

  /**
   * Shared subscriptions matched: each destination learns which groups it was picked for (and
   * whether it also has plain subscriptions); nodes picked for no group share one frame.
   */
  private sendWithGroups(out: ClusterMessage, match: RouteMatch): number {
    const plainOnly: string[] = [];
    let batch = 0;
    for (let i = 0; i < match.nodeCount; i++) {
      const node = match.nodes[i];
      if (node === this.nodeId) continue;
      let groups: string[] | null = null;
      for (let j = 0; j < match.pickCount; j++) {
        if (match.pickNodes[j] === node) (groups ??= []).push(match.pickGroups[j]);
      }
      if (groups === null) {
        plainOnly.push(node);
        continue;
      }
      out.groups = groups;
      out.plain = i < match.plainCount;
      batch = this.engine.bus.send(out, [node], 1);
      this.stats.forwarded++;
    }
    out.groups = null;
    out.plain = true;
    if (plainOnly.length > 0) {
      batch = this.engine.bus.send(out, plainOnly, plainOnly.length);
      this.stats.forwarded += plainOnly.length;
    }
    return batch;
  }

  // ---- RemoteAckGate ------------------------------------------------------------------------

  pendingBatch(): number {
    return this.ackBatch > this.settledBatch ? this.ackBatch : 0;
  }

  onSettled(handler: (batch: number, ok: boolean) => void): void {
    this.settledHandler = handler;
  }

  private readonly onBatch = (batch: number, ok: boolean): void => {
    // A batch refused at once (Redis not connected) settles inside the bus's flush, possibly in
    // the very turn whose acknowledgements the CommitGate has not looked at yet: reported one
    // turn later, so that the gate holds them first and then drops them.
    if (!ok) setImmediate(this.settle, batch, false);
    else this.settle(batch, true);
  };

  private readonly settle = (batch: number, ok: boolean): void => {
    if (batch > this.settledBatch) this.settledBatch = batch;
    this.settledHandler?.(batch, ok);
  };

  // ---- from the bus -------------------------------------------------------------------------

  private readonly onMessage = (m: ClusterMessage): void => {
    const router = this.router;
    if (router === null) return;
    this.stats.received++;
    const msg = messageFromCluster(m);
    if (msg === null) return;
    msg.route = this.engine.bus.entryRoute;
    router.publishFromCluster(msg, m.plain !== false, m.groups ?? null, this.flow!.publisherFor(m.origin));
  };

  // ---- clients whose session came from another node (docs/cluster.md "A client back before its node is declared dead")

  /**
   * `conn` resumed (or restarted) a session that node `from` held last. Its cut goes on the lease
   * record: a route-log marker written after this node's routes for the session's filters
   * (RedisRouteTable.mark), so an adopter of `from` can tell which entries of `from`'s inbox also
   * reached this node (sender's applied position at or past the cut) and forwards the others.
   * A session started afresh (clean start) gets '-': nothing is forwarded to it. Once per such
   * CONNECT: one log entry and one script.
   */
  readonly clientMoved = (conn: ClientLink, from: string): void => {
    const clientId = conn.clientId;
    const fresh = conn.cleanSession;
    const leases = this.engine.leases;
    const token = conn.clusterToken;
    const cut = fresh ? Promise.resolve('-') : this.engine.routes.mark();
    cut.then((id) => leases.recordCut(clientId, from, token!, id)).then(
      () => void this.stats.cutsRecorded++,
      () => void this.stats.cutFailures++,
    );
  };

  /**
   * An adopter forwards messages of a dead node's inbox to the session of `clientId` here, the one
   * holding lease `token` (it came back to this node before the dead one was declared dead). They
   * are queued for that session only, at the QoS the adopter matched (frame QoS). Dropped and
   * counted when the session is gone from here or holds another token (taken again meanwhile).
   * Also what another node's refused writes held for the session (forwardFenced).
   */
  private readonly onDirected = (origin: string, clientId: string, token: string, body: Buffer): void => {
    const messages: { msg: Message; qos: QoS }[] = [];
    try {
      decodeBatch(body, origin, (m) => {
        const msg = messageFromCluster(m);
        if (msg !== null) messages.push({ msg, qos: m.qos });
      });
    } catch (err) {
      if (!(err instanceof ClusterCodecError)) throw err; // frames before the bad one are kept
    }
    this.deliverDirected(clientId, token, messages, DIRECTED_RETRIES);
  };

  /**
   * Queues forwarded messages for the session holding `token` here. A forward can overtake the
   * CONNECT that took the token (its session still loading from Redis): tried again every
   * DIRECTED_RETRY_MS, DIRECTED_RETRIES times, while a connection with that token is in CONNECT.
   */
  private deliverDirected(clientId: string, token: string, messages: { msg: Message; qos: QoS }[], retries: number): void {
    const engine = this.brokerEngine;
    if (engine === null || this.closed) return;
    const session = engine.sessions.get(clientId);
    if (session === undefined || session.clusterToken !== token) {
      if (retries > 0 && this.clientsLoading?.(clientId, token) === true) {
        const timer = setTimeout(() => this.deliverDirected(clientId, token, messages, retries - 1), DIRECTED_RETRY_MS);
        timer.unref();
        return;
      }
      this.stats.forwardedDropped += messages.length;
      return;
    }
    for (const { msg, qos } of messages) engine.delivery.deliver(session, msg, qos, false, null);
    this.stats.forwardedQueued += messages.length;
  }

  /** Whether a connection of `clientId` holding lease `token` is in CONNECT here (its session loading): set by the Broker. */
  clientsLoading: ((clientId: string, token: string) => boolean) | null = null;

  // ---- Wills of this node's clients, for the survivors --------------------------------------

  /**
   * A client with a Will is connected here: its Will is kept in Redis (`{n:<node>}:wills`) so
   * that, if this node dies, a survivor publishes it (unless the client took its id elsewhere).
   */
  willConnected(conn: ClientLink, will: WillMessage, graceMs = 0): void {
    const command = this.command;
    if (command === null || conn.clusterToken === null) return;
    const record: StoredWill = {
      t: conn.clusterToken,
      u: conn.username,
      topic: will.topic,
      p: will.payload.toString('base64'),
      qos: will.qos,
      r: will.retain,
      props: will.properties !== undefined ? propertiesWithLength(will.properties, 0).toString('base64') : null,
      d: conn.v5 !== null ? (will.properties?.willDelayInterval ?? 0) : 0,
      ...(graceMs > 0 ? { g: graceMs } : {}),
    };
    command.hset(this.keys.wills(this.nodeId), conn.clientId, JSON.stringify(record)).catch(() => undefined);
  }

  /**
   * Drain: the client's session goes on (it will reconnect to another node), so its Will is not
   * published here at the close; its record stays for the survivors with a grace of `lease-ms`.
   */
  willHandedOver(conn: ClientLink, will: WillMessage): void {
    this.stats.willsHandedOver++;
    this.willConnected(conn, will, this.config.leaseMs);
  }

  /** The client's connection here ended (its Will handled here, or none left): forget the record. */
  willGone(clientId: string): void {
    this.command?.hdel(this.keys.wills(this.nodeId), clientId).catch(() => undefined);
  }

  /**
   * Node `dead` died and this node claimed its cleanup: publish the Wills of its clients, each
   * after its Will Delay, and only if its client id's lease still carries the dead connection's
   * token (a client that reconnected elsewhere meanwhile has a newer one: no Will).
   */
  private readonly onNodeDied = async (dead: string): Promise<void> => {
    const command = this.command;
    if (command === null) return;
    const key = this.keys.wills(dead);
    const adopted = this.adoption?.takeTokens(dead);
    const records = await command.hgetall(key);
    await command.del(key, this.keys.clients(dead), this.keys.stats(dead));
    for (const [clientId, raw] of Object.entries(records)) {
      let will: StoredWill;
      try {
        will = JSON.parse(raw) as StoredWill;
      } catch {
        continue;
      }
      const waitMs = Math.max(will.d * 1000, will.g ?? 0);
      if (waitMs > 0) {
        const timer = setTimeout(() => {
          this.willTimers.delete(timer);
          void this.publishOrphanWill(clientId, will, adopted?.get(clientId));
        }, Math.min(waitMs, MAX_TIMER_MS));
        this.willTimers.add(timer);
      } else await this.publishOrphanWill(clientId, will, adopted?.get(clientId));
    }
  };

  /** `adoptedToken`: the token this node adopted the client's session with, if it did (not a reconnection). */
  private async publishOrphanWill(clientId: string, will: StoredWill, adoptedToken?: string): Promise<void> {
    if (this.closed || this.brokerEngine === null) return;
    const token = await this.command!.hget(this.keys.lease(clientId), 'token').catch(() => null);
    // A token this node adopted the session with is not a reconnection: the Will still goes.
    if (token !== null && token !== will.t && token !== adoptedToken) {
      this.stats.orphanWillsSkipped++;
      return;
    }
    let properties: Properties | undefined;
    if (will.props !== null) {
      const buf = Buffer.from(will.props, 'base64');
      properties = readProperties({ buf, p: 0, e: buf.length }, 0);
    }
    this.stats.orphanWillsPublished++;
    this.brokerEngine.lifecycle.publishOrphanWill(
      clientId,
      will.u,
      { topic: will.topic, payload: Buffer.from(will.p, 'base64'), qos: will.qos, retain: will.r, properties },
    );
  }
}

/** A message's MQTT 5 properties for another node (Message Expiry as the interval left); null for none. */
function propertiesFrame(msg: Message): Buffer | null {
  const props = msg.properties;
  if (msg.expiresAt === 0) return props === null ? null : propertiesWithLength(props, PacketType.PUBLISH);
  const left = Math.max(1, Math.ceil((msg.expiresAt - Date.now()) / 1000));
  return propertiesWithLength({ ...props, messageExpiryInterval: left }, PacketType.PUBLISH);
}

/** Properties as they stand in a packet (Property Length first), which readProperties reads back. */
function propertiesWithLength(props: Properties, context: number): Buffer {
  const body = encodeProperties(props, context);
  const out = Buffer.allocUnsafe(variableByteIntegerSize(body.length) + body.length);
  body.copy(out, writeVariableByteInteger(out, 0, body.length));
  return out;
}
