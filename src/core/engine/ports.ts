/**
 * What the engine plugs into beyond one process, as interfaces: the seams a cluster backend
 * (Redis) implements. Single-node brokers leave them at their local defaults.
 */
import type { EventEmitter } from 'node:events';
import type { ClientLink } from '../connection/link';
import type { BrokerEvents } from '../hooks/events';
import type { Message } from '../sessions/message';

export type BrokerEmitter = EventEmitter<BrokerEvents>;

/**
 * Messages for subscribers on other nodes. The Router hands every message it routed locally to
 * forward() (retained state already updated); a cluster implementation publishes it to the nodes
 * whose subscriptions match, which route it with their own Router and no RemoteRoute. `null` on
 * a single node: routing costs one null check.
 */
export interface RemoteRoute {
  /**
   * Called before the local deliveries. Shared subscriptions: one node per group is picked
   * cluster-wide; afterwards `localGroups[0..localGroupCount)` are the '$share/...' groups this
   * node was picked for (the router delivers to those local groups only).
   */
  forward(msg: Message, publisher: ClientLink | null): void;
  readonly localGroups: readonly string[];
  readonly localGroupCount: number;
}

/**
 * This node's subscriptions as cluster routes: called once per local subscription added and
 * removed (plain filters and '$share/group/filter' memberships); the cluster reference-counts
 * them. `null` on a single node.
 */
export interface RouteSink {
  addFilter(filter: string): void;
  removeFilter(filter: string): void;
}

/**
 * Cluster: acknowledgements of QoS 1/2 messages that left for other nodes wait until the bus
 * batch carrying them was accepted by the cluster store (CommitGate holds the turn's output, as
 * for a group commit); no promise per message.
 */
export interface RemoteAckGate {
  /** The batch this turn's output must wait for; 0 when every such batch has settled. */
  pendingBatch(): number;
  /** Registers the gate's callback: batch `batch` (and every earlier one) settled, `ok` false when it did not reach the store. */
  onSettled(handler: (batch: number, ok: boolean) => void): void;
}
