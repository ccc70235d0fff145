/**
 * PromQL for the dashboard: the selectors every query is built from, so that the job, instance,
 * account (and, for campaigns, api) filters cannot be forgotten, and the few expressions more than
 * one panel shares.
 */
import {
  FINAL_CAMPAIGN_STATUSES,
  type CAMPAIGN_DEVICE_STATUSES,
} from '../../src/campaigns/statuses.js';

const SCOPE = 'job=~"$job", instance=~"$instance"';

function selector(metric: string, matchers: string[]): string {
  return `${metric}{${matchers.filter((m) => m !== '').join(', ')}}`;
}

/** A series with an account label (v1 reports, recording rules): job, instance and account filters. */
export function fleet(metric: string, extra = ''): string {
  return selector(metric, [SCOPE, 'account=~"$account"', extra]);
}

/** A campaign series (v2/v3): job, instance, account and api filters. */
export function campaign(metric: string, extra = ''): string {
  return selector(metric, [SCOPE, 'account=~"$account"', 'api=~"$api"', extra]);
}

/** One of the exporter's own series (no account label). */
export function exporter(metric: string, extra = ''): string {
  return selector(metric, [SCOPE, extra]);
}

/** rate() of a counter over Grafana's $__rate_interval. */
export function rate(sel: string): string {
  return `rate(${sel}[$__rate_interval])`;
}

/** increase() of a counter over Grafana's $__rate_interval. */
export function increase(sel: string): string {
  return `increase(${sel}[$__rate_interval])`;
}

/**
 * `series`, plus a 0 line (with `label` set to `none`) for every group of `zeros` that has no series
 * at all: an error counter gets its series at its first error, and a panel that says 0 is clearer
 * than one that says "No data" (which also means a broken query).
 */
export function orZero(series: string, zeros: string, on: string[], label: string): string {
  const matching = `on (${on.join(', ')})`;
  return (
    `${series}\nor\n` +
    `label_replace(${zeros}, "${label}", "none", "", "")\n  unless ${matching}\n  ${series}`
  );
}

/**
 * The share of requests to each endpoint answered with `codes`, 0 (not "no data") while none was.
 */
export function requestRatio(codes: string): string {
  const all = `sum by (endpoint) (${rate(exporter('thingspace_fota_api_requests_total'))})`;
  const some = `sum by (endpoint) (${rate(exporter('thingspace_fota_api_requests_total', `code=~"${codes}"`))})`;
  return `(${some} or 0 * ${all}) / ${all}`;
}

// ---- Failure spikes (the recording rules of prometheus/rules/thingspace-fota.rules.yml) ----------

export const UPGRADES_INCREASE = 'thingspace_fota:upgrades_entered:increase1h';
export const UPGRADES_THRESHOLD = 'thingspace_fota:upgrades_entered:spike_threshold1h';
export const DEVICES_INCREASE = 'thingspace_fota:upgrade_devices_entered:increase1h';
export const DEVICES_THRESHOLD = 'thingspace_fota:upgrade_devices_entered:spike_threshold1h';
export const CAMPAIGN_INCREASE = 'thingspace_fota:campaign_devices_failed_entered:increase1h';
export const CAMPAIGN_THRESHOLD =
  'thingspace_fota:campaign_devices_failed_entered:spike_threshold1h';

/**
 * The comparison a spike alert makes, per job, instance, account (and api): the last hour's arrivals
 * at or above the threshold recorded for them. Matching `on` those labels only, so that the
 * threshold may or may not carry the status label.
 */
function overThreshold(increase: string, threshold: string, on: string[]): string {
  return `${increase} >= on (${on.join(', ')}) ${threshold}`;
}

