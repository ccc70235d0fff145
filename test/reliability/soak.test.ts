/**
 * Soak: collections every second while random faults come and go (every fault the simulator has, a new draw
 * every 1.5 s, seeded) and /metrics is scraped all the time. Bounded for CI (SOAK_SECONDS, default 60;
 * SOAK_SEED picks the fault sequence). It must end with:
 * - no unhandled rejection, no crashed collection, no failed request, the process alive and exiting 0;
 * - every scrape answered, and every report that succeeded exactly the truth (time is frozen, so the truth
 *   never moves); a failed one shows its last good values (still the truth) or nothing;
 * - no growth of the heap after a full GC, nor of open file descriptors (sockets included), between a calm
 *   moment after the warm-up and a calm moment at the end;
 * - full recovery once the faults stop.
 */
import { jest } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { parseExposition, seriesKey, type Sample } from '../support/exposition.js';
import {
  collectionLines,
  fdCount,
  logLines,
  median,
  percentile,
  reportFigures,
  scrape,
  simStats,
  countAll,
  count,
  timedGet,
  value,
  waitForFreshCollection,
  expectAllExact,
  type ExporterProcess,
} from '../support/faults.js';
import { killAll, startExporterProcess } from '../support/process.js';
import {
  BUSINESS_METRICS,
  SIMULATOR_ENV,
  startSimulatorProcess,
  truthSeries,
  type SimulatorProcess,
  type Truth,
} from '../support/simulator.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const SOAK_SEED = Number(process.env.SOAK_SEED ?? 1);
const PROBE = fileURLToPath(new URL('../support/gc-probe.mjs', import.meta.url));

jest.setTimeout((SOAK_SECONDS + 90) * 1000);
afterAll(() => killAll());

/** mulberry32: a small seeded generator, so a failing soak can be replayed with its SOAK_SEED. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUS_FAULTS = [
  'malformedJsonStatus',
  'wrongShapeStatus',
  'repeatCursorStatus',
  'endlessStatus',
  'hangStatus',
  'oversizePageStatus',
] as const;

const CALM: Record<string, unknown> = {
  errorRate: 0,
  resetRate: 0,
  throttleRate: 0,
  throttleBareRate: 0,
  tokenErrorRate: 0,
  latencyMs: 0,
  numericCursor: false,
  misspeltCursorKey: false,
  ...Object.fromEntries(STATUS_FAULTS.map((k) => [k, null])),
};

/** One random fault setting: a few rates, maybe one status broken one way, maybe an odd cursor. */
function drawFaults(random: () => number): Record<string, unknown> {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  if (random() < 0.25) return { ...CALM };
  const changes: Record<string, unknown> = {
    ...CALM,
    errorRate: pick([0, 0, 0.05, 0.2]),
    resetRate: pick([0, 0, 0.05, 0.1]),
    throttleRate: pick([0, 0, 0.05]),
    throttleRetryAfterSeconds: pick([0, 1]),
    throttleBareRate: pick([0, 0, 0.05]),
    tokenErrorRate: pick([0, 0, 0.2]),
    latencyMs: pick([0, 0, 5, 20]),
    numericCursor: random() < 0.2,
    misspeltCursorKey: random() < 0.2,
  };
  if (random() < 0.5) changes[pick(STATUS_FAULTS)] = pick(UPGRADE_STATUSES);
  return changes;
}

interface ProbeSample {
  at: number;
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  handles: number;
}

async function probe(exporter: ExporterProcess): Promise<ProbeSample> {
  const before = logLines(exporter).filter((l) => l.msg === 'gc-probe').length;
  exporter.proc.kill('SIGUSR2');
  let seen = 0;
  const line = await exporter.waitForLine((l) => l.msg === 'gc-probe' && ++seen > before, 10_000);
  return { at: Date.now(), ...(line as unknown as Omit<ProbeSample, 'at'>) };
}

/** The truth's business series per account/status, to check scrapes quickly. */
function truthByReport(truth: Truth): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const account of Object.keys(truth.accounts)) {
    for (const status of UPGRADE_STATUSES) {
      out.set(
        `${account}/${status}`,
        truthSeries(truth, (a, s) => a === account && s === status),
      );
    }
  }
  return out;
}

interface ScrapeCheck {
  /** No collection had finished yet: nothing about any report is served. */
  beforeFirstCollection: boolean;
  exactReports: number;
  failedReports: number;
  problems: string[];
}

