import { PacketType, type Properties, type QoS } from '../protocol/packets';
import { encodeProperties, readProperties, variableByteIntegerSize, writeVariableByteInteger } from '../protocol/properties';
import { Message } from '../sessions/message';
import type { Session } from '../sessions/session';

/**
 * How a durable store writes the MQTT 5 parts of a message and a subscription (schema v4,
 * docs/durability.md). A 3.1.1 message has no properties and never expires: its columns are NULL
 * and 0 and nothing here runs for it.
 *
 * Properties are kept in the codec's own encoding, as a PUBLISH carries them (Property Length,
 * then the properties in identifier order, User Properties in their order): the decoder that
 * checks them on the wire reads them back, and nothing else has to learn a second format.
 */

/** A message's properties as stored: Property Length + properties; null for none (3.1.1). */
export function encodeStoredProperties(props: Properties | null): Buffer | null {
  if (props === null) return null;
  const body = encodeProperties(props, PacketType.PUBLISH);
  const out = Buffer.allocUnsafe(variableByteIntegerSize(body.length) + body.length);
  body.copy(out, writeVariableByteInteger(out, 0, body.length));
  return out;
}

/** The properties of a stored row (undefined for an empty set). */
export function decodeStoredProperties(bytes: Buffer): Properties | undefined {
  return readProperties({ buf: bytes, p: 0, e: bytes.length }, PacketType.PUBLISH);
}

/**
 * A message read back from a row: its properties restored as setV5Properties keeps them (so its
 * byte size counts them again), and its expiry as the absolute deadline it had, so that a restart
 * neither resets nor extends a Message Expiry Interval v5 [MQTT-3.3.2-5].
 */
export function restoreMessage(topic: string, payload: Buffer, qos: QoS, retain: boolean, properties: Buffer | null, expiresAt: number): Message {
  const m = new Message(topic, payload, qos, retain, '');
  if (properties !== null) {
    const props = decodeStoredProperties(properties);
    if (props !== undefined) m.setV5Properties(props);
  }
  m.expiresAt = expiresAt;
  m.compact();
  return m;
}

/** The per-filter Subscription Options value of a session, whatever fields it has grown. */
export type StoredSubscriptionOptions = NonNullable<Session['subscriptionOptions']> extends Map<string, infer V> ? V : never;

/**
 * Subscription Options as stored: the per-filter value as JSON (a bit set today, or an object with
 * more fields such as a Subscription Identifier), so fields added later are kept without a new
 * schema; null when the filter has none (every 3.1.1 subscription).
 */
export function encodeStoredOptions(options: StoredSubscriptionOptions | undefined): string | null {
  return options === undefined ? null : JSON.stringify(options);
}

export function decodeStoredOptions(text: string): StoredSubscriptionOptions {
  return JSON.parse(text) as StoredSubscriptionOptions;
}
