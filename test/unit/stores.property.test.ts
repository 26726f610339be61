import * as fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QoS, RetainHandling } from '../../src/core/protocol/packets';
import { InflightMessage, Message, OutboundState, QueuedMessage } from '../../src/core/sessions/message';
import type { Session, SubscriptionOptions } from '../../src/core/sessions/session';
import { MemoryRetainedStore, MemorySessionStore } from '../../src/core/stores/memory';
import { SqliteStore } from '../../src/core/stores/sqlite';
import type { RetainedStore, SessionStore } from '../../src/core/stores/store';

/**
 * Property: any sequence of store operations leaves the SQLite store — as read back from its
 * file by a fresh instance, i.e. after a restart — in the same state as the memory store.
 */
type Op =
  | { k: 'create'; c: number }
  | { k: 'delete'; c: number }
  | { k: 'sub'; c: number; f: number; q: QoS; o: SubscriptionOptions | null }
  | { k: 'unsub'; c: number; f: number }
  | { k: 'enqueue'; c: number; t: number; q: QoS; r: boolean; v5: V5 | null }
  | { k: 'dequeue'; c: number }
  | { k: 'inflight'; c: number; t: number; q: 1 | 2; v5: V5 | null }
  | { k: 'pubrec'; c: number }
  | { k: 'ack'; c: number }
  | { k: 'qos2in'; c: number; id: number }
  | { k: 'qos2out'; c: number; id: number }
  | { k: 'detach'; c: number; e: number | null }
  | { k: 'attach'; c: number; u: number; e: number | null }
  | { k: 'retain'; t: number; v5: V5 | null }
  | { k: 'unretain'; t: number }
  | { k: 'commit' };

/** MQTT 5 parts of a message: User Properties (in order, names repeating), a Content Type, an expiry. */
interface V5 {
  user: [string, string][];
  contentType: string | null;
  expiresIn: number;
}
const v5: fc.Arbitrary<V5 | null> = fc.option(
  fc.record({
    user: fc.array(fc.tuple(fc.constantFrom('a', 'b', 'ü'), fc.string({ maxLength: 4 })), { maxLength: 4 }),
    contentType: fc.option(fc.constantFrom('text/plain', 'application/json')),
    expiresIn: fc.constantFrom(0, 60_000, 3_600_000),
  }),
);
/** A session's own Session Expiry Interval (MQTT 5), or null for 3.1.1. */
const expiry = fc.option(fc.constantFrom(0, 10, 300));

const client = fc.integer({ min: 0, max: 3 });
/** MQTT 5 Subscription Options of a SUBSCRIBE, or none (a 3.1.1 SUBSCRIBE). */
const subscriptionOptions: fc.Arbitrary<SubscriptionOptions | null> = fc.option(
  fc.record({
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom<RetainHandling>(0, 1, 2),
    subscriptionId: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 268_435_455 })),
  }),
);
const qos = fc.constantFrom<QoS>(0, 1, 2);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('create' as const), c: client }),
  fc.record({ k: fc.constant('delete' as const), c: client }),
  fc.record({ k: fc.constant('sub' as const), c: client, f: fc.integer({ min: 0, max: 4 }), q: qos, o: subscriptionOptions }),
  fc.record({ k: fc.constant('unsub' as const), c: client, f: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ k: fc.constant('enqueue' as const), c: client, t: fc.integer({ min: 0, max: 9 }), q: qos, r: fc.boolean(), v5 }),
  fc.record({ k: fc.constant('dequeue' as const), c: client }),
  fc.record({ k: fc.constant('inflight' as const), c: client, t: fc.integer({ min: 0, max: 9 }), q: fc.constantFrom<1 | 2>(1, 2), v5 }),
  fc.record({ k: fc.constant('pubrec' as const), c: client }),
  fc.record({ k: fc.constant('ack' as const), c: client }),
  fc.record({ k: fc.constant('qos2in' as const), c: client, id: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ k: fc.constant('qos2out' as const), c: client, id: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ k: fc.constant('detach' as const), c: client, e: expiry }),
  fc.record({ k: fc.constant('attach' as const), c: client, u: fc.integer({ min: 0, max: 2 }), e: expiry }),
  fc.record({ k: fc.constant('retain' as const), t: fc.integer({ min: 0, max: 5 }), v5 }),
  fc.record({ k: fc.constant('unretain' as const), t: fc.integer({ min: 0, max: 5 }) }),
  fc.constant({ k: 'commit' as const }),
);

