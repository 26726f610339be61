/**
 * Every limit crossed end to end: the documented reaction (close, CONNACK/SUBACK code, queueing,
 * throttling, dropping), the counter in `broker.stats` that moves, and a bystander client that
 * still works. A fresh broker per test (small limits, ephemeral ports).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { BrokerConfigInput, ClientSnapshot } from '../../src';
import { nextMessage, receivedDuring } from '../helpers/broker';
import { type Harness, sleep, useBroker, waitFor } from '../helpers/conformance';
import {
  PINGREQ,
  PINGRESP,
  type RawPacket,
  connack,
  connect,
  puback,
  publish,
  readPublish,
  remainingLength,
  subscribe,
  suback,
  toHex,
  unsubscribe,
  unsuback,
} from '../helpers/raw';

const LIMITS = {
  'max-packet-size': 65536,
  'connect-timeout': 0.4,
  'max-inflight-messages': 5,
  'max-queued-messages': 20,
  'max-subscriptions': 3,
  'max-topic-length': 64,
  'max-topic-levels': 4,
  'max-client-id-length': 16,
  'max-write-buffer': 65536,
};
const fixtures = join(__dirname, '..', 'conformance', 'fixtures');
const TLS_FILES = { certfile: join(fixtures, 'tls-cert.pem'), keyfile: join(fixtures, 'tls-key.pem') };
const CONFIG: BrokerConfigInput = {
  listeners: {
    tcp: { type: 'tcp', bind: '127.0.0.1:0' },
    ws: { type: 'ws', bind: '127.0.0.1:0' },
    tls: { type: 'tcp', bind: '127.0.0.1:0', ssl: true, ...TLS_FILES },
  },
  limits: LIMITS,
};

/** A connected client's snapshot (buffered output bytes, whether its reading is throttled). */
function liveClient(h: Harness, clientId: string): ClientSnapshot {
  const client = h.broker.client(clientId);
  if (client === undefined) throw new Error(`${clientId} is not connected`);
  return client;
}
/** Packet id of a received QoS 1/2 PUBLISH. */
const pubId = (p: RawPacket): number => readPublish(p).id!;
const T_CONNACK = 2;
const T_PUBACK = 4;

/**
 * A bystander connected before the limit is crossed: returns a check that it is still connected
 * and still gets its own QoS 1 message through the broker.
 */
async function bystander(h: Harness, clientId = 'bystander'): Promise<{ client: MqttClient; stillWorks(): Promise<void> }> {
  const client = await h.client({ clientId });
  await client.subscribeAsync(`${clientId}/echo`, { qos: 1 });
  return {
    client,
    async stillWorks() {
      expect(h.broker.client(clientId)).toBeDefined();
      const got = nextMessage(client);
      await client.publishAsync(`${clientId}/echo`, 'still here', { qos: 1 });
      expect((await got).payload.toString()).toBe('still here');
    },
  };
}

// ---- max-connections -----------------------------------------------------------------------

describe('max-connections (per listener)', () => {
  const h = useBroker({
    listeners: {
      tcp: { type: 'tcp', bind: '127.0.0.1:0' },
      capped: { type: 'tcp', bind: '127.0.0.1:0', 'max-connections': 2 },
      'ws-capped': { type: 'ws', bind: '127.0.0.1:0', 'max-connections': 1 },
      'tls-capped': { type: 'tcp', bind: '127.0.0.1:0', ssl: 'on', 'max-connections': 1, ...TLS_FILES },
    },
  });

  it('the connection over the limit is closed at once without a byte and counted; the two within it and other listeners are unaffected; a freed slot is reusable', async () => {
    const by = await bystander(h());
    const port = h().broker.port('capped');
    const a = await h().raw(port);
    await a.connect({ clientId: 'a' });
    const b = await h().raw(port);
    await b.connect({ clientId: 'b' });
    await a.subscribe(1, ['cap/#', 0]);

    const t0 = Date.now();
    const over = await h().raw(port);
    over.send(connect({ clientId: 'over' }));
    await over.expectClosedSilently(1000);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(h().broker.stats.connectionsRefused).toBe(1);
    expect(h().broker.client('over')).toBeUndefined();

    // The two within the limit still talk to each other.
    b.send(publish({ topic: 'cap/x', payload: 'from b' }));
    const m = await a.nextPublish();
    expect([m.topic, m.payload.toString()]).toEqual(['cap/x', 'from b']);
    await by.stillWorks();

    // Once one leaves, its slot is free again.
    b.destroy();
    await h().gone('b');
    const c = await h().raw(port);
    await c.connect({ clientId: 'c' });
    expect(h().broker.stats.connectionsRefused).toBe(1);
  });

  it('WebSocket listener: the socket over the limit is closed before the upgrade and counted; the connected one keeps working', async () => {
    const first = await h().websocket('ws-capped');
    await first.connect({ clientId: 'ws-1' });
    await expect(h().websocket('ws-capped')).rejects.toThrow();
    expect(h().broker.stats.connectionsRefused).toBe(1);
    first.send(PINGREQ);
    await first.expect(PINGRESP);
    expect(h().broker.clientCount).toBe(1);
  });

  it('TLS listener: the socket over the limit is closed before its handshake and counted; the connected one keeps working', async () => {
    const first = await h().tls('tls-capped');
    await first.connect({ clientId: 'tls-1' });
    await expect(h().tls('tls-capped')).rejects.toThrow();
    expect(h().broker.stats.connectionsRefused).toBe(1);
    first.send(PINGREQ);
    await first.expect(PINGRESP);
  });
});

