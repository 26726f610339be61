import fc from 'fast-check';
import {
  hasWildcard,
  isValidTopicFilter,
  isValidTopicName,
  MAX_TOPIC_BYTES,
  topicLevels,
} from '../../src/core/topics';

describe('isValidTopicName', () => {
  it('[MQTT-4.7.3-1] refuses the empty string', () => {
    expect(isValidTopicName('')).toBe(false);
  });

  it.each([
    ['x/+'],
    ['+'],
    ['#'],
    ['a/#'],
    ['a+b'],
    ['a#'],
    ['sport/tennis/#'],
    ['sport/+/player1'],
  ])('[MQTT-4.7.1-1] refuses wildcard characters in a Topic Name: %j', (topic) => {
    expect(isValidTopicName(topic)).toBe(false);
  });

  it.each([['a\u0000b'], ['\u0000'], ['a/\u0000']])('[MQTT-4.7.3-2] refuses U+0000: %j', (topic) => {
    expect(isValidTopicName(topic)).toBe(false);
  });

  it.each([
    ['a'],
    ['/'],
    ['//'],
    ['a//b'],
    ['/finance'],
    ['sport/'],
    [' '],
    ['sport/tennis/player1'],
    ['$SYS/broker/uptime'],
    ['$'],
    ['Café'],
    ['Cafe\u0301'],
    ['\u{1F600}/emoji'],
    ['\uFEFFbom'],
  ])('accepts %j', (topic) => {
    expect(isValidTopicName(topic)).toBe(true);
  });

  it('[MQTT-1.5.3-1] refuses lone surrogates (no well-formed UTF-8 encoding)', () => {
    expect(isValidTopicName('a\uD800')).toBe(false);
    expect(isValidTopicName('\uDC00a')).toBe(false);
    expect(isValidTopicName('\uD800\uD800')).toBe(false);
    expect(isValidTopicName('\uD83D\uDE00')).toBe(true);
  });

  it('[MQTT-4.7.3-3] accepts exactly 65535 UTF-8 bytes and refuses 65536', () => {
    expect(isValidTopicName('a'.repeat(MAX_TOPIC_BYTES))).toBe(true);
    expect(isValidTopicName('a'.repeat(MAX_TOPIC_BYTES + 1))).toBe(false);
    // counted in bytes, not UTF-16 units: 'é' is 2 bytes, '€' 3, an emoji 4
    expect(isValidTopicName('é'.repeat(32767) + 'a')).toBe(true); // 65535 bytes
    expect(isValidTopicName('é'.repeat(32768))).toBe(false); // 65536 bytes
    expect(isValidTopicName('€'.repeat(21845))).toBe(true); // 65535 bytes
    expect(isValidTopicName('€'.repeat(21845) + 'a')).toBe(false);
    expect(isValidTopicName('\u{1F600}'.repeat(16383) + 'abc')).toBe(true); // 65535 bytes
    expect(isValidTopicName('\u{1F600}'.repeat(16384))).toBe(false); // 65536 bytes
  });
});

describe('isValidTopicFilter', () => {
  it('[MQTT-4.7.3-1] refuses the empty string', () => {
    expect(isValidTopicFilter('')).toBe(false);
  });

  it.each([
    ['#'],
    ['sport/#'],
    ['sport/tennis/#'],
    ['/#'],
    ['+/#'],
    ['$SYS/#'],
    ['//#'],
  ])('[MQTT-4.7.1-2] accepts # as the whole filter or last level: %j', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it.each([
    ['a/#/b'],
    ['a#'],
    ['sport/tennis#'],
    ['sport/tennis/#/ranking'],
    ['#/'],
    ['##'],
    ['#a'],
    ['a/#b'],
    ['#/#'],
  ])('[MQTT-4.7.1-2] refuses a misplaced #: %j', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(false);
  });

  it.each([
    ['+'],
    ['+/tennis/#'],
    ['sport/+/player1'],
    ['a/+/b'],
    ['+/+'],
    ['/+'],
    ['+/'],
    ['+/+/+'],
    ['$SYS/+'],
    ['+/#'],
  ])('[MQTT-4.7.1-3] accepts + filling whole levels: %j', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it.each([['sport+'], ['a+/b'], ['+a'], ['a/++'], ['a/+b/c'], ['++'], ['+#'], ['#+']])(
    '[MQTT-4.7.1-3] refuses + sharing a level: %j',
    (filter) => {
      expect(isValidTopicFilter(filter)).toBe(false);
    },
  );

  it.each([['a\u0000b'], ['\u0000'], ['+/\u0000'], ['\u0000/#']])('[MQTT-4.7.3-2] refuses U+0000: %j', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(false);
  });

  it('[MQTT-4.7.3-3] accepts 65535 UTF-8 bytes and refuses 65536', () => {
    expect(isValidTopicFilter('a'.repeat(MAX_TOPIC_BYTES - 2) + '/#')).toBe(true);
    expect(isValidTopicFilter('a'.repeat(MAX_TOPIC_BYTES - 1) + '/#')).toBe(false);
    expect(isValidTopicFilter('é'.repeat(32768))).toBe(false);
  });

  it('[MQTT-1.5.3-1] refuses lone surrogates', () => {
    expect(isValidTopicFilter('+/\uD800')).toBe(false);
    expect(isValidTopicFilter('+/\uD83D\uDE00/#')).toBe(true);
  });

  it.each([['a'], ['/'], ['a//b'], ['$'], ['$SYS'], ['Café']])('accepts plain filters: %j', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  // independent reference: split on '/' and check each level on its own
  function referenceValidFilter(filter: string): boolean {
    if (filter.length === 0 || filter.includes('\u0000')) return false;
    const levels = filter.split('/');
    return levels.every((level, i) => {
      if (level === '#') return i === levels.length - 1;
      if (level === '+') return true;
      return !level.includes('+') && !level.includes('#');
    });
  }

  it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] agrees with a level-by-level reference on random strings', () => {
    const chars = fc.constantFrom('a', 'b', '/', '+', '#', '$', '\u0000');
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 10 }), (parts) => {
        const s = parts.join('');
        expect(isValidTopicFilter(s)).toBe(referenceValidFilter(s));
        const nameOk = s.length > 0 && !['+', '#', '\u0000'].some((c) => s.includes(c));
        expect(isValidTopicName(s)).toBe(nameOk);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('helpers', () => {
  it.each([
    ['a', 1],
    ['a/b', 2],
    ['/', 2],
    ['a//b', 3],
    ['/finance', 2],
    ['sport/tennis/#', 3],
  ])('topicLevels(%j) = %i', (s, n) => {
    expect(topicLevels(s)).toBe(n);
  });

  it('hasWildcard', () => {
    expect(hasWildcard('a/+/b')).toBe(true);
    expect(hasWildcard('#')).toBe(true);
    expect(hasWildcard('a/b')).toBe(false);
  });
});
