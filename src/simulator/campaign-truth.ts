/**
 * What a correct exporter must report for the v2/v3 campaigns (SPEC §3–5, §7), computed from the
 * simulator's model: the listing as a reader sees it, the walk set (non-final campaigns, final ones
 * within the lookback, the newest max-campaigns of those), the walked devices under the top-N rule,
 * and the devices' transitions since a generation.
 */
import {
  CAMPAIGN_APIS,
  CAMPAIGN_DEVICE_STATUSES,
  CAMPAIGN_STATUSES,
  isFinalCampaignStatus,
  type CampaignApi,
} from '../campaigns/statuses.js';
import {
  DeviceTrack,
  isKnownCampaignStatus,
  type Campaign,
  type CampaignDataset,
} from './campaign-dataset.js';
import {
  OTHER,
  SummaryBuilder,
  TopLabels,
  UNKNOWN,
  addCount,
  compareText,
  labelOr,
  offerSummary,
  reasonLabel,
  truncateLabel,
  type DeviceSummary,
} from './labels.js';
import type { ResolvedTruthQuery } from './truth.js';

export interface CampaignStatusSeries {
  readonly campaign_status: string;
  readonly count: number;
}

export interface CampaignDeviceSeries {
  readonly campaign_status: string;
  readonly device_status: string;
  readonly result_reason: string;
  readonly count: number;
}

export interface DeviceStatusSeries {
  readonly device_status: string;
  readonly count: number;
}

export interface WalkedCampaign {
  readonly campaign_id: string;
  readonly campaign_name: string;
  readonly firmware_from: string;
  readonly firmware_to: string;
  readonly campaign_status: string;
  readonly total_devices: number;
  readonly end_timestamp_seconds: number | null;
  readonly device_status: DeviceStatusSeries[];
}

export interface CampaignTruth {
  /** Every known status (0 when none), then the unknown ones met, capped. */
  readonly campaigns: CampaignStatusSeries[];
  readonly devices: CampaignDeviceSeries[];
  /** In processing order: startDate ascending, then id. */
  readonly walked: WalkedCampaign[];
  readonly folded: number;
  /** Only when the truth was asked with enteredSince. */
  readonly enteredDevices?: DeviceStatusSeries[];
  /** Only with enteredSince and enteredDetails: each transition enteredDevices counts, as served. */
  readonly enteredDeviceList?: EnteredCampaignDevice[];
}

export interface EnteredCampaignDevice {
  readonly campaignId: string;
  /** null: unnamed (served as ""). */
  readonly campaignName: string | null;
  readonly firmwareFrom: string | null;
  readonly firmwareTo: string | null;
  readonly deviceId: string;
  readonly status: string;
  readonly resultReason: string | null;
}

/** Summaries live as long as their campaign and are redone only when it changes. */
const summaries = new WeakMap<Campaign, DeviceSummary>();
const entered = new WeakMap<
  Campaign,
  { version: number; since: number; counts: Map<string, number> }
>();

function summarise(dataset: CampaignDataset, campaign: Campaign): DeviceSummary {
  const cached = summaries.get(campaign);
  if (cached !== undefined && cached.version === campaign.version) return cached;
  const builder = new SummaryBuilder();
  const deriver = dataset.deriver(campaign);
  const track = new DeviceTrack();
  for (let i = 0; i < campaign.deviceCount; i += 1) {
    deriver.derive(i, track);
    builder.add(labelOr(track.status, UNKNOWN), reasonLabel(track.reason));
  }
  const summary = builder.build(campaign.version);
  summaries.set(campaign, summary);
  return summary;
}

/** Device statuses entered after generation `since`, by (cut) status. */
function enteredSince(
  dataset: CampaignDataset,
  campaign: Campaign,
  since: number,
): Map<string, number> {
  const cached = entered.get(campaign);
  if (cached !== undefined && cached.version === campaign.version && cached.since === since) {
    return cached.counts;
  }
  const counts = new Map<string, number>();
  // Nothing in a campaign changed after its last change: skip the devices.
  const lastChange = Math.max(
    campaign.createdGeneration,
    campaign.tickGenerations[campaign.tickGenerations.length - 1] ?? 0,
    campaign.stop?.generation ?? 0,
    campaign.spike?.generation ?? 0,
  );
  if (lastChange > since) {
    const deriver = dataset.deriver(campaign);
    const track = new DeviceTrack();
    for (let i = 0; i < campaign.deviceCount; i += 1) {
      deriver.derive(i, track);
      for (let step = 0; step < track.steps; step += 1) {
        if ((track.generations[step] ?? 0) > since) {
          addCount(counts, labelOr(track.statuses[step], UNKNOWN), 1);
        }
      }
    }
  }
  entered.set(campaign, { version: campaign.version, since, counts });
  return counts;
}

