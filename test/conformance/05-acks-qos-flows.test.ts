/**
 * Conformance, sections 3.4-3.7 (PUBACK, PUBREC, PUBREL, PUBCOMP) and 4.3 (QoS flows), on both
 * sides: the broker as receiver of a client's PUBLISH and as sender to a subscriber.
 */
import { useBroker } from '../helpers/conformance';
import {
  T,
  connack,
  hex,
  idOf,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
} from '../helpers/raw';

describe('3.4-3.7 acknowledgement packet format', () => {
  const h = useBroker();

  it('[§3.4.1/3.5.1/3.7.1] PUBACK, PUBREC and PUBCOMP with a Remaining Length other than 2 (40 03 00 01 00, 50 01 01, 70 00): closed', async () => {
    for (const bad of [hex('40 03 00 01 00'), hex('50 01 01'), hex('70 00'), hex('40 04 00 01 00 00')]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(bad);
      await c.expectClosed();
    }
  });

  it('[MQTT-3.6.1-1] PUBREL with flags 0000 (60 02 00 01) or 0011 (63 02 00 01): closed, no PUBCOMP', async () => {
    for (const bad of [hex('60 02 00 01'), hex('63 02 00 01')]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(publish({ topic: 't', qos: 2, id: 1 }));
      await c.expect(pubrec(1));
      c.send(bad);
      await c.expectClosed();
    }
  });
});

describe('4.3 QoS flows, server receiving', () => {
  const h = useBroker();

  it('[MQTT-4.3.2-2] QoS 1: PUBACK with the same id; id 7 published again after its PUBACK (even with DUP=1) is a new message, delivered again', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', payload: 'first', qos: 1, id: 7 }));
    await pub.expect(puback(7));
    pub.send(publish({ topic: 't', payload: 'second', qos: 1, id: 7, dup: true }));
    await pub.expect(puback(7));
    const a = await sub.nextPublish();
    sub.send(puback(a.id!));
    const b = await sub.nextPublish();
    expect([a.payload.toString(), b.payload.toString()]).toEqual(['first', 'second']);
  });

  it('[MQTT-4.3.3-2] QoS 2 resent (DUP=1) before PUBREL: PUBREC again each time, subscribers get one copy', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', payload: 'once', qos: 2, id: 9 }));
    await pub.expect(pubrec(9));
    pub.send(publish({ topic: 't', payload: 'once', qos: 2, id: 9, dup: true }));
    await pub.expect(pubrec(9));
    pub.send(publish({ topic: 't', payload: 'once', qos: 2, id: 9, dup: true }));
    await pub.expect(pubrec(9));
    pub.send(pubrel(9));
    await pub.expect(pubcomp(9));
    const m = await sub.nextPublish();
    expect(m.payload.toString()).toBe('once');
    sub.send(pubrec(m.id!));
    await sub.expect(pubrel(m.id!));
    sub.send(pubcomp(m.id!));
    await h().expectNothing(sub);
  });

  it('[MQTT-4.3.3-2] every PUBREL gets PUBCOMP with its id; after PUBCOMP the id denotes a new message', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'one', qos: 2, id: 0x4242 });
    await pub.publish({ topic: 't', payload: 'two', qos: 2, id: 0x4242 });
    expect((await sub.nextPublish()).payload.toString()).toBe('one');
    expect((await sub.nextPublish()).payload.toString()).toBe('two');
    // A repeated PUBREL (our PUBCOMP was "lost") is answered again.
    pub.send(pubrel(0x4242));
    await pub.expect(pubcomp(0x4242));
  });

  it('[MQTT-4.3.3-2] a PUBREL for an id the server does not know (e.g. after a restart) is answered with PUBCOMP (documented choice)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(pubrel(0x0bad));
    await c.expect(pubcomp(0x0bad));
  });
});

describe('4.3 QoS flows, server sending', () => {
  const h = useBroker();

  it('[MQTT-4.3.1-1] QoS 0 delivery: PUBLISH with QoS 0 and DUP 0 (first byte 30), no acknowledgement expected', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', payload: 'x' }));
    const p = await sub.next();
    expect(p.bytes[0]).toBe(0x30);
    expect(h().broker.client('sub')!.inflight).toBe(0);
  });

  it('[MQTT-4.3.2-1] QoS 1 delivery: non-zero id, DUP 0; it stays unacknowledged until PUBACK, then leaves the window', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'a', qos: 1, id: 1 });
    await pub.publish({ topic: 't', payload: 'b', qos: 1, id: 2 });
    const a = await sub.nextPublish();
    const b = await sub.nextPublish();
    expect([a.flags, b.flags]).toEqual([0x02, 0x02]);
    expect(a.id).not.toBe(0);
    expect(b.id).not.toBe(a.id);
    expect(h().broker.client('sub')!.inflight).toBe(2);
    sub.send(puback(a.id!));
    sub.send(puback(b.id!));
    await h().expectNothing(sub);
    expect(h().broker.client('sub')!.inflight).toBe(0);
  });

  it('[MQTT-4.3.3-1] QoS 2 delivery: id, DUP 0; PUBREC -> PUBREL with the same id; PUBCOMP completes; the PUBLISH is never sent again', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'x', qos: 2, id: 1 });
    const m = await sub.nextPublish();
    expect(m.flags).toBe(0x04);
    sub.send(pubrec(m.id!));
    await sub.expect(pubrel(m.id!));
    // A repeated PUBREC (our PUBREL was "lost") gets PUBREL again, never the PUBLISH.
    sub.send(pubrec(m.id!));
    await sub.expect(pubrel(m.id!));
    expect(h().broker.client('sub')!.inflight).toBe(1);
    sub.send(pubcomp(m.id!));
    await h().expectNothing(sub);
    expect(h().broker.client('sub')!.inflight).toBe(0);
  });

  it('[MQTT-4.3.3-1] [MQTT-4.4.0-1] PUBREC sent, connection dropped, reconnect clean=0: the server re-sends PUBREL, not the PUBLISH', async () => {
    const sub = await h().connected({ clientId: 'sub', clean: false });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'x', qos: 2, id: 1 });
    const m = await sub.nextPublish();
    sub.send(pubrec(m.id!));
    await sub.expect(pubrel(m.id!));
    sub.destroy();
    await sub.waitClosed();
    const again = await h().connected({ clientId: 'sub', clean: false }, connack(1, 0));
    await again.expect(pubrel(m.id!));
    again.send(pubcomp(m.id!));
    await h().expectNothing(again);
    expect(h().broker.client('sub')!.inflight).toBe(0);
  });

  it('[MQTT-4.3.3-1] a PUBREC for an id the server never used is answered with PUBREL (documented choice); a PUBACK or PUBCOMP for an unknown id is ignored', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(pubrec(77));
    await c.expect(pubrel(77));
    c.send(puback(78), pubcomp(79));
    await h().expectNothing(c);
    c.send(hex('c0 00'));
    await c.expect(hex('d0 00'));
  });

  it('[MQTT-4.3.2-1] [MQTT-4.3.3-1] a PUBACK for a QoS 2 delivery does not complete it: the delivery stays in flight', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: 't', payload: 'x', qos: 2, id: 1 });
    const m = await sub.nextPublish();
    sub.send(puback(m.id!));
    await h().expectNothing(sub);
    expect(h().broker.client('sub')!.inflight).toBe(1);
    sub.send(pubrec(m.id!));
    const p = await sub.next();
    expect([p.type, idOf(p)]).toEqual([T.PUBREL, m.id]);
  });
});
