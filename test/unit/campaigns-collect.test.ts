/**
 * One account × API pass over the campaigns, and the Collector reading v1, v2 and v3 together, through an
 * in-memory ThingSpace that answers raw bodies by path. The fake says the truth of its own data (campaign
 * counts, the walk set, device counts), computed its own way, and the tests compare the rendered series
 * with it.
 */
import { spawnSync } from 'node:child_process';
import {
  CAMPAIGN_DEVICE_STATUSES,
  CAMPAIGN_STATUSES,
  FINAL_CAMPAIGN_STATUSES,
  type CampaignApi,
} from '../../src/campaigns/statuses.js';
import type { V3ListingPath } from '../../src/campaigns/pager.js';
import { Collector, type CollectOptions, type Failure } from '../../src/collection/collect.js';
import { allSucceeded, type Snapshot } from '../../src/collection/snapshot.js';
import { METRIC_DEFINITIONS } from '../../src/metrics/definitions.js';
import { renderEntered, renderSnapshot } from '../../src/metrics/render.js';
import type { ThingSpaceApi } from '../../src/thingspace/client.js';
import { ThingSpaceError, type Endpoint } from '../../src/thingspace/errors.js';
import type { HttpResponse } from '../../src/thingspace/http.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { parseExposition, seriesKey, type Sample } from '../support/exposition.js';
import { fakeClock, getVia } from './fake-send.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const START = Date.UTC(2026, 10, 8, 12); // 2026-11-08T12:00Z

// ---------------------------------------------------------------------------------------------------------
// The fake ThingSpace

interface FakeDevice {
  deviceId: string | number;
  status?: string;
  resultReason?: string | null;
  /** The label the reason must become, when normalisation changes it. */
  label?: string;
}

interface FakeCampaign {
  id: string;
  /** The status it is listed under. */
  listedAs: string;
  /** The item's own status field (defaults to listedAs; '' leaves it empty). */
  itemStatus?: string;
  /** Also listed under this status (moved between two requests). */
  alsoListedAs?: string;
  name?: string;
  startDate?: string;
  endDate?: string;
  from?: string;
  to?: string;
  /** v2 speaks of software, v3 of firmware. */
  devices: FakeDevice[];
}

interface FakeUpgrade {
  id: string;
  firmwareTo: string;
  deviceList: { deviceId: string; status: string; resultReason?: string }[];
}

type Fault = (path: string, endpoint: Endpoint) => Error | undefined;

class FakeFleet implements ThingSpaceApi {
  readonly asked: { endpoint: Endpoint; path: string }[] = [];
  readonly campaigns = new Map<string, FakeCampaign[]>();
  readonly upgrades = new Map<string, FakeUpgrade[]>();
  v3Path: V3ListingPath = 'firmware/campaigns';
  numericCursors = false;
  listingPageSize = 2;
  devicePageSize = 3;
  fault: Fault = () => undefined;
  /** Rewrites a body before it is sent. */
  tamper: (body: Record<string, unknown>, path: string) => void = () => undefined;

  list(account: string, api: CampaignApi): FakeCampaign[] {
    const key = `${account}/${api}`;
    let list = this.campaigns.get(key);
    if (!list) this.campaigns.set(key, (list = []));
    return list;
  }

  report(account: string, status: string): FakeUpgrade[] {
    const key = `${account}/${status}`;
    let list = this.upgrades.get(key);
    if (!list) this.upgrades.set(key, (list = []));
    return list;
  }

  requests(filter: (path: string) => boolean = () => true): string[] {
    return this.asked.map((a) => a.path).filter(filter);
  }

  readonly get: ThingSpaceApi['get'] = getVia((endpoint, path) => this.answer(endpoint, path));

  async answer(endpoint: Endpoint, path: string): Promise<HttpResponse> {
    this.asked.push({ endpoint, path });
    // answers overlap as they would on the network
    await new Promise((resolve) => setImmediate(resolve));
    const fault = this.fault(path, endpoint);
    if (fault) throw fault;
    const url = new URL(path, 'http://fake');
    const p = url.pathname;
    let m: RegExpExecArray | null;
    let body: Record<string, unknown>;
    if ((m = /^\/api\/fota\/v1\/reports\/([^/]+)\/status\/([^/]+)\/index\/([^/]+)$/.exec(p))) {
      expect(endpoint).toBe('reports');
      const list = this.report(decodeURIComponent(m[1]!), m[2]!);
      const index = Number(decodeURIComponent(m[3]!));
      const more = (index + 1) * 2 < list.length;
      body = {
        hasMoreFlag: more,
        lastSeenUpgradeId: more ? String(index + 1) : undefined,
        reportList: list.slice(index * 2, index * 2 + 2),
      };
    } else if (
      (m = /^\/api\/fota\/(v2|v3)\/reports\/([^/]+)\/(firmware\/campaigns|campaigns)$/.exec(p))
    ) {
      expect(endpoint).toBe('campaigns');
      const api = m[1] as CampaignApi;
      const exists = api === 'v2' ? m[3] === 'campaigns' : m[3] === this.v3Path;
      if (!exists) throw new ThingSpaceError('http', 'campaigns answered HTTP 404', undefined, 404);
      const status = url.searchParams.get('campaignStatus')!;
      const items = this.list(decodeURIComponent(m[2]!), api)
        .filter((c) => c.listedAs === status || c.alsoListedAs === status)
        .map((c) => this.item(c, api));
      body = this.page(items, url.searchParams.get('lastSeenCampaignId'), 'campaignList', (i) =>
        String(i.id),
      );
      body.lastSeenCampaignId = body.cursor;
    } else if (
      (m = /^\/api\/fota\/(v2|v3)\/reports\/([^/]+)\/campaigns\/([^/]+)\/devices$/.exec(p))
    ) {
      expect(endpoint).toBe('campaign_devices');
      const id = decodeURIComponent(m[3]!);
      const campaign = this.list(decodeURIComponent(m[2]!), m[1] as CampaignApi).find(
        (c) => c.id === id,
      );
      if (!campaign) throw new ThingSpaceError('http', 'devices answered HTTP 404', undefined, 404);
      const items = campaign.devices.map(({ label: _label, ...device }) => device);
      body = this.page(items, url.searchParams.get('lastSeenDeviceId'), 'deviceList', (d) =>
        String(d.deviceId),
      );
      body.lastSeenDeviceId = body.cursor;
      body.totalDevice = campaign.devices.length;
      body.maxPageSize = this.devicePageSize;
    } else {
      throw new Error(`the fake does not serve ${path}`);
    }
    delete body.cursor;
    this.tamper(body, path);
    return { status: 200, body };
  }

