/**
 * End to end over real processes: /api/v1/arrivals lists exactly what the simulator's truth says entered
 * a status since the exporter's learning pass (upgrade ids, device ids, statuses, raw reasons, firmware,
 * campaign devices), agrees with the entered counters, pages and exports it whole, and keeps its bound.
 *
 * The simulator is frozen (--tick 0) and moved one generation at a time with an exporter collection after
 * each, as in entered.test.ts: a reader sees every step only if it reads after every generation.
 */
import { jest } from '@jest/globals';
import type { Sample } from '../support/exposition.js';
import { scrape, waitForCollection, waitForFreshCollection } from '../support/faults.js';
import { killAll, startExporterProcess } from '../support/process.js';
import {
  SIMULATOR_ENV,
  startSimulatorProcess,
  type SimulatorProcess,
  WALK_EVERY_CAMPAIGN,
  campaignQueryFlags,
} from '../support/simulator.js';
import type { EnteredCampaignDevice } from '../../src/simulator/campaign-truth.js';
import type { EnteredUpgrade } from '../../src/simulator/truth.js';

jest.setTimeout(180_000);
afterEach(() => killAll());

const QUERY = WALK_EVERY_CAMPAIGN;
const EXPORTER_ARGS = ['--collector.interval=1s', ...campaignQueryFlags(QUERY)];
/** The campaign device statuses the campaign spike alert counts as failed. */
const FAILED = ['UpgradeFailed', 'DeviceRejected'];

interface Arrival {
  account: string;
  api: string;
  status: string;
  upgradeId: string | null;
  campaignId: string | null;
  campaignName: string | null;
  deviceId: string | null;
  deviceStatus: string | null;
  resultReason: string | null;
  reasonLabel: string | null;
  firmwareFrom: string | null;
  firmwareTo: string | null;
  firstSeen: string;
}

interface Answer {
  arrivals: Arrival[];
  next: string | null;
  dropped: number;
}

type Exporter = Awaited<ReturnType<typeof startExporterProcess>>;

