/**
 * Shared subscriptions `$share/{ShareName}/{filter}` (MQTT 5.0 section 4.8.2, offered to 3.1.1
 * clients too, as Mosquitto and EMQX do); semantics in docs/shared-subscriptions.md.
 *
 * One SharedGroup per distinct `$share/{ShareName}/{filter}` string: its members (sessions) with
 * their granted QoS in parallel arrays, a position map for O(1) join and leave, and the cursor
 * of round-robin. The groups are indexed by their inner filter in a SubscriptionTrie whose
 * "subscribers" are the groups themselves, so a publish matches each group at most once
 * (one copy per group: v5 section 4.8.2 sends each message to one member of each group).
 * Which member gets the message is Delivery's choice (engine/delivery.ts): it knows who is
 * connected.
 */

import { MatchResult, SubscriptionTrie } from './subscription-trie';
import { isValidTopicFilter } from './topic-validation';

type QoS = 0 | 1 | 2;

export const SHARE_PREFIX = '$share/';
const SHARE_PREFIX_LENGTH = SHARE_PREFIX.length;

/** Whether `filter` is written as a shared subscription (valid or not). */
export function isSharedFilter(filter: string): boolean {
  return filter.startsWith(SHARE_PREFIX);
}

/**
 * Index of the inner filter of a `$share/{ShareName}/{filter}` string, or -1 when it is
 * ill-formed: ShareName empty or holding '+' or '#' (a ShareName cannot hold '/', it ends at the
 * first one) [v5 MQTT-4.8.2-1], or the inner filter empty or not a valid Topic Filter
 * [v5 MQTT-4.8.2-2]. The caller checked isSharedFilter.
 */
export function sharedFilterStart(filter: string): number {
  const slash = filter.indexOf('/', SHARE_PREFIX_LENGTH);
  if (slash <= SHARE_PREFIX_LENGTH) return -1; // no '/' after the name, or an empty name
  for (let i = SHARE_PREFIX_LENGTH; i < slash; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0x2b /* + */ || c === 0x23 /* # */) return -1;
  }
  const start = slash + 1;
  if (start >= filter.length || !isValidTopicFilter(filter.substring(start))) return -1;
  return start;
}

/** A 32-bit FNV-1a hash of a string: the sticky strategy's key for publishers and members. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** One share group: the members of `$share/{ShareName}/{filter}`. */
export class SharedGroup<S> {
  /** Members and their granted QoS and sticky seed (same index); swap-removed. */
  readonly members: S[] = [];
  readonly qos: QoS[] = [];
  readonly seeds: number[] = [];
  private readonly positions = new Map<S, number>();
  /** Round-robin cursor: the member index to try first for the next message. */
  next = 0;

  constructor(
    /** The whole `$share/{ShareName}/{filter}` string: what sessions and stores hold. */
    readonly key: string,
    /** The inner filter, matched against topics. */
    readonly filter: string,
  ) {}

  get size(): number {
    return this.members.length;
  }

  indexOf(member: S): number {
    const i = this.positions.get(member);
    return i === undefined ? -1 : i;
  }

  /** Adds or (same member again, [MQTT-3.8.4-3]) replaces the QoS; true when added. */
  add(member: S, qos: QoS, seed: number): boolean {
    const at = this.positions.get(member);
    if (at !== undefined) {
      this.qos[at] = qos;
      return false;
    }
    this.positions.set(member, this.members.length);
    this.members.push(member);
    this.qos.push(qos);
    this.seeds.push(seed);
    return true;
  }

  remove(member: S): boolean {
    const at = this.positions.get(member);
    if (at === undefined) return false;
    const last = this.members.length - 1;
    if (at !== last) {
      const moved = this.members[last];
      this.members[at] = moved;
      this.qos[at] = this.qos[last];
      this.seeds[at] = this.seeds[last];
      this.positions.set(moved, at);
    }
    this.members.pop();
    this.qos.pop();
    this.seeds.pop();
    this.positions.delete(member);
    return true;
  }
}

/** Why add() refused a membership. */
export const enum SharedRefusal {
  NONE = 0,
  /** A new group beyond max-shared-groups. */
  GROUPS = 1,
  /** A new member beyond max-shared-group-members. */
  MEMBERS = 2,
}

/** Every share group of the broker, by key and by inner filter. */
export class SharedSubscriptions<S> {
  readonly groups = new Map<string, SharedGroup<S>>();
  private readonly trie = new SubscriptionTrie<SharedGroup<S>>();
  /** Memberships of all groups together. */
  memberships = 0;

  /** Number of groups (each with at least one member). */
  get size(): number {
    return this.groups.size;
  }

  /**
   * Makes `member` a member of the group `key` (its inner filter starts at `filterStart`, see
   * sharedFilterStart). A new group beyond `maxGroups` or a new member beyond `maxMembers` is
   * refused (0: no bound, for restored state); an existing membership only has its QoS replaced.
   */
  add(key: string, filterStart: number, member: S, qos: QoS, seed: number, maxGroups: number, maxMembers: number): SharedRefusal {
    let group = this.groups.get(key);
    if (group === undefined) {
      if (maxGroups > 0 && this.groups.size >= maxGroups) return SharedRefusal.GROUPS;
      group = new SharedGroup<S>(key, key.substring(filterStart));
      this.groups.set(key, group);
      this.trie.add(group.filter, group, 2);
    } else if (maxMembers > 0 && group.size >= maxMembers && group.indexOf(member) < 0) {
      return SharedRefusal.MEMBERS;
    }
    if (group.add(member, qos, seed)) this.memberships++;
    return SharedRefusal.NONE;
  }

  /** Ends the membership of `member` in `key`; the group goes with its last member. */
  remove(key: string, member: S): boolean {
    const group = this.groups.get(key);
    if (group === undefined || !group.remove(member)) return false;
    this.memberships--;
    if (group.size === 0) {
      this.groups.delete(key);
      this.trie.remove(group.filter, group);
    }
    return true;
  }

  /** Overwrites `result` with the groups whose inner filter matches `topic`, once each. */
  match(topic: string, result: MatchResult<SharedGroup<S>>): void {
    this.trie.match(topic, result);
  }
}

export { MatchResult };
