/**
 * When the engine's output batch leaves (engine/commit-gate.ts): a turn that comes after an idle
 * loop flushes its first batch at the end of the I/O callback that made it (the latency tail at
 * low rates); turns that follow each other back to back (load) batch on setImmediate, one write
 * per connection per turn (throughput). Over memory transports with jest's fake clock, which
 * makes "idle" exact: performance.now() moves only when the test advances it. setImmediate and
 * nextTick stay real.
 */
import { IDLE_GAP_MS } from '../../src/core/engine/commit-gate';
import { createMemoryEngine, type MemoryEngine } from '../helpers/memory-engine';
import type { MemoryClient } from '../helpers/memory-transport';
import { connack, connect, publish, suback, subscribe } from '../helpers/raw';

let engine: MemoryEngine;

/** Resolves after the nextTick callbacks queued so far (the end of the current "I/O callback"). */
function callbackEnd(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

/** Resolves after the current turn's check phase (setImmediate callbacks queued so far). */
function turnEnd(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function connected(clientId: string): Promise<MemoryClient> {
  const c = engine.accept();
  c.send(connect({ clientId }));
  await c.expect(connack(0, 0));
  return c;
}

/** A subscriber on `t/#` and `n` publishers, all connected; the subscriber's server-side writes counted. */
async function setup(n: number): Promise<{ sub: MemoryClient; pubs: MemoryClient[]; writes: () => number }> {
  engine = createMemoryEngine();
  const sub = await connected('sub');
  sub.send(subscribe(1, ['t/#', 0]));
  await sub.expect(suback(1, 0));
  const pubs: MemoryClient[] = [];
  for (let i = 0; i < n; i++) pubs.push(await connected(`pub-${i}`));
  let count = 0;
  const write = sub.transport.write.bind(sub.transport);
  sub.transport.write = (data: Buffer): boolean => {
    count++;
    return write(data);
  };
  return { sub, pubs, writes: () => count };
}

beforeEach(() => {
  jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
});

afterEach(async () => {
  await engine?.shutdown();
  jest.useRealTimers();
});

describe('output flush policy', () => {
  it('after an idle loop, a lone publish is written at the end of its I/O callback, before the turn ends', async () => {
    const { sub, pubs, writes } = await setup(1);
    jest.advanceTimersByTime(5); // the loop sat idle for 5 ms: no turn with output since
    const before = engine.stats.flushesAtCallbackEnd;
    pubs[0].send(publish({ topic: 't/a', payload: 'x' }));
    expect(writes()).toBe(0); // still inside the callback: batched so far
    await callbackEnd();
    expect(writes()).toBe(1);
    expect(sub.inbox.map((p) => p.bytes)).toEqual([publish({ topic: 't/a', payload: 'x' })]);
    expect(engine.stats.flushesAtCallbackEnd).toBe(before + 1);
  });

  it('the same holds just past the idle gap, and not just under it', async () => {
    const { pubs, writes } = await setup(1);
    jest.advanceTimersByTime(IDLE_GAP_MS);
    pubs[0].send(publish({ topic: 't/a', payload: '1' }));
    await callbackEnd();
    expect(writes()).toBe(1);
    await turnEnd();
    // The turn with output just ended: the next one, less than the gap later, is load.
    jest.advanceTimersByTime(IDLE_GAP_MS / 2);
    pubs[0].send(publish({ topic: 't/a', payload: '2' }));
    await callbackEnd();
    expect(writes()).toBe(1);
    await turnEnd();
    expect(writes()).toBe(2);
  });

  it('back-to-back turns batch: many publishers in one turn reach the subscriber in one write at the end of the turn', async () => {
    const { sub, pubs, writes } = await setup(8);
    // The clock stands still: the previous turn with output (the last CONNACK) ended "just now".
    const turnsBefore = engine.stats.flushesAtTurnEnd;
    const callbacksBefore = engine.stats.flushesAtCallbackEnd;
    for (let i = 0; i < pubs.length; i++) {
      pubs[i].send(publish({ topic: `t/${i}`, payload: 'x' }));
      await callbackEnd(); // each publisher's data is its own I/O callback
      expect(writes()).toBe(0);
    }
    await turnEnd();
    expect(writes()).toBe(1);
    expect(sub.inbox).toHaveLength(8);
    expect(engine.stats.flushesAtTurnEnd).toBe(turnsBefore + 1);
    expect(engine.stats.flushesAtCallbackEnd).toBe(callbacksBefore);
  });

  it('in a turn after an idle loop only the first batch leaves early; later callbacks of that turn batch to its end', async () => {
    const { sub, pubs, writes } = await setup(4);
    jest.advanceTimersByTime(5);
    pubs[0].send(publish({ topic: 't/0', payload: 'x' }));
    await callbackEnd();
    expect(writes()).toBe(1);
    for (let i = 1; i < pubs.length; i++) {
      pubs[i].send(publish({ topic: `t/${i}`, payload: 'x' }));
      await callbackEnd();
    }
    expect(writes()).toBe(1);
    await turnEnd();
    expect(writes()).toBe(2); // at most one extra write per connection in a quiet turn
    expect(sub.inbox).toHaveLength(4);
  });
});
