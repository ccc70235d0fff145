/**
 * Pure aggregation of one FOTA v1 report pass: pages in, counts out. No I/O, no clock.
 * Counts are kept in nested maps (firmware_to → device_status → result_reason → count) so that the
 * per-device work is a few map look-ups and no allocation; label capping (src/labels/top.ts) picks the kept
 * values once the pass is complete and folds the rest into "other".
 */
import { boundLength, UNKNOWN } from '../labels/bound.js';
import { parseDate } from '../thingspace/dates.js';
import { ReasonLabels } from '../labels/normalise.js';
import { keptOr, TopValues } from '../labels/top.js';
import type { ReportPage, Upgrade } from './schema.js';

export const CAPPED_LABELS = ['firmware_to', 'device_status', 'result_reason'] as const;
export type CappedLabel = (typeof CAPPED_LABELS)[number];

export type DeviceCounts = Map<string, Map<string, Map<string, number>>>;

export interface ReportCounts {
  /** Upgrades by firmware_to. */
  readonly upgrades: ReadonlyMap<string, number>;
  /** Device entries by firmware_to, device_status, result_reason. */
  readonly devices: DeviceCounts;
  readonly upgradeCount: number;
  readonly deviceCount: number;
  /** Unix seconds of the oldest upgrade's start date; undefined when no upgrade had a readable one. */
  readonly oldestStartSeconds: number | undefined;
  /** Distinct values folded into "other", by label. */
  readonly folded: Readonly<Record<CappedLabel, number>>;
}

/** The start date of an upgrade, in Unix seconds (see src/thingspace/dates.ts). */
export const parseStartDate = parseDate;

export function emptyCounts(): ReportCounts {
  return new ReportAggregator(1).result();
}

function add<K>(map: Map<K, number>, key: K, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

export class ReportAggregator {
  private readonly upgrades = new Map<string, number>();
  private readonly devices: DeviceCounts = new Map();
  private readonly seenIds = new Set<string>();
  private readonly firmwareTop: TopValues;
  private readonly statusTop: TopValues;
  private readonly reasonTop: TopValues;
  private upgradeCount = 0;
  private deviceCount = 0;
  private oldest: number | undefined;

  /** `reasons`: the label of each raw reason, memoised; one shared memo serves every pass. */
  constructor(
    maxLabelValues: number,
    private readonly reasons = new ReasonLabels(),
  ) {
    this.firmwareTop = new TopValues(maxLabelValues);
    this.statusTop = new TopValues(maxLabelValues);
    this.reasonTop = new TopValues(maxLabelValues);
  }

  addPage(page: ReportPage): void {
    for (const upgrade of page.upgrades) this.addUpgrade(upgrade);
  }

  private addUpgrade(upgrade: Upgrade): void {
    // Pages may overlap when history moves between two requests: an upgrade counts once per pass.
    if (this.seenIds.has(upgrade.id)) return;
    this.seenIds.add(upgrade.id);
    const index = this.upgradeCount++;

    const list = upgrade.deviceList;
    const devices = list ? list.length : 0;
    const firmware = this.firmwareTop.add(
      boundLength(upgrade.firmwareTo || UNKNOWN),
      devices,
      index,
    );
    add(this.upgrades, firmware, 1);

    const start = parseStartDate(upgrade.startDate);
    if (start !== undefined && (this.oldest === undefined || start < this.oldest))
      this.oldest = start;

    if (!list || devices === 0) return;
    let byStatus = this.devices.get(firmware);
    if (!byStatus) this.devices.set(firmware, (byStatus = new Map()));
    // Devices of one upgrade mostly share a status and reason: count runs of equal ones and touch the maps
    // once per run, at the position of the run's last entry (the recency that breaks ties).
    let runStatus = list[0]!.status;
    let runReason = list[0]!.resultReason;
    let run = 0;
    for (const device of list) {
      if (device.status === runStatus && device.resultReason === runReason) {
        run++;
        continue;
      }
      this.addDevices(byStatus, runStatus, runReason, run);
      runStatus = device.status;
      runReason = device.resultReason;
      run = 1;
    }
    this.addDevices(byStatus, runStatus, runReason, run);
  }

  private addDevices(
    byStatus: Map<string, Map<string, number>>,
    rawStatus: string | undefined,
    rawReason: string | null | undefined,
    count: number,
  ): void {
    this.deviceCount += count;
    const last = this.deviceCount - 1;
    const status = this.statusTop.add(boundLength(rawStatus || UNKNOWN), count, last);
    const reason = this.reasonTop.add(this.reasons.of(rawReason), count, last);
    let byReason = byStatus.get(status);
    if (!byReason) byStatus.set(status, (byReason = new Map()));
    add(byReason, reason, count);
  }

  /** The pass's counts, with every value outside the kept ones folded into "other". */
  result(): ReportCounts {
    const firmwares = this.firmwareTop.kept();
    const statuses = this.statusTop.kept();
    const reasons = this.reasonTop.kept();
    const upgrades = new Map<string, number>();
    for (const [firmware, count] of this.upgrades)
      add(upgrades, keptOr(firmwares, firmware), count);
    const devices: DeviceCounts = new Map();
    for (const [firmware, byStatus] of this.devices) {
      const f = keptOr(firmwares, firmware);
      let outStatus = devices.get(f);
      if (!outStatus) devices.set(f, (outStatus = new Map()));
      for (const [status, byReason] of byStatus) {
        const s = keptOr(statuses, status);
        let outReason = outStatus.get(s);
        if (!outReason) outStatus.set(s, (outReason = new Map()));
        for (const [reason, count] of byReason) add(outReason, keptOr(reasons, reason), count);
      }
    }
    return {
      upgrades,
      devices,
      upgradeCount: this.upgradeCount,
      deviceCount: this.deviceCount,
      oldestStartSeconds: this.oldest,
      folded: {
        firmware_to: this.firmwareTop.folded,
        device_status: this.statusTop.folded,
        result_reason: this.reasonTop.folded,
      },
    };
  }
}
