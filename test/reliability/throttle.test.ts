/**
 * The shared throttle gate, measured end to end (issue 11 §2): the built exporter against a simulator that
 * throttles in windows, as a gateway with a rate limit does, and client-side pacing measured by the time
 * each request reached ThingSpace. docs/reliability.md, "Throttle gate", quotes the figures printed here.
 */
import { jest } from '@jest/globals';
import { parseExposition, type Sample } from '../support/exposition.js';
import {
  busiestWindow,
  collectionLines,
  count,
  countData,
  expectEverythingExact,
  logLines,
  pagesOf,
  reportFigures,
  simStats,
  startTimingProxy,
  total,
  truthNow,
  value,
  waitForCollection,
  type TimingProxy,
} from '../support/faults.js';
import { killAll, startExporterProcess } from '../support/process.js';
import { SIMULATOR_ENV, startSimulatorProcess } from '../support/simulator.js';

jest.setTimeout(300_000);

let timing: TimingProxy | undefined;
afterEach(async () => {
  killAll();
  await timing?.close();
  timing = undefined;
});

/** Two accounts × six statuses, 30 upgrades each in pages of 5; ten v2 and ten v3 campaigns per account. */
const DATA = ['--seed', '5', '--accounts', '2', '--upgrades-per-status', '30', '--page-size', '5'];
function gauge(samples: Sample[], name: string): number {
  const found = value(samples, name);
  if (found === undefined) throw new Error(`${name} missing from /metrics`);
  return found;
}

interface GateSample {
  atMs: number;
  open: number;
  closures: number;
}

