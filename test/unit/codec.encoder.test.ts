/**
 * Encoder: byte-exact expectations, written by hand from chapters 2-3 of the standard.
 */
import {
  EncodedPublish,
  PINGRESP,
  encodeAck,
  encodeConnack,
  encodeConnackFor,
  encodePacket,
  encodePuback,
  encodeSuback,
} from '../../src/core/protocol/encoder';
import { Packet, PacketType } from '../../src/core/protocol/packets';
import { ReasonCode } from '../../src/core/protocol/reason-codes';
import { hex, toHex } from '../helpers/raw';

const b = (s: string) => Buffer.from(s, 'utf8');
const expectBytes = (actual: Buffer, expected: string) => expect(toHex(actual)).toBe(toHex(hex(expected)));

describe('server packets', () => {
  it('[MQTT-3.12.4-1][MQTT-2.2.2-1] PINGRESP is D0 00', () => {
    expectBytes(PINGRESP, 'd0 00');
  });

  it.each([
    [false, 0, '20 02 00 00'],
    [true, 0, '20 02 01 00'],
    [false, 1, '20 02 00 01'],
    [false, 2, '20 02 00 02'],
    [false, 3, '20 02 00 03'],
    [false, 4, '20 02 00 04'],
    [false, 5, '20 02 00 05'],
  ])('[MQTT-3.2.2-1][MQTT-3.2.2-2][unnumbered §3.2.2.1] CONNACK sessionPresent=%s code=%s is %s', (sp, rc, bytes) => {
    expectBytes(encodeConnack(sp, rc), bytes);
  });

  it('[MQTT-3.2.2-4] CONNACK with a non-zero return code has Session Present 0', () => {
    for (let rc = 1; rc <= 5; rc++) expectBytes(encodeConnack(true, rc), `20 02 00 0${rc}`);
  });

  it('[MQTT-3.4.0-1] [MQTT-2.3.1-6] PUBACK of a low packet id is a cached buffer (no allocation per ack), of any id the right bytes', () => {
    expect(encodePuback(1)).toBe(encodePuback(1));
    expect(encodePuback(4096)).toBe(encodePuback(4096));
    expectBytes(encodePuback(1), '40 02 00 01');
    expectBytes(encodePuback(0x0102), '40 02 01 02');
    expectBytes(encodePuback(4096), '40 02 10 00');
    expectBytes(encodePuback(4097), '40 02 10 01');
    expectBytes(encodePuback(65535), '40 02 ff ff');
    // Neighbouring cached acks are separate 4-byte views of their slab.
    expectBytes(encodePuback(2), '40 02 00 02');
    expectBytes(encodePuback(1), '40 02 00 01');
    for (const id of [1, 2, 300, 4096, 4097, 65535]) expect(encodePuback(id)).toEqual(encodeAck(PacketType.PUBACK, id));
    expect(() => encodePuback(0)).toThrow(RangeError);
  });

  it('CONNACK buffers are cached: no allocation per call', () => {
    expect(encodeConnack(false, 0)).toBe(encodeConnack(false, 0));
    expect(encodeConnack(true, 0)).toBe(encodeConnack(true, 0));
    expect(encodeConnack(true, 4)).toBe(encodeConnack(false, 4));
  });

  it('[unnumbered §3.2.2.3] CONNACK return codes 6..255 are never sent', () => {
    expect(() => encodeConnack(false, 6)).toThrow(RangeError);
    expect(() => encodeConnack(false, -1)).toThrow(RangeError);
    expect(() => encodeConnack(false, 1.5)).toThrow(RangeError);
  });

  describe('encodeConnackFor(sessionPresent, ReasonCode, protocolLevel)', () => {
    it.each([
      [ReasonCode.Success, '20 02 00 00'],
      [ReasonCode.UnsupportedProtocolVersion, '20 02 00 01'],
      [ReasonCode.ClientIdentifierNotValid, '20 02 00 02'],
      [ReasonCode.ServerUnavailable, '20 02 00 03'],
      [ReasonCode.ServerBusy, '20 02 00 03'],
      [ReasonCode.QuotaExceeded, '20 02 00 03'],
      [ReasonCode.BadUserNameOrPassword, '20 02 00 04'],
      [ReasonCode.NotAuthorized, '20 02 00 05'],
      [ReasonCode.Banned, '20 02 00 05'],
    ])('levels 3 and 4: Reason Code %s folds into its 3.1.1 return code (%s)', (code, bytes) => {
      expectBytes(encodeConnackFor(false, code, 4)!, bytes);
      expectBytes(encodeConnackFor(false, code, 3)!, bytes);
    });

    it('[MQTT-3.2.2-4] Session Present only with Success, and buffers are cached per code', () => {
      expectBytes(encodeConnackFor(true, ReasonCode.Success, 4)!, '20 02 01 00');
      expectBytes(encodeConnackFor(true, ReasonCode.NotAuthorized, 4)!, '20 02 00 05');
      expect(encodeConnackFor(false, ReasonCode.ServerBusy, 4)).toBe(encodeConnackFor(false, ReasonCode.ServerBusy, 4));
      expect(encodeConnackFor(false, ReasonCode.Success, 4)).toBe(encodeConnack(false, 0));
    });

    it('[MQTT-3.1.4-1] a fault in the CONNECT itself has no 3.1.1 CONNACK: null', () => {
      expect(encodeConnackFor(false, ReasonCode.MalformedPacket, 4)).toBeNull();
      expect(encodeConnackFor(false, ReasonCode.PacketTooLarge, 3)).toBeNull();
    });

    it('level 5 carries the Reason Code itself', () => {
      expectBytes(encodeConnackFor(false, ReasonCode.ServerBusy, 5)!, '20 03 00 89 00');
      expectBytes(encodeConnackFor(true, ReasonCode.Success, 5)!, '20 03 01 00 00');
    });

    it('refuses a code CONNACK cannot carry', () => {
      expect(() => encodeConnackFor(false, ReasonCode.KeepAliveTimeout, 4)).toThrow(RangeError);
    });
  });

  it.each([
    [PacketType.PUBACK, 0x1234, '40 02 12 34'],
    [PacketType.PUBREC, 1, '50 02 00 01'],
    [PacketType.PUBREL, 0xbeef, '62 02 be ef'],
    [PacketType.PUBCOMP, 0xffff, '70 02 ff ff'],
    [PacketType.UNSUBACK, 0x0100, 'b0 02 01 00'],
  ] as const)('[MQTT-2.2.2-1][MQTT-3.6.1-1][MQTT-2.3.1-6][MQTT-2.3.1-7] ack type %s id %s is %s', (type, id, bytes) => {
    expectBytes(encodeAck(type, id), bytes);
  });

  it('[MQTT-2.3.1-1] acks never carry packet id 0 or an id above 65535', () => {
    expect(() => encodeAck(PacketType.PUBACK, 0)).toThrow(RangeError);
    expect(() => encodeAck(PacketType.PUBACK, 65536)).toThrow(RangeError);
    expect(() => encodeAck(PacketType.PUBACK, 1.5)).toThrow(RangeError);
    expect(() => encodeAck(PacketType.PUBLISH as never, 1)).toThrow(RangeError);
  });

  it('acks are fresh buffers', () => {
    expect(encodeAck(PacketType.PUBACK, 1)).not.toBe(encodeAck(PacketType.PUBACK, 1));
  });

  it('[MQTT-3.9.3-1][MQTT-3.8.4-2] SUBACK echoes the id and keeps the order of the codes', () => {
    expectBytes(encodeSuback(0xbeef, [2, 0x80, 0, 1]), '90 06 be ef 02 80 00 01');
    expectBytes(encodeSuback(1, [0]), '90 03 00 01 00');
  });

  it('[MQTT-3.9.3-2] SUBACK refuses return codes other than 0, 1, 2, 0x80', () => {
    for (const code of [3, 0x7f, 0x81, 0xff, -1, 256]) expect(() => encodeSuback(1, [0, code])).toThrow(RangeError);
    expect(() => encodeSuback(1, [])).toThrow(RangeError);
    expect(() => encodeSuback(0, [0])).toThrow(RangeError);
  });

  it('[unnumbered §2.2.3] SUBACK with 200 codes has a 2-byte Remaining Length', () => {
    const buf = encodeSuback(7, new Array(200).fill(1));
    expectBytes(buf.subarray(0, 5), '90 ca 01 00 07');
    expect(buf.length).toBe(205);
  });
});