// ---- max-packet-size -----------------------------------------------------------------------

describe('max-packet-size (64 KiB here)', () => {
  const h = useBroker(CONFIG);

  it('the fixed header of a 10 MB PUBLISH closes the connection at once: the body is never sent, nor waited for', async () => {
    const by = await bystander(h());
    const c = await h().raw();
    await c.connect({ clientId: 'big', will: { topic: 'will/big', payload: 'gone' } });
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['will/#', 0]);
    const received = h().broker.stats.bytesReceived;
    c.send(Buffer.from([0x30, ...remainingLength(10 * 1024 * 1024)]));
    await c.expectClosed(1000);
    expect(h().broker.stats.closedPacketTooLarge).toBe(1);
    // Only those 5 bytes crossed: nothing of the body was needed to decide.
    expect(h().broker.stats.bytesReceived - received).toBe(5);
    // A close for a violation, so the Will is published.
    expect((await watcher.nextPublish()).topic).toBe('will/big');
    await by.stillWorks();
  });

  it('before CONNECT too: the header of a 10 MB CONNECT closes without CONNACK', async () => {
    const c = await h().raw();
    c.send(Buffer.from([0x10, ...remainingLength(10 * 1024 * 1024)]));
    await c.expectClosedSilently(1000);
    expect(h().broker.stats.closedPacketTooLarge).toBe(1);
  });

  it('the boundary: Remaining Length 65536 is delivered, 65537 closes', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['b', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    // body = topic field (2 + 1) + payload
    pub.send(publish({ topic: 'b', payload: Buffer.alloc(65536 - 3, 7) }));
    const m = await sub.nextPublish();
    expect(m.payload.length).toBe(65533);
    pub.send(publish({ topic: 'b', payload: Buffer.alloc(65537 - 3, 7) }));
    await pub.expectClosed(1000);
    expect(h().broker.stats.closedPacketTooLarge).toBe(1);
    await h().expectNothing(sub);
  });

  it('over WebSocket: an MQTT header announcing 10 MB inside a small frame closes the connection and is counted', async () => {
    const by = await bystander(h());
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'ws-big' });
    c.send(Buffer.from([0x30, ...remainingLength(10 * 1024 * 1024)]));
    await c.waitClosed(1000);
    expect(h().broker.stats.closedPacketTooLarge).toBe(1);
    await by.stillWorks();
  });

  it('over WebSocket: a frame header announcing 10 MB closes the connection (close code 1009) before the body, and is counted', async () => {
    const by = await bystander(h());
    const s = await wsHandshake(h().broker.port('ws'));
    try {
      s.sendFrame(connect({ clientId: 'ws-frame' }));
      expect(toHex(await s.read(6))).toBe('82 04 20 02 00 00');
      expect(h().broker.client('ws-frame')).toBeDefined();
      // Binary frame, FIN, masked, 64-bit length 10 MB, mask key; no payload follows.
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(10 * 1024 * 1024), 2);
      s.socket.write(header);
      await s.closed;
      // The server's close frame: opcode 8, status 1009 (message too big).
      expect(toHex(s.rest().subarray(0, 4))).toBe('88 02 03 f1');
      await waitFor(() => h().broker.client('ws-frame') === undefined, 1000, 'ws-frame to be gone');
      expect(h().broker.stats.closedPacketTooLarge).toBe(1);
      await by.stillWorks();
    } finally {
      s.socket.destroy();
    }
  });
});

