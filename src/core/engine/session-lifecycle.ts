import type { LimitsConfig } from '../config/types';
import type { ClientLink } from '../connection/link';
import { type HookRegistry, isThenable } from '../hooks/registry';
import { clientInfo } from '../hooks/types';
import type { Properties, QoS } from '../protocol/packets';
import { isFailure, type ReasonCode } from '../protocol/reason-codes';
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
 */
export class SessionLifecycle {
  /** Sessions held per username (null: anonymous; undefined: restored, user not known yet). */
  private readonly sessionsByUser = new Map<string | null | undefined, number>();
  private readonly expiry: DeadlineTimer<Session>;
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

  /** Broker stopping: no more expiry (the stores close). */
  stop(): void {
    this.stopped = true;
    this.expiry.clear();
  }

  private scheduleExpiry(session: Session): void {
    const seconds = session.expiryInterval;
    if (seconds <= 0 || this.stopped || session.disconnectedAt <= 0) return;
    this.expiry.schedule(session, session.disconnectedAt + seconds * 1000);
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
    return sessions.load === undefined ? undefined : sessions.load(clientId);
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
    this.sessions.attached?.(session);
    conn.session = session;
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
  }

  /** The connection of a CONNECTed client closed: detach (or end) its session, publish its Will. Returns whether a Will was published. */
  connectionClosed(conn: ClientLink): boolean {
    const session = conn.session;
    if (session === null) return false;
    this.clients.release(conn);
    if (session.connection === conn) {
      session.connection = null;
      // v5 [MQTT-3.1.2-23] Session Expiry Interval 0 (CONNECT's, or DISCONNECT's): the session ends now.
      if (session.clean || (conn.v5 !== null && conn.v5.sessionExpiryInterval === 0)) this.discard(session);
      else {
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
    this.publishWill(conn, will.topic, will.payload, will.qos, will.retain, will.properties);
    return true;
  }

  private publishWill(conn: ClientLink, topic: string, payload: Buffer, qos: QoS, retain: boolean, properties: Properties | undefined): void {
    // [MQTT-3.3.5-2] a Will is a client publish: into $SYS it is dropped, like a PUBLISH there.
    if (topic.startsWith('$SYS')) return void this.stats.droppedUnauthorized++;
    const allowed = this.hooks.authorizePublish(clientInfo(conn), topic, qos, retain);
    const go = (verdict: ReasonCode): void => {
      if (isFailure(verdict)) {
        this.stats.droppedUnauthorized++;
        return;
      }
      // [MQTT-3.1.2-16/17] retained only when Will Retain is set.
      this.stats.messagesReceived++;
      const msg = new Message(topic, payload, qos, retain, conn.clientId);
      msg.retainedOwner = conn.username;
      // The Will Properties travel with the Will Message (Will Delay not implemented: docs/mqtt5.md).
      if (properties !== undefined) msg.setV5Properties(properties);
      this.router.publish(msg, null);
    };
    if (!isThenable(allowed)) go(allowed);
    else allowed.then(go, () => undefined);
  }
}