/** Accounts over any spike threshold (v1 upgrades, v1 devices, campaign devices), each once. */
export const spikingAccounts =
  `count(count by (account) (\n` +
  `  (${overThreshold(fleet(UPGRADES_INCREASE, 'status="UpgradeFailed"'), fleet(UPGRADES_THRESHOLD), ['job', 'instance', 'account'])})\n` +
  `  or\n` +
  `  (${overThreshold(fleet(DEVICES_INCREASE, 'status="UpgradeFailed"'), fleet(DEVICES_THRESHOLD), ['job', 'instance', 'account'])})\n` +
  `  or\n` +
  `  (${overThreshold(campaign(CAMPAIGN_INCREASE), campaign(CAMPAIGN_THRESHOLD), ['job', 'instance', 'account', 'api'])})\n` +
  `)) or vector(0)`;

/**
 * The device entries of UpgradeFailed upgrades that are new since an hour ago, by firmware and
 * result reason: per account, the positive change of each firmware × reason since an hour ago, and
 * in full a firmware × reason that did not exist then, if the exporter reported the account's
 * UpgradeFailed report then (a Prometheus or an account younger than an hour shows nothing rather
 * than its whole history as new). A gauge difference is net of the failures that aged out of the
 * six-month report meanwhile; the counters that the alerts read have no firmware or reason labels.
 */
export function failedDevicesNewByFirmwareAndReason(limit: number): string {
  const by = 'job, instance, account, firmware_to, result_reason';
  const devices = fleet('thingspace_fota_upgrade_devices', 'status="UpgradeFailed"');
  const now = `sum by (${by}) (${devices})`;
  const then = `sum by (${by}) (${devices} offset 1h)`;
  const reported = `${fleet('thingspace_fota_collection_success', 'status="UpgradeFailed"')} offset 1h`;
  return (
    `topk(${limit}, sum by (firmware_to, result_reason) (\n` +
    `  (${now} - ${then}) > 0\n` +
    `  or\n` +
    `  (\n    (${now} unless ${then})\n    and on (job, instance, account)\n    ${reported}\n  )\n` +
    `))`
  );
}

// ---- Campaigns ---------------------------------------------------------------------------------

type CampaignDeviceStatus = (typeof CAMPAIGN_DEVICE_STATUSES)[number];

/**
 * Device statuses in which a campaign's device is done: upgraded, failed, rejected, or dropped with
 * its campaign. Accepted and UpgradePending (and statuses ThingSpace may add) are still to come.
 */
export const CONCLUDED_DEVICE_STATUSES: readonly CampaignDeviceStatus[] = [
  'UpgradeSuccess',
  'UpgradeFailed',
  'DeviceRejected',
  'CampaignCancelled',
  'CampaignAborted',
];

/**
 * Failed or rejected device statuses, the known ones (UpgradeFailed, DeviceRejected) and any that
 * ThingSpace adds: the same match as the campaign failure spike rule.
 */
export const FAILED_DEVICE_STATUS_REGEX = '(?i).*(fail|reject).*';

/** The walked campaigns that are not in a final status: what is still rolling out. */
export const activeCampaigns = campaign(
  'thingspace_fota_campaign_info',
  `campaign_status!~"${FINAL_CAMPAIGN_STATUSES.join('|')}"`,
);

const CAMPAIGN_KEY = 'job, instance, account, api, campaign_id';

/** A per-campaign value, with the name, status and firmware of the active campaign it belongs to. */
export function forActiveCampaigns(perCampaign: string): string {
  return (
    `(${perCampaign})\n* on (${CAMPAIGN_KEY}) group_left (campaign_name, campaign_status, firmware_from, firmware_to)\n` +
    activeCampaigns
  );
}

export const campaignTotalDevices = campaign('thingspace_fota_campaign_total_devices');

/** Devices of each walked campaign whose status matches `regex`, 0 where none does. */
export function campaignDevicesIn(regex: string): string {
  return (
    `sum by (${CAMPAIGN_KEY}) (${campaign('thingspace_fota_campaign_device_status', `device_status=~"${regex}"`)})\n` +
    `or\n0 * ${campaignTotalDevices}`
  );
}

/** The share of each walked campaign's devices (totalDevice) whose status matches `regex`. */
export function campaignShareIn(regex: string): string {
  return `(${campaignDevicesIn(regex)})\n/ on (${CAMPAIGN_KEY}) (${campaignTotalDevices} > 0)`;
}
