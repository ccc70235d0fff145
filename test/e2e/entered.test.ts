/**
 * End to end over real processes: the entered counters (SPEC §4) equal what the simulator says entered each
 * status since the exporter's learning pass, across time moving, a failure spike, a one-off short report, a
 * gap in collection and a restart of the exporter; and the observed seconds cover the time between complete
 * passes, jumping by the gap when collection resumes.
 *
 * The simulator is frozen (--tick 0) and moved one generation at a time, with an exporter collection after
 * each: the truth counts every step of every upgrade and device, and a reader sees all of them only if it
 * reads after every generation (docs/simulator.md, "Entered").
 */
import { jest } from '@jest/globals';
import { seriesKey, seriesMap, type Sample } from '../support/exposition.js';
import {
  collectionLines,
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
  type SimulatorTruth,
  WALK_EVERY_CAMPAIGN,
  campaignQueryFlags,
} from '../support/simulator.js';
import { CAMPAIGN_APIS, CAMPAIGN_DEVICE_STATUSES } from '../../src/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

jest.setTimeout(240_000);
afterEach(() => killAll());

const QUERY = WALK_EVERY_CAMPAIGN;
const EXPORTER_ARGS = [
  '--collector.interval=1s',
  ...campaignQueryFlags(QUERY),
  // a gap fails every request: no backoff, so that failing collections stay short
  '--collector.max-retries=0',
];
const UNKNOWN_DEVICE_STATUS = 'UpgradeDeferred';
/** Wall-clock slack for comparing observed seconds with log times (ms resolution, rounding). */
const SLACK_SECONDS = 0.05;

const OBSERVED = 'thingspace_fota_upgrades_observed_seconds_total';
const CAMPAIGN_OBSERVED = 'thingspace_fota_campaign_devices_observed_seconds_total';

interface Collected {
  line: CollectionLine;
  samples: Sample[];
}

function startExporter(sim: SimulatorProcess, accounts: string[]) {
  return startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      ...EXPORTER_ARGS,
    ],
    SIMULATOR_ENV,
  );
}

/** A collection that started after this call, and the scrape right after it. */
async function fresh(exporter: ExporterProcess): Promise<Collected> {
  const line = await waitForFreshCollection(exporter, 60_000);
  return { line, samples: await scrape(exporter) };
}

function startOf(line: CollectionLine): number {
  return (line.time - line.durationSeconds * 1000) / 1000;
}

function endOf(line: CollectionLine): number {
  return line.time / 1000;
}

/** The samples of one metric as `labels → value`. */
function valuesOf(samples: readonly Sample[], name: string): Map<string, number> {
  return seriesMap([...samples], [name]);
}

function observedIn(samples: readonly Sample[]): Map<string, number> {
  return seriesMap([...samples], [OBSERVED, CAMPAIGN_OBSERVED]);
}

/** Observed-seconds series whose growth since `base(key)` is outside [low, high], as readable lines. */
function outside(
  samples: readonly Sample[],
  base: (key: string) => number,
  low: number,
  high: number,
): string[] {
  const out: string[] = [];
  for (const [key, value] of observedIn(samples)) {
    const grown = value - base(key);
    if (grown < low || grown > high) out.push(`${key} grew ${grown}, not within [${low}, ${high}]`);
  }
  return out;
}

function entered(samples: readonly Sample[]): Map<string, number> {
  return seriesMap([...samples], ENTERED_METRICS);
}

async function truthSince(sim: SimulatorProcess, generation: number): Promise<SimulatorTruth> {
  return sim.truth({ ...QUERY, now: Date.now(), enteredSince: generation });
}

async function generation(sim: SimulatorProcess): Promise<number> {
  return ((await sim.stats()) as { generation: number }).generation;
}

function sum(map: ReadonlyMap<string, number>, prefix: string, contains = ''): number {
  let total = 0;
  for (const [key, value] of map)
    if (key.startsWith(`${prefix}{`) && key.includes(contains)) total += value;
  return total;
}

/**
 * One exporter process's life: its learning pass, then every collection since, each checked for what
 * must hold at any moment.
 */
class Run {
  readonly learning: CollectionLine;
  readonly learnedAt: number;
  /** Unknown device-status series seen so far, and the value each was first published with. */
  readonly firstSeen = new Map<string, number>();

  private constructor(
    readonly sim: SimulatorProcess,
    readonly exporter: ExporterProcess,
    readonly accounts: string[],
    learning: Collected,
    learnedAt: number,
  ) {
    this.learning = learning.line;
    this.learnedAt = learnedAt;
    this.observe(learning.samples);
    void this.watch();
  }

  /**
   * Scrapes after every collection, not only the ones a step waits for: a collection already running when
   * the simulator moved may be the one that meets a new status first, and publishes its 0.
   */
  private async watch(): Promise<void> {
    for (let n = 2; ; n++) {
      try {
        await waitForCollection(this.exporter, n, 3_600_000);
        this.observe(await scrape(this.exporter));
      } catch {
        return; // the process ended
      }
    }
  }

