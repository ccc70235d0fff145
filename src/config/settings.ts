/**
 * The configuration table: every setting exactly once, with its flag, environment variable, default and
 * meaning. The parser, `--help` and the README's configuration table (kept in sync by a test) derive from it.
 */
import { APIS, type Api } from '../campaigns/statuses.js';
import { formatDuration, parseDuration } from './duration.js';

/**
 * A user's value as it may appear in an error: JSON-quoted so that a newline cannot forge a second line
 * (a config error is one line), and cut short.
 */
export function quote(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A secret is read through this handle so that `*_FILE` contents can be re-read when credentials change. */
export interface Secret {
  read(): string;
  readonly source: string;
}

export interface SettingSpec<T> {
  /** Command-line flag in the Prometheus exporters' style; absent for settings that only come from the environment. */
  readonly flag?: `--${string}`;
  readonly env: string;
  /** Default as written by a user; undefined means the setting is required. */
  readonly default?: string;
  /** Secrets are never printed and may also come from a file named by `<ENV>_FILE`. */
  readonly secret?: boolean;
  /** A flag given without a value means true. */
  readonly boolean?: boolean;
  readonly meaning: string;
  parse(raw: string): T;
}

function spec<T>(s: SettingSpec<T> & { secret?: never }): SettingSpec<T> & { secret?: false } {
  return s;
}

function secret(s: Omit<SettingSpec<string>, 'secret' | 'parse' | 'flag'>): SettingSpec<string> & {
  secret: true;
} {
  return { ...s, secret: true, parse: nonEmpty };
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw.trim());
    if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
      throw new Error(`must be a whole number from ${min} to ${max}, got ${quote(raw)}`);
    }
    return value;
  };
}

/** Node's timers hold at most about 24.8 days; the maxima keep every duration far inside that. */
function duration(minMs: number, maxMs: number) {
  return (raw: string): number => {
    const ms = parseDuration(raw);
    if (ms < minMs || ms > maxMs) {
      throw new Error(
        `must be from ${formatDuration(minMs)} to ${formatDuration(maxMs)}, got ${quote(raw)}`,
      );
    }
    return ms;
  };
}

function decimal(min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw.trim());
    if (!/^\d+(\.\d+)?$/.test(raw.trim()) || value < min || value > max) {
      throw new Error(`must be a number from ${min} to ${max}, got ${quote(raw)}`);
    }
    return value;
  };
}

function bool(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no', ''].includes(value)) return false;
  throw new Error(`must be true or false, got ${quote(raw)}`);
}

function nonEmpty(raw: string): string {
  if (raw.length === 0) throw new Error('must not be empty');
  return raw;
}

/** Account names go into a URL path: only the characters ThingSpace account names use, so no path tricks. */
const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function parseAccounts(raw: string): string[] {
  const accounts = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  if (accounts.length === 0) throw new Error('must name at least one account');
  const seen = new Set<string>();
  for (const account of accounts) {
    if (!ACCOUNT_NAME.test(account)) {
      throw new Error(
        `account ${quote(account)} is not a valid account name (letters, digits, "-" and "_", at most 64)`,
      );
    }
    if (seen.has(account)) throw new Error(`account ${quote(account)} is listed twice`);
    seen.add(account);
  }
  return accounts;
}

export function parseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // The raw text is not echoed: an unparseable URL may still carry a password in its userinfo.
    throw new Error('is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`must be an http(s) URL, got "${url.protocol}"`);
  }
  if (url.username || url.password) throw new Error('must not carry credentials');
  if (url.search || url.hash) throw new Error('must not have a query or fragment');
  return url;
}

/**
 * A proxy URL may carry `user:password@`, which is a secret: the raw text is never echoed in an error, and
 * the credentials are given to the log scrubber before anything is logged.
 */
export function parseProxyUrl(raw: string): URL | undefined {
  if (raw.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error('is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`must be an http(s) URL, got "${url.protocol}"`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new Error(
      'must be scheme://[user:password@]host:port, without a path, query or fragment',
    );
  }
  return url;
}

export function parseApis(raw: string): Api[] {
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  if (names.length === 0) throw new Error(`must name at least one of ${APIS.join(', ')}`);
  const apis: Api[] = [];
  for (const name of names) {
    if (!(APIS as readonly string[]).includes(name)) {
      throw new Error(`${quote(name)} is not one of ${APIS.join(', ')}`);
    }
    if (apis.includes(name as Api)) throw new Error(`${quote(name)} is listed twice`);
    apis.push(name as Api);
  }
  // Lifecycle order whatever the order given, so that logs and metrics are stable.
  return APIS.filter((api) => apis.includes(api));
}

