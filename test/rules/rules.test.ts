/**
 * Static checks of prometheus/: rule names and annotations in the monitoring-mixin style, runbook
 * sections behind every runbook_url, only known series in the expressions, a promtool unit test that
 * fires and one that stays quiet for every alert; then promtool's own check and unit tests.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { metricNames } from '../dashboards/promql.js';
import { requireTool, run } from './promtool.js';
import {
  PROMETHEUS_CONFIG_PATH,
  ROOT,
  RULES_PATH,
  RUNBOOK_URL,
  alertingRules,
  knownSeries,
  loadRuleGroups,
  recordingRules,
  ruleTestFiles,
  runbookSections,
} from './model.js';
import { parse } from 'yaml';

const groups = loadRuleGroups();
const alerts = alertingRules(groups);
const records = recordingRules(groups);
const known = knownSeries(groups);

describe('prometheus/rules/thingspace-fota.rules.yml', () => {
  it('has recording rules and alerts', () => {
    expect(records.length).toBeGreaterThan(0);
    expect(alerts.length).toBeGreaterThanOrEqual(13);
  });

  it('names recording rules thingspace_fota:<metric>:<operations>, each once', () => {
    for (const rule of records) {
      expect(rule.record).toMatch(/^thingspace_fota:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$/);
    }
    const names = records.map((r) => r.record);
    expect(new Set(names).size).toBe(names.length);
  });

  it('names alerts ThingSpaceFota<CamelCase>, each once', () => {
    for (const alert of alerts) expect(alert.alert).toMatch(/^ThingSpaceFota(?:[A-Z][a-z0-9]*)+$/);
    const names = alerts.map((a) => a.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(alerts.map((a) => [a.alert, a] as const))(
    '%s has a severity, a static summary, a templated description and a runbook_url',
    (_name, alert) => {
      expect(['critical', 'warning']).toContain(alert.labels?.severity);
      const { summary, description, runbook_url: runbook } = alert.annotations ?? {};
      expect(summary).toMatch(/\S/);
      expect(summary).not.toContain('{{');
      expect(description).toContain('{{');
      expect(runbook).toBe(`${RUNBOOK_URL}#${alert.alert.toLowerCase()}`);
    },
  );

  it('reads only series the exporter, a recording rule or Prometheus provides', () => {
    const unknown = [...records, ...alerts].flatMap((rule) =>
      metricNames(rule.expr)
        .filter((name) => !known.has(name))
        .map((name) => `${'alert' in rule ? rule.alert : rule.record}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('uses every recording rule (in an alert, another rule or the dashboard)', () => {
    const dashboard = readFileSync(`${ROOT}grafana/dashboards/thingspace-fota.json`, 'utf8');
    const readers = [...records, ...alerts].map((r) => r.expr).join('\n') + dashboard;
    for (const rule of records) {
      const uses = readers.split(rule.record).length - 1;
      // The rule's own name does not appear in its own expression.
      expect({ record: rule.record, used: uses > 0 }).toEqual({ record: rule.record, used: true });
    }
  });

  it('documents the threshold of every alert in a THRESHOLD comment', () => {
    const chunks = readFileSync(RULES_PATH, 'utf8')
      .split(/^\s*- alert: /m)
      .slice(1);
    const undocumented = chunks
      .filter((chunk) => !/# THRESHOLD:|# No threshold/.test(chunk))
      .map((chunk) => chunk.split('\n')[0]);
    expect(chunks).toHaveLength(alerts.length);
    expect(undocumented).toEqual([]);
  });
});

describe('docs/runbook.md', () => {
  const sections = runbookSections();

  it.each(alerts.map((a) => [a.alert] as const))(
    'has a section for %s with meaning, impact, diagnosis and mitigation',
    (name) => {
      const body = sections.get(name.toLowerCase());
      expect(body).toBeDefined();
      for (const part of ['Meaning', 'Impact', 'Diagnosis', 'Mitigation']) {
        expect(body).toContain(`**${part}.**`);
      }
    },
  );

  it('lists every alert in its thresholds table', () => {
    const table = sections.get('thresholds') ?? '';
    for (const alert of alerts) expect(table).toContain(`| ${alert.alert} `);
  });
});

describe('prometheus/tests (promtool unit tests)', () => {
  const files = ruleTestFiles();

  it('load the shipped rules file', () => {
    for (const file of files) {
      expect(file.rule_files).toEqual(['../rules/thingspace-fota.rules.yml']);
    }
  });

  it.each(alerts.map((a) => [a.alert] as const))('test %s both firing and silent', (name) => {
    const cases = files.flatMap((f) =>
      f.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((c) => c.alertname === name)),
    );
    const firing = cases.filter((c) => (c.exp_alerts ?? []).length > 0);
    const silent = cases.filter((c) => (c.exp_alerts ?? []).length === 0);
    expect({ name, firing: firing.length > 0, silent: silent.length > 0 }).toEqual({
      name,
      firing: true,
      silent: true,
    });
  });

  it('test every recording rule with promql_expr_test', () => {
    const exprs = files
      .flatMap((f) => f.tests.flatMap((t) => (t.promql_expr_test ?? []).map((c) => c.expr)))
      .join('\n');
    for (const rule of records)
      expect({ rule: rule.record, tested: exprs.includes(rule.record) }).toEqual({
        rule: rule.record,
        tested: true,
      });
  });
});

describe('promtool', () => {
  it('check rules: the rules file is valid', () => {
    const promtool = requireTool('promtool');
    if (!promtool) return;
    const result = run(promtool, ['check', 'rules', relative(ROOT, RULES_PATH)], ROOT);
    expect({ status: result.status, output: result.output }).toMatchObject({ status: 0 });
  });

  it('test rules: every unit test passes', () => {
    const promtool = requireTool('promtool');
    if (!promtool) return;
    const files = ruleTestFiles().map((f) => relative(ROOT, f.path));
    expect(files.length).toBeGreaterThan(0);
    const result = run(promtool, ['test', 'rules', ...files], ROOT);
    expect({ status: result.status, output: result.output }).toMatchObject({ status: 0 });
  });

  it('check config: prometheus/prometheus.yml is valid and loads the rules', () => {
    const promtool = requireTool('promtool');
    if (!promtool) return;
    const result = run(promtool, ['check', 'config', relative(ROOT, PROMETHEUS_CONFIG_PATH)], ROOT);
    expect({ status: result.status, output: result.output }).toMatchObject({ status: 0 });
    const config = parse(readFileSync(PROMETHEUS_CONFIG_PATH, 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string }[];
    };
    expect(config.rule_files).toEqual(['rules/thingspace-fota.rules.yml']);
    expect(config.scrape_configs.map((c) => c.job_name)).toContain('thingspace-fota');
  });
});
