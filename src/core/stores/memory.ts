import type { Message } from '../sessions/message';
import { Session } from '../sessions/session';
import { type RetainedCursor, RetainedTrie } from '../topics/retained-trie';
import type { RetainedStore, SessionStore, Stores } from './store';

const resolved = Promise.resolve();

/** Sessions in a Map: state lives as long as the process. */
export class MemorySessionStore implements SessionStore {
  readonly durable = false;
  private readonly sessions = new Map<string, Session>();

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  create(clientId: string, clean: boolean): Session {
    const session = new Session(clientId, clean, null);
    this.sessions.set(clientId, session);
    return session;
  }

  delete(session: Session): void {
    // Identity check: a takeover may already have replaced the entry under this id.
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  detached(session: Session): void {
    session.disconnectedAt = Date.now();
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  open(): Promise<void> {
    return resolved;
  }

  flush(): Promise<void> {
    return resolved;
  }

  close(): Promise<void> {
    this.sessions.clear();
    return resolved;
  }
}

/** Retained messages in a topic trie, so a wildcard subscribe walks only matching branches. */
export class MemoryRetainedStore implements RetainedStore {
  readonly durable = false;
  private readonly trie = new RetainedTrie<Message>();

  get size(): number {
    return this.trie.size;
  }

  get(topic: string): Message | undefined {
    return this.trie.get(topic);
  }

  set(msg: Message): void {
    this.trie.set(msg.topic, msg);
  }

  delete(topic: string): void {
    this.trie.delete(topic);
  }

  match(filter: string, out: Message[]): void {
    this.trie.match(filter, out);
  }

  cursor(filter: string): RetainedCursor<Message> {
    return this.trie.cursor(filter);
  }

  forEach(fn: (msg: Message) => void): void {
    this.trie.forEach(fn);
  }

  open(): Promise<void> {
    return resolved;
  }

  flush(): Promise<void> {
    return resolved;
  }

  close(): Promise<void> {
    return resolved;
  }
}

export function createMemoryStores(): Stores {
  return { sessions: new MemorySessionStore(), retained: new MemoryRetainedStore() };
}

