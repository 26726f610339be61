import fc from 'fast-check';
import { isValidTopicFilter, MatchResult, SubscriptionTrie } from '../../src/core/topics';

type QoS = 0 | 1 | 2;

/** A session stand-in: compared by identity, like the broker's session objects. */
class Sub {
  constructor(readonly id: string) {}
}

/**
 * Reference matcher, written independently of the trie: split both strings on '/' and compare
 * level by level [MQTT-3.3.2-3].
 */
function referenceMatch(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Runs match() and returns { subscriber id: qos } for easy comparison. */
function matched(trie: SubscriptionTrie<Sub>, topic: string, result = new MatchResult<Sub>()): Record<string, number> {
  trie.match(topic, result);
  const out: Record<string, number> = {};
  for (let i = 0; i < result.length; i++) {
    const id = result.subscribers[i].id;
    if (id in out) throw new Error(`duplicate subscriber ${id} in result`);
    out[id] = result.qos[i];
  }
  return out;
}

function matchesOne(filter: string, topic: string): boolean {
  const trie = new SubscriptionTrie<Sub>();
  trie.add(filter, new Sub('s'), 1);
  return 's' in matched(trie, topic);
}

// [label, filter, topic, expected]: every example of spec section 4.7 plus the checklist's.
const MATCH_TABLE: Array<[string, string, string, boolean]> = [
  ['[MQTT-4.7.1-2] multi-level wildcard matches the parent level', 'sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-2] multi-level wildcard matches one child level', 'sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['[MQTT-4.7.1-2] multi-level wildcard matches two child levels', 'sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['[MQTT-4.7.1-2] sport/# matches sport', 'sport/#', 'sport', true],
  ['[MQTT-4.7.1-2] sport/# matches sport/', 'sport/#', 'sport/', true],
  ['[MQTT-4.7.1-2] sport/# does not match sports', 'sport/#', 'sports', false],
  ['[MQTT-4.7.1-2] sport/tennis/# does not match sport', 'sport/tennis/#', 'sport', false],
  ['[MQTT-4.7.1-2] # matches every non-$ topic', '#', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-2] # matches /', '#', '/', true],
  ['[MQTT-4.7.1-2] # matches a single level', '#', 'a', true],
  ['[MQTT-4.7.1-2] /# matches /', '/#', '/', true],
  ['[MQTT-4.7.1-2] /# matches / parent (empty first level)', '/#', '/x', true],
  ['[MQTT-4.7.1-2] /# does not match x', '/#', 'x', false],
  ['[MQTT-4.7.1-3] sport/tennis/+ matches sport/tennis/player1', 'sport/tennis/+', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-3] sport/tennis/+ matches sport/tennis/player2', 'sport/tennis/+', 'sport/tennis/player2', true],
  ['[MQTT-4.7.1-3] sport/tennis/+ does not match sport/tennis/player1/ranking', 'sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ['[MQTT-4.7.1-3] sport/+ does not match sport', 'sport/+', 'sport', false],
  ['[MQTT-4.7.1-3] sport/+ matches sport/', 'sport/+', 'sport/', true],
  ['[MQTT-4.7.1-3] a/+/b matches a//b (empty level)', 'a/+/b', 'a//b', true],
  ['[MQTT-4.7.1-3] a/+/b does not match a/b', 'a/+/b', 'a/b', false],
  ['[MQTT-4.7.1-3] /finance matches +/+', '+/+', '/finance', true],
  ['[MQTT-4.7.1-3] /finance matches /+', '/+', '/finance', true],
  ['[MQTT-4.7.1-3] /finance does not match +', '+', '/finance', false],
  ['[MQTT-4.7.1-3] + matches a single level', '+', 'finance', true],
  ['[MQTT-4.7.1-3] +/+ matches /', '+/+', '/', true],
  ['[MQTT-4.7.1-3] sport/+/player1 matches sport/tennis/player1', 'sport/+/player1', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-3] +/tennis/# matches sport/tennis', '+/tennis/#', 'sport/tennis', true],
  ['[MQTT-4.7.1-3] +/tennis/# matches sport/tennis/player1/x', '+/tennis/#', 'sport/tennis/player1/x', true],
  ['[MQTT-4.7.1-3] +/tennis/# does not match sport', '+/tennis/#', 'sport', false],
  ['[MQTT-4.7.1-3] +/# matches a (# covers zero levels after +)', '+/#', 'a', true],
  ['[MQTT-4.7.2-1] # does not match $SYS/x', '#', '$SYS/x', false],
  ['[MQTT-4.7.2-1] # does not match $x', '#', '$x', false],
  ['[MQTT-4.7.2-1] # does not match $', '#', '$', false],
  ['[MQTT-4.7.2-1] +/x does not match $SYS/x', '+/x', '$SYS/x', false],
  ['[MQTT-4.7.2-1] + does not match $x', '+', '$x', false],
  ['[MQTT-4.7.2-1] +/# does not match $SYS', '+/#', '$SYS', false],
  ['[MQTT-4.7.2-1] +/monitor/Clients does not match $SYS/monitor/Clients', '+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['[MQTT-4.7.2-1] $SYS/# matches $SYS/x', '$SYS/#', '$SYS/x', true],
  ['[MQTT-4.7.2-1] $SYS/# matches $SYS', '$SYS/#', '$SYS', true],
  ['[MQTT-4.7.2-1] $SYS/monitor/+ matches $SYS/monitor/Clients', '$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['[MQTT-4.7.2-1] $SYS/+ matches $SYS/x', '$SYS/+', '$SYS/x', true],
  ['[MQTT-4.7.2-1] $x matches $x', '$x', '$x', true],
  ['[MQTT-4.7.2-1] a $ in a later level is not special', '+/#', 'a/$SYS', true],
  ['[MQTT-4.7.2-1] a topic with $ inside the first level is not a $ topic', '#', 'a$', true],
  ['[MQTT-4.7.3-4] ACCOUNTS and Accounts are distinct', 'ACCOUNTS', 'Accounts', false],
  ['[MQTT-4.7.3-4] Accounts payable (space) matches itself', 'Accounts payable', 'Accounts payable', true],
  ['[MQTT-4.7.3-4] no trimming', 'a ', 'a', false],
  ['[MQTT-4.7.3-4] /finance is distinct from finance', 'finance', '/finance', false],
  ['[MQTT-4.7.3-4] a//b is distinct from a/b', 'a/b', 'a//b', false],
  ['[MQTT-4.7.3-4] a/b/ is distinct from a/b', 'a/b', 'a/b/', false],
  ['[MQTT-4.7.3-4] Café NFC and NFD are distinct', 'Caf\u00e9', 'Cafe\u0301', false],
  ['[MQTT-4.7.3-4] Café matches itself byte for byte', 'Caf\u00e9', 'Caf\u00e9', true],
  ['[MQTT-4.7.3-4] / matches /', '/', '/', true],
];

describe('SubscriptionTrie matching (spec 4.7 examples)', () => {
  it.each(MATCH_TABLE)('%s', (_label, filter, topic, expected) => {
    expect(matchesOne(filter, topic)).toBe(expected);
    expect(referenceMatch(filter, topic)).toBe(expected); // keeps the reference honest too
  });

  it('[MQTT-4.7.1-2] one # subscription receives every non-$ topic, exactly once', () => {
    const trie = new SubscriptionTrie<Sub>();
    trie.add('#', new Sub('all'), 0);
    for (const topic of ['a', 'a/b', '/', '//', 'x/y/z', ' ']) expect(matched(trie, topic)).toEqual({ all: 0 });
  });
});

describe('SubscriptionTrie subscribe / unsubscribe semantics', () => {
  it('[MQTT-3.8.4-3] an identical filter replaces the QoS instead of adding a duplicate', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    expect(trie.add('a', s, 0)).toBe(true);
    expect(trie.add('a', s, 2)).toBe(false);
    expect(trie.size).toBe(1);
    expect(trie.filterCount).toBe(1);
    expect(trie.get('a', s)).toBe(2);
    expect(matched(trie, 'a')).toEqual({ s: 2 });
    // and downgrading works too
    expect(trie.add('a', s, 1)).toBe(false);
    expect(matched(trie, 'a')).toEqual({ s: 1 });
  });

  it('[MQTT-3.8.4-3] the same filter for two subscribers is two entries', () => {
    const trie = new SubscriptionTrie<Sub>();
    expect(trie.add('a/+', new Sub('x'), 0)).toBe(true);
    expect(trie.add('a/+', new Sub('y'), 1)).toBe(true);
    expect(trie.size).toBe(2);
    expect(trie.filterCount).toBe(1);
    expect(matched(trie, 'a/b')).toEqual({ x: 0, y: 1 });
  });

  it('[MQTT-3.8.4-3] subscribers are compared by identity, not by value', () => {
    const trie = new SubscriptionTrie<Sub>();
    const a1 = new Sub('a');
    const a2 = new Sub('a');
    trie.add('t', a1, 0);
    trie.add('t', a2, 0);
    expect(trie.size).toBe(2);
    expect(trie.remove('t', a2)).toBe(true);
    expect(trie.has('t', a1)).toBe(true);
  });

  it('[MQTT-3.10.4-1] unsubscribing a/# leaves a/b in place (no wildcard matching)', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    trie.add('a/b', s, 1);
    expect(trie.remove('a/#', s)).toBe(false);
    expect(trie.remove('a/+', s)).toBe(false);
    expect(trie.remove('#', s)).toBe(false);
    expect(trie.remove('+/b', s)).toBe(false);
    expect(matched(trie, 'a/b')).toEqual({ s: 1 });
    expect(trie.size).toBe(1);
  });

  it('[MQTT-3.10.4-1] unsubscribing a/b leaves a/# and a/+ in place', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    trie.add('a/#', s, 2);
    trie.add('a/+', s, 1);
    expect(trie.remove('a/b', s)).toBe(false);
    expect(matched(trie, 'a/b')).toEqual({ s: 2 });
    expect(trie.remove('a/#', s)).toBe(true);
    expect(matched(trie, 'a/b')).toEqual({ s: 1 });
    expect(trie.remove('a/+', s)).toBe(true);
    expect(matched(trie, 'a/b')).toEqual({});
  });

  it('[MQTT-3.10.4-1] remove is per subscriber and needs the exact string', () => {
    const trie = new SubscriptionTrie<Sub>();
    const x = new Sub('x');
    const y = new Sub('y');
    trie.add('a/b', x, 0);
    trie.add('a/b', y, 0);
    expect(trie.remove('a/b/', x)).toBe(false);
    expect(trie.remove('A/b', x)).toBe(false);
    expect(trie.remove('a/b', x)).toBe(true);
    expect(trie.remove('a/b', x)).toBe(false);
    expect(matched(trie, 'a/b')).toEqual({ y: 0 });
    expect(trie.remove('never/there', x)).toBe(false);
    expect(trie.remove('', x)).toBe(false);
  });

  it('[MQTT-3.10.4-2] nothing is matched for a removed subscription', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    trie.add('sport/+', s, 1);
    trie.remove('sport/+', s);
    expect(matched(trie, 'sport/x')).toEqual({});
  });

  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] add refuses invalid filters', () => {
    const trie = new SubscriptionTrie<Sub>();
    for (const bad of ['', 'a/#/b', 'a#', 'a+/b', '+a', 'a\u0000']) {
      expect(() => trie.add(bad, new Sub('s'), 0)).toThrow(TypeError);
    }
    expect(trie.size).toBe(0);
    expect(trie.nodeCount).toBe(0);
  });
});

