import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

/**
 * Unit tests of the shipped alert rules with `promtool test rules` (Debian's `prometheus`
 * package; .ci/run installs it). A missing promtool fails this test: the rules must not go
 * untested because a tool is absent.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const rulesFile = join(root, 'k8s', 'monitoring', 'prometheus-rules.yaml');
const unitTests = join(root, 'test', 'prometheus', 'rules.test.yaml');

interface Rule {
  alert?: string;
  annotations?: Record<string, string>;
}
interface RuleGroups {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface UnitTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

const ruleGroups = (parse(readFileSync(rulesFile, 'utf8')) as { spec: RuleGroups }).spec;
const alertNames = ruleGroups.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

function promtool(args: string[], cwd: string) {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  assert.notEqual(
    run.error?.message.includes('ENOENT'),
    true,
    'promtool is not installed (apt-get install prometheus)',
  );
  return run;
}

test('every alert has a case where it fires and one where it stays quiet', () => {
  const cases = (parse(readFileSync(unitTests, 'utf8')) as UnitTests).tests.flatMap(
    (t) => t.alert_rule_test ?? [],
  );
  assert.ok(alertNames.length > 0, 'the PrometheusRule has alerts');
  for (const name of alertNames) {
    assert.ok(
      cases.some((c) => c.alertname === name && c.exp_alerts.length > 0),
      `${name} has a firing case`,
    );
    assert.ok(
      cases.some((c) => c.alertname === name && c.exp_alerts.length === 0),
      `${name} has a quiet case`,
    );
  }
  for (const { alertname } of cases)
    assert.ok(alertNames.includes(alertname), `${alertname} is a shipped alert`);
});

test('promtool: the rules are valid and every alert fires or stays quiet as its unit tests say', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-rules-'));
  try {
    // The Prometheus rule file inside the PrometheusRule, whole: `check rules` parses every
    // expression and annotation template.
    writeFileSync(join(dir, 'full-rules.yaml'), stringify(ruleGroups));
    const checked = promtool(['check', 'rules', 'full-rules.yaml'], dir);
    assert.equal(checked.status, 0, `promtool check rules:\n${checked.stdout}\n${checked.stderr}`);

    // Unit tests compare labels; the annotations' wording is not what they test.
    const withoutAnnotations: RuleGroups = {
      groups: ruleGroups.groups.map((g) => ({
        ...g,
        rules: g.rules.map(({ annotations: _, ...rule }) => rule),
      })),
    };
    const [ruleFile] = (parse(readFileSync(unitTests, 'utf8')) as UnitTests).rule_files;
    writeFileSync(join(dir, ruleFile!), stringify(withoutAnnotations));
    copyFileSync(unitTests, join(dir, 'rules.test.yaml'));
    const tested = promtool(['test', 'rules', 'rules.test.yaml'], dir);
    assert.equal(tested.status, 0, `promtool test rules:\n${tested.stdout}\n${tested.stderr}`);
    assert.match(tested.stdout, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
