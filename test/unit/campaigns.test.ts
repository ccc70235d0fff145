/**
 * The campaign source (FOTA v2/v3) below the collection: answer validation, the two pagers with the v3
 * path fallback, dates, and the pure aggregation (campaign counts, walk set, per-campaign device counts and
 * their merge in campaign order).
 */
import {
  CampaignDeviceAggregator,
  compareCampaigns,
  countCampaigns,
  labelCampaignStatuses,
  listed,
  mergeWalks,
  selectWalks,
  type CampaignWalkCounts,
  type ListedCampaign,
} from '../../src/campaigns/aggregate.js';
import {
  devicesPath,
  ListingPaths,
  walkDevices,
  walkListing,
  type V3ListingPath,
} from '../../src/campaigns/pager.js';
import {
  parseCampaignDevices,
  parseCampaignListing,
  type Campaign,
  type CampaignDevice,
  type CampaignDevicePage,
  type CampaignListingPage,
} from '../../src/campaigns/schema.js';
import {
  CAMPAIGN_STATUSES,
  FINAL_CAMPAIGN_STATUSES,
  type CampaignApi,
} from '../../src/campaigns/statuses.js';
import { OTHER } from '../../src/labels/bound.js';
import type { ThingSpaceApi } from '../../src/thingspace/client.js';
import { getVia } from './fake-send.js';
import { parseDate, parseEndDate } from '../../src/thingspace/dates.js';
import { ThingSpaceError, type Endpoint } from '../../src/thingspace/errors.js';
import type { HttpResponse } from '../../src/thingspace/http.js';

const DAY = 86_400_000;

function parseError(run: () => unknown): ThingSpaceError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    expect((error as ThingSpaceError).kind).toBe('parse');
    return error as ThingSpaceError;
  }
  throw new Error('expected a parse error');
}

// ---------------------------------------------------------------------------------------------------------
describe('parseCampaignListing', () => {
  // The reports-v2 example of the SDK: software words, a UUID cursor.
  const V2_EXAMPLE = {
    hasMoreData: true,
    lastSeenCampaignId: '60b5d639-ccdc-4db8-8824-069bd94c95bf',
    campaignList: [
      {
        accountName: '0402196254-00001',
        id: '60b5d639-ccdc-4db8-8824-069bd94c95bf',
        campaignName: 'HTTP rollout',
        softwareName: 'FOTA_Verizon_Upgrade',
        softwareFrom: 'FOTA_Verizon_Model-A_00To01_HF',
        softwareTo: 'FOTA_Verizon_Model-A_01To02_HF',
        distributionType: 'HTTP',
        make: 'Verizon',
        model: 'Model-A',
        status: 'CampaignEnded',
        startDate: '2020-08-21',
        endDate: '2020-08-22',
        downloadAfterDate: '2020-08-21',
        downloadTimeWindowList: [{ startTime: 20, endTime: 21 }],
        installAfterDate: '2020-08-21',
        installTimeWindowList: [{ startTime: 22, endTime: 23 }],
      },
    ],
  };
  // The reports-v3 example: firmware words.
  const V3_EXAMPLE = {
    hasMoreData: false,
    lastSeenCampaignId: 'f858b8c4-2153-11ec-8c44-aeb16d1aa652',
    campaignList: [
      {
        accountName: '0642233522-00001',
        id: 'f858b8c4-2153-11ec-8c44-aeb16d1aa652',
        campaignName: 'FOTA_Verizon_Upgrade',
        firmwareName: 'FOTA_Verizon_Upgrade',
        firmwareFrom: 'SR1.2.0.0-10657',
        firmwareTo: 'SR1.2.0.0-10667',
        protocol: 'LWM2M',
        make: 'Verizon',
        model: 'Model-A',
        startDate: '2021-09-29',
        endDate: '2021-10-04',
        campaignTimeWindowList: [{ startTime: 18, endTime: 22 }],
        status: 'CampaignRequestPending',
      },
    ],
  };

  it('reads a v2 page: software words become the firmware fields', () => {
    const page = parseCampaignListing(V2_EXAMPLE);
    expect(page).toEqual({
      hasMore: true,
      cursor: '60b5d639-ccdc-4db8-8824-069bd94c95bf',
      campaigns: [
        {
          id: '60b5d639-ccdc-4db8-8824-069bd94c95bf',
          name: 'HTTP rollout',
          status: 'CampaignEnded',
          startDate: '2020-08-21',
          endDate: '2020-08-22',
          firmwareFrom: 'FOTA_Verizon_Model-A_00To01_HF',
          firmwareTo: 'FOTA_Verizon_Model-A_01To02_HF',
        },
      ],
    });
  });

  it('reads a v3 page: firmware words', () => {
    const page = parseCampaignListing(V3_EXAMPLE);
    expect(page.hasMore).toBe(false);
    expect(page.campaigns[0]).toMatchObject({
      id: 'f858b8c4-2153-11ec-8c44-aeb16d1aa652',
      firmwareFrom: 'SR1.2.0.0-10657',
      firmwareTo: 'SR1.2.0.0-10667',
      status: 'CampaignRequestPending',
    });
  });

  it('prefers the firmware words when an item has both', () => {
    const page = parseCampaignListing({
      campaignList: [{ id: 'a', firmwareTo: 'F', softwareTo: 'S', softwareFrom: 'S0' }],
    });
    expect(page.campaigns[0]).toMatchObject({ firmwareTo: 'F', firmwareFrom: 'S0' });
  });

  it('takes numeric ids and cursors as text', () => {
    const page = parseCampaignListing({
      hasMoreData: true,
      lastSeenCampaignId: 1234,
      campaignList: [{ id: 1234, campaignName: 77 }],
    });
    expect(page.cursor).toBe('1234');
    expect(page.campaigns[0]).toMatchObject({ id: '1234', name: '77' });
  });

  it('an empty answer is an empty last page; null and empty fields are missing', () => {
    expect(parseCampaignListing({})).toEqual({ hasMore: false, cursor: undefined, campaigns: [] });
    expect(parseCampaignListing({ campaignList: null, hasMoreData: null })).toEqual({
      hasMore: false,
      cursor: undefined,
      campaigns: [],
    });
    const page = parseCampaignListing({
      campaignList: [{ id: 'a', status: '', endDate: null, campaignName: undefined }],
    });
    expect(page.campaigns[0]).toEqual({
      id: 'a',
      name: undefined,
      status: undefined,
      startDate: undefined,
      endDate: undefined,
      firmwareFrom: undefined,
      firmwareTo: undefined,
    });
  });

  it.each([
    ['not an object', 'text', /not an object/],
    ['an array', [], /not an object/],
    ['null', null, /not an object/],
    ['campaignList not an array', { campaignList: {} }, /campaignList is not an array/],
    ['an item not an object', { campaignList: [{ id: 'a' }, 'b'] }, /campaignList\[1\]/],
    ['an item without id', { campaignList: [{ id: 'a' }, { name: 'b' }] }, /campaignList\[1\]\.id/],
    ['an id that is an object', { campaignList: [{ id: { v: 1 } }] }, /campaignList\[0\].*\bid\b/],
    ['hasMoreData a string', { hasMoreData: 'true' }, /hasMoreData/],
    ['a cursor that is an object', { lastSeenCampaignId: { id: 1 } }, /lastSeenCampaignId/],
    ['a negative cursor', { lastSeenCampaignId: -3 }, /lastSeenCampaignId/],
  ])('%s is a parse error naming what is wrong', (_name, body, message) => {
    expect(parseError(() => parseCampaignListing(body)).message).toMatch(message);
  });

  it.each(['campaignName', 'status', 'startDate', 'endDate', 'firmwareTo', 'softwareFrom'])(
    'a %s of the wrong type is a parse error naming the item and the field',
    (field) => {
      const error = parseError(() =>
        parseCampaignListing({ campaignList: [{ id: 'a' }, { id: 'b', [field]: { x: 1 } }] }),
      );
      expect(error.message).toMatch(new RegExp(`campaignList\\[1\\].*${field}`));
    },
  );
});

