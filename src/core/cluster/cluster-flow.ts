/**
 * Cross-node flow control (docs/cluster.md "Flow control across nodes"): a slow subscriber on this
 * node slows the publishers on other nodes the way it slows a local publisher, through the same
 * engine Backpressure (pause budget max-publisher-pause, progress, slow consumers, heldTooLong).
 *
 *   Receiving node  every sending node has a stand-in publisher (RemotePublisher) that the engine
 *                   pauses like a client's socket when a subscriber it feeds is over
 *                   max-queued-messages (not when only its socket is behind). Paused: this node stops reading
 *                   its inbox (the stream keeps the rest) and tells that node "busy"; resumed (the
 *                   subscriber drained to half, or the budget ran out): reads on, tells it "clear".
 *   Sending node    a node that said busy has a stand-in subscriber (RemoteSubscriber): a client
 *                   publishing there is paused (Backpressure.throttle, counted) until "clear", so
 *                   it gets no more PUBACKs and the inbox backlog stays bounded by what was in
 *                   flight when the signal arrived.
 *
 * Per message: nothing on a node that no one told busy (one number check in forward()); the
 * receiving side reuses the stand-in of the entry's origin. Signals are sent on transitions only.
 */
import { type ClientLink, Pause } from '../connection/link';
import type { Backpressure } from '../engine/backpressure';

/** What flow control needs of the bus (RedisMessageBus). */
export interface FlowBus {
  pauseReading(): void;
  resumeReading(): void;
  sendFlow(node: string, busy: boolean): void;
}

export interface ClusterFlowStats {
  /** Sending side: client publishers paused because a destination node said busy. */
  clusterFlowPauses: number;
  /** Receiving side: busy signals sent (a local subscriber held another node's messages back). */
  clusterFlowBusySent: number;
  /** Sending side: busy marks dropped as stale (no clear within max-publisher-pause). */
  clusterFlowStale: number;
}

/**
 * Another node as the engine's Backpressure sees a publisher: only `flow`, `remoteNode` and
 * pause/resume/isPaused of Pause.THROTTLE are used on a publisher (engine/backpressure.ts).
 */
class RemotePublisher {
  flow: object | null = null;
  private paused = false;
  constructor(
    readonly remoteNode: string,
    private readonly owner: ClusterFlow,
  ) {}

  isPaused(reason: Pause): boolean {
    return this.paused && (reason & Pause.THROTTLE) !== 0;
  }

  pause(reason: Pause): void {
    if (reason !== Pause.THROTTLE || this.paused) return;
    this.paused = true;
    this.owner.remotePaused(this.remoteNode);
  }

  resume(reason: Pause): void {
    if (reason !== Pause.THROTTLE || !this.paused) return;
    this.paused = false;
    this.owner.remoteResumed(this.remoteNode);
  }
}

/**
 * A destination node that said busy, as the engine's Backpressure sees a subscriber: `flow`, and
 * no session (drained() then releases the publishers it holds as progress).
 */
class RemoteSubscriber {
  flow: object | null = null;
  readonly session = null;
  busy = false;
  /** When the last busy signal came (epoch ms). */
  since = 0;
}

export class ClusterFlow {
  readonly stats: ClusterFlowStats = { clusterFlowPauses: 0, clusterFlowBusySent: 0, clusterFlowStale: 0 };
  /** Destination nodes marked busy now: forward() looks further only when non-zero. */
  busyNodes = 0;
  private readonly publishers = new Map<string, RemotePublisher>();
  private lastPublisher: RemotePublisher | null = null;
  private readonly destinations = new Map<string, RemoteSubscriber>();
  /** Stand-in publishers paused now: the inbox is read while none is. */
  private pausedPublishers = 0;
  /** A busy mark this old is treated as cleared: a receiver pauses no longer than its budget. */
  private readonly staleMs: number;

  constructor(
    private readonly bus: FlowBus,
    private readonly backpressure: Backpressure,
    maxPublisherPauseS: number,
  ) {
    this.staleMs = maxPublisherPauseS * 1000 + 1000;
  }

  // ---- receiving side -------------------------------------------------------------------------

  /** The stand-in publisher for messages from `node` (kept per node; the last one cached). */
  publisherFor(node: string): ClientLink {
    let p = this.lastPublisher;
    if (p === null || p.remoteNode !== node) {
      p = this.publishers.get(node) ?? null;
      if (p === null) {
        p = new RemotePublisher(node, this);
        this.publishers.set(node, p);
      }
      this.lastPublisher = p;
    }
    return p as unknown as ClientLink;
  }

  /** The engine paused `node`'s stand-in: stop reading the inbox, and tell `node` to hold. */
  remotePaused(node: string): void {
    if (this.pausedPublishers++ === 0) this.bus.pauseReading();
    this.stats.clusterFlowBusySent++;
    this.bus.sendFlow(node, true);
  }

  remoteResumed(node: string): void {
    if (--this.pausedPublishers === 0) this.bus.resumeReading();
    this.bus.sendFlow(node, false);
  }

  // ---- sending side ---------------------------------------------------------------------------

  /** A flow signal from `node` (the bus's onFlow). */
  readonly onFlow = (node: string, busy: boolean): void => {
    let d = this.destinations.get(node);
    if (busy) {
      if (d === undefined) {
        d = new RemoteSubscriber();
        this.destinations.set(node, d);
      }
      d.since = Date.now();
      if (!d.busy) {
        d.busy = true;
        this.busyNodes++;
      }
    } else if (d !== undefined && d.busy) this.clear(d);
  };

  private clear(d: RemoteSubscriber): void {
    d.busy = false;
    this.busyNodes--;
    // No session: the publishers it holds go on, as after a subscriber's progress.
    this.backpressure.drained(d as unknown as ClientLink);
  }

  /**
   * `publisher` just sent a message to `nodes[0..count)`: pause it if one of them said busy
   * (within its pause budget, Backpressure.throttle). Only called while busyNodes > 0.
   */
  hold(publisher: ClientLink, nodes: readonly string[], count: number): void {
    if (publisher.isPaused(Pause.THROTTLE)) return;
    for (let i = 0; i < count; i++) {
      const d = this.destinations.get(nodes[i]);
      if (d === undefined || !d.busy) continue;
      if (Date.now() - d.since > this.staleMs) {
        this.stats.clusterFlowStale++;
        this.clear(d);
        continue;
      }
      if (this.backpressure.throttle(publisher, d as unknown as ClientLink)) {
        this.stats.clusterFlowPauses++;
        return;
      }
    }
  }
}
