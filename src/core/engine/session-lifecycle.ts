import type { LimitsConfig } from '../config/types';
import type { ClientLink } from '../connection/link';
import { type HookRegistry, isThenable } from '../hooks/registry';
import { type ClientInfo, clientInfo } from '../hooks/types';
import type { WillMessage } from '../protocol/packets';
import { CloseReason, isFailure, type ReasonCode } from '../protocol/reason-codes';
import { Message } from '../sessions/message';
import { DeadlineTimer } from '../sessions/expiry-queue';
import type { Session } from '../sessions/session';
import type { SessionStore } from '../stores/store';
import type { ClientRegistry } from './client-registry';
import type { Delivery } from './delivery';
import type { Router } from './router';
import type { BrokerStats } from './stats';

/**
 * Sessions from CONNECT to their end: who may claim one (owner, max-sessions, per-user counts),
 * attaching it to a connection (taking the client id over through the ClientRegistry), resuming
 * it, detaching it when the connection closes (and the Will), discarding it, and expiry: each
 * detached persistent session has its deadline on one DeadlineTimer (no sweep over all
 * sessions), from its own expiry interval (MQTT 5 sets it per CONNECT; 3.1.1 uses session-expiry).
 *
 * Delayed Wills: a Will that may not be published at the close waits with its session, at most
 * one per session (DelayedWill), until its Will Delay Interval passes (a second DeadlineTimer,
 * no sweep) or the session ends (discard: expiry, Clean Start, admin), whichever comes first
 * v5 [MQTT-3.1.2-8]; a new connection to the session drops it v5 [MQTT-3.1.3-9]. The Will of a
 * connection taken over by one that continues its session waits the same way, without a delay.
 */
export class SessionLifecycle {
  /** Sessions held per username (null: anonymous; undefined: restored, user not known yet). */
  private readonly sessionsByUser = new Map<string | null | undefined, number>();
  private readonly expiry: DeadlineTimer<Session>;
  /** Wills waiting for their delay or the end of their session, by session (at most one each). */
  private readonly delayedWills = new Map<Session, DelayedWill>();
  /** Deadlines of the delayed Wills that have one (a Will waiting for its session's end has none). */
  private readonly willDelays: DeadlineTimer<Session>;
  private clientSeq = 0;
  private stopped = false;

  constructor(
    private readonly limits: LimitsConfig,
    private readonly stats: BrokerStats,
    private readonly sessions: SessionStore,
    private readonly hooks: HookRegistry,
    private readonly clients: ClientRegistry,
    private readonly delivery: Delivery,
    private readonly router: Router,
  ) {
    this.expiry = new DeadlineTimer<Session>(this.onExpired);
    this.willDelays = new DeadlineTimer<Session>(this.onWillsDue);
  }

  /** Wills waiting for their delay or their session's end (admin, $SYS). */
  get delayedWillCount(): number {
    return this.delayedWills.size;
  }

  /** After the stores loaded their state: index the restored sessions' subscriptions, queues and deadlines. */
  restore(): void {
    for (const session of this.sessions.values()) {
      const subs = session.subscriptions;
      if (subs !== null) for (const [filter, qos] of subs) this.router.subscribe(filter, session, qos, true);
      this.delivery.restoredQueue(session);
      // Counted as its last known user (undefined: not known until its client returns).
      this.countSession(session, session.username);
      // An MQTT 5 session keeps the interval its client asked for (restored by the store).
      if (!session.expiryRequested) session.expiryInterval = this.limits.sessionExpiry;
      if (session.connection === null) this.scheduleExpiry(session);
    }
  }

  /** Removes the sessions whose deadline has passed by `now`; returns how many. */
  expireSessions(now = Date.now()): number {
    const before = this.stats.sessionsExpired;
    this.expiry.fire(now);
    return this.stats.sessionsExpired - before;
  }

  /** The deadline of a detached session, or undefined when it does not expire (tests, admin). */
  expiresAt(session: Session): number | undefined {
    return this.expiry.deadlineOf(session);
  }

