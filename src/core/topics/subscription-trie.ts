/**
 * Subscription trie: which sessions get a PUBLISH, and at what QoS.
 *
 * One node per filter level. A node keeps its literal children in a Map keyed by the level
 * string, and its '+' and '#' children in dedicated fields; subscribers whose filter ends at a
 * node sit in that node's parallel arrays of subscriber records and granted QoS. Matching walks the topic's levels once,
 * following at each node the literal child for the level, the '+' child, and collecting the '#'
 * child. No RegExp anywhere.
 *
 * Matching rules (MQTT 3.1.1 section 4.7), with the examples this file is tested against:
 *   - Levels are separated by '/' and compared byte for byte: no normalisation, case folding,
 *     trimming or '/' collapsing ('A' != 'a', 'a//b' != 'a/b')                  [MQTT-4.7.3-4]
 *   - '#' matches the parent level and any number of child levels              [MQTT-4.7.1-2]
 *       'sport/#' matches 'sport', 'sport/', 'sport/tennis/player1'; '#' matches every topic
 *       except those starting with '$' (below)
 *   - '+' matches exactly one level, which may be empty                         [MQTT-4.7.1-3]
 *       'a/+/b' matches 'a//b'; 'sport/+' matches 'sport/' but not 'sport' nor 'sport/a/b';
 *       '/finance' matches '+/+' and '/+' but not '+'
 *   - A filter whose first level is '+' or '#' never matches a topic that starts with '$';
 *     '$SYS/#' and '$SYS/+' do match '$SYS/x'                                   [MQTT-4.7.2-1]
 *
 * Subscription semantics:
 *   - One entry per (filter string, subscriber). Subscribing again to the identical filter
 *     replaces the granted QoS, it never adds a second entry                    [MQTT-3.8.4-3]
 *   - remove() deletes only the identical filter string: unsubscribing 'a/#' leaves 'a/b' alone,
 *     because '+' and '#' levels are looked up in their own slots, never matched  [MQTT-3.10.4-1]
 *   - Empty branches are pruned as soon as their last subscription goes.
 *   - When several of one subscriber's filters match a topic, match() reports that subscriber
 *     once, at the highest QoS granted among them. This is our choice among the ones 3.3.5-1
 *     allows (checklist "Ambiguities" 3): one copy per client at max QoS        [MQTT-3.3.5-1]
 *
 * Filters must be valid (isValidTopicFilter); add() throws on an invalid one. Topics passed to
 * match() are expected to be valid Topic Names (no wildcards; see isValidTopicName).
 *
 * Hot path: match() records where each level of the topic starts and ends (a number buffer owned
 * by the trie, no substring) and walks the tree; a node with few literal children finds the next
 * one by comparing its key in place (char codes at the level's offset), and only a wide node (more
 * than LINEAR_CHILDREN children: a level of device ids, say) takes the level's substring for its
 * Map. The walk appends each matching node's subscribers straight into the caller's reusable MatchResult.
 * De-duplication costs no Map operation: the trie interns every subscriber once in a record
 * (Subscriber) that carries a match stamp and its position in the current result; a record
 * already stamped by this match only has its QoS raised. Nodes keep their subscribers in
 * parallel arrays (record, QoS), so a 10,000-session fan-out is a plain array copy; a per-node
 * position Map is added only once a node holds many subscribers, to keep add/remove O(1).
 * Nothing is allocated per publish once the buffers have grown.
 */

import { isValidTopicFilter } from './topic-validation';

type QoS = 0 | 1 | 2;

const DOLLAR = 0x24; // '$'

/**
 * Up to this many literal children a node is searched by comparing keys in place (no substring
 * per topic level); above it, by its Map with the level's substring.
 */
const LINEAR_CHILDREN = 4;

/** A node builds its position map above this many subscribers, and drops it below half. */
const POSITION_MAP_MIN = 16;

/** The trie's record for one subscriber, shared by every node it is subscribed at. */
class Subscriber<S> {
  readonly value: S;
  /** Number of filters this subscriber holds in the trie; the record goes when it reaches 0. */
  refs: number;
  /** Stamp of the last match() that reported this subscriber, and its position in that result. */
  stamp: number;
  slot: number;

  constructor(value: S) {
    this.value = value;
    this.refs = 0;
    this.stamp = 0;
    this.slot = 0;
  }
}

