/**
 * Subscription trie: which sessions get a PUBLISH, and at what QoS.
 *
 * One node per filter level. A node keeps its literal children in a Map keyed by the level
 * string, and its '+' and '#' children in dedicated fields; subscribers whose filter ends at a
 * node sit in that node's Map<subscriber, granted QoS>. Matching walks the topic's levels once,
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
 * Hot path: match() splits the topic into a buffer owned by the trie, walks the tree collecting
 * the matching nodes' subscriber maps into the caller's reusable MatchResult, and only then
 * flattens them. The common case (exactly one matching filter node, e.g. 10,000 sessions on one
 * filter) is a straight copy; overlap between a few nodes is resolved by looking the subscriber
 * up in the other nodes' maps, and only many overlapping nodes use a scratch index map, which
 * the result keeps and clears. Nothing is allocated per publish once buffers have grown.
 */

import { isValidTopicFilter } from './topic-validation';

type QoS = 0 | 1 | 2;

const DOLLAR = 0x24; // '$'

/**
 * Above this many matching filter nodes, de-duplication switches from cross-lookups into the
 * other nodes' maps (cost grows with the number of nodes) to one scratch Map per result.
 */
const CROSS_LOOKUP_MAX_SOURCES = 6;

class SubNode<S> {
  readonly parent: SubNode<S> | null;
  /** Level string this node is reached by; '+' and '#' for the wildcard slots. */
  readonly key: string;
  children: Map<string, SubNode<S>> | null;
  plus: SubNode<S> | null;
  hash: SubNode<S> | null;
  /** Subscribers whose filter ends here, with their granted QoS; null when there are none. */
  subs: Map<S, QoS> | null;

  constructor(parent: SubNode<S> | null, key: string) {
    this.parent = parent;
    this.key = key;
    this.children = null;
    this.plus = null;
    this.hash = null;
    this.subs = null;
  }

  isEmpty(): boolean {
    return this.subs === null && this.children === null && this.plus === null && this.hash === null;
  }
}

/**
 * Reusable output of SubscriptionTrie.match(). Entries 0..length-1 of `subscribers` and `qos`
 * are valid; each subscriber appears once, with the highest QoS it was granted by a matching
 * filter. Keep one per publishing loop and pass it to every match(): match() resets it first.
 */
export class MatchResult<S> {
  subscribers: S[];
  qos: QoS[];
  length: number;

  /** @internal subscriber maps of the nodes that matched, gathered before flattening */
  _sources: Array<Map<S, QoS>>;
  /** @internal */
  _sourceCount: number;
  /** @internal scratch subscriber -> position, used only when many nodes overlap */
  _index: Map<S, number>;
  /** @internal position of the source being flattened (read by the forEach callbacks) */
  _k: number;

  constructor() {
    this.subscribers = [];
    this.qos = [];
    this.length = 0;
    this._sources = [];
    this._sourceCount = 0;
    this._index = new Map();
    this._k = 0;
  }

  /** Empties the result, dropping references to the subscribers it held. */
  reset(): void {
    const subscribers = this.subscribers;
    for (let i = 0; i < this.length; i++) subscribers[i] = undefined as unknown as S;
    this.length = 0;
  }

  /** @internal */
  _finish(): void {
    const m = this._sourceCount;
    const sources = this._sources;
    if (m === 1) {
      sources[0].forEach(copyEntry, this);
    } else if (m > 1 && m <= CROSS_LOOKUP_MAX_SOURCES) {
      for (let k = 0; k < m; k++) {
        this._k = k;
        sources[k].forEach(crossEntry, this);
      }
    } else if (m > 1) {
      for (let k = 0; k < m; k++) sources[k].forEach(indexEntry, this);
      this._index.clear();
    }
    for (let k = 0; k < m; k++) sources[k] = undefined as unknown as Map<S, QoS>;
    this._sourceCount = 0;
  }
}

// forEach callbacks are module-level functions called with the result as `this`, so flattening
// creates no closure per publish.

function copyEntry<S>(this: MatchResult<S>, qos: QoS, subscriber: S): void {
  const i = this.length++;
  this.subscribers[i] = subscriber;
  this.qos[i] = qos;
}

/** Emit the subscriber only from the first source holding it, at the max QoS over the rest. */
function crossEntry<S>(this: MatchResult<S>, qos: QoS, subscriber: S): void {
  const sources = this._sources;
  const k = this._k;
  for (let j = 0; j < k; j++) if (sources[j].has(subscriber)) return;
  let max = qos;
  for (let j = k + 1; j < this._sourceCount; j++) {
    const q = sources[j].get(subscriber);
    if (q !== undefined && q > max) max = q; // [MQTT-3.3.5-1]
  }
  const i = this.length++;
  this.subscribers[i] = subscriber;
  this.qos[i] = max;
}