/** A WebSocket client written on a bare socket, so a frame header can be sent without its body. */
async function wsHandshake(port: number): Promise<{
  socket: net.Socket;
  sendFrame(b: Buffer): void;
  read(n: number): Promise<Buffer>;
  rest(): Buffer;
  closed: Promise<void>;
}> {
  const socket = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  await new Promise<void>((r, j) => {
    socket.once('connect', r);
    socket.once('error', j);
  });
  socket.write(
    'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n',
  );
  const until = async (ready: () => boolean): Promise<void> => {
    const deadline = Date.now() + 2000;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out; have ${toHex(buf)}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  await until(() => buf.includes('\r\n\r\n'));
  const end = buf.indexOf('\r\n\r\n') + 4;
  expect(buf.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
  buf = buf.subarray(end);
  return {
    socket,
    closed,
    sendFrame(payload: Buffer) {
      const mask = Buffer.from([1, 2, 3, 4]);
      const masked = Buffer.from(payload.map((x, i) => x ^ mask[i % 4]));
      socket.write(Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, masked]));
    },
    async read(n: number) {
      await until(() => buf.length >= n);
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    },
    rest: () => buf,
  };
}

// ---- connect-timeout -----------------------------------------------------------------------

describe('connect-timeout (0.4 s here)', () => {
  const h = useBroker(CONFIG);

  it('a TCP socket that sends nothing, and one that sends half a CONNECT, are closed after the timeout, silently, and counted', async () => {
    const by = await bystander(h());
    const silent = await h().raw();
    const half = await h().raw();
    half.send(connect({ clientId: 'half' }).subarray(0, 6));
    const t0 = Date.now();
    await silent.expectClosedSilently(2000);
    await half.expectClosedSilently(2000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(1500);
    expect(h().broker.stats.closedConnectTimeout).toBe(2);
    // The bystander connected long before and is still there past the timeout.
    await by.stillWorks();
  });

  it('a WebSocket that upgrades but sends no CONNECT is closed after the timeout and counted', async () => {
    const c = await h().websocket('ws');
    await c.waitClosed(2000);
    expect(toHex(c.received)).toBe('');
    expect(h().broker.stats.closedConnectTimeout).toBe(1);
  });

  it.each(['ws', 'tls'])('a socket to the %s listener that never even starts its handshake (HTTP upgrade / TLS) is closed after the timeout and counted', async (name) => {
    const by = await bystander(h());
    const s = net.connect(h().broker.port(name), '127.0.0.1');
    s.on('error', () => undefined);
    const t0 = Date.now();
    await new Promise<void>((r) => s.once('close', () => r()));
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(h().broker.stats.closedConnectTimeout).toBe(1);
    await by.stillWorks();
  });
});

// ---- max-inflight-messages -----------------------------------------------------------------

describe('max-inflight-messages (5 here)', () => {
  const h = useBroker(CONFIG);

  it('a subscriber that never acknowledges has at most 5 QoS 1 messages in flight; the rest wait in its queue, in order, and flow as it acknowledges', async () => {
    const by = await bystander(h());
    await by.client.subscribeAsync('inf/#', { qos: 1 });
    const sub = await h().connected({ clientId: 'slow-acker' });
    await sub.subscribe(1, ['inf/#', 1]);
    const pub = await h().client({ clientId: 'inf-pub' });
    const forBystander = await receivedDuring(by.client, async () => {
      for (let i = 0; i < 12; i++) await pub.publishAsync('inf/t', `m${i}`, { qos: 1 });
    });

    const first = await sub.take(5);
    expect(first.map((p) => readPublish(p).payload.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await h().expectNothing(sub);
    expect(h().broker.client('slow-acker')).toMatchObject({ inflight: 5, queued: 7 });
    // The bystander, which acknowledges, got all twelve at once.
    expect(forBystander.map((m) => m.payload.toString())).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));

    // Two acknowledgements open two slots: exactly two more come.
    sub.send(puback(pubId(first[0])), puback(pubId(first[1])));
    const next = await sub.take(2);
    expect(next.map((p) => readPublish(p).payload.toString())).toEqual(['m5', 'm6']);
    await h().expectNothing(sub);
    expect(h().broker.client('slow-acker')).toMatchObject({ inflight: 5, queued: 5 });

    // Acknowledge everything as it comes: the rest arrives in order.
    const got = [...first, ...next].map((p) => readPublish(p).payload.toString());
    const pending = [first[2], first[3], first[4], ...next].map(pubId);
    sub.send(...pending.map(puback));
    while (got.length < 12) {
      const p = readPublish(await sub.next());
      got.push(p.payload.toString());
      sub.send(puback(p.id!));
    }
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
    await waitFor(() => h().broker.client('slow-acker')?.inflight === 0, 1000, 'in-flight window to empty');
    expect(h().broker.client('slow-acker')).toMatchObject({ inflight: 0, queued: 0 });
  });
});

// ---- max-queued-messages -------------------------------------------------------------------

describe('max-queued-messages (20 here)', () => {
  const h = useBroker(CONFIG);

  it('offline persistent session: messages beyond 20 are dropped and counted (droppedQueueFull); the oldest 20 are delivered on return; the publisher is not affected', async () => {
    const by = await bystander(h());
    const sub = await h().client({ clientId: 'away', clean: false });
    await sub.subscribeAsync('q/#', { qos: 1 });
    sub.end();
    await h().gone('away');
    const pub = await h().client({ clientId: 'q-pub' });
    for (let i = 0; i < 25; i++) await pub.publishAsync('q/t', `m${i}`, { qos: 1 }); // each PUBACKed
    expect(h().broker.stats.droppedQueueFull).toBe(5);
    await by.stillWorks();

    const back = await h().raw();
    await back.connect({ clientId: 'away', clean: false }, connack(1, 0));
    const got: string[] = [];
    while (got.length < 20) {
      const p = readPublish(await back.next());
      got.push(p.payload.toString());
      back.send(puback(p.id!));
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    await h().expectNothing(back);
  });

  it('live subscriber that stops acknowledging: the QoS 1 publisher is paused (no PUBACK, no PINGRESP) within max-publisher-pause, others are not; QoS 0 to it is dropped and counted; once it acknowledges, nothing acknowledged is lost', async () => {
    const by = await bystander(h());
    const sub = await h().connected({ clientId: 'stuck' });
    await sub.subscribe(1, ['live/#', 1]);
    const pub = await h().connected({ clientId: 'fast-pub' });
    // 60 QoS 1 PUBLISHes in one write: 5 go in flight, 20 fill the queue, the 26th finds it full.
    pub.send(...Array.from({ length: 60 }, (_, i) => publish({ topic: 'live/t', payload: `m${i}`, qos: 1, id: i + 1 })));
    await waitFor(() => pub.inbox.length >= 26, 2000, '26 PUBACKs');
    pub.send(PINGREQ);
    // A paused connection answers nothing, so only a window can show it: time-based by nature.
    await sleep(200);
    // Acknowledged: the 26 routed before the pause; the 26th was queued beyond the limit, not dropped.
    expect(pub.inbox.map((p) => toHex(p.bytes))).toEqual(Array.from({ length: 26 }, (_, i) => toHex(puback(i + 1))));
    expect(liveClient(h(), 'fast-pub').throttled).toBe(true);
    expect(h().broker.client('stuck')).toMatchObject({ inflight: 5, queued: 21 });
    expect(h().broker.stats.droppedQueueFull).toBe(0);

    // Another publisher to another topic is not held back.
    await by.stillWorks();
    // QoS 0 for the stuck subscriber is dropped while its queue is full (and counted).
    const other = await h().client({ clientId: 'qos0-pub' });
    await other.publishAsync('live/t', 'qos0', { qos: 0 });
    await waitFor(() => h().broker.stats.droppedQueueFull === 1, 1000, 'the QoS 0 drop');

    // The subscriber acknowledges everything from now on: the publisher resumes; all 60 arrive in order.
    const got: string[] = [];
    const inflight = await sub.take(5);
    for (const p of inflight) {
      got.push(readPublish(p).payload.toString());
      sub.send(puback(pubId(p)));
    }
    while (got.length < 60) {
      const p = readPublish(await sub.next());
      got.push(p.payload.toString());
      sub.send(puback(p.id!));
    }
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`));
    await waitFor(() => pub.inbox.length >= 61, 2000, 'the remaining PUBACKs and the PINGRESP');
    expect(pub.inbox.slice(26).map((p) => toHex(p.bytes))).toEqual([
      ...Array.from({ length: 34 }, (_, i) => toHex(puback(i + 27))),
      toHex(PINGRESP),
    ]);
    expect(liveClient(h(), 'fast-pub').throttled).toBe(false);
    await h().expectNothing(sub);
  });
});

describe('max-queued-messages: a live client nobody can pause (20 here)', () => {
  const h = useBroker(CONFIG);

  it('a client publishing QoS 1 to its own subscription without ever acknowledging is closed at twice the queue limit (closedQueueOverflow); its persistent session keeps the queue within the offline limit; others unaffected', async () => {
    const by = await bystander(h());
    const self = await h().connected({ clientId: 'echo-self', clean: false });
    await self.subscribe(1, ['self/#', 1]);
    // Pausing its reading would also stop its PUBACKs: there is nobody to throttle.
    self.send(...Array.from({ length: 80 }, (_, i) => publish({ topic: 'self/t', payload: `m${i}`, qos: 1, id: i + 1 })));
    await self.waitClosed(3000);
    expect(h().broker.stats.closedQueueOverflow).toBe(1);
    await h().gone('echo-self');
    // 5 in flight + at most 2 x 20 queued while live; offline, the 20-message limit holds.
    const session = h().broker.session('echo-self')!;
    expect(session.connected).toBe(false);
    expect(session.inflight).toBe(5);
    expect(session.queued).toBeLessThanOrEqual(40);
    await by.stillWorks();
  });
});

describe('max-queued-messages with queue-full-policy: drop-oldest', () => {
  const h = useBroker({ ...CONFIG, limits: { ...LIMITS, 'queue-full-policy': 'drop-oldest' } });

  it('offline persistent session: the oldest messages make way for new ones (counted); the newest 20 are delivered on return', async () => {
    const sub = await h().client({ clientId: 'away', clean: false });
    await sub.subscribeAsync('q/#', { qos: 1 });
    sub.end();
    await h().gone('away');
    const pub = await h().client({ clientId: 'q-pub' });
    for (let i = 0; i < 25; i++) await pub.publishAsync('q/t', `m${i}`, { qos: 1 });
    expect(h().broker.stats.droppedQueueFull).toBe(5);
    const back = await h().raw();
    await back.connect({ clientId: 'away', clean: false }, connack(1, 0));
    const got: string[] = [];
    while (got.length < 20) {
      const p = readPublish(await back.next());
      got.push(p.payload.toString());
      back.send(puback(p.id!));
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i + 5}`));
    await h().expectNothing(back);
  });
});

