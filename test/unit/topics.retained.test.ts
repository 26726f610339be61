import fc from 'fast-check';
import { isValidTopicFilter, RetainedTrie } from '../../src/core/topics';

/** Stand-in for a stored retained PUBLISH. */
interface Msg {
  topic: string;
  payload: string;
}

/** Reference matcher written independently of the tries: '/'-split, level by level. */
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

function store(topics: string[]): RetainedTrie<Msg> {
  const trie = new RetainedTrie<Msg>();
  for (const topic of topics) trie.set(topic, { topic, payload: `p:${topic}` });
  return trie;
}

function matchedTopics(trie: RetainedTrie<Msg>, filter: string): string[] {
  const out: Msg[] = [];
  trie.match(filter, out);
  return out.map((m) => m.topic).sort();
}

// [label, filter, topic, expected]: spec 4.7 examples, looked up from the retained side.
const MATCH_TABLE: Array<[string, string, string, boolean]> = [
  ['[MQTT-4.7.1-2] sport/tennis/player1/# returns sport/tennis/player1', 'sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-2] sport/tennis/player1/# returns sport/tennis/player1/ranking', 'sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['[MQTT-4.7.1-2] sport/tennis/player1/# returns sport/tennis/player1/score/wimbledon', 'sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['[MQTT-4.7.1-2] sport/# returns sport', 'sport/#', 'sport', true],
  ['[MQTT-4.7.1-2] sport/# returns sport/', 'sport/#', 'sport/', true],
  ['[MQTT-4.7.1-2] sport/# does not return sports', 'sport/#', 'sports', false],
  ['[MQTT-4.7.1-2] # returns every non-$ topic', '#', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-2] # returns /', '#', '/', true],
  ['[MQTT-4.7.1-3] sport/tennis/+ returns sport/tennis/player1', 'sport/tennis/+', 'sport/tennis/player1', true],
  ['[MQTT-4.7.1-3] sport/tennis/+ does not return sport/tennis/player1/ranking', 'sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ['[MQTT-4.7.1-3] sport/+ does not return sport', 'sport/+', 'sport', false],
  ['[MQTT-4.7.1-3] sport/+ returns sport/', 'sport/+', 'sport/', true],
  ['[MQTT-4.7.1-3] a/+/b returns a//b', 'a/+/b', 'a//b', true],
  ['[MQTT-4.7.1-3] +/+ returns /finance', '+/+', '/finance', true],
  ['[MQTT-4.7.1-3] /+ returns /finance', '/+', '/finance', true],
  ['[MQTT-4.7.1-3] + does not return /finance', '+', '/finance', false],
  ['[MQTT-4.7.1-3] +/tennis/# returns sport/tennis/player1', '+/tennis/#', 'sport/tennis/player1', true],
  ['[MQTT-4.7.2-1] # does not return $SYS/x', '#', '$SYS/x', false],
  ['[MQTT-4.7.2-1] # does not return $x', '#', '$x', false],
  ['[MQTT-4.7.2-1] +/x does not return $SYS/x', '+/x', '$SYS/x', false],
  ['[MQTT-4.7.2-1] + does not return $x', '+', '$x', false],
  ['[MQTT-4.7.2-1] +/monitor/Clients does not return $SYS/monitor/Clients', '+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['[MQTT-4.7.2-1] $SYS/# returns $SYS/x', '$SYS/#', '$SYS/x', true],
  ['[MQTT-4.7.2-1] $SYS/# returns $SYS', '$SYS/#', '$SYS', true],
  ['[MQTT-4.7.2-1] $SYS/monitor/+ returns $SYS/monitor/Clients', '$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['[MQTT-4.7.2-1] # returns a$ (only a leading $ is special)', '#', 'a$', true],
  ['[MQTT-4.7.3-4] ACCOUNTS does not return Accounts', 'ACCOUNTS', 'Accounts', false],
  ['[MQTT-4.7.3-4] a/b does not return a//b', 'a/b', 'a//b', false],
  ['[MQTT-4.7.3-4] finance does not return /finance', 'finance', '/finance', false],
  ['[MQTT-4.7.3-4] Café NFC does not return Café NFD', 'Caf\u00e9', 'Cafe\u0301', false],
  ['[MQTT-4.7.3-4] Accounts payable returns itself', 'Accounts payable', 'Accounts payable', true],
];

describe('RetainedTrie matching (spec 4.7 examples)', () => {
  it.each(MATCH_TABLE)('%s', (_label, filter, topic, expected) => {
    expect(matchedTopics(store([topic]), filter)).toEqual(expected ? [topic] : []);
    expect(referenceMatch(filter, topic)).toBe(expected);
  });

  it('[MQTT-4.7.2-1] # and +/… skip $ topics in a mixed store; $SYS/# finds them', () => {
    const trie = store(['$SYS/broker/uptime', '$SYS', '$x', 'a', 'a/b', '/', 'x/$SYS']);
    expect(matchedTopics(trie, '#')).toEqual(['/', 'a', 'a/b', 'x/$SYS']);
    expect(matchedTopics(trie, '+')).toEqual(['a']);
    expect(matchedTopics(trie, '+/#')).toEqual(['/', 'a', 'a/b', 'x/$SYS']);
    expect(matchedTopics(trie, '$SYS/#')).toEqual(['$SYS', '$SYS/broker/uptime']);
    expect(matchedTopics(trie, '$SYS/+/+')).toEqual(['$SYS/broker/uptime']);
  });

  it('appends to out without clearing it', () => {
    const trie = store(['a']);
    const out: Msg[] = [{ topic: 'existing', payload: '' }];
    trie.match('a', out);
    expect(out.map((m) => m.topic)).toEqual(['existing', 'a']);
  });

  it('each matching topic is returned once', () => {
    const trie = store(['a', 'a/b', 'a/b/c', 'a//c']);
    expect(matchedTopics(trie, 'a/#')).toEqual(['a', 'a//c', 'a/b', 'a/b/c']);
    expect(matchedTopics(trie, '+/+/+')).toEqual(['a//c', 'a/b/c']);
  });

  it('delivers 10,000 retained messages on #', () => {
    const topics = Array.from({ length: 10_000 }, (_, i) => `dev/${i % 100}/sensor/${i}`);
    const trie = store(topics);
    const out: Msg[] = [];
    trie.match('#', out);
    expect(out).toHaveLength(10_000);
  });
});

describe('RetainedTrie set / get / delete', () => {
  it('set replaces the message for the same topic', () => {
    const trie = new RetainedTrie<Msg>();
    trie.set('a/b', { topic: 'a/b', payload: '1' });
    trie.set('a/b', { topic: 'a/b', payload: '2' });
    expect(trie.size).toBe(1);
    expect(trie.get('a/b')?.payload).toBe('2');
    const out: Msg[] = [];
    trie.match('a/b', out);
    expect(out.map((m) => m.payload)).toEqual(['2']);
  });

  it('get and delete use the exact topic', () => {
    const trie = store(['a/b']);
    expect(trie.get('a')).toBeUndefined();
    expect(trie.get('a/b/')).toBeUndefined();
    expect(trie.get('A/b')).toBeUndefined();
    expect(trie.has('a/b')).toBe(true);
    expect(trie.delete('a/+')).toBe(false);
    expect(trie.delete('a/#')).toBe(false);
    expect(trie.delete('a')).toBe(false);
    expect(trie.delete('a/b')).toBe(true);
    expect(trie.delete('a/b')).toBe(false);
    expect(trie.size).toBe(0);
  });

  it('a parent and its child are independent entries', () => {
    const trie = store(['a', 'a/b']);
    expect(trie.delete('a')).toBe(true);
    expect(trie.get('a/b')?.topic).toBe('a/b');
    expect(matchedTopics(trie, 'a/#')).toEqual(['a/b']);
  });

  it('refuses undefined messages', () => {
    const trie = new RetainedTrie<Msg | undefined>();
    expect(() => trie.set('a', undefined)).toThrow(TypeError);
  });

  it('forEach visits every message with its topic', () => {
    const topics = ['a', 'a/b', '/', '//x', '$SYS/y', 'a//'];
    const trie = store(topics);
    const seen: string[] = [];
    trie.forEach((m, topic) => {
      expect(m.topic).toBe(topic);
      seen.push(topic);
    });
    expect(seen.sort()).toEqual([...topics].sort());
  });

  it('removing everything brings size and nodeCount back to 0', () => {
    const topics = ['a', 'a/b', 'a/b/c', '/', '//', '$SYS/x', 'x/y/z/w', 'a//b'];
    const trie = store(topics);
    expect(trie.size).toBe(topics.length);
    expect(trie.nodeCount).toBeGreaterThan(0);
    for (const t of topics) expect(trie.delete(t)).toBe(true);
    expect(trie.size).toBe(0);
    expect(trie.nodeCount).toBe(0);
    expect(matchedTopics(trie, '#')).toEqual([]);
  });

  it('prunes only the branch that became empty', () => {
    const trie = store(['a/b']);
    const before = trie.nodeCount;
    trie.set('a/b/c/d', { topic: 'a/b/c/d', payload: '' });
    expect(trie.nodeCount).toBe(before + 2);
    trie.delete('a/b/c/d');
    expect(trie.nodeCount).toBe(before);
    expect(trie.get('a/b')?.topic).toBe('a/b');
  });
});

describe('RetainedTrie against a reference matcher [MQTT-3.3.2-3]', () => {
  const filterLevel = fc.constantFrom('', 'a', 'b', '$', '$a', 'a$', '+', '#', 'ab');
  const topicLevel = fc.constantFrom('', 'a', 'b', '$', '$a', 'a$', 'ab');
  const filterArb = fc
    .array(filterLevel, { minLength: 1, maxLength: 4 })
    .map((levels) => levels.join('/'))
    .filter((f) => f.length > 0 && isValidTopicFilter(f));
  const topicArb = fc
    .array(topicLevel, { minLength: 1, maxLength: 4 })
    .map((levels) => levels.join('/'))
    .filter((t) => t.length > 0);

  it('match equals the reference for random stores, deletes and filters', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ topic: topicArb, del: fc.boolean() }), { maxLength: 40 }),
        fc.array(filterArb, { minLength: 1, maxLength: 10 }),
        (ops, filters) => {
          const trie = new RetainedTrie<Msg>();
          const model = new Map<string, Msg>();
          ops.forEach((o, i) => {
            if (o.del) {
              expect(trie.delete(o.topic)).toBe(model.delete(o.topic));
            } else {
              const m = { topic: o.topic, payload: String(i) };
              trie.set(o.topic, m);
              model.set(o.topic, m);
            }
          });
          expect(trie.size).toBe(model.size);
          for (const filter of filters) {
            const out: Msg[] = [];
            trie.match(filter, out);
            const expected = [...model.values()].filter((m) => referenceMatch(filter, m.topic));
            expect(out.map((m) => `${m.topic}=${m.payload}`).sort()).toEqual(
              expected.map((m) => `${m.topic}=${m.payload}`).sort(),
            );
          }
          for (const topic of model.keys()) expect(trie.delete(topic)).toBe(true);
          expect(trie.size).toBe(0);
          expect(trie.nodeCount).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('match equals the reference over random character strings', () => {
    const chars = fc.constantFrom('a', '$', '/', '+', '#');
    const str = fc.array(chars, { minLength: 1, maxLength: 8 }).map((c) => c.join(''));
    fc.assert(
      fc.property(
        str.filter((f) => isValidTopicFilter(f)),
        fc.array(str.filter((t) => !t.includes('+') && !t.includes('#')), { maxLength: 8 }),
        (filter, topics) => {
          const trie = store(topics);
          const expected = [...new Set(topics)].filter((t) => referenceMatch(filter, t)).sort();
          expect(matchedTopics(trie, filter)).toEqual(expected);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('RetainedTrie.cursor: the same matches, a few steps at a time', () => {
  /** Every message the cursor returns, calling next() with at most `steps` node visits each. */
  function cursorTopics(trie: RetainedTrie<Msg>, filter: string, steps: number): string[] {
    const cursor = trie.cursor(filter);
    const out: string[] = [];
    for (let calls = 0; !cursor.done; calls++) {
      if (calls > 100_000) throw new Error('cursor does not end');
      const m = cursor.next(steps);
      if (m !== undefined) out.push(m.topic);
    }
    return out;
  }

  it('equals match() (same order) for random stores and filters, whatever the step budget', () => {
    const chars = fc.constantFrom('a', 'b', '$', '/', '+', '#');
    const str = fc.array(chars, { minLength: 1, maxLength: 8 }).map((c) => c.join(''));
    fc.assert(
      fc.property(
        str.filter((f) => isValidTopicFilter(f)),
        fc.array(str.filter((t) => !t.includes('+') && !t.includes('#')), { maxLength: 12 }),
        fc.integer({ min: 1, max: 4 }),
        (filter, topics, steps) => {
          const trie = store(topics);
          const out: Msg[] = [];
          trie.match(filter, out);
          expect(cursorTopics(trie, filter, steps)).toEqual(out.map((m) => m.topic));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a step budget bounds each call: a + over 10,000 non-matching branches takes many calls', () => {
    const trie = new RetainedTrie<Msg>();
    for (let i = 0; i < 10_000; i++) trie.set(`t${i}/x`, { topic: `t${i}/x`, payload: '' });
    trie.set('t5000/y', { topic: 't5000/y', payload: 'found' });
    const cursor = trie.cursor('+/y');
    let calls = 0;
    let found: Msg | undefined;
    while (!cursor.done) {
      calls++;
      found = cursor.next(100) ?? found;
    }
    expect(found?.payload).toBe('found');
    expect(calls).toBeGreaterThanOrEqual(100);
  });

  it('reads messages as they are when reached: deleted ones are skipped, replaced ones are current', () => {
    const trie = store(['a/1', 'a/2', 'a/3']);
    const cursor = trie.cursor('a/#');
    expect(cursor.next(10)?.topic).toBe('a/1');
    trie.delete('a/2');
    trie.set('a/3', { topic: 'a/3', payload: 'new' });
    expect(cursor.next(10)?.payload).toBe('new');
    expect(cursor.next(10)).toBeUndefined();
    expect(cursor.done).toBe(true);
  });
});
