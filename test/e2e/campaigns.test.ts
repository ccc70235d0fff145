/**
 * End to end over real processes: the exporter collecting FOTA v1, v2 and v3 from the simulator must serve
 * every campaign series exactly as the simulator's /_sim/truth computes it (SPEC §2–5, §7), with either v3
 * listing path, both cursor styles, label and campaign caps that fold, a lookback that leaves final
 * campaigns out, and unknown campaign and device statuses; and a failing campaign API, a campaign whose
 * device list loops, or a broken v1 report must stay inside their own series.
 */
import { jest } from '@jest/globals';
import { parseExposition, seriesKey, seriesMap, type Sample } from '../support/exposition.js';
import {
  scrape,
  waitForCollection,
  waitForFreshCollection,
  type ExporterProcess,
} from '../support/faults.js';
import { EXPORTER_BIN, killAll, startExporterProcess, startProcess } from '../support/process.js';
import {
  BUSINESS_METRICS,
  SIMULATOR_ENV,
  campaignSeriesOf,
  campaignTruthSeries,
  diffSeries,
  startSimulatorProcess,
  truthForWindow,
  truthSeries,
  type SimulatorProcess,
  type SimulatorTruth,
  campaignQueryFlags,
  type CampaignQuery,
} from '../support/simulator.js';
import {
  CAMPAIGN_APIS,
  CAMPAIGN_STATUSES,
  isFinalCampaignStatus,
} from '../../src/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

jest.setTimeout(180_000);
afterEach(() => killAll());

const DAY_MS = 86_400_000;
const KNOWN_STATUSES: ReadonlySet<string> = new Set(CAMPAIGN_STATUSES);
const STAGES = ['listing', 'devices'] as const;

const DEFAULT_QUERY: CampaignQuery = {
  maxLabelValues: 50,
  campaignLookback: '7d',
  maxCampaigns: 100,
};

interface Fleet {
  sim: SimulatorProcess;
  exporter: ExporterProcess;
  accounts: string[];
}

/**
 * A frozen simulator, moved `ticks` ticks forward first (so devices are part-way along their paths, some in
 * an unknown status), and an exporter reading all three APIs from it.
 */
async function startFleet(simArgs: string[], exporterArgs: string[], ticks = 0): Promise<Fleet> {
  const sim = await startSimulatorProcess(['--tick', '0', ...simArgs]);
  if (ticks > 0) await sim.advance(ticks);
  const accounts = Object.keys((await sim.truth()).accounts);
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1h',
      ...exporterArgs,
    ],
    SIMULATOR_ENV,
  );
  return { sim, exporter, accounts };
}

/** The wall-clock window a collection ran in, from its log line. */
function windowOf(line: { time: number; durationSeconds: number }): [number, number] {
  return [line.time - line.durationSeconds * 1000 - 5, line.time];
}

function gauge(samples: readonly Sample[], name: string, labels: Record<string, string>) {
  return samples.find(
    (s) => s.name === name && seriesKey(name, s.labels) === seriesKey(name, labels),
  )?.value;
}

/** `account/api/stage` → thingspace_fota_campaign_collection_success. */
function campaignSuccesses(samples: readonly Sample[]): Map<string, number> {
  return new Map(
    samples
      .filter((s) => s.name === 'thingspace_fota_campaign_collection_success')
      .map((s) => [`${s.labels.account}/${s.labels.api}/${s.labels.stage}`, s.value]),
  );
}

function expectCampaignSuccess(
  samples: readonly Sample[],
  accounts: readonly string[],
  failing: (account: string, api: string, stage: string) => boolean = () => false,
): void {
  const expected = new Map<string, number>();
  for (const account of accounts)
    for (const api of CAMPAIGN_APIS)
      for (const stage of STAGES)
        expected.set(`${account}/${api}/${stage}`, failing(account, api, stage) ? 0 : 1);
  expect(campaignSuccesses(samples)).toEqual(expected);
}

