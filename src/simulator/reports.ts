/**
 * One page of GET /api/fota/v1/reports/{account}/status/{upgradeStatus}/index/{startIndex}:
 * cursor interpretation, paging, and the faults that change what a page looks like.
 */
import { isUpgradeStatus, type UpgradeStatus } from '../upgrades/statuses.js';
import { positionAfter, type Dataset, type Upgrade } from './dataset.js';
import type { FaultSettings } from './options.js';
import type { UpgradeJsonCache } from './serialize.js';

/** Bytes of a body, or a run of padding bytes written without allocating them all. */
export type BodyPart = Buffer | { readonly padding: number };

export type ReportOutcome =
  | { readonly kind: 'page'; readonly body: BodyPart[] }
  | { readonly kind: 'invalid'; readonly message: string }
  | { readonly kind: 'hang' };

export interface ReportRequest {
  readonly account: string;
  readonly status: string;
  readonly index: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Cursors past the end of an endless report: recognisable, so they need no server state, and
 * always new, so a client cannot tell them from real progress except by counting.
 */
const ENDLESS_PREFIX = '00000000-0000-4000-8000-';
const MAX_NUMERIC_INDEX = 1e15;

type Start =
  | { readonly kind: 'position'; readonly position: number }
  | { readonly kind: 'endless'; readonly step: number }
  | { readonly kind: 'invalid' };

function findStart(
  dataset: Dataset,
  list: readonly Upgrade[],
  request: ReportRequest,
  endless: boolean,
): Start {
  const { index } = request;
  if (/^\d{1,16}$/.test(index)) {
    const position = Number(index);
    if (position > MAX_NUMERIC_INDEX) return { kind: 'invalid' };
    return { kind: 'position', position: Math.min(position, list.length) };
  }
  if (!UUID.test(index)) return { kind: 'invalid' };
  const id = index.toLowerCase();
  if (id.startsWith(ENDLESS_PREFIX)) {
    return endless
      ? { kind: 'endless', step: parseInt(id.slice(ENDLESS_PREFIX.length), 16) }
      : { kind: 'invalid' };
  }
  const upgrade = dataset.findUpgrade(id);
  // A cursor upgrade that moved to another status or left the history still marks a place in
  // the sorted list, so a walk in progress survives a tick.
  if (upgrade === undefined || upgrade.accountName !== request.account) return { kind: 'invalid' };
  return { kind: 'position', position: positionAfter(list, upgrade) };
}

function endlessCursor(step: number): string {
  return ENDLESS_PREFIX + step.toString(16).padStart(12, '0');
}

export function validateAccount(
  dataset: { hasAccount(account: string): boolean },
  account: string,
): string | null {
  if (dataset.hasAccount(account)) return null;
  return /^\d+(-\d+)?$/.test(account) ? 'Inactive account' : 'Invalid account name format';
}

export function reportPage(
  dataset: Dataset,
  cache: UpgradeJsonCache,
  pageSize: number,
  faults: FaultSettings,
  request: ReportRequest,
): ReportOutcome {
  const accountProblem = validateAccount(dataset, request.account);
  if (accountProblem !== null) return { kind: 'invalid', message: accountProblem };
  if (!isUpgradeStatus(request.status)) {
    return { kind: 'invalid', message: 'Invalid upgrade status' };
  }
  const status: UpgradeStatus = request.status;
  const whole = dataset.list(request.account, status);
  // A short report ends halfway, as ThingSpace's answer sometimes does for one collection.
  const list = faults.shortReportStatus === status ? whole.slice(0, whole.length >> 1) : whole;
  const endless = faults.endlessStatus === status;
  const start = findStart(dataset, list, request, endless);
  if (start.kind === 'invalid') return { kind: 'invalid', message: 'Invalid index value' };
  if (faults.hangStatus === status) return { kind: 'hang' };

  const position = start.kind === 'position' ? start.position : list.length;
  const page = list.slice(position, position + pageSize);
  const next = position + page.length;
  let hasMore = next < list.length;
  const last = page[page.length - 1];
  let cursor: string | number | undefined;
  if (faults.numericCursor) cursor = next;
  else if (last !== undefined) cursor = last.id;

  if (endless) {
    hasMore = true;
    if (page.length === 0) {
      const requested = /^\d+$/.test(request.index) ? Number(request.index) : next;
      if (faults.numericCursor) cursor = Math.max(next, requested) + pageSize;
      else cursor = endlessCursor(start.kind === 'endless' ? start.step + 1 : 1);
    }
  }
  if (faults.repeatCursorStatus === status) {
    hasMore = true;
    const first = request.index === '0' && cursor !== undefined;
    if (!first) cursor = /^\d+$/.test(request.index) ? Number(request.index) : request.index;
  }

  const cursorKey = faults.misspeltCursorKey ? 'lastSeenUpgrdadeId' : 'lastSeenUpgradeId';
  const cursorJson = cursor === undefined ? '' : `,"${cursorKey}":${JSON.stringify(cursor)}`;
  const upgrades = page.map((upgrade) => cache.json(upgrade));
  const wrongShape = faults.wrongShapeStatus === status;
  const head = wrongShape
    ? `{"hasMoreFlag":"${String(hasMore)}"${cursorJson},"reportList":{"count":${page.length},"items":[`
    : `{"hasMoreFlag":${String(hasMore)}${cursorJson},"reportList":[`;
  const tail = wrongShape ? ']}}' : ']}';

  const body: BodyPart[] = [];
  if (faults.oversizePageStatus === status) {
    body.push(Buffer.from(`${head.slice(0, head.indexOf('"reportList"'))}"padding":"`));
    body.push({ padding: Math.round(faults.oversizePageMb * 1024 * 1024) });
    body.push(Buffer.from(`",${head.slice(head.indexOf('"reportList"'))}`));
  } else body.push(Buffer.from(head));
  upgrades.forEach((json, i) => {
    if (i > 0) body.push(COMMA);
    body.push(json);
  });
  body.push(Buffer.from(tail));

  if (faults.malformedJsonStatus === status) return { kind: 'page', body: cutInHalf(body) };
  return { kind: 'page', body };
}

const COMMA = Buffer.from(',');

/** The first half of a body: always invalid JSON, since the closing brace is gone. */
function cutInHalf(body: BodyPart[]): BodyPart[] {
  const whole = Buffer.concat(
    body.map((part) => (Buffer.isBuffer(part) ? part : Buffer.alloc(part.padding, 'x'))),
  );
  return [whole.subarray(0, Math.max(1, Math.floor(whole.length / 2)))];
}

export function bodyLength(body: readonly BodyPart[]): number {
  return body.reduce((sum, part) => sum + (Buffer.isBuffer(part) ? part.length : part.padding), 0);
}
