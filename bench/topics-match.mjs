// Micro-benchmark of the topic layer: subscription matching, fan-out and retained lookup.
//
//   npx tsc -p tsconfig.build.json && node bench/topics-match.mjs
//
// TOPICS_DIST=/some/dir/index.js points it at another build of src/core/topics (for example
// one compiled on its own with `npx tsc --outDir /tmp/topics-build --module commonjs
// --target es2022 src/core/topics/*.ts`, then TOPICS_DIST=/tmp/topics-build/index.js).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const entry = process.env.TOPICS_DIST ?? path.join(here, '..', 'dist', 'core', 'topics', 'index.js');
const { SubscriptionTrie, MatchResult, RetainedTrie } = require(entry);

class Session {
  constructor(id) {
    this.id = id;
  }
}

const ROUNDS = Number(process.env.ROUNDS ?? 5);

/** Runs fn(ops) ROUNDS times after a warm-up; prints the best and the median round. */
function time(label, ops, fn) {
  fn(Math.min(ops, 10_000)); // warm-up
  const rounds = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    sink = fn(ops);
    rounds.push(Number(process.hrtime.bigint() - start) / ops);
  }
  rounds.sort((a, b) => a - b);
  const best = rounds[0];
  const median = rounds[Math.floor(rounds.length / 2)];
  const fmt = (per) =>
    (per >= 1e6 ? `${(per / 1e6).toFixed(2)} ms` : per >= 1e3 ? `${(per / 1e3).toFixed(1)} µs` : `${per.toFixed(0)} ns`).padStart(9);
  console.log(
    `${label.padEnd(54)} ${String(ops).padStart(9)} ops/round  best ${fmt(best)}/op  median ${fmt(median)}/op  ` +
      `${Math.round(1e9 / best).toLocaleString('en-US').padStart(10)} ops/s  (sink ${sink})`,
  );
}

// --- 1. 1M matches against 100k distinct filters -------------------------------------------
{
  const trie = new SubscriptionTrie();
  const sessions = Array.from({ length: 1000 }, (_, i) => new Session(i));
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    const tenant = i % 100;
    const dev = Math.floor(i / 100);
    const s = sessions[i % sessions.length];
    const kind = i % 20;
    if (kind === 0) trie.add(`t${tenant}/+/m${dev}`, s, 1); // 5% single-level wildcard
    else if (kind === 1) trie.add(`t${tenant}/d${dev}/#`, s, 2); // 5% multi-level wildcard
    else trie.add(`t${tenant}/d${dev}/m${dev % 7}`, s, 0); // 90% literal
  }
  trie.add('#', sessions[0], 0); // one firehose subscriber
  console.log(`subscription trie: ${trie.size} pairs, ${trie.filterCount} filters, ${trie.nodeCount} nodes`);

  const topics = [];
  for (let i = 0; i < 4096; i++) {
    const tenant = (i * 7919) % 100;
    const dev = (i * 104729) % 1000;
    topics.push(i % 8 === 7 ? `t${tenant}/nobody/here` : `t${tenant}/d${dev}/m${dev % 7}`);
  }
  const result = new MatchResult();
  time('match: 100k filters, literal + wildcard topics', 1_000_000, (ops) => {
    let delivered = 0;
    for (let i = 0; i < ops; i++) {
      trie.match(topics[i & 4095], result);
      delivered += result.length;
    }
    return delivered;
  });
}

// --- 2. fan-out to 10k subscribers ---------------------------------------------------------
{
  const trie = new SubscriptionTrie();
  const sessions = Array.from({ length: 10_000 }, (_, i) => new Session(i));
  for (const s of sessions) trie.add('fan/+', s, s.id % 3);
  const result = new MatchResult();
  time('fan-out: 10k subscribers on one filter (fan/+)', 10_000, (ops) => {
    let delivered = 0;
    for (let i = 0; i < ops; i++) {
      trie.match('fan/out', result);
      delivered += result.length;
    }
    return delivered;
  });

  // every subscriber also holds an overlapping filter: de-duplication at max QoS
  for (const s of sessions) trie.add('fan/#', s, 2);
  time('fan-out: 10k subscribers x 2 overlapping filters', 10_000, (ops) => {
    let delivered = 0;
    for (let i = 0; i < ops; i++) {
      trie.match('fan/out', result);
      delivered += result.length;
    }
    return delivered;
  });

  // many overlapping nodes per subscriber (index-map path): 8 filters x 10k subscribers
  for (const f of ['fan/out', '#', '+/out', '+/+', '+/#', 'fan/out/#']) for (const s of sessions) trie.add(f, s, 1);
  time('fan-out: 10k subscribers x 8 overlapping filters', 1_000, (ops) => {
    let delivered = 0;
    for (let i = 0; i < ops; i++) {
      trie.match('fan/out', result);
      delivered += result.length;
    }
    return delivered;
  });
}

// --- 3. retained: '#' over 10k topics ------------------------------------------------------
{
  const retained = new RetainedTrie();
  for (let i = 0; i < 10_000; i++) {
    const topic = `site${i % 10}/dev${Math.floor(i / 10) % 100}/sensor${i}`;
    retained.set(topic, { topic, payload: i });
  }
  for (let i = 0; i < 100; i++) retained.set(`$SYS/broker/stat${i}`, { topic: `$SYS/${i}`, payload: i });
  console.log(`retained trie: ${retained.size} messages, ${retained.nodeCount} nodes`);
  time("retained: match '#' over 10k topics", 1_000, (ops) => {
    let n = 0;
    for (let i = 0; i < ops; i++) {
      const out = [];
      retained.match('#', out);
      n += out.length;
    }
    return n;
  });
  time("retained: match 'site3/+/#' (1k of 10k)", 10_000, (ops) => {
    let n = 0;
    for (let i = 0; i < ops; i++) {
      const out = [];
      retained.match('site3/+/#', out);
      n += out.length;
    }
    return n;
  });
  time("retained: match exact topic 'site3/dev42/sensor423'", 1_000_000, (ops) => {
    let n = 0;
    const out = [];
    for (let i = 0; i < ops; i++) {
      out.length = 0;
      retained.match('site3/dev42/sensor423', out);
      n += out.length;
    }
    return n;
  });
}
