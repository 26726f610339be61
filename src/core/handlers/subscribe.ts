import { type Connection, Pause } from '../connection/connection';
import { clientInfo } from '../engine';
import { isThenable } from '../hooks/registry';
import { encodeSuback } from '../protocol/encoder';
import { SUBACK_FAILURE, type QoS, type SubscribePacket } from '../protocol/packets';
import { isValidTopicFilter } from '../topics/topic-validation';
import { exceedsTopicLimits, failAfterVerdict } from './connect';

/**
 * SUBSCRIBE [MQTT-3.8.4-1..6]: one SUBACK for the whole packet, one return code per filter in
 * request order [MQTT-3.9.3-1]. Choices (docs/conformance.md): an ill-formed filter (`a/#/b`,
 * `a+`) or one beyond the limits gets 0x80 rather than closing; the grant is the requested QoS
 * (we support 2) unless a plugin lowers it. Retained messages follow the SUBACK.
 */
export function handleSubscribe(conn: Connection, packet: SubscribePacket): void {
  const engine = conn.engine;
  const subs = packet.subscriptions;
  const granted: number[] = new Array(subs.length);
  let pending: Promise<void>[] | null = null;
  for (let i = 0; i < subs.length; i++) {
    const { topic: filter, qos } = subs[i];
    if (!isValidTopicFilter(filter) || exceedsTopicLimits(conn, filter)) {
      granted[i] = SUBACK_FAILURE;
      continue;
    }
    const verdict = engine.hooks.authorizeSubscribe(clientInfo(conn), filter, qos);
    if (isThenable(verdict)) {
      granted[i] = SUBACK_FAILURE;
      (pending ??= []).push(verdict.then((v) => void (granted[i] = v === false ? SUBACK_FAILURE : v)));
    } else {
      granted[i] = verdict === false ? SUBACK_FAILURE : verdict;
    }
  }
  if (pending === null) return applySubscribe(conn, packet, granted);
  conn.pause(Pause.AUTH);
  Promise.all(pending)
    .then(() => {
      if (!conn.isOpen) return;
      applySubscribe(conn, packet, granted);
      conn.resume(Pause.AUTH);
    })
    .catch((err: unknown) => failAfterVerdict(conn, err));
}

function applySubscribe(conn: Connection, packet: SubscribePacket, granted: number[]): void {
  const engine = conn.engine;
  const session = conn.session!;
  const subs = packet.subscriptions;
  const added: number[] = [];
  for (let i = 0; i < subs.length; i++) {
    const g = granted[i];
    if (g === SUBACK_FAILURE) continue;
    const filter = subs[i].topic;
    const isNew = !session.subscriptions?.has(filter);
    if (isNew && session.subscriptionCount >= engine.limits.maxSubscriptions) {
      engine.stats.refusedSubscriptionLimit++;
      granted[i] = SUBACK_FAILURE;
      continue;
    }
    // [MQTT-3.8.4-3] an identical filter replaces the old subscription (one entry, new QoS).
    engine.subscriptions.add(filter, session, g as QoS);
    session.setSubscription(filter, g as QoS);
    added.push(i);
  }
  // [MQTT-3.8.4-2, MQTT-2.3.1-7] SUBACK carries the SUBSCRIBE's packet id.
  conn.send(encodeSuback(packet.packetId, granted));
  for (const i of added) {
    const filter = subs[i].topic;
    // [MQTT-3.3.1-6] retained messages of every matching topic, also on re-subscribe [MQTT-3.8.4-3].
    engine.sendRetained(session, filter, granted[i] as QoS);
    if (engine.events.listenerCount('clientSubscribed') > 0) engine.events.emit('clientSubscribed', { ...clientInfo(conn), filter, qos: granted[i] as QoS });
  }
}
