/**
 * Conformance, sections 1.5 (UTF-8 strings) and 2 (control packet format): raw bytes on the wire.
 */
import { useBroker } from '../helpers/conformance';
import {
  PINGREQ,
  PINGRESP,
  T,
  connect,
  field,
  hex,
  idOf,
  packet,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
  readPublish,
  subscribe,
  suback,
  toHex,
  u16,
  unsubscribe,
  unsuback,
} from '../helpers/raw';

describe('1.5 UTF-8 strings', () => {
  const h = useBroker();

  it('[MQTT-1.5.3-1] ill-formed UTF-8 in a PUBLISH topic (surrogates ED A0 80 / ED BF BF, C3 28, overlong C0 AF, F4 90 80 80, ...): connection closed, nothing delivered', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    // Also: above U+10FFFF (F4 90 80 80), a 5-byte form, an overlong 3-byte form, a sequence cut
    // short at the end of the string, a lone continuation byte.
    for (const bad of ['ed a0 80', 'ed bf bf', 'c3 28', 'c0 af', 'ff', 'f4 90 80 80', 'f8 88 80 80 80', 'e0 80 af', 'c2', '80']) {
      const pub = await h().connected({ clientId: 'pub' });
      pub.send(publish({ topic: Buffer.concat([Buffer.from('a/'), hex(bad)]), payload: 'x' }));
      await pub.expectClosed();
    }
    await h().expectNothing(sub);
  });

  it('[MQTT-1.5.3-1] [MQTT-3.1.3-4] ill-formed UTF-8 in a client id (FF FE, ED B0 80): closed without CONNACK', async () => {
    for (const bad of ['ff fe', 'ed b0 80']) {
      const c = await h().raw();
      c.send(connect({ clientId: hex(bad) }));
      await c.expectClosedSilently();
    }
  });

  it('[MQTT-1.5.3-2] [MQTT-4.7.3-2] U+0000 in a client id, a PUBLISH topic or a SUBSCRIBE filter: connection closed', async () => {
    const c1 = await h().raw();
    c1.send(connect({ clientId: Buffer.from('a\0b') }));
    await c1.expectClosedSilently();

    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    const c2 = await h().connected({ clientId: 'c2' });
    c2.send(publish({ topic: Buffer.from('t\0'), payload: 'x' }));
    await c2.expectClosed();
    await h().expectNothing(sub);

    const c3 = await h().connected({ clientId: 'c3' });
    c3.send(subscribe(1, [Buffer.from('a\0/#'), 0]));
    await c3.expectClosed();
  });

  it('[MQTT-1.5.3-3] U+FEFF (EF BB BF) is kept: a subscription to "\\uFEFFa" gets only that topic, with the bytes intact', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, [hex('ef bb bf 61'), 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'a', payload: 'plain' }));
    pub.send(publish({ topic: hex('ef bb bf 61'), payload: 'bom' }));
    const m = await sub.nextPublish();
    expect(toHex(m.topicBytes)).toBe('ef bb bf 61');
    expect(m.payload.toString()).toBe('bom');
    await h().expectNothing(sub);
  });

  it('[§1.5.3] control characters U+0001-U+001F, U+007F-U+009F and non-characters are accepted in topics (documented choice: accept)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    // U+0001, U+001F, U+007F, U+0085, U+009F, and the non-characters U+FFFF and U+FDD0; also a
    // 4-byte character (U+1F600), which is well-formed and must pass.
    const topics = [hex('61 01 62'), hex('1f'), hex('61 7f'), hex('c2 85'), hex('c2 9f 2f 78'), hex('ef bf bf'), hex('ef b7 90'), hex('f0 9f 98 80')];
    for (const t of topics) pub.send(publish({ topic: t, payload: 'x' }));
    for (const t of topics) expect(toHex((await sub.nextPublish()).topicBytes)).toBe(toHex(t));
    // Still connected: the control characters did not close the publisher.
    pub.send(PINGREQ);
    await pub.expect(PINGRESP);
  });
});

