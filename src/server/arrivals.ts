/**
 * The arrivals behind the entered counters, served: GET /api/v1/arrivals (JSON, or CSV with ?format=csv)
 * and /arrivals (HTML, no JavaScript). Both read the same query, and a query that does not parse is a 400
 * naming the parameter, listing nothing. README, "Arrivals", documents the parameters.
 */
import type { NextFunction, Request, Response } from 'express';
import {
  ARRIVAL_FIELDS,
  type Arrival,
  type ArrivalFilter,
  type ArrivalJournal,
} from '../arrivals/journal.js';
import { APIS, CAMPAIGN_DEVICE_STATUSES, type Api } from '../campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../upgrades/statuses.js';
import { escapeHtml } from './landing.js';

export const ARRIVALS_API_PATH = '/api/v1/arrivals';
export const ARRIVALS_PAGE_PATH = '/arrivals';
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 10_000;
const DEFAULT_WINDOW_MS = 3_600_000;
/** Longest value accepted for a free-text filter (account, firmware_to, reason). */
const MAX_FILTER_LENGTH = 1000;
/** Values shown per group on the page; the rest are summed in one line. */
const GROUP_ROWS = 25;

const KNOWN_STATUSES: ReadonlySet<string> = new Set([
  ...UPGRADE_STATUSES,
  ...CAMPAIGN_DEVICE_STATUSES,
]);
const PARAMETERS = [
  'status',
  'account',
  'api',
  'since',
  'firmware_to',
  'reason',
  'limit',
  'cursor',
  'format',
] as const;
type Parameter = (typeof PARAMETERS)[number];
const FORMATS = ['json', 'csv'] as const;
type Format = (typeof FORMATS)[number];

export interface ArrivalsQuery {
  readonly filter: ArrivalFilter;
  readonly limit: number;
  /** A position from a previous page's `next`. */
  readonly before: number | null;
  readonly format: Format;
}

export class BadParameter extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

/** A user's value as it may appear in an error: JSON-quoted and cut. */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 or Unix seconds, as ms since the epoch. */
export function parseSince(raw: string): number {
  const text = raw.trim();
  if (/^\d{1,12}(\.\d{1,9})?$/.test(text)) return Number(text) * 1000;
  const match = RFC3339.exec(text);
  const ms = match ? Date.parse(text.replace(' ', 'T')) : NaN;
  // Date.parse rolls 2024-02-31 over to March; a date that does not round-trip is refused.
  if (!match || !Number.isFinite(ms) || Number(match[2]) > 12 || Number(match[3]) > 31) {
    throw new BadParameter(
      'since',
      `since must be an RFC 3339 time (2026-01-02T03:04:05Z) or Unix seconds, got ${shown(raw)}`,
    );
  }
  return ms;
}

const CURSOR_PREFIX = 'a1:';

