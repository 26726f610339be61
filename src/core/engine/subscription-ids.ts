/**
 * MQTT 5 Subscription Identifiers of a delivery. One copy goes to a session however many of its
 * subscriptions match (the QoS is the highest of them, as in 3.1.1), and it carries the
 * identifiers of all of them v5 [MQTT-3.3.4-3], [MQTT-3.3.4-4]; a copy for a shared subscription
 * carries that subscription's identifier. Computed when the copy is written (also for a queued
 * copy and a re-send), from the subscriptions then in force; only a session that has an
 * identifier pays for it (Session.subscriptionIdCount).
 */
import type { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import { isSharedFilter } from '../topics/shared-groups';
import { matchesFilter } from '../topics/topic-match';

/**
 * The identifiers `msg` carries to `session` (undefined: none). `group` is the share group
 * (its `$share/...` filter) the copy was chosen for, or null for the session's own subscriptions.
 */
export function subscriptionIdsFor(session: Session, msg: Message, group: string | null): number[] | undefined {
  const options = session.subscriptionOptions;
  if (options === null || session.subscriptionIdCount === 0) return undefined;
  if (group !== null) {
    const id = options.get(group)?.subscriptionId ?? 0;
    return id !== 0 ? [id] : undefined;
  }
  const own = msg.origin === session.clientId;
  let ids: number[] | undefined;
  for (const [filter, o] of options) {
    const id = o.subscriptionId;
    if (id === 0 || isSharedFilter(filter)) continue;
    // A No Local subscription does not deliver the session's own message: not its identifier either.
    if (own && o.noLocal) continue;
    if (!matchesFilter(filter, msg.topic)) continue;
    if (ids === undefined) ids = [id];
    else if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}
