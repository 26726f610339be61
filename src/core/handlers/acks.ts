import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import { encodeAckFor, REASON_STRINGS } from '../engine/v5-flow';
import { encodeAck } from '../protocol/encoder';
import { PacketType, type AckPacket } from '../protocol/packets';
import { ReasonCode } from '../protocol/reason-codes';
import { OutboundState } from '../sessions/message';

/** Outbound QoS 1 complete: the message leaves the in-flight window [MQTT-4.3.2-1]. */
export function handlePuback(engine: Engine, conn: Connection, packet: AckPacket): void {
  const session = conn.session!;
  const entry = session.inflight?.get(packet.packetId);
  if (entry === undefined || entry.qos !== 1) return; // unknown or stale id: nothing to release
  session.deleteInflight(packet.packetId);
  engine.acknowledged(session);
}

/**
 * Outbound QoS 2, first ack [MQTT-4.3.3-1]: the entry moves to "PUBREL sent" so that only PUBREL
 * is ever re-sent; PUBRELs go out in the order PUBRECs arrive [MQTT-4.6.0-4].
 */
export function handlePubrec(engine: Engine, conn: Connection, packet: AckPacket): void {
  const session = conn.session!;
  const entry = session.inflight?.get(packet.packetId);
  if (conn.v5 !== null) {
    // v5 [MQTT-3.6.2-1] a PUBREC for an id we have not in flight gets PUBREL 0x92 Packet Identifier
    // not found (3.1.1 answers it with the plain PUBREL), so the client's exchange ends too; a
    // PUBREC with a failure code already ended it: nothing to answer.
    if (entry === undefined || entry.qos !== 2) {
      if ((packet.reasonCode ?? 0) < 0x80) conn.send(encodeAckFor(conn.v5, PacketType.PUBREL, packet.packetId, ReasonCode.PacketIdentifierNotFound, REASON_STRINGS[0x92]));
      return;
    }
    // v5 [MQTT-4.3.3-4] a PUBREC with a failure code ends the exchange: no PUBREL, the id is free
    // and the window slot too v5 [MQTT-3.3.4-9].
    if ((packet.reasonCode ?? 0) >= 0x80) {
      if (entry.state !== OutboundState.AWAIT_ACK) return;
      session.deleteInflight(packet.packetId);
      engine.acknowledged(session);
      return;
    }
  }
  if (entry !== undefined && entry.qos === 2 && entry.state === OutboundState.AWAIT_ACK) {
    entry.state = OutboundState.AWAIT_COMP;
    session.updateInflight(entry);
  }
  // [MQTT-2.3.1-6] PUBREL carries the id of the PUBLISH; a repeated PUBREC gets PUBREL again.
  conn.send(encodeAck(PacketType.PUBREL, packet.packetId));
}

/** Outbound QoS 2 complete: the id is free again [MQTT-4.3.3-1]. */
export function handlePubcomp(engine: Engine, conn: Connection, packet: AckPacket): void {
  const session = conn.session!;
  const entry = session.inflight?.get(packet.packetId);
  if (entry === undefined || entry.state !== OutboundState.AWAIT_COMP) return;
  session.deleteInflight(packet.packetId);
  engine.acknowledged(session);
}
