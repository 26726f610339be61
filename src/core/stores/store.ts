/**
 * Store interfaces: where broker state lives. The engine works on in-memory objects (Session,
 * Message) through these interfaces; a durable backend (SQLite, later Redis) implements the same
 * interfaces and mirrors every change it is told about through the journal, committing in batches.
 *
 * Mutations are synchronous on purpose: the per-packet path must not await a promise per message.
 * Durability is a separate, batched concern: `flush()` resolves once every change made so far is
 * durable, and the engine waits for it before acknowledging QoS 1/2 publishes when the store
 * says it must (`durable`).
 */
import type { SessionJournalOf } from '../sessions/journal';
import type { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import type { RetainedCursor } from '../topics/retained-trie';

/** Change notifications from a Session to a durable backend. The memory store has none. */
export type SessionJournal = SessionJournalOf<Session>;

export interface StoreLifecycle {
  /** Load existing state (durable backends); called once by Broker.start(). */
  open(): Promise<void>;
  /** Resolves when every change so far is durable (a no-op in memory). */
  flush(): Promise<void>;
  /**
   * Durable backends: make every change so far durable, synchronously. The engine calls it
   * before it writes anything to a socket, so no acknowledgement leaves before the state that
   * justifies it is stored (group commit: one transaction per event-loop turn).
   */
  commit?(): void;
  /** Durable backends that commit on their own schedule: changes are waiting for a commit. */
  readonly hasPendingChanges?: boolean;
  /**
   * Durable backends that number their batches (Redis): the number of the batch holding every
   * change made so far. The engine then releases held output per batch (onCommit's `ticket`).
   */
  readonly commitTicket?: number;
  /**
   * Durable backends: called after each scheduled commit (with the error if it failed, and the
   * number of the batch answered when the store numbers them).
   */
  onCommit?(listener: (err?: Error, ticket?: number) => void): void;
  close(): Promise<void>;
  /** True when acknowledgements must wait for flush(). */
  readonly durable: boolean;
}

export interface SessionStore extends StoreLifecycle {
  readonly size: number;
  /** The session of `clientId` among those in memory (after load, for a store that needs it). */
  get(clientId: string): Session | undefined;
  /**
   * Brings the stored session of `clientId` (if any) into memory, so that `get` finds it; called
   * at CONNECT, once the client is authenticated and before its session is claimed. Optional: a
   * store that holds every session in memory (memory, SQLite) has none and CONNECT stays
   * synchronous. A store that fetches sessions from elsewhere (Redis) answers with a promise: the
   * connection's reading pauses (Pause.SESSION) until it settles, a rejection refuses the client
   * with CONNACK "server unavailable" (3.1.1: 0x03). It may resolve after the client has gone.
   */
  load?(clientId: string): Session | undefined | Promise<Session | undefined>;
  /** Creates and registers a new, empty session (replacing none: delete first). */
  create(clientId: string, clean: boolean): Session;
  delete(session: Session): void;
  /** Records that the client went away (for expiry); the session itself stays. */
  detached(session: Session): void;
  /** Records that a client (with its username, for authorization of queued messages) attached. */
  attached?(session: Session): void;
  /**
   * Cluster: makes `session` (read from the shared store, adopted from a dead node) this node's,
   * replacing any copy held in memory. Only stores shared between nodes (Redis) have it.
   */
  install?(session: Session): void;
  values(): IterableIterator<Session>;
}

export interface RetainedStore extends StoreLifecycle {
  readonly size: number;
  get(topic: string): Message | undefined;
  /** Stores (replaces) the retained message of msg.topic [MQTT-3.3.1-5]. */
  set(msg: Message): void;
  /** Deletes the retained message of a topic [MQTT-3.3.1-10]. */
  delete(topic: string): void;
  /** Appends every retained message whose topic matches the filter, with the `$` rule. */
  match(filter: string, out: Message[]): void;
  /** The same matches as a resumable walk (retained messages are sent in slices). */
  cursor(filter: string): RetainedCursor<Message>;
  /** Every retained message (to rebuild the quota accounting at start). */
  forEach(fn: (msg: Message) => void): void;
}

/** One counter a backend keeps (for /metrics as `nestmq_store_<name>_total`). */
export interface StoreCounter {
  readonly name: string;
  readonly help: string;
  readonly value: number;
}

export interface Stores {
  sessions: SessionStore;
  retained: RetainedStore;
  /** The backend's own counters (Redis: batches, failures, fenced writes); none for memory. */
  counters?: () => readonly StoreCounter[];
}
