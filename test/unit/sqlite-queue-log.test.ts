import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Message, QueuedMessage } from '../../src/core/sessions/message';
import { PersistenceError, SqliteStore } from '../../src/core/stores/sqlite';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3') as typeof BetterSqlite3;

/**
 * The SQLite queue as a log (schema 5, stores/queue-log.ts): one queue_log row per client per
 * group commit, rows deleted once dequeued past, the consumed prefix of a row still kept skipped
 * at load by sessions.queue_done. Real database files, read back by a fresh store as a restart does.
 */
const tempPath = (): string => join(mkdtempSync(join(tmpdir(), 'nestmq-qlog-')), 'nestmq.db');

function open(path: string): SqliteStore {
  const store = new SqliteStore({ backend: 'sqlite', path, synchronous: 'normal' });
  store.open();
  return store;
}

function enqueue(store: SqliteStore, clientId: string, payloads: string[]): void {
  const s = store.sessions.get(clientId) ?? store.sessions.create(clientId, false);
  for (const p of payloads) s.enqueue(new QueuedMessage(new Message(`q/${clientId}`, Buffer.from(p), 1, false, ''), 1, false));
}

const queued = (store: SqliteStore, clientId: string): string[] => [...(store.sessions.get(clientId)?.queue ?? [])].map((q) => q.message.payload.toString());

function rows<T>(path: string, sql: string): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('SQLite queue log', () => {
  it('a group commit writes one row per client, however many messages it queued for it', () => {
    const path = tempPath();
    const store = open(path);
    enqueue(store, 'a', Array.from({ length: 50 }, (_, i) => `a${i}`));
    enqueue(store, 'b', Array.from({ length: 30 }, (_, i) => `b${i}`));
    enqueue(store, 'a', ['a50']);
    store.commit();
    expect(rows(path, 'SELECT client_id, COUNT(*) AS n FROM queue_log GROUP BY client_id ORDER BY client_id')).toEqual([
      { client_id: 'a', n: 1 },
      { client_id: 'b', n: 1 },
    ]);
    expect(rows(path, 'SELECT COUNT(*) AS n FROM queue')).toEqual([{ n: 0 }]);
    store.close();
    const again = open(path);
    expect(queued(again, 'a')).toEqual(Array.from({ length: 51 }, (_, i) => `a${i}`));
    expect(queued(again, 'b')).toEqual(Array.from({ length: 30 }, (_, i) => `b${i}`));
    again.close();
  });

  it('the dequeued part of a row still kept is not restored; a row dequeued whole is deleted', () => {
    const path = tempPath();
    const store = open(path);
    enqueue(store, 'c', ['1', '2', '3']);
    store.commit();
    enqueue(store, 'c', ['4', '5']);
    store.commit();
    const s = store.sessions.get('c')!;
    for (let i = 0; i < 4; i++) s.dequeue();
    store.commit();
    // The first row (1, 2, 3) is gone; the second (4, 5) stays, its first message marked consumed.
    expect(rows(path, 'SELECT COUNT(*) AS n FROM queue_log')).toEqual([{ n: 1 }]);
    const [{ queue_done: mark }] = rows<{ queue_done: number }>(path, 'SELECT queue_done FROM sessions');
    expect(mark).toBeGreaterThan(0);
    store.close();
    const again = open(path);
    expect(queued(again, 'c')).toEqual(['5']);
    again.close();
  });

  it('messages queued after every row was consumed and the broker restarted are restored (new seqs stay above the mark)', () => {
    const path = tempPath();
    const first = open(path);
    enqueue(first, 'd', ['old']);
    first.commit();
    first.sessions.get('d')!.dequeue();
    first.close();
    expect(rows(path, 'SELECT COUNT(*) AS n FROM queue_log')).toEqual([{ n: 0 }]);
    const second = open(path);
    expect(queued(second, 'd')).toEqual([]);
    enqueue(second, 'd', ['new']);
    second.close();
    const third = open(path);
    expect(queued(third, 'd')).toEqual(['new']);
    third.close();
  });

  it('a deleted session takes its log rows and its mark with it; a new session of the same id starts empty', () => {
    const path = tempPath();
    const store = open(path);
    enqueue(store, 'e', ['1', '2']);
    store.commit();
    store.sessions.get('e')!.dequeue();
    store.commit();
    store.sessions.delete(store.sessions.get('e')!);
    enqueue(store, 'e', ['fresh']);
    store.close();
    expect(rows(path, 'SELECT client_id, last_seq > 0 AS ok FROM queue_log')).toEqual([{ client_id: 'e', ok: 1 }]);
    expect(rows(path, 'SELECT queue_done FROM sessions')).toEqual([{ queue_done: 0 }]);
    const again = open(path);
    expect(queued(again, 'e')).toEqual(['fresh']);
    again.close();
  });

  it('rows an older nestmq left in `queue` stay there until the first commit, which moves them into the log', () => {
    const path = tempPath();
    open(path).close();
    // As schema 4 wrote them: one row per message.
    const db = new Database(path);
    db.prepare('INSERT INTO sessions (client_id) VALUES (?)').run('f');
    const ins = db.prepare('INSERT INTO queue (client_id, seq, topic, payload, msg_qos, qos, retain_flag, properties, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    ins.run('f', 3, 't/1', Buffer.from('one'), 1, 1, 0, null, 0);
    ins.run('f', 4, 't/2', Buffer.from('two'), 2, 1, 1, null, 0);
    ins.run('gone', 5, 't/3', Buffer.from('orphan'), 1, 1, 0, null, 0);
    db.close();
    const store = open(path);
    expect(queued(store, 'f')).toEqual(['one', 'two']);
    // Not committed yet: a crash now would find the old rows again.
    expect(rows(path, 'SELECT seq FROM queue ORDER BY seq')).toEqual([{ seq: 3 }, { seq: 4 }, { seq: 5 }]);
    store.sessions.get('f')!.dequeue();
    store.commit();
    expect(rows(path, 'SELECT COUNT(*) AS n FROM queue')).toEqual([{ n: 0 }]);
    expect(rows(path, 'SELECT client_id, last_seq FROM queue_log')).toEqual([{ client_id: 'f', last_seq: 4 }]);
    store.close();
    const again = open(path);
    const [item] = [...again.sessions.get('f')!.queue!];
    expect([item.message.topic, item.message.payload.toString(), item.message.qos, item.qos, item.retainFlag, item.seq]).toEqual(['t/2', 'two', 2, 1, true, 4]);
    again.close();
  });

  it('a log row it cannot read stops start-up with an error that names the file', () => {
    const path = tempPath();
    const store = open(path);
    enqueue(store, 'g', ['x']);
    store.close();
    const db = new Database(path);
    db.prepare('UPDATE queue_log SET body = substr(body, 1, length(body) - 1)').run();
    db.close();
    expect(() => open(path)).toThrow(PersistenceError);
    expect(() => open(path)).toThrow(`persistence.path: cannot use ${path}`);
  });
});
