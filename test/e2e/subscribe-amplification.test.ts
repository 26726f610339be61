/**
 * SUBSCRIBE amplification: one packet, or many, asking for the retained store over and over.
 * The broker runs in this process, so the event loop's delay measured here is the broker's:
 * every attack must leave it answering a bystander's PINGREQ promptly.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Harness, sleep, useBroker } from '../helpers/conformance';
import { PINGREQ, PINGRESP, type RawClient, connect, packet, publish, puback, readPublish, subscribe, suback, u16 } from '../helpers/raw';

const T_PUBLISH = 3;
const T_SUBACK = 9;

/** Stores `n` retained QoS 0 messages of `size` bytes under r/<i>, then waits for a QoS 1 PUBACK (all routed). */
async function loadRetained(h: Harness, n: number, size: number): Promise<void> {
  const pub = await h.connected({ clientId: 'loader' });
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) parts.push(publish({ topic: `r/${i}`, payload: Buffer.alloc(size, i & 0xff), retain: true }));
  pub.send(...parts);
  pub.send(publish({ topic: 'loaded', qos: 1, id: 1 }));
  await pub.expect(puback(1), 10_000);
  expect(h.broker.retainedCount).toBe(n);
  pub.destroy();
}

/** A SUBSCRIBE of `count` × (`#`, QoS 0): 4 bytes each. */
function repeatedHash(id: number, count: number): Buffer {
  const one = Buffer.from([0x00, 0x01, 0x23, 0x00]);
  return packet(0x82, u16(id), Buffer.concat(new Array(count).fill(one)));
}

/**
 * While `attack()` runs: the event loop's longest delay (ms) and a bystander's slowest PINGRESP
 * (a PINGREQ every 20 ms).
 */
async function measure(h: Harness, attack: () => Promise<void>): Promise<{ maxBlockMs: number; maxPingMs: number; pings: number }> {
  const bystander = await h.connected({ clientId: 'bystander' });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  let done = false;
  let maxPingMs = 0;
  let pings = 0;
  const prober = (async (): Promise<void> => {
    while (!done) {
      const t = Date.now();
      bystander.send(PINGREQ);
      await bystander.expect(PINGRESP, 15_000);
      maxPingMs = Math.max(maxPingMs, Date.now() - t);
      pings++;
      await sleep(20);
    }
  })();
  // Two probes: the histogram, and a 5 ms interval timer whose lateness is a block.
  let maxLateMs = 0;
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    maxLateMs = Math.max(maxLateMs, now - last - 5);
    last = now;
  }, 5);
  delay.enable();
  try {
    await attack();
  } finally {
    done = true;
    delay.disable();
    clearInterval(ticker);
    await prober;
  }
  return { maxBlockMs: Math.max(delay.max / 1e6, maxLateMs), maxPingMs, pings };
}

/** Resolves once `c` has received `n` PUBLISH packets in all. */
async function publishesReceived(c: RawClient, n: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (c.history.filter((p) => p.type === T_PUBLISH).length < n) {
    if (Date.now() > deadline) throw new Error(`only ${c.history.filter((p) => p.type === T_PUBLISH).length} of ${n} publishes within ${ms} ms`);
    await sleep(10);
  }
}

