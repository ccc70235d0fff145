/**
 * End to end over real processes: with --storage.path a restart is a collection gap (issue 17, path 3).
 * The exporter learns, counts a few generations of a frozen simulator, and is stopped; while it is down
 * upgrades and campaign devices fail; the restarted exporter's first pass counts exactly what entered each
 * status since the last pass before the stop (the counters continue from their values, no reset), and its
 * observed seconds cover the downtime. A snapshot of other accounts is ignored with one log line, and the
 * first pass learns, as without --storage.path (test/e2e/entered.test.ts covers that restart).
 */
import { jest } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seriesMap, type Sample } from '../support/exposition.js';
import {
  collectionLines,
  logLines,
  reportFigures,
  scrape,
  waitForCollection,
  waitForFreshCollection,
  type CollectionLine,
  type ExporterProcess,
} from '../support/faults.js';
import { killAll, startExporterProcess } from '../support/process.js';
import {
  ENTERED_METRICS,
  SIMULATOR_ENV,
  diffSeries,
  enteredTruthSeries,
  startSimulatorProcess,
  type SimulatorProcess,
  WALK_EVERY_CAMPAIGN,
  campaignQueryFlags,
} from '../support/simulator.js';
import { ARRIVALS_SNAPSHOT_FILE } from '../../src/storage/arrivals-snapshot.js';

jest.setTimeout(240_000);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'restart-'));
});
afterEach(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const QUERY = WALK_EVERY_CAMPAIGN;
const SIMULATOR_ARGS = [
  '--tick',
  '0',
  '--seed',
  '17',
  '--start-time',
  'now',
  '--accounts',
  '2',
  '--upgrades-per-status',
  '30',
  '--arrivals-per-tick',
  '4',
  '--campaigns-per-account',
  '8',
  '--campaign-arrivals-per-tick',
  '0.5',
  '--campaign-unknown-statuses',
  '2',
  '--campaign-device-page-size',
  '250',
];
const OBSERVED = [
  'thingspace_fota_upgrades_observed_seconds_total',
  'thingspace_fota_campaign_devices_observed_seconds_total',
];
/** Wall-clock slack for comparing observed seconds with log times (ms resolution, rounding). */
const SLACK_SECONDS = 0.05;

function startExporter(sim: SimulatorProcess, accounts: readonly string[]) {
  return startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1s',
      ...campaignQueryFlags(QUERY),
      `--storage.path=${dir}`,
    ],
    SIMULATOR_ENV,
  );
}

async function fresh(
  exporter: ExporterProcess,
): Promise<{ line: CollectionLine; samples: Sample[] }> {
  const line = await waitForFreshCollection(exporter, 60_000);
  return { line, samples: await scrape(exporter) };
}

async function generation(sim: SimulatorProcess): Promise<number> {
  return ((await sim.stats()) as { generation: number }).generation;
}

const entered = (samples: readonly Sample[]) => seriesMap([...samples], ENTERED_METRICS);
const observed = (samples: readonly Sample[]) => seriesMap([...samples], OBSERVED);
const startOf = (line: CollectionLine) => (line.time - line.durationSeconds * 1000) / 1000;
const endOf = (line: CollectionLine) => line.time / 1000;

/** Each series' growth from `before` to `after`. */
function growth(
  after: ReadonlyMap<string, number>,
  before: ReadonlyMap<string, number>,
): Map<string, number> {
  return new Map([...after].map(([key, value]) => [key, value - (before.get(key) ?? 0)]));
}

function total(map: ReadonlyMap<string, number>, prefix: string, contains: string): number {
  let n = 0;
  for (const [key, value] of map)
    if (key.startsWith(`${prefix}{`) && key.includes(contains)) n += value;
  return n;
}

function nonZero(map: ReadonlyMap<string, number>): Map<string, number> {
  return new Map([...map].filter(([, value]) => value !== 0));
}

/** The `arrivalsSnapshot` figures of a collection's log line (present when it wrote the snapshot). */
function written(line: CollectionLine): unknown {
  return (line as unknown as Record<string, unknown>).arrivalsSnapshot;
}

function snapshotLines(exporter: ExporterProcess): Record<string, unknown>[] {
  return logLines(exporter).filter((l) => /arrivals snapshot/.test(String(l.msg)));
}

