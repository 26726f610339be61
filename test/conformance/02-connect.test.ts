/**
 * Conformance, section 3.1 CONNECT: what is accepted, what is refused with a CONNACK code, and
 * what is closed without any CONNACK [MQTT-3.1.4-1].
 */
import type { AuthenticateRequest } from '../../src';
import { useBroker } from '../helpers/conformance';
import {
  DISCONNECT,
  PINGREQ,
  PINGRESP,
  connack,
  connect,
  field,
  hex,
  packet,
  publish,
  subscribe,
  toHex,
  u16,
} from '../helpers/raw';

/** A CONNECT body built field by field: protocol name, level, flags, keepalive, then `payload`. */
function connectWith(flags: number, ...payload: Buffer[]): Buffer {
  return packet(0x10, field('MQTT'), [4, flags], u16(0), ...payload);
}

describe('3.1 CONNECT: first packet, protocol name and level', () => {
  const h = useBroker();

  it('[MQTT-3.1.0-1] a first packet other than CONNECT (PUBLISH, PINGREQ, SUBSCRIBE): closed with zero bytes sent, nothing delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    for (const first of [publish({ topic: 't', payload: 'x' }), PINGREQ, subscribe(1, ['#', 0])]) {
      const c = await h().raw();
      c.send(first, publish({ topic: 't', payload: 'y' }));
      await c.expectClosedSilently();
    }
    await h().expectNothing(sub);
  });

  it('[MQTT-3.1.0-2] a second CONNECT on a connection closes it and publishes the Will', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['will/#', 0]);
    const c = await h().connected({ clientId: 'twice', will: { topic: 'will/twice', payload: 'gone' } });
    c.send(connect({ clientId: 'twice' }));
    await c.expectClosed();
    const w = await watcher.nextPublish();
    expect([w.topic, w.payload.toString()]).toEqual(['will/twice', 'gone']);
  });

  it('[MQTT-3.1.2-1] protocol name "MQTX", "mqtt" or "MQIsdpX": closed without CONNACK', async () => {
    for (const name of ['MQTX', 'mqtt', 'MQIsdpX', '']) {
      const c = await h().raw();
      c.send(connect({ protocolName: name, clientId: 'x' }));
      await c.expectClosedSilently();
    }
  });

  it('[MQTT-3.1.2-1] protocol name "MQIsdp" with level 3 (MQTT 3.1) is handled as 3.1 and accepted (documented choice)', async () => {
    const c = await h().raw();
    await c.connect({ protocolName: 'MQIsdp', level: 3, clientId: 'old' });
    c.send(PINGREQ);
    await c.expect(PINGRESP);
  });

  it('[MQTT-3.1.2-1] "MQIsdp" (MQTT 3.1) is never handled as 3.1.1: an empty client id is refused with 0x02, Session Present is never set', async () => {
    const empty = await h().raw();
    empty.send(connect({ protocolName: 'MQIsdp', level: 3, clientId: '' }));
    await empty.waitClosed();
    expect(toHex(empty.received)).toBe('20 02 00 02');
    const first = await h().raw();
    await first.connect({ protocolName: 'MQIsdp', level: 3, clientId: 'v31', clean: false });
    first.send(DISCONNECT);
    await first.waitClosed();
    // A stored session exists, but the 3.1 CONNACK has no Session Present flag.
    const again = await h().raw();
    await again.connect({ protocolName: 'MQIsdp', level: 3, clientId: 'v31', clean: false }, connack(0, 0));
  });

  it('[MQTT-3.1.2-2] [MQTT-3.2.2-5] unsupported protocol level 9: CONNACK 20 02 00 01, then EOF', async () => {
    const c = await h().raw();
    c.send(connect({ level: 9, clientId: 'x' }));
    await c.waitClosed();
    expect(toHex(c.received)).toBe('20 02 00 01');
  });

  it('[MQTT-3.1.2-2] "MQTT" with level 3 and "MQIsdp" with level 4: CONNACK 0x01, then EOF', async () => {
    for (const [name, level] of [['MQTT', 3], ['MQIsdp', 4]] as const) {
      const c = await h().raw();
      c.send(connect({ protocolName: name, level, clientId: 'x' }));
      await c.waitClosed();
      expect(toHex(c.received)).toBe('20 02 00 01');
    }
  });

  it('[MQTT-3.1.4-5] CONNECT with an unsupported level and a PUBLISH in the same write: CONNACK 0x01, EOF, the PUBLISH is not delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    const c = await h().raw();
    // Level 6: a level 5 CONNECT is now decoded as MQTT 5 (with properties), so this 3.1.1-shaped
    // body would be a malformed v5 CONNECT rather than an unsupported level.
    c.send(connect({ level: 6, clientId: 'x' }), publish({ topic: 'leak', payload: 'x' }), subscribe(1, ['#', 0]));
    await c.waitClosed();
    expect(toHex(c.received)).toBe('20 02 00 01');
    await h().expectNothing(sub);
  });

  it('[MQTT-3.1.4-4] a valid CONNECT is answered by exactly 20 02 00 00', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'ok', keepalive: 30 }));
    await c.expect(hex('20 02 00 00'));
    await h().expectNothing(c);
  });
});

