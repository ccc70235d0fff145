/**
 * A snapshot is the complete, immutable result of one collection: what /metrics serves until the next
 * collection replaces it in one step.
 */
import type { ErrorKind } from '../thingspace/errors.js';
import type { ReportCounts } from '../upgrades/aggregate.js';
import type { UpgradeStatus } from '../upgrades/statuses.js';

/** How the last attempt at one piece of work (a report, a campaign listing, a device walk) went. */
export interface Outcome {
  /** Whether the last pass read everything. */
  readonly success: boolean;
  readonly error?: ErrorKind;
  /** The failure's message, for the log line that groups failures. */
  readonly message?: string;
  /** Unix seconds of the last complete pass, if any since start-up. */
  readonly lastSuccessSeconds?: number;
}

export interface ReportState extends Outcome {
  readonly account: string;
  readonly status: UpgradeStatus;
  /**
   * The values served: this pass's on success, the last good pass's while it is younger than max-stale,
   * otherwise undefined (the series disappear).
   */
  readonly counts?: ReportCounts;
  /** Pages read by the pass that produced `counts`. */
  readonly pages?: number;
}

export interface Snapshot {
  readonly startedAtSeconds: number;
  readonly durationSeconds: number;
  /** Every configured account × status (when v1 is read), in configuration and lifecycle order. */
  readonly reports: readonly ReportState[];
  /** Wall time from the start of the collection to the end of the account's last report or campaign. */
  readonly accountDurations: ReadonlyMap<string, number>;
}

export function reportKey(account: string, status: string): string {
  return `${account}\u0000${status}`;
}

/** Last good values stay served for max-stale after the last success, then go. */
export function isFresh(
  lastSuccessSeconds: number | undefined,
  nowMs: number,
  maxStaleMs: number,
): boolean {
  return lastSuccessSeconds !== undefined && nowMs - lastSuccessSeconds * 1000 <= maxStaleMs;
}

/** Whether every report (and, once read, every campaign listing and walk) of the collection succeeded. */
export function allSucceeded(snapshot: Snapshot): boolean {
  return snapshot.reports.every((r) => r.success);
}
