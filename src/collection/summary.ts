/**
 * The one log line a collection ends with. Failures are grouped by kind of error (count, the first few
 * places, the first message), so that an outage over 500 accounts is one readable line, not 3,000 warnings.
 */
import type { Snapshot } from './snapshot.js';

/** Places named per kind of error; the count says how many more there were. */
export const FIRST_PLACES = 5;

export interface FailureGroup {
  count: number;
  first: string[];
  message: string;
}

export function summarise(snapshot: Snapshot) {
  let pages = 0;
  let upgrades = 0;
  let devices = 0;
  let failed = 0;
  const failures: Record<string, FailureGroup> = {};
  const fail = (place: string, kind: string | undefined, message: string | undefined) => {
    failed++;
    const group = (failures[kind ?? 'internal'] ??= {
      count: 0,
      first: [],
      message: message ?? '',
    });
    group.count++;
    if (group.first.length < FIRST_PLACES) group.first.push(place);
  };
  for (const report of snapshot.reports) {
    if (report.success && report.counts) {
      pages += report.pages ?? 0;
      upgrades += report.counts.upgradeCount;
      devices += report.counts.deviceCount;
    } else {
      fail(`${report.account}/${report.status}`, report.error, report.message);
    }
  }
  return {
    durationSeconds: Number(snapshot.durationSeconds.toFixed(3)),
    reports: snapshot.reports.length,
    pages,
    upgrades,
    devices,
    failed,
    failures,
  };
}
