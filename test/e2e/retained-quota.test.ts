/**
 * Retained storage limits over real sockets: max-retained-messages / -bytes, globally and per
 * username (anonymous clients share one account). At a limit the PUBACK still comes and current
 * subscribers still get the message; only its retaining is refused, counted and warned about.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerConfigInput } from '../../src';
import { MIGRATIONS } from '../../src/core/stores/sqlite';
import { TestBroker } from '../helpers/broker';
import { type Harness, useBroker } from '../helpers/conformance';
import { RawClient, connack, connect, subscribe, suback } from '../helpers/raw';

/** Publishes a retained QoS 1 message and waits for its PUBACK (the broker has applied it). */
async function retain(c: RawClient, topic: string, payload: string | Buffer, id = 1): Promise<void> {
  await c.publish({ topic, payload, qos: 1, id, retain: true });
}

/** The topics a new subscriber to `filter` receives as retained, sorted. */
async function retainedTopics(h: Harness | { connected: Harness['connected'] }, filter = '#', clientId = 'probe'): Promise<string[]> {
  const c = await h.connected({ clientId });
  c.send(subscribe(1, [filter, 0]));
  await c.expect(suback(1, 0));
  const topics: string[] = [];
  for (;;) {
    try {
      const p = await c.nextPublish(150);
      expect(p.retain).toBe(true);
      topics.push(p.topic);
    } catch {
      break;
    }
  }
  c.destroy();
  return topics.sort();
}

describe('max-retained-messages (3 here): count limit', () => {
  const h = useBroker({ limits: { 'max-retained-messages': 3 } });

  it('a 4th retained topic is acknowledged and delivered live but not stored; counted, one warning; replacing and deleting still work', async () => {
    const warnings: Error[] = [];
    h().broker.on('warning', (e) => warnings.push(e));
    const live = await h().connected({ clientId: 'live' });
    live.send(subscribe(1, ['c/#', 0]));
    await live.expect(suback(1, 0));
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 1; i <= 4; i++) await retain(pub, `c/${i}`, `v${i}`, i);
    // Every one delivered live, the 4th included.
    for (let i = 1; i <= 4; i++) expect((await live.nextPublish()).topic).toBe(`c/${i}`);
    expect(h().broker.stats.refusedRetainedQuota).toBe(1);
    expect(h().broker.retainedCount).toBe(3);
    expect(await retainedTopics(h())).toEqual(['c/1', 'c/2', 'c/3']);
    await retain(pub, 'c/5', 'v5', 5);
    expect(h().broker.stats.refusedRetainedQuota).toBe(2);
    expect(warnings.length).toBe(1); // rate-limited
    expect(warnings[0].message).toContain('max-retained-messages');
    // Replacing an existing topic is allowed at the limit.
    await retain(pub, 'c/2', 'v2-new', 6);
    expect(h().broker.stats.refusedRetainedQuota).toBe(2);
    // Deleting is always allowed and frees a place.
    await retain(pub, 'c/1', '', 7);
    await retain(pub, 'c/4', 'v4', 8);
    expect(h().broker.stats.refusedRetainedQuota).toBe(2);
    expect(await retainedTopics(h(), '#', 'probe2')).toEqual(['c/2', 'c/3', 'c/4']);
  });
});

describe('max-retained-bytes (100 here): payload + topic bytes', () => {
  const h = useBroker({ limits: { 'max-retained-bytes': 100 } });

  it('a message beyond the budget is refused; a replacement may grow within it; a replacement beyond it is refused and the stale message deleted', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await retain(pub, 'b/a', 'x'.repeat(60), 1); // 63 bytes
    await retain(pub, 'b/b', 'x'.repeat(60), 2); // 126 > 100: refused
    expect(h().broker.stats.refusedRetainedQuota).toBe(1);
    expect(h().broker.retainedCount).toBe(1);
    await retain(pub, 'b/a', 'y'.repeat(97), 3); // 100: fits exactly
    expect(h().broker.stats.refusedRetainedQuota).toBe(1);
    await retain(pub, 'b/a', 'z'.repeat(98), 4); // 101: refused
    expect(h().broker.stats.refusedRetainedQuota).toBe(2);
    expect(h().broker.retainedCount).toBe(0);
    await retain(pub, 'b/b', 'x'.repeat(60), 5); // room again
    expect(await retainedTopics(h())).toEqual(['b/b']);
  });
});

