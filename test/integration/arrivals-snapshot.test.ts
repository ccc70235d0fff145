/**
 * The exporter's wiring of the arrivals snapshot (--storage.path): written after a collection, its size and
 * time in the live metrics; a write that fails is logged and counted, never fatal, and the next collection
 * writes again; restored by the next exporter on the same directory, whose counters continue.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/parse.js';
import { Exporter } from '../../src/exporter.js';
import { createLogger, SecretScrubber } from '../../src/log.js';
import { ARRIVALS_SNAPSHOT_FILE } from '../../src/storage/arrivals-snapshot.js';
import { StateStore } from '../../src/storage/store.js';
import { parseExposition, seriesMap } from '../support/exposition.js';
import { CREDENTIAL_ENV } from '../support/exporter-harness.js';
import { makeData, startFakeThingSpace, type FakeThingSpace } from '../support/fake-thingspace.js';

const ACCOUNTS = ['0000000001-00001'];
let fake: FakeThingSpace | undefined;
let dir: string;
const exporters: Exporter[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arrivals-wiring-'));
});
afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.stop()));
  await fake?.close();
  fake = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function start(storage: string): { exporter: Exporter; logs: Record<string, unknown>[] } {
  const config = parseConfig(
    [
      `--thingspace.base-url=${fake!.url}`,
      `--thingspace.accounts=${ACCOUNTS.join(',')}`,
      '--thingspace.apis=v1',
      `--storage.path=${storage}`,
    ],
    CREDENTIAL_ENV,
  );
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const scrubber = new SecretScrubber();
  const exporter = new Exporter(config, {
    logger: createLogger('info', scrubber, sink),
    scrubber,
    version: '0.0.0-test',
    store: StateStore.load(storage),
    sleep: async () => undefined,
  });
  exporters.push(exporter);
  return { exporter, logs };
}

async function metrics(exporter: Exporter): Promise<Map<string, number>> {
  return seriesMap(parseExposition(await exporter.metrics()), [
    'thingspace_fota_arrivals_snapshot_errors_total',
    'thingspace_fota_arrivals_snapshot_last_write_timestamp_seconds',
    'thingspace_fota_arrivals_snapshot_bytes',
    'thingspace_fota_upgrades_observed_seconds_total',
  ]);
}

test('written after each collection; a failed write is counted and retried; the next exporter continues', async () => {
  fake = await startFakeThingSpace({ data: makeData(ACCOUNTS, 20, 3) });
  const storage = join(dir, 'state');
  const { exporter, logs } = start(storage);
  expect(logs.filter((l) => /arrivals snapshot/.test(String(l.msg))).map((l) => l.msg)).toEqual([
    'no arrivals snapshot: the first pass learns',
  ]);
  const before = Date.now() / 1000;
  await exporter.collectOnce();
  const file = join(storage, ARRIVALS_SNAPSHOT_FILE);
  let m = await metrics(exporter);
  expect(m.get('thingspace_fota_arrivals_snapshot_bytes{}')).toBe(statSync(file).size);
  expect(m.get('thingspace_fota_arrivals_snapshot_last_write_timestamp_seconds{}')).toBeGreaterThan(
    before - 1,
  );
  expect(m.get('thingspace_fota_arrivals_snapshot_errors_total{}')).toBe(0);
  expect(logs.at(-1)).toMatchObject({
    msg: 'collection finished',
    arrivalsSnapshot: { bytes: statSync(file).size },
  });

  // The directory disappears: the write fails, the collection does not.
  rmSync(storage, { recursive: true, force: true });
  await exporter.collectOnce();
  m = await metrics(exporter);
  expect(m.get('thingspace_fota_arrivals_snapshot_errors_total{}')).toBe(1);
  expect(exporter.ready).toBe(true);
  const failure = logs.find((l) => /could not write the arrivals/.test(String(l.msg)));
  expect(failure).toMatchObject({ level: 'error', error: 'ENOENT' });
  expect(logs.at(-1)).toMatchObject({ msg: 'collection finished', failed: 0 });
  expect(logs.at(-1)!.arrivalsSnapshot).toBeUndefined();

  // Back: the next collection writes again.
  mkdirSync(storage);
  await exporter.collectOnce();
  m = await metrics(exporter);
  expect(m.get('thingspace_fota_arrivals_snapshot_errors_total{}')).toBe(1);
  expect(m.get('thingspace_fota_arrivals_snapshot_bytes{}')).toBe(statSync(file).size);
  const observed = [...m]
    .filter(([key]) => key.startsWith('thingspace_fota_upgrades_observed_seconds_total'))
    .map(([, v]) => v);
  await exporter.stop();

  // A new exporter on the same directory restores: its counters start where these ended.
  const next = start(storage);
  expect(next.logs.filter((l) => /arrivals snapshot/.test(String(l.msg)))).toEqual([
    expect.objectContaining({
      msg: expect.stringMatching(/^arrivals snapshot restored/),
      reports: 6,
    }),
  ]);
  const restored = [...(await metrics(next.exporter))]
    .filter(([key]) => key.startsWith('thingspace_fota_upgrades_observed_seconds_total'))
    .map(([, v]) => v);
  expect(restored).toEqual(observed);
  expect(Math.min(...restored)).toBeGreaterThan(0);
});
