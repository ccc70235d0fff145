/**
 * The Grafana dashboard grafana/dashboards/thingspace-fota.json, as typed code: every panel gets the
 * templated data source, a unit, a description and a place in the grid from the same few helpers, and
 * every query gets the job/instance/account filters from the same selector builder.
 *
 * The committed JSON is this module's output. After a change here, regenerate it with
 *   UPDATE_DASHBOARD=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/dashboards
 * (test/dashboards/generated.test.ts fails while the committed file differs from the output).
 */

export const DASHBOARD_UID = 'thingspace-fota';
export const DASHBOARD_PATH = 'grafana/dashboards/thingspace-fota.json';

const RUNBOOK_URL =
  'https://github.com/thingspace-fota-exporter/thingspace-fota-exporter/blob/main/docs/runbook.md';

/** Every panel, row and target reads from the dashboard's `datasource` variable. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
type Datasource = typeof DATASOURCE;

// Thresholds shown on panels; they mirror prometheus/rules/thingspace-fota.rules.yml.
const FAILURE_RATIO_ALERT = 0.2;
const API_RATIO_ALERT = 0.1;
const QUEUED_STUCK_SECONDS = 86_400;
const IN_PROGRESS_STUCK_SECONDS = 259_200;
const COLLECTION_LATE_SECONDS = 900;
const DATA_STALE_SECONDS = 3_600;

// ---- Queries ----------------------------------------------------------------------------------

const SCOPE = 'job=~"$job", instance=~"$instance"';

/** A selector for a series with an account label: job, instance and account filters, then `extra`. */
function fleet(metric: string, extra = ''): string {
  return `${metric}{${SCOPE}, account=~"$account"${extra ? `, ${extra}` : ''}}`;
}

/** A selector for one of the exporter's own series (no account label). */
function exporter(metric: string, extra = ''): string {
  return `${metric}{${SCOPE}${extra ? `, ${extra}` : ''}}`;
}

/** rate() of a counter over Grafana's $__rate_interval. */
function rate(selector: string): string {
  return `rate(${selector}[$__rate_interval])`;
}

/** increase() of a counter over Grafana's $__rate_interval. */
function increase(selector: string): string {
  return `increase(${selector}[$__rate_interval])`;
}

/**
 * The share of requests to each endpoint answered with `codes`, 0 (not "no data") while none was.
 */
function requestRatio(codes: string): string {
  const all = `sum by (endpoint) (${rate(exporter('thingspace_fota_api_requests_total'))})`;
  const some = `sum by (endpoint) (${rate(exporter('thingspace_fota_api_requests_total', `code=~"${codes}"`))})`;
  return `(${some} or 0 * ${all}) / ${all}`;
}

// ---- Grafana model ----------------------------------------------------------------------------

export interface Target {
  datasource: Datasource;
  refId: string;
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
  format: 'time_series' | 'table';
}

interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

interface ThresholdStep {
  color: string;
  value: number | null;
}

interface ValueMapping {
  type: 'value';
  options: Record<string, { text: string; color: string; index: number }>;
}

interface FieldConfig {
  defaults: {
    unit: string;
    min?: number;
    max?: number;
    decimals?: number;
    color: { mode: string; fixedColor?: string };
    thresholds: { mode: 'absolute'; steps: ThresholdStep[] };
    mappings: ValueMapping[];
    custom?: Record<string, unknown>;
  };
  overrides: {
    matcher: { id: string; options: string };
    properties: { id: string; value: unknown }[];
  }[];
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description: string;
  datasource: Datasource;
  gridPos: GridPos;
  targets?: Target[];
  fieldConfig?: FieldConfig;
  options?: Record<string, unknown>;
  transformations?: { id: string; options: Record<string, unknown> }[];
  collapsed?: boolean;
  panels?: Panel[];
}

