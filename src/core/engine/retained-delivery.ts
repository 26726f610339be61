import type { LimitsConfig } from '../config/types';
import { type ClientLink, ConnectionState } from '../connection/link';
import type { QoS } from '../protocol/packets';
import type { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import type { RetainedStore } from '../stores/store';
import type { RetainedCursor } from '../topics/retained-trie';
import { inflightWindow } from './v5-flow';

/** Where retained copies go: Delivery.deliver (the same path, limits and checks as any message). */
export interface RetainedSink {
  deliver(session: Session, msg: Message, qos: QoS, retainFlag: boolean, publisher: ClientLink | null): void;
}

/**
 * Retained messages for new subscriptions [MQTT-3.3.1-6, MQTT-3.8.4-3], sent in bounded slices.
 *
 * Sending them all at once let one SUBSCRIBE hold the event loop for seconds: with 1,000 retained
 * messages a 1 MiB packet repeating `#` asked for 262 million deliveries. So each subscription
 * that matches retained messages becomes a job (its filter, the granted QoS and a cursor over the
 * retained trie), and a connection's jobs run one after the other:
 *
 *   - at most SLICE_MESSAGES deliveries and SLICE_STEPS trie nodes per connection per event-loop
 *     turn; the first slice runs right after the SUBACK, so a subscription with few retained
 *     messages gets them in the same write as before;
 *   - a job stops while the client's socket is behind (more than a quarter of max-write-buffer
 *     buffered), while its in-flight window is full or its queue holds anything: retained copies
 *     never fill the session queue; it resumes on socket drain or acknowledgement;
 *   - one job per filter: subscribing again to a filter whose retained messages are still being
 *     sent restarts that job (the spec wants them all again) instead of adding a second copy. A
 *     connection thus holds at most max-subscriptions jobs, and an attacker repeating SUBSCRIBE
 *     gets at most one slice per packet, and only as fast as it reads;
 *   - UNSUBSCRIBE ends the filter's job; when the connection closes, a persistent session gets
 *     what remains in its offline queue (within its limits), a clean one drops it.
 *
 * Messages published after the SUBSCRIBE may reach the client before retained messages of other
 * topics still waiting in a job (as with EMQX's retainer). A message is read from the trie when
 * the cursor reaches it, so a topic retained anew meanwhile is sent as it is now.
 */

/** Deliveries per connection per event-loop turn. */
const SLICE_MESSAGES = 100;
/** Trie nodes visited per connection per event-loop turn (a `+` may pass many non-matching ones). */
const SLICE_STEPS = 2000;

/** One subscription's retained messages still to send. */
class RetainedJob {
  /** Opened when the job starts (so a queued job holds no walk state). */
  cursor: RetainedCursor<Message> | null = null;

  constructor(public qos: QoS) {}
}

/** A connection's jobs, in subscription order (Map order); the first one runs. */
export class RetainedJobs {
  readonly jobs = new Map<string, RetainedJob>();
  /** In the delivery's run list (runs on the next turn); false while blocked or finished. */
  listed = false;

  constructor(readonly conn: ClientLink) {}
}

const enum SliceEnd {
  /** Every job finished (or the connection is gone). */
  DONE,
  /** The budget of this turn is used up: run again on the next turn. */
  MORE,
  /** Waiting for the client (socket drain, acknowledgement). */
  BLOCKED,
}

/** Who removes a retained message found expired (the retained quota, which owns the store's accounting). */
export interface RetainedExpiry {
  expire(msg: Message): void;
}

export class RetainedDelivery {
  /** Removes expired retained messages met on a walk; set by the Router (null: skipped only). */
  expiry: RetainedExpiry | null = null;
  /** Connections whose jobs run on the next turn. */
  private runList: RetainedJobs[] = [];
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly sink: RetainedSink,
    private readonly retained: RetainedStore,
    private readonly limits: LimitsConfig,
  ) {}

  /** Adds (or restarts) the job of `filter` for the session's live connection. */
  add(conn: ClientLink, filter: string, granted: QoS): void {
    let jobs = conn.retainedJobs as RetainedJobs | null;
    if (jobs === null) conn.retainedJobs = jobs = new RetainedJobs(conn);
    const job = jobs.jobs.get(filter);
    if (job === undefined) jobs.jobs.set(filter, new RetainedJob(granted));
    else {
      // [MQTT-3.8.4-3] a re-subscribe gets every retained message again: start over, one copy.
      job.qos = granted;
      job.cursor = null;
    }
  }

  /** Runs one slice now (after a SUBACK), and schedules the rest. */
  start(conn: ClientLink): void {
    const jobs = conn.retainedJobs as RetainedJobs | null;
    if (jobs === null || jobs.listed) return;
    const end = this.slice(jobs);
    if (end === SliceEnd.MORE) this.list(jobs);
  }

  /** The client read or acknowledged something: a blocked connection may go on. */
  wake(conn: ClientLink): void {
    const jobs = conn.retainedJobs as RetainedJobs | null;
    if (jobs !== null && !jobs.listed) this.list(jobs);
  }

  /** UNSUBSCRIBE: the filter's retained messages are no longer wanted. */
  cancel(conn: ClientLink, filter: string): void {
    const jobs = conn.retainedJobs as RetainedJobs | null;
    if (jobs !== null) jobs.jobs.delete(filter);
  }

  /**
   * The connection closed. A persistent session gets the rest in its offline queue (QoS 1/2, or
   * QoS 0 with queue-qos0-messages), until the queue is full; a clean session ends with it.
   */
  closed(conn: ClientLink): void {
    const jobs = conn.retainedJobs as RetainedJobs | null;
    if (jobs === null) return;
    conn.retainedJobs = null;
    const session = conn.session;
    if (session === null || session.clean) return;
    const limits = this.limits;
    // Bounded like a slice, only larger: a close must not stall the loop either.
    let steps = limits.maxQueuedMessages * 4 + SLICE_STEPS;
    for (const [filter, job] of jobs.jobs) {
      if (job.qos === 0 && !limits.queueQos0Messages) continue;
      const cursor = job.cursor ?? this.retained.cursor(filter);
      while (steps > 0 && session.queuedCount < limits.maxQueuedMessages) {
        const before = cursor.visited;
        const msg = cursor.next(steps);
        steps -= cursor.visited - before + 1;
        if (msg === undefined) break; // done, or out of steps
        if (msg.expiresAt !== 0 && this.expired(msg)) continue;
        this.sink.deliver(session, msg, (msg.qos < job.qos ? msg.qos : job.qos) as QoS, true, null);
      }
    }
  }

  /**
   * v5 [MQTT-3.3.2-5] a retained message whose Message Expiry Interval passed is not sent; it is
   * removed here (lazily) if its timer has not done so yet. One that has not expired is sent with
   * what is left of its interval v5 [MQTT-3.3.2-6] (Message.encodingV5).
   */
  private expired(msg: Message): boolean {
    if (!msg.isExpired(Date.now())) return false;
    this.expiry?.expire(msg);
    return true;
  }

  private list(jobs: RetainedJobs): void {
    jobs.listed = true;
    this.runList.push(jobs);
    if (this.immediate === null) this.immediate = setImmediate(this.runAll);
  }

  private readonly runAll = (): void => {
    this.immediate = null;
    const list = this.runList;
    this.runList = [];
    for (let i = 0; i < list.length; i++) {
      const jobs = list[i];
      jobs.listed = false;
      if (jobs.conn.retainedJobs !== jobs) continue; // closed meanwhile
      if (this.slice(jobs) === SliceEnd.MORE) this.list(jobs);
    }
  };

  /** One turn's worth of deliveries for one connection. */
  private slice(jobs: RetainedJobs): SliceEnd {
    const conn = jobs.conn;
    const session = conn.session;
    if (session === null || conn.state !== ConnectionState.CONNECTED) return SliceEnd.DONE;
    const softWriteLimit = this.limits.maxWriteBuffer >> 2;
    const maxInflight = inflightWindow(this.limits, conn); // v5 [MQTT-3.3.4-9] the client's Receive Maximum
    let sent = 0;
    let steps = SLICE_STEPS;
    for (const [filter, job] of jobs.jobs) {
      let cursor = job.cursor;
      if (cursor === null) cursor = job.cursor = this.retained.cursor(filter);
      for (;;) {
        // Checked before each delivery: deliver() may close the connection, and an earlier
        // delivery may have filled the window or the socket.
        if (conn.state !== ConnectionState.CONNECTED) return SliceEnd.DONE;
        if (conn.bufferedBytes > softWriteLimit || session.queuedCount > 0 || (job.qos > 0 && session.inflightCount >= maxInflight)) {
          return SliceEnd.BLOCKED;
        }
        if (sent >= SLICE_MESSAGES || steps <= 0) return SliceEnd.MORE;
        const before = cursor.visited;
        const msg = cursor.next(steps);
        steps -= cursor.visited - before + 1;
        if (msg === undefined) {
          if (!cursor.done) return SliceEnd.MORE; // the step budget ran out inside the walk
          break;
        }
        if (msg.expiresAt !== 0 && this.expired(msg)) continue;
        sent++;
        this.sink.deliver(session, msg, (msg.qos < job.qos ? msg.qos : job.qos) as QoS, true, null);
      }
      jobs.jobs.delete(filter);
    }
    if (conn.retainedJobs === jobs) conn.retainedJobs = null;
    return SliceEnd.DONE;
  }
}
