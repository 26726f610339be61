/**
 * Errors raised by the codec.
 *
 * A ProtocolError means the peer sent bytes that are not a valid MQTT packet. In 3.1.1 the only
 * lawful reaction is to close the network connection without sending anything more
 * [MQTT-4.8.0-1] (CONNECT included: a malformed CONNECT gets no CONNACK [MQTT-3.1.4-1]).
 * In 5.0 the connection is closed too, but a CONNACK (before acceptance) or DISCONNECT (after)
 * carrying a Reason Code may go first, v5 [MQTT-4.13.1-1]: `reasonCode` is that code.
 *
 * Reason code design: every ProtocolError carries the MQTT 5 Reason Code that names the fault.
 * - 0x81 Malformed Packet is the default: the bytes cannot be read as the packet (truncation,
 *   reserved bits or flags, bad UTF-8, an unknown property or one not allowed in this packet, a
 *   Variable Byte Integer longer than 4 bytes or not minimal, trailing bytes).
 * - 0x82 Protocol Error where the spec says "It is a Protocol Error" (a single-valued property
 *   twice, Receive Maximum 0, Subscription Identifier 0, Retain Handling 3, packet id 0, a SUBSCRIBE
 *   without filters, a Reason Code the packet may not carry, ...).
 * - a more specific code where the spec names one: 0x95 Packet too large (PacketTooLargeError),
 *   0x90 Topic Name invalid (wildcard in a Topic Name or Will Topic), 0x8F Topic Filter invalid
 *   (empty filter).
 * 3.1.1 connections ignore it (they are simply closed). `rule` is the checklist id in the
 * numbering of the protocol level being decoded (ids differ between 3.1.1 and 5.0).
 */
/** ReasonCode.MalformedPacket and ReasonCode.ProtocolError, without importing the table here. */
export const MALFORMED_PACKET = 0x81;
export const PROTOCOL_ERROR = 0x82;

export class ProtocolError extends Error {
  /**
   * @param rule the checklist id of the violated statement (e.g. 'MQTT-3.1.2-3') when one applies;
   *   undefined for unnumbered rules (reserved packet type, 5-byte Remaining Length, wrong fixed
   *   length, trailing bytes outside CONNECT, truncated fields outside CONNECT).
   * @param reasonCode the MQTT 5 Reason Code to report it with; 0x81 Malformed Packet by default.
   */
  constructor(message: string, readonly rule?: string, readonly reasonCode: number = MALFORMED_PACKET) {
    super(rule === undefined ? message : `${message} [${rule}]`);
    this.name = 'ProtocolError';
  }
}

/**
 * The Remaining Length announced by a packet header is above the configured maximum. Raised as
 * soon as the length is decoded, before any of the body is buffered. 3.1.1 cannot negotiate a
 * maximum, so the connection is simply closed (checklist "Ambiguities" 5); a distinct class lets
 * the connection count these separately from malformed packets. In 5.0 the code is 0x95 Packet
 * too large, v5 [MQTT-3.2.2-15].
 */
export class PacketTooLargeError extends ProtocolError {
  constructor(
    readonly remainingLength: number,
    readonly limit: number,
    /** The limit was the first packet's (max-connect-packet-size), smaller than max-packet-size. */
    readonly firstPacket = false,
  ) {
    super(`${firstPacket ? 'first packet' : 'packet'} Remaining Length ${remainingLength} exceeds the limit of ${limit} bytes`, undefined, 0x95);
    this.name = 'PacketTooLargeError';
  }
}