  private item(c: FakeCampaign, api: CampaignApi): Record<string, unknown> {
    const words = api === 'v2' ? ['softwareFrom', 'softwareTo'] : ['firmwareFrom', 'firmwareTo'];
    return {
      id: this.numericCursors && /^\d+$/.test(c.id) ? Number(c.id) : c.id,
      accountName: 'x',
      campaignName: c.name,
      status: c.itemStatus ?? c.listedAs,
      startDate: c.startDate,
      endDate: c.endDate,
      [words[0]!]: c.from,
      [words[1]!]: c.to,
    };
  }

  private page<T>(
    items: readonly T[],
    after: string | null,
    field: string,
    idOf: (item: T) => string,
  ): Record<string, unknown> {
    const size = field === 'deviceList' ? this.devicePageSize : this.listingPageSize;
    const start = after === null ? 0 : items.findIndex((i) => idOf(i) === after) + 1;
    const slice = items.slice(start, start + size);
    const more = start + size < items.length;
    const last = slice.at(-1);
    let cursor: string | number | undefined = more && last !== undefined ? idOf(last) : undefined;
    if (cursor !== undefined && this.numericCursors && /^\d+$/.test(cursor))
      cursor = Number(cursor);
    return { hasMoreData: more, cursor, [field]: slice };
  }

  // -------------------------------------------------------------------------------------------------------
  // The truth of the fake's own data, by its own reading of SPEC §3–5 (no exporter code).

  /** Unix ms of a date; a date alone is UTC midnight, as an end date the next one. */
  private static ms(text: string | undefined, end: boolean): number | undefined {
    if (!text) return undefined;
    const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
    if (Number.isNaN(ms)) return undefined;
    return end && /^\d{4}-\d{2}-\d{2}$/.test(text) ? ms + DAY : ms;
  }

  truth(
    accounts: readonly string[],
    apis: readonly CampaignApi[],
    nowMs: number,
    lookbackMs: number,
    maxCampaigns: number,
    only: (account: string, api: CampaignApi, campaign: FakeCampaign) => boolean = () => true,
  ): Map<string, number> {
    const out = new Map<string, number>();
    const set = (name: string, labels: Record<string, string>, value: number) =>
      out.set(seriesKey(name, labels), (out.get(seriesKey(name, labels)) ?? 0) + value);
    for (const account of accounts) {
      for (const api of apis) {
        const base = { account, api };
        const statusOf = (c: FakeCampaign) => c.itemStatus || c.listedAs;
        const campaigns = this.list(account, api).filter((c) => only(account, api, c));
        for (const status of CAMPAIGN_STATUSES)
          set('thingspace_fota_campaigns', { ...base, campaign_status: status }, 0);
        for (const c of campaigns)
          set('thingspace_fota_campaigns', { ...base, campaign_status: statusOf(c) }, 1);
        const qualified = campaigns.filter((c) => {
          if (!(FINAL_CAMPAIGN_STATUSES as readonly string[]).includes(statusOf(c))) return true;
          const end = FakeFleet.ms(c.endDate, true);
          return end === undefined || end >= nowMs - lookbackMs;
        });
        const start = (c: FakeCampaign) => FakeFleet.ms(c.startDate, false) ?? -Infinity;
        const newest = [...qualified].sort(
          (a, b) => start(b) - start(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
        );
        const walked = newest.slice(0, maxCampaigns);
        set('thingspace_fota_campaigns_folded', base, qualified.length - walked.length);
        for (const c of walked) {
          const id = { ...base, campaign_id: c.id };
          set(
            'thingspace_fota_campaign_info',
            {
              ...id,
              campaign_name: c.name || 'unknown',
              firmware_from: c.from || 'unknown',
              firmware_to: c.to || 'unknown',
              campaign_status: statusOf(c),
            },
            1,
          );
          set('thingspace_fota_campaign_total_devices', id, c.devices.length);
          const end = FakeFleet.ms(c.endDate, true);
          if (end !== undefined)
            set('thingspace_fota_campaign_end_timestamp_seconds', id, end / 1000);
          for (const d of c.devices) {
            const deviceStatus = d.status || 'unknown';
            set(
              'thingspace_fota_campaign_device_status',
              { ...id, device_status: deviceStatus },
              1,
            );
            set(
              'thingspace_fota_campaign_devices',
              {
                ...base,
                campaign_status: statusOf(c),
                device_status: deviceStatus,
                result_reason: d.label ?? (d.resultReason || 'none'),
              },
              1,
            );
          }
        }
      }
    }
    return out;
  }

  /** v1: upgrades by firmware_to for every account × status. */
  truthUpgrades(accounts: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const account of accounts) {
      for (const status of UPGRADE_STATUSES) {
        const list = this.report(account, status);
        if (list.length === 0)
          out.set(seriesKey('thingspace_fota_upgrades', { account, status, firmware_to: '' }), 0);
        for (const u of list) {
          const key = seriesKey('thingspace_fota_upgrades', {
            account,
            status,
            firmware_to: u.firmwareTo,
          });
          out.set(key, (out.get(key) ?? 0) + 1);
        }
      }
    }
    return out;
  }
}

/** The series the truth compares: every campaign family with values from the data. */
const CAMPAIGN_FAMILIES = [
  'thingspace_fota_campaigns',
  'thingspace_fota_campaign_devices',
  'thingspace_fota_campaign_info',
  'thingspace_fota_campaign_device_status',
  'thingspace_fota_campaign_total_devices',
  'thingspace_fota_campaign_end_timestamp_seconds',
  'thingspace_fota_campaigns_folded',
];