describe('SubscriptionTrie overlapping subscriptions', () => {
  it('[MQTT-3.3.5-1] a/b@0 + a/#@2 delivers one copy at QoS 2', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    trie.add('a/b', s, 0);
    trie.add('a/#', s, 2);
    expect(matched(trie, 'a/b')).toEqual({ s: 2 });
  });

  it('[MQTT-3.3.5-1] max QoS wins whichever filter is matched first', () => {
    for (const order of [
      ['a/b', 'a/+', '#', '+/b', 'a/#', '+/+', '+/#'],
      ['+/#', '+/+', 'a/#', '+/b', '#', 'a/+', 'a/b'],
    ]) {
      for (let hi = 0; hi < order.length; hi++) {
        const trie = new SubscriptionTrie<Sub>();
        const s = new Sub('s');
        const other = new Sub('o');
        order.forEach((f, i) => trie.add(f, s, i === hi ? 2 : 0));
        trie.add('a/b', other, 1);
        expect(matched(trie, 'a/b')).toEqual({ s: 2, o: 1 });
      }
    }
  });

  it('[MQTT-3.3.5-1] dedupes across many overlapping filters (index-map path)', () => {
    const trie = new SubscriptionTrie<Sub>();
    const subs = Array.from({ length: 20 }, (_, i) => new Sub(`s${i}`));
    const filters = ['a/b/c/d', 'a/b/c/+', 'a/b/+/d', 'a/+/c/d', '+/b/c/d', 'a/b/#', 'a/#', '#', '+/+/+/+', '+/#', 'a/b/c/d/#', '+/b/#'];
    filters.forEach((f, fi) => subs.forEach((s, si) => trie.add(f, s, ((fi + si) % 3) as QoS)));
    const expected: Record<string, number> = {};
    subs.forEach((s) => (expected[s.id] = 2));
    expect(matched(trie, 'a/b/c/d')).toEqual(expected);
    // one subscriber only on its lowest filter
    const low = new Sub('low');
    filters.forEach((f) => trie.add(f, low, 0));
    trie.add('a/b/c/d', low, 1);
    expect(matched(trie, 'a/b/c/d').low).toBe(1);
  });

  it('the result is overwritten by match() and reusable across publishes', () => {
    const trie = new SubscriptionTrie<Sub>();
    const result = new MatchResult<Sub>();
    const subs = Array.from({ length: 50 }, (_, i) => new Sub(`s${i}`));
    subs.forEach((s) => trie.add('big', s, 1));
    trie.add('small', subs[0], 2);
    expect(Object.keys(matched(trie, 'big', result))).toHaveLength(50);
    expect(matched(trie, 'small', result)).toEqual({ s0: 2 });
    expect(result.length).toBe(1);
    // the stale tail of the bigger match no longer references sessions
    expect(result.subscribers.slice(1).every((s) => s === undefined)).toBe(true);
    expect(matched(trie, 'none', result)).toEqual({});
    expect(result.length).toBe(0);
    result.reset();
    expect(result.length).toBe(0);
  });

  it('fan-out to 10,000 subscribers on one filter', () => {
    const trie = new SubscriptionTrie<Sub>();
    const subs = Array.from({ length: 10_000 }, (_, i) => new Sub(`s${i}`));
    subs.forEach((s, i) => trie.add('fan/+', s, (i % 3) as QoS));
    const result = new MatchResult<Sub>();
    trie.match('fan/out', result);
    expect(result.length).toBe(10_000);
    expect(new Set(result.subscribers.slice(0, result.length)).size).toBe(10_000);
    expect(result.qos[1]).toBe(1);
  });
});

