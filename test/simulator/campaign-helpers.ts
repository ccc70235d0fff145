/**
 * Test client for the simulator's v2/v3 campaign reports: pages listings and device lists over real
 * sockets, and reads them as an exporter must (SPEC §3–5), with the rules written here from the text,
 * so /_sim/truth can be checked against what was actually served.
 */
import type { CampaignTruth, RunningSimulator } from '../../src/simulator/index.js';
import {
  CAMPAIGN_STATUSES,
  FINAL_CAMPAIGN_STATUSES,
  type CampaignApi,
} from '../../src/campaigns/statuses.js';
import {
  EntryCapper,
  http,
  plainValue,
  reasonValue,
  type HttpAnswer,
  type Session,
} from './helpers.js';

export type ListingPath = 'sdk' | 'docs';

export interface ServedCampaign {
  id: string;
  accountName: string;
  campaignName: string;
  softwareName?: string;
  softwareFrom?: string;
  softwareTo?: string;
  distributionType?: string;
  firmwareName?: string;
  firmwareFrom?: string;
  firmwareTo?: string;
  protocol?: string;
  make: string;
  model: string;
  status?: string;
  startDate: string;
  endDate?: string;
}

export interface ListingPage {
  hasMoreData: boolean;
  lastSeenCampaignId?: string | number;
  campaignList: ServedCampaign[];
}

export interface ServedCampaignDevice {
  deviceId: string;
  status: string;
  resultReason?: string | null;
  updatedTime?: string;
  recentAttemptTime?: string;
  nextAttemptTime?: string;
}

export interface DevicePage {
  totalDevice: number;
  hasMoreData: boolean;
  lastSeenDeviceId?: string | number;
  maxPageSize: number;
  deviceList: ServedCampaignDevice[];
}

export function listingUrl(
  base: string,
  api: CampaignApi,
  account: string,
  status: string | null,
  cursor?: string | number,
  path: ListingPath = 'sdk',
): string {
  const below = api === 'v3' && path === 'sdk' ? 'firmware/campaigns' : 'campaigns';
  const query = new URLSearchParams();
  if (status !== null) query.set('campaignStatus', status);
  if (cursor !== undefined) query.set('lastSeenCampaignId', String(cursor));
  return `${base}/api/fota/${api}/reports/${encodeURIComponent(account)}/${below}?${query}`;
}

export function devicesUrl(
  base: string,
  api: CampaignApi,
  account: string,
  campaignId: string,
  cursor?: string | number,
): string {
  const query = cursor === undefined ? '' : `?lastSeenDeviceId=${encodeURIComponent(cursor)}`;
  return `${base}/api/fota/${api}/reports/${encodeURIComponent(account)}/campaigns/${campaignId}/devices${query}`;
}

export function authed(url: string, auth: Session): Promise<HttpAnswer> {
  return http(url, {
    headers: { authorization: `Bearer ${auth.bearer}`, 'vz-m2m-token': auth.session },
  });
}

