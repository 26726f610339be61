/**
 * Keeps docs/conformance.md true: every checklist line is mapped, every mapped test exists and
 * carries the id, every conformance test id is a checklist id, every conformance test is mapped.
 * No broker here: this reads files only.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checklistTags, mapRows, titleTag } from '../helpers/conformance-map';

const ROOT = resolve(__dirname, '..', '..');
const MAP = join(ROOT, 'docs', 'conformance.md');
const CHECKLIST_COPY = join(__dirname, 'fixtures', 'mqtt-3.1.1-server-checklist.md');
/**
 * The project's shared checklist: `shared/` sits beside the repository folder (in the workspace,
 * and in CI, which puts a copy of it beside the clone).
 */
const CHECKLIST_SHARED = resolve(ROOT, '..', 'shared', 'spec', 'mqtt-3.1.1-server-checklist.md');

/** Test titles of a file, as written in the source (single-quoted `it('...')` / `test('...')`). */
function titlesOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/\b(?:it|test)\(\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(p));
    else if (entry.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const checklist = readFileSync(CHECKLIST_COPY, 'utf8');
const tags = checklistTags(checklist);
const rows = mapRows(readFileSync(MAP, 'utf8'));
const conformanceFiles = readdirSync(__dirname).filter((f) => /^\d\d-.*\.test\.ts$/.test(f));

describe('docs/conformance.md', () => {
  it('the checklist copy in fixtures is the shared checklist, unchanged', () => {
    // CI always has shared/ beside the clone: a missing file there is a wrong path, not a skip.
    if (!existsSync(CHECKLIST_SHARED) && process.env.CI) throw new Error(`no shared checklist at ${CHECKLIST_SHARED}`);
    if (!existsSync(CHECKLIST_SHARED)) return; // a checkout outside the workspace has only the copy
    expect(readFileSync(CHECKLIST_SHARED, 'utf8')).toBe(checklist);
  });

  it('the checklist has 135 numbered statements and 18 unnumbered ones', () => {
    expect(tags.filter((t) => t.startsWith('MQTT-'))).toHaveLength(135);
    expect(tags.filter((t) => t.startsWith('unnumbered'))).toHaveLength(18);
  });

  it('every checklist statement has a row in the map', () => {
    const mapped = new Set(rows.map((r) => r.tag));
    expect(tags.filter((t) => !mapped.has(t))).toEqual([]);
  });

  it('every row is covered by a test, a documented choice, "not applicable" or a later issue', () => {
    const bare = rows.filter((r) => r.refs.length === 0 && !/Choice|Not applicable|later issue [3-6]/i.test(r.notes));
    expect(bare.map((r) => r.tag)).toEqual([]);
  });

  it('every mapped test exists under its title, and that title carries the row\'s id', () => {
    const problems: string[] = [];
    const cache = new Map<string, string[]>();
    for (const row of rows) {
      for (const ref of row.refs) {
        const file = join(__dirname, ref.file);
        if (!existsSync(file)) {
          problems.push(`${row.tag}: no file test/conformance/${ref.file}`);
          continue;
        }
        if (!cache.has(file)) cache.set(file, titlesOf(file));
        if (!cache.get(file)!.includes(ref.title)) problems.push(`${row.tag}: no test titled '${ref.title}' in ${ref.file}`);
        if (!ref.title.includes(titleTag(row.tag))) problems.push(`${row.tag}: title '${ref.title}' lacks ${titleTag(row.tag)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every numbered id mapped to a test appears in a test title under test/', () => {
    const all = testFiles(join(ROOT, 'test')).flatMap(titlesOf).join('\n');
    const missing = rows.filter((r) => r.refs.length > 0 && !all.includes(titleTag(r.tag))).map((r) => r.tag);
    expect(missing).toEqual([]);
  });

  it('every id in a conformance test title is a checklist id, and every conformance test is mapped', () => {
    const known = new Set(tags.map(titleTag));
    const referenced = new Set(rows.flatMap((r) => r.refs.map((ref) => `${ref.file}\n${ref.title}`)));
    const problems: string[] = [];
    for (const f of conformanceFiles) {
      for (const title of titlesOf(join(__dirname, f))) {
        const ids = title.match(/\[(?:MQTT-|§)[^\]]+\]/g) ?? [];
        if (ids.length === 0) problems.push(`${f}: '${title}' starts with no id`);
        if (!title.startsWith('[')) problems.push(`${f}: '${title}' does not start with its ids`);
        for (const id of ids) if (!known.has(id)) problems.push(`${f}: '${title}' has unknown id ${id}`);
        if (!referenced.has(`${f}\n${title}`)) problems.push(`${f}: '${title}' is not in the map`);
      }
    }
    expect(problems).toEqual([]);
  });
});
