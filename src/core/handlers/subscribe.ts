import type { Engine } from '../engine';
import { type Connection, Pause } from '../connection/connection';
import { clientInfo } from '../hooks/types';
import { isThenable } from '../hooks/registry';
import { toV3SubackReturnCode } from '../protocol/reason-codes';
import { encodeSuback } from '../protocol/encoder';
import { PacketType, SUBACK_FAILURE, type QoS, type SubscribePacket } from '../protocol/packets';
import { encodeSubackFor, REASON_STRINGS } from '../engine/v5-flow';
import { isValidTopicFilter } from '../topics/topic-validation';
import { exceedsTopicLimits } from '../topics/topic-limits';
import { isSharedFilter, sharedFilterStart } from '../topics/shared-groups';
import { failAfterVerdict } from './connect';
import { ProtocolError } from '../protocol/errors';
import { isReasonCodeAllowed, ReasonCode } from '../protocol/reason-codes';
import type { Session } from '../sessions/session';
import type { Subscription } from '../protocol/packets';

/**
 * The SUBACK code of a refusal: MQTT 5 names the cause v5 [MQTT-3.9.3-2] (0x8F Topic Filter
 * invalid, 0x97 Quota exceeded, a plugin's own code such as 0x87); 3.1.1 has only 0x80.
 */
function refusal(conn: Connection, code: ReasonCode): number {
  return conn.v5 !== null ? code : SUBACK_FAILURE;
}

/** A plugin's verdict as this connection's SUBACK code (3.1.1: folded to 0x80). */
function subackCode(conn: Connection, verdict: ReasonCode): number {
  return conn.v5 !== null && isReasonCodeAllowed(PacketType.SUBACK, verdict) ? verdict : toV3SubackReturnCode(verdict);
}

/** The Reason String of a SUBACK: the first refusal's, null when every filter was granted. */
function subackReason(codes: number[]): string | null {
  for (let i = 0; i < codes.length; i++) if (codes[i] >= SUBACK_FAILURE) return REASON_STRINGS[codes[i]] ?? null;
  return null;
}

/**
 * MQTT 5 No Local, Retain As Published and the Subscription Identifier of a subscription, kept
 * beside its QoS (Delivery reads them); a re-subscribe replaces them all, so a SUBSCRIBE without
 * an identifier removes the old one [unnumbered §3.8.2.1.2], v5 [MQTT-3.8.4-3].
 */
function setOptions(session: Session, filter: string, sub: Subscription, subscriptionId: number): void {
  session.setSubscriptionOptions(filter, {
    noLocal: sub.noLocal === true,
    retainAsPublished: sub.retainAsPublished === true,
    retainHandling: sub.retainHandling ?? 0,
    subscriptionId,
  });
}

/**
 * SUBSCRIBE [MQTT-3.8.4-1..6]: one SUBACK for the whole packet, one return code per filter in
 * request order [MQTT-3.9.3-1]. Choices (docs/conformance.md): an ill-formed filter (`a/#/b`,
 * `a+`) or one beyond the limits gets 0x80 rather than closing; the grant is the requested QoS
 * (we support 2) unless a plugin lowers it. Retained messages follow the SUBACK, in slices.
 *
 * The packet acts as the sequence of SUBSCRIBEs it stands for [MQTT-3.8.4-4], with its work
 * bounded: filters beyond max-filters-per-subscribe get 0x80 (counted) without being looked at;
 * a filter repeated in the packet is validated and authorized once per requested QoS, each
 * occurrence still gets its return code, and only its last granted occurrence is applied (the
 * sequence's outcome [MQTT-3.8.4-3]), with its retained messages sent once.
 */
export function handleSubscribe(engine: Engine, conn: Connection, packet: SubscribePacket): void {
  const subs = packet.subscriptions;
  // The parser decodes at most max-filters-per-subscribe filters and counts the rest (overflow).
  const n = subs.length + (packet.overflow ?? 0);
  const granted: number[] = new Array(n);
  const max = engine.limits.maxFiltersPerSubscribe;
  // Index of the earlier identical (filter, QoS) request, for repeats; only built for n > 1.
  let firstOf: Map<string, number> | null = null;
  let repeatOf: Int32Array | null = null;
  if (n > 1) {
    firstOf = new Map();
    repeatOf = new Int32Array(Math.min(n, max)).fill(-1);
  }
  let pending: Promise<void>[] | null = null;
  for (let i = 0; i < n; i++) {
    if (i >= max) {
      engine.stats.refusedSubscribeFilters += n - i;
      for (let k = i; k < n; k++) granted[k] = refusal(conn, ReasonCode.QuotaExceeded);
      break;
    }
    const { topic: filter, qos } = subs[i];
    if (firstOf !== null) {
      const key = qos + filter;
      const first = firstOf.get(key);
      if (first !== undefined) {
        repeatOf![i] = first;
        continue;
      }
      firstOf.set(key, i);
    }
    // A shared filter $share/{ShareName}/{filter} [v5 MQTT-4.8.2-1/2]: the limits bound the whole
    // string; the plugins authorize its inner filter, as for a non-shared subscription to it.
    const shared = isSharedFilter(filter) ? sharedFilterStart(filter) : 0;
    // v5 [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
    if (shared !== 0 && subs[i].noLocal === true) throw new ProtocolError('No Local on a shared subscription', 'MQTT-3.8.3-4', ReasonCode.ProtocolError);
    if (shared < 0 || !isValidTopicFilter(filter) || exceedsTopicLimits(engine.limits, filter)) {
      granted[i] = refusal(conn, ReasonCode.TopicFilterInvalid);
      continue;
    }
    const verdict = engine.hooks.authorizeSubscribe(clientInfo(conn), shared > 0 ? filter.substring(shared) : filter, qos);
    if (isThenable(verdict)) {
      granted[i] = SUBACK_FAILURE;
      (pending ??= []).push(verdict.then((v) => void (granted[i] = subackCode(conn, v))));
    } else {
      granted[i] = subackCode(conn, verdict);
    }
  }
  if (pending === null) return applySubscribe(engine, conn, packet, granted, repeatOf);
  conn.pause(Pause.PLUGIN);
  Promise.all(pending)
    .then(() => {
      if (!conn.isOpen) return;
      applySubscribe(engine, conn, packet, granted, repeatOf);
      conn.resume(Pause.PLUGIN);
    })
    .catch((err: unknown) => failAfterVerdict(engine, conn, err));
}

