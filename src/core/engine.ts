import { EventEmitter } from 'node:events';
import { AuthGate, AuthSlot } from './auth/auth-gate';
import type { BrokerConfig, LimitsConfig } from './config/types';
import { Connection, ConnectionState, Pause } from './connection/connection';
import type { BrokerEvents } from './hooks/events';
import type { ClientInfo, SubscriberInfo } from './hooks/plugin';
import type { HookRegistry } from './hooks/registry';
import { encodeAck } from './protocol/encoder';
import { PacketType, type QoS } from './protocol/packets';
import { InflightMessage, Message, OutboundState, QueuedMessage } from './sessions/message';
import { RetainedDelivery } from './sessions/retained-delivery';
import type { Session } from './sessions/session';
import type { RetainedStore, SessionStore } from './stores/store';
import { RetainedQuota } from './topics/retained-quota';
import { MatchResult, SubscriptionTrie } from './topics/subscription-trie';

/** Counters for stats, metrics and $SYS; plain numbers bumped on the packet path. */
export class BrokerStats {
  connectionsTotal = 0;
  connectionsRefused = 0;
  clientsMaximum = 0;
  messagesReceived = 0;
  messagesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** QoS 0 messages not written to a slow consumer. */
  droppedSlowConsumer = 0;
  /** Messages not queued because a session's queue was full. */
  droppedQueueFull = 0;
  /** Publishes refused by authorization (acknowledged and dropped). */
  droppedUnauthorized = 0;
  protocolErrors = 0;
  /** Connections closed because a packet's Remaining Length exceeded max-packet-size. */
  closedPacketTooLarge = 0;
  /** Connections closed because their first packet's Remaining Length exceeded max-connect-packet-size. */
  closedConnectTooLarge = 0;
  /** Sockets closed at accept because their peer address had max-connections-per-address open. */
  refusedAddressLimit = 0;
  /** Sockets closed for sending no CONNECT within connect-timeout. */
  closedConnectTimeout = 0;
  /** Clients closed for silence beyond their keepalive. */
  closedKeepalive = 0;
  /** Connections closed for a topic beyond max-topic-length / max-topic-levels. */
  closedTopicLimit = 0;
  /** Subscriptions refused (SUBACK 0x80) because the client reached max-subscriptions. */
  refusedSubscriptionLimit = 0;
  /** SUBSCRIBE filters beyond max-filters-per-subscribe (SUBACK 0x80). */
  refusedSubscribeFilters = 0;
  /** Retained messages not stored (PUBACK sent, delivered live) at a max-retained-* limit. */
  refusedRetainedQuota = 0;
  /** CONNECTs refused for a client id longer than max-client-id-length. */
  refusedClientIdLength = 0;
  /** Live clients closed because their queue reached twice max-queued-messages with nobody to pause. */
  closedQueueOverflow = 0;
  /** Sessions removed after session-expiry. */
  sessionsExpired = 0;
  /** CONNECTs refused (0x05) for a client id whose session belongs to another username. */
  refusedSessionOwner = 0;
  /** CONNECTs refused (0x03) at max-pending-auth or max-pending-auth-per-address. */
  refusedAuthBusy = 0;
  /** CONNECTs refused (0x05) unverified: their address reached max-auth-failures-per-address. */
  refusedAuthFailures = 0;
  /** Queued verifications dropped unstarted because their socket closed. */
  authAbandoned = 0;
  /**
   * Publishers resumed because their pauses reached max-publisher-pause: from then on the
   * subscribers that held them back pay (queued within their limits, then disconnected).
   */
  publisherPauseExpired = 0;
  /** CONNECTs refused (CONNACK 0x03) because a new session would exceed max-sessions or max-sessions-per-user. */
  refusedSessionLimit = 0;
  /** CONNECTs the authentication plugins refused (CONNACK 0x04 or 0x05). */ authFailures = 0;
}

export type BrokerEmitter = EventEmitter<BrokerEvents>;

/**
 * The routing core: sessions, subscriptions, retained messages and delivery. Framework-free;
 * handlers and connections call into it. One instance per Broker.
 */
