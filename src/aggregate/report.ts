/**
 * Pure aggregation of one report pass: pages in, counts out. No I/O, no clock.
 * Counts are kept in nested maps (firmware_to → device_status → result_reason → count) so that the
 * per-device work is three map look-ups and no allocation.
 */
import type { ReportPage, Upgrade } from '../thingspace/schema.js';
import { boundLength, LabelCap, NO_REASON, UNKNOWN_FIRMWARE } from './labels.js';

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

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** ThingSpace writes both `2018-04-02` and `2018-04-01T16:03:00.000Z`; a date alone means UTC midnight. */
export function parseStartDate(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  let ms: number;
  if (DATE_ONLY.test(text)) ms = Date.parse(`${text}T00:00:00Z`);
  else if (DATE_TIME.test(text))
    ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`);
  else return undefined;
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

export function emptyCounts(): ReportCounts {
  return new ReportAggregator(1).result();
}

export class ReportAggregator {
  private readonly upgrades = new Map<string, number>();
  private readonly devices: DeviceCounts = new Map();
  private readonly seenIds = new Set<string>();
  private readonly firmwareCap: LabelCap;
  private readonly statusCap: LabelCap;
  private readonly reasonCap: LabelCap;
  private upgradeCount = 0;
  private deviceCount = 0;
  private oldest: number | undefined;

  constructor(maxLabelValues: number) {
    this.firmwareCap = new LabelCap(maxLabelValues);
    this.statusCap = new LabelCap(maxLabelValues);
    this.reasonCap = new LabelCap(maxLabelValues);
  }

  addPage(page: ReportPage): void {
    for (const upgrade of page.upgrades) this.addUpgrade(upgrade);
  }

  private addUpgrade(upgrade: Upgrade): void {
    // Pages may overlap when history moves between two requests: an upgrade counts once per pass.
    if (this.seenIds.has(upgrade.id)) return;
    this.seenIds.add(upgrade.id);
    this.upgradeCount++;

    const firmware = this.firmwareCap.map(boundLength(upgrade.firmwareTo || UNKNOWN_FIRMWARE));
    this.upgrades.set(firmware, (this.upgrades.get(firmware) ?? 0) + 1);

    const start = parseStartDate(upgrade.startDate);
    if (start !== undefined && (this.oldest === undefined || start < this.oldest))
      this.oldest = start;

    const list = upgrade.deviceList;
    if (!list || list.length === 0) return;
    let byStatus = this.devices.get(firmware);
    if (!byStatus) this.devices.set(firmware, (byStatus = new Map()));
    // Devices of one upgrade mostly share a status and reason: count runs of equal ones and touch the maps
    // once per run. Runs are added in order, so label capping still sees values in report order.
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
    this.deviceCount += list.length;
  }

  private addDevices(
    byStatus: Map<string, Map<string, number>>,
    rawStatus: string | undefined,
    rawReason: string | null | undefined,
    count: number,
  ): void {
    const status = this.statusCap.map(boundLength(rawStatus || 'unknown'));
    const reason = this.reasonCap.map(boundLength(rawReason || NO_REASON));
    let byReason = byStatus.get(status);
    if (!byReason) byStatus.set(status, (byReason = new Map()));
    byReason.set(reason, (byReason.get(reason) ?? 0) + count);
  }

  result(): ReportCounts {
    return {
      upgrades: this.upgrades,
      devices: this.devices,
      upgradeCount: this.upgradeCount,
      deviceCount: this.deviceCount,
      oldestStartSeconds: this.oldest,
      folded: {
        firmware_to: this.firmwareCap.folded,
        device_status: this.statusCap.folded,
        result_reason: this.reasonCap.folded,
      },
    };
  }
}