describe('EncodedPublish', () => {
  it('[MQTT-2.3.1-5][MQTT-4.3.1-1] QoS 0 bytes: no packet id, DUP 0', () => {
    const e = new EncodedPublish('a/b', b('hello'), false);
    expectBytes(e.qos0(), '30 0a 00 03 61 2f 62 68 65 6c 6c 6f');
  });

  it('[MQTT-3.3.1-8] retain flag comes from the argument', () => {
    expectBytes(new EncodedPublish('a/b', b('hello'), true).qos0(), '31 0a 00 03 61 2f 62 68 65 6c 6c 6f');
    expectBytes(new EncodedPublish('t', Buffer.alloc(0), true).withId(2, 9, false), '35 05 00 01 74 00 09');
  });

  it('QoS 0 buffer is computed once and shared', () => {
    const e = new EncodedPublish('a/b', b('hello'), false);
    expect(e.qos0()).toBe(e.qos0());
    expect(e.topic).toBe('a/b');
    expect(e.payload).toEqual(b('hello'));
    expect(e.retain).toBe(false);
  });

  it('[MQTT-4.3.2-1][MQTT-4.3.3-1] QoS 1 and 2 with the packet id after the topic', () => {
    const e = new EncodedPublish('a/b', b('hello'), false);
    expectBytes(e.withId(1, 0x1234, false), '32 0c 00 03 61 2f 62 12 34 68 65 6c 6c 6f');
    expectBytes(e.withId(2, 0xffff, false), '34 0c 00 03 61 2f 62 ff ff 68 65 6c 6c 6f');
  });

  it('[MQTT-3.3.1-1] a re-sent copy has DUP 1 and the same id', () => {
    const e = new EncodedPublish('a/b', b('hello'), true);
    expectBytes(e.withId(1, 7, true), '3b 0c 00 03 61 2f 62 00 07 68 65 6c 6c 6f');
    expectBytes(e.withId(2, 7, true), '3d 0c 00 03 61 2f 62 00 07 68 65 6c 6c 6f');
  });

  it('withId returns a fresh buffer per receiver; the shared QoS 0 buffer is untouched', () => {
    const e = new EncodedPublish('a/b', b('hello'), false);
    const q0 = Buffer.from(e.qos0());
    const x = e.withId(1, 1, false);
    const y = e.withId(2, 2, true);
    expect(x).not.toBe(y);
    expectBytes(x, '32 0c 00 03 61 2f 62 00 01 68 65 6c 6c 6f');
    x.fill(0);
    expectBytes(e.withId(1, 3, false), '32 0c 00 03 61 2f 62 00 03 68 65 6c 6c 6f');
    expectBytes(y, '3c 0c 00 03 61 2f 62 00 02 68 65 6c 6c 6f');
    expect(e.qos0()).toEqual(q0);
  });

  it('[MQTT-2.3.1-1] withId refuses id 0 and QoS other than 1, 2', () => {
    const e = new EncodedPublish('t', b('x'), false);
    expect(() => e.withId(1, 0, false)).toThrow(RangeError);
    expect(() => e.withId(1, 70000, false)).toThrow(RangeError);
    expect(() => e.withId(0 as 1, 1, false)).toThrow(RangeError);
  });

  it('[MQTT-1.5.3-3] multi-byte topic is written as UTF-8 with its byte length, U+FEFF kept', () => {
    expectBytes(new EncodedPublish('\uFEFFé/€', b('x'), false).qos0(), '30 0c 00 09 ef bb bf c3 a9 2f e2 82 ac 78');
  });

  it.each([
    [127 - 3, '30 7f'],
    [128 - 3, '30 80 01'],
    [16383 - 3, '30 ff 7f'],
    [16384 - 3, '30 80 80 01'],
    [2097151 - 3, '30 ff ff 7f'],
    [2097152 - 3, '30 80 80 80 01'],
  ])('[unnumbered §2.2.3] payload of %s bytes gives header %s', (size, header) => {
    const payload = Buffer.alloc(size, 0xaa);
    const buf = new EncodedPublish('t', payload, false).qos0();
    const h = hex(header);
    expectBytes(buf.subarray(0, h.length), header);
    expect(buf.length).toBe(h.length + 3 + size);
    expect(buf.subarray(h.length + 3).equals(payload)).toBe(true);
  });

  it('[MQTT-4.7.3-3] topics above 65535 bytes are refused', () => {
    expect(() => new EncodedPublish('a'.repeat(65536), b('x'), false)).toThrow(RangeError);
    expect(() => new EncodedPublish('é'.repeat(32768), b('x'), false)).toThrow(RangeError);
  });
});

