import type { QoS } from '../protocol/packets';
import type { InflightMessage, QueuedMessage } from './message';

/**
 * Change notifications from a session to a durable backend (the memory store has none). Generic
 * in the session type so that this file and sessions/session.ts do not import each other:
 * stores/store.ts names the concrete one, `SessionJournal`.
 */
export interface SessionJournalOf<S> {
  subscriptionSet(session: S, filter: string, qos: QoS): void;
  subscriptionDeleted(session: S, filter: string): void;
  inflightSet(session: S, entry: InflightMessage): void;
  inflightDeleted(session: S, packetId: number): void;
  queued(session: S, item: QueuedMessage): void;
  dequeued(session: S, item: QueuedMessage): void;
  incomingQos2Set(session: S, packetId: number): void;
  incomingQos2Deleted(session: S, packetId: number): void;
}
