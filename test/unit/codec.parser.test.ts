/**
 * Parser tables: valid packets as hand-written bytes with the expected decoded object, malformed
 * packets with the expected ProtocolError rule. Bytes never come from our encoder (STYLE 9).
 */
import fc from 'fast-check';
import { PacketParser } from '../../src/core/protocol/parser';
import { PacketTooLargeError, ProtocolError } from '../../src/core/protocol/errors';
import { Packet, PacketType } from '../../src/core/protocol/packets';
import { connectHeader, field, frame, hex, u16 } from '../helpers/raw';

const b = (s: string) => Buffer.from(s, 'utf8');
const realConcat = Buffer.concat.bind(Buffer);

interface ValidCase {
  name: string;
  bytes: Buffer;
  packet: Packet;
}

interface InvalidCase {
  name: string;
  bytes: Buffer;
  /** Expected checklist id; null when the rule is unnumbered (no id on the error). */
  error: string | null;
}

const connectDefaults = {
  type: PacketType.CONNECT,
  cleanSession: true,
  keepalive: 0,
  clientId: '',
  will: null,
  username: null,
  password: null,
} as const;

const valid: ValidCase[] = [
  {
    name: '[MQTT-3.1.3-3] CONNECT minimal, empty client id, clean session, keepalive 60',
    bytes: hex('10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00'),
    packet: { ...connectDefaults, protocolName: 'MQTT', protocolLevel: 4, keepalive: 60 },
  },
  {
    name: '[MQTT-3.1.3-1] CONNECT with client id, Will (QoS 1, retain), user name and password in order',
    bytes: frame(
      0x10,
      connectHeader(0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x00, 0x1234),
      field('client-1'),
      field('will/topic'),
      field(hex('00 ff 01')),
      field('user'),
      field(hex('de ad be ef')),
    ),
    packet: {
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolLevel: 4,
      cleanSession: false,
      keepalive: 0x1234,
      clientId: 'client-1',
      will: { topic: 'will/topic', payload: hex('00 ff 01'), qos: 1, retain: true },
      username: 'user',
      password: hex('de ad be ef'),
    },
  },
  {
    name: '[MQTT-3.1.2-14] CONNECT Will QoS 2 without retain, empty Will Message',
    bytes: frame(0x10, connectHeader(0x10 | 0x04 | 0x02, 0), field('c'), field('w'), field('')),
    packet: {
      ...connectDefaults,
      protocolName: 'MQTT',
      protocolLevel: 4,
      clientId: 'c',
      will: { topic: 'w', payload: Buffer.alloc(0), qos: 2, retain: false },
    },
  },
  {
    name: '[MQTT-3.1.2-19] CONNECT with user name only (empty user name)',
    bytes: frame(0x10, connectHeader(0x80 | 0x02, 10), field('c'), field('')),
    packet: { ...connectDefaults, protocolName: 'MQTT', protocolLevel: 4, keepalive: 10, clientId: 'c', username: '' },
  },
  {
    name: '[MQTT-3.1.2-1] CONNECT "MQIsdp" level 3 is parsed as MQTT 3.1',
    bytes: hex('10 0f 00 06 4d 51 49 73 64 70 03 02 00 0a 00 01 61'),
    packet: { ...connectDefaults, protocolName: 'MQIsdp', protocolLevel: 3, keepalive: 10, clientId: 'a' },
  },
  {
    name: '[MQTT-3.1.2-2] CONNECT "MQTT" level 3 (wrong level for the name) returns defaults',
    bytes: hex('10 0a 00 04 4d 51 54 54 03 ff ff ff'),
    packet: { ...connectDefaults, protocolName: 'MQTT', protocolLevel: 3 },
  },
  {
    name: '[MQTT-3.1.2-2] CONNECT "MQIsdp" level 4 returns defaults; nothing after the level is read',
    bytes: hex('10 09 00 06 4d 51 49 73 64 70 04'),
    packet: { ...connectDefaults, protocolName: 'MQIsdp', protocolLevel: 4 },
  },
  {
    name: '[MQTT-1.5.3-3] CONNECT client id keeps a leading U+FEFF',
    bytes: frame(0x10, connectHeader(0x02, 0), field(hex('ef bb bf 61'))),
    packet: { ...connectDefaults, protocolName: 'MQTT', protocolLevel: 4, clientId: '\uFEFFa' },
  },
  {
    name: '[MQTT-3.1.3-7] CONNECT empty client id with clean session 0 is not a parser error (broker decides)',
    bytes: frame(0x10, connectHeader(0x00, 0), field('')),
    packet: { ...connectDefaults, protocolName: 'MQTT', protocolLevel: 4, cleanSession: false },
  },
  {
    name: '[MQTT-1.5.3-1] CONNECT client id with 2-, 3- and 4-byte UTF-8 sequences',
    bytes: frame(0x10, connectHeader(0x02, 0), field(hex('c3 a9 e2 82 ac f0 9f 98 80'))),
    packet: { ...connectDefaults, protocolName: 'MQTT', protocolLevel: 4, clientId: 'é€😀' },
  },
  { name: 'CONNACK accepted', bytes: hex('20 02 00 00'), packet: { type: PacketType.CONNACK, sessionPresent: false, returnCode: 0 } },
  { name: '[MQTT-3.2.2-2] CONNACK session present', bytes: hex('20 02 01 00'), packet: { type: PacketType.CONNACK, sessionPresent: true, returnCode: 0 } },
  { name: '[MQTT-3.2.2-4] CONNACK refused 0x05, session present 0', bytes: hex('20 02 00 05'), packet: { type: PacketType.CONNACK, sessionPresent: false, returnCode: 5 } },
  {
    name: '[MQTT-2.3.1-5] PUBLISH QoS 0 has no packet id: payload follows the topic',
    bytes: hex('30 0a 00 03 61 2f 62 68 65 6c 6c 6f'),
    packet: { type: PacketType.PUBLISH, topic: 'a/b', payload: b('hello'), qos: 0, retain: false, dup: false, packetId: 0 },
  },
  {
    name: 'PUBLISH QoS 0 retained, empty payload',
    bytes: hex('31 03 00 01 74'),
    packet: { type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false, packetId: 0 },
  },
  {
    name: 'PUBLISH QoS 1, DUP, retain, packet id 0x1234',
    bytes: hex('3b 07 00 01 74 12 34 ff 00'),
    packet: { type: PacketType.PUBLISH, topic: 't', payload: hex('ff 00'), qos: 1, retain: true, dup: true, packetId: 0x1234 },
  },
  {
    name: 'PUBLISH QoS 2, packet id 65535, empty payload',
    bytes: hex('34 05 00 01 74 ff ff'),
    packet: { type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(0), qos: 2, retain: false, dup: false, packetId: 0xffff },
  },
  {
    name: '[MQTT-1.5.3-3] PUBLISH multi-byte topic, U+FEFF kept',
    bytes: hex('30 0c 00 09 ef bb bf c3 a9 2f e2 82 ac 78'),
    packet: { type: PacketType.PUBLISH, topic: '\uFEFFé/€', payload: b('x'), qos: 0, retain: false, dup: false, packetId: 0 },
  },
  {
    name: '[unnumbered §1.5.3] PUBLISH topic with control characters and "$" is accepted (policy: accept)',
    bytes: hex('30 06 00 04 24 01 7f 09'),
    packet: { type: PacketType.PUBLISH, topic: '$\u0001\u007f\t', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, packetId: 0 },
  },
  {
    name: 'PUBLISH with a 2-byte Remaining Length (200-byte payload)',
    bytes: Buffer.concat([hex('30 cb 01 00 01 74'), Buffer.alloc(200, 0x55)]),
    packet: { type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(200, 0x55), qos: 0, retain: false, dup: false, packetId: 0 },
  },
  {
    name: '[unnumbered §2.2.3] non-minimal Remaining Length encoding is accepted (3.1.1 does not forbid it)',
    bytes: hex('c0 80 00'),
    packet: { type: PacketType.PINGREQ },
  },
  { name: '[MQTT-2.3.1-6] PUBACK', bytes: hex('40 02 00 01'), packet: { type: PacketType.PUBACK, packetId: 1 } },
  { name: '[MQTT-2.3.1-6] PUBREC', bytes: hex('50 02 ff ff'), packet: { type: PacketType.PUBREC, packetId: 0xffff } },
  { name: '[MQTT-3.6.1-1] PUBREL flags 0010', bytes: hex('62 02 12 34'), packet: { type: PacketType.PUBREL, packetId: 0x1234 } },
  { name: 'PUBCOMP', bytes: hex('70 02 00 07'), packet: { type: PacketType.PUBCOMP, packetId: 7 } },
  {
    name: '[MQTT-3.8.1-1] SUBSCRIBE one filter QoS 2',
    bytes: hex('82 08 00 01 00 03 61 2f 23 02'),
    packet: { type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'a/#', qos: 2 }] },
  },
  {
    name: '[MQTT-3.8.4-4] SUBSCRIBE several filters, in order',
    bytes: hex('82 12 be ef 00 03 61 2f 23 02 00 01 2b 00 00 03 78 2f 79 01'),
    packet: {
      type: PacketType.SUBSCRIBE,
      packetId: 0xbeef,
      subscriptions: [{ topic: 'a/#', qos: 2 }, { topic: '+', qos: 0 }, { topic: 'x/y', qos: 1 }],
    },
  },
  {
    name: '[MQTT-4.7.1-2] SUBSCRIBE ill-formed filter "a/#/b" is decoded (the broker answers 0x80)',
    bytes: hex('82 0a 00 05 00 05 61 2f 23 2f 62 00'),
    packet: { type: PacketType.SUBSCRIBE, packetId: 5, subscriptions: [{ topic: 'a/#/b', qos: 0 }] },
  },
  {
    name: '[MQTT-3.9.3-2] SUBACK codes 0, 1, 2, 0x80',
    bytes: hex('90 06 00 01 00 01 02 80'),
    packet: { type: PacketType.SUBACK, packetId: 1, granted: [0, 1, 2, 0x80] },
  },
  {
    name: '[MQTT-3.10.1-1] UNSUBSCRIBE two filters',
    bytes: hex('a2 0a 00 02 00 01 61 00 03 61 2f 2b'),
    packet: { type: PacketType.UNSUBSCRIBE, packetId: 2, topics: ['a', 'a/+'] },
  },
  { name: 'UNSUBACK', bytes: hex('b0 02 00 02'), packet: { type: PacketType.UNSUBACK, packetId: 2 } },
  { name: 'PINGREQ', bytes: hex('c0 00'), packet: { type: PacketType.PINGREQ } },
  { name: 'PINGRESP', bytes: hex('d0 00'), packet: { type: PacketType.PINGRESP } },
  { name: 'DISCONNECT', bytes: hex('e0 00'), packet: { type: PacketType.DISCONNECT } },
];

