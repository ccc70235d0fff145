/**
 * Hundreds of accounts (issue 11 §3): 500 accounts × 6 statuses, and each account's v2 and v3 campaigns,
 * against the simulator. In an outage the log stays readable (one grouped line per collection, nothing per
 * report at info level) and the error counters hold series only where errors happened; healthy, every
 * series is exact and the exposition's size per account is measured. Peak RSS at this size is measured by
 * the `500acc` profile of `npm run bench`.
 */
import { jest } from '@jest/globals';
import { gzipSync } from 'node:zlib';
import { parseExposition, type Sample } from '../support/exposition.js';
import {
  campaignSuccesses,
  collectionLines,
  countData,
  expectEverythingExact,
  logLines,
  reportFigures,
  simStats,
  successes,
  truthNow,
  waitForCollection,
} from '../support/faults.js';
import { killAll, startExporterProcess } from '../support/process.js';
import { SIMULATOR_ENV, startSimulatorProcess } from '../support/simulator.js';
import { CAMPAIGN_APIS, CAMPAIGN_STATUSES } from '../../src/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

jest.setTimeout(240_000);
afterEach(() => killAll());

const ACCOUNTS = 500;
/** Small reports and one campaign per account and API: the size under test is the number of accounts. */
const DATA = [
  '--tick',
  '0',
  '--seed',
  '11',
  '--accounts',
  String(ACCOUNTS),
  '--upgrades-per-status',
  '3',
  '--devices-per-upgrade-mean',
  '4',
  '--campaigns-per-account',
  '1',
  '--campaign-devices-mean',
  '6',
];

async function start(simArgs: string[], exporterArgs: string[]) {
  const sim = await startSimulatorProcess([...DATA, ...simArgs]);
  const accounts = Object.keys((await sim.truth()).accounts);
  expect(accounts).toHaveLength(ACCOUNTS);
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1h',
      ...exporterArgs,
    ],
    SIMULATOR_ENV,
  );
  return { sim, accounts, exporter };
}

function seriesNamed(samples: Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}

test(`an outage over ${ACCOUNTS} accounts (every request answered 500): one "collection finished" line groups the failures by kind in a few hundred bytes; nothing per report at info level`, async () => {
  // One request per report and per listing: the outage, not the retries, is under test.
  const { sim, accounts, exporter } = await start(
    ['--error-rate', '1'],
    ['--collector.max-retries=0'],
  );
  const line = await waitForCollection(exporter, 1, 180_000);
  const raw = exporter.stdout
    .join('')
    .split('\n')
    .find((l) => l.includes('"collection finished"'))!;
  const stats = await simStats(sim);
  const failures = ACCOUNTS * UPGRADE_STATUSES.length + ACCOUNTS * CAMPAIGN_APIS.length * 2;
  reportFigures(`500 accounts: ${expect.getState().currentTestName}`, {
    collectionSeconds: line.durationSeconds,
    requests: countData(stats),
    failed: line.failed,
    lineBytes: Buffer.byteLength(raw),
    line: JSON.parse(raw) as unknown,
  });

  expect(countData(stats, '500')).toBe(
    ACCOUNTS * UPGRADE_STATUSES.length + ACCOUNTS * CAMPAIGN_APIS.length * CAMPAIGN_STATUSES.length,
  );
  // every report, and each account's two stages (listing, walks) of v2 and v3, under one kind
  expect(line.failed).toBe(failures);
  expect(Object.keys(line.failures)).toEqual(['http']);
  expect(line.failures.http!.count).toBe(failures);
  expect(line.failures.http!.first).toHaveLength(5);
  expect(line.failures.http!.message).toContain('HTTP 500');
  expect(Buffer.byteLength(raw)).toBeLessThan(1024);

  // Nothing else at the default level: no line per report, per listing or per request.
  const msgs = logLines(exporter).map((l) => String(l.msg));
  expect(
    msgs.filter(
      (m) => m !== 'collection finished' && m !== 'listening' && !m.startsWith('network:'),
    ),
  ).toEqual([]);
  expect(collectionLines(exporter)).toHaveLength(1);

  // Error counters exist where errors happened: one series per failed report, and per account × API
  // stage: the listings, and the devices stage that had no listing to walk from.
  const samples = parseExposition(await (await fetch(exporter.metricsUrl)).text());
  const v1Errors = seriesNamed(samples, 'thingspace_fota_collection_errors_total');
  expect(v1Errors).toHaveLength(ACCOUNTS * UPGRADE_STATUSES.length);
  expect(new Set(v1Errors.map((s) => `${s.labels.error}=${s.value}`))).toEqual(new Set(['http=1']));
  const campaignErrors = seriesNamed(samples, 'thingspace_fota_campaign_collection_errors_total');
  expect(campaignErrors).toHaveLength(ACCOUNTS * CAMPAIGN_APIS.length * 2);
  // each listing of the nine statuses failed once, and the devices stage once
  expect(
    new Set(campaignErrors.map((s) => `${s.labels.stage}/${s.labels.error}=${s.value}`)),
  ).toEqual(new Set([`listing/http=${CAMPAIGN_STATUSES.length}`, 'devices/http=1']));
  expect([...successes(samples).values()].every((v) => v === 0)).toBe(true);
  expect(successes(samples).size).toBe(ACCOUNTS * UPGRADE_STATUSES.length);
  expect([...campaignSuccesses(samples).values()].every((v) => v === 0)).toBe(true);
  expect(campaignSuccesses(samples).size).toBe(ACCOUNTS * CAMPAIGN_APIS.length * 2);
  expect(accounts).toHaveLength(ACCOUNTS);
});