describe('max-queued-bytes (all session queues together; 1000 payload bytes here)', () => {
  const h = useBroker({ ...CONFIG, limits: { ...LIMITS, 'max-queued-bytes': 1000, 'max-queued-bytes-per-session': 0 } });

  it('offline sessions share the byte budget: once 1000 payload bytes are queued, further messages are dropped and counted, for every session', async () => {
    for (const id of ['away-1', 'away-2']) {
      const sub = await h().client({ clientId: id, clean: false });
      await sub.subscribeAsync(`b/${id}`, { qos: 1 });
      sub.end();
      await h().gone(id);
    }
    const by = await bystander(h());
    const pub = await h().client({ clientId: 'b-pub' });
    // 4 × 200 bytes for away-1 (800), then 200 for away-2 fits (1000), the next ones do not.
    for (let i = 0; i < 4; i++) await pub.publishAsync('b/away-1', Buffer.alloc(200, i), { qos: 1 });
    await pub.publishAsync('b/away-2', Buffer.alloc(200, 9), { qos: 1 });
    expect(h().broker.stats.droppedQueueFull).toBe(0);
    await pub.publishAsync('b/away-2', Buffer.alloc(1, 1), { qos: 1 });
    await pub.publishAsync('b/away-1', Buffer.alloc(1, 1), { qos: 1 });
    expect(h().broker.stats.droppedQueueFull).toBe(2);
    // Other clients are unaffected.
    await by.stillWorks();
    const back = await h().raw();
    await back.connect({ clientId: 'away-2', clean: false }, connack(1, 0));
    const p = readPublish(await back.next());
    expect([p.topic, p.payload.length]).toEqual(['b/away-2', 200]);
    back.send(puback(p.id!));
    await h().expectNothing(back);
  });
});