function compareStartThenId(a: Campaign, b: Campaign): number {
  return a.startMs - b.startMs || compareText(a.id, b.id);
}

/** The statuses of a listing as a reader labels them: known ones as they are, unknown ones capped. */
function statusLabels(
  listed: readonly { campaign: Campaign; status: string }[],
  max: number,
): Map<string, string> {
  const unknown = new Map<string, { count: number; last: number }>();
  listed.forEach(({ status }, position) => {
    if (isKnownCampaignStatus(status)) return;
    const value = truncateLabel(status);
    const tally = unknown.get(value) ?? { count: 0, last: 0 };
    tally.count += 1;
    tally.last = position;
    unknown.set(value, tally);
  });
  const kept = new Set(
    [...unknown]
      .sort(([, a], [, b]) => b.count - a.count || b.last - a.last)
      .slice(0, max)
      .map(([value]) => value),
  );
  const labels = new Map<string, string>();
  for (const { status } of listed) {
    if (isKnownCampaignStatus(status)) labels.set(status, status);
    else labels.set(status, kept.has(truncateLabel(status)) ? truncateLabel(status) : OTHER);
  }
  return labels;
}

function apiTruth(
  dataset: CampaignDataset,
  account: string,
  api: CampaignApi,
  query: ResolvedTruthQuery,
): CampaignTruth {
  const max = query.maxLabelValues;
  // The listing as a reader sees it: one listing per known status, in that order.
  const listed: { campaign: Campaign; status: string }[] = [];
  const seen = new Set<string>();
  for (const listing of CAMPAIGN_STATUSES) {
    for (const campaign of dataset.listing(account, api, listing)) {
      if (seen.has(campaign.id)) continue;
      seen.add(campaign.id);
      listed.push({ campaign, status: campaign.statusKey ? campaign.status : listing });
    }
  }
  const labels = statusLabels(listed, max);
  const counts = new Map<string, number>(CAMPAIGN_STATUSES.map((status) => [status, 0]));
  for (const { status } of listed) addCount(counts, labels.get(status) ?? OTHER, 1);

  const since = query.now - query.campaignLookbackMs;
  const qualified = listed.filter(
    ({ campaign, status }) =>
      !isFinalCampaignStatus(status) || campaign.endDate === undefined || campaign.endMs >= since,
  );
  const walkedSet = [...qualified]
    .sort((a, b) => compareStartThenId(b.campaign, a.campaign))
    .slice(0, query.maxCampaigns)
    .sort((a, b) => compareStartThenId(a.campaign, b.campaign));

  const deviceLabels = new TopLabels(max);
  const reasonLabels = new TopLabels(max);
  let position = 0;
  const walks = walkedSet.map(({ campaign, status }) => {
    const summary = summarise(dataset, campaign);
    deviceLabels.beginWalk();
    reasonLabels.beginWalk();
    const tracked = offerSummary(summary, position, deviceLabels, reasonLabels);
    position += campaign.deviceCount;
    return { campaign, status: labels.get(status) ?? OTHER, summary, tracked };
  });

  const devices = new Map<string, number>();
  const walked: WalkedCampaign[] = walks.map(({ campaign, status, summary, tracked }) => {
    const statuses = summary.statuses.map((run, i) =>
      deviceLabels.label(run.value, tracked.statuses[i] ?? false),
    );
    const reasons = summary.reasons.map((run, i) =>
      reasonLabels.label(run.value, tracked.reasons[i] ?? false),
    );
    const byStatus = new Map<string, number>();
    for (const [s, r, count] of summary.pairs) {
      addCount(devices, JSON.stringify([status, statuses[s], reasons[r]]), count);
      addCount(byStatus, statuses[s] ?? OTHER, count);
    }
    return {
      campaign_id: labelOr(campaign.id, UNKNOWN),
      campaign_name: labelOr(campaign.name, UNKNOWN),
      firmware_from: labelOr(campaign.pkg.from, UNKNOWN),
      firmware_to: labelOr(campaign.pkg.to, UNKNOWN),
      campaign_status: status,
      total_devices: campaign.deviceCount,
      end_timestamp_seconds:
        campaign.endDate === undefined ? null : Math.floor(campaign.endMs / 1000),
      device_status: [...byStatus]
        .map(([device_status, count]) => ({ device_status, count }))
        .sort((a, b) => compareText(a.device_status, b.device_status)),
    };
  });

  const truth: CampaignTruth = {
    campaigns: [...counts]
      .map(([campaign_status, count]) => ({ campaign_status, count }))
      .sort((a, b) => compareText(a.campaign_status, b.campaign_status)),
    devices: [...devices]
      .map(([key, count]) => {
        const [campaign_status, device_status, result_reason] = JSON.parse(key) as [
          string,
          string,
          string,
        ];
        return { campaign_status, device_status, result_reason, count };
      })
      .sort(
        (a, b) =>
          compareText(a.campaign_status, b.campaign_status) ||
          compareText(a.device_status, b.device_status) ||
          compareText(a.result_reason, b.result_reason),
      ),
    walked,
    folded: qualified.length - walkedSet.length,
  };
  if (query.enteredSince === null) return truth;
  const withCounts = {
    ...truth,
    enteredDevices: enteredDevices(dataset, walkedSet, query.enteredSince, max),
  };
  if (!query.enteredDetails) return withCounts;
  return {
    ...withCounts,
    enteredDeviceList: enteredDeviceList(dataset, walkedSet, query.enteredSince),
  };
}

