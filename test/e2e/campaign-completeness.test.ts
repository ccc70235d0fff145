/**
 * End to end over real processes: completeness of the campaign entered counters is judged per campaign
 * (src/arrivals/campaign-memory.ts, docs/runbook.md "Across restarts and gaps").
 *
 * - One campaign's device list loops (the simulator's repeatCursorCampaign fault) for a day of simulated
 *   time: every other campaign's arrivals are counted, equal to /_sim/truth, with the account × API's
 *   observed seconds moving at every collection and the id memory holding exactly the devices of the
 *   campaigns; a campaign that moves while it loops holds back its arrivals, and releases them, each
 *   once, when it reads again.
 * - With --collector.max-campaigns 1, a campaign first listed while folded counts nothing at its first
 *   walk, passes later.
 *
 * The simulator is frozen (--tick 0) and moved one generation at a time, with a collection that started
 * after each move (as in entered.test.ts).
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
  SIMULATOR_ENV,
  diffSeries,
  enteredTruthSeries,
  startSimulatorProcess,
  type SimulatorProcess,
  type SimulatorTruth,
  WALK_EVERY_CAMPAIGN,
  campaignQueryFlags,
  type CampaignQuery,
} from '../support/simulator.js';
import { isFinalCampaignStatus } from '../../src/campaigns/statuses.js';

jest.setTimeout(300_000);
afterEach(() => killAll());

const APIS = ['v2', 'v3'];
const ENTERED = 'thingspace_fota_campaign_devices_entered_total';
const OBSERVED = 'thingspace_fota_campaign_devices_observed_seconds_total';

interface Collected {
  line: CollectionLine;
  samples: Sample[];
}

async function startExporter(
  sim: SimulatorProcess,
  accounts: string[],
  query: CampaignQuery,
): Promise<ExporterProcess> {
  return startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      `--thingspace.apis=${APIS.join(',')}`,
      '--collector.interval=1s',
      ...campaignQueryFlags(query),
      '--collector.max-retries=0',
    ],
    SIMULATOR_ENV,
  );
}

/** A collection that started after this call, and the scrape right after it. */
async function fresh(exporter: ExporterProcess): Promise<Collected> {
  const line = await waitForFreshCollection(exporter, 60_000);
  return { line, samples: await scrape(exporter) };
}

async function generation(sim: SimulatorProcess): Promise<number> {
  return ((await sim.stats()) as { generation: number }).generation;
}

function entered(samples: readonly Sample[]): Map<string, number> {
  return seriesMap([...samples], [ENTERED]);
}

function observed(samples: readonly Sample[]): Map<string, number> {
  return seriesMap([...samples], [OBSERVED]);
}

const pairKey = (account: string, api: string) => seriesKey(OBSERVED, { account, api });

/** Entered series of one account × API, or of every other one. */
function only(series: ReadonlyMap<string, number>, account: string, api: string, keep = true) {
  const mark = `account=${JSON.stringify(account)},api=${JSON.stringify(api)},`;
  return new Map([...series].filter(([key]) => key.includes(mark) === keep));
}

function devicesOf(truth: SimulatorTruth): number {
  return Object.values(truth.campaigns)
    .flatMap((apis) => Object.values(apis))
    .flatMap((t) => t.walked)
    .reduce((n, w) => n + w.total_devices, 0);
}