// ---------------------------------------------------------------------------------------------------------
// Fixtures

let serial = 0;
const devices = (
  n: number,
  status = 'UpgradePending',
  resultReason: string | null = null,
): FakeDevice[] =>
  Array.from({ length: n }, () => ({
    deviceId: String(990_000_000_000_000 + serial++),
    status,
    resultReason,
  }));

/** A small fleet: campaigns in several statuses on v2 and v3, a few v1 upgrades, for each account. */
function populate(fleet: FakeFleet, accounts: readonly string[]): void {
  for (const account of accounts) {
    for (const api of ['v2', 'v3'] as const) {
      const p = `${account}-${api}`;
      fleet.list(account, api).push(
        {
          id: `${p}-running`,
          listedAs: 'CampaignScheduled',
          name: 'Rollout "Q4"',
          startDate: '2026-11-01',
          endDate: '2026-11-30',
          from: '1.0',
          to: '2.0',
          devices: [
            ...devices(4, 'UpgradePending', null),
            ...devices(2, 'UpgradeFailed', 'RovaClientDownloadFailed'),
            {
              deviceId: 1234,
              status: 'UpgradePending',
              resultReason: 'Upgrade pending, scheduled for 06 Oct 22 18:05 UTC',
              label: 'Upgrade pending, scheduled for <date> <time>',
            },
            {
              deviceId: 1235,
              status: 'UpgradePending',
              resultReason: 'Upgrade pending, scheduled for 17 Nov 23 02:41 UTC',
              label: 'Upgrade pending, scheduled for <date> <time>',
            },
          ],
        },
        {
          id: `${p}-queued`,
          listedAs: 'CampaignRequestQueued',
          startDate: '2026-11-07T08:00:00Z',
          devices: devices(3, 'Accepted'),
        },
        {
          id: `${p}-ended-recent`,
          listedAs: 'CampaignEnded',
          startDate: '2026-10-20',
          endDate: '2026-11-05',
          devices: [
            ...devices(5, 'UpgradeSuccess', 'DownloadInstallSucceeded'),
            ...devices(1, 'DeviceRejected', 'Device not found.'),
          ],
        },
        {
          id: `${p}-ended-old`,
          listedAs: 'CampaignEnded',
          startDate: '2026-01-01',
          endDate: '2026-01-31',
          devices: devices(7, 'UpgradeSuccess', 'DownloadInstallSucceeded'),
        },
        {
          id: `${p}-paused`,
          listedAs: 'CampaignScheduled',
          itemStatus: 'CampaignPaused',
          devices: [{ deviceId: 'x1', status: '' }, { deviceId: 'x2' }],
        },
      );
    }
    fleet.report(account, 'UpgradeFailed').push(
      ...['u1', 'u2', 'u3'].map((id) => ({
        id: `${account}-${id}`,
        firmwareTo: 'FW-2',
        deviceList: [
          { deviceId: `${account}-${id}-d`, status: 'Device Failed', resultReason: 'x' },
        ],
      })),
    );
    fleet.report(account, 'Finished').push({
      id: `${account}-f1`,
      firmwareTo: 'FW-1',
      deviceList: [],
    });
  }
}

const ACCOUNTS = ['0402196254-00001', '0642233522-00001'];

function setup(options: Partial<CollectOptions> = {}) {
  const clock = fakeClock(START);
  const fleet = new FakeFleet();
  const failures: Failure[] = [];
  const v3Paths: V3ListingPath[] = [];
  const opts: CollectOptions = {
    accounts: ACCOUNTS,
    apis: ['v1', 'v2', 'v3'],
    concurrency: 4,
    maxStaleMs: 15 * MINUTE,
    maxLabelValues: 50,
    maxPages: 100,
    campaignLookbackMs: 7 * DAY,
    maxCampaigns: 100,
    budgetMs: 5 * MINUTE,
    ...options,
  };
  const collector = new Collector(opts, {
    api: fleet,
    clock: { wallMs: clock.now, monotonicMs: clock.now },
    onFailed: (failure) => failures.push(failure),
    onV3ListingPath: (path) => v3Paths.push(path),
  });
  const campaignApis = (['v2', 'v3'] as const).filter((a) => opts.apis.includes(a));
  let last: Snapshot | undefined;
  const run = async () => {
    last = await collector.collect();
    const text = renderSnapshot(last) + renderEntered(collector.entered);
    return { snapshot: last, text, samples: parseExposition(text) };
  };
  const truth = (only?: Parameters<FakeFleet['truth']>[5]) =>
    fleet.truth(
      opts.accounts,
      campaignApis,
      clock.now(),
      opts.campaignLookbackMs,
      opts.maxCampaigns,
      only,
    );
  return { clock, fleet, failures, v3Paths, collector, opts, run, truth };
}

function series(samples: readonly Sample[], names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples)
    if (names.includes(s.name)) out.set(seriesKey(s.name, s.labels), s.value);
  return out;
}

const value = (samples: readonly Sample[], name: string, labels: Record<string, string>) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => s.value);

const fail500 = (what: string) =>
  new ThingSpaceError('http', `${what} answered HTTP 500`, undefined, 500);

// ---------------------------------------------------------------------------------------------------------

