/**
 * The shipped Prometheus files, read once for the rules, dashboard and live tests, and the series
 * names a query may read: the exporter's (from src/metrics/definitions.ts, the one list of exposed
 * metrics), the recording rules', and Prometheus's own.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { METRIC_DEFINITIONS } from '../../src/metrics/definitions.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RULES_PATH = join(ROOT, 'prometheus/rules/thingspace-fota.rules.yml');
export const PROMETHEUS_CONFIG_PATH = join(ROOT, 'prometheus/prometheus.yml');
export const RULE_TESTS_DIR = join(ROOT, 'prometheus/tests');
export const RUNBOOK_PATH = join(ROOT, 'docs/runbook.md');
/**
 * Every alert's runbook_url is this path plus `#<alertname in lower case>`: relative to the repository
 * root, so it points at a file that exists wherever the repository is published; docs/alerting.md
 * shows how Alertmanager templates put a base URL in front of it.
 */
export const RUNBOOK_URL = 'docs/runbook.md';
export const ALERTING_DOC_PATH = join(ROOT, 'docs/alerting.md');
export const ALERTMANAGER_EXAMPLE_PATH = join(ROOT, 'deploy/compose/alertmanager.yml');

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type Rule = RecordingRule | AlertingRule;

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

export function isAlert(rule: Rule): rule is AlertingRule {
  return 'alert' in rule;
}

export function loadRuleGroups(path = RULES_PATH): RuleGroup[] {
  const file = parse(readFileSync(path, 'utf8')) as { groups: RuleGroup[] };
  return file.groups;
}

export function alertingRules(groups = loadRuleGroups()): AlertingRule[] {
  return groups.flatMap((g) => g.rules.filter(isAlert));
}

export function recordingRules(groups = loadRuleGroups()): RecordingRule[] {
  return groups.flatMap((g) => g.rules.filter((r): r is RecordingRule => !isAlert(r)));
}

/** Series Prometheus makes itself. */
export const PROMETHEUS_SERIES = ['up', 'ALERTS'];

/**
 * Series of prom-client's default metrics (src/metrics/live.ts calls collectDefaultMetrics) that the
 * rules read: the process start tells how long a report can have gone without a complete pass.
 */
export const PROCESS_SERIES = ['process_start_time_seconds'];

export interface SeriesInfo {
  source: 'exporter' | 'recording rule' | 'prometheus';
  type: string;
  labels: readonly string[];
}

/**
 * Every series name a query may read. A histogram exposes _bucket, _sum and _count; every recording
 * rule keeps job, instance and account (it aggregates with `sum without (...)`).
 */
export function knownSeries(groups = loadRuleGroups()): Map<string, SeriesInfo> {
  const known = new Map<string, SeriesInfo>();
  for (const def of METRIC_DEFINITIONS) {
    const info: SeriesInfo = { source: 'exporter', type: def.type, labels: def.labels };
    if (def.type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) known.set(def.name + suffix, info);
    } else {
      known.set(def.name, info);
    }
  }
  for (const rule of recordingRules(groups)) {
    known.set(rule.record, {
      source: 'recording rule',
      type: 'gauge',
      labels: ['job', 'instance', 'account'],
    });
  }
  for (const name of PROCESS_SERIES) {
    known.set(name, { source: 'exporter', type: 'gauge', labels: [] });
  }
  for (const name of PROMETHEUS_SERIES) {
    known.set(name, { source: 'prometheus', type: 'gauge', labels: ['job', 'instance'] });
  }
  return known;
}

export interface RuleTestFile {
  path: string;
  rule_files: string[];
  group_eval_order?: string[];
  tests: {
    name?: string;
    alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: unknown[] }[];
    promql_expr_test?: { expr: string; eval_time: string }[];
  }[];
}

export function ruleTestFiles(): RuleTestFile[] {
  return readdirSync(RULE_TESTS_DIR)
    .filter((name) => name.endsWith('.test.yml'))
    .sort()
    .map((name) => {
      const path = join(RULE_TESTS_DIR, name);
      return { path, ...(parse(readFileSync(path, 'utf8')) as Omit<RuleTestFile, 'path'>) };
    });
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
export function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The runbook's level-2 sections: anchor → body text. */
export function runbookSections(path = RUNBOOK_PATH): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = readFileSync(path, 'utf8').split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    const heading = newline < 0 ? part : part.slice(0, newline);
    sections.set(githubAnchor(heading), newline < 0 ? '' : part.slice(newline + 1));
  }
  return sections;
}
