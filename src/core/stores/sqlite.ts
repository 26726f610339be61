import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { PersistenceConfig } from '../config/types';
import type { QoS } from '../protocol/packets';
import { InflightMessage, type Message, QueuedMessage } from '../sessions/message';
import { Fifo } from '../sessions/fifo';
import { Session } from '../sessions/session';
import { type RetainedCursor, RetainedTrie } from '../topics/retained-trie';
import type { RetainedStore, SessionJournal, SessionStore, Stores } from './store';
import { QueueLogWriter, readQueueLog } from './queue-log';
import { decodeStoredOptions, encodeStoredOptions, encodeStoredProperties, restoreMessage } from './stored-message';

/**
 * SQLite persistence (better-sqlite3). The engine keeps working on in-memory objects; this store
 * loads them at open() and mirrors every change through the SessionJournal and the retained
 * store's set/delete into a pending batch, committed as ONE transaction (GROUP_COMMIT_MS after
 * the batch's first change, or when the engine calls commit()); the engine holds acknowledgements
 * until the commit holding their state has run. So an acknowledgement never leaves before the
 * state that justifies it is in the database, and a burst of 1,000 publishes costs one commit,
 * not 1,000. The queue and in-flight changes are written as the batch's net effect: the
 * messages a batch queued for a client as ONE queue_log row (queue-log.ts), its dequeues as one
 * range delete and a mark per client, in-flight rows as multi-row INSERTs and deletes by packet
 * id; what is inserted and deleted within the batch is never written: docs/durability.md.
 *
 * Durability (WAL journal): `synchronous: normal` survives a crash or kill -9 of the process
 * (the WAL is in the OS page cache); `synchronous: full` also survives power loss, at the cost of
 * an fsync per commit.
 *
 * Messages are stored inline in each client's log row or in-flight row (a message queued for 3
 * sessions is stored 3 times): simple, and persistent fan-out is usually narrow. Clean sessions are never
 * written: they end with their connection, and a restart ends every connection.
 */

/** Schema migrations; PRAGMA user_version holds how many have run. Append only. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sessions (client_id TEXT PRIMARY KEY, disconnected_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
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
   CREATE TABLE retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL) WITHOUT ROWID;`,
  // 2: the username a session's client last connected with, so that messages queued for it can be
  // authorized after a restart (username_known = 0: not known yet).
  `ALTER TABLE sessions ADD COLUMN username TEXT;
   ALTER TABLE sessions ADD COLUMN username_known INTEGER NOT NULL DEFAULT 0;`,
  // 3: who stored each retained message, for the per-user retained limits (retained-quota.ts).
  // owner_kind: 0 the broker itself, or stored before this column (global limits only);
  // 1 an anonymous client; 2 the username in `owner`.
  `ALTER TABLE retained ADD COLUMN owner TEXT;
   ALTER TABLE retained ADD COLUMN owner_kind INTEGER NOT NULL DEFAULT 0;`,
  // 4: MQTT 5 state (stores/stored-message.ts). sessions.expiry_interval: the Session Expiry
  // Interval an MQTT 5 client asked for, in seconds (0: never), NULL: limits.session-expiry (3.1.1).
  // subscriptions.options: the filter's Subscription Options as JSON, NULL for none. properties:
  // a message's MQTT 5 properties in the codec's encoding, NULL for none; expires_at: its Message
  // Expiry as epoch ms, 0 for never. Rows written before stay 3.1.1 rows: NULL and 0.
  `ALTER TABLE sessions ADD COLUMN expiry_interval INTEGER;
   ALTER TABLE subscriptions ADD COLUMN options TEXT;
   ALTER TABLE queue ADD COLUMN properties BLOB;
   ALTER TABLE queue ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE inflight ADD COLUMN properties BLOB;
   ALTER TABLE inflight ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE retained ADD COLUMN properties BLOB;
   ALTER TABLE retained ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;`,
  // 5: the queue as a log (queue-log.ts): one queue_log row per client per group commit holds the
  // messages that commit queued for it; last_seq is the row's highest seq (a row is deleted once
  // its client dequeued that far). sessions.queue_done: the seq up to which the client's queue is
  // dequeued, so that the consumed part of a row still kept is skipped at load. Rows left in
  // `queue` by an older nestmq are moved into the log by the first commit after start-up.
  `CREATE TABLE queue_log (id INTEGER PRIMARY KEY, client_id TEXT NOT NULL, last_seq INTEGER NOT NULL, body BLOB NOT NULL);
   CREATE INDEX queue_log_by_client ON queue_log (client_id, last_seq);
   ALTER TABLE sessions ADD COLUMN queue_done INTEGER NOT NULL DEFAULT 0;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Changes are committed this long after the first of a batch. Acknowledgements wait for the
 * commit; QoS 0/1 deliveries do not, so a subscriber that acknowledges within this window makes
 * its delivery's insert and delete cancel out before they reach the disk. Measured here (QoS 1,
 * 8 publishers with 100 in flight each, a persistent subscriber): acknowledgements come back a
 * few event-loop turns after the delivery, so a window of one turn cancels almost nothing, while
 * 3 ms cancels most; longer windows start to cap publishers that keep few messages in flight
 * (window / delay messages per second).
 */
