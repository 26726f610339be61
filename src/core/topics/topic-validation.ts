/**
 * Topic Name and Topic Filter syntax (MQTT 3.1.1 section 4.7).
 *
 * Topic Name (PUBLISH topic, Will Topic):
 *   - at least one character                               [MQTT-4.7.3-1]
 *   - no wildcard characters '+' or '#'                    [MQTT-4.7.1-1]
 *   - no U+0000                                            [MQTT-4.7.3-2]
 *   - at most 65535 bytes once encoded as UTF-8            [MQTT-4.7.3-3]
 *
 * Topic Filter (SUBSCRIBE / UNSUBSCRIBE):
 *   - the same length, U+0000 and size rules
 *   - '#' is the whole filter or the last level, after a '/'   [MQTT-4.7.1-2]
 *       valid: '#', 'a/#', '/#', '+/#'      invalid: 'a#', 'a/#/b', '#/', '##'
 *   - '+' fills a whole level, anywhere, any number of times   [MQTT-4.7.1-3]
 *       valid: '+', '+/+', 'a/+/b', '/+', '+/#'   invalid: 'a+', '+a', 'a/++'
 *
 * Both functions also refuse lone UTF-16 surrogates: such a string has no well-formed UTF-8
 * encoding [MQTT-1.5.3-1], so it cannot have come off the wire through a strict decoder and
 * could not be sent to a client either. Names and filters are otherwise taken byte for byte:
 * no normalisation, trimming or case folding [MQTT-4.7.3-4]. '$' is legal in both; whether a
 * client may publish to '$SYS/...' is a policy decision made by the caller, not here.
 *
 * Every check is a single pass over char codes: no RegExp, no split, no allocation.
 */

const SLASH = 0x2f; // '/'
const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'

/** Largest UTF-8 encoding allowed for a name or filter: a two-byte length prefix [MQTT-4.7.3-3]. */
export const MAX_TOPIC_BYTES = 65535;

/**
 * Each UTF-16 code unit encodes to at most 3 UTF-8 bytes (a surrogate pair, 2 units, to 4),
 * so any string of at most 21845 units is within the limit without counting bytes.
 */
const SAFE_UNITS = Math.floor(MAX_TOPIC_BYTES / 3);

function withinByteLimit(s: string): boolean {
  return s.length <= SAFE_UNITS || Buffer.byteLength(s, 'utf8') <= MAX_TOPIC_BYTES; // [MQTT-4.7.3-3]
}

/**
 * Checks the surrogate at index i (0xd800..0xdfff). Returns the index of the last unit of the
 * pair if it is a well-formed pair, or -1 for a lone surrogate.
 */
function pairEnd(s: string, i: number, c: number): number {
  if (c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return i + 1;
  }
  return -1;
}

/** True if `topic` may be used as the topic of a PUBLISH or as a Will Topic. */
export function isValidTopicName(topic: string): boolean {
  const n = topic.length;
  if (n === 0) return false; // [MQTT-4.7.3-1]
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return false; // [MQTT-4.7.1-1]
    if (c === 0) return false; // [MQTT-4.7.3-2]
    if (c >= 0xd800 && c <= 0xdfff) {
      i = pairEnd(topic, i, c);
      if (i < 0) return false;
    }
  }
  return withinByteLimit(topic);
}

/** True if `filter` is a syntactically valid Topic Filter for SUBSCRIBE or UNSUBSCRIBE. */
export function isValidTopicFilter(filter: string): boolean {
  const n = filter.length;
  if (n === 0) return false; // [MQTT-4.7.3-1]
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === HASH) {
      // [MQTT-4.7.1-2] alone in its level, and that level is the last one
      if (i !== n - 1) return false;
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false;
    } else if (c === PLUS) {
      // [MQTT-4.7.1-3] alone in its level
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false;
      if (i < n - 1 && filter.charCodeAt(i + 1) !== SLASH) return false;
    } else if (c === 0) {
      return false; // [MQTT-4.7.3-2]
    } else if (c >= 0xd800 && c <= 0xdfff) {
      i = pairEnd(filter, i, c);
      if (i < 0) return false;
    }
  }
  return withinByteLimit(filter);
}

/** True if the filter contains '+' or '#' (assumes a valid filter or name). */
export function hasWildcard(filter: string): boolean {
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS || c === HASH) return true;
  }
  return false;
}

/**
 * Number of levels in a name or filter: one more than the number of '/'.
 * 'a' -> 1, 'a/b' -> 2, '/' -> 2, 'a//b' -> 3, '' -> 1. Useful for a max-levels limit.
 */
export function topicLevels(s: string): number {
  let levels = 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === SLASH) levels++;
  return levels;
}
