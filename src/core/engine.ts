import { EventEmitter } from 'node:events';
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
}

export type BrokerEmitter = EventEmitter<BrokerEvents>;

/**
 * The routing core: sessions, subscriptions, retained messages and delivery. Framework-free;
 * handlers and connections call into it. One instance per Broker.
 */
export class Engine {
  readonly limits: LimitsConfig;
  readonly subscriptions = new SubscriptionTrie<Session>();
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

  constructor(
    readonly config: BrokerConfig,
    readonly sessions: SessionStore,
    readonly retained: RetainedStore,
    readonly hooks: HookRegistry,
    readonly events: BrokerEmitter,
  ) {
    this.limits = config.limits;
    this.durable = sessions.durable || retained.durable;
    sessions.onCommit?.(this.onStoresCommitted);
    if (retained !== (sessions as unknown)) retained.onCommit?.(this.onStoresCommitted);
    this.softWriteLimit = config.limits.maxWriteBuffer >> 2;
    this.canRead = hooks.deliveryCheck;
    this.retainedQuota = new RetainedQuota(retained, config.limits, this.onRetainedRefused);
  }

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
      if (session.queue !== null) for (const item of session.queue) this.queuedBytes += item.message.payload.length;
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
    } else if (session === undefined || session.clean) {
      if (session !== undefined) this.discardSession(session);
      session = this.sessions.create(clientId, false);
    } else {
      present = true; // [MQTT-3.2.2-2] even when the session holds no subscription
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
    if (inflight !== null) {
      for (const entry of inflight.values()) {
        if (entry.state === OutboundState.AWAIT_ACK) {
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
    if (session.queue !== null) for (const item of session.queue) this.queuedBytes -= item.message.payload.length;
    const subs = session.subscriptions;
    if (subs !== null) for (const filter of subs.keys()) this.subscriptions.remove(filter, session);
    this.sessions.delete(session);
  }

  connectionClosed(conn: Connection, wasConnected: boolean): void {
    this.connections.delete(conn);
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
      if (session.queuedCount >= this.limits.maxQueuedMessages || this.queuedBytes >= this.limits.maxQueuedBytes) {
        if (qos === 0) {
          this.stats.droppedQueueFull++;
          return;
        }
        if (session.queuedCount >= 2 * this.limits.maxQueuedMessages) {
          // Nobody to pause (the client publishes to itself, or retained copies on re-subscribe)
          // and it still does not acknowledge: close it. A persistent session keeps its queue
          // (with the offline limits from here on); a clean one ends, as its client chose.
          this.stats.closedQueueOverflow++;
          conn.close('queue-overflow');
          if (this.sessions.get(session.clientId) === session) this.deliver(session, msg, qos, retainFlag, null);
          return;
        }
        // QoS 1/2 are never dropped for a live client: the publisher is paused instead (TCP
        // backpressure) until this subscriber drains its queue.
        if (publisher !== null) this.throttle(publisher, conn);
      }
      this.enqueue(session, new QueuedMessage(msg, qos, retainFlag));
      return;
    }
    this.transmit(session, conn, msg, qos, retainFlag, publisher);
  }

  private enqueue(session: Session, item: QueuedMessage): void {
    item.message.compact();
    this.queuedBytes += item.message.payload.length;
    session.enqueue(item);
  }

  private dequeue(session: Session): QueuedMessage | undefined {
    const item = session.dequeue();
    if (item !== undefined) this.queuedBytes -= item.message.payload.length;
    return item;
  }

  /**
   * Room in an offline session's queue for `bytes` more: within max-queued-messages and the
   * global max-queued-bytes budget. With queue-full-policy drop-oldest the session's oldest
   * message makes way (counted); with drop-new (default) the new one is refused.
   */
  private makeRoom(session: Session, bytes: number): boolean {
    const limits = this.limits;
    while (session.queuedCount >= limits.maxQueuedMessages || this.queuedBytes + bytes > limits.maxQueuedBytes) {
      if (limits.queueFullPolicy !== 'drop-oldest' || session.queuedCount === 0) return false;
      this.dequeue(session);
      this.stats.droppedQueueFull++;
    }
    return true;
  }

  /** Payload bytes held in all session queues (the max-queued-bytes budget). */
  queuedBytes = 0;

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
    if (conn.throttled !== null && queue.length <= this.limits.maxQueuedMessages >> 1) this.releaseThrottled(conn);
  }

  /** Outbound acknowledgement: frees a window slot, so the queue moves. */
  acknowledged(session: Session): void {
    if (session.queuedCount > 0) this.pump(session);
    const conn = session.connection as Connection | null;
    if (conn !== null && conn.retainedJobs !== null) this.retainedDelivery.wake(conn);
  }

  /**
   * Pause a publisher until `subscriber` catches up. `writeBound`: because the subscriber's socket
   * is behind (released on 'drain', or after the slow-consumer grace period); otherwise because
   * its queue is full (released when the queue is down to half: QoS 1/2 are never dropped for a
   * connected client).
   */
  private throttle(publisher: Connection, subscriber: Connection, writeBound = false): void {
    if (publisher === subscriber || publisher.isPaused(Pause.THROTTLE)) return;
    publisher.pause(Pause.THROTTLE);
    if (subscriber.throttled === null) subscriber.throttled = [publisher];
    else subscriber.throttled.push(publisher);
    if (writeBound && subscriber.throttleTimer === null) {
      subscriber.throttleTimer = setTimeout(onSlowConsumerGrace, SLOW_CONSUMER_GRACE_MS, this, subscriber);
    }
  }

  /** The grace period ran out with the subscriber still behind: it is a slow consumer. */
  slowConsumerGraceOver(subscriber: Connection): void {
    subscriber.throttleTimer = null;
    subscriber.slowConsumer = true;
    const session = subscriber.session;
    if (session === null || session.queuedCount < this.limits.maxQueuedMessages) this.releaseThrottled(subscriber);
  }

  private releaseThrottled(subscriber: Connection): void {
    if (subscriber.throttleTimer !== null) {
      clearTimeout(subscriber.throttleTimer);
      subscriber.throttleTimer = null;
    }
    const list = subscriber.throttled;
    if (list === null) return;
    subscriber.throttled = null;
    for (const publisher of list) publisher.resume(Pause.THROTTLE);
  }

  /** A client's socket drained: it is no slow consumer, and the publishers it held back go on. */
  drained(conn: Connection): void {
    conn.slowConsumer = false;
    if (conn.retainedJobs !== null) this.retainedDelivery.wake(conn);
    if (conn.throttled !== null && (conn.session === null || conn.session.queuedCount <= this.limits.maxQueuedMessages >> 1)) {
      this.releaseThrottled(conn);
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

function onSlowConsumerGrace(engine: Engine, subscriber: Connection): void {
  engine.slowConsumerGraceOver(subscriber);
}

export function clientInfo(conn: Connection): ClientInfo {
  return { clientId: conn.clientId, username: conn.username, remoteAddress: conn.remoteAddress, listener: conn.listener };
}
