/** Exporter health: whether the exporter reads the reports, and how ThingSpace answers it. */
import {
  API_RATIO_ALERT,
  COLLECTION_LATE_SECONDS,
  DATA_STALE_SECONDS,
  runbook,
} from '../alerts.js';
import {
  barGaugePanel,
  q,
  stateTimelinePanel,
  statPanel,
  steps,
  tablePanel,
  timeseriesPanel,
  valueMap,
  type Section,
} from '../panels.js';
import { campaign, exporter, fleet, increase, orZero, rate, requestRatio } from '../queries.js';

const SCOPE = 'job=~"$job", instance=~"$instance"';

export const health: Section = {
  title: 'Exporter health',
  cells: [
    barGaugePanel({
      title: 'Time since the last successful collection',
      description:
        'How long ago each FOTA v1 account and status report was last read completely. Orange: 15 minutes (ThingSpaceFotaCollectionFailing territory); red: 1 hour (ThingSpaceFotaDataStale). Campaigns: see the Campaigns row.',
      unit: 's',
      queries: [
        q(
          `time() - ${fleet('thingspace_fota_collection_last_success_timestamp_seconds')}`,
          '{{account}} {{status}}',
          { instant: true },
        ),
      ],
      thresholds: steps('green', [COLLECTION_LATE_SECONDS, 'orange'], [DATA_STALE_SECONDS, 'red']),
      links: [runbook('ThingSpaceFotaDataStale')],
      w: 12,
      h: 8,
    }),
    stateTimelinePanel({
      title: 'Collection success',
      description:
        'For each FOTA v1 account and status report: whether the last collection pass read the whole report (ok) or failed.',
      unit: 'none',
      queries: [q(fleet('thingspace_fota_collection_success'), '{{account}} {{status}}')],
      mappings: valueMap([
        [1, 'ok', 'green'],
        [0, 'failed', 'red'],
      ]),
      links: [runbook('ThingSpaceFotaCollectionFailing')],
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Collection duration',
      description:
        "Wall time of the last collection until each account's last report was read. Close to --collector.interval means collections are about to overlap.",
      unit: 's',
      min: 0,
      queries: [q(fleet('thingspace_fota_collection_duration_seconds'), '{{account}}')],
      w: 8,
      h: 7,
    }),
    timeseriesPanel({
      title: 'Report pages per pass',
      description:
        'Pages read by the last successful pass over each FOTA v1 report: one request each. Growing pages mean a growing report, and more requests to ThingSpace.',
      unit: 'short',
      min: 0,
      queries: [q(fleet('thingspace_fota_collection_pages'), '{{account}} {{status}}')],
      w: 8,
      h: 7,
    }),
    timeseriesPanel({
      title: 'Collection errors',
      description:
        'Failed FOTA v1 report passes per $__rate_interval, by account and kind: auth, http, timeout, throttled, parse, pagination, oversize, config, internal (see the runbook, ThingSpaceFotaCollectionFailing). A kind gets its series at its first error; until then an account shows a 0 line named "none".',
      unit: 'short',
      min: 0,
      queries: [
        q(
          orZero(
            `sum by (account, error) (${increase(fleet('thingspace_fota_collection_errors_total'))})`,
            `sum by (account) (0 * ${fleet('thingspace_fota_collection_success')})`,
            ['account'],
            'error',
          ),
          '{{account}} {{error}}',
        ),
      ],
      w: 8,
      h: 7,
    }),
    timeseriesPanel({
      title: 'ThingSpace requests by endpoint and code',
      description:
        'Requests per second to ThingSpace by endpoint (oauth_token, session_login, reports, campaigns, campaign_devices) and HTTP status; "error" is a request without a complete answer: network error, timeout, a body over the size limit or not JSON.',
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
    timeseriesPanel({
      title: 'ThingSpace error and throttle ratio',
      description:
        'Share of the requests to each endpoint answered 429 (throttled), and answered 5xx or not completely (errors). The dashed line is the 10% of ThingSpaceFotaApiThrottled and ThingSpaceFotaApiErrors.',
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
    timeseriesPanel({
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
    timeseriesPanel({
      title: 'Login failures',
      description:
        'Logins ThingSpace rejected per $__rate_interval, by kind (oauth_token: client id/secret; session_login: username/password), and session logins sent whose answer was lost (ThingSpace may have counted them). Five failed logins lock the ThingSpace user; the exporter stops after --thingspace.max-login-failures (3) of either.',
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (kind) (${increase(exporter('thingspace_fota_login_failures_total'))})`,
          '{{kind}} rejected',
        ),
        q(
          `sum(${increase(exporter('thingspace_fota_login_unanswered_total'))})`,
          'session_login without an answer',
        ),
      ],
      w: 6,
      h: 7,
    }),
    timeseriesPanel({
      title: 'Label values folded into "other"',
      description:
        'Distinct label values counted under "other" because --collector.max-label-values was reached (the values with the most devices are kept): firmware_to, device_status and result_reason of the FOTA v1 reports, device_status and result_reason of the campaign devices. Non-zero: some breakdowns are incomplete.',
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (account, label) (${fleet('thingspace_fota_label_values_folded')})`,
          '{{account}} v1 {{label}}',
        ),
        q(
          `sum by (account, api, label) (${campaign('thingspace_fota_campaign_label_values_folded')})`,
          '{{account}} {{api}} {{label}}',
        ),
      ],
      w: 6,
      h: 7,
    }),
    statPanel({
      title: 'Throttle gate',
      description:
        'Whether requests to ThingSpace flow (open) or are paused (PAUSED) by the shared throttle gate, which closes on a 429 (or a 503 with Retry-After) for every request of the exporter until the wait is over.',
      unit: 'none',
      queries: [
        q(`min by (instance) (${exporter('thingspace_fota_api_gate_open')})`, '{{instance}}', {
          instant: true,
        }),
      ],
      mappings: valueMap([
        [1, 'open', 'green'],
        [0, 'PAUSED', 'orange'],
      ]),
      thresholds: steps('orange', [1, 'green']),
      w: 4,
      h: 7,
    }),
    timeseriesPanel({
      title: 'Time paused by the throttle gate',
      description:
        'Share of the time requests to ThingSpace were paused by the throttle gate after a 429 (or a 503 with Retry-After), per exporter (rate of thingspace_fota_api_gate_closed_seconds_total). Collections take longer while it is high; see ThingSpace error and throttle ratio for the answers that closed it.',
      unit: 'percentunit',
      min: 0,
      queries: [
        q(
          `max by (instance) (${rate(exporter('thingspace_fota_api_gate_closed_seconds_total'))})`,
          '{{instance}}',
        ),
      ],
      links: [runbook('ThingSpaceFotaApiThrottled')],
      w: 8,
      h: 7,
    }),
    statPanel({
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
      w: 8,
      h: 7,
    }),
    tablePanel({
      title: 'Exporter version',
      description: 'Version of each exporter instance and of the Node.js it runs on.',
      unit: 'none',
      queries: [
        q(exporter('thingspace_fota_exporter_build_info'), '', { instant: true, table: true }),
      ],
      rename: { instance: 'Instance', version: 'Version', nodejs_version: 'Node.js' },
      hide: ['Time', 'Value', '__name__', 'job'],
      sortBy: 'Instance',
      ascending: true,
      w: 16,
      h: 7,
    }),
  ],
};
