/**
 * Retained messages, one per Topic Name, stored in a per-level trie so that a new subscription's
 * filter (possibly with wildcards) finds its retained messages by walking the tree instead of
 * testing every stored topic.
 *
 * Here the stored keys are Topic Names and the query is a Topic Filter, the reverse of
 * SubscriptionTrie, under the same rules (MQTT 3.1.1 section 4.7):
 *   - levels compared byte for byte, no normalisation or trimming               [MQTT-4.7.3-4]
 *   - '#' (last level) matches the parent level and everything below it         [MQTT-4.7.1-2]
 *       'sport/#' returns 'sport', 'sport/', 'sport/tennis/player1'
 *   - '+' matches exactly one level, possibly empty                              [MQTT-4.7.1-3]
 *       'sport/+' returns 'sport/' and 'sport/x', not 'sport' nor 'sport/x/y';
 *       '+/+' and '/+' return '/finance', '+' does not
 *   - a filter whose first level is '+' or '#' returns no topic starting with '$';
 *     '$SYS/#' returns '$SYS/broker/uptime'                                      [MQTT-4.7.2-1]
 *
 * A filter yields each matching topic once (the walk reaches every node by one path). Branches
 * are pruned when their last message is deleted. Messages must not be `undefined`, which marks
 * a node without a message.
 *
 * `match()` collects every match at once; `cursor()` walks the same matches a few at a time
 * (retained messages for a new subscription are sent in slices, see retained-delivery.ts).
 */

const DOLLAR = 0x24; // '$'

class RetainedNode<M> {
  readonly parent: RetainedNode<M> | null;
  readonly key: string;
  children: Map<string, RetainedNode<M>> | null;
  message: M | undefined;

  constructor(parent: RetainedNode<M> | null, key: string) {
    this.parent = parent;
    this.key = key;
    this.children = null;
    this.message = undefined;
  }
}

export class RetainedTrie<M> {
  private readonly root: RetainedNode<M>;
  private count: number;
  private nodes: number;
  /** Filter levels of the match in progress; reused across calls. */
  private readonly levels: string[];

  constructor() {
    this.root = new RetainedNode<M>(null, '');
    this.count = 0;
    this.nodes = 0;
    this.levels = [];
  }

  /** Number of retained messages. */
  get size(): number {
    return this.count;
  }

  /** Number of nodes below the root (0 when empty); exposed to test pruning. */
  get nodeCount(): number {
    return this.nodes;
  }

  /** Stores `message` as the retained message of `topic`, replacing any previous one. */
  set(topic: string, message: M): void {
    if (message === undefined) throw new TypeError('retained message must not be undefined');
    let node = this.root;
    let start = 0;
    for (;;) {
      const end = topic.indexOf('/', start);
      const level = end < 0 ? topic.substring(start) : topic.substring(start, end);
      let children = node.children;
      if (children === null) children = node.children = new Map();
      let child = children.get(level);
      if (child === undefined) {
        child = new RetainedNode(node, level);
        children.set(level, child);
        this.nodes++;
      }
      node = child;
      if (end < 0) break;
      start = end + 1;
    }
    if (node.message === undefined) this.count++;
    node.message = message;
  }

  get(topic: string): M | undefined {
    const node = this.find(topic);
    return node === null ? undefined : node.message;
  }

  has(topic: string): boolean {
    return this.get(topic) !== undefined;
  }

  /** Deletes the retained message of exactly `topic`; returns whether there was one. */
  delete(topic: string): boolean {
    const node = this.find(topic);
    if (node === null || node.message === undefined) return false;
    node.message = undefined;
    this.count--;
    let current = node;
    while (current.parent !== null && current.message === undefined && current.children === null) {
      const parent: RetainedNode<M> = current.parent;
      parent.children!.delete(current.key);
      if (parent.children!.size === 0) parent.children = null;
      this.nodes--;
      current = parent;
    }
    return true;
  }

  /** Appends to `out` every retained message whose topic matches `filter` (a valid filter). */
  match(filter: string, out: M[]): void {
    const levels = this.levels;
    let n = 0;
    let start = 0;
    for (;;) {
      const end = filter.indexOf('/', start);
      if (end < 0) {
        levels[n++] = filter.substring(start);
        break;
      }
      levels[n++] = filter.substring(start, end);
      start = end + 1;
    }

    const first = levels[0];
    if (first === '#' || first === '+') {
      // [MQTT-4.7.2-1] a leading wildcard skips every topic whose first level starts with '$'
      const children = this.root.children;
      if (children !== null) {
        for (const child of children.values()) {
          if (child.key.charCodeAt(0) === DOLLAR) continue;
          if (first === '#') collectAll(child, out);
          else matchFrom(child, levels, n, 1, out);
        }
      }
    } else {
      matchFrom(this.root, levels, n, 0, out);
    }

    for (let i = 0; i < n; i++) levels[i] = '';
  }

  /**
   * A resumable walk over the messages matching `filter` (a valid filter), in the order of
   * `match()`. The tree may change between steps: a message is read when its node is reached,
   * so a deleted one is skipped and a replaced one is returned as it is now.
   */
  cursor(filter: string): RetainedCursor<M> {
    return new RetainedCursor(this.root, filter.split('/'));
  }

