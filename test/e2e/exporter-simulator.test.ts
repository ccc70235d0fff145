/**
 * End to end over real processes and sockets: the exporter collecting from the simulator must serve
 * exactly what the simulator's /_sim/truth says, for several seeds and sizes and through faults: the v1
 * series, and the v2/v3 campaign series the simulator serves next to them (test/e2e/campaigns.test.ts
 * covers the campaign cases in depth).
 */
import { parseExposition, seriesMap, type Sample } from '../support/exposition.js';
import { startPair, waitForCollection, type ExporterProcess } from '../support/faults.js';
import { killAll } from '../support/process.js';
import {
  BUSINESS_METRICS,
  SIMULATOR_ENV,
  campaignSeriesOf,
  campaignTruthSeries,
  diffSeries,
  truthForWindow,
  truthSeries,
  type SimulatorProcess,
} from '../support/simulator.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { jest } from '@jest/globals';

jest.setTimeout(120_000);
afterEach(() => killAll());

interface Collected {
  samples: Sample[];
  /** The wall-clock window the collection ran in (the exporter picks its campaign walk set inside it). */
  window: [number, number];
}

/** Waits for the n-th "collection finished" line (counting from 1) and scrapes. */
async function afterCollection(
  exporter: ExporterProcess,
  n = 1,
  timeoutMs = 60_000,
): Promise<Collected> {
  const line = await waitForCollection(exporter, n, timeoutMs);
  const samples = parseExposition(await (await fetch(exporter.metricsUrl)).text());
  return { samples, window: [line.time - line.durationSeconds * 1000 - 5, line.time] };
}

function successes(samples: Sample[]): Map<string, number> {
  return new Map(
    samples
      .filter(
        (s) =>
          s.name === 'thingspace_fota_collection_success' ||
          s.name === 'thingspace_fota_campaign_collection_success',
      )
      .map((s) => [
        `${s.labels.account}/${s.labels.status ?? `${s.labels.api}/${s.labels.stage}`}`,
        s.value,
      ]),
  );
}

async function expectExact(
  sim: SimulatorProcess,
  { samples, window }: Collected,
  maxLabelValues = 50,
): Promise<void> {
  const truth = await truthForWindow(sim, { maxLabelValues }, ...window);
  expect(diffSeries(truthSeries(truth), seriesMap(samples, BUSINESS_METRICS))).toEqual([]);
  expect(diffSeries(campaignTruthSeries(truth), campaignSeriesOf(samples))).toEqual([]);
  // 6 statuses, and 2 APIs × 2 stages, per account
  expect(successes(samples).size).toBe(Object.keys(truth.accounts).length * 10);
  expect([...successes(samples).values()].every((v) => v === 1)).toBe(true);
}

