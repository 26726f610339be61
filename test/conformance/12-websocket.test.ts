/**
 * Conformance, section 6 (MQTT over WebSocket) and 7.1.1 (transports), with a broker that has a
 * TCP and a WebSocket listener. Raw WebSocket clients use the `ws` package directly.
 */
import { join } from 'node:path';
import WebSocket from 'ws';
import { nextMessage } from '../helpers/broker';
import { useBroker } from '../helpers/conformance';
import { PINGREQ, PINGRESP, connack, connect, hex, publish, readPublish, subscribe, suback, toHex } from '../helpers/raw';

const LISTENERS = {
  listeners: {
    tcp: { type: 'tcp' as const, bind: '127.0.0.1:0' },
    ws: { type: 'ws' as const, bind: '127.0.0.1:0' },
  },
};

describe('6 WebSocket transport', () => {
  const h = useBroker(LISTENERS);

  it('[MQTT-6.0.0-1] a CONNECT sent in a text frame: connection closed, no CONNACK', async () => {
    const c = await h().websocket('ws');
    c.ws!.send(connect({ clientId: 'text' }), { binary: false });
    await c.waitClosed();
    expect(toHex(c.received)).toBe('');
    expect(h().broker.clientCount).toBe(0);
  });

  it('[MQTT-6.0.0-1] [MQTT-3.1.2-8] a text frame after CONNECT closes the connection and publishes the Will; nothing in it is acted on', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['#', 0]);
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'ws-text', will: { topic: 'will/ws', payload: 'text frame' } });
    c.ws!.send(publish({ topic: 'leak', payload: 'x' }), { binary: false });
    await c.expectClosed();
    const w = await watcher.nextPublish();
    expect([w.topic, w.payload.toString()]).toEqual(['will/ws', 'text frame']);
    await h().expectNothing(watcher);
  });

  it('[MQTT-3.1.2-8] a WebSocket client that vanishes (socket terminated, no close frame, no DISCONNECT) has its Will published', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['will/#', 0]);
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'ws-gone', will: { topic: 'will/ws-gone', payload: 'x' } });
    c.destroy();
    expect((await watcher.nextPublish()).topic).toBe('will/ws-gone');
  });

  it('[MQTT-3.14.4-3] a WebSocket client that sends DISCONNECT then closes has no Will published', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['will/#', 0]);
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'ws-clean', will: { topic: 'will/ws-clean', payload: 'x' } });
    c.send(hex('e0 00'));
    await c.waitClosed();
    await h().expectNothing(watcher);
  });

  it('[MQTT-6.0.0-2] a CONNECT split across 3 binary frames is reassembled; CONNECT + SUBSCRIBE + PINGREQ in one frame are all processed', async () => {
    const a = await h().websocket('ws');
    const bytes = connect({ clientId: 'split', keepalive: 30 });
    a.ws!.send(bytes.subarray(0, 1), { binary: true });
    a.ws!.send(bytes.subarray(1, 7), { binary: true });
    a.ws!.send(bytes.subarray(7), { binary: true });
    await a.expect(connack(0, 0));

    const b = await h().websocket('ws');
    b.ws!.send(Buffer.concat([connect({ clientId: 'batch' }), subscribe(1, ['w/#', 1]), PINGREQ]), { binary: true });
    await b.expect(connack(0, 0));
    await b.expect(suback(1, 1));
    await b.expect(PINGRESP);
  });

  it('[MQTT-6.0.0-2] one frame may end one packet and start the next: two PUBLISHes cut at arbitrary points across 4 frames are both delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['w', 0]);
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'frames' });
    const stream = Buffer.concat([publish({ topic: 'w', payload: 'first' }), publish({ topic: 'w', payload: 'second' })]);
    for (const [from, to] of [[0, 3], [3, 10], [10, 12], [12, stream.length]]) c.ws!.send(stream.subarray(from, to), { binary: true });
    expect((await sub.nextPublish()).payload.toString()).toBe('first');
    expect((await sub.nextPublish()).payload.toString()).toBe('second');
  });

  it('[MQTT-6.0.0-4] a handshake offering "mqtt" selects the sub-protocol "mqtt"; offering "mqttv3.1" and "mqtt" also selects "mqtt"', async () => {
    for (const offered of [['mqtt'], ['mqttv3.1', 'mqtt']]) {
      const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${h().broker.port('ws')}/mqtt`, offered);
        ws.once('upgrade', (res) => {
          resolve(res.headers);
          ws.terminate();
        });
        ws.once('error', reject);
      });
      expect(headers['sec-websocket-protocol']).toBe('mqtt');
    }
    const c = await h().websocket('ws', ['mqtt']);
    expect(c.ws!.protocol).toBe('mqtt');
    await c.connect({ clientId: 'proto' });
  });

  it('[MQTT-6.0.0-2] [MQTT-4.8.0-1] a malformed packet over WebSocket closes that connection only (QoS 3 PUBLISH)', async () => {
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'bad' });
    const other = await h().websocket('ws');
    await other.connect({ clientId: 'good' });
    c.send(hex('36 05 00 01 74 00 01'));
    await c.expectClosed();
    other.send(PINGREQ);
    await other.expect(PINGRESP);
  });

  it('[MQTT-6.0.0-4] [MQTT-7.0.0-2] [MQTT-7.1.1-1] MQTT.js with default options, over WebSocket and over TCP, exchange messages through one broker', async () => {
    const wsClient = await h().wsClient('ws', { clientId: 'js-ws' });
    const tcpClient = await h().client({ clientId: 'js-tcp' });
    await wsClient.subscribeAsync('x/ws', { qos: 2 });
    await tcpClient.subscribeAsync('x/tcp', { qos: 1 });
    const toWs = nextMessage(wsClient);
    await tcpClient.publishAsync('x/ws', 'from tcp', { qos: 2 });
    const m1 = await toWs;
    expect([m1.topic, m1.payload.toString(), m1.packet.qos]).toEqual(['x/ws', 'from tcp', 2]);
    const toTcp = nextMessage(tcpClient);
    await wsClient.publishAsync('x/tcp', 'from ws', { qos: 1 });
    const m2 = await toTcp;
    expect([m2.topic, m2.payload.toString(), m2.packet.qos]).toEqual(['x/tcp', 'from ws', 1]);
  });

  it('[MQTT-7.1.1-1] a raw TCP client and a raw WebSocket client share sessions: a clean=0 session made over TCP resumes over WebSocket', async () => {
    const t = await h().connected({ clientId: 'roam', clean: false });
    await t.subscribe(1, ['roam', 1]);
    t.send(hex('e0 00'));
    await t.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'roam', payload: 'queued', qos: 1, id: 1 });
    const w = await h().websocket('ws');
    await w.connect({ clientId: 'roam', clean: false }, connack(1, 0));
    expect(readPublish(await w.next()).payload.toString()).toBe('queued');
  });
});

describe('6 WebSocket sub-protocol choices', () => {
  const h = useBroker(LISTENERS);

  it('[MQTT-6.0.0-4] a client offering only "mqttv3.1" gets "mqttv3.1" (documented choice)', async () => {
    const old = await h().websocket('ws', ['mqttv3.1']);
    expect(old.ws!.protocol).toBe('mqttv3.1');
    await old.connect({ clientId: 'old' });
  });

  /** The status a `ws` client's upgrade gets: 101 when it opens, else the refusal's status. */
  function upgradeStatus(protocols: string[]): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${h().broker.port('ws')}/mqtt`, protocols);
      ws.once('upgrade', (res) => resolve(res.statusCode ?? 0));
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      ws.once('open', () => ws.terminate());
      ws.once('error', (err) => (/unexpected server response/i.test(err.message) ? undefined : reject(err)));
    });
  }

  it('[MQTT-6.0.0-4] an upgrade offering no sub-protocol, or only unknown ones ("foo"), is refused with 400 (the client must offer mqtt: 6.0.0-3); nothing is left open', async () => {
    expect(await upgradeStatus([])).toBe(400);
    expect(await upgradeStatus(['foo'])).toBe(400);
    expect(await upgradeStatus(['foo', 'mqtt'])).toBe(101);
    const deadline = Date.now() + 2000;
    while (h().broker.connectionCount !== h().broker.clientCount && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(h().broker.connectionCount).toBe(h().broker.clientCount);
  });

  it('[MQTT-6.0.0-4] a client offering only unknown sub-protocols is refused, so its handshake fails', async () => {
    await expect(h().websocket('ws', ['foo'])).rejects.toThrow(/400|subprotocol/i);
  });
});