describe('SubscriptionTrie literal children: in-place comparison and the Map', () => {
  it('[MQTT-4.7.3-4] a level is found whether its node compares keys in place (few children) or uses its Map (many), through adds and removes', () => {
    const trie = new SubscriptionTrie<Sub>();
    const names = ['a', 'ab', 'b', 'ba', 'abc', 'A', 'x', 'é', ''];
    const subs = names.map((n) => new Sub(`s:${n}`));
    const check = (present: Set<number>): void => {
      for (let i = 0; i < names.length; i++) {
        expect(matched(trie, `r/${names[i]}/t`)).toEqual(present.has(i) ? { [`s:${names[i]}`]: 1 } : {});
      }
      // Prefixes and extensions of a key are other levels [MQTT-4.7.3-4].
      expect(matched(trie, 'r/abcd/t')).toEqual({});
      expect(matched(trie, 'r/a/t/u')).toEqual({});
    };
    const present = new Set<number>();
    // Grow the node under 'r' one child at a time past the in-place limit, then shrink it back.
    for (let i = 0; i < names.length; i++) {
      trie.add(`r/${names[i]}/t`, subs[i], 1);
      present.add(i);
      check(present);
    }
    for (const i of [0, 4, 8, 2, 6, 1, 3, 5, 7]) {
      expect(trie.remove(`r/${names[i]}/t`, subs[i])).toBe(true);
      present.delete(i);
      check(present);
    }
    expect(trie.nodeCount).toBe(0);
  });
});