function expectV1Exact(samples: Sample[], truth: SimulatorTruth, accounts: readonly string[]) {
  expect(diffSeries(truthSeries(truth), seriesMap(samples, BUSINESS_METRICS))).toEqual([]);
  for (const account of accounts)
    for (const status of UPGRADE_STATUSES)
      expect([
        account,
        status,
        gauge(samples, 'thingspace_fota_collection_success', { account, status }),
      ]).toEqual([account, status, 1]);
}

/** Final campaigns left out by the lookback (neither walked nor folded), over every account and API. */
function finalsLeftOut(truth: SimulatorTruth): { walked: number; leftOut: number } {
  let walked = 0;
  let leftOut = 0;
  for (const apis of Object.values(truth.campaigns)) {
    for (const t of Object.values(apis)) {
      const finals = t.campaigns
        .filter((c) => isFinalCampaignStatus(c.campaign_status))
        .reduce((sum, c) => sum + c.count, 0);
      const walkedFinals = t.walked.filter((w) => isFinalCampaignStatus(w.campaign_status)).length;
      walked += walkedFinals;
      // With nothing folded, every final campaign not walked was left out by the lookback.
      if (t.folded === 0) leftOut += finals - walkedFinals;
    }
  }
  return { walked, leftOut };
}

function allTruths(truth: SimulatorTruth) {
  return Object.values(truth.campaigns).flatMap((apis) => Object.values(apis));
}

interface EqualityCase {
  simArgs: string[];
  query?: Partial<CampaignQuery>;
  /** Ticks before the exporter starts. */
  ticks?: number;
  v3Path: 'firmware/campaigns' | 'campaigns';
  /** What this case is meant to exercise, checked on the truth so that the comparison cannot be vacuous. */
  exercises: (truth: SimulatorTruth) => void;
}

/** Days from the default simulated start (2025-01-01) to now, plus `extra`: a lookback reaching back past it. */
function lookbackPastDefaultStart(extraDays: number): string {
  return `${Math.floor((Date.now() - Date.parse('2025-01-01T00:00:00Z')) / DAY_MS) + extraDays}d`;
}

