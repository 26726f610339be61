import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import { clientInfo } from '../hooks/types';
import { encodeAck } from '../protocol/encoder';
import { encodeUnsubackV5 } from '../protocol/encoder-v5';
import { PacketType, type UnsubscribePacket } from '../protocol/packets';

/**
 * UNSUBSCRIBE: delete only subscriptions whose filter is identical character for character
 * [MQTT-3.10.4-1]; nothing new is added for them afterwards [MQTT-3.10.4-2], while deliveries
 * already in flight complete [MQTT-3.10.4-3] (they live in the session, not the subscription).
 * One UNSUBACK with the packet id, even when nothing was deleted [MQTT-3.10.4-4/5/6].
 */
export function handleUnsubscribe(engine: Engine, conn: Connection, packet: UnsubscribePacket): void {
  const session = conn.session!;
  // v5 [MQTT-3.11.3-1/2] one Unsubscribe Reason Code per filter: 0x00 Success, 0x11 No subscription existed.
  const codes: number[] | null = conn.v5 !== null ? [] : null;
  for (const filter of packet.topics) {
    const existed = session.deleteSubscription(filter);
    if (codes !== null) codes.push(existed ? 0x00 : 0x11);
    if (existed) {
      engine.router.unsubscribe(filter, session); // a shared filter leaves its group
      if (conn.retainedJobs !== null) engine.retainedDelivery.cancel(conn, filter);
      if (engine.events.listenerCount('clientUnsubscribed') > 0) engine.events.emit('clientUnsubscribed', { ...clientInfo(conn), filter });
    }
  }
  conn.send(codes !== null ? encodeUnsubackV5(packet.packetId, codes) : encodeAck(PacketType.UNSUBACK, packet.packetId));
}
