import type { LimitsConfig } from '../config/types';
import type { Message } from '../sessions/message';
import type { RetainedStore } from '../stores/store';
import { DeadlineTimer } from '../sessions/expiry-queue';

/**
 * Bounds on retained storage: a count and a byte budget for the whole broker
 * (max-retained-messages, max-retained-bytes) and per username (max-retained-messages-per-user,
 * max-retained-bytes-per-user; every anonymous client shares one account). Without them one
 * client stored 300 × 1 MiB in 7 s and the broker kept all of it, in memory and on disk.
 *
 * A message's size is its payload plus its topic (a long topic with a one-byte payload is not
 * free). The owner is the client that last stored the topic: replacing someone else's retained
 * message moves it to the replacer's account, checked against the replacer's limits.
 *
 * At a limit 3.1.1 has no way to say no (PUBACK has no reason code): the publish is still
 * acknowledged and delivered to current subscribers; only its retaining is refused, counted
 * (refusedRetainedQuota) and reported by a rate-limited `warning`. A refused replacement also
 * deletes the topic's previous retained message: a new subscriber must not be handed a value
 * older than the last one published. Deleting (empty payload) is always allowed, and the
 * broker's own messages ($SYS, Broker.publish) count only against the global limits.
 *
 * Every check is O(1) plus one trie lookup of the topic, and only for retained publishes.
 */

/** One account's usage. */
class RetainedUsage {
  count = 0;
  bytes = 0;
}

/** At most one quota warning per this many milliseconds; the rest are counted into it. */
const WARNING_INTERVAL_MS = 10_000;

export class RetainedQuota {
  /** Retained messages stored, and their bytes. */
  count = 0;
  bytes = 0;
  private readonly users = new Map<string | null, RetainedUsage>();
  private lastWarning = 0;
  private unreported = 0;

  constructor(
    private readonly store: RetainedStore,
    private readonly limits: LimitsConfig,
    /** Called for each refusal: the counter and the rate-limited warning live with the caller. */
    private readonly onRefused: (msg: Message, reason: string) => void,
    /** Called for each retained message removed at its Message Expiry (the caller counts it). */
    private readonly onExpired: (msg: Message) => void = noop,
  ) {
    this.expiry = new DeadlineTimer<Message>(this.removeDue);
  }

  /**
   * Retained messages with a Message Expiry Interval, by deadline v5 [MQTT-3.3.2-5]: one timer for
   * all, O(log n) per such message and per expiry, never a sweep over the store. Readers skip an
   * expired message before the timer removes it (expire()), so a late timer changes nothing.
   */
  private readonly expiry: DeadlineTimer<Message>;

  private readonly removeDue = (due: readonly Message[]): void => {
    for (let i = 0; i < due.length; i++) this.removeExpired(due[i]);
  };

  /**
   * `msg` was found expired by a reader (lazy removal): it leaves the store now if it is still
   * the topic's retained message. Safe during a retained cursor walk (the cursor skips it).
   */
  expire(msg: Message): void {
    this.removeExpired(msg);
  }

  private removeExpired(msg: Message): void {
    if (this.store.get(msg.topic) !== msg) return;
    this.release(msg);
    this.store.delete(msg.topic);
    this.onExpired(msg);
  }

  /** The broker stops: the expiry timer goes. */
  stop(): void {
    this.expiry.clear();
  }

  /** Usage of one account (null: anonymous), for tests and the admin API. */
  usage(owner: string | null): { count: number; bytes: number } {
    const u = this.users.get(owner);
    return { count: u?.count ?? 0, bytes: u?.bytes ?? 0 };
  }

  /** Recounts from the store (after it loaded its state). */
  rebuild(): void {
    this.count = 0;
    this.bytes = 0;
    this.users.clear();
    this.expiry.clear();
    this.store.forEach((msg) => {
      this.charge(msg);
      if (msg.expiresAt !== 0) this.expiry.schedule(msg, msg.expiresAt);
    });
  }

  /**
   * Applies a retained publish to the store [MQTT-3.3.1-5/7/10/11]: an empty payload deletes the
   * topic's message, anything else replaces it if the limits allow. False when refused.
   */
  retain(msg: Message): boolean {
    const store = this.store;
    const old = store.get(msg.topic);
    if (msg.payload.length === 0) {
      if (old !== undefined) {
        this.release(old);
        store.delete(msg.topic);
      }
      return true;
    }
    const reason = this.refusal(msg, old);
    if (reason !== null) {
      if (old !== undefined) {
        this.release(old);
        store.delete(msg.topic);
      }
      this.onRefused(msg, reason);
      return false;
    }
    msg.compact();
    if (old !== undefined) this.release(old);
    this.charge(msg);
    store.set(msg);
    if (msg.expiresAt !== 0) this.expiry.schedule(msg, msg.expiresAt);
    return true;
  }

  /** Which limit storing `msg` (replacing `old`) would break, or null. */
  private refusal(msg: Message, old: Message | undefined): string | null {
    const limits = this.limits;
    const size = sizeOf(msg);
    const oldSize = old === undefined ? 0 : sizeOf(old);
    if (old === undefined && this.count >= limits.maxRetainedMessages) return 'max-retained-messages';
    if (size > oldSize && this.bytes - oldSize + size > limits.maxRetainedBytes) return 'max-retained-bytes';
    const owner = msg.retainedOwner;
    if (owner === undefined) return null;
    const usage = this.users.get(owner);
    const count = usage?.count ?? 0;
    const bytes = usage?.bytes ?? 0;
    // Replacing one's own message keeps the count; taking over another's adds one.
    const own = old !== undefined && old.retainedOwner === owner;
    if (!own && count >= limits.maxRetainedMessagesPerUser) return 'max-retained-messages-per-user';
    if (bytes - (own ? oldSize : 0) + size > limits.maxRetainedBytesPerUser) return 'max-retained-bytes-per-user';
    return null;
  }

  private charge(msg: Message): void {
    const size = sizeOf(msg);
    this.count++;
    this.bytes += size;
    const owner = msg.retainedOwner;
    if (owner === undefined) return;
    let usage = this.users.get(owner);
    if (usage === undefined) this.users.set(owner, (usage = new RetainedUsage()));
    usage.count++;
    usage.bytes += size;
  }

  private release(msg: Message): void {
    // Whatever removes it (replaced, deleted, expired), its deadline goes with it.
    if (msg.expiresAt !== 0) this.expiry.cancel(msg);
    const size = sizeOf(msg);
    this.count--;
    this.bytes -= size;
    const owner = msg.retainedOwner;
    if (owner === undefined) return;
    const usage = this.users.get(owner);
    if (usage === undefined) return;
    usage.count--;
    usage.bytes -= size;
    if (usage.count <= 0) this.users.delete(owner);
  }

  /** Rate limit for the caller's warning: true when one may be emitted now; `suppressed` tells how many were not. */
  shouldWarn(now: number): boolean {
    if (now - this.lastWarning < WARNING_INTERVAL_MS) {
      this.unreported++;
      return false;
    }
    this.lastWarning = now;
    return true;
  }

  /** Refusals not warned about since the last warning (read and reset). */
  takeUnreported(): number {
    const n = this.unreported;
    this.unreported = 0;
    return n;
  }
}

function noop(): void {}

/** Payload plus topic (UTF-16 length: exact for ASCII topics, a lower bound otherwise). */
function sizeOf(msg: Message): number {
  return msg.size + msg.topic.length;
}