describe('SubscriptionTrie large nodes (position map, swap-remove)', () => {
  it('[MQTT-3.8.4-3] [MQTT-3.10.4-1] add/replace/remove of many subscribers on few filters stays exact', () => {
    const subs = Array.from({ length: 40 }, (_, i) => new Sub(`s${i}`));
    // adds outnumber removes 2:1 so that nodes grow past the position-map threshold (16)
    const op = fc.record({
      remove: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
      filter: fc.constantFrom('a/+', 'a/b', '#'),
      sub: fc.integer({ min: 0, max: 39 }),
      qos: fc.constantFrom<QoS>(0, 1, 2),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 400 }), (ops) => {
        const trie = new SubscriptionTrie<Sub>();
        const model = new Map<string, QoS>();
        for (const o of ops) {
          const key = `${o.sub} ${o.filter}`;
          if (o.remove) expect(trie.remove(o.filter, subs[o.sub])).toBe(model.delete(key));
          else {
            expect(trie.add(o.filter, subs[o.sub], o.qos)).toBe(!model.has(key));
            model.set(key, o.qos);
          }
        }
        const expected: Record<string, number> = {};
        const holders = new Set<string>();
        for (const [key, qos] of model) {
          const [sub, filter] = key.split(' ');
          holders.add(sub);
          expect(trie.get(filter, subs[Number(sub)])).toBe(qos);
          expected[`s${sub}`] = Math.max(expected[`s${sub}`] ?? 0, qos);
        }
        expect(matched(trie, 'a/b')).toEqual(expected);
        expect(trie.size).toBe(model.size);
        expect(trie.subscriberCount).toBe(holders.size);
      }),
      { numRuns: 200 },
    );
  });
});

