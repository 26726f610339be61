import type { LimitsConfig } from '../config/types';
import { type ClientLink, type ClientV5Settings, ConnectionState } from '../connection/link';
import type { SubscriberInfo } from '../hooks/types';
import { encodeAck } from '../protocol/encoder';
import { PacketType, type QoS } from '../protocol/packets';
import { CloseReason } from '../protocol/reason-codes';
import { InflightMessage, type Message, OutboundState, QueuedMessage } from '../sessions/message';
import type { Session, SubscriptionOptions } from '../sessions/session';
import { matchesFilter } from '../topics/topic-match';
import type { RetainedStore, SessionStore } from '../stores/store';
import { hashString, isSharedFilter, type SharedGroup, SharedSubscriptions } from '../topics/shared-groups';
import type { Backpressure } from './backpressure';
import { RetainedDelivery } from './retained-delivery';
import type { BrokerStats } from './stats';
import { exceedsPacketSize, inflightWindow } from './v5-flow';
import { subscriptionIdsFor } from './subscription-ids';
import { outboundAlias } from './topic-aliases';

/** applicableOptions(): Retain As Published applies. */
const SUB_RETAIN_AS_PUBLISHED = 2;

/**
 * The bytes of one delivery: the encoding a message shares among its subscribers (one encoding
 * per message, packet id patched in). MQTT 5 has a per-receiver variant only where a delivery
 * must differ: a Topic Alias (engine/topic-aliases.ts; `aliasCap` is
 * limits.max-outbound-topic-aliases) or Subscription Identifiers (engine/subscription-ids.ts;
 * `group` is the share group the copy was chosen for). Call it only for bytes that are sent.
 */
export function encodingFor(
  link: ClientLink,
  msg: Message,
  qos: QoS,
  retainFlag: boolean,
  packetId: number,
  dup: boolean,
  group: string | null = null,
  aliasCap = 0,
): Buffer {
  // The v5 variant is out of line: this function stays small enough for V8 to inline it into
  // transmit() on the 3.1.1 path (it stopped being inlined when the v5 code sat here).
  if (link.v5 !== null) return encodingForV5(link, link.v5, msg, qos, retainFlag, packetId, dup, group, aliasCap);
  const enc = retainFlag ? msg.retainedEncoding : msg.encoded;
  return qos === 0 ? enc.qos0() : enc.withId(qos, packetId, dup);
}

/** encodingFor() for an MQTT 5 receiver: one encoding per message (per delivery when it expires), RETAIN per receiver. */
function encodingForV5(
  link: ClientLink,
  v5: ClientV5Settings,
  msg: Message,
  qos: QoS,
  retainFlag: boolean,
  packetId: number,
  dup: boolean,
  group: string | null,
  aliasCap: number,
): Buffer {
  const enc = msg.encodingV5(msg.expiresAt === 0 ? 0 : Date.now());
  const session = link.session;
  const ids = session !== null && session.subscriptionIdCount > 0 ? subscriptionIdsFor(session, msg, group) : undefined;
  const alias = v5.topicAliasMaximum === 0 ? 0 : outboundAlias(v5, msg.topic, aliasCap);
  if (alias === 0 && ids === undefined) return qos === 0 ? enc.qos0(retainFlag) : enc.withId(qos, packetId, dup, retainFlag);
  // A new alias goes with its topic; a known one with an empty Topic Name.
  return enc.withIdAndExtras(qos, packetId, dup, retainFlag, alias < 0 ? -alias : alias, alias < 0, ids);
}

/**
 * Delivery of messages to sessions: straight to the socket of a client that keeps up, into its
 * session queue otherwise (offline, in-flight window full, a backlog ahead), within the queue's
 * count and byte budget; queued messages move into the window as acknowledgements free it.
 * Retained messages for new subscriptions go the same way, in slices (RetainedDelivery).
 */
export class Delivery {
  /** Payload bytes held in all session queues, reserves included. */
  queuedBytes = 0;
  /** Payload bytes queued beyond the sessions' reserves: what counts against max-queued-bytes. */
  sharedQueuedBytes = 0;
  /** Retained messages for new subscriptions, sent in bounded slices. */
  readonly retainedDelivery: RetainedDelivery;
  /** A subscriber with more than this buffered slows its publishers down. */
  private readonly softWriteLimit: number;
  /** The `$share/...` groups; which member gets a message is chosen here (deliverShared). */
  readonly shared = new SharedSubscriptions<Session>();