// ---- max-subscriptions ---------------------------------------------------------------------

describe('max-subscriptions (3 here)', () => {
  const h = useBroker(CONFIG);

  it('filters beyond 3 get SUBACK 0x80 and are counted; re-subscribing an existing filter is not a new one; unsubscribing frees a place', async () => {
    const by = await bystander(h());
    const c = await h().connected({ clientId: 'many' });
    c.send(subscribe(1, ['s/a', 1], ['s/b', 1], ['s/c', 1], ['s/d', 1], ['s/e', 0]));
    await c.expect(suback(1, 1, 1, 1, 0x80, 0x80));
    expect(h().broker.stats.refusedSubscriptionLimit).toBe(2);
    expect(h().broker.client('many')?.subscriptions).toBe(3);
    // The connection stays open; a refused filter gets nothing.
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 's/d', payload: 'not for you' }), publish({ topic: 's/a', payload: 'for you' }));
    expect((await c.nextPublish()).payload.toString()).toBe('for you');
    await h().expectNothing(c);

    c.send(subscribe(2, ['s/a', 0]));
    await c.expect(suback(2, 0));
    c.send(unsubscribe(3, 's/b'));
    await c.expect(unsuback(3));
    c.send(subscribe(4, ['s/f', 1], ['s/g', 1]));
    await c.expect(suback(4, 1, 0x80));
    expect(h().broker.stats.refusedSubscriptionLimit).toBe(3);
    await by.stillWorks();
  });
});

// ---- max-topic-length / max-topic-levels ---------------------------------------------------