export function encodeCursor(position: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${position}`).toString('base64url');
}

export function decodeCursor(raw: string): number {
  const text = /^[A-Za-z0-9_-]{1,40}$/.test(raw) ? Buffer.from(raw, 'base64url').toString() : '';
  const match = /^a1:(\d{1,15})$/.exec(text);
  if (!match) {
    throw new BadParameter(
      'cursor',
      `cursor must be the "next" value of a previous answer, got ${shown(raw)}`,
    );
  }
  return Number(match[1]);
}

/**
 * Reads the query string. Empty values count as absent (an HTML form sends every field); an unknown
 * parameter, or one that is not `status` given twice, is refused so that a typo never widens a list.
 */
export function parseArrivalsQuery(
  params: URLSearchParams,
  nowMs: number,
  journal: Pick<ArrivalJournal, 'hasStatus'>,
): ArrivalsQuery {
  const values = new Map<Parameter, string[]>();
  for (const [name, value] of params) {
    if (!(PARAMETERS as readonly string[]).includes(name)) {
      throw new BadParameter(
        name,
        `unknown parameter ${shown(name)}; the parameters are ${PARAMETERS.join(', ')}`,
      );
    }
    if (value === '') continue;
    const list = values.get(name as Parameter) ?? [];
    list.push(value);
    values.set(name as Parameter, list);
  }
  const one = (name: Parameter): string | null => {
    const list = values.get(name);
    if (!list) return null;
    if (list.length > 1) throw new BadParameter(name, `${name} is given ${list.length} times`);
    return list[0]!;
  };
  const text = (name: Parameter): string | null => {
    const value = one(name);
    if (value !== null && value.length > MAX_FILTER_LENGTH)
      throw new BadParameter(name, `${name} is longer than ${MAX_FILTER_LENGTH} characters`);
    return value;
  };

  let statuses: Set<string> | null = null;
  for (const status of values.get('status') ?? []) {
    // Campaign device statuses are an open set: one the exporter has met is as good as a known one.
    if (!KNOWN_STATUSES.has(status) && !journal.hasStatus(status)) {
      throw new BadParameter(
        'status',
        `status ${shown(status)} is neither an upgrade status (${UPGRADE_STATUSES.join(', ')}), a campaign device status (${CAMPAIGN_DEVICE_STATUSES.join(', ')}) nor one met since start-up`,
      );
    }
    (statuses ??= new Set()).add(status);
  }
  const api = one('api');
  if (api !== null && !(APIS as readonly string[]).includes(api)) {
    throw new BadParameter('api', `api must be one of ${APIS.join(', ')}, got ${shown(api)}`);
  }
  const since = one('since');
  const limitText = one('limit');
  let limit = DEFAULT_LIMIT;
  if (limitText !== null) {
    limit = /^\d{1,6}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) {
      throw new BadParameter(
        'limit',
        `limit must be a whole number from 1 to ${MAX_LIMIT}, got ${shown(limitText)}`,
      );
    }
  }
  const cursor = one('cursor');
  const format = one('format') ?? 'json';
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new BadParameter(
      'format',
      `format must be one of ${FORMATS.join(', ')}, got ${shown(format)}`,
    );
  }
  return {
    filter: {
      statuses,
      account: text('account'),
      api: api as Api | null,
      sinceMs: since === null ? nowMs - DEFAULT_WINDOW_MS : parseSince(since),
      firmwareTo: text('firmware_to'),
      reason: text('reason'),
    },
    limit,
    before: cursor === null ? null : decodeCursor(cursor),
    format: format as Format,
  };
}

/** The filter as query parameters (since made explicit), for links to the other views and pages. */
function filterParams(query: ArrivalsQuery): URLSearchParams {
  const { filter } = query;
  const params = new URLSearchParams();
  for (const status of filter.statuses ?? []) params.append('status', status);
  if (filter.account !== null) params.set('account', filter.account);
  if (filter.api !== null) params.set('api', filter.api);
  params.set('since', new Date(filter.sinceMs).toISOString());
  if (filter.firmwareTo !== null) params.set('firmware_to', filter.firmwareTo);
  if (filter.reason !== null) params.set('reason', filter.reason);
  if (query.limit !== DEFAULT_LIMIT) params.set('limit', String(query.limit));
  return params;
}

/** One CSV field (RFC 4180); a text a spreadsheet would take for a formula is prefixed with '. */
function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function renderCsv(arrivals: readonly Arrival[]): string {
  const lines = [ARRIVAL_FIELDS.join(',')];
  for (const a of arrivals) lines.push(ARRIVAL_FIELDS.map((f) => csvField(a[f])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function badRequest(res: Response, error: BadParameter): void {
  res.status(400).json({ error: error.message, parameter: error.parameter });
}

function searchParams(req: Request): URLSearchParams {
  const at = req.originalUrl.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : req.originalUrl.slice(at + 1));
}

/**
 * A route that reads the arrivals query: a query that does not parse is answered by `refuse` (a 400 naming
 * the parameter), and lists nothing.
 */
function queryRoute(
  journal: ArrivalJournal,
  now: () => number,
  refuse: (res: Response, error: BadParameter) => void,
  serve: (res: Response, query: ArrivalsQuery) => void,
) {
  return (req: Request, res: Response, next: NextFunction): void => {
    try {
      let query: ArrivalsQuery;
      try {
        query = parseArrivalsQuery(searchParams(req), now(), journal);
      } catch (error) {
        if (error instanceof BadParameter) return refuse(res, error);
        throw error;
      }
      serve(res, query);
    } catch (error) {
      next(error);
    }
  };
}

/** GET /api/v1/arrivals. */
export function arrivalsApi(journal: ArrivalJournal, now: () => number) {
  return queryRoute(journal, now, badRequest, (res, query) => {
    const page = journal.list(query.filter, query.limit, query.before);
    const next = page.next === null ? null : encodeCursor(page.next);
    const { arrivals } = page;
    res.set('Cache-Control', 'no-store');
    if (query.format === 'csv') {
      if (next !== null) {
        const params = filterParams(query);
        params.set('format', 'csv');
        params.set('cursor', next);
        res.set('Link', `<arrivals?${params.toString()}>; rel="next"`);
      }
      res.set('X-Arrivals-Dropped', String(journal.droppedTotal));
      res.type('text/csv; charset=utf-8').send(renderCsv(arrivals));
      return;
    }
    res.json({ arrivals, next, dropped: journal.droppedTotal });
  });
}

const e = escapeHtml;

function groupTable(
  title: string,
  parameter: Parameter,
  counts: ReadonlyMap<string, number>,
  base: URLSearchParams,
): string {
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const rows = sorted.slice(0, GROUP_ROWS).map(([value, count]) => {
    const params = new URLSearchParams(base);
    params.set(parameter, value);
    return `<tr><td><a href="arrivals?${e(params.toString())}">${e(value)}</a></td><td class="n">${count}</td></tr>`;
  });
  const rest = sorted.slice(GROUP_ROWS);
  if (rest.length > 0) {
    const sum = rest.reduce((n, [, count]) => n + count, 0);
    rows.push(`<tr><td>${rest.length} more</td><td class="n">${sum}</td></tr>`);
  }
  return (
    `<table class="group" data-group="${parameter}"><caption>${e(title)}</caption>` +
    `<tr><th>${e(parameter)}</th><th>entries</th></tr>\n${rows.join('\n')}\n</table>`
  );
}

function cell(value: string | null): string {
  return value === null ? '<td class="none">–</td>' : `<td>${e(value)}</td>`;
}

function row(a: Arrival): string {
  return (
    `<tr>${cell(a.firstSeen)}${cell(a.account)}${cell(a.api)}${cell(a.status)}` +
    `${cell(a.upgradeId)}${cell(a.campaignId)}${cell(a.campaignName)}${cell(a.deviceId)}` +
    `${cell(a.deviceStatus)}${cell(a.resultReason)}${cell(a.reasonLabel)}` +
    `${cell(a.firmwareFrom)}${cell(a.firmwareTo)}</tr>`
  );
}

const COLUMNS = [
  'first seen',
  'account',
  'api',
  'status',
  'upgrade id',
  'campaign id',
  'campaign',
  'device id',
  'device status',
  'result reason',
  'reason label',
  'firmware from',
  'firmware to',
];

function statusBoxes(selected: ReadonlySet<string> | null, met: readonly string[]): string {
  const all = [...new Set([...UPGRADE_STATUSES, ...CAMPAIGN_DEVICE_STATUSES, ...met])];
  return all
    .map(
      (s) =>
        `<label><input type="checkbox" name="status" value="${e(s)}"${selected?.has(s) ? ' checked' : ''}> ${e(s)}</label>`,
    )
    .join('\n');
}

function field(name: Parameter, label: string, value: string | null): string {
  return `<label>${e(label)} <input type="text" name="${name}" value="${e(value ?? '')}"></label>`;
}

export function renderArrivalsPage(
  journal: ArrivalJournal,
  query: ArrivalsQuery,
  met: readonly string[],
): string {
  const { filter } = query;
  const groups = journal.groups(filter);
  const page = journal.list(filter, query.limit, query.before);
  const base = filterParams(query);
  const json = `api/v1/arrivals?${base.toString()}`;
  const csvParams = new URLSearchParams(base);
  csvParams.set('format', 'csv');
  let older = '';
  if (page.next !== null) {
    const params = new URLSearchParams(base);
    params.set('cursor', encodeCursor(page.next));
    older = `<p><a id="older" href="arrivals?${e(params.toString())}">Older arrivals →</a></p>`;
  }
  const apiOptions = ['', ...APIS]
    .map(
      (api) =>
        `<option value="${api}"${(filter.api ?? '') === api ? ' selected' : ''}>${api || 'any'}</option>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Arrivals · ThingSpace FOTA exporter</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left;vertical-align:top}
