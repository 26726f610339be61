import { chmodSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { ChildBroker, killChildBrokers } from '../helpers/child-broker';
import { TestBroker } from '../helpers/broker';
import * as raw from '../helpers/raw';
import { RawClient, T } from '../helpers/raw';
import { waitFor } from '../helpers/wait';

/**
 * Durability on SQLite with real child-process brokers: what was acknowledged survives kill -9
 * and SIGTERM, exactly as its QoS promises.
 */
function sqliteConfig(path: string, extra: object = {}): object {
  return { listeners: { default: { bind: '127.0.0.1:0' } }, persistence: { backend: 'sqlite', path }, ...extra };
}

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'nestmq-dur-')), 'data', 'nestmq.db');
}

async function rawConnect(port: number, clientId: string, clean: boolean): Promise<{ c: RawClient; sessionPresent: number }> {
  const c = await RawClient.tcp(port);
  c.send(raw.connect({ clientId, clean }));
  const ack = await c.next();
  expect(ack.type).toBe(T.CONNACK);
  expect(ack.body[1]).toBe(0);
  return { c, sessionPresent: ack.body[0] };
}

/** Creates the persistent subscription of `sub` on d/# at QoS 2, then leaves cleanly. */
async function persistentSubscriber(port: number): Promise<void> {
  const { c } = await rawConnect(port, 'sub', false);
  c.send(raw.subscribe(1, ['d/#', 2]));
  expect((await c.next()).bytes).toEqual(raw.suback(1, 2));
  c.send(raw.DISCONNECT);
  await c.waitClosed();
}

/** Publishes n QoS 1 messages on d/q1 and n QoS 2 on d/q2 and waits for every PUBACK / PUBCOMP. */
async function publishAcknowledged(url: string, n: number): Promise<void> {
  const pub = mqtt.connect(url, { clientId: 'pub', reconnectPeriod: 0 });
  await new Promise((r) => pub.once('connect', r));
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    acks.push(pub.publishAsync('d/q1', String(i), { qos: 1 }));
    acks.push(pub.publishAsync('d/q2', String(i), { qos: 2 }));
  }
  await Promise.all(acks);
  pub.end(true);
}

/** Receives `n` messages, completing every flow (PUBACK; PUBREC, then PUBCOMP for each PUBREL). */
async function receiveAll(c: RawClient, n: number): Promise<{ q1: string[]; q2: string[] }> {
  const got = { q1: [] as string[], q2: [] as string[] };
  let count = 0;
  const awaitingRel = new Set<number>();
  while (count < n || awaitingRel.size > 0) {
    const p = await c.next(5000);
    if (p.type === T.PUBREL) {
      expect(awaitingRel.delete(raw.idOf(p))).toBe(true);
      c.send(raw.pubcomp(raw.idOf(p)));
      continue;
    }
    const m = raw.readPublish(p);
    (m.topic === 'd/q1' ? got.q1 : got.q2).push(m.payload.toString());
    count++;
    if (m.qos === 1) c.send(raw.puback(m.id!));
    if (m.qos === 2) {
      awaitingRel.add(m.id!);
      c.send(raw.pubrec(m.id!));
    }
  }
  return got;
}

const seq = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i));