describe('2 control packet format', () => {
  const h = useBroker();

  it('[MQTT-2.2.2-1] [§7.1.1 items 1–2] every packet the server sends carries the flag nibble of Table 2.2 (CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP)', async () => {
    const c = await h().raw();
    c.send(connect({ clientId: 'flags' }));
    const first: number[] = [];
    const take = async (): Promise<number> => {
      const p = await c.next();
      first.push(p.bytes[0]);
      return p.bytes[0];
    };
    expect(await take()).toBe(0x20); // CONNACK
    c.send(subscribe(1, ['t', 2]));
    expect(await take()).toBe(0x90); // SUBACK
    c.send(publish({ topic: 'u', qos: 1, id: 2 }));
    expect(await take()).toBe(0x40); // PUBACK
    c.send(publish({ topic: 'u', qos: 2, id: 3 }));
    expect(await take()).toBe(0x50); // PUBREC
    c.send(pubrel(3));
    expect(await take()).toBe(0x70); // PUBCOMP
    c.send(PINGREQ);
    expect(await take()).toBe(0xd0); // PINGRESP
    // An outbound QoS 2 delivery: PUBLISH 0x34, and our PUBREC is answered by PUBREL 0x62.
    c.send(publish({ topic: 't', qos: 0, payload: 'q0' }));
    expect(await take()).toBe(0x30);
    c.send(publish({ topic: 't', qos: 2, id: 4, payload: 'q2' }));
    const [a, b] = await c.take(2);
    const out = a.type === T.PUBLISH ? a : b;
    const ack = a.type === T.PUBLISH ? b : a;
    expect(out.bytes[0]).toBe(0x34);
    expect(toHex(ack.bytes)).toBe(toHex(pubrec(4)));
    c.send(pubrec(readPublish(out).id!));
    expect(await take()).toBe(0x62); // PUBREL: flags 0010
    c.send(pubcomp(readPublish(out).id!), pubrel(4));
    expect(await take()).toBe(0x70);
    c.send(unsubscribe(5, 't'));
    expect(await take()).toBe(0xb0); // UNSUBACK
    expect(first).toEqual([0x20, 0x90, 0x40, 0x50, 0x70, 0xd0, 0x30, 0x62, 0x70, 0xb0]);
  });

  it('[MQTT-2.2.2-2] wrong reserved flags close the connection: PINGREQ C1, PUBACK 41, PUBREC 51, PUBCOMP 71, SUBSCRIBE 83, UNSUBSCRIBE A3, PINGREQ C8', async () => {
    const bad = [
      hex('c1 00'),
      hex('41 02 00 01'),
      hex('51 02 00 01'),
      hex('71 02 00 01'),
      packet(0x83, u16(1), field('a'), [0]),
      packet(0xa3, u16(1), field('a')),
      hex('c8 00'),
    ];
    for (const b of bad) {
      const c = await h().connected({ clientId: 'c' });
      c.send(b);
      await c.expectClosed();
    }
  });

  it('[MQTT-2.2.2-2] [MQTT-3.1.4-1] CONNECT with flags 0001 in its fixed header (11 ...): closed without CONNACK', async () => {
    const c = await h().raw();
    const good = connect({ clientId: 'x' });
    good[0] = 0x11;
    c.send(good);
    await c.expectClosedSilently();
  });

  it('[MQTT-2.3.1-1] packet id 0 in SUBSCRIBE, UNSUBSCRIBE, QoS 1 PUBLISH and QoS 2 PUBLISH: connection closed, nothing acted on', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 2]);
    const cases = [
      subscribe(0, ['a', 0]),
      unsubscribe(0, 'a'),
      publish({ topic: 'a', qos: 1, id: 0, payload: 'x' }),
      publish({ topic: 'a', qos: 2, id: 0, payload: 'x' }),
    ];
    for (const b of cases) {
      const c = await h().connected({ clientId: 'c' });
      c.send(b);
      await c.expectClosed();
    }
    await h().expectNothing(sub);
  });

  it('[MQTT-2.3.1-1] [MQTT-2.3.1-4] 70000 deliveries while a QoS 2 one (PUBREC\'d, awaiting PUBCOMP) and two QoS 1 ones stay unacknowledged: ids are never 0 and never reused while in use', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    const total = 70000;
    const held = new Set<number>();
    let received = 0;
    let zero = 0;
    let collisions = 0;
    let pubrels = 0;
    // Acknowledge everything as it arrives except the first 3 deliveries, which stay in flight
    // while the id counter wraps around 65535. The first is QoS 2 and gets PUBREC, never PUBCOMP.
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received} of ${total} deliveries`)), 15000);
      const pump = (): void => {
        let p;
        const acks: Buffer[] = [];
        while ((p = sub.inbox.shift()) !== undefined) {
          if (p.type === T.PUBREL) {
            pubrels++;
            continue;
          }
          const m = readPublish(p);
          const id = m.id!;
          if (id === 0) zero++;
          if (held.has(id)) collisions++;
          received++;
          if (held.size < 3) {
            held.add(id);
            if (m.qos === 2) acks.push(pubrec(id));
          } else {
            acks.push(puback(id));
          }
        }
        if (acks.length > 0) sub.send(...acks);
        if (received >= total) {
          clearTimeout(timer);
          resolve();
        } else {
          setImmediate(pump);
        }
      };
      pump();
    });
    // The publisher's own ids cycle 1..65535; each PUBLISH is a new message once its id was acked [MQTT-4.3.2-2].
    pub.send(publish({ topic: 't', qos: 2, id: 1, payload: 'q2' }), pubrel(1));
    const chunk: Buffer[] = [];
    for (let i = 1; i < total; i++) {
      chunk.push(publish({ topic: 't', qos: 1, id: (i % 65535) + 1, payload: 'p' }));
      if (chunk.length === 1000) {
        pub.send(...chunk);
        chunk.length = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
    pub.send(...chunk);
    await done;
    expect({ zero, collisions, received, pubrels }).toEqual({ zero: 0, collisions: 0, received: total, pubrels: 1 });
    // Once the last acknowledgements are in, exactly the three held deliveries remain in flight.
    // A PINGREQ round trip: the broker has handled every acknowledgement the subscriber sent before it.
    await sub.pingRoundTrip();
    expect(h().broker.client('sub')!.inflight).toBe(3);
  }, 30000);

  it('[MQTT-2.3.1-5] [MQTT-4.3.1-1] a QoS 0 delivery has no packet id: 30 0a 00 03 "a/b" "hello", QoS 0, DUP 0', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['a/b', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'a/b', payload: 'hello' }));
    await sub.expect(hex('30 0a 00 03 61 2f 62 68 65 6c 6c 6f'));
  });

  it('[MQTT-2.3.1-5] an inbound QoS 0 PUBLISH is parsed without a packet id: the payload starts right after the topic', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['a', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(hex('30 05 00 01 61 12 34'));
    const m = await sub.nextPublish();
    expect(toHex(m.payload)).toBe('12 34');
  });

  it('[MQTT-2.3.1-6] PUBACK, PUBREC and PUBCOMP echo the id 0x1234; the server PUBREL echoes the id of its own PUBLISH', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(publish({ topic: 'x', qos: 1, id: 0x1234 }));
    await c.expect(hex('40 02 12 34'));
    c.send(publish({ topic: 'x', qos: 2, id: 0x1234 }));
    await c.expect(hex('50 02 12 34'));
    c.send(pubrel(0x1234));
    await c.expect(hex('70 02 12 34'));

    await c.subscribe(2, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 't', qos: 2, id: 9, payload: 'x' }));
    const m = await c.nextPublish();
    c.send(pubrec(m.id!));
    await c.expect(pubrel(m.id!));
  });

  it('[MQTT-2.3.1-7] [MQTT-3.8.4-2] [MQTT-3.10.4-4] SUBACK and UNSUBACK echo the packet id 0xBEEF', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(0xbeef, ['a', 1]));
    await c.expect(hex('90 03 be ef 01'));
    c.send(unsubscribe(0xbeef, 'a'));
    await c.expect(hex('b0 02 be ef'));
  });

  it('[§2.2.3] a fifth Remaining Length byte is malformed: 30 FF FF FF FF 01 closes the connection', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(hex('30 ff ff ff ff 01'));
    await c.expectClosed();
  });

  it('[§2.2.1] packet types 0 and 15, and CONNACK, SUBACK, UNSUBACK, PINGRESP sent by a client, close the connection', async () => {
    const bad = [hex('00 00'), hex('f0 00'), hex('20 02 00 00'), suback(1, 0), unsuback(1), hex('d0 00')];
    for (const b of bad) {
      const c = await h().connected({ clientId: 'c' });
      c.send(b);
      await c.expectClosed();
    }
    for (const b of [hex('00 00'), hex('f0 00')]) {
      const c = await h().raw();
      c.send(b);
      await c.expectClosedSilently();
    }
  });

  it('[§2.3.1] client and server packet id spaces are independent: inbound QoS 2 id 1 and outbound QoS 2 id 1 are in flight together and both complete', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['t', 2]);
    c.send(publish({ topic: 't', qos: 2, id: 1, payload: 'first' }));
    const got = await c.take(2);
    const out = got.find((p) => p.type === T.PUBLISH)!;
    const ack = got.find((p) => p.type === T.PUBREC)!;
    expect(idOf(ack)).toBe(1);
    const m = readPublish(out);
    expect(m.id).toBe(1); // the server's first id for this session is 1 too
    // Finish the outbound flow first, then the inbound one.
    c.send(pubrec(1));
    await c.expect(pubrel(1));
    c.send(pubcomp(1));
    c.send(pubrel(1));
    await c.expect(pubcomp(1));
    expect(h().broker.client('c')!.inflight).toBe(0);
    // The inbound id 1 is free again: a new PUBLISH with id 1 is a new message, delivered.
    c.send(publish({ topic: 't', qos: 2, id: 1, payload: 'second' }));
    const again = await c.take(2);
    const m2 = readPublish(again.find((p) => p.type === T.PUBLISH)!);
    expect(m2.payload.toString()).toBe('second');
  });
});

describe('2.2.3 Remaining Length of four bytes', () => {
  const h = useBroker({ limits: { 'max-packet-size': 4 * 1024 * 1024 } });

  it('[§2.2.3] a four-byte Remaining Length is accepted: a 2100000-byte payload is delivered intact', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['big', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    const payload = Buffer.alloc(2_100_000, 7);
    const b = publish({ topic: 'big', payload });
    expect(toHex(b.subarray(0, 5))).toBe('30 a5 96 80 01'); // 4 Remaining Length bytes
    pub.send(b);
    const m = await sub.nextPublish(5000);
    expect(m.payload.equals(payload)).toBe(true);
  });
});
