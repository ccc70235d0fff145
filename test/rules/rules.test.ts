/**
 * Static checks of prometheus/: rule names and annotations in the monitoring-mixin style, runbook
 * sections behind every runbook_url, only known series in the expressions, a named promtool unit test
 * that fires and one that stays quiet for every alert; then promtool's own check and unit tests, and
 * amtool's check of the example Alertmanager configurations (deploy/compose/alertmanager.yml and the
 * snippets of docs/alerting.md).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { metricNames } from '../dashboards/promql.js';
import { requireTool, run } from './promtool.js';
import {
  ALERTING_DOC_PATH,
  ALERTMANAGER_EXAMPLE_PATH,
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

/**
 * Recording rules that nothing in this repository reads but that SPEC section 6 keeps for the
 * dashboard and ad-hoc queries (the dashboard is built elsewhere and may or may not draw them).
 */
const KEPT_FOR_QUERIES = new Set(['thingspace_fota:upgrade_devices:sum']);

/** The spike alerts, which must fire within 20 minutes of the failures reaching the exporter. */
const SPIKE_ALERTS = [
  'ThingSpaceFotaUpgradeFailedSpike',
  'ThingSpaceFotaUpgradeFailedDevicesSpike',
  'ThingSpaceFotaCampaignDeviceFailureSpike',
];

