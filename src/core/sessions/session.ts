import type { QoS, RetainHandling } from '../protocol/packets';
import type { SessionJournalOf } from './journal';
import { Fifo } from './fifo';
import { InflightMessage, QueuedMessage } from './message';

/** The connection side a session needs: enough to deliver, without importing the Connection class. */
export interface SessionLink {
  readonly clientId: string;
}

/** Every packet id of a session is in flight: no QoS 1/2 delivery can be numbered. */
export class PacketIdsExhaustedError extends Error {
  constructor(readonly clientId: string) {
    super(`client ${clientId}: all 65535 packet ids are in flight`);
    this.name = 'PacketIdsExhaustedError';
  }
}

/**
 * Server-side session state of one client id [MQTT-3.1.3-2, MQTT-4.1.0-1]: subscriptions, outbound
 * QoS 1/2 messages in flight, messages queued for the client (offline, or beyond the in-flight
 * window), and inbound QoS 2 packet ids awaiting PUBREL.
 *
 * Collections are created on first use so that an idle connection's session costs a few hundred
 * bytes. Every mutation goes through a method here, which tells the store's journal (null for
 * the memory store), so a durable backend sees every change without the engine knowing it.
 */
/**
 * MQTT 5 Subscription Options of one filter besides its QoS, and its Subscription Identifier
 * (Session.subscriptionOptions). Plain data, so that a store can persist it as it is.
 */
export interface SubscriptionOptions {
  /** v5 [MQTT-3.8.3-3] the client's own messages are not sent to it through this filter. */
  noLocal: boolean;
  /** v5 [MQTT-3.3.1-12] RETAIN is forwarded as published. */
  retainAsPublished: boolean;
  /** 0/1/2, as subscribed (it acted at SUBSCRIBE time; kept for completeness). */
  retainHandling: RetainHandling;
  /** The SUBSCRIBE's Subscription Identifier, 1..268435455; 0 for none. */
  subscriptionId: number;
}

export class Session {
  /** filter -> granted QoS, in subscription order. */
  subscriptions: Map<string, QoS> | null = null;
  /**
   * MQTT 5 Subscription Options other than QoS, per filter: only for filters with No Local,
   * Retain As Published or a Subscription Identifier; null while there is none (every 3.1.1
   * session). Changed through setSubscriptionOptions. Durable stores keep it (stores/stored-message.ts).
   */
  subscriptionOptions: Map<string, SubscriptionOptions> | null = null;
  /** Filters in subscriptionOptions with a Subscription Identifier: deliveries look them up only when > 0. */
  subscriptionIdCount = 0;
  /** packet id -> in-flight outbound message; Map order is send order, which resends keep [MQTT-4.6.0-1]. */
  inflight: Map<number, InflightMessage> | null = null;
  queue: Fifo<QueuedMessage> | null = null;
  /** Inbound QoS 2 packet ids received and PUBREC'd, awaiting PUBREL [MQTT-4.3.3-2]. */
  incomingQos2: Set<number> | null = null;
  /** The live connection, or null while a persistent session's client is away. */
  connection: SessionLink | null = null;
  /** Epoch ms of the last disconnect (for expiry of abandoned sessions). */
  disconnectedAt = 0;
  /**
   * Seconds this session outlives its client's disconnect (session-expiry; MQTT 5's Session Expiry
   * Interval per CONNECT); 0: it does not expire.
   */
  expiryInterval = 0;
  /**
   * True when `expiryInterval` is the client's own (MQTT 5 CONNECT/DISCONNECT), which a durable
   * store keeps across a restart; false: it follows limits.session-expiry (3.1.1), re-read at start.
   */
  expiryRequested = false;
  /**
   * Username of the client that last attached, kept while it is away so that read authorization
   * (authorizeDelivery) applies to messages queued for it; undefined when not known (a session
   * restored from a store before its client returns).
   */
  username: string | null | undefined = undefined;
  /** Payload bytes in `queue`: its reserve (max-queued-bytes-per-session) first, then the shared budget. */
  queuedBytes = 0;
  /**
   * Cluster: the fencing token of the client id lease its current (or last) connection holds
   * (docs/cluster.md); a session store in Redis passes it with every write, which Redis refuses
   * once another node took the client id over. Null on a single node.
   */
  clusterToken: string | null = null;
  /** The user this session is counted against for max-sessions-per-user (the username at creation). */
  countedUser: string | null | undefined = undefined;
  private nextPacketId = 1;

