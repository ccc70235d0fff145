#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench`: the exporter against the ThingSpace simulator, every figure beside its reference,
 * measured in the same run on the same simulator. See docs/performance.md for the method.
 *
 *   1. collection wall time vs the floor (a minimal keep-alive pager at the same concurrency)  ≤ 1.10×
 *   2. collection wall time vs a naive client (sequential, a connection per request)          ≥ 3× faster
 *   3. time and peak RSS per profile; RSS at the largest ≤ 1.5 × RSS at the smallest, ≤ 200 MiB;
 *      the campaigns profile ≤ 200 MiB
 *   4. /metrics under autocannon (64 connections) during a collection, vs express serving the same
 *      bytes from memory: 0 errors, p99 ≤ 50 ms, requests/s ≥ 0.8 × the reference
 *   5. CPU per device entry: validation + aggregation + id memory on top of JSON.parse, as a ratio
 *   6. /metrics size (series, bytes) per profile and per account; with many accounts, growth per account
 *   7. the id memory behind the entered counters: ids remembered and bytes, beside the peak RSS
 *   8. the arrivals snapshot --storage.path keeps it in: bytes, write time, read time at start-up (every
 *      exporter here runs with --storage.path, so figures 1 to 4 include its write)
 *   9. the arrivals journal (/api/v1/arrivals) with its cap full: bytes per kept entry (heap and
 *      columns), and the exporter's peak RSS at 2M and campaigns with 100,000 entries kept ≤ 200 MiB
 *      (lib/arrivals.mjs)
 * and, for every profile, /metrics equal to the simulator's /_sim/truth after every collection measured.
 *
 * Profiles are of three kinds: v1 (FOTA v1 reports only, read with --thingspace.apis=v1 so that the figures
 * stay comparable with the results from before v2/v3 existed), accounts (hundreds of accounts, one exporter
 * run: time, peak RSS and /metrics size per account against a smaller profile of the same shape per account)
 * and campaigns (v2 and v3 campaigns only, --thingspace.apis=v2,v3: floor, time and peak RSS).
 *
 * The simulator, the exporter, the reference pagers and the reference server each run as their own
 * process; autocannon and figure 5 run in this one. Every child is killed when the benchmark ends.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { measureCampaignCpuPerDevice, measureCpuPerDevice } from './lib/cpu.mjs';
import { arrivalsAtCap, journalBytesPerEntry, MAX_ENTRIES } from './lib/arrivals.mjs';
import { idMemoryFor } from './lib/memory.mjs';
import { cpuSeconds, killChildrenOnExit, peakRssBytes, rssBytes, startNode } from './lib/proc.mjs';
import {
  BUSINESS_METRICS,
  CAMPAIGN_METRICS,
  ENTERED_METRICS,
  campaignTruthSeries,
  diffSeries,
  enteredTruthSeries,
  parseExposition,
  seriesMap,
  truthSeries,
} from './lib/series.mjs';
import { PROFILES, QUICK_PROFILES, simulatorArgs } from './lib/profiles.mjs';
import { EXPORTER_ENV, startSimulator } from './lib/simulator.mjs';
import { fetchCampaignPageTexts, fetchPageTexts } from './pager.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MIB = 1024 * 1024;
/** The exporter's --collector.max-label-values default; truth is asked for the same cap. */
const MAX_LABEL_VALUES = 50;
/** The exporter's --collector.campaign-lookback and --collector.max-campaigns defaults, for the truth. */
const CAMPAIGN_LOOKBACK = '7d';
const MAX_CAMPAIGNS = 100;

/** @typedef {import('./lib/profiles.mjs').Profile} Profile */

const TARGETS = {
  floorRatio: 1.1,
  naiveSpeedup: 3,
  rssGrowth: 1.5,
  rssMaxBytes: 200 * MIB,
  scrapeP99Ms: 50,
  scrapeRpsRatio: 0.8,
};

const USAGE = `usage: node bench/run.mjs [flags]   (npm run bench -- [flags])

  --latency-ms <ms>      simulator latency per request (default 20)
  --profiles <a,b,…>     profiles to run (default all: ${PROFILES.map((p) => p.name).join(', ')};
                         with --quick: ${QUICK_PROFILES.map((p) => p.name).join(', ')})
  --quick                tiny profiles, one repetition, 1 s of autocannon: a smoke run of a few seconds
  --repeat <n>           floor/exporter pairs per profile, medians reported (default 5; --quick 1)
  --duration <s>         autocannon seconds per server (default 10; --quick 1)
  --concurrency <n>      exporter --collector.concurrency and the floor's connections (default 4)
  --out <file>           results file (default bench/results.json)
  --strict               exit 1 when a target is missed (default: print FAIL, exit 0)
  --no-storage           exporters without --storage.path (no figure 8), to compare with runs before it
  --help
`;

/**
 * @typedef {object} Options
 * @property {number} latencyMs
 * @property {Profile[]} profiles
 * @property {boolean} quick
 * @property {number} repeat
 * @property {number} duration
 * @property {number} concurrency
 * @property {string} out
 * @property {boolean} strict
 * @property {boolean} storage exporters run with --storage.path (figure 8)
 */

/**
 * @param {string[]} argv
 * @returns {Options | undefined} undefined for --help
 */
function parseArgs(argv) {
  /** @type {Record<string, string | true>} */
  const flags = {};
  const valued = ['--latency-ms', '--profiles', '--repeat', '--duration', '--concurrency', '--out'];
  const boolean = ['--quick', '--strict', '--no-storage', '--help'];
  for (let i = 0; i < argv.length; i++) {
    const arg = String(argv[i]);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (boolean.includes(name) && eq === -1) flags[name] = true;
    else if (valued.includes(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new Error(`${name} needs a value`);
      flags[name] = value;
    } else throw new Error(`unknown flag ${arg}`);
  }
  if (flags['--help']) return undefined;
  const quick = flags['--quick'] === true;
  /** @param {string} name @param {number} fallback @param {number} min @param {number} max */
  const number = (name, fallback, min, max) => {
    const raw = flags[name];
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max)
      throw new Error(`${name} must be a number from ${min} to ${max}`);
    return value;
  };
  const all = quick ? QUICK_PROFILES : PROFILES;
  const wanted = typeof flags['--profiles'] === 'string' ? flags['--profiles'].split(',') : null;
  const profiles = wanted
    ? wanted.map((name) => {
        const found = all.find((p) => p.name.toLowerCase() === name.trim().toLowerCase());
        if (!found)
          throw new Error(`unknown profile ${name}; known: ${all.map((p) => p.name).join(', ')}`);
        return found;
      })
    : all;
  return {
    latencyMs: number('--latency-ms', 20, 0, 10_000),
    profiles,
    quick,
    repeat: Math.round(number('--repeat', quick ? 1 : 5, 1, 20)),
    duration: number('--duration', quick ? 1 : 10, 1, 600),
    concurrency: Math.round(number('--concurrency', 4, 1, 64)),
    out: path.resolve(
      typeof flags['--out'] === 'string' ? flags['--out'] : `${ROOT}bench/results.json`,
    ),
    strict: flags['--strict'] === true,
    storage: flags['--no-storage'] !== true,
  };
}

