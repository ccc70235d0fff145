/**
 * A snapshot is the complete, immutable result of one collection: what /metrics serves until the next
 * collection replaces it in one step.
 */
import type { ReportCounts } from '../aggregate/report.js';
import type { ErrorKind } from '../thingspace/errors.js';
import type { UpgradeStatus } from '../upgrades/statuses.js';

export interface ReportState {
  readonly account: string;
  readonly status: UpgradeStatus;
  /** Whether the last pass read the whole report. */
  readonly success: boolean;
  readonly error?: ErrorKind;
  readonly lastSuccessSeconds?: number;
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
  /** Every configured account × status, in configuration and lifecycle order. */
  readonly reports: readonly ReportState[];
  /** Wall time from the start of the collection to the end of the account's last report. */
  readonly accountDurations: ReadonlyMap<string, number>;
}

export function reportKey(account: string, status: UpgradeStatus): string {
  return `${account}\u0000${status}`;
}