describe('with --storage.path a restart is a collection gap', () => {
  test('what entered while the exporter was down is counted by its first pass, over the downtime', async () => {
    const sim = await startSimulatorProcess(SIMULATOR_ARGS);
    const accounts = Object.keys((await sim.truth(QUERY)).accounts);

    // 1. The first process learns, then counts a few generations.
    let exporter = await startExporter(sim, accounts);
    await waitForCollection(exporter, 1, 60_000);
    const learnedAt = await generation(sim);
    expect(snapshotLines(exporter).map((l) => l.msg)).toEqual([
      'no arrivals snapshot: the first pass learns',
    ]);
    for (let i = 0; i < 3; i++) {
      await sim.advance(1);
      await fresh(exporter);
    }
    // One more collection with nothing changed: a new unknown status's increments, held back one
    // collection, are published too; this is the last pass before the stop.
    const last = await fresh(exporter);
    expect(last.line.failed).toBe(0);
    const stoppedAt = await generation(sim);
    expect(
      diffSeries(
        enteredTruthSeries(await sim.truth({ ...QUERY, now: Date.now(), enteredSince: learnedAt })),
        entered(last.samples),
      ),
    ).toEqual([]);
    expect(await exporter.stop()).toBe(0);
    const oldLines = collectionLines(exporter);
    const lastOld = oldLines.at(-1)!;
    expect(written(lastOld)).toMatchObject({ bytes: expect.any(Number) });
    expect(readdirSync(dir).sort()).toEqual([ARRIVALS_SNAPSHOT_FILE, 'state.json']);

    // 2. While it is down: a failure spike (v1 upgrades and campaign devices), over a few seconds.
    // One generation only, as for a collection gap: the truth counts every step, a reader sees only the
    // generations it reads.
    await sim.post('/_sim/scenario/failure-spike', { upgrades: 5 });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const downtime = await sim.truth({ ...QUERY, now: Date.now(), enteredSince: stoppedAt });
    const downtimeSeries = enteredTruthSeries(downtime);
    expect(
      total(downtimeSeries, 'thingspace_fota_upgrades_entered_total', '"UpgradeFailed"'),
    ).toBeGreaterThanOrEqual(5);
    expect(
      total(downtimeSeries, 'thingspace_fota_campaign_devices_entered_total', '"UpgradeFailed"'),
    ).toBeGreaterThan(0);

    // 3. The restarted process restores the snapshot: its first pass counts the downtime's arrivals.
    exporter = await startExporter(sim, accounts);
    const first = await waitForCollection(exporter, 1, 60_000);
    const firstSamples = await scrape(exporter);
    expect(first.failed).toBe(0);
    expect(snapshotLines(exporter)).toHaveLength(1);
    expect(snapshotLines(exporter)[0]).toMatchObject({
      msg: expect.stringMatching(/^arrivals snapshot restored/),
      reports: accounts.length * 6,
      campaignApis: accounts.length * 2,
      dropped: 0,
    });
    // Counters continue from their values: what the first pass added is what entered since the last pass
    // before the stop. (A device entering a status never seen before is held back one collection.)
    const added = growth(entered(firstSamples), entered(last.samples));
    const v1 = (m: ReadonlyMap<string, number>) =>
      new Map([...m].filter(([key]) => key.startsWith('thingspace_fota_upgrade')));
    expect(diffSeries(v1(downtimeSeries), v1(added))).toEqual([]);
    for (const [key, value] of added) expect([key, value >= 0]).toEqual([key, true]);
    // Observed seconds: from the last complete pass before the stop to this pass, downtime included.
    const grown = growth(observed(firstSamples), observed(last.samples));
    expect(grown.size).toBe(accounts.length * (6 + 2));
    // The last pass before the stop that the scrape showed ended by the end of the last collection logged,
    // and began no earlier than the scraped collection.
    const low = startOf(first) - endOf(lastOld) - SLACK_SECONDS;
    const high = endOf(first) - startOf(last.line) + SLACK_SECONDS;
    expect(low).toBeGreaterThan(2); // the downtime
    reportFigures('restart with --storage.path', {
      downtimeSeconds: Number((startOf(first) - endOf(lastOld)).toFixed(3)),
      enteredWhileDown: {
        upgradeFailed: total(
          downtimeSeries,
          'thingspace_fota_upgrades_entered_total',
          '"UpgradeFailed"',
        ),
        campaignDevicesUpgradeFailed: total(
          downtimeSeries,
          'thingspace_fota_campaign_devices_entered_total',
          '"UpgradeFailed"',
        ),
      },
      countedByFirstPass: {
        upgradeFailed: total(added, 'thingspace_fota_upgrades_entered_total', '"UpgradeFailed"'),
        campaignDevicesUpgradeFailed: total(
          added,
          'thingspace_fota_campaign_devices_entered_total',
          '"UpgradeFailed"',
        ),
      },
      observedGrowthSeconds: [Math.min(...grown.values()), Math.max(...grown.values())].map((g) =>
        Number(g.toFixed(3)),
      ),
      snapshot: written(lastOld),
    });
    const outside = [...grown].filter(([, g]) => g < low || g > high);
    expect(outside.map(([key, g]) => `${key} grew ${g}, not within [${low}, ${high}]`)).toEqual([]);

    // One more collection: every entered counter equals the truth since the FIRST process learned, so
    // nothing was lost or counted twice across the restart.
    const settled = await fresh(exporter);
    expect(settled.line.failed).toBe(0);
    const all = await sim.truth({ ...QUERY, now: Date.now(), enteredSince: learnedAt });
    expect(diffSeries(enteredTruthSeries(all), entered(settled.samples))).toEqual([]);
    // And the restarted process's share is the downtime's, nothing more (series that did not grow aside).
    const restartedShare = growth(entered(settled.samples), entered(last.samples));
    expect(diffSeries(nonZero(downtimeSeries), nonZero(restartedShare))).toEqual([]);
  });

  test('a snapshot of other accounts is ignored with one log line; the first pass learns', async () => {
    const sim = await startSimulatorProcess(SIMULATOR_ARGS);
    const accounts = Object.keys((await sim.truth(QUERY)).accounts);
    const [one, other] = [accounts[0]!, accounts[1]!];

    let exporter = await startExporter(sim, [one]);
    await waitForCollection(exporter, 1, 60_000);
    await sim.advance(1);
    await fresh(exporter);
    expect(await exporter.stop()).toBe(0);
    await sim.post('/_sim/scenario/failure-spike', { account: other, upgrades: 5 });

    exporter = await startExporter(sim, [other]);
    await waitForCollection(exporter, 1, 60_000);
    const samples = await scrape(exporter);
    expect(snapshotLines(exporter)).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringMatching(
          /^arrivals snapshot ignored: it holds the id memories of other accounts or APIs/,
        ),
      }),
    ]);
    // Learning: nothing counted, no time covered.
    for (const [key, value] of [...entered(samples), ...observed(samples)])
      expect([key, value]).toEqual([key, 0]);
    // The next process reads this one's snapshot: the ignored one was replaced.
    const again = await fresh(exporter);
    expect(written(again.line)).toMatchObject({ bytes: expect.any(Number) });
  });
});