const EQUALITY_CASES: [string, EqualityCase][] = [
  [
    'seed 1, the defaults: both v3 paths answer, string cursors, 7d lookback',
    {
      simArgs: ['--seed', '1', '--start-time', 'now'],
      v3Path: 'firmware/campaigns',
      exercises: (truth) => {
        expect(finalsLeftOut(truth).leftOut).toBeGreaterThan(0);
        expect(finalsLeftOut(truth).walked).toBeGreaterThan(0);
      },
    },
  ],
  [
    'seed 7, three accounts, the docs path only, numeric cursors, small pages, a cap of 5 that folds statuses, reasons and unknown campaign statuses',
    {
      simArgs: [
        '--seed',
        '7',
        '--accounts',
        '3',
        '--start-time',
        'now',
        '--campaigns-per-account',
        '30',
        '--campaign-unknown-statuses',
        '8',
        '--campaign-listing-page-size',
        '2',
        '--campaign-device-page-size',
        '50',
        '--v3-listing-path',
        'docs',
        '--campaign-numeric-cursor',
      ],
      query: { maxLabelValues: 5 },
      ticks: 6,
      v3Path: 'campaigns',
      exercises: (truth) => {
        for (const t of allTruths(truth)) {
          // 8 unknown campaign statuses over a cap of 5: some are kept, the rest are "other".
          expect(t.campaigns.map((c) => c.campaign_status)).toContain('other');
          expect(
            t.campaigns.filter((c) => c.campaign_status.startsWith('Campaign')).length,
          ).toBeGreaterThan(9);
        }
        const devices = allTruths(truth).flatMap((t) => t.devices);
        expect(devices.some((d) => d.result_reason === 'other')).toBe(true);
        expect(devices.some((d) => d.device_status === 'other')).toBe(true);
      },
    },
  ],
  [
    'seed 3, the SDK path only, numeric cursors, max-campaigns 4 folds campaigns',
    {
      simArgs: [
        '--seed',
        '3',
        '--start-time',
        'now',
        '--campaigns-per-account',
        '25',
        '--campaign-unknown-statuses',
        '2',
        '--v3-listing-path',
        'sdk',
        '--campaign-numeric-cursor',
      ],
      query: { maxCampaigns: 4 },
      ticks: 3,
      v3Path: 'firmware/campaigns',
      exercises: (truth) => {
        for (const t of allTruths(truth)) {
          expect(t.walked).toHaveLength(4);
          expect(t.folded).toBeGreaterThan(0);
        }
      },
    },
  ],
  [
    'seed 11, the fixed 2025 clock, a lookback that cuts through the ended campaigns, unknown campaign and device statuses',
    {
      simArgs: [
        '--seed',
        '11',
        '--campaigns-per-account',
        '40',
        '--campaign-unknown-statuses',
        '3',
      ],
      query: { campaignLookback: lookbackPastDefaultStart(45), maxCampaigns: 1000 },
      ticks: 4,
      v3Path: 'firmware/campaigns',
      exercises: (truth) => {
        expect(finalsLeftOut(truth).leftOut).toBeGreaterThan(0);
        expect(finalsLeftOut(truth).walked).toBeGreaterThan(0);
        const walked = allTruths(truth).flatMap((t) => t.walked);
        // an unknown campaign status walked with its own label, and devices in an unknown status
        expect(walked.some((w) => w.campaign_status === 'CampaignPaused')).toBe(true);
        expect(
          walked.some((w) => w.device_status.some((d) => d.device_status === 'UpgradeDeferred')),
        ).toBe(true);
      },
    },
  ],
  [
    'seed 9, a cap of 1 under fourteen unknown campaign statuses: the one kept is the latest in listing order, past the first ten',
    {
      simArgs: [
        '--seed',
        '9',
        '--accounts',
        '1',
        '--start-time',
        'now',
        '--campaigns-per-account',
        '12',
        '--campaign-unknown-statuses',
        '14',
      ],
      query: { maxLabelValues: 1 },
      ticks: 2,
      v3Path: 'firmware/campaigns',
      exercises: (truth) => {
        for (const t of allTruths(truth)) {
          // one unknown status kept, thirteen folded; each unknown status has one campaign, so the tie
          // goes to the latest in listing order
          expect(t.campaigns.filter((c) => !KNOWN_STATUSES.has(c.campaign_status))).toEqual([
            expect.objectContaining({ campaign_status: expect.stringMatching(/^Campaign/) }),
            { campaign_status: 'other', count: 13 },
          ]);
        }
      },
    },
  ],
  [
    'seed 5, one account, large campaigns of many device pages, string cursors',
    {
      simArgs: [
        '--seed',
        '5',
        '--accounts',
        '1',
        '--start-time',
        'now',
        '--upgrades-per-status',
        '5',
        '--campaigns-per-account',
        'CampaignScheduled=6,CampaignEnded=2,CampaignCancelled=1,CampaignRequestPending=1,CampaignPreScheduled=1,CampaignRequestQueued=1,CampaignAborted=1,CampaignFailed=1,CampaignRequestFailed=1',
        '--campaign-devices-mean',
        '4000',
        '--campaign-device-page-size',
        '1000',
      ],
      query: { campaignLookback: '3650d' },
      ticks: 8,
      v3Path: 'firmware/campaigns',
      exercises: (truth) => {
        for (const t of allTruths(truth)) {
          expect(t.walked.filter((w) => w.total_devices > 1000).length).toBeGreaterThan(1);
        }
      },
    },
  ],
];