let msgSeq = 0;
const message = (t: number, q: QoS, v: V5 | null, retain = false): Message => {
  const m = new Message(`t/${t}`, Buffer.from(`payload ${++msgSeq}`), q, retain, 'origin');
  if (v !== null) {
    m.setV5Properties({ userProperties: v.user.length > 0 ? v.user : undefined, contentType: v.contentType ?? undefined });
    if (v.expiresIn > 0) m.expiresAt = Date.now() + v.expiresIn;
  }
  return m;
};

/** Applies one op to a (sessions, retained) pair; the same Message objects go to both sides. */
function apply(o: Op, sessions: SessionStore, retained: RetainedStore, msg: Message | null): void {
  const id = 'c' + ('c' in o ? o.c : 0);
  const s: Session | undefined = sessions.get(id);
  switch (o.k) {
    case 'create':
      if (s === undefined) sessions.create(id, false);
      return;
    case 'delete':
      if (s !== undefined) sessions.delete(s);
      return;
    case 'sub':
      if (s === undefined) return;
      s.setSubscription(`f/${o.f}`, o.q);
      // As the SUBSCRIBE handler does: the options are set after the QoS (all defaults or null: none kept).
      s.setSubscriptionOptions(`f/${o.f}`, o.o);
      return;
    case 'unsub':
      s?.deleteSubscription(`f/${o.f}`);
      return;
    case 'enqueue':
      s?.enqueue(new QueuedMessage(msg!, o.q, o.r));
      return;
    case 'dequeue':
      s?.dequeue();
      return;
    case 'inflight':
      if (s !== undefined && s.inflightCount < 20) s.addInflight(new InflightMessage(s.allocatePacketId(), msg!, o.q, false, OutboundState.AWAIT_ACK));
      return;
    case 'pubrec': {
      const e = s?.inflight && [...s.inflight.values()].find((x) => x.qos === 2 && x.state === OutboundState.AWAIT_ACK);
      if (e) {
        e.state = OutboundState.AWAIT_COMP;
        s!.updateInflight(e);
      }
      return;
    }
    case 'ack': {
      const first = s?.inflight?.keys().next();
      if (first && !first.done) s!.deleteInflight(first.value);
      return;
    }
    case 'qos2in':
      s?.addIncomingQos2(o.id);
      return;
    case 'qos2out':
      s?.deleteIncomingQos2(o.id);
      return;
    case 'detach':
      if (s === undefined) return;
      // An MQTT 5 DISCONNECT may change the interval.
      if (s.expiryRequested && o.e !== null) s.expiryInterval = o.e;
      sessions.detached(s);
      return;
    case 'attach':
      if (s !== undefined) {
        s.username = o.u === 0 ? null : `user${o.u}`;
        s.expiryRequested = o.e !== null;
        s.expiryInterval = o.e ?? 0;
        sessions.attached?.(s);
      }
      return;
    case 'retain':
      retained.set(msg!);
      return;
    case 'unretain':
      retained.delete(`t/${o.t}`);
      return;
    case 'commit':
      sessions.commit?.();
      return;
  }
}

/** A message's MQTT 5 parts as compared: properties, expiry deadline and the byte size they count for. */
const v5Of = (m: Message): unknown[] => [m.properties, m.expiresAt, m.size];