describe('max-topic-length (64 bytes) and max-topic-levels (4 here)', () => {
  const h = useBroker(CONFIG);

  it.each([
    ['64 bytes', '65 bytes', 'x'.repeat(64), 'x'.repeat(65)],
    ['32 × "é" = 64 bytes', '33 × "é" = 66 bytes (bytes count, not characters)', 'é'.repeat(32), 'é'.repeat(33)],
    ['4 levels', '5 levels', 'a/b/c/d', 'a/b/c/d/e'],
  ])('PUBLISH: a topic of %s is delivered; %s closes the connection (no PUBACK) and is counted', async (_ok, _bad, okTopic, badTopic) => {
    const by = await bystander(h());
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['#', 0]);
    const c = await h().connected({ clientId: 'pub' });
    await c.publish({ topic: okTopic, payload: 'ok', qos: 1, id: 1 });
    expect((await watcher.nextPublish()).topic).toBe(okTopic);
    c.send(publish({ topic: badTopic, payload: 'too far', qos: 1, id: 2 }));
    await c.expectClosed(1000);
    expect(c.history.map((p) => p.type)).toEqual([T_CONNACK, T_PUBACK]);
    expect(h().broker.stats.closedTopicLimit).toBe(1);
    // The refused message went nowhere.
    await h().expectNothing(watcher);
    await by.stillWorks();
  });

  it('SUBSCRIBE: a filter beyond either limit gets 0x80, the connection stays open, nothing is counted as a close', async () => {
    const c = await h().connected({ clientId: 'sub' });
    c.send(subscribe(1, ['x'.repeat(65), 0], ['a/b/c/d/e', 0], ['a/+/c/#', 1], ['a/b/c/d/#', 0]));
    await c.expect(suback(1, 0x80, 0x80, 1, 0x80));
    c.send(PINGREQ);
    await c.expect(PINGRESP);
    expect(h().broker.stats.closedTopicLimit).toBe(0);
  });

  it('a Will Topic beyond the limits: closed without CONNACK and counted', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'will-long', will: { topic: 'w/'.repeat(4) + 'x', payload: 'x' } }));
    await c.expectClosedSilently(1000);
    expect(h().broker.stats.closedTopicLimit).toBe(1);
    expect(h().broker.client('will-long')).toBeUndefined();
  });
});

// ---- max-client-id-length ------------------------------------------------------------------

describe('max-client-id-length (16 bytes here)', () => {
  const h = useBroker(CONFIG);

  it('17 bytes, or 9 × "é" (18 bytes), get CONNACK 0x02 and are closed and counted; 16 bytes (also 8 × "é") are accepted', async () => {
    const by = await bystander(h());
    for (const id of ['x'.repeat(17), 'é'.repeat(9)]) {
      const c = await h().raw();
      await c.connect({ clientId: id }, connack(0, 2));
      await c.expectClosed(1000);
    }
    expect(h().broker.stats.refusedClientIdLength).toBe(2);
    for (const id of ['x'.repeat(16), 'é'.repeat(8)]) {
      const c = await h().raw();
      await c.connect({ clientId: id });
    }
    expect(h().broker.stats.refusedClientIdLength).toBe(2);
    await by.stillWorks();
  });
});

// ---- max-write-buffer ----------------------------------------------------------------------

/** MQTT in a few lines of Python, for clients with a tiny socket receive buffer (SO_RCVBUF). */
const PY_MQTT = String.raw`
import socket, struct, sys
def rl(n):
    out = bytearray()
    while True:
        d = n % 128; n //= 128
        out.append(d | (0x80 if n else 0))
        if not n: return bytes(out)
def pkt(first, body): return bytes([first]) + rl(len(body)) + body
def s16(b): return struct.pack('>H', len(b)) + b
def connect(cid): return pkt(0x10, s16(b'MQTT') + b'\x04\x02\x00\x00' + s16(cid))
def subscribe(f, q): return pkt(0x82, b'\x00\x01' + s16(f) + bytes([q]))
def recv_exact(s, n):
    b = b''
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d: raise EOFError()
        b += d
    return b
def count_packets(s, ptype, want, idle):
    """Reads packets until 'want' of type 'ptype' arrived or 'idle' seconds pass without data."""
    s.settimeout(idle)
    buf = b''; n = 0
    try:
        while n < want:
            d = s.recv(65536)
            if not d: break
            buf += d
            while len(buf) >= 2:
                i = 1; ln = 0; mul = 1
                while i < len(buf):
                    ln += (buf[i] & 0x7f) * mul; mul *= 128
                    if not buf[i] & 0x80: break
                    i += 1
                if i >= len(buf) or len(buf) < i + 1 + ln: break
                if buf[0] >> 4 == ptype: n += 1
                buf = buf[i + 1 + ln:]
    except socket.timeout:
        pass
    return n
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[2])))
mode = sys.argv[1]
if mode == 'slow-consumer':
    s.sendall(connect(b'slow') + subscribe(b'fan/#', 0))
    assert recv_exact(s, 9).hex() == '200200009003000100'
    print('ready', flush=True)
    sys.stdin.readline()
    print(count_packets(s, 3, 10**9, 0.3), flush=True)
`;

