/**
 * /_sim/truth for campaigns against what the simulator serves: everything is walked over HTTP and
 * read with the test's own reading of SPEC §3–5 (campaign-helpers.ts), for several seeds, sizes,
 * caps, cursor styles and listing paths, as time moves, and across the failure-spike scenario.
 */
import {
  CAMPAIGN_APIS,
  CAMPAIGN_DEVICE_STATUSES,
  CAMPAIGN_STATUSES,
  FINAL_CAMPAIGN_STATUSES,
} from '../../src/campaigns/statuses.js';
import type { RunningSimulator, SimulatorOptions, Truth } from '../../src/simulator/index.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import {
  authed,
  devicesUrl,
  listingUrl,
  readCampaigns,
  walkDevices,
  type ListingPath,
} from './campaign-helpers.js';
import { ACCOUNT_1, ACCOUNT_2, signIn, startFrozen, walk, type Session } from './helpers.js';

const DAY_MS = 86_400_000;
const EVERYTHING = { campaignLookbackMs: 1e13, maxCampaigns: 1_000_000 };

interface Case {
  name: string;
  options: Partial<SimulatorOptions>;
  ticks: number;
  faults: Partial<SimulatorOptions>;
  path: ListingPath;
  maxLabelValues: number;
  campaignLookbackMs: number;
  maxCampaigns: number;
  nowOffsetMs: number;
}

const CASES: Case[] = [
  {
    name: 'a mix of every status, default caps',
    options: {
      seed: 21,
      accounts: 2,
      campaignsPerAccount: { mix: 12 },
      campaignDevicePageSize: 40,
    },
    ticks: 0,
    faults: {},
    path: 'sdk',
    maxLabelValues: 50,
    campaignLookbackMs: 7 * DAY_MS,
    maxCampaigns: 100,
    nowOffsetMs: 0,
  },
  {
    name: 'tiny caps: labels fold into other, campaigns beyond max-campaigns are folded',
    options: { seed: 5, accounts: 1, campaignsPerAccount: { mix: 14 }, campaignDevicePageSize: 70 },
    ticks: 0,
    faults: {},
    path: 'sdk',
    maxLabelValues: 2,
    campaignLookbackMs: 7 * DAY_MS,
    maxCampaigns: 3,
    nowOffsetMs: 0,
  },
  {
    // A handful of devices per campaign: many label values share a weight, so ties decide.
    name: 'small campaigns and a cap of 4: ties go to the most recent value',
    options: {
      seed: 3,
      accounts: 2,
      campaignsPerAccount: { mix: 16 },
      campaignDevicesMean: 4,
      campaignDevicePageSize: 3,
    },
    ticks: 12,
    faults: {},
    path: 'sdk',
    maxLabelValues: 4,
    campaignLookbackMs: 60 * DAY_MS,
    maxCampaigns: 100,
    nowOffsetMs: 0,
  },
  {
    name: 'unknown campaign and device statuses, one label value each',
    options: {
      seed: 8,
      accounts: 1,
      campaignsPerAccount: { mix: 9 },
      campaignUnknownStatuses: 3,
      campaignDevicePageSize: 100,
    },
    ticks: 0,
    faults: {},
    path: 'sdk',
    maxLabelValues: 1,
    campaignLookbackMs: 30 * DAY_MS,
    maxCampaigns: 100,
    nowOffsetMs: 0,
  },
  {
    name: 'after 30 ticks, integer cursors, the docs listing path, a later now',
    options: {
      seed: 13,
      accounts: 2,
      campaignsPerAccount: { mix: 10 },
      campaignArrivalsPerTick: 0.3,
      tickStepMs: 6 * 3_600_000,
      campaignDevicePageSize: 90,
    },
    ticks: 30,
    faults: { campaignNumericCursor: true, v3ListingPath: 'docs' },
    path: 'docs',
    maxLabelValues: 50,
    campaignLookbackMs: 30 * DAY_MS,
    maxCampaigns: 100,
    nowOffsetMs: 3 * DAY_MS,
  },
];