describe('durability (SQLite, child-process brokers)', () => {
  jest.setTimeout(30000);
  afterAll(killChildBrokers);
  const N = 50;

  it.each(['kill -9', 'SIGTERM'])(
    '[MQTT-4.1.0-1][MQTT-3.1.2-5] after %s, an offline persistent subscriber receives every acknowledged QoS 1/2 message, in order, QoS 2 exactly once',
    async (how) => {
      const path = tempDb();
      let broker = await ChildBroker.start(sqliteConfig(path));
      await persistentSubscriber(broker.port);
      await publishAcknowledged(broker.url, N);
      if (how === 'kill -9') await broker.crash();
      else expect(await broker.stop()).toBe(0);

      broker = await ChildBroker.start(sqliteConfig(path));
      const { c, sessionPresent } = await rawConnect(broker.port, 'sub', false);
      expect(sessionPresent).toBe(1);
      const got = await receiveAll(c, 2 * N);
      expect(got.q1).toEqual(seq(N));
      expect(got.q2).toEqual(seq(N));
      await c.expectNothing(); // no duplicate follows
      c.destroy();
      await broker.stop();
    },
  );

  it('[MQTT-4.4.0-1][MQTT-4.3.3-1] in-flight deliveries survive kill -9: unacked PUBLISH re-sent with DUP=1 and its id, PUBREC\'d ones get PUBREL', async () => {
    const path = tempDb();
    let broker = await ChildBroker.start(sqliteConfig(path));
    const first = await rawConnect(broker.port, 'sub', false);
    first.c.send(raw.subscribe(1, ['d/#', 2]));
    await first.c.next();
    const pub = mqtt.connect(broker.url, { reconnectPeriod: 0 });
    await new Promise((r) => pub.once('connect', r));
    await pub.publishAsync('d/q1', 'one', { qos: 1 });
    await pub.publishAsync('d/q2', 'two', { qos: 2 });
    pub.end(true);
    const m1 = raw.readPublish(await first.c.next());
    const m2 = raw.readPublish(await first.c.next());
    expect([m1.qos, m2.qos]).toEqual([1, 2]);
    // Acknowledge only the first half of the QoS 2 flow, then make sure the broker stored it.
    first.c.send(raw.pubrec(m2.id!));
    expect(raw.idOf(await first.c.next())).toBe(m2.id); // PUBREL
    await broker.crash();
    first.c.destroy();

    broker = await ChildBroker.start(sqliteConfig(path));
    const { c, sessionPresent } = await rawConnect(broker.port, 'sub', false);
    expect(sessionPresent).toBe(1);
    const again = raw.readPublish(await c.next());
    expect(again).toMatchObject({ topic: 'd/q1', qos: 1, dup: true, id: m1.id });
    expect(again.payload.toString()).toBe('one');
    const rel = await c.next();
    expect(rel.bytes).toEqual(raw.pubrel(m2.id!));
    await c.expectNothing(); // the QoS 2 PUBLISH itself is never re-sent after PUBREC
    c.destroy();
    await broker.stop();
  });

  it('[MQTT-4.3.3-2] an inbound QoS 2 message awaiting PUBREL survives kill -9: the re-sent PUBLISH is not routed twice', async () => {
    const path = tempDb();
    let broker = await ChildBroker.start(sqliteConfig(path));
    await persistentSubscriber(broker.port);
    const p1 = await rawConnect(broker.port, 'pub2', false);
    p1.c.send(raw.publish({ topic: 'd/q2', payload: 'once', qos: 2, id: 7 }));
    expect((await p1.c.next()).bytes).toEqual(raw.pubrec(7));
    await broker.crash();
    p1.c.destroy();

    broker = await ChildBroker.start(sqliteConfig(path));
    const p2 = await rawConnect(broker.port, 'pub2', false);
    expect(p2.sessionPresent).toBe(1);
    p2.c.send(raw.publish({ topic: 'd/q2', payload: 'once', qos: 2, id: 7, dup: true }));
    expect((await p2.c.next()).bytes).toEqual(raw.pubrec(7));
    p2.c.send(raw.pubrel(7));
    expect((await p2.c.next()).bytes).toEqual(raw.pubcomp(7));
    const { c } = await rawConnect(broker.port, 'sub', false);
    const got = await receiveAll(c, 1);
    expect(got.q2).toEqual(['once']);
    await c.expectNothing();
    c.destroy();
    p2.c.destroy();
    await broker.stop();
  });

  it('[§4.1] retained messages (and their deletion) survive a restart', async () => {
    const path = tempDb();
    let broker = await ChildBroker.start(sqliteConfig(path));
    const pub = mqtt.connect(broker.url, { reconnectPeriod: 0 });
    await new Promise((r) => pub.once('connect', r));
    await pub.publishAsync('r/keep', 'kept', { qos: 1, retain: true });
    await pub.publishAsync('r/gone', 'x', { qos: 1, retain: true });
    await pub.publishAsync('r/gone', '', { qos: 1, retain: true });
    pub.end(true);
    await broker.crash();

    broker = await ChildBroker.start(sqliteConfig(path));
    const { c } = await rawConnect(broker.port, 'reader', true);
    c.send(raw.subscribe(1, ['r/#', 1]));
    await c.next(); // SUBACK
    const m = raw.readPublish(await c.next());
    expect(m).toMatchObject({ topic: 'r/keep', retain: true, qos: 1 });
    expect(m.payload.toString()).toBe('kept');
    c.send(raw.puback(m.id!));
    await c.expectNothing();
    c.destroy();
    await broker.stop();
  });

  it('a database file that is not SQLite stops start-up with a message naming persistence.path and the file', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'nestmq-dur-')), 'broken.db');
    writeFileSync(path, 'this is not a database, just text that is long enough to look like a header......');
    const { code, stderr } = await ChildBroker.failing(sqliteConfig(path));
    expect(code).toBe(1);
    expect(stderr).toContain('persistence.path');
    expect(stderr).toContain(path);
    expect(stderr).toMatch(/not a database/);
  });

  it('an unusable database path stops start-up with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestmq-dur-'));
    writeFileSync(join(dir, 'file'), 'x');
    const path = join(dir, 'file', 'sub', 'nestmq.db'); // a folder below a plain file cannot exist
    const { code, stderr } = await ChildBroker.failing(sqliteConfig(path));
    expect(code).toBe(1);
    expect(stderr).toContain(`persistence.path: cannot use ${path}`);
    expect(stderr).toMatch(/ENOTDIR/);
  });
});

