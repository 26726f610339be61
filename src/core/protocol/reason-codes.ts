/**
 * MQTT 5.0 Reason Codes (MQTT 5.0 section 2.4, Table 2-6), which packets may carry each one, how
 * they fold into MQTT 3.1.1's CONNACK and SUBACK return codes, and why the broker closes a
 * connection (CloseReason) with the DISCONNECT an MQTT 5 client is sent for it.
 *
 * Nothing here is on the per-packet path as a lookup that allocates: the tables are built once at
 * module load and every function is a switch or a bit test.
 */
import { PacketType } from './packets';

/**
 * Every MQTT 5.0 Reason Code. Some values have several names depending on the packet
 * (0x00 is Success, Normal disconnection and Granted QoS 0); each name is kept so the call site
 * reads like the spec.
 */
export enum ReasonCode {
  /** CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH. */
  Success = 0x00,
  /** DISCONNECT: close normally, do not send the Will. */
  // The spec gives one value several names, by packet: aliases on purpose.
  // eslint-disable-next-line @typescript-eslint/no-duplicate-enum-values
  NormalDisconnection = 0x00,
  /** SUBACK. */
  // eslint-disable-next-line @typescript-eslint/no-duplicate-enum-values
  GrantedQoS0 = 0x00,
  GrantedQoS1 = 0x01,
  GrantedQoS2 = 0x02,
  /** DISCONNECT from a client: close, and do send the Will. */
  DisconnectWithWillMessage = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8a,
  ServerShuttingDown = 0x8b,
  BadAuthenticationMethod = 0x8c,
  KeepAliveTimeout = 0x8d,
  SessionTakenOver = 0x8e,
  TopicFilterInvalid = 0x8f,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9a,
  QoSNotSupported = 0x9b,
  UseAnotherServer = 0x9c,
  ServerMoved = 0x9d,
  SharedSubscriptionsNotSupported = 0x9e,
  ConnectionRateExceeded = 0x9f,
  MaximumConnectTime = 0xa0,
  SubscriptionIdentifiersNotSupported = 0xa1,
  WildcardSubscriptionsNotSupported = 0xa2,
}

/** [MQTT-2.4] a Reason Code of 0x80 or greater reports a failure. */
export function isFailure(code: number): boolean {
  return code >= 0x80;
}

/** AUTH (packet type 15) exists only in MQTT 5; PacketType lists the 3.1.1 packets. */
export const AUTH_PACKET_TYPE = 15;

/** The packets that carry a Reason Code. */
export type ReasonCodePacketType =
  | PacketType.CONNACK
  | PacketType.PUBACK
  | PacketType.PUBREC
  | PacketType.PUBREL
  | PacketType.PUBCOMP
  | PacketType.SUBACK
  | PacketType.UNSUBACK
  | PacketType.DISCONNECT
  | typeof AUTH_PACKET_TYPE;

// One bit per packet type (1 << type), so "may this packet carry this code" is one AND.
const CONNACK = 1 << PacketType.CONNACK;
const PUBACK = 1 << PacketType.PUBACK;
const PUBREC = 1 << PacketType.PUBREC;
const PUBREL = 1 << PacketType.PUBREL;
const PUBCOMP = 1 << PacketType.PUBCOMP;
const SUBACK = 1 << PacketType.SUBACK;
const UNSUBACK = 1 << PacketType.UNSUBACK;
const DISCONNECT = 1 << PacketType.DISCONNECT;
const AUTH = 1 << AUTH_PACKET_TYPE;

/** Errors every acknowledgement of a client request may report (PUBACK, PUBREC, SUBACK, UNSUBACK). */
const REQUEST_ACKS = PUBACK | PUBREC | SUBACK | UNSUBACK;

/**
 * Table 2-6, "Reason Codes": for each code, the packets that may carry it (as a bit set). The
 * direction is not encoded: e.g. 0x04 is a client's DISCONNECT only, 0x8B-0x8E a server's only.
 */