export function parseListenAddress(raw: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:]*)):(\d{1,5})$/.exec(raw.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`must be host:port or :port, got ${quote(raw)}`);
  return { host: match[1] ?? match[2] ?? '', port };
}

function telemetryPath(raw: string): string {
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(raw) || raw === '/' || raw.startsWith('/-/')) {
    throw new Error(`must be a path such as /metrics (not / nor under /-/), got ${quote(raw)}`);
  }
  return raw;
}

/**
 * The URL operators and Alertmanager reach the exporter on (behind a proxy, a load balancer or a path
 * prefix), from which the links to /arrivals are built. Credentials, a query or a fragment are refused.
 */
export function parseExternalUrl(raw: string): string {
  if (raw.trim() === '') return '';
  // The same rules as the base URL (http(s), no credentials, no query or fragment), without a trailing
  // slash, so that links are `${url}/arrivals`.
  return parseBaseUrl(raw).href.replace(/\/+$/, '');
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function logLevel(raw: string): LogLevel {
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new Error(`must be one of ${LOG_LEVELS.join(', ')}, got ${quote(raw)}`);
  }
  return level as LogLevel;
}

export const DEFAULT_PORT = 9775;

export const SETTINGS = {
  baseUrl: spec({
    flag: '--thingspace.base-url',
    env: 'THINGSPACE_BASE_URL',
    default: 'https://thingspace.verizon.com',
    meaning:
      'ThingSpace API root; the token, session and FOTA paths hang below it. Plain http only for a loopback address unless --thingspace.allow-insecure-http.',
    parse: parseBaseUrl,
  }),
  allowInsecureHttp: spec({
    flag: '--thingspace.allow-insecure-http',
    env: 'THINGSPACE_ALLOW_INSECURE_HTTP',
    default: 'false',
    boolean: true,
    meaning:
      'Allow a plain-http base URL that is not loopback (credentials would cross the network in clear text).',
    parse: bool,
  }),
  accounts: spec({
    flag: '--thingspace.accounts',
    env: 'THINGSPACE_ACCOUNTS',
    meaning:
      'Comma-separated ThingSpace account names, kept as strings (leading zeros matter). Required.',
    parse: parseAccounts,
  }),
  clientId: secret({
    env: 'THINGSPACE_CLIENT_ID',
    meaning: 'OAuth2 client id (or a file named by THINGSPACE_CLIENT_ID_FILE). Required.',
  }),
  clientSecret: secret({
    env: 'THINGSPACE_CLIENT_SECRET',
    meaning: 'OAuth2 client secret (or a file named by THINGSPACE_CLIENT_SECRET_FILE). Required.',
  }),
  username: secret({
    env: 'THINGSPACE_USERNAME',
    meaning: 'M2M session login user (or a file named by THINGSPACE_USERNAME_FILE). Required.',
  }),
  password: secret({
    env: 'THINGSPACE_PASSWORD',
    meaning: 'M2M session login password (or a file named by THINGSPACE_PASSWORD_FILE). Required.',
  }),
  maxLoginFailures: spec({
    flag: '--thingspace.max-login-failures',
    env: 'THINGSPACE_MAX_LOGIN_FAILURES',
    default: '3',
    meaning:
      'Failed logins in a row (rejected, or sent without an answer) after which the exporter stops logging in until the credentials change or the count is cleared: a restart without --storage.path, state.json removed with it (ThingSpace locks the user at five).',
    parse: integer(1, 4),
  }),
  apis: spec({
    flag: '--thingspace.apis',
    env: 'THINGSPACE_APIS',
    default: 'v1,v2,v3',
    meaning:
      'Comma-separated FOTA APIs to read: v1 (upgrade reports, OMA-DM devices), v2 (campaigns, HTTP devices), v3 (campaigns, LWM2M devices). With v1 alone no campaign request is sent.',
    parse: parseApis,
  }),
  proxyUrl: spec({
    flag: '--thingspace.proxy-url',
    env: 'THINGSPACE_PROXY_URL',
    default: '',
    meaning:
      'HTTP(S) proxy for every request to ThingSpace (http://[user:password@]host:port, password percent-encoded; the credentials are a secret). Empty: HTTPS_PROXY, else HTTP_PROXY (lower-case forms win) decide; NO_PROXY applies either way. Read at start-up.',
    parse: parseProxyUrl,
  }),
  caFile: spec({
    flag: '--thingspace.ca-file',
    env: 'THINGSPACE_CA_FILE',
    default: '',
    meaning:
      "PEM file of CA certificates trusted in addition to Node's bundled ones, for ThingSpace and an HTTPS proxy (a TLS-intercepting proxy's company CA); read at start-up. NODE_EXTRA_CA_CERTS works as well.",
    parse: (raw: string) => raw.trim(),
  }),
  maxRequestsPerSecond: spec({
    flag: '--thingspace.max-requests-per-second',
    env: 'THINGSPACE_MAX_REQUESTS_PER_SECOND',
    default: '0',
    meaning:
      'Client-side pacing of all requests to ThingSpace together, for contracts that state a rate limit; 0 is unlimited.',
    parse: decimal(0, 10_000),
  }),
  interval: spec({
    flag: '--collector.interval',
    env: 'COLLECTOR_INTERVAL',
    default: '5m',
    meaning:
      'Time between the starts of two collections; also the least time between a failed login (rejected, sent without an answer, or answered by something other than the credential check) and the next attempt.',
    parse: duration(1000, 86_400_000),
  }),
  concurrency: spec({
    flag: '--collector.concurrency',
    env: 'COLLECTOR_CONCURRENCY',
    default: '4',
    meaning:
      'Requests to ThingSpace in flight at once, all accounts and APIs together: report pages, campaign listings and campaign device lists (a login goes in the slot of the request that needs it). A slot is taken per attempt: the backoff before a retry and a pause at the throttle gate hold none.',
    parse: integer(1, 64),
  }),
  timeout: spec({
    flag: '--collector.timeout',
    env: 'COLLECTOR_TIMEOUT',
    default: '30s',
    meaning:
      'Limit for one HTTP request to ThingSpace, from sending it to the last byte of the answer.',
    parse: duration(100, 600_000),
  }),
  maxRetries: spec({
    flag: '--collector.max-retries',
    env: 'COLLECTOR_MAX_RETRIES',
    default: '3',
    meaning:
      'Retries of one request after a 5xx, a timeout or a network error, with exponential backoff and jitter (a Retry-After on a 5xx honoured up to 10 s). 429s and 503s with Retry-After are not counted: the shared throttle gate decides when they go again, within the collection interval. A session login is never resent once it may have reached ThingSpace (only a failure before the request was written is retried), and a rejected login never.',
    parse: integer(0, 10),
  }),
  maxStale: spec({
    flag: '--collector.max-stale',
    env: 'COLLECTOR_MAX_STALE',
    default: '',
    meaning:
      'How long a failing report, campaign listing or campaign keeps serving its last good values before its series disappear; at least --collector.interval. Empty: 3 × --collector.interval.',
    parse: (raw: string): number | undefined =>
      raw.trim() === '' ? undefined : duration(0, 30 * 86_400_000)(raw),
  }),
  maxLabelValues: spec({
    flag: '--collector.max-label-values',
    env: 'COLLECTOR_MAX_LABEL_VALUES',
    default: '50',
    meaning:
      'Distinct firmware_to, device_status and result_reason values kept per account+status (v1) and per account+API (campaigns): those with the most device entries, ties to the most recent; the rest are counted under "other" (README, "Label values").',
    parse: integer(1, 10_000),
  }),
  maxPages: spec({
    flag: '--collector.max-pages',
    env: 'COLLECTOR_MAX_PAGES',
    default: '10000',
    meaning:
      'Pages one list may take before its pass ends with a pagination error (guards against an endless hasMoreFlag): a v1 report (account × status), a campaign listing (account × API × campaign status) or the device list of one campaign.',
    parse: integer(1, 10_000_000),
  }),
  maxPageBytes: spec({
    flag: '--collector.max-page-bytes',
    env: 'COLLECTOR_MAX_PAGE_BYTES',
    default: '67108864',
    meaning: 'Largest response body accepted from ThingSpace, in bytes; a larger page is refused.',
    parse: integer(1024, 2 ** 31 - 1),
  }),
  campaignLookback: spec({
    flag: '--collector.campaign-lookback',
    env: 'COLLECTOR_CAMPAIGN_LOOKBACK',
    default: '7d',
    meaning:
      'Campaigns in a final status (CampaignEnded, CampaignCancelled, CampaignAborted, CampaignFailed, CampaignRequestFailed) whose endDate is older than this are counted, but their devices are not read.',
    parse: duration(0, 3650 * 86_400_000),
  }),
  maxCampaigns: spec({
    flag: '--collector.max-campaigns',
    env: 'COLLECTOR_MAX_CAMPAIGNS',
    default: '100',
    meaning:
      'Campaigns per account and API whose devices are read and which get per-campaign series; beyond it the newest are kept and the rest counted in thingspace_fota_campaigns_folded.',
    parse: integer(0, 100_000),
  }),
  storagePath: spec({
    flag: '--storage.path',
    env: 'STORAGE_PATH',
    default: '',
    meaning:
      "Writable directory (created if missing; one exporter per directory) where state.json keeps each user's consecutive failed logins across restarts, so a restart never gives a wrong password fresh attempts, and arrivals.snapshot keeps the entered counters' id memories, so that a restart within a day counts what arrived while the exporter was down (a collection gap) instead of learning again. Empty: memory only, lost at restart.",
    parse: (raw: string) => raw.trim(),
  }),
  listenAddress: spec({
    flag: '--web.listen-address',
    env: 'WEB_LISTEN_ADDRESS',
    default: `:${DEFAULT_PORT}`,
    meaning: 'Address to serve /metrics on: host:port, or :port for every interface.',
    parse: parseListenAddress,
  }),
  telemetryPath: spec({
    flag: '--web.telemetry-path',
    env: 'WEB_TELEMETRY_PATH',
    default: '/metrics',
    meaning: 'Path under which the metrics are served.',
    parse: telemetryPath,
  }),
  webConfigFile: spec({
    flag: '--web.config.file',
    env: 'WEB_CONFIG_FILE',
    default: '',
    meaning:
      'Path to a web configuration file in the Prometheus exporter-toolkit format (tls_server_config, basic_auth_users with bcrypt hashes); re-read when it or the certificate, key or client CA file it names changes (read every 2 s, applied when two reads agree): a new client_auth_type or client CA applies to new connections and closes older ones; switching TLS on or off needs a restart. Empty serves plain HTTP without authentication.',
    parse: (raw: string) => raw.trim(),
  }),
  externalUrl: spec({
    flag: '--web.external-url',
    env: 'WEB_EXTERNAL_URL',
    default: '',
    meaning:
      "The URL operators and Alertmanager reach the exporter on (e.g. https://fota-exporter.example.com, with a path prefix if a proxy adds one). Exposed as thingspace_fota_exporter_external_url_info, from which the alerts' arrivals_url annotation and the dashboard's links to /arrivals are built. Empty: those links carry a placeholder host.",
    parse: parseExternalUrl,
  }),
  arrivalsEnabled: spec({
    flag: '--arrivals.enabled',
    env: 'ARRIVALS_ENABLED',
    default: 'true',
    boolean: true,
    meaning:
      'Keep the upgrades and device entries behind the entered counters and serve them at /api/v1/arrivals and /arrivals (device ids are customer data). false: nothing is kept, both answer 404 and the landing page does not link them.',
    parse: bool,
  }),
  arrivalsRetention: spec({
    flag: '--arrivals.retention',
    env: 'ARRIVALS_RETENTION',
    default: '24h',
    meaning:
      'How long an arrival is kept after the exporter first saw it; older ones are dropped (thingspace_fota_arrivals_dropped_total{bound="retention"}).',
    parse: duration(60_000, 30 * 86_400_000),
  }),
  arrivalsMaxEntries: spec({
    flag: '--arrivals.max-entries',
    env: 'ARRIVALS_MAX_ENTRIES',
    default: '100000',
    meaning:
      'Arrivals (device entries, and upgrades without devices) kept at most; beyond it the oldest are dropped (thingspace_fota_arrivals_dropped_total{bound="max_entries"}), and one collection makes no more. About 150 bytes of heap each, some 500 of resident memory (docs/performance.md, figure 9).',
    parse: integer(1, 10_000_000),
  }),
  logLevel: spec({
    flag: '--log.level',
    env: 'LOG_LEVEL',
    default: 'info',
    meaning: `Least severe log level written: ${LOG_LEVELS.join(', ')}.`,
    parse: logLevel,
  }),
  once: spec({
    flag: '--once',
    env: 'EXPORTER_ONCE',
    default: 'false',
    boolean: true,
    meaning:
      'Run one collection, print the exposition to stdout and exit: 0 if every v1 report (account × status) and every campaign listing and device list (account × API) succeeded, 1 otherwise.',
    parse: bool,
  }),
};

export type SettingName = keyof typeof SETTINGS;

type Parsed<S> = S extends SettingSpec<infer T> ? T : never;
type SecretNames = {
  [K in SettingName]: (typeof SETTINGS)[K]['secret'] extends true ? K : never;
}[SettingName];

type ParsedSettings = {
  [K in Exclude<SettingName, SecretNames>]: Parsed<(typeof SETTINGS)[K]>;
} & { [K in SecretNames]: Secret };

/** The parsed settings, with the derived defaults (max-stale from the interval) filled in. */
export type Config = Omit<ParsedSettings, 'maxStale'> & { maxStale: number };

/** --collector.max-stale, when not set: long enough that one or two failed passes keep the series. */
export const MAX_STALE_INTERVALS = 3;
