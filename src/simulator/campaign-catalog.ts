/**
 * What v2 (HTTP) and v3 (LWM2M) campaigns and their devices look like: packages, makes and models,
 * names, and the device statuses and reasons of ../shared/api/CAMPAIGNS-NOTES.md. The texts are chosen
 * to exercise the label rules: reasons with embedded times, counts and IMEIs that normalise into one
 * value, more distinct reasons than a small cap, quotes, a reason longer than 120 code points, and
 * missing, null and empty reasons.
 */
import type { CampaignApi } from '../campaigns/statuses.js';

export interface CampaignPackage {
  readonly make: string;
  readonly model: string;
  /** softwareName (v2) or firmwareName (v3). */
  readonly name: string;
  readonly from: string;
  /** '' is served as an empty string, undefined without the key: both read as unknown. */
  readonly to: string | undefined;
}

const LONG_FIRMWARE =
  'GM02S-LR8.2.0.3-61036-' + 'long-term-support-build-for-utility-metering-fleets-'.repeat(3);

export const PACKAGES: Readonly<Record<CampaignApi, readonly CampaignPackage[]>> = {
  v2: [
    {
      make: 'Sierra Wireless',
      model: 'RV55',
      name: 'RV55_ALEOS_4.16.0',
      from: '4.15.1',
      to: '4.16.0',
    },
    {
      make: 'Cradlepoint',
      model: 'IBR900',
      name: 'IBR900-7.23.40',
      from: '7.22.60',
      to: '7.23.40',
    },
    { make: 'Inseego', model: 'Skyus 160', name: 'SKYUS160_2.4.1', from: '2.3.7', to: '2.4.1' },
    { make: 'Digi', model: 'IX20', name: 'IX20-24.3.28.88', from: '23.12.1.56', to: '24.3.28.88' },
    {
      make: 'Franklin Wireless',
      model: 'T10',
      name: 'T10_HTTP_HOTFIX',
      from: '1.0.3',
      to: undefined,
    },
  ],
  v3: [
    {
      make: 'Quectel',
      model: 'BG96',
      name: 'BG96MAR02A08M1G_01.019',
      from: 'BG96MAR02A08M1G_01.018.01.018',
      to: 'BG96MAR02A08M1G_01.019.01.019',
    },
    {
      make: 'Telit',
      model: 'ME910C1',
      name: 'ME910C1_30.00.408',
      from: 'M0B.600007',
      to: 'M0B.600008',
    },
    {
      make: 'u-blox',
      model: 'SARA-R410M',
      name: 'SARA-R410M-02B-04',
      from: 'L0.0.00.00.05.08',
      to: 'L0.0.00.00.05.12',
    },
    {
      make: 'Nordic',
      model: 'nRF9160',
      name: 'mfw_nrf9160_1.3.5',
      from: '1.3.4',
      to: '1.3.5 "LTS"',
    },
    {
      make: 'Sequans',
      model: 'Monarch 2',
      name: 'GM02S_LTS',
      from: 'LR8.1.1.0-60277',
      to: LONG_FIRMWARE,
    },
    { make: 'Murata', model: 'Type 1SC', name: 'T1SC_FW_NOTARGET', from: '4.3.2', to: '' },
  ],
};

/** Campaign names; `{model}`, `{make}`, `{to}` and `{n}` are filled in. '' is an unnamed campaign. */
export const CAMPAIGN_NAMES: readonly string[] = [
  '{model} {to} rollout',
  'Wave {n} – {make} {model}',
  '"Night window" pilot {model}',
  'Q{q} security patch {model}',
  '{make} {model} staged rollout for the north-east metering fleet, phase {n}, ' +
    'devices enrolled through the partner portal after the spring audit',
  '',
];

/** Reasons DOCS lists for DeviceRejected (both APIs). */
export const REJECTED_REASONS: readonly string[] = [
  'Device not found.',
  'Device scheduled for firmware upgrade previously.',
  'Device not eligible for service (not FOTA capable)',
  'Invalid device IMEI.',
  'Current device software version does not meet software prerequisites.',
  'Device make/model does not meet software prerequisites.',
  'Device is not in active state or is not connected.',
  'Internal Error.',
];