function snapshot(sessions: SessionStore, retained: RetainedStore): unknown {
  const out: Record<string, unknown> = {};
  for (const s of [...sessions.values()].sort((a, b) => a.clientId.localeCompare(b.clientId))) {
    out[s.clientId] = {
      username: s.username,
      expiry: s.expiryRequested ? s.expiryInterval : null,
      subscriptions: [...(s.subscriptions ?? new Map())].sort(),
      options: [...(s.subscriptionOptions ?? new Map())].map(([f, o]) => [f, { ...o }] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      queue: [...(s.queue ?? [])].map((q) => [q.message.topic, q.message.payload.toString(), q.message.qos, q.qos, q.retainFlag, ...v5Of(q.message)]),
      inflight: [...(s.inflight ?? new Map()).values()].map((e) => [e.packetId, e.message.topic, e.message.payload.toString(), e.qos, e.state, ...v5Of(e.message)]),
      incomingQos2: [...(s.incomingQos2 ?? [])].sort(),
    };
  }
  const found: Message[] = [];
  retained.match('#', found);
  out.$retained = found.map((m) => [m.topic, m.payload.toString(), m.qos, ...v5Of(m)]).sort();
  return out;
}

describe('stores: SQLite matches memory (property)', () => {
  it('a random operation sequence, read back after reopening the file, equals the memory store state', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-prop-'));
    let run = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 80, size: 'max' }), (ops) => {
        const path = join(dir, `db-${++run}.sqlite`);
        const memory = { sessions: new MemorySessionStore(), retained: new MemoryRetainedStore() };
        const sqlite = new SqliteStore({ backend: 'sqlite', path, synchronous: 'normal' });
        sqlite.open();
        for (const o of ops) {
          const msg = o.k === 'enqueue' || o.k === 'inflight' ? message(o.t, o.q, o.v5) : o.k === 'retain' ? message(o.t, 1, o.v5, true) : null;
          apply(o, memory.sessions, memory.retained, msg);
          apply(o, sqlite.sessions, sqlite.retained, msg);
        }
        sqlite.close();
        const reopened = new SqliteStore({ backend: 'sqlite', path, synchronous: 'normal' });
        reopened.open();
        try {
          expect(snapshot(reopened.sessions, reopened.retained)).toEqual(snapshot(memory.sessions, memory.retained));
        } finally {
          reopened.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('operations continued on the reopened store (rows of earlier batches dequeued, acknowledged, changed) keep it equal to memory', () => {
    // The batch writes net effects (multi-row inserts, one range delete per client for its
    // dequeues, in-flight deletes then inserts): this also runs them against rows loaded from the file.
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-prop2-'));
    let run = 0;
    const open = (path: string): SqliteStore => {
      const store = new SqliteStore({ backend: 'sqlite', path, synchronous: 'normal' });
      store.open();
      return store;
    };
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }), fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }), (first, second) => {
        const path = join(dir, `db-${++run}.sqlite`);
        const memory = { sessions: new MemorySessionStore(), retained: new MemoryRetainedStore() };
        let sqlite = open(path);
        const step = (o: Op): void => {
          const msg = o.k === 'enqueue' || o.k === 'inflight' ? message(o.t, o.q, o.v5) : o.k === 'retain' ? message(o.t, 1, o.v5, true) : null;
          apply(o, memory.sessions, memory.retained, msg);
          apply(o, sqlite.sessions, sqlite.retained, msg);
        };
        first.forEach(step);
        sqlite.close();
        sqlite = open(path);
        // Packet ids are not stored (the next one after a restart is the lowest free): take memory's.
        for (const s of memory.sessions.values()) {
          const loaded = sqlite.sessions.get(s.clientId);
          if (loaded !== undefined) (loaded as unknown as { nextPacketId: number }).nextPacketId = (s as unknown as { nextPacketId: number }).nextPacketId;
        }
        second.forEach(step);
        sqlite.close();
        const reopened = open(path);
        try {
          expect(snapshot(reopened.sessions, reopened.retained)).toEqual(snapshot(memory.sessions, memory.retained));
        } finally {
          reopened.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
