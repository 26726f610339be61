/**
 * MQTT 5.0 codec tables: valid v5 packets as hand-written bytes with the decoded object expected,
 * malformed ones with the v5 checklist id and the Reason Code the ProtocolError must carry
 * (0x81 Malformed Packet, 0x82 Protocol Error, or a more specific one); then the encoders, byte for
 * byte against hand-written bytes (never against our own parser alone), and EncodedPublishV5.
 * Ids are 5.0 ids (`v5 [MQTT-...]`): they mean something else in 3.1.1.
 */
import { PacketParser } from '../../src/core/protocol/parser';
import { PacketTooLargeError, ProtocolError } from '../../src/core/protocol/errors';
import { Packet, PacketType, Properties } from '../../src/core/protocol/packets';
import {
  EncodedPublishV5,
  encodeAckV5,
  encodeAuth,
  encodeConnackV5,
  encodeDisconnectV5,
  encodePacketV5,
  encodeSubackV5,
  encodeUnsubackV5,
} from '../../src/core/protocol/encoder-v5';
import { encodePacket, EncodedPublish } from '../../src/core/protocol/encoder';
import { encodeProperties, WILL_PROPERTIES } from '../../src/core/protocol/properties';
import { field, frame, hex, remainingLengthBytes, toHex, u16 } from '../helpers/raw';

// ---- byte builders for properties (independent of properties.ts) ----

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const cat = (...parts: Array<Buffer | number[]>) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const p8 = (id: number, v: number) => Buffer.from([id, v]);
const p16 = (id: number, v: number) => cat([id], u16(v));
const p32 = (id: number, v: number) => cat([id], u32(v));
const pstr = (id: number, s: string | Buffer) => cat([id], field(s));
const pvbi = (id: number, n: number) => cat([id], remainingLengthBytes(n));
const ppair = (k: string, v: string) => cat([0x26], field(k), field(v));
/** A properties section: Property Length then the properties. */
const props = (...ps: Buffer[]) => {
  const body = Buffer.concat(ps);
  return cat(remainingLengthBytes(body.length), body);
};
const NO_PROPS = Buffer.from([0]);

/** CONNECT "MQTT" level 5 header with flags and keepalive. */
const connect5 = (flags: number, keepalive = 60) => cat(field('MQTT'), [5, flags], u16(keepalive));

function v5Parser(): PacketParser {
  const parser = new PacketParser();
  parser.protocolLevel = 5;
  return parser;
}

function parse5(bytes: Buffer): Packet {
  const parser = v5Parser();
  parser.push(bytes);
  const packet = parser.next();
  expect(packet).not.toBeNull();
  expect(parser.bufferedBytes).toBe(0);
  return packet as Packet;
}

