/**
 * MQTT 5 conformance, message layer: Topic Aliases both ways (sections 3.3.2.3.4, 3.2.2.3.8,
 * 3.1.2.11.5) and Subscription Identifiers (3.8.2.1.2, 3.3.2.3.8, 3.3.4). Raw bytes (client
 * packets from encodePacketV5, server packets decoded by mqtt-packet) and MQTT.js v5.
 */
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType, type Properties, type QoS, type Subscription } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { toHex, type RawClient } from '../../helpers/raw';
import { connectV5, decodeV5 } from '../../helpers/v5';

type Pub = { cmd: string; topic: string; payload: Buffer; qos: number; messageId?: number; properties?: { topicAlias?: number; subscriptionIdentifier?: number | number[] } };
type Connack = { cmd: string; reasonCode: number; properties?: { topicAliasMaximum?: number; subscriptionIdentifiersAvailable?: boolean } };

function publishPacket(topic: string, payload: string, properties?: Properties, qos: QoS = 0, packetId = 0): Buffer {
  return encodePacketV5({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos, retain: false, dup: false, packetId, properties });
}

function helpers(h: () => import('../../helpers/conformance').Harness) {
  async function client(clientId: string, properties?: Properties, cleanSession = true): Promise<{ c: RawClient; connack: Connack }> {
    const c = await h().raw();
    c.send(connectV5({ clientId, properties, cleanSession }));
    const connack = decodeV5<Connack>(await c.next());
    expect(connack.reasonCode).toBe(0);
    return { c, connack };
  }
  async function sub(c: RawClient, id: number, s: Subscription | Subscription[], properties?: Properties): Promise<number[]> {
    const subscriptions = Array.isArray(s) ? s : [s];
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions, properties }));
    const ack = decodeV5<{ cmd: string; granted: number[] }>(await c.next());
    expect(ack.cmd).toBe('suback');
    return ack.granted;
  }
  async function closedWith(c: RawClient, code: number): Promise<void> {
    await c.waitClosed();
    expect(toHex(c.received).endsWith(`e0 02 ${code.toString(16).padStart(2, '0')} 00`)).toBe(true);
  }
  return { client, sub, closedWith };
}

describe('v5 Topic Aliases from the client (max-topic-alias 3)', () => {
  const h = useBroker({ limits: { 'max-topic-alias': 3 } });
  const { client, sub, closedWith } = helpers(h);

  it('v5 [MQTT-3.3.2-12] CONNACK announces Topic Alias Maximum 3; aliases 1..3 are accepted: topic + alias sets, empty topic + alias uses, topic + alias remaps; subscribers get the full topics', async () => {
    const { c: s } = await client('sub');
    await sub(s, 1, { topic: 't/#', qos: 0 });
    const { c: p, connack } = await client('pub');
    expect(connack.properties?.topicAliasMaximum).toBe(3);
    p.send(publishPacket('t/one', '1', { topicAlias: 1 }));
    p.send(publishPacket('t/three', '2', { topicAlias: 3 }));
    p.send(publishPacket('', '3', { topicAlias: 1 }));
    p.send(publishPacket('', '4', { topicAlias: 3 }));
    p.send(publishPacket('t/other', '5', { topicAlias: 1 }));
    p.send(publishPacket('', '6', { topicAlias: 1 }));
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const m = decodeV5<Pub>(await s.next());
      expect(m.properties?.topicAlias).toBeUndefined();
      got.push(`${m.topic}=${m.payload.toString()}`);
    }
    expect(got).toEqual(['t/one=1', 't/three=2', 't/one=3', 't/three=4', 't/other=5', 't/other=6']);
    await p.pingRoundTrip();
  });

  it('v5 [MQTT-3.3.2-12] an empty topic with an alias never set on this connection: DISCONNECT 0x82', async () => {
    const { c } = await client('unknown');
    c.send(publishPacket('a', 'x', { topicAlias: 1 }));
    c.send(publishPacket('', 'y', { topicAlias: 2 }));
    await closedWith(c, 0x82);
  });

  it('v5 [MQTT-3.3.2-8] Topic Alias 0: DISCONNECT 0x94', async () => {
    const { c } = await client('zero');
    c.send(publishPacket('a', 'x', { topicAlias: 0 }));
    await closedWith(c, 0x94);
  });

  it('v5 [MQTT-3.2.2-17] [MQTT-3.3.2-9] an alias above the announced maximum (4 > 3): DISCONNECT 0x94', async () => {
    const { c } = await client('above');
    c.send(publishPacket('a', 'x', { topicAlias: 4 }));
    await closedWith(c, 0x94);
  });

  it('v5 [MQTT-3.3.2-7] inbound aliases live for one network connection: after a reconnect (Clean Start 0, same session) the old alias is unknown (0x82)', async () => {
    const { c: a } = await client('again', { sessionExpiryInterval: 60 }, false);
    a.send(publishPacket('a/b', 'x', { topicAlias: 1 }));
    await a.pingRoundTrip();
    a.send(encodePacketV5({ type: PacketType.DISCONNECT, reasonCode: 0 }));
    await a.waitClosed();
    const { c: b } = await client('again', { sessionExpiryInterval: 60 }, false);
    b.send(publishPacket('', 'y', { topicAlias: 1 }));
    await closedWith(b, 0x82);
  });

  it('v5 [MQTT-3.3.4-6] a PUBLISH from a client with a Subscription Identifier: DISCONNECT 0x82, not forwarded', async () => {
    const { c: s } = await client('watch');
    await sub(s, 1, { topic: 'sid', qos: 0 });
    const { c } = await client('bad-sid');
    c.send(publishPacket('sid', 'x', { subscriptionIdentifiers: [5] }));
    await closedWith(c, 0x82);
    await s.expectNothing();
  });
});

describe('v5 Topic Aliases from the client (max-topic-alias 0)', () => {
  const h = useBroker({ limits: { 'max-topic-alias': 0 } });
  const { client, closedWith } = helpers(h);

  it('v5 [MQTT-3.2.2-18] no Topic Alias Maximum in CONNACK; any alias is DISCONNECT 0x94', async () => {
    const { c, connack } = await client('none');
    expect(connack.properties?.topicAliasMaximum).toBeUndefined();
    c.send(publishPacket('a', 'x', { topicAlias: 1 }));
    await closedWith(c, 0x94);
  });
});