/** The transitions enteredDevices counts, one by one, with what a device page and a listing serve. */
function enteredDeviceList(
  dataset: CampaignDataset,
  walked: readonly { campaign: Campaign }[],
  since: number,
): EnteredCampaignDevice[] {
  const out: EnteredCampaignDevice[] = [];
  for (const { campaign } of walked) {
    const deriver = dataset.deriver(campaign);
    const track = new DeviceTrack();
    for (let i = 0; i < campaign.deviceCount; i += 1) {
      deriver.derive(i, track);
      for (let step = 0; step < track.steps; step += 1) {
        if ((track.generations[step] ?? 0) <= since) continue;
        out.push({
          campaignId: campaign.id,
          campaignName: campaign.name || null,
          firmwareFrom: campaign.pkg.from || null,
          firmwareTo: campaign.pkg.to || null,
          deviceId: String(track.deviceId),
          status: track.statuses[step] ?? '',
          resultReason: track.reasons[step] ?? null,
        });
      }
    }
  }
  return out;
}

/**
 * Entered devices by status: the known statuses always (0 when none), other values as they come,
 * at most N of them (in the order first met), the rest under `other`.
 */
function enteredDevices(
  dataset: CampaignDataset,
  walked: readonly { campaign: Campaign }[],
  since: number,
  max: number,
): DeviceStatusSeries[] {
  const known = new Set<string>(CAMPAIGN_DEVICE_STATUSES);
  const totals = new Map<string, number>(CAMPAIGN_DEVICE_STATUSES.map((status) => [status, 0]));
  const unknown = new Set<string>();
  for (const { campaign } of walked) {
    for (const [status, count] of enteredSince(dataset, campaign, since)) {
      if (!known.has(status) && !unknown.has(status)) {
        if (unknown.size >= max) {
          addCount(totals, OTHER, count);
          continue;
        }
        unknown.add(status);
      }
      addCount(totals, status, count);
    }
  }
  return [...totals]
    .map(([device_status, count]) => ({ device_status, count }))
    .sort((a, b) => compareText(a.device_status, b.device_status));
}

export function computeCampaignTruth(
  dataset: CampaignDataset,
  query: ResolvedTruthQuery,
): Record<string, Record<CampaignApi, CampaignTruth>> {
  return Object.fromEntries(
    dataset.accounts.map((account) => [
      account,
      Object.fromEntries(
        CAMPAIGN_APIS.map((api) => [api, apiTruth(dataset, account, api, query)]),
      ) as Record<CampaignApi, CampaignTruth>,
    ]),
  );
}
