import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { PersistenceConfig } from '../../src/core/config/types';
import { InflightMessage, Message, OutboundState, QueuedMessage } from '../../src/core/sessions/message';
import { MIGRATIONS, PersistenceError, SCHEMA_VERSION, SqliteStore } from '../../src/core/stores/sqlite';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3') as typeof BetterSqlite3;

/**
 * Schema migrations on real database files: a database written by an older nestmq (v2, v3),
 * with rows in every table, opened by this one. The DDL below is the schema as those versions
 * shipped it, frozen here: the migration is exercised against what is really on disk out there,
 * not against whatever MIGRATIONS says today.
 */
const V1_DDL = `CREATE TABLE sessions (client_id TEXT PRIMARY KEY, disconnected_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
   CREATE TABLE subscriptions (client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL,
     PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
   CREATE TABLE queue (client_id TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,
     msg_qos INTEGER NOT NULL, qos INTEGER NOT NULL, retain_flag INTEGER NOT NULL,
     PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
   CREATE TABLE inflight (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, seq INTEGER NOT NULL,
     topic TEXT NOT NULL, payload BLOB NOT NULL, msg_qos INTEGER NOT NULL, qos INTEGER NOT NULL,
     retain_flag INTEGER NOT NULL, state INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
   CREATE TABLE incoming_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
     PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
   CREATE TABLE retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL) WITHOUT ROWID;`;
const V2_DDL = `ALTER TABLE sessions ADD COLUMN username TEXT;
   ALTER TABLE sessions ADD COLUMN username_known INTEGER NOT NULL DEFAULT 0;`;
const V3_DDL = `ALTER TABLE retained ADD COLUMN owner TEXT;
   ALTER TABLE retained ADD COLUMN owner_kind INTEGER NOT NULL DEFAULT 0;`;

const config = (path: string): PersistenceConfig => ({ backend: 'sqlite', path, synchronous: 'normal' });
const tempPath = (): string => join(mkdtempSync(join(tmpdir(), 'nestmq-mig-')), 'nestmq.db');