  /** The deadline of the delayed Will of `session`, if it has one (tests). */
  willDueAt(session: Session): number | undefined {
    return this.willDelays.deadlineOf(session);
  }

  /**
   * Broker stopping: no more expiry (the stores close). Delayed Wills are not kept across a
   * restart, so they are published now rather than lost (as Mosquitto does at shutdown).
   */
  stop(): void {
    this.stopped = true;
    this.expiry.clear();
    this.willDelays.clear();
    for (const session of [...this.delayedWills.keys()]) this.publishDelayedWill(session);
  }

  private scheduleExpiry(session: Session): void {
    const seconds = session.expiryInterval;
    if (seconds <= 0 || this.stopped || session.disconnectedAt <= 0) return;
    this.expiry.schedule(session, session.disconnectedAt + seconds * 1000);
  }

  private readonly onWillsDue = (due: readonly Session[]): void => {
    // v5 [MQTT-3.1.2-8] the Will Delay Interval passed without a new connection to the session.
    for (let i = 0; i < due.length; i++) this.publishDelayedWill(due[i]);
  };

  private publishDelayedWill(session: Session): void {
    const delayed = this.delayedWills.get(session);
    if (delayed === undefined) return;
    this.delayedWills.delete(session);
    this.willDelays.cancel(session);
    // [MQTT-3.1.2-10] published once, then gone.
    this.publishWill(delayed.client, delayed.will);
  }

  /** A new connection to `session` came in time: its delayed Will is never sent v5 [MQTT-3.1.3-9]. */
  private dropDelayedWill(session: Session): void {
    if (this.delayedWills.delete(session)) this.willDelays.cancel(session);
  }

  private readonly onExpired = (due: readonly Session[]): void => {
    let n = 0;
    for (let i = 0; i < due.length; i++) {
      const session = due[i];
      // Still away and still the session of its client id (not replaced meanwhile).
      if (session.connection !== null || this.sessions.get(session.clientId) !== session) continue;
      this.discard(session);
      n++;
    }
    this.stats.sessionsExpired += n;
  };

  assignClientId(): string {
    return `nestmq-${process.pid.toString(36)}-${Date.now().toString(36)}-${(++this.clientSeq).toString(36)}`;
  }

  /**
   * Loads the session of `clientId` into the store's memory when the store needs that
   * (SessionStore.load): undefined when there is nothing to wait for, else what load answered
   * (a promise for a store that fetches sessions asynchronously).
   */
  load(clientId: string): Session | undefined | Promise<Session | undefined> {
    const sessions = this.sessions;
    if (sessions.load === undefined) return undefined;
    const before = sessions.get(clientId);
    const loaded = sessions.load(clientId);
    if (!(loaded instanceof Promise)) return loaded;
    // Once per CONNECT, not per message: a store that reads the session afresh (Redis, clustered)
    // may replace the object this node held; the router must follow.
    return loaded.then((session) => {
      if (session !== before) this.reloaded(before, session);
      return session;
    });
  }

  /**
   * The store replaced `before` (a detached copy held here, or none) with `after`, read at CONNECT
   * (the clustered Redis store: the session may have been changed on another node). The router,
   * the queue accounting, the per-user counts and the expiry follow the new object, as restore()
   * does at start for every session.
   */
  private reloaded(before: Session | undefined, after: Session | undefined): void {
    if (before !== undefined && before.connection === null) {
      this.expiry.cancel(before);
      const subs = before.subscriptions;
      if (subs !== null) for (const filter of subs.keys()) this.router.unsubscribe(filter, before);
      this.delivery.discardedQueue(before);
      this.uncountSession(before);
    }
    if (after !== undefined && after.connection === null) {
      const subs = after.subscriptions;
      if (subs !== null) for (const [filter, qos] of subs) this.router.subscribe(filter, after, qos, true);
      this.delivery.restoredQueue(after);
      this.countSession(after, after.username);
      if (!after.expiryRequested) after.expiryInterval = this.limits.sessionExpiry;
    }
  }

