/**
 * MQTT 5 Topic Aliases, both ways. The maps live in the connection's ClientV5Settings, never in
 * the session: they end with the network connection v5 [MQTT-3.3.2-7].
 *
 * Inbound: the client may set aliases 1..limits.max-topic-alias (our Topic Alias Maximum in
 * CONNACK). The map holds at most that many topics, each within the topic limits (a longer topic
 * closes the connection in handlePublish before it is used).
 *
 * Outbound (to a client whose CONNECT had a Topic Alias Maximum > 0): the first N distinct topics
 * sent to the connection get aliases 1..N and keep them, N = min(the client's maximum,
 * limits.max-outbound-topic-aliases); later topics go without an alias. Why not LRU replacement:
 * a replaced alias costs the full topic again (so a client cycling through more topics than N
 * gains nothing from it), a hit would cost a reorder per message, and a mapping that never
 * changes cannot be misread by a client when copies of different QoS leave out of the order
 * they were encoded in. The first time a topic goes with its alias it carries the topic too;
 * afterwards the Topic Name is empty.
 */
import type { ClientV5Settings } from '../connection/link';
import { PROTOCOL_ERROR, ProtocolError } from '../protocol/errors';
import type { PublishPacket } from '../protocol/packets';
import { ReasonCode } from '../protocol/reason-codes';

/**
 * A v5 PUBLISH's properties, checked and applied before anything reads its topic: a Subscription
 * Identifier from a client is a Protocol Error v5 [MQTT-3.3.4-6]; a Topic Alias sets or uses the
 * connection's mapping (packet.topic is the full topic afterwards).
 */
export function resolveInboundPublish(v5: ClientV5Settings, packet: PublishPacket): void {
  const props = packet.properties!;
  if (props.subscriptionIdentifiers !== undefined) {
    throw new ProtocolError('PUBLISH from a client with a Subscription Identifier', 'MQTT-3.3.4-6', PROTOCOL_ERROR);
  }
  const alias = props.topicAlias;
  if (alias === undefined) return;
  // v5 [MQTT-3.3.2-8] 0 is not an alias; v5 [MQTT-3.2.2-17/18] [MQTT-3.3.2-9] none above our maximum.
  if (alias === 0 || alias > v5.serverTopicAliasMaximum) {
    throw new ProtocolError(`Topic Alias ${alias} outside 1..${v5.serverTopicAliasMaximum}`, alias === 0 ? 'MQTT-3.3.2-8' : 'MQTT-3.3.2-9', ReasonCode.TopicAliasInvalid);
  }
  if (packet.topic.length > 0) {
    // v5 [MQTT-3.3.2-12] a topic with an alias sets or replaces the mapping.
    (v5.inboundAliases ??= new Map()).set(alias, packet.topic);
    return;
  }
  const topic = v5.inboundAliases?.get(alias);
  // v5 [MQTT-3.3.2-12] an empty topic with an alias never set on this connection: Protocol Error.
  if (topic === undefined) throw new ProtocolError(`Topic Alias ${alias} used before it was set`, 'MQTT-3.3.2-12', PROTOCOL_ERROR);
  packet.topic = topic;
}

/** A connection's outbound aliases (ClientV5Settings.outboundAliases). */
export class OutboundAliases {
  /** topic -> alias, at most `max` entries, never replaced. */
  readonly byTopic = new Map<string, number>();
  constructor(readonly max: number) {}
}

/**
 * The alias for sending `topic` to this v5 connection: 0 for none (send the topic), `a` > 0 for
 * an alias the client knows (send an empty topic), `-a` for an alias assigned now (send the topic
 * with it). `cap` is limits.max-outbound-topic-aliases. Never above the client's Topic Alias
 * Maximum v5 [MQTT-3.1.2-26], [MQTT-3.3.2-11]; none when it is 0 or absent v5 [MQTT-3.1.2-27].
 * Call it only for a PUBLISH that is written to the connection (the mapping is then known to the
 * client, in order).
 */
export function outboundAlias(v5: ClientV5Settings, topic: string, cap: number): number {
  const clientMax = v5.topicAliasMaximum;
  if (clientMax === 0 || cap === 0) return 0;
  let aliases = v5.outboundAliases as OutboundAliases | null;
  if (aliases === null) aliases = (v5.outboundAliases = new OutboundAliases(clientMax < cap ? clientMax : cap)) as OutboundAliases;
  const known = aliases.byTopic.get(topic);
  if (known !== undefined) return known;
  const size = aliases.byTopic.size;
  if (size >= aliases.max) return 0;
  aliases.byTopic.set(topic, size + 1);
  return -(size + 1);
}