describe('the Collector over v1, v2 and v3', () => {
  it.each([
    ['firmware/campaigns', false],
    ['campaigns', false],
    ['firmware/campaigns', true],
    ['campaigns', true],
  ] as const)(
    'every campaign series equals the truth (v3 path %s, numeric cursors %p)',
    async (v3Path, numeric) => {
      const { fleet, run, truth, v3Paths, failures } = setup();
      fleet.v3Path = v3Path;
      fleet.numericCursors = numeric;
      fleet.listingPageSize = 1;
      populate(fleet, ACCOUNTS);
      // numeric campaign ids for the cursors to be numbers
      fleet.list(ACCOUNTS[0]!, 'v3').push({
        id: '4001',
        listedAs: 'CampaignPreScheduled',
        devices: devices(7, 'Accepted'),
      });
      const { snapshot, samples } = await run();
      expect(failures).toEqual([]);
      expect(allSucceeded(snapshot)).toBe(true);
      expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(truth());
      expect(series(samples, ['thingspace_fota_upgrades'])).toEqual(fleet.truthUpgrades(ACCOUNTS));
      expect(v3Paths).toEqual([v3Path]);
      // listings and walks were paged: more than one page of each
      expect(fleet.requests((p) => p.includes('lastSeenCampaignId='))).not.toEqual([]);
      expect(fleet.requests((p) => p.includes('lastSeenDeviceId='))).not.toEqual([]);
      // the final campaign beyond the lookback was counted, never walked
      expect(fleet.requests((p) => p.includes('ended-old/devices'))).toEqual([]);
      for (const api of ['v2', 'v3'])
        for (const stage of ['listing', 'devices'])
          expect(
            value(samples, 'thingspace_fota_campaign_collection_success', { api, stage }),
          ).toEqual([1, 1]);
    },
  );

  it('asks the history of every known status for every account and API, v2 on its one path', async () => {
    const { fleet, run } = setup();
    await run();
    for (const account of ACCOUNTS) {
      for (const status of CAMPAIGN_STATUSES) {
        expect(fleet.requests()).toContain(
          `/api/fota/v2/reports/${account}/campaigns?campaignStatus=${status}`,
        );
        expect(fleet.requests()).toContain(
          `/api/fota/v3/reports/${account}/firmware/campaigns?campaignStatus=${status}`,
        );
      }
    }
    expect(
      fleet.requests((p) => p.startsWith('/api/fota/v2/reports/') && p.includes('/firmware/')),
    ).toEqual([]);
  });

  it('remembers the v3 path that answered: the next collection asks no other', async () => {
    const { fleet, run, v3Paths } = setup();
    fleet.v3Path = 'campaigns';
    populate(fleet, ACCOUNTS);
    await run();
    fleet.asked.length = 0;
    await run();
    const v3Listings = fleet.requests((p) =>
      /^\/api\/fota\/v3\/reports\/[^/]+\/(firmware\/)?campaigns\?/.test(p),
    );
    expect(v3Listings.length).toBeGreaterThanOrEqual(ACCOUNTS.length * CAMPAIGN_STATUSES.length);
    expect(v3Listings.filter((p) => p.includes('/firmware/'))).toEqual([]);
    expect(v3Paths).toEqual(['campaigns']);
  });

  it('with v1 alone no campaign request is sent and no campaign series exists', async () => {
    const { fleet, run } = setup({ apis: ['v1'] });
    populate(fleet, ACCOUNTS);
    const { snapshot, samples } = await run();
    expect(fleet.asked.every((a) => a.endpoint === 'reports')).toBe(true);
    expect(snapshot.campaigns).toEqual([]);
    expect(samples.filter((s) => s.name.startsWith('thingspace_fota_campaign'))).toEqual([]);
    expect(series(samples, ['thingspace_fota_upgrades'])).toEqual(fleet.truthUpgrades(ACCOUNTS));
  });

  it('with v2 alone neither v1 nor v3 is asked', async () => {
    const { fleet, run, truth } = setup({ apis: ['v2'] });
    populate(fleet, ACCOUNTS);
    const { snapshot, samples } = await run();
    expect(fleet.requests().every((p) => p.startsWith('/api/fota/v2/'))).toBe(true);
    expect(snapshot.reports).toEqual([]);
    expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(truth());
    expect(samples.filter((s) => s.name === 'thingspace_fota_upgrades')).toEqual([]);
  });

  it('a campaign listed under two statuses (moved between requests) counts once', async () => {
    const { fleet, run, truth } = setup({ accounts: ['a'], apis: ['v3'] });
    fleet.list('a', 'v3').push({
      id: 'moving',
      listedAs: 'CampaignScheduled',
      alsoListedAs: 'CampaignRequestQueued',
      devices: devices(2),
    });
    const { samples } = await run();
    expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(truth());
    expect(value(samples, 'thingspace_fota_campaign_info', { campaign_id: 'moving' })).toEqual([1]);
  });

  it('an unknown campaign status folded by the label cap reads "other" in every campaign series', async () => {
    const { fleet, run } = setup({ accounts: ['a'], apis: ['v2'], maxLabelValues: 1 });
    fleet
      .list('a', 'v2')
      .push(
        { id: 'm1', listedAs: 'CampaignScheduled', itemStatus: 'Many', devices: devices(1) },
        { id: 'm2', listedAs: 'CampaignScheduled', itemStatus: 'Many', devices: devices(1) },
        { id: 'r1', listedAs: 'CampaignScheduled', itemStatus: 'Rare', devices: devices(2) },
      );
    const { samples } = await run();
    const statuses = (name: string) =>
      new Set(samples.filter((s) => s.name === name).map((s) => s.labels.campaign_status));
    expect(value(samples, 'thingspace_fota_campaigns', { campaign_status: 'Many' })).toEqual([2]);
    expect(value(samples, 'thingspace_fota_campaigns', { campaign_status: 'other' })).toEqual([1]);
    for (const name of ['thingspace_fota_campaign_info', 'thingspace_fota_campaign_devices'])
      expect(statuses(name)).toEqual(new Set(['Many', 'other']));
    expect(
      value(samples, 'thingspace_fota_campaign_info', {
        campaign_id: 'r1',
        campaign_status: 'other',
      }),
    ).toEqual([1]);
    expect(
      value(samples, 'thingspace_fota_campaign_devices', { campaign_status: 'other' }),
    ).toEqual([2]);
  });

  it('folds the oldest campaigns beyond max-campaigns', async () => {
    const { fleet, run, truth } = setup({ accounts: ['a'], apis: ['v2'], maxCampaigns: 2 });
    fleet.list('a', 'v2').push(
      ...['2026-11-01', '2026-11-03', '2026-11-02', '2026-11-04'].map((startDate, i) => ({
        id: `c${i}`,
        listedAs: 'CampaignScheduled',
        startDate,
        devices: devices(i + 1),
      })),
    );
    const { samples } = await run();
    expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(truth());
    expect(value(samples, 'thingspace_fota_campaigns_folded', { api: 'v2' })).toEqual([2]);
    expect(fleet.requests((p) => p.endsWith('/devices'))).toHaveLength(2);
  });
});