function parseError(bytes: Buffer, level: 4 | 5 = 5): ProtocolError {
  const parser = level === 5 ? v5Parser() : new PacketParser();
  parser.push(bytes);
  let caught: unknown = null;
  try {
    parser.next();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  // dead afterwards: the same error again
  expect(() => parser.next()).toThrow(caught as Error);
  return caught as ProtocolError;
}

// ---- every property, by packet ----

const connectProps = props(
  p32(0x11, 3600),
  p16(0x21, 20),
  p32(0x27, 1 << 20),
  p16(0x22, 10),
  p8(0x19, 1),
  p8(0x17, 0),
  ppair('a', '1'),
  ppair('b', '2'),
  ppair('a', '3'),
  pstr(0x15, 'SCRAM'),
  pstr(0x16, Buffer.from([0, 1, 2])),
);
const connectPropsDecoded: Properties = {
  sessionExpiryInterval: 3600,
  receiveMaximum: 20,
  maximumPacketSize: 1 << 20,
  topicAliasMaximum: 10,
  requestResponseInformation: 1,
  requestProblemInformation: 0,
  userProperties: [
    ['a', '1'],
    ['b', '2'],
    ['a', '3'],
  ],
  authenticationMethod: 'SCRAM',
  authenticationData: Buffer.from([0, 1, 2]),
};
const willProps = props(
  p32(0x18, 5),
  p8(0x01, 1),
  p32(0x02, 60),
  pstr(0x03, 'text/plain'),
  pstr(0x08, 'reply/here'),
  pstr(0x09, Buffer.from([0, 0xff])),
  ppair('w', '\uFEFFv'),
);
const willPropsDecoded: Properties = {
  willDelayInterval: 5,
  payloadFormatIndicator: 1,
  messageExpiryInterval: 60,
  contentType: 'text/plain',
  responseTopic: 'reply/here',
  correlationData: Buffer.from([0, 0xff]),
  userProperties: [['w', '\uFEFFv']],
};
const connackProps = props(
  p32(0x11, 120),
  pstr(0x12, 'auto-1'),
  p16(0x13, 30),
  pstr(0x15, 'SCRAM'),
  pstr(0x16, Buffer.from([9])),
  pstr(0x1a, 'resp/'),
  pstr(0x1c, 'other:1883'),
  pstr(0x1f, 'welcome'),
  p16(0x21, 32),
  p16(0x22, 16),
  p8(0x24, 1),
  p8(0x25, 0),
  ppair('k', 'v'),
  p32(0x27, 65536),
  p8(0x28, 0),
  p8(0x29, 1),
  p8(0x2a, 0),
);
const connackPropsDecoded: Properties = {
  sessionExpiryInterval: 120,
  assignedClientIdentifier: 'auto-1',
  serverKeepAlive: 30,
  authenticationMethod: 'SCRAM',
  authenticationData: Buffer.from([9]),
  responseInformation: 'resp/',
  serverReference: 'other:1883',
  reasonString: 'welcome',
  receiveMaximum: 32,
  topicAliasMaximum: 16,
  maximumQoS: 1,
  retainAvailable: 0,
  userProperties: [['k', 'v']],
  maximumPacketSize: 65536,
  wildcardSubscriptionAvailable: 0,
  subscriptionIdentifierAvailable: 1,
  sharedSubscriptionAvailable: 0,
};
const publishProps = props(
  p8(0x01, 0),
  p32(0x02, 10),
  pstr(0x03, 'application/json'),
  pstr(0x08, 'r/1'),
  pstr(0x09, Buffer.from('corr')),
  pvbi(0x0b, 7),
  pvbi(0x0b, 268_435_455),
  p16(0x23, 3),
  ppair('x', 'y'),
);
const publishPropsDecoded: Properties = {
  payloadFormatIndicator: 0,
  messageExpiryInterval: 10,
  contentType: 'application/json',
  responseTopic: 'r/1',
  correlationData: Buffer.from('corr'),
  subscriptionIdentifiers: [7, 268_435_455],
  topicAlias: 3,
  userProperties: [['x', 'y']],
};
const reasonProps = props(pstr(0x1f, 'why'), ppair('u', 'p'));
const reasonPropsDecoded: Properties = { reasonString: 'why', userProperties: [['u', 'p']] };

interface ValidCase {
  name: string;
  bytes: Buffer;
  packet: Packet;
  /** Parse as the first packet of a connection (level 4 until the CONNECT says 5). */
  first?: boolean;
}

const valid: ValidCase[] = [
  {
    name: 'v5 [MQTT-3.1.2-2] CONNECT level 5, no properties, empty client id: decoded, the parser switches to 5',
    bytes: frame(0x10, connect5(0x02), NO_PROPS, field('')),
    first: true,
    packet: {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 5,
      cleanSession: true,
      keepalive: 60,
      clientId: '',
      will: null,
      username: null,
      password: null,
      properties: undefined,
    },
  },
  {
    name: 'v5 [MQTT-3.1.3-1] [MQTT-3.1.2-9] CONNECT with every CONNECT property, a Will with every Will property, user name, password',
    bytes: frame(0x10, connect5(0xee, 0), connectProps, field('cid'), willProps, field('will/t'), field('bye'), field('user'), field('pw')),
    first: true,
    packet: {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 5,
      cleanSession: true,
      keepalive: 0,
      clientId: 'cid',
      will: { topic: 'will/t', payload: Buffer.from('bye'), qos: 1, retain: true, properties: willPropsDecoded },
      username: 'user',
      password: Buffer.from('pw'),
      properties: connectPropsDecoded,
    },
  },
  {
    name: 'v5 [MQTT-3.1.2-19] CONNECT with a password and no user name is accepted (unlike 3.1.1)',
    bytes: frame(0x10, connect5(0x42), NO_PROPS, field('c'), field('secret')),
    first: true,
    packet: {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 5,
      cleanSession: true,
      keepalive: 60,
      clientId: 'c',
      will: null,
      username: null,
      password: Buffer.from('secret'),
      properties: undefined,
    },
  },
  {
    name: 'v5 [MQTT-2.2.2-1] CONNACK with Property Length 0',
    bytes: hex('20 03 01 00 00'),
    packet: { type: PacketType.CONNACK, sessionPresent: true, returnCode: 0, reasonCode: 0, properties: undefined },
  },
  {
    name: 'v5 [MQTT-3.2.2-8] CONNACK 0x87 with every CONNACK property',
    bytes: frame(0x20, [0, 0x87], connackProps),
    packet: { type: PacketType.CONNACK, sessionPresent: false, returnCode: 0x87, reasonCode: 0x87, properties: connackPropsDecoded },
  },
  {
    name: 'v5 [MQTT-2.2.1-2] QoS 0 PUBLISH: the Property Length follows the topic',
    bytes: frame(0x30, field('a/b'), NO_PROPS, '68 69'),
    packet: { type: PacketType.PUBLISH, topic: 'a/b', payload: Buffer.from('hi'), qos: 0, retain: false, dup: false, packetId: 0, properties: undefined },
  },
  {
    name: 'v5 [MQTT-3.3.4-4] QoS 2 DUP RETAIN PUBLISH with every PUBLISH property, several Subscription Identifiers (max 268435455)',
    bytes: frame(0x3d, field('t'), u16(0x1234), publishProps, 'ff'),
    packet: {
      type: PacketType.PUBLISH,
      topic: 't',
      payload: Buffer.from([0xff]),
      qos: 2,
      retain: true,
      dup: true,
      packetId: 0x1234,
      properties: publishPropsDecoded,
    },
  },
  {
    name: '[unnumbered §3.3.2.1] PUBLISH with an empty topic and a Topic Alias',
    bytes: frame(0x32, field(''), u16(1), props(p16(0x23, 4)), ''),
    packet: { type: PacketType.PUBLISH, topic: '', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, packetId: 1, properties: { topicAlias: 4 } },
  },
  {
    name: 'v5 [MQTT-3.3.2-8] PUBLISH with Topic Alias 0 is decoded (the broker answers 0x94)',
    bytes: frame(0x30, field('t'), props(p16(0x23, 0))),
    packet: { type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, packetId: 0, properties: { topicAlias: 0 } },
  },
  ...([4, 5, 7] as const).flatMap((type) => {
    const name = ['', '', '', '', 'PUBACK', 'PUBREC', '', 'PUBCOMP'][type];
    return [
      {
        name: `[unnumbered §3.4.2.1] ${name} Remaining Length 2: Reason Code 0x00, no properties`,
        bytes: frame(type << 4, '00 07'),
        packet: { type, packetId: 7, reasonCode: 0, properties: undefined } as Packet,
      },
      {
        name: `[unnumbered §3.4.2.1] ${name} Remaining Length 3: Reason Code only`,
        bytes: frame(type << 4, type === 7 ? '00 07 92' : '00 07 10'),
        packet: { type, packetId: 7, reasonCode: type === 7 ? 0x92 : 0x10, properties: undefined } as Packet,
      },
      {
        name: `v5 [MQTT-2.2.2-1] ${name} Remaining Length 4: Property Length 0`,
        bytes: frame(type << 4, type === 7 ? '00 07 00 00' : '00 07 80 00'),
        packet: { type, packetId: 7, reasonCode: type === 7 ? 0 : 0x80, properties: undefined } as Packet,
      },
      {
        name: `${name} with Reason String and User Property`,
        bytes: frame(type << 4, '00 07 00', reasonProps),
        packet: { type, packetId: 7, reasonCode: 0, properties: reasonPropsDecoded } as Packet,
      },
    ];
  }),
  {
    name: 'v5 [MQTT-3.6.1-1] PUBREL flags 0010, Reason Code 0x92 and properties',
    bytes: frame(0x62, '00 09 92', reasonProps),
    packet: { type: PacketType.PUBREL, packetId: 9, reasonCode: 0x92, properties: reasonPropsDecoded },
  },
  {
    name: 'v5 [MQTT-3.6.1-1] PUBREL short form',
    bytes: hex('62 02 00 09'),
    packet: { type: PacketType.PUBREL, packetId: 9, reasonCode: 0, properties: undefined },
  },
  {
    name: 'v5 SUBSCRIBE with Subscription Identifier, User Property, and every option combination',
    bytes: frame(0x82, u16(10), props(pvbi(0x0b, 200), ppair('s', 't')), field('a/+'), [0x00], field('b/#'), [0x2d], field('$share/g/c'), [0x1a]),
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 10,
      properties: { subscriptionIdentifiers: [200], userProperties: [['s', 't']] },
      subscriptions: [
        { topic: 'a/+', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topic: 'b/#', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topic: '$share/g/c', qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 1 },
      ],
    },
  },
  {
    name: 'v5 [MQTT-3.9.3-2] SUBACK with every Subscribe Reason Code and a Reason String',
    bytes: frame(0x90, u16(10), props(pstr(0x1f, 'r')), [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
    packet: {
      type: PacketType.SUBACK,
      packetId: 10,
      granted: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
      properties: { reasonString: 'r' },
    },
  },
  {
    name: 'v5 UNSUBSCRIBE with a User Property',
    bytes: frame(0xa2, u16(11), props(ppair('k', '')), field('a'), field('b/#')),
    packet: { type: PacketType.UNSUBSCRIBE, packetId: 11, topics: ['a', 'b/#'], properties: { userProperties: [['k', '']] } },
  },
  {
    name: 'v5 [MQTT-3.11.3-2] UNSUBACK with every Unsubscribe Reason Code',
    bytes: frame(0xb0, u16(11), NO_PROPS, [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]),
    packet: { type: PacketType.UNSUBACK, packetId: 11, reasonCodes: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91], properties: undefined },
  },
  { name: 'v5 PINGREQ', bytes: hex('c0 00'), packet: { type: PacketType.PINGREQ } },
  { name: 'v5 PINGRESP', bytes: hex('d0 00'), packet: { type: PacketType.PINGRESP } },
  {
    name: '[unnumbered §3.14.2.1] DISCONNECT Remaining Length 0: Normal disconnection',
    bytes: hex('e0 00'),
    packet: { type: PacketType.DISCONNECT, reasonCode: 0, properties: undefined },
  },
  {
    name: '[unnumbered §3.14.2.1] DISCONNECT Remaining Length 1: Reason Code 0x04 only',
    bytes: hex('e0 01 04'),
    packet: { type: PacketType.DISCONNECT, reasonCode: 4, properties: undefined },
  },
  {
    name: 'v5 DISCONNECT 0x8e with Session Expiry Interval, Server Reference, Reason String, User Property',
    bytes: frame(0xe0, [0x8e], props(p32(0x11, 0), pstr(0x1c, 'srv'), pstr(0x1f, 'taken'), ppair('a', 'b'))),
    packet: {
      type: PacketType.DISCONNECT,
      reasonCode: 0x8e,
      properties: { sessionExpiryInterval: 0, serverReference: 'srv', reasonString: 'taken', userProperties: [['a', 'b']] },
    },
  },
  {
    name: '[unnumbered §3.15.2.1] AUTH Remaining Length 0: Success',
    bytes: hex('f0 00'),
    packet: { type: PacketType.AUTH, reasonCode: 0, properties: undefined },
  },
  {
    name: 'v5 [MQTT-3.15.2-1] AUTH 0x18 with Authentication Method, Data, Reason String, User Property',
    bytes: frame(0xf0, [0x18], props(pstr(0x15, 'SCRAM'), pstr(0x16, Buffer.from([1, 2])), pstr(0x1f, 'more'), ppair('a', 'b'))),
    packet: {
      type: PacketType.AUTH,
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from([1, 2]), reasonString: 'more', userProperties: [['a', 'b']] },
    },
  },
  {
    name: 'v5 [MQTT-1.5.4-3] U+FEFF kept in a User Property, Content Type and topic',
    bytes: frame(0x30, field('\uFEFFt'), props(pstr(0x03, '\uFEFF'), ppair('\uFEFFk', '\uFEFFv'))),
    packet: {
      type: PacketType.PUBLISH,
      topic: '\uFEFFt',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
      properties: { contentType: '\uFEFF', userProperties: [['\uFEFFk', '\uFEFFv']] },
    },
  },
];