describe('parseCampaignDevices', () => {
  const V3_EXAMPLE = {
    totalDevice: 2689,
    hasMoreData: true,
    lastSeenDeviceId: '15-digit IMEI',
    maxPageSize: 1000,
    deviceList: [
      {
        deviceId: '15-digit IMEI',
        status: 'UpgradePending',
        resultReason:
          'Upgrade pending, the device upgrade is estimated to be scheduled for 06 Oct 22 18:05 UTC',
        updatedTime: '2022-10-05T18:05:00Z',
        recentAttemptTime: '2022-10-05T18:05:00Z',
        nextAttemptTime: '2022-10-06T18:05:00Z',
      },
    ],
  };

  it('reads a v3 page, extra fields kept as they are', () => {
    const page = parseCampaignDevices(V3_EXAMPLE);
    expect(page.totalDevice).toBe(2689);
    expect(page.hasMore).toBe(true);
    expect(page.cursor).toBe('15-digit IMEI');
    expect(page.devices).toHaveLength(1);
    expect(page.devices[0]).toMatchObject({ status: 'UpgradePending' });
  });

  it('reads a v2 page with an integer cursor and numeric device ids', () => {
    const page = parseCampaignDevices({
      totalDevice: 2,
      hasMoreData: false,
      lastSeenDeviceId: 990000862471854,
      deviceList: [
        {
          deviceId: 990000862471854,
          status: 'UpgradeSuccess',
          resultReason: 'DownloadInstallSucceeded',
        },
        { deviceId: '990000862471855', status: 'DeviceRejected', resultReason: null },
      ],
    });
    expect(page.cursor).toBe('990000862471854');
    expect(page.devices.map((d) => d.deviceId)).toEqual([990000862471854, '990000862471855']);
  });

  it('an empty answer is an empty last page without a total', () => {
    expect(parseCampaignDevices({})).toEqual({
      hasMore: false,
      cursor: undefined,
      totalDevice: undefined,
      devices: [],
    });
  });

  it.each([
    ['not an object', 42, /not an object/],
    ['deviceList not an array', { deviceList: 'x' }, /deviceList is not an array/],
    ['a device not an object', { deviceList: [{}, null] }, /deviceList\[1\]/],
    ['a numeric status', { deviceList: [{}, { status: 3 }] }, /deviceList\[1\]\.status\b/],
    [
      'an object resultReason',
      { deviceList: [{ resultReason: {} }] },
      /deviceList\[0\]\.resultReason/,
    ],
    ['a boolean deviceId', { deviceList: [{ deviceId: true }] }, /deviceList\[0\]\.deviceId/],
    ['a text totalDevice', { totalDevice: '12' }, /totalDevice/],
    ['a negative totalDevice', { totalDevice: -1 }, /totalDevice/],
    ['hasMoreData a number', { hasMoreData: 1 }, /hasMoreData/],
    ['a fractional cursor', { lastSeenDeviceId: 1.5 }, /lastSeenDeviceId/],
  ])('%s is a parse error naming what is wrong', (_name, body, message) => {
    expect(parseError(() => parseCampaignDevices(body)).message).toMatch(message);
  });
});

