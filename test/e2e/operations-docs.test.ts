/**
 * The README and docs/operations.md against what a new user gets: every admin URL their `curl`
 * lines call exists with that method on a running service (in its OpenAPI document, or one of the
 * open paths, which answer 200); every `kubectl apply` is `-k` of a folder that renders no Secret,
 * and the objects the next commands name (`rollout status`, `port-forward`) are in that render;
 * no command assumes a global `nestmq` a clone does not have; the README says that one replica
 * is the single-node mode and points to the clustered overlay.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { validateConfig } from '../../src';
import { type NestmqService, startService } from '../../src/service';
import { kustomize, root } from './deploy-kustomize';

const TOKEN = 'docs-test-token-0123456789abcdef';
const DOCS = ['README.md', 'docs/operations.md'];

/** The commands of a markdown file's sh/bash blocks, continuation lines joined. */
function shellCommands(file: string): { file: string; command: string }[] {
  const out: { file: string; command: string }[] = [];
  let inBlock = false;
  let pending = '';
  for (const line of readFileSync(join(root, file), 'utf8').split('\n')) {
    if (/^```(sh|bash)\s*$/.test(line)) {
      inBlock = true;
      continue;
    }
    if (line.startsWith('```')) {
      inBlock = false;
      continue;
    }
    if (!inBlock) continue;
    const text = pending + line.trim();
    if (text.endsWith('\\')) {
      pending = `${text.slice(0, -1)} `;
      continue;
    }
    pending = '';
    if (text !== '' && !text.startsWith('#')) out.push({ file, command: text });
  }
  return out;
}

const commands = DOCS.flatMap(shellCommands);

/** The admin requests of the documented curl lines: method and path (no query). */
function adminRequests(): { file: string; method: string; path: string }[] {
  const out: { file: string; method: string; path: string }[] = [];
  for (const { file, command } of commands) {
    if (!command.includes('curl') || !command.includes('$ADMIN')) continue;
    const path = /\$ADMIN(\/[^\s"'?]*)/.exec(command)?.[1];
    if (path === undefined) continue;
    const method = /\s-X\s+([A-Z]+)/.exec(command)?.[1] ?? 'GET';
    out.push({ file, method, path });
  }
  return out;
}

describe('the documented admin commands, against a running service', () => {
  let service: NestmqService;
  const base = (): string => `http://127.0.0.1:${service.adminAddress!.port}`;
  beforeAll(async () => {
    service = await startService(
      validateConfig({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } }, admin: { bind: '127.0.0.1:0', token: TOKEN }, sys_interval: 0 }),
      { logDestination: { write: () => undefined } },
    );
  });
  afterAll(() => service.shutdown('test'));

  it('every $ADMIN path a curl line calls exists with that method: in the OpenAPI document, or an open path answering 200', async () => {
    const doc = (await (await fetch(`${base()}/api/docs-json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).map(([p, methods]) => ({
      pattern: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      methods: Object.keys(methods).map((m) => m.toUpperCase()),
    }));
    const requests = adminRequests();
    expect(requests.length).toBeGreaterThan(20);
    const unknown: string[] = [];
    for (const r of requests) {
      const route = routes.find((x) => x.pattern.test(r.path));
      if (route !== undefined) {
        if (!route.methods.includes(r.method)) unknown.push(`${r.file}: ${r.method} ${r.path} (OpenAPI has ${route.methods.join(', ')})`);
        continue;
      }
      // Not in the API description: must be an open GET (probes, metrics, the docs, the dashboard).
      const res = await fetch(`${base()}${r.path}`, { method: r.method });
      if (r.method !== 'GET' || res.status !== 200) unknown.push(`${r.file}: ${r.method} ${r.path} answers ${res.status} without a token`);
    }
    expect(unknown).toEqual([]);
  });
});

describe('the documented Kubernetes and command-line steps', () => {
  it('every kubectl apply is -k of a folder that renders no Secret; the objects the next commands name are rendered', () => {
    const applies = commands.filter((c) => /\bkubectl apply\b/.test(c.command) && !c.command.includes('--dry-run') && !/apply -f -(\s|$)/.test(c.command));
    expect(applies.length).toBeGreaterThan(0);
    const rendered = new Set<string>();
    for (const { file, command } of applies) {
      const dir = /kubectl apply -k (\S+)/.exec(command)?.[1];
      expect({ file, command, kustomize: dir !== undefined }).toEqual({ file, command, kustomize: true });
      const objects = parseAllDocuments(kustomize(join(root, dir!))).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
      expect({ file, dir, secrets: objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name) }).toEqual({ file, dir, secrets: [] });
      for (const o of objects) rendered.add(`${o.kind.toLowerCase()}/${o.metadata.name}`);
    }
    const kinds: Record<string, string> = { svc: 'service', statefulset: 'statefulset', deployment: 'deployment' };
    for (const { file, command } of commands) {
      const named = /kubectl (?:rollout (?:status|restart)|port-forward) (\w+)\/([\w-]+)/.exec(command);
      if (named === null) continue;
      expect({ file, command, rendered: rendered.has(`${kinds[named[1]] ?? named[1]}/${named[2]}`) }).toEqual({ file, command, rendered: true });
    }
  });

  it('no command assumes a global nestmq: a clone runs it as npx nestmq or node dist/main.js', () => {
    const bare = commands.filter((c) => /^nestmq\s/.test(c.command));
    expect(bare).toEqual([]);
  });

  it('the README says one replica is the single-node mode and points to the clustered overlay, which exists', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme).toMatch(/One replica is the \*\*single-node mode\*\*/);
    expect(readme).toMatch(/Do not raise `replicas`: several replicas sharing state over Redis are the clustered overlay, `deploy\/overlays\/clustered\/`/);
    expect(existsSync(join(root, 'deploy/overlays/clustered/kustomization.yaml'))).toBe(true);
  });
});