describe('SubscriptionTrie pruning', () => {
  it('removing everything brings size, filterCount and nodeCount back to 0', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    const t = new Sub('t');
    const filters = ['a', 'a/b', 'a/b/c', 'a/+/c', 'a/#', '#', '+', '+/+', '/', '//', '/#', '$SYS/#', 'x/y/z/w'];
    for (const f of filters) {
      trie.add(f, s, 0);
      trie.add(f, t, 1);
    }
    expect(trie.size).toBe(filters.length * 2);
    expect(trie.filterCount).toBe(filters.length);
    expect(trie.nodeCount).toBeGreaterThan(0);
    for (const f of filters) expect(trie.remove(f, s)).toBe(true);
    expect(trie.filterCount).toBe(filters.length);
    for (const f of [...filters].reverse()) expect(trie.remove(f, t)).toBe(true);
    expect(trie.size).toBe(0);
    expect(trie.filterCount).toBe(0);
    expect(trie.nodeCount).toBe(0);
    expect(matched(trie, 'a/b/c')).toEqual({});
  });

  it('prunes only the branch that became empty', () => {
    const trie = new SubscriptionTrie<Sub>();
    const s = new Sub('s');
    trie.add('a/b', s, 0);
    const before = trie.nodeCount; // a, b
    trie.add('a/b/c/d', s, 0);
    expect(trie.nodeCount).toBe(before + 2);
    trie.remove('a/b/c/d', s);
    expect(trie.nodeCount).toBe(before);
    expect(matched(trie, 'a/b')).toEqual({ s: 0 });
  });
});

