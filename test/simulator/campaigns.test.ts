import {
  CAMPAIGN_APIS,
  CAMPAIGN_STATUSES,
  type CampaignApi,
} from '../../src/campaigns/statuses.js';
import type { RunningSimulator, SimulatorOptions } from '../../src/simulator/index.js';
import {
  authed,
  devicesUrl,
  listingUrl,
  walkDevices,
  walkListing,
  type DevicePage,
  type ListingPage,
  type ServedCampaign,
} from './campaign-helpers.js';
import {
  ACCOUNT_1,
  ACCOUNT_2,
  getPage,
  http,
  json,
  signIn,
  startFrozen,
  type Session,
} from './helpers.js';

const SMALL: Partial<SimulatorOptions> = {
  seed: 21,
  accounts: 2,
  campaignsPerAccount: { mix: 12 },
  campaignListingPageSize: 2,
  campaignDevicePageSize: 50,
  campaignDevicesMean: 120,
};

const NONE = Object.fromEntries(CAMPAIGN_STATUSES.map((status) => [status, 0])) as Record<
  (typeof CAMPAIGN_STATUSES)[number],
  number
>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

async function allCampaigns(
  sim: RunningSimulator,
  auth: Session,
  api: CampaignApi,
  account: string,
): Promise<{ campaign: ServedCampaign; listing: string }[]> {
  const all: { campaign: ServedCampaign; listing: string }[] = [];
  for (const listing of CAMPAIGN_STATUSES) {
    const { campaigns } = await walkListing(sim.url, auth, api, account, listing);
    all.push(...campaigns.map((campaign) => ({ campaign, listing })));
  }
  return all;
}