class SubNode<S> {
  readonly parent: SubNode<S> | null;
  /** Level string this node is reached by; '+' and '#' for the wildcard slots. */
  readonly key: string;
  children: Map<string, SubNode<S>> | null;
  /** The same children as `children`, as an array for match()'s in-place key comparison. */
  childList: SubNode<S>[] | null;
  plus: SubNode<S> | null;
  hash: SubNode<S> | null;
  /** Subscribers whose filter ends here and their granted QoS (same index); null when none. */
  subs: Subscriber<S>[] | null;
  qos: QoS[] | null;
  /** Index of each record in `subs`, kept only while the node is large. */
  pos: Map<Subscriber<S>, number> | null;

  constructor(parent: SubNode<S> | null, key: string) {
    this.parent = parent;
    this.key = key;
    this.children = null;
    this.childList = null;
    this.plus = null;
    this.hash = null;
    this.subs = null;
    this.qos = null;
    this.pos = null;
  }

  isEmpty(): boolean {
    return this.subs === null && this.children === null && this.plus === null && this.hash === null;
  }

  indexOf(record: Subscriber<S>): number {
    const subs = this.subs;
    if (subs === null) return -1;
    if (this.pos !== null) {
      const i = this.pos.get(record);
      return i === undefined ? -1 : i;
    }
    for (let i = 0; i < subs.length; i++) if (subs[i] === record) return i;
    return -1;
  }
}

/**
 * Reusable output of SubscriptionTrie.match(). Entries 0..length-1 of `subscribers` and `qos`
 * are valid; each subscriber appears once, with the highest QoS it was granted by a matching
 * filter. Keep one per publishing loop and pass it to every match(), which overwrites it (no need
 * to reset() in between). The arrays only grow; entries past `length` hold no subscriber.
 */
export class MatchResult<S> {
  subscribers: S[];
  qos: QoS[];
  length: number;

  constructor() {
    this.subscribers = [];
    this.qos = [];
    this.length = 0;
  }

  /** Empties the result, dropping its references to subscribers. */
  reset(): void {
    const subscribers = this.subscribers;
    for (let i = 0; i < this.length; i++) subscribers[i] = undefined as unknown as S;
    this.length = 0;
  }
}

export class SubscriptionTrie<S> {
  private readonly root: SubNode<S>;
  private readonly records: Map<S, Subscriber<S>>;
  private pairs: number;
  private filters: number;
  private nodes: number;
  /** Incremented by every match(); a record stamped with the current value is already in the result. */
  private stamp: number;
  /** Offsets of the levels of the match in progress: level i is topic[bounds[2i], bounds[2i+1]); reused. */
  private readonly bounds: number[];

  constructor() {
    this.root = new SubNode<S>(null, '');
    this.records = new Map();
    this.pairs = 0;
    this.filters = 0;
    this.nodes = 0;
    this.stamp = 0;
    this.bounds = [];
  }

  /** Number of (filter, subscriber) pairs. */
  get size(): number {
    return this.pairs;
  }

  /** Number of distinct filters with at least one subscriber. */
  get filterCount(): number {
    return this.filters;
  }

  /** Number of distinct subscribers holding at least one filter. */
  get subscriberCount(): number {
    return this.records.size;
  }

  /** Number of nodes below the root (0 when empty); exposed to test pruning. */
  get nodeCount(): number {
    return this.nodes;
  }

  /**
   * Subscribes `subscriber` to `filter` at `qos`. Returns true for a new subscription, false if
   * an identical filter for this subscriber existed and only its QoS was replaced [MQTT-3.8.4-3].
   * Throws TypeError if the filter is not a valid Topic Filter.
   */
  add(filter: string, subscriber: S, qos: QoS): boolean {
    if (!isValidTopicFilter(filter)) throw new TypeError(`invalid topic filter: ${JSON.stringify(filter)}`);
    let node = this.root;
    let start = 0;
    for (;;) {
      const end = filter.indexOf('/', start);
      const level = end < 0 ? filter.substring(start) : filter.substring(start, end);
      node = this.childFor(node, level);
      if (end < 0) break;
      start = end + 1;
    }

    let record = this.records.get(subscriber);
    if (record === undefined) {
      record = new Subscriber(subscriber);
      this.records.set(subscriber, record);
    }
    let subs = node.subs;
    let qosList = node.qos;
    if (subs === null || qosList === null) {
      subs = node.subs = [];
      qosList = node.qos = [];
      this.filters++;
    }
    const at = node.indexOf(record);
    if (at >= 0) {
      qosList[at] = qos; // [MQTT-3.8.4-3] replace, never a second entry
      return false;
    }
    const i = subs.length;
    subs.push(record);
    qosList.push(qos);
    if (node.pos !== null) node.pos.set(record, i);
    else if (subs.length > POSITION_MAP_MIN) {
      const pos = (node.pos = new Map());
      for (let j = 0; j < subs.length; j++) pos.set(subs[j], j);
    }
    record.refs++;
    this.pairs++;
    return true;
  }