describe('SUBSCRIBE amplification (default limits)', () => {
  const h = useBroker();

  it('a 1 MiB SUBSCRIBE repeating # 262,000 times over 1,000 retained messages: SUBACK with one code per filter (the first 256 granted, the rest 0x80 and counted), each retained message sent once, event loop never blocked 200 ms (8.9 s, then 150-230 ms before)', async () => {
    await loadRetained(h(), 1000, 100);
    const attacker = await h().connected({ clientId: 'attacker' });
    const COUNT = 262_000;
    const stats = h().broker.stats;
    const attack = repeatedHash(7, COUNT);
    const result = await measure(h(), async () => {
      attacker.send(attack);
      const ack = await attacker.next(15_000);
      expect(ack.type).toBe(T_SUBACK);
      expect(ack.body.length).toBe(2 + COUNT);
      expect(ack.body.readUInt16BE(0)).toBe(7);
      const codes = ack.body.subarray(2);
      expect(codes.subarray(0, 256).every((b) => b === 0)).toBe(true);
      expect(codes.subarray(256).every((b) => b === 0x80)).toBe(true);
      await publishesReceived(attacker, 1000, 15_000);
    });
    console.log(`1 MiB SUBSCRIBE: event loop max block ${result.maxBlockMs.toFixed(1)} ms, slowest PINGRESP ${result.maxPingMs} ms over ${result.pings} pings`);
    expect(stats.refusedSubscribeFilters).toBe(COUNT - 256);
    // Before the fix: 8.9 s; then 150-230 ms while the parser still decoded all 262,000 filters
    // into objects before the handler capped them. The parser now decodes only the first 256 and
    // checks the rest on their bytes (overflow): 40-50 ms on a loaded 2-core machine.
    expect(result.maxBlockMs).toBeLessThan(200);
    expect(result.maxPingMs).toBeLessThan(200);
    // Each retained message exactly once, with RETAIN=1 [MQTT-3.3.1-8].
    await sleep(100);
    const topics = attacker.history.filter((p) => p.type === T_PUBLISH).map((p) => readPublish(p));
    expect(topics.length).toBe(1000);
    expect(new Set(topics.map((p) => p.topic)).size).toBe(1000);
    expect(topics.every((p) => p.retain)).toBe(true);
    expect(h().broker.client('attacker')?.subscriptions).toBe(1);
  }, 60_000);

  it('3,000 SUBSCRIBE packets for # from a client that does not read: bounded work per packet and per turn, bystander answered within 200 ms; the data flows once it reads', async () => {
    await loadRetained(h(), 1000, 1024);
    const stats = h().broker.stats;
    const PACKETS = 3000;
    let subscribed = 0;
    h().broker.on('clientSubscribed', () => void subscribed++);
    const socket = await h().tb.socket();
    socket.pause(); // never reads, until the end
    socket.write(connect({ clientId: 'attacker' }));
    const parts: Buffer[] = [];
    for (let i = 0; i < PACKETS; i++) parts.push(subscribe(1 + i, ['#', 0]));
    const attack = Buffer.concat(parts);
    const result = await measure(h(), async () => {
      socket.write(attack);
      const deadline = Date.now() + 30_000;
      while (subscribed < PACKETS) {
        if (Date.now() > deadline) throw new Error(`only ${subscribed} SUBSCRIBEs handled`);
        await sleep(20);
      }
    });
    const work = stats.messagesSent + stats.droppedSlowConsumer;
    console.log(`${PACKETS} × SUBSCRIBE #: event loop max block ${result.maxBlockMs.toFixed(1)} ms, slowest PINGRESP ${result.maxPingMs} ms, retained deliveries attempted ${work}`);
    expect(result.maxBlockMs).toBeLessThan(200);
    expect(result.maxPingMs).toBeLessThan(200);
    // Without slices it is 3,000 × 1,000 deliveries; with them at most one slice per packet.
    expect(work).toBeLessThan(PACKETS * 100);
    // Once it reads, the retained messages flow (at least one full copy).
    let received = 0;
    socket.on('data', (d: Buffer) => void (received += d.length));
    socket.resume();
    const deadline = Date.now() + 20_000;
    while (received < 1000 * 1024) {
      if (Date.now() > deadline) throw new Error(`only ${received} bytes after resuming`);
      await sleep(20);
    }
  }, 90_000);
});

describe('retained messages wait for room: in-flight window and queue', () => {
  const h = useBroker({ limits: { 'max-inflight-messages': 5, 'max-queued-messages': 20 } });

  it('50 retained QoS 1 messages to a subscriber that does not acknowledge: 5 in flight, none queued, no overflow close; each PUBACK lets the next one go', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 50; i++) pub.send(publish({ topic: `q/${i}`, payload: `m${i}`, qos: 1, id: i + 1, retain: true }));
    for (let i = 0; i < 50; i++) await pub.next();
    const c = await h().connected({ clientId: 'slow', clean: false });
    c.send(subscribe(1, ['q/#', 1]));
    await c.expect(suback(1, 1));
    const first = await c.take(5);
    await c.nothing(150);
    expect(h().broker.stats.closedQueueOverflow).toBe(0);
    const engine = (h().broker as unknown as { engine: { sessions: { get(id: string): { queuedCount: number } } } }).engine;
    expect(engine.sessions.get('slow').queuedCount).toBe(0);
    const seen = new Set<string>();
    const inflight = first.map((p) => readPublish(p));
    while (seen.size < 50) {
      const p = inflight.shift()!;
      seen.add(p.topic);
      c.send(puback(p.id!));
      if (seen.size + inflight.length < 50) inflight.push(await c.nextPublish());
    }
    expect(seen.size).toBe(50);
    await c.nothing(100);
  });

  it('a filter repeated in one SUBSCRIBE gets a code per occurrence; only the last applies, its retained messages are sent once at its QoS [MQTT-3.8.4-4]', async () => {
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'd/1', payload: 'one', qos: 1, id: 1, retain: true });
    const c = await h().connected({ clientId: 'dup' });
    c.send(subscribe(2, ['d/#', 1], ['d/#', 2], ['d/#', 0]));
    await c.expect(suback(2, 1, 2, 0));
    const p = await c.nextPublish();
    expect([p.topic, p.qos, p.retain]).toEqual(['d/1', 0, true]);
    await c.nothing(150);
  });
});

describe('max-filters-per-subscribe (2 here)', () => {
  const h = useBroker({ limits: { 'max-filters-per-subscribe': 2 } });

  it('filters beyond 2 get SUBACK 0x80 and are counted; the connection stays open', async () => {
    const c = await h().connected({ clientId: 'many' });
    c.send(subscribe(1, ['f/a', 1], ['f/b', 0], ['f/c', 1], ['f/d', 2]));
    await c.expect(suback(1, 1, 0, 0x80, 0x80));
    expect(h().broker.stats.refusedSubscribeFilters).toBe(2);
    expect(h().broker.client('many')?.subscriptions).toBe(2);
    c.send(PINGREQ);
    await c.expect(PINGRESP);
  });
});