describe('3.1.2 connect flags (malformed CONNECTs get no CONNACK)', () => {
  const h = useBroker();

  async function closedSilently(bytes: Buffer): Promise<void> {
    const c = await h().raw();
    c.send(bytes);
    await c.expectClosedSilently();
  }

  it('[MQTT-3.1.2-3] [MQTT-3.1.4-1] reserved CONNECT flag (flags 0x03): closed, no CONNACK', async () => {
    await closedSilently(connect({ clientId: 'x', flags: 0x03 }));
  });

  it('[MQTT-3.1.2-9] [MQTT-3.1.4-1] Will flag set but the payload ends after the client id: closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x06, field('x')));
    // Will Topic present, Will Message missing.
    await closedSilently(connectWith(0x06, field('x'), field('w/t')));
  });

  it('[MQTT-3.1.2-11] [MQTT-3.1.2-13] Will QoS bits without the Will flag (flags 0x0A, 0x12): closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x0a, field('x')));
    await closedSilently(connectWith(0x12, field('x')));
  });

  it('[MQTT-3.1.2-11] [MQTT-3.1.2-15] Will Retain without the Will flag (flags 0x22): closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x22, field('x')));
  });

  it('[MQTT-3.1.2-11] Will Topic and Will Message in the payload without the Will flag: closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x02, field('x'), field('w/t'), field('msg')));
  });

  it('[MQTT-3.1.2-14] [MQTT-3.1.4-1] Will QoS 3 (flags 0x1E): closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x1e, field('x'), field('w/t'), field('msg')));
  });

  it('[MQTT-3.1.2-18] user name flag 0 with a user name string after the client id: closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x02, field('x'), field('user')));
  });

  it('[MQTT-3.1.2-19] user name flag 1 with the user name missing: closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x82, field('x')));
  });

  it('[MQTT-3.1.2-20] password flag 0 with a password after the user name: closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x82, field('x'), field('user'), field('pass')));
  });

  it('[MQTT-3.1.2-21] password flag 1 with the password missing: closed, no CONNACK', async () => {
    await closedSilently(connectWith(0xc2, field('x'), field('user')));
  });

  it('[MQTT-3.1.2-22] password flag without user name flag (flags 0x42): closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x42, field('x'), field('pass')));
  });

  it('[MQTT-3.1.3-1] payload fields whose lengths disagree with the Remaining Length (client id length 10, 3 bytes present): closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x02, hex('00 0a 61 62 63')));
    // A Will Message length running past the packet.
    await closedSilently(connectWith(0x06, field('x'), field('w/t'), hex('00 09 61')));
  });

  it('[MQTT-3.1.3-3] CONNECT with an empty payload (no client id field): closed, no CONNACK', async () => {
    await closedSilently(connectWith(0x02));
  });

  it('[MQTT-3.1.3-10] [MQTT-4.7.1-1] [MQTT-4.7.3-1] invalid Will Topic (bad UTF-8 C3 28, wildcard x/+ or #, empty): closed, no CONNACK', async () => {
    for (const topic of [hex('c3 28'), Buffer.from('x/+'), Buffer.from('x/#'), Buffer.alloc(0)]) {
      await closedSilently(connect({ clientId: 'x', will: { topic, payload: 'm' } }));
    }
  });

  it('[MQTT-3.1.3-11] user name with invalid UTF-8 (FF, ED A0 80): closed, no CONNACK', async () => {
    await closedSilently(connect({ clientId: 'x', username: hex('ff') }));
    await closedSilently(connect({ clientId: 'x', username: hex('ed a0 80') }));
  });

  it('[MQTT-3.2.2-6] [MQTT-3.1.4-1] every malformed CONNECT path above ends in EOF with zero bytes: no CONNACK code is invented for it', async () => {
    // A CONNECT truncated inside the keepalive field, one with a 5-byte Remaining Length, and a
    // CONNECT with a trailing byte after the last field.
    await closedSilently(hex('10 08 00 04 4d 51 54 54 04 02 00'));
    await closedSilently(hex('10 ff ff ff ff 01'));
    await closedSilently(connect({ clientId: 'x', extra: hex('00') }));
  });
});