describe('campaign series equal the truth', () => {
  test.each(EQUALITY_CASES)('%s', async (_name, c) => {
    const query = { ...DEFAULT_QUERY, ...c.query };
    const { sim, exporter, accounts } = await startFleet(
      c.simArgs,
      campaignQueryFlags(query),
      c.ticks,
    );
    const line = await waitForCollection(exporter, 1, 120_000);
    const samples = await scrape(exporter);
    const truth = await truthForWindow(sim, query, ...windowOf(line));
    c.exercises(truth);

    expect(diffSeries(campaignTruthSeries(truth), campaignSeriesOf(samples))).toEqual([]);
    expectCampaignSuccess(samples, accounts);
    expectV1Exact(samples, truth, accounts);

    // The v3 history path that answered is the one the simulator serves, found once and logged.
    const found = exporter
      .output()
      .split('\n')
      .filter((l) => l.includes('the v3 campaign history answers on this path'));
    expect(found).toHaveLength(1);
    expect(JSON.parse(found[0]!).path).toBe(`/api/fota/v3/reports/{account}/${c.v3Path}`);
    // The SDK path is tried first; after its first 404 the docs path is asked first, and once it has
    // answered, always. A path is chosen when an attempt takes its request slot, so only the attempts
    // already in flight (at most --collector.concurrency, 4 by default) met a 404, and at most one more
    // per slot: the attempt that took a slot as a 404 freed it, before the pager had read that 404.
    const stats = (await sim.stats()) as { requests: { campaigns: Record<string, number> } };
    const notFound = stats.requests.campaigns['404'] ?? 0;
    if (c.v3Path === 'campaigns') {
      expect(notFound).toBeGreaterThanOrEqual(1);
      expect(notFound).toBeLessThanOrEqual(2 * 4);
    } else expect(notFound).toBe(0);
  });
});

/** A fresh collection's samples and its window. */
async function fresh(exporter: ExporterProcess) {
  const line = await waitForFreshCollection(exporter, 60_000);
  return { line, samples: await scrape(exporter), window: windowOf(line) };
}

