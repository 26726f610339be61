/**
 * Conformance, section 3.2 CONNACK: first packet sent, Session Present, refusals.
 */
import type { AuthenticateRequest } from '../../src';
import { useBroker } from '../helpers/conformance';
import { DISCONNECT, connack, connect, hex, publish, readPublish, subscribe, toHex } from '../helpers/raw';

describe('3.2 CONNACK', () => {
  const h = useBroker({}, () => ({
    plugins: [
      {
        authenticate: (req: AuthenticateRequest) => {
          if (req.username === null) return true;
          if (req.username === 'banned') return { ok: false, returnCode: 5 };
          return req.password?.toString() === 'good';
        },
      },
    ],
  }));

  it('[MQTT-3.2.0-1] on reconnect, CONNACK is the first packet, before the 5 queued messages', async () => {
    const s = await h().connected({ clientId: 'q', clean: false });
    await s.subscribe(1, ['q/#', 1]);
    s.send(DISCONNECT);
    await s.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 1; i <= 5; i++) await pub.publish({ topic: 'q/x', payload: `m${i}`, qos: 1, id: i });
    const s2 = await h().raw();
    s2.send(connect({ clientId: 'q', clean: false }));
    const packets = await s2.take(6);
    expect(toHex(s2.received.subarray(0, 4))).toBe('20 02 01 00');
    expect(packets.slice(1).map((p) => readPublish(p).payload.toString())).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('[MQTT-3.2.0-1] on reconnect, CONNACK precedes the re-sent unacknowledged deliveries', async () => {
    const s = await h().connected({ clientId: 'r', clean: false });
    await s.subscribe(1, ['r', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'r', payload: 'unacked', qos: 1, id: 1 });
    await s.nextPublish();
    s.destroy(); // no PUBACK
    await s.waitClosed();
    const s2 = await h().raw();
    s2.send(connect({ clientId: 'r', clean: false }));
    const [first, second] = await s2.take(2);
    expect(toHex(first.bytes)).toBe('20 02 01 00');
    expect(readPublish(second).dup).toBe(true);
  });

  it('[MQTT-3.2.2-1] accepted CleanSession=1 connection: 20 02 00 00, even when a session is stored for the id', async () => {
    const s = await h().connected({ clientId: 'c1', clean: false });
    s.send(DISCONNECT);
    await s.waitClosed();
    await h().connected({ clientId: 'c1', clean: true }, hex('20 02 00 00'));
  });

  it('[MQTT-3.2.2-2] CleanSession=0 with a stored session that holds no subscription: Session Present = 1', async () => {
    const s = await h().connected({ clientId: 'empty', clean: false });
    s.send(DISCONNECT);
    await s.waitClosed();
    await h().connected({ clientId: 'empty', clean: false }, hex('20 02 01 00'));
  });

  it('[MQTT-3.2.2-3] CleanSession=0 with no stored session: Session Present = 0', async () => {
    await h().connected({ clientId: 'fresh', clean: false }, hex('20 02 00 00'));
  });

  it('[MQTT-3.2.2-4] [MQTT-3.2.2-5] refusing an id that has a stored session: 20 02 00 04 (Session Present 0), then EOF; the session survives', async () => {
    const s = await h().connected({ clientId: 'kept', clean: false, username: 'u', password: 'good' });
    s.send(DISCONNECT);
    await s.waitClosed();
    const bad = await h().raw();
    bad.send(connect({ clientId: 'kept', clean: false, username: 'u', password: 'bad' }));
    await bad.waitClosed();
    expect(toHex(bad.received)).toBe('20 02 00 04');
    await h().connected({ clientId: 'kept', clean: false, username: 'u', password: 'good' }, connack(1, 0));
  });

  it('[§3.2.2.1] every CONNACK is 4 bytes: 20 02, acknowledge flags 00 or 01, return code 0..5 (accepted SP0/SP1, 0x01, 0x02, 0x04, 0x05)', async () => {
    const cases: [Buffer, string][] = [
      [connect({ clientId: 'k', clean: false }), '20 02 00 00'],
      [connect({ clientId: 'k', clean: false }), '20 02 01 00'],
      [connect({ clientId: 'k', level: 7 }), '20 02 00 01'],
      [connect({ clientId: '', clean: false }), '20 02 00 02'],
      [connect({ clientId: 'k', clean: false, username: 'u', password: 'bad' }), '20 02 00 04'],
      [connect({ clientId: 'k', clean: false, username: 'banned', password: 'good' }), '20 02 00 05'],
    ];
    for (const [bytes, expected] of cases) {
      const c = await h().raw();
      c.send(bytes);
      const p = await c.next();
      expect(toHex(p.bytes)).toBe(expected);
      if (expected === '20 02 00 00' || expected === '20 02 01 00') c.send(DISCONNECT);
      await c.expectClosed();
    }
  });

  it('[MQTT-3.2.2-5] after a refusal the server closes even if the client keeps sending (PUBLISH after CONNACK 0x04 is ignored)', async () => {
    const watcher = await h().connected({ clientId: 'watch' });
    watcher.send(hex('82 06 00 01 00 01 23 00')); // SUBSCRIBE '#' QoS 0
    await watcher.expect(hex('90 03 00 01 00'));
    const c = await h().raw();
    c.send(connect({ clientId: 'late', username: 'u', password: 'bad' }));
    await c.next();
    c.send(publish({ topic: 'after', payload: 'x' }));
    await c.expectClosed();
    await h().expectNothing(watcher);
  });
});

describe('3.2 CONNACK with an asynchronous authentication plugin', () => {
  const h = useBroker({}, () => ({
    plugins: [{ authenticate: () => new Promise<boolean>((r) => setTimeout(() => r(true), 30)) }],
  }));

  it('[MQTT-3.2.0-1] CONNACK still precedes queued messages when authentication completes later, while messages keep arriving', async () => {
    const s = await h().connected({ clientId: 'q', clean: false });
    await s.subscribe(1, ['q', 1]);
    s.send(DISCONNECT);
    await s.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 'q', payload: 'queued', qos: 1, id: 1 });
    const s2 = await h().raw();
    s2.send(connect({ clientId: 'q', clean: false }));
    // Published while the reconnecting client is being authenticated.
    await pub.publish({ topic: 'q', payload: 'during', qos: 1, id: 2 });
    const packets = await s2.take(3);
    expect(toHex(packets[0].bytes)).toBe('20 02 01 00');
    expect(packets.slice(1).map((p) => readPublish(p).payload.toString())).toEqual(['queued', 'during']);
  });

  it('[MQTT-3.2.0-1] [MQTT-3.1.4-5] CONNECT, SUBSCRIBE and PUBLISH pipelined in one write while authentication is pending: CONNACK first, then SUBACK, then the delivery', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'pipe' }), subscribe(1, ['p', 1]), publish({ topic: 'p', payload: 'self', qos: 1, id: 2 }));
    const got = await c.take(4);
    expect(toHex(got[0].bytes)).toBe('20 02 00 00');
    expect(toHex(got[1].bytes)).toBe('90 03 00 01 01');
    expect(got.slice(2).map((p) => p.type).sort()).toEqual([3, 4]);
  });
});
