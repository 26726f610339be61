import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { MemoryRetainedStore, MemorySessionStore, type RetainedStore, type SessionStore, type Stores, SubscriptionTrie } from '../../../src/core';
import { SqliteRetainedStore, SqliteSessionStore } from '../../../src/core/stores/sqlite';
import { SessionsModule } from '../../../src/modules/sessions/sessions.module';
import { TopicsModule } from '../../../src/modules/topics/topics.module';
import { RETAINED_STORE, SESSION_STORE, STORES } from '../../../src/modules/tokens';
import { moduleContext } from './nest-context';

describe('SessionsModule and TopicsModule', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('provide in-memory stores by default, and an empty subscription trie', async () => {
    app = await moduleContext({}, [SessionsModule, TopicsModule]);
    expect(app.get<SessionStore>(SESSION_STORE)).toBeInstanceOf(MemorySessionStore);
    expect(app.get<RetainedStore>(RETAINED_STORE)).toBeInstanceOf(MemoryRetainedStore);
    expect(app.get(SubscriptionTrie)).toBeInstanceOf(SubscriptionTrie);
    expect(app.get(SubscriptionTrie).size).toBe(0);
  });

  it('provide the SQLite stores of one database with persistence.backend sqlite', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'nestmq-stores-module-')), 'nestmq.db');
    app = await moduleContext({ persistence: { backend: 'sqlite', path } }, [SessionsModule, TopicsModule]);
    const sessions = app.get<SessionStore>(SESSION_STORE);
    const retained = app.get<RetainedStore>(RETAINED_STORE);
    expect(sessions).toBeInstanceOf(SqliteSessionStore);
    expect(retained).toBeInstanceOf(SqliteRetainedStore);
    expect(sessions.durable && retained.durable).toBe(true);
    // One backend, opened once, serves both (one group commit).
    const stores = app.get<Stores>(STORES);
    expect(stores.sessions).toBe(sessions);
    expect(stores.retained).toBe(retained);
    await sessions.open();
    await retained.open();
    await sessions.close();
    await retained.close();
  });
});
