/**
 * MQTT 5 conformance, section 4.8.2 shared subscriptions (topics/shared-groups.ts) and chapter 6
 * WebSocket transport with v5 clients (raw `ws` frames and MQTT.js protocolVersion 5).
 */
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { sleep } from '../../helpers/wait';
import { ack5, closedWith, connected5, connectV5, decodeV5, disconnect5, publish5, readPublish5, sub5, subscribe5 } from '../../helpers/v5-raw';

const LISTENERS = {
  listeners: {
    tcp: { type: 'tcp' as const, bind: '127.0.0.1:0' },
    ws: { type: 'ws' as const, bind: '127.0.0.1:0' },
  },
  limits: { 'session-expiry': 3600 },
};

describe('v5 4.8.2 shared subscriptions', () => {
  const h = useBroker(LISTENERS);

  it('v5 [MQTT-4.8.2-1] [MQTT-4.8.2-2] ill-formed shared filters are refused (SUBACK >= 0x80): "$share//a", "$share/g", "$share/g+/a", "$share/g/a#"; "$share/g/a" is granted', async () => {
    const c = await connected5(h(), 'c');
    c.send(subscribe5(1, ['$share//a', '$share/g', '$share/g+/a', '$share/g/a#', '$share/g/a'].map((topic) => ({ topic, qos: 1 as const }))));
    const ack = decodeV5<{ granted: number[] }>(await c.next());
    expect(ack.granted.map((g) => g >= 0x80)).toEqual([true, true, true, true, false]);
  });

  it('v5 [MQTT-4.8.2-3] [§4.8.2] each message goes to one member, at that member\'s granted QoS (members granted QoS 0 and 2, QoS 2 publishes)', async () => {
    const a = await connected5(h(), 'a');
    const b = await connected5(h(), 'b');
    await sub5(a, 1, [{ topic: '$share/g/t', qos: 0 }]);
    await sub5(b, 1, [{ topic: '$share/g/t', qos: 2 }]);
    const p = await connected5(h(), 'p');
    for (let i = 1; i <= 4; i++) {
      p.send(publish5('t', `${i}`, 2, i));
      await p.next();
      p.send(ack5(PacketType.PUBREL, i));
      await p.next();
    }
    await h().expectNothing();
    const ofA = a.inbox.splice(0).map(readPublish5);
    const ofB = b.inbox.splice(0).map(readPublish5);
    expect(ofA.length + ofB.length).toBe(4);
    expect(ofA.length).toBeGreaterThan(0);
    expect(ofB.length).toBeGreaterThan(0);
    expect(ofA.every((d) => d.qos === 0)).toBe(true);
    expect(ofB.every((d) => d.qos === 2)).toBe(true);
    expect([...ofA, ...ofB].map((d) => d.payload.toString()).sort()).toEqual(['1', '2', '3', '4']);
  });

  it('v5 [§4.8.2] a second SUBSCRIBE to the same shared filter from one session adds no second membership: two publishes alternate between the two members', async () => {
    const a = await connected5(h(), 'a');
    const b = await connected5(h(), 'b');
    await sub5(a, 1, [{ topic: '$share/g/t', qos: 0 }]);
    await sub5(a, 2, [{ topic: '$share/g/t', qos: 0 }]);
    await sub5(b, 1, [{ topic: '$share/g/t', qos: 0 }]);
    const p = await connected5(h(), 'p');
    for (let i = 0; i < 4; i++) p.send(publish5('t', `${i}`, 0));
    await h().expectNothing();
    expect([a.inbox.splice(0).length, b.inbox.splice(0).length]).toEqual([2, 2]);
  });

  it('v5 [MQTT-4.8.2-4] a QoS 2 delivery to a member cut by a disconnect is completed to that same member when it reconnects', async () => {
    const a = await connected5(h(), 'a', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    await sub5(a, 1, [{ topic: '$share/g/t', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'q2', 2, 1));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 1));
    await p.next();
    const first = readPublish5(await a.next());
    const b = await connected5(h(), 'b');
    await sub5(b, 1, [{ topic: '$share/g/t', qos: 2 }]);
    a.destroy();
    await h().gone('a');
    const again = await connected5(h(), 'a', { cleanSession: false, properties: { sessionExpiryInterval: 60 } });
    const resent = readPublish5(await again.next());
    expect([resent.payload.toString(), resent.id, resent.dup]).toEqual(['q2', first.id, true]);
    await h().expectNothing(b);
  });

  it('v5 [MQTT-4.8.2-5] a QoS 2 message whose member\'s session ends before completion goes to no other member', async () => {
    const a = await connected5(h(), 'a', { cleanSession: false, properties: { sessionExpiryInterval: 1 } });
    await sub5(a, 1, [{ topic: '$share/g/t', qos: 2 }]);
    const p = await connected5(h(), 'p');
    p.send(publish5('t', 'q2', 2, 1));
    await p.next();
    p.send(ack5(PacketType.PUBREL, 1));
    await p.next();
    await a.next();
    const b = await connected5(h(), 'b');
    await sub5(b, 1, [{ topic: '$share/g/t', qos: 2 }]);
    a.destroy();
    await h().gone('a');
    await sleep(2200);
    await h().expectNothing(b);
  });
});