  /**
   * Removes the subscription of `subscriber` to exactly `filter` (same string, no wildcard
   * matching) [MQTT-3.10.4-1]. Returns whether it existed. Prunes branches left empty.
   */
  remove(filter: string, subscriber: S): boolean {
    const record = this.records.get(subscriber);
    if (record === undefined) return false;
    const node = this.find(filter);
    if (node === null) return false;
    const at = node.indexOf(record);
    if (at < 0) return false;

    // swap-remove: delivery order among subscribers is not specified
    const subs = node.subs!;
    const qosList = node.qos!;
    const last = subs.length - 1;
    if (at !== last) {
      subs[at] = subs[last];
      qosList[at] = qosList[last];
      if (node.pos !== null) node.pos.set(subs[at], at);
    }
    subs.pop();
    qosList.pop();
    if (node.pos !== null) {
      node.pos.delete(record);
      if (subs.length < POSITION_MAP_MIN / 2) node.pos = null;
    }

    this.pairs--;
    if (--record.refs === 0) this.records.delete(subscriber);
    if (subs.length === 0) {
      node.subs = null;
      node.qos = null;
      this.filters--;
      this.prune(node);
    }
    return true;
  }

  /** Granted QoS of `subscriber` on exactly `filter`, or undefined if not subscribed. */
  get(filter: string, subscriber: S): QoS | undefined {
    const record = this.records.get(subscriber);
    if (record === undefined) return undefined;
    const node = this.find(filter);
    if (node === null) return undefined;
    const at = node.indexOf(record);
    return at < 0 ? undefined : node.qos![at];
  }

  has(filter: string, subscriber: S): boolean {
    return this.get(filter, subscriber) !== undefined;
  }

  /**
   * Overwrites `result` with every subscriber having a filter that matches `topic`,
   * once each, at the highest QoS among its matching filters [MQTT-3.3.5-1].
   */
  match(topic: string, result: MatchResult<S>): void {
    // Entries are overwritten in place; only the stale tail past the new length is cleared at the
    // end, so a steady fan-out does not pay for nulling every slot of a reset().
    const previousLength = result.length;
    result.length = 0;
    const bounds = this.bounds;
    let n = 0;
    let start = 0;
    for (;;) {
      const end = topic.indexOf('/', start);
      bounds[2 * n] = start;
      bounds[2 * n + 1] = end < 0 ? topic.length : end;
      n++;
      if (end < 0) break;
      start = end + 1;
    }
    // a fresh stamp marks which records are already in `result` (2^53 matches before reuse)
    const stamp = ++this.stamp;

    const root = this.root;
    // [MQTT-4.7.2-1] '#' and '+' in the first level of a filter never match a '$' topic
    if (topic.charCodeAt(0) !== DOLLAR) {
      if (root.hash !== null) collect(root.hash, result, stamp);
      if (root.plus !== null) walk(root.plus, topic, bounds, n, 1, result, stamp);
    }
    if (root.children !== null) {
      const child = literalChild(root, topic, bounds[0], bounds[1]);
      if (child !== undefined) walk(child, topic, bounds, n, 1, result, stamp);
    }
    const subscribers = result.subscribers;
    for (let i = result.length; i < previousLength; i++) subscribers[i] = undefined as unknown as S;
  }

