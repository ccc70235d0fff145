/**
 * One page of the v2/v3 campaign reports: the campaign history by status
 * (GET /api/fota/{v2|v3}/reports/{account}[/firmware]/campaigns?campaignStatus=S&lastSeenCampaignId=C)
 * and the devices of one campaign
 * (GET /api/fota/{v2|v3}/reports/{account}/campaigns/{campaignId}/devices?lastSeenDeviceId=X):
 * cursor interpretation, paging, and the faults that change what a page looks like.
 */
import { CAMPAIGN_STATUSES, type CampaignApi } from '../campaigns/statuses.js';
import { rfc3339Time } from './campaign-catalog.js';
import {
  DeviceTrack,
  compareCampaigns,
  type Campaign,
  type CampaignDataset,
} from './campaign-dataset.js';
import type { FaultSettings } from './options.js';
import { validateAccount } from './reports.js';

export type CampaignOutcome =
  | { readonly kind: 'page'; readonly body: Buffer }
  | { readonly kind: 'invalid'; readonly message: string };

export interface ListingRequest {
  readonly account: string;
  readonly api: CampaignApi;
  readonly campaignStatus: string | null;
  readonly lastSeenCampaignId: string | null;
}

export interface DevicesRequest {
  readonly account: string;
  readonly api: CampaignApi;
  readonly campaignId: string;
  readonly lastSeenDeviceId: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_POSITION = 1e9;

const invalid = (message: string): CampaignOutcome => ({ kind: 'invalid', message });

/** Where a listing page starts: after the campaign named by the cursor, or at a position. */
function listingStart(
  dataset: CampaignDataset,
  list: readonly Campaign[],
  request: ListingRequest,
): number | null {
  const cursor = request.lastSeenCampaignId;
  if (cursor === null || cursor === '' || cursor === '0') return 0;
  if (/^\d{1,10}$/.test(cursor)) {
    const position = Number(cursor);
    return position > MAX_POSITION ? null : Math.min(position, list.length);
  }
  if (!UUID.test(cursor)) return null;
  const campaign = dataset.find(cursor.toLowerCase());
  if (
    campaign === undefined ||
    campaign.accountName !== request.account ||
    campaign.api !== request.api
  ) {
    return null;
  }
  // A cursor campaign that moved to another status still marks a place in the sorted listing.
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const item = list[middle];
    if (item !== undefined && compareCampaigns(item, campaign) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function windows(campaign: Campaign): string {
  const end = (campaign.windowStartHour + campaign.windowHours) % 24;
  return `[{"startTime":${campaign.windowStartHour},"endTime":${end}}]`;
}

/** One campaign item of a listing, with the API's own words (software for v2, firmware for v3). */
export function serializeCampaign(campaign: Campaign): string {
  const { pkg } = campaign;
  const words =
    campaign.api === 'v2'
      ? {
          name: 'softwareName',
          from: 'softwareFrom',
          to: 'softwareTo',
          kind: `"distributionType":"HTTP"`,
        }
      : {
          name: 'firmwareName',
          from: 'firmwareFrom',
          to: 'firmwareTo',
          kind: `"protocol":"LWM2M"`,
        };
  const parts = [
    `"accountName":${JSON.stringify(campaign.accountName)}`,
    `"id":${JSON.stringify(campaign.id)}`,
    `"campaignName":${JSON.stringify(campaign.name)}`,
    `"${words.name}":${JSON.stringify(pkg.name)}`,
    `"${words.from}":${JSON.stringify(pkg.from)}`,
  ];
  if (pkg.to !== undefined) parts.push(`"${words.to}":${JSON.stringify(pkg.to)}`);
  parts.push(
    words.kind,
    `"make":${JSON.stringify(pkg.make)}`,
    `"model":${JSON.stringify(pkg.model)}`,
  );
  if (campaign.statusKey) parts.push(`"status":${JSON.stringify(campaign.status)}`);
  parts.push(`"startDate":"${campaign.startDate}"`);
  if (campaign.endDate !== undefined) parts.push(`"endDate":"${campaign.endDate}"`);
  if (campaign.api === 'v2') {
    parts.push(
      `"downloadAfterDate":"${campaign.startDate}"`,
      `"downloadTimeWindowList":${windows(campaign)}`,
      `"installAfterDate":"${campaign.startDate}"`,
      `"installTimeWindowList":${windows(campaign)}`,
    );
  } else parts.push(`"campaignTimeWindowList":${windows(campaign)}`);
  return `{${parts.join(',')}}`;
}

export function listingPage(
  dataset: CampaignDataset,
  pageSize: number,
  faults: FaultSettings,
  request: ListingRequest,
): CampaignOutcome {
  const accountProblem = validateAccount(dataset, request.account);
  if (accountProblem !== null) return invalid(accountProblem);
  if (request.campaignStatus === null || request.campaignStatus === '') {
    return invalid('campaignStatus is required');
  }
  const status = CAMPAIGN_STATUSES.find((s) => s === request.campaignStatus);
  if (status === undefined) return invalid('Invalid campaign status');
  const listed = dataset.listing(request.account, request.api, status);
  const hidden = faults.hiddenCampaign;
  const list = hidden === null ? listed : listed.filter((c) => c.id !== hidden);
  const start = listingStart(dataset, list, request);
  if (start === null) return invalid('Invalid lastSeenCampaignId');
  const page = list.slice(start, start + pageSize);
  const next = start + page.length;
  const last = page[page.length - 1];
  let cursor = '';
  if (faults.campaignNumericCursor) cursor = `,"lastSeenCampaignId":${next}`;
  else if (last !== undefined) cursor = `,"lastSeenCampaignId":${JSON.stringify(last.id)}`;
  const body =
    `{"hasMoreData":${String(next < list.length)}${cursor},"campaignList":[` +
    `${page.map(serializeCampaign).join(',')}]}`;
  return { kind: 'page', body: Buffer.from(body) };
}

/**
 * A device page is written straight into bytes: building a thousand device objects as strings and
 * encoding them made the simulator slower than the exporter it is meant to measure. Texts repeat a
 * lot, so their JSON bytes are memoised (bounded); device ids are written digit by digit.
 */
class PageWriter {
  private buffer = Buffer.allocUnsafe(1 << 20);
  private position = 0;

  reset(): void {
    this.position = 0;
  }

  ascii(text: string): void {
    this.room(text.length);
    this.position += this.buffer.write(text, this.position, 'latin1');
  }

  bytes(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buffer.set(bytes, this.position);
    this.position += bytes.length;
  }

  /** A non-negative integer of up to 16 digits. */
  digits(value: number): void {
    this.room(16);
    let start = this.position;
    let rest = value;
    do {
      this.buffer[this.position++] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
    for (let end = this.position - 1; start < end; start += 1, end -= 1) {
      const swap = this.buffer[start] ?? 0;
      this.buffer[start] = this.buffer[end] ?? 0;
      this.buffer[end] = swap;
    }
  }

  /** A copy of what was written: the scratch buffer is reused by the next page. */
  take(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.position));
  }

  private room(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.position + bytes));
    this.buffer.copy(bigger, 0, 0, this.position);
    this.buffer = bigger;
  }
}