// ---------------------------------------------------------------------------------------------------------
/**
 * A campaign API in memory: answers listing and device paths with raw bodies; records every path asked.
 * Listings of `campaigns[status]` and device lists of `devices[id]` are served `pageSize` items a page, the
 * cursor being the last item's id (as a number when `numeric`).
 */
class CampaignServer implements ThingSpaceApi {
  readonly asked: { endpoint: Endpoint; path: string }[] = [];
  /** Which v3 listing path exists; the other answers 404. */
  v3Path: V3ListingPath = 'firmware/campaigns';
  campaigns: Record<string, Campaign[]> = {};
  devices: Record<string, CampaignDevice[]> = {};
  pageSize = 2;
  numeric = false;
  /** Rewrites an answer before it is sent (broken cursors and the like). */
  tamper: (body: Record<string, unknown>, path: string) => void = () => undefined;

  readonly get: ThingSpaceApi['get'] = getVia((endpoint, path) => this.answer(endpoint, path));

  async answer(endpoint: Endpoint, path: string): Promise<HttpResponse> {
    this.asked.push({ endpoint, path });
    const url = new URL(path, 'http://x');
    const listing =
      /^\/api\/fota\/(v2|v3)\/reports\/([^/]+)\/(firmware\/campaigns|campaigns)$/.exec(
        url.pathname,
      );
    const devices = /^\/api\/fota\/(v2|v3)\/reports\/([^/]+)\/campaigns\/([^/]+)\/devices$/.exec(
      url.pathname,
    );
    let body: Record<string, unknown>;
    if (listing) {
      const [, api, , where] = listing;
      const exists = api === 'v2' ? where === 'campaigns' : where === this.v3Path;
      if (!exists) throw new ThingSpaceError('http', 'campaigns answered HTTP 404', undefined, 404);
      const status = url.searchParams.get('campaignStatus')!;
      const items = this.campaigns[status] ?? [];
      body = this.page(items, url.searchParams.get('lastSeenCampaignId'), 'campaignList');
      body.lastSeenCampaignId = body.cursor;
    } else if (devices) {
      const id = decodeURIComponent(devices[3]!);
      const items = this.devices[id] ?? [];
      body = this.page(items, url.searchParams.get('lastSeenDeviceId'), 'deviceList');
      body.lastSeenDeviceId = body.cursor;
      body.totalDevice = items.length;
      body.maxPageSize = this.pageSize;
    } else {
      throw new Error(`unexpected path ${path}`);
    }
    delete body.cursor;
    this.tamper(body, path);
    return { status: 200, body };
  }

  private page(
    items: readonly (Campaign | CampaignDevice)[],
    after: string | null,
    field: string,
  ): Record<string, unknown> {
    const idOf = (item: Campaign | CampaignDevice) =>
      String('id' in item ? item.id : (item as CampaignDevice).deviceId);
    const start = after === null ? 0 : items.findIndex((i) => idOf(i) === after) + 1;
    const slice = items.slice(start, start + this.pageSize);
    const more = start + this.pageSize < items.length;
    const last = slice.at(-1);
    const cursor = more && last ? (this.numeric ? Number(idOf(last)) : idOf(last)) : undefined;
    return { hasMoreData: more, cursor, [field]: slice };
  }
}