  /**
   * Cluster: a persistent session of a dead node, adopted here (cluster/session-adoption.ts): it
   * becomes one of this node's detached sessions, as restore() makes a stored one at start (routes,
   * queue accounting, per-user count, expiry). A copy this node held is replaced; false (nothing
   * done) when the client is connected here now: that session is the newer one.
   */
  adopt(session: Session): boolean {
    const install = this.sessions.install;
    if (install === undefined) return false;
    const before = this.sessions.get(session.clientId);
    if (before !== undefined && before.connection !== null) return false;
    install.call(this.sessions, session);
    this.reloaded(before, session);
    this.scheduleExpiry(session);
    return true;
  }

  /**
   * May a client authenticated as `username` (null: anonymous) take the session of `clientId`?
   * A session belongs to the username that last attached to it, stored sessions included
   * (SQLite keeps it); anonymous and any named user are different owners. A session whose owner
   * is not known (stored before nestmq recorded owners) goes to the first client that claims it.
   */
  mayClaim(clientId: string, username: string | null): boolean {
    const session = this.sessions.get(clientId);
    if (session === undefined || session.username === undefined) return true;
    return session.username === username;
  }

  /**
   * Whether the CONNECT of `conn` (authenticated: its username is final) may have its session:
   * resuming a stored session always may; a new one must fit max-sessions and, for its username
   * (anonymous clients excepted), max-sessions-per-user. A session this one
   * replaces (same client id) does not count. Refusals are counted; the caller sends CONNACK 0x03.
   */
  admits(conn: ClientLink): boolean {
    const existing = this.sessions.get(conn.clientId);
    if (existing !== undefined && !existing.clean && !conn.cleanSession) return true;
    const limits = this.limits;
    if (limits.maxSessions > 0 && this.sessions.size - (existing !== undefined ? 1 : 0) >= limits.maxSessions) {
      this.stats.refusedSessionLimit++;
      return false;
    }
    // Anonymous clients are not one "user": an anonymous fleet (hbmqtt's default configuration)
    // may be larger than any per-user bound; max-sessions bounds them.
    if (limits.maxSessionsPerUser > 0 && conn.username !== null) {
      const user = conn.username;
      const replaced = existing !== undefined && existing.countedUser === user ? 1 : 0;
      if ((this.sessionsByUser.get(user) ?? 0) - replaced >= limits.maxSessionsPerUser) {
        this.stats.refusedSessionLimit++;
        return false;
      }
    }
    return true;
  }

  private countSession(session: Session, user: string | null | undefined): void {
    session.countedUser = user;
    this.sessionsByUser.set(user, (this.sessionsByUser.get(user) ?? 0) + 1);
  }

  private uncountSession(session: Session): void {
    const user = session.countedUser;
    const n = (this.sessionsByUser.get(user) ?? 0) - 1;
    if (n > 0) this.sessionsByUser.set(user, n);
    else this.sessionsByUser.delete(user);
  }

