/**
 * Helpers for the reliability tests: the exporter and the simulator as processes, paired; their JSON log
 * lines; scrapes timed and parsed; the simulator's stats typed; a process's file descriptors and memory
 * read from /proc. Everything listens on 127.0.0.1.
 */
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseExposition, seriesKey, seriesMap, type Sample } from './exposition.js';
import { startExporterProcess, type Running } from './process.js';
import {
  BUSINESS_METRICS,
  CAMPAIGN_METRICS,
  SIMULATOR_ENV,
  campaignTruthSeries,
  startSimulatorProcess,
  truthSeries,
  type SimulatorProcess,
  type SimulatorTruth,
  type Truth,
} from './simulator.js';
import { CAMPAIGN_APIS, CAMPAIGN_STATUSES } from '../../src/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

export type ExporterProcess = Awaited<ReturnType<typeof startExporterProcess>>;

export interface Pair {
  sim: SimulatorProcess;
  exporter: ExporterProcess;
  accounts: string[];
  truth: SimulatorTruth;
}

/**
 * The truth for an exporter at its default settings. The campaign walk set depends on "now" (final
 * campaigns within the 7-day lookback), and the exporter decides it by its wall clock, not by the
 * simulated clock (2025-01-01 unless --start-time): ask for the truth at the wall clock.
 */
export function truthNow(sim: SimulatorProcess, maxLabelValues = 50): Promise<SimulatorTruth> {
  return sim.truth({ maxLabelValues, now: Date.now() });
}

/** A frozen simulator (`--tick 0`) and an exporter collecting from it. */
export async function startPair(
  simArgs: string[],
  exporterArgs: string[] = [],
  env: Record<string, string> = SIMULATOR_ENV,
): Promise<Pair> {
  const sim = await startSimulatorProcess(['--tick', '0', ...simArgs]);
  const truth = await truthNow(sim);
  const accounts = Object.keys(truth.accounts);
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1h',
      ...exporterArgs,
    ],
    env,
  );
  return { sim, exporter, accounts, truth };
}

/** Every JSON line the process wrote so far, on stdout or stderr, in order per stream. */
export function logLines(p: Running): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const text of [p.stdout.join(''), p.stderr.join('')]) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by a kill, or not ours
      }
    }
  }
  return lines;
}

/** Failures of one kind in a `collection finished` line: how many, the first few places, the first message. */
export interface FailureGroup {
  count: number;
  first: string[];
  message: string;
}

export interface CollectionLine {
  time: number;
  level: string;
  durationSeconds: number;
  reports: number;
  /** Pages of every source: v1 report pages, campaign listing pages and campaign device pages. */
  pages: number;
  upgrades: number;
  devices: number;
  campaigns: number;
  campaignDevices: number;
  failed: number;
  /** By error kind. */
  failures: Record<string, FailureGroup>;
  /** Ids and campaign devices the entered counters remember, and the bytes they take. */
  idMemory: { ids: number; bytes: number };
}

export function collectionLines(p: Running): CollectionLine[] {
  return logLines(p)
    .filter((l) => l.msg === 'collection finished')
    .map((l) => ({ ...(l as unknown as CollectionLine), time: Date.parse(String(l.time)) }));
}

/** Waits until the process has logged `n` "collection finished" lines in all; returns the n-th. */
export async function waitForCollection(
  p: Running,
  n: number,
  timeoutMs = 30_000,
): Promise<CollectionLine> {
  let seen = 0;
  await p.waitForLine((l) => l.msg === 'collection finished' && ++seen >= n, timeoutMs);
  return collectionLines(p)[n - 1]!;
}

/**
 * Waits for a collection that started after this call (the one running now may have started before a
 * fault was set), and returns its line.
 */
export async function waitForFreshCollection(
  p: Running,
  timeoutMs = 30_000,
): Promise<CollectionLine> {
  const since = Date.now();
  const done = collectionLines(p).length;
  for (let n = done + 1; ; n++) {
    const line = await waitForCollection(p, n, timeoutMs);
    // the log's time is when it ended; durationSeconds takes us back to its start (ms resolution)
    if (line.time - line.durationSeconds * 1000 >= since - 1) return line;
  }
}

export interface Scrape {
  status: number;
  text: string;
  ms: number;
}

export async function timedGet(url: string, init?: RequestInit): Promise<Scrape> {
  const started = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - started };
}