describe('walkListing', () => {
  function read(
    server: CampaignServer,
    version: CampaignApi,
    status: string,
    paths = new ListingPaths(),
  ) {
    const pages: CampaignListingPage[] = [];
    const done = walkListing({
      api: server,
      version,
      account: '0402196254-00001',
      status,
      paths,
      maxPages: 100,
      onPage: (page) => pages.push(page),
    });
    return { done, pages };
  }

  it.each([false, true])(
    'pages by lastSeenCampaignId, none on the first request (numeric cursor: %p)',
    async (numeric) => {
      const server = new CampaignServer();
      server.numeric = numeric;
      server.campaigns.CampaignScheduled = ['11', '12', '13', '14', '15'].map((id) => ({ id }));
      const { done, pages } = read(server, 'v2', 'CampaignScheduled');
      await expect(done).resolves.toBe(3);
      expect(server.asked.map((a) => a.path)).toEqual([
        '/api/fota/v2/reports/0402196254-00001/campaigns?campaignStatus=CampaignScheduled',
        '/api/fota/v2/reports/0402196254-00001/campaigns?campaignStatus=CampaignScheduled&lastSeenCampaignId=12',
        '/api/fota/v2/reports/0402196254-00001/campaigns?campaignStatus=CampaignScheduled&lastSeenCampaignId=14',
      ]);
      expect(server.asked.every((a) => a.endpoint === 'campaigns')).toBe(true);
      expect(pages.flatMap((p) => p.campaigns.map((c) => c.id))).toEqual([
        '11',
        '12',
        '13',
        '14',
        '15',
      ]);
    },
  );

  it('encodes the account, the status and the cursor', async () => {
    const server = new CampaignServer();
    server.campaigns['Odd status&x=1'] = [{ id: 'a/b' }, { id: 'c' }, { id: 'd' }];
    const pages: CampaignListingPage[] = [];
    await walkListing({
      api: server,
      version: 'v2',
      account: 'acc/1',
      status: 'Odd status&x=1',
      paths: new ListingPaths(),
      maxPages: 10,
      onPage: (page) => pages.push(page),
    });
    expect(server.asked[1]!.path).toBe(
      '/api/fota/v2/reports/acc%2F1/campaigns?campaignStatus=Odd%20status%26x%3D1&lastSeenCampaignId=c',
    );
    expect(pages.flatMap((p) => p.campaigns)).toHaveLength(3);
  });

  it('a repeated cursor is a pagination error', async () => {
    const server = new CampaignServer();
    server.campaigns.CampaignScheduled = ['1', '2', '3', '4', '5'].map((id) => ({ id }));
    server.tamper = (body) => {
      if (body.hasMoreData) body.lastSeenCampaignId = 'same';
    };
    await expect(read(server, 'v2', 'CampaignScheduled').done).rejects.toMatchObject({
      kind: 'pagination',
    });
    expect(server.asked).toHaveLength(2);
  });

  it('more than maxPages is a pagination error', async () => {
    const server = new CampaignServer();
    server.campaigns.CampaignEnded = ['1', '2', '3', '4', '5'].map((id) => ({ id }));
    const done = walkListing({
      api: server,
      version: 'v2',
      account: 'a',
      status: 'CampaignEnded',
      paths: new ListingPaths(),
      maxPages: 2,
      onPage: () => undefined,
    });
    await expect(done).rejects.toMatchObject({ kind: 'pagination' });
  });

  it('v3 asks the SDK path first; on a 404 the DOCS path, and remembers the one that answered', async () => {
    const server = new CampaignServer();
    server.v3Path = 'campaigns';
    server.campaigns.CampaignScheduled = [{ id: 'x' }, { id: 'y' }, { id: 'z' }];
    const found: V3ListingPath[] = [];
    const paths = new ListingPaths((path) => found.push(path));
    const first = read(server, 'v3', 'CampaignScheduled', paths);
    await expect(first.done).resolves.toBe(2);
    expect(server.asked.map((a) => a.path)).toEqual([
      '/api/fota/v3/reports/0402196254-00001/firmware/campaigns?campaignStatus=CampaignScheduled',
      '/api/fota/v3/reports/0402196254-00001/campaigns?campaignStatus=CampaignScheduled',
      '/api/fota/v3/reports/0402196254-00001/campaigns?campaignStatus=CampaignScheduled&lastSeenCampaignId=y',
    ]);
    expect(found).toEqual(['campaigns']);
    // the next listing (any status, any account) goes straight to the path that answered
    server.asked.length = 0;
    await read(server, 'v3', 'CampaignEnded', paths).done;
    expect(server.asked.map((a) => a.path)).toEqual([
      '/api/fota/v3/reports/0402196254-00001/campaigns?campaignStatus=CampaignEnded',
    ]);
    expect(found).toEqual(['campaigns']);
  });

  it('v3: until a path has answered, the one that last answered 404 is tried last', () => {
    const paths = new ListingPaths();
    expect(paths.candidates('v3')).toEqual(['firmware/campaigns', 'campaigns']);
    // a listing queued before the first answer takes the docs path first once the SDK path missed
    paths.notFound('v3', 'firmware/campaigns');
    expect(paths.candidates('v3')).toEqual(['campaigns', 'firmware/campaigns']);
    paths.notFound('v3', 'campaigns');
    expect(paths.candidates('v3')).toEqual(['firmware/campaigns', 'campaigns']);
    // the path that answered goes first whatever missed since
    paths.found('v3', 'campaigns');
    paths.notFound('v3', 'campaigns');
    expect(paths.candidates('v3')).toEqual(['campaigns', 'firmware/campaigns']);
    expect(paths.candidates('v2')).toEqual(['campaigns']);
  });

  it('v3 on the SDK path needs no fallback and logs it once', async () => {
    const server = new CampaignServer();
    const found: V3ListingPath[] = [];
    const paths = new ListingPaths((path) => found.push(path));
    await read(server, 'v3', 'CampaignScheduled', paths).done;
    await read(server, 'v3', 'CampaignEnded', paths).done;
    expect(server.asked.map((a) => a.path.split('?')[0])).toEqual([
      '/api/fota/v3/reports/0402196254-00001/firmware/campaigns',
      '/api/fota/v3/reports/0402196254-00001/firmware/campaigns',
    ]);
    expect(found).toEqual(['firmware/campaigns']);
  });

  it('v3 follows the service if the remembered path goes away', async () => {
    const server = new CampaignServer();
    const found: V3ListingPath[] = [];
    const paths = new ListingPaths((path) => found.push(path));
    await read(server, 'v3', 'CampaignScheduled', paths).done;
    server.v3Path = 'campaigns';
    await read(server, 'v3', 'CampaignScheduled', paths).done;
    expect(found).toEqual(['firmware/campaigns', 'campaigns']);
  });

  it('v3 answering 404 on both paths fails with the 404', async () => {
    const server = new CampaignServer();
    server.answer = async (endpoint, path) => {
      server.asked.push({ endpoint, path });
      throw new ThingSpaceError('http', 'campaigns answered HTTP 404', undefined, 404);
    };
    await expect(read(server, 'v3', 'CampaignScheduled').done).rejects.toMatchObject({
      kind: 'http',
      httpStatus: 404,
    });
    expect(server.asked).toHaveLength(2);
  });

  it('v3 does not fall back on other errors than 404', async () => {
    const server = new CampaignServer();
    server.answer = async (endpoint, path) => {
      server.asked.push({ endpoint, path });
      throw new ThingSpaceError('http', 'campaigns answered HTTP 400', undefined, 400);
    };
    await expect(read(server, 'v3', 'CampaignScheduled').done).rejects.toMatchObject({
      httpStatus: 400,
    });
    expect(server.asked).toHaveLength(1);
  });

  it('v2 never falls back: its 404 is the error', async () => {
    const server = new CampaignServer();
    server.answer = async (endpoint, path) => {
      server.asked.push({ endpoint, path });
      throw new ThingSpaceError('http', 'campaigns answered HTTP 404', undefined, 404);
    };
    const found: V3ListingPath[] = [];
    await expect(
      read(server, 'v2', 'CampaignScheduled', new ListingPaths((p) => found.push(p))).done,
    ).rejects.toMatchObject({ httpStatus: 404 });
    expect(server.asked.map((a) => a.path.split('?')[0])).toEqual([
      '/api/fota/v2/reports/0402196254-00001/campaigns',
    ]);
    expect(found).toEqual([]);
  });

  it('v2 answering does not teach the v3 path', async () => {
    const server = new CampaignServer();
    server.v3Path = 'campaigns';
    const paths = new ListingPaths();
    await read(server, 'v2', 'CampaignScheduled', paths).done;
    expect(paths.candidates('v3')).toEqual(['firmware/campaigns', 'campaigns']);
  });

  it('runs every page through the schedule it is given', async () => {
    const server = new CampaignServer();
    server.campaigns.CampaignScheduled = [{ id: '1' }, { id: '2' }, { id: '3' }];
    let scheduled = 0;
    await walkListing({
      api: server,
      version: 'v2',
      account: 'a',
      status: 'CampaignScheduled',
      paths: new ListingPaths(),
      maxPages: 10,
      onPage: () => undefined,
      schedule: (task) => {
        scheduled++;
        return task();
      },
    });
    expect(scheduled).toBe(2);
  });
});