describe('failure isolation and staleness', () => {
  it('a failing listing of one status keeps its last good count for max-stale, then drops it', async () => {
    const { fleet, run, truth, clock, failures } = setup({ accounts: ['a'], apis: ['v2'] });
    populate(fleet, ['a']);
    const first = await run();
    const goodAt = clock.now() / 1000;
    const before = truth();
    const scheduledKey = seriesKey('thingspace_fota_campaigns', {
      account: 'a',
      api: 'v2',
      campaign_status: 'CampaignScheduled',
    });
    expect(series(first.samples, CAMPAIGN_FAMILIES).get(scheduledKey)).toBe(
      before.get(scheduledKey),
    );

    fleet.fault = (path) =>
      path.includes('campaignStatus=CampaignScheduled') ? fail500('campaigns') : undefined;
    // meanwhile a campaign starts in another status, and a running one gets a new campaign name
    fleet
      .list('a', 'v2')
      .push({ id: 'new', listedAs: 'CampaignRequestPending', devices: devices(1) });
    for (const minutes of [5, 10, 15]) {
      clock.t = goodAt * 1000 + minutes * MINUTE;
      const { snapshot, samples } = await run();
      const now = series(samples, CAMPAIGN_FAMILIES);
      // the failing status keeps its last good count, and its campaigns are still walked
      expect(now.get(scheduledKey)).toBe(before.get(scheduledKey));
      expect(
        value(samples, 'thingspace_fota_campaign_info', { campaign_id: 'a-v2-running' }),
      ).toEqual([1]);
      // the others are current
      expect(now).toEqual(truth());
      expect(
        value(samples, 'thingspace_fota_campaign_collection_success', { stage: 'listing' }),
      ).toEqual([0]);
      expect(
        value(samples, 'thingspace_fota_campaign_collection_success', { stage: 'devices' }),
      ).toEqual([1]);
      expect(
        value(samples, 'thingspace_fota_campaign_collection_last_success_timestamp_seconds', {
          stage: 'listing',
        }),
      ).toEqual([goodAt]);
      expect(allSucceeded(snapshot)).toBe(false);
    }
    clock.t = goodAt * 1000 + 15 * MINUTE + 1;
    const { samples } = await run();
    const dropped = series(samples, CAMPAIGN_FAMILIES);
    expect(dropped.has(scheduledKey)).toBe(false);
    // its campaigns are no longer known, so no longer walked
    expect(
      value(samples, 'thingspace_fota_campaign_info', { campaign_id: 'a-v2-running' }),
    ).toEqual([]);
    // and every other series is the truth without them
    const expected = truth((_a, _api, c) => c.listedAs !== 'CampaignScheduled');
    expected.delete(scheduledKey);
    expect(dropped).toEqual(expected);
    expect(
      failures.every((f) => 'stage' in f && f.stage === 'listing' && f.error.kind === 'http'),
    ).toBe(true);
    expect(failures).toHaveLength(4);
  });

  it("a failing walk keeps that campaign's last good series for max-stale, then drops them", async () => {
    const { fleet, run, truth, clock } = setup({ accounts: ['a'], apis: ['v3'] });
    populate(fleet, ['a']);
    await run();
    const goodAt = clock.now() / 1000;
    const before = truth();
    const running = fleet.list('a', 'v3').find((c) => c.id === 'a-v3-running')!;
    const aboutRunning = (key: string) => key.includes('"a-v3-running"');

    // its device list now fails, and changes; the other campaigns change too
    fleet.fault = (path) =>
      path.includes('/a-v3-running/devices') ? fail500('devices') : undefined;
    running.devices.push(...devices(3, 'UpgradeSuccess'));
    fleet
      .list('a', 'v3')
      .find((c) => c.id === 'a-v3-queued')!
      .devices.push(...devices(2, 'Accepted'));
    for (const minutes of [5, 15]) {
      clock.t = goodAt * 1000 + minutes * MINUTE;
      const { snapshot, samples } = await run();
      const now = series(samples, CAMPAIGN_FAMILIES);
      const current = truth();
      // the failing campaign's own series are those of its last good walk
      for (const [key, v] of before)
        if (aboutRunning(key)) expect([key, now.get(key)]).toEqual([key, v]);
      // the others are current
      for (const [key, v] of current)
        if (!aboutRunning(key) && !key.startsWith('thingspace_fota_campaign_devices{'))
          expect([key, now.get(key)]).toEqual([key, v]);
      // campaign_devices still holds its last good contribution, not the new devices
      const pending = value(samples, 'thingspace_fota_campaign_devices', {
        campaign_status: 'CampaignScheduled',
        device_status: 'UpgradeSuccess',
      });
      expect(pending).toEqual([]); // the 3 new UpgradeSuccess devices are not seen
      expect(
        value(samples, 'thingspace_fota_campaign_devices', {
          campaign_status: 'CampaignScheduled',
          device_status: 'UpgradeFailed',
        }),
      ).toEqual([2]);
      expect(
        value(samples, 'thingspace_fota_campaign_collection_success', { stage: 'devices' }),
      ).toEqual([0]);
      expect(
        value(samples, 'thingspace_fota_campaign_collection_success', { stage: 'listing' }),
      ).toEqual([1]);
      expect(allSucceeded(snapshot)).toBe(false);
    }
    clock.t = goodAt * 1000 + 15 * MINUTE + 1;
    const { samples } = await run();
    const dropped = series(samples, CAMPAIGN_FAMILIES);
    // gone: its info, device status, total, end, and its share of campaign_devices
    expect([...dropped.keys()].filter(aboutRunning)).toEqual([]);
    expect(
      value(samples, 'thingspace_fota_campaign_devices', { campaign_status: 'CampaignScheduled' }),
    ).toEqual([]);
    const expected = truth((_a, _api, c) => c.id !== 'a-v3-running');
    // it is still counted as a campaign
    const scheduled = seriesKey('thingspace_fota_campaigns', {
      account: 'a',
      api: 'v3',
      campaign_status: 'CampaignScheduled',
    });
    expected.set(scheduled, 1);
    expect(dropped).toEqual(expected);
  });

  it('a device list repeating its cursor fails that walk alone, as a pagination error', async () => {
    const { fleet, run, truth, failures } = setup({ accounts: ['a'], apis: ['v2', 'v3'] });
    populate(fleet, ['a']);
    fleet.tamper = (body, path) => {
      if (path.includes('/a-v3-running/devices') && body.hasMoreData)
        body.lastSeenDeviceId = 'again';
    };
    const { snapshot, samples } = await run();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ account: 'a', api: 'v3', stage: 'devices' });
    expect(failures[0]!.error.kind).toBe('pagination');
    const state = snapshot.campaigns.find((c) => c.api === 'v3')!;
    expect(state.devices).toMatchObject({ success: false, error: 'pagination' });
    expect(state.listing.success).toBe(true);
    // every other campaign of v3, and all of v2, equal the truth
    expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(
      (() => {
        const t = truth((_a, api, c) => !(api === 'v3' && c.id === 'a-v3-running'));
        t.set(
          seriesKey('thingspace_fota_campaigns', {
            account: 'a',
            api: 'v3',
            campaign_status: 'CampaignScheduled',
          }),
          1,
        );
        return t;
      })(),
    );
    expect(allSucceeded(snapshot)).toBe(false);
  });

  it('v3 failing throughout changes no v1 or v2 series, nor the v1 counters', async () => {
    const healthy = setup();
    const broken = setup();
    for (const { fleet } of [healthy, broken]) populate(fleet, ACCOUNTS);
    broken.fleet.fault = (path) =>
      path.startsWith('/api/fota/v3/') ? fail500('campaigns') : undefined;
    // every series but v3's, and but the collection's duration (the fake clock does not move within one)
    const notV3 = (samples: readonly Sample[]) =>
      series(
        samples.filter((s) => s.labels.api !== 'v3'),
        [...new Set(samples.map((s) => s.name))],
      );
    for (let round = 0; round < 3; round++) {
      // v1 and v2 data move between collections, identically for both
      for (const { fleet } of [healthy, broken]) {
        fleet.report(ACCOUNTS[0]!, 'UpgradeFailed').push({
          id: `late-${round}`,
          firmwareTo: 'FW-3',
          deviceList: [{ deviceId: `late-${round}-d`, status: 'Device Failed' }],
        });
        fleet.list(ACCOUNTS[1]!, 'v2').push({
          id: `v2-new-${round}`,
          listedAs: 'CampaignScheduled',
          devices: [{ deviceId: `n${round}`, status: 'UpgradeFailed', resultReason: 'Other.' }],
        });
      }
      const a = await healthy.run();
      const b = await broken.run();
      healthy.clock.advance(5 * MINUTE);
      broken.clock.advance(5 * MINUTE);
      expect(notV3(b.samples)).toEqual(notV3(a.samples));
      expect(allSucceeded(b.snapshot)).toBe(false);
      expect(
        value(b.samples, 'thingspace_fota_campaign_collection_success', { api: 'v3' }),
      ).toEqual([0, 0, 0, 0]);
    }
    expect(broken.failures.every((f) => 'api' in f && f.api === 'v3')).toBe(true);
  });

  it('a v1 report failing changes no campaign series', async () => {
    const { fleet, run, truth } = setup();
    populate(fleet, ACCOUNTS);
    fleet.fault = (path) => (path.includes('/api/fota/v1/') ? fail500('reports') : undefined);
    const { snapshot, samples } = await run();
    expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(truth());
    expect(snapshot.campaigns.every((c) => c.listing.success && c.devices.success)).toBe(true);
    expect(allSucceeded(snapshot)).toBe(false);
  });

  it('allSucceeded (--once) is true only when every report, listing and walk succeeded', async () => {
    const { fleet, run } = setup();
    populate(fleet, ACCOUNTS);
    const faults: [string, Fault][] = [
      ['nothing', () => undefined],
      ['one v1 report', (p) => (p.includes('/status/Queued/') ? fail500('reports') : undefined)],
      [
        'one listing',
        (p) => (p.includes('v2') && p.includes('CampaignEnded') ? fail500('c') : undefined),
      ],
      ['one walk', (p) => (p.includes('-v3-queued/devices') ? fail500('d') : undefined)],
      ['recovered', () => undefined],
    ];
    const results: [string, boolean][] = [];
    for (const [name, fault] of faults) {
      fleet.fault = fault;
      results.push([name, allSucceeded((await run()).snapshot)]);
    }
    expect(results).toEqual([
      ['nothing', true],
      ['one v1 report', false],
      ['one listing', false],
      ['one walk', false],
      ['recovered', true],
    ]);
  });

  it('all listings failing from the start: no campaign series but success 0, nothing walked', async () => {
    const { fleet, run } = setup({ accounts: ['a'], apis: ['v2'] });
    populate(fleet, ['a']);
    fleet.fault = (p) => (p.includes('campaignStatus=') ? fail500('campaigns') : undefined);
    const { snapshot, samples } = await run();
    expect(fleet.requests((p) => p.endsWith('/devices'))).toEqual([]);
    expect(series(samples, CAMPAIGN_FAMILIES)).toEqual(new Map());
    expect(value(samples, 'thingspace_fota_campaign_collection_success', {})).toEqual([0, 0]);
    expect(
      value(samples, 'thingspace_fota_campaign_collection_last_success_timestamp_seconds', {}),
    ).toEqual([]);
    expect(snapshot.campaigns[0]!.devices).toMatchObject({ success: false, error: 'http' });
  });
});

