/**
 * The metrics the exporter exposes: names, types, labels and help, each once. The snapshot renderer, the
 * live prom-client registry, the README's metrics table and the dashboard checks all derive from this list.
 */
export interface MetricDefinition {
  readonly name: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly labels: readonly string[];
  readonly help: string;
  /**
   * `snapshot`: rendered once per collection, from its snapshot (and the entered counters published with it);
   * `live`: updated as things happen.
   */
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
    name: 'thingspace_fota_upgrades_entered_total',
    type: 'counter',
    labels: ['account', 'status'],
    help: "Upgrades counted once, when their id first appeared in that status's report as read by this process (the first complete pass after start-up only learns, unless --storage.path restored the id memory: then the counter continues across the restart).",
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_upgrade_devices_entered_total',
    type: 'counter',
    labels: ['account', 'status'],
    help: 'Device entries of the upgrades counted in thingspace_fota_upgrades_entered_total, counted at the same moment.',
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_upgrades_observed_seconds_total',
    type: 'counter',
    labels: ['account', 'status'],
    help: 'ThingSpace time covered by the entered counters: each complete counting pass adds the time since the previous complete pass (a collection gap arrives as one jump, with the arrivals it hid).',
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_collection_errors_total',
    type: 'counter',
    labels: ['account', 'status', 'error'],
    help: 'Report passes that failed, by kind of error (auth, http, timeout, throttled, parse, pagination, oversize, config, internal); a series appears at its first error.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_campaigns',
    type: 'gauge',
    labels: ['account', 'api', 'campaign_status'],
    help: `${FROM_LAST} campaigns in the v2/v3 campaign history for that status (every known status present, 0 when none).`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_devices',
    type: 'gauge',
    labels: ['account', 'api', 'campaign_status', 'device_status', 'result_reason'],
    help: `${FROM_LAST} device entries of the walked campaigns, summed over campaigns, by the campaign's status and the device's status and normalised result reason.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_info',
    type: 'gauge',
    labels: [
      'account',
      'api',
      'campaign_id',
      'campaign_name',
      'firmware_from',
      'firmware_to',
      'campaign_status',
    ],
    help: `${FROM_LAST} 1 for each walked campaign (v2's softwareFrom/softwareTo fill the firmware labels).`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_device_status',
    type: 'gauge',
    labels: ['account', 'api', 'campaign_id', 'device_status'],
    help: `${FROM_LAST} devices of each walked campaign by status: rollout progress per campaign.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_total_devices',
    type: 'gauge',
    labels: ['account', 'api', 'campaign_id'],
    help: `${FROM_LAST} the walked campaign's totalDevice.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_end_timestamp_seconds',
    type: 'gauge',
    labels: ['account', 'api', 'campaign_id'],
    help: `${FROM_LAST} the walked campaign's endDate in Unix seconds (a date alone means the end of that UTC day).`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaigns_folded',
    type: 'gauge',
    labels: ['account', 'api'],
    help: `${FROM_LAST} campaigns that qualified for a device walk but were not walked because of --collector.max-campaigns (the newest are walked).`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_label_values_folded',
    type: 'gauge',
    labels: ['account', 'api', 'label'],
    help: `${FROM_LAST} distinct campaign label values counted under "other" because --collector.max-label-values was reached.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_collection_success',
    type: 'gauge',
    labels: ['account', 'api', 'stage'],
    help: `${FROM_LAST} 1 if every campaign-status listing (stage="listing") or every walked campaign's device list (stage="devices") was read completely, else 0.`,
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_collection_last_success_timestamp_seconds',
    type: 'gauge',
    labels: ['account', 'api', 'stage'],
    help: 'When a pass last read every campaign listing (stage="listing") or every walked campaign\'s devices (stage="devices") completely, in Unix seconds.',
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_devices_entered_total',
    type: 'counter',
    labels: ['account', 'api', 'device_status'],
    help: 'Devices counted once when first seen with that status in a walked campaign, when its walk completes (the first complete pass after start-up, and a first walk after the pass that first listed the campaign, only learn; with --storage.path a restored id memory counts on across a restart, and the counter continues).',
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_devices_observed_seconds_total',
    type: 'counter',
    labels: ['account', 'api'],
    help: 'ThingSpace time covered by thingspace_fota_campaign_devices_entered_total: each pass whose listing completed and that read a walked campaign completely (or had none to walk) adds the time since the previous such pass; a campaign whose walk fails counts nothing until it is read again.',
    source: 'snapshot',
  },
  {
    name: 'thingspace_fota_campaign_collection_errors_total',
    type: 'counter',
    labels: ['account', 'api', 'stage', 'error'],
    help: 'Campaign listings (stage="listing") and device walks (stage="devices") that failed, by kind of error; a pass that could read no listing, and so walked nothing, counts one devices error of the listing\'s kind. A series appears at its first error.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_arrivals_snapshot_errors_total',
    type: 'counter',
    labels: [],
    help: 'With --storage.path: writes of arrivals.snapshot (the id memories and entered counters kept across restarts) that failed or would have passed the 256 MiB limit; the older snapshot is then removed, so a restart learns again.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_arrivals_snapshot_last_write_timestamp_seconds',
    type: 'gauge',
    labels: [],
    help: 'With --storage.path: when arrivals.snapshot was last written, in Unix seconds (0 before the first write, and without --storage.path). It is written after each collection in which a pass completed or something was counted.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_arrivals_snapshot_bytes',
    type: 'gauge',
    labels: [],
    help: 'With --storage.path: size of the last arrivals.snapshot written (0 before the first write, and without --storage.path).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_api_requests_total',
    type: 'counter',
    labels: ['endpoint', 'code'],
    help: 'Requests sent to ThingSpace, by endpoint and HTTP status ("error" when no complete answer came back: network error, timeout, a body over the size limit or not JSON).',
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
    name: 'thingspace_fota_api_gate_open',
    type: 'gauge',
    labels: [],
    help: 'Whether requests to ThingSpace flow (1) or are paused by the shared throttle gate after a 429 or a 503 with Retry-After (0).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_api_gate_closures_total',
    type: 'counter',
    labels: [],
    help: 'Times the shared throttle gate closed after a 429 or a 503 with Retry-After.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_api_gate_closed_seconds_total',
    type: 'counter',
    labels: [],
    help: 'Time requests to ThingSpace spent paused by the shared throttle gate.',
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
    name: 'thingspace_fota_login_unanswered_total',
    type: 'counter',
    labels: [],
    help: "Session logins sent whose answer was lost (a timeout, a 5xx, a connection closed after sending, a 400/401/403 without ThingSpace's error body): ThingSpace may have counted them as failed, so they count towards --thingspace.max-login-failures and are never resent.",
    source: 'live',
  },
  {
    name: 'thingspace_fota_login_blocked',
    type: 'gauge',
    labels: [],
    help: 'Whether logins are suspended after repeated failed logins (rejected, or sent without an answer), to keep ThingSpace from locking the user (1) or not (0).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_arrivals_kept',
    type: 'gauge',
    labels: [],
    help: 'Arrivals (device entries, and upgrades without devices) the arrivals journal holds for /api/v1/arrivals and /arrivals; 0 with --arrivals.enabled=false.',
    source: 'live',
  },
  {
    name: 'thingspace_fota_arrivals_dropped_total',
    type: 'counter',
    labels: ['bound'],
    help: 'Arrivals dropped from the journal, oldest first, by the bound that dropped them: bound="retention" (--arrivals.retention) or bound="max_entries" (--arrivals.max-entries).',
    source: 'live',
  },
  {
    name: 'thingspace_fota_exporter_external_url_info',
    type: 'gauge',
    labels: ['external_url'],
    help: 'The --web.external-url operators reach the exporter on ("" when unset), from which the alerts and the dashboard build their links to /arrivals; always 1.',
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
