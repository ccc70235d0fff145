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
  let campaigns = 0;
  let campaignDevices = 0;
  for (const state of snapshot.campaigns) {
    pages += state.pages;
    for (const [stage, outcome] of [
      ['listing', state.listing],
      ['devices', state.devices],
    ] as const) {
      if (!outcome.success)
        fail(`${state.account}/${state.api}/${stage}`, outcome.error, outcome.message);
    }
    if (!state.counts) continue;
    for (const n of state.counts.campaigns.values()) campaigns += n;
    for (const byStatus of state.counts.devices.devices.values())
      for (const byReason of byStatus.values())
        for (const n of byReason.values()) campaignDevices += n;
  }
  return {
    durationSeconds: Number(snapshot.durationSeconds.toFixed(3)),
    reports: snapshot.reports.length,
    pages,
    upgrades,
    devices,
    campaigns,
    campaignDevices,
    failed,
    failures,
  };
}
