/**
 * Topic and filter relations for ACLs, on topics split into levels. MQTT's rule holds
 * throughout: a wildcard in the first level never matches a topic starting with `$`
 * [MQTT-4.7.2-1], so ACL rule `#` does not grant `$SYS/...` (write `$SYS/#` for that).
 *
 *   matches(rule, topic)   the topic name is within the rule         (publish, delivery)
 *   covers(rule, filter)   every topic the filter matches is within  (subscription fully allowed)
 *   overlaps(rule, filter) some topic matches both                   (subscription can receive something)
 */

export type Levels = readonly string[];

export function levels(s: string): Levels {
  return s.split('/');
}

function isDollar(level: string | undefined): boolean {
  return level !== undefined && level.charCodeAt(0) === 36;
}

/** Does the topic name (no wildcards) match the rule (a filter)? */
export function matches(rule: Levels, topic: Levels): boolean {
  if (isDollar(topic[0]) && (rule[0] === '+' || rule[0] === '#')) return false;
  const n = rule.length;
  for (let i = 0; i < n; i++) {
    const r = rule[i];
    // `a/#` matches `a` itself [MQTT-4.7.1-2].
    if (r === '#') return true;
    if (i >= topic.length) return false;
    if (r !== '+' && r !== topic[i]) return false;
  }
  return n === topic.length;
}

/** Is every topic matching `filter` also matched by `rule`? */
export function covers(rule: Levels, filter: Levels): boolean {
  // A `$` literal first level can only be covered by the same literal.
  if (isDollar(filter[0]) && (rule[0] === '+' || rule[0] === '#')) return false;
  for (let i = 0; i < rule.length; i++) {
    const r = rule[i];
    if (r === '#') return true;
    const f = filter[i];
    // A leading `#` means "any topic" (never the empty one): `+/#` covers it too.
    if (f === '#') return i === 0 && r === '+' && rule.length === 2 && rule[1] === '#';
    if (f === undefined) return false;
    if (r === '+') continue;
    if (f === '+' || f !== r) return false;
  }
  return rule.length === filter.length;
}

/** Is there a topic that both match? */
export function overlaps(a: Levels, b: Levels): boolean {
  if (isDollar(a[0]) ? b[0] === '+' || b[0] === '#' : isDollar(b[0]) && (a[0] === '+' || a[0] === '#')) return false;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return true;
    // One ran out: only a trailing `#` on the other (handled above) would still meet it.
    if (x === undefined || y === undefined) return false;
    if (x !== '+' && y !== '+' && x !== y) return false;
  }
  return true;
}