interface InvalidCase {
  name: string;
  bytes: Buffer;
  rule: string | null;
  code: number;
  first?: boolean;
}

const pub = (...ps: Buffer[]) => frame(0x30, field('t'), props(...ps));
const connectWith = (...ps: Buffer[]) => frame(0x10, connect5(0x02), props(...ps), field('c'));

const invalid: InvalidCase[] = [
  // Fixed header
  { name: 'v5 [MQTT-2.1.3-1] PINGREQ C1 00', bytes: hex('c1 00'), rule: 'MQTT-2.1.3-1', code: 0x81 },
  { name: 'v5 [MQTT-2.1.3-1] PUBACK 41 02 00 01', bytes: hex('41 02 00 01'), rule: 'MQTT-2.1.3-1', code: 0x81 },
  { name: 'v5 [MQTT-3.15.1-1] AUTH F1 00', bytes: hex('f1 00'), rule: 'MQTT-3.15.1-1', code: 0x81 },
  { name: 'v5 [MQTT-3.6.1-1] PUBREL 60 02 00 01', bytes: hex('60 02 00 01'), rule: 'MQTT-3.6.1-1', code: 0x81 },
  { name: 'v5 [MQTT-3.8.1-1] SUBSCRIBE 80', bytes: frame(0x80, u16(1), NO_PROPS, field('a'), [0]), rule: 'MQTT-3.8.1-1', code: 0x81 },
  { name: 'v5 [MQTT-3.10.1-1] UNSUBSCRIBE A0', bytes: frame(0xa0, u16(1), NO_PROPS, field('a')), rule: 'MQTT-3.10.1-1', code: 0x81 },
  { name: 'v5 [MQTT-3.14.1-1] DISCONNECT E1 00', bytes: hex('e1 00'), rule: 'MQTT-3.14.1-1', code: 0x81 },
  { name: 'v5 [MQTT-3.3.1-4] PUBLISH QoS 3', bytes: frame(0x36, field('t'), u16(1), NO_PROPS), rule: 'MQTT-3.3.1-4', code: 0x81 },
  { name: 'v5 [MQTT-3.3.1-2] QoS 0 PUBLISH with DUP', bytes: frame(0x38, field('t'), NO_PROPS), rule: 'MQTT-3.3.1-2', code: 0x81 },
  { name: '[unnumbered §2.1.2] reserved type 0', bytes: hex('00 00'), rule: null, code: 0x81 },
  { name: '[unnumbered §1.5.5] 5-byte Remaining Length 30 FF FF FF FF 01', bytes: hex('30 ff ff ff ff 01'), rule: null, code: 0x81 },
  { name: 'PINGREQ with a body', bytes: hex('c0 01 00'), rule: null, code: 0x81 },
  // Properties: structure
  { name: '[unnumbered §2.2.2.2] unknown property identifier 0x04', bytes: pub(p8(0x04, 0)), rule: null, code: 0x81 },
  { name: '[unnumbered §2.2.2.2] unknown property identifier 0x80 (continuation bit)', bytes: pub(hex('80 01')), rule: null, code: 0x81 },
  { name: '[unnumbered §2.2.2.2] Topic Alias in CONNECT', bytes: connectWith(p16(0x23, 1)), rule: null, code: 0x81, first: true },
  { name: '[unnumbered §2.2.2.2] Session Expiry Interval in PUBLISH', bytes: pub(p32(0x11, 1)), rule: null, code: 0x81 },
  { name: '[unnumbered §2.2.2.2] Will Delay Interval in CONNECT (Will Properties only)', bytes: connectWith(p32(0x18, 1)), rule: null, code: 0x81, first: true },
  { name: '[unnumbered §2.2.2.2] Reason String in PUBLISH', bytes: pub(pstr(0x1f, 'x')), rule: null, code: 0x81 },
  { name: '[unnumbered §2.2.2.2] Server Keep Alive in DISCONNECT', bytes: frame(0xe0, [0], props(p16(0x13, 1))), rule: null, code: 0x81 },
  { name: '[unnumbered §2.2.2.2] Subscription Identifier in UNSUBSCRIBE', bytes: frame(0xa2, u16(1), props(pvbi(0x0b, 1)), field('a')), rule: null, code: 0x81 },
  { name: '[unnumbered §2.2.2.2] Authentication Method in PUBACK', bytes: frame(0x40, u16(1), [0], props(pstr(0x15, 'm'))), rule: null, code: 0x81 },
  { name: 'Property Length past the packet', bytes: frame(0x30, field('t'), [5], p8(0x01, 1)), rule: null, code: 0x81 },
  { name: 'property value past the Property Length', bytes: frame(0x30, field('t'), [3], p32(0x02, 1)), rule: null, code: 0x81 },
  { name: 'string property truncated', bytes: frame(0x30, field('t'), [4, 0x03, 0, 5, 0x61]), rule: null, code: 0x81 },
  { name: 'User Property with its value missing', bytes: frame(0x30, field('t'), props(cat([0x26], field('k')))), rule: null, code: 0x81 },
  { name: 'PUBLISH without a Property Length', bytes: frame(0x30, field('t')), rule: null, code: 0x81 },
  { name: '[unnumbered §1.5.5] Property Length of 5 bytes', bytes: frame(0x30, field('t'), [0x80, 0x80, 0x80, 0x80, 0x01]), rule: null, code: 0x81 },
  { name: 'v5 [MQTT-1.5.5-1] Property Length not minimal (80 00)', bytes: frame(0x30, field('t'), [0x80, 0x00]), rule: 'MQTT-1.5.5-1', code: 0x81 },
  { name: 'v5 [MQTT-1.5.5-1] Subscription Identifier not minimal (81 00)', bytes: frame(0x30, field('t'), [3, 0x0b, 0x81, 0x00]), rule: 'MQTT-1.5.5-1', code: 0x81 },
  { name: '[unnumbered §1.5.5] Subscription Identifier of 5 bytes', bytes: frame(0x30, field('t'), [6, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x01]), rule: null, code: 0x81 },
  // Properties: repeats and values (Protocol Errors)
  { name: '[unnumbered §2.2.2.2] Payload Format Indicator twice', bytes: pub(p8(0x01, 0), p8(0x01, 1)), rule: null, code: 0x82 },
  { name: '[unnumbered §3.1.2.11] Session Expiry Interval twice', bytes: connectWith(p32(0x11, 1), p32(0x11, 2)), rule: null, code: 0x82, first: true },
  { name: '[unnumbered §3.8.2.1.2] Subscription Identifier twice in SUBSCRIBE', bytes: frame(0x82, u16(1), props(pvbi(0x0b, 1), pvbi(0x0b, 2)), field('a'), [0]), rule: null, code: 0x82 },
  { name: '[unnumbered §3.8.2.1.2] Subscription Identifier 0 in SUBSCRIBE', bytes: frame(0x82, u16(1), props(pvbi(0x0b, 0)), field('a'), [0]), rule: null, code: 0x82 },
  { name: '[unnumbered §3.3.2.3.8] Subscription Identifier 0 in PUBLISH', bytes: pub(pvbi(0x0b, 0)), rule: null, code: 0x82 },
  { name: '[unnumbered §3.1.2.11] Receive Maximum 0', bytes: connectWith(p16(0x21, 0)), rule: null, code: 0x82, first: true },
  { name: '[unnumbered §3.1.2.11] Maximum Packet Size 0', bytes: connectWith(p32(0x27, 0)), rule: null, code: 0x82, first: true },
  { name: '[unnumbered §3.1.2.11] Request Problem Information 2', bytes: connectWith(p8(0x17, 2)), rule: null, code: 0x82, first: true },
  { name: '[unnumbered §3.1.2.11] Request Response Information 2', bytes: connectWith(p8(0x19, 2)), rule: null, code: 0x82, first: true },
  { name: '[unnumbered §3.1.2.11] Authentication Data without Authentication Method', bytes: connectWith(pstr(0x16, Buffer.from([1]))), rule: null, code: 0x82, first: true },
  { name: '[unnumbered §3.2.2.3] CONNACK Maximum QoS 2', bytes: frame(0x20, [0, 0], props(p8(0x24, 2))), rule: null, code: 0x82 },
  { name: '[unnumbered §3.2.2.3] CONNACK Retain Available 2', bytes: frame(0x20, [0, 0], props(p8(0x25, 2))), rule: null, code: 0x82 },
  { name: 'Payload Format Indicator 2', bytes: pub(p8(0x01, 2)), rule: null, code: 0x82 },
  // Strings
  { name: 'v5 [MQTT-1.5.4-1] User Property value C3 28', bytes: pub(cat([0x26], field('k'), [0, 2, 0xc3, 0x28])), rule: 'MQTT-1.5.4-1', code: 0x81 },
  { name: 'v5 [MQTT-1.5.7-1] User Property name with a surrogate ED A0 80', bytes: pub(cat([0x26], [0, 3, 0xed, 0xa0, 0x80], field('v'))), rule: 'MQTT-1.5.4-1', code: 0x81 },
  { name: 'v5 [MQTT-1.5.4-2] User Property name k\\0', bytes: pub(ppair('k\0', 'v')), rule: 'MQTT-1.5.4-2', code: 0x81 },
  { name: 'v5 [MQTT-3.3.2-19] Content Type with overlong C0 AF', bytes: pub(cat([0x03], [0, 2, 0xc0, 0xaf])), rule: 'MQTT-1.5.4-1', code: 0x81 },
  { name: 'v5 [MQTT-3.3.2-13] Response Topic not UTF-8', bytes: pub(cat([0x08], [0, 1, 0xff])), rule: 'MQTT-1.5.4-1', code: 0x81 },
  { name: 'v5 [MQTT-3.3.2-14] Response Topic with a wildcard', bytes: pub(pstr(0x08, 'r/#')), rule: 'MQTT-3.3.2-14', code: 0x90 },
  { name: 'v5 [MQTT-3.3.2-1] PUBLISH topic not UTF-8', bytes: frame(0x30, [0, 1, 0xff], NO_PROPS), rule: 'MQTT-1.5.4-1', code: 0x81 },
  { name: 'v5 [MQTT-3.3.2-2] PUBLISH topic with a wildcard: 0x90', bytes: frame(0x30, field('a/+'), NO_PROPS), rule: 'MQTT-3.3.2-2', code: 0x90 },
  { name: 'v5 [MQTT-4.7.3-2] PUBLISH topic with U+0000', bytes: frame(0x30, field('a\0b'), NO_PROPS), rule: 'MQTT-1.5.4-2', code: 0x81 },
  { name: '[unnumbered §3.3.2.1] PUBLISH 30 03 00 00 00: empty topic, no Topic Alias', bytes: hex('30 03 00 00 00'), rule: null, code: 0x82 },
  { name: 'v5 [MQTT-2.2.1-3] PUBLISH QoS 1 with packet id 0', bytes: frame(0x32, field('t'), u16(0), NO_PROPS), rule: 'MQTT-2.2.1-3', code: 0x82 },
  // CONNECT
  { name: 'v5 [MQTT-3.1.2-3] CONNECT reserved flag', bytes: frame(0x10, connect5(0x03), NO_PROPS, field('c')), rule: 'MQTT-3.1.2-3', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-11] CONNECT flags 0x0A: Will QoS without Will', bytes: frame(0x10, connect5(0x0a), NO_PROPS, field('c')), rule: 'MQTT-3.1.2-11', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-12] CONNECT flags 0x1E: Will QoS 3', bytes: frame(0x10, connect5(0x1e), NO_PROPS, field('c'), NO_PROPS, field('w'), field('p')), rule: 'MQTT-3.1.2-12', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-13] CONNECT flags 0x22: Will Retain without Will', bytes: frame(0x10, connect5(0x22), NO_PROPS, field('c')), rule: 'MQTT-3.1.2-13', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-9] CONNECT Will flag, payload ends after the client id', bytes: frame(0x10, connect5(0x06), NO_PROPS, field('c')), rule: null, code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-9] CONNECT Will flag, no Will Topic', bytes: frame(0x10, connect5(0x06), NO_PROPS, field('c'), NO_PROPS), rule: 'MQTT-3.1.2-9', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.3-11] [MQTT-4.7.0-1] CONNECT Will Topic with a wildcard: 0x90', bytes: frame(0x10, connect5(0x06), NO_PROPS, field('c'), NO_PROPS, field('x/#'), field('p')), rule: 'MQTT-4.7.0-1', code: 0x90, first: true },
  { name: 'v5 [MQTT-4.7.3-1] CONNECT empty Will Topic: 0x90', bytes: frame(0x10, connect5(0x06), NO_PROPS, field('c'), NO_PROPS, field(''), field('p')), rule: 'MQTT-4.7.3-1', code: 0x90, first: true },
  { name: 'v5 [MQTT-3.1.3-4] CONNECT client id FF FE', bytes: frame(0x10, connect5(0x02), NO_PROPS, [0, 2, 0xff, 0xfe]), rule: 'MQTT-1.5.4-1', code: 0x81, first: true },
  { name: 'v5 [MQTT-1.5.4-2] CONNECT client id a\\0b', bytes: frame(0x10, connect5(0x02), NO_PROPS, field('a\0b')), rule: 'MQTT-1.5.4-2', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.3-3] CONNECT without client id', bytes: frame(0x10, connect5(0x02), NO_PROPS), rule: 'MQTT-3.1.3-3', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-17] CONNECT user name flag, user name missing', bytes: frame(0x10, connect5(0x82), NO_PROPS, field('c')), rule: 'MQTT-3.1.2-17', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.3-12] CONNECT user name C3 28', bytes: frame(0x10, connect5(0x82), NO_PROPS, field('c'), [0, 2, 0xc3, 0x28]), rule: 'MQTT-1.5.4-1', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-19] CONNECT password flag, password missing', bytes: frame(0x10, connect5(0x42), NO_PROPS, field('c')), rule: 'MQTT-3.1.2-19', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-16] CONNECT bytes after the client id without user name flag', bytes: frame(0x10, connect5(0x02), NO_PROPS, field('c'), field('u')), rule: 'MQTT-3.1.2-16', code: 0x81, first: true },
  { name: 'v5 [MQTT-3.1.2-18] CONNECT bytes after the user name without password flag', bytes: frame(0x10, connect5(0x82), NO_PROPS, field('c'), field('u'), field('p')), rule: 'MQTT-3.1.2-18', code: 0x81, first: true },
  { name: 'v5 [unnumbered §3.1.2.11] CONNECT Will Properties with a CONNECT property', bytes: frame(0x10, connect5(0x06), NO_PROPS, field('c'), props(p32(0x11, 1)), field('w'), field('p')), rule: null, code: 0x81, first: true },
  // Acks and Reason Codes
  { name: 'v5 [MQTT-2.2.1-3] PUBACK packet id 0', bytes: hex('40 02 00 00'), rule: 'MQTT-2.2.1-3', code: 0x82 },
  { name: 'PUBACK Remaining Length 1', bytes: hex('40 01 00'), rule: null, code: 0x81 },
  { name: 'PUBACK bytes after its properties', bytes: hex('40 05 00 01 00 00 00'), rule: null, code: 0x81 },
  { name: 'v5 [MQTT-3.4.2-1] PUBACK Reason Code 0x92', bytes: hex('40 03 00 01 92'), rule: 'MQTT-3.4.2-1', code: 0x82 },
  { name: 'v5 [MQTT-3.5.2-1] PUBREC Reason Code 0x11', bytes: hex('50 03 00 01 11'), rule: 'MQTT-3.5.2-1', code: 0x82 },
  { name: 'v5 [MQTT-3.6.2-1] PUBREL Reason Code 0x91', bytes: hex('62 03 00 01 91'), rule: 'MQTT-3.6.2-1', code: 0x82 },
  { name: 'v5 [MQTT-3.7.2-1] PUBCOMP Reason Code 0x80', bytes: hex('70 03 00 01 80'), rule: 'MQTT-3.7.2-1', code: 0x82 },
  { name: 'v5 [MQTT-3.14.2-1] DISCONNECT Reason Code 0x01', bytes: hex('e0 01 01'), rule: 'MQTT-3.14.2-1', code: 0x82 },
  { name: 'v5 [MQTT-3.15.2-1] AUTH Reason Code 0x05', bytes: hex('f0 02 05 00'), rule: 'MQTT-3.15.2-1', code: 0x82 },
  { name: '[unnumbered §3.15.2.1] AUTH Remaining Length 1 (no Property Length)', bytes: hex('f0 01 18'), rule: null, code: 0x81 },
  { name: 'v5 [MQTT-3.2.2-8] CONNACK Reason Code 0x8e (DISCONNECT-only)', bytes: hex('20 03 00 8e 00'), rule: 'MQTT-3.2.2-8', code: 0x82 },
  { name: 'v5 [MQTT-3.2.2-1] CONNACK reserved acknowledge flags', bytes: hex('20 03 02 00 00'), rule: 'MQTT-3.2.2-1', code: 0x81 },
  { name: 'v5 [MQTT-3.2.2-6] CONNACK Session Present with a failure code', bytes: hex('20 03 01 80 00'), rule: 'MQTT-3.2.2-6', code: 0x82 },
  { name: 'v5 [MQTT-2.2.2-1] CONNACK without Property Length', bytes: hex('20 02 00 00'), rule: null, code: 0x81 },
  { name: 'v5 [MQTT-3.9.3-2] SUBACK Reason Code 0x03', bytes: frame(0x90, u16(1), NO_PROPS, [0x03]), rule: 'MQTT-3.9.3-2', code: 0x82 },
  { name: 'v5 [MQTT-3.11.3-2] UNSUBACK Reason Code 0x01', bytes: frame(0xb0, u16(1), NO_PROPS, [0x01]), rule: 'MQTT-3.11.3-2', code: 0x82 },
  { name: 'SUBACK without Reason Codes', bytes: frame(0x90, u16(1), NO_PROPS), rule: null, code: 0x82 },
  // SUBSCRIBE / UNSUBSCRIBE
  { name: 'v5 [MQTT-3.8.3-2] SUBSCRIBE with only id and properties', bytes: frame(0x82, u16(1), NO_PROPS), rule: 'MQTT-3.8.3-2', code: 0x82 },
  { name: 'v5 [MQTT-3.8.3-5] SUBSCRIBE options C1 (reserved bits)', bytes: frame(0x82, u16(1), NO_PROPS, field('a'), [0xc1]), rule: 'MQTT-3.8.3-5', code: 0x81 },
  { name: 'v5 [MQTT-3.8.3-5] SUBSCRIBE options 40 (reserved bit 6)', bytes: frame(0x82, u16(1), NO_PROPS, field('a'), [0x40]), rule: 'MQTT-3.8.3-5', code: 0x81 },
  { name: '[unnumbered §3.8.3.1] SUBSCRIBE options 03: Maximum QoS 3', bytes: frame(0x82, u16(1), NO_PROPS, field('a'), [0x03]), rule: null, code: 0x82 },
  { name: '[unnumbered §3.8.3.1] SUBSCRIBE options 31: Retain Handling 3', bytes: frame(0x82, u16(1), NO_PROPS, field('a'), [0x31]), rule: null, code: 0x82 },
  { name: 'v5 [MQTT-3.8.3-1] SUBSCRIBE filter not UTF-8', bytes: frame(0x82, u16(1), NO_PROPS, [0, 1, 0xff], [0]), rule: 'MQTT-1.5.4-1', code: 0x81 },
  { name: 'v5 [MQTT-4.7.3-1] SUBSCRIBE empty filter: 0x8F', bytes: frame(0x82, u16(1), NO_PROPS, field(''), [0]), rule: 'MQTT-4.7.3-1', code: 0x8f },
  { name: 'SUBSCRIBE filter without options byte', bytes: frame(0x82, u16(1), NO_PROPS, field('a')), rule: 'MQTT-3.8.3-1', code: 0x81 },
  { name: 'v5 [MQTT-2.2.1-3] SUBSCRIBE packet id 0', bytes: frame(0x82, u16(0), NO_PROPS, field('a'), [0]), rule: 'MQTT-2.2.1-3', code: 0x82 },
  { name: 'v5 [MQTT-3.10.3-2] UNSUBSCRIBE with only id and properties', bytes: frame(0xa2, u16(1), NO_PROPS), rule: 'MQTT-3.10.3-2', code: 0x82 },
  { name: 'v5 [MQTT-3.10.3-1] UNSUBSCRIBE filter not UTF-8', bytes: frame(0xa2, u16(1), NO_PROPS, [0, 1, 0xff]), rule: 'MQTT-1.5.4-1', code: 0x81 },
];