/** @param {string} text */
function progress(text) {
  process.stderr.write(`[bench] ${text}\n`);
}

/** @param {number[]} xs */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2
    ? /** @type {number} */ (s[mid])
    : /** @type {number} */ (s[mid - 1] + /** @type {number} */ (s[mid])) / 2;
}

function machineInfo() {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) cpuModel = match[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel,
    memoryBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src'], {
        cwd: ROOT,
        encoding: 'utf8',
      }).trim() !== '';
    return { commit, srcDirty: dirty };
  } catch {
    return null;
  }
}

/** What Prometheus sends with a scrape (the text format, gzip accepted); the scrape figure sends it too. */
const SCRAPE_HEADERS = {
  accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
  'accept-encoding': 'gzip',
  'x-prometheus-scrape-timeout-seconds': '10',
};

/**
 * A scrape as Prometheus makes it: the body as it came over the wire, and its decoded text.
 * @param {string} url
 */
async function scrapeOnce(url) {
  const res = await request(url, { headers: SCRAPE_HEADERS });
  const body = Buffer.from(await res.body.arrayBuffer());
  const contentEncoding = String(res.headers['content-encoding'] ?? '');
  const text = (contentEncoding === 'gzip' ? gunzipSync(body) : body).toString('utf8');
  return {
    status: res.statusCode,
    contentType: String(res.headers['content-type'] ?? ''),
    contentEncoding,
    body,
    text,
  };
}

/** The series a profile compares with the truth: those of the APIs its exporter reads, and the counters. */
/** @param {Profile} profile */
function comparedMetrics(profile) {
  return [
    ...(profile.apis.includes('v1') ? BUSINESS_METRICS : []),
    ...(profile.apis.some((api) => api !== 'v1') ? CAMPAIGN_METRICS : []),
    ...ENTERED_METRICS,
  ];
}

/**
 * What the exporter must serve, from /_sim/truth asked with the exporter's settings: label cap, lookback,
 * max campaigns, its wall clock (the lookback is counted from it), and enteredSince the current generation
 * (time is frozen, so nothing enters after the learning pass: every entered counter must stay at its truth).
 * @param {import('./lib/simulator.mjs').Simulator} sim
 * @param {Profile} profile
 * @param {number} generation
 */
async function expectedSeries(sim, profile, generation) {
  const truth = await sim.truth({
    maxLabelValues: MAX_LABEL_VALUES,
    campaignLookback: CAMPAIGN_LOOKBACK,
    maxCampaigns: MAX_CAMPAIGNS,
    now: Date.now(),
    enteredSince: generation,
  });
  /** @type {Map<string, number>} */
  const expected = new Map();
  if (profile.apis.includes('v1')) for (const [k, v] of truthSeries(truth)) expected.set(k, v);
  for (const [k, v] of campaignTruthSeries(truth, (_account, api) => profile.apis.includes(api)))
    expected.set(k, v);
  for (const [k, v] of enteredTruthSeries(truth, profile.apis)) expected.set(k, v);
  return { truth, expected };
}

/**
 * The exporter's series from the data must equal the truth, series for series; and the size of what it
 * serves (every series, the text and the gzip body a scraper receives).
 * @param {string} metricsUrl
 * @param {Map<string, number>} expected
 * @param {readonly string[]} metrics
 */
async function checkTruth(metricsUrl, expected, metrics) {
  const res = await scrapeOnce(metricsUrl);
  if (res.status !== 200)
    return {
      ok: false,
      series: 0,
      diff: [`/metrics answered HTTP ${res.status}`],
      res,
      exposition: {
        series: 0,
        textBytes: 0,
        wireBytes: 0,
        heapUsedBytes: 0,
        heapTotalBytes: 0,
        externalBytes: 0,
      },
    };
  const samples = parseExposition(res.text);
  const actual = seriesMap(samples, metrics);
  const diff = diffSeries(expected, actual);
  // The process's own view of its memory at this scrape (prom-client's default metrics), beside the RSS.
  const value = (/** @type {string} */ name) => samples.find((x) => x.name === name)?.value ?? 0;
  return {
    ok: diff.length === 0,
    series: actual.size,
    diff,
    res,
    exposition: {
      series: samples.length,
      textBytes: Buffer.byteLength(res.text),
      wireBytes: res.body.length,
      heapUsedBytes: value('nodejs_heap_size_used_bytes'),
      heapTotalBytes: value('nodejs_heap_size_total_bytes'),
      externalBytes: value('nodejs_external_memory_bytes'),
    },
  };
}

/**
 * @typedef {object} Context
 * @property {import('./lib/simulator.mjs').Simulator} sim
 * @property {Profile} profile
 * @property {string[]} accounts
 * @property {{ bearer: string, session: string }} tokens
 * @property {Map<string, number>} expected truth as series
 * @property {string[]} metrics the metrics compared with the truth
 * @property {Options} options
 */

/**
 * @typedef {object} PagerResult
 * @property {number} seconds
 * @property {number} cpuSeconds
 * @property {number} pages
 * @property {number} upgrades
 * @property {number} devices
 * @property {number} campaigns
 * @property {number} walked
 * @property {number} campaignDevices
 * @property {number} longestChain
 * @property {number} peakRssBytes
 * @property {{ seconds: number, cpuSeconds: number }[]} walks
 */

/**
 * Walks by a reference pager in its own process; the figures of the last walk.
 * @param {Context} ctx
 * @param {'floor' | 'naive'} mode
 * @param {number} walks
 * @returns {Promise<PagerResult>}
 */
async function runPager(ctx, mode, walks) {
  const child = startNode(
    mode,
    `${ROOT}bench/pager.mjs`,
    [
      mode,
      String(ctx.options.concurrency),
      ctx.accounts.join(','),
      String(walks),
      ctx.profile.apis.join(','),
    ],
    {
      env: {
        BENCH_URL: ctx.sim.url,
        BENCH_BEARER: ctx.tokens.bearer,
        BENCH_SESSION: ctx.tokens.session,
      },
    },
  );
  const line = await child.waitForLine((l) => l.mode === mode, 900_000);
  const code = await child.exited;
  if (code !== 0) throw new Error(`${mode} pager exited with ${code}:\n${child.output()}`);
  return /** @type {PagerResult} */ (/** @type {unknown} */ (line));
}

/**
 * An exporter as deployed with --storage.path: it writes the arrivals snapshot after every collection, so
 * its time, peak RSS and scrape figures include that write.
 * @param {Context} ctx
 * @param {string} interval --collector.interval
 * @param {string} storage --storage.path
 */
function startExporter(ctx, interval, storage) {
  return startNode(
    'exporter',
    `${ROOT}dist/cli.js`,
    [
      '--web.listen-address=127.0.0.1:0',
      ...(ctx.options.storage ? [`--storage.path=${storage}`] : []),
      `--thingspace.base-url=${ctx.sim.url}`,
      `--thingspace.accounts=${ctx.accounts.join(',')}`,
      `--thingspace.apis=${ctx.profile.apis.join(',')}`,
      `--collector.interval=${interval}`,
      `--collector.concurrency=${ctx.options.concurrency}`,
      `--collector.max-label-values=${MAX_LABEL_VALUES}`,
    ],
    { env: EXPORTER_ENV },
  );
}

