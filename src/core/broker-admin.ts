/**
 * What the admin surface may see and change of a running broker, over the engine's stores: the
 * sessions store (connected and offline sessions), the subscription trie and the retained store.
 * Plain functions on snapshots: nothing here runs on the per-packet path, and nothing returned
 * is a live object.
 *
 * The administrator is trusted: a subscription added here is not put to authorizeSubscribe (the
 * client's read ACL still applies to each delivery, as for any subscription), and a retained
 * message deleted here needs no publish permission.
 */
import type { Connection } from './connection/connection';
import type { Engine } from './engine';
import { clientInfo } from './hooks/types';
import type { QoS } from './protocol/packets';
import { Message } from './sessions/message';
import type { Session } from './sessions/session';
import type { Stores } from './stores/store';
import { exceedsTopicLimits } from './topics/topic-limits';
import { isValidTopicFilter } from './topics/topic-validation';
import { isSharedFilter, sharedFilterStart } from './topics/shared-groups';

/** One session, connected or offline, for listings. */
export interface SessionSnapshot {
  clientId: string;
  /** A client is connected to it now. */
  connected: boolean;
  /** Created by a CleanSession=1 connection: it ends with that connection. */
  clean: boolean;
  /** The username that last attached (null: anonymous; undefined: restored, not yet seen). */
  username: string | null | undefined;
  subscriptions: number;
  inflight: number;
  queued: number;
  queuedBytes: number;
  /** Epoch ms of the last disconnect, 0 while connected (or never disconnected). */
  disconnectedAt: number;
  /** Epoch ms when session-expiry removes it if its client stays away; null when it never expires or is connected. */
  expiresAt: number | null;
  /** Protocol level of the connected client (3: MQTT 3.1, 4: 3.1.1, 5: 5.0); null while offline. */
  protocolLevel: number | null;
}

export interface SubscriptionEntry {
  clientId: string;
  filter: string;
  qos: QoS;
}

export interface SessionDetail extends SessionSnapshot {
  subscriptionList: { filter: string; qos: QoS }[];
}

/** One page of retained messages: `next` is the offset of the following page, null at the end. */
export interface RetainedPage {
  items: Message[];
  next: number | null;
}

export type AddSubscriptionResult =
  | { ok: true; created: boolean; retainedQueued: number }
  | { ok: false; reason: 'no-session' | 'invalid-filter' | 'subscription-limit' };

/** Nodes a retained listing may visit per message it returns (bounds a sparse '+' walk). */
const RETAINED_WALK_BUDGET = 1_000_000;

/** `deadline`: when the session expires if its client stays away (the engine's expiry schedule), or undefined. */
export function sessionSnapshot(session: Session, deadline: (s: Session) => number | undefined): SessionSnapshot {
  const conn = session.connection as Connection | null;
  const connected = conn !== null;
  return {
    clientId: session.clientId,
    connected,
    clean: session.clean,
    username: conn !== null ? conn.username : session.username,
    subscriptions: session.subscriptionCount,
    inflight: session.inflightCount,
    queued: session.queuedCount,
    queuedBytes: session.queuedBytes,
    disconnectedAt: connected ? 0 : session.disconnectedAt,
    expiresAt: connected ? null : (deadline(session) ?? null),
    protocolLevel: conn !== null ? conn.protocolLevel : null,
  };
}

export function sessionDetail(session: Session, deadline: (s: Session) => number | undefined): SessionDetail {
  const subs = session.subscriptions;
  return {
    ...sessionSnapshot(session, deadline),
    subscriptionList: subs === null ? [] : [...subs].map(([filter, qos]) => ({ filter, qos })),
  };
}

/**
 * Adds (or replaces, as an identical filter in SUBSCRIBE does [MQTT-3.8.4-3]) a subscription of
 * a session, connected or offline. Checked as a client's own SUBSCRIBE is, except for
 * authorization: the filter's syntax [MQTT-4.7.1-2/3], the topic limits and max-subscriptions.
 * Retained messages matching it follow as for SUBSCRIBE [MQTT-3.3.1-6]: to a connected client in
 * slices, into an offline persistent session's queue within its limits.
 */