const ALLOWED = new Uint32Array(256);
ALLOWED[0x00] = CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | UNSUBACK | AUTH | DISCONNECT | SUBACK;
ALLOWED[0x01] = SUBACK;
ALLOWED[0x02] = SUBACK;
ALLOWED[0x04] = DISCONNECT;
ALLOWED[0x10] = PUBACK | PUBREC;
ALLOWED[0x11] = UNSUBACK;
ALLOWED[0x18] = AUTH;
ALLOWED[0x19] = AUTH;
ALLOWED[0x80] = CONNACK | REQUEST_ACKS | DISCONNECT;
ALLOWED[0x81] = CONNACK | DISCONNECT;
ALLOWED[0x82] = CONNACK | DISCONNECT;
ALLOWED[0x83] = CONNACK | REQUEST_ACKS | DISCONNECT;
ALLOWED[0x84] = CONNACK;
ALLOWED[0x85] = CONNACK;
ALLOWED[0x86] = CONNACK;
ALLOWED[0x87] = CONNACK | REQUEST_ACKS | DISCONNECT;
ALLOWED[0x88] = CONNACK;
ALLOWED[0x89] = CONNACK | DISCONNECT;
ALLOWED[0x8a] = CONNACK;
ALLOWED[0x8b] = DISCONNECT;
ALLOWED[0x8c] = CONNACK | DISCONNECT;
ALLOWED[0x8d] = DISCONNECT;
ALLOWED[0x8e] = DISCONNECT;
ALLOWED[0x8f] = SUBACK | UNSUBACK | DISCONNECT;
ALLOWED[0x90] = CONNACK | PUBACK | PUBREC | DISCONNECT;
ALLOWED[0x91] = REQUEST_ACKS;
ALLOWED[0x92] = PUBREL | PUBCOMP;
ALLOWED[0x93] = DISCONNECT;
ALLOWED[0x94] = DISCONNECT;
ALLOWED[0x95] = CONNACK | DISCONNECT;
ALLOWED[0x96] = DISCONNECT;
ALLOWED[0x97] = CONNACK | PUBACK | PUBREC | SUBACK | DISCONNECT;
ALLOWED[0x98] = DISCONNECT;
ALLOWED[0x99] = CONNACK | PUBACK | PUBREC | DISCONNECT;
ALLOWED[0x9a] = CONNACK | DISCONNECT;
ALLOWED[0x9b] = CONNACK | DISCONNECT;
ALLOWED[0x9c] = CONNACK | DISCONNECT;
ALLOWED[0x9d] = CONNACK | DISCONNECT;
ALLOWED[0x9e] = SUBACK | DISCONNECT;
ALLOWED[0x9f] = CONNACK | DISCONNECT;
ALLOWED[0xa0] = DISCONNECT;
ALLOWED[0xa1] = SUBACK | DISCONNECT;
ALLOWED[0xa2] = SUBACK | DISCONNECT;

/**
 * True when `code` is a Reason Code the spec lists for `packetType` (section 2.4, and each
 * packet's Reason Code list in chapter 3). A receiver treats any other value as a Malformed
 * Packet or Protocol Error; a sender never produces one.
 */
export function isReasonCodeAllowed(packetType: number, code: number): boolean {
  if (packetType < 0 || packetType > 15 || code < 0 || code > 0xff) return false;
  return (ALLOWED[code] & (1 << packetType)) !== 0;
}

/** Every code `packetType` may carry, ascending (tests, documentation; not the packet path). */
export function reasonCodesFor(packetType: number): number[] {
  const out: number[] = [];
  for (let code = 0; code < 256; code++) if (isReasonCodeAllowed(packetType, code)) out.push(code);
  return out;
}

/** True for a value of ReasonCode (any packet). */
export function isReasonCode(code: number): code is ReasonCode {
  return code >= 0 && code <= 0xff && ALLOWED[code] !== 0;
}

// ---- MQTT 3.1.1 ----------------------------------------------------------------------------

/**
 * The MQTT 3.1.1 CONNACK return code (section 3.2.2.3) for a CONNACK Reason Code, so that one
 * refusal decision serves both protocol levels; `null` when 3.1.1 answers with no CONNACK at all.
 *
 * - 0x00 -> 0 accepted; 0x84 -> 1; 0x85 -> 2; 0x86 -> 4.
 * - 0x87 Not authorized, 0x8A Banned, 0x8C Bad authentication method -> 5 not authorized: each
 *   says "this client may not connect".
 * - 3 server unavailable for what the server's state decides, not the client's packet:
 *   0x80 Unspecified error, 0x83 Implementation specific error, 0x88 Server unavailable,
 *   0x89 Server busy, 0x8B Server shutting down, 0x97 Quota exceeded, 0x9C Use another server,
 *   0x9D Server moved, 0x9F Connection rate exceeded. (0x8B is not a CONNACK code in MQTT 5,
 *   where a server that is shutting down sends 0x88; it is accepted here for convenience.)
 * - null for a fault in the CONNECT packet itself: 0x81 Malformed Packet, 0x82 Protocol Error,
 *   0x90 Topic Name invalid (the Will Topic), 0x95 Packet too large, 0x99 Payload format invalid,
 *   0x9A Retain not supported, 0x9B QoS not supported (the Will's). 3.1.1 has no return code for
 *   these and closes the connection without a CONNACK [MQTT-3.1.4-1], as Mosquitto does.
 *
 * Throws a RangeError for a code that CONNACK cannot carry (a caller bug).
 */