export class Engine {
  readonly limits: LimitsConfig;
  readonly subscriptions: SubscriptionTrie<Session>;
  readonly connections = new Set<Connection>();
  readonly stats = new BrokerStats();
  /** Live connected clients by client id. */
  readonly clients = new Map<string, Connection>();
  private readonly match = new MatchResult<Session>();
  /** Retained messages for new subscriptions, sent in bounded slices. */
  readonly retainedDelivery = new RetainedDelivery(this);
  private dirty: Connection[] = [];
  private flushScheduled = false;
  private clientSeq = 0;
  /** Bounds password verifications (login storms); see auth/auth-gate.ts. */
  readonly authGate: AuthGate<Connection>;

  constructor(
    readonly config: BrokerConfig,
    readonly sessions: SessionStore,
    readonly retained: RetainedStore,
    readonly hooks: HookRegistry,
    readonly events: BrokerEmitter,
    subscriptions: SubscriptionTrie<Session> = new SubscriptionTrie<Session>(),
  ) {
    this.subscriptions = subscriptions;
    this.limits = config.limits;
    this.durable = sessions.durable || retained.durable;
    sessions.onCommit?.(this.onStoresCommitted);
    if (retained !== (sessions as unknown)) retained.onCommit?.(this.onStoresCommitted);
    this.softWriteLimit = config.limits.maxWriteBuffer >> 2;
    this.canRead = hooks.deliveryCheck;
    this.authGate = new AuthGate<Connection>(config.limits);
    this.maxPublisherPauseMs = config.limits.maxPublisherPause * 1000;
    this.retainedQuota = new RetainedQuota(retained, config.limits, this.onRetainedRefused);
  }

  /** A publisher's pause budget (max-publisher-pause), across all the subscribers that hold it back. */
  private readonly maxPublisherPauseMs: number;

  /** Count and byte limits on retained storage, global and per username. */
  readonly retainedQuota: RetainedQuota;

  private readonly onRetainedRefused = (msg: Message, limit: string): void => {
    this.stats.refusedRetainedQuota++;
    const quota = this.retainedQuota;
    if (!quota.shouldWarn(Date.now())) return;
    const others = quota.takeUnreported();
    const who = msg.retainedOwner === undefined ? 'the broker' : msg.retainedOwner === null ? 'anonymous clients' : `user ${msg.retainedOwner}`;
    this.events.emit(
      'warning',
      new Error(`retained message on ${msg.topic} from ${who} not stored: ${limit} reached (delivered, not retained)${others > 0 ? `; ${others} more refused since the last warning` : ''}`),
    );
  };

  /** Plugins' per-delivery read check (authorizeDelivery); null when no plugin has one. */
  private readonly canRead: ((client: SubscriberInfo, topic: string) => boolean) | null;

  /** True with a durable store: acknowledgements wait for the group commit. */
  readonly durable: boolean;
  /** A subscriber with more than this buffered slows its publishers down. */
  private readonly softWriteLimit: number;

  // ---- output batching ------------------------------------------------------------------