const GROUP_COMMIT_MS = 3;

type Statement = BetterSqlite3.Statement;

/** Values of one `inflight` row, in the column order of INFLIGHT_COLUMNS. */
const INFLIGHT_WIDTH = 11;
const INFLIGHT_COLUMNS = 'client_id, packet_id, seq, topic, payload, msg_qos, qos, retain_flag, state, properties, expires_at';
/**
 * Rows (or keys) per multi-row statement, largest first: a batch's rows go in as few statements
 * as these sizes allow (one statement per row cost about 1.7 µs more per message than the B-tree
 * work itself). 64 in-flight rows are 704 parameters, far below SQLite's limit (32766).
 */
const CHUNKS = [64, 16, 4, 1] as const;

/** One prepared multi-row statement per CHUNKS size, each with its argument array (reused). */
type Chunked = { stmt: Statement; rows: number; args: unknown[] }[];

/** Writes the statement values of the row at src[at] (and on) to args[n] and on. */
type RowWriter = (src: unknown[], at: number, args: unknown[], n: number) => void;

/**
 * Runs `chunks` over the `count` live rows of `src` (`stride` entries a row; a row whose first
 * entry is null is skipped), `write` turning each into `width` values, `fixed` values (`head`)
 * first in every statement's arguments.
 */
function runChunked(chunks: Chunked, src: unknown[], stride: number, count: number, width: number, write: RowWriter, fixed = 0, head?: unknown): void {
  let left = count;
  let at = 0;
  for (const chunk of chunks) {
    if (left < chunk.rows) continue;
    const args = chunk.args;
    if (fixed > 0) args[0] = head;
    while (left >= chunk.rows) {
      for (let n = fixed; n < args.length; at += stride) {
        if (src[at] === null) continue;
        write(src, at, args, n);
        n += width;
      }
      chunk.stmt.run(args);
      left -= chunk.rows;
    }
    // Not kept alive by the reused array until the next commit.
    args.fill(null);
  }
}

const writeId: RowWriter = (src, at, args, n) => {
  args[n] = src[at];
};

interface StoredRow {
  client_id: string;
  topic: string;
  payload: Buffer;
  msg_qos: number;
  qos: number;
  retain_flag: number;
  seq: number;
  properties: Buffer | null;
  expires_at: number;
}

/**
 * The database holds payloads and usernames: its folder, when nestmq creates it, is 0700 and the
 * file 0600, whatever the umask; an existing file is tightened to 0600 too (its -wal and -shm
 * files take its mode).
 */
function createPrivately(path: string): void {
  const folder = resolve(dirname(path));
  const created = mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (created !== undefined) {
    // mkdir's mode passes through the umask: set each folder created here explicitly, from the
    // file's folder up to the first one created (and never above it).
    const first = resolve(created);
    for (let dir = folder; dir.startsWith(first); dir = dirname(dir)) {
      chmodSync(dir, 0o700);
      if (dir === first) break;
    }
  }
  closeSync(openSync(path, 'a', 0o600));
  restrict(path, 0o600);
}

