import type { LimitsConfig } from '../config/types';
import { type ClientLink, Pause } from '../connection/link';
import type { BrokerStats } from './stats';

/**
 * One connection's part in backpressure, as a subscriber that holds publishers back and as a
 * publisher held back. Made on first need and kept by the connection as its opaque `flow` slot:
 * a connection that never takes part costs one null field, and the per-delivery checks read a
 * field, never a map.
 */
class FlowState {
  // ---- as a subscriber
  /** Publishers paused because of this subscriber's full queue (or socket); resumed as it drains. */
  throttled: ClientLink[] | null = null;
  /** Releases `throttled` after the slow-consumer grace period. */
  throttleTimer: NodeJS.Timeout | null = null;
  /** Still behind after the grace period: QoS 0 to it is dropped rather than slowing publishers. */
  slowConsumer = false;
  /**
   * It held a publisher until that publisher's pause budget ran out; it may pause nobody again
   * until its queue is empty: its backlog is its own (closed at twice the queue).
   */
  heldTooLong = false;
  /** Last time it acknowledged a delivery while messages waited for it, or its socket drained. */
  lastProgressAt = 0;
  // ---- as a publisher
  /**
   * Milliseconds it has been held back (Pause.THROTTLE) in the current throttling episode, by
   * any number of subscribers; at max-publisher-pause it is no longer paused.
   */
  pauseSpent = 0;
  /** When its current THROTTLE pause began (epoch ms). */
  pausedAt = 0;
  /** Last time a subscriber wanted it paused (or its pause ended), epoch ms. */
  lastThrottledAt = 0;
  /** Ends its THROTTLE pause when the pause budget is spent. */
  pauseTimer: NodeJS.Timeout | null = null;
  /** The subscriber whose full queue (or socket) holds it paused now. */
  heldBy: ClientLink | null = null;
}

function flowOf(conn: ClientLink): FlowState {
  return (conn.flow as FlowState | null) ?? (conn.flow = new FlowState());
}

/** How long publishers wait for a subscriber whose socket is behind before it counts as slow. */
const SLOW_CONSUMER_GRACE_MS = 1000;

/**
 * A publisher whose pause budget was spent gets it back after this many budgets' time without
 * any subscriber wanting it paused (a minute at the default max-publisher-pause of 5 s).
 */
const PAUSE_BUDGET_RECOVERY = 12;

/**
 * Publisher throttling (TCP backpressure from a subscriber that falls behind to the publishers
 * feeding it), slow consumers, and each publisher's pause budget (max-publisher-pause).
 */
export class Backpressure {
  /** A publisher's pause budget (max-publisher-pause), across all the subscribers that hold it back. */
  private readonly maxPublisherPauseMs: number;

  constructor(
    private readonly limits: LimitsConfig,
    private readonly stats: BrokerStats,
  ) {
    this.maxPublisherPauseMs = limits.maxPublisherPause * 1000;
  }

  /** Past the grace period with its socket behind: QoS 0 to it is dropped, its publishers go on. */
  isSlowConsumer(conn: ClientLink): boolean {
    const flow = conn.flow as FlowState | null;
    return flow !== null && flow.slowConsumer;
  }

  /** Whether the subscriber holds publishers paused (a write taken whole should release them). */
  holdsPublishers(conn: ClientLink): boolean {
    const flow = conn.flow as FlowState | null;
    return flow !== null && flow.throttled !== null;
  }

  /** The subscriber acknowledged a delivery while a backlog waited: it makes progress. */
  progressed(conn: ClientLink): void {
    flowOf(conn).lastProgressAt = Date.now();
  }

