#!/usr/bin/env node
/**
 * Rewrites the table under "## Map" in docs/conformance-v5.md: one row per line of the MQTT 5.0
 * checklist (test/conformance/fixtures/mqtt-5.0-server-checklist.md), in checklist order, its
 * "Covered by" cell listing every test of test/conformance/v5/NN-*.test.ts whose title carries the
 * row's id, its Notes cell kept from the current file (choices, pending markers). Run it after
 * adding or renaming v5 conformance tests, then read the diff:
 *   node test/conformance/map-v5-sync.mjs
 * map-v5.test.ts checks the result; this script only saves typing the titles.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const MAP = resolve(HERE, '..', '..', 'docs', 'conformance-v5.md');
const V5_DIR = join(HERE, 'v5');
const checklist = readFileSync(join(HERE, 'fixtures', 'mqtt-5.0-server-checklist.md'), 'utf8');

function titleTag(tag) {
  if (tag.startsWith('MQTT-')) return `[${tag}]`;
  return `[${tag.replace(/^unnumbered /, '').split(/ \+ |;/)[0]}]`;
}

/** [tag, paraphrase] in checklist order (same parsing as map-v5.test.ts). */
function statements() {
  const out = new Map();
  for (const line of checklist.split('\n')) {
    const numbered = /^- \[(MQTT-\d+(?:\.\d+)*-\d+)\]/.exec(line);
    const tagsHere = numbered ? [numbered[1]] : [];
    for (const m of line.matchAll(/(?<!`)\[(unnumbered §[^\]]+)\]/g)) tagsHere.push(m[1]);
    for (const tag of tagsHere) {
      if (out.has(tag)) continue;
      // The paraphrase: after the LEVEL (or after the tag), up to " — test:".
      const start = line.indexOf(`[${tag}]`) + tag.length + 2;
      let text = line.slice(start).split(' — test:')[0].split(' — pitfall:')[0];
      const parts = text.split(' — ');
      text = parts.length > 1 ? parts.slice(1).join(' — ') : parts[0];
      out.set(tag, text.replace(/^[\s—-]+/, '').replace(/\|/g, '\\|').trim());
    }
  }
  return out;
}

function titlesOf(file) {
  const src = readFileSync(file, 'utf8');
  const plain = [...src.matchAll(/\b(?:it|test)\(\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
  const each = [...src.matchAll(/\b(?:it|test)\.each\([^]*?\)\(\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]);
  return [...plain, ...each];
}

const doc = readFileSync(MAP, 'utf8');
const notes = new Map();
for (const line of doc.split('\n')) {
  const m = /^\| `\[(MQTT-[^\]]+|unnumbered [^\]]+)\]` \|/.exec(line);
  if (m) notes.set(m[1], line.split(' | ').pop().replace(/ ?\|$/, '').trim());
}

const tests = readdirSync(V5_DIR)
  .filter((f) => /^\d\d-.*\.test\.ts$/.test(f))
  .sort()
  .flatMap((f) => titlesOf(join(V5_DIR, f)).map((title) => ({ f, title })));

const lines = ['| Checklist | Statement (paraphrase) | Covered by | Notes |', '|---|---|---|---|'];
for (const [tag, text] of statements()) {
  const refs = tests.filter((t) => t.title.includes(titleTag(tag))).map((t) => `\`${t.f}\` \`${t.title}\``);
  lines.push(`| \`[${tag}]\` | ${text} | ${refs.length ? refs.join('<br>') : '—'} | ${notes.get(tag) ?? ''} |`);
}

const at = doc.indexOf('## Map');
if (at < 0) throw new Error('docs/conformance-v5.md has no "## Map" heading');
const head = doc.slice(0, at);
const afterTable = doc.slice(at).split('\n').findIndex((l, i) => i > 2 && l !== '' && !l.startsWith('|'));
const tail = afterTable < 0 ? '' : '\n' + doc.slice(at).split('\n').slice(afterTable).join('\n');
writeFileSync(MAP, `${head}## Map\n\n${lines.join('\n')}\n${tail}`);
