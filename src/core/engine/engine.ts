import { AuthGate, AuthSlot } from '../auth/auth-gate';
import type { BrokerConfig, LimitsConfig } from '../config/types';
import type { ConnectionHost, PacketDispatcher } from '../connection/host';
import type { ClientLink } from '../connection/link';
import type { HookRegistry } from '../hooks/registry';
import type { QoS } from '../protocol/packets';
import { CloseReason } from '../protocol/reason-codes';
import type { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import type { RetainedStore, SessionStore } from '../stores/store';
import { SubscriptionTrie } from '../topics/subscription-trie';
import type { RetainedQuota } from '../topics/retained-quota';
import { Backpressure } from './backpressure';
import { type ClientRegistry, LocalClientRegistry } from './client-registry';
import { CommitGate } from './commit-gate';
import { Delivery } from './delivery';
import type { BrokerEmitter, RemoteRoute } from './ports';
import type { RetainedDelivery } from './retained-delivery';
import { Router } from './router';
import { SessionLifecycle } from './session-lifecycle';
import { BrokerStats } from './stats';

export interface EngineOptions {
  /** Packet handling for the connections (src/core/handlers' createDispatcher). */
  dispatcher: (engine: Engine) => PacketDispatcher<ClientLink>;
  /** An empty subscription trie (the Nest TopicsModule provides one); new when omitted. */
  subscriptions?: SubscriptionTrie<Session>;
  /** Who holds each client id; this process's connections when omitted (a cluster passes its own). */
  clients?: ClientRegistry;
  /** Messages for other nodes; none when omitted (single node). */
  remote?: RemoteRoute | null;
}

/**
 * The routing core, framework-free, one per Broker: a facade over its units, one concern each
 * (engine/*.ts): Router, Delivery (with RetainedDelivery), Backpressure, CommitGate,
 * SessionLifecycle, the ClientRegistry and BrokerStats. It is the ConnectionHost of every
 * connection; the handlers call it.
 */
export class Engine implements ConnectionHost<ClientLink> {
  readonly limits: LimitsConfig;
  readonly subscriptions: SubscriptionTrie<Session>;
  readonly connections = new Set<ClientLink>();
  readonly stats = new BrokerStats();
  /** Live connected clients by client id. */
  readonly clients: ClientRegistry;
  /** Bounds password verifications (login storms); see auth/auth-gate.ts. */
  readonly authGate: AuthGate<ClientLink>;
  readonly dispatcher: PacketDispatcher<ClientLink>;
  readonly commitGate: CommitGate;
  readonly backpressure: Backpressure;
  readonly delivery: Delivery;
  readonly router: Router;
  readonly lifecycle: SessionLifecycle;
  /** True with a durable store: acknowledgements wait for the group commit. */
  readonly durable: boolean;

  constructor(
    readonly config: BrokerConfig,
    readonly sessions: SessionStore,
    readonly retained: RetainedStore,
    readonly hooks: HookRegistry,
    readonly events: BrokerEmitter,
    options: EngineOptions,
  ) {
    const limits = (this.limits = config.limits);
    this.subscriptions = options.subscriptions ?? new SubscriptionTrie<Session>();
    this.clients = options.clients ?? new LocalClientRegistry();
    this.authGate = new AuthGate<ClientLink>(limits);
    this.commitGate = new CommitGate(sessions, retained, events);
    this.durable = this.commitGate.durable;
    this.backpressure = new Backpressure(limits, this.stats);
    this.delivery = new Delivery(limits, this.stats, sessions, retained, this.backpressure, hooks.deliveryCheck);
    this.router = new Router(limits, this.stats, events, this.subscriptions, retained, this.delivery);
    this.router.remote = options.remote ?? null;
    this.lifecycle = new SessionLifecycle(limits, this.stats, sessions, hooks, this.clients, this.delivery, this.router);
    this.dispatcher = options.dispatcher(this);
  }

  get retainedQuota(): RetainedQuota {
    return this.router.retainedQuota;
  }

  get retainedDelivery(): RetainedDelivery {
    return this.delivery.retainedDelivery;
  }

  /** Payload bytes held in all session queues, reserves included. */
  get queuedBytes(): number {
    return this.delivery.queuedBytes;
  }

  /** Payload bytes queued beyond the sessions' reserves: what counts against max-queued-bytes. */
  get sharedQueuedBytes(): number {
    return this.delivery.sharedQueuedBytes;
  }

  // ---- ConnectionHost ---------------------------------------------------------------------

  scheduleFlush(conn: ClientLink): void {
    this.commitGate.scheduleFlush(conn);
  }

  tryCommit(): boolean {
    return this.commitGate.tryCommit();
  }

  /** Group commit of durable stores; called before any socket write. */
  commitStores(): void {
    this.commitGate.commitStores();
  }

  writeCompleted(conn: ClientLink): void {
    if (conn.retainedJobs !== null || this.backpressure.holdsPublishers(conn)) this.drained(conn);
  }

  /** A client's socket drained: retained messages waiting for room go on, and the publishers it held back. */
  drained(conn: ClientLink): void {
    if (conn.retainedJobs !== null) this.delivery.retainedDelivery.wake(conn);
    this.backpressure.drained(conn);
  }

  connectionClosed(conn: ClientLink, wasConnected: boolean): void {
    this.connections.delete(conn);
    if (conn.authSlot !== AuthSlot.NONE) {
      if (conn.authSlot === AuthSlot.QUEUED) this.stats.authAbandoned++;
      this.authGate.closed(conn);
      // A plugin that never answered must not hold its slot for ever.
      if (conn.closeReason === CloseReason.AuthTimeout) this.authGate.finished(conn);
      conn.authPassword = null;
    }
    if (conn.retainedJobs !== null) this.delivery.retainedDelivery.closed(conn);
    const willPublished = wasConnected && this.lifecycle.connectionClosed(conn);
    // Cluster: a lease taken for a CONNECT that was then refused (or closed first) goes back.
    if (!wasConnected && conn.clusterToken !== null && this.clients.acquire !== undefined) this.clients.release(conn);
    this.backpressure.connectionClosed(conn);
    if (wasConnected && this.events.listenerCount('clientDisconnected') > 0) {
      this.events.emit('clientDisconnected', {
        clientId: conn.clientId,
        username: conn.username,
        remoteAddress: conn.remoteAddress,
        listener: conn.listener,
        reason: conn.closeReason,
        willPublished,
      });
    }
  }

  // ---- broker and handlers ----------------------------------------------------------------

  addConnection(conn: ClientLink): void {
    this.connections.add(conn);
    this.stats.connectionsTotal++;
  }

  /** After the stores loaded their state: retained quota, then sessions (subscriptions, queues, deadlines). */
  restore(): void {
    this.router.retainedQuota.rebuild();
    this.lifecycle.restore();
  }

  /** Removes sessions whose clients stayed away beyond their expiry; returns how many. */
  expireSessions(now = Date.now()): number {
    return this.lifecycle.expireSessions(now);
  }

  /** The broker is stopping: timers of the units stop. */
  stop(): void {
    this.lifecycle.stop();
    this.router.retainedQuota.stop();
  }

  assignClientId(): string {
    return this.lifecycle.assignClientId();
  }

  /**
   * See SessionLifecycle.load: a promise when CONNECT must wait for the session store. In a
   * cluster the client id's lease is taken first (ClusterClientRegistry.acquire), then the session
   * loaded: `conn` (authenticated as `username`) holds its token afterwards unless refused.
   */
  loadSession(clientId: string, conn?: ClientLink, username: string | null = null): Session | undefined | Promise<Session | undefined> {
    const clients = this.clients;
    if (clients.acquire === undefined || conn === undefined) return this.lifecycle.load(clientId);
    return clients.acquire(conn, username).then((owned) => (owned ? this.lifecycle.load(clientId) : undefined));
  }

  /**
   * The username rule: a session belongs to the username that created it; in a cluster the lease
   * record carries it across nodes (no token after loadSession: refused there).
   */
  mayClaimSession(clientId: string, username: string | null, conn?: ClientLink): boolean {
    if (conn !== undefined && this.clients.acquire !== undefined && conn.clusterToken === null) return false;
    return this.lifecycle.mayClaim(clientId, username);
  }

  admitsSession(conn: ClientLink): boolean {
    return this.lifecycle.admits(conn);
  }

  attachSession(conn: ClientLink): { session: Session; present: boolean } {
    return this.lifecycle.attach(conn);
  }

  resumeSession(session: Session, conn: ClientLink): void {
    this.lifecycle.resume(session, conn);
  }

  discardSession(session: Session): void {
    this.lifecycle.discard(session);
  }

  /** Routes a message; false when a retained one was not stored (retained quota). */
  publish(msg: Message, publisher: ClientLink | null): boolean {
    return this.router.publish(msg, publisher);
  }

  deliver(session: Session, msg: Message, qos: QoS, retainFlag: boolean, publisher: ClientLink | null): void {
    this.delivery.deliver(session, msg, qos, retainFlag, publisher);
  }

  pump(session: Session): void {
    this.delivery.pump(session);
  }

  acknowledged(session: Session): void {
    this.delivery.acknowledged(session);
  }

  /**
   * Retained messages matching a new subscription [MQTT-3.3.1-6/8, MQTT-3.8.4-3], queued as a job
   * of the client's connection and sent in slices (engine/retained-delivery.ts); the caller
   * starts them with retainedDelivery.start(conn) once the SUBACK is queued.
   */
  sendRetained(session: Session, filter: string, granted: QoS): void {
    const conn = session.connection as ClientLink | null;
    if (this.retained.size === 0 || conn === null) return;
    this.delivery.retainedDelivery.add(conn, filter, granted);
  }
}
