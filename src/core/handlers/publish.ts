import type { Engine } from '../engine';
import { type Connection, Pause } from '../connection/connection';
import { clientInfo } from '../hooks/types';
import { isThenable, type PublishVerdict } from '../hooks/registry';
import { isFailure, isReasonCodeAllowed, ReasonCode } from '../protocol/reason-codes';
import { encodeAck, encodePuback } from '../protocol/encoder';
import { PacketType, type PublishPacket } from '../protocol/packets';
import { Message } from '../sessions/message';
import { resolveInboundPublish } from '../engine/topic-aliases';
import { exceedsTopicLimits, TopicLimitError } from '../topics/topic-limits';
import { failAfterVerdict } from './connect';
import { encodeAckFor, REASON_STRINGS, releaseInboundQos1, releaseInboundQos2, takeInbound } from '../engine/v5-flow';
import { isValidUtf8 } from '../protocol/utf8';
import { ProtocolError } from '../protocol/errors';

/**
 * Inbound PUBLISH [MQTT-3.3.4-1]: QoS 0 routed; QoS 1 routed then PUBACK; QoS 2 routed once
 * then PUBREC, with the id remembered until PUBREL so a repeat is acknowledged but never routed
 * twice [MQTT-4.3.3-2]. The parser has rejected wildcards, empty topics, QoS 3 and DUP on QoS 0.
 */
export function handlePublish(engine: Engine, conn: Connection, packet: PublishPacket): void {
  engine.stats.publishReceived++;
  // One test for what only some v5 publishes need (a QoS 0 PUBLISH without properties, and every
  // 3.1.1 one, skips it): the v5 checks sit out of line so this function stays small.
  if (packet.properties !== undefined || (packet.qos !== 0 && conn.v5 !== null)) admitPublishV5(engine, conn, packet);
  if (exceedsTopicLimits(engine.limits, packet.topic)) throw new TopicLimitError('topic exceeds the configured limits');

  if (packet.qos === 2 && conn.session!.hasIncomingQos2(packet.packetId)) {
    // A repeat before PUBREL: acknowledge again, deliver nothing.
    conn.send(encodeAck(PacketType.PUBREC, packet.packetId));
    return;
  }

  // Clients may not publish into $SYS: acknowledged and dropped (3.1.1 has no negative ack
  // [MQTT-3.3.5-2]); an MQTT 5 client is told 0x87 Not authorized.
  if (packet.topic.charCodeAt(0) === 36 /* $ */ && packet.topic.startsWith('$SYS')) {
    engine.stats.droppedUnauthorized++;
    return acknowledge(conn, packet, ReasonCode.NotAuthorized);
  }

  // v5 §3.3.2.3.2 Payload Format Indicator 1 announces UTF-8: the server MAY check it, and does
  // (only such publishes pay for it): PUBACK/PUBREC 0x99, the message is not routed.
  if (packet.properties !== undefined && packet.properties.payloadFormatIndicator === 1 && !isValidUtf8(packet.payload, 0, packet.payload.length)) {
    engine.stats.droppedPayloadFormat++;
    return acknowledge(conn, packet, ReasonCode.PayloadFormatInvalid);
  }

  if (engine.hooks.hasPublishAuthorizers) {
    const allowed = engine.hooks.authorizePublish(clientInfo(conn), packet.topic, packet.qos, packet.retain, packet.properties);
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
 * The MQTT 5 admission checks of an inbound PUBLISH with properties or QoS > 0: a Topic Alias
 * resolved to its topic, a Subscription Identifier refused (engine/topic-aliases.ts); beyond the
 * Receive Maximum we announced, DISCONNECT 0x93 v5 [MQTT-3.3.4-7]. The alias is resolved before
 * the topic limits are checked (they apply to the real topic).
 */
function admitPublishV5(engine: Engine, conn: Connection, packet: PublishPacket): void {
  const v5 = conn.v5!;
  if (packet.properties !== undefined) resolveInboundPublish(v5, packet);
  if (packet.qos !== 0 && !takeInbound(v5, packet.qos, packet.packetId)) {
    engine.stats.closedReceiveMaximum++;
    throw new ProtocolError('more unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum', 'MQTT-3.3.4-7', ReasonCode.ReceiveMaximumExceeded);
  }
}

/**
 * Routes an authorized PUBLISH and acknowledges it. A refused one (a failure Reason Code) is
 * acknowledged and dropped: 3.1.1 has no negative PUBACK [MQTT-3.3.5-2]; an MQTT 5 client gets
 * the code in its PUBACK / PUBREC (0x87 when the plugin's code is not one PUBACK may carry). A
 * retained message refused by the retained quota is still delivered live; a v5 publisher learns
 * it was not retained from 0x97 Quota exceeded.
 */
function route(engine: Engine, conn: Connection, packet: PublishPacket, verdict: PublishVerdict): void {
  let code: number = ReasonCode.Success;
  if (!isFailure(verdict)) {
    // The payload is a view into the received chunk; the message keeps it (no copy).
    // [MQTT-3.3.1-3] the outbound DUP is ours alone: Message encodings start with DUP=0.
    engine.stats.messagesReceived++;
    const msg = new Message(packet.topic, packet.payload, packet.qos, packet.retain, conn.clientId);
    if (packet.properties !== undefined) msg.setV5Properties(packet.properties);
    if (!engine.publish(msg, conn)) code = ReasonCode.QuotaExceeded;
  } else {
    engine.stats.droppedUnauthorized++;
    code = isReasonCodeAllowed(PacketType.PUBACK, verdict) ? verdict : ReasonCode.NotAuthorized;
  }
  acknowledge(conn, packet, code);
}

/**
 * PUBACK (QoS 1) or PUBREC (QoS 2) with the same id once we own the message [MQTT-4.3.2-2,
 * MQTT-2.3.1-6]. `code` reaches MQTT 5 clients only (3.1.1 gets the success ack); a PUBREC with a
 * failure code ends the QoS 2 exchange: the id is not kept for a PUBREL v5 [MQTT-4.3.3-8/9].
 */
function acknowledge(conn: Connection, packet: PublishPacket, code: number = ReasonCode.Success): void {
  const v5 = conn.v5;
  if (packet.qos === 1) {
    if (v5 === null) return conn.send(encodePuback(packet.packetId));
    releaseInboundQos1(v5);
    conn.send(code === 0 ? encodePuback(packet.packetId) : encodeAckFor(v5, PacketType.PUBACK, packet.packetId, code, REASON_STRINGS[code] ?? null));
  } else if (packet.qos === 2) {
    if (v5 === null || code === 0) {
      conn.session!.addIncomingQos2(packet.packetId);
      return conn.send(encodeAck(PacketType.PUBREC, packet.packetId));
    }
    releaseInboundQos2(v5, packet.packetId);
    conn.send(encodeAckFor(v5, PacketType.PUBREC, packet.packetId, code, REASON_STRINGS[code] ?? null));
  }
}
