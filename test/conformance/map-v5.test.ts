/**
 * Keeps docs/conformance-v5.md true, as map.test.ts does for 3.1.1: every line of the MQTT 5.0
 * checklist has a row, every mapped test exists under its title and carries the row's id, every
 * v5 conformance test carries only checklist ids and is mapped. A row with no test must be a
 * documented choice, "Not applicable", or a `pending: <branch>` row listed in PENDING below.
 * No broker here: this reads files only.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checklistTags, mapRows, titleTag } from '../helpers/conformance-map';

/**
 * Rows whose tests are being written on another branch (empty since the six MQTT 5 branches merged).
 * A row marked `pending: x` must be listed under x here, and a listed id whose row is no longer
 * pending fails the test (so the list only shrinks).
 */
const PENDING: Record<string, readonly string[]> = {};

const ROOT = resolve(__dirname, '..', '..');
const MAP = join(ROOT, 'docs', 'conformance-v5.md');
const V5_DIR = join(__dirname, 'v5');
const CHECKLIST_COPY = join(__dirname, 'fixtures', 'mqtt-5.0-server-checklist.md');
/** The project's shared checklist, beside the repository folder (see map.test.ts). */
const CHECKLIST_SHARED = resolve(ROOT, '..', 'shared', 'spec', 'mqtt-5.0-server-checklist.md');

/**
 * Test titles of a file as written in the source: single-quoted `it('...')`, `test('...')` and
 * `it.each(...)('...')` (the title with its `%i` placeholders).
 */
function titlesOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const plain = [...src.matchAll(/\b(?:it|test)\(\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
  const each = [...src.matchAll(/\b(?:it|test)\.each\([^]*?\)\(\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
  return [...plain, ...each];
}

const checklist = readFileSync(CHECKLIST_COPY, 'utf8');
const tags = checklistTags(checklist);
const rows = mapRows(readFileSync(MAP, 'utf8'));
const v5Files = readdirSync(V5_DIR).filter((f) => /^\d\d-.*\.test\.ts$/.test(f));
const pendingOwner = new Map<string, string>();
for (const [owner, ids] of Object.entries(PENDING)) for (const id of ids) pendingOwner.set(id, owner);

describe('docs/conformance-v5.md', () => {
  it('the checklist copy in fixtures is the shared MQTT 5.0 checklist, unchanged', () => {
    if (!existsSync(CHECKLIST_SHARED) && process.env.CI) throw new Error(`no shared checklist at ${CHECKLIST_SHARED}`);
    if (!existsSync(CHECKLIST_SHARED)) return; // a checkout outside the workspace has only the copy
    expect(readFileSync(CHECKLIST_SHARED, 'utf8')).toBe(checklist);
  });

  it('the checklist has 245 numbered statements and 46 unnumbered ones', () => {
    expect(tags.filter((t) => t.startsWith('MQTT-'))).toHaveLength(245);
    expect(tags.filter((t) => t.startsWith('unnumbered'))).toHaveLength(46);
  });

  it('every checklist statement has exactly one row in the map, and every row is a checklist statement', () => {
    const known = new Set(tags);
    const seen = new Map<string, number>();
    for (const r of rows) seen.set(r.tag, (seen.get(r.tag) ?? 0) + 1);
    expect(tags.filter((t) => seen.get(t) !== 1)).toEqual([]);
    expect(rows.filter((r) => !known.has(r.tag)).map((r) => r.tag)).toEqual([]);
  });

  it('every row is covered by a test, a documented choice, "Not applicable", or a pending row listed in PENDING', () => {
    const problems: string[] = [];
    for (const r of rows) {
      const pending = /pending: (m5-[a-z]+)/.exec(r.notes);
      if (pending) {
        if (pendingOwner.get(r.tag) !== pending[1]) problems.push(`${r.tag}: marked pending: ${pending[1]} but not in PENDING['${pending[1]}']`);
      } else if (r.refs.length === 0 && !/Choice|Not applicable/.test(r.notes)) {
        problems.push(`${r.tag}: no test, no choice`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every id in PENDING is a checklist id whose row is still marked pending for that branch', () => {
    const byTag = new Map(rows.map((r) => [r.tag, r]));
    const stale = [...pendingOwner].filter(([id, owner]) => !byTag.get(id)?.notes.includes(`pending: ${owner}`));
    expect(stale.map(([id, owner]) => `${owner}: ${id}`)).toEqual([]);
  });

  it('every mapped test exists under its title in test/conformance/v5, and that title carries the row\'s id', () => {
    const problems: string[] = [];
    const cache = new Map<string, string[]>();
    for (const row of rows) {
      for (const ref of row.refs) {
        const file = join(V5_DIR, ref.file);
        if (!existsSync(file)) {
          problems.push(`${row.tag}: no file test/conformance/v5/${ref.file}`);
          continue;
        }
        if (!cache.has(file)) cache.set(file, titlesOf(file));
        if (!cache.get(file)!.includes(ref.title)) problems.push(`${row.tag}: no test titled '${ref.title}' in ${ref.file}`);
        if (!ref.title.includes(titleTag(row.tag))) problems.push(`${row.tag}: title '${ref.title}' lacks ${titleTag(row.tag)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every v5 conformance test starts with "v5 [", carries only checklist ids, and is mapped under each of them', () => {
    const known = new Set(tags.map(titleTag));
    const referenced = new Set(rows.flatMap((r) => r.refs.map((ref) => `${ref.file}\n${ref.title}\n${titleTag(r.tag)}`)));
    const problems: string[] = [];
    for (const f of v5Files) {
      for (const title of titlesOf(join(V5_DIR, f))) {
        const ids = title.match(/\[(?:MQTT-|§)[^\]]+\]/g) ?? [];
        if (ids.length === 0) problems.push(`${f}: '${title}' carries no id`);
        if (!title.startsWith('v5 [')) problems.push(`${f}: '${title}' does not start with "v5 [" and its ids`);
        for (const id of ids) {
          if (!known.has(id)) problems.push(`${f}: '${title}' has unknown id ${id}`);
          else if (!referenced.has(`${f}\n${title}\n${id}`)) problems.push(`${f}: '${title}' is not in the map under ${id}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
