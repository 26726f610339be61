/**
 * One filter against one topic, for the paths that need it outside the tries (No Local, Retain As
 * Published and Subscription Identifiers of a session's own filters): level by level
 * [MQTT-4.7.1-2, 4.7.1-3, 4.7.2-1], on the characters in place (no split, no allocation).
 * `filter` is a valid filter: `#` only as its last level, `+` alone in its level.
 */
export function matchesFilter(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  // [MQTT-4.7.2-1] a wildcard first level does not match a `$` topic.
  if (tl > 0 && topic.charCodeAt(0) === 0x24 && fl > 0 && (filter.charCodeAt(0) === 0x2b || filter.charCodeAt(0) === 0x23)) return false;
  let f = 0;
  let t = 0;
  while (f < fl) {
    const c = filter.charCodeAt(f);
    if (c === 0x23) return true; // `#`: this level and all below (also the parent: `a/#` matches `a`)
    if (c === 0x2b) {
      // `+`: exactly one topic level, whatever it holds (possibly empty)
      while (t < tl && topic.charCodeAt(t) !== 0x2f) t++;
      f++;
    } else {
      while (f < fl && filter.charCodeAt(f) !== 0x2f) {
        if (t >= tl || topic.charCodeAt(t) !== filter.charCodeAt(f)) return false;
        f++;
        t++;
      }
      if (t < tl && topic.charCodeAt(t) !== 0x2f) return false; // the topic's level is longer
    }
    // Both at a `/` or at their end.
    if (f >= fl) return t >= tl;
    f++;
    // The topic has no more levels: only a last `#` level still matches.
    if (t >= tl) return f === fl - 1 && filter.charCodeAt(f) === 0x23;
    t++;
  }
  return t >= tl;
}
