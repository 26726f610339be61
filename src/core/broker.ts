import { EventEmitter } from 'node:events';
import { ConfiguredPlugins } from './auth';
import * as admin from './broker-admin';
import type { BrokerConfig, BrokerConfigInput } from './config/types';
import { validateConfig } from './config/validate';
import { type ClientLink, Pause } from './connection/link';
import { Engine, type BrokerStats } from './engine';
import { ClusterClientRegistry } from './engine/client-registry';
import { type ClusterClientEntry, ClusterNode } from './cluster/cluster-node';
import { createDispatcher } from './handlers';
import type { BrokerEvents } from './hooks/events';
import type { BrokerPlugin } from './hooks/plugin';
import { HookRegistry } from './hooks/registry';
import type { Listener } from './listeners/listener';
import { ListenerFactory } from './listeners/listener-factory';
import type { QoS } from './protocol/packets';
import { CloseReason } from './protocol/reason-codes';
import { reloadParts, type ReloadReport } from './reload/reload';
import { Message } from './sessions/message';
import type { Session } from './sessions/session';
import { createStores } from './stores';
import type { StoreCounter, Stores } from './stores/store';
import { SysTopicsPublisher, type SysSource } from './sys/sys-topics';
import { brokerVersion } from './sys/version';
import { SubscriptionTrie } from './topics/subscription-trie';

export type BrokerState = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

export interface BrokerOptions {
  /**
   * Plugin instances (authentication, authorization), consulted in order after the plugins the
   * config names (auth.plugins, then topic-check): see docs/auth.md.
   */
  plugins?: BrokerPlugin[];
  /** State backends; in memory when omitted. */
  stores?: Stores;
  /**
   * The plugins the config names, already built (what the Nest AuthModule provides): used as they
   * are, still first in the chain, and their warnings become this broker's. Built from the config
   * when omitted. Build them with the same `extraPlugins` as `plugins` here.
   */
  configuredPlugins?: ConfiguredPlugins;
  /** An empty subscription trie for the engine (the Nest TopicsModule provides one); new when omitted. */
  subscriptions?: SubscriptionTrie<Session>;
  /** Makes the listeners at start() (the Nest ListenersModule provides one); a ListenerFactory when omitted. */
  listenerFactory?: ListenerFactory;
}

/** A snapshot of one connected client, for listings (never the live object). */
export interface ClientSnapshot {
  clientId: string;
  username: string | null;
  remoteAddress: string;
  listener: string;
  protocolLevel: number;
  connectedAt: number;
  keepalive: number;
  cleanSession: boolean;
  subscriptions: number;
  inflight: number;
  queued: number;
  /** Bytes queued for this client and not yet taken by the kernel (output batch + socket buffer). */
  bufferedBytes: number;
  /** The broker holds back reading this client's packets (for any reason below, or authentication). */
  readPaused: boolean;
  /** Held back because a subscriber it publishes to is behind (TCP backpressure to the publisher). */
  throttled: boolean;
  /** Held back because it does not read what the broker writes (its socket is not draining). */
  writeBlocked: boolean;
}

/** One configured listener as the admin surface shows it. */
export interface ListenerStatus {
  name: string;
  type: 'tcp' | 'ws';
  ssl: boolean;
  /** Bound and accepting (false before start and from the moment shutdown begins). */
  bound: boolean;
  host: string;
  port: number;
  connections: number;
}