describe('fault isolation', () => {
  test('v3 answering 500: v1 and v2 stay exact, v3 keeps its last good series for max-stale, then drops them', async () => {
    const maxStaleMs = 8_000;
    const { sim, exporter, accounts } = await startFleet(
      ['--seed', '2', '--start-time', 'now', '--campaign-device-page-size', '100'],
      [
        ...campaignQueryFlags(DEFAULT_QUERY),
        '--collector.interval=1s',
        `--collector.max-stale=${maxStaleMs / 1000}s`,
        '--collector.max-retries=1',
      ],
    );
    const firstLine = await waitForCollection(exporter, 1, 60_000);
    const first = await scrape(exporter);
    const firstTruth = await truthForWindow(sim, DEFAULT_QUERY, ...windowOf(firstLine));
    expect(diffSeries(campaignTruthSeries(firstTruth), campaignSeriesOf(first))).toEqual([]);
    const v3 = (_account: string, api: string) => api === 'v3';
    const notV3 = (_account: string, api: string) => api !== 'v3';
    const goodV3 = campaignSeriesOf(first, v3);
    expect(goodV3.size).toBeGreaterThan(accounts.length * 9);

    await sim.setFaults({ campaignErrorApi: 'v3' });
    const failing = await fresh(exporter);
    const lastGood = Math.min(
      ...accounts.map(
        (account) =>
          gauge(
            failing.samples,
            'thingspace_fota_campaign_collection_last_success_timestamp_seconds',
            {
              account,
              api: 'v3',
              stage: 'listing',
            },
          )! * 1000,
      ),
    );
    // This collection ran within max-stale of v3's last success, so v3's last good series are still served.
    expect(failing.window[1]).toBeLessThan(lastGood + maxStaleMs);
    const truth = await truthForWindow(sim, DEFAULT_QUERY, ...failing.window);
    expect(
      diffSeries(campaignTruthSeries(truth, notV3), campaignSeriesOf(failing.samples, notV3)),
    ).toEqual([]);
    expect(diffSeries(goodV3, campaignSeriesOf(failing.samples, v3))).toEqual([]);
    expectCampaignSuccess(failing.samples, accounts, (_a, api) => api === 'v3');
    expectV1Exact(failing.samples, truth, accounts);
    for (const account of accounts) {
      expect(
        gauge(failing.samples, 'thingspace_fota_campaign_collection_errors_total', {
          account,
          api: 'v3',
          stage: 'listing',
          error: 'http',
        }),
      ).toBeGreaterThanOrEqual(1);
    }

    // A collection that started after max-stale has passed: v3's series are gone, the rest still exact.
    let stale: Awaited<ReturnType<typeof fresh>>;
    do stale = await fresh(exporter);
    while (stale.window[0] <= lastGood + maxStaleMs + 1000);
    const staleTruth = await truthForWindow(sim, DEFAULT_QUERY, ...stale.window);
    expect(campaignSeriesOf(stale.samples, v3).size).toBe(0);
    expect(
      diffSeries(campaignTruthSeries(staleTruth, notV3), campaignSeriesOf(stale.samples, notV3)),
    ).toEqual([]);
    expectCampaignSuccess(stale.samples, accounts, (_a, api) => api === 'v3');
    expectV1Exact(stale.samples, staleTruth, accounts);
    // the last success is still the last success, not a fresh one
    for (const account of accounts) {
      expect(
        gauge(stale.samples, 'thingspace_fota_campaign_collection_last_success_timestamp_seconds', {
          account,
          api: 'v3',
          stage: 'listing',
        }),
      ).toBe(
        gauge(
          failing.samples,
          'thingspace_fota_campaign_collection_last_success_timestamp_seconds',
          {
            account,
            api: 'v3',
            stage: 'listing',
          },
        ),
      );
    }

    // v3 back: everything exact again.
    await sim.setFaults({ campaignErrorApi: null });
    const back = await fresh(exporter);
    const backTruth = await truthForWindow(sim, DEFAULT_QUERY, ...back.window);
    expect(diffSeries(campaignTruthSeries(backTruth), campaignSeriesOf(back.samples))).toEqual([]);
    expectCampaignSuccess(back.samples, accounts);
  });

  test('a campaign whose device list repeats its cursor fails alone: pagination, devices stage 0, every other series exact', async () => {
    const maxStaleMs = 6_000;
    const { sim, exporter, accounts } = await startFleet(
      ['--seed', '4', '--start-time', 'now', '--campaign-device-page-size', '100'],
      [
        ...campaignQueryFlags(DEFAULT_QUERY),
        '--collector.interval=1s',
        `--collector.max-stale=${maxStaleMs / 1000}s`,
      ],
    );
    const firstLine = await waitForCollection(exporter, 1, 60_000);
    const firstTruth = await truthForWindow(sim, DEFAULT_QUERY, ...windowOf(firstLine));
    expect(
      diffSeries(campaignTruthSeries(firstTruth), campaignSeriesOf(await scrape(exporter))),
    ).toEqual([]);

    const account = accounts[0]!;
    const api = 'v2';
    const target = firstTruth.campaigns[account]![api].walked.find((w) => w.total_devices > 0)!;
    expect(target).toBeDefined();
    const id = target.campaign_id;
    await sim.setFaults({ repeatCursorCampaign: id });
    const hit = (a: string, p: string) => a === account && p === api;
    const failed = (a: string, p: string, stage: string) => hit(a, p) && stage === 'devices';

    const failing = await fresh(exporter);
    const lastGood =
      gauge(failing.samples, 'thingspace_fota_campaign_collection_last_success_timestamp_seconds', {
        account,
        api,
        stage: 'devices',
      })! * 1000;
    expect(failing.window[1]).toBeLessThan(lastGood + maxStaleMs);
    const truth = await truthForWindow(sim, DEFAULT_QUERY, ...failing.window);
    // Within max-stale the failed walk's last good series are kept: every campaign series is the truth.
    expect(diffSeries(campaignTruthSeries(truth), campaignSeriesOf(failing.samples))).toEqual([]);
    expectCampaignSuccess(failing.samples, accounts, failed);
    expectV1Exact(failing.samples, truth, accounts);
    expect(
      gauge(failing.samples, 'thingspace_fota_campaign_collection_errors_total', {
        account,
        api,
        stage: 'devices',
        error: 'pagination',
      }),
    ).toBeGreaterThanOrEqual(1);

    // Past max-stale only that campaign's series go, and its devices leave campaign_devices.
    let stale: Awaited<ReturnType<typeof fresh>>;
    do stale = await fresh(exporter);
    while (stale.window[0] <= lastGood + maxStaleMs + 1000);
    const staleTruth = await truthForWindow(sim, DEFAULT_QUERY, ...stale.window);
    expectCampaignSuccess(stale.samples, accounts, failed);
    expectV1Exact(stale.samples, staleTruth, accounts);
    const others = (a: string, p: string) => !hit(a, p);
    expect(
      diffSeries(campaignTruthSeries(staleTruth, others), campaignSeriesOf(stale.samples, others)),
    ).toEqual([]);
    const hitSeries = campaignSeriesOf(stale.samples, hit);
    const expected = campaignTruthSeries(staleTruth, hit);
    for (const key of [...expected.keys()]) {
      if (key.includes(`campaign_id=${JSON.stringify(id)}`)) expected.delete(key);
      else if (key.startsWith('thingspace_fota_campaign_devices{')) expected.delete(key);
    }
    for (const key of [...hitSeries.keys()])
      if (key.startsWith('thingspace_fota_campaign_devices{')) hitSeries.delete(key);
    expect(diffSeries(expected, hitSeries)).toEqual([]);
    // campaign_devices of that account × API: the truth less the failed campaign's devices, by status.
    const t = staleTruth.campaigns[account]![api];
    expect(t.devices.some((d) => d.device_status === 'other')).toBe(false);
    const byStatus = (
      entries: { campaign_status: string; device_status: string; count: number }[],
    ) => {
      const out = new Map<string, number>();
      for (const e of entries) {
        const k = `${e.campaign_status}/${e.device_status}`;
        out.set(k, (out.get(k) ?? 0) + e.count);
      }
      return out;
    };
    const want = byStatus(t.devices);
    for (const d of target.device_status) {
      const k = `${target.campaign_status}/${d.device_status}`;
      want.set(k, want.get(k)! - d.count);
      if (want.get(k) === 0) want.delete(k);
    }
    const got = byStatus(
      stale.samples
        .filter(
          (s) =>
            s.name === 'thingspace_fota_campaign_devices' && hit(s.labels.account!, s.labels.api!),
        )
        .map((s) => ({
          campaign_status: s.labels.campaign_status!,
          device_status: s.labels.device_status!,
          count: s.value,
        })),
    );
    expect(got).toEqual(want);
  });

  test('a malformed v1 report never changes a campaign series', async () => {
    const { sim, exporter, accounts } = await startFleet(
      ['--seed', '6', '--start-time', 'now'],
      [...campaignQueryFlags(DEFAULT_QUERY), '--collector.interval=1s'],
    );
    await waitForCollection(exporter, 1, 60_000);
    await sim.setFaults({ malformedJsonStatus: 'Finished' });
    const { samples, window } = await fresh(exporter);
    const truth = await truthForWindow(sim, DEFAULT_QUERY, ...window);
    for (const account of accounts) {
      expect(
        gauge(samples, 'thingspace_fota_collection_success', { account, status: 'Finished' }),
      ).toBe(0);
    }
    expect(diffSeries(campaignTruthSeries(truth), campaignSeriesOf(samples))).toEqual([]);
    expectCampaignSuccess(samples, accounts);
  });
});

