/**
 * deploy/monitoring/: the ServiceMonitor, the PrometheusRule and the Grafana dashboard, rendered
 * with `kubectl kustomize`. kubernetes-models has no monitoring.coreos.com types (that would be
 * @kubernetes-models/prometheus-operator, not a dependency), so the two custom resources get a
 * small hand-written structure check: required fields, types, no unknown field. Then a real
 * broker (the NestJS service with its admin API) is started and scraped: every metric name the
 * dashboard's and the alert rules' PromQL use must be in its /metrics, and every label value they
 * select (`reason="queue_full"`) must be one it exports.
 */
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { validateConfig } from '../../src';
import { type NestmqService, startService } from '../../src/service';
import { kustomize, root } from './deploy-kustomize';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const monitoringDir = join(root, 'deploy', 'monitoring');

function renderDocs(dir: string): Obj[] {
  return parseAllDocuments(kustomize(dir))
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);
}

/**
 * Metrics the kit queries that the broker does not export yet: each would wait for a change in
 * src/ (src/modules/admin/metrics.service.ts). None today.
 */
const AWAITING_SRC: Record<string, string> = {};

/** Series Prometheus makes itself for each target, and the labels it attaches to every series. */
const PROMETHEUS_OWN = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'service', 'endpoint', 'container']);

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);

/** The metric names of a PromQL expression (Grafana variables such as $__rate_interval allowed). */
function metricNames(expr: string): string[] {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // strings
  e = e.replace(/\{[^}]*\}/g, ' '); // label matchers
  e = e.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  e = e.replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    if (m.index > 0 && /[0-9.]/.test(e[m.index - 1])) continue; // 1e3, 0.8
    if (/^\s*\(/.test(e.slice(m.index + m[0].length))) continue; // a function or aggregation
    if (PROMQL_WORDS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** `name{label="value"}` and `name{label=~"a|b"}` equality selections, literal values only. */
function labelSelections(expr: string): { name: string; label: string; values: string[] }[] {
  const out: { name: string; label: string; values: string[] }[] = [];
  for (const m of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    for (const s of m[2].matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)) {
      if (TARGET_LABELS.has(s[1]) || s[3].includes('$')) continue;
      const values = s[2] === '=' ? [s[3]] : s[3].split('|');
      if (values.every((v) => /^\w+$/.test(v))) out.push({ name: m[1], label: s[1], values });
    }
  }
  return out;
}

/** Every PromQL expression of the kit, with where it comes from. */
function expressions(docs: Obj[]): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const rule = docs.find((d) => d.kind === 'PrometheusRule')!;
  for (const g of rule.spec.groups) for (const r of g.rules) out.push({ where: `alert ${r.alert ?? r.record}`, expr: String(r.expr) });
  const dashboard = dashboardOf(docs);
  const panels = (list: Obj[]): Obj[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  for (const p of panels(dashboard.panels)) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: String(t.expr) });
  for (const v of dashboard.templating.list) {
    const m = /^label_values\((.*),\s*\w+\)$/.exec(String(v.query ?? ''));
    if (m !== null) out.push({ where: `variable ${v.name}`, expr: m[1] });
  }
  return out;
}

function dashboardOf(docs: Obj[]): Obj {
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'nestmq-grafana-dashboard')!;
  return JSON.parse(cm.data['nestmq.json']) as Obj;
}

// ---- structure of the custom resources (hand-written: no schema package for them) ----------

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