describe('campaign entered counters through the Collector', () => {
  const entered = (samples: readonly Sample[], labels: Record<string, string>) =>
    value(samples, 'thingspace_fota_campaign_devices_entered_total', labels);

  it('learn on the first pass, then count each device once per new status', async () => {
    const { fleet, run, clock } = setup({ accounts: ['a'], apis: ['v1', 'v3'] });
    populate(fleet, ['a']);
    const first = await run();
    for (const status of CAMPAIGN_DEVICE_STATUSES)
      expect(entered(first.samples, { api: 'v3', device_status: status })).toEqual([0]);
    expect(
      value(first.samples, 'thingspace_fota_campaign_devices_observed_seconds_total', {}),
    ).toEqual([0]);
    expect(
      value(first.samples, 'thingspace_fota_upgrades_entered_total', { status: 'UpgradeFailed' }),
    ).toEqual([0]);

    clock.advance(5 * MINUTE);
    const running = fleet.list('a', 'v3').find((c) => c.id === 'a-v3-running')!;
    // two pending devices fail; a new campaign starts with three devices; a new upgrade fails in v1
    running.devices[0]!.status = 'UpgradeFailed';
    running.devices[1]!.status = 'UpgradeFailed';
    fleet.list('a', 'v3').push({
      id: 'brand-new',
      listedAs: 'CampaignRequestPending',
      devices: [...devices(2, 'Accepted'), ...devices(1, 'DeviceRejected')],
    });
    fleet.report('a', 'UpgradeFailed').push({
      id: 'a-u4',
      firmwareTo: 'FW-2',
      deviceList: [
        { deviceId: 'd1', status: 'Device Failed' },
        { deviceId: 'd2', status: 'Device Failed' },
      ],
    });
    const second = await run();
    expect(entered(second.samples, { device_status: 'UpgradeFailed' })).toEqual([2]);
    expect(entered(second.samples, { device_status: 'Accepted' })).toEqual([2]);
    expect(entered(second.samples, { device_status: 'DeviceRejected' })).toEqual([1]);
    expect(entered(second.samples, { device_status: 'UpgradePending' })).toEqual([0]);
    expect(
      value(second.samples, 'thingspace_fota_campaign_devices_observed_seconds_total', {}),
    ).toEqual([300]);
    expect(
      value(second.samples, 'thingspace_fota_upgrades_entered_total', { status: 'UpgradeFailed' }),
    ).toEqual([1]);
    expect(
      value(second.samples, 'thingspace_fota_upgrade_devices_entered_total', {
        status: 'UpgradeFailed',
      }),
    ).toEqual([2]);

    // the same data again: nothing new
    clock.advance(5 * MINUTE);
    const third = await run();
    expect(entered(third.samples, { device_status: 'UpgradeFailed' })).toEqual([2]);
    expect(
      value(third.samples, 'thingspace_fota_campaign_devices_observed_seconds_total', {}),
    ).toEqual([600]);
  });

  it('an unknown device status is published at 0 first, its increment one collection later', async () => {
    const { fleet, run } = setup({ accounts: ['a'], apis: ['v2'] });
    populate(fleet, ['a']);
    await run();
    const running = fleet.list('a', 'v2').find((c) => c.id === 'a-v2-running')!;
    running.devices[0]!.status = 'UpgradeDeferred';
    const second = await run();
    expect(entered(second.samples, { device_status: 'UpgradeDeferred' })).toEqual([0]);
    const third = await run();
    expect(entered(third.samples, { device_status: 'UpgradeDeferred' })).toEqual([1]);
    // and it is a gauge label too, from the first collection that saw it
    expect(
      value(second.samples, 'thingspace_fota_campaign_device_status', {
        campaign_id: 'a-v2-running',
        device_status: 'UpgradeDeferred',
      }),
    ).toEqual([1]);
  });

  it('a walk that fails holds back what it read until it completes, and a v2 failure never moves the v3 counters', async () => {
    const { fleet, run, clock } = setup({ accounts: ['a'], apis: ['v2', 'v3'] });
    populate(fleet, ['a']);
    fleet.devicePageSize = 2;
    await run();
    clock.advance(5 * MINUTE);
    for (const api of ['v2', 'v3'] as const) {
      const running = fleet.list('a', api).find((c) => c.id === `a-${api}-running`)!;
      running.devices[0]!.status = 'UpgradeSuccess'; // first page
      running.devices[7]!.status = 'UpgradeSuccess'; // last page
    }
    // v2's device list of that campaign fails after its first page
    fleet.fault = (p) =>
      p.includes('/api/fota/v2/') && p.includes('running/devices?lastSeenDeviceId=')
        ? fail500('devices')
        : undefined;
    const { samples } = await run();
    expect(entered(samples, { api: 'v2', device_status: 'UpgradeSuccess' })).toEqual([0]);
    expect(entered(samples, { api: 'v3', device_status: 'UpgradeSuccess' })).toEqual([2]);
    // the other v2 campaigns were read: v2's time moves as v3's does
    for (const api of ['v2', 'v3'])
      expect(
        value(samples, 'thingspace_fota_campaign_devices_observed_seconds_total', { api }),
      ).toEqual([300]);
    // read again: what it held back and what it reads now, each once
    fleet.fault = () => undefined;
    clock.advance(5 * MINUTE);
    const back = await run();
    expect(entered(back.samples, { api: 'v2', device_status: 'UpgradeSuccess' })).toEqual([2]);
    expect(entered(back.samples, { api: 'v3', device_status: 'UpgradeSuccess' })).toEqual([2]);
    expect(
      value(back.samples, 'thingspace_fota_campaign_devices_observed_seconds_total', {
        api: 'v2',
      }),
    ).toEqual([600]);
  });

  it('with one campaign failing for days, the others count, the time moves and memory is pruned', async () => {
    const { fleet, run, clock, collector } = setup({ accounts: ['a'], apis: ['v3'] });
    populate(fleet, ['a']);
    const gone: FakeCampaign = {
      id: 'gone',
      listedAs: 'CampaignScheduled',
      devices: devices(30, 'Accepted'),
    };
    fleet.list('a', 'v3').push(gone);
    await run();
    const before = collector.memoryUse().ids;
    // the running campaign's device list fails from now on; 'gone' leaves the history
    fleet.fault = (p) => (p.includes('/a-v3-running/devices') ? fail500('devices') : undefined);
    fleet.list('a', 'v3').splice(fleet.list('a', 'v3').indexOf(gone), 1);
    const queued = fleet.list('a', 'v3').find((c) => c.id === 'a-v3-queued')!;
    let observed = 0;
    for (let hour = 1; hour <= 26; hour++) {
      clock.advance(60 * MINUTE);
      queued.devices.push(...devices(1, 'UpgradeFailed', 'x'));
      const { samples } = await run();
      expect(entered(samples, { device_status: 'UpgradeFailed' })).toEqual([hour]);
      const [seconds] = value(
        samples,
        'thingspace_fota_campaign_devices_observed_seconds_total',
        {},
      );
      expect(seconds).toBe(observed + 3600);
      observed = seconds!;
    }
    // 'gone' was last walked more than a day ago: its 30 devices are forgotten
    expect(collector.memoryUse().ids).toBe(before - 30 + 26);
  });

  it('a campaign first listed while folded learns on its first walk, passes later', async () => {
    const { fleet, run, clock } = setup({ accounts: ['a'], apis: ['v3'], maxCampaigns: 1 });
    populate(fleet, ['a']);
    await run();
    // a new campaign, older by its start than the one walked: folded
    const late: FakeCampaign = {
      id: 'late',
      listedAs: 'CampaignScheduled',
      startDate: '2026-10-01',
      devices: devices(40, 'UpgradeFailed', 'x'),
    };
    fleet.list('a', 'v3').push(late);
    for (let i = 0; i < 2; i++) {
      clock.advance(5 * MINUTE);
      const folded = await run();
      expect(value(folded.samples, 'thingspace_fota_campaigns_folded', {})).toEqual([
        expect.any(Number),
      ]);
      expect(fleet.requests((p) => p.includes('/late/devices'))).toEqual([]);
    }
    // now it is the newest: walked for the first time, it learns
    late.startDate = '2026-11-08';
    clock.advance(5 * MINUTE);
    const first = await run();
    expect(fleet.requests((p) => p.includes('/late/devices')).length).toBeGreaterThan(0);
    expect(entered(first.samples, { device_status: 'UpgradeFailed' })).toEqual([0]);
    late.devices.push(...devices(1, 'UpgradeFailed', 'x'));
    clock.advance(5 * MINUTE);
    const next = await run();
    expect(entered(next.samples, { device_status: 'UpgradeFailed' })).toEqual([1]);
  });
});