export function addSubscription(engine: Engine, stores: Stores, clientId: string, filter: string, qos: QoS): AddSubscriptionResult {
  const session = stores.sessions.get(clientId);
  if (session === undefined) return { ok: false, reason: 'no-session' };
  const limits = engine.limits;
  if ((isSharedFilter(filter) && sharedFilterStart(filter) < 0) || !isValidTopicFilter(filter) || exceedsTopicLimits(limits, filter)) {
    return { ok: false, reason: 'invalid-filter' };
  }
  const created = session.subscriptions?.has(filter) !== true;
  if (created && session.subscriptionCount >= limits.maxSubscriptions) return { ok: false, reason: 'subscription-limit' };
  if (!engine.router.subscribe(filter, session, qos)) return { ok: false, reason: 'subscription-limit' };
  session.setSubscription(filter, qos);
  const conn = session.connection as Connection | null;
  let retainedQueued = 0;
  if (isSharedFilter(filter)) {
    // No retained messages on a shared subscription (v5 section 3.8.4).
    if (conn !== null && conn.isOpen && engine.events.listenerCount('clientSubscribed') > 0) engine.events.emit('clientSubscribed', { ...clientInfo(conn), filter, qos });
  } else if (conn !== null && conn.isOpen) {
    engine.sendRetained(session, filter, qos);
    if (conn.retainedJobs !== null) engine.retainedDelivery.start(conn);
    if (engine.events.listenerCount('clientSubscribed') > 0) engine.events.emit('clientSubscribed', { ...clientInfo(conn), filter, qos });
  } else if (!session.clean && (qos > 0 || limits.queueQos0Messages)) {
    // Bounded as retained-delivery.ts bounds the rest of a slice when a client goes away.
    const cursor = stores.retained.cursor(filter);
    let steps = limits.maxQueuedMessages * 4 + 1000;
    while (steps > 0 && session.queuedCount < limits.maxQueuedMessages) {
      const before = cursor.visited;
      const msg = cursor.next(steps);
      steps -= cursor.visited - before + 1;
      if (msg === undefined) break;
      const queuedBefore = session.queuedCount;
      engine.deliver(session, msg, (msg.qos < qos ? msg.qos : qos) as QoS, true, null);
      if (session.queuedCount > queuedBefore) retainedQueued++;
    }
  }
  return { ok: true, created, retainedQueued };
}

/** Removes a subscription as UNSUBSCRIBE does [MQTT-3.10.4-1]; false when the session or filter is unknown. */
export function removeSubscription(engine: Engine, stores: Stores, clientId: string, filter: string): boolean {
  const session = stores.sessions.get(clientId);
  if (session === undefined || !session.deleteSubscription(filter)) return false;
  engine.router.unsubscribe(filter, session);
  const conn = session.connection as Connection | null;
  if (conn !== null) {
    if (conn.retainedJobs !== null) engine.retainedDelivery.cancel(conn, filter);
    if (engine.events.listenerCount('clientUnsubscribed') > 0) engine.events.emit('clientUnsubscribed', { ...clientInfo(conn), filter });
  }
  return true;
}

/**
 * Retained messages whose topic matches `filter` (with the `$` rule [MQTT-4.7.2-1]), in the
 * trie's order, `offset` skipped and at most `limit` returned. The walk stops at the page's end
 * (no total: counting every match of `#` in a million topics is what paging avoids).
 */
export function retainedPage(stores: Stores, filter: string, offset: number, limit: number): RetainedPage {
  const cursor = stores.retained.cursor(filter);
  const items: Message[] = [];
  let index = 0;
  while (items.length <= limit) {
    const msg = cursor.next(RETAINED_WALK_BUDGET);
    if (msg === undefined) {
      if (cursor.done) break;
      continue;
    }
    if (index++ < offset) continue;
    if (items.length === limit) return { items, next: offset + limit };
    items.push(msg);
  }
  return { items, next: null };
}

/** Deletes a topic's retained message as an empty retained PUBLISH would [MQTT-3.3.1-10], without delivering anything. */
export function deleteRetained(engine: Engine, stores: Stores, topic: string): boolean {
  if (stores.retained.get(topic) === undefined) return false;
  engine.retainedQuota.retain(new Message(topic, Buffer.alloc(0), 0, true, ''));
  return true;
}

/** In-flight, inbound QoS 2 and queued messages over every session (the queue depth the dashboard charts). */
export function sessionTotals(stores: Stores): { inflightOut: number; inflightIn: number; queued: number; queuedBytes: number } {
  let inflightOut = 0;
  let inflightIn = 0;
  let queued = 0;
  let queuedBytes = 0;
  for (const s of stores.sessions.values()) {
    inflightOut += s.inflightCount;
    inflightIn += s.incomingQos2?.size ?? 0;
    queued += s.queuedCount;
    queuedBytes += s.queuedBytes;
  }
  return { inflightOut, inflightIn, queued, queuedBytes };
}
