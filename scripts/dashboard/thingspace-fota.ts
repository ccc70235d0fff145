/**
 * The Grafana dashboard grafana/dashboards/thingspace-fota.json, as code on Grafana's typed builders
 * (@grafana/grafana-foundation-sdk, the build generated for Grafana 11.6): the rows are in
 * ./rows/, the panel kinds and the layout in ./panels.ts, the PromQL selectors (which put the job,
 * instance, account and api filters on every series) in ./queries.ts.
 *
 * The committed JSON is this module's output. After a change here, regenerate it with
 *   UPDATE_DASHBOARD=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/dashboards
 * (test/dashboards/generated.test.ts fails while the committed file differs from the output).
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  DATASOURCE,
  EXPORTER_URL_PLACEHOLDER,
  EXPORTER_URL_VARIABLE,
  RUNBOOK_BASE_VARIABLE,
  layout,
  runbookUrl,
  type Section,
} from './panels.js';
import { campaigns } from './rows/campaigns.js';
import { health } from './rows/health.js';
import { overview } from './rows/overview.js';
import { backlog, devices, failedUpgrades } from './rows/upgrades.js';

export const DASHBOARD_UID = 'thingspace-fota';
export const DASHBOARD_PATH = 'grafana/dashboards/thingspace-fota.json';

/**
 * Where the operator publishes this repository (its docs/runbook.md is linked below it). A
 * placeholder in a reserved domain that never resolves: set it here, or in the provisioned JSON,
 * to e.g. https://github.com/<org>/<repo>/blob/main (grafana/README.md).
 */
export const RUNBOOK_BASE_URL_PLACEHOLDER = 'https://runbook-base-url.invalid';

export const SECTIONS: Section[] = [overview, failedUpgrades, backlog, devices, campaigns, health];

const SCOPE = 'job=~"$job", instance=~"$instance"';

/** The exporter's external URL as a series: its info series, or one carrying the placeholder. */
function exporterUrlExpr(): string {
  const info = `thingspace_fota_exporter_external_url_info{${SCOPE}, external_url!=""}`;
  return `${info} or (label_replace(vector(1), "external_url", "${EXPORTER_URL_PLACEHOLDER}", "", "") unless on() ${info})`;
}

function queryVariable(name: string, label: string, query: string): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .allValue('.+')
    .current({ text: 'All', value: '$__all' })
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .hide(dashboard.VariableHide.DontHide);
}

const variables: cog.Builder<dashboard.VariableModel>[] = [
  new dashboard.DatasourceVariableBuilder('datasource')
    .label('Data source')
    .type('prometheus')
    .hide(dashboard.VariableHide.DontHide),
  queryVariable('job', 'Job', 'label_values(thingspace_fota_exporter_build_info, job)'),
  queryVariable(
    'instance',
    'Instance',
    'label_values(thingspace_fota_exporter_build_info{job=~"$job"}, instance)',
  ),
  // Every configured account has collection series, from FOTA v1 or from a campaign API (or both),
  // whichever APIs the exporter reads.
  queryVariable(
    'account',
    'Account',
    `label_values({__name__=~"thingspace_fota_collection_success|thingspace_fota_campaign_collection_success", ${SCOPE}}, account)`,
  ),
  queryVariable(
    'api',
    'Campaign API',
    `label_values(thingspace_fota_campaign_collection_success{${SCOPE}, account=~"$account"}, api)`,
  ),
  // The exporter's --web.external-url, for the links to its /arrivals page; the alerts' placeholder while
  // unset. label_values() cannot fall back, so the query is PromQL read through query_result() and the
  // regex takes the URL out of the series' labels.
  new dashboard.QueryVariableBuilder(EXPORTER_URL_VARIABLE)
    .label('Exporter URL')
    .description(
      `The exporter's --web.external-url (thingspace_fota_exporter_external_url_info): the spike panels link to its /arrivals page. Unset, the links carry the placeholder host ${new URL(EXPORTER_URL_PLACEHOLDER).host}, as the alerts' arrivals_url does.`,
    )
    .datasource(DATASOURCE)
    .query(`query_result(${exporterUrlExpr()})`)
    .regex('/external_url="([^"]+)"/')
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .hide(dashboard.VariableHide.HideVariable),
  new dashboard.ConstantVariableBuilder(RUNBOOK_BASE_VARIABLE)
    .label('Runbook base URL')
    .description(
      'Where this repository is published; the Runbook links open docs/runbook.md below it. See grafana/README.md.',
    )
    .value(RUNBOOK_BASE_URL_PLACEHOLDER),
];

/**
 * Firing alerts as annotations. The SDK's AnnotationQuery models Grafana's built-in annotations only,
 * not the Prometheus ones, so the Prometheus fields are added to what its builder makes.
 */
interface PrometheusAnnotation extends dashboard.AnnotationQuery {
  step: string;
  titleFormat: string;
  textFormat: string;
  useValueForTime: boolean;
}

const alertAnnotation: PrometheusAnnotation = {
  ...new dashboard.AnnotationQueryBuilder()
    .name('ThingSpace FOTA alerts')
    .datasource(DATASOURCE)
    .enable(true)
    .iconColor('red')
    .expr('ALERTS{alertname=~"ThingSpaceFota.*", alertstate="firing", job=~"$job"}')
    .build(),
  step: '60s',
  titleFormat: '{{alertname}}',
  textFormat: '{{account}} {{instance}} ({{severity}})',
  useValueForTime: false,
};

export function buildDashboard(): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder('ThingSpace FOTA upgrades')
    .uid(DASHBOARD_UID)
    .description(
      'Verizon ThingSpace firmware-over-the-air upgrades from thingspace-fota-exporter: FOTA v1 upgrades by status, failure spikes against the alert thresholds, backlog and device failure reasons; FOTA v2/v3 campaigns and their rollout; and the health of the exporter.',
    )
    .tags(['thingspace', 'fota', 'verizon', 'prometheus'])
    .timezone('browser')
    .readonly()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .version(1)
    .link(
      new dashboard.DashboardLinkBuilder('Runbook')
        .type(dashboard.DashboardLinkType.Link)
        .url(runbookUrl())
        .icon('doc')
        .tooltip('What each ThingSpaceFota alert means and what to do (docs/runbook.md)')
        .targetBlank(true),
    )
    .annotation({ build: () => alertAnnotation })
    .variables(variables);
  layout(builder, SECTIONS);
  return builder.build();
}

/** The file's exact content: stable key order, two-space indent, final newline. */
export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
