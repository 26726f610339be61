/**
 * MQTT 5 conformance, CONNECT / CONNACK / session expiry (sections 3.1, 3.2, 4.1), over MQTT.js
 * with protocolVersion 5.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { useBroker } from '../../helpers/conformance';
import { connectMqtt5, connectV5, decodeV5, endGracefully as end, type V5Connected as Connected } from '../../helpers/v5';

const v5 = connectMqtt5;

describe('v5 CONNECT and CONNACK', () => {
  const h = useBroker({ limits: { 'session-expiry': 3600 } });
  const open: MqttClient[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.end(true);
  });
  const connect = async (o: IClientOptions = {}): Promise<Connected> => {
    const r = await v5(h().port, o);
    open.push(r.client);
    return r;
  };

  it('v5 [MQTT-3.1.4-5] [MQTT-3.2.2-2] [MQTT-3.2.2-8] [§3.2.2.3] a level 5 CONNECT is accepted: CONNACK v5 0x00 with the server capabilities', async () => {
    const { connack } = await connect({ clientId: 'c5' });
    expect(connack.reasonCode).toBe(0);
    expect(connack.sessionPresent).toBe(false);
    const p = connack.properties!;
    expect(p.retainAvailable).toBe(true);
    expect(p.wildcardSubscriptionAvailable).toBe(true);
    expect(p.sharedSubscriptionAvailable).toBe(true);
    expect(p.subscriptionIdentifiersAvailable).toBe(true);
    expect(p.receiveMaximum).toBeGreaterThan(0);
    expect(p.maximumQoS).toBeUndefined();
    expect(p.topicAliasMaximum).toBe(10); // limits.max-topic-alias default
    expect(p.assignedClientIdentifier).toBeUndefined();
    expect(h().broker.client('c5')).toBeDefined();
  });

  it('v5 [MQTT-3.1.3-6] [MQTT-3.2.2-16] an empty client id is assigned one and told in CONNACK (also with Clean Start 0)', async () => {
    const a = await connect({ clientId: '', clean: true });
    const id = a.connack.properties!.assignedClientIdentifier!;
    expect(id.length).toBeGreaterThan(0);
    expect(h().broker.client(id)).toBeDefined();
    // MQTT.js refuses an empty id with Clean Start 0: raw bytes.
    const raw = await h().raw();
    raw.send(connectV5({ clientId: '', cleanSession: false }));
    const ack = decodeV5<{ cmd: string; reasonCode: number; properties: { assignedClientIdentifier: string } }>(await raw.next());
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
    const id2 = ack.properties.assignedClientIdentifier;
    expect(id2.length).toBeGreaterThan(0);
    expect(id2).not.toBe(id);
  });

  it('v5 [MQTT-3.1.2-23] Session Expiry Interval > 0: the session outlives the connection (Session Present on return)', async () => {
    const first = await connect({ clientId: 'keep', clean: true, properties: { sessionExpiryInterval: 60 } });
    await new Promise<void>((resolve, reject) => first.client.subscribe('t/#', { qos: 1 }, (e) => (e ? reject(e) : resolve())));
    await end(first.client);
    await h().gone('keep');
    const again = await connect({ clientId: 'keep', clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(again.connack.sessionPresent).toBe(true);
    expect(h().broker.subscriptionCount).toBe(1);
  });

  it('v5 [MQTT-3.1.2-23] Session Expiry Interval absent (0): the session ends with the connection (no Session Present)', async () => {
    const first = await connect({ clientId: 'gone', clean: false });
    await end(first.client);
    await h().gone('gone');
    const again = await connect({ clientId: 'gone', clean: false });
    expect(again.connack.sessionPresent).toBe(false);
  });

  it('v5 [MQTT-3.1.2-4] Clean Start 1 discards the stored session even with a Session Expiry Interval', async () => {
    const first = await connect({ clientId: 'cs', clean: false, properties: { sessionExpiryInterval: 60 } });
    await end(first.client);
    await h().gone('cs');
    const again = await connect({ clientId: 'cs', clean: true, properties: { sessionExpiryInterval: 60 } });
    expect(again.connack.sessionPresent).toBe(false);
  });

  it('v5 [§3.2.2.3] a Session Expiry Interval above limits.session-expiry is capped, and CONNACK says so; 0xFFFFFFFF too', async () => {
    const a = await connect({ clientId: 'cap1', properties: { sessionExpiryInterval: 7200 } });
    expect(a.connack.properties!.sessionExpiryInterval).toBe(3600);
    const b = await connect({ clientId: 'cap2', properties: { sessionExpiryInterval: 0xffffffff } });
    expect(b.connack.properties!.sessionExpiryInterval).toBe(3600);
    const c = await connect({ clientId: 'cap3', properties: { sessionExpiryInterval: 100 } });
    expect(c.connack.properties!.sessionExpiryInterval).toBeUndefined();
  });

  it('v5 [MQTT-3.2.2-6] [MQTT-3.1.4-1] [MQTT-3.1.3-8] a refused v5 CONNECT gets a v5 CONNACK with the Reason Code (0x85 Client Identifier not valid)', async () => {
    const port = h().port;
    const long = 'x'.repeat(100000);
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: long.slice(0, 300) });
    open.push(client);
    const err = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve));
    expect(err.code).toBe(0x85);
  });
});