describe('walkDevices', () => {
  const devices = (n: number, prefix = 99000000000000): CampaignDevice[] =>
    Array.from({ length: n }, (_, i) => ({
      deviceId: String(prefix + i),
      status: 'UpgradePending',
      resultReason: null,
    }));

  function walk(server: CampaignServer, version: CampaignApi, campaignId: string, maxPages = 100) {
    const pages: CampaignDevicePage[] = [];
    const done = walkDevices({
      api: server,
      version,
      account: '0642233522-00001',
      campaignId,
      maxPages,
      onPage: (page) => pages.push(page),
    });
    return { done, pages };
  }

  it.each([
    ['v2', false],
    ['v3', true],
  ] as const)('%s pages by lastSeenDeviceId (numeric: %p)', async (version, numeric) => {
    const server = new CampaignServer();
    server.numeric = numeric;
    server.pageSize = 3;
    server.devices['c-1'] = devices(7);
    const { done, pages } = walk(server, version, 'c-1');
    await expect(done).resolves.toBe(3);
    expect(server.asked.map((a) => a.path)).toEqual([
      `/api/fota/${version}/reports/0642233522-00001/campaigns/c-1/devices`,
      `/api/fota/${version}/reports/0642233522-00001/campaigns/c-1/devices?lastSeenDeviceId=99000000000002`,
      `/api/fota/${version}/reports/0642233522-00001/campaigns/c-1/devices?lastSeenDeviceId=99000000000005`,
    ]);
    expect(server.asked.every((a) => a.endpoint === 'campaign_devices')).toBe(true);
    expect(pages.flatMap((p) => p.devices)).toEqual(devices(7));
    expect(pages.map((p) => p.totalDevice)).toEqual([7, 7, 7]);
  });

  it('encodes the campaign id into one path segment', () => {
    expect(devicesPath('v2', 'a b', 'x/y?z', '0')).toBe(
      '/api/fota/v2/reports/a%20b/campaigns/x%2Fy%3Fz/devices',
    );
    expect(devicesPath('v3', 'a', 'c', 'k&1')).toBe(
      '/api/fota/v3/reports/a/campaigns/c/devices?lastSeenDeviceId=k%261',
    );
  });

  it.each([
    [
      'a repeated cursor',
      (body: Record<string, unknown>) => body.hasMoreData && (body.lastSeenDeviceId = 'x'),
    ],
    ['a missing cursor', (body: Record<string, unknown>) => delete body.lastSeenDeviceId],
  ])('%s is a pagination error', async (_name, tamper) => {
    const server = new CampaignServer();
    server.devices.c = devices(10);
    server.tamper = (body) => void tamper(body);
    await expect(walk(server, 'v3', 'c').done).rejects.toMatchObject({ kind: 'pagination' });
  });

  it('a device list longer than maxPages is a pagination error', async () => {
    const server = new CampaignServer();
    server.devices.c = devices(10);
    await expect(walk(server, 'v3', 'c', 4).done).rejects.toMatchObject({ kind: 'pagination' });
    expect(server.asked).toHaveLength(4);
  });
});

