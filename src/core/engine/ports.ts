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
  forward(msg: Message, publisher: ClientLink | null): void;
}
