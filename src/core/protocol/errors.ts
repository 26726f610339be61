/**
 * Errors raised by the codec.
 *
 * A ProtocolError means the peer sent bytes that are not a valid MQTT 3.1.1 packet: the only lawful
 * reaction is to close the network connection without sending anything more [MQTT-4.8.0-1]
 * (CONNECT included: a malformed CONNECT gets no CONNACK [MQTT-3.1.4-1]).
 */
export class ProtocolError extends Error {
  /**
   * @param rule the checklist id of the violated statement (e.g. 'MQTT-3.1.2-3') when one applies;
   *   undefined for unnumbered rules (reserved packet type, 5-byte Remaining Length, wrong fixed
   *   length, trailing bytes outside CONNECT, truncated fields outside CONNECT).
   */
  constructor(message: string, readonly rule?: string) {
    super(rule === undefined ? message : `${message} [${rule}]`);
    this.name = 'ProtocolError';
  }
}

/**
 * The Remaining Length announced by a packet header is above the configured maximum. Raised as
 * soon as the length is decoded, before any of the body is buffered. 3.1.1 cannot negotiate a
 * maximum, so the connection is simply closed (checklist "Ambiguities" 5); a distinct class lets
 * the connection count these separately from malformed packets.
 */
export class PacketTooLargeError extends ProtocolError {
  constructor(
    readonly remainingLength: number,
    readonly limit: number,
    /** The limit was the first packet's (max-connect-packet-size), smaller than max-packet-size. */
    readonly firstPacket = false,
  ) {
    super(`${firstPacket ? 'first packet' : 'packet'} Remaining Length ${remainingLength} exceeds the limit of ${limit} bytes`);
    this.name = 'PacketTooLargeError';
  }
}