/** Problems of an object against a tiny schema: required keys, allowed keys, a check per key. */
function shape(where: string, value: unknown, spec: Record<string, { required?: boolean; check?: (v: unknown, at: string) => string[] }>): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where}: must be an object`];
  const problems: string[] = [];
  for (const [k, s] of Object.entries(spec)) if (s.required && !(k in value)) problems.push(`${where}: must have ${k}`);
  for (const [k, v] of Object.entries(value)) {
    if (!(k in spec)) problems.push(`${where}: unknown field ${k}`);
    else problems.push(...(spec[k].check?.(v, `${where}.${k}`) ?? []));
  }
  return problems;
}
const str = (v: unknown, at: string): string[] => (typeof v === 'string' && v !== '' ? [] : [`${at}: must be a non-empty string`]);
const duration = (v: unknown, at: string): string[] => (typeof v === 'string' && DURATION.test(v) ? [] : [`${at}: must be a duration like 30s`]);
const stringMap = (v: unknown, at: string): string[] =>
  typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string') ? [] : [`${at}: must map strings to strings`];
const list =
  (item: (v: unknown, at: string) => string[]) =>
  (v: unknown, at: string): string[] =>
    Array.isArray(v) && v.length > 0 ? v.flatMap((x, i) => item(x, `${at}[${i}]`)) : [`${at}: must be a non-empty list`];
const metadata = (v: unknown, at: string): string[] => shape(at, v, { name: { required: true, check: str }, labels: { check: stringMap }, annotations: { check: stringMap } });

function serviceMonitorProblems(d: Obj): string[] {
  return shape('ServiceMonitor', d, {
    apiVersion: { required: true, check: (v, at) => (v === 'monitoring.coreos.com/v1' ? [] : [`${at}: must be monitoring.coreos.com/v1`]) },
    kind: { required: true },
    metadata: { required: true, check: metadata },
    spec: {
      required: true,
      check: (v, at) =>
        shape(at, v, {
          selector: { required: true, check: (s, a) => shape(a, s, { matchLabels: { required: true, check: stringMap } }) },
          namespaceSelector: {},
          jobLabel: { check: str },
          endpoints: {
            required: true,
            check: list((e, a) =>
              shape(a, e, { port: { required: true, check: str }, path: { check: str }, interval: { check: duration }, scrapeTimeout: { check: duration }, scheme: { check: str } }),
            ),
          },
        }),
    },
  });
}

function prometheusRuleProblems(d: Obj): string[] {
  const rule = (r: unknown, at: string): string[] =>
    shape(at, r, {
      alert: { required: true, check: str },
      expr: { required: true, check: str },
      for: { check: duration },
      labels: { required: true, check: (l, a) => [...stringMap(l, a), ...(['critical', 'warning', 'info'].includes((l as { severity?: string } | null)?.severity ?? '') ? [] : [`${a}.severity: critical, warning or info`])] },
      annotations: { required: true, check: (n, a) => [...stringMap(n, a), ...shape(a, n, { summary: { required: true, check: str }, description: { required: true, check: str } })] },
    });
  return shape('PrometheusRule', d, {
    apiVersion: { required: true, check: (v, at) => (v === 'monitoring.coreos.com/v1' ? [] : [`${at}: must be monitoring.coreos.com/v1`]) },
    kind: { required: true },
    metadata: { required: true, check: metadata },
    spec: { required: true, check: (v, at) => shape(at, v, { groups: { required: true, check: list((g, a) => shape(a, g, { name: { required: true, check: str }, interval: { check: duration }, rules: { required: true, check: list(rule) } })) } }) },
  });
}

/** PromQL's brackets must balance (a cheap syntax check: no PromQL parser is installed). */
function unbalanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return true;
  }
  return stack.length > 0;
}

describe('deploy/monitoring, rendered by kubectl kustomize', () => {
  const docs = renderDocs(monitoringDir);

  it('is a ServiceMonitor, a PrometheusRule and the dashboard ConfigMap, in the structure the Prometheus Operator and Grafana expect', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(['ConfigMap/nestmq-grafana-dashboard', 'PrometheusRule/nestmq', 'ServiceMonitor/nestmq']);
    for (const d of docs) expect(d.metadata.namespace).toBeUndefined();
    expect(serviceMonitorProblems(docs.find((d) => d.kind === 'ServiceMonitor')!)).toEqual([]);
    const rule = docs.find((d) => d.kind === 'PrometheusRule')!;
    expect(prometheusRuleProblems(rule)).toEqual([]);
    const alerts: string[] = rule.spec.groups.flatMap((g: Obj) => g.rules.map((r: Obj) => r.alert));
    expect(new Set(alerts).size).toBe(alerts.length);
    expect(alerts).toEqual(
      expect.arrayContaining(['NestmqDown', 'NestmqNotReady', 'NestmqMessagesDropped', 'NestmqSlowConsumers', 'NestmqQueuedBytesNearLimit', 'NestmqAuthFailureSpike']),
    );
    // The dashboard ConfigMap is a valid Kubernetes object, labelled for Grafana's sidecar.
    const { ConfigMap } = require('kubernetes-models/v1/ConfigMap') as { ConfigMap: new (d: unknown) => { validate(): void } }; // eslint-disable-line @typescript-eslint/no-require-imports
    const cm = docs.find((d) => d.kind === 'ConfigMap')!;
    expect(() => new ConfigMap(cm).validate()).not.toThrow();
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
  });

  it('the dashboard is the file in deploy/monitoring, with a panel per topic and a Prometheus query in each', () => {
    const dashboard = dashboardOf(docs);
    expect(dashboard).toEqual(JSON.parse(readFileSync(join(monitoringDir, 'grafana-dashboard.json'), 'utf8')));
    expect(dashboard).toMatchObject({ uid: 'nestmq-broker', title: expect.any(String), schemaVersion: expect.any(Number) });
    const panels = (dashboard.panels as Obj[]).filter((p) => p.type !== 'row');
    for (const p of panels) {
      expect([p.title, p.datasource]).toEqual([p.title, { type: 'prometheus', uid: '${datasource}' }]);
      expect([p.title, p.targets.length > 0, new Set(p.targets.map((t: Obj) => t.refId)).size]).toEqual([p.title, true, p.targets.length]);
      expect(p.gridPos).toMatchObject({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
    }
    const queried = new Set(expressions(docs).flatMap((e) => metricNames(e.expr)));
    // connections, messages in/out, dropped by reason, queue depth and bytes, auth failures, memory, CPU, readiness
    for (const name of [
      'nestmq_clients_connected',
      'nestmq_messages_received_total',
      'nestmq_messages_sent_total',
      'nestmq_messages_dropped_total',
      'nestmq_queued_messages',
      'nestmq_queued_bytes',
      'nestmq_auth_failures_total',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nestmq_up',
    ]) {
      expect([name, queried.has(name)]).toEqual([name, true]);
    }
    for (const { where, expr } of expressions(docs)) expect([where, unbalanced(expr)]).toEqual([where, false]);
  });

  it.each(readdirSync(join(root, 'deploy', 'overlays')))('the ServiceMonitor scrapes the admin port of overlay %s, under the job name the alerts use', (overlay) => {
    const rendered = renderDocs(join(root, 'deploy', 'overlays', overlay));
    const monitor = docs.find((d) => d.kind === 'ServiceMonitor')!;
    const selected = rendered.filter(
      (d) => d.kind === 'Service' && Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => d.metadata.labels?.[k] === v),
    );
    const port = monitor.spec.endpoints[0].port;
    const scraped = selected.filter((s) => s.spec.ports.some((p: Obj) => p.name === port));
    expect(scraped.map((s) => s.metadata.name)).toEqual(['nestmq-admin']);
    expect(monitor.spec.endpoints[0].path).toBe('/metrics');
    // No jobLabel: Prometheus Operator names the job after the Service.
    expect(monitor.spec.jobLabel).toBeUndefined();
    const jobs = new Set(expressions(docs).flatMap((e) => [...e.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1])));
    expect([...jobs]).toEqual(['nestmq-admin']);
  });
});

describe('every metric the dashboard and the alert rules query is exported by a running broker', () => {
  let service: NestmqService;
  let scraped: string;
  beforeAll(async () => {
    service = await startService(validateConfig({ listeners: { 'tcp-a': { bind: '127.0.0.1:0' } }, admin: { bind: '127.0.0.1:0' } }), {
      logDestination: { write: () => undefined },
    });
    const res = await fetch(`http://127.0.0.1:${service.adminAddress!.port}/metrics`);
    expect(res.status).toBe(200);
    scraped = await res.text();
  });
  afterAll(() => service?.shutdown('test'));

  /** name -> its series' label sets, from the text exposition. */
  function seriesOf(text: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? /.exec(line);
      if (m === null) continue;
      out.set(m[1], [...(out.get(m[1]) ?? []), m[2] ?? '']);
    }
    return out;
  }

  /** Names neither exported, nor Prometheus's own, nor waiting for src; label values not exported. */
  function missing(exprs: { where: string; expr: string }[]): string[] {
    const series = seriesOf(scraped);
    const problems: string[] = [];
    for (const { where, expr } of exprs) {
      for (const name of metricNames(expr)) {
        if (!series.has(name) && !PROMETHEUS_OWN.has(name) && !(name in AWAITING_SRC)) problems.push(`${where}: no metric ${name}`);
      }
      for (const { name, label, values } of labelSelections(expr)) {
        for (const v of values) {
          if (series.has(name) && !series.get(name)!.some((s) => s.includes(`${label}="${v}"`))) problems.push(`${where}: ${name} has no ${label}="${v}"`);
        }
      }
    }
    return problems;
  }

  it('finds every name and label value in /metrics', () => {
    const docs = renderDocs(monitoringDir);
    const exprs = expressions(docs);
    expect(exprs.length).toBeGreaterThan(20);
    expect(missing(exprs)).toEqual([]);
    // The list of metrics awaiting a src change holds only names the kit uses and the broker lacks.
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr)));
    const series = seriesOf(scraped);
    for (const name of Object.keys(AWAITING_SRC)) expect([name, used.has(name), series.has(name)]).toEqual([name, true, false]);
  });

  it('the check fails on a misspelt metric or label value, and reads names out of PromQL correctly', () => {
    expect(metricNames('sum by (reason) (rate(nestmq_messages_dropped_total{reason=~"a|b", pod=~"$pod"}[$__rate_interval])) > 0.8')).toEqual([
      'nestmq_messages_dropped_total',
    ]);
    expect(metricNames('up{job="x"} == 0 or absent(up{job="x"})')).toEqual(['up']);
    expect(metricNames('a / on (pod) group_left (version) b_total offset 5m > bool 1e3')).toEqual(['a', 'b_total']);
    expect(
      missing([
        { where: 'typo', expr: 'rate(nestmq_messages_recieved_total[5m])' },
        { where: 'label', expr: 'rate(nestmq_messages_dropped_total{reason="queue_ful"}[5m])' },
      ]),
    ).toEqual(['typo: no metric nestmq_messages_recieved_total', 'label: nestmq_messages_dropped_total has no reason="queue_ful"']);
  });
});
