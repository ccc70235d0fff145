#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench`: the exporter against the ThingSpace simulator, every figure beside its reference,
 * measured in the same run on the same simulator. See docs/performance.md for the method.
 *
 *   1. collection wall time vs the floor (a minimal keep-alive pager at the same concurrency)  ≤ 1.10×
 *   2. collection wall time vs a naive client (sequential, a connection per request)          ≥ 3× faster
 *   3. time and peak RSS per profile; RSS at the largest ≤ 1.5 × RSS at the smallest, ≤ 200 MiB
 *   4. /metrics under autocannon (64 connections) during a collection, vs express serving the same
 *      bytes from memory: 0 errors, p99 ≤ 50 ms, requests/s ≥ 0.8 × the reference
 *   5. CPU per device entry: validation + aggregation on top of JSON.parse, as a ratio
 * and, for every profile, /metrics equal to the simulator's /_sim/truth after every collection measured.
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
import { measureCpuPerDevice } from './lib/cpu.mjs';
import { cpuSeconds, killChildrenOnExit, peakRssBytes, startNode } from './lib/proc.mjs';
import {
  BUSINESS_METRICS,
  diffSeries,
  parseExposition,
  seriesMap,
  truthSeries,
} from './lib/series.mjs';
import { EXPORTER_ENV, startSimulator } from './lib/simulator.mjs';
import { fetchPageTexts } from './pager.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MIB = 1024 * 1024;
/** The exporter's --collector.max-label-values default; truth is asked for the same cap. */
const MAX_LABEL_VALUES = 50;

/**
 * @typedef {object} Profile
 * @property {string} name
 * @property {string} description
 * @property {number} accounts
 * @property {number} upgradesPerStatus
 * @property {number} totalDevices
 */

/** @type {Profile[]} */
const PROFILES = [
  {
    name: '20k',
    description: '1 account, 6 × 10 pages',
    accounts: 1,
    upgradesPerStatus: 1000,
    totalDevices: 20_000,
  },
  {
    name: '200k',
    description: '1 account, 6 × 30 pages',
    accounts: 1,
    upgradesPerStatus: 3000,
    totalDevices: 200_000,
  },
  {
    name: '2M',
    description: '1 account, 6 × 100 pages',
    accounts: 1,
    upgradesPerStatus: 10_000,
    totalDevices: 2_000_000,
  },
  {
    name: '50acc',
    description: '50 accounts, 300 × 2 pages',
    accounts: 50,
    upgradesPerStatus: 200,
    totalDevices: 500_000,
  },
];

/** --quick: the same shapes, tiny, for the smoke test. */
/** @type {Profile[]} */
const QUICK_PROFILES = [
  {
    name: 'q2k',
    description: '1 account, 6 × 2 pages',
    accounts: 1,
    upgradesPerStatus: 200,
    totalDevices: 2_000,
  },
  {
    name: 'q20k',
    description: '1 account, 6 × 5 pages',
    accounts: 1,
    upgradesPerStatus: 500,
    totalDevices: 20_000,
  },
  {
    name: 'q5acc',
    description: '5 accounts, 30 × 1 page',
    accounts: 5,
    upgradesPerStatus: 100,
    totalDevices: 6_000,
  },
];

const TARGETS = {
  floorRatio: 1.1,
  naiveSpeedup: 3,
  rssGrowth: 1.5,
  rssMaxBytes: 200 * MIB,
  scrapeP99Ms: 50,
  scrapeRpsRatio: 0.8,
};

