/**
 * The observability deliverables against the code: k8s/grafana-dashboard.json and
 * k8s/monitoring/prometheus-rules.yaml parse and are well-formed, and every metric their expressions name is
 * one the services export. The exported names are collected from the source — every prom-client
 * constructor (`new Counter({ name: 'pigeon_…' })`, Gauge, Histogram, Summary) in the services'
 * code — plus Node's default metrics as createRegistry() registers them, so a metric added,
 * renamed or removed anywhere is picked up without touching this test.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createRegistry } from '../core/metrics.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_FOLDERS = ['core', 'api', 'supplier-bridge', 'persister', 'monitor'];

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

interface ExportedMetric {
  name: string;
  type: MetricType;
  labels: string[];
  where: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' ? [] : sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

const CONSTRUCTOR = /new\s+(Counter|Gauge|Histogram|Summary)\s*(?:<[^>(]*>)?\s*\(/g;

/**
 * Every metric in the services' source, with its type and label names. A constructor names its
 * metric literally (`name: 'pigeon_…'`), or takes the name from a helper's parameter (a factory
 * for several gauges alike); for the latter, the `'pigeon_…'` literals of that file that no
 * literal constructor claims are its metrics. `unreadable` lists constructors neither way finds.
 */
function exportedBySource(): { metrics: ExportedMetric[]; unreadable: string[] } {
  const metrics: ExportedMetric[] = [];
  const unreadable: string[] = [];
  for (const file of SOURCE_FOLDERS.flatMap((folder) => sourceFiles(join(root, folder)))) {
    const source = readFileSync(file, 'utf8');
    const factories: Array<{ type: MetricType; labels: string[]; where: string }> = [];
    const literal = new Set<string>();
    for (const match of source.matchAll(CONSTRUCTOR)) {
      const where = `${relative(root, file)}:${source.slice(0, match.index).split('\n').length}`;
      // The options object: from the constructor to its matching closing parenthesis.
      let depth = 0;
      let end = match.index + match[0].length - 1;
      for (; end < source.length; end++) {
        if (source[end] === '(') depth++;
        else if (source[end] === ')' && --depth === 0) break;
      }
      const options = source.slice(match.index, end);
      const type = match[1]!.toLowerCase() as MetricType;
      const labelList = /\blabelNames:\s*\[([^\]]*)\]/.exec(options)?.[1] ?? '';
      const labels = [...labelList.matchAll(/(['"`])([^'"`]+)\1/g)].map((m) => m[2]!);
      const name = /\bname:\s*(['"`])(pigeon_[A-Za-z0-9_:]+)\1/.exec(options)?.[2];
      if (name) {
        literal.add(name);
        metrics.push({ name, type, labels, where });
      } else factories.push({ type, labels, where });
    }
    if (factories.length === 0) continue;
    const named = [
      ...new Set([...source.matchAll(/(['"`])(pigeon_[a-z][a-z0-9_]*)\1/g)].map((m) => m[2]!)),
    ].filter((n) => !literal.has(n));
    const types = new Set(factories.map((f) => f.type));
    if (named.length === 0 || types.size > 1) {
      unreadable.push(...factories.map((f) => f.where));
      continue;
    }
    for (const name of named)
      metrics.push({ name, ...factories[0]!, where: `${factories[0]!.where} (${name})` });
  }
  return { metrics, unreadable };
}

async function defaultMetrics(): Promise<ExportedMetric[]> {
  const registry = createRegistry('observability-test', { defaultMetrics: true });
  return (await registry.getMetricsAsJSON()).map((m) => ({
    name: m.name,
    type: m.type as unknown as MetricType,
    labels: [],
    where: 'prom-client default metrics',
  }));
}

/** The series names a metric appears under in Prometheus. */
function seriesNames(metric: ExportedMetric): string[] {
  if (metric.type === 'histogram')
    return [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`];
  if (metric.type === 'summary') return [metric.name, `${metric.name}_sum`, `${metric.name}_count`];
  return [metric.name];
}

const PROMQL_FUNCTIONS = new Set([
  // aggregations
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  // functions
  'abs',
  'absent',
  'absent_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_quantile',
  'holt_winters',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'ln',
  'log2',
  'log10',
  'minute',
  'month',
  'predict_linear',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sqrt',
  'time',
  'timestamp',
  'vector',
  'year',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'quantile_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'last_over_time',
  'present_over_time',
]);
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names an expression selects. Strings, label matchers, ranges, Grafana variables and
 * grouping clauses are removed first; what is left are functions (followed by `(`), keywords and
 * metric names. An unknown function is reported too, as a typo would otherwise hide there.
 */
export function metricsOf(expr: string): { metrics: string[]; unknownFunctions: string[] } {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b(group_left|group_right)\b/g, ' ');
  const metrics: string[] = [];
  const unknownFunctions: string[] = [];
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const previous = stripped[match.index - 1];
    if (previous !== undefined && /[0-9.]/.test(previous)) continue; // 5m, 1e3, 0.95
    const isCall = /^\s*\(/.test(stripped.slice(match.index + word.length));
    if (isCall) {
      if (!PROMQL_FUNCTIONS.has(word)) unknownFunctions.push(word);
    } else if (!PROMQL_KEYWORDS.has(word.toLowerCase())) metrics.push(word);
  }
  return { metrics, unknownFunctions };
}

interface Expression {
  where: string;
  expr: string;
}

function dashboardExpressions(dashboard: Record<string, any>): Expression[] {
  const found: Expression[] = [];
  const visit = (panels: Array<Record<string, any>>) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        found.push({ where: `dashboard panel "${panel.title}" ${target.refId}`, expr: target.expr });
      }
      if (panel.panels) visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query: string = typeof variable.query === 'string' ? variable.query : variable.query.query;
    // Grafana's own helpers: label_values(metric, label) and metrics(regex) are not PromQL.
    const labelValues = /^label_values\(\s*(?:([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*)?[A-Za-z_]+\s*\)$/.exec(
      query.trim(),
    );
    assert.ok(labelValues, `dashboard variable ${variable.name}: a label_values(metric, label) query`);
    if (labelValues[1]) found.push({ where: `dashboard variable ${variable.name}`, expr: labelValues[1] });
  }
  return found;
}

const PHONE_LIKE_LABELS = /^(to|from|recipient|phone|phone_?number|number|msisdn|e164|message_?id|body)$/i;

test('every metric constructor names its metric literally, with bounded labels', () => {
  const { metrics, unreadable } = exportedBySource();
  assert.deepEqual(
    unreadable,
    [],
    'metric constructors whose name this scan cannot find (use a literal name)',
  );
  assert.ok(metrics.length >= 30, `found ${metrics.length} metrics in the source`);
  for (const metric of metrics) {
    assert.match(metric.name, /^pigeon_[a-z][a-z0-9_]*$/, `${metric.where}: snake_case pigeon_ name`);
    if (metric.type === 'counter')
      assert.match(metric.name, /_total$/, `${metric.where}: counters end in _total`);
    for (const label of metric.labels) {
      assert.doesNotMatch(
        label,
        PHONE_LIKE_LABELS,
        `${metric.where}: label "${label}" could hold a number or an id`,
      );
    }
  }
});

test('the PromQL scan finds metrics and functions where they are', () => {
  assert.deepEqual(
    metricsOf(
      'sum by (provider) (rate(pigeon_x_total{status="delivered",a=~"$provider"}[$__rate_interval])) / on (provider) group_left sum(pigeon_y) > 0.5 and absent(pigeon_z)',
    ),
    { metrics: ['pigeon_x_total', 'pigeon_y', 'pigeon_z'], unknownFunctions: [] },
  );
  assert.deepEqual(metricsOf('rat(pigeon_x[5m]) offset 1h'), {
    metrics: ['pigeon_x'],
    unknownFunctions: ['rat'],
  });
  assert.deepEqual(metricsOf('histogram_quantile(0.95, sum by (le) (rate(up[1d])))').metrics, ['up']);
});

test('the Grafana dashboard is valid and every expression uses metrics the code exports', async () => {
  const dashboard = JSON.parse(readFileSync(join(root, 'k8s', 'grafana-dashboard.json'), 'utf8')) as Record<
    string,
    any
  >;
  assert.equal(typeof dashboard.uid, 'string');
  assert.equal(typeof dashboard.title, 'string');
  assert.ok(Number.isInteger(dashboard.schemaVersion));
  const ids = new Set<number>();
  for (const panel of dashboard.panels as Array<Record<string, any>>) {
    assert.ok(Number.isInteger(panel.id) && !ids.has(panel.id), `panel "${panel.title}": a unique id`);
    ids.add(panel.id);
    assert.ok(panel.title && panel.type && panel.gridPos, `panel ${panel.id}: title, type and position`);
    const { x, w } = panel.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24, `panel "${panel.title}" fits the 24-column grid`);
    if (panel.type === 'row') continue;
    assert.equal(
      panel.datasource?.uid,
      '${datasource}',
      `panel "${panel.title}" uses the datasource variable`,
    );
    assert.ok(panel.targets?.length > 0, `panel "${panel.title}" has queries`);
    const refIds = panel.targets.map((t: { refId: string }) => t.refId);
    assert.equal(new Set(refIds).size, refIds.length, `panel "${panel.title}": unique refIds`);
  }
  await checkExpressions(dashboardExpressions(dashboard));
});

test('the PrometheusRule is valid and every expression uses metrics the code exports', async () => {
  const documents = parseAllDocuments(
    readFileSync(join(root, 'k8s', 'monitoring', 'prometheus-rules.yaml'), 'utf8'),
  );
  assert.equal(documents.length, 1);
  assert.deepEqual(
    documents[0]!.errors.map((e) => e.message),
    [],
  );
  const rule = documents[0]!.toJS() as Record<string, any>;
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(rule.kind, 'PrometheusRule');
  assert.equal(rule.metadata.name, 'pigeon');
  const expressions: Expression[] = [];
  const names = new Set<string>();
  for (const group of rule.spec.groups as Array<Record<string, any>>) {
    assert.match(group.name, /^pigeon\./);
    assert.ok(group.rules.length > 0, `group ${group.name} has rules`);
    for (const r of group.rules as Array<Record<string, any>>) {
      const name: string = r.alert ?? r.record;
      assert.ok(name, `group ${group.name}: every rule is an alert or a recording rule`);
      assert.ok(!names.has(name) || r.record, `alert ${name} is defined once`);
      names.add(name);
      assert.equal(typeof r.expr, 'string', `${name}: expr`);
      if (r.for !== undefined) assert.match(r.for, /^\d+[smhd]$/, `${name}: for`);
      if (r.alert) {
        assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity), `${name}: severity label`);
        assert.ok(r.annotations?.summary && r.annotations?.description, `${name}: summary and description`);
      }
      expressions.push({ where: `rule ${name}`, expr: r.expr });
    }
  }
  await checkExpressions(expressions);
});

async function checkExpressions(expressions: Expression[]): Promise<void> {
  const exported = [...exportedBySource().metrics, ...(await defaultMetrics())];
  const known = new Set(exported.flatMap(seriesNames));
  const problems: string[] = [];
  for (const { where, expr } of expressions) {
    assert.equal(typeof expr, 'string', `${where}: an expression`);
    const { metrics, unknownFunctions } = metricsOf(expr);
    if (metrics.length === 0) problems.push(`${where}: selects no metric`);
    for (const fn of unknownFunctions) problems.push(`${where}: unknown function ${fn}()`);
    for (const metric of metrics)
      if (!known.has(metric)) problems.push(`${where}: ${metric} is not exported`);
  }
  assert.deepEqual(problems, []);
}
