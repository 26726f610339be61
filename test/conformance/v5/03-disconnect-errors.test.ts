/**
 * MQTT 5 conformance, client DISCONNECT (section 3.14) and errors after and during CONNECT
 * (section 4.13), over raw bytes (the client packets built by the codec's encodePacketV5).
 */
import type { MqttClient } from 'mqtt';
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType, type Properties } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { hex, type RawClient } from '../../helpers/raw';
import { connectMqtt5, connectV5, decodeV5, lastDisconnect } from '../../helpers/v5';

const will = { topic: 'will/t', payload: Buffer.from('bye'), qos: 1 as const, retain: false, properties: { contentType: 'text/will' } };

function disconnect(reasonCode: number, properties?: Properties): Buffer {
  return encodePacketV5({ type: PacketType.DISCONNECT, reasonCode, properties });
}

describe('v5 DISCONNECT and errors', () => {
  const h = useBroker();
  let watcher: MqttClient | null = null;
  afterEach(() => {
    watcher?.end(true);
    watcher = null;
  });

  async function watch(): Promise<{ messages: { topic: string; payload: string; contentType?: string }[] }> {
    const { client } = await connectMqtt5(h().port, { clientId: 'watcher' });
    watcher = client;
    const messages: { topic: string; payload: string; contentType?: string }[] = [];
    client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), contentType: packet.properties?.contentType }));
    await new Promise<void>((resolve, reject) => client.subscribe('will/#', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    return { messages };
  }

  async function connected(clientId: string, properties?: Properties): Promise<RawClient> {
    const c = await h().raw();
    c.send(connectV5({ clientId, will, properties }));
    const ack = decodeV5<{ cmd: string; reasonCode: number }>(await c.next());
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
    return c;
  }

  /** Resolves once the watcher has handled everything sent to it so far (a PINGREQ-like round trip). */
  async function settled(): Promise<void> {
    await new Promise<void>((resolve, reject) => watcher!.publish('other', 'sync', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
  }

  it('v5 [MQTT-3.14.4-3] DISCONNECT 0x04 Disconnect with Will Message: the Will is published, with its properties', async () => {
    const w = await watch();
    const c = await connected('w4');
    c.send(disconnect(0x04));
    await c.waitClosed();
    await h().gone('w4');
    for (let i = 0; i < 100 && w.messages.length === 0; i++) await settled();
    expect(w.messages).toEqual([{ topic: 'will/t', payload: 'bye', contentType: 'text/will' }]);
  });

  it('v5 [MQTT-3.14.4-3] DISCONNECT 0x00: the Will is discarded unpublished', async () => {
    const w = await watch();
    const c = await connected('w0');
    c.send(disconnect(0x00));
    await c.waitClosed();
    await h().gone('w0');
    await settled();
    expect(w.messages).toEqual([]);
  });

  it('v5 [MQTT-4.13.1-1] [MQTT-3.14.2-2] [§3.14.2.2.2] DISCONNECT with a Session Expiry Interval after CONNECT had 0: DISCONNECT 0x82 (no 0x11 property), close, the Will is published', async () => {
    const w = await watch();
    const c = await connected('sei');
    c.send(disconnect(0x00, { sessionExpiryInterval: 60 }));
    await c.waitClosed();
    expect(lastDisconnect(c)).toBe(0x82); // a Reason String may follow the code
    await h().gone('sei');
    for (let i = 0; i < 100 && w.messages.length === 0; i++) await settled();
    expect(w.messages.map((m) => m.payload)).toEqual(['bye']);
  });

  it('v5 [MQTT-3.1.2-23] DISCONNECT with Session Expiry Interval 0 ends a session CONNECT asked to keep', async () => {
    const c = await connected('end', { sessionExpiryInterval: 60 });
    c.send(disconnect(0x00, { sessionExpiryInterval: 0 }));
    await c.waitClosed();
    await h().gone('end');
    const again = await h().raw();
    again.send(connectV5({ clientId: 'end', cleanSession: false, properties: { sessionExpiryInterval: 60 } }));
    expect(decodeV5<{ sessionPresent: boolean }>(await again.next()).sessionPresent).toBe(false);
  });

  it('v5 [MQTT-4.13.1-1] a malformed packet after CONNACK (PUBLISH with QoS 3) gets DISCONNECT 0x81 Malformed Packet, then the close', async () => {
    const c = await connected('bad');
    c.send(hex('36 04 00 01 61 00'));
    await c.waitClosed();
    expect(lastDisconnect(c)).toBe(0x81); // a Reason String may follow the code
  });

  it('v5 [MQTT-3.2.2-17] [MQTT-3.3.2-9] a Topic Alias from the client above our Topic Alias Maximum (11 > 10) gets DISCONNECT 0x94', async () => {
    const c = await connected('alias');
    c.send(encodePacketV5({ type: PacketType.PUBLISH, topic: 'a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 11 } }));
    await c.waitClosed();
    expect(lastDisconnect(c)).toBe(0x94); // a Reason String may follow the code
  });
});