const USAGE = `usage: node bench/run.mjs [flags]   (npm run bench -- [flags])

  --latency-ms <ms>      simulator latency per report request (default 20)
  --profiles <a,b,…>     profiles to run (default all: ${PROFILES.map((p) => p.name).join(', ')};
                         with --quick: ${QUICK_PROFILES.map((p) => p.name).join(', ')})
  --quick                tiny profiles, one repetition, 1 s of autocannon: a smoke run of a few seconds
  --repeat <n>           floor/exporter pairs per profile, medians reported (default 5; --quick 1)
  --duration <s>         autocannon seconds per server (default 10; --quick 1)
  --concurrency <n>      exporter --collector.concurrency and the floor's connections (default 4)
  --out <file>           results file (default bench/results.json)
  --strict               exit 1 when a target is missed (default: print FAIL, exit 0)
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
 */

/**
 * @param {string[]} argv
 * @returns {Options | undefined} undefined for --help
 */
function parseArgs(argv) {
  /** @type {Record<string, string | true>} */
  const flags = {};
  const valued = ['--latency-ms', '--profiles', '--repeat', '--duration', '--concurrency', '--out'];
  const boolean = ['--quick', '--strict', '--help'];
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

/** @param {Profile} profile @param {number} latencyMs */
function simulatorArgs(profile, latencyMs) {
  return [
    '--seed',
    '1',
    '--accounts',
    String(profile.accounts),
    '--upgrades-per-status',
    String(profile.upgradesPerStatus),
    '--total-devices',
    String(profile.totalDevices),
    '--page-size',
    '100',
    '--latency-ms',
    String(latencyMs),
    '--cache-mb',
    '512',
  ];
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

/**
 * The exporter's business series must equal the truth, series for series.
 * @param {string} metricsUrl
 * @param {Map<string, number>} expected
 */
async function checkTruth(metricsUrl, expected) {
  const res = await scrapeOnce(metricsUrl);
  if (res.status !== 200)
    return { ok: false, series: 0, diff: [`/metrics answered HTTP ${res.status}`], res };
  const actual = seriesMap(parseExposition(res.text), BUSINESS_METRICS);
  const diff = diffSeries(expected, actual);
  return { ok: diff.length === 0, series: actual.size, diff, res };
}

/**
 * @typedef {object} Context
 * @property {import('./lib/simulator.mjs').Simulator} sim
 * @property {string[]} accounts
 * @property {{ bearer: string, session: string }} tokens
 * @property {Map<string, number>} expected truth as series
 * @property {Options} options
 */

/**
 * @typedef {object} PagerResult
 * @property {number} seconds
 * @property {number} cpuSeconds
 * @property {number} pages
 * @property {number} upgrades
 * @property {number} devices
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
    [mode, String(ctx.options.concurrency), ctx.accounts.join(','), String(walks)],
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
 * @param {Context} ctx
 * @param {string} interval --collector.interval
 */
function startExporter(ctx, interval) {
  return startNode(
    'exporter',
    `${ROOT}dist/cli.js`,
    [
      '--web.listen-address=127.0.0.1:0',
      `--thingspace.base-url=${ctx.sim.url}`,
      `--thingspace.accounts=${ctx.accounts.join(',')}`,
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
 * Two collections by a fresh exporter process (interval 1s: the second starts when the first has ended
 * or a second after it started). The second is the one measured, like the floor's second walk: a process
 * that has run once, as an exporter is for all but its first collection. Duration, pages and devices come
 * from its log line; peak RSS (over both) and CPU from /proc while it lives; then /metrics against truth.
 * @param {Context} ctx
 */
async function runExporter(ctx) {
  const child = startExporter(ctx, '1s');
  try {
    const listening = await child.waitForLine((l) => l.msg === 'listening', 60_000);
    const cpuAtStart = cpuSeconds(child.pid);
    const first = await child.waitForLine(isFinished, 900_000);
    const cpuAtFirst = cpuSeconds(child.pid);
    const second = await child.waitForLine(isFinished, 900_000, child.lines.indexOf(first) + 1);
    const cpuAtSecond = cpuSeconds(child.pid);
    const peak = peakRssBytes(child.pid);
    const truth = await checkTruth(String(listening.url), ctx.expected);
    for (const line of [first, second]) {
      if (Number(line.failed) !== 0) {
        truth.diff.unshift(`failed reports: ${JSON.stringify(line.failures)}`);
        truth.ok = false;
      }
    }
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
      peakRssBytes: peak,
      truthOk: truth.ok,
      series: truth.series,
      truthDiff: truth.diff,
    };
  } finally {
    await child.stop();
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
  const exporter = startExporter(ctx, `${interval}s`);
  let reference;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fota-bench-'));
  try {
    const listening = await exporter.waitForLine((l) => l.msg === 'listening', 60_000);
    const metricsUrl = String(listening.url);
    await exporter.waitForLine(isFinished, 600_000);
    const truth = await checkTruth(metricsUrl, ctx.expected);
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
 * Every measurement of one profile, on one simulator.
 * @param {Profile} profile
 * @param {Options} options
 * @param {boolean} largest figures 4 and 5 run on this profile
 */
async function runProfile(profile, options, largest) {
  progress(
    `${profile.name} (${profile.description}, ${profile.totalDevices} device entries): starting the simulator`,
  );
  const sim = await startSimulator(ROOT, simulatorArgs(profile, options.latencyMs));
  try {
    const summary = await sim.summary();
    const accounts = Object.keys(summary.accounts);
    let devices = 0;
    let upgrades = 0;
    for (const statuses of Object.values(summary.accounts))
      for (const s of Object.values(statuses)) {
        devices += s.devices;
        upgrades += s.upgrades;
      }
    const expected = truthSeries(await sim.truth(MAX_LABEL_VALUES));
    const tokens = await sim.login();
    /** @type {Context} */
    const ctx = { sim, accounts, tokens, expected, options };

    // The floor goes first: its first (unmeasured) walk also fills the simulator's cache of serialised
    // upgrades, so that every measured walk and collection meets the same warm simulator.
    /** @type {PagerResult[]} */
    const floors = [];
    const exporters = [];
    for (let r = 0; r < options.repeat; r++) {
      // Alternate which goes first, so that a drift in the machine's load hits both alike.
      const pair = r % 2 === 0 ? ['floor', 'exporter'] : ['exporter', 'floor'];
      for (const which of pair) {
        if (which === 'floor') floors.push(await runPager(ctx, 'floor', 2));
        else exporters.push(await runExporter(ctx));
      }
      const f = /** @type {{ seconds: number }} */ (floors.at(-1));
      const e = /** @type {Awaited<ReturnType<typeof runExporter>>} */ (exporters.at(-1));
      progress(
        `${profile.name}: run ${r + 1}/${options.repeat}: floor ${f.seconds.toFixed(3)} s, exporter ${e.seconds.toFixed(3)} s` +
          ` (${(e.peakRssBytes / MIB).toFixed(0)} MiB, truth ${e.truthOk ? 'equal' : 'DIFFERS'})`,
      );
      if (!e.truthOk)
        progress(`${profile.name}: /metrics differs from truth:\n  ${e.truthDiff.join('\n  ')}`);
    }
    const naive = await runPager(ctx, 'naive', 1);
    progress(`${profile.name}: naive ${naive.seconds.toFixed(3)} s`);

    const reference = /** @type {PagerResult} */ (floors[0]);
    const checks = [];
    for (const e of exporters) {
      if (e.pages !== reference.pages)
        checks.push(`exporter read ${e.pages} pages, the floor ${reference.pages}`);
      if (e.devices !== devices)
        checks.push(`exporter counted ${e.devices} device entries of ${devices}`);
    }
    for (const w of [...floors, naive])
      if (w.devices !== devices || w.pages !== reference.pages)
        checks.push(`a reference pager read ${w.pages} pages, ${w.devices} devices`);

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
    return {
      profile: { ...profile, simulatorArgs: simulatorArgs(profile, options.latencyMs) },
      accounts: accounts.length,
      upgrades,
      devices,
      pages: reference.pages,
      longestChain: reference.longestChain,
      series: exporters[0]?.series ?? 0,
      truthOk: exporters.every((e) => e.truthOk) && checks.length === 0,
      checks,
      floor: summarise(floors),
      exporter: {
        ...summarise(exporters),
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
  const x = (/** @type {number} */ r) => `${r.toFixed(2)}×`;
  for (const r of results) {
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
    out.push({
      figure: 3,
      name: `time, peak RSS: ${r.pages} pages, longest ${r.longestChain}`,
      profile: r.profile.name,
      value: `${s(r.exporter.seconds)}, ${mib(r.exporter.peakRssBytes)}`,
      reference: `floor ${s(r.floor.seconds)}, ${mib(r.floor.peakRssBytes)}`,
      ratio: `${x(r.exporter.peakRssBytes / r.floor.peakRssBytes)} RSS`,
      target: '—',
      pass: null,
      raw: {
        exporter: r.exporter.peakRssBytes,
        reference: r.floor.peakRssBytes,
        seconds: r.exporter.seconds,
        pages: r.pages,
        longestChain: r.longestChain,
        devices: r.devices,
      },
    });
  }
  const single = results.filter((r) => r.accounts === 1).sort((a, b) => a.devices - b.devices);
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
  if (large) {
    out.push({
      figure: 3,
      name: 'peak RSS at the largest profile',
      profile: large.profile.name,
      value: mib(large.exporter.peakRssBytes),
      reference: `limit ${mib(TARGETS.rssMaxBytes)}`,
      ratio: x(large.exporter.peakRssBytes / TARGETS.rssMaxBytes),
      target: `≤ ${mib(TARGETS.rssMaxBytes)}`,
      pass: large.exporter.peakRssBytes <= TARGETS.rssMaxBytes,
      raw: { exporter: large.exporter.peakRssBytes, reference: TARGETS.rssMaxBytes },
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
  const withCpu = results.find((r) => r.cpu);
  const cpu = withCpu?.cpu;
  if (withCpu && cpu) {
    out.push({
      figure: 5,
      name: `CPU per device entry (${cpu.pages} pages)`,
      profile: withCpu.profile.name,
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
      },
    });
  }
  for (const r of results) {
    out.push({
      figure: 0,
      name: '/metrics equals /_sim/truth',
      profile: r.profile.name,
      value: r.truthOk ? `equal (${r.series} series)` : 'DIFFERS',
      reference: 'truth',
      ratio: '—',
      target: 'equal',
      pass: r.truthOk,
      raw: { series: r.series },
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

  const largest = [...options.profiles].sort(
    (a, b) => a.accounts - b.accounts || b.totalDevices - a.totalDevices,
  )[0];
  const results = [];
  for (const profile of options.profiles)
    results.push(await runProfile(profile, options, profile === largest));

  const rows = figures(results);
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
    schema: 1,
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
      quick: options.quick,
    },
    targets: TARGETS,
    passed,
    figures: rows,
    table,
    profiles: results,
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
