/**
 * Helpers for the reliability tests: the exporter and the simulator as processes, paired; their JSON log
 * lines; scrapes timed and parsed; the simulator's stats typed; a process's file descriptors and memory
 * read from /proc. Everything listens on 127.0.0.1.
 */
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseExposition, seriesKey, seriesMap, type Sample } from './exposition.js';
import { startExporterProcess, type Running } from './process.js';
import {
  BUSINESS_METRICS,
  SIMULATOR_ENV,
  startSimulatorProcess,
  truthSeries,
  type SimulatorProcess,
  type Truth,
} from './simulator.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

export type ExporterProcess = Awaited<ReturnType<typeof startExporterProcess>>;

export interface Pair {
  sim: SimulatorProcess;
  exporter: ExporterProcess;
  accounts: string[];
  truth: Truth;
}

/** A frozen simulator (`--tick 0`) and an exporter collecting from it. */
export async function startPair(
  simArgs: string[],
  exporterArgs: string[] = [],
  env: Record<string, string> = SIMULATOR_ENV,
): Promise<Pair> {
  const sim = await startSimulatorProcess(['--tick', '0', ...simArgs]);
  const truth = await sim.truth();
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

export interface CollectionLine {
  time: number;
  durationSeconds: number;
  reports: number;
  pages: number;
  upgrades: number;
  devices: number;
  failed: number;
  failures: string[];
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

export interface SimStats {
  generation: number;
  requests: Record<'oauth_token' | 'session_login' | 'reports', Record<string, number>>;
  login: { consecutiveFailures: number; failedTotal: number; locked: boolean };
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