describe('exporter against the simulator', () => {
  test.each([
    ['seed 1, defaults', ['--seed', '1'], 50],
    [
      'seed 7, three accounts, small pages',
      ['--seed', '7', '--accounts', '3', '--page-size', '10'],
      50,
    ],
    [
      'seed 42, a report of many pages',
      [
        '--seed',
        '42',
        '--accounts',
        '1',
        '--upgrades-per-status',
        '400',
        '--page-size',
        '7',
        '--devices-per-upgrade-mean',
        '30',
      ],
      50,
    ],
    [
      'seed 3, label values over the cap',
      [
        '--seed',
        '3',
        '--accounts',
        '1',
        '--upgrades-per-status',
        '300',
        '--devices-per-upgrade-mean',
        '20',
      ],
      50,
    ],
    [
      'seed 4, a cap of 5 label values',
      ['--seed', '4', '--accounts', '2', '--upgrades-per-status', '100'],
      5,
    ],
  ])('every business series equals the truth: %s', async (_name, simArgs, max) => {
    const { sim, exporter } = await startPair(simArgs, [`--collector.max-label-values=${max}`]);
    await expectExact(sim, await afterCollection(exporter), max);
    if (max === 5) expect(JSON.stringify((await sim.truth(max)).accounts)).toContain('"other"');
  });

  test('through expiring tokens, 429s, 500s, a misspelt numeric cursor: still exact, success 1', async () => {
    const { sim, exporter } = await startPair(
      [
        '--seed',
        '11',
        '--page-size',
        '5',
        '--upgrades-per-status',
        '60',
        '--latency-ms',
        '100',
        // Lifetimes of 2 s, not 1: the simulator states expires_in in whole seconds rounded up, so with 1 s
        // tokens it hands out tokens with milliseconds left that the client trusts for most of a second,
        // and a request meets more dead tokens than the client's five renewals per request allow
        // (MAX_TOKEN_RENEWALS), a regime no real ThingSpace (1 h and 20 min) comes near.
        '--bearer-ttl-seconds',
        '2',
        '--session-ttl-seconds',
        '2',
        '--error-rate',
        '0.1',
        '--throttle-rate',
        '0.05',
        '--throttle-retry-after-seconds',
        '0',
        '--throttle-bare-rate',
        '0.05',
        '--misspelt-cursor-key',
        '--numeric-cursor',
      ],
      ['--collector.max-retries=10'],
    );
    // Sessions only expire when idle, and this collection never is: expire both tokens while it pages.
    const expiring = setInterval(
      () => void sim.post('/_sim/expire?tokens=all').catch(() => undefined),
      3000,
    );
    const samples = await afterCollection(exporter).finally(() => clearInterval(expiring));
    await expectExact(sim, samples);
    const stats = (await sim.stats()) as { requests: Record<string, Record<string, number>> };
    // the collection outlived both token lifetimes, so both were renewed in the middle of paging
    expect(stats.requests.oauth_token!['200']).toBeGreaterThan(1);
    expect(stats.requests.session_login!['200']).toBeGreaterThan(1);
    expect(stats.requests.reports!['429']).toBeGreaterThan(0);
    expect(stats.requests.reports!['500']).toBeGreaterThan(0);
  });

  test('a status that is always malformed reports success 0 and keeps its last good values; the rest stay exact', async () => {
    const { sim, exporter, accounts } = await startPair(
      ['--seed', '5'],
      ['--collector.interval=1s'],
    );
    const first = await afterCollection(exporter);
    await expectExact(sim, first);
    await sim.setFaults({ malformedJsonStatus: 'Finished' });
    // the first collection that started after the fault was set
    const seenBefore = exporter.output().split('"collection finished"').length - 1;
    const later = await afterCollection(exporter, seenBefore + 2);
    for (const account of accounts) {
      for (const status of UPGRADE_STATUSES) {
        expect(successes(later.samples).get(`${account}/${status}`)).toBe(
          status === 'Finished' ? 0 : 1,
        );
      }
    }
    expect(seriesMap(later.samples, BUSINESS_METRICS)).toEqual(
      seriesMap(first.samples, BUSINESS_METRICS),
    );
    // a broken v1 report leaves the campaigns alone
    const truth = await truthForWindow(sim, {}, ...later.window);
    expect(diffSeries(campaignTruthSeries(truth), campaignSeriesOf(later.samples))).toEqual([]);
    expect(
      later.samples.some(
        (s) =>
          s.name === 'thingspace_fota_collection_errors_total' &&
          s.labels.status === 'Finished' &&
          s.labels.error === 'parse' &&
          s.value >= 1,
      ),
    ).toBe(true);
    expect(exporter.proc.exitCode).toBeNull();
  });

  test('wrong credentials: at most one login per interval, blocked before the simulator locks the user', async () => {
    const { sim, exporter } = await startPair(['--seed', '1'], ['--collector.interval=1s'], {
      ...SIMULATOR_ENV,
      THINGSPACE_PASSWORD: 'wrong-password',
    });
    const { samples } = await afterCollection(exporter, 6, 30_000);
    const stats = (await sim.stats()) as {
      login: { locked: boolean; consecutiveFailures?: number; failedLogins?: number };
    };
    expect(stats.login.locked).toBe(false);
    expect(samples.find((s) => s.name === 'thingspace_fota_login_blocked')?.value).toBe(1);
    expect(
      samples.find(
        (s) =>
          s.name === 'thingspace_fota_login_failures_total' && s.labels.kind === 'session_login',
      )?.value,
    ).toBe(3);
    expect(exporter.output()).not.toContain('wrong-password');
  });

  test('time moving: the values follow the simulator from one collection to the next', async () => {
    const { sim, exporter } = await startPair(
      ['--seed', '9', '--arrivals-per-tick', '3'],
      ['--collector.interval=1s'],
    );
    await expectExact(sim, await afterCollection(exporter));
    const before = await sim.truth();
    const generation = await sim.advance(30);
    expect(generation).toBeGreaterThan(before.generation);
    const after = await sim.truth();
    expect(truthSeries(after)).not.toEqual(truthSeries(before));
    const seenBefore = exporter.output().split('"collection finished"').length - 1;
    await expectExact(sim, await afterCollection(exporter, seenBefore + 2));
  });
});
