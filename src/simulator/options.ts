/**
 * Every simulator setting, defined once. The CLI parser, `--help`, the programmatic defaults, the
 * run-time fault API and the docs test all derive from the two tables below.
 */
import { parseArgs as parseArgv } from 'node:util';
import {
  CAMPAIGN_APIS,
  CAMPAIGN_STATUSES,
  type CampaignApi,
  type KnownCampaignStatus,
} from '../campaigns/statuses.js';
import { UPGRADE_STATUSES, isUpgradeStatus, type UpgradeStatus } from '../upgrades/statuses.js';
import type { CampaignPlan } from './campaign-dataset.js';

/** A bad flag or fault value; the message names the setting. */
export class OptionError extends Error {
  override name = 'OptionError';
}

/** JSON type a fault accepts through /_sim/faults; 'text' is a string, or null for none. */
export type FaultJsonType = 'number' | 'boolean' | 'status' | 'text';

export interface FlagSpec<K extends string, T> {
  readonly flag: `--${string}`;
  readonly key: K;
  /** Placeholder shown in help; null for a switch that takes no value. */
  readonly value: string | null;
  readonly default: T;
  readonly description: string;
  /** Parses a command-line value; throws an Error whose message says what was expected. */
  readonly parse: (raw: string) => T;
  /** Method syntax on purpose: bivariance lets typed specs sit in one table of FlagSpec<string, unknown>. */
  show(value: T): string;
}

export interface FaultSpec<K extends string, T> extends FlagSpec<K, T> {
  readonly json: FaultJsonType;
}

/** Help text of a value; null reads as none. */
const show = <T>(value: T): string => (value === null ? 'none' : String(value));

/** A fault aimed at the reports of one upgrade status; off when null. */
function statusFault<K extends string>(
  spec: Pick<FaultSpec<K, UpgradeStatus | null>, 'flag' | 'key' | 'description'>,
): FaultSpec<K, UpgradeStatus | null> {
  return {
    ...spec,
    value: '<status|none>',
    default: null,
    parse: optionalStatus,
    show,
    json: 'status',
  };
}

function flag<K extends string, T>(spec: FlagSpec<K, T>): FlagSpec<K, T> {
  return spec;
}

function fault<K extends string, T>(spec: FaultSpec<K, T>): FaultSpec<K, T> {
  return spec;
}