/** chmod, tolerating a file this process does not own (it can still be opened; the operator chose its mode). */
function restrict(file: string, mode: number): void {
  try {
    chmodSync(file, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}

/** Wraps a failure to open or migrate the database with the config key and file it concerns. */
export class PersistenceError extends Error {
  constructor(path: string, cause: unknown) {
    super(`persistence.path: cannot use ${path}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'PersistenceError';
  }
}

export class SqliteStore implements SessionJournal {
  readonly sessions: SqliteSessionStore;
  readonly retained: SqliteRetainedStore;
  private db: BetterSqlite3.Database | null = null;
  private stmts!: Record<
    | 'insSession' | 'delSession' | 'detach' | 'attach' | 'setSub' | 'delSub' | 'delSubs' | 'delQueue'
    | 'delInflights' | 'setQos2' | 'delQos2' | 'delQos2s' | 'setRetained' | 'delRetained'
    | 'appendLog' | 'consumeLog' | 'markDequeued' | 'clearOldQueue',
    Statement
  >;
  /** Multi-row INSERTs into `inflight`, DELETEs of one client's in-flight rows by packet id. */
  private inflightMany: Chunked = [];
  private unflightMany: Chunked = [];
  /** The batch; a null entry is an operation cancelled by a later one in the same batch. */
  private pending: ([Statement, unknown[]] | null)[] = [];
  private runBatch!: (ops: ([Statement, unknown[]] | null)[]) => void;
  /**
   * The batch's in-flight changes as net effects, written at commit after `pending`: first the
   * deletes (per client id, the packet ids whose stored row goes), then the inserts (per session,
   * packet id -> the row as it must be stored). A delivery acknowledged within the group-commit
   * window is inserted and deleted here, so neither reaches the disk; a state change (PUBREC) of a
   * stored row is a delete and an insert of the whole row; a delete of a stored row cancels any
   * pending insert of its key. A client's whole-session delete (delInflights, in `pending`) drops
   * that session's pending inserts when it is made (sessionDropped).
   */
  private inflightRows = new Map<Session, Map<number, InflightMessage>>();
  private inflightGone = new Map<string, number[]>();
  /**
   * Messages queued in this batch, as pairs (client id, QueuedMessage) in seq order, written at
   * commit as one queue_log row per client (after `pending`); a pair whose client id is null was
   * dequeued before the commit (cancelled: never written).
   */
  private queueRows: unknown[] = [];
  /** Rows of queueRows cancelled (dequeued in the same batch). */
  private queueCancelled = 0;
  /**
   * Per client, the highest seq dequeued in this batch among messages already in the database:
   * at commit its log rows that end at or before it are deleted and the rest of the consumed
   * prefix is marked (sessions.queue_done). Correct because a session's queue is a FIFO whose
   * seqs rise in queue order (one store-wide counter, assigned at enqueue): what a batch dequeues
   * is a prefix of the queue, so the client's stored messages up to the last one dequeued are
   * exactly the ones dequeued; messages stored later have higher seqs.
   */
  private queueDone = new Map<string, number>();
  private readonly logWriter = new QueueLogWriter();
  private readonly listeners: ((err?: Error) => void)[] = [];
  /** Pairs (session, args of a pending setSub) whose options column is filled at commit. */
  private readonly optionRows: unknown[] = [];
  /** The last message whose properties were encoded for a row, and that encoding. */
  private lastEncoded: Message | null = null;
  private lastEncodedProperties: Buffer | null = null;
  private seq = 0;
  private scheduled = false;
  private opened = false;

  constructor(readonly config: PersistenceConfig) {
    this.sessions = new SqliteSessionStore(this);
    this.retained = new SqliteRetainedStore(this);
  }

  /** Opens (creating) the database, migrates it, and loads sessions and retained messages. */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    const path = this.config.path;
    try {
      // Loaded here, not at import: embedders on the memory store never need the native module.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const Database = require('better-sqlite3') as typeof BetterSqlite3;
      if (path !== ':memory:') createPrivately(path);
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      // SQLite gives -wal and -shm the database file's mode; set again in case they predate it.
      if (path !== ':memory:') for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) restrict(f, 0o600);
      db.pragma(`synchronous = ${this.config.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) throw new Error(`schema version ${version} is newer than this nestmq (${MIGRATIONS.length})`);
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
      this.db = db;
      this.prepare(db);
      this.load(db);
    } catch (err) {
      this.db?.close();
      this.db = null;
      throw new PersistenceError(path, err);
    }
  }

  private prepare(db: BetterSqlite3.Database): void {
    const p = (sql: string): Statement => db.prepare(sql);
    this.stmts = {
      insSession: p('INSERT INTO sessions (client_id, disconnected_at) VALUES (?, 0) ON CONFLICT (client_id) DO UPDATE SET disconnected_at = 0'),
      delSession: p('DELETE FROM sessions WHERE client_id = ?'),
      detach: p('UPDATE sessions SET disconnected_at = ?, expiry_interval = ? WHERE client_id = ?'),
      attach: p('UPDATE sessions SET username = ?, username_known = 1, expiry_interval = ? WHERE client_id = ?'),
      setSub: p(
        `INSERT INTO subscriptions (client_id, filter, qos, options) VALUES (?, ?, ?, ?)
         ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, options = excluded.options`,
      ),
      delSub: p('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?'),
      delSubs: p('DELETE FROM subscriptions WHERE client_id = ?'),
      delQueue: p('DELETE FROM queue_log WHERE client_id = ?'),
      delInflights: p('DELETE FROM inflight WHERE client_id = ?'),
      setQos2: p('INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?)'),
      delQos2: p('DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?'),
      delQos2s: p('DELETE FROM incoming_qos2 WHERE client_id = ?'),
      setRetained: p(
        `INSERT INTO retained (topic, payload, qos, owner, owner_kind, properties, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, owner = excluded.owner,
           owner_kind = excluded.owner_kind, properties = excluded.properties, expires_at = excluded.expires_at`,
      ),
      delRetained: p('DELETE FROM retained WHERE topic = ?'),
      appendLog: p('INSERT INTO queue_log (client_id, last_seq, body) VALUES (?, ?, ?)'),
      consumeLog: p('DELETE FROM queue_log WHERE client_id = ? AND last_seq <= ?'),
      markDequeued: p('UPDATE sessions SET queue_done = ? WHERE client_id = ?'),
      clearOldQueue: p('DELETE FROM queue'),
    };
    const inflightRow = `(${new Array(INFLIGHT_WIDTH).fill('?').join(', ')})`;
    this.inflightMany = CHUNKS.map((rows) => ({
      stmt: p(`INSERT INTO inflight (${INFLIGHT_COLUMNS}) VALUES ${new Array(rows).fill(inflightRow).join(', ')}`),
      rows,
      args: new Array<unknown>(rows * INFLIGHT_WIDTH),
    }));
    this.unflightMany = CHUNKS.map((rows) => ({
      stmt: p(`DELETE FROM inflight WHERE client_id = ? AND packet_id IN (${new Array(rows).fill('?').join(', ')})`),
      rows,
      args: new Array<unknown>(1 + rows),
    }));
    this.runBatch = db.transaction((ops: ([Statement, unknown[]] | null)[]) => {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        if (op !== null) op[0].run(op[1]);
      }
      // The queue's and the in-flight table's row moves commute with every op above but a
      // session's delete (delQueue, delInflights), which drops that session's earlier pending rows
      // when it is made (sessionDropped). Then the net effects: deletes before inserts.
      if (this.queueDone.size > 0) {
        const { consumeLog, markDequeued } = this.stmts;
        for (const [clientId, seq] of this.queueDone) {
          consumeLog.run(clientId, seq);
          markDequeued.run(seq, clientId);
        }
      }
      if (this.queueRows.length / 2 > this.queueCancelled) this.appendQueueLog();
      for (const [clientId, ids] of this.inflightGone) runChunked(this.unflightMany, ids, 1, ids.length, 1, writeId, 1, clientId);
      if (this.inflightRows.size > 0) {
        const pairs: unknown[] = [];
        for (const [session, rows] of this.inflightRows) for (const e of rows.values()) pairs.push(session.clientId, e);
        runChunked(this.inflightMany, pairs, 2, pairs.length / 2, INFLIGHT_WIDTH, this.writeInflightRow);
      }
    });
  }

  private load(db: BetterSqlite3.Database): void {
    const now = Date.now();
    const sessions = new Map<string, Session>();
    type SessionRow = { client_id: string; disconnected_at: number; username: string | null; username_known: number; expiry_interval: number | null; queue_done: number };
    const sessionRows = db.prepare('SELECT client_id, disconnected_at, username, username_known, expiry_interval, queue_done FROM sessions').all() as SessionRow[];
    const dequeuedUpTo = new Map<string, number>();
    for (const row of sessionRows) {
      const s = new Session(row.client_id, false, this);
      if (row.username_known === 1) s.username = row.username;
      if (row.expiry_interval !== null) {
        // The MQTT 5 client's own Session Expiry Interval, counted from its disconnect below.
        s.expiryInterval = row.expiry_interval;
        s.expiryRequested = true;
      }
      // A session whose client was connected when the broker stopped counts as left now.
      s.disconnectedAt = row.disconnected_at > 0 ? row.disconnected_at : now;
      sessions.set(row.client_id, s);
      if (row.queue_done > 0) {
        dequeuedUpTo.set(row.client_id, row.queue_done);
        // New seqs must stay above every mark, even once the rows up to it are all deleted.
        if (row.queue_done > this.seq) this.seq = row.queue_done;
      }
    }
    const get = (id: string): Session | undefined => sessions.get(id);
    type SubscriptionRow = { client_id: string; filter: string; qos: QoS; options: string | null };
    for (const r of db.prepare('SELECT client_id, filter, qos, options FROM subscriptions').all() as SubscriptionRow[]) {
      const s = get(r.client_id);
      if (s === undefined) continue;
      if (s.subscriptions === null) s.subscriptions = new Map();
      s.subscriptions.set(r.filter, r.qos);
      // Through setSubscriptionOptions, which keeps subscriptionIdCount (deliveries look ids up only when > 0).
      if (r.options !== null) s.setSubscriptionOptions(r.filter, decodeStoredOptions(r.options));
    }
    // Expired queued copies stay: delivery drops them unsent v5 [MQTT-3.3.2-5] and deletes the rows.
    const message = (r: StoredRow): Message => restoreMessage(r.topic, r.payload, r.msg_qos as QoS, false, r.properties, r.expires_at);
    // Rows of the `queue` table an older nestmq wrote (schema 4 and before): loaded, and moved
    // into the log by the first commit (pending as if queued now; their seqs are the lowest).
    const oldRows = db.prepare('SELECT * FROM queue ORDER BY seq').all() as StoredRow[];
    for (const r of oldRows) {
      const s = get(r.client_id);
      if (s === undefined) continue;
      const item = new QueuedMessage(message(r), r.qos as QoS, r.retain_flag === 1);
      item.seq = r.seq;
      // Straight into the collection: loading must not journal the rows back.
      if (s.queue === null) s.queue = new Fifo();
      s.queue.push(item);
      this.queueRows.push(r.client_id, item);
      if (r.seq > this.seq) this.seq = r.seq;
    }
    if (oldRows.length > 0) this.op(this.stmts.clearOldQueue, []);
    // The log, in commit order: each client's rows in seq order.
    let loading: Session | undefined;
    const take = (item: QueuedMessage): void => {
      if (loading!.queue === null) loading!.queue = new Fifo();
      loading!.queue.push(item);
    };
    for (const r of db.prepare('SELECT client_id, body FROM queue_log ORDER BY id').iterate() as IterableIterator<{ client_id: string; body: Buffer }>) {
      loading = get(r.client_id);
      if (loading === undefined) continue;
      const last = readQueueLog(r.body, dequeuedUpTo.get(r.client_id) ?? 0, take);
      if (last > this.seq) this.seq = last;
    }
    for (const r of db.prepare('SELECT * FROM inflight ORDER BY seq').all() as (StoredRow & { packet_id: number; state: number })[]) {
      const s = get(r.client_id);
      if (s === undefined) continue;
      const entry = new InflightMessage(r.packet_id, message(r), r.qos as 1 | 2, r.retain_flag === 1, r.state);
      entry.seq = r.seq;
      if (s.inflight === null) s.inflight = new Map();
      s.inflight.set(r.packet_id, entry);
      if (r.seq > this.seq) this.seq = r.seq;
    }
    for (const r of db.prepare('SELECT client_id, packet_id FROM incoming_qos2').all() as { client_id: string; packet_id: number }[]) {
      const s = get(r.client_id);
      if (s === undefined) continue;
      if (s.incomingQos2 === null) s.incomingQos2 = new Set();
      s.incomingQos2.add(r.packet_id);
    }
    this.sessions.loaded(sessions);
    type RetainedRow = { topic: string; payload: Buffer; qos: QoS; owner: string | null; owner_kind: number; properties: Buffer | null; expires_at: number };
    const retainedRows = db.prepare('SELECT topic, payload, qos, owner, owner_kind, properties, expires_at FROM retained').all() as RetainedRow[];
    for (const r of retainedRows) {
      if (r.expires_at !== 0 && r.expires_at <= now) {
        // v5 [MQTT-3.3.2-5] expired while the broker was down: never delivered again.
        this.op(this.stmts.delRetained, [r.topic]);
        continue;
      }
      const m = restoreMessage(r.topic, r.payload, r.qos, true, r.properties, r.expires_at);
      m.retainedOwner = r.owner_kind === 2 ? r.owner : r.owner_kind === 1 ? null : undefined;
      this.retained.loaded(m);
    }
  }

  /** Queue one statement for the next group commit; returns its index in the batch. */
  op(stmt: Statement, args: unknown[]): number {
    if (this.db === null) return -1;
    this.pending.push([stmt, args]);
    this.schedule();
    return this.pending.length - 1;
  }

  private schedule(): void {
    if (!this.scheduled) {
      // Group commit: everything changed within GROUP_COMMIT_MS goes in one transaction.
      this.scheduled = true;
      setTimeout(this.scheduledCommit, GROUP_COMMIT_MS);
    }
  }

  /**
   * The offset in queueRows of `item` when it was queued in this batch, else -1: a binary search,
   * the pairs being in seq order (no map per message).
   */
  private freshQueueRow(item: QueuedMessage): number {
    const rows = this.queueRows;
    let lo = 0;
    let hi = rows.length / 2 - 1;
    const seq = item.seq;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = mid * 2;
      const s = (rows[at + 1] as QueuedMessage).seq;
      if (s === seq) return rows[at + 1] === item ? at : -1;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The batch's queued messages still queued, one queue_log row per client, its messages in seq order (the pairs are). */
  private appendQueueLog(): void {
    const rows = this.queueRows;
    const byClient = new Map<string, QueuedMessage[]>();
    for (let at = 0; at < rows.length; at += 2) {
      const clientId = rows[at] as string | null;
      if (clientId === null) continue;
      let list = byClient.get(clientId);
      if (list === undefined) byClient.set(clientId, (list = []));
      list.push(rows[at + 1] as QueuedMessage);
    }
    const writer = this.logWriter;
    for (const [clientId, items] of byClient) {
      writer.begin();
      for (const item of items) writer.add(item, this.propertiesOf(item.message));
      this.stmts.appendLog.run(clientId, items[items.length - 1].seq, writer.end());
    }
  }

  /** An in-flight row from its pair (client id, InflightMessage), in the order of INFLIGHT_COLUMNS. */
  private readonly writeInflightRow: RowWriter = (src, at, args, n) => {
    const e = src[at + 1] as InflightMessage;
    const m = e.message;
    args[n] = src[at];
    args[n + 1] = e.packetId;
    args[n + 2] = e.seq;
    args[n + 3] = m.topic;
    args[n + 4] = m.payload;
    args[n + 5] = m.qos;
    args[n + 6] = e.qos;
    args[n + 7] = e.retainFlag ? 1 : 0;
    args[n + 8] = e.state;
    args[n + 9] = this.propertiesOf(m);
    args[n + 10] = m.expiresAt;
  };

  /**
   * A session is deleted (delQueue, delInflights, pending from now on): its queue and in-flight rows
   * inserted earlier in this batch, its queue range delete and its in-flight deletes have nothing
   * left to do. (Rows a new session of the same client id writes later in the batch go in after
   * those deletes: `pending` runs first.)
   */
  sessionDropped(session: Session): void {
    this.inflightRows.delete(session);
    const clientId = session.clientId;
    this.inflightGone.delete(clientId);
    this.queueDone.delete(clientId);
    const rows = this.queueRows;
    for (let at = 0; at < rows.length; at += 2) {
      if (rows[at] !== clientId) continue;
      rows[at] = null;
      this.queueCancelled++;
    }
  }

  get hasPendingChanges(): boolean {
    return this.pending.length > 0 || this.queueRows.length > 0 || this.queueDone.size > 0 || this.inflightRows.size > 0 || this.inflightGone.size > 0;
  }

  onCommit(listener: (err?: Error) => void): void {
    if (!this.listeners.includes(listener)) this.listeners.push(listener);
  }

  private readonly scheduledCommit = (): void => {
    this.scheduled = false;
    let error: Error | undefined;
    try {
      this.commit();
    } catch (err) {
      error = err as Error;
    }
    for (const l of this.listeners) l(error);
  };

  /**
   * The stored form of an MQTT 5 message's properties (null: none). One message queued for many
   * sessions is written once per session in a row: the last encoding is reused rather than made again.
   */
  propertiesOf(m: Message): Buffer | null {
    if (m.properties === null) return null;
    if (this.lastEncoded !== m) {
      this.lastEncodedProperties = encodeStoredProperties(m.properties);
      this.lastEncoded = m;
    }
    return this.lastEncodedProperties;
  }

  /** One transaction for everything pending; throws when the database refuses it. */
  commit(): void {
    if (!this.hasPendingChanges || this.db === null) return;
    const rows = this.optionRows;
    for (let i = 0; i < rows.length; i += 2) {
      const session = rows[i] as Session;
      const args = rows[i + 1] as unknown[];
      args[3] = encodeStoredOptions(session.subscriptionOptions?.get(args[1] as string));
    }
    const ops = this.pending;
    this.runBatch(ops);
    // Only after success: a failed batch stays pending and is retried with the next one.
    this.pending = [];
    // New maps, not clear(): V8's Map#clear leaves the old backing table (by now in the old
    // generation, the maps living as long as the store) holding its entries, and the scavenger
    // treats them as alive until the next full collection. With clear() here, 44% of the young
    // generation survived each scavenge in the qos1persist row (InflightMessages and everything
    // they hold, promoted, then freed by Mark-Compacts): GC took 22% of the broker's busy time
    // and a message 4.5-5.3 us of CPU; with new maps, 3% survive and a message takes 3.0-4.4 us.
    this.inflightRows = new Map();
    this.inflightGone = new Map();
    this.queueRows = [];
    this.queueCancelled = 0;
    this.queueDone = new Map();
    this.optionRows.length = 0;
    this.lastEncoded = null;
    this.lastEncodedProperties = null;
  }

  close(): void {
    if (this.db === null) return;
    try {
      this.commit();
    } finally {
      this.db.close();
      this.db = null;
    }
  }

  get isOpen(): boolean {
    return this.db !== null;
  }

  get statements(): SqliteStore['stmts'] {
    return this.stmts;
  }

  // ---- SessionJournal ------------------------------------------------------------------

  subscriptionSet(session: Session, filter: string, qos: QoS): void {
    const args: unknown[] = [session.clientId, filter, qos, null];
    this.op(this.stmts.setSub, args);
    // The SUBSCRIBE handler sets the filter's options after its QoS: they are read at commit.
    this.optionRows.push(session, args);
  }

  subscriptionDeleted(session: Session, filter: string): void {
    this.op(this.stmts.delSub, [session.clientId, filter]);
  }

  inflightSet(session: Session, e: InflightMessage): void {
    if (e.seq === 0) {
      e.seq = ++this.seq;
      if (this.db === null) return;
    } else {
      if (this.db === null) return;
      // A state change of a row stored by an earlier batch: the whole row is deleted and
      // inserted. (One inserted in this batch is written as it is at commit.)
      if (this.inflightRows.get(session)?.has(e.packetId) === true) return;
      this.inflightDeleted(session, e.packetId);
    }
    let rows = this.inflightRows.get(session);
    if (rows === undefined) this.inflightRows.set(session, (rows = new Map()));
    rows.set(e.packetId, e);
    this.schedule();
  }

  inflightDeleted(session: Session, packetId: number): void {
    if (this.db === null) return;
    // Inserted in this batch (the key was free in memory, so any stored row of it is already
    // being deleted): neither is written.
    if (this.inflightRows.get(session)?.delete(packetId) === true) return;
    const gone = this.inflightGone.get(session.clientId);
    if (gone === undefined) this.inflightGone.set(session.clientId, [packetId]);
    else gone.push(packetId);
    this.schedule();
  }

  queued(session: Session, item: QueuedMessage): void {
    item.seq = ++this.seq;
    if (this.db === null) return;
    this.queueRows.push(session.clientId, item);
    this.schedule();
  }

  dequeued(session: Session, item: QueuedMessage): void {
    if (item.seq === 0 || this.db === null) return;
    const at = this.freshQueueRow(item);
    if (at >= 0) {
      // Queued in this batch: never written (unless already dropped with its session).
      if (this.queueRows[at] !== null) {
        this.queueRows[at] = null;
        this.queueCancelled++;
      }
      return;
    }
    // FIFO: each dequeue of a client has a higher seq than the one before.
    this.queueDone.set(session.clientId, item.seq);
    this.schedule();
  }

  incomingQos2Set(session: Session, packetId: number): void {
    this.op(this.stmts.setQos2, [session.clientId, packetId]);
  }

  incomingQos2Deleted(session: Session, packetId: number): void {
    this.op(this.stmts.delQos2, [session.clientId, packetId]);
  }
}

/** The lifecycle both views of one SQLite database share: one open, one batch, one commit. */
abstract class SqliteView {
  readonly durable = true;

  constructor(protected readonly store: SqliteStore) {}

  open(): Promise<void> {
    this.store.open();
    return Promise.resolve();
  }

  commit(): void {
    this.store.commit();
  }

  get hasPendingChanges(): boolean {
    return this.store.hasPendingChanges;
  }

  onCommit(listener: (err?: Error) => void): void {
    this.store.onCommit(listener);
  }

  flush(): Promise<void> {
    this.store.commit();
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.store.close();
    return Promise.resolve();
  }
}

/** sessions.expiry_interval: the MQTT 5 client's interval, NULL to follow limits.session-expiry. */
function storedExpiry(session: Session): number | null {
  return session.expiryRequested ? session.expiryInterval : null;
}

export class SqliteSessionStore extends SqliteView implements SessionStore {
  private sessions = new Map<string, Session>();

  loaded(sessions: Map<string, Session>): void {
    this.sessions = sessions;
  }

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  create(clientId: string, clean: boolean): Session {
    // Clean sessions end with their connection: nothing of theirs is written.
    const session = new Session(clientId, clean, clean ? null : this.store);
    this.sessions.set(clientId, session);
    if (!clean) this.store.op(this.store.statements.insSession, [clientId]);
    return session;
  }

  delete(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    this.sessions.delete(session.clientId);
    if (session.journal === null) return;
    const s = this.store.statements;
    const id = session.clientId;
    this.store.sessionDropped(session);
    for (const stmt of [s.delSubs, s.delQueue, s.delInflights, s.delQos2s, s.delSession]) this.store.op(stmt, [id]);
  }

  detached(session: Session): void {
    session.disconnectedAt = Date.now();
    if (session.journal !== null) this.store.op(this.store.statements.detach, [session.disconnectedAt, storedExpiry(session), session.clientId]);
  }

  attached(session: Session): void {
    if (session.journal !== null) this.store.op(this.store.statements.attach, [session.username ?? null, storedExpiry(session), session.clientId]);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }


  override close(): Promise<void> {
    this.sessions.clear();
    return super.close();
  }
}

export class SqliteRetainedStore extends SqliteView implements RetainedStore {
  private readonly trie = new RetainedTrie<Message>();

  loaded(msg: Message): void {
    this.trie.set(msg.topic, msg);
  }

  get size(): number {
    return this.trie.size;
  }

  get(topic: string): Message | undefined {
    return this.trie.get(topic);
  }

  set(msg: Message): void {
    this.trie.set(msg.topic, msg);
    const owner = msg.retainedOwner;
    const kind = owner === undefined ? 0 : owner === null ? 1 : 2;
    const props = this.store.propertiesOf(msg);
    this.store.op(this.store.statements.setRetained, [msg.topic, msg.payload, msg.qos, owner ?? null, kind, props, msg.expiresAt]);
  }

  delete(topic: string): void {
    if (this.trie.delete(topic)) this.store.op(this.store.statements.delRetained, [topic]);
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
}

export function createSqliteStores(config: PersistenceConfig): Stores {
  const store = new SqliteStore(config);
  return { sessions: store.sessions, retained: store.retained };
}
