/**
 * The metrics the exporter exposes: names, types, labels and help, each once. The snapshot renderer, the
 * live prom-client registry, the README's metrics table and the dashboard checks all derive from this list.
 */
export interface MetricDefinition {
  readonly name: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly labels: readonly string[];
  readonly help: string;
  /** `snapshot`: rendered from the last collection's snapshot; `live`: updated as things happen. */
  readonly source: 'snapshot' | 'live';
}

const FROM_LAST = 'From the last collection:';

export const METRIC_DEFINITIONS = [
  {
    name: 'thingspace_fota_upgrades',
    type: 'gauge',
    labels: ['account', 'status', 'firmware_to'],
    help: `${FROM_LAST} upgrades in the report for that status, by target firmware (firmware_to="" with value 0 when there are none).`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_upgrade_devices',
    type: 'gauge',
    labels: ['account', 'status', 'firmware_to', 'device_status', 'result_reason'],
    help: `${FROM_LAST} device entries of the upgrades in that status, by the device's own status and result reason ("none" when missing).`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
    type: 'gauge',
    labels: ['account', 'status'],
    help: `${FROM_LAST} start date of the oldest upgrade in that status, in Unix seconds.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_collection_success',
    type: 'gauge',
    labels: ['account', 'status'],
    help: `${FROM_LAST} 1 if the pass paged through the whole report, else 0.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_collection_last_success_timestamp_seconds',
    type: 'gauge',
    labels: ['account', 'status'],
    help: 'When a pass last read the whole report, in Unix seconds.',
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_collection_duration_seconds',
    type: 'gauge',
    labels: ['account'],
    help: `${FROM_LAST} wall time until the account's last report was read.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_collection_pages',
    type: 'gauge',
    labels: ['account', 'status'],
    help: `${FROM_LAST} pages read by the pass whose values are served.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_label_values_folded',
    type: 'gauge',
    labels: ['account', 'status', 'label'],
    help: `${FROM_LAST} distinct label values counted under "other" because --collector.max-label-values was reached.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_collection_errors_total',
    type: 'counter',
    labels: ['account', 'status', 'error'],
    help: 'Report passes that failed, by kind of error (auth, http, timeout, throttled, parse, pagination).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_api_requests_total',
    type: 'counter',
    labels: ['endpoint', 'code'],
    help: 'Requests sent to ThingSpace, by endpoint and HTTP status ("error" when no status came back).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_api_request_duration_seconds',
    type: 'histogram',
    labels: ['endpoint'],
    help: 'Latency of requests to ThingSpace, by endpoint.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_login_failures_total',
    type: 'counter',
    labels: ['kind'],
    help: 'Rejected logins to ThingSpace, by kind (oauth_token, session_login).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_login_blocked',
    type: 'gauge',
    labels: [],
    help: 'Whether logins are suspended after repeated rejections, to keep ThingSpace from locking the user (1) or not (0).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_exporter_build_info',
    type: 'gauge',
    labels: ['version', 'nodejs_version'],
    help: 'Version of the exporter and of Node.js; always 1.',
    source: 'live',
  },
] as const satisfies readonly MetricDefinition[];

export type MetricName = (typeof METRIC_DEFINITIONS)[number]['name'];

export function definition(name: MetricName): MetricDefinition {
  return METRIC_DEFINITIONS.find((d) => d.name === name)!;
}