  /** The node for `level` under `node`, created if missing. */
  private childFor(node: SubNode<S>, level: string): SubNode<S> {
    if (level === '+') {
      if (node.plus === null) {
        node.plus = new SubNode(node, level);
        this.nodes++;
      }
      return node.plus;
    }
    if (level === '#') {
      if (node.hash === null) {
        node.hash = new SubNode(node, level);
        this.nodes++;
      }
      return node.hash;
    }
    let children = node.children;
    if (children === null) children = node.children = new Map();
    let child = children.get(level);
    if (child === undefined) {
      child = new SubNode(node, level);
      children.set(level, child);
      (node.childList ??= []).push(child);
      this.nodes++;
    }
    return child;
  }

  /** The node reached by the exact levels of `filter`, or null. Wildcard levels use their slots. */
  private find(filter: string): SubNode<S> | null {
    let node: SubNode<S> | null = this.root;
    let start = 0;
    for (;;) {
      const end = filter.indexOf('/', start);
      const level = end < 0 ? filter.substring(start) : filter.substring(start, end);
      if (level === '+') node = node.plus;
      else if (level === '#') node = node.hash;
      else node = node.children === null ? null : node.children.get(level) ?? null;
      if (node === null || end < 0) return node;
      start = end + 1;
    }
  }

  /** Detaches `node` and then each ancestor that is left with nothing. */
  private prune(node: SubNode<S>): void {
    let current: SubNode<S> = node;
    while (current.parent !== null && current.isEmpty()) {
      const parent: SubNode<S> = current.parent;
      if (current.key === '+') parent.plus = null;
      else if (current.key === '#') parent.hash = null;
      else if (parent.children !== null) {
        parent.children.delete(current.key);
        const list = parent.childList!;
        list.splice(list.indexOf(current), 1);
        if (parent.children.size === 0) {
          parent.children = null;
          parent.childList = null;
        }
      }
      this.nodes--;
      current = parent;
    }
  }
}

/** Appends the subscribers ending at `node`, each subscriber once per match, at its max QoS. */
function collect<S>(node: SubNode<S>, result: MatchResult<S>, stamp: number): void {
  const subs = node.subs;
  const qosList = node.qos;
  if (subs === null || qosList === null) return;
  const out = result.subscribers;
  const outQos = result.qos;
  let length = result.length;
  for (let i = 0; i < subs.length; i++) {
    const record = subs[i];
    const qos = qosList[i];
    if (record.stamp !== stamp) {
      record.stamp = stamp;
      record.slot = length;
      out[length] = record.value;
      outQos[length] = qos;
      length++;
    } else if (qos > outQos[record.slot]) {
      outQos[record.slot] = qos; // [MQTT-3.3.5-1] one copy, at the highest granted QoS
    }
  }
  result.length = length;
}

/**
 * The literal child of `node` (which has some) for the level topic[start, end), or undefined.
 * Compared in place [MQTT-4.7.3-4] byte for byte (UTF-16 unit for unit: same thing for valid
 * strings); a wide node's Map needs the level as a string.
 */
function literalChild<S>(node: SubNode<S>, topic: string, start: number, end: number): SubNode<S> | undefined {
  const list = node.childList!;
  if (list.length > LINEAR_CHILDREN) return node.children!.get(topic.substring(start, end));
  const length = end - start;
  for (let i = 0; i < list.length; i++) {
    const key = list[i].key;
    if (key.length !== length) continue;
    let j = 0;
    while (j < length && key.charCodeAt(j) === topic.charCodeAt(start + j)) j++;
    if (j === length) return list[i];
  }
  return undefined;
}

/** `node` has matched levels 0..i-1 of `topic` (offsets in `bounds`); gather everything below it that matches the rest. */
function walk<S>(node: SubNode<S>, topic: string, bounds: number[], n: number, i: number, result: MatchResult<S>, stamp: number): void {
  // '#' matches the remaining levels, including none: 'sport/#' matches 'sport' [MQTT-4.7.1-2]
  if (node.hash !== null) collect(node.hash, result, stamp);
  if (i === n) {
    collect(node, result, stamp);
    return;
  }
  if (node.children !== null) {
    const child = literalChild(node, topic, bounds[2 * i], bounds[2 * i + 1]);
    if (child !== undefined) walk(child, topic, bounds, n, i + 1, result, stamp);
  }
  // '+' matches exactly one level, even an empty one: 'a/+/b' matches 'a//b' [MQTT-4.7.1-3]
  if (node.plus !== null) walk(node.plus, topic, bounds, n, i + 1, result, stamp);
}