  constructor(
    private readonly limits: LimitsConfig,
    private readonly stats: BrokerStats,
    private readonly sessions: SessionStore,
    retained: RetainedStore,
    private readonly backpressure: Backpressure,
    /** Plugins' per-delivery read check (authorizeDelivery); null when no plugin has one. */
    private readonly canRead: ((client: SubscriberInfo, topic: string) => boolean) | null,
  ) {
    this.softWriteLimit = limits.maxWriteBuffer >> 2;
    this.retainedDelivery = new RetainedDelivery(this, retained, limits);
  }

  /** Deliver one message to one session at the given QoS. */
  deliver(session: Session, msg: Message, qos: QoS, retainFlag: boolean, publisher: ClientLink | null): void {
    // Read authorization per delivery: a wildcard subscriber gets only the topics it may read.
    // A session restored from a store has no known username until its client returns: pump()
    // checks its queued messages then.
    if (!this.mayRead(session, msg)) return;
    const options = session.subscriptionOptions;
    if (options !== null && options.size > 0 && (msg.origin === session.clientId || msg.retain)) {
      const o = applicableOptions(session, options, msg);
      if (o < 0) return;
      // v5 [MQTT-3.3.1-12] Retain As Published: the publisher's RETAIN is kept.
      if ((o & SUB_RETAIN_AS_PUBLISHED) !== 0 && msg.retain) retainFlag = true;
    }
    this.deliverReadable(session, msg, qos, retainFlag, publisher, null);
  }

  private mayRead(session: Session, msg: Message): boolean {
    const canRead = this.canRead;
    return canRead === null || session.username === undefined || canRead(session as SubscriberInfo, msg.topic);
  }

  /**
   * One message to one member of a share group (docs/shared-subscriptions.md): a connected
   * member that may read the topic, chosen by shared-subscription-strategy; only when there is
   * none, an offline persistent member (its queue). At the member's own granted QoS
   * [v5 MQTT-4.8.2-3]. No allocation: the group's arrays and cursor are reused.
   */
  deliverShared(group: SharedGroup<Session>, msg: Message, publisher: ClientLink | null): void {
    const i = this.pickMember(group, msg, null, true);
    if (i < 0) return;
    const g = group.qos[i];
    this.deliverReadable(group.members[i], msg, (g < msg.qos ? g : msg.qos) as QoS, false, publisher, group.key);
  }

  /**
   * Index of the member of `group` to get `msg`, or -1: a connected one if any (by strategy),
   * else, with `offline`, a persistent one whose client is away (in turn). `except` is never chosen.
   */
  private pickMember(group: SharedGroup<Session>, msg: Message, except: Session | null, offline: boolean): number {
    const members = group.members;
    const n = members.length;
    if (n === 0) return -1;
    const strategy = this.limits.sharedSubscriptionStrategy;
    if (strategy === 'sticky') {
      // Rendezvous hashing: the publisher's highest-scoring connected member. It changes only when
      // that member leaves (or a new member outscores it), never because another one came or went.
      const key = hashString(msg.origin);
      let best = -1;
      let bestScore = -1;
      for (let i = 0; i < n; i++) {
        const member = members[i];
        if (member === except || !isConnected(member) || !this.mayRead(member, msg)) continue;
        const score = mix32(key ^ group.seeds[i]);
        if (score > bestScore) {
          bestScore = score;
          best = i;
        }
      }
      if (best >= 0) return best;
    } else {
      const start = strategy === 'random' ? (Math.random() * n) | 0 : group.next % n;
      for (let k = 0; k < n; k++) {
        const i = start + k < n ? start + k : start + k - n;
        const member = members[i];
        if (member === except || !isConnected(member) || !this.mayRead(member, msg)) continue;
        group.next = i + 1;
        return i;
      }
    }
    if (!offline) return -1;
    const start = group.next % n;
    for (let k = 0; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      const member = members[i];
      if (member === except || member.clean || !this.mayRead(member, msg)) continue;
      group.next = i + 1;
      return i;
    }
    return -1;
  }