  /** Called by Connection.send on the first write of a turn: flushed together on setImmediate. */
  scheduleFlush(conn: Connection): void {
    conn.flushPending = true;
    this.dirty.push(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    if (this.durable && this.commitPending()) {
      // Group commit in progress (a millisecond or so): QoS 0/1 deliveries go now, the rest
      // (acknowledgements first of all) when the store has committed.
      for (let i = 0; i < list.length; i++) if (list[i].flushEarly()) this.awaitingCommit.push(list[i]);
      return;
    }
    if (!this.tryCommit()) {
      // [MQTT-4.8.0-2] the state behind this turn's acknowledgements is not stored: close the
      // connections with output waiting, without sending it; their clients re-send.
      for (let i = 0; i < list.length; i++) list[i].abort('store-failure');
      return;
    }
    for (let i = 0; i < list.length; i++) list[i].flush();
  };

  /** Connections with output held until the running group commit completes. */
  private awaitingCommit: Connection[] = [];

  private commitPending(): boolean {
    return (this.sessions.hasPendingChanges ?? false) || (this.retained.hasPendingChanges ?? false);
  }

  /** The store committed on its own schedule: held output may leave (or, on failure, must not). */
  private readonly onStoresCommitted = (err?: Error): void => {
    const list = this.awaitingCommit;
    if (list.length === 0) return;
    this.awaitingCommit = [];
    if (err !== undefined) {
      this.events.emit('warning', new Error(`persistence: commit failed: ${err.message}`));
      for (let i = 0; i < list.length; i++) list[i].abort('store-failure');
      return;
    }
    for (let i = 0; i < list.length; i++) list[i].flush();
  };

  /** Group commit of durable stores; called before any socket write. */
  commitStores(): void {
    if (this.durable) {
      this.sessions.commit?.();
      this.retained.commit?.();
    }
  }

  /** commitStores(), reporting a failure as a warning; false when the state is not stored. */
  tryCommit(): boolean {
    if (!this.durable) return true;
    try {
      this.commitStores();
      return true;
    } catch (err) {
      this.events.emit('warning', new Error(`persistence: commit failed: ${(err as Error).message}`));
      return false;
    }
  }

  /** After the stores loaded their state: index the restored sessions' subscriptions and queues. */
  restore(): void {
    this.retainedQuota.rebuild();
    for (const session of this.sessions.values()) {
      const subs = session.subscriptions;
      if (subs !== null) for (const [filter, qos] of subs) this.subscriptions.add(filter, session, qos);
      let bytes = 0;
      if (session.queue !== null) for (const item of session.queue) bytes += item.message.payload.length;
      session.queuedBytes = bytes;
      this.queuedBytes += bytes;
      this.sharedQueuedBytes += this.beyondReserve(bytes);
      // Counted as its last known user (undefined: not known until its client returns).
      this.countSession(session, session.username);
    }
  }

  /** Removes sessions whose clients stayed away longer than session-expiry; returns how many. */
  expireSessions(now = Date.now()): number {
    const expiry = this.limits.sessionExpiry * 1000;
    if (expiry <= 0) return 0;
    let n = 0;
    for (const session of this.sessions.values()) {
      if (session.connection === null && session.disconnectedAt > 0 && now - session.disconnectedAt >= expiry) {
        this.discardSession(session);
        n++;
      }
    }
    this.stats.sessionsExpired += n;
    return n;
  }

  // ---- connection lifecycle ------------------------------------------------------------

  addConnection(conn: Connection): void {
    this.connections.add(conn);
    this.stats.connectionsTotal++;
  }

  assignClientId(): string {
    return `nestmq-${process.pid.toString(36)}-${Date.now().toString(36)}-${(++this.clientSeq).toString(36)}`;
  }

  /**
   * May a client authenticated as `username` (null: anonymous) take the session of `clientId`?
   * A session belongs to the username that last attached to it, stored sessions included
   * (SQLite keeps it); anonymous and any named user are different owners. A session whose owner
   * is not known (stored before nestmq recorded owners) goes to the first client that claims it.
   */
  mayClaimSession(clientId: string, username: string | null): boolean {
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
  admitsSession(conn: Connection): boolean {
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

  /** Sessions held per username (null: anonymous; undefined: restored, user not known yet). */
  private readonly sessionsByUser = new Map<string | null | undefined, number>();

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
  attachSession(conn: Connection): { session: Session; present: boolean } {
    const clientId = conn.clientId;
    // [MQTT-3.1.4-2] an existing connection with this client id is closed first (its Will fires),
    // and its teardown finishes before the new connection takes the session.
    const previous = this.clients.get(clientId);
    if (previous !== undefined && previous !== conn) previous.close('takeover');

    let session = this.sessions.get(clientId);
    let present = false;
    if (conn.cleanSession) {
      // [MQTT-3.1.2-6] discard any stored session; the new one ends with the connection.
      if (session !== undefined) this.discardSession(session);
      session = this.sessions.create(clientId, true);
      this.countSession(session, conn.username);
    } else if (session === undefined || session.clean) {
      if (session !== undefined) this.discardSession(session);
      session = this.sessions.create(clientId, false);
      this.countSession(session, conn.username);
    } else {
      present = true; // [MQTT-3.2.2-2] even when the session holds no subscription
      if (session.countedUser !== conn.username) {
        // Resumed under another username: it counts against that user from now on.
        this.uncountSession(session);
        this.countSession(session, conn.username);
      }
    }
    session.connection = conn;
    session.username = conn.username;
    this.sessions.attached?.(session);
    conn.session = session;
    this.clients.set(clientId, conn);
    if (this.clients.size > this.stats.clientsMaximum) this.stats.clientsMaximum = this.clients.size;
    return { session, present };
  }

  /** Re-send unacknowledged deliveries, then what was queued [MQTT-4.4.0-1, MQTT-4.6.0-1]. */
  resumeSession(session: Session, conn: Connection): void {
    const inflight = session.inflight;
    const canRead = this.canRead;
    if (inflight !== null) {
      for (const entry of inflight.values()) {
        if (entry.state === OutboundState.AWAIT_ACK) {
          // Read check again, as every path that sends a message: the ACLs may have been
          // reloaded while the client was away. A PUBREL (below) carries no message: it goes.
          if (canRead !== null && !canRead(session as SubscriberInfo, entry.message.topic)) {
            session.deleteInflight(entry.packetId); // deleting the current entry keeps Map iteration valid
            continue;
          }
          // [MQTT-3.3.1-1] a re-sent PUBLISH carries DUP=1 and its original packet id.
          const enc = entry.retainFlag ? entry.message.retainedEncoding : entry.message.encoded;
          conn.send(enc.withId(entry.qos, entry.packetId, true));
        } else {
          // [MQTT-4.3.3-1] after PUBREC only PUBREL is re-sent, never the PUBLISH.
          conn.send(encodeAck(PacketType.PUBREL, entry.packetId));
        }
        this.stats.publishSent++;
      }
    }
    this.pump(session);
  }

  discardSession(session: Session): void {
    // Identity check: a session may be discarded twice (admin discard, then its connection closes).
    if (this.sessions.get(session.clientId) === session) {
      this.queuedBytes -= session.queuedBytes;
      this.sharedQueuedBytes -= this.beyondReserve(session.queuedBytes);
      this.uncountSession(session);
    }
    const subs = session.subscriptions;
    if (subs !== null) for (const filter of subs.keys()) this.subscriptions.remove(filter, session);
    this.sessions.delete(session);
  }

  connectionClosed(conn: Connection, wasConnected: boolean): void {
    this.connections.delete(conn);
    if (conn.authSlot !== AuthSlot.NONE) {
      if (conn.authSlot === AuthSlot.QUEUED) this.stats.authAbandoned++;
      this.authGate.closed(conn);
      // A plugin that never answered must not hold its slot for ever.
      if (conn.closeReason === 'auth-timeout') this.authGate.finished(conn);
      conn.authPassword = null;
    }
    if (conn.retainedJobs !== null) this.retainedDelivery.closed(conn);
    const session = conn.session;
    let willPublished = false;
    if (wasConnected && session !== null) {
      // Guard by identity: after a takeover the map already points at the newcomer.
      if (this.clients.get(conn.clientId) === conn) this.clients.delete(conn.clientId);
      if (session.connection === conn) {
        session.connection = null;
        if (session.clean) this.discardSession(session);
        else this.sessions.detached(session);
      }
      const will = conn.will;
      if (will !== null) {
        // [MQTT-3.1.2-8] published on any close but DISCONNECT; [MQTT-3.1.2-10] then deleted.
        conn.will = null;
        willPublished = true;
        this.publishWill(conn, will.topic, will.payload, will.qos, will.retain);
      }
    }
    this.releaseThrottled(conn);
    if (conn.pauseTimer !== null) {
      clearTimeout(conn.pauseTimer);
      conn.pauseTimer = null;
    }
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

  private publishWill(conn: Connection, topic: string, payload: Buffer, qos: QoS, retain: boolean): void {
    // [MQTT-3.3.5-2] a Will is a client publish: into $SYS it is dropped, like a PUBLISH there.
    if (topic.startsWith('$SYS')) return void this.stats.droppedUnauthorized++;
    const allowed = this.hooks.authorizePublish(clientInfo(conn), topic, qos, retain);
    const go = (ok: boolean): void => {
      if (!ok) {
        this.stats.droppedUnauthorized++;
        return;
      }
      // [MQTT-3.1.2-16/17] retained only when Will Retain is set.
      this.stats.messagesReceived++;
      const msg = new Message(topic, payload, qos, retain, conn.clientId);
      msg.retainedOwner = conn.username;
      this.publish(msg, null);
    };
    if (typeof allowed === 'boolean') go(allowed);
    else allowed.then(go, () => undefined);
  }

  // ---- routing -----------------------------------------------------------------------------

  /**
   * Take ownership of a message: update the retained store, then add it to the session of every
   * client with a matching subscription, offline persistent ones included [MQTT-4.5.0-1].
   * `publisher` (when a client published it) is throttled if a subscriber's queue fills.
   */
  publish(msg: Message, publisher: Connection | null): void {
    if (msg.retain) {
      // [MQTT-3.3.1-10/11] an empty payload deletes the retained message and is never stored;
      // [MQTT-3.3.1-5/7] otherwise the message (with its QoS) replaces the topic's retained one,
      // within the retained limits (refused: still delivered below, see retained-quota.ts).
      if (publisher !== null) msg.retainedOwner = publisher.username;
      this.retainedQuota.retain(msg);
    }
    const match = this.match;
    this.subscriptions.match(msg.topic, match);
    const n = match.length;
    if (n > 0) {
      const subscribers = match.subscribers;
      const granted = match.qos;
      const qos = msg.qos;
      for (let i = 0; i < n; i++) {
        const g = granted[i];
        // [MQTT-3.8.4-6] delivered at min(publish QoS, granted QoS), never upgraded;
        // [MQTT-3.3.5-1] one copy per client at the highest QoS of its matching subscriptions.
        this.deliver(subscribers[i], msg, (g < qos ? g : qos) as QoS, false, publisher);
      }
      match.reset();
    }
    if (this.events.listenerCount('messageReceived') > 0) {
      this.events.emit('messageReceived', { clientId: msg.origin, topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain });
    }
  }

  /** Deliver one message to one session at the given QoS. */
  deliver(session: Session, msg: Message, qos: QoS, retainFlag: boolean, publisher: Connection | null): void {
    // Read authorization per delivery: a wildcard subscriber gets only the topics it may read.
    // A session restored from a store has no known username until its client returns: pump()
    // checks its queued messages then.
    const canRead = this.canRead;
    if (canRead !== null && session.username !== undefined && !canRead(session as SubscriberInfo, msg.topic)) return;
    const conn = session.connection as Connection | null;
    if (conn === null || conn.state !== ConnectionState.CONNECTED) {
      // [MQTT-3.1.2-5] offline persistent session: QoS 1/2 queued, QoS 0 only if configured.
      if (qos === 0 && !this.limits.queueQos0Messages) return;
      if (!this.makeRoom(session, msg.payload.length)) {
        this.stats.droppedQueueFull++;
        return;
      }
      this.enqueue(session, new QueuedMessage(msg, qos, retainFlag));
      return;
    }
    // One FIFO per session: while anything waits, new messages wait behind it [MQTT-4.6.0-6].
    if (session.queuedCount > 0 || (qos > 0 && session.inflightCount >= this.limits.maxInflightMessages)) {
      const max = this.limits.maxQueuedMessages;
      const bytes = msg.payload.length;
      if (session.queuedCount >= max || !this.fitsQueue(session, bytes)) {
        if (qos === 0) {
          this.stats.droppedQueueFull++;
          return;
        }
        // QoS 1/2 are never dropped for a live client. First the publisher is paused (TCP
        // backpressure) until this subscriber drains its queue, but only for max-publisher-pause
        // in all: a publisher with nobody to pause it (it publishes to itself, retained copies on
        // re-subscribe) or whose pause budget is spent does not wait, and this subscriber pays:
        // the message is queued up to twice max-queued-messages within the byte budget, beyond
        // which the subscriber is closed. A persistent session keeps its queue (with the offline
        // limits from here on, drops counted); a clean one ends, as its client chose.
        const paused = session.queuedCount < 2 * max && publisher !== null && this.throttle(publisher, conn);
        if (!paused && (session.queuedCount >= 2 * max || !this.fitsQueue(session, bytes))) {
          this.stats.closedQueueOverflow++;
          conn.close('queue-overflow');
          if (this.sessions.get(session.clientId) === session) this.deliver(session, msg, qos, retainFlag, null);
          return;
        }
      }
      this.enqueue(session, new QueuedMessage(msg, qos, retainFlag));
      return;
    }
    this.transmit(session, conn, msg, qos, retainFlag, publisher);
  }

  private enqueue(session: Session, item: QueuedMessage): void {
    item.message.compact();
    const before = session.queuedBytes;
    session.enqueue(item);
    this.queuedBytes += item.message.payload.length;
    this.sharedQueuedBytes += this.beyondReserve(session.queuedBytes) - this.beyondReserve(before);
  }

  private dequeue(session: Session): QueuedMessage | undefined {
    const before = session.queuedBytes;
    const item = session.dequeue();
    if (item !== undefined) {
      this.queuedBytes -= item.message.payload.length;
      this.sharedQueuedBytes += this.beyondReserve(session.queuedBytes) - this.beyondReserve(before);
    }
    return item;
  }

  /** The part of a session's queued bytes beyond its reserve: what it takes from the shared budget. */
  private beyondReserve(sessionBytes: number): number {
    const reserve = this.limits.maxQueuedBytesPerSession;
    return sessionBytes > reserve ? sessionBytes - reserve : 0;
  }

  /**
   * Whether `bytes` more fit in the session's queue by bytes: within its own reserve
   * (max-queued-bytes-per-session, whatever the other sessions hold), or else within what is
   * left of the shared max-queued-bytes budget. So no party, however many sessions it fills,
   * can make another session lose a message that fits its reserve.
   */
  private fitsQueue(session: Session, bytes: number): boolean {
    const after = session.queuedBytes + bytes;
    const reserve = this.limits.maxQueuedBytesPerSession;
    if (after <= reserve) return true;
    return this.sharedQueuedBytes + this.beyondReserve(after) - this.beyondReserve(session.queuedBytes) <= this.limits.maxQueuedBytes;
  }

  /**
   * Room in an offline session's queue for `bytes` more: within max-queued-messages and the byte
   * budget (fitsQueue). With queue-full-policy drop-oldest the session's oldest message makes
   * way (counted); with drop-new (default) the new one is refused.
   */
  private makeRoom(session: Session, bytes: number): boolean {
    const limits = this.limits;
    while (session.queuedCount >= limits.maxQueuedMessages || !this.fitsQueue(session, bytes)) {
      if (limits.queueFullPolicy !== 'drop-oldest' || session.queuedCount === 0) return false;
      this.dequeue(session);
      this.stats.droppedQueueFull++;
    }
    return true;
  }

  /** Payload bytes held in all session queues, reserves included. */
  queuedBytes = 0;
  /** Payload bytes queued beyond the sessions' reserves: what counts against max-queued-bytes. */
  sharedQueuedBytes = 0;

  /** Write a delivery to a connected client; QoS 1/2 enter the in-flight window. */
  private transmit(session: Session, conn: Connection, msg: Message, qos: QoS, retainFlag: boolean, publisher: Connection | null): void {
    const enc = retainFlag ? msg.retainedEncoding : msg.encoded;
    const buffered = conn.bufferedBytes;
    if (buffered > this.softWriteLimit) {
      // The subscriber's socket is behind. First slow the publisher down (TCP backpressure), for
      // a grace period; a consumer still behind after it is a slow consumer: its QoS 0 messages
      // are dropped (counted) past max-write-buffer rather than buffered without bound.
      if (publisher !== null && !conn.slowConsumer) this.throttle(publisher, conn, true);
      if (qos === 0 && buffered > this.limits.maxWriteBuffer) {
        this.stats.droppedSlowConsumer++;
        return;
      }
    }
    if (qos === 0) {
      conn.sendEarly(enc.qos0());
    } else {
      // [MQTT-4.3.2-1, MQTT-4.3.3-1] fresh unused id, DUP=0, held until acknowledged.
      msg.compact();
      const id = session.allocatePacketId();
      session.addInflight(new InflightMessage(id, msg, qos, retainFlag, OutboundState.AWAIT_ACK));
      const bytes = enc.withId(qos, id, false);
      if (qos === 1) conn.sendEarly(bytes);
      else conn.send(bytes); // a QoS 2 delivery must not outrun the commit (exactly once)
    }
    this.stats.messagesSent++;
    this.stats.publishSent++;
  }

  /** Move queued messages into the in-flight window while there is room. */
  pump(session: Session): void {
    const conn = session.connection as Connection | null;
    if (conn === null || conn.state !== ConnectionState.CONNECTED) return;
    const queue = session.queue;
    if (queue === null) return;
    const max = this.limits.maxInflightMessages;
    const canRead = this.canRead;
    while (queue.length > 0) {
      const next = queue.peek()!;
      if (next.qos > 0 && session.inflightCount >= max) break;
      this.dequeue(session);
      // Checked again on the way out: the ACLs may have been reloaded since it was queued.
      if (canRead !== null && !canRead(session as SubscriberInfo, next.message.topic)) continue;
      this.transmit(session, conn, next.message, next.qos, next.retainFlag, null);
    }
    if (queue.length === 0) conn.heldTooLong = false; // caught up: it may use flow control again
    if (conn.throttled !== null && queue.length <= this.limits.maxQueuedMessages >> 1) this.releaseThrottled(conn, true);
  }

  /** Outbound acknowledgement: frees a window slot, so the queue moves. */
  acknowledged(session: Session): void {
    const conn = session.connection as Connection | null;
    if (session.queuedCount > 0) {
      // Only while a backlog waits (not per message of a client keeping up): it makes progress.
      if (conn !== null) conn.lastProgressAt = Date.now();
      this.pump(session);
    }
    if (conn !== null && conn.retainedJobs !== null) this.retainedDelivery.wake(conn);
  }

  /**
   * Pause a publisher until `subscriber` catches up. `writeBound`: because the subscriber's socket
   * is behind (released on 'drain', or after the slow-consumer grace period); otherwise because
   * its queue is full (released when the queue is down to half). False when the publisher is not
   * paused: it is the subscriber, or its pause budget is spent.
   *
   * The budget (max-publisher-pause) belongs to the publisher, not to each subscriber: ten stuck
   * subscribers in turn hold it no longer than one. Every pause is charged to it but those that
   * end because the subscriber made progress (drained its queue to half, or its socket): that is
   * flow control with a working subscriber, which may slow a publisher to its pace. The budget
   * is spent over a throttling episode, which ends once the publisher has gone
   * PAUSE_BUDGET_RECOVERY budgets without any subscriber wanting it paused. With the budget
   * spent, only a subscriber that made progress within the last budget's time may still pause
   * it (for one budget at most); the others, and any that held a publisher to the end of its
   * budget (heldTooLong), pay: their queues grow to twice max-queued-messages, then they close.
   */
  private throttle(publisher: Connection, subscriber: Connection, writeBound = false): boolean {
    if (publisher === subscriber) return false;
    if (publisher.isPaused(Pause.THROTTLE)) return true;
    if (subscriber.heldTooLong) return false;
    const budget = this.maxPublisherPauseMs;
    if (budget <= 0) return false;
    const now = Date.now();
    if (now - publisher.lastThrottledAt > budget * PAUSE_BUDGET_RECOVERY) publisher.pauseSpent = 0;
    publisher.lastThrottledAt = now;
    let allowed = budget - publisher.pauseSpent;
    if (allowed <= 0) {
      if (now - subscriber.lastProgressAt > budget) return false;
      allowed = budget;
    }
    publisher.pause(Pause.THROTTLE);
    publisher.pausedAt = now;
    publisher.heldBy = subscriber;
    publisher.pauseTimer = setTimeout(onPublisherPauseOver, allowed, this, publisher);
    if (subscriber.throttled === null) subscriber.throttled = [publisher];
    else subscriber.throttled.push(publisher);
    if (writeBound && subscriber.throttleTimer === null) {
      subscriber.throttleTimer = setTimeout(onSlowConsumerGrace, SLOW_CONSUMER_GRACE_MS, this, subscriber);
    }
    return true;
  }

  /** Resume a throttled publisher, charging the pause to its budget unless `progress` ended it. */
  private resumePublisher(publisher: Connection, progress: boolean): void {
    if (!publisher.isPaused(Pause.THROTTLE)) return;
    const now = Date.now();
    if (!progress) publisher.pauseSpent += now - publisher.pausedAt;
    publisher.lastThrottledAt = now;
    publisher.heldBy = null;
    if (publisher.pauseTimer !== null) {
      clearTimeout(publisher.pauseTimer);
      publisher.pauseTimer = null;
    }
    publisher.resume(Pause.THROTTLE);
  }

  /** A publisher's pause budget ran out: it goes on, whoever still holds it back. */
  publisherPauseOver(publisher: Connection): void {
    publisher.pauseTimer = null;
    this.stats.publisherPauseExpired++;
    if (publisher.heldBy !== null) publisher.heldBy.heldTooLong = true;
    // A timer may fire a millisecond early: the budget counts as spent all the same.
    publisher.pauseSpent = Math.max(publisher.pauseSpent, this.maxPublisherPauseMs - (Date.now() - publisher.pausedAt));
    this.resumePublisher(publisher, false);
  }

  /** The grace period ran out with the subscriber still behind: it is a slow consumer. */
  slowConsumerGraceOver(subscriber: Connection): void {
    subscriber.throttleTimer = null;
    subscriber.slowConsumer = true;
    const session = subscriber.session;
    if (session === null || session.queuedCount < this.limits.maxQueuedMessages) this.releaseThrottled(subscriber, false);
  }

  /** Resume the publishers `subscriber` holds; `progress`: because it caught up (not charged to them). */
  private releaseThrottled(subscriber: Connection, progress = false): void {
    if (subscriber.throttleTimer !== null) {
      clearTimeout(subscriber.throttleTimer);
      subscriber.throttleTimer = null;
    }
    const list = subscriber.throttled;
    if (list === null) return;
    subscriber.throttled = null;
    // Only those it still holds: a publisher released by its budget may be held by another now.
    for (const publisher of list) if (publisher.heldBy === subscriber) this.resumePublisher(publisher, progress);
  }

  /** A client's socket drained: it is no slow consumer, and the publishers it held back go on. */
  drained(conn: Connection): void {
    conn.slowConsumer = false;
    if (conn.session === null || conn.session.queuedCount === 0) conn.heldTooLong = false;
    if (conn.retainedJobs !== null) this.retainedDelivery.wake(conn);
    if (conn.throttled !== null && (conn.session === null || conn.session.queuedCount <= this.limits.maxQueuedMessages >> 1)) {
      conn.lastProgressAt = Date.now();
      this.releaseThrottled(conn, true);
    }
  }

  /**
   * Retained messages matching a new subscription [MQTT-3.3.1-6/8, MQTT-3.8.4-3], queued as a job
   * of the client's connection and sent in slices (sessions/retained-delivery.ts); the caller
   * starts them with retainedDelivery.start(conn) once the SUBACK is queued.
   */
  sendRetained(session: Session, filter: string, granted: QoS): void {
    const conn = session.connection as Connection | null;
    if (this.retained.size === 0 || conn === null) return;
    this.retainedDelivery.add(conn, filter, granted);
  }
}

/** How long publishers wait for a subscriber whose socket is behind before it counts as slow. */
const SLOW_CONSUMER_GRACE_MS = 1000;

/**
 * A publisher whose pause budget was spent gets it back after this many budgets' time without
 * any subscriber wanting it paused (a minute at the default max-publisher-pause of 5 s).
 */
const PAUSE_BUDGET_RECOVERY = 12;

function onPublisherPauseOver(engine: Engine, publisher: Connection): void {
  engine.publisherPauseOver(publisher);
}

function onSlowConsumerGrace(engine: Engine, subscriber: Connection): void {
  engine.slowConsumerGraceOver(subscriber);
}

export function clientInfo(conn: Connection): ClientInfo {
  return { clientId: conn.clientId, username: conn.username, remoteAddress: conn.remoteAddress, listener: conn.listener };
}
