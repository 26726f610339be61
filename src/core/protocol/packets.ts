/**
 * MQTT control packets as the engine sees them, after decoding.
 *
 * These shapes are protocol-level-neutral on purpose: MQTT 5 adds properties and reason codes as
 * optional fields on the same objects (decoded only when the connection's protocol level is 5;
 * absent on 3.1.1 packets, whose shapes are unchanged), so handlers written for 3.1.1 keep working.
 * On a v5 packet, `properties` is undefined when the packet carried none (Property Length 0 or a
 * short form), so the common case allocates nothing.
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
  /** MQTT 5 only (section 3.15). */
  AUTH = 15,
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

/** A User Property: name and value, both UTF-8 strings (v5 [MQTT-1.5.7-1]). */
export type UserProperty = [name: string, value: string];

/**
 * MQTT 5 properties (section 2.2.2.2), one optional field per property. Which of them a packet
 * may carry is checked by the codec (properties.ts). Byte-valued flags are kept as the numbers
 * on the wire (0 or 1; anything else is refused), not booleans.
 */
export interface Properties {
  /** 0x01 PUBLISH, Will: 0 unspecified bytes, 1 UTF-8. */
  payloadFormatIndicator?: number;
  /** 0x02 PUBLISH, Will: seconds. */
  messageExpiryInterval?: number;
  /** 0x03 PUBLISH, Will. */
  contentType?: string;
  /** 0x08 PUBLISH, Will: a Topic Name (no wildcards). */
  responseTopic?: string;
  /** 0x09 PUBLISH, Will. */
  correlationData?: Buffer;
  /** 0x0B PUBLISH (server to client, possibly several), SUBSCRIBE (one): 1..268435455. */
  subscriptionIdentifiers?: number[];
  /** 0x11 CONNECT, CONNACK, DISCONNECT: seconds; 0xFFFFFFFF never expires. */
  sessionExpiryInterval?: number;
  /** 0x12 CONNACK. */
  assignedClientIdentifier?: string;
  /** 0x13 CONNACK: seconds. */
  serverKeepAlive?: number;
  /** 0x15 CONNECT, CONNACK, AUTH. */
  authenticationMethod?: string;
  /** 0x16 CONNECT, CONNACK, AUTH. */
  authenticationData?: Buffer;
  /** 0x17 CONNECT: 0 or 1. */
  requestProblemInformation?: number;
  /** 0x18 Will: seconds. */
  willDelayInterval?: number;
  /** 0x19 CONNECT: 0 or 1. */
  requestResponseInformation?: number;
  /** 0x1A CONNACK. */
  responseInformation?: string;
  /** 0x1C CONNACK, DISCONNECT. */
  serverReference?: string;
  /** 0x1F CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH. */
  reasonString?: string;
  /** 0x21 CONNECT, CONNACK: 1..65535. */
  receiveMaximum?: number;
  /** 0x22 CONNECT, CONNACK: 0..65535. */
  topicAliasMaximum?: number;
  /** 0x23 PUBLISH: 0..65535 (0 is refused by the broker with 0x94, not by the codec). */
  topicAlias?: number;
  /** 0x24 CONNACK: 0 or 1. */
  maximumQoS?: number;
  /** 0x25 CONNACK: 0 or 1. */
  retainAvailable?: number;
  /** 0x26 every packet with properties: in wire order, duplicates kept (v5 [MQTT-3.3.2-18]). */
  userProperties?: UserProperty[];
  /** 0x27 CONNECT, CONNACK: 1..4294967295 bytes (the whole packet). */
  maximumPacketSize?: number;
  /** 0x28 CONNACK: 0 or 1. */
  wildcardSubscriptionAvailable?: number;
  /** 0x29 CONNACK: 0 or 1. */
  subscriptionIdentifierAvailable?: number;
  /** 0x2A CONNACK: 0 or 1. */
  sharedSubscriptionAvailable?: number;
}

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 Will Properties (Will Delay Interval, Message Expiry, Content Type, ...). */
  properties?: Properties;
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
  /** MQTT 5 allows a password without a user name (v5 [MQTT-3.1.2-19]); 3.1.1 does not. */
  password: Buffer | null;
  /** MQTT 5 only. */
  properties?: Properties;
}

export interface ConnackPacket {
  type: PacketType.CONNACK;
  sessionPresent: boolean;
  /** 3.1.1 return code; on a v5 CONNACK, the Connect Reason Code (the same byte as reasonCode). */
  returnCode: number;
  /** MQTT 5 only: the Connect Reason Code. */
  reasonCode?: number;
  /** MQTT 5 only. */
  properties?: Properties;
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
  /** MQTT 5 only. An empty topic then means "the topic of properties.topicAlias". */
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a packet id and nothing else in 3.1.1. */
export interface AckPacket {
  type: PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP | PacketType.UNSUBACK;
  packetId: number;
  /** MQTT 5, PUBACK/PUBREC/PUBREL/PUBCOMP: the Reason Code (0x00 for the short forms). */
  reasonCode?: number;
  /** MQTT 5, UNSUBACK: one Unsubscribe Reason Code per filter, in request order. */
  reasonCodes?: number[];
  /** MQTT 5 only. */
  properties?: Properties;
}

/** MQTT 5 Retain Handling (section 3.8.3.1): 0 send retained, 1 only if new, 2 never. */
export type RetainHandling = 0 | 1 | 2;

export interface Subscription {
  topic: string;
  /** The requested (maximum) QoS. */
  qos: QoS;
  /** MQTT 5 Subscription Options; all three are set on a decoded v5 SUBSCRIBE. */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: RetainHandling;
}

export interface SubscribePacket {
  type: PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: Subscription[];
  /**
   * Filters after `subscriptions` that the parser validated but did not decode, because the
   * packet holds more than its maxFiltersPerSubscribe: all to be refused (0x80). Absent means 0.
   */
  overflow?: number;
  /** MQTT 5 only (Subscription Identifier, User Properties). */
  properties?: Properties;
}

export interface SubackPacket {
  type: PacketType.SUBACK;
  packetId: number;
  /** 0, 1, 2 or 0x80 per filter, in request order; in MQTT 5 the Subscribe Reason Codes. */
  granted: number[];
  /** MQTT 5 only. */
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: PacketType.UNSUBSCRIBE;
  packetId: number;
  topics: string[];
  /** MQTT 5 only. */
  properties?: Properties;
}

export interface EmptyPacket {
  type: PacketType.PINGREQ | PacketType.PINGRESP | PacketType.DISCONNECT;
  /** MQTT 5 DISCONNECT only: the Disconnect Reason Code (0x00 for the short form). */
  reasonCode?: number;
  /** MQTT 5 DISCONNECT only. */
  properties?: Properties;
}

/** MQTT 5 AUTH (section 3.15). */
export interface AuthPacket {
  type: PacketType.AUTH;
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate. */
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | EmptyPacket
  | AuthPacket;
