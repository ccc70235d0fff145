/**
 * Validation of the FOTA v2/v3 campaign answers (../shared/api/CAMPAIGNS-NOTES.md), before anything trusts
 * them: the campaign history by status, and the device list of one campaign. v2 speaks of software where v3
 * speaks of firmware; both become `firmwareFrom`/`firmwareTo` here. Checks are typeof tests on the parsed
 * objects, done in place without copying the device lists (a page holds up to 1,000 devices).
 */
import { ThingSpaceError } from '../thingspace/errors.js';
import { cursorText } from '../thingspace/paging.js';

export interface Campaign {
  readonly id: string;
  readonly name?: string;
  /** The item's own status when it has one; see CampaignListingPage. */
  readonly status?: string;
  readonly startDate?: string;
  readonly endDate?: string;
  readonly firmwareFrom?: string;
  readonly firmwareTo?: string;
}

export interface CampaignListingPage {
  readonly hasMore: boolean;
  readonly cursor: string | undefined;
  readonly campaigns: readonly Campaign[];
}

export interface CampaignDevice {
  readonly deviceId?: string | number;
  readonly status?: string;
  readonly resultReason?: string | null;
}

export interface CampaignDevicePage {
  readonly hasMore: boolean;
  readonly cursor: string | undefined;
  readonly totalDevice: number | undefined;
  readonly devices: readonly CampaignDevice[];
}

function shapeError(what: string, at: string): ThingSpaceError {
  return new ThingSpaceError('parse', `${what} has the wrong shape: ${at}`);
}

function record(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw shapeError(what, 'not an object');
  return body as Record<string, unknown>;
}

function hasMore(r: Record<string, unknown>, what: string): boolean {
  // A last page may leave the flag out; anything else than a boolean is a changed API.
  if (r.hasMoreData === undefined || r.hasMoreData === null) return false;
  if (typeof r.hasMoreData !== 'boolean') throw shapeError(what, 'hasMoreData is not a boolean');
  return r.hasMoreData;
}

function list(value: unknown, what: string, name: string): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw shapeError(what, `${name} is not an array`);
  return value;
}

/** A text field: a string is kept, missing/null is undefined, a number is written out, anything else is wrong. */
function text(item: Record<string, unknown>, key: string, what: string): string | undefined {
  const value = item[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw shapeError(what, `${key} is not a string`);
}

const LISTING = 'campaign history page';

export function parseCampaignListing(body: unknown): CampaignListingPage {
  const r = record(body, LISTING);
  const items = list(r.campaignList, LISTING, 'campaignList');
  const campaigns: Campaign[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const at = `campaignList[${i}]`;
    const where = `${LISTING} ${at}`;
    const item = record(items[i], where);
    const id = text(item, 'id', where);
    if (id === undefined) throw shapeError(LISTING, `${at}.id is missing`);
    campaigns[i] = {
      id,
      name: text(item, 'campaignName', where),
      status: text(item, 'status', where),
      startDate: text(item, 'startDate', where),
      endDate: text(item, 'endDate', where),
      firmwareFrom: text(item, 'firmwareFrom', where) ?? text(item, 'softwareFrom', where),
      firmwareTo: text(item, 'firmwareTo', where) ?? text(item, 'softwareTo', where),
    };
  }
  return {
    hasMore: hasMore(r, LISTING),
    cursor: cursorText(r.lastSeenCampaignId, 'lastSeenCampaignId'),
    campaigns,
  };
}

const DEVICES = 'campaign device page';

function optionalString(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

export function parseCampaignDevices(body: unknown): CampaignDevicePage {
  const r = record(body, DEVICES);
  const devices = list(r.deviceList, DEVICES, 'deviceList');
  for (let i = 0; i < devices.length; i++) {
    const device = devices[i];
    if (typeof device !== 'object' || device === null)
      throw shapeError(DEVICES, `deviceList[${i}] is not an object`);
    const d = device as Record<string, unknown>;
    if (!optionalString(d.status) || !optionalString(d.resultReason)) {
      const field = optionalString(d.status) ? 'resultReason' : 'status';
      throw shapeError(DEVICES, `deviceList[${i}].${field} is not a string`);
    }
    if (!optionalString(d.deviceId) && typeof d.deviceId !== 'number') {
      throw shapeError(DEVICES, `deviceList[${i}].deviceId is neither a string nor a number`);
    }
  }
  const total = r.totalDevice;
  if (total !== undefined && total !== null && (typeof total !== 'number' || total < 0)) {
    throw shapeError(DEVICES, 'totalDevice is not a number');
  }
  return {
    hasMore: hasMore(r, DEVICES),
    cursor: cursorText(r.lastSeenDeviceId, 'lastSeenDeviceId'),
    totalDevice: typeof total === 'number' ? total : undefined,
    devices: devices as CampaignDevice[],
  };
}