describe('encodePacket (every type)', () => {
  const cases: Array<[string, Packet, string]> = [
    [
      'CONNECT minimal',
      { type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: 4, cleanSession: true, keepalive: 60, clientId: '', will: null, username: null, password: null },
      '10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00',
    ],
    [
      '[MQTT-3.1.3-1] CONNECT with every field, in order',
      {
        type: PacketType.CONNECT,
        protocolName: 'MQTT',
        protocolLevel: 4,
        cleanSession: false,
        keepalive: 0x1234,
        clientId: 'c',
        will: { topic: 'w', payload: hex('00 ff'), qos: 1, retain: true },
        username: 'u',
        password: hex('70'),
      },
      '10 1a 00 04 4d 51 54 54 04 ec 12 34 00 01 63 00 01 77 00 02 00 ff 00 01 75 00 01 70',
    ],
    [
      'CONNECT MQIsdp level 3, Will QoS 2',
      {
        type: PacketType.CONNECT,
        protocolName: 'MQIsdp',
        protocolLevel: 3,
        cleanSession: true,
        keepalive: 0,
        clientId: 'a',
        will: { topic: 't', payload: Buffer.alloc(0), qos: 2, retain: false },
        username: null,
        password: null,
      },
      '10 14 00 06 4d 51 49 73 64 70 03 16 00 00 00 01 61 00 01 74 00 00',
    ],
    ['CONNACK', { type: PacketType.CONNACK, sessionPresent: true, returnCode: 0 }, '20 02 01 00'],
    [
      '[MQTT-2.3.1-5] PUBLISH QoS 0 (packet id ignored)',
      { type: PacketType.PUBLISH, topic: 'a', payload: b('p'), qos: 0, retain: false, dup: false, packetId: 5 },
      '30 04 00 01 61 70',
    ],
    [
      '[MQTT-3.3.1-2] PUBLISH QoS 0 never carries DUP',
      { type: PacketType.PUBLISH, topic: 'a', payload: b('p'), qos: 0, retain: true, dup: true, packetId: 0 },
      '31 04 00 01 61 70',
    ],
    [
      'PUBLISH QoS 2 DUP retain',
      { type: PacketType.PUBLISH, topic: 'a', payload: b('p'), qos: 2, retain: true, dup: true, packetId: 0x0102 },
      '3d 06 00 01 61 01 02 70',
    ],
    ['PUBACK', { type: PacketType.PUBACK, packetId: 1 }, '40 02 00 01'],
    ['PUBREC', { type: PacketType.PUBREC, packetId: 2 }, '50 02 00 02'],
    ['[MQTT-3.6.1-1] PUBREL', { type: PacketType.PUBREL, packetId: 3 }, '62 02 00 03'],
    ['PUBCOMP', { type: PacketType.PUBCOMP, packetId: 4 }, '70 02 00 04'],
    [
      '[MQTT-3.8.1-1] SUBSCRIBE',
      { type: PacketType.SUBSCRIBE, packetId: 10, subscriptions: [{ topic: 'a/#', qos: 2 }, { topic: '+', qos: 0 }] },
      '82 0c 00 0a 00 03 61 2f 23 02 00 01 2b 00',
    ],
    ['SUBACK', { type: PacketType.SUBACK, packetId: 10, granted: [2, 0x80] }, '90 04 00 0a 02 80'],
    [
      '[MQTT-3.10.1-1] UNSUBSCRIBE',
      { type: PacketType.UNSUBSCRIBE, packetId: 11, topics: ['a', 'b/c'] },
      'a2 0a 00 0b 00 01 61 00 03 62 2f 63',
    ],
    ['UNSUBACK', { type: PacketType.UNSUBACK, packetId: 11 }, 'b0 02 00 0b'],
    ['PINGREQ', { type: PacketType.PINGREQ }, 'c0 00'],
    ['PINGRESP', { type: PacketType.PINGRESP }, 'd0 00'],
    ['DISCONNECT', { type: PacketType.DISCONNECT }, 'e0 00'],
  ];

  it.each(cases)('[MQTT-2.2.2-1] %s', (_name, packet, bytes) => {
    expectBytes(encodePacket(packet), bytes);
  });

  it('server packets from encodePacket equal the dedicated encoders', () => {
    const e = new EncodedPublish('x/y', b('payload'), true);
    const pub = (qos: 0 | 1 | 2, dup: boolean, packetId: number) =>
      encodePacket({ type: PacketType.PUBLISH, topic: 'x/y', payload: b('payload'), qos, retain: true, dup, packetId });
    expect(pub(0, false, 0)).toEqual(e.qos0());
    expect(pub(1, true, 99)).toEqual(e.withId(1, 99, true));
    expect(pub(2, false, 100)).toEqual(e.withId(2, 100, false));
    expect(encodePacket({ type: PacketType.SUBACK, packetId: 3, granted: [1] })).toEqual(encodeSuback(3, [1]));
  });

  it('[MQTT-3.1.2-22][MQTT-3.8.3-3][MQTT-3.10.3-2][MQTT-2.3.1-1] refuses packets that cannot be valid', () => {
    const connect = { type: PacketType.CONNECT, protocolName: 'MQTT', protocolLevel: 4, cleanSession: true, keepalive: 0, clientId: 'c', will: null, username: null, password: null } as const;
    expect(() => encodePacket({ ...connect, password: b('p') })).toThrow(RangeError);
    expect(() => encodePacket({ ...connect, keepalive: 65536 })).toThrow(RangeError);
    expect(() => encodePacket({ ...connect, will: { topic: 't', payload: b(''), qos: 3 as 2, retain: false } })).toThrow(RangeError);
    expect(() => encodePacket({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [] })).toThrow(RangeError);
    expect(() => encodePacket({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'a', qos: 3 as 2 }] })).toThrow(RangeError);
    expect(() => encodePacket({ type: PacketType.UNSUBSCRIBE, packetId: 1, topics: [] })).toThrow(RangeError);
    expect(() => encodePacket({ type: PacketType.UNSUBSCRIBE, packetId: 0, topics: ['a'] })).toThrow(RangeError);
    expect(() =>
      encodePacket({ type: PacketType.PUBLISH, topic: 't', payload: b(''), qos: 1, retain: false, dup: false, packetId: 0 }),
    ).toThrow(RangeError);
    expect(() =>
      encodePacket({ type: PacketType.PUBLISH, topic: 't', payload: b(''), qos: 3 as 2, retain: false, dup: false, packetId: 1 }),
    ).toThrow(RangeError);
  });
});
