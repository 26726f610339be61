/**
 * The Kubernetes manifests in deploy/, checked offline against the Kubernetes API's schemas:
 *  1. schema validation with `kubernetes-models` (the Kubernetes OpenAPI schemas compiled to
 *     ajv validators, installed from npm: nothing is downloaded at test time);
 *  2. strict fields: the same package's TypeScript interfaces, through the compiler's excess
 *     property check, so a misspelt field (`livenesProbe`) fails instead of being ignored, as
 *     `kubectl apply` with strict field validation (or kubeconform -strict) would;
 *  3. consistency with nestmq: the ConfigMap's broker.yaml passes nestmq's own validator, the
 *     probes hit the admin port's health paths, the grace period covers shutdown-grace-period.
 * A broken fixture shows that each check can fail.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { validateConfig, type BrokerConfig } from '../../src';

const root = join(__dirname, '..', '..');
const deployDir = join(root, 'deploy');
const fixturesDir = join(__dirname, 'deploy-fixtures');

interface Manifest {
  file: string;
  index: number;
  apiVersion: string;
  kind: string;
  name: string;
  doc: Record<string, unknown>;
}

function load(dir: string, only?: string[]): Manifest[] {
  const out: Manifest[] = [];
  for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x) && (only === undefined || only.includes(x))).sort()) {
    const file = relative(root, join(dir, f));
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).forEach((d, index) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0].message}`);
      const doc = d.toJS() as Record<string, unknown> | null;
      if (doc === null) return;
      const meta = (doc.metadata ?? {}) as { name?: string };
      out.push({ file, index, apiVersion: String(doc.apiVersion), kind: String(doc.kind), name: meta.name ?? '?', doc });
    });
  }
  return out;
}

/** kubernetes-models lays its models out as `kubernetes-models/<apiVersion>/<Kind>`. */
function modelPath(m: Manifest): string {
  return `kubernetes-models/${m.apiVersion}/${m.kind}`;
}

const label = (m: Manifest): string => `${m.file} (${m.kind} ${m.name})`;