describe('MQTT 5 parser: valid packets', () => {
  it.each(valid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    if (c.first) {
      const parser = new PacketParser();
      parser.push(c.bytes);
      expect(parser.next()).toEqual(c.packet);
      expect(parser.protocolLevel).toBe(5);
    } else {
      expect(parse5(c.bytes)).toEqual(c.packet);
    }
  });

  it('v5 [MQTT-3.1.2-2] CONNECT level 5 switches the parser: the next PUBLISH is read with properties, AUTH is a packet', () => {
    const parser = new PacketParser();
    parser.push(cat(frame(0x10, connect5(0x02), NO_PROPS, field('c')), frame(0x30, field('t'), NO_PROPS, '61'), hex('f0 00')));
    expect(parser.next()).toMatchObject({ type: PacketType.CONNECT, protocolLevel: 5 });
    expect(parser.next()).toEqual({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.from('a'), qos: 0, retain: false, dup: false, packetId: 0, properties: undefined });
    expect(parser.next()).toEqual({ type: PacketType.AUTH, reasonCode: 0, properties: undefined });
    parser.reset();
    expect(parser.protocolLevel).toBe(4);
  });

  it('3.1.1 is unchanged: AUTH (F0 00) is a reserved type on a level 4 connection, a PUBACK with a reason code is malformed', () => {
    expect(parseError(hex('f0 00'), 4).rule).toBeUndefined();
    expect(parseError(hex('40 03 00 01 00'), 4).message).toMatch(/Remaining Length 3/);
  });

  it('every valid v5 packet decodes the same in every chunking (one byte at a time)', () => {
    const stream = cat(...valid.filter((c) => !c.first).map((c) => c.bytes));
    const expected = valid.filter((c) => !c.first).map((c) => c.packet);
    const parser = v5Parser();
    const got: Packet[] = [];
    for (let i = 0; i < stream.length; i++) {
      parser.push(stream.subarray(i, i + 1));
      let p;
      while ((p = parser.next()) !== null) got.push(p);
    }
    expect(got).toEqual(expected);
  });

  it('binary properties are copies (they outlive the chunk); the payload is a view', () => {
    const bytes = frame(0x30, field('t'), props(pstr(0x09, Buffer.from('cd'))), '7a');
    const p = parse5(bytes) as { payload: Buffer; properties: Properties };
    bytes.fill(0x21);
    expect(p.payload).toEqual(Buffer.from('!'));
    expect(p.properties.correlationData).toEqual(Buffer.from('cd'));
  });

  it('v5 [MQTT-3.2.2-15] Remaining Length above the limit: PacketTooLargeError with Reason Code 0x95', () => {
    const parser = new PacketParser({ maxPacketSize: 10 });
    parser.protocolLevel = 5;
    parser.push(hex('30 0b'));
    let caught: unknown;
    try {
      parser.next();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PacketTooLargeError);
    expect((caught as ProtocolError).reasonCode).toBe(0x95);
  });
});

