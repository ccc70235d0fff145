/**
 * A snapshot is the complete, immutable result of one collection: what /metrics serves until the next
 * collection replaces it in one step.
 */
import type { CampaignApiState } from '../campaigns/collect.js';
import type { ReportState } from '../upgrades/collect.js';

export type { CampaignApiState } from '../campaigns/collect.js';
export type { ReportState } from '../upgrades/collect.js';

export interface Snapshot {
  readonly startedAtSeconds: number;
  readonly durationSeconds: number;
  /** Every configured account × status (when v1 is read), in configuration and lifecycle order. */
  readonly reports: readonly ReportState[];
  /** Every configured account × campaign API (v2, v3 when read), in configuration order. */
  readonly campaigns: readonly CampaignApiState[];
  /** Wall time from the start of the collection to the end of the account's last report or campaign. */
  readonly accountDurations: ReadonlyMap<string, number>;
}

export function reportKey(account: string, status: string): string {
  return `${account}\u0000${status}`;
}

/** Whether every report, campaign listing and device walk of the collection succeeded (--once's exit code). */
export function allSucceeded(snapshot: Snapshot): boolean {
  return (
    snapshot.reports.every((r) => r.success) &&
    snapshot.campaigns.every((c) => c.listing.success && c.devices.success)
  );
}