  /** Session bookkeeping once CONNECT was accepted; returns the session and whether it was present. */
  attach(conn: ClientLink): { session: Session; present: boolean } {
    const clientId = conn.clientId;
    // [MQTT-3.1.4-2] an existing connection with this client id is closed first (its Will fires),
    // and its teardown finishes before the new connection takes the session.
    this.clients.takeOver(conn);

    let session = this.sessions.get(clientId);
    let present = false;
    // 3.1.1: Clean Session both discards a stored session and ends the new one with the connection.
    // MQTT 5 splits them: Clean Start discards v5 [MQTT-3.1.2-4], and a Session Expiry Interval
    // of 0 ends the session with the connection v5 [MQTT-3.1.2-23] (a stored one is still resumed
    // with Clean Start 0 v5 [MQTT-3.1.2-6]; it ends at its close: connectionClosed).
    const v5 = conn.v5;
    const discardStored = conn.cleanSession;
    const endsWithConnection = v5 === null ? conn.cleanSession : v5.sessionExpiryInterval === 0;
    if (discardStored || session === undefined || session.clean) {
      // [MQTT-3.1.2-6] discard any stored session; a clean one ends with the connection.
      if (session !== undefined) this.discard(session);
      session = this.sessions.create(clientId, endsWithConnection);
      this.countSession(session, conn.username);
    } else {
      present = true; // [MQTT-3.2.2-2] even when the session holds no subscription
      this.expiry.cancel(session);
      // v5 [MQTT-3.1.3-9] reconnected within the Will Delay: that Will is not sent (also the Will
      // of a connection this one just took over, 3.1.1 included, as Mosquitto does).
      if (this.delayedWills.size > 0) this.dropDelayedWill(session);
      if (session.countedUser !== conn.username) {
        // Resumed under another username: it counts against that user from now on.
        this.uncountSession(session);
        this.countSession(session, conn.username);
      }
    }
    // 0xFFFFFFFF (v5: never expires) is 0 here, as session-expiry's "never".
    session.expiryInterval = v5 === null ? this.limits.sessionExpiry : v5.sessionExpiryInterval === 0xffffffff ? 0 : v5.sessionExpiryInterval;
    session.expiryRequested = v5 !== null;
    session.connection = conn;
    session.username = conn.username;
    session.clusterToken = conn.clusterToken;
    this.sessions.attached?.(session);
    conn.session = session;
    this.stats.clientsByProtocolLevel[conn.protocolLevel]++;
    this.clients.register(conn);
    if (this.clients.size > this.stats.clientsMaximum) this.stats.clientsMaximum = this.clients.size;
    return { session, present };
  }

  /** Re-send unacknowledged deliveries, then what was queued [MQTT-4.4.0-1, MQTT-4.6.0-1]. */
  resume(session: Session, conn: ClientLink): void {
    this.delivery.resume(session, conn);
  }

  discard(session: Session): void {
    // Identity check: a session may be discarded twice (admin discard, then its connection closes).
    if (this.sessions.get(session.clientId) === session) {
      // What it held for share groups goes back to them first (its memberships go just below).
      if (this.router.shared.size > 0) this.delivery.releaseShared(session, true);
      this.delivery.discardedQueue(session);
      this.uncountSession(session);
    }
    this.expiry.cancel(session);
    const subs = session.subscriptions;
    if (subs !== null) for (const filter of subs.keys()) this.router.unsubscribe(filter, session);
    this.sessions.delete(session);
    // v5 [MQTT-3.1.2-8] [MQTT-4.1.0-2] the session ends: a Will still waiting is published now.
    if (this.delayedWills.size > 0) this.publishDelayedWill(session);
  }

  /**
   * Cluster: a detached copy whose client went on on another node (its writes were fenced by a
   * newer lease token). It leaves this node; a Will waiting with it is dropped, not published:
   * its client reconnected v5 [MQTT-3.1.3-9] (the node it went on to decides about its Will).
   */
  dropStale(session: Session): void {
    if (session.connection !== null) return;
    this.dropDelayedWill(session);
    this.discard(session);
  }

