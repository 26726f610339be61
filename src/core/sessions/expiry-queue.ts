/**
 * Deadlines by key, earliest first: an indexed binary min-heap. What a periodic sweep over every
 * session did in O(sessions) per tick, this does in O(log n) per change and O(due · log n) per
 * expiry: session expiry now, MQTT 5's per-session expiry, Will Delay and message expiry later.
 *
 * A key (a Session object, a client id, a message) is in the queue at most once: schedule() on a
 * present key moves it. Each key has one entry object that remembers its heap slot, so cancel and
 * move are O(log n) too; the entry is the only allocation, made on first insert and reused while
 * the key stays in the queue. Equal deadlines come out in the order they were scheduled.
 */
class ExpiryEntry<K> {
  constructor(
    readonly key: K,
    public deadline: number,
    /** Insertion order among equal deadlines. */
    public seq: number,
    /** Slot in the heap array. */
    public index: number,
  ) {}
}

export class ExpiryQueue<K> {
  private readonly heap: ExpiryEntry<K>[] = [];
  private readonly entries = new Map<K, ExpiryEntry<K>>();
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The deadline `key` is scheduled for, or undefined. */
  deadlineOf(key: K): number | undefined {
    return this.entries.get(key)?.deadline;
  }

  /** Insert `key` with `deadlineMs`, or move it there if it is already scheduled. */
  schedule(key: K, deadlineMs: number): void {
    const seq = this.seq++;
    const entry = this.entries.get(key);
    if (entry === undefined) {
      const e = new ExpiryEntry(key, deadlineMs, seq, this.heap.length);
      this.entries.set(key, e);
      this.heap.push(e);
      this.up(e.index);
      return;
    }
    const earlier = deadlineMs < entry.deadline;
    entry.deadline = deadlineMs;
    entry.seq = seq;
    // A later (or equal: seq grew) deadline can only sink.
    if (earlier) this.up(entry.index);
    else this.down(entry.index);
  }

  /** Remove `key`; false when it was not scheduled. */
  cancel(key: K): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.removeAt(entry.index);
    return true;
  }

  /** The earliest deadline, or undefined when empty. */
  peekDeadline(): number | undefined {
    return this.heap.length > 0 ? this.heap[0].deadline : undefined;
  }

  /** The key with the earliest deadline, or undefined when empty. */
  peekKey(): K | undefined {
    return this.heap.length > 0 ? this.heap[0].key : undefined;
  }

  /** Remove and return the key with the earliest deadline (due or not), or undefined. */
  next(): K | undefined {
    if (this.heap.length === 0) return undefined;
    const top = this.heap[0];
    this.entries.delete(top.key);
    this.removeAt(0);
    return top.key;
  }

  /**
   * Remove every key whose deadline is at or before `now`, appending them to `out` earliest
   * first; returns how many. `out` is the caller's to reuse (no array per call).
   */
  popDue(now: number, out: K[]): number {
    let n = 0;
    const heap = this.heap;
    while (heap.length > 0 && heap[0].deadline <= now) {
      const top = heap[0];
      this.entries.delete(top.key);
      this.removeAt(0);
      out.push(top.key);
      n++;
    }
    return n;
  }

  clear(): void {
    this.heap.length = 0;
    this.entries.clear();
  }

  // ---- heap ------------------------------------------------------------------------------

  private static before<K>(a: ExpiryEntry<K>, b: ExpiryEntry<K>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (i === heap.length) return; // it was the last slot
    heap[i] = last;
    last.index = i;
    // The moved entry may belong above or below slot i.
    if (i > 0 && ExpiryQueue.before(last, heap[(i - 1) >> 1])) this.up(i);
    else this.down(i);
  }

  private up(i: number): void {
    const heap = this.heap;
    const e = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (!ExpiryQueue.before(e, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = e;
    e.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && ExpiryQueue.before(heap[r], heap[l]) ? r : l;
      const child = heap[c];
      if (!ExpiryQueue.before(child, e)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = e;
    e.index = i;
  }
}

/** setTimeout's longest delay (2^31 - 1 ms); a later deadline is reached in several steps. */
const MAX_TIMEOUT_MS = 0x7fffffff;

/**
 * An ExpiryQueue with ONE timer, armed for the earliest deadline: re-armed when the earliest
 * deadline changes, unref()'d so it never keeps the process alive. When it fires, every due key
 * is removed and handed to `onDue` in one call, earliest first. The array passed to `onDue` is
 * reused: read it during the call, do not keep it. `onDue` may schedule and cancel keys.
 */
export class DeadlineTimer<K> {
  private readonly queue = new ExpiryQueue<K>();
  private timer: NodeJS.Timeout | null = null;
  /** The deadline the timer is armed for (Infinity when not armed). */
  private armedFor = Infinity;
  private firing = false;
  private readonly due: K[] = [];

  constructor(
    private readonly onDue: (keys: readonly K[], now: number) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    return this.queue.size;
  }

  has(key: K): boolean {
    return this.queue.has(key);
  }

  deadlineOf(key: K): number | undefined {
    return this.queue.deadlineOf(key);
  }

  peekDeadline(): number | undefined {
    return this.queue.peekDeadline();
  }

  /** Insert or move `key` to `deadlineMs` (absolute, on `clock`'s scale). */
  schedule(key: K, deadlineMs: number): void {
    this.queue.schedule(key, deadlineMs);
    this.rearm();
  }

  cancel(key: K): boolean {
    const had = this.queue.cancel(key);
    if (had) this.rearm();
    return had;
  }

  /** Cancel everything and disarm the timer. */
  clear(): void {
    this.queue.clear();
    this.rearm();
  }

  /** Hand every key due by `now` to onDue at once (also what the timer does when it fires). */
  fire(now = this.clock()): void {
    this.timer = null;
    this.armedFor = Infinity;
    this.firing = true;
    const due = this.due;
    try {
      if (this.queue.popDue(now, due) > 0) this.onDue(due, now);
    } finally {
      due.length = 0;
      this.firing = false;
      this.rearm();
    }
  }

  private rearm(): void {
    if (this.firing) return; // fire() arms once onDue is done
    const next = this.queue.peekDeadline();
    if (next === this.armedFor) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (next === undefined) {
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = next;
    const delay = Math.min(Math.max(next - this.clock(), 0), MAX_TIMEOUT_MS);
    this.timer = setTimeout(onDeadlineTimer, delay, this);
    this.timer.unref();
  }
}

function onDeadlineTimer<K>(timer: DeadlineTimer<K>): void {
  timer.fire();
}