/** A panel before layout: its size, and everything but id and position. */
interface PanelSpec extends Omit<Panel, 'id' | 'gridPos'> {
  w: number;
  h: number;
}

interface QueryOptions {
  /** Instant query (tables, stats and bar gauges show the latest value only). */
  instant?: boolean;
  /** Table format: one row per series, labels as columns. */
  table?: boolean;
}

interface Query extends QueryOptions {
  expr: string;
  legend: string;
}

function q(expr: string, legend: string, options: QueryOptions = {}): Query {
  return { expr, legend, ...options };
}

function targets(queries: Query[]): Target[] {
  return queries.map((query, i) => ({
    datasource: DATASOURCE,
    refId: String.fromCharCode(65 + i),
    expr: query.expr,
    legendFormat: query.legend,
    range: !query.instant,
    instant: query.instant === true,
    format: query.table ? 'table' : 'time_series',
  }));
}

function steps(base: string, ...rest: [number, string][]): ThresholdStep[] {
  return [{ color: base, value: null }, ...rest.map(([value, color]) => ({ color, value }))];
}

/** Maps values to texts and colours, e.g. 0 → ok, 1 → BLOCKED. */
function valueMap(entries: [number, string, string][]): ValueMapping[] {
  const options: ValueMapping['options'] = {};
  entries.forEach(([value, text, color], index) => {
    options[String(value)] = { text, color, index };
  });
  return [{ type: 'value', options }];
}

interface Common {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  w: number;
  h: number;
  thresholds?: ThresholdStep[];
  mappings?: ValueMapping[];
  min?: number;
  max?: number;
  decimals?: number;
}

function fieldConfig(c: Common, color: FieldConfig['defaults']['color']): FieldConfig {
  return {
    defaults: {
      unit: c.unit,
      ...(c.min === undefined ? {} : { min: c.min }),
      ...(c.max === undefined ? {} : { max: c.max }),
      ...(c.decimals === undefined ? {} : { decimals: c.decimals }),
      color,
      thresholds: { mode: 'absolute', steps: c.thresholds ?? steps('green') },
      mappings: c.mappings ?? [],
    },
    overrides: [],
  };
}

function base(type: string, c: Common): PanelSpec {
  return {
    type,
    title: c.title,
    description: c.description,
    datasource: DATASOURCE,
    targets: targets(c.queries),
    w: c.w,
    h: c.h,
  };
}

interface TimeseriesOptions extends Common {
  /** Draw the thresholds as dashed lines (the alert thresholds). */
  thresholdLines?: boolean;
  /** refIds drawn as a dashed red line: the spike threshold series. */
  thresholdSeries?: string[];
}