/** A successful report must be the truth; a failed one its last good values (the truth too) or nothing. */
function checkScrape(samples: Sample[], truth: Map<string, Map<string, number>>): ScrapeCheck {
  const served = new Map<string, Map<string, number>>();
  const success = new Map<string, number>();
  for (const s of samples) {
    if (s.name === 'thingspace_fota_collection_success') {
      success.set(`${s.labels.account}/${s.labels.status}`, s.value);
    } else if (BUSINESS_METRICS.includes(s.name)) {
      const report = `${s.labels.account}/${s.labels.status}`;
      if (!served.has(report)) served.set(report, new Map());
      served.get(report)!.set(seriesKey(s.name, s.labels), s.value);
    }
  }
  const result: ScrapeCheck = {
    beforeFirstCollection: success.size === 0 && served.size === 0,
    exactReports: 0,
    failedReports: 0,
    problems: [],
  };
  if (result.beforeFirstCollection) return result;
  for (const [report, expected] of truth) {
    const got = served.get(report) ?? new Map<string, number>();
    const exact = got.size === expected.size && [...expected].every(([k, v]) => got.get(k) === v);
    const ok = success.get(report);
    if (ok === 1) {
      if (exact) result.exactReports++;
      else result.problems.push(`${report}: success 1 but not the truth`);
    } else if (ok === 0) {
      result.failedReports++;
      if (!exact && got.size !== 0)
        result.problems.push(`${report}: failed, and neither last good values nor absent`);
    } else {
      result.problems.push(`${report}: no collection_success series`);
    }
  }
  return result;
}

