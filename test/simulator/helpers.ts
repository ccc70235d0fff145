/**
 * Test client for the simulator: speaks the ThingSpace API over real sockets, walks reports the
 * way an exporter must, and counts what it saw with its own implementation of the label rules,
 * so the simulator's /_sim/truth is checked against the pages it actually served.
 */
import { request } from 'undici';
import {
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../src/simulator/index.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../../src/upgrades/statuses.js';

export const ACCOUNT_1 = '0242078689-00001';
export const ACCOUNT_2 = '0242078689-00002';

/** A frozen, small simulator on a free port. */
export function startFrozen(options: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  return startSimulator({
    listenAddress: { host: '127.0.0.1', port: 0 },
    tickMs: 0,
    ...options,
  });
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

export async function http(
  url: string,
  init: {
    method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
    headers?: Record<string, string>;
    body?: string;
  } = {},
): Promise<HttpAnswer> {
  const answer = await request(url, {
    method: init.method ?? 'GET',
    headers: init.headers,
    body: init.body,
  });
  return { status: answer.statusCode, headers: answer.headers, text: await answer.body.text() };
}

export function json<T = Record<string, unknown>>(answer: HttpAnswer): T {
  return JSON.parse(answer.text) as T;
}

export async function control<T = Record<string, unknown>>(
  sim: RunningSimulator,
  path: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' = 'GET',
  body?: unknown,
): Promise<T> {
  const answer = await http(`${sim.url}/_sim/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (answer.status !== 200) throw new Error(`/_sim/${path}: ${answer.status} ${answer.text}`);
  return json<T>(answer);
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

export async function getToken(
  base: string,
  id = 'demo-client',
  secret = 'demo-secret',
): Promise<HttpAnswer> {
  return http(`${base}/api/ts/v1/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: basic(id, secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
}

export async function login(
  base: string,
  bearer: string,
  username = 'demo-user',
  password = 'demo-password',
): Promise<HttpAnswer> {
  return http(`${base}/api/m2m/v1/session/login`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
}

export interface Session {
  readonly bearer: string;
  readonly session: string;
}

export async function signIn(base: string): Promise<Session> {
  const token = json<{ access_token: string }>(await getToken(base));
  const session = json<{ sessionToken: string }>(await login(base, token.access_token));
  return { bearer: token.access_token, session: session.sessionToken };
}

export function reportsUrl(
  base: string,
  account: string,
  status: string,
  index: string | number,
): string {
  return `${base}/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/${index}`;
}

export async function getPage(
  base: string,
  auth: Session,
  account: string,
  status: string,
  index: string | number,
): Promise<HttpAnswer> {
  return http(reportsUrl(base, account, status, index), {
    headers: { authorization: `Bearer ${auth.bearer}`, 'vz-m2m-token': auth.session },
  });
}

export interface ServedDevice {
  deviceId: string;
  status: string;
  resultReason?: string;
}

export interface ServedUpgrade {
  id: string;
  accountName: string;
  firmwareName: string;
  firmwareTo?: string;
  startDate: string;
  status: string;
  deviceList: ServedDevice[];
}

export interface ServedPage {
  hasMoreFlag: boolean;
  lastSeenUpgradeId?: string | number;
  lastSeenUpgrdadeId?: string | number;
  reportList: ServedUpgrade[];
}

export function cursorOf(page: ServedPage): string | number | undefined {
  return page.lastSeenUpgradeId ?? page.lastSeenUpgrdadeId;
}

/** Follows hasMoreFlag/cursor to the end, as an exporter must; fails on a repeated cursor. */
export async function walk(
  base: string,
  auth: Session,
  account: string,
  status: string,
  maxPages = 10_000,
): Promise<{ upgrades: ServedUpgrade[]; pages: number }> {
  const upgrades: ServedUpgrade[] = [];
  const seen = new Set<string>();
  let index: string | number = 0;
  for (let pages = 1; pages <= maxPages; pages += 1) {
    const answer = await getPage(base, auth, account, status, index);
    if (answer.status !== 200) throw new Error(`page ${pages}: ${answer.status} ${answer.text}`);
    const page = JSON.parse(answer.text) as ServedPage;
    upgrades.push(...page.reportList);
    if (!page.hasMoreFlag) return { upgrades, pages };
    const cursor = cursorOf(page);
    if (cursor === undefined || seen.has(String(cursor)))
      throw new Error(`cursor repeated: ${cursor}`);
    seen.add(String(cursor));
    index = cursor;
  }
  throw new Error('too many pages');
}

const MAX_LABEL_LENGTH = 120;

function truncate(value: string): string {
  return [...value].slice(0, MAX_LABEL_LENGTH).join('');
}

/** SPEC §3.1, transcribed here from the rule text for the test's own reading of served pages. */
const NORMALISE: [RegExp, string][] = [
  [/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g, '<id>'],
  [/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<time>'],
  [/\d{4}-\d{2}-\d{2}/g, '<date>'],
  [/\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{2,4}\b/gi, '<date>'],
  [/\b\d{1,2}:\d{2}(?::\d{2})?(?: ?(?:UTC|GMT|Z)\b)?/g, '<time>'],
  [/\d{6,}/g, '<id>'],
  [/(?<![\p{L}\p{N}_.-])\d+(?:\.\d+)?(?![\p{L}\p{N}_])/gu, '<n>'],
];

export function reasonValue(raw: string | null | undefined): string {
  if (raw === undefined || raw === null || raw === '') return 'none';
  return truncate(NORMALISE.reduce((text, [pattern, token]) => text.replace(pattern, token), raw));
}

export function plainValue(raw: string | null | undefined, missing: string): string {
  return raw === undefined || raw === null || raw === '' ? missing : truncate(raw);
}

/**
 * SPEC §3.3 applied entry by entry (the simulator's truth works on per-upgrade summaries instead):
 * the first 10 × N distinct values of each walk are tracked, the N heaviest tracked values are
 * kept (ties to the most recent), everything else is other.
 */
export class EntryCapper {
  private readonly tallies = new Map<string, { weight: number; recency: number }>();
  private walk = new Set<string>();
  private readonly entries: { value: string; tracked: boolean }[] = [];

  constructor(private readonly max: number) {}

  newWalk(): void {
    this.walk = new Set();
  }

  /** Records an entry; returns its index, for label() once every entry is in. */
  add(value: string, weight: number, recency: number): number {
    const tracked = this.walk.has(value) || this.walk.size < 10 * this.max;
    if (tracked) {
      this.walk.add(value);
      const tally = this.tallies.get(value) ?? { weight: 0, recency: -1 };
      tally.weight += weight;
      tally.recency = Math.max(tally.recency, recency);
      this.tallies.set(value, tally);
    }
    this.entries.push({ value, tracked });
    return this.entries.length - 1;
  }

  label(index: number): string {
    const entry = this.entries[index];
    if (entry === undefined || !entry.tracked) return 'other';
    const ranked = [...this.tallies].sort(
      ([, a], [, b]) => b.weight - a.weight || b.recency - a.recency,
    );
    this.kept ??= new Set(ranked.slice(0, this.max).map(([value]) => value));
    return this.kept.has(entry.value) ? entry.value : 'other';
  }

  private kept: Set<string> | undefined;
}

export interface CountedStatus {
  upgrades: { firmware_to: string; count: number }[];
  devices: { firmware_to: string; device_status: string; result_reason: string; count: number }[];
  oldestStartTimestampSeconds: number | null;
}

/** The label rules, written independently of src/simulator/truth.ts, applied to served pages. */
export function countServed(
  upgrades: readonly ServedUpgrade[],
  maxLabelValues: number,
): CountedStatus {
  const firmwares = new EntryCapper(maxLabelValues);
  const statuses = new EntryCapper(maxLabelValues);
  const reasons = new EntryCapper(maxLabelValues);
  const seen = new Set<string>();
  const rows: { firmware: number; devices: [number, number][] }[] = [];
  let oldest: number | null = null;
  let position = 0;
  for (const upgrade of upgrades) {
    if (seen.has(upgrade.id)) continue;
    seen.add(upgrade.id);
    const start =
      Date.parse(
        /^\d{4}-\d{2}-\d{2}$/.test(upgrade.startDate)
          ? `${upgrade.startDate}T00:00:00Z`
          : upgrade.startDate,
      ) / 1000;
    oldest = oldest === null ? start : Math.min(oldest, start);
    const firmware = firmwares.add(
      plainValue(upgrade.firmwareTo, 'unknown'),
      upgrade.deviceList.length,
      rows.length,
    );
    const devices = upgrade.deviceList.map((device): [number, number] => {
      const at = position++;
      return [
        statuses.add(plainValue(device.status, 'unknown'), 1, at),
        reasons.add(reasonValue(device.resultReason), 1, at),
      ];
    });
    rows.push({ firmware, devices });
  }
  const upgradeCounts: Record<string, number> = {};
  const deviceCounts: Record<string, number> = {};
  for (const row of rows) {
    const firmware = firmwares.label(row.firmware);
    upgradeCounts[firmware] = (upgradeCounts[firmware] ?? 0) + 1;
    for (const [status, reason] of row.devices) {
      const key = JSON.stringify([firmware, statuses.label(status), reasons.label(reason)]);
      deviceCounts[key] = (deviceCounts[key] ?? 0) + 1;
    }
  }
  const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return {
    upgrades: Object.entries(upgradeCounts)
      .map(([firmware_to, count]) => ({ firmware_to, count }))
      .sort((a, b) => byText(a.firmware_to, b.firmware_to)),
    devices: Object.entries(deviceCounts)
      .map(([key, count]) => {
        const [firmware_to = '', device_status = '', result_reason = ''] = JSON.parse(
          key,
        ) as string[];
        return { firmware_to, device_status, result_reason, count };
      })
      .sort(
        (a, b) =>
          byText(a.firmware_to, b.firmware_to) ||
          byText(a.device_status, b.device_status) ||
          byText(a.result_reason, b.result_reason),
      ),
    oldestStartTimestampSeconds: oldest,
  };
}

/** Walks every account and status and counts them like an exporter would. */
export async function walkAll(
  sim: RunningSimulator,
  auth: Session,
  maxLabelValues: number,
): Promise<Record<string, Record<UpgradeStatus, CountedStatus>>> {
  const result: Record<string, Record<UpgradeStatus, CountedStatus>> = {};
  const accounts = Object.keys(sim.truth().accounts);
  for (const account of accounts) {
    const perStatus: Partial<Record<UpgradeStatus, CountedStatus>> = {};
    for (const status of UPGRADE_STATUSES) {
      const { upgrades } = await walk(sim.url, auth, account, status);
      perStatus[status] = countServed(upgrades, maxLabelValues);
    }
    result[account] = perStatus as Record<UpgradeStatus, CountedStatus>;
  }
  return result;
}
