import * as fc from 'fast-check';
import { DeadlineTimer, ExpiryQueue } from '../../src/core/sessions/expiry-queue';

/**
 * The naive model: a map of key -> (deadline, order scheduled); "earliest" is found by scanning.
 * Equal deadlines come out in the order they were (last) scheduled.
 */
class NaiveQueue<K> {
  private readonly m = new Map<K, { deadline: number; seq: number }>();
  private seq = 0;
  get size(): number {
    return this.m.size;
  }
  schedule(k: K, d: number): void {
    this.m.set(k, { deadline: d, seq: this.seq++ });
  }
  cancel(k: K): boolean {
    return this.m.delete(k);
  }
  private sorted(): [K, { deadline: number; seq: number }][] {
    return [...this.m].sort(([, a], [, b]) => a.deadline - b.deadline || a.seq - b.seq);
  }
  peekDeadline(): number | undefined {
    return this.sorted()[0]?.[1].deadline;
  }
  next(): K | undefined {
    const first = this.sorted()[0];
    if (first === undefined) return undefined;
    this.m.delete(first[0]);
    return first[0];
  }
  popDue(now: number): K[] {
    const due = this.sorted().filter(([, v]) => v.deadline <= now).map(([k]) => k);
    for (const k of due) this.m.delete(k);
    return due;
  }
  deadlineOf(k: K): number | undefined {
    return this.m.get(k)?.deadline;
  }
}

type Op =
  | { k: 'schedule'; key: number; d: number }
  | { k: 'cancel'; key: number }
  | { k: 'popDue'; now: number }
  | { k: 'next' }
  | { k: 'peek' };

// Few keys and a narrow deadline range: moves, re-schedules and equal deadlines are frequent.
const key = fc.integer({ min: 0, max: 15 });
const deadline = fc.integer({ min: 0, max: 40 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('schedule' as const), key, d: deadline }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), key }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('popDue' as const), now: deadline }) },
  { weight: 1, arbitrary: fc.constant({ k: 'next' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'peek' as const }) },
);

/** Heap order and slot indexes, read through the private fields (an invariant check only). */
function checkHeap(q: ExpiryQueue<unknown>): void {
  const heap = (q as unknown as { heap: { deadline: number; seq: number; index: number }[] }).heap;
  heap.forEach((e, i) => {
    if (e.index !== i) throw new Error(`entry at slot ${i} says ${e.index}`);
    const p = heap[(i - 1) >> 1];
    if (i > 0 && !(p.deadline < e.deadline || (p.deadline === e.deadline && p.seq < e.seq))) throw new Error(`heap order broken at ${i}`);
  });
}