  /** The connection of a CONNECTed client closed: detach (or end) its session, publish its Will. Returns whether a Will was published now. */
  connectionClosed(conn: ClientLink): boolean {
    const session = conn.session;
    if (session === null) return false;
    this.stats.clientsByProtocolLevel[conn.protocolLevel]--;
    this.clients.release(conn);
    let continues = false;
    if (session.connection === conn) {
      session.connection = null;
      // v5 [MQTT-3.1.2-23] Session Expiry Interval 0 (CONNECT's, or DISCONNECT's): the session ends now.
      if (session.clean || (conn.v5 !== null && conn.v5.sessionExpiryInterval === 0)) this.discard(session);
      else {
        continues = true;
        // Its share groups' QoS 1 in flight and queued messages go to connected members.
        if (this.router.shared.size > 0) this.delivery.releaseShared(session, false);
        this.sessions.detached(session);
        this.scheduleExpiry(session);
      }
    }
    const will = conn.will;
    if (will === null) return false;
    // [MQTT-3.1.2-8] published on any close but DISCONNECT; [MQTT-3.1.2-10] then deleted.
    conn.will = null;
    if (continues && !this.stopped) {
      // Taken over by a connection with this client id while the session continues: the Will
      // waits for the session's end and is dropped if the newcomer resumes the session (the
      // issue's rule, and Mosquitto's for 3.1.1 and 5 alike: a takeover is a reconnection).
      // A newcomer with Clean Start 1 discards the session, which publishes the Will.
      if (conn.closeReason === CloseReason.Takeover) {
        this.delayWill(session, clientInfo(conn), will, 0);
        return false;
      }
      // v5 [MQTT-3.1.2-8] a Will Delay Interval: published when it passes or the session ends,
      // whichever first. The session's own expiry deadline is the bound: discard publishes it.
      const delay = will.properties?.willDelayInterval ?? 0;
      if (delay > 0 && conn.v5 !== null) {
        this.delayWill(session, clientInfo(conn), will, delay);
        return false;
      }
    }
    this.publishWill(clientInfo(conn), will);
    return true;
  }

  /**
   * Holds `will` until `seconds` pass (0: until the session ends) or the session ends. A delay
   * beyond the session's expiry is cut to it: the session's end comes first anyway (its expiry
   * discards it, which publishes the Will), so no deadline is kept for it.
   */
  private delayWill(session: Session, client: ClientInfo, will: WillMessage, seconds: number): void {
    // A session has one Will at a time: one left by an earlier connection was dropped when this
    // one attached (dropDelayedWill), so nothing is replaced here but in a race of two closes.
    if (this.delayedWills.has(session)) this.publishDelayedWill(session);
    this.delayedWills.set(session, new DelayedWill(client, will));
    this.stats.willsDelayed++;
    const expiry = session.expiryInterval;
    if (seconds > 0 && (expiry === 0 || seconds < expiry)) this.willDelays.schedule(session, Date.now() + seconds * 1000);
  }

  /**
   * Cluster: the Will of a client of a node that died, published by the survivor that claimed its
   * cleanup (cluster/cluster-node.ts), authorized as any Will.
   */
  publishOrphanWill(clientId: string, username: string | null, will: WillMessage): void {
    this.publishWill({ clientId, username, remoteAddress: '', listener: '' }, will);
  }

  private publishWill(client: ClientInfo, will: WillMessage): void {
    const { topic, qos, retain } = will;
    // [MQTT-3.3.5-2] a Will is a client publish: into $SYS it is dropped, like a PUBLISH there.
    if (topic.startsWith('$SYS')) return void this.stats.droppedUnauthorized++;
    const allowed = this.hooks.authorizePublish(client, topic, qos, retain);
    const go = (verdict: ReasonCode): void => {
      if (isFailure(verdict)) {
        this.stats.droppedUnauthorized++;
        return;
      }
      // [MQTT-3.1.2-16/17] retained only when Will Retain is set.
      this.stats.messagesReceived++;
      const msg = new Message(topic, will.payload, qos, retain, client.clientId);
      msg.retainedOwner = client.username;
      // v5 [MQTT-3.1.3-10] the Will Properties travel with the Will Message, User Properties in order.
      if (will.properties !== undefined) msg.setV5Properties(will.properties);
      this.router.publish(msg, null);
    };
    if (!isThenable(allowed)) go(allowed);
    else allowed.then(go, () => undefined);
  }
}

/** A Will waiting for its delay or its session's end: what publishing it needs once its connection is gone. */
class DelayedWill {
  constructor(
    readonly client: ClientInfo,
    readonly will: WillMessage,
  ) {}
}