td{white-space:pre-wrap}td.n{text-align:right}td.none{color:#999}table.group{display:inline-table;margin:0 2em 1em 0}
caption{font-weight:bold;text-align:left}fieldset{margin-bottom:1em}label{margin-right:1em;display:inline-block}</style></head>
<body><h1>Arrivals</h1>
<p>Upgrades and device entries that entered a status since <time>${e(new Date(filter.sinceMs).toISOString())}</time>, as the entered counters counted them, newest first.
<a href=".">Exporter</a> · <a href="${e(json)}">JSON</a> · <a href="api/v1/arrivals?${e(csvParams.toString())}">CSV</a></p>
<form method="get" action="arrivals">
<fieldset><legend>status</legend>
${statusBoxes(filter.statuses, met)}
</fieldset>
${field('account', 'account', filter.account)}
<label>api <select name="api">${apiOptions}</select></label>
${field('since', 'since', new Date(filter.sinceMs).toISOString())}
${field('firmware_to', 'firmware to', filter.firmwareTo)}
${field('reason', 'reason label', filter.reason)}
${field('limit', 'rows', String(query.limit))}
<button type="submit">Show</button>
</form>
<p id="summary"><strong>${groups.total}</strong> arrivals match${journal.droppedTotal > 0 ? `; ${journal.droppedTotal} older ones were dropped by the bounds since start-up (--arrivals.retention, --arrivals.max-entries)` : ''}.</p>
<div>
${groupTable('By account', 'account', groups.accounts, base)}
${groupTable('By target firmware', 'firmware_to', groups.firmware, base)}
${groupTable('By reason', 'reason', groups.reasons, base)}
</div>
<table id="arrivals"><thead><tr>${COLUMNS.map((c) => `<th>${e(c)}</th>`).join('')}</tr></thead>
<tbody>
${page.arrivals.map(row).join('\n')}
</tbody></table>
${older}
</body></html>
`;
}

/** GET /arrivals. */
export function arrivalsPage(journal: ArrivalJournal, now: () => number) {
  return queryRoute(
    journal,
    now,
    (res, error) => {
      res
        .status(400)
        .type('html')
        .send(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bad request</title></head><body><h1>Bad request</h1><p>${e(error.message)}</p><p><a href="arrivals">Start again</a></p></body></html>\n`,
        );
    },
    (res, query) => {
      res.set({
        'Cache-Control': 'no-store',
        // Reasons are free text from ThingSpace: escaped, and no script may run here even so.
        'Content-Security-Policy':
          "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      });
      res.type('html').send(renderArrivalsPage(journal, query, journal.statuses()));
    },
  );
}