describe('rendering the campaign families', () => {
  function promtool(text: string): { available: boolean; status: number | null; output: string } {
    const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (result.error) return { available: false, status: null, output: String(result.error) };
    return { available: true, status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  /** What a scraper refuses beyond line syntax: a series twice, a family split, samples before HELP/TYPE. */
  function checkStructure(text: string): void {
    const seen = new Set<string>();
    const finished = new Set<string>();
    let current: string | undefined;
    const typed = new Set<string>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+) /.exec(line);
      const name = meta ? meta[2]! : /^[^{ ]+/.exec(line)![0];
      if (name !== current) {
        if (finished.has(name)) throw new Error(`family ${name} is not contiguous`);
        if (current !== undefined) finished.add(current);
        current = name;
      }
      if (meta) {
        if (meta[1] === 'TYPE') typed.add(name);
        continue;
      }
      if (!typed.has(name)) throw new Error(`sample before TYPE: ${line}`);
      const [sample] = parseExposition(`${line}\n`);
      const key = seriesKey(sample!.name, sample!.labels);
      if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
      seen.add(key);
    }
  }

  it('every campaign family is valid exposition, without duplicate series, with the labels of its definition', async () => {
    const { fleet, run } = setup({ maxLabelValues: 2 });
    populate(fleet, ACCOUNTS);
    // hostile text in names and reasons, unknown statuses beyond the cap, a long name
    fleet.list(ACCOUNTS[0]!, 'v2').push(
      {
        id: 'nasty "id"\\',
        listedAs: 'CampaignScheduled',
        itemStatus: 'Status\nwith newline',
        name: `quote " back\\slash new\nline ${'é'.repeat(200)}`,
        from: 'a"b',
        to: 'c\\d',
        devices: [
          { deviceId: 1, status: 'S "1"', resultReason: 'r\n1' },
          { deviceId: 2, status: 'S\\2', resultReason: 'r "2"' },
          { deviceId: 3, status: 'S3', resultReason: `${'x'.repeat(300)}` },
        ],
      },
      ...['U1', 'U2', 'U3'].map((s, i) => ({
        id: `u${i}`,
        listedAs: 'CampaignEnded',
        itemStatus: s,
        devices: [],
      })),
    );
    await run();
    fleet.list(ACCOUNTS[0]!, 'v2').find((c) => c.id === 'nasty "id"\\')!.devices[0]!.status = 'Odd';
    const { text, samples } = await run();
    checkStructure(text);
    for (const def of METRIC_DEFINITIONS.filter((d) =>
      d.name.startsWith('thingspace_fota_campaign'),
    )) {
      const family = samples.filter((s) => s.name === def.name);
      if (def.name === 'thingspace_fota_campaign_collection_errors_total') continue; // live, not rendered here
      expect([def.name, family.length > 0]).toEqual([def.name, true]);
      for (const s of family) expect(Object.keys(s.labels).sort()).toEqual([...def.labels].sort());
    }
    // every label value is bounded
    for (const s of samples)
      for (const v of Object.values(s.labels)) expect([...v].length).toBeLessThanOrEqual(120);
    const checked = promtool(text);
    if (checked.available) expect(checked).toEqual({ available: true, status: 0, output: '' });
  });
});
