/**
 * What a correct exporter must report for the current state, computed from the simulator's model
 * (never from served bytes, never from exporter code). Faults that garble the served reports do not
 * change the truth: it always describes the real data. This file covers the v1 upgrade reports and
 * puts the whole truth together; campaign-truth.ts covers v2/v3.
 */
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import { computeCampaignTruth, type CampaignTruth } from './campaign-truth.js';
import type { CampaignDataset } from './campaign-dataset.js';
import type { CampaignApi } from '../campaigns/statuses.js';
import {
  forEachDevice,
  forEachDeviceAs,
  type Dataset,
  type EnteredCount,
  type Entry,
  type Upgrade,
} from './dataset.js';
import {
  DEFAULT_MAX_LABEL_VALUES,
  SummaryBuilder,
  TopLabels,
  UNKNOWN,
  addCount,
  compareText,
  labelOr,
  offerSummary,
  reasonLabel,
  type DeviceSummary,
} from './labels.js';

export { DEFAULT_MAX_LABEL_VALUES } from './labels.js';
export const DEFAULT_CAMPAIGN_LOOKBACK_MS = 7 * 86_400_000;
export const DEFAULT_MAX_CAMPAIGNS = 100;

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
  /** Only when the truth was asked with enteredSince. */
  readonly entered?: EnteredCount;
  /** Only when the truth was asked with enteredSince and enteredDetails: what `entered` counts. */
  readonly enteredUpgrades?: EnteredUpgrade[];
}

/** One upgrade's entry into a status, with the device entries it had when it entered, as served. */
export interface EnteredUpgrade {
  readonly id: string;
  /** As served; null when served without firmwareTo or with an empty one. */
  readonly firmwareTo: string | null;
  readonly devices: { deviceId: string; status: string; resultReason: string | null }[];
}

export interface Truth {
  readonly generation: number;
  readonly maxLabelValues: number;
  readonly campaignLookbackMs: number;
  readonly maxCampaigns: number;
  /** The instant the campaign walk set was decided for, in ms since the epoch. */
  readonly now: number;
  readonly enteredSince: number | null;
  readonly accounts: Record<string, Record<UpgradeStatus, StatusTruth>>;
  readonly campaigns: Record<string, Record<CampaignApi, CampaignTruth>>;
}

/** What the truth is asked for; every field is optional and defaults as the exporter's settings do. */
export interface TruthQuery {
  readonly maxLabelValues?: number;
  readonly campaignLookbackMs?: number;
  readonly maxCampaigns?: number;
  /** ms since the epoch; defaults to the simulated clock. */
  readonly now?: number;
  /** A generation: adds what entered each status after it. */
  readonly enteredSince?: number;
  /** With enteredSince: also which upgrades and devices entered (ids, device ids, raw reasons, firmware). */
  readonly enteredDetails?: boolean;
}

export type ResolvedTruthQuery = Required<Omit<TruthQuery, 'enteredSince'>> & {
  readonly enteredSince: number | null;
};

export function enteredUpgrades(entries: readonly Entry[]): EnteredUpgrade[] {
  return entries.map(({ upgrade, status, profile }) => {
    const devices: EnteredUpgrade['devices'] = [];
    forEachDeviceAs(upgrade, status, profile, (deviceId, deviceStatus, reason) =>
      devices.push({ deviceId, status: deviceStatus, resultReason: reason ?? null }),
    );
    return { id: upgrade.id, firmwareTo: upgrade.firmware.to || null, devices };
  });
}

export function resolveTruthQuery(query: TruthQuery, clockMs: number): ResolvedTruthQuery {
  return {
    maxLabelValues: query.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES,
    campaignLookbackMs: query.campaignLookbackMs ?? DEFAULT_CAMPAIGN_LOOKBACK_MS,
    maxCampaigns: query.maxCampaigns ?? DEFAULT_MAX_CAMPAIGNS,
    now: query.now ?? clockMs,
    enteredSince: query.enteredSince ?? null,
    enteredDetails: query.enteredSince !== undefined && query.enteredDetails === true,
  };
}

/** Summaries live as long as their upgrade and are redone only when it changes. */
const summaries = new WeakMap<Upgrade, DeviceSummary>();

