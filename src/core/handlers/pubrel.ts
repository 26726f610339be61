import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import { encodeAck } from '../protocol/encoder';
import { PacketType, type AckPacket } from '../protocol/packets';
import { ReasonCode } from '../protocol/reason-codes';
import { encodeAckFor, REASON_STRINGS, releaseInboundQos2 } from '../engine/v5-flow';

/**
 * Inbound QoS 2, second half [MQTT-4.3.3-2]: the packet id is released and PUBCOMP answers every
 * PUBREL, also for an id we do not know (e.g. after a restart), so the client is never stuck
 * (MQTT 5: with Reason Code 0x92).
 */
export function handlePubrel(engine: Engine, conn: Connection, packet: AckPacket): void {
  const session = conn.session!;
  const v5 = conn.v5;
  if (v5 !== null) {
    releaseInboundQos2(v5, packet.packetId); // v5 [MQTT-3.3.4-7] counted until PUBCOMP is sent
    // v5 [MQTT-3.7.2-1] [MQTT-4.3.3-11] an id we do not know gets PUBCOMP 0x92 Packet Identifier not found.
    if (!session.hasIncomingQos2(packet.packetId)) {
      return conn.send(encodeAckFor(v5, PacketType.PUBCOMP, packet.packetId, ReasonCode.PacketIdentifierNotFound, REASON_STRINGS[0x92]));
    }
  }
  session.deleteIncomingQos2(packet.packetId);
  conn.send(encodeAck(PacketType.PUBCOMP, packet.packetId));
}