/** v2 failure reasons from DOCS, weighted; "Uknown" is Verizon's spelling. */
export const V2_FAILURE_REASONS: readonly { readonly text: string; readonly weight: number }[] = [
  { text: 'RovaClientDidNotReportStatus', weight: 30 },
  { text: 'RovaClientDownloadFailed', weight: 25 },
  { text: 'RovaClientDownloadNotInstalledYet', weight: 15 },
  { text: 'RovaClientDownloadedInstallFailed', weight: 15 },
  { text: 'Uknown device error.', weight: 8 },
  { text: 'Other.', weight: 7 },
];

const LONG_REASON =
  'Firmware update deferred: the device reported low signal quality during the download window'.padEnd(
    119,
    '.',
  ) + '📶 and will retry in its next LWM2M registration cycle after the network recovers';

/**
 * Texts built from a number, memoised: the same few thousand texts come back for every device, and
 * handing back the same string object keeps every later Map lookup on it cheap (its hash is kept).
 */
function memo(limit: number, make: (key: number) => string): (key: number) => string {
  const texts = new Map<number, string>();
  return (key) => {
    let text = texts.get(key);
    if (text === undefined) {
      text = make(key);
      if (texts.size >= limit) texts.clear();
      texts.set(key, text);
    }
    return text;
  };
}

const retries = memo(100, (n) => `Firmware download failed after ${n} retries`);
const unreachable = memo(100_000, (n) => `Device ${990_000_862_000_000 + n} not reachable`);
const battery = memo(100, (n) => `🔋 Battery below ${n}%, upgrade postponed`);

/**
 * v3 failure reasons. Functions take a 32-bit hash: the templated ones embed counts, percentages
 * and IMEIs that normalise away.
 */
export const V3_FAILURE_REASONS: readonly {
  readonly text: (hash: number) => string;
  readonly weight: number;
}[] = [
  { text: (h) => retries(1 + (h % 5)), weight: 25 },
  { text: (h) => unreachable(h % 1_000_000), weight: 15 },
  { text: () => 'Integrity check failure for new firmware package', weight: 15 },
  { text: () => 'Firmware "LWM2M-FW-2.1" rejected: signature mismatch', weight: 10 },
  { text: (h) => battery(5 + (h % 15)), weight: 10 },
  { text: () => 'Out of storage for the firmware image', weight: 8 },
  { text: () => 'Unsupported package type', weight: 5 },
  { text: () => LONG_REASON, weight: 4 },
];

/** Reasons of the failure-spike scenario's devices. */
export const SPIKE_REASONS: Readonly<Record<CampaignApi, string>> = {
  v2: 'RovaClientDownloadedInstallFailed',
  v3: 'Integrity check failure for new firmware package',
};

export const V2_SUCCESS_REASON = 'DownloadInstallSucceeded';
export const V2_ABORTED_REASON = 'Campaign aborted by the system';

/**
 * Statuses a campaign the exporter has never heard of can have (the open set): the lifecycle page's
 * "CampaignQueued" spelling, then invented ones.
 */
export const UNKNOWN_CAMPAIGN_STATUSES: readonly string[] = [
  'CampaignPaused',
  'CampaignQueued',
  'CampaignSuspended',
  'CampaignOnHold',
];
/** The device status of pending devices in such campaigns: an unknown device status. */
export const UNKNOWN_DEVICE_STATUS = 'UpgradeDeferred';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** "06 Oct 22 18:05 UTC", as v3 reasons write times. */
export const writtenTime = memo(100_000, (ms) => {
  const d = new Date(ms);
  return (
    `${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()] ?? ''} ${two(d.getUTCFullYear() % 100)} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`
  );
});

/** RFC 3339 without milliseconds, as the v3 device times are shown. */
export const rfc3339Time = memo(100_000, (ms) => `${new Date(ms).toISOString().slice(0, 19)}Z`);

export const pendingReason = memo(
  100_000,
  (ms) => `Upgrade pending, the device upgrade is estimated to be scheduled for ${writtenTime(ms)}`,
);

export const v3SuccessReason = memo(100_000, (ms) => `Upgrade successful at ${rfc3339Time(ms)}`);

const v3CancelledReason = memo(100_000, (ms) => `Campaign cancelled on ${writtenTime(ms)}`);

export function cancelledReason(api: CampaignApi, atMs: number): string {
  return api === 'v2' ? '' : v3CancelledReason(atMs);
}

export const deferredReason = memo(100_000, (ms) => {
  const d = new Date(ms);
  return `Deferred by device policy until ${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`;
});