describe('v5 6 WebSocket transport', () => {
  const h = useBroker(LISTENERS);

  it('v5 [MQTT-6.0.0-1] a v5 CONNECT sent in a text frame: connection closed, no CONNACK', async () => {
    const c = await h().websocket('ws');
    c.ws!.send(connectV5({ clientId: 'text' }), { binary: false });
    await c.waitClosed();
    expect(c.history).toEqual([]);
  });

  it('v5 [MQTT-6.0.0-2] a v5 CONNECT split across 3 binary frames is reassembled; CONNECT + SUBSCRIBE + PINGREQ in one frame are all processed', async () => {
    const a = await h().websocket('ws');
    const bytes = connectV5({ clientId: 'split' });
    a.ws!.send(bytes.subarray(0, 1), { binary: true });
    a.ws!.send(bytes.subarray(1, 9), { binary: true });
    a.ws!.send(bytes.subarray(9), { binary: true });
    expect(decodeV5<{ cmd: string; reasonCode: number }>(await a.next())).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    const b = await h().websocket('ws');
    b.ws!.send(Buffer.concat([connectV5({ clientId: 'batch' }), subscribe5(1, [{ topic: 'w', qos: 1 }]), Buffer.from([0xc0, 0])]), { binary: true });
    expect((await b.take(3)).map((p) => p.type)).toEqual([2, 9, 13]);
  });

  it('v5 [MQTT-6.0.0-4] [§6] the handshake on /mqtt selects "mqtt"; an MQTT.js v5 client over WebSocket and a raw v5 TCP client exchange messages', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${h().broker.port('ws')}/mqtt`, ['mqtt']);
    await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    expect(ws.protocol).toBe('mqtt');
    ws.terminate();
    const client = mqtt.connect(`ws://127.0.0.1:${h().broker.port('ws')}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'js-ws' });
    try {
      await new Promise<void>((resolve, reject) => (client.once('connect', () => resolve()), client.once('error', reject)));
      await client.subscribeAsync('ws/t', { qos: 1 });
      const got = new Promise<[string, unknown]>((resolve) => client.once('message', (_t, payload, packet) => resolve([payload.toString(), packet.properties?.contentType])));
      const tcp = await connected5(h(), 'tcp');
      tcp.send(publish5('ws/t', 'from tcp', 1, 1, { contentType: 'text/plain' }));
      await tcp.next();
      expect(await got).toEqual(['from tcp', 'text/plain']);
      tcp.send(disconnect5());
    } finally {
      client.end(true);
    }
  });

  it('v5 [MQTT-6.0.0-2] [MQTT-4.13.1-1] a malformed packet over WebSocket (QoS 3 PUBLISH) gets DISCONNECT 0x81 and closes that connection only', async () => {
    const bad = await h().websocket('ws');
    bad.send(connectV5({ clientId: 'bad' }));
    await bad.next();
    const good = await h().websocket('ws');
    good.send(connectV5({ clientId: 'good' }));
    await good.next();
    bad.send(Buffer.from([0x36, 0x04, 0x00, 0x01, 0x61, 0x00]));
    expect(await closedWith(bad)).toBe(0x81);
    await good.pingRoundTrip();
    expect(good.closed).toBe(false);
  });
});