function applySubscribe(engine: Engine, conn: Connection, packet: SubscribePacket, granted: number[], repeatOf: Int32Array | null): void {
  const session = conn.session!;
  const subs = packet.subscriptions;
  const n = Math.min(subs.length, engine.limits.maxFiltersPerSubscribe);
  // The last granted occurrence of each filter is the one the sequence leaves in place.
  let lastOf: Map<string, number> | null = null;
  if (repeatOf !== null) {
    lastOf = new Map();
    for (let i = 0; i < n; i++) {
      if (repeatOf[i] >= 0) granted[i] = granted[repeatOf[i]];
      if (granted[i] < SUBACK_FAILURE) lastOf.set(subs[i].topic, i);
    }
  }
  const added: number[] = [];
  // Retain Handling 1 needs to know whether the subscription existed before this packet.
  const existed: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const g = granted[i];
    if (g >= SUBACK_FAILURE) continue;
    const filter = subs[i].topic;
    if (lastOf !== null && lastOf.get(filter) !== i) continue;
    const isNew = !session.subscriptions?.has(filter);
    if (isNew && session.subscriptionCount >= engine.limits.maxSubscriptions) {
      // Every occurrence in the sequence would have met the same limit.
      for (let k = 0; k < n; k++) {
        if (granted[k] < SUBACK_FAILURE && subs[k].topic === filter) {
          engine.stats.refusedSubscriptionLimit++;
          granted[k] = refusal(conn, ReasonCode.QuotaExceeded);
        }
      }
      continue;
    }
    // [MQTT-3.8.4-3] an identical filter replaces the old subscription (one entry, new QoS);
    // a shared one may meet max-shared-groups / max-shared-group-members.
    if (!engine.router.subscribe(filter, session, g as QoS)) {
      granted[i] = refusal(conn, ReasonCode.QuotaExceeded);
      continue;
    }
    session.setSubscription(filter, g as QoS);
    // [unnumbered §3.8.2.1.2] the identifier (the codec refused 0 and a second one: 0x82) goes with
    // each subscription the packet creates or modifies.
    if (conn.v5 !== null) setOptions(session, filter, subs[i], packet.properties?.subscriptionIdentifiers?.[0] ?? 0);
    added.push(i);
    existed.push(!isNew);
  }
  // [MQTT-3.8.4-2, MQTT-2.3.1-7] SUBACK carries the SUBSCRIBE's packet id.
  // v5 [MQTT-3.9.3-1/2]: the granted QoS values are the v5 Subscribe Reason Codes 0x00..0x02, and
  // 0x80 is v5's Unspecified error.
  // MQTT 5 refusals carry their own code (v5 [MQTT-3.9.3-2]) and a Reason String (engine/v5-flow.ts).
  conn.send(conn.v5 !== null ? encodeSubackFor(conn.v5, packet.packetId, granted, subackReason(granted)) : encodeSuback(packet.packetId, granted));
  for (let k = 0; k < added.length; k++) {
    const i = added[k];
    const filter = subs[i].topic;
    // [MQTT-3.3.1-6] retained messages of every matching topic, also on re-subscribe [MQTT-3.8.4-3];
    // never on a shared subscription (v5 section 3.8.4). MQTT 5 Retain Handling: 0 send
    // v5 [MQTT-3.3.1-9], 1 only for a new subscription v5 [MQTT-3.3.1-10], 2 never v5 [MQTT-3.3.1-11].
    const rh = subs[i].retainHandling ?? 0;
    if (!isSharedFilter(filter) && (rh === 0 || (rh === 1 && !existed[k]))) engine.sendRetained(session, filter, granted[i] as QoS);
    if (engine.events.listenerCount('clientSubscribed') > 0) engine.events.emit('clientSubscribed', { ...clientInfo(conn), filter, qos: granted[i] as QoS });
  }
  if (conn.retainedJobs !== null) engine.retainedDelivery.start(conn);
}