describe('campaign truth equals what is served', () => {
  test.each(CASES)('$name', async (c) => {
    const sim = await startFrozen({ campaignListingPageSize: 3, ...c.options });
    try {
      sim.advance(c.ticks);
      sim.setFaults(c.faults);
      const auth = await signIn(sim.url);
      const now = Date.parse(sim.stats().clock) + c.nowOffsetMs;
      const params = {
        maxLabelValues: c.maxLabelValues,
        campaignLookbackMs: c.campaignLookbackMs,
        maxCampaigns: c.maxCampaigns,
        now,
      };
      const truth = sim.truth(params);
      expect(truth).toMatchObject({ ...params, enteredSince: null });
      for (const account of Object.keys(truth.accounts)) {
        for (const api of CAMPAIGN_APIS) {
          const served = await readCampaigns(sim, auth, account, api, { ...params, path: c.path });
          expect(truth.campaigns[account]?.[api]).toEqual(served.truth);
        }
      }
      const text = JSON.stringify(truth.campaigns);
      for (const status of CAMPAIGN_STATUSES)
        expect(text).toContain(`"campaign_status":"${status}"`);
      if (c.maxLabelValues <= 2) {
        expect(text).toContain('"result_reason":"other"');
        expect(text).toContain('"device_status":"other"');
      }
      if (c.maxCampaigns === 3) {
        expect(truth.campaigns[ACCOUNT_1]?.v2.folded).toBeGreaterThan(0);
        expect(truth.campaigns[ACCOUNT_1]?.v2.walked).toHaveLength(3);
      }
      if (c.options.campaignUnknownStatuses) {
        // Three unknown statuses, one kept (the later one in listing order on a tie), two other.
        const v2 = truth.campaigns[ACCOUNT_1]?.v2.campaigns ?? [];
        expect(v2.find((s) => s.campaign_status === 'other')?.count).toBe(2);
        expect(
          v2.filter((s) => !(CAMPAIGN_STATUSES as readonly string[]).includes(s.campaign_status)),
        ).toHaveLength(2);
      }
    } finally {
      await sim.close();
    }
  });

  test('v3 reasons with embedded times fold into one value; final campaigns beyond the lookback are not walked', async () => {
    const sim = await startFrozen({ seed: 21, accounts: 1, campaignsPerAccount: { mix: 16 } });
    try {
      const truth = sim.truth();
      const v3 = truth.campaigns[ACCOUNT_1]?.v3;
      const reasons = new Set(v3?.devices.map((d) => d.result_reason));
      expect(reasons).toContain(
        'Upgrade pending, the device upgrade is estimated to be scheduled for <date> <time>',
      );
      expect([...reasons].some((r) => /\d{2}:\d{2}/.test(r))).toBe(false);
      const walked = new Set(v3?.walked.map((w) => w.campaign_id));
      const everything = sim.truth(EVERYTHING).campaigns[ACCOUNT_1]?.v3.walked ?? [];
      const final = new Set<string>(FINAL_CAMPAIGN_STATUSES);
      const clockS = Date.parse(sim.stats().clock) / 1000;
      for (const campaign of everything) {
        const old =
          final.has(campaign.campaign_status) &&
          campaign.end_timestamp_seconds !== null &&
          campaign.end_timestamp_seconds < clockS - 7 * 86_400;
        expect([campaign.campaign_id, walked.has(campaign.campaign_id)]).toEqual([
          campaign.campaign_id,
          !old,
        ]);
      }
      expect(everything.length).toBeGreaterThan(v3?.walked.length ?? 0);
    } finally {
      await sim.close();
    }
  });
});

const RANK: Record<string, number> = {
  CampaignRequestPending: 0,
  CampaignRequestQueued: 1,
  CampaignPreScheduled: 2,
  CampaignScheduled: 3,
};
const DEVICE_RANK: Record<string, number> = { Accepted: 0, UpgradePending: 1 };

