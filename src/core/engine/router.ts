import type { LimitsConfig } from '../config/types';
import type { ClientLink } from '../connection/link';
import type { QoS } from '../protocol/packets';
import type { Message } from '../sessions/message';
import type { Session } from '../sessions/session';
import type { RetainedStore } from '../stores/store';
import { RetainedQuota } from '../topics/retained-quota';
import { MatchResult, type SubscriptionTrie } from '../topics/subscription-trie';
import { hashString, isSharedFilter, type SharedGroup, SharedRefusal, type SharedSubscriptions, sharedFilterStart } from '../topics/shared-groups';
import type { Delivery } from './delivery';
import type { BrokerEmitter, RemoteRoute, RouteSink } from './ports';
import type { BrokerStats } from './stats';

/**
 * Routing of a published message: the retained store first (within its quota), then one delivery
 * per matching session of this node, then (in a cluster) the other nodes through the RemoteRoute.
 */
export class Router {
  private readonly match = new MatchResult<Session>();
  private readonly sharedMatch = new MatchResult<SharedGroup<Session>>();
  /** The `$share/...` groups (held by Delivery, which picks their members). */
  readonly shared: SharedSubscriptions<Session>;
  /** Count and byte limits on retained storage, global and per username. */
  readonly retainedQuota: RetainedQuota;
  /** Messages for subscribers on other nodes; null on a single node. */
  remote: RemoteRoute | null = null;
  /** Local subscriptions as cluster routes; null on a single node. */
  routes: RouteSink | null = null;

  constructor(
    private readonly limits: LimitsConfig,
    private readonly stats: BrokerStats,
    private readonly events: BrokerEmitter,
    readonly subscriptions: SubscriptionTrie<Session>,
    retained: RetainedStore,
    private readonly delivery: Delivery,
  ) {
    this.retainedQuota = new RetainedQuota(retained, limits, this.onRetainedRefused, this.onRetainedExpired);
    delivery.retainedDelivery.expiry = this.retainedQuota;
    this.shared = delivery.shared;
  }

  /**
   * Indexes a subscription of `session` (the caller keeps it in the session): a shared one
   * `$share/{ShareName}/{filter}` joins its group, any other goes into the trie. Returns false
   * when a new shared membership is refused at max-shared-groups / max-shared-group-members
   * (counted); `restored` state is never refused. A `$share/` string that is not a well-formed
   * shared filter (the SUBSCRIBE handler refuses those; a store may hold one from before) is an
   * ordinary filter, as it was.
   */
  subscribe(filter: string, session: Session, qos: QoS, restored = false): boolean {
    const start = isSharedFilter(filter) ? sharedFilterStart(filter) : -1;
    if (start < 0) {
      if (this.subscriptions.add(filter, session, qos) && this.routes !== null) this.routes.addFilter(filter);
      return true;
    }
    const limits = this.limits;
    const before = this.shared.memberships;
    const refusal = this.shared.add(filter, start, session, qos, hashString(session.clientId), restored ? 0 : limits.maxSharedGroups, restored ? 0 : limits.maxSharedGroupMembers);
    if (refusal === SharedRefusal.NONE) {
      if (this.routes !== null && this.shared.memberships > before) this.routes.addFilter(filter);
      return true;
    }
    this.stats.refusedSharedLimit++;
    return false;
  }

  /** Removes what subscribe() indexed; a shared group goes with its last member. */
  unsubscribe(filter: string, session: Session): boolean {
    const removed = (isSharedFilter(filter) && this.shared.remove(filter, session)) || this.subscriptions.remove(filter, session);
    if (removed && this.routes !== null) this.routes.removeFilter(filter);
    return removed;
  }

  private readonly onRetainedExpired = (): void => {
    this.stats.retainedExpired++;
  };

  private readonly onRetainedRefused = (msg: Message, limit: string): void => {
    this.stats.refusedRetainedQuota++;
    const quota = this.retainedQuota;
    if (!quota.shouldWarn(Date.now())) return;
    const others = quota.takeUnreported();
    const who = msg.retainedOwner === undefined ? 'the broker' : msg.retainedOwner === null ? 'anonymous clients' : `user ${msg.retainedOwner}`;
    this.events.emit(
      'warning',
      new Error(`retained message on ${msg.topic} from ${who} not stored: ${limit} reached (delivered, not retained)${others > 0 ? `; ${others} more refused since the last warning` : ''}`),
    );
  };

