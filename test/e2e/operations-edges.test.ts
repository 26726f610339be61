/**
 * Smaller operational edges: the OpenAPI UI and document are open (a browser cannot add a token
 * to the UI's assets) and say nothing of JWT; a wrong method on a known path is 405 with Allow;
 * a 400 names its parameter; an error in listeners.default is reported once; a YAML error keeps
 * its code excerpt; every listener's source is logged (a mistyped NESTMQ_LISTENERS__X shows).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, validateConfig } from '../../src';
import { type NestmqService, startService } from '../../src/service';

const TOKEN = 'edges-test-token-0123456789';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nestmq-edges-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(f: () => unknown): string[] {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('admin HTTP edges (token configured)', () => {
  let service: NestmqService;
  const logs: string[] = [];
  const url = (path: string): string => `http://127.0.0.1:${service.adminAddress!.port}${path}`;
  const auth = { Authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    const file = join(dir, 'broker.yaml');
    writeFileSync(file, 'listeners:\n  tcp:\n    bind: 127.0.0.1:0\nadmin:\n  bind: 127.0.0.1:0\n');
    service = await startService(loadConfigFile(file, { NESTMQ_ADMIN__TOKEN: TOKEN, NESTMQ_LISTENERS__TPC__BIND: '127.0.0.1:0' }), {
      configFile: file,
      logDestination: { write: (line: string) => void logs.push(line) },
    });
  });
  afterAll(() => service?.shutdown('test'));

  it('serves the Swagger UI, its assets and the document without a token; the scheme is bearer without bearerFormat JWT', async () => {
    const ui = await fetch(url('/api/docs'));
    expect(ui.status).toBe(200);
    const html = await ui.text();
    const assets = [...html.matchAll(/(?:src|href)="\.?\/?([^"]+\.(?:js|css))"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) expect([a, (await fetch(url(`/api/docs/${a.replace(/^api\/docs\//, '')}`))).status]).toEqual([a, 200]);
    const doc = (await (await fetch(url('/api/docs-json'))).json()) as { components: { securitySchemes: Record<string, Record<string, unknown>> } };
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.bearer.bearerFormat).toBeUndefined();
    expect((await fetch(url('/api/docs-yaml'))).status).toBe(200);
    // The API itself still needs the token.
    expect((await fetch(url('/api/v1/stats'))).status).toBe(401);
  });

  it('a wrong method on a known path is 405 with Allow; unknown paths stay 404', async () => {
    const post = await fetch(url('/api/v1/stats'), { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' } });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const get = await fetch(url('/api/v1/reload'), { headers: auth });
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    const put = await fetch(url('/api/v1/clients/x'), { method: 'PUT', headers: { ...auth, 'Content-Type': 'application/json' } });
    expect([put.status, put.headers.get('allow')]).toEqual([405, 'DELETE, GET, HEAD']);
    expect((await fetch(url('/api/v1/nothing-here'), { headers: auth })).status).toBe(404);
    expect((await fetch(url('/api/v1/stats'), { headers: auth })).status).toBe(200);
  });

  it('a 400 names the parameter', async () => {
    const bad = async (path: string, method = 'GET'): Promise<string> => {
      const res = await fetch(url(path), { method, headers: { ...auth, 'Content-Type': 'application/json' } });
      expect(res.status).toBe(400);
      return ((await res.json()) as { message: string }).message;
    };
    expect(await bad('/api/v1/clients?offset=abc')).toBe('offset: expected an integer');
    expect(await bad('/api/v1/clients?limit=ten')).toBe('limit: expected an integer');
    expect(await bad('/api/v1/clients/x?discardSession=maybe', 'DELETE')).toBe('discardSession: expected true or false');
  });

  it('logs every listener with its source: a mistyped NESTMQ_LISTENERS__X shows as a listener of its own, with a warning', () => {
    const bound = logs.map((l) => (JSON.parse(l) as { msg: string }).msg).filter((m) => m.startsWith('listener '));
    expect(bound).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^listener tcp bound to mqtt:\/\/127\.0\.0\.1:\d+ \(from file .*broker\.yaml\)$/),
        expect.stringMatching(/^listener tpc bound to mqtt:\/\/127\.0\.0\.1:\d+ \(from environment NESTMQ_LISTENERS__TPC__BIND \(no listener tpc in .*\)\)$/),
      ]),
    );
    expect(logs.some((l) => l.includes('listeners.tpc: created by the environment NESTMQ_LISTENERS__TPC__BIND'))).toBe(true);
  });
});

describe('configuration edges', () => {
  it('an error in listeners.default is reported once, under listeners.default', () => {
    const problems = problemsOf(() =>
      validateConfig({
        listeners: {
          default: { type: 'udp' as 'tcp', 'max-connections': 'many' as unknown as number, bogus: 1 } as never,
          a: { bind: '127.0.0.1:0' },
          b: { bind: '127.0.0.1:0' },
          c: { bind: '127.0.0.1:0', type: 'tcp', 'max-connections': -1 },
        },
      }),
    );
    expect(problems.sort()).toEqual(
      [
        'listeners.default.bogus: unknown key',
        'listeners.default.type: expected tcp or ws, got "udp"',
        'listeners.default.max-connections: expected an integer from 0 to 1000000, got "many"',
        // c's own value is c's problem.
        'listeners.c.max-connections: expected an integer from 0 to 1000000, got -1',
      ].sort(),
    );
  });

  it('a YAML error shows the whole message: position and the code excerpt with its caret', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'auth:\n  allow-anonymous: true\n   plugins: x\n');
    const problems = problemsOf(() => loadConfigFile(file));
    expect(problems).toHaveLength(1);
    const lines = problems[0].split('\n');
    expect(lines[0]).toMatch(/^not valid YAML: .* at line 2, column \d+:$/);
    expect(lines.slice(1).map((l) => l.trim())).toEqual(['allow-anonymous: true', '^']);
  });
});