function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`expected an integer, got "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new Error(`expected ${min}..${max}, got ${raw}`);
    return value;
  };
}

function decimal(min: number, max: number, exclusiveMin = false): (raw: string) => number {
  return (raw) => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) {
      throw new Error(`expected a number, got "${raw}"`);
    }
    if (value > max || value < min || (exclusiveMin && value === min)) {
      const low = exclusiveMin ? `more than ${min}` : `at least ${min}`;
      throw new Error(`expected a number ${low} and at most ${max}, got ${raw}`);
    }
    return value;
  };
}

const rate = decimal(0, 1);

function boolean(raw: string): boolean {
  if (raw === 'true' || raw === '') return true;
  if (raw === 'false') return false;
  throw new Error(`expected true or false, got "${raw}"`);
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** '10s', '500ms', '1h', '7d'; a bare number is seconds. Returns milliseconds. */
export function parseDuration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (match === null)
    throw new Error(`expected a duration such as 10s, 500ms, 1h or 7d, got "${raw}"`);
  return Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 's'] ?? 1000));
}

export function showDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? '0' : `${ms}ms`;
}

function optionalStatus(raw: string): UpgradeStatus | null {
  if (raw === '' || raw === 'none') return null;
  if (!isUpgradeStatus(raw)) {
    throw new Error(`expected one of ${UPGRADE_STATUSES.join(', ')} or none, got "${raw}"`);
  }
  return raw;
}

export type UpgradesPerStatus = Readonly<Record<UpgradeStatus, number>>;

/** '20' for every status, or 'Queued=5,Finished=40' (unnamed statuses get 0). */
function upgradesPerStatus(raw: string): UpgradesPerStatus {
  const count = integer(0, 1_000_000);
  if (/^\d+$/.test(raw.trim())) {
    const n = count(raw);
    return Object.fromEntries(UPGRADE_STATUSES.map((s) => [s, n])) as UpgradesPerStatus;
  }
  const spec = Object.fromEntries(UPGRADE_STATUSES.map((s) => [s, 0])) as Record<
    UpgradeStatus,
    number
  >;
  for (const part of raw.split(',')) {
    const [status = '', value = ''] = part.split('=').map((s) => s.trim());
    if (!isUpgradeStatus(status)) {
      throw new Error(`expected N or Status=N,... with statuses ${UPGRADE_STATUSES.join(', ')}`);
    }
    spec[status] = count(value);
  }
  return spec;
}

function showUpgradesPerStatus(spec: UpgradesPerStatus): string {
  const values = UPGRADE_STATUSES.map((s) => spec[s]);
  if (values.every((v) => v === values[0])) return String(values[0]);
  return UPGRADE_STATUSES.map((s) => `${s}=${spec[s]}`).join(',');
}

/** '10' for a realistic mix of statuses, or 'CampaignScheduled=10,CampaignEnded=2' (others get 0). */
function campaignPlan(raw: string): CampaignPlan {
  const count = integer(0, 100_000);
  if (/^\d+$/.test(raw.trim())) return { mix: count(raw) };
  const perStatus = Object.fromEntries(CAMPAIGN_STATUSES.map((s) => [s, 0])) as Record<
    KnownCampaignStatus,
    number
  >;
  for (const part of raw.split(',')) {
    const [status = '', value = ''] = part.split('=').map((s) => s.trim());
    const known = CAMPAIGN_STATUSES.find((s) => s === status);
    if (known === undefined) {
      throw new Error(`expected N or Status=N,... with statuses ${CAMPAIGN_STATUSES.join(', ')}`);
    }
    perStatus[known] = count(value);
  }
  return { perStatus };
}

function showCampaignPlan(plan: CampaignPlan): string {
  if ('mix' in plan) return String(plan.mix);
  const parts = CAMPAIGN_STATUSES.filter((s) => plan.perStatus[s] > 0).map(
    (s) => `${s}=${plan.perStatus[s]}`,
  );
  return parts.length === 0 ? '0' : parts.join(',');
}

/** Initial campaigns of one account and API that a plan asks for. */
export function campaignsInPlan(plan: CampaignPlan): number {
  if ('mix' in plan) return plan.mix;
  return CAMPAIGN_STATUSES.reduce((sum, s) => sum + plan.perStatus[s], 0);
}

/** '10s/30s': throttled for the first duration of every second one; stored in that form. */
function throttleWindow(raw: string): string | null {
  if (raw === '' || raw === 'none') return null;
  const window = parseThrottleWindow(raw);
  return `${showDuration(window.onMs)}/${showDuration(window.periodMs)}`;
}

export interface ThrottleWindow {
  readonly onMs: number;
  readonly periodMs: number;
}

export function parseThrottleWindow(raw: string): ThrottleWindow {
  const [on = '', period = '', extra] = raw.split('/');
  if (extra !== undefined || period === '') {
    throw new Error(`expected <throttled>/<period> such as 10s/30s, or none, got "${raw}"`);
  }
  const onMs = parseDuration(on);
  const periodMs = parseDuration(period);
  if (!(onMs > 0 && onMs < periodMs)) {
    throw new Error(`expected a throttled time above 0 and below the period, got "${raw}"`);
  }
  return { onMs, periodMs };
}

function campaignApiOrNone(raw: string): CampaignApi | null {
  if (raw === '' || raw === 'none') return null;
  const api = CAMPAIGN_APIS.find((a) => a === raw);
  if (api === undefined)
    throw new Error(`expected ${CAMPAIGN_APIS.join(', ')} or none, got "${raw}"`);
  return api;
}

export const LOGIN_LOST_ANSWERS = ['504', 'close'] as const;
export type LoginLostAnswer = (typeof LOGIN_LOST_ANSWERS)[number];

function loginLostAnswer(raw: string): LoginLostAnswer | null {
  if (raw === '' || raw === 'none') return null;
  const lost = LOGIN_LOST_ANSWERS.find((l) => l === raw);
  if (lost === undefined) throw new Error(`expected 504, close or none, got "${raw}"`);
  return lost;
}

function loginFixedStatus(raw: string): number | null {
  if (raw === '' || raw === 'none') return null;
  return integer(300, 599)(raw);
}

export const V3_LISTING_PATHS = ['sdk', 'docs', 'both'] as const;
export type V3ListingPath = (typeof V3_LISTING_PATHS)[number];

function v3ListingPath(raw: string): V3ListingPath {
  const path = V3_LISTING_PATHS.find((p) => p === raw);
  if (path === undefined) throw new Error(`expected ${V3_LISTING_PATHS.join(', ')}, got "${raw}"`);
  return path;
}

function campaignIdOrNone(raw: string): string | null {
  if (raw === '' || raw === 'none') return null;
  if (raw.length > 200 || /[\s/?#]/.test(raw)) {
    throw new Error(`expected a campaign id or none, got "${raw}"`);
  }
  return raw;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

function listenAddress(raw: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  const port = match === null ? NaN : Number(match[3]);
  const host = match?.[1] ?? match?.[2];
  if (host === undefined || !(port >= 0 && port <= 65535)) {
    throw new Error(`expected host:port such as 127.0.0.1:9776, got "${raw}"`);
  }
  return { host, port };
}

function showListenAddress(address: ListenAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

function nonEmpty(raw: string): string {
  if (raw === '') throw new Error('expected a non-empty value');
  return raw;
}

/** ISO 8601 instant, or 'now' for the wall clock at start (not reproducible). */
function startTime(raw: string): number {
  if (raw === 'now') return Date.now();
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(ms)) {
    throw new Error(`expected an ISO 8601 time such as 2025-01-01T00:00:00Z, or now, got "${raw}"`);
  }
  return ms;
}

export const SCENARIOS = ['failure-spike'] as const;
export type Scenario = (typeof SCENARIOS)[number];

function scenario(raw: string): Scenario | null {
  if (raw === 'none' || raw === '') return null;
  const found = SCENARIOS.find((s) => s === raw);
  if (found === undefined)
    throw new Error(`expected ${SCENARIOS.join(', ')} or none, got "${raw}"`);
  return found;
}

/** Settings fixed for the life of a simulator. */
export const SERVER_FLAGS = [
  flag({
    flag: '--listen-address',
    key: 'listenAddress',
    value: '<host:port>',
    default: { host: '127.0.0.1', port: 9776 } as ListenAddress,
    description:
      'Address to listen on; port 0 picks a free port. Loopback only unless --allow-remote.',
    parse: listenAddress,
    show: showListenAddress,
  }),
  flag({
    flag: '--allow-remote',
    key: 'allowRemote',
    value: null,
    default: false,
    description: 'Allow a non-loopback listen address (the control API has no authentication).',
    parse: boolean,
    show,
  }),
  flag({
    flag: '--seed',
    key: 'seed',
    value: '<n>',
    default: 1,
    description: 'Seed of the data set, its movement and the fault draws.',
    parse: integer(0, 4294967295),
    show,
  }),
  flag({
    flag: '--accounts',
    key: 'accounts',
    value: '<n>',
    default: 2,
    description: 'Number of accounts, named 0242078689-00001, 0242078689-00002, ...',
    parse: integer(1, 99999),
    show,
  }),
  flag({
    flag: '--upgrades-per-status',
    key: 'upgradesPerStatus',
    value: '<n|Status=n,...>',
    default: upgradesPerStatus('20'),
    description: 'Initial upgrades per account and status; statuses left out of a list get 0.',
    parse: upgradesPerStatus,
    show: showUpgradesPerStatus,
  }),
  flag({
    flag: '--devices-per-upgrade-mean',
    key: 'devicesPerUpgradeMean',
    value: '<n>',
    default: 12,
    description: 'Approximate mean devices per upgrade (skewed: most small, a few fleets).',
    parse: decimal(1, 1_000_000),
    show,
  }),
  flag({
    flag: '--devices-per-upgrade-max',
    key: 'devicesPerUpgradeMax',
    value: '<n>',
    default: 5000,
    description: 'Largest device list of one upgrade.',
    parse: integer(1, 10_000_000),
    show,
  }),
  flag({
    flag: '--total-devices',
    key: 'totalDevices',
    value: '<n>',
    default: null as number | null,
    description: 'Exact total of initial device entries (overrides the mean); none: use the mean.',
    parse: (raw: string): number | null => (raw === 'none' ? null : integer(0, 1e9)(raw)),
    show,
  }),
  flag({
    flag: '--page-size',
    key: 'pageSize',
    value: '<n>',
    default: 100,
    description: 'Upgrades per report page.',
    parse: integer(1, 100_000),
    show,
  }),
  flag({
    flag: '--tick',
    key: 'tickMs',
    value: '<duration>',
    default: 10_000,
    description: 'Wall-clock interval between ticks of simulated time; 0 freezes time.',
    parse: parseDuration,
    show: showDuration,
  }),
  flag({
    flag: '--tick-step',
    key: 'tickStepMs',
    value: '<duration>',
    default: 3_600_000,
    description: 'Simulated time one tick moves the clock forward.',
    parse: (raw: string) => {
      const ms = parseDuration(raw);
      if (ms <= 0) throw new Error('expected a duration above 0');
      return ms;
    },
    show: showDuration,
  }),
  flag({
    flag: '--start-time',
    key: 'startTimeMs',
    value: '<iso|now>',
    default: Date.parse('2025-01-01T00:00:00Z'),
    description: 'Simulated clock at start; now is the wall clock (not reproducible).',
    parse: startTime,
    show: (ms: number) => new Date(ms).toISOString(),
  }),
  flag({
    flag: '--arrivals-per-tick',
    key: 'arrivalsPerTick',
    value: '<n>',
    default: 1,
    description: 'Mean new upgrades per account per tick.',
    parse: decimal(0, 1000),
    show,
  }),
  flag({
    flag: '--campaigns-per-account',
    key: 'campaignsPerAccount',
    value: '<n|Status=n,...>',
    default: campaignPlan('10') as CampaignPlan,
    description:
      'Initial v2 and v3 campaigns per account and API: n for a mix of every status, or exact counts.',
    parse: campaignPlan,
    show: showCampaignPlan,
  }),
  flag({
    flag: '--campaign-devices-mean',
    key: 'campaignDevicesMean',
    value: '<n>',
    default: 200,
    description: 'Approximate mean devices per campaign (skewed: most small, a few large).',
    parse: decimal(1, 10_000_000),
    show,
  }),
  flag({
    flag: '--campaign-devices-max',
    key: 'campaignDevicesMax',
    value: '<n>',
    default: 20_000,
    description: 'Largest device list of one campaign.',
    parse: integer(1, 100_000_000),
    show,
  }),
  flag({
    flag: '--campaign-total-devices',
    key: 'campaignTotalDevices',
    value: '<n>',
    default: null as number | null,
    description:
      'Exact total of initial campaign device entries (overrides the mean); none: use the mean.',
    parse: (raw: string): number | null => (raw === 'none' ? null : integer(0, 1e9)(raw)),
    show,
  }),
  flag({
    flag: '--campaign-listing-page-size',
    key: 'campaignListingPageSize',
    value: '<n>',
    default: 5,
    description: 'Campaigns per campaign-history page (small, so that listings page).',
    parse: integer(1, 100_000),
    show,
  }),
  flag({
    flag: '--campaign-device-page-size',
    key: 'campaignDevicePageSize',
    value: '<n>',
    default: 1000,
    description: 'Devices per campaign device page (maxPageSize).',
    parse: integer(1, 100_000),
    show,
  }),
  flag({
    flag: '--campaign-arrivals-per-tick',
    key: 'campaignArrivalsPerTick',
    value: '<n>',
    default: 0.05,
    description: 'Mean new campaigns per account and API per tick.',
    parse: decimal(0, 1000),
    show,
  }),
  flag({
    flag: '--campaign-unknown-statuses',
    key: 'campaignUnknownStatuses',
    value: '<n>',
    default: 0,
    description:
      'Extra campaigns per account and API with statuses outside the known nine (and devices in an unknown status).',
    parse: integer(0, 100),
    show,
  }),
  flag({
    flag: '--client-id',
    key: 'clientId',
    value: '<id>',
    default: 'demo-client',
    description: 'OAuth client id accepted by the token endpoint.',
    parse: nonEmpty,
    show,
  }),
  flag({
    flag: '--client-secret',
    key: 'clientSecret',
    value: '<secret>',
    default: 'demo-secret',
    description: 'OAuth client secret accepted by the token endpoint.',
    parse: nonEmpty,
    show,
  }),
  flag({
    flag: '--username',
    key: 'username',
    value: '<name>',
    default: 'demo-user',
    description: 'M2M user accepted by the session login.',
    parse: nonEmpty,
    show,
  }),
  flag({
    flag: '--password',
    key: 'password',
    value: '<password>',
    default: 'demo-password',
    description: 'Password of that user.',
    parse: nonEmpty,
    show,
  }),
  flag<'scenario', Scenario | null>({
    flag: '--scenario',
    key: 'scenario',
    value: '<name>',
    default: null,
    description: 'Scenario to run once: failure-spike (on the first account), or none.',
    parse: scenario,
    show,
  }),
  flag({
    flag: '--scenario-after-ticks',
    key: 'scenarioAfterTicks',
    value: '<n>',
    default: 0,
    description: 'Run --scenario after this many ticks (0: at start).',
    parse: integer(0, 1e9),
    show,
  }),
  flag({
    flag: '--cache-mb',
    key: 'cacheMb',
    value: '<n>',
    default: 256,
    description:
      'Memory for pre-serialised upgrades; beyond it upgrades are serialised per request.',
    parse: integer(0, 1_000_000),
    show,
  }),
] as const;

/** Settings that /_sim/faults can change at run time; the flags set their initial values. */
export const FAULT_FLAGS = [
  fault({
    flag: '--latency-ms',
    key: 'latencyMs',
    value: '<ms>',
    default: 0,
    description: 'Extra latency before each reports and campaigns response.',
    parse: decimal(0, 600_000),
    show,
    json: 'number',
  }),
  fault({
    flag: '--error-rate',
    key: 'errorRate',
    value: '<0..1>',
    default: 0,
    description: 'Share of reports and campaigns requests answered 500.',
    parse: rate,
    show,
    json: 'number',
  }),
  fault({
    flag: '--reset-rate',
    key: 'resetRate',
    value: '<0..1>',
    default: 0,
    description: 'Share of reports and campaigns requests whose connection is reset.',
    parse: rate,
    show,
    json: 'number',
  }),
  fault({
    flag: '--throttle-rate',
    key: 'throttleRate',
    value: '<0..1>',
    default: 0,
    description: 'Share of reports and campaigns requests answered 429 with Retry-After.',
    parse: rate,
    show,
    json: 'number',
  }),
  fault({
    flag: '--throttle-retry-after-seconds',
    key: 'throttleRetryAfterSeconds',
    value: '<s>',
    default: 1,
    description: "Retry-After value sent with those 429s and the throttle window's.",
    parse: integer(0, 86_400),
    show,
    json: 'number',
  }),
  fault({
    flag: '--throttle-bare-rate',
    key: 'throttleBareRate',
    value: '<0..1>',
    default: 0,
    description: 'Share of reports and campaigns requests answered 429 without Retry-After.',
    parse: rate,
    show,
    json: 'number',
  }),
  fault({
    flag: '--token-error-rate',
    key: 'tokenErrorRate',
    value: '<0..1>',
    default: 0,
    description: 'Share of token and login requests answered 500 (their own draw).',
    parse: rate,
    show,
    json: 'number',
  }),
  fault({
    flag: '--login-lost-answer',
    key: 'loginLostAnswer',
    value: '<504|close|none>',
    default: null as LoginLostAnswer | null,
    description:
      'Every session login is checked (and counted, as ThingSpace counts it), then its answer lost: a 504, or the connection closed.',
    parse: loginLostAnswer,
    show,
    json: 'text',
  }),
  fault({
    flag: '--login-fixed-status',
    key: 'loginFixedStatus',
    value: '<300..599|none>',
    default: null as number | null,
    description:
      'Every session login is answered with this status and an HTML page, without being checked (a wrong URL, a proxy).',
    parse: loginFixedStatus,
    show,
    json: 'text',
  }),
  fault({
    flag: '--bearer-ttl-seconds',
    key: 'bearerTtlSeconds',
    value: '<s>',
    default: 3600,
    description: 'Lifetime of an OAuth access token.',
    parse: decimal(0, 1e7, true),
    show,
    json: 'number',
  }),
  fault({
    flag: '--session-ttl-seconds',
    key: 'sessionTtlSeconds',
    value: '<s>',
    default: 1200,
    description: 'Inactivity lifetime of an M2M session; each successful use renews it.',
    parse: decimal(0, 1e7, true),
    show,
    json: 'number',
  }),
  fault({
    flag: '--session-error-status',
    key: 'sessionErrorStatus',
    value: '<400|401|403>',
    default: 400,
    description: 'HTTP status of missing, invalid or expired session token errors.',
    parse: (raw: string) => {
      if (raw !== '400' && raw !== '401' && raw !== '403') {
        throw new Error(`expected 400, 401 or 403, got "${raw}"`);
      }
      return Number(raw);
    },
    show,
    json: 'number',
  }),
  statusFault({
    flag: '--malformed-json-status',
    key: 'malformedJsonStatus',
    description: 'Reports of this status are cut-off, invalid JSON.',
  }),
  statusFault({
    flag: '--wrong-shape-status',
    key: 'wrongShapeStatus',
    description: 'Reports of this status are valid JSON of the wrong shape.',
  }),
  statusFault({
    flag: '--repeat-cursor-status',
    key: 'repeatCursorStatus',
    description: 'Reports of this status hand back the cursor they were given, forever.',
  }),
  statusFault({
    flag: '--endless-status',
    key: 'endlessStatus',
    description: 'Reports of this status always say hasMoreFlag true, with advancing cursors.',
  }),
  statusFault({
    flag: '--hang-status',
    key: 'hangStatus',
    description: 'Reports requests for this status are never answered.',
  }),
  statusFault({
    flag: '--oversize-page-status',
    key: 'oversizePageStatus',
    description: 'Report pages of this status carry --oversize-page-mb of padding.',
  }),
  fault({
    flag: '--oversize-page-mb',
    key: 'oversizePageMb',
    value: '<mb>',
    default: 64,
    description: 'Padding added to an oversize page, in MiB.',
    parse: decimal(0, 4096),
    show,
    json: 'number',
  }),
  statusFault({
    flag: '--short-report-status',
    key: 'shortReportStatus',
    description: 'Reports of this status end halfway (hasMoreFlag false) while set.',
  }),
  fault({
    flag: '--throttle-window',
    key: 'throttleWindow',
    value: '<on/period|none>',
    default: null as string | null,
    description:
      'By the real clock, for the first part of every period (e.g. 10s/30s) every API request is answered 429.',
    parse: throttleWindow,
    show,
    json: 'text',
  }),
  fault({
    flag: '--campaign-error-api',
    key: 'campaignErrorApi',
    value: '<v2|v3|none>',
    default: null as CampaignApi | null,
    description: 'Every campaign request (listings and device lists) of this API is answered 500.',
    parse: campaignApiOrNone,
    show,
    json: 'text',
  }),
  fault({
    flag: '--repeat-cursor-campaign',
    key: 'repeatCursorCampaign',
    value: '<id|none>',
    default: null as string | null,
    description: 'The device list of the campaign with this id hands back the cursor it was given.',
    parse: campaignIdOrNone,
    show,
    json: 'text',
  }),
  fault({
    flag: '--hidden-campaign',
    key: 'hiddenCampaign',
    value: '<id|none>',
    default: null as string | null,
    description:
      'The campaign history leaves out the campaign with this id; its device list still answers.',
    parse: campaignIdOrNone,
    show,
    json: 'text',
  }),
  fault({
    flag: '--campaign-numeric-cursor',
    key: 'campaignNumericCursor',
    value: null,
    default: false,
    description: 'lastSeenDeviceId and lastSeenCampaignId are JSON integers instead of strings.',
    parse: boolean,
    show,
    json: 'boolean',
  }),
  fault({
    flag: '--v3-listing-path',
    key: 'v3ListingPath',
    value: '<sdk|docs|both>',
    default: 'both' as V3ListingPath,
    description:
      "Which v3 campaign-history path answers: the SDK's /firmware/campaigns, the docs' /campaigns, or both.",
    parse: v3ListingPath,
    show,
    json: 'text',
  }),
  fault({
    flag: '--misspelt-cursor-key',
    key: 'misspeltCursorKey',
    value: null,
    default: false,
    description: 'Spell the cursor key lastSeenUpgrdadeId, as in the documentation example.',
    parse: boolean,
    show,
    json: 'boolean',
  }),
  fault({
    flag: '--numeric-cursor',
    key: 'numericCursor',
    value: null,
    default: false,
    description: 'Cursor is the zero-based number of the next record instead of an upgrade id.',
    parse: boolean,
    show,
    json: 'boolean',
  }),
] as const;

type OptionsOf<Table extends readonly FlagSpec<string, unknown>[]> = {
  -readonly [F in Table[number] as F['key']]: F['default'];
};

export type FaultSettings = OptionsOf<typeof FAULT_FLAGS>;
export type SimulatorOptions = OptionsOf<typeof SERVER_FLAGS> & FaultSettings;
export type FaultKey = keyof FaultSettings;

/** Every flag: the help, the parser and the docs test walk this. */
export const ALL_FLAGS: readonly (FlagSpec<string, unknown> & { readonly json?: FaultJsonType })[] =
  [...SERVER_FLAGS, ...FAULT_FLAGS] as readonly FlagSpec<string, unknown>[];

function defaultsOf(table: readonly FlagSpec<string, unknown>[]): Record<string, unknown> {
  return Object.fromEntries(table.map((spec) => [spec.key, spec.default]));
}

export function defaultFaults(): FaultSettings {
  return defaultsOf(FAULT_FLAGS) as FaultSettings;
}

export function defaultOptions(): SimulatorOptions {
  return { ...(defaultsOf(SERVER_FLAGS) as OptionsOf<typeof SERVER_FLAGS>), ...defaultFaults() };
}

const FAULT_SPECS = new Map<string, FaultSpec<string, unknown>>(
  (FAULT_FLAGS as readonly FaultSpec<string, unknown>[]).map((spec) => [spec.key, spec]),
);

/**
 * Validates a JSON object of fault changes against the fault table. Values keep their JSON
 * types: numbers for numbers, booleans for switches, a status string or null for statuses.
 */
export function parseFaultChanges(body: unknown): Partial<FaultSettings> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OptionError('expected a JSON object of fault settings');
  }
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const spec = FAULT_SPECS.get(key);
    if (spec === undefined) {
      throw new OptionError(`unknown fault "${key}"; known: ${[...FAULT_SPECS.keys()].join(', ')}`);
    }
    const typeOk =
      (spec.json === 'number' && typeof value === 'number') ||
      (spec.json === 'boolean' && typeof value === 'boolean') ||
      ((spec.json === 'status' || spec.json === 'text') &&
        (typeof value === 'string' || value === null));
    if (!typeOk) {
      const expected = {
        number: 'a number',
        boolean: 'a boolean',
        status: 'a status or null',
        text: 'a string or null',
      }[spec.json];
      throw new OptionError(`${key}: expected ${expected}`);
    }
    try {
      changes[key] = spec.parse(value === null ? 'none' : String(value));
    } catch (error) {
      throw new OptionError(`${key}: ${(error as Error).message}`);
    }
  }
  return changes as Partial<FaultSettings>;
}

/** Checks combinations a single value cannot: the rates share one draw, so they must fit in 1. */
export function checkFaults(faults: FaultSettings): void {
  const sum = faults.errorRate + faults.resetRate + faults.throttleRate + faults.throttleBareRate;
  if (sum > 1 + 1e-9) {
    throw new OptionError(
      `errorRate + resetRate + throttleRate + throttleBareRate must be at most 1, got ${sum}`,
    );
  }
}

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|::1|localhost)$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Cross-setting checks shared by the CLI and startSimulator. */
export function checkOptions(options: SimulatorOptions): void {
  if (!options.allowRemote && !isLoopback(options.listenAddress.host)) {
    throw new OptionError(
      `--listen-address: ${options.listenAddress.host} is not a loopback address; ` +
        'pass --allow-remote to listen on it',
    );
  }
  const upgrades =
    options.accounts * UPGRADE_STATUSES.reduce((sum, s) => sum + options.upgradesPerStatus[s], 0);
  if (
    options.totalDevices !== null &&
    options.totalDevices > upgrades * options.devicesPerUpgradeMax
  ) {
    throw new OptionError(
      `--total-devices: ${options.totalDevices} devices do not fit into ${upgrades} upgrades of at most ` +
        `${options.devicesPerUpgradeMax} devices; raise --upgrades-per-status, --accounts or ` +
        '--devices-per-upgrade-max',
    );
  }
  const campaigns =
    options.accounts *
    CAMPAIGN_APIS.length *
    (campaignsInPlan(options.campaignsPerAccount) + options.campaignUnknownStatuses);
  if (
    options.campaignTotalDevices !== null &&
    options.campaignTotalDevices > campaigns * options.campaignDevicesMax
  ) {
    throw new OptionError(
      `--campaign-total-devices: ${options.campaignTotalDevices} devices do not fit into ${campaigns} ` +
        `campaigns of at most ${options.campaignDevicesMax} devices; raise --campaigns-per-account, ` +
        '--accounts or --campaign-devices-max',
    );
  }
  checkFaults(options);
}

/**
 * Validates options given programmatically with the same rules as the command line, by passing
 * each value through its flag's parser.
 */
export function validateOptions(options: SimulatorOptions): void {
  for (const spec of ALL_FLAGS) {
    const value = (options as Record<string, unknown>)[spec.key];
    try {
      spec.parse(spec.show(value));
    } catch (error) {
      throw new OptionError(`${spec.key} (${spec.flag}): ${(error as Error).message}`);
    }
  }
  checkOptions(options);
}

export type ParsedArgs =
  { readonly help: true } | { readonly help: false; readonly options: SimulatorOptions };

const SPECS_BY_FLAG = new Map(ALL_FLAGS.map((spec) => [spec.flag, spec]));

const PARSE_ARGS_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  ...Object.fromEntries(
    ALL_FLAGS.map((spec) => [
      spec.flag.slice(2),
      { type: spec.value === null ? 'boolean' : 'string' } as const,
    ]),
  ),
} as const;

/** util.parseArgs quotes whole arguments in its messages; ours name the flag, as the usage errors do. */
function describeArgError(error: Error & { code?: string }): string {
  const quoted = /'(-[^'\s=]*)/.exec(error.message)?.[1] ?? '';
  const spec = SPECS_BY_FLAG.get(quoted as `--${string}`);
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${quoted || 'flag'}: unknown flag (see --help)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `${quoted || 'flag'}: missing value${spec?.value ? ` ${spec.value}` : ''}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `${/'([^']*)'/.exec(error.message)?.[1] ?? 'argument'}: unexpected argument (see --help)`;
    default:
      return `cannot read the command line: ${error.message}`;
  }
}