  /**
   * Take ownership of a message: update the retained store, then add it to the session of every
   * client with a matching subscription, offline persistent ones included [MQTT-4.5.0-1].
   * `publisher` (when a client published it) is throttled if a subscriber's queue fills.
   * False when a retained message was not stored (retained quota; delivered all the same).
   */
  publish(msg: Message, publisher: ClientLink | null): boolean {
    let retained = true;
    if (msg.retain) {
      // [MQTT-3.3.1-10/11] an empty payload deletes the retained message and is never stored;
      // [MQTT-3.3.1-5/7] otherwise the message (with its QoS) replaces the topic's retained one,
      // within the retained limits (refused: still delivered below, see retained-quota.ts).
      if (publisher !== null) msg.retainedOwner = publisher.username;
      retained = this.retainedQuota.retain(msg);
    }
    // In a cluster: to the other nodes first, which also picks the share groups this node serves.
    const remote = this.remote;
    if (remote !== null) remote.forward(msg, publisher);
    this.deliverLocal(msg, publisher, remote !== null, remote !== null ? remote.localGroups : null, remote !== null ? remote.localGroupCount : 0);
    if (this.events.listenerCount('messageReceived') > 0) {
      this.events.emit('messageReceived', { clientId: msg.origin, topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain });
    }
    return retained;
  }

  /**
   * A message another node routed here (docs/cluster.md): its retained state and its other nodes
   * were that node's business; delivered to this node's plain subscriptions when `plain`, and to
   * the share groups listed in `groups` (the sender picked this node for them). `publisher`: the
   * stand-in of the sending node (cluster/cluster-flow.ts), throttled as a client would be.
   */
  publishFromCluster(msg: Message, plain: boolean, groups: readonly string[] | null, publisher: ClientLink | null = null): void {
    this.deliverLocal(msg, publisher, true, groups, groups === null ? 0 : groups.length, !plain);
  }

  /**
   * One delivery per matching local session. `onlyGroups`: shared delivery restricted to the
   * groups in `groups[0..groupCount)` (a cluster picked them for this node); otherwise every
   * matching local group. With `onlyGroups` and a null `groups` nothing shared is delivered;
   * `plain === false` is expressed by `skipPlain`.
   */
  private deliverLocal(msg: Message, publisher: ClientLink | null, onlyGroups: boolean, groups: readonly string[] | null, groupCount: number, skipPlain = false): void {
    if (!skipPlain) this.deliverPlain(msg, publisher);
    if (this.shared.size > 0 && (!onlyGroups || groupCount > 0)) this.deliverShared(msg, publisher, onlyGroups, groups, groupCount);
  }

  private deliverPlain(msg: Message, publisher: ClientLink | null): void {
    const match = this.match;
    this.subscriptions.match(msg.topic, match);
    const n = match.length;
    if (n > 0) {
      const delivery = this.delivery;
      const subscribers = match.subscribers;
      const granted = match.qos;
      const qos = msg.qos;
      for (let i = 0; i < n; i++) {
        const g = granted[i];
        // [MQTT-3.8.4-6] delivered at min(publish QoS, granted QoS), never upgraded;
        // [MQTT-3.3.5-1] one copy per client at the highest QoS of its matching subscriptions.
        delivery.deliver(subscribers[i], msg, (g < qos ? g : qos) as QoS, false, publisher);
      }
      match.reset();
    }
  }

  /**
   * One copy per share group, to one of its members (docs/shared-subscriptions.md); besides the
   * non-shared subscriptions, so a client in both gets two copies (v5 section 4.8.2 allows it).
   */
  private deliverShared(msg: Message, publisher: ClientLink | null, onlyGroups: boolean, picked: readonly string[] | null, pickedCount: number): void {
    const groups = this.sharedMatch;
    this.shared.match(msg.topic, groups);
    const m = groups.length;
    if (m === 0) return;
    const delivery = this.delivery;
    const list = groups.subscribers;
    for (let i = 0; i < m; i++) {
      const group = list[i];
      if (onlyGroups && !listed(picked!, pickedCount, group.key)) continue; // another node serves it
      delivery.deliverShared(group, msg, publisher);
    }
    groups.reset();
  }
}

function listed(list: readonly string[], count: number, key: string): boolean {
  for (let i = 0; i < count; i++) if (list[i] === key) return true;
  return false;
}
