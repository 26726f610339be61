/**
 * A bounded LRU of recent successful password verifications, so that a reconnect storm of known
 * clients costs one HMAC each instead of one bcrypt each (~60 ms).
 *
 * Keyed by username; an entry holds HMAC-SHA256(per-process random key, username + password)
 * and the stored hash it was verified against. The plaintext is never kept, and the keyed
 * digest is useless outside this process. A hit needs the same stored hash (a changed password
 * file line misses) and an equal digest, compared in constant time. Only successes are cached:
 * a wrong password always pays the full verification.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual } from './hashes';

interface Entry {
  readonly storedHash: string;
  readonly digest: Buffer;
}

export const DEFAULT_CACHE_SIZE = 10_000;

export class VerificationCache {
  private readonly key = randomBytes(32);
  /** Map order is recency order: a hit moves its entry to the end, eviction takes the first. */
  private readonly entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(readonly maxEntries = DEFAULT_CACHE_SIZE) {}

  get size(): number {
    return this.entries.size;
  }

  /** The keyed digest of a credential; also a safe key for coalescing concurrent checks. */
  digest(username: string, password: Buffer): Buffer {
    const h = createHmac('sha256', this.key);
    const user = Buffer.from(username, 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(user.length);
    return h.update(len).update(user).update(password).digest();
  }

  /** True when this exact credential was verified against this stored hash recently. */
  has(username: string, storedHash: string, digest: Buffer): boolean {
    if (this.maxEntries === 0) return false;
    const entry = this.entries.get(username);
    if (entry === undefined || entry.storedHash !== storedHash || !constantTimeEqual(entry.digest, digest)) {
      this.misses++;
      return false;
    }
    this.entries.delete(username);
    this.entries.set(username, entry);
    this.hits++;
    return true;
  }

  add(username: string, storedHash: string, digest: Buffer): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(username);
    this.entries.set(username, { storedHash, digest });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** After a reload: drop every entry whose user is gone or whose stored hash changed. */
  retainValid(users: ReadonlyMap<string, string>): void {
    for (const [username, entry] of this.entries) {
      if (users.get(username) !== entry.storedHash) this.entries.delete(username);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