async function page<T>(url: string, auth: Session): Promise<T> {
  const answer = await authed(url, auth);
  if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${answer.text}`);
  return JSON.parse(answer.text) as T;
}

/** One campaign-status listing to its end; fails on a missing or repeated cursor. */
export async function walkListing(
  base: string,
  auth: Session,
  api: CampaignApi,
  account: string,
  status: string,
  path: ListingPath = 'sdk',
): Promise<{ campaigns: ServedCampaign[]; pages: number }> {
  const campaigns: ServedCampaign[] = [];
  const seen = new Set<string>();
  let cursor: string | number | undefined;
  for (let pages = 1; pages <= 10_000; pages += 1) {
    const answer = await page<ListingPage>(
      listingUrl(base, api, account, status, cursor, path),
      auth,
    );
    campaigns.push(...answer.campaignList);
    if (!answer.hasMoreData) return { campaigns, pages };
    const next = answer.lastSeenCampaignId;
    if (next === undefined || seen.has(String(next))) throw new Error(`cursor repeated: ${next}`);
    seen.add(String(next));
    cursor = next;
  }
  throw new Error('too many pages');
}

/** One campaign's device list to its end; fails on a missing or repeated cursor. */
export async function walkDevices(
  base: string,
  auth: Session,
  api: CampaignApi,
  account: string,
  campaignId: string,
): Promise<{ devices: ServedCampaignDevice[]; pages: number; totalDevice: number }> {
  const devices: ServedCampaignDevice[] = [];
  const seen = new Set<string>();
  let cursor: string | number | undefined;
  let totalDevice = -1;
  for (let pages = 1; pages <= 100_000; pages += 1) {
    const answer = await page<DevicePage>(devicesUrl(base, api, account, campaignId, cursor), auth);
    if (pages === 1) totalDevice = answer.totalDevice;
    devices.push(...answer.deviceList);
    if (!answer.hasMoreData) return { devices, pages, totalDevice };
    const next = answer.lastSeenDeviceId;
    if (next === undefined || seen.has(String(next))) throw new Error(`cursor repeated: ${next}`);
    seen.add(String(next));
    cursor = next;
  }
  throw new Error('too many pages');
}

/** startDate/endDate as an instant: date-only is UTC midnight, or for an end the next one. */
export function dateMs(text: string | undefined, end: boolean): number | null {
  if (text === undefined) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    return Date.parse(`${text}T00:00:00Z`) + (end ? 86_400_000 : 0);
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

export interface ReadParams {
  readonly maxLabelValues: number;
  readonly campaignLookbackMs: number;
  readonly maxCampaigns: number;
  readonly now: number;
  readonly path?: ListingPath;
}

export interface ReadCampaigns {
  readonly truth: CampaignTruth;
  /** Every campaign listed, with the status a reader gives it. */
  readonly listed: { campaign: ServedCampaign; status: string }[];
  /** The served devices of every walked campaign, by id. */
  readonly devices: Map<string, ServedCampaignDevice[]>;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const startOf = (c: ServedCampaign): number => dateMs(c.startDate, false) ?? -Infinity;

/** Everything an exporter reads for one account and API, labelled as SPEC §3–5 say. */
export async function readCampaigns(
  sim: RunningSimulator,
  auth: Session,
  account: string,
  api: CampaignApi,
  params: ReadParams,
): Promise<ReadCampaigns> {
  const max = params.maxLabelValues;
  const listed: { campaign: ServedCampaign; status: string }[] = [];
  const seen = new Set<string>();
  for (const listing of CAMPAIGN_STATUSES) {
    const { campaigns } = await walkListing(sim.url, auth, api, account, listing, params.path);
    for (const campaign of campaigns) {
      if (seen.has(campaign.id)) continue;
      seen.add(campaign.id);
      const status =
        typeof campaign.status === 'string' && campaign.status !== '' ? campaign.status : listing;
      listed.push({ campaign, status });
    }
  }
  const known = new Set<string>(CAMPAIGN_STATUSES);
  const unknown = new Map<string, { count: number; last: number }>();
  listed.forEach(({ status }, at) => {
    if (known.has(status)) return;
    const value = plainValue(status, 'unknown');
    const tally = unknown.get(value) ?? { count: 0, last: -1 };
    unknown.set(value, { count: tally.count + 1, last: at });
  });
  const keptUnknown = new Set(
    [...unknown]
      .sort(([, a], [, b]) => b.count - a.count || b.last - a.last)
      .slice(0, max)
      .map(([value]) => value),
  );
  const statusLabel = (status: string): string =>
    known.has(status)
      ? status
      : keptUnknown.has(plainValue(status, 'unknown'))
        ? plainValue(status, 'unknown')
        : 'other';
  const counts = new Map<string, number>(CAMPAIGN_STATUSES.map((s) => [s, 0]));
  for (const { status } of listed) {
    const label = statusLabel(status);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }

  const final = new Set<string>(FINAL_CAMPAIGN_STATUSES);
  const qualified = listed.filter(({ campaign, status }) => {
    if (!final.has(status)) return true;
    const end = dateMs(campaign.endDate, true);
    return end === null || end >= params.now - params.campaignLookbackMs;
  });
  const newestFirst = [...qualified].sort(
    (a, b) => startOf(b.campaign) - startOf(a.campaign) || byText(b.campaign.id, a.campaign.id),
  );
  const walked = newestFirst
    .slice(0, params.maxCampaigns)
    .sort(
      (a, b) => startOf(a.campaign) - startOf(b.campaign) || byText(a.campaign.id, b.campaign.id),
    );

  const statuses = new EntryCapper(max);
  const reasons = new EntryCapper(max);
  const devices = new Map<string, ServedCampaignDevice[]>();
  const rows: {
    campaign: ServedCampaign;
    status: string;
    total: number;
    entries: [number, number][];
  }[] = [];
  let position = 0;
  for (const { campaign, status } of walked) {
    const served = await walkDevices(sim.url, auth, api, account, campaign.id);
    devices.set(campaign.id, served.devices);
    statuses.newWalk();
    reasons.newWalk();
    const entries = served.devices.map((device): [number, number] => {
      const at = position++;
      return [
        statuses.add(plainValue(device.status, 'unknown'), 1, at),
        reasons.add(reasonValue(device.resultReason), 1, at),
      ];
    });
    rows.push({ campaign, status: statusLabel(status), total: served.totalDevice, entries });
  }
  const series = new Map<string, number>();
  const walkedTruth = rows.map(({ campaign, status, total, entries }) => {
    const byStatus = new Map<string, number>();
    for (const [s, r] of entries) {
      const key = JSON.stringify([status, statuses.label(s), reasons.label(r)]);
      series.set(key, (series.get(key) ?? 0) + 1);
      byStatus.set(statuses.label(s), (byStatus.get(statuses.label(s)) ?? 0) + 1);
    }
    const end = dateMs(campaign.endDate, true);
    return {
      campaign_id: campaign.id,
      campaign_name: plainValue(campaign.campaignName, 'unknown'),
      firmware_from: plainValue(campaign.firmwareFrom ?? campaign.softwareFrom, 'unknown'),
      firmware_to: plainValue(campaign.firmwareTo ?? campaign.softwareTo, 'unknown'),
      campaign_status: status,
      total_devices: total,
      end_timestamp_seconds: end === null ? null : Math.floor(end / 1000),
      device_status: [...byStatus]
        .map(([device_status, count]) => ({ device_status, count }))
        .sort((a, b) => byText(a.device_status, b.device_status)),
    };
  });
  const truth: CampaignTruth = {
    campaigns: [...counts]
      .map(([campaign_status, count]) => ({ campaign_status, count }))
      .sort((a, b) => byText(a.campaign_status, b.campaign_status)),
    devices: [...series]
      .map(([key, count]) => {
        const [campaign_status = '', device_status = '', result_reason = ''] = JSON.parse(
          key,
        ) as string[];
        return { campaign_status, device_status, result_reason, count };
      })
      .sort(
        (a, b) =>
          byText(a.campaign_status, b.campaign_status) ||
          byText(a.device_status, b.device_status) ||
          byText(a.result_reason, b.result_reason),
      ),
    walked: walkedTruth,
    folded: qualified.length - walked.length,
  };
  return { truth, listed, devices };
}