describe('completeness per campaign', () => {
  test('one campaign looping for a day: the others count with observed time moving and memory flat; a moving one releases what it held back', async () => {
    const query = WALK_EVERY_CAMPAIGN;
    const sim = await startSimulatorProcess([
      '--tick',
      '0',
      '--seed',
      '31',
      '--start-time',
      'now',
      '--accounts',
      '2',
      '--upgrades-per-status',
      '0',
      '--campaigns-per-account',
      '12',
      '--campaign-arrivals-per-tick',
      '0.3',
      '--campaign-device-page-size',
      '100',
    ]);
    const initial = await sim.truth(query);
    const accounts = Object.keys(initial.accounts);
    const truthNow = (since?: number) =>
      sim.truth({
        ...query,
        now: Date.now(),
        ...(since === undefined ? {} : { enteredSince: since }),
      });

    // A final campaign of the first account's v2 that spans several device pages: it never moves, so
    // the truth of its account × API is the other campaigns' arrivals alone.
    const [first, second] = accounts as [string, string];
    const still = initial.campaigns[first]!.v2.walked.find(
      (w) => isFinalCampaignStatus(w.campaign_status) && w.total_devices > 100,
    );
    expect(still).toBeDefined();

    const exporter = await startExporter(sim, accounts, query);
    await waitForCollection(exporter, 1, 60_000);
    const learnedAt = await generation(sim);
    const exact = async (c: Collected) => {
      const truth = await truthNow(learnedAt);
      expect(diffSeries(enteredTruthSeries(truth, APIS), entered(c.samples))).toEqual([]);
      return truth;
    };

    await sim.setFaults({ repeatCursorCampaign: still!.campaign_id });
    let previous = await fresh(exporter);
    expect(previous.line.failed).toBe(1);
    expect(previous.line.failures.pagination?.count).toBe(1);
    const startIds = previous.line.idMemory.ids;
    const startBytes = previous.line.idMemory.bytes;
    const startDevices = devicesOf(await truthNow());
    expect(startIds).toBe(startDevices);

    // 1. A day of simulated time, one hour a step.
    for (let hour = 1; hour <= 24; hour++) {
      await sim.advance(1);
      const c = await fresh(exporter);
      expect(c.line.failed).toBe(1);
      const truth = await exact(c);
      // every account × API's observed seconds moved, the looping one's too
      const before = observed(previous.samples);
      for (const account of accounts)
        for (const api of APIS) {
          const key = pairKey(account, api);
          expect([key, observed(c.samples).get(key)! > before.get(key)!]).toEqual([key, true]);
        }
      // memory: exactly the devices of the campaigns, new ones included; nothing grows with the loop
      expect(c.line.idMemory.ids).toBe(devicesOf(truth));
      previous = c;
    }
    // what the day exercised: failures counted in the looping campaign's account × API, new campaigns
    const day = enteredTruthSeries(await truthNow(learnedAt), APIS);
    const dayFigures = {
      observedSeconds: observed(previous.samples).get(pairKey(first, 'v2')),
      idsAtStart: startIds,
      idsAfterDay: previous.line.idMemory.ids,
      bytesAtStart: startBytes,
      bytesAfterDay: previous.line.idMemory.bytes,
    };
    const failedThere = seriesKey(ENTERED, {
      account: first,
      api: 'v2',
      device_status: 'UpgradeFailed',
    });
    expect(day.get(failedThere)).toBeGreaterThan(0);
    Object.assign(dayFigures, { failedEnteredThere: day.get(failedThere) });
    expect(devicesOf(await truthNow())).toBeGreaterThan(startDevices);

    // 2. A campaign that moves while its walk loops: the second account's v3 campaign the failure spike
    //    will hit (the scheduled one with the most devices on the way, ties to the lowest id).
    const walked = (await truthNow()).campaigns[second]!.v3.walked.filter(
      (w) => w.campaign_status === 'CampaignScheduled',
    );
    const onTheWay = (w: (typeof walked)[number]) =>
      w.device_status
        .filter((d) => d.device_status === 'Accepted' || d.device_status === 'UpgradePending')
        .reduce((n, d) => n + d.count, 0);
    const moving = walked
      .filter((w) => w.total_devices > 100 && onTheWay(w) > 0)
      .sort((a, b) => onTheWay(b) - onTheWay(a) || (a.campaign_id < b.campaign_id ? -1 : 1))[0]!;
    expect(moving).toBeDefined();
    await sim.setFaults({ repeatCursorCampaign: moving.campaign_id });
    await fresh(exporter);
    const spike = (await sim.post('/_sim/scenario/failure-spike', { account: second })) as {
      campaigns: { api: string; campaignId: string; failedDevices: number }[];
    };
    const hit = spike.campaigns.find((c) => c.api === 'v3')!;
    expect(hit.campaignId).toBe(moving.campaign_id);
    for (let i = 0; i < 2; i++) {
      const c = await fresh(exporter);
      expect(c.line.failed).toBe(1);
      const truth = enteredTruthSeries(await truthNow(learnedAt), APIS);
      const got = entered(c.samples);
      // every other account × API is exact
      expect(diffSeries(only(truth, second, 'v3', false), only(got, second, 'v3', false))).toEqual(
        [],
      );
      // none of the spike's failures is counted while its walk loops, not even the first page's
      const failed = seriesKey(ENTERED, {
        account: second,
        api: 'v3',
        device_status: 'UpgradeFailed',
      });
      expect(got.get(failed)!).toBeLessThanOrEqual(truth.get(failed)! - hit.failedDevices);
      expect(observed(c.samples).get(pairKey(second, 'v3'))!).toBeGreaterThan(
        observed(previous.samples).get(pairKey(second, 'v3'))!,
      );
      previous = c;
    }
    // read again: everything it held back, and what it reads now, each once
    await sim.setFaults({ repeatCursorCampaign: null });
    const back = await fresh(exporter);
    expect(back.line.failed).toBe(0);
    await exact(back);
    expect(back.line.idMemory.ids).toBe(devicesOf(await truthNow()));
    const released = seriesKey(ENTERED, {
      account: second,
      api: 'v3',
      device_status: 'UpgradeFailed',
    });
    console.log(
      `[e2e] campaign-completeness ${JSON.stringify({
        ...dayFigures,
        spikeFailedDevices: hit.failedDevices,
        failedWhileLooping: entered(previous.samples).get(released),
        failedAfterRelease: entered(back.samples).get(released),
      })}`,
    );
  });
});