/** A database as nestmq at schema `version` (2 or 3) left it: a 3.1.1 session with state everywhere. */
function oldDatabase(version: 2 | 3): string {
  const path = tempPath();
  const db = new Database(path);
  db.exec(V1_DDL);
  db.exec(V2_DDL);
  if (version === 3) db.exec(V3_DDL);
  db.pragma(`user_version = ${version}`);
  db.prepare('INSERT INTO sessions (client_id, disconnected_at, username, username_known) VALUES (?, ?, ?, 1)').run('old', Date.now() - 1000, 'alice');
  db.prepare('INSERT INTO subscriptions (client_id, filter, qos) VALUES (?, ?, ?)').run('old', 'a/#', 1);
  db.prepare('INSERT INTO subscriptions (client_id, filter, qos) VALUES (?, ?, ?)').run('old', '$share/g/b/+', 2);
  db.prepare('INSERT INTO queue VALUES (?, ?, ?, ?, ?, ?, ?)').run('old', 7, 'a/q', Buffer.from('queued'), 1, 1, 0);
  db.prepare('INSERT INTO inflight VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run('old', 3, 5, 'a/i', Buffer.from('inflight'), 2, 2, 0, OutboundState.AWAIT_COMP);
  db.prepare('INSERT INTO incoming_qos2 VALUES (?, ?)').run('old', 9);
  if (version === 3) db.prepare('INSERT INTO retained (topic, payload, qos, owner, owner_kind) VALUES (?, ?, ?, ?, ?)').run('r/t', Buffer.from('kept'), 1, 'bob', 2);
  else db.prepare('INSERT INTO retained (topic, payload, qos) VALUES (?, ?, ?)').run('r/t', Buffer.from('kept'), 1);
  db.close();
  return path;
}

function columns(db: BetterSqlite3.Database, table: string): string[] {
  return (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
}

/** Every row of every table, for before/after comparisons. */
function dump(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  const out: Record<string, unknown[]> = {};
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  for (const t of ['sessions', 'subscriptions', 'queue', 'queue_log', 'inflight', 'incoming_qos2', 'retained']) if (tables.has(t)) out[t] = db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all();
  db.close();
  return out;
}

/** Opens the file with the store (migrating it), and closes it after `fn`. */
function withStore<T>(path: string, fn: (store: SqliteStore) => T): T {
  const store = new SqliteStore(config(path));
  store.open();
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** What a 3.1.1 session written by v2/v3 looks like once loaded: nothing lost, nothing MQTT 5 invented. */
function expectOldSessionLoaded(store: SqliteStore): void {
  const s = store.sessions.get('old')!;
  expect(s).toBeDefined();
  expect(s.username).toBe('alice');
  expect(s.expiryRequested).toBe(false); // follows limits.session-expiry, as before
  expect([...s.subscriptions!]).toEqual([
    ['$share/g/b/+', 2],
    ['a/#', 1],
  ]);
  expect(s.subscriptionOptions).toBeNull();
  const q = s.queue!.peek()!;
  expect([q.message.topic, q.message.payload.toString(), q.qos, q.message.properties, q.message.expiresAt]).toEqual(['a/q', 'queued', 1, null, 0]);
  const i = s.inflight!.get(3)!;
  expect([i.message.topic, i.message.payload.toString(), i.qos, i.state, i.message.properties, i.message.expiresAt]).toEqual(['a/i', 'inflight', 2, OutboundState.AWAIT_COMP, null, 0]);
  expect([...s.incomingQos2!]).toEqual([9]);
  const r = store.retained.get('r/t')!;
  expect([r.payload.toString(), r.properties, r.expiresAt]).toEqual(['kept', null, 0]);
}

const V4_COLUMNS = {
  sessions: 'expiry_interval',
  subscriptions: 'options',
  queue: ['properties', 'expires_at'],
  inflight: ['properties', 'expires_at'],
  retained: ['properties', 'expires_at'],
};

describe('SQLite schema v5 (MQTT 5 state, the queue as a log) and its migrations', () => {
  it('the current schema is v5', () => {
    expect(SCHEMA_VERSION).toBe(5);
    expect(MIGRATIONS).toHaveLength(5);
  });

  it('a v3 database is migrated to v5: every row kept, the new columns NULL / 0 (3.1.1 rows), queued messages moved into the log', () => {
    const path = oldDatabase(3);
    const before = dump(path);
    withStore(path, expectOldSessionLoaded);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    for (const [table, cols] of Object.entries(V4_COLUMNS)) expect(columns(db, table)).toEqual(expect.arrayContaining([cols].flat()));
    expect(db.prepare('SELECT expiry_interval FROM sessions').get()).toEqual({ expiry_interval: null });
    expect(db.prepare('SELECT options FROM subscriptions').all()).toEqual([{ options: null }, { options: null }]);
    for (const t of ['inflight', 'retained']) expect(db.prepare(`SELECT properties, expires_at FROM ${t}`).get()).toEqual({ properties: null, expires_at: 0 });
    // The queued message left the `queue` table for one log row of its client (v5), read back below.
    expect(db.prepare('SELECT COUNT(*) AS n FROM queue').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT client_id, last_seq FROM queue_log').all()).toEqual([{ client_id: 'old', last_seq: 7 }]);
    db.close();
    // The old columns of every other table hold exactly what they held.
    const after = dump(path);
    for (const table of Object.keys(before)) {
      if (table === 'queue') continue;
      const strip = (rows: unknown[]): unknown[] =>
        rows.map((r) => Object.fromEntries(Object.entries(r as object).filter(([k]) => !['expiry_interval', 'options', 'properties', 'expires_at', 'queue_done'].includes(k))));
      expect(strip(after[table])).toEqual(before[table]);
    }
    withStore(path, expectOldSessionLoaded);
  });

  it('a v2 database goes through v3 (retained owners) and v4 to v5', () => {
    const path = oldDatabase(2);
    withStore(path, (store) => {
      expectOldSessionLoaded(store);
      expect(store.retained.get('r/t')!.retainedOwner).toBeUndefined(); // owner_kind 0: stored before owners
    });
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    expect(columns(db, 'retained')).toEqual(['topic', 'payload', 'qos', 'owner', 'owner_kind', 'properties', 'expires_at']);
    db.close();
  });

  it('opening a v5 database again migrates nothing and changes nothing', () => {
    const path = oldDatabase(3);
    withStore(path, () => undefined);
    const once = dump(path);
    withStore(path, expectOldSessionLoaded);
    expect(dump(path)).toEqual(once);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    db.close();
  });

  it('a migration that fails part-way leaves the v3 database as it was (one transaction), and start-up names the file', () => {
    const path = oldDatabase(3);
    // A column v4 adds, already there: v4's ALTERs before it succeed, that one fails.
    const db = new Database(path);
    db.exec('ALTER TABLE inflight ADD COLUMN expires_at INTEGER');
    db.close();
    const before = dump(path);
    const store = new SqliteStore(config(path));
    expect(() => store.open()).toThrow(PersistenceError);
    expect(() => new SqliteStore(config(path)).open()).toThrow(`persistence.path: cannot use ${path}`);
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(3);
    expect(columns(check, 'sessions')).not.toContain('expiry_interval');
    expect(columns(check, 'queue')).not.toContain('properties');
    check.close();
    expect(dump(path)).toEqual(before);
  });

  it('v5 state written at v4 reads back exactly: properties (User Properties in order), expiry deadline, session expiry, options of any shape', () => {
    const path = tempPath();
    const expiresAt = Date.now() + 60_000;
    const v5 = (topic: string, retain = false): Message => {
      const m = new Message(topic, Buffer.from('p'), 1, retain, 'origin');
      m.setV5Properties({
        payloadFormatIndicator: 1,
        contentType: 'text/plain',
        responseTopic: 'reply/here',
        correlationData: Buffer.from([0, 1, 2, 255]),
        userProperties: [
          ['z', '1'],
          ['a', '2'],
          ['z', '3'],
        ],
      });
      m.expiresAt = expiresAt;
      return m;
    };
    withStore(path, (store) => {
      const s = store.sessions.create('five', false);
      s.expiryInterval = 10;
      s.expiryRequested = true;
      s.setSubscription('n/#', 1);
      s.setSubscriptionOptions('n/#', { noLocal: true, retainAsPublished: true, retainHandling: 0, subscriptionId: 0 });
      s.setSubscription('o/#', 0);
      // A Subscription Identifier is kept with the other options (and counted at restore).
      s.setSubscriptionOptions('o/#', { noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 42 });
      s.enqueue(new QueuedMessage(v5('q/1'), 1, false));
      s.addInflight(new InflightMessage(s.allocatePacketId(), v5('i/1'), 1, false, OutboundState.AWAIT_ACK));
      store.sessions.detached(s);
      store.retained.set(v5('r/1', true));
    });
    withStore(path, (store) => {
      const s = store.sessions.get('five')!;
      expect([s.expiryInterval, s.expiryRequested]).toEqual([10, true]);
      expect(s.disconnectedAt).toBeGreaterThan(0);
      expect(s.subscriptionOptions!.get('n/#')).toEqual({ noLocal: true, retainAsPublished: true, retainHandling: 0, subscriptionId: 0 });
      expect(s.subscriptionOptions!.get('o/#')).toEqual({ noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 42 });
      expect(s.subscriptionIdCount).toBe(1);
      const restored = [s.queue!.peek()!.message, s.inflight!.get(1)!.message, store.retained.get('r/1')!];
      for (const m of restored) {
        expect(m.properties).toEqual({
          payloadFormatIndicator: 1,
          contentType: 'text/plain',
          responseTopic: 'reply/here',
          correlationData: Buffer.from([0, 1, 2, 255]),
          userProperties: [
            ['z', '1'],
            ['a', '2'],
            ['z', '3'],
          ],
        });
        expect(m.expiresAt).toBe(expiresAt);
        // Properties count against the byte budgets again after a restart.
        expect(m.size).toBe(v5('x').size);
      }
    });
  });

  it('a retained message whose Message Expiry passed while the broker was down is not restored, and its row goes', () => {
    const path = tempPath();
    withStore(path, (store) => {
      const m = new Message('r/old', Buffer.from('stale'), 0, true, '');
      m.setV5Properties({ contentType: 'x' });
      m.expiresAt = Date.now() - 1;
      store.retained.set(m);
      store.retained.set(new Message('r/new', Buffer.from('fresh'), 0, true, ''));
    });
    withStore(path, (store) => {
      expect(store.retained.get('r/old')).toBeUndefined();
      expect(store.retained.get('r/new')!.payload.toString()).toBe('fresh');
    });
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT topic FROM retained').all()).toEqual([{ topic: 'r/new' }]);
    db.close();
  });
});