const writer = new PageWriter();
const jsonBytes = new Map<string, Buffer>();
const timeBytes = new Map<number, Buffer>();

/** A JSON string literal's bytes, memoised. */
function jsonText(text: string): Buffer {
  let bytes = jsonBytes.get(text);
  if (bytes === undefined) {
    bytes = Buffer.from(JSON.stringify(text));
    if (jsonBytes.size >= 100_000) jsonBytes.clear();
    jsonBytes.set(text, bytes);
  }
  return bytes;
}

/** A quoted RFC 3339 time's bytes, memoised. */
function jsonTime(ms: number): Buffer {
  let bytes = timeBytes.get(ms);
  if (bytes === undefined) {
    bytes = Buffer.from(`"${rfc3339Time(ms)}"`);
    if (timeBytes.size >= 100_000) timeBytes.clear();
    timeBytes.set(ms, bytes);
  }
  return bytes;
}

/** The fixed parts of a device entry, as bytes once. */
const PART = {
  open: Buffer.from('{"deviceId":"'),
  status: Buffer.from('","status":'),
  reason: Buffer.from(',"resultReason":'),
  nullReason: Buffer.from(',"resultReason":null'),
  updated: Buffer.from(',"updatedTime":'),
  recent: Buffer.from(',"recentAttemptTime":'),
  next: Buffer.from(',"nextAttemptTime":'),
  close: Buffer.from('}'),
  comma: Buffer.from(','),
};