function timeseries(c: TimeseriesOptions): PanelSpec {
  const config = fieldConfig(c, { mode: 'palette-classic' });
  config.defaults.custom = {
    drawStyle: 'line',
    lineWidth: 1,
    fillOpacity: 10,
    showPoints: 'never',
    spanNulls: false,
    stacking: { mode: 'none', group: 'A' },
    thresholdsStyle: { mode: c.thresholdLines ? 'dashed' : 'off' },
  };
  config.overrides = (c.thresholdSeries ?? []).map((refId) => ({
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [
      { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
      { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
      { id: 'custom.lineWidth', value: 2 },
      { id: 'custom.fillOpacity', value: 0 },
    ],
  }));
  return {
    ...base('timeseries', c),
    fieldConfig: config,
    options: {
      legend: {
        showLegend: true,
        displayMode: 'table',
        placement: 'bottom',
        calcs: ['lastNotNull', 'max'],
      },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

function stat(c: Common): PanelSpec {
  return {
    ...base('stat', c),
    fieldConfig: fieldConfig(c, { mode: 'thresholds' }),
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
    },
  };
}

function barGauge(c: Common): PanelSpec {
  return {
    ...base('bargauge', c),
    fieldConfig: fieldConfig(c, { mode: 'thresholds' }),
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      orientation: 'horizontal',
      displayMode: 'gradient',
      showUnfilled: true,
      valueMode: 'color',
    },
  };
}

function stateTimeline(c: Common): PanelSpec {
  return {
    ...base('state-timeline', c),
    fieldConfig: fieldConfig(c, { mode: 'thresholds' }),
    options: {
      mergeValues: true,
      showValue: 'never',
      alignValue: 'left',
      rowHeight: 0.9,
      legend: { showLegend: true, displayMode: 'list', placement: 'bottom' },
      tooltip: { mode: 'single', sort: 'none' },
    },
  };
}

interface TableOptions extends Common {
  /** Column renames, e.g. `Value #A` → `Failed upgrades`. */
  rename: Record<string, string>;
  hide: string[];
  sortBy: string;
}

function table(c: TableOptions): PanelSpec {
  const transformations: NonNullable<Panel['transformations']> = [];
  if (c.queries.length > 1) transformations.push({ id: 'merge', options: {} });
  transformations.push({
    id: 'organize',
    options: {
      excludeByName: Object.fromEntries(c.hide.map((name) => [name, true])),
      renameByName: c.rename,
    },
  });
  return {
    ...base('table', c),
    fieldConfig: fieldConfig(c, { mode: 'thresholds' }),
    options: {
      showHeader: true,
      cellHeight: 'sm',
      footer: { show: false, reducer: ['sum'], fields: '' },
      sortBy: [{ displayName: c.sortBy, desc: true }],
    },
    transformations,
  };
}

interface Section {
  title: string;
  description: string;
  panels: PanelSpec[];
}

// ---- Panels -----------------------------------------------------------------------------------

const upgradesByStatusNow = q(
  `sum by (status) (${fleet('thingspace_fota:upgrades:sum')})`,
  '{{status}}',
  { instant: true },
);

/** Accounts over either spike threshold, each counted once (a comparison keeps the metric name). */
const spikingAccounts =
  `count(count by (account) (\n` +
  `  (${fleet('thingspace_fota:upgrades:rise1h', 'status="UpgradeFailed"')} >= ${fleet('thingspace_fota:upgrades:rise1h_spike_threshold')})\n` +
  `  or\n` +
  `  (${fleet('thingspace_fota:upgrade_devices:rise1h', 'status="UpgradeFailed"')} >= ${fleet('thingspace_fota:upgrade_devices:rise1h_spike_threshold')})\n` +
  `)) or vector(0)`;

const failureRatioNow =
  `sum(${fleet('thingspace_fota:upgrades:sum', 'status="UpgradeFailed"')})\n/\n` +
  `sum(${fleet('thingspace_fota:upgrades:sum', 'status=~"UpgradeFailed|Finished"')})`;

const oldestAge = (aggregate: boolean): string => {
  const age = `time() - ${fleet('thingspace_fota_upgrade_oldest_start_timestamp_seconds', 'status=~"InProgress|Queued"')}`;
  return aggregate ? `max by (status) (${age})` : age;
};

const stuckThresholds = steps(
  'green',
  [QUEUED_STUCK_SECONDS, 'orange'],
  [IN_PROGRESS_STUCK_SECONDS, 'red'],
);

const SECTIONS: Section[] = [
  {
    title: 'Overview',
    description: 'The state of the fleet and of the exporter at a glance.',
    panels: [
      stat({
        title: 'Upgrades by status',
        description:
          'How many upgrades the ThingSpace report lists in each status now, for the selected accounts. Finished and UpgradeFailed hold six months of history.',
        unit: 'short',
        queries: [upgradesByStatusNow],
        thresholds: steps('blue'),
        w: 9,
        h: 5,
      }),
      stat({
        title: 'Accounts in a failure spike',
        description:
          'Accounts whose failed upgrades or failed devices rose in the last hour above their spike threshold: what the ThingSpaceFotaUpgradeFailedSpike and ThingSpaceFotaUpgradeFailedDevicesSpike alerts compare (they fire after 10 minutes of this).',
        unit: 'short',
        queries: [q(spikingAccounts, 'accounts', { instant: true })],
        thresholds: steps('green', [1, 'red']),
        w: 3,
        h: 5,
      }),
      stat({
        title: 'Failure ratio (six months)',
        description:
          'UpgradeFailed / (UpgradeFailed + Finished) over the six months of report history of the selected accounts. ThingSpaceFotaHighFailureRatio fires above 20% for an account.',
        unit: 'percentunit',
        decimals: 1,
        queries: [q(failureRatioNow, 'failure ratio', { instant: true })],
        thresholds: steps(
          'green',
          [FAILURE_RATIO_ALERT / 2, 'orange'],
          [FAILURE_RATIO_ALERT, 'red'],
        ),
        w: 3,
        h: 5,
      }),
      stat({
        title: 'Oldest InProgress / Queued upgrade',
        description:
          'How long ago the oldest upgrade still InProgress started, and the oldest still Queued was due to start (negative: scheduled in the future). Alerts: Queued after 1 day, InProgress after 3 days.',
        unit: 's',
        queries: [q(oldestAge(true), '{{status}}', { instant: true })],
        thresholds: stuckThresholds,
        w: 3,
        h: 5,
      }),
      stat({
        title: 'Failing report collections',
        description:
          'Account and status reports whose last collection pass failed. The exporter serves their last good values for --collector.max-stale (15m), then drops them.',
        unit: 'short',
        queries: [
          q(`count(${fleet('thingspace_fota_collection_success')} == 0) or vector(0)`, 'failing', {
            instant: true,
          }),
        ],
        thresholds: steps('green', [1, 'red']),
        w: 3,
        h: 5,
      }),
      stat({
        title: 'Login blocked',
        description:
          'Whether the exporter stopped logging in to ThingSpace after repeated rejections, to keep the user from being locked (ThingSpace locks it at five failed logins). Nothing is collected while blocked.',
        unit: 'none',
        queries: [
          q(`max(${exporter('thingspace_fota_login_blocked')})`, 'blocked', { instant: true }),
        ],
        mappings: valueMap([
          [0, 'no', 'green'],
          [1, 'BLOCKED', 'red'],
        ]),
        thresholds: steps('green', [1, 'red']),
        w: 3,
        h: 5,
      }),
    ],
  },
  {
    title: 'Failed upgrades',
    description: 'Failure spikes against their threshold, the failure ratio, and what fails.',
    panels: [
      timeseries({
        title: 'Failed upgrades: rise in the last hour vs spike threshold',
        description:
          'Solid: how many more upgrades of each account are in UpgradeFailed than at the lowest point of the last hour. Dashed red: the spike threshold of ThingSpaceFotaUpgradeFailedSpike (3 times the average hourly rise over the previous day, at least 5). The alert fires when the rise stays at or above the threshold for 10 minutes.',
        unit: 'short',
        min: 0,
        queries: [
          q(fleet('thingspace_fota:upgrades:rise1h', 'status="UpgradeFailed"'), '{{account}} rise'),
          q(
            fleet('thingspace_fota:upgrades:rise1h_spike_threshold'),
            '{{account}} spike threshold',
          ),
        ],
        thresholdSeries: ['B'],
        w: 12,
        h: 8,
      }),
      timeseries({
        title: 'Failed devices: rise in the last hour vs spike threshold',
        description:
          'Solid: how many more device entries of each account belong to UpgradeFailed upgrades than at the lowest point of the last hour. Dashed red: the spike threshold of ThingSpaceFotaUpgradeFailedDevicesSpike (3 times the average hourly rise over the previous day, at least 50).',
        unit: 'short',
        min: 0,
        queries: [
          q(
            fleet('thingspace_fota:upgrade_devices:rise1h', 'status="UpgradeFailed"'),
            '{{account}} rise',
          ),
          q(
            fleet('thingspace_fota:upgrade_devices:rise1h_spike_threshold'),
            '{{account}} spike threshold',
          ),
        ],
        thresholdSeries: ['B'],
        w: 12,
        h: 8,
      }),
      timeseries({
        title: 'Failure ratio by account',
        description:
          'UpgradeFailed / (UpgradeFailed + Finished) per account over its six months of report history. It moves slowly; the dashed line is the 20% of ThingSpaceFotaHighFailureRatio.',
        unit: 'percentunit',
        min: 0,
        queries: [q(fleet('thingspace_fota:upgrades:failure_ratio'), '{{account}}')],
        thresholds: steps('green', [FAILURE_RATIO_ALERT, 'red']),
        thresholdLines: true,
        w: 12,
        h: 8,
      }),
      table({
        title: 'Failures by target firmware',
        description:
          'Upgrades in UpgradeFailed, and their device entries, by the firmware they were to install (firmware_to; "other" once --collector.max-label-values distinct values are reached). Which firmware fails?',
        unit: 'short',
        queries: [
          q(
            `sum by (firmware_to) (${fleet('thingspace_fota_upgrades', 'status="UpgradeFailed"')}) > 0`,
            '',
            { instant: true, table: true },
          ),
          q(
            `sum by (firmware_to) (${fleet('thingspace_fota_upgrade_devices', 'status="UpgradeFailed"')}) > 0`,
            '',
            { instant: true, table: true },
          ),
        ],
        rename: {
          firmware_to: 'Target firmware',
          'Value #A': 'Failed upgrades',
          'Value #B': 'Failed devices',
        },
        hide: ['Time'],
        sortBy: 'Failed upgrades',
        w: 12,
        h: 8,
      }),
    ],
  },
  {
    title: 'Upgrades and backlog',
    description: 'Where the upgrades are in their lifecycle, and how old the waiting ones are.',
    panels: [
      timeseries({
        title: 'Upgrades by status over time',
        description:
          'Upgrades the report lists in each status, for the selected accounts. Finished and UpgradeFailed hold six months of history, so they also go down as old upgrades age out.',
        unit: 'short',
        min: 0,
        queries: [q(`sum by (status) (${fleet('thingspace_fota:upgrades:sum')})`, '{{status}}')],
        w: 12,
        h: 8,
      }),
      timeseries({
        title: 'Rise of each status in the last hour',
        description:
          'How many more upgrades each status holds than at its lowest point of the last hour: roughly the upgrades that reached it in the last hour. The UpgradeFailed line is what the spike alert watches.',
        unit: 'short',
        min: 0,
        queries: [q(`sum by (status) (${fleet('thingspace_fota:upgrades:rise1h')})`, '{{status}}')],
        w: 12,
        h: 8,
      }),
      timeseries({
        title: 'Backlog: pending, queued and in-progress upgrades',
        description:
          'Upgrades not concluded yet: RequestPending, Queued and InProgress. A queue that grows while InProgress stays flat means upgrades do not start.',
        unit: 'short',
        min: 0,
        queries: [
          q(
            `sum by (status) (${fleet('thingspace_fota:upgrades:sum', 'status=~"RequestPending|Queued|InProgress"')})`,
            '{{status}}',
          ),
        ],
        w: 12,
        h: 8,
      }),
      timeseries({
        title: 'Age of the oldest InProgress / Queued upgrade',
        description:
          'Per account: how long ago the oldest InProgress upgrade started and the oldest Queued one was due to start. Dashed lines: 1 day (ThingSpaceFotaUpgradeStuckQueued) and 3 days (ThingSpaceFotaUpgradeStuckInProgress).',
        unit: 's',
        queries: [q(oldestAge(false), '{{account}} {{status}}')],
        thresholds: stuckThresholds,
        thresholdLines: true,
        w: 12,
        h: 8,
      }),
    ],
  },
  {
    title: 'Devices',
    description: 'The device entries of the upgrades, by their own status and result reason.',
    panels: [
      timeseries({
        title: 'Device entries by device status',
        description:
          "Device entries of all the upgrades in the report, by the device's own status (Device Accepted, Request Pending, UpgradeSuccess, UpgradeFailed, ...), which can differ from its upgrade's status.",
        unit: 'short',
        min: 0,
        queries: [
          q(
            `sum by (device_status) (${fleet('thingspace_fota_upgrade_devices')})`,
            '{{device_status}}',
          ),
        ],
        w: 12,
        h: 9,
      }),
      table({
        title: 'Top device failure reasons',
        description:
          'The ten most frequent result reasons of failed devices: device entries of RequestFailed and UpgradeFailed upgrades, and devices reporting a failure status in any upgrade. "none": the device gave no reason; "other": more distinct reasons than --collector.max-label-values.',
        unit: 'short',
        queries: [
          q(
            `topk(10,\n` +
              `  sum by (status, device_status, result_reason) (${fleet('thingspace_fota_upgrade_devices', 'status=~"UpgradeFailed|RequestFailed"')})\n` +
              `  or\n` +
              `  sum by (status, device_status, result_reason) (${fleet('thingspace_fota_upgrade_devices', 'device_status=~"(?i).*fail.*"')})\n` +
              `)`,
            '',
            { instant: true, table: true },
          ),
        ],
        rename: {
          status: 'Upgrade status',
          device_status: 'Device status',
          result_reason: 'Result reason',
          Value: 'Devices',
        },
        hide: ['Time'],
        sortBy: 'Devices',
        w: 12,
        h: 9,
      }),
    ],
  },
  {
    title: 'Exporter health',
    description: 'Whether the exporter reads the reports, and how ThingSpace answers it.',
    panels: [
      barGauge({
        title: 'Time since the last successful collection',
        description:
          'How long ago each account and status report was last read completely. Orange: 15 minutes (ThingSpaceFotaCollectionFailing territory); red: 1 hour (ThingSpaceFotaDataStale).',
        unit: 's',
        queries: [
          q(
            `time() - ${fleet('thingspace_fota_collection_last_success_timestamp_seconds')}`,
            '{{account}} {{status}}',
            { instant: true },
          ),
        ],
        thresholds: steps(
          'green',
          [COLLECTION_LATE_SECONDS, 'orange'],
          [DATA_STALE_SECONDS, 'red'],
        ),
        w: 12,
        h: 8,
      }),
      stateTimeline({
        title: 'Collection success',
        description:
          'For each account and status report: whether the last collection pass read the whole report (ok) or failed.',
        unit: 'none',
        queries: [q(fleet('thingspace_fota_collection_success'), '{{account}} {{status}}')],
        mappings: valueMap([
          [1, 'ok', 'green'],
          [0, 'failed', 'red'],
        ]),
        w: 12,
        h: 8,
      }),
      timeseries({
        title: 'Collection duration',
        description:
          "Wall time of the last collection until each account's last report was read. Close to --collector.interval means collections are about to overlap.",
        unit: 's',
        min: 0,
        queries: [q(fleet('thingspace_fota_collection_duration_seconds'), '{{account}}')],
        w: 8,
        h: 7,
      }),
      timeseries({
        title: 'Report pages per pass',
        description:
          'Pages read by the last successful pass over each report: one request each. Growing pages mean a growing report, and more requests to ThingSpace.',
        unit: 'short',
        min: 0,
        queries: [q(fleet('thingspace_fota_collection_pages'), '{{account}} {{status}}')],
        w: 8,
        h: 7,
      }),
      timeseries({
        title: 'Collection errors',
        description:
          'Failed report passes per $__rate_interval, by account and kind: auth, http, timeout, throttled, parse, pagination (see the runbook, ThingSpaceFotaCollectionFailing).',
        unit: 'short',
        min: 0,
        queries: [
          q(
            `sum by (account, error) (${increase(fleet('thingspace_fota_collection_errors_total'))})`,
            '{{account}} {{error}}',
          ),
        ],
        w: 8,
        h: 7,
      }),
      timeseries({
        title: 'ThingSpace requests by endpoint and code',
        description:
          'Requests per second to ThingSpace by endpoint (oauth_token, session_login, reports) and HTTP status; "error" is a network failure or timeout without a status.',
        unit: 'reqps',
        min: 0,
        queries: [
          q(
            `sum by (endpoint, code) (${rate(exporter('thingspace_fota_api_requests_total'))})`,
            '{{endpoint}} {{code}}',
          ),
        ],
        w: 8,
        h: 7,
      }),
      timeseries({
        title: 'ThingSpace error and throttle ratio',
        description:
          'Share of the requests to each endpoint answered 429 (throttled), and answered 5xx or not at all (errors). The dashed line is the 10% of ThingSpaceFotaApiThrottled and ThingSpaceFotaApiErrors.',
        unit: 'percentunit',
        min: 0,
        queries: [
          q(requestRatio('429'), '{{endpoint}} throttled (429)'),
          q(requestRatio('5..|error'), '{{endpoint}} errors (5xx, no answer)'),
        ],
        thresholds: steps('green', [API_RATIO_ALERT, 'red']),
        thresholdLines: true,
        w: 8,
        h: 7,
      }),
      timeseries({
        title: 'ThingSpace request latency',
        description:
          'Median and 99th percentile of the time ThingSpace took to answer, by endpoint, from the exporter\'s histogram. Answers close to --collector.timeout (30s) end as "error".',
        unit: 's',
        min: 0,
        queries: [
          q(
            `histogram_quantile(0.5, sum by (endpoint, le) (${rate(exporter('thingspace_fota_api_request_duration_seconds_bucket'))}))`,
            '{{endpoint}} p50',
          ),
          q(
            `histogram_quantile(0.99, sum by (endpoint, le) (${rate(exporter('thingspace_fota_api_request_duration_seconds_bucket'))}))`,
            '{{endpoint}} p99',
          ),
        ],
        w: 8,
        h: 7,
      }),
      timeseries({
        title: 'Login failures',
        description:
          'Logins ThingSpace rejected per $__rate_interval, by kind (oauth_token: client id/secret; session_login: username/password). Five failed logins lock the ThingSpace user; the exporter stops after --thingspace.max-login-failures (3).',
        unit: 'short',
        min: 0,
        queries: [
          q(
            `sum by (kind) (${increase(exporter('thingspace_fota_login_failures_total'))})`,
            '{{kind}}',
          ),
        ],
        w: 6,
        h: 7,
      }),
      timeseries({
        title: 'Label values folded into "other"',
        description:
          'Distinct firmware_to, device_status and result_reason values counted under "other" because --collector.max-label-values was reached. Non-zero: some breakdowns are incomplete.',
        unit: 'short',
        min: 0,
        queries: [
          q(
            `sum by (account, label) (${fleet('thingspace_fota_label_values_folded')})`,
            '{{account}} {{label}}',
          ),
        ],
        w: 6,
        h: 7,
      }),
      stat({
        title: 'Exporters up',
        description:
          'Whether Prometheus can scrape each exporter instance (the up series of the targets that exposed thingspace_fota_exporter_build_info in the dashboard time range). ThingSpaceFotaExporterDown fires after 5 minutes down.',
        unit: 'none',
        queries: [
          q(
            `up{${SCOPE}} and on (job, instance) max_over_time(${exporter('thingspace_fota_exporter_build_info')}[$__range])`,
            '{{instance}}',
            { instant: true },
          ),
        ],
        mappings: valueMap([
          [1, 'up', 'green'],
          [0, 'DOWN', 'red'],
        ]),
        thresholds: steps('red', [1, 'green']),
        w: 4,
        h: 7,
      }),
      table({
        title: 'Exporter version',
        description: 'Version of each exporter instance and of the Node.js it runs on.',
        unit: 'none',
        queries: [
          q(exporter('thingspace_fota_exporter_build_info'), '', { instant: true, table: true }),
        ],
        rename: { instance: 'Instance', version: 'Version', nodejs_version: 'Node.js' },
        hide: ['Time', 'Value', '__name__', 'job'],
        sortBy: 'Instance',
        w: 8,
        h: 7,
      }),
    ],
  },
];

// ---- Layout and dashboard ---------------------------------------------------------------------

const GRID_WIDTH = 24;

/**
 * Rows, each followed by its panels flowed left to right and wrapped at 24 columns; a line of panels
 * is as high as its highest panel, so nothing overlaps.
 */
function layout(sections: Section[]): Panel[] {
  const panels: Panel[] = [];
  let id = 1;
  let y = 0;
  for (const section of sections) {
    panels.push({
      id: id++,
      type: 'row',
      title: section.title,
      description: section.description,
      datasource: DATASOURCE,
      gridPos: { h: 1, w: GRID_WIDTH, x: 0, y },
      collapsed: false,
      panels: [],
    });
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const { w, h, ...spec } of section.panels) {
      if (w > GRID_WIDTH) throw new Error(`panel "${spec.title}" is wider than the grid`);
      if (x + w > GRID_WIDTH) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      panels.push({ id: id++, gridPos: { h, w, x, y }, ...spec });
      x += w;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return panels;
}

function queryVariable(name: string, label: string, query: string) {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    query,
    definition: query,
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.+',
    current: {},
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
  };
}

export function buildDashboard() {
  return {
    uid: DASHBOARD_UID,
    title: 'ThingSpace FOTA upgrades',
    description:
      'Verizon ThingSpace firmware-over-the-air upgrades from thingspace-fota-exporter: upgrades by status, failure spikes, backlog, device failure reasons, and the health of the exporter.',
    tags: ['thingspace', 'fota', 'verizon', 'prometheus'],
    timezone: 'browser',
    editable: false,
    graphTooltip: 1,
    time: { from: 'now-24h', to: 'now' },
    refresh: '1m',
    schemaVersion: 39,
    version: 1,
    links: [
      {
        title: 'Runbook',
        type: 'link',
        url: RUNBOOK_URL,
        icon: 'doc',
        tooltip: 'What each ThingSpaceFota alert means and what to do',
        targetBlank: true,
        asDropdown: false,
        includeVars: false,
        keepTime: false,
        tags: [],
      },
    ],
    annotations: {
      list: [
        {
          name: 'ThingSpace FOTA alerts',
          datasource: DATASOURCE,
          enable: true,
          iconColor: 'red',
          expr: `ALERTS{alertname=~"ThingSpaceFota.*", alertstate="firing", job=~"$job"}`,
          step: '60s',
          titleFormat: '{{alertname}}',
          textFormat: '{{account}} {{instance}} ({{severity}})',
          useValueForTime: false,
        },
      ],
    },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          options: [],
          regex: '',
          refresh: 1,
          multi: false,
          includeAll: false,
          hide: 0,
        },
        queryVariable('job', 'Job', 'label_values(thingspace_fota_exporter_build_info, job)'),
        queryVariable(
          'instance',
          'Instance',
          'label_values(thingspace_fota_exporter_build_info{job=~"$job"}, instance)',
        ),
        queryVariable(
          'account',
          'Account',
          'label_values(thingspace_fota_upgrades{job=~"$job", instance=~"$instance"}, account)',
        ),
      ],
    },
    panels: layout(SECTIONS),
  };
}

/** The file's exact content: stable key order, two-space indent, final newline. */
export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