test(`soak: ${SOAK_SECONDS} s of random faults under continuous scraping`, async () => {
  const sim: SimulatorProcess = await startSimulatorProcess([
    '--tick',
    '0',
    '--seed',
    '21',
    '--accounts',
    '2',
    '--upgrades-per-status',
    '25',
    '--page-size',
    '5',
    '--devices-per-upgrade-mean',
    '10',
    '--oversize-page-mb',
    '2',
  ]);
  const truth = await sim.truth();
  const expected = truthByReport(truth);
  const accounts = Object.keys(truth.accounts);
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1s',
      '--collector.timeout=1s',
      '--collector.max-retries=2',
      '--collector.max-pages=40',
      '--collector.max-page-bytes=1048576',
    ],
    { ...SIMULATOR_ENV, NODE_OPTIONS: `--import=${PROBE}` },
  );
  const pid = exporter.proc.pid!;
  const random = seeded(SOAK_SEED);

  // scrapers: three clients on /metrics all the time, one on the landing page
  const stats = {
    scrapes: 0,
    landing: 0,
    errors: [] as string[],
    latencies: [] as number[],
    exact: 0,
    failed: 0,
    problems: [] as string[],
  };
  let scraping = true;
  const scrapers = [0, 1, 2].map(async () => {
    while (scraping) {
      try {
        const sentAt = Date.now();
        const res = { ...(await timedGet(exporter.metricsUrl)), started: sentAt };
        stats.latencies.push(res.ms);
        if (res.status !== 200) stats.errors.push(`HTTP ${res.status}`);
        else {
          stats.scrapes++;
          const check = checkScrape(parseExposition(res.text), expected);
          if (check.beforeFirstCollection) {
            if (res.started > firstCollectionAt())
              stats.problems.push('a scrape after the first collection served no report');
          } else {
            stats.exact += check.exactReports;
            stats.failed += check.failedReports;
            stats.problems.push(...check.problems);
          }
        }
      } catch (error) {
        stats.errors.push(String(error));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  scrapers.push(
    (async () => {
      while (scraping) {
        const res = await timedGet(`${exporter.url}/`).catch((e: unknown) => ({
          status: 0,
          text: String(e),
          ms: 0,
        }));
        if (res.status === 200) stats.landing++;
        else stats.errors.push(`landing ${res.status}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })(),
  );

  /** When the first collection was logged as finished (Infinity before). */
  function firstCollectionAt(): number {
    return collectionLines(exporter)[0]?.time ?? Infinity;
  }

  const samples: ProbeSample[] = [];
  const metricsSamples: { heap: number; fds: number }[] = [];
  async function sampleResources(): Promise<ProbeSample> {
    const sample = await probe(exporter);
    samples.push(sample);
    const scraped = await scrape(exporter);
    metricsSamples.push({
      heap: value(scraped, 'nodejs_heap_size_used_bytes') ?? NaN,
      fds: value(scraped, 'process_open_fds') ?? NaN,
    });
    return sample;
  }

  /** Faults off, two clean collections, then a measurement: a calm point to compare. */
  async function calm(): Promise<ProbeSample> {
    await sim.setFaults(CALM);
    await waitForFreshCollection(exporter);
    await waitForFreshCollection(exporter);
    expectAllExact(await scrape(exporter), truth, accounts);
    return sampleResources();
  }

  const started = Date.now();
  const deadline = started + SOAK_SECONDS * 1000;
  const warmUpEnd = started + Math.max(10_000, SOAK_SECONDS * 200);
  let baseline: ProbeSample | undefined;
  let draws = 0;
  let expiries = 0;
  let nextSample = started + 5000;
  while (Date.now() < deadline) {
    if (!baseline && Date.now() >= warmUpEnd) baseline = await calm();
    const faults = drawFaults(random);
    await sim.setFaults(faults);
    draws++;
    if (random() < 0.2) {
      await sim.post(
        `/_sim/expire?tokens=${['bearer', 'session', 'all'][Math.floor(random() * 3)]}`,
      );
      expiries++;
    }
    if (Date.now() >= nextSample) {
      await sampleResources();
      nextSample += 5000;
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  const final = await calm();
  scraping = false;
  await Promise.all(scrapers);

  const lines = collectionLines(exporter);
  const simRequests = await simStats(sim);
  const fdsNow = fdCount(pid);
  const stopStarted = Date.now();
  const exitCode = await exporter.stop();
  const stopMs = Date.now() - stopStarted;

  const figures = {
    seconds: SOAK_SECONDS,
    seed: SOAK_SEED,
    faultDraws: draws,
    tokenExpiries: expiries,
    collections: lines.length,
    collectionsWithFailures: lines.filter((l) => l.failed > 0).length,
    collectionSecondsP50: median(lines.map((l) => l.durationSeconds)),
    collectionSecondsMax: Math.max(...lines.map((l) => l.durationSeconds)),
    reportsRequests: countAll(simRequests, 'reports'),
    reportsFaulted: countAll(simRequests, 'reports') - count(simRequests, 'reports', '200'),
    logins: count(simRequests, 'session_login', '200'),
    bearers: count(simRequests, 'oauth_token', '200'),
    scrapes: stats.scrapes,
    landingPages: stats.landing,
    scrapeErrors: stats.errors.length,
    scrapeMsP50: Number(median(stats.latencies).toFixed(1)),
    scrapeMsP99: Number(percentile(stats.latencies, 99).toFixed(1)),
    scrapeMsMax: Number(Math.max(...stats.latencies).toFixed(1)),
    exactReportsSeen: stats.exact,
    failedReportsSeen: stats.failed,
    inconsistencies: stats.problems.length,
    heapAfterGcBaselineMiB: Number((baseline!.heapUsed / 2 ** 20).toFixed(2)),
    heapAfterGcFinalMiB: Number((final.heapUsed / 2 ** 20).toFixed(2)),
    heapAfterGcMaxMiB: Number((Math.max(...samples.map((s) => s.heapUsed)) / 2 ** 20).toFixed(2)),
    heapAfterGcSeriesMiB: samples.map((s) => Number((s.heapUsed / 2 ** 20).toFixed(2))),
    rssBaselineMiB: Number((baseline!.rss / 2 ** 20).toFixed(1)),
    rssFinalMiB: Number((final.rss / 2 ** 20).toFixed(1)),
    fdsBaseline: baseline!.fds,
    fdsFinal: final.fds,
    fdsMax: Math.max(...samples.map((s) => s.fds)),
    fdsFromProcNow: fdsNow,
    processOpenFdsMetricMax: Math.max(...metricsSamples.map((s) => s.fds)),
    nodejsHeapUsedMetricMaxMiB: Number(
      (Math.max(...metricsSamples.map((s) => s.heap)) / 2 ** 20).toFixed(1),
    ),
    stopMs,
  };
  reportFigures('soak', figures);

  // the process: never a crash, a rejection or a failed request, and a clean exit
  expect(exitCode).toBe(0);
  expect(stopMs).toBeLessThan(5000);
  expect(exporter.output()).not.toMatch(
    /unhandled rejection|collection crashed|request failed|fatal/,
  );
  expect(logLines(exporter).filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
  // the faults really happened, and collections kept coming
  expect(figures.collectionsWithFailures).toBeGreaterThan(0);
  expect(figures.reportsFaulted).toBeGreaterThan(0);
  expect(figures.collections).toBeGreaterThanOrEqual(SOAK_SECONDS / 4);
  // every scrape answered, every successful report exact
  expect(stats.errors).toEqual([]);
  expect(stats.problems.slice(0, 10)).toEqual([]);
  expect(stats.exact).toBeGreaterThan(0);
  expect(stats.failed).toBeGreaterThan(0);
  // no growth: heap after GC within 10 % + 2 MiB, descriptors within 4 (sockets come and go)
  expect(final.heapUsed).toBeLessThan(baseline!.heapUsed * 1.1 + 2 * 2 ** 20);
  expect(final.fds).toBeLessThanOrEqual(baseline!.fds + 4);
  expect(figures.fdsMax).toBeLessThan(64);
});