describe('--once', () => {
  async function once(sim: SimulatorProcess, accounts: string[]) {
    const from = Date.now();
    const p = startProcess(
      EXPORTER_BIN,
      [
        `--thingspace.base-url=${sim.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        '--collector.max-retries=0',
        '--once',
      ],
      SIMULATOR_ENV,
    );
    const code = await p.exited;
    const to = Date.now();
    return {
      code,
      samples: parseExposition(p.stdout.join('')),
      truth: await truthForWindow(sim, DEFAULT_QUERY, from, to),
    };
  }

  test('exits 0 only when every report, listing and walk succeeded, and 1 when one failed; the series are the same either way', async () => {
    const sim = await startSimulatorProcess([
      '--tick',
      '0',
      '--seed',
      '8',
      '--start-time',
      'now',
      '--campaign-device-page-size',
      '100',
    ]);
    const accounts = Object.keys((await sim.truth()).accounts);

    const clean = await once(sim, accounts);
    expect(clean.code).toBe(0);
    expect(diffSeries(campaignTruthSeries(clean.truth), campaignSeriesOf(clean.samples))).toEqual(
      [],
    );
    expectCampaignSuccess(clean.samples, accounts);
    expectV1Exact(clean.samples, clean.truth, accounts);

    // A campaign API answering 500: nothing of it to serve, v1 and the other API exact.
    await sim.setFaults({ campaignErrorApi: 'v3' });
    const v3 = await once(sim, accounts);
    expect(v3.code).toBe(1);
    const notV3 = (_a: string, api: string) => api !== 'v3';
    expect(campaignSeriesOf(v3.samples, (_a, api) => api === 'v3').size).toBe(0);
    expect(
      diffSeries(campaignTruthSeries(v3.truth, notV3), campaignSeriesOf(v3.samples, notV3)),
    ).toEqual([]);
    expectCampaignSuccess(v3.samples, accounts, (_a, api) => api === 'v3');
    expectV1Exact(v3.samples, v3.truth, accounts);

    // One walk looping: exit 1, the other account × API pairs exact.
    const account = accounts[1]!;
    const target = clean.truth.campaigns[account]!.v3.walked.find((w) => w.total_devices > 0)!;
    await sim.setFaults({ campaignErrorApi: null, repeatCursorCampaign: target.campaign_id });
    const loop = await once(sim, accounts);
    expect(loop.code).toBe(1);
    const others = (a: string, api: string) => !(a === account && api === 'v3');
    expect(
      diffSeries(campaignTruthSeries(loop.truth, others), campaignSeriesOf(loop.samples, others)),
    ).toEqual([]);
    expectCampaignSuccess(
      loop.samples,
      accounts,
      (a, api, stage) => a === account && api === 'v3' && stage === 'devices',
    );
    expect(
      [...campaignSeriesOf(loop.samples).keys()].filter((k) => k.includes(target.campaign_id)),
    ).toEqual([]);

    // A broken v1 report: exit 1, every campaign series exact.
    await sim.setFaults({ repeatCursorCampaign: null, malformedJsonStatus: 'Queued' });
    const v1 = await once(sim, accounts);
    expect(v1.code).toBe(1);
    expect(diffSeries(campaignTruthSeries(v1.truth), campaignSeriesOf(v1.samples))).toEqual([]);
    expectCampaignSuccess(v1.samples, accounts);
    for (const a of accounts)
      expect(
        gauge(v1.samples, 'thingspace_fota_collection_success', { account: a, status: 'Queued' }),
      ).toBe(0);

    // And back to all good: exit 0 again.
    await sim.setFaults({ malformedJsonStatus: null });
    expect((await once(sim, accounts)).code).toBe(0);
  });
});