describe('per-user limits (2 messages, 1 KiB per user here)', () => {
  const h = useBroker({ limits: { 'max-retained-messages-per-user': 2, 'max-retained-bytes-per-user': 1024 } });

  it('each username has its own account; every anonymous client shares one; a refused message is still delivered live', async () => {
    const alice = await h().connected({ clientId: 'a', username: 'alice' });
    const bob = await h().connected({ clientId: 'b', username: 'bob' });
    const anon1 = await h().connected({ clientId: 'n1' });
    const anon2 = await h().connected({ clientId: 'n2' });
    const live = await h().connected({ clientId: 'live' });
    live.send(subscribe(1, ['u/#', 0]));
    await live.expect(suback(1, 0));
    await retain(alice, 'u/a1', '1', 1);
    await retain(alice, 'u/a2', '2', 2);
    await retain(alice, 'u/a3', '3', 3); // refused: alice has 2
    await retain(bob, 'u/b1', '1', 1); // bob's own account
    await retain(anon1, 'u/n1', '1', 1);
    await retain(anon2, 'u/n2', '2', 1);
    await retain(anon2, 'u/n3', '3', 2); // refused: anonymous has 2
    for (const t of ['u/a1', 'u/a2', 'u/a3', 'u/b1', 'u/n1', 'u/n2', 'u/n3']) expect((await live.nextPublish()).topic).toBe(t);
    expect(h().broker.stats.refusedRetainedQuota).toBe(2);
    expect(await retainedTopics(h())).toEqual(['u/a1', 'u/a2', 'u/b1', 'u/n1', 'u/n2']);
    // alice may replace her own; bob's 2 KiB message breaks his byte budget.
    await retain(alice, 'u/a1', 'new', 4);
    await retain(bob, 'u/b2', Buffer.alloc(2048, 1), 2);
    expect(h().broker.stats.refusedRetainedQuota).toBe(3);
    // Deleting frees alice's place.
    await retain(alice, 'u/a2', '', 5);
    await retain(alice, 'u/a3', '3', 6);
    expect(h().broker.stats.refusedRetainedQuota).toBe(3);
  });
});

describe('retained accounting on SQLite', () => {
  function config(path: string): BrokerConfigInput {
    return { persistence: { backend: 'sqlite', path }, limits: { 'max-retained-messages-per-user': 2 } };
  }

  async function connected(tb: TestBroker, clientId: string, username?: string): Promise<RawClient> {
    const c = await RawClient.tcp(tb.port);
    c.send(connect({ clientId, username }));
    await c.expect(connack(0, 0));
    return c;
  }

  it('a restart keeps each user\'s account: alice is still at her limit, deleting frees a place', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'nestmq-retq-')), 'nestmq.db');
    let tb = await TestBroker.start(config(path));
    try {
      const alice = await connected(tb, 'a', 'alice');
      await retain(alice, 's/1', '1', 1);
      await retain(alice, 's/2', '2', 2);
      alice.destroy();
    } finally {
      await tb.close();
    }
    tb = await TestBroker.start(config(path));
    try {
      expect(tb.broker.retainedCount).toBe(2);
      const alice = await connected(tb, 'a', 'alice');
      await retain(alice, 's/3', '3', 1);
      expect(tb.broker.stats.refusedRetainedQuota).toBe(1);
      const bob = await connected(tb, 'b', 'bob');
      await retain(bob, 's/4', '4', 1);
      await retain(alice, 's/1', '', 2);
      await retain(alice, 's/3', '3', 3);
      expect(tb.broker.stats.refusedRetainedQuota).toBe(1);
      expect(tb.broker.retainedCount).toBe(3);
      alice.destroy();
      bob.destroy();
    } finally {
      await tb.close();
    }
  });

  it('migrates a schema v2 database: its retained messages load, count globally, belong to nobody; new ones are charged to their user', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Database = require('better-sqlite3') as typeof import('better-sqlite3');
    const path = join(mkdtempSync(join(tmpdir(), 'nestmq-retq-')), 'nestmq.db');
    const db = new Database(path);
    for (let v = 0; v < 2; v++) db.exec(MIGRATIONS[v]);
    db.pragma('user_version = 2');
    const ins = db.prepare('INSERT INTO retained (topic, payload, qos) VALUES (?, ?, ?)');
    for (let i = 0; i < 3; i++) ins.run(`old/${i}`, Buffer.from(`o${i}`), 1);
    db.close();

    const tb = await TestBroker.start({ ...config(path), limits: { 'max-retained-messages-per-user': 2, 'max-retained-messages': 5 } });
    try {
      expect(tb.broker.retainedCount).toBe(3);
      const alice = await connected(tb, 'a', 'alice');
      await retain(alice, 'new/1', '1', 1);
      await retain(alice, 'new/2', '2', 2);
      await retain(alice, 'new/3', '3', 3); // per-user limit
      const bob = await connected(tb, 'b', 'bob');
      await retain(bob, 'new/4', '4', 1); // global limit: 3 legacy + 2 = 5
      expect(tb.broker.stats.refusedRetainedQuota).toBe(2);
      alice.destroy();
      bob.destroy();
    } finally {
      await tb.close();
    }
    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const rows = check.prepare('SELECT topic, owner, owner_kind FROM retained ORDER BY topic').all();
    check.close();
    expect(rows).toEqual([
      { topic: 'new/1', owner: 'alice', owner_kind: 2 },
      { topic: 'new/2', owner: 'alice', owner_kind: 2 },
      { topic: 'old/0', owner: null, owner_kind: 0 },
      { topic: 'old/1', owner: null, owner_kind: 0 },
      { topic: 'old/2', owner: null, owner_kind: 0 },
    ]);
  });
});