/** @param {import('./lib/proc.mjs').LogLine} line */
const isFinished = (line) => line.msg === 'collection finished';

/**
 * The id memory as the exporter reports it in its `collection finished` line (`idMemory: {ids, bytes}`),
 * or undefined while it does not.
 * @param {import('./lib/proc.mjs').LogLine} line
 */
function reportedIdMemory(line) {
  const m = /** @type {{ ids?: unknown, bytes?: unknown } | undefined} */ (line.idMemory);
  return m && typeof m.ids === 'number' && typeof m.bytes === 'number'
    ? { ids: m.ids, bytes: m.bytes }
    : undefined;
}

/**
 * The arrivals snapshot a collection wrote, as its `collection finished` line reports it.
 * @param {import('./lib/proc.mjs').LogLine} line
 * @returns {{ bytes: number, seconds: number } | undefined}
 */
function reportedSnapshot(line) {
  const s = /** @type {{ bytes?: unknown, seconds?: unknown } | undefined} */ (
    line.arrivalsSnapshot
  );
  return s && typeof s.bytes === 'number' && typeof s.seconds === 'number'
    ? { bytes: s.bytes, seconds: s.seconds }
    : undefined;
}

/**
 * How long a new exporter takes to read the arrivals snapshot in `storage` at start-up (its `arrivals
 * snapshot restored` line), stopped as soon as it has.
 * @param {Context} ctx
 * @param {string} storage
 */
async function restoreSeconds(ctx, storage) {
  const child = startExporter(ctx, '1h', storage);
  try {
    const line = await child.waitForLine(
      (l) => /^arrivals snapshot (restored|ignored)/.test(String(l.msg)),
      120_000,
    );
    if (!String(line.msg).startsWith('arrivals snapshot restored'))
      throw new Error(`the exporter did not restore the snapshot: ${JSON.stringify(line)}`);
    return { seconds: Number(line.seconds), ids: Number(line.ids) };
  } finally {
    await child.stop();
  }
}

/**
 * Two collections by a fresh exporter process (interval 1s: the second starts when the first has ended
 * or a second after it started). The first is the learning pass of the entered counters (it fills the id
 * memory); the second counts, and is the one measured, like the floor's second walk: a process that has
 * run once, as an exporter is for all but its first collection. Duration, pages and devices come from its
 * log line; RSS at start-up, peak RSS after the first collection and over both, and CPU from /proc while it
 * lives; then /metrics against truth. With --storage.path, as deployed: the log line also gives the arrivals
 * snapshot's size and write time; `measureRestore` then times a new exporter's read of it.
 * @param {Context} ctx
 * @param {boolean} [measureRestore]
 */
async function runExporter(ctx, measureRestore = false) {
  const storage = mkdtempSync(path.join(os.tmpdir(), 'fota-bench-storage-'));
  const child = startExporter(ctx, '1s', storage);
  try {
    const listening = await child.waitForLine((l) => l.msg === 'listening', 60_000);
    const cpuAtStart = cpuSeconds(child.pid);
    const startRss = rssBytes(child.pid);
    const first = await child.waitForLine(isFinished, 900_000);
    const cpuAtFirst = cpuSeconds(child.pid);
    const peakAfterFirst = peakRssBytes(child.pid);
    const second = await child.waitForLine(isFinished, 900_000, child.lines.indexOf(first) + 1);
    const cpuAtSecond = cpuSeconds(child.pid);
    const peak = peakRssBytes(child.pid);
    const truth = await checkTruth(String(listening.url), ctx.expected, ctx.metrics);
    for (const line of [first, second]) {
      if (Number(line.failed) !== 0) {
        truth.diff.unshift(`failed: ${JSON.stringify(line.failures)}`);
        truth.ok = false;
      }
    }
    // The snapshot the stopped exporter left, read by a new one (measured once per profile).
    const restore =
      measureRestore && ctx.options.storage && (await child.stop()) === 0
        ? await restoreSeconds(ctx, storage)
        : undefined;
    return {
      seconds: Number(second.durationSeconds),
      cpuSeconds: cpuAtSecond - cpuAtFirst,
      walks: [
        { seconds: Number(first.durationSeconds), cpuSeconds: cpuAtFirst - cpuAtStart },
        { seconds: Number(second.durationSeconds), cpuSeconds: cpuAtSecond - cpuAtFirst },
      ],
      pages: Number(second.pages),
      upgrades: Number(second.upgrades),
      devices: Number(second.devices),
      campaigns: Number(second.campaigns ?? 0),
      campaignDevices: Number(second.campaignDevices ?? 0),
      idMemory: reportedIdMemory(second),
      snapshot: reportedSnapshot(second),
      restore,
      startRssBytes: startRss,
      peakRssAfterFirstBytes: peakAfterFirst,
      peakRssBytes: peak,
      truthOk: truth.ok,
      series: truth.series,
      exposition: truth.exposition,
      truthDiff: truth.diff,
    };
  } finally {
    await child.stop();
    rmSync(storage, { recursive: true, force: true });
  }
}

/**
 * @param {string} url
 * @param {number} seconds
 */
async function cannon(url, seconds) {
  const cpu = process.cpuUsage();
  const result = await autocannon({
    url,
    headers: SCRAPE_HEADERS,
    connections: 64,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
  });
  const used = process.cpuUsage(cpu);
  return {
    loadGeneratorCpuSeconds: (used.user + used.system) / 1e6,
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors + result.timeouts + result.non2xx,
    bytesPerSecond: result.throughput.average,
  };
}

/**
 * Figure 4: autocannon against the exporter's /metrics while collections run back to back (interval 1s,
 * shorter than a collection), and against express serving the same bytes; a second of warm-up each,
 * two rounds each (one with --quick), alternating, the best round of each reported.
 * @param {Context} ctx
 */