test(`${ACCOUNTS} accounts, healthy: every series exact; the exposition's size and series per account`, async () => {
  const { sim, accounts, exporter } = await start([], []);
  const line = await waitForCollection(exporter, 1, 180_000);
  const text = await (await fetch(exporter.metricsUrl)).text();
  const samples = parseExposition(text);
  expect(line.failed).toBe(0);
  expectEverythingExact(samples, await truthNow(sim), accounts);

  const perAccount = new Map<string, number>();
  const byName = new Map<string, number>();
  let unattributed = 0;
  for (const s of samples) {
    if (s.labels.account === undefined) {
      unattributed++;
      continue;
    }
    perAccount.set(s.labels.account, (perAccount.get(s.labels.account) ?? 0) + 1);
    byName.set(s.name, (byName.get(s.name) ?? 0) + 1);
  }
  const counts = [...perAccount.values()].sort((a, b) => a - b);
  const accountSeries = counts.reduce((a, b) => a + b, 0);
  const figures = {
    collectionSeconds: line.durationSeconds,
    requests: countData(await simStats(sim)),
    expositionBytes: Buffer.byteLength(text),
    expositionGzipBytes: gzipSync(text, { level: 6 }).length,
    series: samples.length,
    seriesWithoutAccount: unattributed,
    seriesPerAccount: {
      mean: Number((accountSeries / ACCOUNTS).toFixed(1)),
      min: counts[0],
      max: counts[counts.length - 1],
    },
    bytesPerAccount: Math.round(Buffer.byteLength(text) / ACCOUNTS),
    seriesPerAccountByMetric: Object.fromEntries(
      [...byName].map(([name, n]) => [name.replace('thingspace_fota_', ''), n / ACCOUNTS]),
    ),
  };
  reportFigures(`500 accounts: ${expect.getState().currentTestName}`, figures);

  expect(perAccount.size).toBe(ACCOUNTS);
  // No error series while nothing failed (they are not pre-created any more).
  expect(seriesNamed(samples, 'thingspace_fota_collection_errors_total')).toEqual([]);
  expect(seriesNamed(samples, 'thingspace_fota_campaign_collection_errors_total')).toEqual([]);
  // Everything else is per account. What is not (Node.js and process metrics, requests and their durations
  // per endpoint, the gate, logins, build info) does not grow with accounts: far fewer than one per account.
  expect(unattributed).toBeLessThan(ACCOUNTS / 2);
});