  static async start(sim: SimulatorProcess, accounts: string[]): Promise<Run> {
    const exporter = await startExporter(sim, accounts);
    const line = await waitForCollection(exporter, 1, 60_000);
    const samples = await scrape(exporter);
    // The frozen simulator has not moved since the exporter started: its learning pass read this generation.
    const learnedAt = await generation(sim);
    expect(line.failed).toBe(0);
    // Learning counts nothing, and covers no time: a restart never looks like a spike.
    for (const [key, value] of entered(samples)) expect([key, value]).toEqual([key, 0]);
    for (const name of [OBSERVED, CAMPAIGN_OBSERVED]) {
      const values = valuesOf(samples, name);
      expect(values.size).toBe(
        name === OBSERVED
          ? accounts.length * UPGRADE_STATUSES.length
          : accounts.length * CAMPAIGN_APIS.length,
      );
      for (const [key, value] of values) expect([key, value]).toEqual([key, 0]);
    }
    return new Run(sim, exporter, accounts, { line, samples }, learnedAt);
  }

  /** A new unknown device status is published at 0 first (SPEC §4), so increase() sees its first arrivals. */
  private observe(samples: readonly Sample[]): void {
    for (const s of samples) {
      if (s.name !== 'thingspace_fota_campaign_devices_entered_total') continue;
      if ((CAMPAIGN_DEVICE_STATUSES as readonly string[]).includes(s.labels.device_status!))
        continue;
      const key = seriesKey(s.name, s.labels);
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, s.value);
    }
  }

  async collect(): Promise<Collected> {
    const c = await fresh(this.exporter);
    this.observe(c.samples);
    return c;
  }

  /** Moves the simulator one generation (a tick, or a scenario), then lets the exporter read it. */
  async step(change: () => Promise<unknown> = () => this.sim.advance(1)): Promise<Collected> {
    await change();
    return this.collect();
  }

  /**
   * One more collection with nothing changed (increments of a new unknown status are held back one
   * collection), then every entered counter must equal the truth since the learning pass.
   */
  async expectExact(): Promise<{ truth: SimulatorTruth; last: Collected }> {
    const last = await this.collect();
    expect(last.line.failed).toBe(0);
    const truth = await truthSince(this.sim, this.learnedAt);
    expect(diffSeries(enteredTruthSeries(truth), entered(last.samples))).toEqual([]);
    for (const [key, value] of this.firstSeen) expect([key, value]).toEqual([key, 0]);
    this.expectObservedSinceLearning(last);
    return { truth, last };
  }

  /**
   * The observed seconds telescope: the learning pass's end to the last complete pass's end, whatever
   * gaps lie between. A pass ends inside its collection's window, so the sum lies between these bounds.
   */
  expectObservedSinceLearning(last: Collected): void {
    const latest = collectionLines(this.exporter).at(-1)!;
    const low = startOf(last.line) - endOf(this.learning) - SLACK_SECONDS;
    const high = endOf(latest) - startOf(this.learning) + SLACK_SECONDS;
    expect(outside(last.samples, () => 0, low, high)).toEqual([]);
  }
}