function indexEntry<S>(this: MatchResult<S>, qos: QoS, subscriber: S): void {
  const at = this._index.get(subscriber);
  if (at === undefined) {
    const i = this.length++;
    this._index.set(subscriber, i);
    this.subscribers[i] = subscriber;
    this.qos[i] = qos;
  } else if (qos > this.qos[at]) {
    this.qos[at] = qos; // [MQTT-3.3.5-1]
  }
}

export class SubscriptionTrie<S> {
  private readonly root: SubNode<S>;
  private pairs: number;
  private filters: number;
  private nodes: number;
  /** Topic levels of the match in progress; reused across calls. */
  private readonly levels: string[];

  constructor() {
    this.root = new SubNode<S>(null, '');
    this.pairs = 0;
    this.filters = 0;
    this.nodes = 0;
    this.levels = [];
  }

  /** Number of (filter, subscriber) pairs. */
  get size(): number {
    return this.pairs;
  }

  /** Number of distinct filters with at least one subscriber. */
  get filterCount(): number {
    return this.filters;
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
    let subs = node.subs;
    if (subs === null) {
      subs = node.subs = new Map();
      this.filters++;
    }
    const existed = subs.has(subscriber);
    subs.set(subscriber, qos); // [MQTT-3.8.4-3] replace, never a second entry
    if (existed) return false;
    this.pairs++;
    return true;
  }

  /**
   * Removes the subscription of `subscriber` to exactly `filter` (same string, no wildcard
   * matching) [MQTT-3.10.4-1]. Returns whether it existed. Prunes branches left empty.
   */
  remove(filter: string, subscriber: S): boolean {
    const node = this.find(filter);
    if (node === null || node.subs === null || !node.subs.delete(subscriber)) return false;
    this.pairs--;
    if (node.subs.size === 0) {
      node.subs = null;
      this.filters--;
      this.prune(node);
    }
    return true;
  }

  /** Granted QoS of `subscriber` on exactly `filter`, or undefined if not subscribed. */
  get(filter: string, subscriber: S): QoS | undefined {
    const node = this.find(filter);
    return node === null || node.subs === null ? undefined : node.subs.get(subscriber);
  }

  has(filter: string, subscriber: S): boolean {
    return this.get(filter, subscriber) !== undefined;
  }

  /**
   * Resets `result`, then fills it with every subscriber having a filter that matches `topic`,
   * once each, at the highest QoS among its matching filters [MQTT-3.3.5-1].
   */
  match(topic: string, result: MatchResult<S>): void {
    result.reset();
    const levels = this.levels;
    let n = 0;
    let start = 0;
    for (;;) {
      const end = topic.indexOf('/', start);
      if (end < 0) {
        levels[n++] = topic.substring(start);
        break;
      }
      levels[n++] = topic.substring(start, end);
      start = end + 1;
    }

    const root = this.root;
    // [MQTT-4.7.2-1] '#' and '+' in the first level of a filter never match a '$' topic
    if (topic.charCodeAt(0) !== DOLLAR) {
      if (root.hash !== null) collect(root.hash, result);
      if (root.plus !== null) walk(root.plus, levels, n, 1, result);
    }
    if (root.children !== null) {
      const child = root.children.get(levels[0]);
      if (child !== undefined) walk(child, levels, n, 1, result);
    }

    for (let i = 0; i < n; i++) levels[i] = '';
    result._finish();
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
        if (parent.children.size === 0) parent.children = null;
      }
      this.nodes--;
      current = parent;
    }
  }
}

function collect<S>(node: SubNode<S>, result: MatchResult<S>): void {
  if (node.subs !== null) result._sources[result._sourceCount++] = node.subs;
}

/** `node` has matched levels[0..i-1]; gather everything below it that matches the rest. */
function walk<S>(node: SubNode<S>, levels: string[], n: number, i: number, result: MatchResult<S>): void {
  // '#' matches the remaining levels, including none: 'sport/#' matches 'sport' [MQTT-4.7.1-2]
  if (node.hash !== null) collect(node.hash, result);
  if (i === n) {
    collect(node, result);
    return;
  }
  if (node.children !== null) {
    const child = node.children.get(levels[i]);
    if (child !== undefined) walk(child, levels, n, i + 1, result);
  }
  // '+' matches exactly one level, even an empty one: 'a/+/b' matches 'a//b' [MQTT-4.7.1-3]
  if (node.plus !== null) walk(node.plus, levels, n, i + 1, result);
}