/** 1. JSON-schema validation of every manifest; one problem string per failure. */
function schemaProblems(manifests: Manifest[]): string[] {
  const problems: string[] = [];
  for (const m of manifests) {
    let Model: new (data: unknown) => { validate(): void };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the model module is chosen per manifest at run time
      Model = (require(modelPath(m)) as Record<string, new (data: unknown) => { validate(): void }>)[m.kind];
      if (typeof Model !== 'function') throw new Error('no such model');
    } catch {
      problems.push(`${label(m)}: no Kubernetes schema for apiVersion ${m.apiVersion} kind ${m.kind}`);
      continue;
    }
    try {
      new Model(m.doc).validate();
    } catch (err) {
      problems.push(`${label(m)}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** 2. Unknown or mistyped fields, via TypeScript's excess property check against the model interfaces. */
function strictProblems(manifests: Manifest[]): string[] {
  const known = manifests.filter((m) => {
    try {
      require.resolve(modelPath(m));
      return true;
    } catch {
      return false;
    }
  });
  const lines: string[] = [];
  const lineOf = new Map<number, Manifest>();
  known.forEach((m, i) => lines.push(`import type { I${m.kind} as T${i} } from '${modelPath(m)}';`));
  known.forEach((m, i) => {
    lineOf.set(lines.length, m);
    lines.push(`export const m${i}: T${i} = ${JSON.stringify(m.doc)};`);
  });
  const fileName = join(root, '__deploy_manifests__.ts');
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === fileName ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, ...rest));
  host.fileExists = (name) => name === fileName || fileExists(name);
  host.readFile = (name) => (name === fileName ? text : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === fileName && d.start !== undefined)
    .map((d) => {
      const line = d.file!.getLineAndCharacterOfPosition(d.start!).line;
      const m = lineOf.get(line);
      // The literal's keys are JSON strings: '"livenesProbe"' reads better as 'livenesProbe'.
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/'"([^"']+)"'/g, "'$1'");
      return `${m ? label(m) : 'manifests'}: ${message}`;
    });
}

function validateManifests(manifests: Manifest[]): string[] {
  return [...schemaProblems(manifests), ...strictProblems(manifests)];
}

// ---- helpers for the consistency checks ----------------------------------------------------

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function find(manifests: Manifest[], kind: string, name?: string): Obj {
  const m = manifests.find((x) => x.kind === kind && (name === undefined || x.name === name));
  if (m === undefined) throw new Error(`no ${kind} ${name ?? ''} in deploy/`);
  return m.doc as Obj;
}

function brokerConfigOf(manifests: Manifest[]): BrokerConfig {
  const cm = find(manifests, 'ConfigMap', 'nestmq-config');
  return validateConfig(parse(cm.data['broker.yaml'], { version: '1.1' }));
}

describe('deploy/ Kubernetes manifests', () => {
  const manifests = load(deployDir);

  it('are the expected objects', () => {
    expect(manifests.map((m) => `${m.kind}/${m.name}`).sort()).toEqual([
      'ConfigMap/nestmq-config',
      'Deployment/nestmq',
      'Secret/nestmq-auth',
      'Secret/nestmq-tls',
      'Service/nestmq',
      'Service/nestmq-admin',
    ]);
    // Namespace-agnostic: applied into whatever namespace kubectl is given.
    for (const m of manifests) expect([label(m), (m.doc.metadata as Obj).namespace]).toEqual([label(m), undefined]);
  });

  it('validate against the Kubernetes API schemas, with no unknown field', () => {
    expect(validateManifests(manifests)).toEqual([]);
  });

  it("carry a broker.yaml that nestmq's validator accepts, with the ports the Deployment and Service expose", () => {
    const config = brokerConfigOf(manifests);
    const byName = Object.fromEntries(config.listeners.map((l) => [l.name, l]));
    expect(byName.mqtt).toMatchObject({ type: 'tcp', ssl: false, port: 1883 });
    expect(byName.mqtts).toMatchObject({ type: 'tcp', ssl: true, port: 8883, certfile: '/etc/nestmq/tls/tls.crt', keyfile: '/etc/nestmq/tls/tls.key' });
    expect(byName.ws).toMatchObject({ type: 'ws', port: 8080 });
    expect(config.admin).toMatchObject({ enabled: true, host: '0.0.0.0', port: 18883, token: undefined });
    expect(config.sysInterval).toBeGreaterThan(0);

    const pod = find(manifests, 'Deployment').spec.template.spec;
    const container = pod.containers[0];
    const ports = Object.fromEntries(container.ports.map((p: Obj) => [p.name, p.containerPort]));
    expect(ports).toEqual({ mqtt: 1883, mqtts: 8883, ws: 8080, admin: 18883 });
    const service = find(manifests, 'Service', 'nestmq');
    expect(service.spec.ports.map((p: Obj) => [p.port, p.targetPort])).toEqual([
      [1883, 'mqtt'],
      [8883, 'mqtts'],
      [8080, 'ws'],
    ]);
    expect(find(manifests, 'Service', 'nestmq-admin').spec.ports.map((p: Obj) => p.targetPort)).toEqual(['admin']);
    expect(service.spec.selector).toEqual(find(manifests, 'Deployment').spec.selector.matchLabels);
  });

  it('probe the health endpoints on the admin port, and wait longer than the shutdown grace period', () => {
    const config = brokerConfigOf(manifests);
    const pod = find(manifests, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'admin' });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(config.shutdownGracePeriod);
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(config.shutdownGracePeriod + 10);
    expect(c.args).toEqual(['--config', '/etc/nestmq/config/broker.yaml']);
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('run as non-root on a read-only root filesystem, with the token and files from the Secrets', () => {
    const pod = find(manifests, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const token = c.env.find((e: Obj) => e.name === 'NESTMQ_ADMIN__TOKEN');
    expect(token.valueFrom.secretKeyRef).toMatchObject({ name: 'nestmq-auth', key: 'admin-token' });
    expect(Object.keys(find(manifests, 'Secret', 'nestmq-auth').stringData).sort()).toEqual(['admin-token', 'passwd']);
    expect(Object.keys(find(manifests, 'Secret', 'nestmq-tls').stringData).sort()).toEqual(['tls.crt', 'tls.key']);
    // Every file the broker reads is on a mounted volume.
    const config = brokerConfigOf(manifests);
    const mounts: string[] = c.volumeMounts.map((v: Obj) => v.mountPath);
    for (const path of [config.auth.passwordFile!, config.listeners.find((l) => l.ssl)!.certfile!, config.persistence.path]) {
      expect([path, mounts.some((m) => path.startsWith(`${m}/`))]).toEqual([path, true]);
    }
  });
});

describe('the manifest checks can fail', () => {
  const broken = load(fixturesDir, ['broken-deployment.yaml']);

  // The compiler reports the first error of each object; the fixture has one kind of error per document.
  it('report schema errors (wrong types, missing required fields) and unknown fields', () => {
    const problems = validateManifests(broken);
    const text = problems.join('\n');
    expect(text).toMatch(/containerPort must be integer/);
    expect(text).toMatch(/spec must have required property selector/);
    expect(text).toMatch(/'livenesProbe' does not exist in type/);
    expect(text).toMatch(/'terminationGracePeriodSecond' does not exist in type/);
    expect(text).toMatch(/no Kubernetes schema for apiVersion v1 kind Servce/);
  });

  it('the fixture differs from a valid manifest only by its deliberate errors', () => {
    // The good Deployment passes; the same object with one misspelt field does not.
    const good = load(deployDir, ['deployment.yaml']);
    expect(validateManifests(good)).toEqual([]);
    const typo = structuredClone(good[0]);
    const container = ((typo.doc.spec as Obj).template.spec.containers as Obj[])[0];
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    expect(validateManifests([typo]).join('\n')).toMatch(/'readinesProbe' does not exist in type/);
  });
});
