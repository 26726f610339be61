/**
 * MQTT 5 flow control and acknowledgements, in one unit so that the shared handlers and
 * Delivery call it from one place each (docs/mqtt5.md "Flow control, packet size, reason codes
 * on acks"):
 *
 *   - the outbound in-flight window of a connection: the broker's max-inflight-messages, or the
 *     client's Receive Maximum when smaller v5 [MQTT-3.3.4-9] [MQTT-4.9.0-1];
 *   - the inbound quota: QoS 1/2 PUBLISHes of the client not yet acknowledged by us, against the
 *     Receive Maximum we announced v5 [MQTT-3.3.4-7] (DISCONNECT 0x93 beyond it);
 *   - the client's Maximum Packet Size for what we send v5 [MQTT-3.1.2-24/25];
 *   - acknowledgements with a Reason Code and, when the client did not refuse them
 *     v5 [MQTT-3.1.2-29], a Reason String.
 *
 * A 3.1.1 connection (link.v5 === null) never reaches past the first test of each function.
 */
import type { LimitsConfig } from '../config/types';
import type { ClientLink, ClientV5Settings } from '../connection/link';
import { encodeAckV5, encodeSubackV5, encodeUnsubackV5 } from '../protocol/encoder-v5';
import { PacketType, type Properties, type QoS } from '../protocol/packets';
import type { Message } from '../sessions/message';
import { subscriptionIdsFor } from './subscription-ids';

/** Reason Strings we send are short constants; never longer than this (bytes). */
export const MAX_REASON_STRING = 64;

/**
 * QoS 1/2 deliveries the connection may have unacknowledged: max-inflight-messages, or the
 * client's Receive Maximum when smaller v5 [MQTT-3.3.4-9]. The window is the minimum of both.
 */
export function inflightWindow(limits: LimitsConfig, link: ClientLink | null): number {
  const max = limits.maxInflightMessages;
  if (link === null || link.v5 === null) return max;
  const rm = link.v5.receiveMaximum;
  return rm < max ? rm : max;
}

/**
 * Whether `msg` at `qos` is larger than the client's Maximum Packet Size v5 [MQTT-3.1.2-24]. The
 * shared v5 encoding knows its size (no bytes are built for the check but that encoding, which the
 * delivery needs anyway).
 */
export function exceedsPacketSize(link: ClientLink, msg: Message, qos: QoS, group: string | null = null): boolean {
  const v5 = link.v5;
  if (v5 === null || v5.maximumPacketSize === 0) return false;
  const enc = msg.encodingV5(msg.expiresAt === 0 ? 0 : Date.now());
  // Sized as encodingFor() will send it: with the Subscription Identifiers of this receiver, and
  // with the full Topic Name (an alias could make it smaller; sizing without it may drop a
  // message that an alias would have let through, never send one that is too big).
  const session = link.session;
  const ids = session !== null && session.subscriptionIdCount > 0 ? subscriptionIdsFor(session, msg, group) : undefined;
  return enc.size(qos, 0, true, ids) > v5.maximumPacketSize;
}

// ---- inbound quota (our Receive Maximum) ----

/**
 * Takes one unit of the inbound quota for a QoS 1/2 PUBLISH of a v5 client; false when the client
 * already has our Receive Maximum unacknowledged v5 [MQTT-3.3.4-7]. A QoS 2 id counted on this
 * connection and not yet released (a repeat) is not counted twice. O(1).
 */
export function takeInbound(v5: ClientV5Settings, qos: QoS, packetId: number): boolean {
  const ids = v5.inboundQos2;
  if (qos === 2 && ids !== null && ids.has(packetId)) return true;
  if (v5.inboundUnacked >= v5.serverReceiveMaximum) return false;
  v5.inboundUnacked++;
  if (qos === 2) (v5.inboundQos2 ??= new Set()).add(packetId);
  return true;
}

/** The PUBACK of a QoS 1 PUBLISH is sent: its quota unit comes back. */
export function releaseInboundQos1(v5: ClientV5Settings): void {
  if (v5.inboundUnacked > 0) v5.inboundUnacked--;
}

/**
 * The QoS 2 exchange of `packetId` ended (PUBCOMP sent, or PUBREC with a failure code): its quota
 * unit comes back, if it was taken on this connection (a PUBREL for a PUBLISH of an earlier
 * connection was never counted here: the quota starts afresh per connection, v5 section 4.9).
 */
export function releaseInboundQos2(v5: ClientV5Settings, packetId: number): void {
  const ids = v5.inboundQos2;
  if (ids !== null && ids.delete(packetId)) v5.inboundUnacked--;
}

// ---- acknowledgements ----

/**
 * The properties of an ack: a Reason String when the client did not refuse problem information
 * v5 [MQTT-3.1.2-29] and the packet with it stays within its Maximum Packet Size; else none
 * (the Reason String is the first thing dropped, v5 [MQTT-3.4.2-2] [MQTT-3.5.2-2] [MQTT-3.7.2-2]).
 */
function ackProperties(v5: ClientV5Settings, reason: string | null, baseSize: number): Properties | undefined {
  if (reason === null || !v5.requestProblemInformation) return undefined;
  // 1 (id) + 2 (length) + the string, plus up to 2 more bytes of Remaining Length / Property Length.
  if (v5.maximumPacketSize !== 0 && baseSize + 5 + reason.length > v5.maximumPacketSize) return undefined;
  return { reasonString: reason };
}

/** PUBACK / PUBREC / PUBREL / PUBCOMP for a v5 client, with `code` and maybe a Reason String. */
export function encodeAckFor(
  v5: ClientV5Settings,
  type: PacketType.PUBACK | PacketType.PUBREC | PacketType.PUBREL | PacketType.PUBCOMP,
  packetId: number,
  code: number,
  reason: string | null,
): Buffer {
  return encodeAckV5(type, packetId, code, ackProperties(v5, reason, 6));
}

/** SUBACK for a v5 client; a Reason String only when a filter was refused and it fits. */
export function encodeSubackFor(v5: ClientV5Settings, packetId: number, codes: number[], reason: string | null): Buffer {
  return encodeSubackV5(packetId, codes, ackProperties(v5, reason, 6 + codes.length));
}

/** UNSUBACK for a v5 client; a Reason String only when it fits. */
export function encodeUnsubackFor(v5: ClientV5Settings, packetId: number, codes: number[], reason: string | null): Buffer {
  return encodeUnsubackV5(packetId, codes, ackProperties(v5, reason, 6 + codes.length));
}

/** Reason Strings of our failure codes (short constants; at most MAX_REASON_STRING bytes). */
export const REASON_STRINGS: Readonly<Record<number, string>> = {
  0x87: 'not authorized',
  0x8f: 'topic filter not accepted',
  0x90: 'topic name not accepted',
  0x92: 'packet identifier not found',
  0x97: 'quota exceeded',
  0x99: 'payload is not valid UTF-8',
};
