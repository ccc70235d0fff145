/**
 * The exporter's ThingSpace client, pager, aggregation and /metrics, end to end in one process against a
 * fake ThingSpace on 127.0.0.1 over real sockets.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import {
  expectedSeries,
  makeData,
  startFakeThingSpace,
  type FakeThingSpace,
  FAKE_CREDENTIALS,
} from '../support/fake-thingspace.js';
import { parseExposition, seriesMap, type Sample } from '../support/exposition.js';
import { startExporter, type Harness } from '../support/exporter-harness.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { METRIC_DEFINITIONS } from '../../src/metrics/definitions.js';

const BUSINESS = [
  'thingspace_fota_upgrades',
  'thingspace_fota_upgrade_devices',
  'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
];
const ACCOUNTS = ['0242078689-00001', '0000000002-00002'];

let fake: FakeThingSpace | undefined;
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  await fake?.close();
  harness = undefined;
  fake = undefined;
});

async function collectAndScrape(h: Harness): Promise<Sample[]> {
  await h.exporter.collectOnce();
  const res = await h.scrape();
  expect(res.status).toBe(200);
  return parseExposition(res.text);
}

function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

function expectExact(samples: Sample[], data: Parameters<typeof expectedSeries>[0]): void {
  expect(seriesMap(samples, BUSINESS)).toEqual(expectedSeries(data));
}

function expectAllSucceeded(samples: Sample[], accounts: string[]): void {
  for (const account of accounts) {
    for (const status of UPGRADE_STATUSES) {
      expect(value(samples, 'thingspace_fota_collection_success', { account, status })).toBe(1);
    }
  }
}

function promtoolAvailable(): boolean {
  return spawnSync('promtool', ['--version']).status === 0;
}

describe('exporter against a fake ThingSpace', () => {
  test('every business series is exact at 100k+ device entries over many pages', async () => {
    const data = makeData(ACCOUNTS, 60, 150); // 2 accounts × 6 statuses × 60 upgrades × 150 devices = 108,000
    fake = await startFakeThingSpace({ data, pageSize: 7 });
    harness = await startExporter(fake.url, ACCOUNTS, ['--collector.concurrency=3']);
    const samples = await collectAndScrape(harness);
    expectExact(samples, data);
    expectAllSucceeded(samples, ACCOUNTS);
    const devices = samples
      .filter((s) => s.name === 'thingspace_fota_upgrade_devices')
      .reduce((sum, s) => sum + s.value, 0);
    expect(devices).toBe(108_000);
    const defined = new Set<string>(METRIC_DEFINITIONS.map((d) => d.name));
    const exposed = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const name of exposed) if (name.startsWith('thingspace_')) expect(defined).toContain(name);
    // Every v1 metric is there; the campaign series need the v2/v3 APIs (not read here), and error
    // counters appear at their first error.
    for (const name of defined) {
      if (name.startsWith('thingspace_fota_campaign') || name.endsWith('_errors_total')) continue;
      expect(exposed).toContain(name);
    }
    for (const account of ACCOUNTS) {
      for (const status of UPGRADE_STATUSES) {
        expect(value(samples, 'thingspace_fota_collection_pages', { account, status })).toBe(
          Math.ceil(60 / 7),
        );
      }
    }
    // one token and one session for the whole collection
    expect(fake.counts.oauth).toBe(1);
    expect(fake.counts.login).toBe(1);
    expect(
      value(samples, 'thingspace_fota_api_requests_total', { endpoint: 'reports', code: '200' }),
    ).toBe(fake.counts.reports);
  });

  test('an empty status still has a zero upgrades series and no oldest-start series', async () => {
    const data = makeData(['0000000001'], 2, 1);
    data['0000000001']!.Queued = [];
    fake = await startFakeThingSpace({ data });
    harness = await startExporter(fake.url, ['0000000001']);
    const samples = await collectAndScrape(harness);
    expectExact(samples, data);
    expect(value(samples, 'thingspace_fota_upgrades', { status: 'Queued', firmware_to: '' })).toBe(
      0,
    );
    expect(
      value(samples, 'thingspace_fota_upgrade_oldest_start_timestamp_seconds', {
        status: 'Queued',
      }),
    ).toBeUndefined();
  });

  test.each(['misspelt', 'numeric'] as const)('follows a %s cursor', async (cursor) => {
    const data = makeData(ACCOUNTS, 23, 3);
    fake = await startFakeThingSpace({ data, pageSize: 5, cursor });
    harness = await startExporter(fake.url, ACCOUNTS);
    const samples = await collectAndScrape(harness);
    expectExact(samples, data);
    expectAllSucceeded(samples, ACCOUNTS);
  });

  test('a bearer token that expires mid-paging is renewed once and the data stays exact', async () => {
    const data = makeData(ACCOUNTS, 20, 4);
    fake = await startFakeThingSpace({ data, pageSize: 3 });
    const f = fake;
    f.onReport = ({ seq }) => {
      if (seq === 10) f.expireBearer();
      return undefined;
    };
    harness = await startExporter(f.url, ACCOUNTS);
    const samples = await collectAndScrape(harness);
    expectExact(samples, data);
    expectAllSucceeded(samples, ACCOUNTS);
    expect(f.counts.oauth).toBe(2);
    expect(f.counts.login).toBe(1);
  });

  test('a session that expires mid-paging is renewed with one login, whatever the HTTP status', async () => {
    const data = makeData(ACCOUNTS, 20, 4);
    fake = await startFakeThingSpace({ data, pageSize: 3 });
    const f = fake;
    f.onReport = ({ seq }) => {
      if (seq !== 10) return undefined;
      f.expireSession();
      return {
        status: 403,
        body: {
          errorCode: 'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid',
          errorMessage: 'x',
        },
      };
    };
    harness = await startExporter(f.url, ACCOUNTS);
    const samples = await collectAndScrape(harness);
    expectExact(samples, data);
    expectAllSucceeded(samples, ACCOUNTS);
    expect(f.counts.login).toBe(2);
  });

  test('a repeating cursor fails that report with a pagination error; the others stay exact', async () => {
    const data = makeData(['0000000001'], 20, 2);
    fake = await startFakeThingSpace({ data, pageSize: 5 });
    fake.onReport = ({ status, index }) =>
      status === 'Queued' && index !== '0'
        ? { status: 200, body: { hasMoreFlag: true, lastSeenUpgradeId: index, reportList: [] } }
        : undefined;
    harness = await startExporter(fake.url, ['0000000001']);
    const samples = await collectAndScrape(harness);
    expect(value(samples, 'thingspace_fota_collection_success', { status: 'Queued' })).toBe(0);
    expect(
      value(samples, 'thingspace_fota_collection_errors_total', {
        status: 'Queued',
        error: 'pagination',
      }),
    ).toBe(1);
    expect(value(samples, 'thingspace_fota_upgrades', { status: 'Queued' })).toBeUndefined();
    const withoutQueued = structuredClone(data);
    delete withoutQueued['0000000001']!.Queued;
    const expected = expectedSeries(withoutQueued);
    for (const key of [...expected.keys()]) if (key.includes('"Queued"')) expected.delete(key);
    expect(seriesMap(samples, BUSINESS)).toEqual(expected);
  });

  test('an error body becomes a counted http error with its code logged, not retried', async () => {
    const data = makeData(ACCOUNTS, 2, 2);
    fake = await startFakeThingSpace({ data });
    let inactive = 0;
    fake.onReport = ({ account }) => {
      if (account !== ACCOUNTS[1]) return undefined;
      inactive++;
      return {
        status: 400,
        body: { errorCode: 'INVALID_PARAMETER', errorMessage: 'Inactive account' },
      };
    };
    harness = await startExporter(fake.url, ACCOUNTS);
    const samples = await collectAndScrape(harness);
    expect(inactive).toBe(UPGRADE_STATUSES.length);
    for (const status of UPGRADE_STATUSES) {
      expect(
        value(samples, 'thingspace_fota_collection_errors_total', {
          account: ACCOUNTS[1]!,
          status,
          error: 'http',
        }),
      ).toBe(1);
      expect(
        value(samples, 'thingspace_fota_collection_success', { account: ACCOUNTS[0]!, status }),
      ).toBe(1);
    }
    expect(harness.logs.join('')).toContain('INVALID_PARAMETER');
  });

  test('429 and 500 answers are retried within the budget', async () => {
    const data = makeData(ACCOUNTS, 12, 2);
    fake = await startFakeThingSpace({ data, pageSize: 4 });
    fake.onReport = ({ seq }) => {
      if (seq % 5 === 1)
        return {
          status: 429,
          body: { errorCode: 'TOO_MANY', errorMessage: 'Too many requests' },
          headers: { 'retry-after': '0' },
        };
      if (seq % 5 === 3)
        return { status: 500, body: { errorCode: 'INTERNAL', errorMessage: 'oops' } };
      return undefined;
    };
    harness = await startExporter(fake.url, ACCOUNTS);
    const samples = await collectAndScrape(harness);
    expectExact(samples, data);
    expectAllSucceeded(samples, ACCOUNTS);
    expect(
      value(samples, 'thingspace_fota_api_requests_total', { endpoint: 'reports', code: '429' }),
    ).toBeGreaterThan(0);
  });

  test('a failing report keeps serving its last good values, marked unsuccessful', async () => {
    const data = makeData(['0000000001'], 5, 2);
    fake = await startFakeThingSpace({ data });
    harness = await startExporter(fake.url, ['0000000001']);
    const first = await collectAndScrape(harness);
    fake.onReport = ({ status }) =>
      status === 'Finished' ? { status: 200, body: {}, raw: '{"hasMoreFlag": tru' } : undefined;
    const second = await collectAndScrape(harness);
    expect(seriesMap(second, BUSINESS)).toEqual(seriesMap(first, BUSINESS));
    expect(value(second, 'thingspace_fota_collection_success', { status: 'Finished' })).toBe(0);
    expect(
      value(second, 'thingspace_fota_collection_errors_total', {
        status: 'Finished',
        error: 'parse',
      }),
    ).toBe(1);
  });

  test('a rejected login is not retried within the interval, and secrets never reach the logs', async () => {
    const data = makeData(['0000000001'], 2, 2);
    fake = await startFakeThingSpace({ data });
    fake.password = 'the-right-one';
    harness = await startExporter(fake.url, ['0000000001'], ['--collector.interval=1h']);
    const first = await collectAndScrape(harness);
    await harness.exporter.collectOnce();
    await harness.exporter.collectOnce();
    expect(fake.counts.login).toBe(1);
    expect(fake.counts.rejectedLogins).toBe(1);
    expect(value(first, 'thingspace_fota_login_failures_total', { kind: 'session_login' })).toBe(1);
    expect(value(first, 'thingspace_fota_collection_success', { status: 'Queued' })).toBe(0);
    expect(
      value(first, 'thingspace_fota_collection_errors_total', { status: 'Queued', error: 'auth' }),
    ).toBe(1);
    const logs = harness.logs.join('');
    expect(logs).toContain('rejected');
    for (const secret of [
      FAKE_CREDENTIALS.password,
      FAKE_CREDENTIALS.clientSecret,
      'the-right-one',
    ]) {
      expect(logs).not.toContain(secret);
    }
    expect(logs).not.toMatch(/bearer-[0-9a-f-]{36}/);
  });

  test('/metrics is served gzipped to a scraper that asks for it, with the same content', async () => {
    const data = makeData(ACCOUNTS, 5, 5);
    fake = await startFakeThingSpace({ data });
    harness = await startExporter(fake.url, ACCOUNTS);
    await harness.exporter.collectOnce();
    const plain = await request(`${harness.url}/metrics`);
    const zipped = await request(`${harness.url}/metrics`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    const text = await plain.body.text();
    expect(gunzipSync(Buffer.from(await zipped.body.arrayBuffer())).toString()).toBe(text);
    expect(seriesMap(parseExposition(text), BUSINESS)).toEqual(expectedSeries(data));
  });

  test('/metrics passes promtool check metrics', async () => {
    if (!promtoolAvailable()) {
      if (process.env.CI === 'true') throw new Error('promtool is required in CI');
      console.warn('SKIPPED: promtool not found; install it with `apt-get install prometheus`');
      return;
    }
    const data = makeData(ACCOUNTS, 10, 5);
    data[ACCOUNTS[0]!]!.Finished![0]!.deviceList[0]!.resultReason =
      'Failed "hard" at C:\\fw\n2024-01-01 ✓';
    fake = await startFakeThingSpace({ data });
    harness = await startExporter(fake.url, ACCOUNTS);
    await harness.exporter.collectOnce();
    const { text } = await harness.scrape();
    const dir = mkdtempSync(join(tmpdir(), 'tsfota-'));
    writeFileSync(join(dir, 'metrics.txt'), text);
    const out = execFileSync('sh', [
      '-c',
      `promtool check metrics < ${join(dir, 'metrics.txt')} 2>&1; echo "rc=$?"`,
    ]).toString();
    expect(out.trim()).toBe('rc=0');
    // Escaped as the text format requires, after the date was normalised away.
    expect(text).toContain('result_reason="Failed \\"hard\\" at C:\\\\fw\\n<date> ✓"');
  });
});