export function toV3ConnackReturnCode(code: ReasonCode): number | null {
  switch (code) {
    case ReasonCode.Success:
      return 0;
    case ReasonCode.UnsupportedProtocolVersion:
      return 1;
    case ReasonCode.ClientIdentifierNotValid:
      return 2;
    case ReasonCode.UnspecifiedError:
    case ReasonCode.ImplementationSpecificError:
    case ReasonCode.ServerUnavailable:
    case ReasonCode.ServerBusy:
    case ReasonCode.ServerShuttingDown:
    case ReasonCode.QuotaExceeded:
    case ReasonCode.UseAnotherServer:
    case ReasonCode.ServerMoved:
    case ReasonCode.ConnectionRateExceeded:
      return 3;
    case ReasonCode.BadUserNameOrPassword:
      return 4;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
    case ReasonCode.BadAuthenticationMethod:
      return 5;
    case ReasonCode.MalformedPacket:
    case ReasonCode.ProtocolError:
    case ReasonCode.TopicNameInvalid:
    case ReasonCode.PacketTooLarge:
    case ReasonCode.PayloadFormatInvalid:
    case ReasonCode.RetainNotSupported:
    case ReasonCode.QoSNotSupported:
      return null;
    default:
      throw new RangeError(`reason code 0x${(code as number).toString(16)} is not a CONNACK reason code`);
  }
}

/**
 * The MQTT 3.1.1 SUBACK return code [MQTT-3.9.3-2] for a SUBACK Reason Code: the granted QoS
 * 0x00-0x02 as it is, every failure as 0x80. Throws a RangeError for a code SUBACK cannot carry.
 */
export function toV3SubackReturnCode(code: ReasonCode): number {
  if (code === ReasonCode.GrantedQoS0 || code === ReasonCode.GrantedQoS1 || code === ReasonCode.GrantedQoS2) return code;
  if (isReasonCodeAllowed(PacketType.SUBACK, code)) return 0x80;
  throw new RangeError(`reason code 0x${(code as number).toString(16)} is not a SUBACK reason code`);
}

// ---- why a connection closed ------------------------------------------------------------

/**
 * Why the broker closed a connection: the `reason` of the `clientDisconnected` event and
 * `Connection.closeReason`. The values are the strings used since 3.1.1 and must not change
 * (event consumers and logs match on them).
 */
export enum CloseReason {
  /** The client sent DISCONNECT. */
  Disconnect = 'disconnect',
  /** The transport closed under us (the client went away, a network failure). */
  Closed = 'closed',
  /** Nothing received for 1.5 x the keepalive [MQTT-3.1.2-24]. */
  Keepalive = 'keepalive',
  /** A protocol violation or a failure while handling a packet [MQTT-4.8.0-1]. */
  ProtocolError = 'protocol-error',
  /** Another connection with the same client id [MQTT-3.1.4-2]. */
  Takeover = 'takeover',
  /** The broker is stopping. */
  Shutdown = 'shutdown',
  /** An administrator disconnected the client. */
  Admin = 'admin',
  /** No CONNECT within connect-timeout. */
  ConnectTimeout = 'connect-timeout',
  /** The authentication plugins gave no verdict in time (CONNACK "server unavailable" sent). */
  AuthTimeout = 'auth-timeout',
  /** The durable store could not commit the state behind this connection's acknowledgements. */
  StoreFailure = 'store-failure',
  /** The client's queue reached twice max-queued-messages and nobody could be paused. */
  QueueOverflow = 'queue-overflow',
  // CONNACK refusals (the connection never became CONNECTED):
  ProtocolVersion = 'protocol-version',
  IdentifierRejected = 'identifier-rejected',
  NotAuthorized = 'not-authorized',
  BadCredentials = 'bad-credentials',
  /** An authentication plugin failed (rejected its promise). */
  AuthError = 'auth-error',
  /** Refused unverified: the client's address reached max-auth-failures-per-address. */
  AuthFailures = 'auth-failures',
  /** Refused unverified: max-pending-auth or max-pending-auth-per-address verifications pending. */
  AuthBusy = 'auth-busy',
  /** The client id's session belongs to another username. */
  SessionOwner = 'session-owner',
  /** A new session would exceed max-sessions or max-sessions-per-user. */
  SessionLimit = 'session-limit',
}

