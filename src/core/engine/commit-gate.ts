import { CloseReason } from '../protocol/reason-codes';
import type { ClientLink } from '../connection/link';
import type { RetainedStore, SessionStore } from '../stores/store';
import type { BrokerEmitter } from './ports';

/**
 * Output batching and the group commit gate. A connection's first send() of an event-loop turn
 * registers it here; on setImmediate every registered connection is flushed, one write each,
 * after the durable stores committed the turn's changes in one transaction: no acknowledgement
 * leaves before the state that justifies it is stored [MQTT-4.8.0-2]. QoS 0/1 deliveries, which
 * depend on no uncommitted state, may leave before a commit that runs on the store's schedule.
 */
export class CommitGate {
  /** True with a durable store: acknowledgements wait for the group commit. */
  readonly durable: boolean;
  private dirty: ClientLink[] = [];
  private flushScheduled = false;
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

  /** Called by a connection on the first write of a turn: flushed together on setImmediate. */
  scheduleFlush(conn: ClientLink): void {
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