/** Scrapes the gate metrics every `everyMs` until stopped. */
function watchGate(metricsUrl: string, everyMs: number) {
  const samples: GateSample[] = [];
  let watching = true;
  const done = (async () => {
    while (watching) {
      const atMs = Date.now();
      const parsed = parseExposition(await (await fetch(metricsUrl)).text());
      samples.push({
        atMs,
        open: gauge(parsed, 'thingspace_fota_api_gate_open'),
        closures: gauge(parsed, 'thingspace_fota_api_gate_closures_total'),
      });
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    samples,
    stop: async () => {
      watching = false;
      await done;
    },
  };
}

const CLOSED = 'ThingSpace throttles: every request pauses until the gate reopens';
const OPENED = 'throttle gate open';

test('a gateway throttling 10 s out of every 30 s (Retry-After: 2): the collection completes exact, each window costs at most concurrency + 5 answers of 429, and throttled walks resume from their cursor', async () => {
  // Measured as the issue states it, 10 s out of every 30 s. 2.5 s per answer with 8 requests in flight
  // makes about 40 s of requests; with the gate shut for most of each window the collection spans three or
  // four windows (≈ 90 s), so every phase is met: closing mid-walk, probes inside the window, reopening
  // after it.
  const CONCURRENCY = 8;
  const ON_MS = 10_000;
  const LATENCY_MS = 2500;
  const sim = await startSimulatorProcess([
    '--tick',
    '0',
    ...DATA,
    '--latency-ms',
    String(LATENCY_MS),
    '--throttle-window',
    '10s/30s',
    '--throttle-retry-after-seconds',
    '2',
  ]);
  const truth = await truthNow(sim);
  const accounts = Object.keys(truth.accounts);
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      `--collector.concurrency=${CONCURRENCY}`,
      '--collector.interval=5m',
    ],
    SIMULATOR_ENV,
  );
  const gate = watchGate(exporter.metricsUrl, 250);
  const line = await waitForCollection(exporter, 1, 240_000);
  await gate.stop();
  const stats = await simStats(sim);
  const samples = parseExposition(await (await fetch(exporter.metricsUrl)).text());

  reportFigures('throttle window 10s/30s, Retry-After 2', {
    concurrency: CONCURRENCY,
    latencyMs: LATENCY_MS,
    collectionSeconds: line.durationSeconds,
    throttledPerWindow: stats.throttle.windows.map((w) => w.throttled),
    closedSeconds: logLines(exporter)
      .filter((l) => l.msg === OPENED)
      .map((l) => Number(l.closedSeconds)),
    pages: pagesOf(truth, 5),
    served200: countData(stats, '200'),
    tokens: { oauthToken: stats.requests.oauth_token, sessionLogin: stats.requests.session_login },
  });

  // Exact, every v1 report and every campaign series.
  expect(line.failed).toBe(0);
  expectEverythingExact(samples, truth, accounts);

  // Each page was read once: the simulator answered 200 exactly as often as the truth has pages, so no
  // throttled walk started over; the rest of what it saw were the 429s.
  const pages = pagesOf(truth, 5);
  for (const endpoint of ['reports', 'campaigns', 'campaign_devices'] as const) {
    expect([endpoint, count(stats, endpoint, '200')]).toEqual([endpoint, pages[endpoint]]);
  }
  expect(total(samples, 'thingspace_fota_collection_pages')).toBe(pages.reports);
  const windows = stats.throttle.windows;
  const throttled = windows.reduce((sum, w) => sum + w.throttled, 0);
  expect(
    countData(stats) + count(stats, 'oauth_token', '429') + count(stats, 'session_login', '429'),
  ).toBe(pages.reports + pages.campaigns + pages.campaign_devices + throttled);

  // The cost of each window: the requests in flight when it began, then one probe per reopening.
  const met = windows.filter((w) => w.throttled > 0);
  expect(met.length).toBeGreaterThanOrEqual(3);
  // and every window that began while the collection still had requests to send was met
  const endMs = Date.parse(
    String(logLines(exporter).find((l) => l.msg === 'collection finished')!.time),
  );
  const begunBefore = windows.filter((w) => Date.parse(w.startedAt) < endMs - LATENCY_MS - 1000);
  expect(met.map((w) => w.index)).toEqual(expect.arrayContaining(begunBefore.map((w) => w.index)));
  for (const w of windows)
    expect([w.index, w.throttled <= CONCURRENCY + 5]).toEqual([w.index, true]);

  // The gate closes once per window met, inside it, and opens again only after the window is over,
  // within the longest backoff the probes inside a window can reach (8 s + 20 %) and a probe's answer.
  const lines = logLines(exporter);
  const closedAt = lines.filter((l) => l.msg === CLOSED).map((l) => Date.parse(String(l.time)));
  const openedAt = lines.filter((l) => l.msg === OPENED).map((l) => Date.parse(String(l.time)));
  const closedSeconds = lines.filter((l) => l.msg === OPENED).map((l) => Number(l.closedSeconds));
  expect(closedAt).toHaveLength(met.length);
  expect(openedAt).toHaveLength(met.length);
  met.forEach((w, i) => {
    const start = Date.parse(w.startedAt);
    expect(closedAt[i]).toBeGreaterThanOrEqual(start);
    expect(closedAt[i]).toBeLessThan(start + ON_MS);
    expect(openedAt[i]).toBeGreaterThanOrEqual(start + ON_MS);
    expect(openedAt[i]).toBeLessThanOrEqual(start + ON_MS + 9600 + LATENCY_MS + 1000);
  });

  // The metrics say the same: 0 while closed, 1 while open, one closure each. /metrics may serve live
  // values up to a second old (the exposition cache), so a scrape within 1.3 s of a change is not judged.
  const EDGE_MS = 1300;
  const wrong = gate.samples.filter((s) => {
    const closed = closedAt.some((c, i) => s.atMs > c + EDGE_MS && s.atMs < openedAt[i]! - EDGE_MS);
    const open = closedAt.every((c, i) => s.atMs < c - EDGE_MS || s.atMs > openedAt[i]! + EDGE_MS);
    return (closed && s.open !== 0) || (open && s.open !== 1);
  });
  expect(wrong).toEqual([]);
  expect(gate.samples.filter((s) => s.open === 0).length).toBeGreaterThan(0);
  expect(gauge(samples, 'thingspace_fota_api_gate_open')).toBe(1);
  expect(gauge(samples, 'thingspace_fota_api_gate_closures_total')).toBe(met.length);
  expect(
    Math.abs(
      gauge(samples, 'thingspace_fota_api_gate_closed_seconds_total') -
        closedSeconds.reduce((a, b) => a + b, 0),
    ),
  ).toBeLessThanOrEqual(0.0005 * met.length);

  // At the default level an outage of this kind logs the gate's two lines per closure and the one
  // summary line, nothing per report or per request.
  const afterStart = lines.slice(lines.findIndex((l) => l.msg === 'listening') + 1);
  const others = afterStart.filter(
    (l) =>
      l.msg !== CLOSED &&
      l.msg !== OPENED &&
      l.msg !== 'collection finished' &&
      l.msg !== 'the v3 campaign history answers on this path',
  );
  expect(others).toEqual([]);
  expect(collectionLines(exporter)).toHaveLength(1);
});