describe('simulator campaign listings and device lists', () => {
  let sim: RunningSimulator;
  let auth: Session;

  beforeAll(async () => {
    sim = await startFrozen(SMALL);
    auth = await signIn(sim.url);
  });
  afterAll(async () => {
    await sim.close();
  });
  afterEach(() => {
    sim.setFaults({ campaignNumericCursor: false, v3ListingPath: 'both' });
  });

  test.each(CAMPAIGN_APIS)(
    "%s: listings page by lastSeenCampaignId, each campaign once, in the API's own words",
    async (api) => {
      const all = await allCampaigns(sim, auth, api, ACCOUNT_1);
      expect(all).toHaveLength(12);
      expect(new Set(all.map(({ campaign }) => campaign.id)).size).toBe(12);
      // The first twelve cover every status the API knows (v2 has no CampaignPreScheduled).
      const listings = new Set(all.map(({ listing }) => listing));
      expect(listings.size).toBe(api === 'v2' ? 8 : 9);
      for (const { campaign, listing } of all) {
        expect(campaign.accountName).toBe(ACCOUNT_1);
        if (campaign.status !== undefined) expect(campaign.status).toBe(listing);
        expect(campaign.startDate).toMatch(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}\.000Z)?$/);
        if (api === 'v2') {
          expect(campaign).toMatchObject({
            softwareName: expect.any(String),
            softwareFrom: expect.any(String),
            distributionType: 'HTTP',
            downloadTimeWindowList: [
              { startTime: expect.any(Number), endTime: expect.any(Number) },
            ],
            installTimeWindowList: [{ startTime: expect.any(Number), endTime: expect.any(Number) }],
          });
          expect(campaign.firmwareName).toBeUndefined();
        } else {
          expect(campaign).toMatchObject({
            firmwareName: expect.any(String),
            firmwareFrom: expect.any(String),
            protocol: 'LWM2M',
            campaignTimeWindowList: [
              { startTime: expect.any(Number), endTime: expect.any(Number) },
            ],
          });
          expect(campaign.softwareName).toBeUndefined();
        }
      }
    },
  );

  test('a listing longer than a page chains its pages through the last campaign id', async () => {
    const ended = await startFrozen({
      ...SMALL,
      accounts: 1,
      campaignsPerAccount: { perStatus: { ...NONE, CampaignEnded: 7, CampaignScheduled: 1 } },
    });
    try {
      const session = await signIn(ended.url);
      const first = json<ListingPage>(
        await authed(listingUrl(ended.url, 'v3', ACCOUNT_1, 'CampaignEnded'), session),
      );
      expect(first.hasMoreData).toBe(true);
      expect(first.campaignList).toHaveLength(2);
      expect(first.lastSeenCampaignId).toBe(first.campaignList[1]?.id);
      const { campaigns, pages } = await walkListing(
        ended.url,
        session,
        'v3',
        ACCOUNT_1,
        'CampaignEnded',
      );
      expect(campaigns).toHaveLength(7);
      expect(pages).toBe(4);
      const starts = campaigns.map((c) =>
        Date.parse(c.startDate.length === 10 ? `${c.startDate}T00:00:00Z` : c.startDate),
      );
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    } finally {
      await ended.close();
    }
  });

  test('integer cursors: the same pages, with lastSeenCampaignId and lastSeenDeviceId as numbers', async () => {
    const stringStyle = await allCampaigns(sim, auth, 'v2', ACCOUNT_2);
    const big = stringStyle.find(({ campaign }) => {
      const walked = sim.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_2]?.v2.walked ?? [];
      return (walked.find((w) => w.campaign_id === campaign.id)?.total_devices ?? 0) > 100;
    });
    expect(big).toBeDefined();
    const id = big?.campaign.id ?? '';
    const devicesBefore = await walkDevices(sim.url, auth, 'v2', ACCOUNT_2, id);
    sim.setFaults({ campaignNumericCursor: true });
    const listing = json<ListingPage>(
      await authed(listingUrl(sim.url, 'v2', ACCOUNT_2, big?.listing ?? ''), auth),
    );
    expect(typeof listing.lastSeenCampaignId).toBe('number');
    const page = json<DevicePage>(await authed(devicesUrl(sim.url, 'v2', ACCOUNT_2, id), auth));
    expect(typeof page.lastSeenDeviceId).toBe('number');
    expect(page.lastSeenDeviceId).toBe(Number(page.deviceList[49]?.deviceId));
    expect(await allCampaigns(sim, auth, 'v2', ACCOUNT_2)).toEqual(stringStyle);
    expect(await walkDevices(sim.url, auth, 'v2', ACCOUNT_2, id)).toEqual(devicesBefore);
  });

  test.each(CAMPAIGN_APIS)(
    '%s: device lists page by lastSeenDeviceId, with totalDevice',
    async (api) => {
      const walked =
        sim.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_1]?.[api].walked ?? [];
      const campaign = walked.find((w) => w.total_devices > 120);
      expect(campaign).toBeDefined();
      const id = campaign?.campaign_id ?? '';
      const first = json<DevicePage>(await authed(devicesUrl(sim.url, api, ACCOUNT_1, id), auth));
      expect(Object.keys(first)).toEqual([
        'totalDevice',
        'hasMoreData',
        'lastSeenDeviceId',
        'maxPageSize',
        'deviceList',
      ]);
      expect(first).toMatchObject({
        totalDevice: campaign?.total_devices,
        hasMoreData: true,
        maxPageSize: 50,
      });
      expect(first.deviceList).toHaveLength(50);
      expect(first.lastSeenDeviceId).toBe(first.deviceList[49]?.deviceId);
      const { devices, pages, totalDevice } = await walkDevices(sim.url, auth, api, ACCOUNT_1, id);
      expect(devices).toHaveLength(totalDevice);
      expect(pages).toBe(Math.ceil(totalDevice / 50));
      const ids = devices.map((d) => Number(d.deviceId));
      expect(devices.every((d) => /^\d{15}$/.test(d.deviceId))).toBe(true);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      for (const device of devices) {
        if (api === 'v3') {
          expect(device.updatedTime).toMatch(RFC3339);
          if (device.status === 'UpgradePending') {
            expect(device.resultReason).toMatch(
              /^Upgrade pending, the device upgrade is estimated to be scheduled for \d{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2} UTC$/,
            );
            expect(device.nextAttemptTime).toMatch(RFC3339);
            expect(device.recentAttemptTime).toMatch(RFC3339);
          }
        } else {
          expect(device.updatedTime).toBeUndefined();
          expect(device.status).not.toBe('UpgradePending');
        }
      }
    },
  );

  test('the v3 listing path switch: SDK, docs or both; the other answers 404', async () => {
    const sdk = listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded', undefined, 'sdk');
    const docs = listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded', undefined, 'docs');
    const both = [(await authed(sdk, auth)).text, (await authed(docs, auth)).text];
    expect(both[0]).toBe(both[1]);
    sim.setFaults({ v3ListingPath: 'sdk' });
    expect((await authed(sdk, auth)).status).toBe(200);
    const missing = await authed(docs, auth);
    expect(missing.status).toBe(404);
    expect(json(missing)).toEqual({ errorCode: 'NOT_FOUND', errorMessage: 'No such resource' });
    sim.setFaults({ v3ListingPath: 'docs' });
    expect((await authed(sdk, auth)).status).toBe(404);
    expect((await authed(docs, auth)).text).toBe(both[0]);
    // v2 has one path; the SDK's firmware path does not exist there.
    expect((await authed(listingUrl(sim.url, 'v2', ACCOUNT_1, 'CampaignEnded'), auth)).status).toBe(
      200,
    );
    const v2Firmware = `${sim.url}/api/fota/v2/reports/${ACCOUNT_1}/firmware/campaigns?campaignStatus=CampaignEnded`;
    expect((await authed(v2Firmware, auth)).status).toBe(404);
  });

  test('refusals have the FOTA error shape', async () => {
    const v2 =
      sim.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_1]?.v2.walked[0]?.campaign_id ?? '';
    const cases: [string, string][] = [
      [listingUrl(sim.url, 'v2', ACCOUNT_1, null), 'campaignStatus is required'],
      [listingUrl(sim.url, 'v2', ACCOUNT_1, 'CampaignDone'), 'Invalid campaign status'],
      [listingUrl(sim.url, 'v2', '0242078689-99999', 'CampaignEnded'), 'Inactive account'],
      [listingUrl(sim.url, 'v2', 'acme', 'CampaignEnded'), 'Invalid account name format'],
      [listingUrl(sim.url, 'v2', ACCOUNT_1, 'CampaignEnded', 'nope'), 'Invalid lastSeenCampaignId'],
      [listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded', v2), 'Invalid lastSeenCampaignId'],
      [devicesUrl(sim.url, 'v3', ACCOUNT_1, v2), 'Invalid campaign id'],
      [devicesUrl(sim.url, 'v2', ACCOUNT_2, v2), 'Invalid campaign id'],
      [devicesUrl(sim.url, 'v2', ACCOUNT_1, v2, '123'), 'Invalid lastSeenDeviceId'],
      [devicesUrl(sim.url, 'v2', ACCOUNT_1, v2, 'abc'), 'Invalid lastSeenDeviceId'],
    ];
    for (const [url, message] of cases) {
      const answer = await authed(url, auth);
      expect([url, answer.status]).toEqual([url, 400]);
      expect(json(answer)).toEqual({ errorCode: 'INVALID_PARAMETER', errorMessage: message });
    }
  });

  test('the same token checks as the v1 reports', async () => {
    const url = listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded');
    const noBearer = await http(url);
    expect(noBearer.status).toBe(401);
    expect(json(noBearer)).toMatchObject({ fault: { code: '900902' } });
    const noSession = await http(url, { headers: { authorization: `Bearer ${auth.bearer}` } });
    expect(noSession.status).toBe(400);
    expect(json(noSession)).toMatchObject({
      errorCode: 'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid',
    });
  });
});

