/**
 * MQTT 5 conformance, PUBLISH / SUBSCRIBE / UNSUBSCRIBE framing (sections 3.3, 3.8-3.11) between
 * MQTT.js v5 clients, and between v5 and 3.1.1 clients.
 */
import type { IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { useBroker } from '../../helpers/conformance';
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType } from '../../../src/core/protocol/packets';
import { connectMqtt5, connectV5, decodeV5 } from '../../helpers/v5';

function nextPublish(client: MqttClient, ms = 3000): Promise<IPublishPacket> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no PUBLISH within ${ms} ms`)), ms);
    client.once('message', (_topic, _payload, packet) => {
      clearTimeout(t);
      resolve(packet);
    });
  });
}

function subscribe(client: MqttClient, filter: string, qos: 0 | 1 | 2, extra: Record<string, unknown> = {}): Promise<number> {
  return new Promise((resolve, reject) =>
    client.subscribe(filter, { qos, ...extra } as never, (err, granted) => (err ? reject(err) : resolve(granted![0].qos))),
  );
}

function publish(client: MqttClient, topic: string, payload: string, opts: IClientPublishOptions): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve())));
}

const props = {
  userProperties: { b: ['2', '1'], a: 'x' },
  contentType: 'text/plain',
  correlationData: Buffer.from([1, 2, 3]),
  responseTopic: 'reply/here',
  payloadFormatIndicator: true,
};

describe('v5 publish and subscribe', () => {
  const h = useBroker();
  const open: MqttClient[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.end(true);
  });
  const v5 = async (clientId: string): Promise<MqttClient> => {
    const { client } = await connectMqtt5(h().port, { clientId });
    open.push(client);
    return client;
  };

  it.each([0, 1, 2] as const)(
    'v5 [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] QoS %i between v5 clients: properties reach the subscriber unchanged, User Properties in order',
    async (qos) => {
      const sub = await v5('sub');
      expect(await subscribe(sub, 't/#', 2)).toBe(2);
      const pub = await v5('pub');
      const got = nextPublish(sub);
      await publish(pub, 't/x', 'hello', { qos, properties: props });
      const p = await got;
      expect([p.topic, p.payload.toString(), p.qos, p.retain]).toEqual(['t/x', 'hello', qos, false]);
      expect(p.properties).toEqual({
        userProperties: { b: ['2', '1'], a: 'x' },
        contentType: 'text/plain',
        correlationData: Buffer.from([1, 2, 3]),
        responseTopic: 'reply/here',
        payloadFormatIndicator: true,
      });
    },
  );

  it.each([0, 1, 2] as const)('v5 [MQTT-4.5.0-1] QoS %i from a 3.1.1 publisher reaches a v5 subscriber (no properties), and from v5 to 3.1.1', async (qos) => {
    const sub5 = await v5('sub5');
    await subscribe(sub5, 'a', 2);
    const sub4 = await h().client({ clientId: 'sub4' });
    await subscribe(sub4, 'b', 2);
    const pub4 = await h().client({ clientId: 'pub4' });
    const got5 = nextPublish(sub5);
    await publish(pub4, 'a', 'from4', { qos });
    const p5 = await got5;
    expect([p5.payload.toString(), p5.qos]).toEqual(['from4', qos]);
    expect(p5.properties ?? {}).toEqual({});
    const pub5 = await v5('pub5');
    const got4 = nextPublish(sub4);
    await publish(pub5, 'b', 'from5', { qos, properties: props });
    const p4 = await got4;
    expect([p4.payload.toString(), p4.qos]).toEqual(['from5', qos]);
  });

  it('v5 [MQTT-3.3.2-6] the Message Expiry Interval is forwarded (what is left of it)', async () => {
    const sub = await v5('sub');
    await subscribe(sub, 'e', 1);
    const pub = await v5('pub');
    const got = nextPublish(sub);
    await publish(pub, 'e', 'x', { qos: 1, properties: { messageExpiryInterval: 30 } });
    const p = await got;
    expect(p.properties!.messageExpiryInterval).toBeGreaterThanOrEqual(29);
    expect(p.properties!.messageExpiryInterval).toBeLessThanOrEqual(30);
  });

  it('v5 [MQTT-3.3.1-9] a retained message sent for a new subscription carries RETAIN 1 in v5 framing', async () => {
    const pub = await v5('pub');
    await publish(pub, 'r', 'kept', { qos: 1, retain: true, properties: { contentType: 'c' } });
    const sub = await v5('sub');
    const got = nextPublish(sub);
    await subscribe(sub, 'r', 1);
    const p = await got;
    expect([p.payload.toString(), p.retain]).toEqual(['kept', true]);
  });

  it('v5 [MQTT-3.11.3-1] [MQTT-3.11.3-2] UNSUBACK has a Reason Code per filter: 0x00, or 0x11 No subscription existed', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'c' }));
    await c.next();
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'x', qos: 0 }] }));
    expect(decodeV5<{ granted: number[] }>(await c.next()).granted).toEqual([0]);
    c.send(encodePacketV5({ type: PacketType.UNSUBSCRIBE, packetId: 2, topics: ['x', 'y'] }));
    const ack = decodeV5<{ cmd: string; messageId: number; granted: number[] }>(await c.next());
    expect([ack.cmd, ack.messageId, ack.granted]).toEqual(['unsuback', 2, [0x00, 0x11]]);
  });
});