describe('campaigns in time', () => {
  test('campaigns and their devices only move forward; new campaigns arrive; campaigns past their end date end', async () => {
    const sim = await startFrozen({
      seed: 31,
      accounts: 1,
      campaignsPerAccount: { mix: 12 },
      campaignArrivalsPerTick: 0.4,
      tickStepMs: 6 * 3_600_000,
      campaignDevicePageSize: 500,
    });
    try {
      const auth = await signIn(sim.url);
      const statuses = new Map<string, string>();
      const devices = new Map<string, string>();
      const initial = new Set(
        sim.truth(EVERYTHING).campaigns[ACCOUNT_1]?.v3.walked.map((w) => w.campaign_id),
      );
      const seenTransitions = new Set<string>();
      for (let tick = 0; tick <= 40; tick += 1) {
        if (tick > 0) sim.advance(1);
        const walked = sim.truth(EVERYTHING).campaigns[ACCOUNT_1]?.v3.walked ?? [];
        for (const campaign of walked) {
          const before = statuses.get(campaign.campaign_id);
          const now = campaign.campaign_status;
          if (before === undefined) {
            if (!initial.has(campaign.campaign_id)) expect(now).toBe('CampaignRequestPending');
          } else if (before !== now) {
            seenTransitions.add(`${before}>${now}`);
            // A final status never changes; the others only move forward.
            expect([campaign.campaign_id, before in RANK]).toEqual([campaign.campaign_id, true]);
            if (now in RANK) expect(RANK[now]).toBeGreaterThan(RANK[before] ?? 99);
          }
          statuses.set(campaign.campaign_id, now);
        }
        if (tick % 5 !== 0) continue;
        for (const campaign of walked.filter((w) => w.campaign_status === 'CampaignScheduled')) {
          const served = await walkDevices(sim.url, auth, 'v3', ACCOUNT_1, campaign.campaign_id);
          for (const device of served.devices) {
            const key = `${campaign.campaign_id}/${device.deviceId}`;
            const before = devices.get(key);
            if (before !== undefined && before !== device.status) {
              expect([key, before in DEVICE_RANK]).toEqual([key, true]);
              if (device.status in DEVICE_RANK) {
                expect(DEVICE_RANK[device.status]).toBeGreaterThan(DEVICE_RANK[before] ?? 99);
              }
            }
            devices.set(key, device.status);
          }
        }
      }
      expect(statuses.size).toBeGreaterThan(initial.size);
      expect(seenTransitions).toContain('CampaignScheduled>CampaignEnded');
      expect(seenTransitions).toContain('CampaignRequestPending>CampaignRequestQueued');
      expect(seenTransitions).toContain('CampaignPreScheduled>CampaignScheduled');
      const clockS = Date.parse(sim.stats().clock) / 1000;
      for (const campaign of sim.truth(EVERYTHING).campaigns[ACCOUNT_1]?.v3.walked ?? []) {
        if (
          campaign.campaign_status !== 'CampaignScheduled' ||
          campaign.end_timestamp_seconds === null
        ) {
          continue;
        }
        // Even a stuck campaign ends within days of its end date.
        expect(campaign.end_timestamp_seconds).toBeGreaterThan(clockS - 7 * 86_400);
      }
    } finally {
      await sim.close();
    }
  });

  test('the same seed serves the same campaigns, now and after ticks and a spike; another seed does not', async () => {
    const options = { accounts: 1, campaignsPerAccount: { mix: 10 }, campaignArrivalsPerTick: 0.5 };
    const [a, b, c] = await Promise.all([
      startFrozen({ ...options, seed: 42 }),
      startFrozen({ ...options, seed: 42 }),
      startFrozen({ ...options, seed: 43 }),
    ]);
    try {
      const served = async (sim: RunningSimulator): Promise<string[]> => {
        const auth = await signIn(sim.url);
        const walked = sim.truth(EVERYTHING).campaigns[ACCOUNT_1]?.v3.walked ?? [];
        const pages = [
          (await authed(listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignScheduled'), auth)).text,
        ];
        for (const w of walked) {
          pages.push(
            (await authed(devicesUrl(sim.url, 'v3', ACCOUNT_1, w.campaign_id), auth)).text,
          );
        }
        return pages;
      };
      expect(await served(a)).toEqual(await served(b));
      expect(a.truth()).toEqual(b.truth());
      expect(a.truth().campaigns).not.toEqual(c.truth().campaigns);
      for (const sim of [a, b]) {
        sim.advance(7);
        sim.failureSpike();
        sim.advance(3);
      }
      expect(await served(a)).toEqual(await served(b));
      expect(a.truth({ enteredSince: 2 })).toEqual(b.truth({ enteredSince: 2 }));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});

/**
 * What an exporter's memory would count (SPEC §4), from served pages: v1 ids per status, campaign
 * devices per status; the first pass learns, later passes count what is new.
 */
class ArrivalReader {
  private readonly upgrades = new Map<string, Set<string>>();
  private readonly campaigns = new Map<string, Map<string, Set<string>>>();
  readonly upgradesEntered = new Map<string, { upgrades: number; devices: number }>();
  readonly devicesEntered = new Map<string, Map<string, number>>();
  private learning = true;

  constructor(
    private readonly sim: RunningSimulator,
    private readonly auth: Session,
  ) {}

  async pass(): Promise<void> {
    for (const account of [ACCOUNT_1, ACCOUNT_2]) {
      for (const status of UPGRADE_STATUSES) {
        const key = `${account}/${status}`;
        const seen = this.upgrades.get(key) ?? new Set<string>();
        this.upgrades.set(key, seen);
        for (const upgrade of (await walk(this.sim.url, this.auth, account, status)).upgrades) {
          if (seen.has(upgrade.id)) continue;
          seen.add(upgrade.id);
          if (this.learning) continue;
          const entered = this.upgradesEntered.get(key) ?? { upgrades: 0, devices: 0 };
          entered.upgrades += 1;
          entered.devices += upgrade.deviceList.length;
          this.upgradesEntered.set(key, entered);
        }
      }
      for (const api of CAMPAIGN_APIS) {
        const key = `${account}/${api}`;
        const counts = this.devicesEntered.get(key) ?? new Map<string, number>();
        this.devicesEntered.set(key, counts);
        const { devices } = await readCampaigns(this.sim, this.auth, account, api, {
          maxLabelValues: 50,
          now: 0,
          ...EVERYTHING,
        });
        for (const [id, list] of devices) {
          const memory = this.campaigns.get(id) ?? new Map<string, Set<string>>();
          this.campaigns.set(id, memory);
          for (const device of list) {
            const statuses = memory.get(device.deviceId) ?? new Set<string>();
            memory.set(device.deviceId, statuses);
            if (statuses.has(device.status)) continue;
            statuses.add(device.status);
            if (!this.learning) counts.set(device.status, (counts.get(device.status) ?? 0) + 1);
          }
        }
      }
    }
    this.learning = false;
  }
}

describe('entered truth', () => {
  test('equals what a reader counts from served reports, generation by generation, across a spike', async () => {
    const sim = await startFrozen({
      seed: 17,
      accounts: 2,
      upgradesPerStatus: {
        RequestPending: 8,
        Queued: 8,
        RequestFailed: 4,
        InProgress: 8,
        Finished: 6,
        UpgradeFailed: 6,
      },
      arrivalsPerTick: 2,
      campaignsPerAccount: { mix: 9 },
      campaignUnknownStatuses: 1,
      campaignDevicesMean: 60,
      campaignArrivalsPerTick: 0.3,
      campaignDevicePageSize: 200,
      tickStepMs: 3_600_000,
    });
    try {
      const auth = await signIn(sim.url);
      sim.advance(2);
      const reader = new ArrivalReader(sim, auth);
      await reader.pass();
      const since = sim.truth().generation;
      for (let step = 1; step <= 8; step += 1) {
        if (step === 4) sim.failureSpike({ account: ACCOUNT_2 });
        else sim.advance(1);
        await reader.pass();
      }
      const truth: Truth = sim.truth({ ...EVERYTHING, enteredSince: since });
      let moved = 0;
      for (const account of [ACCOUNT_1, ACCOUNT_2]) {
        for (const status of UPGRADE_STATUSES) {
          const counted = reader.upgradesEntered.get(`${account}/${status}`) ?? {
            upgrades: 0,
            devices: 0,
          };
          expect([account, status, truth.accounts[account]?.[status].entered]).toEqual([
            account,
            status,
            counted,
          ]);
          moved += counted.upgrades;
        }
        for (const api of CAMPAIGN_APIS) {
          const counted =
            reader.devicesEntered.get(`${account}/${api}`) ?? new Map<string, number>();
          const expected = Object.fromEntries(
            [...CAMPAIGN_DEVICE_STATUSES.map((s): [string, number] => [s, 0]), ...counted].sort(),
          );
          const entered = Object.fromEntries(
            (truth.campaigns[account]?.[api].enteredDevices ?? []).map((e) => [
              e.device_status,
              e.count,
            ]),
          );
          expect([account, api, entered]).toEqual([account, api, expected]);
        }
      }
      // The run must have moved things, or the comparison proves nothing.
      expect(moved).toBeGreaterThan(20);
      const entered = (status: string): number =>
        truth.campaigns[ACCOUNT_2]?.v3.enteredDevices?.find((e) => e.device_status === status)
          ?.count ?? 0;
      expect(entered('UpgradeFailed')).toBeGreaterThan(0);
      // An unknown device status enters too: its series is born mid-run.
      expect(entered('UpgradeDeferred')).toBeGreaterThan(0);
      // Nothing entered after the last generation.
      const none = sim.truth({ enteredSince: sim.truth().generation });
      expect(none.accounts[ACCOUNT_1]?.Queued.entered).toEqual({ upgrades: 0, devices: 0 });
      expect(none.campaigns[ACCOUNT_1]?.v2.enteredDevices?.every((e) => e.count === 0)).toBe(true);
    } finally {
      await sim.close();
    }
  });
});

describe('failure-spike scenario and campaigns', () => {
  test('one campaign per API has every pending device fail, and the result says how many', async () => {
    const sim = await startFrozen({
      seed: 9,
      campaignsPerAccount: { mix: 10 },
      campaignDevicePageSize: 150,
    });
    try {
      const before = sim.truth(EVERYTHING);
      const result = sim.failureSpike({ account: ACCOUNT_2 });
      expect(result.campaigns.map((c) => c.api)).toEqual(['v2', 'v3']);
      expect(result.campaignFailedDevices).toBe(
        result.campaigns.reduce((sum, c) => sum + c.failedDevices, 0),
      );
      const after = sim.truth(EVERYTHING);
      for (const { api, campaignId, failedDevices } of result.campaigns) {
        expect(failedDevices).toBeGreaterThan(0);
        const count = (truth: Truth, status: string): number =>
          truth.campaigns[ACCOUNT_2]?.[api].walked
            .find((w) => w.campaign_id === campaignId)
            ?.device_status.find((d) => d.device_status === status)?.count ?? 0;
        expect(count(after, 'UpgradeFailed')).toBe(count(before, 'UpgradeFailed') + failedDevices);
        expect(count(before, 'Accepted') + count(before, 'UpgradePending')).toBe(failedDevices);
        expect(count(after, 'Accepted') + count(after, 'UpgradePending')).toBe(0);
        const entered = sim
          .truth({ ...EVERYTHING, enteredSince: result.generation - 1 })
          .campaigns[ACCOUNT_2]?.[api].enteredDevices?.find(
            (e) => e.device_status === 'UpgradeFailed',
          );
        expect(entered?.count).toBe(failedDevices);
      }
      expect(after.campaigns[ACCOUNT_1]).toEqual(before.campaigns[ACCOUNT_1]);
      const auth = await signIn(sim.url);
      for (const api of CAMPAIGN_APIS) {
        const served = await readCampaigns(sim, auth, ACCOUNT_2, api, {
          maxLabelValues: 50,
          now: after.now,
          ...EVERYTHING,
        });
        expect(after.campaigns[ACCOUNT_2]?.[api]).toEqual(served.truth);
      }
    } finally {
      await sim.close();
    }
  });
});