describe('simulator campaign faults', () => {
  let sim: RunningSimulator;
  let auth: Session;

  beforeEach(async () => {
    sim = await startFrozen(SMALL);
    auth = await signIn(sim.url);
  });
  afterEach(async () => {
    await sim.close();
  });

  test('campaignErrorApi v3: every v3 campaign request answers 500, v2 and v1 do not', async () => {
    const v3 =
      sim.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_1]?.v3.walked[0]?.campaign_id ?? '';
    sim.setFaults({ campaignErrorApi: 'v3' });
    for (const url of [
      listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded', undefined, 'sdk'),
      listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded', undefined, 'docs'),
      devicesUrl(sim.url, 'v3', ACCOUNT_1, v3),
    ]) {
      const answer = await authed(url, auth);
      expect(answer.status).toBe(500);
      expect(json(answer)).toEqual({
        errorCode: 'INTERNAL_SERVER_ERROR',
        errorMessage: 'Internal server error',
      });
    }
    expect(
      (await walkListing(sim.url, auth, 'v2', ACCOUNT_1, 'CampaignEnded')).pages,
    ).toBeGreaterThan(0);
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
    expect(sim.stats().requests).toMatchObject({
      campaigns: { '200': expect.any(Number), '500': 2 },
      campaign_devices: { '500': 1 },
      reports: { '200': 1 },
    });
    sim.setFaults({ campaignErrorApi: null });
    expect((await authed(devicesUrl(sim.url, 'v3', ACCOUNT_1, v3), auth)).status).toBe(200);
  });

  test("repeatCursorCampaign: that campaign's device list hands back the cursor it was given", async () => {
    const walked = sim.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_2]?.v3.walked ?? [];
    const target = walked.find((w) => w.total_devices > 0);
    const other = walked.find((w) => w.total_devices > 0 && w !== target);
    const id = target?.campaign_id ?? '';
    sim.setFaults({ repeatCursorCampaign: id });
    const first = json<DevicePage>(await authed(devicesUrl(sim.url, 'v3', ACCOUNT_2, id), auth));
    expect(first.hasMoreData).toBe(true);
    expect(first.lastSeenDeviceId).toBe(first.deviceList[first.deviceList.length - 1]?.deviceId);
    const cursor = String(first.lastSeenDeviceId);
    const second = json<DevicePage>(
      await authed(devicesUrl(sim.url, 'v3', ACCOUNT_2, id, cursor), auth),
    );
    expect(second).toMatchObject({ hasMoreData: true, lastSeenDeviceId: cursor });
    await expect(walkDevices(sim.url, auth, 'v3', ACCOUNT_2, id)).rejects.toThrow(
      /cursor repeated/,
    );
    const fine = await walkDevices(sim.url, auth, 'v3', ACCOUNT_2, other?.campaign_id ?? '');
    expect(fine.devices).toHaveLength(other?.total_devices ?? -1);
  });

  test('hiddenCampaign: the history leaves that campaign out, its device list still answers', async () => {
    const ids = async () =>
      (await allCampaigns(sim, auth, 'v3', ACCOUNT_1)).map((c) => String(c.campaign.id));
    const before = await ids();
    const walked = sim.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_1]?.v3.walked ?? [];
    const target = walked.find((w) => w.total_devices > 0)!;
    expect(before).toContain(target.campaign_id);
    sim.setFaults({ hiddenCampaign: target.campaign_id });
    expect(await ids()).toEqual(before.filter((id) => id !== target.campaign_id));
    const devices = await walkDevices(sim.url, auth, 'v3', ACCOUNT_1, target.campaign_id);
    expect(devices.devices).toHaveLength(target.total_devices);
    sim.setFaults({ hiddenCampaign: null });
    expect(await ids()).toEqual(before);
  });

  test('rate faults and latency meet campaign requests too, from a stream of their own', async () => {
    const url = listingUrl(sim.url, 'v2', ACCOUNT_1, 'CampaignEnded');
    sim.setFaults({ errorRate: 1 });
    expect((await authed(url, auth)).status).toBe(500);
    sim.setFaults({ errorRate: 0, throttleRate: 1, throttleRetryAfterSeconds: 3 });
    const throttled = await authed(url, auth);
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('3');
    sim.setFaults({ throttleRate: 0, resetRate: 1 });
    await expect(authed(url, auth)).rejects.toThrow();
    sim.setFaults({ resetRate: 0, latencyMs: 300 });
    const started = performance.now();
    expect((await authed(url, auth)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(sim.stats().requests.campaigns).toEqual({ '200': 1, '429': 1, '500': 1, reset: 1 });
  });

  test('with the default page size a device page holds 1,000 devices', async () => {
    const big = await startFrozen({
      accounts: 1,
      campaignsPerAccount: { mix: 2 },
      campaignTotalDevices: 6000,
      campaignDevicesMax: 5000,
    });
    try {
      const session = await signIn(big.url);
      const walked = big.truth({ campaignLookbackMs: 1e12 }).campaigns[ACCOUNT_1]?.v2.walked ?? [];
      const largest = [...walked].sort((a, b) => b.total_devices - a.total_devices)[0];
      expect(largest?.total_devices).toBeGreaterThan(1000);
      const page = json<DevicePage>(
        await authed(devicesUrl(big.url, 'v2', ACCOUNT_1, largest?.campaign_id ?? ''), session),
      );
      expect(page).toMatchObject({ maxPageSize: 1000, hasMoreData: true });
      expect(page.deviceList).toHaveLength(1000);
    } finally {
      await big.close();
    }
  });
});