  /**
   * After the subscriber's queue moved (pump): an empty queue lets it use flow control again;
   * a queue down to half releases the publishers it holds, as progress.
   */
  queueMoved(conn: ClientLink, queued: number): void {
    const flow = conn.flow as FlowState | null;
    if (flow === null) return;
    if (queued === 0) flow.heldTooLong = false; // caught up: it may use flow control again
    if (flow.throttled !== null && queued <= this.limits.maxQueuedMessages >> 1) this.releaseThrottled(conn, true);
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
  throttle(publisher: ClientLink, subscriber: ClientLink, writeBound = false): boolean {
    if (publisher === subscriber) return false;
    // Another node's stand-in: pausing it stops this node's whole inbox, worth it for a full
    // QoS 1/2 queue (no acknowledged message dropped), not for a socket briefly behind.
    if (writeBound && publisher.remoteNode !== undefined) return false;
    if (publisher.isPaused(Pause.THROTTLE)) return true;
    const sub = flowOf(subscriber);
    if (sub.heldTooLong) return false;
    const budget = this.maxPublisherPauseMs;
    if (budget <= 0) return false;
    const pub = flowOf(publisher);
    const now = Date.now();
    if (now - pub.lastThrottledAt > budget * PAUSE_BUDGET_RECOVERY) pub.pauseSpent = 0;
    pub.lastThrottledAt = now;
    let allowed = budget - pub.pauseSpent;
    if (allowed <= 0) {
      if (now - sub.lastProgressAt > budget) return false;
      allowed = budget;
    }
    publisher.pause(Pause.THROTTLE);
    pub.pausedAt = now;
    pub.heldBy = subscriber;
    pub.pauseTimer = setTimeout(onPublisherPauseOver, allowed, this, publisher);
    if (sub.throttled === null) sub.throttled = [publisher];
    else sub.throttled.push(publisher);
    if (writeBound && sub.throttleTimer === null) {
      sub.throttleTimer = setTimeout(onSlowConsumerGrace, SLOW_CONSUMER_GRACE_MS, this, subscriber);
    }
    return true;
  }

  /** Resume a throttled publisher, charging the pause to its budget unless `progress` ended it. */
  private resumePublisher(publisher: ClientLink, progress: boolean): void {
    if (!publisher.isPaused(Pause.THROTTLE)) return;
    const pub = flowOf(publisher);
    const now = Date.now();
    if (!progress) pub.pauseSpent += now - pub.pausedAt;
    pub.lastThrottledAt = now;
    pub.heldBy = null;
    if (pub.pauseTimer !== null) {
      clearTimeout(pub.pauseTimer);
      pub.pauseTimer = null;
    }
    publisher.resume(Pause.THROTTLE);
  }

  /** A publisher's pause budget ran out: it goes on, whoever still holds it back. */
  publisherPauseOver(publisher: ClientLink): void {
    const pub = flowOf(publisher);
    pub.pauseTimer = null;
    this.stats.publisherPauseExpired++;
    if (pub.heldBy !== null) flowOf(pub.heldBy).heldTooLong = true;
    // A timer may fire a millisecond early: the budget counts as spent all the same.
    pub.pauseSpent = Math.max(pub.pauseSpent, this.maxPublisherPauseMs - (Date.now() - pub.pausedAt));
    this.resumePublisher(publisher, false);
  }

  /** The grace period ran out with the subscriber still behind: it is a slow consumer. */
  slowConsumerGraceOver(subscriber: ClientLink): void {
    const sub = flowOf(subscriber);
    sub.throttleTimer = null;
    sub.slowConsumer = true;
    const session = subscriber.session;
    if (session === null || session.queuedCount < this.limits.maxQueuedMessages) this.releaseThrottled(subscriber, false);
  }

  /** Resume the publishers `subscriber` holds; `progress`: because it caught up (not charged to them). */
  private releaseThrottled(subscriber: ClientLink, progress: boolean): void {
    const sub = peekFlow(subscriber);
    if (sub === null) return;
    if (sub.throttleTimer !== null) {
      clearTimeout(sub.throttleTimer);
      sub.throttleTimer = null;
    }
    const list = sub.throttled;
    if (list === null) return;
    sub.throttled = null;
    // Only those it still holds: a publisher released by its budget may be held by another now.
    for (const publisher of list) if (flowOf(publisher).heldBy === subscriber) this.resumePublisher(publisher, progress);
  }

  /** A client's socket drained: it is no slow consumer, and the publishers it held back go on. */
  drained(conn: ClientLink): void {
    const flow = conn.flow as FlowState | null;
    if (flow === null) return;
    flow.slowConsumer = false;
    const session = conn.session;
    if (session === null || session.queuedCount === 0) flow.heldTooLong = false;
    if (flow.throttled !== null && (session === null || session.queuedCount <= this.limits.maxQueuedMessages >> 1)) {
      flow.lastProgressAt = Date.now();
      this.releaseThrottled(conn, true);
    }
  }

  /** The connection closed: the publishers it holds go on, and its own pause timer stops. */
  connectionClosed(conn: ClientLink): void {
    const flow = conn.flow as FlowState | null;
    if (flow === null) return;
    this.releaseThrottled(conn, false);
    if (flow.pauseTimer !== null) {
      clearTimeout(flow.pauseTimer);
      flow.pauseTimer = null;
    }
  }
}

function peekFlow(conn: ClientLink): FlowState | null {
  return conn.flow as FlowState | null;
}

function onPublisherPauseOver(backpressure: Backpressure, publisher: ClientLink): void {
  backpressure.publisherPauseOver(publisher);
}

function onSlowConsumerGrace(backpressure: Backpressure, subscriber: ClientLink): void {
  backpressure.slowConsumerGraceOver(subscriber);
}