  /** Calls `fn` for each retained message with its topic (for persistence and admin views). */
  forEach(fn: (message: M, topic: string) => void): void {
    const children = this.root.children;
    if (children === null) return;
    for (const child of children.values()) visit(child, child.key, fn);
  }

  private find(topic: string): RetainedNode<M> | null {
    let node: RetainedNode<M> | null = this.root;
    let start = 0;
    for (;;) {
      const end = topic.indexOf('/', start);
      const level = end < 0 ? topic.substring(start) : topic.substring(start, end);
      node = node.children === null ? null : node.children.get(level) ?? null;
      if (node === null || end < 0) return node;
      start = end + 1;
    }
  }
}

/**
 * One level of a cursor's walk: the children of a node still to visit, either all of them and
 * everything below (`all`, under a '#') or each matched against the filter from level `next`
 * (under a '+').
 */
class CursorFrame<M> {
  constructor(
    readonly children: Iterator<RetainedNode<M>>,
    readonly all: boolean,
    readonly next: number,
    /** The root level under a leading wildcard: skip topics starting with '$' [MQTT-4.7.2-1]. */
    readonly skipDollar: boolean,
  ) {}
}

/**
 * The state of one walk for RetainedTrie.cursor(): an explicit stack instead of recursion, so
 * the walk can stop after any node and resume on a later event-loop turn.
 */
export class RetainedCursor<M> {
  private readonly stack: CursorFrame<M>[] = [];
  private started = false;
  /** True once every match has been returned. */
  done = false;
  /** Nodes visited so far (what a caller budgets its slices by). */
  visited = 0;

  constructor(
    private readonly root: RetainedNode<M>,
    private readonly levels: string[],
  ) {}

  /**
   * The next matching message; undefined when the walk is over (`done`) or when `maxSteps`
   * nodes were visited without finding one (call again: a '+' over a wide level may pass many
   * non-matching nodes, and no call should hold the event loop for long).
   */
  next(maxSteps: number): M | undefined {
    if (!this.started) {
      this.started = true;
      const first = this.levels[0];
      const children = this.root.children;
      if ((first === '#' || first === '+') && children !== null) {
        this.stack.push(new CursorFrame(children.values(), first === '#', 1, true));
      } else if (first !== '#' && first !== '+') {
        const found = this.enter(this.root, 0);
        if (found !== undefined) return found;
      }
    }
    const stack = this.stack;
    let steps = 0;
    while (stack.length > 0) {
      if (steps++ >= maxSteps) return undefined;
      this.visited++;
      const frame = stack[stack.length - 1];
      const r = frame.children.next();
      if (r.done === true) {
        stack.pop();
        continue;
      }
      const child = r.value;
      if (frame.skipDollar && child.key.charCodeAt(0) === DOLLAR) continue;
      if (frame.all) {
        if (child.children !== null) stack.push(new CursorFrame(child.children.values(), true, 0, false));
        if (child.message !== undefined) return child.message;
      } else {
        const found = this.enter(child, frame.next);
        if (found !== undefined) return found;
      }
    }
    this.done = true;
    return undefined;
  }

  /** `node` is reached by levels[0..i-1]: follow literal levels, push a frame at a wildcard. */
  private enter(node: RetainedNode<M>, i: number): M | undefined {
    const levels = this.levels;
    const n = levels.length;
    for (;;) {
      if (i === n) return node.message;
      const level = levels[i];
      if (level === '#') {
        // The parent level itself and everything below [MQTT-4.7.1-2].
        if (node.children !== null) this.stack.push(new CursorFrame(node.children.values(), true, 0, false));
        return node.message;
      }
      const children = node.children;
      if (children === null) return undefined;
      if (level === '+') {
        this.stack.push(new CursorFrame(children.values(), false, i + 1, false)); // [MQTT-4.7.1-3]
        return undefined;
      }
      const child = children.get(level);
      if (child === undefined) return undefined;
      node = child;
      i++;
    }
  }
}

/** `node` is reached by the filter's levels[0..i-1]; append what the rest of the filter matches. */
function matchFrom<M>(node: RetainedNode<M>, levels: string[], n: number, i: number, out: M[]): void {
  if (i === n) {
    if (node.message !== undefined) out.push(node.message);
    return;
  }
  const level = levels[i];
  if (level === '#') {
    collectAll(node, out); // the parent level itself and everything below [MQTT-4.7.1-2]
    return;
  }
  const children = node.children;
  if (children === null) return;
  if (level === '+') {
    for (const child of children.values()) matchFrom(child, levels, n, i + 1, out); // [MQTT-4.7.1-3]
  } else {
    const child = children.get(level);
    if (child !== undefined) matchFrom(child, levels, n, i + 1, out);
  }
}

function collectAll<M>(node: RetainedNode<M>, out: M[]): void {
  if (node.message !== undefined) out.push(node.message);
  const children = node.children;
  if (children !== null) for (const child of children.values()) collectAll(child, out);
}

function visit<M>(node: RetainedNode<M>, topic: string, fn: (message: M, topic: string) => void): void {
  if (node.message !== undefined) fn(node.message, topic);
  const children = node.children;
  if (children !== null) for (const child of children.values()) visit(child, topic + '/' + child.key, fn);
}
