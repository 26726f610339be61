import { CloseReason } from '../protocol/reason-codes';
import type { ClientLink } from '../connection/link';
import type { RetainedStore, SessionStore } from '../stores/store';
import type { BrokerEmitter, RemoteAckGate } from './ports';

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
  /** Cluster: output held for a bus batch; null on a single node (one null check per turn). */
  private remote: RemoteAckGate | null = null;
  /** Held connections, in turns: heldBatches[i] is the batch heldTurns[i] waits for (ascending). */
  private heldTurns: ClientLink[][] = [];
  private heldBatches: number[] = [];
  /** The latest batch each held connection waits for (output of a later turn is in its buffer too). */
  private readonly heldUntil = new Map<ClientLink, number>();
  /**
   * For a store that numbers its batches (Redis: the next batch leaves while the previous one is
   * still unanswered), the batch each held connection waits for, in step with awaitingCommit.
   */
  private awaitingTicket: number[] = [];

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

  /** Cluster: acknowledgements also wait for the bus batch carrying their messages to other nodes. */
  setRemoteGate(remote: RemoteAckGate): void {
    this.remote = remote;
    remote.onSettled(this.onRemoteSettled);
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    if (this.remote !== null) {
      const batch = this.remote.pendingBatch();
      if (batch !== 0) {
        // A QoS 1/2 message of an unsettled batch left for another node: early output (QoS 0/1
        // deliveries) goes now, the rest (acknowledgements) when Redis accepted the batch.
        const held: ClientLink[] = [];
        for (let i = 0; i < list.length; i++) {
          if (!list[i].flushEarly()) continue;
          held.push(list[i]);
          this.heldUntil.set(list[i], batch);
        }
        if (held.length > 0) {
          this.heldTurns.push(held);
          this.heldBatches.push(batch);
        }
        return;
      }
    }
    this.release(list);
  };

  /** Batches up to `batch` settled: their held output leaves (through the store's gate), or on failure never does. */
  private readonly onRemoteSettled = (batch: number, ok: boolean): void => {
    while (this.heldBatches.length > 0 && this.heldBatches[0] <= batch) {
      this.heldBatches.shift();
      const list = this.heldTurns.shift()!;
      const ready: ClientLink[] = [];
      for (let i = 0; i < list.length; i++) {
        const conn = list[i];
        const until = this.heldUntil.get(conn);
        if (until === undefined || until > batch) continue; // also waits for a later batch
        this.heldUntil.delete(conn);
        ready.push(conn);
      }
      if (ok) this.release(ready);
      // The messages these acknowledgements stand for did not reach the other nodes: close
      // without sending them, the clients re-send (docs/cluster.md "When Redis is down").
      else for (let i = 0; i < ready.length; i++) ready[i].abort(CloseReason.StoreFailure);
    }
  };

  private release(list: ClientLink[]): void {
    if (this.durable && this.commitPending()) {
      // Group commit in progress (a millisecond or so): QoS 0/1 deliveries go now, the rest
      // (acknowledgements first of all) when the store has committed.
      const ticket = this.commitTicket();
      for (let i = 0; i < list.length; i++) {
        if (list[i].flushEarly()) {
          this.awaitingCommit.push(list[i]);
          this.awaitingTicket.push(ticket);
        }
      }
      return;
    }
    if (!this.tryCommit()) {
      // [MQTT-4.8.0-2] the state behind this turn's acknowledgements is not stored: close the
      // connections with output waiting, without sending it; their clients re-send.
      for (let i = 0; i < list.length; i++) list[i].abort(CloseReason.StoreFailure);
      return;
    }
    for (let i = 0; i < list.length; i++) list[i].flush();
  }

  private commitPending(): boolean {
    return (this.sessions.hasPendingChanges ?? false) || (this.retained.hasPendingChanges ?? false);
  }

  /** The batch that holds every change so far (0: the store does not number its batches). */
  private commitTicket(): number {
    return Math.max(this.sessions.commitTicket ?? 0, this.retained.commitTicket ?? 0);
  }

  /**
   * The store committed on its own schedule: held output may leave (or, on failure, must not).
   * `ticket`: the batch answered, for a store that numbers them; only the connections waiting for
   * it (or an earlier one) are released, and one that also waits for a later batch (it has output
   * of a later turn in the same buffer) stays held until that one.
   */
  private readonly onStoresCommitted = (err?: Error, ticket?: number): void => {
    let list = this.awaitingCommit;
    if (list.length === 0) return;
    if (ticket === undefined) {
      this.awaitingCommit = [];
      this.awaitingTicket = [];
    } else {
      const tickets = this.awaitingTicket;
      let n = 0;
      while (n < tickets.length && tickets[n] <= ticket) n++;
      if (n === 0) return;
      this.awaitingCommit = list.slice(n);
      this.awaitingTicket = tickets.slice(n);
      list = list.slice(0, n);
      if (err === undefined) {
        // Output of a later turn sits in the same buffer: it leaves with its own batch. (A
        // connection with a flush pending this turn goes through flushAll, held for the batch
        // now being built.)
        const later = new Set(this.awaitingCommit);
        list = list.filter((c) => !c.flushPending && !later.has(c));
      }
    }
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
