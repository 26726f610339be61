/**
 * MQTT 5 work checked outside the conformance map: 3.1.1 clients are unchanged by the v5 limits
 * and acknowledgements (the guards each v5 feature keeps), and per-protocol-level counts in stats
 * and $SYS. Moved here from test/conformance/v5/07 and 09, whose titles carry checklist ids only.
 */
import { sleep, useBroker, waitFor } from '../helpers/conformance';
import { T, idOf, toHex, connect, connack, publish as publish311, pubrel as pubrel311 } from '../helpers/raw';
import type { BrokerPlugin } from '../../src';
import { encodePacketV5 } from '../../src/core/protocol/encoder-v5';
import { PacketType, type Properties } from '../../src/core/protocol/packets';
import { connectMqtt5, connectV5, decodeV5 } from '../helpers/v5';

interface Connack {
  cmd: string;
  reasonCode: number;
}

describe('3.1.1 beside v5 Server Keep Alive (limits.max-keepalive 1)', () => {
  const h = useBroker({ limits: { 'max-keepalive': 1 } });

  it('3.1.1 choice: a 3.1.1 client keeps its own Keep Alive (60) whatever max-keepalive says (it cannot be told): not closed after 2 s of silence', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'v4', keepalive: 60 }));
    expect(toHex((await c.next()).bytes)).toBe('20 02 00 00');
    await sleep(2000);
    await c.pingRoundTrip();
    expect(c.closed).toBe(false);
  });
});

describe('3.1.1 beside v5 Receive Maximum (max-inflight-messages 2)', () => {
  const h = useBroker({ limits: { 'max-inflight-messages': 2 } });

  it('3.1.1 is unchanged: a 3.1.1 client may leave more QoS 2 PUBLISHes without PUBREL than max-inflight-messages', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'old' }));
    expect(toHex((await c.next()).bytes)).toBe(toHex(connack(0, 0)));
    for (let i = 1; i <= 4; i++) c.send(publish311({ topic: 't', qos: 2, id: i }));
    const recs = await c.take(4);
    expect(recs.map((p) => p.type)).toEqual([T.PUBREC, T.PUBREC, T.PUBREC, T.PUBREC]);
    c.send(pubrel311(1));
    expect((await c.next()).type).toBe(T.PUBCOMP);
  });
});

describe('3.1.1 beside v5 reason codes on acknowledgements', () => {
  const h = useBroker({
    limits: { 'max-retained-messages': 1 },
    'topic-check': { enabled: true, plugins: ['topic_acl'], acl: { anonymous: ['#'] }, 'publish-acl': { anonymous: ['open/#', 'r/#', '$SYS/#'] } },
  });

  it('3.1.1 is unchanged: PUBREL for an unknown id gets the plain PUBCOMP, a refused publish PUBACK 0x00', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'old311' }));
    await c.next();
    c.send(pubrel311(42));
    expect(toHex((await c.next()).bytes)).toBe('70 02 00 2a');
    c.send(publish311({ topic: 'closed/a', qos: 1, id: 3 }));
    const p = await c.next();
    expect([p.type, idOf(p), p.bytes.length]).toEqual([T.PUBACK, 3, 4]);
  });
});

describe('3.1.1 beside v5 SUBACK reason codes', () => {
  const h = useBroker({
    limits: { 'max-subscriptions': 2 },
    'topic-check': { enabled: true, plugins: ['topic_acl'], acl: { anonymous: ['a/#'] } },
  });

  it('3.1.1 is unchanged: every refusal is 0x80', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'subs311' }));
    await c.next();
    c.send(Buffer.from(sub311()));
    const p = await c.next();
    expect(toHex(p.bytes)).toBe('90 07 00 01 01 80 80 02 80');
  });
});

/** A 3.1.1 SUBSCRIBE id 1: a/1 QoS 1, b/1 QoS 1, a/#/x QoS 0, a/2 QoS 2, a/3 QoS 0. */
function sub311(): Buffer {
  const f = (t: string, q: number): Buffer => Buffer.concat([Buffer.from([0, t.length]), Buffer.from(t), Buffer.from([q])]);
  const body = Buffer.concat([Buffer.from([0, 1]), f('a/1', 1), f('b/1', 1), f('a/#/x', 0), f('a/2', 2), f('a/3', 0)]);
  return Buffer.concat([Buffer.from([0x82, body.length]), body]);
}

describe('v5 clients counted by protocol version', () => {
  const h = useBroker({ sys_interval: 1 });

  it('broker stats and $SYS/broker/clients/protocol/N count connected clients per protocol level, down again at the close', async () => {
    const v5 = await h().raw();
    v5.send(connectV5({ clientId: 'five' }));
    decodeV5<Connack>(await v5.next());
    const v4 = await h().connected({ clientId: 'four' });
    const byLevel = h().broker.stats.clientsByProtocolLevel;
    expect([byLevel[3], byLevel[4], byLevel[5]]).toEqual([0, 1, 1]);
    expect(h().broker.client('five')?.protocolLevel).toBe(5);

    const { client } = await connectMqtt5(h().port, { clientId: 'sys' });
    try {
      const seen = new Map<string, string>();
      client.on('message', (topic, payload) => seen.set(topic, payload.toString()));
      await client.subscribeAsync('$SYS/broker/clients/protocol/+', { qos: 0 });
      await waitFor(() => seen.get('$SYS/broker/clients/protocol/5') === '2', 4000, '$SYS protocol/5 = 2');
      expect(seen.get('$SYS/broker/clients/protocol/4')).toBe('1');
      expect(seen.get('$SYS/broker/clients/protocol/3')).toBe('0');
    } finally {
      client.end(true);
    }
    v4.destroy();
    v5.destroy();
    await h().gone('four');
    await h().gone('five');
    await waitFor(() => byLevel[4] === 0 && byLevel[5] <= 1, 2000, 'the counts to come down');
  });
});

describe('v5 plugin API in MQTT 5 terms', () => {
  interface Decoded {
    cmd: string;
    reasonCode: number;
    properties?: { userProperties?: Record<string, string | string[]> };
  }
  const seen: { connect?: Properties; publish?: Properties } = {};
  const propertiesPlugin: BrokerPlugin = {
    name: 'test.properties',
    authenticate(req) {
      seen.connect = req.properties;
      return { ok: true, userProperties: [['tier', 'gold']] };
    },
    authorizePublish(_client, _topic, _qos, _retain, properties) {
      seen.publish = properties;
      return true;
    },
  };
  const h = useBroker({}, () => ({ plugins: [propertiesPlugin] }));

  it('v5 plugin API: authenticate sees the CONNECT\'s properties and adds User Properties to CONNACK; authorizePublish sees the PUBLISH\'s', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'props', username: 'u', properties: { userProperties: [['device', 'd1']], sessionExpiryInterval: 30 } }));
    const ack = decodeV5<Decoded>(await c.next());
    expect([ack.cmd, ack.reasonCode, ack.properties?.userProperties]).toEqual(['connack', 0, { tier: 'gold' }]);
    expect(seen.connect).toMatchObject({ userProperties: [['device', 'd1']], sessionExpiryInterval: 30 });
    c.send(encodePacketV5({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.from('x'), qos: 1, packetId: 1, retain: false, dup: false, properties: { contentType: 'text/plain' } }));
    expect(decodeV5<Decoded>(await c.next())).toMatchObject({ cmd: 'puback' });
    expect(seen.publish).toMatchObject({ contentType: 'text/plain' });
  });
});