async function get(exporter: Exporter, query: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${exporter.url}/api/v1/arrivals?${query}`);
  return { status: res.status, body: await res.json() };
}

async function arrivals(exporter: Exporter, query: string): Promise<Answer> {
  const { status, body } = await get(exporter, query);
  expect(status).toBe(200);
  return body as Answer;
}

/** Every page of a query, followed by its cursors. */
async function allPages(
  exporter: Exporter,
  query: string,
): Promise<{ all: Arrival[]; pages: number }> {
  const all: Arrival[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Answer = await arrivals(
      exporter,
      cursor === null ? query : `${query}&cursor=${cursor}`,
    );
    all.push(...page.arrivals);
    cursor = page.next;
    pages++;
  } while (cursor !== null);
  return { all, pages };
}

/** The fields the truth knows, as one comparable line per entry. */
function line(a: {
  account: string;
  api: string;
  status: string;
  upgradeId: string | null;
  campaignId: string | null;
  campaignName: string | null;
  deviceId: string | null;
  deviceStatus: string | null;
  resultReason: string | null;
  firmwareFrom: string | null;
  firmwareTo: string | null;
}): string {
  return JSON.stringify([
    a.account,
    a.api,
    a.status,
    a.upgradeId,
    a.campaignId,
    a.campaignName,
    a.deviceId,
    a.deviceStatus,
    a.resultReason,
    a.firmwareFrom,
    a.firmwareTo,
  ]);
}

function v1Lines(account: string, status: string, upgrades: readonly EnteredUpgrade[]): string[] {
  return upgrades.flatMap((u) => {
    const base = {
      account,
      api: 'v1',
      status,
      upgradeId: u.id,
      campaignId: null,
      campaignName: null,
      firmwareFrom: null,
      firmwareTo: u.firmwareTo,
    };
    if (u.devices.length === 0)
      return [line({ ...base, deviceId: null, deviceStatus: null, resultReason: null })];
    return u.devices.map((d) =>
      line({ ...base, deviceId: d.deviceId, deviceStatus: d.status, resultReason: d.resultReason }),
    );
  });
}

function campaignLines(account: string, api: string, list: readonly EnteredCampaignDevice[]) {
  return list.map((d) =>
    line({
      account,
      api,
      status: d.status,
      upgradeId: null,
      campaignId: d.campaignId,
      campaignName: d.campaignName,
      deviceId: d.deviceId,
      deviceStatus: d.status,
      resultReason: d.resultReason,
      firmwareFrom: d.firmwareFrom,
      firmwareTo: d.firmwareTo,
    }),
  );
}

function sorted(lines: string[]): string[] {
  return [...lines].sort();
}

function counter(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

async function generation(sim: SimulatorProcess): Promise<number> {
  return ((await sim.stats()) as { generation: number }).generation;
}

describe('arrivals API over the simulator', () => {
  test('after a failure spike: exactly what entered, agreeing with the counters; paging, CSV, bound', async () => {
    const sim = await startSimulatorProcess([
      '--tick',
      '0',
      '--seed',
      '7',
      '--start-time',
      'now',
      '--accounts',
      '2',
      '--upgrades-per-status',
      '20',
      '--arrivals-per-tick',
      '3',
      '--campaigns-per-account',
      '6',
      '--campaign-device-page-size',
      '250',
    ]);
    const accounts = Object.keys((await sim.truth(QUERY)).accounts);
    const start = (extra: string[] = []) =>
      startExporterProcess(
        [
          `--thingspace.base-url=${sim.url}`,
          `--thingspace.accounts=${accounts.join(',')}`,
          ...EXPORTER_ARGS,
          ...extra,
        ],
        SIMULATOR_ENV,
      );
    // Two exporters over the same simulator: one at the default bounds, one with room for 40 entries.
    const [exporter, small] = await Promise.all([start(), start(['--arrivals.max-entries=40'])]);
    await Promise.all([
      waitForCollection(exporter, 1, 60_000),
      waitForCollection(small, 1, 60_000),
    ]);
    const learnedAt = await generation(sim);

    // The learning pass lists nothing.
    expect((await arrivals(exporter, 'since=0')).arrivals).toEqual([]);

    const step = async (change: () => Promise<unknown>) => {
      await change();
      await Promise.all([
        waitForFreshCollection(exporter, 60_000),
        waitForFreshCollection(small, 60_000),
      ]);
    };
    await step(() => sim.advance(1));
    await step(() => sim.post('/_sim/scenario/failure-spike', { upgrades: 5 }));
    await step(() => sim.advance(1));
    // One more collection with nothing changed: what the last one counted is published.
    await step(async () => undefined);
    const samples = await scrape(exporter);

    const truth = await sim.truth({
      ...QUERY,
      now: Date.now(),
      enteredSince: learnedAt,
      enteredDetails: true,
    });
    const spiked = accounts[0]!;

    // 1. Exactly the truth: v1 UpgradeFailed, and the campaign devices that entered a failed status.
    const query = `since=0&${['UpgradeFailed', ...FAILED].map((s) => `status=${s}`).join('&')}`;
    const { all, pages } = await allPages(exporter, `${query}&limit=100`);
    expect(pages).toBeGreaterThan(1); // paging was exercised
    const expected: string[] = [];
    for (const account of accounts) {
      const status = truth.accounts[account]!.UpgradeFailed! as unknown as {
        enteredUpgrades: EnteredUpgrade[];
      };
      expected.push(...v1Lines(account, 'UpgradeFailed', status.enteredUpgrades));
      for (const api of ['v2', 'v3'] as const) {
        const list = (
          truth.campaigns[account]![api] as unknown as {
            enteredDeviceList: EnteredCampaignDevice[];
          }
        ).enteredDeviceList;
        expected.push(
          ...campaignLines(
            account,
            api,
            list.filter((d) => FAILED.includes(d.status)),
          ),
        );
      }
    }
    expect(expected.filter((l) => l.includes(spiked)).length).toBeGreaterThan(100);
    expect(sorted(all.map(line))).toEqual(sorted(expected));
    // Newest first, and each page's cursor continued where the last stopped (no repeats).
    const times = all.map((a) => Date.parse(a.firstSeen));
    for (let i = 1; i < times.length; i++)
      expect(times[i]!).toBeLessThanOrEqual(times[i - 1]! + 1000);
    // The reason label is the metrics' label of the raw reason.
    for (const a of all)
      if (a.resultReason === null && a.deviceId !== null) expect(a.reasonLabel).toBe('none');

    // 2. The counters: distinct upgrade ids and device entries per account and status, every status.
    const everything = (await allPages(exporter, 'since=0&limit=10000')).all;
    for (const account of accounts) {
      for (const status of [
        'RequestPending',
        'Queued',
        'InProgress',
        'Finished',
        'UpgradeFailed',
      ]) {
        const mine = everything.filter(
          (a) => a.api === 'v1' && a.account === account && a.status === status,
        );
        const labels = { account, status };
        expect([account, status, new Set(mine.map((a) => a.upgradeId)).size]).toEqual([
          account,
          status,
          counter(samples, 'thingspace_fota_upgrades_entered_total', labels),
        ]);
        expect([account, status, mine.filter((a) => a.deviceId !== null).length]).toEqual([
          account,
          status,
          counter(samples, 'thingspace_fota_upgrade_devices_entered_total', labels),
        ]);
      }
      for (const api of ['v2', 'v3']) {
        const mine = everything.filter((a) => a.api === api && a.account === account);
        const byStatus = new Map<string, number>();
        for (const a of mine) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
        const counted = samples.filter(
          (s) =>
            s.name === 'thingspace_fota_campaign_devices_entered_total' &&
            s.labels.account === account &&
            s.labels.api === api &&
            s.value > 0,
        );
        expect(new Map(counted.map((s) => [s.labels.device_status!, s.value]))).toEqual(byStatus);
      }
    }
    expect(everything.some((a) => a.status === 'Queued')).toBe(true);

    // 3. Filters: account and api narrow the same list; CSV holds the same rows.
    const onlyV2 = await allPages(exporter, `${query}&account=${spiked}&api=v2`);
    expect(sorted(onlyV2.all.map(line))).toEqual(
      sorted(all.filter((a) => a.account === spiked && a.api === 'v2').map(line)),
    );
    expect(onlyV2.all.length).toBeGreaterThan(0);
    const csv = await fetch(`${exporter.url}/api/v1/arrivals?${query}&limit=10000&format=csv`);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trimEnd().split('\r\n');
    expect(rows[0]).toBe(
      'account,api,status,upgradeId,campaignId,campaignName,deviceId,deviceStatus,resultReason,reasonLabel,firmwareFrom,firmwareTo,firstSeen',
    );
    // A reason may hold a newline, inside a quoted field: count records, not lines.
    const records = (
      await (await fetch(`${exporter.url}/api/v1/arrivals?${query}&limit=10000&format=csv`)).text()
    )
      .split(/\r\n(?=(?:[^"]*"[^"]*")*[^"]*$)/)
      .filter((r) => r !== '');
    expect(records.length - 1).toBe(all.length);

    // 4. A bad parameter is a 400 naming it, and lists nothing.
    for (const [q, parameter] of [
      ['status=Exploded', 'status'],
      ['api=v4', 'api'],
      ['since=yesterday', 'since'],
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['cursor=not-a-cursor', 'cursor'],
    ]) {
      const { status, body } = await get(exporter, q!);
      expect([q, status, (body as { parameter: string }).parameter]).toEqual([q, 400, parameter]);
      expect(body).not.toHaveProperty('arrivals');
    }

    // 5. The bound: the small exporter kept the newest 40 and counted every drop.
    const smallSamples = await scrape(small);
    const kept = await arrivals(small, 'since=0&limit=10000');
    const total = everything.length;
    expect(total).toBeGreaterThan(40);
    expect(kept.arrivals.length).toBe(40);
    expect(kept.dropped).toBe(total - 40);
    expect(
      counter(smallSamples, 'thingspace_fota_arrivals_dropped_total', { bound: 'max_entries' }),
    ).toBe(total - 40);
    expect(counter(smallSamples, 'thingspace_fota_arrivals_kept', {})).toBe(40);
    // What it kept are arrivals the other exporter lists too, the newest it had.
    const known = new Set(everything.map(line));
    for (const a of kept.arrivals) expect(known.has(line(a))).toBe(true);
    expect((await arrivals(exporter, 'since=0')).dropped).toBe(0);
  });
});