  /**
   * A member of share groups lost its connection (`ending`: or its session ends): what was meant
   * for a group and not received goes back to the group, to another connected member (a fresh
   * delivery: new packet id, DUP 0), at least once:
   *   - QoS 1 in flight (PUBLISH sent, no PUBACK): redirected at once (v5 section 4.8.2 allows it);
   *   - QoS 2 in flight stays with this member, to be completed when it returns [v5 MQTT-4.8.2-4];
   *     if its session ends first, it goes to no other member [v5 MQTT-4.8.2-5];
   *   - queued (never sent, any QoS): back to the group.
   * With no other connected member, a persistent member keeps them (it is the group's offline
   * member now); an ending session gives them to an offline persistent member if any.
   * Once per disconnect, never per message.
   */
  releaseShared(session: Session, ending: boolean): void {
    const inflight = session.inflight;
    if (inflight !== null) {
      for (const entry of inflight.values()) {
        if (entry.sharedGroup === null || entry.qos !== 1 || entry.state !== OutboundState.AWAIT_ACK) continue;
        // deleting the current entry keeps Map iteration valid
        if (this.handOver(entry.sharedGroup, entry.message, session, ending)) session.deleteInflight(entry.packetId);
      }
    }
    const queue = session.queue;
    if (queue === null || queue.length === 0) return;
    let tagged = false;
    for (const item of queue) {
      if (item.sharedGroup !== null) {
        tagged = true;
        break;
      }
    }
    if (!tagged) return;
    // Every item goes round once: the ones kept return to the tail in their order.
    for (let n = queue.length; n > 0; n--) {
      const item = this.dequeue(session)!;
      if (item.sharedGroup !== null && this.handOver(item.sharedGroup, item.message, session, ending)) continue;
      this.enqueue(session, item);
    }
  }

  private handOver(key: string, msg: Message, from: Session, ending: boolean): boolean {
    const group = this.shared.groups.get(key);
    if (group === undefined) return false;
    const i = this.pickMember(group, msg, from, ending);
    if (i < 0) return false;
    const g = group.qos[i];
    this.stats.sharedRedispatched++;
    this.deliverReadable(group.members[i], msg, (g < msg.qos ? g : msg.qos) as QoS, false, null, key);
    return true;
  }