describe('a campaign walked for the first time', () => {
  test('first listed while folded by --collector.max-campaigns 1, walked passes later: counts nothing', async () => {
    const query = { ...WALK_EVERY_CAMPAIGN, maxCampaigns: 1 };
    // Seed 6 on the fixed default clock (start dates, date-only ones included, do not depend on the
    // time of day the test runs): the one initial v2 campaign starts after the next hour, so it stays
    // the one walked while the campaigns arriving at the first tick are folded.
    const sim = await startSimulatorProcess([
      '--tick',
      '0',
      '--seed',
      '6',
      '--accounts',
      '1',
      '--upgrades-per-status',
      '0',
      '--campaigns-per-account',
      'CampaignRequestPending=1',
      '--campaign-arrivals-per-tick',
      '2',
    ]);
    const initial = await sim.truth({ ...query, now: Date.now() });
    const [account] = Object.keys(initial.accounts) as [string];
    const ahead = initial.campaigns[account]!.v2.walked[0]!.campaign_id;
    const exporter = await startExporter(sim, [account], query);
    await waitForCollection(exporter, 1, 60_000);

    await sim.advance(1);
    const arrived = await sim.truth({ ...query, now: Date.now() });
    expect(arrived.campaigns[account]!.v2.walked.map((w) => w.campaign_id)).toEqual([ahead]);
    expect(arrived.campaigns[account]!.v2.folded).toBeGreaterThanOrEqual(2);
    // folded for two passes after the one that first listed the arrivals
    let c = await fresh(exporter);
    for (let i = 0; i < 2; i++) c = await fresh(exporter);
    const folded = c.samples.find(
      (s) => s.name === 'thingspace_fota_campaigns_folded' && s.labels.api === 'v2',
    );
    expect(folded?.value).toBeGreaterThanOrEqual(2);
    const before = entered(c.samples);
    for (const [key, value] of before) expect([key, value]).toEqual([key, 0]);

    // The campaign walked until now leaves the history: the newest arrival is walked for the first time.
    await sim.setFaults({ hiddenCampaign: ahead });
    const first = await fresh(exporter);
    const walkedNow = first.samples.filter(
      (s) => s.name === 'thingspace_fota_campaign_total_devices' && s.labels.api === 'v2',
    );
    expect(walkedNow).toHaveLength(1);
    expect(walkedNow[0]!.labels.campaign_id).not.toBe(ahead);
    expect(walkedNow[0]!.value).toBeGreaterThan(0);
    expect(first.line.failed).toBe(0);
    expect(entered(first.samples)).toEqual(before);
    // and it stays that way: what it learnt is not counted later either
    const next = await fresh(exporter);
    expect(entered(next.samples)).toEqual(before);
    expect(collectionLines(exporter).every((l) => l.failed === 0)).toBe(true);
  });
});