  constructor(
    readonly clientId: string,
    /** CleanSession flag of the connection that created it: a clean session ends with its connection [MQTT-3.1.2-6]. */
    public clean: boolean,
    readonly journal: SessionJournalOf<Session> | null = null,
  ) {}

  get subscriptionCount(): number {
    return this.subscriptions === null ? 0 : this.subscriptions.size;
  }

  get inflightCount(): number {
    return this.inflight === null ? 0 : this.inflight.size;
  }

  get queuedCount(): number {
    return this.queue === null ? 0 : this.queue.length;
  }

  setSubscription(filter: string, qos: QoS): void {
    if (this.subscriptions === null) this.subscriptions = new Map();
    this.subscriptions.set(filter, qos);
    this.journal?.subscriptionSet(this, filter, qos);
  }

  deleteSubscription(filter: string): boolean {
    if (this.subscriptions === null || !this.subscriptions.delete(filter)) return false;
    this.setSubscriptionOptions(filter, null);
    this.journal?.subscriptionDeleted(this, filter);
    return true;
  }

  /**
   * The options of `filter` (replacing its previous ones, as a re-SUBSCRIBE does
   * v5 [MQTT-3.8.4-3]); null, or options that are all defaults, removes them.
   */
  setSubscriptionOptions(filter: string, options: SubscriptionOptions | null): void {
    const map = this.subscriptionOptions;
    const old = map?.get(filter);
    if (old !== undefined && old.subscriptionId !== 0) this.subscriptionIdCount--;
    if (options === null || (!options.noLocal && !options.retainAsPublished && options.subscriptionId === 0)) {
      if (old !== undefined) map!.delete(filter);
      return;
    }
    (this.subscriptionOptions ??= new Map()).set(filter, options);
    if (options.subscriptionId !== 0) this.subscriptionIdCount++;
  }

  /**
   * A packet id not in use by any outbound message of this client [MQTT-2.3.1-4]; never 0
   * [MQTT-2.3.1-1]. The caller keeps the in-flight window below 65535 entries (the config caps
   * max-inflight-messages at 65535); should all 65535 ids still be taken, this throws after one
   * lap instead of spinning forever with the whole broker behind it.
   */
  allocatePacketId(): number {
    let id = this.nextPacketId;
    const inflight = this.inflight;
    if (inflight !== null && inflight.has(id)) {
      if (inflight.size >= 65535) throw new PacketIdsExhaustedError(this.clientId);
      // Fewer than 65535 ids are taken, so a free one is found within one lap.
      for (let tries = 1; inflight.has(id) && tries < 65535; tries++) id = id === 65535 ? 1 : id + 1;
    }
    this.nextPacketId = id === 65535 ? 1 : id + 1;
    return id;
  }

  addInflight(entry: InflightMessage): void {
    if (this.inflight === null) this.inflight = new Map();
    this.inflight.set(entry.packetId, entry);
    this.journal?.inflightSet(this, entry);
  }

  updateInflight(entry: InflightMessage): void {
    this.journal?.inflightSet(this, entry);
  }

  deleteInflight(packetId: number): void {
    if (this.inflight !== null && this.inflight.delete(packetId)) this.journal?.inflightDeleted(this, packetId);
  }

  enqueue(item: QueuedMessage): void {
    if (this.queue === null) this.queue = new Fifo();
    this.queue.push(item);
    this.queuedBytes += item.message.size;
    this.journal?.queued(this, item);
  }

  dequeue(): QueuedMessage | undefined {
    if (this.queue === null) return undefined;
    const item = this.queue.shift();
    if (item !== undefined) {
      this.queuedBytes -= item.message.size;
      this.journal?.dequeued(this, item);
    }
    return item;
  }

  addIncomingQos2(packetId: number): void {
    if (this.incomingQos2 === null) this.incomingQos2 = new Set();
    this.incomingQos2.add(packetId);
    this.journal?.incomingQos2Set(this, packetId);
  }

  deleteIncomingQos2(packetId: number): void {
    if (this.incomingQos2 !== null && this.incomingQos2.delete(packetId)) this.journal?.incomingQos2Deleted(this, packetId);
  }

  hasIncomingQos2(packetId: number): boolean {
    return this.incomingQos2 !== null && this.incomingQos2.has(packetId);
  }
}