describe('ExpiryQueue', () => {
  it('behaves like the naive model under any sequence of operations (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const q = new ExpiryQueue<number>();
        const m = new NaiveQueue<number>();
        const out: number[] = [];
        for (const o of ops) {
          switch (o.k) {
            case 'schedule':
              q.schedule(o.key, o.d);
              m.schedule(o.key, o.d);
              break;
            case 'cancel':
              expect(q.cancel(o.key)).toBe(m.cancel(o.key));
              break;
            case 'popDue': {
              out.length = 0;
              const n = q.popDue(o.now, out);
              expect(out).toEqual(m.popDue(o.now));
              expect(n).toBe(out.length);
              break;
            }
            case 'next':
              expect(q.next()).toBe(m.next());
              break;
            case 'peek':
              expect(q.peekDeadline()).toBe(m.peekDeadline());
              break;
          }
          if (q.size !== m.size) throw new Error(`size ${q.size} != ${m.size}`);
          for (let k = 0; k <= 15; k++) {
            if (q.deadlineOf(k) !== m.deadlineOf(k) || q.has(k) !== (m.deadlineOf(k) !== undefined)) {
              throw new Error(`key ${k}: deadline ${q.deadlineOf(k)} != ${m.deadlineOf(k)}`);
            }
          }
          checkHeap(q);
        }
        // Drained in the model's order.
        const rest: number[] = [];
        q.popDue(Infinity, rest);
        expect(rest).toEqual(m.popDue(Infinity));
        expect(q.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('keys may be objects (sessions) or strings', () => {
    const a = { id: 'a' };
    const b = { id: 'b' };
    const q = new ExpiryQueue<object>();
    q.schedule(a, 20);
    q.schedule(b, 10);
    expect(q.peekKey()).toBe(b);
    q.schedule(b, 30); // move later
    expect(q.peekKey()).toBe(a);
    const s = new ExpiryQueue<string>();
    s.schedule('client-1', 5);
    expect(s.cancel('client-1')).toBe(true);
    expect(s.cancel('client-1')).toBe(false);
    expect(s.peekDeadline()).toBeUndefined();
    expect(s.next()).toBeUndefined();
  });

  it('moving a key reuses its entry: no allocation per move', () => {
    const q = new ExpiryQueue<string>();
    q.schedule('k', 10);
    const entry = (q as unknown as { heap: object[] }).heap[0];
    for (let d = 0; d < 100; d++) q.schedule('k', (d * 37) % 50);
    expect((q as unknown as { heap: object[] }).heap[0]).toBe(entry);
    expect(q.size).toBe(1);
  });

  it('stays logarithmic: 100 000 keys scheduled, moved and drained in order', () => {
    const q = new ExpiryQueue<number>();
    const n = 100_000;
    for (let i = 0; i < n; i++) q.schedule(i, (i * 7919) % n);
    for (let i = 0; i < n; i += 2) q.schedule(i, n + i); // move half of them later
    for (let i = 1; i < n; i += 4) q.cancel(i);
    const out: number[] = [];
    q.popDue(Infinity, out);
    expect(out.length).toBe(n - n / 4);
    expect(q.size).toBe(0);
    // Deadlines ascending.
    const d = (k: number): number => (k % 2 === 0 ? n + k : (k * 7919) % n);
    for (let i = 1; i < out.length; i++) if (d(out[i - 1]) > d(out[i])) throw new Error(`out of order at ${i}`);
  });
});

describe('DeadlineTimer', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function recorder(): { calls: { keys: string[]; now: number }[]; onDue: (keys: readonly string[], now: number) => void } {
    const calls: { keys: string[]; now: number }[] = [];
    return { calls, onDue: (keys, now) => void calls.push({ keys: [...keys], now }) };
  }

  it('fires once per earliest deadline with every key due, earliest first', () => {
    const r = recorder();
    const t = new DeadlineTimer<string>(r.onDue);
    const t0 = Date.now();
    t.schedule('b', t0 + 200);
    t.schedule('a', t0 + 100);
    t.schedule('c', t0 + 200);
    expect(jest.getTimerCount()).toBe(1); // one timer, whatever the number of keys
    jest.advanceTimersByTime(99);
    expect(r.calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(r.calls).toEqual([{ keys: ['a'], now: t0 + 100 }]);
    jest.advanceTimersByTime(100);
    expect(r.calls[1]).toEqual({ keys: ['b', 'c'], now: t0 + 200 });
    expect(jest.getTimerCount()).toBe(0);
    expect(t.size).toBe(0);
  });

  it('re-arms when the earliest deadline moves earlier, later, or is cancelled', () => {
    const r = recorder();
    const t = new DeadlineTimer<string>(r.onDue);
    const t0 = Date.now();
    t.schedule('x', t0 + 1000);
    t.schedule('y', t0 + 50); // earlier: re-armed for 50
    jest.advanceTimersByTime(50);
    expect(r.calls.map((c) => c.keys)).toEqual([['y']]);
    t.schedule('z', t0 + 60);
    t.cancel('z'); // the earliest cancelled: back to x
    t.schedule('x', t0 + 2000); // moved later
    jest.advanceTimersByTime(1500);
    expect(r.calls).toHaveLength(1);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(450);
    expect(r.calls.map((c) => c.keys)).toEqual([['y'], ['x']]);
    t.schedule('w', t0 + 5000);
    t.cancel('w');
    expect(jest.getTimerCount()).toBe(0); // empty: disarmed
  });

  it('a deadline in the past fires on the next timer turn', () => {
    const r = recorder();
    const t = new DeadlineTimer<string>(r.onDue);
    t.schedule('late', Date.now() - 10);
    expect(r.calls).toEqual([]); // never synchronously inside schedule()
    jest.advanceTimersByTime(0);
    expect(r.calls.map((c) => c.keys)).toEqual([['late']]);
  });

  it('onDue may schedule and cancel; the timer is armed once afterwards', () => {
    const t0 = Date.now();
    const seen: string[][] = [];
    const t: DeadlineTimer<string> = new DeadlineTimer<string>((keys) => {
      seen.push([...keys]);
      if (keys.includes('a')) {
        t.schedule('a2', t0 + 300); // a follow-up deadline
        t.cancel('b');
      }
    });
    t.schedule('a', t0 + 100);
    t.schedule('b', t0 + 200);
    jest.advanceTimersByTime(100);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(500);
    expect(seen).toEqual([['a'], ['a2']]);
  });

  it('a throwing onDue does not leave the timer disarmed', () => {
    const t0 = Date.now();
    let calls = 0;
    const t = new DeadlineTimer<string>(() => {
      calls++;
      if (calls === 1) throw new Error('boom');
    });
    t.schedule('a', t0 + 10);
    t.schedule('b', t0 + 20);
    expect(() => jest.advanceTimersByTime(10)).toThrow('boom');
    jest.advanceTimersByTime(10);
    expect(calls).toBe(2);
  });

  it('deadlines beyond setTimeout range are reached in steps', () => {
    const r = recorder();
    const t = new DeadlineTimer<string>(r.onDue);
    const far = Date.now() + 2 ** 31 + 5000;
    t.schedule('far', far);
    jest.advanceTimersByTime(2 ** 31 - 1);
    expect(r.calls).toEqual([]);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(5001);
    expect(r.calls).toEqual([{ keys: ['far'], now: far }]);
  });

  it('does not keep the process alive (unref)', () => {
    jest.useRealTimers();
    const t = new DeadlineTimer<string>(() => undefined);
    t.schedule('a', Date.now() + 60_000);
    const timer = (t as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    t.clear();
    expect((t as unknown as { timer: NodeJS.Timeout | null }).timer).toBeNull();
  });
});