describe('3.1.3 client identifier', () => {
  const h = useBroker({ limits: { 'max-client-id-length': 32 } });

  it('[MQTT-3.1.3-5] client ids "a" and 23 alphanumerics (0-9a-zA-Z) are accepted with return code 0', async () => {
    await h().connected({ clientId: 'a' });
    await h().connected({ clientId: '0123456789abcdefghijXYZ' });
    expect(h().broker.clientCount).toBe(2);
  });

  it('[MQTT-3.1.3-6] two concurrent clients with an empty id and clean=1 are both accepted, get distinct assigned ids and stay isolated', async () => {
    const a = await h().connected({ clientId: '' });
    const b = await h().connected({ clientId: '' });
    const ids = h().broker.clients().map((c) => c.clientId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^nestmq-/);
    await a.subscribe(1, ['for/a', 0]);
    await b.subscribe(1, ['for/b', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'for/a', payload: 'A' }));
    expect((await a.nextPublish()).payload.toString()).toBe('A');
    await h().expectNothing(b);
    // Neither took the other over: both still answer PINGREQ.
    a.send(PINGREQ);
    b.send(PINGREQ);
    await a.expect(PINGRESP);
    await b.expect(PINGRESP);
  });

  it('[MQTT-3.1.3-7] [MQTT-3.1.3-8] empty client id with CleanSession=0: CONNACK 20 02 00 02, then EOF, no session created', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: '', clean: false }));
    await c.waitClosed();
    expect(toHex(c.received)).toBe('20 02 00 02');
    expect(h().broker.sessionCount).toBe(0);
  });

  it('[MQTT-3.1.3-9] a client id refused by policy (longer than max-client-id-length 32): CONNACK 0x02, then EOF', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'x'.repeat(33) }));
    await c.waitClosed();
    expect(toHex(c.received)).toBe('20 02 00 02');
  });

  it('[MQTT-3.1.3-2] state is keyed by client id: A and B get separate sessions, reconnecting as A resumes A\'s', async () => {
    const a = await h().connected({ clientId: 'A', clean: false });
    await a.subscribe(1, ['only/a', 1]);
    const b = await h().connected({ clientId: 'B', clean: false });
    await b.subscribe(1, ['only/b', 1]);
    a.send(DISCONNECT);
    b.send(DISCONNECT);
    await a.waitClosed();
    await b.waitClosed();
    const a2 = await h().connected({ clientId: 'A', clean: false }, connack(1, 0));
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'only/b', payload: 'b' }), publish({ topic: 'only/a', payload: 'a' }));
    const m = await a2.nextPublish();
    expect([m.topic, m.payload.toString()]).toEqual(['only/a', 'a']);
    await h().expectNothing(a2);
  });
});