/** Minutes of a Prometheus duration such as 10m, 1h or 1h30m. */
function minutes(duration: string | undefined): number {
  if (!duration) return 0;
  let total = 0;
  for (const [, n, unit] of duration.matchAll(/(\d+)([smhd])/g)) {
    total += Number(n) * { s: 1 / 60, m: 1, h: 60, d: 1440 }[unit as 's' | 'm' | 'h' | 'd'];
  }
  return total;
}
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
    for (const rule of records.filter((r) => !KEPT_FOR_QUERIES.has(r.record))) {
      const uses = readers.split(rule.record).length - 1;
      // The rule's own name does not appear in its own expression.
      expect({ record: rule.record, used: uses > 0 }).toEqual({ record: rule.record, used: true });
    }
  });

  it('reads no collection error counter in an alert (their series appear only at the first error)', () => {
    const readers = alerts
      .filter((a) => metricNames(a.expr).some((n) => n.endsWith('collection_errors_total')))
      .map((a) => a.alert);
    expect(readers).toEqual([]);
  });

  it('measures spikes on the entered counters over observed time, not on the report gauges', () => {
    const thresholds = records.filter((r) => r.record.endsWith(':spike_threshold1h'));
    expect(thresholds.map((r) => r.record).sort()).toEqual([
      'thingspace_fota:campaign_devices_failed_entered:spike_threshold1h',
      'thingspace_fota:upgrade_devices_entered:spike_threshold1h',
      'thingspace_fota:upgrades_entered:spike_threshold1h',
    ]);
    for (const rule of thresholds) {
      const reads = metricNames(rule.expr);
      expect(reads.some((n) => n.endsWith('_entered_total'))).toBe(true);
      expect(reads.some((n) => n.endsWith('_observed_seconds_total'))).toBe(true);
      // The division by observed time is guarded, a day that is all gap falls back to the week, the
      // minimum is the last fallback, and the whole is scaled by the hours the last hour covers.
      expect(rule.expr).toMatch(/\[1d\] offset 1h\) >= 3600\)/);
      expect(rule.expr).toMatch(/\[7d\] offset 1h\) >= 3600\)/);
      expect(rule.expr).toMatch(/\n\s*or\n/);
      expect(rule.expr).toMatch(/observed_seconds:increase1h\b.*\/ 3600, 1\)/);
    }
    // Every rise the spike rules compare reaches back to the last sample before a Prometheus gap, and
    // falls back on increase() across a counter reset...
    for (const rule of records.filter((r) =>
      /_(entered|observed_seconds):increase1h$/.test(r.record),
    )) {
      expect({ rule: rule.record, expr: rule.expr }).toMatchObject({
        expr: expect.stringMatching(/last_over_time\(\w+(\{[^}]*\})?\[1d\] offset 1h\)/),
      });
      expect({ rule: rule.record, expr: rule.expr }).toMatchObject({
        expr: expect.stringMatching(/increase\(\w+(\{[^}]*\})?\[1h\]\)/),
      });
      // ...and never reads a counter's value as a rise because the process is young: with
      // --storage.path the counters continue across a restart, so their value is not the last hour's.
      expect({ rule: rule.record, reads: metricNames(rule.expr) }).toMatchObject({
        reads: expect.not.arrayContaining(['process_start_time_seconds']),
      });
    }
    for (const name of SPIKE_ALERTS) {
      const alert = alerts.find((a) => a.alert === name);
      expect(alert).toBeDefined();
      const reads = metricNames(alert?.expr ?? '');
      expect(reads.length).toBeGreaterThan(0);
      expect(
        reads.filter(
          (n) => !/^thingspace_fota:\w+_entered:(increase1h|spike_threshold1h)$/.test(n),
        ),
      ).toEqual([]);
      // A collection (5m by default), the scrape and two evaluations, then `for:`: within 20 minutes.
      expect(minutes(alert?.for)).toBeGreaterThan(0);
      expect(minutes(alert?.for) + 5 + 3).toBeLessThanOrEqual(20);
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

  it('load the shipped rules file, recording group first', () => {
    for (const file of files) {
      expect(file.rule_files).toEqual(['../rules/thingspace-fota.rules.yml']);
      // Without an order promtool picks one per run, and an alert then reads its recorded series
      // one evaluation late in some runs only: a test at the edge of `for:` would flake.
      expect({ file: file.path, order: file.group_eval_order }).toEqual({
        file: file.path,
        order: groups.map((g) => g.name),
      });
    }
  });

  it('name every test group after its case, each name once', () => {
    const names = files.flatMap((f) => f.tests.map((t) => t.name ?? `(unnamed in ${f.path})`));
    expect(names.filter((n) => n.startsWith('(unnamed'))).toEqual([]);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('turn the four failures of issue 10 into named cases', () => {
    const names = files.flatMap((f) => f.tests.map((t) => t.name ?? ''));
    for (const n of [1, 2, 3, 4]) {
      expect({
        failure: n,
        named: names.some((name) => name.includes(`issue 10 failure ${n}`)),
      }).toEqual({ failure: n, named: true });
    }
  });

  it('turn paths 1 and 2 of issue 17 into named cases, firing and silent, for every spike alert', () => {
    // Path 1: a collection gap of a day or more; path 2: a Prometheus gap of over an hour.
    for (const path of [1, 2]) {
      for (const alertname of SPIKE_ALERTS) {
        const cases = files.flatMap((f) =>
          f.tests
            .filter((t) => (t.name ?? '').includes(`issue 17 path ${path}`))
            .flatMap((t) => (t.alert_rule_test ?? []).filter((c) => c.alertname === alertname)),
        );
        expect({
          path,
          alertname,
          firing: cases.some((c) => (c.exp_alerts ?? []).length > 0),
          silent: cases.some((c) => (c.exp_alerts ?? []).length === 0),
        }).toEqual({ path, alertname, firing: true, silent: true });
      }
    }
  });

  it('turn path 3 of issue 17 (a restart with --storage.path) into named cases, firing and silent', () => {
    for (const alertname of SPIKE_ALERTS) {
      const cases = files.flatMap((f) =>
        f.tests
          .filter((t) => (t.name ?? '').includes('issue 17 path 3'))
          .flatMap((t) => (t.alert_rule_test ?? []).filter((c) => c.alertname === alertname)),
      );
      expect({
        alertname,
        firing: cases.some((c) => (c.exp_alerts ?? []).length > 0),
        silent: cases.some((c) => (c.exp_alerts ?? []).length === 0),
      }).toEqual({ alertname, firing: true, silent: true });
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

  // One promtool run per file: the long-gap cases evaluate days of samples, and one run over every
  // file would come close to run()'s time limit on a loaded machine.
  it.each(ruleTestFiles().map((f) => [relative(ROOT, f.path)] as const))(
    'test rules: every unit test of %s passes',
    (file) => {
      const promtool = requireTool('promtool');
      if (!promtool) return;
      const result = run(promtool, ['test', 'rules', file], ROOT);
      expect({ status: result.status, output: result.output }).toMatchObject({ status: 0 });
    },
  );

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

describe('amtool', () => {
  /** The YAML blocks of docs/alerting.md that are whole Alertmanager configurations. */
  function alertingDocConfigs(): string[] {
    const doc = readFileSync(ALERTING_DOC_PATH, 'utf8');
    return [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] ?? '')
      .filter((block) => /^route:/m.test(block) && /^receivers:/m.test(block));
  }

  it('docs/alerting.md has example configurations for a webhook, e-mail, Slack and PagerDuty', () => {
    const configs = alertingDocConfigs().join('\n');
    for (const kind of ['webhook_configs', 'email_configs', 'slack_configs', 'pagerduty_configs']) {
      expect({ kind, present: configs.includes(kind) }).toEqual({ kind, present: true });
    }
  });

  it('check-config: deploy/compose/alertmanager.yml and every configuration in docs/alerting.md', () => {
    const amtool = requireTool('amtool');
    if (!amtool) return;
    const dir = mkdtempSync(join(tmpdir(), 'alerting-doc-'));
    try {
      const paths = [ALERTMANAGER_EXAMPLE_PATH];
      alertingDocConfigs().forEach((config, i) => {
        const path = join(dir, `config-${i}.yml`);
        writeFileSync(path, config);
        paths.push(path);
      });
      expect(paths.length).toBeGreaterThan(4);
      for (const path of paths) {
        const result = run(amtool, ['check-config', path], ROOT);
        expect({ path, status: result.status, output: result.output }).toMatchObject({
          path,
          status: 0,
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