describe('--thingspace.max-requests-per-second', () => {
  const RATE = 10;

  async function pacedPair(exporterArgs: string[]) {
    const sim = await startSimulatorProcess(['--tick', '0', ...DATA]);
    const truth = await truthNow(sim);
    const accounts = Object.keys(truth.accounts);
    timing = await startTimingProxy(sim.url);
    const exporter = await startExporterProcess(
      [
        `--thingspace.base-url=${timing.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        ...exporterArgs,
      ],
      SIMULATOR_ENV,
    );
    return { sim, truth, accounts, exporter, timing };
  }

  test(`${RATE} per second: no second of the collection holds more requests, all endpoints together; the gate never closes; the data exact`, async () => {
    // Without pacing, the same collection sends its 130 requests within a second or two: the measure can fail.
    const unpaced = await pacedPair(['--collector.interval=1h']);
    await waitForCollection(unpaced.exporter, 1);
    const unpacedBusiest = busiestWindow(
      unpaced.timing.requests.map((r) => r.atMs),
      1000,
    );
    expect(unpacedBusiest).toBeGreaterThan(3 * RATE);
    killAll();
    await timing?.close();

    const {
      exporter,
      truth,
      accounts,
      timing: paced,
    } = await pacedPair([
      '--collector.interval=1h',
      `--thingspace.max-requests-per-second=${RATE}`,
    ]);
    const line = await waitForCollection(exporter, 1, 60_000);
    const times = paced.requests.map((r) => r.atMs).sort((a, b) => a - b);
    const busiest = busiestWindow(times, 1000);
    // Requests leave the gate 1/RATE apart; one sent a little late may arrive with the next second's.
    expect(busiest).toBeLessThanOrEqual(RATE + 1);
    expect(times[times.length - 1]! - times[0]!).toBeGreaterThanOrEqual(
      ((times.length - 1) * 1000) / RATE - 250,
    );
    expect(line.durationSeconds).toBeGreaterThanOrEqual((times.length - 1) / RATE - 0.25);
    const samples = parseExposition(await (await fetch(exporter.metricsUrl)).text());
    expectEverythingExact(samples, truth, accounts);
    expect(gauge(samples, 'thingspace_fota_api_gate_open')).toBe(1);
    expect(gauge(samples, 'thingspace_fota_api_gate_closures_total')).toBe(0);
    reportFigures(`pacing: ${expect.getState().currentTestName}`, {
      requests: times.length,
      collectionSeconds: line.durationSeconds,
      busiestSecond: busiest,
      busiestSecondUnpaced: unpacedBusiest,
    });
  });

  test('a collection the rate cannot fit in its time budget (2 per second, --collector.interval=5s): nothing is sent after the budget; what is left fails as throttled', async () => {
    const { exporter, timing: paced } = await pacedPair([
      '--collector.interval=5s',
      '--thingspace.max-requests-per-second=2',
    ]);
    const line = await waitForCollection(exporter, 1, 30_000);
    const finished = logLines(exporter).find((l) => l.msg === 'collection finished')!;
    const startedWallMs = Date.parse(String(finished.time)) - line.durationSeconds * 1000;
    // The next collection starts 5 s after this one started: everything before belongs to this one.
    const sent = paced.requests.filter((r) => r.atWallMs < startedWallMs + 5000);
    // 2 a second over 5 s, the first at once: at most 11, and the collection needs 130
    expect(sent.length).toBeLessThanOrEqual(11);
    expect(
      busiestWindow(
        sent.map((r) => r.atMs),
        1000,
      ),
    ).toBeLessThanOrEqual(3);
    expect(line.durationSeconds).toBeLessThan(5.5);
    expect(line.failed).toBeGreaterThan(0);
    expect(Object.keys(line.failures)).toEqual(['throttled']);
    expect(line.failures.throttled!.message).toContain('time budget');
    reportFigures(`pacing: ${expect.getState().currentTestName}`, {
      requests: sent.length,
      collectionSeconds: line.durationSeconds,
      failed: line.failed,
    });
  });
});