describe('5.1 TLS listener', () => {
  const fixtures = join(__dirname, 'fixtures');
  const h = useBroker({
    listeners: {
      tls: { type: 'tcp', bind: '127.0.0.1:0', ssl: true, certfile: join(fixtures, 'tls-cert.pem'), keyfile: join(fixtures, 'tls-key.pem') },
    },
  });

  it('[§5.1] [MQTT-7.1.1-1] a TLS listener carries MQTT (CONNECT, SUBSCRIBE, PUBLISH round trip) with a real cipher', async () => {
    const c = await h().tls('tls');
    await c.connect({ clientId: 'secure' });
    await c.subscribe(1, ['s', 1]);
    c.send(publish({ topic: 's', payload: 'over tls', qos: 1, id: 2 }));
    const got = await c.take(2);
    expect(got.map((p) => p.type).sort()).toEqual([3, 4]);
    expect(readPublish(got.find((p) => p.type === 3)!).payload.toString()).toBe('over tls');
  });

  it('[§5.1] a client offering only NULL-encryption cipher suites cannot complete the TLS handshake', async () => {
    await expect(
      h().tls('tls', { ciphers: 'NULL-SHA256:NULL-SHA:@SECLEVEL=0', maxVersion: 'TLSv1.2' }),
    ).rejects.toThrow(/alert handshake failure/i); // the server's refusal (a NULL-permitting server would accept)
  });
});
