/**
 * Validation of a FOTA v1 report page, before anything trusts it. Checks are typeof tests on the parsed
 * objects, done in place without copying: a page may carry hundreds of thousands of device entries.
 */
import { ThingSpaceError } from '../thingspace/errors.js';
import { cursorText } from '../thingspace/paging.js';

export interface Device {
  readonly deviceId?: string;
  readonly status?: string;
  readonly resultReason?: string | null;
}

export interface Upgrade {
  readonly id: string;
  readonly firmwareTo?: string | null;
  readonly startDate?: string | null;
  readonly deviceList?: readonly Device[] | null;
}

export interface ReportPage {
  readonly hasMore: boolean;
  /** The next startIndex, from `lastSeenUpgradeId` (or the misspelt `lastSeenUpgrdadeId`), as text. */
  readonly cursor: string | undefined;
  readonly upgrades: readonly Upgrade[];
}

function shapeError(what: string): ThingSpaceError {
  return new ThingSpaceError('parse', `report page has the wrong shape: ${what}`);
}

function optionalString(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

function checkDevices(list: unknown, at: string): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) throw shapeError(`${at}.deviceList is not an array`);
  for (let i = 0; i < list.length; i++) {
    const device: unknown = list[i];
    if (typeof device !== 'object' || device === null)
      throw shapeError(`${at}.deviceList[${i}] is not an object`);
    const d = device as Record<string, unknown>;
    if (!optionalString(d.status) || !optionalString(d.resultReason)) {
      throw shapeError(`${at}.deviceList[${i}] has a non-string status or resultReason`);
    }
  }
}

function cursorOf(record: Record<string, unknown>): string | undefined {
  return cursorText(record.lastSeenUpgradeId ?? record.lastSeenUpgrdadeId, 'lastSeenUpgradeId');
}

export function parseReportPage(body: unknown): ReportPage {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw shapeError('not an object');
  const record = body as Record<string, unknown>;
  if (typeof record.hasMoreFlag !== 'boolean') throw shapeError('hasMoreFlag is not a boolean');
  const list = record.reportList ?? [];
  if (!Array.isArray(list)) throw shapeError('reportList is not an array');
  for (let i = 0; i < list.length; i++) {
    const upgrade: unknown = list[i];
    const at = `reportList[${i}]`;
    if (typeof upgrade !== 'object' || upgrade === null) throw shapeError(`${at} is not an object`);
    const u = upgrade as Record<string, unknown>;
    if (typeof u.id !== 'string' || u.id.length === 0) throw shapeError(`${at}.id is not a string`);
    if (!optionalString(u.firmwareTo) || !optionalString(u.startDate)) {
      throw shapeError(`${at} has a non-string firmwareTo or startDate`);
    }
    checkDevices(u.deviceList, at);
  }
  return { hasMore: record.hasMoreFlag, cursor: cursorOf(record), upgrades: list as Upgrade[] };
}