/** Runs PY_MQTT; `line()` resolves with each line it prints. */
function python(args: string[]): { proc: ChildProcessWithoutNullStreams; line(): Promise<string> } {
  const proc = spawn('python3', ['-c', PY_MQTT, ...args]);
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  proc.stdout.on('data', (d) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr.on('data', (d) => (err += d));
  proc.on('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  return {
    proc,
    async line() {
      const deadline = Date.now() + 10000;
      while (!out.includes('\n')) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`python: no output (stderr: ${err})`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
      const i = out.indexOf('\n');
      const l = out.slice(0, i);
      out = out.slice(i + 1);
      return l;
    },
  };
}

describe('max-write-buffer (64 KiB here)', () => {
  const h = useBroker(CONFIG);
  const procs: ChildProcessWithoutNullStreams[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) p.kill();
  });

  it('a QoS 0 consumer that does not read: what is buffered for it stays bounded, its messages are dropped and counted, the publisher goes on and another subscriber gets everything', async () => {
    const fast = await h().client({ clientId: 'fast' });
    await fast.subscribeAsync('fan/#', { qos: 0 });
    const slow = python(['slow-consumer', String(h().port)]);
    procs.push(slow.proc);
    expect(await slow.line()).toBe('ready');
    await waitFor(() => h().broker.client('slow') !== undefined, 1000, 'slow to be connected');

    const N = 600;
    const payload = Buffer.alloc(8192, 1);
    let fastGot = 0;
    fast.on('message', () => void fastGot++);
    const pub = await h().client({ clientId: 'fan-pub' });
    // Watch how much the broker holds for the slow consumer while the publisher runs.
    let maxBuffered = 0;
    let watching = true;
    liveClient(h(), 'slow');
    const watch = (): void => {
      maxBuffered = Math.max(maxBuffered, h().broker.client('slow')?.bufferedBytes ?? 0);
      if (watching) setImmediate(watch);
    };
    watch();
    const t0 = Date.now();
    let publishMs: number;
    try {
      for (let i = 0; i < N; i += 50) {
        await Promise.all(Array.from({ length: 50 }, () => pub.publishAsync('fan/t', payload, { qos: 1 })));
      }
      publishMs = Date.now() - t0;
      await waitFor(() => fastGot === N, 5000, `the fast subscriber to get all messages (has ${fastGot})`);
    } finally {
      watching = false;
    }

    const dropped = h().broker.stats.droppedSlowConsumer;
    expect(dropped).toBeGreaterThan(0);
    // Bounded: at most the limit plus one message (the check is made before each write).
    expect(maxBuffered).toBeLessThanOrEqual(LIMITS['max-write-buffer'] + payload.length + 64);
    expect(publishMs).toBeLessThan(5000);
    expect(h().broker.client('slow')).toBeDefined();

    // Every message was either written to the slow consumer or counted as dropped.
    slow.proc.stdin.write('drain\n');
    const delivered = Number(await slow.line());
    expect(delivered + dropped).toBe(N);
  });
});

// ---- memory before login: max-connect-packet-size, max-connections-per-address ----------------