describe('database file modes', () => {
  const mode = (f: string): string => (statSync(f).mode & 0o777).toString(8);

  it('folders nestmq creates are 0700 and the database, -wal and -shm files 0600; an existing 0644 file is tightened', async () => {
    const base = mkdtempSync(join(tmpdir(), 'nestmq-modes-'));
    const path = join(base, 'a', 'b', 'nestmq.db');
    let tb = await TestBroker.start({ persistence: { backend: 'sqlite', path } });
    const c = await tb.client({ clientId: 'modes' });
    await c.publishAsync('modes/t', 'private payload', { qos: 1, retain: true });
    for (const f of [`${path}-wal`, `${path}-shm`]) expect(existsSync(f)).toBe(true);
    expect({
      base: mode(base),
      a: mode(join(base, 'a')),
      b: mode(join(base, 'a', 'b')),
      db: mode(path),
      wal: mode(`${path}-wal`),
      shm: mode(`${path}-shm`),
    }).toEqual({ base: '700', a: '700', b: '700', db: '600', wal: '600', shm: '600' });
    await tb.close();

    // A database left readable by an older version (or a copy) is made private at the next start.
    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o644);
    chmodSync(join(base, 'a', 'b'), 0o755);
    tb = await TestBroker.start({ persistence: { backend: 'sqlite', path } });
    await tb.client({ clientId: 'modes-2' });
    expect(mode(path)).toBe('600');
    for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) expect(mode(f)).toBe('600');
    // A folder that already existed is the operator's: its mode is left alone.
    expect(mode(join(base, 'a', 'b'))).toBe('755');
    await tb.close();
  });
});

describe('session expiry', () => {
  /** session-expiry, in seconds. */
  const EXPIRY_S = 1;

  it('[MQTT-3.2.2-3] a session whose client stayed away longer than session-expiry is removed: Session Present 0, subscription gone', async () => {
    const tb = await TestBroker.start({ limits: { 'session-expiry': EXPIRY_S } });
    try {
      const first = await rawConnect(tb.port, 'roamer', false);
      first.c.send(raw.subscribe(1, ['x/#', 1]));
      await first.c.next();
      first.c.send(raw.DISCONNECT);
      await first.c.waitClosed();
      expect(tb.broker.sessionCount).toBe(1);
      const leftAt = Date.now();
      // Expired after EXPIRY_S by a sweep every second: the wait is time-based by nature.
      await waitFor(() => tb.broker.stats.sessionsExpired === 1, (EXPIRY_S + 2) * 1000, 'the session to expire');
      expect(Date.now() - leftAt).toBeGreaterThanOrEqual(EXPIRY_S * 1000 - 50);
      expect(tb.broker.sessionCount).toBe(0);
      expect(tb.broker.stats.sessionsExpired).toBe(1);
      const { c, sessionPresent } = await rawConnect(tb.port, 'roamer', false);
      expect(sessionPresent).toBe(0);
      expect(tb.broker.subscriptionCount).toBe(0);
      c.destroy();
    } finally {
      await tb.close();
    }
  });
});