  /** deliver() once the read check passed; `group`: the share group the session was chosen for. */
  private deliverReadable(session: Session, msg: Message, qos: QoS, retainFlag: boolean, publisher: ClientLink | null, group: string | null): void {
    const conn = session.connection as ClientLink | null;
    if (conn === null || conn.state !== ConnectionState.CONNECTED) return this.queueOffline(session, msg, qos, retainFlag, group);
    // One FIFO per session: while anything waits, new messages wait behind it [MQTT-4.6.0-6].
    // v5 [MQTT-3.3.4-9] [MQTT-4.9.0-1/2] the window is the smaller of max-inflight-messages and the client's Receive Maximum.
    if (session.queuedCount > 0 || (qos > 0 && session.inflightCount >= inflightWindow(this.limits, conn))) {
      const max = this.limits.maxQueuedMessages;
      const bytes = msg.size;
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
        const paused = session.queuedCount < 2 * max && publisher !== null && this.backpressure.throttle(publisher, conn);
        if (!paused && (session.queuedCount >= 2 * max || !this.fitsQueue(session, bytes))) {
          this.stats.closedQueueOverflow++;
          conn.close(CloseReason.QueueOverflow);
          // The session outlives its connection (persistent): the message waits offline.
          if (this.sessions.get(session.clientId) === session) this.queueOffline(session, msg, qos, retainFlag, group);
          return;
        }
      }
      this.enqueue(session, queuedFor(msg, qos, retainFlag, group));
      return;
    }
    this.transmit(session, conn, msg, qos, retainFlag, publisher, group);
  }

  /** [MQTT-3.1.2-5] offline persistent session: QoS 1/2 queued, QoS 0 only if configured. */
  private queueOffline(session: Session, msg: Message, qos: QoS, retainFlag: boolean, group: string | null): void {
    if (qos === 0 && !this.limits.queueQos0Messages) return;
    if (!this.makeRoom(session, msg.size)) {
      this.stats.droppedQueueFull++;
      return;
    }
    this.enqueue(session, queuedFor(msg, qos, retainFlag, group));
  }

  private enqueue(session: Session, item: QueuedMessage): void {
    item.message.compact();
    const before = session.queuedBytes;
    session.enqueue(item);
    this.queuedBytes += item.message.size;
    this.sharedQueuedBytes += this.beyondReserve(session.queuedBytes) - this.beyondReserve(before);
  }

  private dequeue(session: Session): QueuedMessage | undefined {
    const before = session.queuedBytes;
    const item = session.dequeue();
    if (item !== undefined) {
      this.queuedBytes -= item.message.size;
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

  /** A session restored from a store: its queue counts against the byte budgets. */
  restoredQueue(session: Session): void {
    let bytes = 0;
    if (session.queue !== null) for (const item of session.queue) bytes += item.message.size;
    session.queuedBytes = bytes;
    this.queuedBytes += bytes;
    this.sharedQueuedBytes += this.beyondReserve(bytes);
  }

  /** A session is discarded: its queue no longer counts. */
  discardedQueue(session: Session): void {
    this.queuedBytes -= session.queuedBytes;
    this.sharedQueuedBytes -= this.beyondReserve(session.queuedBytes);
  }

  /** Write a delivery to a connected client; QoS 1/2 enter the in-flight window. */
  private transmit(session: Session, conn: ClientLink, msg: Message, qos: QoS, retainFlag: boolean, publisher: ClientLink | null, group: string | null): void {
    const buffered = conn.bufferedBytes;
    if (buffered > this.softWriteLimit) {
      // The subscriber's socket is behind. First slow the publisher down (TCP backpressure), for
      // a grace period; a consumer still behind after it is a slow consumer: its QoS 0 messages
      // are dropped (counted) past max-write-buffer rather than buffered without bound.
      if (publisher !== null && !this.backpressure.isSlowConsumer(conn)) this.backpressure.throttle(publisher, conn, true);
      if (qos === 0 && buffered > this.limits.maxWriteBuffer) {
        this.stats.droppedSlowConsumer++;
        return;
      }
    }
    // v5 [MQTT-3.1.2-25] a PUBLISH larger than the client's Maximum Packet Size is discarded for
    // it as if delivered (never in flight), and counted. The guard repeats the function's own
    // first test on purpose: the 3.1.1 path pays one field read, not a call.
    if (conn.v5 !== null && conn.v5.maximumPacketSize !== 0 && exceedsPacketSize(conn, msg, qos, group)) {
      this.stats.droppedPacketTooLarge++;
      return;
    }
    if (qos === 0) {
      conn.sendEarly(encodingFor(conn, msg, 0, retainFlag, 0, false, group, this.limits.maxOutboundTopicAliases));
    } else {
      // [MQTT-4.3.2-1, MQTT-4.3.3-1] fresh unused id, DUP=0, held until acknowledged.
      msg.compact();
      const id = session.allocatePacketId();
      const entry = new InflightMessage(id, msg, qos, retainFlag, OutboundState.AWAIT_ACK);
      entry.sharedGroup = group;
      session.addInflight(entry);
      const bytes = encodingFor(conn, msg, qos, retainFlag, id, false, group, this.limits.maxOutboundTopicAliases);
      if (qos === 1) conn.sendEarly(bytes);
      else conn.send(bytes); // a QoS 2 delivery must not outrun the commit (exactly once)
    }
    this.stats.messagesSent++;
    this.stats.publishSent++;
  }

  /** Move queued messages into the in-flight window while there is room. */
  pump(session: Session): void {
    const conn = session.connection as ClientLink | null;
    if (conn === null || conn.state !== ConnectionState.CONNECTED) return;
    const queue = session.queue;
    if (queue === null) return;
    const max = inflightWindow(this.limits, conn);
    const canRead = this.canRead;
    while (queue.length > 0) {
      const next = queue.peek()!;
      if (next.qos > 0 && session.inflightCount >= max) break;
      this.dequeue(session);
      // v5 [MQTT-3.3.2-5] a queued copy whose Message Expiry Interval has passed is not sent.
      if (next.message.expiresAt !== 0 && next.message.isExpired(Date.now())) continue;
      // Checked again on the way out: the ACLs may have been reloaded since it was queued.
      if (canRead !== null && !canRead(session as SubscriberInfo, next.message.topic)) continue;
      this.transmit(session, conn, next.message, next.qos, next.retainFlag, null, next.sharedGroup);
    }
    if (conn.flow !== null) this.backpressure.queueMoved(conn, queue.length);
  }

  /** Re-send unacknowledged deliveries, then what was queued [MQTT-4.4.0-1, MQTT-4.6.0-1]. */
  resume(session: Session, conn: ClientLink): void {
    const inflight = session.inflight;
    const canRead = this.canRead;
    if (inflight !== null) {
      // v5 [MQTT-3.3.4-9] re-sent PUBLISHes count against the Receive Maximum of the new connection.
      const window = conn.v5 !== null ? inflightWindow(this.limits, conn) : Infinity;
      let resent = 0;
      for (const entry of inflight.values()) {
        entry.unsent = false;
        if (entry.state === OutboundState.AWAIT_ACK) {
          if (resent >= window) {
            entry.unsent = true; // sent as acknowledgements free the window (resendDeferred)
            conn.v5!.deferredResends = true;
            continue;
          }
          // Read check again, as every path that sends a message: the ACLs may have been
          // reloaded while the client was away. A PUBREL (below) carries no message: it goes.
          if (canRead !== null && !canRead(session as SubscriberInfo, entry.message.topic)) {
            session.deleteInflight(entry.packetId); // deleting the current entry keeps Map iteration valid
            continue;
          }
          // v5 [MQTT-3.1.2-25] the client came back with a smaller Maximum Packet Size: discarded, as if delivered.
          if (exceedsPacketSize(conn, entry.message, entry.qos, entry.sharedGroup)) {
            this.stats.droppedPacketTooLarge++;
            session.deleteInflight(entry.packetId);
            continue;
          }
          // [MQTT-3.3.1-1] a re-sent PUBLISH carries DUP=1 and its original packet id.
          conn.send(encodingFor(conn, entry.message, entry.qos, entry.retainFlag, entry.packetId, true, entry.sharedGroup, this.limits.maxOutboundTopicAliases));
          resent++;
        } else {
          // [MQTT-4.3.3-1] after PUBREC only PUBREL is re-sent, never the PUBLISH.
          conn.send(encodeAck(PacketType.PUBREL, entry.packetId));
        }
        this.stats.publishSent++;
      }
    }
    this.pump(session);
  }

  /**
   * Re-sends in-flight deliveries held back at the resume (a Receive Maximum smaller than what
   * was in flight), in order, while the window has room. A walk over the in-flight window
   * (at most max-inflight-messages), done only while such deliveries wait.
   */
  private resendDeferred(session: Session, conn: ClientLink): void {
    const inflight = session.inflight;
    const v5 = conn.v5!;
    v5.deferredResends = false;
    if (inflight === null) return;
    let outstanding = 0;
    for (const entry of inflight.values()) if (!entry.unsent) outstanding++;
    const window = inflightWindow(this.limits, conn);
    for (const entry of inflight.values()) {
      if (!entry.unsent) continue;
      if (outstanding >= window) {
        v5.deferredResends = true;
        return;
      }
      entry.unsent = false;
      // The same checks as at the resume: read authorization, Maximum Packet Size.
      if ((this.canRead !== null && !this.canRead(session as SubscriberInfo, entry.message.topic)) || exceedsPacketSize(conn, entry.message, entry.qos, entry.sharedGroup)) {
        session.deleteInflight(entry.packetId); // deleting the current entry keeps Map iteration valid
        continue;
      }
      outstanding++;
      conn.send(encodingFor(conn, entry.message, entry.qos, entry.retainFlag, entry.packetId, true, entry.sharedGroup, this.limits.maxOutboundTopicAliases));
      this.stats.publishSent++;
    }
  }

  /** Outbound acknowledgement: frees a window slot, so the queue moves. */
  acknowledged(session: Session): void {
    const conn = session.connection as ClientLink | null;
    if (conn !== null && conn.v5 !== null && conn.v5.deferredResends) this.resendDeferred(session, conn);
    if (session.queuedCount > 0) {
      // Only while a backlog waits (not per message of a client keeping up): it makes progress.
      if (conn !== null) this.backpressure.progressed(conn);
      this.pump(session);
    }
    if (conn !== null && conn.retainedJobs !== null) this.retainedDelivery.wake(conn);
  }
}

/**
 * The MQTT 5 options that apply to `msg` for `session`: -1 when every matching subscription has
 * No Local and the session is the publisher's v5 [MQTT-3.8.3-3]; else SUB_RETAIN_AS_PUBLISHED if
 * one of the delivering subscriptions has it. Walks the session's filters: only for a session
 * with options, on its own messages or retained publishes (not per message of everyone).
 */
function applicableOptions(session: Session, options: Map<string, SubscriptionOptions>, msg: Message): number {
  const own = msg.origin === session.clientId;
  let delivering = false;
  let bits = 0;
  for (const filter of session.subscriptions!.keys()) {
    if (isSharedFilter(filter) || !matchesFilter(filter, msg.topic)) continue;
    const o = options.get(filter);
    if (o === undefined) {
      delivering = true;
      continue;
    }
    if (own && o.noLocal) continue;
    delivering = true;
    if (o.retainAsPublished) bits |= SUB_RETAIN_AS_PUBLISHED;
  }
  return delivering ? bits : -1;
}

function isConnected(session: Session): boolean {
  const conn = session.connection as ClientLink | null;
  return conn !== null && conn.state === ConnectionState.CONNECTED;
}

function queuedFor(msg: Message, qos: QoS, retainFlag: boolean, group: string | null): QueuedMessage {
  const item = new QueuedMessage(msg, qos, retainFlag);
  item.sharedGroup = group;
  return item;
}

/** A 32-bit integer mixer (murmur3's finaliser): rendezvous scores from publisher x member. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
