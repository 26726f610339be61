import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import { encodeAck } from '../protocol/encoder';
import { PacketType, type AckPacket } from '../protocol/packets';

/**
 * Inbound QoS 2, second half [MQTT-4.3.3-2]: the packet id is released and PUBCOMP answers every
 * PUBREL, also for an id we do not know (e.g. after a restart), so the client is never stuck.
 */
export function handlePubrel(engine: Engine, conn: Connection, packet: AckPacket): void {
  conn.session!.deleteIncomingQos2(packet.packetId);
  conn.send(encodeAck(PacketType.PUBCOMP, packet.packetId));
}
