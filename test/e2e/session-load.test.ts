/**
 * Asynchronous session loading at CONNECT (SessionStore.load), the seam a Redis session store
 * plugs into: CONNECT waits for the load through the connection's pause mechanism
 * (Pause.SESSION), the packets the client sent right behind its CONNECT are handled after the
 * CONNACK and in order, and a client that leaves meanwhile costs nothing once the load settles.
 * The memory and SQLite stores have no `load`: their CONNECT stays synchronous.
 */
import type { SessionStore } from '../../src';
import type { Session } from '../../src/core/sessions/session';
import { createMemoryStores, MemorySessionStore } from '../../src';
import { TestBroker } from '../helpers/broker';
import { PINGREQ, PINGRESP, RawClient, T, connack, connect, publish, puback, suback, subscribe } from '../helpers/raw';
import { waitFor } from '../helpers/wait';

/**
 * The memory store, with sessions that may be "elsewhere" (as in Redis): a hidden session is not
 * found by `get` until `load` has brought it in, which it does asynchronously, on a later turn
 * (or when the test releases it).
 */
class LoadingSessionStore implements SessionStore {
  readonly inner = new MemorySessionStore();
  readonly durable = false;
  /** Client ids whose session is not in memory until loaded. */
  readonly elsewhere = new Set<string>();
  readonly loads: string[] = [];
  /** When set, loads wait for release() instead of the next turn. */
  hold = false;
  fail: Error | null = null;
  private readonly waiting: (() => void)[] = [];

  get size(): number {
    return this.inner.size;
  }
  get(clientId: string): Session | undefined {
    return this.elsewhere.has(clientId) ? undefined : this.inner.get(clientId);
  }
  load(clientId: string): Promise<Session | undefined> {
    this.loads.push(clientId);
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        if (this.fail !== null) return reject(this.fail);
        this.elsewhere.delete(clientId);
        resolve(this.get(clientId));
      };
      if (this.hold) this.waiting.push(settle);
      else setImmediate(settle);
    });
  }
  release(): void {
    for (const settle of this.waiting.splice(0)) settle();
  }
  create(clientId: string, clean: boolean): Session {
    return this.inner.create(clientId, clean);
  }
  delete(session: Session): void {
    this.inner.delete(session);
  }
  detached(session: Session): void {
    this.inner.detached(session);
  }
  values(): IterableIterator<Session> {
    return this.inner.values();
  }
  open(): Promise<void> {
    return this.inner.open();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('asynchronous session load at CONNECT (SessionStore.load)', () => {
  let tb: TestBroker | null = null;
  let store: LoadingSessionStore;

  beforeEach(async () => {
    store = new LoadingSessionStore();
    tb = await TestBroker.start({ auth: { 'allow-anonymous': true } }, { stores: { sessions: store, retained: createMemoryStores().retained } });
  });

  afterEach(async () => {
    await tb?.close();
    tb = null;
  });

  /** A persistent session for `clientId`, left offline, then moved "elsewhere". */
  async function storedElsewhere(clientId: string): Promise<Session> {
    const c = await RawClient.tcp(tb!.port);
    await c.connect({ clientId, clean: false });
    c.destroy();
    await waitFor(() => tb!.broker.clientCount === 0, 2000, 'the client to leave');
    const session = store.inner.get(clientId)!;
    store.elsewhere.add(clientId);
    store.loads.length = 0;
    return session;
  }

  it('[MQTT-3.2.2-2] CONNECT waits for the load: the stored session is found (Session Present 1)', async () => {
    const session = await storedElsewhere('far');
    const c = await RawClient.tcp(tb!.port);
    await c.connect({ clientId: 'far', clean: false }, connack(1, 0));
    expect(store.loads).toEqual(['far']);
    expect(store.inner.get('far')).toBe(session);
  });

  it('[MQTT-3.1.4-5] packets sent right behind CONNECT are handled after CONNACK, in order', async () => {
    await storedElsewhere('burst');
    const c = await RawClient.tcp(tb!.port);
    // One write: CONNECT, SUBSCRIBE, a QoS 1 PUBLISH to the new subscription, PINGREQ.
    c.send(
      Buffer.concat([
        connect({ clientId: 'burst', clean: false }),
        subscribe(1, ['a/b', 1]),
        publish({ topic: 'a/b', qos: 1, id: 2, payload: 'x' }),
        PINGREQ,
      ]),
    );
    const packets = await c.take(5);
    expect(packets.map((p) => p.type)).toEqual([T.CONNACK, T.SUBACK, T.PUBLISH, T.PUBACK, T.PINGRESP]);
    expect(packets[0].bytes).toEqual(connack(1, 0));
    expect(packets[1].bytes).toEqual(suback(1, 1));
    expect(packets[3].bytes).toEqual(puback(2));
    expect(packets[4].bytes).toEqual(PINGRESP);
    expect(store.loads).toEqual(['burst']);
  });

  it('a client that closes while its session loads costs nothing: no session, no CONNACK, no event', async () => {
    const session = await storedElsewhere('quitter');
    const connected: string[] = [];
    tb!.broker.on('clientConnected', (e) => connected.push(e.clientId));
    const connacksBefore = tb!.broker.stats.reasonCodesSent.connack[0];
    store.hold = true;
    const c = await RawClient.tcp(tb!.port);
    c.send(connect({ clientId: 'quitter', clean: false }), subscribe(1, ['x', 0]));
    await waitFor(() => store.loads.length === 1, 2000, 'the load to start');
    c.destroy();
    await waitFor(() => tb!.broker.connectionCount === 0, 2000, 'the broker to see the close');
    store.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(connected).toEqual([]);
    expect(tb!.broker.clientCount).toBe(0);
    expect(tb!.broker.stats.reasonCodesSent.connack[0]).toBe(connacksBefore);
    // The stored session is untouched (not replaced, not attached, no subscription added).
    expect(store.inner.get('quitter')).toBe(session);
    expect(session.connection).toBeNull();
    expect(session.subscriptionCount).toBe(0);
    // And the broker carries on.
    store.hold = false;
    const again = await RawClient.tcp(tb!.port);
    await again.connect({ clientId: 'quitter', clean: false }, connack(1, 0));
  });

  it('a load that fails refuses the client with CONNACK 0x03 (server unavailable) and a warning', async () => {
    await storedElsewhere('broken');
    const warnings: string[] = [];
    tb!.broker.on('warning', (e) => warnings.push(e.message));
    store.fail = new Error('redis down');
    const c = await RawClient.tcp(tb!.port);
    await c.connect({ clientId: 'broken', clean: false }, connack(0, 3));
    await c.expectClosed();
    expect(warnings).toEqual(['redis down']);
    expect(tb!.broker.clientCount).toBe(0);
  });
});