describe('3.1.2 sessions on CONNECT', () => {
  const h = useBroker();

  it('[MQTT-3.1.2-4] [MQTT-3.1.4-3] CleanSession=0 resumes the stored session: subscribe, reconnect, publish -> delivered without re-subscribing', async () => {
    const c = await h().connected({ clientId: 'p', clean: false });
    await c.subscribe(1, ['s/#', 1]);
    c.send(DISCONNECT);
    await c.waitClosed();
    const c2 = await h().connected({ clientId: 'p', clean: false }, connack(1, 0));
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 's/1', payload: 'hi', qos: 1, id: 5 }));
    const m = await c2.nextPublish();
    expect([m.topic, m.qos, m.payload.toString()]).toEqual(['s/1', 1, 'hi']);
  });

  it('[MQTT-3.1.2-5] [MQTT-4.5.0-1] offline CleanSession=0 subscriber: QoS 1 and 2 messages are stored, QoS 0 is not (default choice)', async () => {
    const c = await h().connected({ clientId: 'off', clean: false });
    await c.subscribe(1, ['o', 2]);
    c.send(DISCONNECT);
    await c.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'o', payload: 'q0' });
    await pub.publish({ topic: 'o', payload: 'q1', qos: 1, id: 1 });
    await pub.publish({ topic: 'o', payload: 'q2', qos: 2, id: 2 });
    const c2 = await h().connected({ clientId: 'off', clean: false }, connack(1, 0));
    const got = (await c2.take(2)).map((p) => p.bytes[0] & 0x06);
    expect(got).toEqual([0x02, 0x04]);
    await h().expectNothing(c2);
  });

  it('[MQTT-3.1.2-6] [MQTT-3.1.4-3] CleanSession=1 deletes the stored session: clean=0 subscribe, reconnect clean=1, reconnect clean=0 -> SP=0 and no subscription', async () => {
    const c = await h().connected({ clientId: 'cs', clean: false });
    await c.subscribe(1, ['cs/#', 1]);
    c.send(DISCONNECT);
    await c.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    // Queued for the stored session, which the clean=1 connect must discard with everything in it.
    await pub.publish({ topic: 'cs/queued', payload: 'q', qos: 1, id: 1 });
    const clean = await h().connected({ clientId: 'cs', clean: true }, connack(0, 0));
    await h().expectNothing(clean);
    clean.send(DISCONNECT);
    await clean.waitClosed();
    expect(h().broker.sessionCount).toBe(1); // only the publisher's own clean session
    const again = await h().connected({ clientId: 'cs', clean: false }, connack(0, 0));
    await pub.publish({ topic: 'cs/after', payload: 'x', qos: 1, id: 2 });
    await h().expectNothing(again);
  });

  it('[MQTT-3.1.2-7] retained messages are not session state: a clean=1 client retains and leaves, a new subscriber still gets it', async () => {
    const p = await h().connected({ clientId: 'retainer', clean: true });
    await p.publish({ topic: 'keep', payload: 'kept', qos: 1, id: 1, retain: true });
    p.send(DISCONNECT);
    await p.waitClosed();
    await h().gone('retainer'); // its clean session has ended
    const s = await h().connected({ clientId: 'late' });
    await s.subscribe(1, ['keep', 1]);
    const m = await s.nextPublish();
    expect([m.topic, m.payload.toString(), m.retain]).toEqual(['keep', 'kept', true]);
  });
});