describe('MQTT 5 parser: malformed packets and protocol errors carry the Reason Code to send', () => {
  it.each(invalid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const err = parseError(c.bytes, c.first ? 4 : 5);
    expect({ rule: err.rule ?? null, code: err.reasonCode }).toEqual({ rule: c.rule, code: c.code });
  });

  it('ProtocolError defaults to 0x81 Malformed Packet', () => {
    expect(new ProtocolError('x').reasonCode).toBe(0x81);
    expect(new ProtocolError('x', 'MQTT-1', 0x82).reasonCode).toBe(0x82);
  });
});

// ---- encoders ----

describe('MQTT 5 encoders: bytes', () => {
  const cases: Array<[string, () => Buffer, string]> = [
    ['v5 [MQTT-2.2.2-1] CONNACK 0x00 without properties: 20 03 00 00 00', () => encodeConnackV5(false, 0), '20 03 00 00 00'],
    ['v5 [MQTT-3.2.2-2] CONNACK Session Present', () => encodeConnackV5(true, 0), '20 03 01 00 00'],
    ['v5 [MQTT-3.2.2-6] CONNACK failure forces Session Present 0', () => encodeConnackV5(true, 0x86), '20 03 00 86 00'],
    ['v5 [MQTT-3.1.2-2] CONNACK 0x84', () => encodeConnackV5(false, 0x84), '20 03 00 84 00'],
    [
      'v5 [MQTT-3.2.2-16] [MQTT-3.2.2-9] CONNACK with Assigned Client Identifier, Maximum QoS, Topic Alias Maximum',
      () => encodeConnackV5(false, 0, { assignedClientIdentifier: 'id', maximumQoS: 1, topicAliasMaximum: 10 }),
      '20 0d 00 00 0a 12 00 02 69 64 22 00 0a 24 01',
    ],
    ['[unnumbered §3.4.2.1] PUBACK Success short form', () => encodeAckV5(PacketType.PUBACK, 0x1234, 0), '40 02 12 34'],
    ['v5 [MQTT-3.4.2-1] PUBACK 0x10 No matching subscribers', () => encodeAckV5(PacketType.PUBACK, 1, 0x10), '40 04 00 01 10 00'],
    ['v5 [MQTT-3.5.2-1] PUBREC 0x87 with a Reason String', () => encodeAckV5(PacketType.PUBREC, 1, 0x87, { reasonString: 'no' }), '50 09 00 01 87 05 1f 00 02 6e 6f'],
    ['v5 [MQTT-3.6.1-1] [MQTT-3.6.2-1] PUBREL 0x92', () => encodeAckV5(PacketType.PUBREL, 2, 0x92), '62 04 00 02 92 00'],
    ['v5 [MQTT-3.7.2-1] PUBCOMP short form', () => encodeAckV5(PacketType.PUBCOMP, 3), '70 02 00 03'],
    ['v5 [MQTT-3.9.3-1] SUBACK codes in order', () => encodeSubackV5(1, [0, 2, 0x87, 0xa2]), '90 07 00 01 00 00 02 87 a2'],
    ['v5 [MQTT-3.11.3-1] UNSUBACK codes in order', () => encodeUnsubackV5(1, [0, 0x11, 0x87]), 'b0 06 00 01 00 00 11 87'],
    ['v5 DISCONNECT 0x00 short form', () => encodeDisconnectV5(), 'e0 00'],
    ['v5 [MQTT-3.1.0-2] DISCONNECT 0x82: E0 02 82 00', () => encodeDisconnectV5(0x82), 'e0 02 82 00'],
    ['v5 [MQTT-3.1.4-3] DISCONNECT 0x8E', () => encodeDisconnectV5(0x8e), 'e0 02 8e 00'],
    ['[unnumbered §4.11] DISCONNECT 0x9C with Server Reference', () => encodeDisconnectV5(0x9c, { serverReference: 'b' }), 'e0 06 9c 04 1c 00 01 62'],
    ['v5 [MQTT-3.15.1-1] AUTH Success short form', () => encodeAuth(0), 'f0 00'],
    ['v5 [MQTT-4.12.0-2] AUTH 0x18 with method', () => encodeAuth(0x18, { authenticationMethod: 'x' }), 'f0 06 18 04 15 00 01 78'],
    ['PINGRESP', () => encodePacketV5({ type: PacketType.PINGRESP }), 'd0 00'],
    [
      'v5 [MQTT-1.5.5-1] Subscription Identifier 268435455 is 4 VBI bytes; 128 is 80 01',
      () => encodePacketV5({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, packetId: 0, properties: { subscriptionIdentifiers: [128, 268_435_455] } }),
      '30 0c 00 01 74 08 0b 80 01 0b ff ff ff 7f',
    ],
    [
      'User Properties keep order and duplicates v5 [MQTT-3.3.2-18]',
      () => encodeDisconnectV5(0, { userProperties: [['a', '1'], ['b', '2'], ['a', '3']] }),
      'e0 17 00 15 26 00 01 61 00 01 31 26 00 01 62 00 01 32 26 00 01 61 00 01 33',
    ],
  ];
  it.each(cases)('%s', (_name, fn, expected) => {
    expect(toHex(fn())).toBe(toHex(hex(expected)));
  });

  it('every property encodes, in identifier order, to the bytes the tables above decode', () => {
    const ordered = cat(
      p32(0x11, 3600), pstr(0x15, 'SCRAM'), pstr(0x16, Buffer.from([0, 1, 2])), p8(0x17, 0), p8(0x19, 1),
      p16(0x21, 20), p16(0x22, 10), ppair('a', '1'), ppair('b', '2'), ppair('a', '3'), p32(0x27, 1 << 20),
    );
    expect(toHex(encodeProperties(connectPropsDecoded, PacketType.CONNECT))).toBe(toHex(ordered));
    expect(toHex(encodeProperties(willPropsDecoded, WILL_PROPERTIES))).toBe(
      toHex(cat(p8(0x01, 1), p32(0x02, 60), pstr(0x03, 'text/plain'), pstr(0x08, 'reply/here'), pstr(0x09, Buffer.from([0, 0xff])), p32(0x18, 5), ppair('w', '\uFEFFv'))),
    );
    // CONNACK's table is already in identifier order.
    expect(toHex(encodeConnackV5(false, 0x87, connackPropsDecoded).subarray(5))).toBe(toHex(connackProps.subarray(1)));
    expect(toHex(encodeProperties(publishPropsDecoded, PacketType.PUBLISH))).toBe(toHex(publishProps.subarray(1)));
    // A whole CONNECT with every property round-trips through the parser.
    const connect = encodePacketV5(valid[1].packet);
    const parser = new PacketParser();
    parser.push(connect);
    expect(parser.next()).toEqual(valid[1].packet);
    expect(toHex(connect)).toBe(toHex(frame(0x10, connect5(0xee, 0), props(ordered), field('cid'), props(encodeProperties(willPropsDecoded, WILL_PROPERTIES)), field('will/t'), field('bye'), field('user'), field('pw'))));
  });

  it('v5 [MQTT-3.2.2-8] [MQTT-3.4.2-1] [MQTT-3.9.3-2] [MQTT-3.11.3-2] [MQTT-3.14.2-1] [MQTT-3.15.2-1] encoders refuse Reason Codes the packet may not carry', () => {
    expect(() => encodeConnackV5(false, 0x8e)).toThrow(RangeError);
    expect(() => encodeAckV5(PacketType.PUBACK, 1, 0x92)).toThrow(RangeError);
    expect(() => encodeAckV5(PacketType.PUBREL, 1, 0x10)).toThrow(RangeError);
    expect(() => encodeSubackV5(1, [3])).toThrow(RangeError);
    expect(() => encodeUnsubackV5(1, [1])).toThrow(RangeError);
    expect(() => encodeDisconnectV5(0x01)).toThrow(RangeError);
    expect(() => encodeAuth(0x05)).toThrow(RangeError);
  });

  it('encoders refuse properties the packet may not carry and out-of-range values', () => {
    expect(() => encodeConnackV5(false, 0, { topicAlias: 1 })).toThrow(RangeError);
    expect(() => encodeAckV5(PacketType.PUBACK, 1, 0, { sessionExpiryInterval: 1 })).toThrow(RangeError);
    expect(() => encodeConnackV5(false, 0, { maximumQoS: 2 })).toThrow(RangeError);
    expect(() => encodeConnackV5(false, 0, { receiveMaximum: 0 })).toThrow(RangeError);
    expect(() => encodeDisconnectV5(0, { reasonString: 'x'.repeat(65536) })).toThrow(RangeError);
    expect(() => encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'a', qos: 0 }], properties: { subscriptionIdentifiers: [1, 2] } })).toThrow(RangeError);
    expect(() => encodePacketV5({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, packetId: 0, properties: { subscriptionIdentifiers: [0] } })).toThrow(RangeError);
  });

  it('encodePacket(packet) stays 3.1.1; encodePacket(packet, 5) is the v5 form', () => {
    const puback = { type: PacketType.PUBACK, packetId: 1, reasonCode: 0x10 } as const;
    expect(toHex(encodePacket(puback))).toBe('40 02 00 01');
    expect(toHex(encodePacket(puback, 5))).toBe('40 04 00 01 10 00');
    expect(() => encodePacket({ type: PacketType.AUTH, reasonCode: 0 })).toThrow(RangeError);
  });
});