describe('SubscriptionTrie against a reference matcher [MQTT-3.3.2-3]', () => {
  const filterLevel = fc.constantFrom('', 'a', 'b', '$', '$a', 'a$', '+', '#', 'ab');
  const topicLevel = fc.constantFrom('', 'a', 'b', '$', '$a', 'a$', 'ab');
  // filters: levels joined by '/', kept only when syntactically valid; topics never hold wildcards
  const filterArb = fc
    .array(filterLevel, { minLength: 1, maxLength: 4 })
    .map((levels) => levels.join('/'))
    .filter((f) => f.length > 0 && isValidTopicFilter(f));
  const topicArb = fc
    .array(topicLevel, { minLength: 1, maxLength: 4 })
    .map((levels) => levels.join('/'))
    .filter((t) => t.length > 0);

  const op = fc.record({
    remove: fc.boolean(),
    filter: filterArb,
    sub: fc.integer({ min: 0, max: 4 }),
    qos: fc.constantFrom<QoS>(0, 1, 2),
  });

  it('match equals the reference for random subscribe/unsubscribe sequences and topics', () => {
    const subs = Array.from({ length: 5 }, (_, i) => new Sub(`s${i}`));
    const result = new MatchResult<Sub>(); // reused on purpose
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (ops, topics) => {
        const trie = new SubscriptionTrie<Sub>();
        const model = new Map<string, QoS>(); // `${sub}\u0000${filter}` -> qos
        for (const o of ops) {
          const key = `${o.sub}\u0000${o.filter}`;
          if (o.remove) {
            expect(trie.remove(o.filter, subs[o.sub])).toBe(model.delete(key));
          } else {
            expect(trie.add(o.filter, subs[o.sub], o.qos)).toBe(!model.has(key));
            model.set(key, o.qos);
          }
        }
        expect(trie.size).toBe(model.size);
        for (const topic of topics) {
          const expected: Record<string, number> = {};
          for (const [key, qos] of model) {
            const [sub, filter] = key.split('\u0000');
            if (!referenceMatch(filter, topic)) continue;
            const id = `s${sub}`;
            expected[id] = Math.max(expected[id] ?? 0, qos);
          }
          expect(matched(trie, topic, result)).toEqual(expected);
        }
        // removing everything prunes the whole tree
        for (const key of model.keys()) {
          const [sub, filter] = key.split('\u0000');
          expect(trie.remove(filter, subs[Number(sub)])).toBe(true);
        }
        expect(trie.size).toBe(0);
        expect(trie.filterCount).toBe(0);
        expect(trie.nodeCount).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('match equals the reference for single filters over random character strings', () => {
    const chars = fc.constantFrom('a', '$', '/', '+', '#');
    const str = fc.array(chars, { minLength: 1, maxLength: 8 }).map((c) => c.join(''));
    fc.assert(
      fc.property(
        str.filter((f) => isValidTopicFilter(f)),
        str.filter((t) => !t.includes('+') && !t.includes('#')),
        (filter, topic) => {
          expect(matchesOne(filter, topic)).toBe(referenceMatch(filter, topic));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