function writeDevice(out: PageWriter, track: DeviceTrack, v3: boolean): void {
  out.bytes(PART.open);
  out.digits(track.deviceId);
  out.bytes(PART.status);
  out.bytes(jsonText(track.status));
  const reason = track.reason;
  if (reason === null) out.bytes(PART.nullReason);
  else if (reason !== undefined) {
    out.bytes(PART.reason);
    out.bytes(jsonText(reason));
  }
  if (v3) {
    out.bytes(PART.updated);
    out.bytes(jsonTime(track.updatedMs));
    if (!Number.isNaN(track.recentAttemptMs)) {
      out.bytes(PART.recent);
      out.bytes(jsonTime(track.recentAttemptMs));
    }
    if (!Number.isNaN(track.nextAttemptMs)) {
      out.bytes(PART.next);
      out.bytes(jsonTime(track.nextAttemptMs));
    }
  }
  out.bytes(PART.close);
}

export function devicesPage(
  dataset: CampaignDataset,
  pageSize: number,
  faults: FaultSettings,
  request: DevicesRequest,
): CampaignOutcome {
  const accountProblem = validateAccount(dataset, request.account);
  if (accountProblem !== null) return invalid(accountProblem);
  const campaign = dataset.find(request.campaignId.toLowerCase());
  if (
    campaign === undefined ||
    campaign.accountName !== request.account ||
    campaign.api !== request.api
  ) {
    return invalid('Invalid campaign id');
  }
  const deriver = dataset.deriver(campaign);
  const cursor = request.lastSeenDeviceId;
  let start = 0;
  if (cursor !== null && cursor !== '' && cursor !== '0') {
    const position = /^\d{1,16}$/.test(cursor) ? deriver.positionOf(Number(cursor)) : null;
    if (position === null) return invalid('Invalid lastSeenDeviceId');
    start = position + 1;
  }
  const end = Math.min(start + pageSize, campaign.deviceCount);
  let hasMore = end < campaign.deviceCount;
  let lastId: number | null = end > start ? deriver.deviceIdAt(end - 1) : null;
  if (faults.repeatCursorCampaign !== null && faults.repeatCursorCampaign === campaign.id) {
    // The first page's cursor is real; every later page hands back the one it was given.
    hasMore = true;
    if (start > 0) lastId = Number(cursor);
  }
  const out = writer;
  out.reset();
  out.ascii(`{"totalDevice":${campaign.deviceCount},"hasMoreData":${String(hasMore)}`);
  if (lastId !== null) {
    out.ascii(',"lastSeenDeviceId":');
    if (faults.campaignNumericCursor) out.digits(lastId);
    else {
      out.ascii('"');
      out.digits(lastId);
      out.ascii('"');
    }
  }
  out.ascii(`,"maxPageSize":${pageSize},"deviceList":[`);
  const track = new DeviceTrack();
  const v3 = campaign.api === 'v3';
  for (let i = start; i < end; i += 1) {
    if (i > start) out.bytes(PART.comma);
    deriver.derive(i, track);
    writeDevice(out, track, v3);
  }
  out.ascii(']}');
  return { kind: 'page', body: out.take() };
}