describe('EncodedPublishV5: encode once, patch per receiver', () => {
  const message = () => new EncodedPublishV5('a/b', Buffer.from('hello'), { contentType: 'c', userProperties: [['k', 'v']] });
  const shared = '0b 03 00 01 63 26 00 01 6b 00 01 76'; // Property Length 11: Content Type, User Property
  const payload = '68 65 6c 6c 6f';

  it('qos0: one shared buffer per RETAIN value, DUP 0 v5 [MQTT-3.3.1-2]', () => {
    const m = message();
    expect(toHex(m.qos0(false))).toBe(toHex(hex(`30 16 00 03 61 2f 62 ${shared} ${payload}`)));
    expect(m.qos0(false)).toBe(m.qos0(false));
    expect(toHex(m.qos0(true))).toBe(toHex(hex(`31 16 00 03 61 2f 62 ${shared} ${payload}`)));
  });

  it('qos0 without properties: Property Length 0; a 2-byte Remaining Length; the topic length given by the caller (Message passes its 3.1.1 encoding\'s)', () => {
    const topic = 't/\u00e9'; // 4 bytes in UTF-8
    const big = Buffer.alloc(200, 0x61);
    const given = new EncodedPublishV5(topic, big, undefined, 4);
    const counted = new EncodedPublishV5(topic, big);
    const expected = hex(`30 cf 01 00 04 74 2f c3 a9 00 ${toHex(big)}`); // 2 + 4 + 1 + 200 = 207
    expect(toHex(given.qos0(false))).toBe(toHex(expected));
    expect(toHex(counted.qos0(false))).toBe(toHex(expected));
    expect(toHex(given.qos0(true))).toBe(toHex(hex(`31 cf 01 00 04 74 2f c3 a9 00 ${toHex(big)}`)));
    expect(given.qos0(true)).toBe(given.qos0(true));
    expect(given.qos0(false)).not.toBe(given.qos0(true));
  });

  it('withId: a fresh copy per receiver with QoS, DUP, RETAIN and packet id patched in', () => {
    const m = message();
    const a = m.withId(1, 0x0102, false, false);
    const b = m.withId(2, 0x0304, true, true);
    expect(toHex(a)).toBe(toHex(hex(`32 18 00 03 61 2f 62 01 02 ${shared} ${payload}`)));
    expect(toHex(b)).toBe(toHex(hex(`3d 18 00 03 61 2f 62 03 04 ${shared} ${payload}`)));
    expect(a).not.toBe(m.withId(1, 0x0102, false, false));
  });

  it('v5 [MQTT-3.3.4-3] [MQTT-3.3.4-4] withIdAndExtras: Topic Alias set with topic, then alias only; Subscription Identifiers per receiver', () => {
    const m = message();
    const first = m.withIdAndExtras(1, 7, false, false, 5, true, [7, 9]);
    expect(toHex(first)).toBe(toHex(hex(`32 1f 00 03 61 2f 62 00 07 12 23 00 05 0b 07 0b 09 ${shared.slice(3)} ${payload}`)));
    const reuse = m.withIdAndExtras(0, 0, true, false, 5, false, undefined);
    expect(toHex(reuse)).toBe(toHex(hex(`30 16 00 00 0e 23 00 05 ${shared.slice(3)} ${payload}`)));
    // Both decode with a v5 parser to the message plus the receiver's extras.
    const parser = v5Parser();
    parser.push(cat(first, reuse));
    expect(parser.next()).toMatchObject({ topic: 'a/b', qos: 1, packetId: 7, properties: { topicAlias: 5, subscriptionIdentifiers: [7, 9], contentType: 'c', userProperties: [['k', 'v']] } });
    expect(parser.next()).toMatchObject({ topic: '', qos: 0, dup: false, properties: { topicAlias: 5, contentType: 'c' } });
  });

  it('withIdAndExtras without extras takes the cached paths; head + payload equals the whole packet; size is the whole length', () => {
    const m = message();
    expect(m.withIdAndExtras(0, 0, false, true, 0, true, [])).toBe(m.qos0(true));
    expect(toHex(m.withIdAndExtras(2, 9, false, false, 0, true, undefined))).toBe(toHex(m.withId(2, 9, false, false)));
    const whole = m.withIdAndExtras(1, 3, false, true, 2, true, [300]);
    const head = m.head(1, 3, false, true, 2, true, [300]);
    expect(toHex(cat(head, m.payload))).toBe(toHex(whole));
    expect(m.size(1, 2, true, [300])).toBe(whole.length);
    expect(m.size(0, 0, true, undefined)).toBe(m.qos0(false).length);
  });

  it('QoS 0 with a Topic Alias: receivers holding the same alias share one packet; another alias, topic or RETAIN is a packet of its own', () => {
    const m = message();
    const a = m.withIdAndExtras(0, 0, false, false, 5, false, undefined);
    // The same bytes object for the next receiver with alias 5 (no copy per receiver)...
    expect(m.withIdAndExtras(0, 0, false, false, 5, false, [])).toBe(a);
    // ...and those bytes are the alias-only packet.
    expect(toHex(a)).toBe(toHex(hex(`30 16 00 00 0e 23 00 05 ${shared.slice(3)} ${payload}`)));
    const other = m.withIdAndExtras(0, 0, false, false, 6, false, undefined);
    expect(toHex(other)).toBe(toHex(hex(`30 16 00 00 0e 23 00 06 ${shared.slice(3)} ${payload}`)));
    const withTopic = m.withIdAndExtras(0, 0, false, false, 6, true, undefined);
    expect(toHex(withTopic)).toBe(toHex(hex(`30 19 00 03 61 2f 62 0e 23 00 06 ${shared.slice(3)} ${payload}`)));
    const retained = m.withIdAndExtras(0, 0, false, true, 6, true, undefined);
    expect(retained[0]).toBe(0x31);
    expect(m.withIdAndExtras(0, 0, false, true, 6, true, undefined)).toBe(retained);
    // Subscription Identifiers are per receiver: never the shared packet; QoS 1 always a fresh copy.
    expect(m.withIdAndExtras(0, 0, false, true, 6, true, [3])).not.toBe(retained);
    expect(m.withIdAndExtras(1, 1, false, false, 5, false, undefined)).not.toBe(m.withIdAndExtras(1, 1, false, false, 5, false, undefined));
    // A bad alias is refused even right after a valid one was cached.
    expect(() => m.withIdAndExtras(0, 0, false, true, 6.5, true, undefined)).toThrow(RangeError);
  });

  it('a large payload: Remaining Length grows to 3 bytes and the template offset follows', () => {
    const m = new EncodedPublishV5('t', Buffer.alloc(20000, 1));
    const out = m.withId(1, 0xabcd, false, false);
    const parser = v5Parser();
    parser.push(out);
    expect(parser.next()).toMatchObject({ topic: 't', qos: 1, packetId: 0xabcd, properties: undefined });
    expect(out.length).toBe(m.size(1, 0, true, undefined));
  });

  it('refuses per-receiver properties in the message, alias 0 with sendTopic false is the plain topic, bad ids', () => {
    expect(() => new EncodedPublishV5('t', Buffer.alloc(0), { topicAlias: 1 })).toThrow(RangeError);
    expect(() => new EncodedPublishV5('t', Buffer.alloc(0), { subscriptionIdentifiers: [1] })).toThrow(RangeError);
    const m = message();
    expect(() => m.withIdAndExtras(1, 0, false, false, 1, true, undefined)).toThrow(RangeError);
    expect(() => m.withIdAndExtras(0, 0, false, false, 70000, true, undefined)).toThrow(RangeError);
    expect(() => m.withIdAndExtras(0, 0, false, false, 0, true, [0])).toThrow(RangeError);
    expect(toHex(m.withIdAndExtras(0, 0, false, false, 0, false, undefined))).toBe(toHex(m.qos0(false)));
  });

  it('the 3.1.1 EncodedPublish is unchanged', () => {
    expect(toHex(new EncodedPublish('a', Buffer.from('x'), false).withId(1, 1, false))).toBe('32 06 00 01 61 00 01 78');
  });
});
