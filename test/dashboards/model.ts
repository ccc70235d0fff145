/**
 * The committed dashboard JSON, read for the static checks and the live test: its panels (rows and
 * the panels inside collapsed rows included), every query with where it comes from, and the variable
 * substitution that turns a query into plain PromQL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../rules/model.js';

export const DASHBOARD_FILE = join(ROOT, 'grafana/dashboards/thingspace-fota.json');

export interface DatasourceRef {
  type?: string;
  uid?: string;
}

export interface TargetJson {
  refId?: string;
  expr?: string;
  datasource?: DatasourceRef;
  instant?: boolean;
  range?: boolean;
  format?: string;
}

export interface LinkJson {
  title?: string;
  url?: string;
}

export interface OverrideJson {
  matcher?: { id?: string; options?: unknown };
  properties?: { id?: string; value?: unknown }[];
}

export interface PanelJson {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: DatasourceRef;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: TargetJson[];
  fieldConfig?: { defaults?: { unit?: string }; overrides?: OverrideJson[] };
  links?: LinkJson[];
  collapsed?: boolean;
  panels?: PanelJson[];
}

export interface VariableJson {
  name?: string;
  label?: string;
  type?: string;
  query?: string | { query?: string };
  regex?: string;
  hide?: number;
  datasource?: DatasourceRef;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  refresh?: number;
}

export interface DashboardJson {
  uid?: string;
  title?: string;
  tags?: string[];
  time?: { from: string; to: string };
  refresh?: string;
  editable?: boolean;
  panels?: PanelJson[];
  templating?: { list?: VariableJson[] };
  annotations?: { list?: { name?: string; expr?: string; datasource?: DatasourceRef }[] };
  links?: LinkJson[];
  [key: string]: unknown;
}

export function loadDashboard(path = DASHBOARD_FILE): DashboardJson {
  return JSON.parse(readFileSync(path, 'utf8')) as DashboardJson;
}

/** Every panel, rows included, with the panels of collapsed rows. */
export function allPanels(dashboard: DashboardJson): PanelJson[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface DashboardQuery {
  /** Where it is, for messages: "panel <title> / <refId>", "annotation <name>", "variable <name>". */
  where: string;
  expr: string;
  kind: 'panel' | 'annotation';
  instant: boolean;
}

export function panelQueries(dashboard: DashboardJson): DashboardQuery[] {
  return allPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((t) => ({
      where: `panel "${panel.title ?? '?'}" / ${t.refId ?? '?'}`,
      expr: t.expr ?? '',
      kind: 'panel' as const,
      instant: t.instant === true && t.range !== true,
    })),
  );
}

export function annotationQueries(dashboard: DashboardJson): DashboardQuery[] {
  return (dashboard.annotations?.list ?? [])
    .filter((a) => a.expr !== undefined)
    .map((a) => ({
      where: `annotation "${a.name ?? '?'}"`,
      expr: a.expr ?? '',
      kind: 'annotation' as const,
      instant: false,
    }));
}

export function variableQuery(variable: VariableJson): string {
  return typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
}

/**
 * Values for Grafana's variables, as a query is sent with "All" selected and a short range: the
 * live test runs the dashboard's queries with these against Prometheus.
 */
export const TEST_VARIABLES: Record<string, string> = {
  job: '.+',
  instance: '.+',
  account: '.+',
  api: '.+',
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
};

export function substitute(expr: string, values: Record<string, string> = TEST_VARIABLES): string {
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? '';
      const value = values[name];
      if (value === undefined) throw new Error(`no test value for variable ${whole} in ${expr}`);
      return value;
    },
  );
}

const DURATION_UNITS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3_600,
  d: 86_400,
  w: 604_800,
  y: 31_536_000,
};

/**
 * How far back a query looks with `offset`, in seconds (0 without one): a query that compares with
 * an hour ago has no data in a Prometheus younger than that, which the live test must allow for.
 */
export function offsetSeconds(expr: string): number {
  let longest = 0;
  for (const match of expr.matchAll(/\boffset\s+((?:\d+(?:ms|[smhdwy]))+)/g)) {
    let seconds = 0;
    for (const part of (match[1] ?? '').matchAll(/(\d+)(ms|[smhdwy])/g)) {
      seconds += Number(part[1]) * (DURATION_UNITS[part[2] ?? ''] ?? 0);
    }
    longest = Math.max(longest, seconds);
  }
  return longest;
}