function summarise(upgrade: Upgrade): DeviceSummary {
  const cached = summaries.get(upgrade);
  if (cached !== undefined && cached.version === upgrade.version) return cached;
  const builder = new SummaryBuilder();
  forEachDevice(upgrade, (_deviceId, status, reason) => {
    builder.add(labelOr(status, UNKNOWN), reasonLabel(reason));
  });
  const summary = builder.build(upgrade.version);
  summaries.set(upgrade, summary);
  return summary;
}

function statusTruth(
  list: readonly Upgrade[],
  maxLabelValues: number,
  entered: EnteredCount | null,
  details: readonly Entry[] | null,
): StatusTruth {
  const firmwareLabels = new TopLabels(maxLabelValues);
  const statusLabels = new TopLabels(maxLabelValues);
  const reasonLabels = new TopLabels(maxLabelValues);
  // A report pass is one walk for every label.
  const seen = new Set<string>();
  const walked: {
    firmware: string;
    firmwareTracked: boolean;
    summary: DeviceSummary;
    tracked: { statuses: boolean[]; reasons: boolean[] };
  }[] = [];
  let oldestMs: number | null = null;
  let position = 0;
  for (const upgrade of list) {
    if (seen.has(upgrade.id)) continue;
    seen.add(upgrade.id);
    if (oldestMs === null || upgrade.startMs < oldestMs) oldestMs = upgrade.startMs;
    const firmware = labelOr(upgrade.firmware.to, UNKNOWN);
    const firmwareTracked = firmwareLabels.offer(firmware, upgrade.deviceCount, walked.length);
    const summary = summarise(upgrade);
    const tracked = offerSummary(summary, position, statusLabels, reasonLabels);
    walked.push({ firmware, firmwareTracked, summary, tracked });
    position += upgrade.deviceCount;
  }
  const upgrades = new Map<string, number>();
  const devices = new Map<string, number>();
  for (const { firmware, firmwareTracked, summary, tracked } of walked) {
    const firmwareTo = firmwareLabels.label(firmware, firmwareTracked);
    addCount(upgrades, firmwareTo, 1);
    const statuses = summary.statuses.map((run, i) =>
      statusLabels.label(run.value, tracked.statuses[i] ?? false),
    );
    const reasons = summary.reasons.map((run, i) =>
      reasonLabels.label(run.value, tracked.reasons[i] ?? false),
    );
    for (const [s, r, count] of summary.pairs) {
      addCount(devices, JSON.stringify([firmwareTo, statuses[s], reasons[r]]), count);
    }
  }
  const truth: StatusTruth = {
    upgrades: [...upgrades]
      .map(([firmware_to, count]) => ({ firmware_to, count }))
      .sort((a, b) => compareText(a.firmware_to, b.firmware_to)),
    devices: [...devices]
      .map(([key, count]) => {
        const [firmware_to, device_status, result_reason] = JSON.parse(key) as [
          string,
          string,
          string,
        ];
        return { firmware_to, device_status, result_reason, count };
      })
      .sort(
        (a, b) =>
          compareText(a.firmware_to, b.firmware_to) ||
          compareText(a.device_status, b.device_status) ||
          compareText(a.result_reason, b.result_reason),
      ),
    oldestStartTimestampSeconds: oldestMs === null ? null : Math.floor(oldestMs / 1000),
  };
  if (entered === null) return truth;
  return details === null
    ? { ...truth, entered }
    : { ...truth, entered, enteredUpgrades: enteredUpgrades(details) };
}

/** Truth for every account: all six statuses, and both campaign APIs. Series are sorted by labels. */
export function computeTruth(
  dataset: Dataset,
  campaigns: CampaignDataset,
  query: ResolvedTruthQuery,
): Truth {
  const accounts: Record<string, Record<UpgradeStatus, StatusTruth>> = {};
  for (const account of dataset.accounts) {
    accounts[account] = Object.fromEntries(
      UPGRADE_STATUSES.map((status) => [
        status,
        statusTruth(
          dataset.list(account, status),
          query.maxLabelValues,
          query.enteredSince === null
            ? null
            : dataset.enteredSince(account, status, query.enteredSince),
          query.enteredSince === null || !query.enteredDetails
            ? null
            : dataset.entriesSince(account, status, query.enteredSince),
        ),
      ]),
    ) as Record<UpgradeStatus, StatusTruth>;
  }
  return {
    generation: dataset.generation,
    ...query,
    accounts,
    campaigns: computeCampaignTruth(campaigns, query),
  };
}
