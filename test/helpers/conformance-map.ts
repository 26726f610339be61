/**
 * Reading a conformance map (docs/conformance.md for 3.1.1, docs/conformance-v5.md for 5.0) and
 * its checklist: what test/conformance/map.test.ts and map-v5.test.ts both check against.
 */

/** `[MQTT-3.1.2-24]` for numbered ids; `[§4.7 examples]` for `unnumbered §4.7 examples; ...` (what follows ` + ` or `;` is dropped). */
export function titleTag(tag: string): string {
  if (tag.startsWith('MQTT-')) return `[${tag}]`;
  return `[${tag.replace(/^unnumbered /, '').split(/ \+ |;/)[0]}]`;
}

/** Checklist tags in order: `MQTT-x-y` (lines starting with `- [MQTT-`) and `unnumbered §...`. */
export function checklistTags(text: string): string[] {
  const tags: string[] = [];
  for (const line of text.split('\n')) {
    const numbered = /^- \[(MQTT-\d+(?:\.\d+)*-\d+)\]/.exec(line);
    if (numbered) tags.push(numbered[1]);
    // The legend quotes `[unnumbered §x]` in backticks: not a statement.
    for (const m of line.matchAll(/(?<!`)\[(unnumbered §[^\]]+)\]/g)) tags.push(m[1]);
  }
  return [...new Set(tags)];
}

export interface Row {
  tag: string;
  refs: { file: string; title: string }[];
  notes: string;
}

/** The map's table rows: the checklist tag, the tests it names (`file` `title`), its notes cell. */
export function mapRows(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const m = /^\| `\[(MQTT-[^\]]+|unnumbered [^\]]+)\]` \|/.exec(line);
    if (!m) continue;
    const cells = line.split(' | ');
    const refs = [...line.matchAll(/`([\w.-]+\.test\.ts)` `([^`]+)`/g)].map((r) => ({ file: r[1], title: r[2] }));
    rows.push({ tag: m[1], refs, notes: cells[cells.length - 1] });
  }
  return rows;
}
