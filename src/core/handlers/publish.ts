import type { Engine } from '../engine';
import { type Connection, Pause } from '../connection/connection';
import { clientInfo } from '../hooks/types';
import { isThenable, type PublishVerdict } from '../hooks/registry';
import { isFailure, ReasonCode } from '../protocol/reason-codes';
import { encodeAck } from '../protocol/encoder';
import { PacketType, type PublishPacket } from '../protocol/packets';
import { Message } from '../sessions/message';
import { resolveInboundPublish } from '../engine/topic-aliases';
import { exceedsTopicLimits, TopicLimitError } from '../topics/topic-limits';
import { failAfterVerdict } from './connect';

/**
 * Inbound PUBLISH [MQTT-3.3.4-1]: QoS 0 routed; QoS 1 routed then PUBACK; QoS 2 routed once
 * then PUBREC, with the id remembered until PUBREL so a repeat is acknowledged but never routed
 * twice [MQTT-4.3.3-2]. The parser has rejected wildcards, empty topics, QoS 3 and DUP on QoS 0.
 */
export function handlePublish(engine: Engine, conn: Connection, packet: PublishPacket): void {
  engine.stats.publishReceived++;
  // v5: a Topic Alias resolved to its topic, a Subscription Identifier refused (engine/topic-aliases.ts).
  if (packet.properties !== undefined) resolveInboundPublish(conn.v5!, packet);
  if (exceedsTopicLimits(engine.limits, packet.topic)) throw new TopicLimitError('topic exceeds the configured limits');

  if (packet.qos === 2 && conn.session!.hasIncomingQos2(packet.packetId)) {
    // A repeat before PUBREL: acknowledge again, deliver nothing.
    conn.send(encodeAck(PacketType.PUBREC, packet.packetId));
    return;
  }

  // Clients may not publish into $SYS: acknowledged and dropped (3.1.1 has no negative ack [MQTT-3.3.5-2]).
  if (packet.topic.charCodeAt(0) === 36 /* $ */ && packet.topic.startsWith('$SYS')) {
    engine.stats.droppedUnauthorized++;
    return acknowledge(conn, packet);
  }

  if (engine.hooks.hasPublishAuthorizers) {
    const allowed = engine.hooks.authorizePublish(clientInfo(conn), packet.topic, packet.qos, packet.retain);
    if (isThenable(allowed)) {
      // Keep order: later packets wait until this one is decided [MQTT-4.6.0-2/3].
      conn.pause(Pause.PLUGIN);
      allowed
        .then((verdict) => {
          if (!conn.isOpen) return;
          route(engine, conn, packet, verdict);
          conn.resume(Pause.PLUGIN);
        })
        .catch((err: unknown) => failAfterVerdict(engine, conn, err));
      return;
    }
    return route(engine, conn, packet, allowed);
  }
  route(engine, conn, packet, ReasonCode.Success);
}

/**
 * Routes an authorized PUBLISH and acknowledges it. A refused one (a failure Reason Code) is
 * acknowledged and dropped: 3.1.1 has no negative PUBACK [MQTT-3.3.5-2]; MQTT 5 will put the
 * code in its PUBACK / PUBREC.
 */
function route(engine: Engine, conn: Connection, packet: PublishPacket, verdict: PublishVerdict): void {
  if (!isFailure(verdict)) {
    // The payload is a view into the received chunk; the message keeps it (no copy).
    // [MQTT-3.3.1-3] the outbound DUP is ours alone: Message encodings start with DUP=0.
    engine.stats.messagesReceived++;
    const msg = new Message(packet.topic, packet.payload, packet.qos, packet.retain, conn.clientId);
    if (packet.properties !== undefined) msg.setV5Properties(packet.properties);
    engine.publish(msg, conn);
  } else {
    engine.stats.droppedUnauthorized++;
  }
  acknowledge(conn, packet);
}

function acknowledge(conn: Connection, packet: PublishPacket): void {
  if (packet.qos === 1) {
    // [MQTT-4.3.2-2, MQTT-2.3.1-6] PUBACK with the same id once we own the message.
    conn.send(encodeAck(PacketType.PUBACK, packet.packetId));
  } else if (packet.qos === 2) {
    conn.session!.addIncomingQos2(packet.packetId);
    conn.send(encodeAck(PacketType.PUBREC, packet.packetId));
  }
}
