import { PacketType } from '../protocol/packets';
import { readProperties } from '../protocol/properties';
import { Message } from '../sessions/message';
import type { ClusterMessage } from './types';

/**
 * A bus message as a Message of this node, its MQTT 5 properties decoded; null when they do not
 * decode (not ours: the codec wrote them; skipped like a malformed bus entry). The payload stays a
 * view into the bus entry: Message.compact() copies it if the message is kept.
 */
export function messageFromCluster(m: ClusterMessage): Message | null {
  const msg = new Message(m.topic, m.payload, m.qos, m.retain, m.publisherId);
  if (m.properties !== null) {
    try {
      const props = readProperties({ buf: m.properties, p: 0, e: m.properties.length }, PacketType.PUBLISH);
      if (props !== undefined) msg.setV5Properties(props);
    } catch {
      return null;
    }
  }
  return msg;
}
