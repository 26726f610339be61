import { EncodedPublish } from '../protocol/encoder';
import { EncodedPublishV5 } from '../protocol/encoder-v5';
import type { Properties, QoS } from '../protocol/packets';

/**
 * An application message the broker has taken responsibility for. One instance is shared by
 * every session it is delivered to, and so is its encoding: the bytes are built once
 * (`encoded`), and each receiver gets either the shared QoS 0 bytes or a copy with its own packet
 * id patched in.
 */
export class Message {
  /** Bytes of this message without a packet id; the same object serves every receiver. */
  encoded: EncodedPublish;
  private retainedEncoded: EncodedPublish | null = null;
  /** MQTT 5 bytes (RETAIN per receiver), built when the first v5 receiver needs them. */
  private encodedV5: EncodedPublishV5 | null = null;
  /** For a message that expires: the remaining interval (seconds) encodedV5 carries. */
  private encodedV5Left = 0;
  private compacted = false;
  /**
   * Whose retained-message quota it counts against once stored (topics/retained-quota.ts): a
   * username, null for an anonymous client, undefined for the broker itself (or a message
   * stored before owners were recorded), which only the global limits cover.
   */
  retainedOwner: string | null | undefined = undefined;
  /**
   * MQTT 5 application properties carried to subscribers unchanged (Payload Format Indicator,
   * Content Type, Response Topic, Correlation Data, User Properties), null for none (3.1.1).
   * Never Topic Alias or Subscription Identifiers: those are per receiver.
   */
  properties: Properties | null = null;
  /**
   * Epoch ms at which it expires (MQTT 5 Message Expiry Interval), 0 for never: queued,
   * in-flight-not-yet-sent and retained copies are dropped then; deliveries carry the remaining
   * interval (v5 [MQTT-3.3.2-5/6]).
   */
  expiresAt = 0;
  /**
   * Clustered: the route-log position it was routed with (the sending node's, from its bus entry;
   * this node's own for a local publish), '' when unknown. A node whose copy of a session was
   * taken over compares it with the new node's cut to forward only what did not reach it there
   * (cluster/cluster-node.ts forwardFenced).
   */
  route = '';

  constructor(
    readonly topic: string,
    /** Received payloads are views into the socket's chunk (zero-copy); see compact(). */
    public payload: Buffer,
    /** The QoS it was published with; delivery is at min(this, granted QoS) [MQTT-3.8.4-6]. */
    readonly qos: QoS,
    /** Whether it is (also) the retained message of its topic. */
    readonly retain: boolean,
    /** Client id of the publisher, or '' for the broker itself ($SYS, API). */
    readonly origin: string,
  ) {
    // Live deliveries carry RETAIN=0 whatever the publisher set [MQTT-3.3.1-9]; copies sent because a
    // subscription was just made carry RETAIN=1 [MQTT-3.3.1-8] and use `retainedEncoding`.
    this.encoded = new EncodedPublish(topic, payload, false);
  }

  /** Encoding with RETAIN=1, for delivery of the stored retained copy on subscribe. */
  get retainedEncoding(): EncodedPublish {
    if (this.retainedEncoded === null) this.retainedEncoded = new EncodedPublish(this.topic, this.payload, true);
    return this.retainedEncoded;
  }

  /**
   * The MQTT 5 encoding, shared by every v5 receiver: the message's properties carried unchanged
   * v5 [MQTT-3.3.2-20/22], [MQTT-3.3.2-18] (User Properties in order). A message that expires is
   * encoded with the interval left v5 [MQTT-3.3.2-6], once per value of it (a fan-out within the
   * same second shares one encoding); `now` is the caller's clock.
   */
  encodingV5(now: number): EncodedPublishV5 {
    if (this.expiresAt !== 0) return this.expiringEncodingV5(now);
    return this.encodedV5 ?? (this.encodedV5 = new EncodedPublishV5(this.topic, this.payload, this.properties ?? undefined, this.encoded.topicLength));
  }

  /** encodingV5() of a message that expires (out of line: most messages do not). */
  private expiringEncodingV5(now: number): EncodedPublishV5 {
    const left = Math.max(1, Math.ceil((this.expiresAt - now) / 1000));
    if (this.encodedV5 !== null && this.encodedV5Left === left) return this.encodedV5;
    this.encodedV5Left = left;
    return (this.encodedV5 = new EncodedPublishV5(this.topic, this.payload, { ...this.properties, messageExpiryInterval: left }, this.encoded.topicLength));
  }

