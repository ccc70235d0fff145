/**
 * What a correct exporter must report for the current state, computed from the simulator's model
 * (never from served bytes, never from exporter code). Faults that garble the served reports do not
 * change the truth: it always describes the real data.
 */
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import { forEachDevice, type Dataset, type Upgrade } from './dataset.js';

/** Fixed by the exporter's label rules. */
export const MAX_LABEL_LENGTH = 120;
export const DEFAULT_MAX_LABEL_VALUES = 50;
export const OTHER = 'other';
export const NONE = 'none';
export const UNKNOWN = 'unknown';

export interface UpgradeSeries {
  readonly firmware_to: string;
  readonly count: number;
}

export interface DeviceSeries {
  readonly firmware_to: string;
  readonly device_status: string;
  readonly result_reason: string;
  readonly count: number;
}

export interface StatusTruth {
  readonly upgrades: UpgradeSeries[];
  readonly devices: DeviceSeries[];
  readonly oldestStartTimestampSeconds: number | null;
}

export interface Truth {
  readonly generation: number;
  readonly maxLabelValues: number;
  readonly accounts: Record<string, Record<UpgradeStatus, StatusTruth>>;
}

/** Cuts a value to its first MAX_LABEL_LENGTH Unicode code points (not UTF-16 units). */
export function truncateLabel(value: string): string {
  if (value.length <= MAX_LABEL_LENGTH) return value;
  const points = Array.from(value);
  return points.length <= MAX_LABEL_LENGTH ? value : points.slice(0, MAX_LABEL_LENGTH).join('');
}

/** Keeps the first N distinct values seen; every later new value becomes 'other'. */
class LabelCap {
  private readonly kept = new Set<string>();
  constructor(private readonly max: number) {}

  apply(value: string): string {
    if (this.kept.has(value)) return value;
    if (this.kept.size < this.max) {
      this.kept.add(value);
      return value;
    }
    return OTHER;
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * An upgrade's device entries reduced to what the label rules need: distinct values in order of
 * first appearance, and counts per (status, reason). Capping over these is the same as capping
 * device by device, because a cap only changes when a value is seen for the first time.
 */
interface DeviceSummary {
  readonly version: number;
  readonly statuses: readonly string[];
  readonly reasons: readonly string[];
  /** [status index, reason index, count] */
  readonly pairs: readonly (readonly [number, number, number])[];
}

/** Summaries live as long as their upgrade and are redone only when it changes. */
const summaries = new WeakMap<Upgrade, DeviceSummary>();

function summarise(upgrade: Upgrade): DeviceSummary {
  const cached = summaries.get(upgrade);
  if (cached !== undefined && cached.version === upgrade.version) return cached;
  const statuses = new Map<string, number>();
  const reasons = new Map<string, number>();
  const counts = new Map<number, number>();
  forEachDevice(upgrade, (_deviceId, status, reason) => {
    const deviceStatus = truncateLabel(status);
    const resultReason = reason === undefined ? NONE : truncateLabel(reason);
    let s = statuses.get(deviceStatus);
    if (s === undefined) statuses.set(deviceStatus, (s = statuses.size));
    let r = reasons.get(resultReason);
    if (r === undefined) reasons.set(resultReason, (r = reasons.size));
    const pair = s * 0x100000 + r;
    counts.set(pair, (counts.get(pair) ?? 0) + 1);
  });
  const summary: DeviceSummary = {
    version: upgrade.version,
    statuses: [...statuses.keys()],
    reasons: [...reasons.keys()],
    pairs: [...counts].map(([pair, count]) => [
      Math.floor(pair / 0x100000),
      pair % 0x100000,
      count,
    ]),
  };
  summaries.set(upgrade, summary);
  return summary;
}

function statusTruth(list: readonly Upgrade[], maxLabelValues: number): StatusTruth {
  const firmwareCap = new LabelCap(maxLabelValues);
  const deviceStatusCap = new LabelCap(maxLabelValues);
  const reasonCap = new LabelCap(maxLabelValues);
  const upgrades = new Map<string, number>();
  const devices = new Map<string, DeviceSeries & { count: number }>();
  const seen = new Set<string>();
  let oldestMs: number | null = null;
  for (const upgrade of list) {
    if (seen.has(upgrade.id)) continue;
    seen.add(upgrade.id);
    if (oldestMs === null || upgrade.startMs < oldestMs) oldestMs = upgrade.startMs;
    const firmwareTo = upgrade.firmware.to;
    const firmware = firmwareCap.apply(
      firmwareTo === undefined || firmwareTo === '' ? UNKNOWN : truncateLabel(firmwareTo),
    );
    upgrades.set(firmware, (upgrades.get(firmware) ?? 0) + 1);
    const summary = summarise(upgrade);
    const statuses = summary.statuses.map((status) => deviceStatusCap.apply(status));
    const reasons = summary.reasons.map((reason) => reasonCap.apply(reason));
    for (const [s, r, count] of summary.pairs) {
      const deviceStatus = statuses[s] ?? OTHER;
      const resultReason = reasons[r] ?? OTHER;
      const key = `${firmware}\u0000${deviceStatus}\u0000${resultReason}`;
      const series = devices.get(key);
      if (series === undefined) {
        devices.set(key, {
          firmware_to: firmware,
          device_status: deviceStatus,
          result_reason: resultReason,
          count,
        });
      } else series.count += count;
    }
  }
  return {
    upgrades: [...upgrades]
      .map(([firmware_to, count]) => ({ firmware_to, count }))
      .sort((a, b) => compareText(a.firmware_to, b.firmware_to)),
    devices: [...devices.values()].sort(
      (a, b) =>
        compareText(a.firmware_to, b.firmware_to) ||
        compareText(a.device_status, b.device_status) ||
        compareText(a.result_reason, b.result_reason),
    ),
    oldestStartTimestampSeconds: oldestMs === null ? null : Math.floor(oldestMs / 1000),
  };
}

/** Truth for every account and all six statuses. Series are sorted by their labels. */
export function computeTruth(dataset: Dataset, maxLabelValues = DEFAULT_MAX_LABEL_VALUES): Truth {
  const accounts: Record<string, Record<UpgradeStatus, StatusTruth>> = {};
  for (const account of dataset.accounts) {
    accounts[account] = Object.fromEntries(
      UPGRADE_STATUSES.map((status) => [
        status,
        statusTruth(dataset.list(account, status), maxLabelValues),
      ]),
    ) as Record<UpgradeStatus, StatusTruth>;
  }
  return { generation: dataset.generation, maxLabelValues, accounts };
}
