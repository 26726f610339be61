/**
 * MQTT control packets as the engine sees them, after decoding.
 *
 * These shapes are protocol-level-neutral on purpose: MQTT 5 adds properties and reason codes,
 * which will arrive as optional fields on the same objects (decoded only when the connection's
 * protocol level is 5), so handlers written for 3.1.1 keep working.
 *
 * Packet ids are numbers 1..65535; 0 means "no packet id" (QoS 0 PUBLISH) and is never a valid id
 * on the wire for packets that carry one [MQTT-2.3.1-1]. Never test ids or QoS with `if (!x)`.
 */

export enum PacketType {
  CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 3,
  PUBACK = 4,
  PUBREC = 5,
  PUBREL = 6,
  PUBCOMP = 7,
  SUBSCRIBE = 8,
  SUBACK = 9,
  UNSUBSCRIBE = 10,
  UNSUBACK = 11,
  PINGREQ = 12,
  PINGRESP = 13,
  DISCONNECT = 14,
}

export type QoS = 0 | 1 | 2;

/** CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3). */
export enum ConnackCode {
  ACCEPTED = 0,
  UNACCEPTABLE_PROTOCOL_VERSION = 1,
  IDENTIFIER_REJECTED = 2,
  SERVER_UNAVAILABLE = 3,
  BAD_USERNAME_OR_PASSWORD = 4,
  NOT_AUTHORIZED = 5,
}

/** SUBACK failure return code [MQTT-3.9.3-2]. */
export const SUBACK_FAILURE = 0x80;

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
}

export interface ConnectPacket {
  type: PacketType.CONNECT;
  /** "MQTT" for level 4, "MQIsdp" for level 3. */
  protocolName: string;
  protocolLevel: number;
  cleanSession: boolean;
  /** Seconds; 0 disables the keepalive check. */
  keepalive: number;
  /** May be "" (the broker assigns one when cleanSession is set). */
  clientId: string;
  will: WillMessage | null;
  username: string | null;
  password: Buffer | null;
}

export interface ConnackPacket {
  type: PacketType.CONNACK;
  sessionPresent: boolean;
  returnCode: number;
}

export interface PublishPacket {
  type: PacketType.PUBLISH;
  topic: string;
  /** For decoded packets, a view into the received bytes (zero-copy); do not mutate. */
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 0 when qos is 0. */
  packetId: number;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a packet id and nothing else. */
export interface AckPacket {
  type: PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP | PacketType.UNSUBACK;
  packetId: number;
}

export interface Subscription {
  topic: string;
  qos: QoS;
}

export interface SubscribePacket {
  type: PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: Subscription[];
}

export interface SubackPacket {
  type: PacketType.SUBACK;
  packetId: number;
  /** 0, 1, 2 or 0x80 per filter, in request order. */
  granted: number[];
}

export interface UnsubscribePacket {
  type: PacketType.UNSUBSCRIBE;
  packetId: number;
  topics: string[];
}

export interface EmptyPacket {
  type: PacketType.PINGREQ | PacketType.PINGRESP | PacketType.DISCONNECT;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | EmptyPacket;
