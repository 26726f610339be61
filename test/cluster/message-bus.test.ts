/**
 * MessageBus against a real redis-server: delivery in send order per publisher, one XADD per
 * destination per turn, bytes per routed message measured in Redis, survival of a Redis restart.
 */
import { ClusterKeys } from '../../src/core/cluster/keys';
import type { RedisFactory } from '../../src/core/cluster/redis-connection';
import { RedisMessageBus } from '../../src/core/cluster/redis-message-bus';
import type { ClusterMessage } from '../../src/core/cluster/types';
import { type RedisServer, startRedis } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

function message(topic: string, payload: string, extra: Partial<ClusterMessage> = {}): ClusterMessage {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, origin: 'a', publisherId: 'pub-1', properties: null, ...extra };
}

describe('RedisMessageBus', () => {
  let redis: RedisServer;
  let buses: RedisMessageBus[];
  const factory = (): RedisFactory => (role) => redis.client(role === 'blocking' ? { autoResendUnfulfilledCommands: false } : {});

  async function bus(nodeId: string, received: ClusterMessage[]): Promise<RedisMessageBus> {
    const b = new RedisMessageBus({ nodeId, connect: factory(), blockMs: 500 });
    await b.start((m) => received.push({ ...m, payload: Buffer.from(m.payload) }));
    buses.push(b);
    return b;
  }

  beforeEach(async () => {
    redis = await startRedis({ appendonly: 'yes' });
    buses = [];
  });
  afterEach(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await redis.destroy();
  }, 60_000); // closing clients that are reconnecting to a restarted Redis can take a while on a loaded machine

  test('delivers to the named nodes only, in send order, every field intact', async () => {
    const gotA: ClusterMessage[] = [];
    const gotB: ClusterMessage[] = [];
    const gotC: ClusterMessage[] = [];
    const a = await bus('a', gotA);
    await bus('b', gotB);
    await bus('c', gotC);
    const props = Buffer.from([0x01, 0x01]);
    for (let i = 0; i < 500; i++) a.send(message(`t/${i}`, `p${i}`, { qos: (i % 3) as 0 | 1 | 2, retain: i % 2 === 0, properties: i === 7 ? props : null }), ['a', 'b'], 2);
    a.send(message('only/c', 'x', { publisherId: '' }), ['c'], 1);
    await waitFor(() => gotB.length === 500 && gotC.length === 1, 5000, 'deliveries');
    expect(gotA).toHaveLength(0); // never to itself
    expect(gotB.map((m) => m.topic)).toEqual(Array.from({ length: 500 }, (_, i) => `t/${i}`));
    expect(gotB[7]).toEqual({ topic: 't/7', payload: Buffer.from('p7'), qos: 1, retain: false, origin: 'a', publisherId: 'pub-1', properties: props });
    expect(gotB[8].properties).toBeNull();
    expect(gotC[0]).toMatchObject({ topic: 'only/c', publisherId: '', origin: 'a' });
  });

  test('one turn = one pipeline with one XADD per destination; batch completion reported once', async () => {
    const got: ClusterMessage[] = [];
    const a = await bus('a', []);
    await bus('b', got);
    const batches: [number, boolean][] = [];
    a.onBatch((batch, ok) => batches.push([batch, ok]));
    let batch = 0;
    for (let i = 0; i < 1000; i++) batch = a.send(message('t', String(i)), ['b'], 1);
    await waitFor(() => got.length === 1000 && batches.length === 1, 5000, '1000 messages and the batch report');
    expect(batches).toEqual([[batch, true]]);
    expect(a.stats.sentBatches).toBe(1);
    expect(a.stats.sentEntries).toBe(1);
    expect(await redis.inspector().xlen(new ClusterKeys().inbox('b'))).toBe(1);
  });

  test('flow control: pauseReading stops after the current frame, mid-entry; resumeReading goes on from the next one in order; flow signals reach onFlow', async () => {
    const got: ClusterMessage[] = [];
    const a = await bus('a', []);
    const flows: [string, boolean][] = [];
    a.onFlow((node, busy) => flows.push([node, busy]));
    const b = new RedisMessageBus({ nodeId: 'b', connect: factory(), blockMs: 500 });
    buses.push(b);
    await b.start((m) => {
      got.push({ ...m, payload: Buffer.from(m.payload) });
      if (got.length === 10) b.pauseReading(); // as a subscriber over its queue would
    });
    for (let i = 0; i < 100; i++) a.send(message('t', String(i)), ['b'], 1); // one turn: one entry
    await waitFor(() => got.length === 10, 5000, 'the first ten');
    b.sendFlow('a', true);
    await waitFor(() => flows.length === 1, 5000, 'the busy signal at a');
    // Another turn queued behind: stored in the inbox, not delivered while paused (a reader that
    // read on would have had it by the PING round trip after the XLEN).
    for (let i = 100; i < 150; i++) a.send(message('t', String(i)), ['b'], 1);
    await waitFor(async () => (await redis.inspector().xlen(new ClusterKeys().inbox('b'))) === 2, 5000, 'the second entry in the inbox');
    await redis.inspector().ping();
    expect(got).toHaveLength(10);
    expect(b.stats.readPauses).toBe(1);
    b.resumeReading();
    b.sendFlow('a', false);
    await waitFor(() => got.length === 150 && flows.length === 2, 5000, 'the rest, and the clear signal');
    expect(got.map((m) => m.payload.toString())).toEqual(Array.from({ length: 150 }, (_, i) => String(i)));
    expect(flows).toEqual([['b', true], ['b', false]]);
    expect(b.stats.flowSignalsSent).toBe(2);
    expect(a.stats.flowSignalsReceived).toBe(2);
    expect(a.stats.malformedEntries).toBe(0);
  });

  test('a backlog of large entries is delivered a slice per event-loop turn (other I/O and the turn\'s output in between), in order, all of it', async () => {
    const got: ClusterMessage[] = [];
    const turns: number[] = []; // deliveries seen when each turn ended
    let turnEnding = false;
    const a = await bus('a', []);
    const b = new RedisMessageBus({ nodeId: 'b', connect: factory(), blockMs: 500 });
    buses.push(b);
    await b.start((m) => {
      got.push({ ...m, payload: Buffer.from(m.payload) });
      if (!turnEnding) {
        turnEnding = true;
        setImmediate(() => {
          turns.push(got.length);
          turnEnding = false;
        });
      }
    });
    // 40 entries of ~64 KiB (one per sender turn, 4 messages of 16 KiB each) waiting while b does not read.
    b.pauseReading();
    const payload = 'x'.repeat(16 * 1024);
    for (let turn = 0; turn < 40; turn++) {
      for (let i = 0; i < 4; i++) a.send(message(`t/${turn}`, `${turn}:${i}:${payload}`), ['b'], 1);
      await a.idle();
    }
    turns.length = 0;
    b.resumeReading();
    await waitFor(() => got.length === 160, 5000, 'the backlog');
    expect(got.map((m) => m.payload.toString().split(':').slice(0, 2).join(':'))).toEqual(
      Array.from({ length: 160 }, (_, k) => `${Math.floor(k / 4)}:${k % 4}`),
    );
    // 2.5 MiB in one XREAD reply: at most ~256 KiB (a few entries) per turn, so several turns.
    expect(turns.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < turns.length; i++) expect(turns[i] - turns[i - 1]).toBeLessThanOrEqual(4 * 5);
  });

  test('bytes per routed message in Redis (reported in docs/cluster.md)', async () => {
    const inspect = redis.inspector();
    const a = await bus('node-a', []);
    const key = new ClusterKeys().inbox('node-z'); // no reader: the entries stay
    const topic = 'building/7/floor/3/sensor/42/temperature';
    const payload = '{"t":21.5,"ts":1717000000}';
    const report: Record<string, number> = {};
    for (const perTurn of [1, 10, 100]) {
      await inspect.del(key);
      for (let turn = 0; turn < 100; turn++) {
        for (let i = 0; i < perTurn; i++) a.send(message(topic, payload, { origin: 'node-a', publisherId: 'sensor-42' }), ['node-z'], 1);
        await new Promise((r) => setImmediate(r));
      }
      await waitFor(async () => (await inspect.xlen(key)) === 100, 5000, 'entries');
      const bytes = Number(await inspect.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      report[`perTurn=${perTurn}`] = Math.round(bytes / (100 * perTurn));
    }
    const frame = 1 + 2 + topic.length + 2 + 'sensor-42'.length + 4 + payload.length;
    console.log(`frame ${frame} B (topic ${topic.length}, payload ${payload.length}); Redis bytes/message:`, report);
    // Redis's own cost per message: stream entry + listpack + allocator rounding, amortised by batching
    expect(report['perTurn=10']).toBeLessThan(frame * 1.35);
    expect(report['perTurn=100']).toBeLessThan(frame * 1.35);
    expect(report['perTurn=1']).toBeGreaterThan(report['perTurn=10']);
  });

  test('Redis killed mid-stream and restarted: the reader reconnects and keeps receiving', async () => {
    const got: ClusterMessage[] = [];
    const a = await bus('a', []);
    await bus('b', got);
    for (let i = 0; i < 10; i++) a.send(message('before', String(i)), ['b'], 1);
    await waitFor(() => got.length === 10, 3000, 'before');
    await redis.restart('kill');
    let n = 0;
    // keep sending until the connections are back: what is sent while down is dropped and counted
    await waitFor(() => {
      a.send(message('after', String(n++)), ['b'], 1);
      return got.some((m) => m.topic === 'after');
    }, 10000, 'delivery after restart');
    expect(a.stats.droppedMessages + a.stats.sentMessages).toBeGreaterThan(10);
  });
});