// ---------------------------------------------------------------------------------------------------------
describe('dates', () => {
  it('a date alone is UTC midnight; as an end date, the next midnight', () => {
    expect(parseDate('2026-11-01')).toBe(Date.UTC(2026, 10, 1) / 1000);
    expect(parseEndDate('2026-11-01')).toBe(Date.UTC(2026, 10, 2) / 1000);
  });

  it('a date-time is itself, as start or end; without a zone it is UTC', () => {
    for (const parse of [parseDate, parseEndDate]) {
      expect(parse('2026-11-01T10:30:00Z')).toBe(Date.UTC(2026, 10, 1, 10, 30) / 1000);
      expect(parse('2026-11-01T10:30:00.500Z')).toBe(Date.UTC(2026, 10, 1, 10, 30, 0, 500) / 1000);
      expect(parse('2026-11-01T10:30')).toBe(Date.UTC(2026, 10, 1, 10, 30) / 1000);
      expect(parse('2026-11-01T10:30:00+02:00')).toBe(Date.UTC(2026, 10, 1, 8, 30) / 1000);
      expect(parse('2026-11-01T10:30:00-0500')).toBe(Date.UTC(2026, 10, 1, 15, 30) / 1000);
    }
  });

  it.each([
    undefined,
    null,
    '',
    'soon',
    '01/11/2026',
    '2026-11-01 10:30',
    '2026-13-01',
    '2026-11-01T25:00Z',
  ])('is undefined for %p', (text) => {
    expect(parseDate(text)).toBeUndefined();
    expect(parseEndDate(text)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------
const NOW = Date.UTC(2026, 10, 8, 12); // 2026-11-08T12:00Z
const LOOKBACK = 7 * DAY; // cutoff 2026-11-01T12:00Z

const campaign = (id: string, status: string, extra: Partial<Campaign> = {}): ListedCampaign =>
  listed({ id, ...extra }, status);

describe('listed', () => {
  it('takes the item’s own status when it has one, else the status asked for, cut to 120', () => {
    expect(listed({ id: 'a', status: 'CampaignEnded' }, 'CampaignScheduled').status).toBe(
      'CampaignEnded',
    );
    expect(listed({ id: 'a' }, 'CampaignScheduled').status).toBe('CampaignScheduled');
    expect([...listed({ id: 'a', status: 'é'.repeat(300) }, 'X').status]).toHaveLength(120);
  });
});

describe('countCampaigns and labelCampaignStatuses', () => {
  const count = (list: readonly ListedCampaign[], max = 50, listedStatuses?: readonly string[]) =>
    countCampaigns(labelCampaignStatuses(list, max), listedStatuses);

  it('has every known status, 0 when none', () => {
    const counts = count([]);
    expect([...counts.keys()]).toEqual([...CAMPAIGN_STATUSES]);
    expect([...counts.values()].every((v) => v === 0)).toBe(true);
  });

  it('counts campaigns by status and keeps an unknown status as it comes', () => {
    const counts = count([
      campaign('1', 'CampaignScheduled'),
      campaign('2', 'CampaignScheduled'),
      campaign('3', 'CampaignEnded'),
      campaign('4', 'CampaignPaused'),
    ]);
    expect(counts.get('CampaignScheduled')).toBe(2);
    expect(counts.get('CampaignEnded')).toBe(1);
    expect(counts.get('CampaignPaused')).toBe(1);
    expect(counts.size).toBe(CAMPAIGN_STATUSES.length + 1);
  });

  it('keeps at most N unknown statuses (most campaigns, ties to the later), the rest "other"; known ones always', () => {
    const list = [
      campaign('1', 'Many'),
      campaign('2', 'Many'),
      campaign('3', 'EarlyOne'),
      campaign('4', 'CampaignEnded'),
      campaign('5', 'LateOne'),
      campaign('6', 'CampaignPaused'),
    ];
    const counts = count(list, 2);
    expect(counts.get('Many')).toBe(2);
    expect(counts.get(OTHER)).toBe(2);
    expect(counts.has('EarlyOne')).toBe(false);
    expect(counts.get('CampaignEnded')).toBe(1);
    expect(CAMPAIGN_STATUSES.every((s) => counts.has(s))).toBe(true);
    // the same labels for every campaign, in listing order, the rest of each campaign untouched
    const labelled = labelCampaignStatuses(list, 2);
    expect(labelled.map((c) => c.status)).toEqual([
      'Many',
      'Many',
      OTHER,
      'CampaignEnded',
      OTHER,
      'CampaignPaused',
    ]);
    expect(labelled.map((c) => c.id)).toEqual(list.map((c) => c.id));
    expect(labelled[0]).toBe(list[0]);
  });

  it('gives zeros only to the statuses whose listing was read', () => {
    const counts = count([campaign('1', 'CampaignEnded')], 50, [
      'CampaignEnded',
      'CampaignScheduled',
    ]);
    expect(Object.fromEntries(counts)).toEqual({ CampaignEnded: 1, CampaignScheduled: 0 });
  });
});

describe('selectWalks', () => {
  const ids = (list: readonly ListedCampaign[]) => list.map((c) => c.id);

  it('walks every campaign not in a final status, however old, unknown statuses included', () => {
    const list = [
      ...CAMPAIGN_STATUSES.filter((s) => !FINAL_CAMPAIGN_STATUSES.includes(s)).map((s) =>
        campaign(s, s, { endDate: '2001-01-01' }),
      ),
      campaign('paused', 'CampaignPaused', { endDate: '2001-01-01' }),
    ];
    const selection = selectWalks(list, NOW, LOOKBACK, 100);
    expect(ids(selection.walk).sort()).toEqual(ids(list).sort());
    expect(selection.folded).toBe(0);
  });

  it.each(FINAL_CAMPAIGN_STATUSES)(
    'walks a %s campaign only while its end is within the lookback',
    (status) => {
      const list = [
        // a date alone ends at the next midnight: 2026-11-02T00:00Z ≥ cutoff
        campaign('day-in', status, { endDate: '2026-11-01' }),
        // ends 2026-11-01T00:00Z < cutoff
        campaign('day-out', status, { endDate: '2026-10-31' }),
        campaign('exact', status, { endDate: '2026-11-01T12:00:00Z' }),
        campaign('second-out', status, { endDate: '2026-11-01T11:59:59Z' }),
        campaign('missing', status),
        campaign('unreadable', status, { endDate: 'soon' }),
      ];
      expect(ids(selectWalks(list, NOW, LOOKBACK, 100).walk).sort()).toEqual(
        ['day-in', 'exact', 'missing', 'unreadable'].sort(),
      );
    },
  );

  it('keeps the newest beyond max-campaigns (start date, then id, descending), counts the rest folded', () => {
    const list = [
      campaign('a', 'CampaignScheduled', { startDate: '2026-11-05' }),
      campaign('b', 'CampaignScheduled', { startDate: '2026-11-07' }),
      campaign('c', 'CampaignScheduled', { startDate: '2026-11-07' }),
      campaign('d', 'CampaignScheduled'), // no start date: the oldest
      campaign('e', 'CampaignScheduled', { startDate: '2026-11-06T23:00:00Z' }),
      campaign('old-final', 'CampaignEnded', { endDate: '2026-01-01', startDate: '2026-12-01' }),
    ];
    const selection = selectWalks(list, NOW, LOOKBACK, 3);
    // c > b (same day, id), then e; returned in campaign order (ascending)
    expect(ids(selection.walk)).toEqual(['e', 'b', 'c']);
    // the final campaign beyond the lookback never qualified: it is not folded
    expect(selection.folded).toBe(2);
    expect(selectWalks(list, NOW, LOOKBACK, 0)).toEqual({ walk: [], folded: 5 });
  });

  it('returns the walk set in campaign order whatever the listing order', () => {
    const list = [
      campaign('z', 'CampaignScheduled', { startDate: '2026-11-01' }),
      campaign('y', 'CampaignScheduled'),
      campaign('x', 'CampaignScheduled', { startDate: '2026-11-01' }),
    ];
    expect(ids(selectWalks(list, NOW, LOOKBACK, 100).walk)).toEqual(['y', 'x', 'z']);
  });

  it('campaign order: start date ascending, missing first, then id', () => {
    const sorted = [
      campaign('b', 'S', { startDate: '2026-01-02' }),
      campaign('a', 'S', { startDate: '2026-01-02' }),
      campaign('m', 'S', { startDate: 'never' }),
      campaign('c', 'S', { startDate: '2026-01-01T12:00:00Z' }),
      campaign('l', 'S'),
    ].sort(compareCampaigns);
    expect(ids(sorted)).toEqual(['l', 'm', 'c', 'a', 'b']);
  });
});

describe('CampaignDeviceAggregator', () => {
  const page = (devices: CampaignDevice[], totalDevice?: number): CampaignDevicePage => ({
    hasMore: false,
    cursor: undefined,
    totalDevice,
    devices,
  });
  const flat = (counts: CampaignWalkCounts) =>
    Object.fromEntries(
      [...counts.devices].flatMap(([s, byReason]) =>
        [...byReason].map(([r, n]) => [`${s}|${r}`, n] as const),
      ),
    );

  it('counts device entries by status and normalised reason; totalDevice from the first page', () => {
    const aggregator = new CampaignDeviceAggregator(50);
    aggregator.addPage(
      page(
        [
          {
            deviceId: '1',
            status: 'UpgradePending',
            resultReason: 'scheduled for 06 Oct 22 18:05 UTC',
          },
          {
            deviceId: '2',
            status: 'UpgradePending',
            resultReason: 'scheduled for 07 Oct 22 01:00 UTC',
          },
          { deviceId: '3', status: 'UpgradeFailed', resultReason: 'RovaClientDownloadFailed' },
        ],
        2689,
      ),
    );
    aggregator.addPage(
      page(
        [
          { deviceId: '3', status: 'UpgradeFailed', resultReason: 'RovaClientDownloadFailed' },
          { deviceId: '4' },
          { deviceId: '5', status: '', resultReason: '' },
        ],
        9999,
      ),
    );
    const counts = aggregator.result();
    expect(counts.totalDevice).toBe(2689);
    expect(counts.deviceCount).toBe(6);
    // entries are not deduplicated within a walk
    expect(flat(counts)).toEqual({
      'UpgradePending|scheduled for <date> <time>': 2,
      'UpgradeFailed|RovaClientDownloadFailed': 2,
      'unknown|none': 2,
    });
  });

  it('a walk without totalDevice has none', () => {
    const aggregator = new CampaignDeviceAggregator(50);
    aggregator.addPage(page([{ deviceId: '1', status: 'Accepted' }]));
    expect(aggregator.result().totalDevice).toBeUndefined();
  });

  it('tracks only the first 10 × N distinct values of a label in one campaign', () => {
    const aggregator = new CampaignDeviceAggregator(1);
    aggregator.addPage(
      page(
        Array.from({ length: 12 }, (_, i) => ({
          deviceId: String(i),
          status: `S${i}`,
          resultReason: 'r',
        })),
      ),
    );
    const counts = aggregator.result();
    expect(counts.statuses.size).toBe(10);
    expect(counts.untracked.device_status).toBe(2);
    expect(flat(counts)[`${OTHER}|r`]).toBe(2);
  });
});

describe('mergeWalks', () => {
  function walked(
    c: ListedCampaign,
    devices: readonly (readonly [string, string?])[],
    total?: number,
    maxLabelValues = 50,
  ) {
    const aggregator = new CampaignDeviceAggregator(maxLabelValues);
    aggregator.addPage({
      hasMore: false,
      cursor: undefined,
      totalDevice: total,
      devices: devices.map(([status, resultReason], i) => ({
        deviceId: `${c.id}-${i}`,
        status,
        resultReason,
      })),
    });
    return { campaign: c, counts: aggregator.result() };
  }

  const nested = (devices: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, number>>>) =>
    JSON.stringify(
      [...devices]
        .flatMap(([c, byStatus]) =>
          [...byStatus].flatMap(([s, byReason]) =>
            [...byReason].map(([r, n]) => `${c}|${s}|${r}|${n}`),
          ),
        )
        .sort(),
    );

  function permutations<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    return items.flatMap((item, i) =>
      permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
    );
  }

  const WALKS = [
    walked(
      campaign('c1', 'CampaignScheduled', { startDate: '2026-11-01', endDate: '2026-11-30' }),
      [['UpgradeFailed', 'RovaClientDownloadFailed'], ['UpgradeFailed', 'Other.'], ['Accepted']],
      10,
    ),
    walked(
      campaign('c2', 'CampaignScheduled', { startDate: '2026-11-03' }),
      [
        ['UpgradeSuccess', 'DownloadInstallSucceeded'],
        ['UpgradeFailed', 'Other.'],
        ['Weird', 'Other.'],
      ],
      3,
    ),
    walked(campaign('c0', 'CampaignEnded', { endDate: '2026-11-05' }), [
      ['DeviceRejected', 'Device not found.'],
      ['Weird', 'Device not found.'],
    ]),
    walked(campaign('c3', 'CampaignPaused', { startDate: '2026-11-03' }), [['Accepted']]),
  ];

  it('gives the same series whatever order the walks finished in', () => {
    for (const max of [50, 3, 2, 1]) {
      const reference = mergeWalks(WALKS, max);
      for (const order of permutations(WALKS)) {
        const merged = mergeWalks(order, max);
        expect(nested(merged.devices)).toBe(nested(reference.devices));
        expect(merged.walked.map((w) => [w.campaign.id, [...w.deviceStatus]])).toEqual(
          reference.walked.map((w) => [w.campaign.id, [...w.deviceStatus]]),
        );
        expect(merged.folded).toEqual(reference.folded);
      }
    }
  });

  it('sums device entries by campaign status, device status and reason over the campaigns', () => {
    const merged = mergeWalks(WALKS, 50);
    expect(nested(merged.devices)).toBe(
      JSON.stringify(
        [
          'CampaignScheduled|UpgradeFailed|RovaClientDownloadFailed|1',
          'CampaignScheduled|UpgradeFailed|Other.|2',
          'CampaignScheduled|Accepted|none|1',
          'CampaignScheduled|UpgradeSuccess|DownloadInstallSucceeded|1',
          'CampaignScheduled|Weird|Other.|1',
          'CampaignEnded|DeviceRejected|Device not found.|1',
          'CampaignEnded|Weird|Device not found.|1',
          'CampaignPaused|Accepted|none|1',
        ].sort(),
      ),
    );
    expect(merged.folded).toEqual({ device_status: 0, result_reason: 0 });
  });

  it('lists the walked campaigns in campaign order with their totals, end and devices by status', () => {
    const merged = mergeWalks(WALKS, 50);
    expect(merged.walked.map((w) => w.campaign.id)).toEqual(['c0', 'c1', 'c2', 'c3']);
    const c1 = merged.walked[1]!;
    expect(c1.totalDevice).toBe(10);
    expect(c1.endSeconds).toBe(Date.UTC(2026, 11, 1) / 1000);
    expect(Object.fromEntries(c1.deviceStatus)).toEqual({ UpgradeFailed: 2, Accepted: 1 });
    expect(merged.walked[0]!.totalDevice).toBeUndefined();
    expect(merged.walked[3]!.endSeconds).toBeUndefined();
  });

  it('keeps the top N values over all campaigns by device entries, ties to the later in campaign order', () => {
    // Campaign order c0 (no start date), c1, c2, c3; device positions run across them. device_status weights:
    // UpgradeFailed 3, Accepted 2 (last in c3), Weird 2 (last in c2), UpgradeSuccess 1, DeviceRejected 1.
    const keptOf = (merged: ReturnType<typeof mergeWalks>) => ({
      statuses: new Set([...merged.devices.values()].flatMap((byStatus) => [...byStatus.keys()])),
      reasons: new Set(
        [...merged.devices.values()].flatMap((byStatus) =>
          [...byStatus.values()].flatMap((byReason) => [...byReason.keys()]),
        ),
      ),
    });
    const two = mergeWalks(WALKS, 2);
    // reasons: Other. 3, none 2 (last in c3), Device not found. 2 (last in c0), the rest 1
    expect(keptOf(two)).toEqual({
      statuses: new Set(['UpgradeFailed', 'Accepted', OTHER]),
      reasons: new Set(['Other.', 'none', OTHER]),
    });
    // the same kept set in each campaign's devices by status
    expect(Object.fromEntries(two.walked[2]!.deviceStatus)).toEqual({ UpgradeFailed: 1, other: 2 });
    expect(two.folded).toEqual({ device_status: 3, result_reason: 3 });
    const three = mergeWalks(WALKS, 3);
    expect(keptOf(three)).toEqual({
      statuses: new Set(['UpgradeFailed', 'Accepted', 'Weird', OTHER]),
      reasons: new Set(['Other.', 'none', 'Device not found.', OTHER]),
    });
  });

  it('a tie across campaigns goes to the value seen last in campaign order, not in walk order', () => {
    const early = walked(campaign('early', 'CampaignScheduled', { startDate: '2026-01-01' }), [
      ['A'],
    ]);
    const late = walked(campaign('late', 'CampaignScheduled', { startDate: '2026-02-01' }), [
      ['B'],
    ]);
    for (const order of [
      [early, late],
      [late, early],
    ]) {
      const merged = mergeWalks(order, 1);
      expect([...merged.devices.get('CampaignScheduled')!.keys()].sort()).toEqual(['B', OTHER]);
    }
  });
});