/**
 * Parses `--flag value`, `--flag=value` and bare switches with Node's util.parseArgs over the flag
 * tables; throws OptionError naming the flag. A switch also takes `--switch=true|false`, which
 * util.parseArgs refuses on a boolean, so those are set aside first; the last setting of a flag wins.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const assignments: { at: number; spec: FlagSpec<string, unknown>; raw: string }[] = [];
  const rest: string[] = [];
  const restAt: number[] = [];
  argv.forEach((arg, at) => {
    const eq = arg.indexOf('=');
    const spec = eq === -1 ? undefined : SPECS_BY_FLAG.get(arg.slice(0, eq) as `--${string}`);
    if (spec !== undefined && spec.value === null) {
      assignments.push({ at, spec, raw: arg.slice(eq + 1) });
    } else {
      rest.push(arg);
      restAt.push(at);
    }
  });
  let parsed;
  try {
    parsed = parseArgv({
      args: rest,
      options: PARSE_ARGS_OPTIONS,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (error) {
    if (argv.includes('--help') || argv.includes('-h')) return { help: true };
    throw new OptionError(describeArgError(error as Error & { code?: string }));
  }
  if (parsed.values.help === true) return { help: true };
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue;
    const spec = SPECS_BY_FLAG.get(`--${token.name}`);
    if (spec === undefined) continue;
    assignments.push({
      at: restAt[token.index] ?? token.index,
      spec,
      raw: token.value ?? 'true',
    });
  }
  const options: Record<string, unknown> = defaultOptions();
  for (const { spec, raw } of assignments.sort((a, b) => a.at - b.at)) {
    try {
      options[spec.key] = spec.parse(raw);
    } catch (error) {
      throw new OptionError(`${spec.flag}: ${(error as Error).message}`);
    }
  }
  const result = options as SimulatorOptions;
  checkOptions(result);
  return { help: false, options: result };
}

export function helpText(): string {
  const rows = ALL_FLAGS.map((spec) => ({
    left: spec.value === null ? spec.flag : `${spec.flag} ${spec.value}`,
    right: `${spec.description} (default: ${spec.show(spec.default)})`,
  }));
  const width = Math.max(...rows.map((row) => row.left.length)) + 2;
  return [
    'Usage: thingspace-simulator [flags]',
    '',
    'A fake Verizon ThingSpace API (OAuth token, M2M session login, FOTA v1 upgrade reports,',
    'FOTA v2/v3 campaigns) with a deterministic data set, moving time, fault injection and a',
    '/_sim control API.',
    '',
    ...rows.map((row) => `  ${row.left.padEnd(width)}${row.right}`),
    `  ${'--help'.padEnd(width)}Show this help.`,
    '',
    'See docs/simulator.md.',
  ].join('\n');
}
