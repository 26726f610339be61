/**
 * matchesFilter (topics/topic-match.ts), the per-filter matcher of the No Local, Retain As
 * Published and Subscription Identifier walks: a table of cases, and agreement with the
 * subscription trie on random filters and topics.
 */
import { matchesFilter } from '../../src/core/topics/topic-match';
import { MatchResult, SubscriptionTrie } from '../../src/core/topics/subscription-trie';

describe('matchesFilter', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/b', 'a/bc', false],
    ['a/bc', 'a/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['+/+', '/x', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['#', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/', 'a/', true],
    ['a/', 'a', false],
    ['a', 'a/', false],
    ['sport/tennis/+', 'sport/tennis/player1', true],
  ])('%s matches %s: %s [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.2-1]', (filter, topic, expected) => {
    expect(matchesFilter(filter, topic)).toBe(expected);
  });

  it('agrees with the subscription trie on 20,000 random filter/topic pairs', () => {
    const levels = ['', 'a', 'b', 'ab', '$x'];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const topic = (): string => Array.from({ length: 1 + rnd(4) }, () => levels[rnd(levels.length)]).join('/') || 'a';
    const filter = (): string => {
      const parts = Array.from({ length: 1 + rnd(4) }, () => (rnd(6) === 0 ? '+' : levels[rnd(levels.length)]));
      if (rnd(3) === 0) parts.push('#');
      return parts.join('/') || '#';
    };
    const result = new MatchResult<string>();
    for (let i = 0; i < 20_000; i++) {
      const f = filter();
      const t = topic();
      const trie = new SubscriptionTrie<string>();
      trie.add(f, 's', 0);
      trie.match(t, result);
      const viaTrie = result.length > 0;
      if (matchesFilter(f, t) !== viaTrie) throw new Error(`${f} vs ${t}: trie ${viaTrie}`);
    }
  });
});