  /**
   * An MQTT 5 PUBLISH's (or Will's) properties: forwarded unchanged v5 [MQTT-3.3.2-17/18/20/22]
   * but for the Topic Alias and Subscription Identifiers, which are per hop / per receiver
   * v5 [MQTT-3.3.4-6], and the Will Delay Interval; the Message Expiry Interval becomes a
   * deadline v5 [MQTT-3.3.2-5], sent per delivery with the interval left.
   */
  setV5Properties(props: Properties): void {
    let forwarded: Properties = props;
    if (
      props.topicAlias !== undefined ||
      props.subscriptionIdentifiers !== undefined ||
      props.messageExpiryInterval !== undefined ||
      props.willDelayInterval !== undefined
    ) {
      forwarded = { ...props };
      delete forwarded.topicAlias;
      delete forwarded.subscriptionIdentifiers;
      delete forwarded.messageExpiryInterval;
      delete forwarded.willDelayInterval;
    }
    if (props.messageExpiryInterval !== undefined) this.expiresAt = Date.now() + props.messageExpiryInterval * 1000;
    this.propertyBytes = propertyBytes(forwarded);
    for (const key in forwarded) {
      if ((forwarded as Record<string, unknown>)[key] !== undefined) {
        this.properties = forwarded;
        return;
      }
    }
  }

  /** Bytes of the MQTT 5 properties it carries (User Properties, Correlation Data, ...): they count like payload. */
  private propertyBytes = 0;

  /**
   * Bytes this message holds beyond its topic: the payload and its MQTT 5 properties. What the
   * queue and retained byte budgets count, so that a v5 message of small payload and large User
   * Properties is bounded like a large payload.
   */
  get size(): number {
    return this.payload.length + this.propertyBytes;
  }

  /** Whether its Message Expiry Interval has passed (never for 3.1.1 messages) v5 [MQTT-3.3.2-5]. */
  isExpired(now: number): boolean {
    return this.expiresAt !== 0 && this.expiresAt <= now;
  }

  /**
   * Called before the message is kept beyond the turn that received it (retained, queued, in
   * flight): a payload that is a view into a larger received chunk is copied, so that a few
   * stored bytes do not pin a whole 64 KiB socket buffer. Done at most once per message.
   */
  compact(): void {
    if (this.compacted) return;
    this.compacted = true;
    const p = this.payload;
    if (p.length === p.buffer.byteLength) return;
    const copy = (this.payload = Buffer.from(p));
    // Same bytes: the encodings keep what they already built (no second template), only
    // their reference to the chunk goes.
    this.encoded.adoptPayload(copy);
    this.retainedEncoded?.adoptPayload(copy);
    this.encodedV5 = null; // rebuilt on the copy when needed (it would pin the chunk)
  }
}

/** States of an outbound QoS 1/2 message in a session's in-flight window (section 4.3). */
export enum OutboundState {
  /** PUBLISH sent (QoS 1 or 2), awaiting PUBACK or PUBREC. */
  AWAIT_ACK = 1,
  /** PUBREC received and PUBREL sent (QoS 2), awaiting PUBCOMP; the PUBLISH is never resent [MQTT-4.3.3-1]. */
  AWAIT_COMP = 2,
}

/** One outbound QoS 1/2 delivery in flight to a client, keyed by its packet id in the session. */
export class InflightMessage {
  constructor(
    readonly packetId: number,
    readonly message: Message,
    readonly qos: 1 | 2,
    /** Sent with RETAIN=1 because it answered a new subscription. */
    readonly retainFlag: boolean,
    public state: OutboundState,
  ) {}

  /** Order key assigned by a durable store (0 = not stored). */
  seq = 0;
  /** The `$share/...` group this delivery was chosen for; null: a non-shared subscription (not stored). */
  sharedGroup: string | null = null;
  /**
   * Not re-sent yet on this connection: the client came back with a Receive Maximum smaller than
   * what was in flight, and the rest waits for acknowledgements (engine/delivery.ts; not stored).
   */
  unsent = false;
}

/** A delivery waiting for room in the in-flight window, or for its offline client. */
export class QueuedMessage {
  constructor(
    readonly message: Message,
    readonly qos: QoS,
    readonly retainFlag: boolean,
  ) {}

  /** Order key assigned by a durable store (0 = not stored). */
  seq = 0;
  /** The `$share/...` group this delivery was chosen for; null: a non-shared subscription (not stored). */
  sharedGroup: string | null = null;
}

/** Bytes of the variable-length application properties (fixed-size ones are a few bytes each). */
function propertyBytes(p: Properties): number {
  let n = 0;
  if (p.contentType !== undefined) n += p.contentType.length;
  if (p.responseTopic !== undefined) n += p.responseTopic.length;
  if (p.correlationData !== undefined) n += p.correlationData.length;
  const user = p.userProperties;
  if (user !== undefined) for (let i = 0; i < user.length; i++) n += user[i][0].length + user[i][1].length + 4;
  return n;
}