/**
 * The Reason Code an MQTT 5 server puts in the DISCONNECT it sends before closing for `reason`,
 * or `null` when it sends no DISCONNECT:
 * - the client ended the connection itself (Disconnect) or the transport is gone (Closed);
 * - the connection never got a successful CONNACK (connect-timeout, every CONNACK refusal,
 *   auth-timeout, which is answered by CONNACK 0x88): [MQTT-3.14.0-1] a server sends no
 *   DISCONNECT before a CONNACK with a Reason Code below 0x80. See connackReasonCode for those.
 *
 * Choices where the spec leaves room:
 * - ProtocolError -> 0x82 Protocol Error. The caller knows better when it has more detail:
 *   0x81 for a packet that does not decode, 0x95 for one over Maximum Packet Size, 0x90 / 0x8F
 *   for an invalid topic.
 * - QueueOverflow -> 0x97 Quota exceeded ("an implementation or administratively imposed limit
 *   has been exceeded"). Not 0x93 Receive Maximum exceeded: that reports the peer sending more
 *   QoS 1/2 PUBLISHes than we allowed, while here the client fails to acknowledge ours.
 * - StoreFailure -> 0x80 Unspecified error: the failure is the server's and says nothing about
 *   the client's packets (0x83 is "the packet is valid but this implementation cannot process
 *   it"); the client should simply reconnect and re-send.
 */
export function disconnectReasonCode(reason: CloseReason): ReasonCode | null {
  switch (reason) {
    case CloseReason.Keepalive:
      return ReasonCode.KeepAliveTimeout;
    case CloseReason.ProtocolError:
      return ReasonCode.ProtocolError;
    case CloseReason.Takeover:
      return ReasonCode.SessionTakenOver;
    case CloseReason.Shutdown:
      return ReasonCode.ServerShuttingDown;
    case CloseReason.Admin:
      return ReasonCode.AdministrativeAction;
    case CloseReason.StoreFailure:
      return ReasonCode.UnspecifiedError;
    case CloseReason.QueueOverflow:
      return ReasonCode.QuotaExceeded;
    case CloseReason.Disconnect:
    case CloseReason.Closed:
    case CloseReason.ConnectTimeout:
    case CloseReason.AuthTimeout:
    case CloseReason.ProtocolVersion:
    case CloseReason.IdentifierRejected:
    case CloseReason.NotAuthorized:
    case CloseReason.BadCredentials:
    case CloseReason.AuthError:
    case CloseReason.AuthFailures:
    case CloseReason.AuthBusy:
    case CloseReason.SessionOwner:
    case CloseReason.SessionLimit:
      return null;
    default: {
      const never: never = reason;
      throw new RangeError(`unknown close reason ${String(never)}`);
    }
  }
}

/**
 * For the close reasons that are CONNACK refusals: the MQTT 5 CONNACK Reason Code (fold it with
 * toV3ConnackReturnCode for 3.1.1, which gives today's return codes); `null` for the others.
 * - AuthError is refused as Not authorized, as the 3.1.1 handler does (return code 5).
 * - AuthFailures (the address is blocked for a while) -> 0x87 Not authorized, not 0x8A Banned:
 *   the block lifts by itself and the client may retry later (both fold into 3.1.1's 5).
 * - AuthBusy -> 0x89 Server busy (3.1.1: 3 server unavailable): retry later.
 * - SessionOwner -> 0x87 Not authorized (3.1.1: 5): this user may not take that session.
 * - SessionLimit -> 0x97 Quota exceeded (3.1.1: 3): an administratively imposed limit.
 */
export function connackReasonCode(reason: CloseReason): ReasonCode | null {
  switch (reason) {
    case CloseReason.ProtocolVersion:
      return ReasonCode.UnsupportedProtocolVersion;
    case CloseReason.IdentifierRejected:
      return ReasonCode.ClientIdentifierNotValid;
    case CloseReason.BadCredentials:
      return ReasonCode.BadUserNameOrPassword;
    case CloseReason.NotAuthorized:
    case CloseReason.AuthError:
    case CloseReason.AuthFailures:
    case CloseReason.SessionOwner:
      return ReasonCode.NotAuthorized;
    case CloseReason.AuthTimeout:
      return ReasonCode.ServerUnavailable;
    case CloseReason.AuthBusy:
      return ReasonCode.ServerBusy;
    case CloseReason.SessionLimit:
      return ReasonCode.QuotaExceeded;
    default:
      return null;
  }
}
