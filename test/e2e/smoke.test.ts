import { TestBroker, nextMessage } from '../helpers/broker';

describe('smoke', () => {
  let tb: TestBroker;
  beforeEach(async () => (tb = await TestBroker.start()));
  afterEach(() => tb.close());

  it('[MQTT-3.3.4-1] routes a QoS 1 publish to a subscriber', async () => {
    const sub = await tb.client({ clientId: 'sub' });
    await sub.subscribeAsync('a/+', { qos: 1 });
    const pub = await tb.client({ clientId: 'pub' });
    const got = nextMessage(sub);
    await pub.publishAsync('a/b', 'hello', { qos: 1 });
    const m = await got;
    expect(m.topic).toBe('a/b');
    expect(m.payload.toString()).toBe('hello');
    expect(m.packet.qos).toBe(1);
  });
});
