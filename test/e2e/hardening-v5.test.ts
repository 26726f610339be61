/**
 * MQTT 5 adds bytes a client can make the broker hold besides the payload: User Properties,
 * Correlation Data, Content Type, Response Topic. They count against the queue and retained
 * byte budgets like payload, or an empty-payload message with 60 KB of User Properties would be
 * held for free (max-queued-messages of them per session).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TestBroker } from '../helpers/broker';
import { useBroker } from '../helpers/conformance';
import { PINGREQ, PINGRESP, packet, u16 } from '../helpers/raw';
import { waitFor } from '../helpers/wait';
import { connectMqtt5, connectV5, decodeV5, endGracefully } from '../helpers/v5';

describe('MQTT 5 properties count against the byte budgets', () => {
  let tb: TestBroker;
  afterEach(() => tb.close());

  it('an offline session queues empty-payload QoS 1 messages with large User Properties only within max-queued-bytes (dropped and counted beyond)', async () => {
    tb = await TestBroker.start({
      limits: { 'max-queued-bytes': 100_000, 'max-queued-bytes-per-session': 0, 'max-queued-messages': 1000 },
    });
    const sub = await connectMqtt5(tb.port, { clientId: 'v5-sub', clean: false, properties: { sessionExpiryInterval: 600 } });
    await sub.client.subscribeAsync('big/props', { qos: 1 });
    await endGracefully(sub.client);
    await waitFor(() => tb.broker.session('v5-sub')?.connected === false, 3000, 'the subscriber to be offline');

    const pub = await connectMqtt5(tb.port, { clientId: 'v5-pub' });
    const value = 'x'.repeat(10_000);
    for (let i = 0; i < 30; i++) {
      // ~20 KB of properties each, empty payload: 30 of them are ~600 KB against a 100 KB budget.
      await pub.client.publishAsync('big/props', Buffer.alloc(0), { qos: 1, properties: { userProperties: { a: value, b: value } } });
    }
    await endGracefully(pub.client);
    const queued = tb.broker.session('v5-sub')!;
    expect(queued.queued).toBeLessThanOrEqual(5);
    expect(queued.queuedBytes).toBeLessThanOrEqual(100_000);
    expect(tb.broker.stats.droppedQueueFull).toBeGreaterThanOrEqual(25);
  });
});

describe('MQTT 5 SUBSCRIBE with more filters than max-filters-per-subscribe', () => {
  const h = useBroker();

  /** A v5 SUBSCRIBE (no properties) of `count` × (`#`, options 0): 4 bytes each. */
  function repeatedHashV5(id: number, count: number): Buffer {
    const one = Buffer.from([0x00, 0x01, 0x23, 0x00]);
    return packet(0x82, u16(id), [0x00], Buffer.concat(new Array<Buffer>(count).fill(one)));
  }

  it('10,000 `#` filters: SUBACK with one code per filter (the first 256 granted, the rest 0x97 Quota exceeded, counted, never decoded), a bystander\'s PINGREQ answered throughout', async () => {
    const COUNT = 10_000;
    const bystander = await h().raw();
    bystander.send(connectV5({ clientId: 'bystander' }));
    expect(decodeV5<{ reasonCode: number }>(await bystander.next()).reasonCode).toBe(0);
    const attacker = await h().raw();
    attacker.send(connectV5({ clientId: 'attacker' }));
    expect(decodeV5<{ reasonCode: number }>(await attacker.next()).reasonCode).toBe(0);

    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    attacker.send(repeatedHashV5(7, COUNT));
    bystander.send(PINGREQ);
    await bystander.expect(PINGRESP, 5000);
    const ack = decodeV5<{ cmd: string; messageId: number; granted: number[] }>(await attacker.next(10_000));
    delay.disable();
    expect(ack.cmd).toBe('suback');
    expect(ack.messageId).toBe(7);
    expect(ack.granted.length).toBe(COUNT);
    expect(ack.granted.slice(0, 256).every((c) => c === 0)).toBe(true);
    expect(ack.granted.slice(256).every((c) => c === 0x97)).toBe(true);
    expect(h().broker.stats.refusedSubscribeFilters).toBe(COUNT - 256);
    expect(h().broker.session('attacker')!.subscriptionList).toEqual([{ filter: '#', qos: 0 }]);
    // The connection stays open and the loop was never blocked long.
    attacker.send(PINGREQ);
    await attacker.expect(PINGRESP);
    expect(delay.max / 1e6).toBeLessThan(200);
  });

  it('a filter past the cap is still checked: reserved option bits there are a Malformed Packet (DISCONNECT 0x81)', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'bad-tail' }));
    expect(decodeV5<{ reasonCode: number }>(await c.next()).reasonCode).toBe(0);
    const one = Buffer.from([0x00, 0x01, 0x23, 0x00]);
    const filters = new Array<Buffer>(300).fill(one);
    filters.push(Buffer.from([0x00, 0x01, 0x23, 0xc0]));
    c.send(packet(0x82, u16(8), [0x00], Buffer.concat(filters)));
    expect(decodeV5<{ cmd: string; reasonCode: number }>(await c.next())).toMatchObject({ cmd: 'disconnect', reasonCode: 0x81 });
    await c.waitClosed();
  });
});