async function scrapeFigure(ctx) {
  const warmup = ctx.options.quick ? 0.5 : 1;
  const interval = 1;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fota-bench-'));
  const exporter = startExporter(ctx, `${interval}s`, dir);
  let reference;
  try {
    const listening = await exporter.waitForLine((l) => l.msg === 'listening', 60_000);
    const metricsUrl = String(listening.url);
    await exporter.waitForLine(isFinished, 600_000);
    const truth = await checkTruth(metricsUrl, ctx.expected, ctx.metrics);
    const { body, contentType, contentEncoding, text } = truth.res;
    writeFileSync(path.join(dir, 'metrics.body'), body);
    reference = startNode('reference', `${ROOT}bench/reference-server.mjs`, [
      path.join(dir, 'metrics.body'),
      contentType,
      contentEncoding,
    ]);
    const referenceUrl = String(
      (await reference.waitForLine((l) => l.msg === 'listening', 30_000)).url,
    );

    // Rounds alternate between the two servers, so that a change in the machine's load meets both; the
    // exporter is stopped (SIGSTOP) while the reference is measured, so its collection does not compete.
    const rounds = ctx.options.quick ? 1 : 2;
    const exporterRounds = [];
    const referenceRounds = [];
    for (let round = 0; round < rounds; round++) {
      exporter.proc.kill('SIGCONT');
      await cannon(metricsUrl, warmup);
      const from = exporter.lines.length;
      const cpu0 = cpuSeconds(exporter.pid);
      const t0 = performance.now();
      const measured = await cannon(metricsUrl, ctx.options.duration);
      const t1 = performance.now();
      const cpu = cpuSeconds(exporter.pid) - cpu0;
      exporter.proc.kill('SIGSTOP');
      const busy = collectionBusy(
        exporter.lines.slice(from).filter(isFinished),
        exporter.lines.slice(0, from).filter(isFinished).at(-1),
        interval,
        t0,
        t1,
      );
      exporterRounds.push({
        ...measured,
        cpuSeconds: cpu,
        collectionsFinished: busy.finished,
        collectionBusyFraction: busy.fraction,
      });

      await cannon(referenceUrl, warmup);
      const rcpu0 = cpuSeconds(reference.pid);
      const ref = await cannon(referenceUrl, ctx.options.duration);
      referenceRounds.push({ ...ref, cpuSeconds: cpuSeconds(reference.pid) - rcpu0 });
    }
    exporter.proc.kill('SIGCONT');
    /** The round with the most requests per second: the one least disturbed by other work. */
    const best = (/** @type {{ requestsPerSecond: number }[]} */ rs) =>
      rs.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
    const exporterBest = /** @type {(typeof exporterRounds)[number]} */ (best(exporterRounds));
    const referenceBest = /** @type {(typeof referenceRounds)[number]} */ (best(referenceRounds));
    const errors = (/** @type {{ errors: number }[]} */ rs) => rs.reduce((n, r) => n + r.errors, 0);
    return {
      bytes: body.length,
      textBytes: Buffer.byteLength(text),
      contentType,
      contentEncoding,
      series: truth.series,
      truthOk: truth.ok,
      truthDiff: truth.diff,
      exporter: {
        ...exporterBest,
        errors: errors(exporterRounds),
        collectionBusyFraction: Math.min(...exporterRounds.map((r) => r.collectionBusyFraction)),
        rounds: exporterRounds,
      },
      reference: { ...referenceBest, errors: errors(referenceRounds), rounds: referenceRounds },
    };
  } finally {
    exporter.proc.kill('SIGCONT');
    await exporter.stop();
    await reference?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The share of [t0, t1] during which a collection was running, from the 'collection finished' lines
 * (end = when the line arrived, start = end − durationSeconds) and the next start they imply.
 * @param {import('./lib/proc.mjs').LogLine[]} during lines that arrived after t0
 * @param {import('./lib/proc.mjs').LogLine | undefined} before the last line before t0
 * @param {number} intervalS
 * @param {number} t0
 * @param {number} t1
 */
function collectionBusy(during, before, intervalS, t0, t1) {
  /** @type {[number, number][]} */
  const spans = [];
  let last = before;
  for (const line of during) {
    const end = Number(line._at);
    spans.push([end - Number(line.durationSeconds) * 1000, end]);
    last = line;
  }
  if (last) {
    const end = Number(last._at);
    const start = end - Number(last.durationSeconds) * 1000;
    const next = Math.max(end, start + intervalS * 1000);
    if (next < t1) spans.push([next, t1]);
  }
  let busy = 0;
  for (const [s, e] of spans) busy += Math.max(0, Math.min(e, t1) - Math.max(s, t0));
  return {
    finished: during.filter((l) => Number(l._at) <= t1).length,
    fraction: Math.min(1, busy / (t1 - t0)),
  };
}

/**
 * What the simulator holds for a profile: v1 upgrades and device entries, campaigns listed, and the
 * walked campaigns' device entries (from the truth: which campaigns are walked depends on the exporter's
 * settings), and the shape of the id memory the exporter builds for it.
 * @param {import('./lib/simulator.mjs').Summary} summary
 * @param {import('./lib/series.d.mts').Truth} truth
 * @param {Profile} profile
 */
function dataOf(summary, truth, profile) {
  let devices = 0;
  let upgrades = 0;
  /** @type {number[]} */
  const reports = [];
  if (profile.apis.includes('v1'))
    for (const statuses of Object.values(summary.accounts))
      for (const s of Object.values(statuses)) {
        devices += s.devices;
        upgrades += s.upgrades;
        reports.push(s.upgrades);
      }
  let campaigns = 0;
  let campaignDevices = 0;
  /** @type {number[][]} */
  const walked = [];
  for (const byApi of Object.values(truth.campaigns ?? {}))
    for (const [api, t] of Object.entries(byApi)) {
      if (!profile.apis.includes(api)) continue;
      for (const c of t.campaigns) campaigns += c.count;
      const sizes = t.walked.map((w) => w.device_status.reduce((n, d) => n + d.count, 0));
      for (const n of sizes) campaignDevices += n;
      walked.push(sizes);
    }
  return { upgrades, devices, campaigns, campaignDevices, shape: { reports, campaigns: walked } };
}

/**
 * Every measurement of one profile, on one simulator.
 * @param {Profile} profile
 * @param {Options} options
 * @param {boolean} largest figures 4 and 5 (v1) run on this profile
 */
async function runProfile(profile, options, largest) {
  const entries = profile.totalDevices + (profile.campaigns?.totalDevices ?? 0);
  progress(
    `${profile.name} (${profile.description}, ${entries} device entries): starting the simulator`,
  );
  const sim = await startSimulator(ROOT, simulatorArgs(profile, options.latencyMs));
  try {
    const summary = await sim.summary();
    const accounts = Object.keys(summary.accounts);
    const { truth, expected } = await expectedSeries(sim, profile, summary.generation);
    const data = dataOf(summary, truth, profile);
    const tokens = await sim.login();
    /** @type {Context} */
    const ctx = {
      sim,
      profile,
      accounts,
      tokens,
      expected,
      metrics: comparedMetrics(profile),
      options,
    };
    const withFloor = profile.kind !== 'accounts';

    // The floor goes first: its first (unmeasured) walk also fills the simulator's cache of serialised
    // upgrades, so that every measured walk and collection meets the same warm simulator. A profile of many
    // accounts runs the exporter once, without the reference clients: what it measures is the exporter's
    // size per account; its first collection warms the simulator for the measured one.
    /** @type {PagerResult[]} */
    const floors = [];
    const exporters = [];
    const repeat = withFloor ? options.repeat : 1;
    for (let r = 0; r < repeat; r++) {
      // Alternate which goes first, so that a drift in the machine's load hits both alike.
      const pair = !withFloor
        ? ['exporter']
        : r % 2 === 0
          ? ['floor', 'exporter']
          : ['exporter', 'floor'];
      for (const which of pair) {
        if (which === 'floor') floors.push(await runPager(ctx, 'floor', 2));
        else exporters.push(await runExporter(ctx, r === 0));
      }
      const f = floors.at(-1);
      const e = /** @type {Awaited<ReturnType<typeof runExporter>>} */ (exporters.at(-1));
      progress(
        `${profile.name}: run ${r + 1}/${repeat}: ${f ? `floor ${f.seconds.toFixed(3)} s, ` : ''}exporter ${e.seconds.toFixed(3)} s` +
          ` (${(e.peakRssBytes / MIB).toFixed(0)} MiB, truth ${e.truthOk ? 'equal' : 'DIFFERS'})`,
      );
      if (!e.truthOk)
        progress(`${profile.name}: /metrics differs from truth:\n  ${e.truthDiff.join('\n  ')}`);
    }
    // The naive client is figure 2's reference for v1 reports only: the campaigns profile's targets are
    // those of issue 12 (the floor ratio and peak RSS).
    const naive = profile.kind === 'v1' ? await runPager(ctx, 'naive', 1) : undefined;
    if (naive) progress(`${profile.name}: naive ${naive.seconds.toFixed(3)} s`);

    const reference = floors[0];
    const checks = [];
    for (const e of exporters) {
      if (reference && e.pages !== reference.pages)
        checks.push(`exporter read ${e.pages} pages, the floor ${reference.pages}`);
      if (e.devices !== data.devices)
        checks.push(`exporter counted ${e.devices} device entries of ${data.devices}`);
      if (e.campaigns !== data.campaigns)
        checks.push(`exporter counted ${e.campaigns} campaigns of ${data.campaigns}`);
      if (e.campaignDevices !== data.campaignDevices)
        checks.push(
          `exporter counted ${e.campaignDevices} campaign device entries of ${data.campaignDevices}`,
        );
    }
    for (const w of naive ? [...floors, naive] : floors)
      if (
        w.devices !== data.devices ||
        w.campaignDevices !== data.campaignDevices ||
        w.pages !== reference?.pages
      )
        checks.push(
          `a reference pager read ${w.pages} pages, ${w.devices} devices, ${w.campaignDevices} campaign devices`,
        );

    // The id memory: the exporter's own figure when its log line carries it, else computed (lib/memory.mjs).
    const computed = idMemoryFor(data.shape, MAX_LABEL_VALUES);
    const reported = exporters.map((e) => e.idMemory).find((m) => m !== undefined);
    for (const e of exporters)
      if (e.idMemory && (e.idMemory.ids !== computed.ids || e.idMemory.bytes !== computed.bytes))
        checks.push(
          `exporter reports an id memory of ${e.idMemory.ids} ids, ${e.idMemory.bytes} bytes; ` +
            `${computed.ids} ids, ${computed.bytes} bytes expected`,
        );
    const idMemory = {
      source: reported ? 'exporter' : 'computed',
      ids: reported?.ids ?? computed.ids,
      bytes: reported?.bytes ?? computed.bytes,
      computed,
    };

    // The arrivals snapshot (--storage.path): 12 bytes an id plus a header, written after each collection.
    const writes = exporters.flatMap((e) => (e.snapshot ? [e.snapshot] : []));
    if (options.storage && writes.length < exporters.length)
      checks.push(`${exporters.length - writes.length} exporter(s) wrote no arrivals snapshot`);
    for (const w of writes)
      if (w.bytes < idMemory.ids * 12)
        checks.push(`arrivals snapshot of ${w.bytes} bytes for ${idMemory.ids} ids`);
    const restore = exporters.map((e) => e.restore).find((r) => r !== undefined);
    if (restore && restore.ids !== idMemory.ids)
      checks.push(`the restored snapshot held ${restore.ids} ids, not ${idMemory.ids}`);
    const snapshot =
      writes.length > 0
        ? {
            bytes: median(writes.map((w) => w.bytes)),
            writeSeconds: median(writes.map((w) => w.seconds)),
            writes: writes.map((w) => w.seconds),
            restoreSeconds: restore?.seconds,
          }
        : undefined;

    let cpu;
    let scrape;
    if (largest) {
      const perStatus = options.quick ? 5 : 20;
      const pages = await fetchPageTexts(
        { url: sim.url, tokens },
        /** @type {string} */ (accounts[0]),
        perStatus,
      );
      progress(`${profile.name}: CPU per device entry on ${pages.length} pages`);
      cpu = measureCpuPerDevice(pages, {
        rounds: options.quick ? 2 : 7,
        maxLabelValues: MAX_LABEL_VALUES,
      });
      progress(`${profile.name}: /metrics under autocannon, ${options.duration} s each`);
      scrape = await scrapeFigure(ctx);
      if (!scrape.truthOk) checks.push(`scrape exporter: ${scrape.truthDiff.join('; ')}`);
    }
    if (profile.kind === 'campaigns') {
      const pages = await fetchCampaignPageTexts(
        { url: sim.url, tokens },
        truth,
        profile.apis,
        options.quick ? 1 : 5,
      );
      progress(`${profile.name}: CPU per campaign device entry on ${pages.length} pages`);
      cpu = measureCampaignCpuPerDevice(pages, {
        rounds: options.quick ? 2 : 7,
        maxLabelValues: MAX_LABEL_VALUES,
      });
    }
    if (checks.length > 0) progress(`${profile.name}: counts disagree:\n  ${checks.join('\n  ')}`);
    const first = exporters[0];
    return {
      profile: { ...profile, simulatorArgs: simulatorArgs(profile, options.latencyMs) },
      accounts: accounts.length,
      upgrades: data.upgrades,
      devices: data.devices,
      campaigns: data.campaigns,
      campaignDevices: data.campaignDevices,
      pages: reference?.pages ?? first?.pages ?? 0,
      longestChain: reference?.longestChain ?? null,
      series: first?.series ?? 0,
      exposition: first?.exposition ?? {
        series: 0,
        textBytes: 0,
        wireBytes: 0,
        heapUsedBytes: 0,
        heapTotalBytes: 0,
        externalBytes: 0,
      },
      idMemory,
      snapshot,
      metricsEqual: exporters.every((e) => e.truthOk),
      truthOk: exporters.every((e) => e.truthOk) && checks.length === 0,
      checks,
      floor: floors.length > 0 ? summarise(floors) : undefined,
      exporter: {
        ...summarise(exporters),
        startRssBytes: median(exporters.map((e) => e.startRssBytes)),
        peakRssAfterFirstBytes: median(exporters.map((e) => e.peakRssAfterFirstBytes)),
        truthDiffs: exporters.flatMap((e) => e.truthDiff).slice(0, 10),
      },
      naive,
      cpu,
      scrape,
    };
  } finally {
    await sim.stop();
  }
}

/**
 * Medians over the runs of the measured (second) walk or collection; the first ones are kept as `cold`.
 * @param {{ seconds: number, cpuSeconds: number, peakRssBytes: number, walks: { seconds: number, cpuSeconds: number }[] }[]} runs
 */
function summarise(runs) {
  return {
    seconds: median(runs.map((r) => r.seconds)),
    cpuSeconds: median(runs.map((r) => r.cpuSeconds)),
    peakRssBytes: median(runs.map((r) => r.peakRssBytes)),
    coldSeconds: median(runs.map((r) => r.walks[0]?.seconds ?? r.seconds)),
    runs: runs.map(({ seconds, cpuSeconds, peakRssBytes, walks }) => ({
      seconds,
      cpuSeconds,
      peakRssBytes,
      walks,
    })),
  };
}

/**
 * @typedef {object} Figure
 * @property {number} figure
 * @property {string} name
 * @property {string} profile
 * @property {string} value
 * @property {string} reference
 * @property {string} ratio
 * @property {string} target
 * @property {boolean | null} pass null: no target, reported only
 * @property {Record<string, number | null>} raw
 */

/**
 * @param {Awaited<ReturnType<typeof runProfile>>[]} results
 * @returns {Figure[]}
 */
function figures(results) {
  /** @type {Figure[]} */
  const out = [];
  const s = (/** @type {number} */ x) => `${x.toFixed(3)} s`;
  const mib = (/** @type {number} */ x) => `${(x / MIB).toFixed(1)} MiB`;
  const kib = (/** @type {number} */ x) => `${(x / 1024).toFixed(x < 10 * 1024 ? 1 : 0)} KiB`;
  const x = (/** @type {number} */ r) => `${r.toFixed(2)}×`;
  const n = (/** @type {number} */ v) => Math.round(v).toLocaleString('en-US');
  for (const r of results) {
    if (!r.floor) continue;
    const ratio = r.exporter.seconds / r.floor.seconds;
    out.push({
      figure: 1,
      name: 'collection time vs floor',
      profile: r.profile.name,
      value: s(r.exporter.seconds),
      reference: `floor ${s(r.floor.seconds)}`,
      ratio: x(ratio),
      target: `≤ ${TARGETS.floorRatio.toFixed(2)}×`,
      pass: ratio <= TARGETS.floorRatio,
      raw: {
        exporter: r.exporter.seconds,
        reference: r.floor.seconds,
        ratio,
        exporterCpu: r.exporter.cpuSeconds,
        referenceCpu: r.floor.cpuSeconds,
      },
    });
  }
  for (const r of results) {
    if (!r.naive) continue;
    const speedup = r.naive.seconds / r.exporter.seconds;
    out.push({
      figure: 2,
      name: 'speed-up vs naive client',
      profile: r.profile.name,
      value: s(r.exporter.seconds),
      reference: `naive ${s(r.naive.seconds)}`,
      ratio: x(speedup),
      target: `≥ ${TARGETS.naiveSpeedup}×`,
      pass: speedup >= TARGETS.naiveSpeedup,
      raw: { exporter: r.exporter.seconds, reference: r.naive.seconds, ratio: speedup },
    });
  }
  for (const r of results) {
    const chain = r.longestChain === null ? '' : `, longest ${r.longestChain}`;
    out.push({
      figure: 3,
      name: `time, peak RSS: ${n(r.pages)} pages${chain}`,
      profile: r.profile.name,
      value: `${s(r.exporter.seconds)}, ${mib(r.exporter.peakRssBytes)}`,
      reference: r.floor
        ? `floor ${s(r.floor.seconds)}, ${mib(r.floor.peakRssBytes)}`
        : `start-up ${mib(r.exporter.startRssBytes)}`,
      ratio: `${x(r.exporter.peakRssBytes / (r.floor?.peakRssBytes ?? r.exporter.startRssBytes))} RSS`,
      target: '—',
      pass: null,
      raw: {
        exporter: r.exporter.peakRssBytes,
        reference: r.floor?.peakRssBytes ?? r.exporter.startRssBytes,
        exporterAfterFirst: r.exporter.peakRssAfterFirstBytes,
        exporterStart: r.exporter.startRssBytes,
        exporterHeapUsedAtScrape: r.exposition.heapUsedBytes,
        seconds: r.exporter.seconds,
        learningSeconds: r.exporter.coldSeconds,
        pages: r.pages,
        devices: r.devices,
        campaignDevices: r.campaignDevices,
      },
    });
  }
  const single = results
    .filter((r) => r.profile.kind === 'v1' && r.accounts === 1)
    .sort((a, b) => a.devices - b.devices);
  const small = single[0];
  const large = single.at(-1);
  if (small && large && small !== large) {
    const growth = large.exporter.peakRssBytes / small.exporter.peakRssBytes;
    out.push({
      figure: 3,
      name: 'peak RSS growth with devices',
      profile: `${large.profile.name}/${small.profile.name}`,
      value: mib(large.exporter.peakRssBytes),
      reference: `${small.profile.name} ${mib(small.exporter.peakRssBytes)}`,
      ratio: x(growth),
      target: `≤ ${TARGETS.rssGrowth.toFixed(2)}×`,
      pass: growth <= TARGETS.rssGrowth,
      raw: {
        exporter: large.exporter.peakRssBytes,
        reference: small.exporter.peakRssBytes,
        ratio: growth,
      },
    });
  }
  const limited = [
    ...(large ? [large] : []),
    ...results.filter((r) => r.profile.kind === 'campaigns'),
  ];
  for (const r of limited) {
    out.push({
      figure: 3,
      name:
        r.profile.kind === 'campaigns' ? 'peak RSS, campaigns' : 'peak RSS at the largest profile',
      profile: r.profile.name,
      value: mib(r.exporter.peakRssBytes),
      reference: `limit ${mib(TARGETS.rssMaxBytes)}`,
      ratio: x(r.exporter.peakRssBytes / TARGETS.rssMaxBytes),
      target: `≤ ${mib(TARGETS.rssMaxBytes)}`,
      pass: r.exporter.peakRssBytes <= TARGETS.rssMaxBytes,
      raw: { exporter: r.exporter.peakRssBytes, reference: TARGETS.rssMaxBytes },
    });
  }
  const withScrape = results.find((r) => r.scrape);
  const scrape = withScrape?.scrape;
  if (withScrape && scrape) {
    const p = withScrape.profile.name;
    const e = scrape.exporter;
    const ref = scrape.reference;
    const rpsRatio = e.requestsPerSecond / ref.requestsPerSecond;
    out.push({
      figure: 4,
      name: `scrape requests/s (${(scrape.bytes / 1024).toFixed(0)} KiB${scrape.contentEncoding ? ` ${scrape.contentEncoding}` : ''}, busy ${(e.collectionBusyFraction * 100).toFixed(0)}%)`,
      profile: p,
      value: `${e.requestsPerSecond.toFixed(0)}/s`,
      reference: `express ${ref.requestsPerSecond.toFixed(0)}/s`,
      ratio: x(rpsRatio),
      target: `≥ ${TARGETS.scrapeRpsRatio.toFixed(2)}×`,
      pass: rpsRatio >= TARGETS.scrapeRpsRatio,
      raw: { exporter: e.requestsPerSecond, reference: ref.requestsPerSecond, ratio: rpsRatio },
    });
    out.push({
      figure: 4,
      name: 'scrape p99 latency',
      profile: p,
      value: `${e.p99Ms} ms`,
      reference: `express ${ref.p99Ms} ms`,
      ratio: x(e.p99Ms / Math.max(ref.p99Ms, 1)),
      target: `≤ ${TARGETS.scrapeP99Ms} ms`,
      pass: e.p99Ms <= TARGETS.scrapeP99Ms,
      raw: { exporter: e.p99Ms, reference: ref.p99Ms },
    });
    out.push({
      figure: 4,
      name: 'scrape errors',
      profile: p,
      value: String(e.errors),
      reference: `express ${ref.errors}`,
      ratio: '—',
      target: '0',
      pass: e.errors === 0,
      raw: { exporter: e.errors, reference: ref.errors },
    });
  }
  for (const r of results) {
    const cpu = r.cpu;
    if (!cpu) continue;
    out.push({
      figure: 5,
      name: `CPU per ${r.profile.kind === 'campaigns' ? 'campaign ' : ''}device entry (${cpu.pages} pages)`,
      profile: r.profile.name,
      value: `${cpu.exporterNsPerDevice.toFixed(0)} ns`,
      reference: `JSON.parse ${cpu.parseNsPerDevice.toFixed(0)} ns`,
      ratio: x(cpu.ratio),
      target: '— (reported)',
      pass: null,
      raw: {
        exporter: cpu.exporterNsPerDevice,
        reference: cpu.parseNsPerDevice,
        ratio: cpu.ratio,
        aggregation: cpu.aggregationNsPerDevice,
        idMemory: cpu.memoryNsPerDevice,
      },
    });
  }
  for (const r of results) {
    const e = r.exposition;
    const perAccount = r.accounts > 1 ? `; ${n(e.series / r.accounts)} series per account` : '';
    out.push({
      figure: 6,
      name: `/metrics size${perAccount}`,
      profile: r.profile.name,
      value: `${n(e.series)} series, ${kib(e.textBytes)}`,
      reference: `gzip ${kib(e.wireBytes)}`,
      ratio: x(e.textBytes / Math.max(e.wireBytes, 1)),
      target: '—',
      pass: null,
      raw: {
        series: e.series,
        textBytes: e.textBytes,
        wireBytes: e.wireBytes,
        accounts: r.accounts,
      },
    });
  }
  for (const r of results) {
    const base = results.find((b) => b.profile.name === r.profile.compareWith);
    if (!base) continue;
    const pair = `${r.profile.name}/${base.profile.name}`;
    const per = (/** @type {(typeof results)[number]} */ p, /** @type {number} */ v) =>
      v / p.accounts;
    const rows = [
      {
        name: '/metrics series per account',
        a: per(r, r.exposition.series),
        b: per(base, base.exposition.series),
        show: (/** @type {number} */ v) => n(v),
      },
      {
        name: '/metrics bytes per account',
        a: per(r, r.exposition.textBytes),
        b: per(base, base.exposition.textBytes),
        show: (/** @type {number} */ v) => `${n(v)} B`,
      },
      {
        name: 'peak RSS above start-up per account',
        a: per(r, r.exporter.peakRssBytes - r.exporter.startRssBytes),
        b: per(base, base.exporter.peakRssBytes - base.exporter.startRssBytes),
        show: (/** @type {number} */ v) => kib(v),
      },
      {
        // The slope between the two profiles: what each account beyond the smaller profile's adds.
        name: `peak RSS per added account (${base.accounts}→${r.accounts})`,
        a: (r.exporter.peakRssBytes - base.exporter.peakRssBytes) / (r.accounts - base.accounts),
        b: per(base, base.exporter.peakRssBytes - base.exporter.startRssBytes),
        show: (/** @type {number} */ v) => kib(v),
      },
      {
        name: 'collection time per account',
        a: per(r, r.exporter.seconds) * 1000,
        b: per(base, base.exporter.seconds) * 1000,
        show: (/** @type {number} */ v) => `${v.toFixed(1)} ms`,
      },
    ];
    for (const row of rows) {
      out.push({
        figure: 6,
        name: row.name,
        profile: pair,
        value: row.show(row.a),
        reference: `${base.profile.name} ${row.show(row.b)}`,
        ratio: x(row.a / row.b),
        target: '— (reported)',
        pass: null,
        raw: { exporter: row.a, reference: row.b, ratio: row.a / row.b },
      });
    }
  }
  for (const r of results) {
    const m = r.idMemory;
    out.push({
      figure: 7,
      name: `id memory (${m.source})`,
      profile: r.profile.name,
      value: `${n(m.ids)} ids, ${mib(m.bytes)}`,
      reference: `peak RSS ${mib(r.exporter.peakRssBytes)}`,
      ratio: `${((100 * m.bytes) / r.exporter.peakRssBytes).toFixed(1)} %`,
      target: '—',
      pass: null,
      raw: {
        ids: m.ids,
        bytes: m.bytes,
        peakRss: r.exporter.peakRssBytes,
        share: m.bytes / r.exporter.peakRssBytes,
      },
    });
  }
  for (const r of results) {
    const s = r.snapshot;
    if (!s) continue;
    out.push({
      figure: 8,
      name: 'arrivals snapshot (--storage.path): size, write; read at start-up',
      profile: r.profile.name,
      value: `${s.bytes >= MIB ? mib(s.bytes) : `${(s.bytes / 1024).toFixed(1)} KiB`}, write ${(s.writeSeconds * 1000).toFixed(0)} ms`,
      reference: `id memory ${mib(r.idMemory.bytes)}`,
      ratio:
        s.restoreSeconds === undefined ? '—' : `read ${(s.restoreSeconds * 1000).toFixed(0)} ms`,
      target: '— (reported)',
      pass: null,
      raw: {
        bytes: s.bytes,
        writeSeconds: s.writeSeconds,
        restoreSeconds: s.restoreSeconds ?? null,
        ids: r.idMemory.ids,
        bytesPerId: s.bytes / Math.max(1, r.idMemory.ids),
      },
    });
  }
  for (const r of results) {
    out.push({
      figure: 0,
      name: '/metrics equals /_sim/truth',
      profile: r.profile.name,
      value:
        (r.metricsEqual ? `equal (${r.series} series)` : 'DIFFERS') +
        (r.checks.length > 0 ? `; ${r.checks.length} count checks failed` : ''),
      reference: 'truth',
      ratio: '—',
      target: 'equal',
      pass: r.truthOk,
      raw: { series: r.series, failedChecks: r.checks.length },
    });
  }
  return out;
}

/** @param {Figure[]} rows */
function renderTable(rows) {
  const header = ['#', 'figure', 'profile', 'exporter', 'reference', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    String(r.figure),
    r.name,
    r.profile,
    r.value,
    r.reference,
    r.ratio,
    r.target,
    r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => String(row[i]).length)),
  );
  const line = (/** @type {string[]} */ cells) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

/**
 * The share of all CPUs' time that was idle over the next `ms` milliseconds (/proc/stat), or null.
 * @param {number} ms
 */
async function idleShare(ms) {
  const sample = () => {
    const fields =
      readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ??
      [];
    // user nice system idle iowait irq softirq steal
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total };
  };
  try {
    const a = sample();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const b = sample();
    return b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : null;
  } catch {
    return null;
  }
}