export async function scrape(exporter: ExporterProcess): Promise<Sample[]> {
  const res = await timedGet(exporter.metricsUrl);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`);
  return parseExposition(res.text);
}

export function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

/** Sum of a metric's samples that carry these labels. */
export function total(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** `account/status` → thingspace_fota_collection_success. */
export function successes(samples: Sample[]): Map<string, number> {
  return new Map(
    samples
      .filter((s) => s.name === 'thingspace_fota_collection_success')
      .map((s) => [`${s.labels.account}/${s.labels.status}`, s.value]),
  );
}

/** The business series of the account+status pairs `only` accepts. */
export function businessOf(
  samples: Sample[],
  only: (account: string, status: string) => boolean,
): Map<string, number> {
  const all = seriesMap(samples, BUSINESS_METRICS);
  const kept = new Map<string, number>();
  for (const s of samples) {
    if (!BUSINESS_METRICS.includes(s.name)) continue;
    if (!only(s.labels.account!, s.labels.status!)) continue;
    const key = seriesKey(s.name, s.labels);
    kept.set(key, all.get(key)!);
  }
  return kept;
}

/**
 * Asserts the fault landed where intended: the statuses in `failing` have success 0 and no business
 * series at all (nothing fabricated, no earlier values to keep); every other status is exactly the truth.
 */
export function expectOnlyFailing(
  samples: Sample[],
  truth: Truth,
  accounts: string[],
  failing: readonly string[],
): void {
  const ok = (_account: string, status: string) => !failing.includes(status);
  for (const account of accounts) {
    for (const status of UPGRADE_STATUSES) {
      expect([`${account}/${status}`, successes(samples).get(`${account}/${status}`)]).toEqual([
        `${account}/${status}`,
        ok(account, status) ? 1 : 0,
      ]);
    }
  }
  expect(businessOf(samples, ok)).toEqual(truthSeries(truth, ok));
  expect(businessOf(samples, (a, s) => !ok(a, s)).size).toBe(0);
}

export function expectAllExact(samples: Sample[], truth: Truth, accounts: string[]): void {
  expectOnlyFailing(samples, truth, accounts, []);
}

/** `account/api/stage` → thingspace_fota_campaign_collection_success. */
export function campaignSuccesses(samples: Sample[]): Map<string, number> {
  return new Map(
    samples
      .filter((s) => s.name === 'thingspace_fota_campaign_collection_success')
      .map((s) => [`${s.labels.account}/${s.labels.api}/${s.labels.stage}`, s.value]),
  );
}

/**
 * Every campaign series of every account and API (v2, v3) equals the truth (ask it with truthNow), and
 * both stages of each succeeded.
 */
export function expectCampaignsExact(
  samples: Sample[],
  truth: SimulatorTruth,
  accounts: string[],
): void {
  const expected = new Map<string, number>();
  for (const account of accounts) {
    for (const api of CAMPAIGN_APIS) {
      expected.set(`${account}/${api}/listing`, 1);
      expected.set(`${account}/${api}/devices`, 1);
    }
  }
  expect(campaignSuccesses(samples)).toEqual(expected);
  expect(seriesMap(samples, CAMPAIGN_METRICS)).toEqual(campaignTruthSeries(truth));
}

/** The v1 reports are exactly the truth, and so is every campaign series. */
export function expectEverythingExact(
  samples: Sample[],
  truth: SimulatorTruth,
  accounts: string[],
): void {
  expectAllExact(samples, truth, accounts);
  expectCampaignsExact(samples, truth, accounts);
}

/** The simulator's defaults (docs/simulator.md): campaigns per listing page, devices per device page. */
const LISTING_PAGE_SIZE = 5;
const DEVICE_PAGE_SIZE = 1000;

/**
 * The pages one complete collection reads, per endpoint, as the truth implies them (a list is one page
 * at least; the simulator's last page is the one that ends the list, never an empty one after it).
 */
export function pagesOf(truth: SimulatorTruth, pageSize: number): Record<DataEndpoint, number> {
  const pages = (n: number, size: number) => Math.max(1, Math.ceil(n / size));
  const out = { reports: 0, campaigns: 0, campaign_devices: 0 };
  for (const statuses of Object.values(truth.accounts)) {
    for (const t of Object.values(statuses)) {
      out.reports += pages(
        t.upgrades.reduce((sum, u) => sum + u.count, 0),
        pageSize,
      );
    }
  }
  for (const apis of Object.values(truth.campaigns)) {
    for (const t of Object.values(apis)) {
      for (const status of CAMPAIGN_STATUSES) {
        const listed = t.campaigns.find((c) => c.campaign_status === status)?.count ?? 0;
        out.campaigns += pages(listed, LISTING_PAGE_SIZE);
      }
      for (const walked of t.walked)
        out.campaign_devices += pages(walked.total_devices, DEVICE_PAGE_SIZE);
    }
  }
  return out;
}

/** The endpoints that serve data (v1 reports, campaign listings, campaign device lists). */
export const DATA_ENDPOINTS = ['reports', 'campaigns', 'campaign_devices'] as const;
export type DataEndpoint = (typeof DATA_ENDPOINTS)[number];

export interface ThrottleWindowCount {
  index: number;
  startedAt: string;
  throttled: number;
}

export interface SimStats {
  generation: number;
  requests: Record<'oauth_token' | 'session_login' | DataEndpoint, Record<string, number>>;
  login: { consecutiveFailures: number; failedTotal: number; locked: boolean };
  throttle: { window: string | null; windows: ThrottleWindowCount[] };
}

export async function simStats(sim: SimulatorProcess): Promise<SimStats> {
  return (await sim.stats()) as unknown as SimStats;
}

/** Requests the simulator counted for an endpoint with this outcome ('200', '429', 'reset', 'hang' …). */
export function count(stats: SimStats, endpoint: keyof SimStats['requests'], outcome: string) {
  return stats.requests[endpoint][outcome] ?? 0;
}

export function countAll(stats: SimStats, endpoint: keyof SimStats['requests']): number {
  return Object.values(stats.requests[endpoint]).reduce((a, b) => a + b, 0);
}

/** Requests of every data endpoint with this outcome; without one, all of them. */
export function countData(stats: SimStats, outcome?: string): number {
  return DATA_ENDPOINTS.reduce(
    (sum, endpoint) =>
      sum + (outcome === undefined ? countAll(stats, endpoint) : count(stats, endpoint, outcome)),
    0,
  );
}

/** Every request to ThingSpace of any endpoint, tokens included. */
export function countEverything(stats: SimStats): number {
  return Object.values(stats.requests)
    .flatMap((byOutcome) => Object.values(byOutcome))
    .reduce((a, b) => a + b, 0);
}

/** Polls until `check` holds; fails with `what` after timeoutMs. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A TCP port that was free a moment ago (nothing listens on it now). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Open file descriptors of a process (sockets included), from /proc. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident memory now and its high-water mark, in bytes, from /proc/<pid>/status. */
export function memoryOf(pid: number): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rssBytes: kb('VmRSS') * 1024, peakRssBytes: kb('VmHWM') * 1024 };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Writes one JSON line of measured figures to stdout, for the CI log and docs/reliability.md. */
export function reportFigures(name: string, figures: Record<string, unknown>): void {
  process.stdout.write(`[reliability] ${name} ${JSON.stringify(figures)}\n`);
}

/** One request as a timing proxy saw it, times in ms of the test process's monotonic clock. */
export interface TimedRequest {
  endpoint: 'oauth_token' | 'session_login' | DataEndpoint | 'other';
  path: string;
  /** When the request arrived at the proxy. */
  atMs: number;
  /** The same instant by the wall clock, to set beside log lines. */
  atWallMs: number;
  /** When the answer's head came back (undefined: no answer, e.g. a reset). */
  answeredMs?: number;
  status?: number;
}

export interface TimingProxy {
  url: string;
  requests: TimedRequest[];
  close(): Promise<void>;
}

function endpointOf(path: string): TimedRequest['endpoint'] {
  const p = path.split('?')[0]!;
  if (p === '/api/ts/v1/oauth2/token') return 'oauth_token';
  if (p === '/api/m2m/v1/session/login') return 'session_login';
  if (p.startsWith('/api/fota/v1/reports/')) return 'reports';
  if (/\/campaigns\/[^/]+\/devices$/.test(p)) return 'campaign_devices';
  if (p.endsWith('/campaigns')) return 'campaigns';
  return 'other';
}

/**
 * A forwarding proxy that notes when each request to ThingSpace arrived and when and how it was answered:
 * the simulator counts requests but does not time them, and pacing and backoff are about time.
 */
export async function startTimingProxy(target: string): Promise<TimingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const requests: TimedRequest[] = [];
  const server = createHttpServer((req, res) => {
    const path = req.url ?? '/';
    const record: TimedRequest = {
      endpoint: endpointOf(path),
      path,
      atMs: performance.now(),
      atWallMs: Date.now(),
    };
    requests.push(record);
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (answer) => {
        record.answeredMs = performance.now();
        record.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}

/** The most requests any window of `windowMs` holds (windows starting at a request). */
export function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}