describe('max-connect-packet-size (4 KiB here; max-packet-size stays 1 MiB)', () => {
  const h = useBroker({ listeners: CONFIG.listeners, limits: { 'max-connect-packet-size': 4096 } });

  it('the header of a 4097-byte CONNECT closes without CONNACK as soon as its length is read; counted', async () => {
    const c = await h().raw();
    const received = h().broker.stats.bytesReceived;
    c.send(Buffer.from([0x10, ...remainingLength(4097)]));
    await c.expectClosedSilently(1000);
    expect(h().broker.stats.closedConnectTooLarge).toBe(1);
    expect(h().broker.stats.closedPacketTooLarge).toBe(0);
    expect(h().broker.stats.bytesReceived - received).toBe(3);
  });

  it('the boundary: a 4096-byte CONNECT is accepted, and then the 1 MiB limit applies to the packets after it', async () => {
    // CONNECT body: 10 (variable header) + 2+1 (client id) + 2+1 (will topic) + 2 + payload.
    const c = await h().raw();
    await c.connect({ clientId: 'c', will: { topic: 'w', payload: Buffer.alloc(4096 - 18, 1) } });
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['big', 0]);
    c.send(publish({ topic: 'big', payload: Buffer.alloc(200 * 1024, 2) }));
    expect((await sub.nextPublish()).payload.length).toBe(200 * 1024);
    expect(h().broker.stats.closedConnectTooLarge).toBe(0);
  });

  it('over WebSocket: a first frame announcing 1 MiB closes (1009) at its header; after CONNECT, 200 KiB frames pass', async () => {
    const s = await wsHandshake(h().broker.port('ws'));
    try {
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(1024 * 1024), 2);
      s.socket.write(header);
      await s.closed;
      expect(toHex(s.rest().subarray(0, 4))).toBe('88 02 03 f1');
      expect(h().broker.stats.closedConnectTooLarge).toBe(1);
    } finally {
      s.socket.destroy();
    }
    const c = await h().websocket('ws');
    await c.connect({ clientId: 'ws-after' });
    const sub = await h().connected({ clientId: 'ws-sub' });
    await sub.subscribe(1, ['ws-big', 0]);
    c.send(publish({ topic: 'ws-big', payload: Buffer.alloc(200 * 1024, 3) }));
    expect((await sub.nextPublish()).payload.length).toBe(200 * 1024);
    expect(h().broker.stats.closedPacketTooLarge).toBe(0);
  });

  it('the attack: 200 sockets each sending 1 MiB of an unfinished CONNECT are all closed at the header; nothing is held', async () => {
    const announce = Buffer.from([0x10, ...remainingLength(1024 * 1024)]);
    const body = Buffer.alloc(1024 * 1024 - 1, 0x41);
    const port = h().broker.port('tcp');
    const sockets = await Promise.all(
      Array.from({ length: 200 }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      })),
    );
    const closed = sockets.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    for (const s of sockets) {
      s.on('error', () => undefined);
      s.write(announce);
      s.write(body);
    }
    await Promise.all(closed);
    expect(h().broker.stats.closedConnectTooLarge).toBe(200);
    await waitFor(() => h().broker.connectionCount === 0, 2000, 'every connection to be gone');
  });
});

describe('max-connections-per-address (3 here, loopback included)', () => {
  const h = useBroker({
    listeners: CONFIG.listeners,
    limits: { 'max-connections-per-address': 3, 'limit-loopback-connections': true },
  });

  it('a 4th socket from one address is closed at accept, on any listener, counted; a freed slot is usable again', async () => {
    const held = [await h().raw(), await h().raw(), await h().raw()];
    await waitFor(() => h().broker.connectionCount === 3, 1000, 'three connections');
    const over = await h().raw();
    await over.expectClosedSilently(1000);
    // The count is per address across listeners: the WebSocket listener refuses it too, at accept.
    await expect(h().websocket('ws')).rejects.toThrow();
    expect(h().broker.stats.refusedAddressLimit).toBe(2);
    expect(h().broker.connectionCount).toBe(3);
    held[0].destroy();
    await waitFor(() => h().broker.connectionCount === 2, 1000, 'the freed slot');
    const again = await h().client({ clientId: 'again' });
    expect(again.connected).toBe(true);
  });
});

describe('max-connections-per-address exempts loopback by default', () => {
  const h = useBroker({ listeners: CONFIG.listeners, limits: { 'max-connections-per-address': 3 } });

  it('five loopback sockets with a limit of 3 are all served', async () => {
    for (let i = 0; i < 5; i++) await h().connected({ clientId: `lo-${i}` });
    expect(h().broker.connectionCount).toBe(5);
    expect(h().broker.stats.refusedAddressLimit).toBe(0);
  });
});

// ---- defaults ------------------------------------------------------------------------------

describe('limits have safe defaults', () => {
  const h = useBroker();

  it('max-packet-size defaults to 1 MiB: the header of a 10 MB PUBLISH closes, and is counted', async () => {
    const c = await h().connected({ clientId: 'd' });
    c.send(Buffer.from([0x30, ...remainingLength(10 * 1024 * 1024)]));
    await c.expectClosed(1000);
    expect(h().broker.stats.closedPacketTooLarge).toBe(1);
    expect(h().broker.config.limits).toMatchObject({
      maxPacketSize: 1048576, connectTimeout: 10, maxInflightMessages: 100, maxQueuedMessages: 1000,
      maxSubscriptions: 1000, maxTopicLength: 65535, maxTopicLevels: 128, maxClientIdLength: 256, maxWriteBuffer: 4 * 1024 * 1024,
      maxQueuedBytes: 256 * 1024 * 1024, maxQueuedBytesPerSession: 64 * 1024, maxPublisherPause: 5, maxSessions: 100_000, maxSessionsPerUser: 1000,
      maxConnectPacketSize: 65536, maxConnectionsPerAddress: 100, limitLoopbackConnections: false,
    });
  });
});
