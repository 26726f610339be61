/**
 * MQTT 5 adds bytes a client can make the broker hold besides the payload: User Properties,
 * Correlation Data, Content Type, Response Topic. They count against the queue and retained
 * byte budgets like payload, or an empty-payload message with 60 KB of User Properties would be
 * held for free (max-queued-messages of them per session).
 */
import { TestBroker } from '../helpers/broker';
import { waitFor } from '../helpers/wait';
import { connectMqtt5, endGracefully } from '../helpers/v5';

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