const C = (flags: number, ...fields: Buffer[]) => frame(0x10, connectHeader(flags), ...fields);

const invalid: InvalidCase[] = [
  // --- fixed header ---
  { name: '[unnumbered §2.2.1] packet type 0', bytes: hex('00 00'), error: null },
  { name: '[unnumbered §2.2.1] packet type 15', bytes: hex('f0 00'), error: null },
  { name: '[MQTT-2.2.2-2] PINGREQ flags 0001', bytes: hex('c1 00'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] PUBACK flags 0001', bytes: hex('41 02 00 01'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] PUBREC flags 0010', bytes: hex('52 02 00 01'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] PUBCOMP flags 1000', bytes: hex('78 02 00 01'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] CONNECT flags 0001', bytes: hex('11 0c 00 04 4d 51 54 54 04 02 00 3c 00 00'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] CONNACK flags 0100', bytes: hex('24 02 00 00'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] SUBACK flags 0010', bytes: hex('92 03 00 01 00'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] UNSUBACK flags 0010', bytes: hex('b2 02 00 01'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-2.2.2-2] PINGRESP flags 1111', bytes: hex('df 00'), error: 'MQTT-2.2.2-2' },
  { name: '[MQTT-3.6.1-1] PUBREL flags 0000', bytes: hex('60 02 00 01'), error: 'MQTT-3.6.1-1' },
  { name: '[MQTT-3.6.1-1] PUBREL flags 0011', bytes: hex('63 02 00 01'), error: 'MQTT-3.6.1-1' },
  { name: '[MQTT-3.8.1-1] SUBSCRIBE flags 0000', bytes: hex('80 06 00 01 00 01 61 00'), error: 'MQTT-3.8.1-1' },
  { name: '[MQTT-3.10.1-1] UNSUBSCRIBE flags 0000', bytes: hex('a0 05 00 01 00 01 61'), error: 'MQTT-3.10.1-1' },
  { name: '[MQTT-3.14.1-1] DISCONNECT flags 0001', bytes: hex('e1 00'), error: 'MQTT-3.14.1-1' },
  { name: '[MQTT-3.3.1-4] PUBLISH QoS 3', bytes: hex('36 05 00 01 74 00 01'), error: 'MQTT-3.3.1-4' },
  { name: '[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP', bytes: hex('38 03 00 01 74'), error: 'MQTT-3.3.1-2' },
  { name: '[unnumbered §2.2.3] Remaining Length of 5 bytes', bytes: hex('30 ff ff ff ff 01'), error: null },
  { name: '[unnumbered §2.2.3] Remaining Length of 5 bytes (zeros)', bytes: hex('c0 80 80 80 80 00'), error: null },
  // --- exact Remaining Length of fixed-size packets ---
  { name: '[unnumbered §3.4.1] PUBACK Remaining Length 3', bytes: hex('40 03 00 01 00'), error: null },
  { name: 'PUBACK Remaining Length 1 (truncated id)', bytes: hex('40 01 00'), error: null },
  { name: 'PUBREC Remaining Length 0', bytes: hex('50 00'), error: null },
  { name: 'PUBREL Remaining Length 3', bytes: hex('62 03 00 01 00'), error: null },
  { name: 'PUBCOMP Remaining Length 4', bytes: hex('70 04 00 01 00 02'), error: null },
  { name: '[unnumbered §3.11.1] UNSUBACK Remaining Length 3', bytes: hex('b0 03 00 01 00'), error: null },
  { name: '[unnumbered §3.2.2.1] CONNACK Remaining Length 3', bytes: hex('20 03 00 00 00'), error: null },
  { name: 'PINGREQ Remaining Length 1', bytes: hex('c0 01 00'), error: null },
  { name: 'PINGRESP Remaining Length 1', bytes: hex('d0 01 00'), error: null },
  { name: 'DISCONNECT Remaining Length 1', bytes: hex('e0 01 00'), error: null },
  // --- packet id 0 ---
  { name: '[MQTT-2.3.1-1] PUBACK packet id 0', bytes: hex('40 02 00 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] PUBREC packet id 0', bytes: hex('50 02 00 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] PUBREL packet id 0', bytes: hex('62 02 00 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] PUBCOMP packet id 0', bytes: hex('70 02 00 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] UNSUBACK packet id 0', bytes: hex('b0 02 00 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] PUBLISH QoS 1 packet id 0', bytes: hex('32 05 00 01 74 00 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] PUBLISH QoS 2 packet id 0', bytes: hex('34 06 00 01 74 00 00 aa'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] SUBSCRIBE packet id 0', bytes: hex('82 06 00 00 00 01 61 00'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] UNSUBSCRIBE packet id 0', bytes: hex('a2 05 00 00 00 01 61'), error: 'MQTT-2.3.1-1' },
  { name: '[MQTT-2.3.1-1] SUBACK packet id 0', bytes: hex('90 03 00 00 00'), error: 'MQTT-2.3.1-1' },
  // --- PUBLISH ---
  { name: '[MQTT-4.7.3-1] PUBLISH empty topic', bytes: hex('30 02 00 00'), error: 'MQTT-4.7.3-1' },
  { name: '[MQTT-3.3.2-2] PUBLISH topic "+"', bytes: hex('30 03 00 01 2b'), error: 'MQTT-3.3.2-2' },
  { name: '[MQTT-3.3.2-2] PUBLISH topic "a/#"', bytes: hex('30 05 00 03 61 2f 23'), error: 'MQTT-3.3.2-2' },
  { name: '[MQTT-3.3.2-2] PUBLISH topic "é/+" (wildcard after non-ASCII)', bytes: hex('30 06 00 04 c3 a9 2f 2b'), error: 'MQTT-3.3.2-2' },
  { name: '[MQTT-1.5.3-1] PUBLISH topic C3 28 (bad continuation)', bytes: hex('30 04 00 02 c3 28'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-1] PUBLISH topic ED A0 80 (encoded surrogate)', bytes: hex('30 05 00 03 ed a0 80'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-1] PUBLISH topic C0 AF (overlong)', bytes: hex('30 04 00 02 c0 af'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-1] PUBLISH topic F4 90 80 80 (above U+10FFFF)', bytes: hex('30 06 00 04 f4 90 80 80'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-1] PUBLISH topic ending in a cut sequence E2 82', bytes: hex('30 05 00 03 61 e2 82'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-2] PUBLISH topic "t\\0"', bytes: hex('30 04 00 02 74 00'), error: 'MQTT-1.5.3-2' },
  { name: '[MQTT-1.5.3-2] PUBLISH topic "é\\0" (NUL after non-ASCII)', bytes: hex('30 05 00 03 c3 a9 00'), error: 'MQTT-1.5.3-2' },
  { name: '[MQTT-3.3.2-1] PUBLISH topic length past the end', bytes: hex('30 03 00 05 61'), error: 'MQTT-3.3.2-1' },
  { name: '[MQTT-3.3.2-1] PUBLISH with one body byte', bytes: hex('30 01 00'), error: 'MQTT-3.3.2-1' },
  { name: '[MQTT-3.3.2-1] PUBLISH with an empty body', bytes: hex('30 00'), error: 'MQTT-3.3.2-1' },
  { name: 'PUBLISH QoS 1 without packet id', bytes: hex('32 03 00 01 74'), error: null },
  { name: 'PUBLISH QoS 1 with half a packet id', bytes: hex('32 04 00 01 74 00'), error: null },
  // --- SUBSCRIBE / SUBACK / UNSUBSCRIBE ---
  { name: '[MQTT-3.8.3-3] SUBSCRIBE with only a packet id', bytes: hex('82 02 00 01'), error: 'MQTT-3.8.3-3' },
  { name: 'SUBSCRIBE with an empty body', bytes: hex('82 00'), error: null },
  { name: '[MQTT-3.8.3-4] SUBSCRIBE requested QoS 3', bytes: hex('82 06 00 01 00 01 61 03'), error: 'MQTT-3.8.3-4' },
  { name: '[MQTT-3.8.3-4] SUBSCRIBE requested-QoS byte 0x41', bytes: hex('82 06 00 01 00 01 61 41'), error: 'MQTT-3.8.3-4' },
  { name: '[MQTT-3.8.3-4] SUBSCRIBE requested-QoS byte 0x04', bytes: hex('82 06 00 01 00 01 61 04'), error: 'MQTT-3.8.3-4' },
  { name: '[MQTT-3.8.3-4] SUBSCRIBE requested-QoS byte 0x80', bytes: hex('82 06 00 01 00 01 61 80'), error: 'MQTT-3.8.3-4' },
  { name: '[MQTT-3.8.3-4] SUBSCRIBE filter without its QoS byte', bytes: hex('82 05 00 01 00 01 61'), error: 'MQTT-3.8.3-4' },
  { name: '[MQTT-3.8.3-4] SUBSCRIBE second filter without its QoS byte', bytes: hex('82 09 00 01 00 01 61 00 00 01 62'), error: 'MQTT-3.8.3-4' },
  { name: '[MQTT-4.7.3-1] SUBSCRIBE empty filter', bytes: hex('82 05 00 01 00 00 00'), error: 'MQTT-4.7.3-1' },
  { name: '[MQTT-3.8.3-1] SUBSCRIBE filter length past the end', bytes: hex('82 06 00 01 00 09 61 00'), error: 'MQTT-3.8.3-1' },
  { name: '[MQTT-3.8.3-1] SUBSCRIBE trailing single byte', bytes: hex('82 07 00 01 00 01 61 00 00'), error: 'MQTT-3.8.3-1' },
  { name: '[MQTT-1.5.3-1] SUBSCRIBE filter FF FE', bytes: hex('82 07 00 01 00 02 ff fe 00'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-2] SUBSCRIBE filter "a\\0b"', bytes: hex('82 08 00 01 00 03 61 00 62 00'), error: 'MQTT-1.5.3-2' },
  { name: '[MQTT-3.10.3-2] UNSUBSCRIBE with only a packet id', bytes: hex('a2 02 00 01'), error: 'MQTT-3.10.3-2' },
  { name: '[MQTT-4.7.3-1] UNSUBSCRIBE empty filter', bytes: hex('a2 04 00 01 00 00'), error: 'MQTT-4.7.3-1' },
  { name: '[MQTT-3.10.3-1] UNSUBSCRIBE filter length past the end', bytes: hex('a2 05 00 01 00 05 61'), error: 'MQTT-3.10.3-1' },
  { name: '[MQTT-3.10.3-1] UNSUBSCRIBE trailing single byte', bytes: hex('a2 06 00 01 00 01 61 00'), error: 'MQTT-3.10.3-1' },
  { name: '[MQTT-1.5.3-1] UNSUBSCRIBE filter ED B0 80 (lone low surrogate)', bytes: hex('a2 07 00 01 00 03 ed b0 80'), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-3.9.3-2] SUBACK return code 3', bytes: hex('90 03 00 01 03'), error: 'MQTT-3.9.3-2' },
  { name: '[MQTT-3.9.3-2] SUBACK return code 0x81', bytes: hex('90 04 00 01 00 81'), error: 'MQTT-3.9.3-2' },
  { name: 'SUBACK without return codes', bytes: hex('90 02 00 01'), error: null },
  // --- CONNACK ---
  { name: '[unnumbered §3.2.2.1] CONNACK reserved acknowledge flag bits', bytes: hex('20 02 02 00'), error: null },
  { name: '[unnumbered §3.2.2.3] CONNACK reserved return code 6', bytes: hex('20 02 00 06'), error: null },
  { name: '[MQTT-3.2.2-4] CONNACK refusal with Session Present', bytes: hex('20 02 01 04'), error: 'MQTT-3.2.2-4' },
  // --- CONNECT ---
  { name: '[MQTT-3.1.2-1] CONNECT protocol name "MQTX"', bytes: hex('10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00'), error: 'MQTT-3.1.2-1' },
  { name: '[MQTT-3.1.2-1] CONNECT protocol name "mqtt"', bytes: hex('10 0c 00 04 6d 71 74 74 04 02 00 3c 00 00'), error: 'MQTT-3.1.2-1' },
  { name: '[MQTT-3.1.2-1] CONNECT protocol name with invalid UTF-8', bytes: hex('10 0c 00 04 ff 51 54 54 04 02 00 3c 00 00'), error: 'MQTT-3.1.2-1' },
  { name: '[MQTT-3.1.2-1] CONNECT protocol name cut', bytes: hex('10 04 00 04 4d 51'), error: 'MQTT-3.1.2-1' },
  { name: '[MQTT-3.1.2-1] CONNECT without protocol level', bytes: hex('10 06 00 04 4d 51 54 54'), error: 'MQTT-3.1.2-1' },
  { name: '[MQTT-3.1.2-1] CONNECT with an empty body', bytes: hex('10 00'), error: 'MQTT-3.1.2-1' },
  { name: 'CONNECT without connect flags', bytes: hex('10 07 00 04 4d 51 54 54 04'), error: null },
  { name: 'CONNECT without keep alive', bytes: hex('10 08 00 04 4d 51 54 54 04 02'), error: null },
  { name: 'CONNECT with half a keep alive', bytes: hex('10 09 00 04 4d 51 54 54 04 02 00'), error: null },
  { name: '[MQTT-3.1.2-3] CONNECT reserved flag set (flags 0x03)', bytes: C(0x03, field('c')), error: 'MQTT-3.1.2-3' },
  { name: '[MQTT-3.1.2-11][MQTT-3.1.2-13] CONNECT Will QoS 1 without Will flag (0x08)', bytes: C(0x08 | 0x02, field('c')), error: 'MQTT-3.1.2-13' },
  { name: '[MQTT-3.1.2-11][MQTT-3.1.2-13] CONNECT Will QoS 2 without Will flag (0x10)', bytes: C(0x10, field('c')), error: 'MQTT-3.1.2-13' },
  { name: '[MQTT-3.1.2-11][MQTT-3.1.2-15] CONNECT Will Retain without Will flag (0x20)', bytes: C(0x20, field('c')), error: 'MQTT-3.1.2-15' },
  { name: '[MQTT-3.1.2-14] CONNECT Will QoS 3 (0x1C)', bytes: C(0x1c, field('c'), field('w'), field('m')), error: 'MQTT-3.1.2-14' },
  { name: '[MQTT-3.1.2-22] CONNECT password flag without user name flag (0x42)', bytes: C(0x42, field('c'), field('p')), error: 'MQTT-3.1.2-22' },
  { name: '[MQTT-3.1.3-3] CONNECT without client id (payload empty)', bytes: C(0x02), error: 'MQTT-3.1.3-3' },
  { name: '[MQTT-3.1.3-3] CONNECT with half a client id length', bytes: C(0x02, hex('00')), error: 'MQTT-3.1.3-3' },
  { name: '[MQTT-3.1.3-3] CONNECT client id length past the end', bytes: C(0x02, hex('00 05 61 62')), error: 'MQTT-3.1.3-3' },
  { name: '[MQTT-3.1.3-4][MQTT-1.5.3-1] CONNECT client id FF FE', bytes: C(0x02, field(hex('ff fe'))), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-2] CONNECT client id "a\\0b"', bytes: C(0x02, field(hex('61 00 62'))), error: 'MQTT-1.5.3-2' },
  { name: '[MQTT-3.1.2-9] CONNECT Will flag, payload ends after client id', bytes: C(0x06, field('c')), error: 'MQTT-3.1.2-9' },
  { name: '[MQTT-3.1.2-9] CONNECT Will flag, Will Message missing', bytes: C(0x06, field('c'), field('w')), error: 'MQTT-3.1.2-9' },
  { name: '[MQTT-3.1.2-9] CONNECT Will Message length past the end', bytes: C(0x06, field('c'), field('w'), hex('00 09 01')), error: 'MQTT-3.1.2-9' },
  { name: '[MQTT-4.7.1-1] CONNECT Will Topic "x/+"', bytes: C(0x06, field('c'), field('x/+'), field('m')), error: 'MQTT-4.7.1-1' },
  { name: '[MQTT-4.7.1-1] CONNECT Will Topic "#"', bytes: C(0x06, field('c'), field('#'), field('m')), error: 'MQTT-4.7.1-1' },
  { name: '[MQTT-4.7.3-1] CONNECT empty Will Topic', bytes: C(0x06, field('c'), field(''), field('m')), error: 'MQTT-4.7.3-1' },
  { name: '[MQTT-3.1.3-10][MQTT-1.5.3-1] CONNECT Will Topic with invalid UTF-8', bytes: C(0x06, field('c'), field(hex('c3')), field('m')), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-3.1.2-19] CONNECT user name flag, field missing', bytes: C(0x82, field('c')), error: 'MQTT-3.1.2-19' },
  { name: '[MQTT-3.1.2-19] CONNECT user name length past the end', bytes: C(0x82, field('c'), hex('00 04 75')), error: 'MQTT-3.1.2-19' },
  { name: '[MQTT-3.1.3-11][MQTT-1.5.3-1] CONNECT user name with invalid UTF-8', bytes: C(0x82, field('c'), field(hex('80'))), error: 'MQTT-1.5.3-1' },
  { name: '[MQTT-1.5.3-2] CONNECT user name with U+0000', bytes: C(0x82, field('c'), field(hex('00'))), error: 'MQTT-1.5.3-2' },
  { name: '[MQTT-3.1.2-21] CONNECT password flag, field missing', bytes: C(0xc2, field('c'), field('u')), error: 'MQTT-3.1.2-21' },
  { name: '[MQTT-3.1.2-21] CONNECT password length past the end', bytes: C(0xc2, field('c'), field('u'), hex('00 02 70')), error: 'MQTT-3.1.2-21' },
  { name: '[MQTT-3.1.2-18] CONNECT user name present without its flag', bytes: C(0x02, field('c'), field('u')), error: 'MQTT-3.1.2-18' },
  { name: '[MQTT-3.1.2-18] CONNECT one trailing byte', bytes: C(0x02, field('c'), hex('00')), error: 'MQTT-3.1.2-18' },
  { name: '[MQTT-3.1.2-20] CONNECT password present without its flag', bytes: C(0x82, field('c'), field('u'), field('p')), error: 'MQTT-3.1.2-20' },
  { name: '[MQTT-3.1.3-1] CONNECT bytes after the password', bytes: C(0xc2, field('c'), field('u'), field('p'), hex('00')), error: 'MQTT-3.1.3-1' },
];

/** Parses a byte stream fed in the given chunks; returns the packets and the error, if any. */
function parseChunks(chunks: Buffer[], parser = new PacketParser()): { packets: Packet[]; error: unknown } {
  const packets: Packet[] = [];
  try {
    for (const chunk of chunks) {
      parser.push(chunk);
      let p: Packet | null;
      while ((p = parser.next()) !== null) packets.push(p);
    }
  } catch (error) {
    return { packets, error };
  }
  return { packets, error: null };
}

function parseOne(bytes: Buffer): Packet {
  const parser = new PacketParser();
  parser.push(bytes);
  const packet = parser.next();
  expect(packet).not.toBeNull();
  expect(parser.bufferedBytes).toBe(0);
  return packet as Packet;
}

function expectProtocolError(fn: () => unknown, rule: string | null): ProtocolError {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  const err = caught as ProtocolError;
  expect(err.rule).toBe(rule === null ? undefined : rule);
  return err;
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  chunks.push(bytes.subarray(prev));
  return chunks;
}

describe('PacketParser: valid packets', () => {
  it.each(valid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(parseOne(c.bytes)).toEqual(c.packet);
  });

  it('[MQTT-3.1.2-2] a CONNECT sets protocolLevel only when the level is supported (3, 4, or 5: codec.v5.test.ts)', () => {
    const parser = new PacketParser();
    expect(parser.protocolLevel).toBe(4);
    parser.push(hex('10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00')); // level 6: unsupported
    expect(parser.next()).toMatchObject({ protocolLevel: 6 });
    expect(parser.protocolLevel).toBe(4);
    parser.push(hex('10 0f 00 06 4d 51 49 73 64 70 03 02 00 0a 00 01 61')); // MQIsdp 3
    expect(parser.next()).toMatchObject({ protocolLevel: 3 });
    expect(parser.protocolLevel).toBe(3);
    parser.reset();
    expect(parser.protocolLevel).toBe(4);
  });

  it('PUBLISH payload is a zero-copy view of the received chunk', () => {
    const chunk = hex('30 0a 00 03 61 2f 62 68 65 6c 6c 6f 32 07 00 01 74 00 01 aa bb');
    const parser = new PacketParser();
    parser.push(chunk);
    const first = parser.next() as { payload: Buffer };
    const second = parser.next() as { payload: Buffer };
    expect(first.payload.buffer).toBe(chunk.buffer);
    expect(first.payload.byteOffset).toBe(chunk.byteOffset + 7);
    expect(second.payload.buffer).toBe(chunk.buffer);
    expect(second.payload).toEqual(hex('aa bb'));
  });

  it('[MQTT-3.1.2-8] Will Message and password are copies: they do not pin the receive chunk', () => {
    const chunk = C(0xc6, field('c'), field('w'), field('m'), field('u'), field('p'));
    const parser = new PacketParser();
    parser.push(chunk);
    const connect = parser.next() as { will: { payload: Buffer }; password: Buffer };
    chunk.fill(0);
    expect(connect.will.payload).toEqual(b('m'));
    expect(connect.password).toEqual(b('p'));
  });

  it('[MQTT-4.7.3-3] 65535-byte topic is accepted', () => {
    const topic = 'a'.repeat(65535);
    const packet = parseOne(frame(0x30, field(topic), b('x')));
    expect(packet).toMatchObject({ topic, payload: b('x') });
  });
});

describe('PacketParser: malformed packets', () => {
  it.each(invalid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const parser = new PacketParser();
    parser.push(c.bytes);
    expectProtocolError(() => parser.next(), c.error);
  });

  it.each(invalid.map((c) => [c.name, c] as const))('one byte at a time: %s', (_name, c) => {
    const { error } = parseChunks([...c.bytes].map((x) => Buffer.from([x])));
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).rule).toBe(c.error === null ? undefined : c.error);
  });

  it('[MQTT-3.1.2-3] error messages carry the rule id; the parser is dead after a throw', () => {
    const parser = new PacketParser();
    parser.push(Buffer.concat([C(0x03, field('c')), hex('c0 00')]));
    const err = expectProtocolError(() => parser.next(), 'MQTT-3.1.2-3');
    expect(err.message).toContain('[MQTT-3.1.2-3]');
    expect(() => parser.next()).toThrow(err);
    parser.push(hex('c0 00'));
    expect(() => parser.next()).toThrow(err);
    parser.reset();
    expect(parser.bufferedBytes).toBe(0);
    parser.push(hex('c0 00'));
    expect(parser.next()).toEqual({ type: PacketType.PINGREQ });
  });

  it('[unnumbered §2.2.3] a 4th Remaining Length byte with continuation throws before the 5th byte arrives', () => {
    const parser = new PacketParser();
    parser.push(hex('30 ff ff ff'));
    expect(parser.next()).toBeNull();
    parser.push(hex('ff'));
    expectProtocolError(() => parser.next(), null);
  });

  it('[MQTT-2.2.2-2] flags are refused as soon as the first byte arrives', () => {
    const parser = new PacketParser();
    parser.push(hex('c1'));
    expectProtocolError(() => parser.next(), 'MQTT-2.2.2-2');
  });

  it('a wrong fixed Remaining Length is refused before the body arrives', () => {
    const parser = new PacketParser();
    parser.push(hex('40 7f'));
    expectProtocolError(() => parser.next(), null);
  });
});

describe('PacketParser: streaming', () => {
  const stream = Buffer.concat(valid.map((c) => c.bytes));
  const expected = valid.map((c) => c.packet);

  it('the whole stream in one chunk yields every packet in order', () => {
    const { packets, error } = parseChunks([stream]);
    expect(error).toBeNull();
    expect(packets).toEqual(expected);
  });

  it('one byte at a time yields the same packets', () => {
    const parser = new PacketParser();
    const { packets, error } = parseChunks([...stream].map((x) => Buffer.from([x])), parser);
    expect(error).toBeNull();
    expect(packets).toEqual(expected);
    expect(parser.bufferedBytes).toBe(0);
  });

  it('random chunkings yield the same packets', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 60 }), (cuts) => {
        const { packets, error } = parseChunks(splitAt(stream, cuts));
        expect(error).toBeNull();
        expect(packets).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('all chunks pushed before draining yield the same packets', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 60 }), (cuts) => {
        const parser = new PacketParser();
        for (const chunk of splitAt(stream, cuts)) parser.push(chunk);
        expect(parser.bufferedBytes).toBe(stream.length);
        const packets: Packet[] = [];
        let p: Packet | null;
        while ((p = parser.next()) !== null) packets.push(p);
        expect(packets).toEqual(expected);
        expect(parser.bufferedBytes).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('[MQTT-3.1.4-5][MQTT-3.14.4-2] pull style: the caller can stop after any packet, the rest stays buffered', () => {
    const connect = hex('10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00');
    const publish = hex('30 0a 00 03 61 2f 62 68 65 6c 6c 6f');
    const parser = new PacketParser();
    parser.push(Buffer.concat([connect, publish, hex('e0')]));
    expect(parser.next()).toMatchObject({ type: PacketType.CONNECT });
    expect(parser.bufferedBytes).toBe(publish.length + 1);
    expect(parser.next()).toMatchObject({ type: PacketType.PUBLISH });
    expect(parser.next()).toBeNull();
    expect(parser.bufferedBytes).toBe(1);
    parser.push(hex('00'));
    expect(parser.next()).toEqual({ type: PacketType.DISCONNECT });
    expect(parser.next()).toBeNull();
  });

  it('empty chunks are ignored', () => {
    const { packets, error } = parseChunks([Buffer.alloc(0), hex('c0'), Buffer.alloc(0), hex('00'), Buffer.alloc(0)]);
    expect(error).toBeNull();
    expect(packets).toEqual([{ type: PacketType.PINGREQ }]);
  });

  it('a malformed packet after valid ones: the valid ones come out first, then the error, in any chunking', () => {
    const bad = hex('40 02 00 00'); // PUBACK id 0
    const bytes = Buffer.concat([stream, bad, hex('c0 00')]);
    fc.assert(
      fc.property(fc.array(fc.nat(bytes.length), { maxLength: 30 }), (cuts) => {
        const { packets, error } = parseChunks(splitAt(bytes, cuts));
        expect(packets).toEqual(expected);
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).rule).toBe('MQTT-2.3.1-1');
      }),
      { numRuns: 100 },
    );
  });
});

describe('PacketParser: size limits and large packets', () => {
  it('[Ambiguities 5] Remaining Length above maxPacketSize is refused before the body is buffered', () => {
    const parser = new PacketParser({ maxPacketSize: 100 });
    parser.push(hex('30 e8 07')); // Remaining Length 1000, no body yet
    let err: unknown;
    try {
      parser.next();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PacketTooLargeError);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ remainingLength: 1000, limit: 100 });
  });

  it('maxPacketSize check works when the header arrives byte by byte', () => {
    const parser = new PacketParser({ maxPacketSize: 16383 });
    parser.push(hex('30'));
    expect(parser.next()).toBeNull();
    parser.push(hex('80'));
    expect(parser.next()).toBeNull();
    parser.push(hex('80'));
    expect(parser.next()).toBeNull();
    parser.push(hex('01')); // 16384
    expect(() => parser.next()).toThrow(PacketTooLargeError);
  });

  it('a packet of exactly maxPacketSize is accepted', () => {
    const parser = new PacketParser({ maxPacketSize: 10 });
    parser.push(hex('30 0a 00 03 61 2f 62 68 65 6c 6c 6f'));
    expect(parser.next()).toMatchObject({ topic: 'a/b', payload: b('hello') });
  });

  it('the default limit is the wire maximum 268435455: a 4-byte length is checked, not rejected', () => {
    const parser = new PacketParser();
    parser.push(hex('30 ff ff ff 7f 00 01 74'));
    expect(parser.next()).toBeNull();
    expect(parser.bufferedBytes).toBe(8);
  });

  it('a big packet arriving in many chunks is concatenated once, when complete', () => {
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    const bytes = Buffer.concat([frame(0x32, field('big/topic'), u16(42), payload), hex('c0 00')]);
    const parser = new PacketParser();
    const concat = jest.spyOn(Buffer, 'concat');
    try {
      let packet: Packet | null = null;
      const size = 1000;
      for (let off = 0; off < bytes.length; off += size) {
        parser.push(bytes.subarray(off, off + size));
        packet = parser.next();
        if (packet !== null) break;
      }
      expect(concat).toHaveBeenCalledTimes(1);
      expect(packet).toMatchObject({ type: PacketType.PUBLISH, topic: 'big/topic', qos: 1, packetId: 42 });
      expect((packet as { payload: Buffer }).payload.equals(payload)).toBe(true);
      expect(parser.next()).toEqual({ type: PacketType.PINGREQ });
      expect(parser.bufferedBytes).toBe(0);
    } finally {
      concat.mockRestore();
    }
  });

  it('a big packet trickled in tiny chunks: each byte is copied at most twice (tiny chunks are merged as they queue)', () => {
    const payload = Buffer.alloc(200_000, 0x5a);
    const bytes = Buffer.concat([frame(0x30, field('t'), payload), hex('e0 00')]);
    const parser = new PacketParser();
    const concat = jest.spyOn(Buffer, 'concat');
    try {
      let copied = 0;
      concat.mockImplementation(((list: readonly Uint8Array[], total?: number) => {
        const out = realConcat(list, total);
        copied += out.length;
        return out;
      }) as typeof Buffer.concat);
      const packets: Packet[] = [];
      for (let off = 0; off < bytes.length; off += 3) {
        parser.push(bytes.subarray(off, off + 3));
        let p: Packet | null;
        while ((p = parser.next()) !== null) packets.push(p);
      }
      expect(packets).toHaveLength(2);
      expect(packets[0]).toMatchObject({ type: PacketType.PUBLISH, topic: 't' });
      expect((packets[0] as { payload: Buffer }).payload.equals(payload)).toBe(true);
      expect(packets[1]).toEqual({ type: PacketType.DISCONNECT });
      expect(concat.mock.calls.length).toBeGreaterThan(1); // runs of tiny chunks were merged
      expect(copied).toBeLessThanOrEqual(2 * bytes.length);
    } finally {
      concat.mockRestore();
    }
  });

  it('many tiny chunks pushed before draining (merged while queued) yield the same packets', () => {
    const stream = Buffer.concat([...valid, ...valid, ...valid].map((c) => c.bytes));
    const expected = [...valid, ...valid, ...valid].map((c) => c.packet);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 50 }), (sizes) => {
        const parser = new PacketParser();
        for (let off = 0, i = 0; off < stream.length; off += sizes[i++ % sizes.length]) {
          parser.push(stream.subarray(off, off + sizes[i % sizes.length]));
        }
        expect(parser.bufferedBytes).toBe(stream.length);
        const packets: Packet[] = [];
        let p: Packet | null;
        while ((p = parser.next()) !== null) packets.push(p);
        expect(packets).toEqual(expected);
        expect(parser.bufferedBytes).toBe(0);
      }),
      { numRuns: 30 },
    );
  });

  it('rejects an invalid maxPacketSize option', () => {
    expect(() => new PacketParser({ maxPacketSize: -1 })).toThrow(RangeError);
    expect(() => new PacketParser({ maxPacketSize: 1.5 })).toThrow(RangeError);
  });
});
