import type { BrokerPlugin } from '../../src';
import { TestBroker } from '../helpers/broker';
import { PINGREQ, PINGRESP, RawClient, puback, suback, subscribe, publish } from '../helpers/raw';

/**
 * A plugin that answers with a promise pauses the connection until the verdict is in
 * [MQTT-4.6.0-2/3]. Whatever goes wrong after that, the connection must not stay paused and the
 * broker must not meet an unhandled rejection: a rejecting plugin refuses (and warns), a throw
 * in the work that follows the verdict closes the connection as a synchronous one would
 * [MQTT-4.8.0-2].
 */
describe('asynchronous plugin verdicts that fail', () => {
  let tb: TestBroker | null = null;
  let warnings: string[] = [];

  async function start(plugin: BrokerPlugin): Promise<TestBroker> {
    tb = await TestBroker.start({ auth: { 'allow-anonymous': true } }, { plugins: [plugin] });
    warnings = [];
    tb.broker.on('warning', (e) => warnings.push(e.message));
    return tb;
  }

  afterEach(async () => {
    await tb?.close();
    tb = null;
  });

  it('a rejecting authorizeSubscribe/authorizePublish refuses, warns, and the connection keeps working', async () => {
    const broker = await start({
      name: 'acl-down',
      authorizeSubscribe: () => Promise.reject(new Error('acl service down')),
      authorizePublish: () => Promise.reject(new Error('acl service down')),
    });
    const c = await RawClient.tcp(broker.port);
    await c.connect({ clientId: 'rejected' });
    c.send(subscribe(1, ['a/b', 1]));
    await c.expect(suback(1, 0x80));
    c.send(publish({ topic: 'a/b', qos: 1, id: 2, payload: 'x' }));
    await c.expect(puback(2)); // acknowledged and dropped [MQTT-3.3.5-2]
    c.send(PINGREQ);
    await c.expect(PINGRESP); // not left paused
    expect(broker.broker.stats.droppedUnauthorized).toBe(1);
    expect(warnings).toEqual([
      'plugin acl-down failed in authorizeSubscribe: acl service down',
      'plugin acl-down failed in authorizePublish: acl service down',
    ]);
  });

  it('[MQTT-4.8.0-2] a throw after an asynchronous subscribe verdict closes the connection with a warning', async () => {
    const broker = await start({ name: 'slow-acl', authorizeSubscribe: async () => true });
    broker.broker.on('clientSubscribed', () => {
      throw new Error('listener bug');
    });
    const c = await RawClient.tcp(broker.port);
    await c.connect({ clientId: 'subscriber' });
    c.send(subscribe(1, ['a/b', 1]));
    await c.expect(suback(1, 1)); // the SUBACK leaves before the listener runs
    await c.waitClosed();
    expect(warnings).toEqual(['listener bug']);
  });

  it('[MQTT-4.8.0-2] a throw after an asynchronous publish verdict closes the connection with a warning', async () => {
    const broker = await start({ name: 'slow-acl', authorizePublish: async () => true });
    broker.broker.on('messageReceived', () => {
      throw new Error('listener bug');
    });
    const c = await RawClient.tcp(broker.port);
    await c.connect({ clientId: 'publisher' });
    c.send(publish({ topic: 'a/b', qos: 1, id: 1, payload: 'x' }));
    await c.expectClosed(); // no PUBACK: the message was not taken
    expect(warnings).toEqual(['listener bug']);
  });
});
