import type { ClientLink } from '../connection/link';
import { CloseReason } from '../protocol/reason-codes';
import type { RetainedStore, SessionStore } from '../stores/store';
import type { BrokerEmitter } from './ports';

/**
 * Output batching and the group commit gate. A connection's first send() of a batch registers it
 * here; the batch is flushed, one write per connection, after the durable stores committed its
 * changes in one transaction: no acknowledgement leaves before the state that justifies it is
 * stored [MQTT-4.8.0-2]. QoS 0/1 deliveries, which depend on no uncommitted state, may leave
 * before a commit that runs on the store's schedule.
 *
 * When a batch is flushed adapts to the load. In a quiet loop (the previous turn had at most one
 * I/O callback that produced output) the first batch of a turn is flushed at the end of the I/O
 * callback that made it (process.nextTick): a lone message does not wait for the rest of the
 * poll phase and the check phase (most of the latency tail at low rates). Output of any later
 * callback of the same turn, and all output of a turn after a busy one, is flushed together on
 * setImmediate: under load one write per connection per turn, whatever the number of publishers.
 */
export class CommitGate {
  /** True with a durable store: acknowledgements wait for the group commit. */
  readonly durable: boolean;
  private dirty: ClientLink[] = [];
  /** A flush of `dirty` is due (at the end of the callback or of the turn). */
  private flushScheduled = false;
  /** endTurn is scheduled on setImmediate for the current turn. */
  private turnScheduled = false;
  /** Batches started in the current turn (1 in a quiet turn). */
  private batchesThisTurn = 0;
  /** The previous turn was quiet: the next turn's first batch flushes at the end of its callback. */
  private quiet = true;
  /** Connections with output held until the running group commit completes. */
  private awaitingCommit: ClientLink[] = [];

  constructor(
    private readonly sessions: SessionStore,
    private readonly retained: RetainedStore,
    private readonly events: BrokerEmitter,
  ) {
    this.durable = sessions.durable || retained.durable;
    sessions.onCommit?.(this.onStoresCommitted);
    if (retained !== (sessions as unknown)) retained.onCommit?.(this.onStoresCommitted);
  }

  /** Called by a connection on the first write of a batch (see the class comment for when it leaves). */
  scheduleFlush(conn: ClientLink): void {
    this.dirty.push(conn);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.batchesThisTurn++;
    if (this.turnScheduled) return; // a later batch of this turn: flushed by endTurn
    this.turnScheduled = true;
    setImmediate(this.endTurn);
    if (this.quiet) process.nextTick(this.flushAll);
  }

  /** End of the turn (check phase): flush what is left, and judge the load for the next turn. */
  private readonly endTurn = (): void => {
    this.turnScheduled = false;
    this.quiet = this.batchesThisTurn <= 1;
    this.batchesThisTurn = 0;
    if (this.flushScheduled) this.flushAll();
  };

  private readonly flushAll = (): void => {
    if (!this.flushScheduled) return;
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
      for (let i = 0; i < list.length; i++) list[i].abort(CloseReason.StoreFailure);
      return;
    }
    for (let i = 0; i < list.length; i++) list[i].flush();
  };

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
      for (let i = 0; i < list.length; i++) list[i].abort(CloseReason.StoreFailure);
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
}