/**
 * The embeddable MQTT broker:
 *
 *   const broker = new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:1883' } } });
 *   await broker.start();    // resolves once every listener is bound
 *   await broker.shutdown(); // closes sessions and listeners, frees everything
 *
 * States: new -> starting -> started -> stopping -> stopped. No Nest anywhere below this class.
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly config: BrokerConfig;
  private readonly engine: Engine;
  private readonly stores: Stores;
  private mqttListeners: Listener[] = [];
  private _state: BrokerState = 'new';
  private startedAt = 0;
  private stopping: Promise<void> | null = null;
  private sys: SysTopicsPublisher | null = null;
  /** The configured plugins, then options.plugins: the chain order. */
  private readonly plugins: readonly BrokerPlugin[];
  private readonly listenerFactory: ListenerFactory;
  /** Auth warnings raised before start() (reading the files), emitted once started. */
  private earlyWarnings: Error[] | null = [];
  /** This broker as a node of a cluster (config `cluster`); null on a single node. */
  readonly cluster: ClusterNode | null;
  private readonly clusterClients: ClusterClientRegistry | null = null;

  constructor(config?: BrokerConfigInput | BrokerConfig, options: BrokerOptions = {}) {
    super();
    this.config = validateConfig(config);
    this.stores = options.stores ?? createStores(this.config.persistence, this.config.cluster);
    // Named plugins from the config first, then the embedder's. Building them reads the password
    // and ACL files (a missing or invalid one throws, like a bad config); their warnings wait for
    // start() in earlyWarnings.
    const extra = options.plugins ?? [];
    const configured = options.configuredPlugins ?? new ConfiguredPlugins(this.config, { extraPlugins: extra });
    if (!sameList(configured.extraPlugins, extra)) {
      throw new Error('configuredPlugins were built for other extra plugins than options.plugins: pass the same list as extraPlugins');
    }
    configured.connect((message) => this.authWarning(new Error(message)));
    this.plugins = [...configured.plugins, ...extra];
    for (const plugin of this.plugins) if (plugin.events !== undefined) this.subscribePlugin(plugin);
    const hooks = new HookRegistry(this.plugins, this.config.auth, (plugin, hook, err) => {
      const e = new Error(`plugin ${plugin.name ?? 'anonymous'} failed in ${hook}: ${(err as Error)?.message ?? String(err)}`);
      this.emit('warning', e);
    });
    if (options.subscriptions !== undefined && options.subscriptions.size !== 0) throw new Error('options.subscriptions must be an empty trie');
    // Cluster (docs/cluster.md): client ids through leases, routes and the bus plugged in at start.
    let clients: ClusterClientRegistry | undefined;
    this.cluster = this.config.cluster === null ? null : new ClusterNode(this.config.cluster, this, {
            waitReplicas: this.config.persistence.redisWaitReplicas ?? 0,
            waitTimeoutMs: this.config.persistence.redisWaitTimeout ?? 1000,
          });
    if (this.cluster !== null) {
      clients = new ClusterClientRegistry(this.cluster.engine.leases, this.config.limits.sessionExpiry, (err) => this.emit('warning', new Error(`cluster: ${err.message}`)));
      clients.wills = this.cluster;
      clients.directory = this.cluster;
      clients.moved = this.cluster.clientMoved;
      clients.stats = this.cluster.stats;
      const registry = clients;
      this.cluster.clientsLoading = (id, token) => registry.isLoading(id, token);
      this.clusterClients = clients;
      this.cluster.statsSource = () => this.nodeStatsSnapshot();
      this.cluster.clientsSource = () => this.engine.clients.values();
    }
    this.engine = new Engine(this.config, this.stores.sessions, this.stores.retained, hooks, this, {
      dispatcher: createDispatcher,
      subscriptions: options.subscriptions,
      clients,
    });
    this.cluster?.bind(this.engine);
    // A session taken over by another node leaves this node once the senders route to the new one
    // (ClusterNode.retire); until then what still reaches it is forwarded there.
    if (clients !== undefined) clients.onTakenOver = (session) => this.cluster!.retire(session);
    this.listenerFactory = options.listenerFactory ?? new ListenerFactory();
    // A warning with no listener must not throw (EventEmitter treats only 'error' that way).
  }

  /** Plugin event handlers become listeners; only events a plugin handles get one (no cost otherwise). */
  private subscribePlugin(plugin: BrokerPlugin): void {
    const handlers = plugin.events as Record<string, ((...args: unknown[]) => unknown) | undefined>;
    for (const name of Object.keys(handlers)) {
      const fn = handlers[name];
      if (typeof fn !== 'function') continue;
      const report = (err: unknown): void => {
        // A failing 'warning' handler is not reported through 'warning' again.
        if (name !== 'warning') this.emit('warning', new Error(`plugin ${plugin.name ?? 'anonymous'} failed in events.${name}: ${(err as Error)?.message ?? String(err)}`));
      };
      (this as EventEmitter).on(name, (...args: unknown[]) => {
        try {
          const r = fn.apply(handlers, args);
          if (r instanceof Promise) r.catch(report);
        } catch (err) {
          report(err);
        }
      });
    }
  }

  private authWarning(err: Error): void {
    if (this.earlyWarnings !== null) this.earlyWarnings.push(err);
    else this.emit('warning', err);
  }

  /**
   * Re-reads the password file and ACL files (every plugin with a reload(), the embedder's too)
   * without touching connected clients: new connections see the new users and passwords; ACL
   * changes apply to every publish and delivery from now on, existing subscriptions included.
   * Each plugin keeps its previous state if its file cannot be read; the promise then rejects
   * with every failure, after the others have reloaded. What SIGHUP and the admin API call.
   */
  async reloadAuth(): Promise<void> {
    const reloadable = this.plugins.filter((p) => typeof p.reload === 'function');
    const results = await Promise.allSettled(reloadable.map((p) => Promise.resolve().then(() => p.reload!())));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error)?.message ?? String(r.reason)] : []));
    if (failures.length > 0) throw new Error(`auth reload: ${failures.join('; ')}`);
  }

  get state(): BrokerState {
    return this._state;
  }

  get stats(): Readonly<BrokerStats> {
    return this.engine.stats;
  }

  /** nestmq's version (package.json). */
  get version(): string {
    return brokerVersion();
  }

  /** Started, every listener bound, and not shutting down: what a readiness probe asks. */
  get ready(): boolean {
    return this._state === 'started' && this.mqttListeners.every((l) => l.address !== null);
  }

  /** Every configured listener, bound or not, with its address and connection count. */
  listenerStatus(): ListenerStatus[] {
    const started = this._state === 'started';
    return this.config.listeners.map((c) => {
      const l = this.mqttListeners.find((x) => x.config === c);
      const a = l?.address ?? null;
      return {
        name: c.name,
        type: c.type,
        ssl: c.ssl,
        bound: started && a !== null,
        host: a?.host ?? c.host,
        port: a?.port ?? c.port,
        connections: l?.connectionCount ?? 0,
      };
    });
  }

  /**
   * Resolves when the stores have made every change durable, rejects when they cannot (a durable
   * backend whose storage is unreachable). Readiness probes call it; in memory it resolves at once.
   */
  async checkStores(): Promise<void> {
    await Promise.all([this.stores.sessions.flush(), this.stores.retained.flush()]);
  }

  /**
   * Publish as the broker itself ($SYS, administrative messages): routed like any message, with
   * no publisher and no authorization, and not counted among messages received from clients.
   */
  publishInternal(topic: string, payload: string | Buffer, retain = false, qos: QoS = 0): void {
    if (this._state !== 'started') return;
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    // Not counted in messagesReceived: that counts what clients publish (and their Wills).
    this.engine.publish(new Message(topic, body, qos, retain, ''), null);
  }

  get uptimeSeconds(): number {
    return this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000;
  }

  /** Bound addresses by listener name (useful with port 0). */
  get addresses(): Record<string, { host: string; port: number }> {
    const out: Record<string, { host: string; port: number }> = {};
    for (const l of this.mqttListeners) if (l.address) out[l.config.name] = l.address;
    return out;
  }

  /** Port of the first listener (or of the named one), once started. */
  port(name?: string): number {
    const l = name === undefined ? this.mqttListeners[0] : this.mqttListeners.find((x) => x.config.name === name);
    if (!l?.address) throw new Error(name ? `no bound listener named ${name}` : 'broker has no bound listener');
    return l.address.port;
  }

  async start(): Promise<void> {
    if (this._state !== 'new') throw new Error(`cannot start a broker in state ${this._state}`);
    this._state = 'starting';
    this.emit('starting');
    for (const w of this.config.warnings) this.emit('warning', new Error(`config: ${w}`));
    const early = this.earlyWarnings ?? [];
    this.earlyWarnings = null;
    for (const e of early) this.emit('warning', e);
    try {
      await this.stores.sessions.open();
      await this.stores.retained.open();
      this.engine.restore();
      this.engine.expireSessions();
      // Before the listeners: a client is accepted only once this node routes and owns ids.
      if (this.cluster !== null) await this.cluster.start();
      this.mqttListeners = this.config.listeners.map((l) => this.listenerFactory.create(l, this.engine));
      await Promise.all(this.mqttListeners.map((l) => l.listen()));
    } catch (err) {
      await Promise.all(this.mqttListeners.map((l) => l.stopAccepting().catch(() => undefined)));
      await this.cluster?.close().catch(() => undefined);
      this._state = 'stopped';
      throw err;
    }
    this.startedAt = Date.now();
    this._state = 'started';
    if (this.config.sysInterval > 0) {
      // Clustered: each node's own tree, `$SYS/brokers/<node-id>/...` (as EMQX), instead of
      // `$SYS/broker/...`, whose retained topics the nodes would overwrite in turn.
      const root = this.cluster === null ? undefined : `$SYS/brokers/${this.cluster.nodeId}/`;
      this.sys = new SysTopicsPublisher(this.sysSource(), this.config.sysInterval, brokerVersion(), undefined, root);
      this.sys.start();
    }
    this.emit('started');
  }

  /** What the $SYS publisher reads: the public figures plus a walk over the sessions. */
  private sysSource(): SysSource {
    const broker = this;
    return {
      get stats() {
        return broker.stats;
      },
      get uptimeSeconds() {
        return broker.uptimeSeconds;
      },
      get clientCount() {
        return broker.clientCount;
      },
      get sessionCount() {
        return broker.sessionCount;
      },
      get subscriptionCount() {
        return broker.subscriptionCount;
      },
      get retainedCount() {
        return broker.retainedCount;
      },
      sessionTotals: () => {
        let inflightOut = 0;
        let inflightIn = 0;
        let queued = 0;
        for (const s of this.stores.sessions.values()) {
          inflightOut += s.inflightCount;
          inflightIn += s.incomingQos2?.size ?? 0;
          queued += s.queuedCount;
        }
        return { inflightOut, inflightIn, queued };
      },
      publishInternal: (topic, payload, retain) => this.publishInternal(topic, payload, retain),
      onClientConnected: (fn) => {
        this.on('clientConnected', fn);
        return () => void this.off('clientConnected', fn);
      },
    };
  }

  /** Stop accepting, close every client (their Wills fire as for any unclean close), free all. */
  shutdown(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = this.doShutdown();
    return this.stopping;
  }

  private async doShutdown(): Promise<void> {
    if (this._state === 'new') {
      this._state = 'stopped';
      return;
    }
    this._state = 'stopping';
    this.sys?.stop();
    this.sys = null;
    this.emit('stopping');
    const accepting = Promise.all(this.mqttListeners.map((l) => l.stopAccepting()));
    const registry = this.clusterClients;
    const cluster = this.cluster;
    // Clustered: this node's inbox is read no more before its clients go. Their sessions' messages
    // stay in the stream for the adopter (forwarded to a client already back elsewhere by its cut),
    // instead of being queued here into a copy whose writes the returning client's lease fences off.
    cluster?.stopInbox();
    for (const conn of [...this.engine.connections]) {
      // Clustered drain: a client whose session goes on reconnects to another node and resumes
      // it; its Will is not published at this close (docs/cluster.md "Draining").
      if (registry !== null && cluster !== null && sessionContinues(conn)) registry.handOverWill(conn, (c, w) => cluster.willHandedOver(c, w));
      conn.close(CloseReason.Shutdown);
    }
    for (const l of this.mqttListeners) l.destroyAll();
    await accepting;
    this.engine.stop();
    // After the clients: their routes and leases are given back, then the node leaves.
    if (this.cluster !== null) await this.cluster.close().catch((err: Error) => this.emit('warning', new Error(`cluster: close: ${err.message}`)));
    // The stores are closed whatever the final flush does: a store left open keeps its
    // connections and retry timers (and the process) alive. A failed flush is reported after.
    let flushError: unknown = null;
    try {
      await this.stores.sessions.flush();
      await this.stores.retained.flush();
    } catch (err) {
      flushError = err;
    } finally {
      await this.stores.sessions.close().catch((err: Error) => this.emit('warning', new Error(`persistence: close: ${err.message}`)));
      await this.stores.retained.close().catch((err: Error) => this.emit('warning', new Error(`persistence: close: ${err.message}`)));
    }
    this._state = 'stopped';
    this.emit('stopped');
    if (flushError !== null) throw flushError;
  }

  /** Redis reachable and this node a member of the cluster; true on a single node. */
  get clusterReady(): boolean {
    return this.cluster === null || this.cluster.redisUp;
  }

  /** This node's figures for the cluster stats snapshot (admin /api/v1/stats `nodes`). */
  nodeStatsSnapshot(): Record<string, number> {
    const s = this.engine.stats;
    const flow = this.cluster?.flow?.stats;
    return {
      connections: this.connectionCount,
      clientsConnected: this.clientCount,
      sessions: this.sessionCount,
      subscriptions: this.subscriptionCount,
      retainedMessages: this.retainedCount,
      messagesReceived: s.messagesReceived,
      messagesSent: s.messagesSent,
      publishReceived: s.publishReceived,
      publishSent: s.publishSent,
      bytesReceived: s.bytesReceived,
      bytesSent: s.bytesSent,
      uptimeSeconds: Math.floor(this.uptimeSeconds),
      closedQueueOverflow: s.closedQueueOverflow,
      // Cross-node flow control (cluster/cluster-flow.ts).
      clusterFlowPauses: flow?.clusterFlowPauses ?? 0,
      clusterFlowBusySent: flow?.clusterFlowBusySent ?? 0,
      clusterFlowStale: flow?.clusterFlowStale ?? 0,
      // Adoption of dead, drained and earlier-run sessions, and the Wills decided here.
      clusterSessionsAdopted: this.cluster?.adoptionStats.sessionsAdopted ?? 0,
      clusterAdoptedMessages: this.cluster?.adoptionStats.messagesRecovered ?? 0,
      clusterEarlierRunsAdopted: this.cluster?.stats.earlierRunsAdopted ?? 0,
      clusterOrphanWillsPublished: this.cluster?.stats.orphanWillsPublished ?? 0,
      clusterOrphanWillsSkipped: this.cluster?.stats.orphanWillsSkipped ?? 0,
      at: Date.now(),
    };
  }

  /**
   * Connected clients on every node of the cluster (Redis directory, at most
   * CLUSTER_LIST_MAX_PER_NODE per node); null on a single node. Rejects while Redis is unreachable.
   */
  clusterClientList(): Promise<{ items: ClusterClientEntry[]; total: number; truncated: boolean }> | null {
    return this.cluster === null ? null : this.cluster.listClients();
  }

  /**
   * Disconnects `clientId` wherever it is connected in the cluster, as an administrator (its Will
   * is published; MQTT 5: DISCONNECT 0x98). The node it was on, or null when none has it.
   */
  async disconnectClusterClient(clientId: string): Promise<string | null> {
    if (this.engine.clients.get(clientId) !== undefined) {
      this.disconnectClient(clientId);
      return this.cluster?.nodeId ?? null;
    }
    return this.cluster === null ? null : this.cluster.kickAdmin(clientId);
  }

  /** Every member node's latest stats snapshot (null on a single node). */
  clusterNodeStats(): Promise<Record<string, Record<string, number> | null>> | null {
    return this.cluster === null ? null : this.cluster.nodeStats();
  }

  /** Connected clients, as snapshots. */
  clients(): ClientSnapshot[] {
    const out: ClientSnapshot[] = [];
    for (const conn of this.engine.clients.values()) out.push(snapshot(conn));
    return out;
  }

  client(clientId: string): (ClientSnapshot & { subscriptionList: { filter: string; qos: number }[] }) | undefined {
    const conn = this.engine.clients.get(clientId);
    if (conn === undefined) return undefined;
    const subs = conn.session?.subscriptions;
    return {
      ...snapshot(conn),
      subscriptionList: subs ? [...subs].map(([filter, qos]) => ({ filter, qos })) : [],
    };
  }

  /** Disconnect a client as an administrator would (its Will fires); optionally drop its session. */
  disconnectClient(clientId: string, discardSession = false): boolean {
    const conn = this.engine.clients.get(clientId);
    const session = this.stores.sessions.get(clientId);
    if (conn === undefined && (!discardSession || session === undefined)) return false;
    conn?.close(CloseReason.Admin);
    if (discardSession && session !== undefined) this.engine.discardSession(session);
    return true;
  }

  get connectionCount(): number {
    return this.engine.connections.size;
  }

  get clientCount(): number {
    return this.engine.clients.size;
  }

  get subscriptionCount(): number {
    return this.engine.subscriptions.size;
  }

  get retainedCount(): number {
    return this.stores.retained.size;
  }

  get sessionCount(): number {
    return this.stores.sessions.size;
  }

  /** The persistence backend's own counters (Redis: batches, failures, fenced writes); empty otherwise. */
  storeCounters(): readonly StoreCounter[] {
    return this.stores.counters?.() ?? [];
  }

  /**
   * Reloads users, ACLs and TLS certificates without dropping anyone (see reload/reload.ts): each
   * part takes its new content only when it is valid and different; a failed part keeps its
   * previous state. `next`: the config file read again, for its inline topic-check ACLs (an Error
   * when it could not be read; omitted for an embedded broker, whose inline ACLs stay). Never
   * rejects. BrokerReloader serialises calls and re-reads the file.
   */
  reload(next?: BrokerConfig | Error): Promise<ReloadReport> {
    return reloadParts(this.plugins, this.mqttListeners, next);
  }

  /** Messages held in session queues, all sessions (a walk over the sessions: for scrapes, not per packet). */
  get queuedMessages(): number {
    let queued = 0;
    for (const s of this.stores.sessions.values()) queued += s.queuedCount;
    return queued;
  }

  /** Payload bytes held in session queues, reserves included. */
  get queuedBytes(): number {
    return this.engine.queuedBytes;
  }

  /** The part of queuedBytes beyond the sessions' reserves: what counts against limits.max-queued-bytes. */
  get sharedQueuedBytes(): number {
    return this.engine.sharedQueuedBytes;
  }

  // ---- admin views and mutations (admin REST API and dashboard; see broker-admin.ts) ----------

  /** Every session, connected or offline, as snapshots (unsorted). */
  sessionList(): admin.SessionSnapshot[] {
    const out: admin.SessionSnapshot[] = [];
    for (const s of this.stores.sessions.values()) out.push(admin.sessionSnapshot(s, this.sessionDeadline));
    return out;
  }

  /** One session with its subscriptions, or undefined. */
  session(clientId: string): admin.SessionDetail | undefined {
    const s = this.stores.sessions.get(clientId);
    return s === undefined ? undefined : admin.sessionDetail(s, this.sessionDeadline);
  }

  private readonly sessionDeadline = (s: Session): number | undefined => this.engine.lifecycle.expiresAt(s);

  /** Every subscription of every session (unsorted). */
  subscriptionList(): admin.SubscriptionEntry[] {
    const out: admin.SubscriptionEntry[] = [];
    for (const s of this.stores.sessions.values()) {
      if (s.subscriptions !== null) for (const [filter, qos] of s.subscriptions) out.push({ clientId: s.clientId, filter, qos });
    }
    return out;
  }

  /** A subscription added by the administrator (trusted: no authorizeSubscribe) to a connected or offline session. */
  addSubscription(clientId: string, filter: string, qos: QoS): admin.AddSubscriptionResult {
    return admin.addSubscription(this.engine, this.stores, clientId, filter, qos);
  }

  /** Removes a session's subscription as UNSUBSCRIBE would; false when either is unknown. */
  removeSubscription(clientId: string, filter: string): boolean {
    return admin.removeSubscription(this.engine, this.stores, clientId, filter);
  }

  /** A page of the retained messages matching a topic filter (snapshots of topic, payload, QoS). */
  retainedPage(filter: string, offset: number, limit: number): { items: { topic: string; payload: Buffer; qos: QoS }[]; next: number | null } {
    const page = admin.retainedPage(this.stores, filter, offset, limit);
    return { items: page.items.map((m) => ({ topic: m.topic, payload: Buffer.from(m.payload), qos: m.qos })), next: page.next };
  }

  /** The retained message of one topic, or undefined. */
  retainedMessage(topic: string): { topic: string; payload: Buffer; qos: QoS } | undefined {
    const m = this.stores.retained.get(topic);
    return m === undefined ? undefined : { topic: m.topic, payload: Buffer.from(m.payload), qos: m.qos };
  }

  /** Deletes a topic's retained message (nothing is delivered); false when it has none. */
  deleteRetained(topic: string): boolean {
    return admin.deleteRetained(this.engine, this.stores, topic);
  }

  /** Messages in flight and queued over all sessions. */
  sessionTotals(): { inflightOut: number; inflightIn: number; queued: number; queuedBytes: number } {
    return admin.sessionTotals(this.stores);
  }
}

/** The session outlives the connection: 3.1.1 clean session 0, or MQTT 5 Session Expiry > 0. */
function sessionContinues(conn: ClientLink): boolean {
  const v5 = conn.v5;
  return v5 !== null ? v5.sessionExpiryInterval > 0 : !conn.cleanSession;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function snapshot(conn: ClientLink): ClientSnapshot {
  const s = conn.session;
  return {
    clientId: conn.clientId,
    username: conn.username,
    remoteAddress: conn.remoteAddress,
    listener: conn.listener,
    protocolLevel: conn.protocolLevel,
    connectedAt: conn.connectedAt,
    keepalive: conn.keepalive,
    cleanSession: conn.cleanSession,
    subscriptions: s?.subscriptionCount ?? 0,
    inflight: s?.inflightCount ?? 0,
    queued: s?.queuedCount ?? 0,
    bufferedBytes: conn.bufferedBytes,
    readPaused: conn.isPaused(Pause.ANY),
    throttled: conn.isPaused(Pause.THROTTLE),
    writeBlocked: conn.isPaused(Pause.WRITE),
  };
}