describe('entered counters equal the truth', () => {
  test('through ticks, a failure spike, a one-off short report, a gap and a restart', async () => {
    const sim = await startSimulatorProcess([
      '--tick',
      '0',
      '--seed',
      '21',
      '--start-time',
      'now',
      '--accounts',
      '2',
      '--upgrades-per-status',
      '30',
      '--arrivals-per-tick',
      '4',
      '--campaigns-per-account',
      '12',
      '--campaign-arrivals-per-tick',
      '0.5',
      '--campaign-unknown-statuses',
      '2',
      '--campaign-device-page-size',
      '250',
    ]);
    const initial = await sim.truth(QUERY);
    const accounts = Object.keys(initial.accounts);

    // 1. Time moving, one generation at a time.
    let run = await Run.start(sim, accounts);
    for (let i = 0; i < 5; i++) await run.step();
    const ticked = (await run.expectExact()).truth;
    const tickedSeries = enteredTruthSeries(ticked);
    // What this part exercised: arrivals in every v1 status that can be entered, campaign devices moving,
    // new campaigns counted whole, and devices entering a status the exporter had never heard of.
    for (const status of ['RequestPending', 'Queued', 'InProgress', 'Finished'])
      expect(sum(tickedSeries, 'thingspace_fota_upgrades_entered_total', status)).toBeGreaterThan(
        0,
      );
    for (const status of ['Accepted', 'UpgradePending', 'UpgradeSuccess', UNKNOWN_DEVICE_STATUS])
      expect(
        sum(tickedSeries, 'thingspace_fota_campaign_devices_entered_total', `"${status}"`),
      ).toBeGreaterThan(0);
    expect(run.firstSeen.size).toBeGreaterThan(0);
    const walkedIds = (t: SimulatorTruth) =>
      Object.values(t.campaigns).flatMap((apis) =>
        Object.values(apis).flatMap((c) =>
          c.walked.filter((w) => w.total_devices > 0).map((w) => w.campaign_id),
        ),
      );
    const known = new Set(walkedIds(initial));
    expect(walkedIds(ticked).filter((id) => !known.has(id)).length).toBeGreaterThan(0);

    // 2. A failure spike on the first account, v1 and campaigns.
    await run.step(() => sim.post('/_sim/scenario/failure-spike', { upgrades: 6 }));
    const spike = await run.expectExact();
    const failedBefore = sum(
      tickedSeries,
      'thingspace_fota_upgrades_entered_total',
      'UpgradeFailed',
    );
    const failedAfter = sum(
      enteredTruthSeries(spike.truth),
      'thingspace_fota_upgrades_entered_total',
      'UpgradeFailed',
    );
    expect(failedAfter).toBeGreaterThanOrEqual(failedBefore + 6);
    expect(
      sum(
        enteredTruthSeries(spike.truth),
        'thingspace_fota_campaign_devices_entered_total',
        '"UpgradeFailed"',
      ),
    ).toBeGreaterThan(
      sum(tickedSeries, 'thingspace_fota_campaign_devices_entered_total', '"UpgradeFailed"'),
    );

    // 3. A one-off short report of UpgradeFailed, read while a second spike adds to it: the upgrades it
    //    leaves out are still remembered when the full report is back, and the new ones (the newest, so
    //    in the half left out) count once, when the full report is back.
    await sim.setFaults({ shortReportStatus: 'UpgradeFailed' });
    const short = await run.step(() => sim.post('/_sim/scenario/failure-spike', { upgrades: 4 }));
    const full = await sim.truth({ ...QUERY, now: Date.now() });
    for (const account of accounts) {
      const served = short.samples
        .filter(
          (s) =>
            s.name === 'thingspace_fota_upgrades' &&
            s.labels.account === account &&
            s.labels.status === 'UpgradeFailed',
        )
        .reduce((n, s) => n + s.value, 0);
      const real = full.accounts[account]!.UpgradeFailed!.upgrades.reduce((n, u) => n + u.count, 0);
      expect(served).toBeLessThan(real); // the short report was read, and was short
    }
    await sim.setFaults({ shortReportStatus: null });
    const beforeGap = await run.expectExact();

    // 4. A gap: every request fails for a few collections while a tick passes, then collection resumes.
    await sim.setFaults({ errorRate: 1 });
    const failing = await run.collect();
    // Every report and both campaign stages of every account × API failed.
    expect(failing.line.failed).toBe(
      accounts.length * (UPGRADE_STATUSES.length + 2 * CAMPAIGN_APIS.length),
    );
    const before = collectionLines(run.exporter);
    const at = before.findIndex((l) => l.time === failing.line.time);
    // The collection running when the fault was set may have failed in part: reports it read completely
    // ended their last good pass in it, the others in the last collection without failures.
    const lastBefore = before[at - 1]!;
    const lastGood = before
      .slice(0, at)
      .filter((l) => l.failed === 0)
      .at(-1)!;
    // A tick inside the gap, and one more failing collection after it: failing passes count nothing and
    // cover no time.
    for (const during of [await run.step(), await run.collect()]) {
      expect(during.line.failed).toBe(failing.line.failed);
      expect(entered(during.samples)).toEqual(entered(failing.samples));
      expect(observedIn(during.samples)).toEqual(observedIn(failing.samples));
    }
    await sim.setFaults({ errorRate: 0 });
    const resumed = await run.collect();
    expect(resumed.line.failed).toBe(0);
    const latest = collectionLines(run.exporter).at(-1)!;
    // The pass after the gap covers the whole gap: from the last good pass before it to this one.
    expect(
      outside(
        resumed.samples,
        (key) => observedIn(failing.samples).get(key)!,
        startOf(resumed.line) - endOf(lastBefore) - SLACK_SECONDS,
        endOf(latest) - startOf(lastGood) + SLACK_SECONDS,
      ),
    ).toEqual([]);
    // The gap's v1 arrivals are counted by the pass that resumed, at the moment the observed seconds jump
    // (the campaign counters may hold a new unknown status back one more collection).
    const gapTruth = await truthSince(sim, run.learnedAt);
    const v1 = (m: ReadonlyMap<string, number>) =>
      new Map([...m].filter(([key]) => key.startsWith('thingspace_fota_upgrade')));
    expect(diffSeries(v1(enteredTruthSeries(gapTruth)), v1(entered(resumed.samples)))).toEqual([]);
    const afterGap = await run.expectExact();
    expect(
      sum(enteredTruthSeries(afterGap.truth), 'thingspace_fota_upgrades_entered_total'),
    ).toBeGreaterThan(
      sum(enteredTruthSeries(beforeGap.truth), 'thingspace_fota_upgrades_entered_total'),
    );

    // 5. A restart: the new process learns again, counts from its own learning pass on.
    expect(await run.exporter.stop()).toBe(0);
    run = await Run.start(sim, accounts);
    for (let i = 0; i < 3; i++) await run.step();
    await run.step(() =>
      sim.post('/_sim/scenario/failure-spike', { account: accounts[1], upgrades: 3 }),
    );
    const restarted = await run.expectExact();
    expect(
      sum(enteredTruthSeries(restarted.truth), 'thingspace_fota_upgrades_entered_total'),
    ).toBeGreaterThan(0);
  });
});
