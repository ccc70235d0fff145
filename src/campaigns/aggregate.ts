/**
 * Pure aggregation of the campaign APIs, per account × API: listings in, campaign counts and the walk set
 * out; each campaign's device pages in, its counts out; the walked campaigns' counts merged into the
 * series. No I/O, no clock (the caller passes `now`).
 *
 * Campaigns are walked concurrently but merged in campaign order (start date, then id), so label capping
 * does not depend on which answer came first (README, "Label values").
 */
import { boundLength, OTHER, UNKNOWN } from '../labels/bound.js';
import { ReasonLabels } from '../labels/normalise.js';
import { keptOr, topOf, TopValues, type Tally } from '../labels/top.js';
import { parseDate, parseEndDate } from '../thingspace/dates.js';
import type { Campaign, CampaignDevicePage } from './schema.js';
import { CAMPAIGN_STATUSES, isFinalCampaignStatus } from './statuses.js';

/** A campaign as listed: its status resolved (the item's own, else the status it was listed under). */
export interface ListedCampaign extends Campaign {
  readonly status: string;
}

export function listed(campaign: Campaign, requestedStatus: string): ListedCampaign {
  return { ...campaign, status: boundLength(campaign.status || requestedStatus) };
}

/** Campaign order: start date ascending (missing first), then id. Merging and capping follow it. */
export function compareCampaigns(a: Campaign, b: Campaign): number {
  const sa = parseDate(a.startDate) ?? -Infinity;
  const sb = parseDate(b.startDate) ?? -Infinity;
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Campaign statuses as label values: a known status as it is; an unknown one kept as it comes, at most
 * `maxLabelValues` distinct unknown ones (most campaigns, ties to the later in listing order), the rest
 * "other". Every series with a campaign_status label uses what this returns.
 */
export function labelCampaignStatuses(
  campaigns: readonly ListedCampaign[],
  maxLabelValues: number,
): ListedCampaign[] {
  // No working-memory bound here (unlike device statuses and reasons): the listing is held whole anyway, and
  // a bound of 10 × N would let the order of the listing, not the counts, decide which status is kept.
  const unknown = new TopValues(maxLabelValues, Infinity);
  campaigns.forEach((c, index) => {
    if (!KNOWN.has(c.status)) unknown.add(c.status, 1, index);
  });
  const kept = unknown.kept();
  return campaigns.map((c) =>
    KNOWN.has(c.status) || kept.has(c.status) ? c : { ...c, status: OTHER },
  );
}

/** Campaigns by (labelled) status: every known status whose listing was read present, 0 when none. */
export function countCampaigns(
  campaigns: readonly ListedCampaign[],
  /** The known statuses whose listing was read (the others have no series rather than a false 0). */
  listedStatuses: readonly string[] = CAMPAIGN_STATUSES,
): Map<string, number> {
  const counts = new Map<string, number>(listedStatuses.map((s) => [s, 0]));
  for (const c of campaigns) add(counts, c.status, 1);
  return counts;
}

const KNOWN: ReadonlySet<string> = new Set(CAMPAIGN_STATUSES);

export interface WalkSet {
  /** The campaigns whose devices are read, in campaign order. */
  readonly walk: readonly ListedCampaign[];
  /** Campaigns that qualified but were left out by --collector.max-campaigns. */
  readonly folded: number;
}

/**
 * Which campaigns' devices are read: every campaign not in a final status (an unknown status is not final),
 * and final ones whose end date is within the lookback (or unreadable). Beyond `maxCampaigns` the newest are
 * kept (start date, then id, descending).
 */
export function selectWalks(
  campaigns: readonly ListedCampaign[],
  nowMs: number,
  lookbackMs: number,
  maxCampaigns: number,
): WalkSet {
  const cutoff = (nowMs - lookbackMs) / 1000;
  const qualified = campaigns.filter((c) => {
    if (!isFinalCampaignStatus(c.status)) return true;
    const end = parseEndDate(c.endDate);
    return end === undefined || end >= cutoff;
  });
  const newestFirst = [...qualified].sort((a, b) => compareCampaigns(b, a));
  const walk = newestFirst.slice(0, maxCampaigns).sort(compareCampaigns);
  return { walk, folded: qualified.length - walk.length };
}

/** One campaign's devices: counts by device status and reason, and what label capping needs to merge them. */
export interface CampaignWalkCounts {
  readonly totalDevice: number | undefined;
  readonly deviceCount: number;
  /** device_status → result_reason → count; values beyond this campaign's tracking bound are "other". */
  readonly devices: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly statuses: ReadonlyMap<string, Tally>;
  readonly reasons: ReadonlyMap<string, Tally>;
  /** Distinct values folded within this campaign (met after its tracking bound). */
  readonly untracked: { readonly device_status: number; readonly result_reason: number };
}

export class CampaignDeviceAggregator {
  private readonly devices = new Map<string, Map<string, number>>();
  private readonly statusTop: TopValues;
  private readonly reasonTop: TopValues;
  private readonly reasons: ReasonLabels;
  private totalDevice: number | undefined;
  private first = true;
  private count = 0;

  constructor(maxLabelValues: number, reasons = new ReasonLabels()) {
    this.statusTop = new TopValues(maxLabelValues);
    this.reasonTop = new TopValues(maxLabelValues);
    this.reasons = reasons;
  }

  addPage(page: CampaignDevicePage): void {
    if (this.first) {
      this.totalDevice = page.totalDevice;
      this.first = false;
    }
    for (const device of page.devices) {
      const position = this.count++;
      const status = this.statusTop.add(boundLength(device.status || UNKNOWN), 1, position);
      const reason = this.reasonTop.add(this.reasons.of(device.resultReason), 1, position);
      let byReason = this.devices.get(status);
      if (!byReason) this.devices.set(status, (byReason = new Map()));
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
  }

  result(): CampaignWalkCounts {
    return {
      totalDevice: this.totalDevice,
      deviceCount: this.count,
      devices: this.devices,
      statuses: this.statusTop.entries(),
      reasons: this.reasonTop.entries(),
      untracked: {
        device_status: this.statusTop.untrackedCount,
        result_reason: this.reasonTop.untrackedCount,
      },
    };
  }
}

export interface WalkedCampaign {
  readonly campaign: ListedCampaign;
  readonly totalDevice: number | undefined;
  /** Unix seconds of the end date (a date alone: the end of that day). */
  readonly endSeconds: number | undefined;
  /** Devices by (kept) device status. */
  readonly deviceStatus: ReadonlyMap<string, number>;
}

export interface CampaignDeviceCounts {
  /** campaign_status → device_status → result_reason → device entries, over the walked campaigns. */
  readonly devices: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, number>>>;
  readonly walked: readonly WalkedCampaign[];
  readonly folded: { readonly device_status: number; readonly result_reason: number };
}

function add<K>(map: Map<K, number>, key: K, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

function mergeTallies(
  into: Map<string, Tally>,
  from: ReadonlyMap<string, Tally>,
  offset: number,
): void {
  for (const [value, tally] of from) {
    const t = into.get(value);
    if (t) {
      t.weight += tally.weight;
      t.last = offset + tally.last;
    } else into.set(value, { weight: tally.weight, last: offset + tally.last });
  }
}

/**
 * Merges the walked campaigns' counts (each with its campaign, in any order) into the series: the kept device
 * statuses and reasons are the `maxLabelValues` with the most device entries over all campaigns, ties to the
 * latest in campaign order.
 */
export function mergeWalks(
  walks: readonly { readonly campaign: ListedCampaign; readonly counts: CampaignWalkCounts }[],
  maxLabelValues: number,
): CampaignDeviceCounts {
  const ordered = [...walks].sort((a, b) => compareCampaigns(a.campaign, b.campaign));
  const statusTallies = new Map<string, Tally>();
  const reasonTallies = new Map<string, Tally>();
  let offset = 0;
  let untrackedStatuses = 0;
  let untrackedReasons = 0;
  for (const { counts } of ordered) {
    mergeTallies(statusTallies, counts.statuses, offset);
    mergeTallies(reasonTallies, counts.reasons, offset);
    offset += counts.deviceCount;
    untrackedStatuses += counts.untracked.device_status;
    untrackedReasons += counts.untracked.result_reason;
  }
  const statuses = topOf(statusTallies, maxLabelValues);
  const reasons = topOf(reasonTallies, maxLabelValues);
  const devices = new Map<string, Map<string, Map<string, number>>>();
  const walked: WalkedCampaign[] = [];
  for (const { campaign, counts } of ordered) {
    let byStatus = devices.get(campaign.status);
    if (!byStatus) devices.set(campaign.status, (byStatus = new Map()));
    const deviceStatus = new Map<string, number>();
    for (const [status, byReason] of counts.devices) {
      const s = keptOr(statuses, status);
      let out = byStatus.get(s);
      if (!out) byStatus.set(s, (out = new Map()));
      for (const [reason, count] of byReason) {
        add(out, keptOr(reasons, reason), count);
        add(deviceStatus, s, count);
      }
    }
    walked.push({
      campaign,
      totalDevice: counts.totalDevice,
      endSeconds: parseEndDate(campaign.endDate),
      deviceStatus,
    });
  }
  return {
    devices,
    walked,
    folded: {
      device_status: Math.max(0, statusTallies.size - statuses.size) + untrackedStatuses,
      result_reason: Math.max(0, reasonTallies.size - reasons.size) + untrackedReasons,
    },
  };
}