/** @param {ReturnType<typeof machineInfo>} m @param {number[]} load */
function describeMachine(m, load) {
  return `${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB, Node ${m.node}, ${m.os}; load average at start ${load.map((l) => l.toFixed(2)).join(' ')}`;
}

/**
 * Figure 8, on the 2M and campaigns profiles when they run: the arrivals journal with its cap full.
 * @param {NonNullable<ReturnType<typeof parseArgs>>} options
 */
async function arrivalsFigure(options) {
  const mib = (/** @type {number} */ x) => `${(x / MIB).toFixed(1)} MiB`;
  const profiles = options.profiles.filter((p) => p.name === '2M' || p.name === 'campaigns');
  /** @type {Figure[]} */
  const rows = [];
  // Bytes per kept entry on every run (--quick too); the peak RSS with the cap full only at 2M and campaigns.
  progress('arrivals journal: bytes per kept entry');
  const heap = journalBytesPerEntry(ROOT, MAX_ENTRIES);
  rows.push({
    figure: 9,
    name: 'arrivals journal: memory per kept entry',
    profile: '—',
    value: `${heap.bytesPerEntry.toFixed(0)} B × ${heap.kept.toLocaleString('en-US')}`,
    reference: `${mib(heap.heapBytes + heap.offHeapBytes)} for the cap (heap ${mib(heap.heapBytes)}, columns ${mib(heap.offHeapBytes)})`,
    ratio: '—',
    target: '—',
    pass: null,
    raw: heap,
  });
  // Peak RSS swings by tens of MiB between identical runs (when V8 happens to grow its old generation
  // during the spike's collection): the median of up to three runs each, journal on and off, with the range.
  const runs = Math.min(3, options.repeat);
  const range = (/** @type {number[]} */ xs) =>
    xs.length > 1 ? `; runs ${xs.map((x) => (x / MIB).toFixed(1)).join(', ')}` : '';
  const atCap = [];
  for (const profile of profiles) {
    const on = [];
    const off = [];
    for (let r = 0; r < runs; r++) {
      progress(`${profile.name}: arrivals journal filled to its cap (run ${r + 1}/${runs})`);
      on.push(await arrivalsAtCap(ROOT, profile, options, progress));
      progress(
        `${profile.name}: the same arrivals with --arrivals.enabled=false (run ${r + 1}/${runs})`,
      );
      off.push(await arrivalsAtCap(ROOT, profile, options, progress, { steps: on[r]?.steps ?? 1 }));
    }
    const onRss = on.map((x) => x.peakRssBytes);
    const offRss = off.map((x) => x.peakRssBytes);
    const peak = median(onRss);
    const peakOff = median(offRss);
    const last = /** @type {Awaited<ReturnType<typeof arrivalsAtCap>>} */ (on.at(-1));
    const raw = {
      kept: last.kept,
      dropped: last.dropped,
      steps: last.steps,
      peakRssBytes: peak,
      peakRssWithoutJournalBytes: peakOff,
      runs: onRss,
      runsWithoutJournal: offRss,
    };
    atCap.push({ profile: profile.name, ...raw });
    rows.push({
      figure: 9,
      name: 'peak RSS, arrivals journal full',
      profile: profile.name,
      value: `${mib(peak)} (${last.kept.toLocaleString('en-US')} kept, ${last.dropped.toLocaleString('en-US')} dropped${range(onRss)})`,
      reference: `journal off ${mib(peakOff)}${range(offRss)}`,
      ratio: `${(peak / TARGETS.rssMaxBytes).toFixed(2)}×`,
      target: `≤ ${mib(TARGETS.rssMaxBytes)}, cap full (median)`,
      pass: peak <= TARGETS.rssMaxBytes && on.every((x) => x.dropped > 0),
      raw,
    });
  }
  return { rows, results: { heap, atCap } };
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(
      `bench: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`,
    );
    return 2;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return 0;
  }
  for (const file of ['dist/cli.js', 'dist/simulator/cli.js'])
    if (!existsSync(`${ROOT}${file}`)) {
      process.stderr.write(
        `bench: ${file} is missing: run \`npm run build\` first (npm run bench does)\n`,
      );
      return 2;
    }
  killChildrenOnExit();
  const started = new Date();
  const machine = machineInfo();
  const loadAtStart = os.loadavg();
  const idleAtStart = await idleShare(1000);
  progress(
    `${describeMachine(machine, loadAtStart)}; simulator latency ${options.latencyMs} ms, concurrency ${options.concurrency}`,
  );

  // Figures 4 and 5 run on the largest one-account v1 profile (2M), as before v2/v3 existed.
  const largest = options.profiles
    .filter((p) => p.kind === 'v1')
    .sort((a, b) => a.accounts - b.accounts || b.totalDevices - a.totalDevices)[0];
  const results = [];
  for (const profile of options.profiles)
    results.push(await runProfile(profile, options, profile === largest));

  const rows = figures(results);
  const arrivals = await arrivalsFigure(options);
  rows.push(...arrivals.rows);
  const table = renderTable(rows);
  const passed = rows.every((r) => r.pass !== false);
  // The load average lags (a previous run still shows in it), so the CPU time that was idle in the second
  // before the start says whether other work competed with the benchmark.
  const busy = idleAtStart !== null && idleAtStart < 0.75;
  const endLoad = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const summary =
    `${describeMachine(machine, loadAtStart)}, load average at end ${endLoad}` +
    `; CPU idle in the second before the start ${idleAtStart === null ? 'unknown' : `${Math.round(idleAtStart * 100)} %`}` +
    (busy
      ? '\nwarning: other work was running when the benchmark started; timings are noisier'
      : '');
  process.stdout.write(
    `\n${table}\n\n${summary}\n${
      passed
        ? 'every target met'
        : `targets missed: ${rows
            .filter((r) => r.pass === false)
            .map((r) => `${r.figure} ${r.name} (${r.profile})`)
            .join('; ')}`
    }\n`,
  );

  const report = {
    schema: 2,
    startedAt: started.toISOString(),
    wallSeconds: (Date.now() - started.getTime()) / 1000,
    command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      ...machine,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg(),
      cpuIdleShareAtStart: idleAtStart,
    },
    git: gitInfo(),
    settings: {
      latencyMs: options.latencyMs,
      concurrency: options.concurrency,
      repeat: options.repeat,
      autocannon: { connections: 64, durationSeconds: options.duration },
      maxLabelValues: MAX_LABEL_VALUES,
      campaignLookback: CAMPAIGN_LOOKBACK,
      maxCampaigns: MAX_CAMPAIGNS,
      quick: options.quick,
      storage: options.storage,
    },
    targets: TARGETS,
    passed,
    figures: rows,
    table,
    profiles: results,
    arrivals: arrivals.results,
  };
  mkdirSync(path.dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  progress(`results written to ${path.relative(process.cwd(), options.out) || options.out}`);
  return options.strict && !passed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