describe('3.1.3 payload order and authentication', () => {
  const seen: AuthenticateRequest[] = [];
  const h = useBroker({}, () => ({
    plugins: [
      {
        authenticate: (req: AuthenticateRequest) => {
          seen.push(req);
          if (req.username === 'nobody') return { ok: false, returnCode: 5 };
          if (req.username === 'slow') return new Promise((r) => setTimeout(() => r(false), 20));
          return req.password?.toString() === 'secret';
        },
      },
    ],
  }));
  beforeEach(() => void (seen.length = 0));

  it('[MQTT-3.1.3-1] fields are read in order client id, Will Topic, Will Message, user name, password', async () => {
    const watcher = await h().connected({ clientId: 'w', username: 'u', password: 'secret' });
    await watcher.subscribe(1, ['will/#', 0]);
    const c = await h().connected({
      clientId: 'ordered',
      will: { topic: 'will/ordered', payload: 'bye' },
      username: 'user',
      password: 'secret',
    });
    const req = seen.find((r) => r.clientId === 'ordered')!;
    expect([req.username, req.password?.toString()]).toEqual(['user', 'secret']);
    c.destroy();
    const w = await watcher.nextPublish();
    expect([w.topic, w.payload.toString()]).toEqual(['will/ordered', 'bye']);
  });

  it('[MQTT-3.1.3-1] the Will Message and the password are binary data, not strings: bytes 00 FF C3 28 pass intact', async () => {
    const watcher = await h().connected({ clientId: 'w', username: 'u', password: 'secret' });
    await watcher.subscribe(1, ['will/#', 0]);
    const binary = hex('00 ff c3 28');
    const c = await h().connected({ clientId: 'bin', will: { topic: 'will/bin', payload: binary }, username: 'user', password: 'secret' });
    c.destroy();
    expect(toHex((await watcher.nextPublish()).payload)).toBe('00 ff c3 28');
    const p = await h().raw();
    p.send(connect({ clientId: 'binpass', username: 'user', password: Buffer.concat([Buffer.from('secret'), binary]) }));
    await p.waitClosed();
    expect(toHex(p.received)).toBe('20 02 00 04'); // parsed (no close without CONNACK), then refused
    expect(toHex(seen.find((r) => r.clientId === 'binpass')!.password!.subarray(6))).toBe('00 ff c3 28');
  });

  it('[§3.1.4 step 3] [MQTT-3.2.2-5] failed authentication: CONNACK 20 02 00 04, then EOF; refused authorisation: 20 02 00 05, then EOF', async () => {
    const bad = await h().raw();
    bad.send(connect({ clientId: 'x', username: 'user', password: 'wrong' }));
    await bad.waitClosed();
    expect(toHex(bad.received)).toBe('20 02 00 04');
    const refused = await h().raw();
    refused.send(connect({ clientId: 'y', username: 'nobody', password: 'secret' }));
    await refused.waitClosed();
    expect(toHex(refused.received)).toBe('20 02 00 05');
  });

  it('[MQTT-3.1.4-5] CONNECT refused by authentication with SUBSCRIBE and PUBLISH in the same write (sync and async plugin): nothing acted on', async () => {
    const sub = await h().connected({ clientId: 'sub', username: 'u', password: 'secret' });
    await sub.subscribe(1, ['#', 0]);
    for (const username of ['user', 'slow']) {
      const c = await h().raw();
      c.send(
        connect({ clientId: 'intruder', username, password: 'wrong', will: { topic: 'will/x', payload: 'w' } }),
        subscribe(1, ['#', 0]),
        publish({ topic: 'leak', payload: 'x' }),
      );
      await c.waitClosed();
      expect(toHex(c.received)).toBe('20 02 00 04');
    }
    // No delivery, and no Will either: the refused connection was never accepted.
    await h().expectNothing(sub);
    expect(h().broker.subscriptionCount).toBe(1);
  });
});

describe('3.1.4 connect timeout', () => {
  const h = useBroker({ limits: { 'connect-timeout': 1 } });

  it('[§3.1.4 step 1] a socket that sends no CONNECT is closed after the connect timeout (1 s), with zero bytes sent', async () => {
    const c = await h().raw();
    const t0 = Date.now();
    await c.waitClosed(3000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(1800);
    expect(c.received.length).toBe(0);
  });
});
