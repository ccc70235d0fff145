/**
 * The vocabulary of the simulated world: firmware images and what devices report for each upgrade
 * status. Values are chosen to exercise the exporter's label handling: quotes, backslashes, a
 * newline, non-Latin scripts, an astral character right at the 120-code-point cut, and reasons with
 * embedded counts and dates (unbounded cardinality).
 */
import type { UpgradeStatus } from '../upgrades/statuses.js';

export interface Firmware {
  readonly name: string;
  /** undefined: the upgrade is served without a firmwareTo key at all. */
  readonly to: string | undefined;
  readonly weight: number;
}

const LONG_FIRMWARE =
  'VerizonFirmwareVersion-07-' + 'extended-build-with-a-very-long-descriptive-suffix-'.repeat(3);

export const FIRMWARES: readonly Firmware[] = [
  { name: 'FOTA_Verizon_Model-A_01To02_HF', to: 'VerizonFirmwareVersion-02', weight: 30 },
  { name: 'FOTA_Verizon_Model-A_02To03_HF', to: 'VerizonFirmwareVersion-03', weight: 25 },
  { name: 'FOTA_Verizon_Model-B_05To06', to: 'ModelB-FW-06.1.2', weight: 20 },
  { name: 'FOTA_Acme_Tracker_T2_4.2.0', to: 'T2-4.2.0', weight: 12 },
  { name: 'FOTA_Acme_Meter_M9_R17', to: 'M9-R17 "stable"', weight: 8 },
  { name: 'FOTA_Legacy_Image_NoTarget', to: '', weight: 2 },
  { name: 'FOTA_Legacy_Image_Untagged', to: undefined, weight: 1 },
  { name: 'FOTA_Verizon_Model-A_06To07_EXT', to: LONG_FIRMWARE, weight: 2 },
];

export const DEVICE_ACCEPTED = 'Device Accepted';
export const REQUEST_PENDING = 'Request Pending';
export const UPGRADE_SUCCESS = 'UpgradeSuccess';
export const UPGRADE_FAILED = 'UpgradeFailed';

/**
 * 119 code points, then an astral character: cutting at 120 UTF-16 units instead of 120 code
 * points would split the surrogate pair.
 */
const LONG_REASON =
  'Upgrade deferred: battery below threshold, installation postponed until the device reports external power again'.padEnd(
    119,
    '.',
  ) + '🔌 (see device log for the full charging history and the next retry window)';

/** Fixed failure texts, weighted; the templated ones below add unbounded cardinality. */
const FAILURE_REASONS: readonly { readonly text: string; readonly weight: number }[] = [
  { text: 'Device not found', weight: 25 },
  { text: 'Invalid device IMEI', weight: 20 },
  { text: 'Firmware "VerizonFirmwareVersion-02" rejected: signature mismatch', weight: 6 },
  { text: 'Image path C:\\FOTA\\images\\model-a.bin unreadable', weight: 5 },
  { text: 'Download interrupted\nretry scheduled by the device', weight: 3 },
  { text: 'Gerät nicht erreichbar – Zeitüberschreitung', weight: 4 },
  { text: '设备无响应', weight: 3 },
  { text: '🔋 Battery below 15%, upgrade postponed', weight: 3 },
  { text: LONG_REASON, weight: 2 },
];
const FAILURE_WEIGHT = FAILURE_REASONS.reduce((sum, r) => sum + r.weight, 0);
/**
 * Share of failed devices whose reason is templated with a count and a date, and share whose reason
 * names the device: raw texts without bound that the reason normalisation folds into one value each.
 */
const TEMPLATED_FAILURE_SHARE = 0.25;
const UNREACHABLE_FAILURE_SHARE = 0.07;
const UNREACHABLE_IMEI_BASE = 990_000_862_000_000;

const DAY_MS = 86_400_000;
const TEMPLATE_EPOCH_MS = Date.UTC(2024, 0, 1);
const TEMPLATE_DAYS = 400;
/** Formatting a Date per device is slow at millions of devices; the days are few. */
const TEMPLATE_DATES = Array.from({ length: TEMPLATE_DAYS }, (_, day) =>
  new Date(TEMPLATE_EPOCH_MS + day * DAY_MS).toISOString().slice(0, 10),
);

/** A failure reason from a 32-bit hash; templated reasons embed a count and a date, or an IMEI. */
export function failureReason(hash: number): string {
  const share = (hash >>> 8) / 16777216;
  if (share < TEMPLATED_FAILURE_SHARE) {
    const attempts = 1 + (hash % 9);
    const day = TEMPLATE_DATES[(hash >>> 4) % TEMPLATE_DAYS] ?? '';
    return `Upgrade failed after ${attempts} attempts, last attempt ${day}`;
  }
  const fixedFrom = TEMPLATED_FAILURE_SHARE + UNREACHABLE_FAILURE_SHARE;
  if (share < fixedFrom)
    return `Device ${UNREACHABLE_IMEI_BASE + (hash % 1_000_000)} not reachable`;
  let point = ((share - fixedFrom) / (1 - fixedFrom)) * FAILURE_WEIGHT;
  for (const reason of FAILURE_REASONS) {
    point -= reason.weight;
    if (point < 0) return reason.text;
  }
  return FAILURE_REASONS[0]?.text ?? 'Device not found';
}

/** How a device entry reads; reason null means the entry has no resultReason key. */
export interface DeviceOutcome {
  readonly status: string;
  readonly reason: string | null | 'failure';
  readonly weight: number;
}

/**
 * Device entries for each upgrade status, consistent with where the upgrade is in its lifecycle.
 * 'failure' draws from the failure reasons above.
 */
export const DEVICE_OUTCOMES: Readonly<Record<UpgradeStatus, readonly DeviceOutcome[]>> = {
  RequestPending: [
    { status: REQUEST_PENDING, reason: null, weight: 90 },
    { status: DEVICE_ACCEPTED, reason: 'success', weight: 10 },
  ],
  Queued: [
    { status: DEVICE_ACCEPTED, reason: 'success', weight: 85 },
    { status: REQUEST_PENDING, reason: null, weight: 15 },
  ],
  RequestFailed: [
    { status: UPGRADE_FAILED, reason: 'Invalid device IMEI', weight: 40 },
    { status: UPGRADE_FAILED, reason: 'Device not found', weight: 40 },
    { status: UPGRADE_FAILED, reason: 'failure', weight: 20 },
  ],
  InProgress: [
    { status: DEVICE_ACCEPTED, reason: 'success', weight: 45 },
    { status: UPGRADE_SUCCESS, reason: 'Upgrade completed successfully', weight: 40 },
    { status: UPGRADE_FAILED, reason: 'failure', weight: 10 },
    { status: REQUEST_PENDING, reason: null, weight: 5 },
  ],
  Finished: [
    { status: UPGRADE_SUCCESS, reason: 'Upgrade completed successfully', weight: 80 },
    { status: UPGRADE_SUCCESS, reason: 'success', weight: 8 },
    { status: UPGRADE_FAILED, reason: 'failure', weight: 12 },
  ],
  UpgradeFailed: [
    { status: UPGRADE_FAILED, reason: 'failure', weight: 80 },
    { status: UPGRADE_SUCCESS, reason: 'Upgrade completed successfully', weight: 15 },
    { status: DEVICE_ACCEPTED, reason: 'success', weight: 5 },
  ],
};

/** Devices of an upgrade hit by the failure-spike scenario: all failed. */
export const SPIKE_OUTCOMES: readonly DeviceOutcome[] = [
  { status: UPGRADE_FAILED, reason: 'failure', weight: 1 },
];
