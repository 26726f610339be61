/**
 * The Kubernetes manifests in deploy/, checked offline against the Kubernetes API's schemas. Every
 * overlay in deploy/overlays/ is rendered with `kubectl kustomize` (kubectl's built-in kustomize,
 * exactly what `kubectl apply -k` applies) and every rendered object is checked:
 *  1. schema validation with `kubernetes-models` (the Kubernetes OpenAPI schemas compiled to
 *     ajv validators, installed from npm: nothing is downloaded at test time);
 *  2. strict fields: the same package's TypeScript interfaces, through the compiler's excess
 *     property check, so a misspelt field (`livenesProbe`) fails instead of being ignored, as
 *     `kubectl apply` with strict field validation (or kubeconform -strict) would;
 *  3. consistency with nestmq: the ConfigMap's broker.yaml passes nestmq's own validator, the
 *     probes hit the admin port's health paths, the grace period covers shutdown-grace-period,
 *     the database is on a PersistentVolumeClaim, the Secrets it reads are never part of a render.
 * The clustered overlay's own promises (3 replicas, PodDisruptionBudget, topology spread,
 * readiness-gated rollouts, preStop and grace period matching the broker's drain, Redis with a
 * PersistentVolumeClaim and AOF, no Secret value inline) have tests of their own.
 * A broken fixture shows that each check can fail.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { validateConfig, type BrokerConfig } from '../../src';
import { kustomize, root } from './deploy-kustomize';

const deployDir = join(root, 'deploy');
const overlaysDir = join(deployDir, 'overlays');
const secretsExampleDir = join(deployDir, 'secrets-example');
const fixturesDir = join(__dirname, 'deploy-fixtures');

interface Manifest {
  file: string;
  index: number;
  apiVersion: string;
  kind: string;
  name: string;
  doc: Record<string, unknown>;
}

/** The objects of a multi-document YAML text; `file` names where they came from in messages. */
function parseManifests(file: string, text: string): Manifest[] {
  const out: Manifest[] = [];
  parseAllDocuments(text).forEach((d, index) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0].message}`);
    const doc = d.toJS() as Record<string, unknown> | null;
    if (doc === null) return;
    const meta = (doc.metadata ?? {}) as { name?: string };
    out.push({ file, index, apiVersion: String(doc.apiVersion), kind: String(doc.kind), name: meta.name ?? '?', doc });
  });
  return out;
}

function load(dir: string, only?: string[]): Manifest[] {
  const out: Manifest[] = [];
  for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x) && (only === undefined || only.includes(x))).sort()) {
    out.push(...parseManifests(relative(root, join(dir, f)), readFileSync(join(dir, f), 'utf8')));
  }
  return out;
}

const rendered = new Map<string, Manifest[]>();
/** The objects `kubectl apply -k deploy/overlays/NAME` would apply (rendered once per run). */
function render(overlay: string): Manifest[] {
  let manifests = rendered.get(overlay);
  if (manifests === undefined) {
    const dir = join(overlaysDir, overlay);
    manifests = parseManifests(`${relative(root, dir)} (rendered)`, kustomize(dir));
    rendered.set(overlay, manifests);
  }
  return manifests;
}

/** Every overlay: a cluster overlay added later is checked by the same generic tests. */
const overlays = readdirSync(overlaysDir)
  .filter((d) => existsSync(join(overlaysDir, d, 'kustomization.yaml')))
  .sort();

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
  if (m === undefined) throw new Error(`no ${kind} ${name ?? ''} in the render`);
  return m.doc as Obj;
}

/** The broker's workload: a StatefulSet (single-node) or, should an overlay choose one, a Deployment. */
function workloadOf(manifests: Manifest[]): Obj {
  const w = manifests.filter((m) => (m.kind === 'StatefulSet' || m.kind === 'Deployment') && m.name === 'nestmq');
  if (w.length !== 1) throw new Error(`expected one StatefulSet or Deployment named nestmq, found ${w.length}`);
  return w[0].doc as Obj;
}

/** The ConfigMap the pod mounts at /etc/nestmq/config (kustomize gives it a hashed name). */
function configMapOf(manifests: Manifest[]): Obj {
  const pod = workloadOf(manifests).spec.template.spec;
  const mount = pod.containers[0].volumeMounts.find((v: Obj) => v.mountPath === '/etc/nestmq/config');
  const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
  return find(manifests, 'ConfigMap', volume.configMap.name);
}

function brokerConfigOf(manifests: Manifest[]): BrokerConfig {
  return validateConfig(parse(configMapOf(manifests).data['broker.yaml'], { version: '1.1' }));
}

/** Seconds the container's preStop hook waits before SIGTERM: a `sleep` action or `exec: sleep N`; 0 without one. */
function preStopSeconds(container: Obj): number {
  const hook = container.lifecycle?.preStop;
  if (hook === undefined) return 0;
  if (hook.sleep !== undefined) return Number(hook.sleep.seconds);
  const cmd: string[] = hook.exec?.command ?? [];
  if (cmd.length === 2 && cmd[0] === 'sleep' && /^\d+$/.test(cmd[1])) return Number(cmd[1]);
  throw new Error(`preStop hook of unknown duration: ${JSON.stringify(hook)}`);
}

/** The Kustomization files under deploy/, with each `resources` entry resolved to a path. */
function kustomizationResources(): { file: string; resources: string[] }[] {
  const out: { file: string; resources: string[] }[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e === 'kustomization.yaml' || e === 'kustomization.yml') {
        const k = parse(readFileSync(p, 'utf8')) as Obj;
        const entries = [...(k.resources ?? []), ...(k.components ?? []), ...(k.bases ?? [])] as string[];
        out.push({ file: relative(root, p), resources: entries.map((r) => resolve(dirname(p), r)) });
      }
    }
  };
  walk(deployDir);
  return out;
}

describe('deploy/ layout: kustomize base and overlays, Secrets never applied', () => {
  it('has the single-node overlay, and nothing but folders at the top of deploy/', () => {
    expect(overlays).toContain('single-node');
    // The old instructions said `kubectl apply -f deploy/`: with no manifest left at the top it
    // fails ("error reading [deploy/]: recognized file extensions are [.json .yaml .yml]") instead
    // of applying the placeholder Secrets.
    const top = readdirSync(deployDir).filter((f) => !statSync(join(deployDir, f)).isDirectory());
    expect(top.filter((f) => /\.(ya?ml|json)$/.test(f))).toEqual([]);
  });

  it.each(overlays)('overlay %s renders no Secret: applying it never replaces the real nestmq-auth and nestmq-tls', (overlay) => {
    const manifests = render(overlay);
    expect(manifests.length).toBeGreaterThan(0);
    expect(manifests.filter((m) => m.kind === 'Secret').map((m) => m.name)).toEqual([]);
  });

  it('the example Secrets are no kustomization resource, and are not a kustomization themselves', () => {
    expect(existsSync(join(secretsExampleDir, 'kustomization.yaml'))).toBe(false);
    const k = kustomizationResources();
    expect(k.map((x) => x.file)).toEqual(expect.arrayContaining(['deploy/base/kustomization.yaml', 'deploy/overlays/single-node/kustomization.yaml']));
    for (const { file, resources } of k) {
      for (const r of resources) expect([file, r.startsWith(secretsExampleDir)]).toEqual([file, false]);
    }
  });

  it('the example Secrets are valid objects with the keys the broker reads', () => {
    const secrets = load(secretsExampleDir);
    expect(secrets.map((m) => `${m.kind}/${m.name}`).sort()).toEqual(['Secret/nestmq-auth', 'Secret/nestmq-redis', 'Secret/nestmq-tls']);
    expect(validateManifests(secrets)).toEqual([]);
    expect(Object.keys(find(secrets, 'Secret', 'nestmq-auth').stringData).sort()).toEqual(['admin-token', 'passwd']);
    expect(Object.keys(find(secrets, 'Secret', 'nestmq-tls').stringData).sort()).toEqual(['tls.crt', 'tls.key']);
    expect(Object.keys(find(secrets, 'Secret', 'nestmq-redis').stringData)).toEqual(['password']);
  });
});

describe('the single-node overlay', () => {
  it('is one broker StatefulSet, its ConfigMap and its Services', () => {
    const manifests = render('single-node');
    expect(manifests.map((m) => `${m.kind}/${m.name.replace(/^(nestmq-config)-[a-z0-9]+$/, '$1-<hash>')}`).sort()).toEqual([
      'ConfigMap/nestmq-config-<hash>',
      'Service/nestmq',
      'Service/nestmq-admin',
      'Service/nestmq-headless',
      'StatefulSet/nestmq',
    ]);
    // Single-node mode: one replica. Several replicas are the clustered mode (another overlay).
    expect(find(manifests, 'StatefulSet', 'nestmq').spec.replicas).toBe(1);
  });
});

describe('the clustered overlay', () => {
  const manifests = (): Manifest[] => render('clustered');
  const hashless = (name: string): string => name.replace(/^(nestmq-config|nestmq-redis-config)-[a-z0-9]+$/, '$1-<hash>');
  /** redis.conf of the Redis StatefulSet, as directive -> value (last one wins, as in Redis). */
  const redisConf = (ms: Manifest[]): Record<string, string> => {
    const pod = find(ms, 'StatefulSet', 'nestmq-redis').spec.template.spec;
    const volume = pod.volumes.find((v: Obj) => v.configMap !== undefined);
    const text: string = find(ms, 'ConfigMap', volume.configMap.name).data['redis.conf'];
    const conf: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const m = /^\s*([a-z-]+)\s+(.*?)\s*$/.exec(line);
      if (m && !line.trim().startsWith('#')) conf[m[1]] = m[2];
    }
    return conf;
  };

  it('is the broker Deployment, its PodDisruptionBudget, Redis and the Services: no single-node StatefulSet', () => {
    expect(overlays).toContain('clustered');
    expect(manifests().map((m) => `${m.kind}/${hashless(m.name)}`).sort()).toEqual([
      'ConfigMap/nestmq-config-<hash>',
      'ConfigMap/nestmq-redis-config-<hash>',
      'Deployment/nestmq',
      'NetworkPolicy/nestmq-redis',
      'PodDisruptionBudget/nestmq',
      'Service/nestmq',
      'Service/nestmq-admin',
      'Service/nestmq-redis',
      'StatefulSet/nestmq-redis',
    ]);
  });

  it('runs 3 replicas, rolled out one at a time and only onto ready pods, with no volume of their own', () => {
    const deployment = find(manifests(), 'Deployment', 'nestmq');
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(deployment.spec.minReadySeconds).toBeGreaterThan(0);
    const pod = deployment.spec.template.spec;
    expect(pod.containers[0].readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'admin' });
    expect(pod.containers[0].startupProbe.httpGet).toEqual({ path: '/health/live', port: 'admin' });
    // State is in Redis: no PersistentVolumeClaim, no SQLite.
    expect(pod.volumes.filter((v: Obj) => v.persistentVolumeClaim !== undefined)).toEqual([]);
    expect(deployment.spec.volumeClaimTemplates).toBeUndefined();
    expect(brokerConfigOf(manifests()).persistence.backend).toBe('memory');
  });

  it('keeps 2 of 3 replicas through voluntary disruptions (PodDisruptionBudget on the broker pods)', () => {
    const ms = manifests();
    const pdb = find(ms, 'PodDisruptionBudget', 'nestmq');
    const deployment = find(ms, 'Deployment', 'nestmq');
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pdb.spec.minAvailable).toBe(deployment.spec.replicas - 1);
    expect(pdb.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
  });

  it('spreads the replicas over nodes (hard) and zones (soft)', () => {
    const deployment = find(manifests(), 'Deployment', 'nestmq');
    const spread: Obj[] = deployment.spec.template.spec.topologySpreadConstraints;
    const byKey = Object.fromEntries(spread.map((c) => [c.topologyKey, c]));
    expect(byKey['kubernetes.io/hostname']).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' });
    expect(byKey['topology.kubernetes.io/zone']).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway' });
    for (const c of spread) expect(c.labelSelector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it("waits in preStop, then drains, all within terminationGracePeriodSeconds", () => {
    const ms = manifests();
    const config = brokerConfigOf(ms);
    const pod = find(ms, 'Deployment', 'nestmq').spec.template.spec;
    const wait = preStopSeconds(pod.containers[0]);
    // The preStop sleep is the endpoint-propagation wait; the broker's own drain delay would add to it.
    expect(wait).toBeGreaterThanOrEqual(5);
    expect(config.shutdownDrainDelay).toBe(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(wait + config.shutdownDrainDelay + config.shutdownGracePeriod);
  });

  it('points NESTMQ_CLUSTER__REDIS at the Redis Service, the password only by reference to the Secret nestmq-redis', () => {
    const ms = manifests();
    const env: Obj[] = find(ms, 'Deployment', 'nestmq').spec.template.spec.containers[0].env;
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    expect(byName.REDIS_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'nestmq-redis', key: 'password' });
    // REDIS_PASSWORD is defined before the variable that expands it (Kubernetes expands only earlier ones).
    expect(env.findIndex((e) => e.name === 'REDIS_PASSWORD')).toBeLessThan(env.findIndex((e) => e.name === 'NESTMQ_CLUSTER__REDIS'));
    const url = new URL(byName.NESTMQ_CLUSTER__REDIS.value);
    expect(url.protocol).toBe('redis:');
    expect(decodeURIComponent(url.password)).toBe('$(REDIS_PASSWORD)');
    const service = find(ms, 'Service', url.hostname);
    expect(service.spec.selector).toEqual(find(ms, 'StatefulSet', 'nestmq-redis').spec.template.metadata.labels);
    expect(service.spec.ports.map((p: Obj) => p.port)).toEqual([Number(url.port)]);
    // The Secret the URL needs is documented with that key.
    expect(Object.keys(find(load(secretsExampleDir), 'Secret', 'nestmq-redis').stringData)).toEqual(['password']);
  });

  it('puts no secret value in the render: every password comes from a secretKeyRef', () => {
    const ms = manifests();
    const text = ms.map((m) => JSON.stringify(m.doc)).join('\n');
    expect(text).not.toMatch(/CHANGE-ME|PLACEHOLDER/);
    const conf = redisConf(ms);
    expect(conf.requirepass).toBeUndefined();
    expect(conf.masterauth).toBeUndefined();
    const redis = find(ms, 'StatefulSet', 'nestmq-redis').spec.template.spec.containers[0];
    const args: string[] = redis.args;
    expect(args[args.indexOf('--requirepass') + 1]).toBe('$(REDIS_PASSWORD)');
    expect(redis.env.find((e: Obj) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef).toEqual({ name: 'nestmq-redis', key: 'password' });
    // Any other variable whose name says secret carries no literal value.
    for (const m of ms.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      for (const c of (m.doc as Obj).spec.template.spec.containers) {
        for (const e of c.env ?? []) {
          if (/PASSWORD|TOKEN|SECRET/.test(e.name)) expect([label(m), e.name, e.value]).toEqual([label(m), e.name, undefined]);
          // A URL's password (redis://:PASSWORD@host) is only ever a $(VAR) reference.
          if (typeof e.value === 'string' && URL.canParse(e.value) && new URL(e.value).password !== '') {
            expect([label(m), e.name, decodeURIComponent(new URL(e.value).password)]).toEqual([label(m), e.name, expect.stringMatching(/^\$\([A-Z_]+\)$/)]);
          }
        }
      }
    }
  });

  it('gives Redis a PersistentVolumeClaim and an append-only file fsynced every second, never evicting', () => {
    const ms = manifests();
    const redis = find(ms, 'StatefulSet', 'nestmq-redis');
    expect(redis.spec.replicas).toBe(1);
    const conf = redisConf(ms);
    expect(conf).toMatchObject({ appendonly: 'yes', appendfsync: 'everysec', 'maxmemory-policy': 'noeviction', dir: '/data' });
    const container = redis.spec.template.spec.containers[0];
    const dataMount = container.volumeMounts.find((v: Obj) => v.mountPath === conf.dir);
    const claim = redis.spec.volumeClaimTemplates.find((t: Obj) => t.metadata.name === dataMount.name);
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(claim.spec.resources.requests.storage).toEqual(expect.any(String));
    expect(redis.spec.template.spec.volumes.find((v: Obj) => v.name === dataMount.name)).toBeUndefined(); // would shadow the claim
    // redis-server reads the mounted redis.conf.
    const confMount = container.volumeMounts.find((v: Obj) => container.args[0].startsWith(`${v.mountPath}/`));
    expect(confMount).toBeDefined();
    expect(redis.spec.serviceName).toBe('nestmq-redis');
  });
});

describe.each(overlays)('overlay %s, as rendered by kubectl kustomize', (overlay) => {
  it('validates against the Kubernetes API schemas, with no unknown field', () => {
    expect(validateManifests(render(overlay))).toEqual([]);
  });

  it('is namespace-agnostic (applied into whatever namespace kubectl is given)', () => {
    for (const m of render(overlay)) expect([label(m), (m.doc.metadata as Obj).namespace]).toEqual([label(m), undefined]);
  });

  it("carries a broker.yaml that nestmq's validator accepts, with the ports the pod and Services expose", () => {
    const manifests = render(overlay);
    const config = brokerConfigOf(manifests);
    const byName = Object.fromEntries(config.listeners.map((l) => [l.name, l]));
    expect(byName.mqtt).toMatchObject({ type: 'tcp', ssl: false, port: 1883 });
    expect(byName.mqtts).toMatchObject({ type: 'tcp', ssl: true, port: 8883, certfile: '/etc/nestmq/tls/tls.crt', keyfile: '/etc/nestmq/tls/tls.key' });
    expect(byName.ws).toMatchObject({ type: 'ws', port: 8080 });
    expect(config.admin).toMatchObject({ enabled: true, host: '0.0.0.0', port: 18883, token: undefined });
    expect(config.sysInterval).toBeGreaterThan(0);

    const workload = workloadOf(manifests);
    const container = workload.spec.template.spec.containers[0];
    const ports = Object.fromEntries(container.ports.map((p: Obj) => [p.name, p.containerPort]));
    expect(ports).toEqual({ mqtt: 1883, mqtts: 8883, ws: 8080, admin: 18883 });
    const service = find(manifests, 'Service', 'nestmq');
    expect(service.spec.ports.map((p: Obj) => [p.port, p.targetPort])).toEqual([
      [1883, 'mqtt'],
      [8883, 'mqtts'],
      [8080, 'ws'],
    ]);
    expect(find(manifests, 'Service', 'nestmq-admin').spec.ports.map((p: Obj) => p.targetPort)).toEqual(['admin']);
    for (const name of ['nestmq', 'nestmq-admin']) expect(find(manifests, 'Service', name).spec.selector).toEqual(workload.spec.selector.matchLabels);
    if (workload.kind === 'StatefulSet') {
      // The governing Service exists and is headless.
      const headless = find(manifests, 'Service', workload.spec.serviceName);
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.selector).toEqual(workload.spec.selector.matchLabels);
    }
  });

  it('probes the health endpoints on the admin port, and waits longer than the shutdown grace period', () => {
    const manifests = render(overlay);
    const config = brokerConfigOf(manifests);
    const pod = workloadOf(manifests).spec.template.spec;
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'admin' });
    // A preStop wait comes first (it counts against the same grace period), then the drain delay
    // (readiness 503, still serving), then the grace period.
    const drain = preStopSeconds(c) + config.shutdownDrainDelay + config.shutdownGracePeriod;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drain);
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(drain + 10);
    expect(c.args).toEqual(['--config', '/etc/nestmq/config/broker.yaml']);
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('runs as non-root on a read-only root filesystem, with the token and files from the Secrets', () => {
    const manifests = render(overlay);
    const pod = workloadOf(manifests).spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const token = c.env.find((e: Obj) => e.name === 'NESTMQ_ADMIN__TOKEN');
    expect(token.valueFrom.secretKeyRef).toMatchObject({ name: 'nestmq-auth', key: 'admin-token' });
    // The Secrets the pod reads, and their keys, are those deploy/secrets-example/ documents.
    const examples = load(secretsExampleDir);
    const volumeSecrets = pod.volumes.filter((v: Obj) => v.secret !== undefined).map((v: Obj) => v.secret);
    for (const s of volumeSecrets) {
      const keys = Object.keys(find(examples, 'Secret', s.secretName).stringData);
      for (const item of s.items ?? []) expect([s.secretName, keys.includes(item.key)]).toEqual([s.secretName, true]);
    }
    expect(volumeSecrets.map((s: Obj) => s.secretName).sort()).toEqual(['nestmq-auth', 'nestmq-tls']);
    // Every file the broker reads or writes is on a mounted volume.
    const config = brokerConfigOf(manifests);
    const mounts: string[] = c.volumeMounts.map((v: Obj) => v.mountPath);
    const files = [config.auth.passwordFile!, config.listeners.find((l) => l.ssl)!.certfile!];
    if (config.persistence.backend === 'sqlite') files.push(config.persistence.path);
    for (const path of files) {
      expect([path, mounts.some((m) => path.startsWith(`${m}/`))]).toEqual([path, true]);
    }
  });

  it('keeps the SQLite database on a PersistentVolumeClaim, never on an emptyDir', () => {
    const manifests = render(overlay);
    const config = brokerConfigOf(manifests);
    if (config.persistence.backend !== 'sqlite') return; // a clustered overlay may keep its state elsewhere
    const workload = workloadOf(manifests);
    const c = workload.spec.template.spec.containers[0];
    const mount = c.volumeMounts.find((v: Obj) => config.persistence.path.startsWith(`${v.mountPath}/`));
    const template = (workload.spec.volumeClaimTemplates ?? []).find((t: Obj) => t.metadata.name === mount.name);
    const podVolume = workload.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
    if (template !== undefined) {
      expect(podVolume).toBeUndefined(); // a pod volume of the same name would shadow the claim
      expect(template.spec.accessModes).toEqual(['ReadWriteOnce']);
      expect(template.spec.resources.requests.storage).toEqual(expect.any(String));
    } else {
      // A Deployment must name a claim, and run one pod at a time (Recreate) on it.
      expect(podVolume?.persistentVolumeClaim?.claimName).toEqual(expect.any(String));
      expect(workload.spec.strategy).toEqual({ type: 'Recreate' });
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
    // The rendered StatefulSet passes; the same object with one misspelt field does not.
    const good = render('single-node').filter((m) => m.kind === 'StatefulSet');
    expect(validateManifests(good)).toEqual([]);
    const typo = structuredClone(good[0]);
    const container = ((typo.doc.spec as Obj).template.spec.containers as Obj[])[0];
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    expect(validateManifests([typo]).join('\n')).toMatch(/'readinesProbe' does not exist in type/);
  });

  it('a render without kubectl fails with a message saying so', () => {
    expect(() => kustomize(join(overlaysDir, 'single-node'), 'kubectl-not-installed')).toThrow(/kubectl not found on PATH/);
  });
});
