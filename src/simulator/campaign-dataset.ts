/**
 * The simulated v2 (HTTP) and v3 (LWM2M) campaigns of every account, and how they move from one tick
 * to the next. As for v1 upgrades, devices are not stored: a campaign keeps a device count, a seed and
 * a short history (the generations of its active ticks, a stop, a spike), and each device's path is
 * derived on demand from its hash, so a million device entries cost almost nothing.
 *
 * A device's path is monotone: Accepted (or DeviceRejected, for good), then on v3 UpgradePending,
 * then UpgradeSuccess or UpgradeFailed, each reached after a number of ticks the campaign spent
 * Scheduled ("active ticks"); a cancel, an abort or the failure-spike scenario ends the path of
 * devices still on the way. Because the active-tick count rises by one per tick, every step of a
 * path is held at some generation, which is what "entered since" counts.
 */
import {
  CAMPAIGN_APIS,
  CAMPAIGN_STATUSES,
  isFinalCampaignStatus,
  type CampaignApi,
  type KnownCampaignStatus,
} from '../campaigns/statuses.js';
import {
  CAMPAIGN_NAMES,
  PACKAGES,
  REJECTED_REASONS,
  SPIKE_REASONS,
  UNKNOWN_CAMPAIGN_STATUSES,
  UNKNOWN_DEVICE_STATUS,
  V2_ABORTED_REASON,
  V2_FAILURE_REASONS,
  V2_SUCCESS_REASON,
  V3_FAILURE_REASONS,
  cancelledReason,
  deferredReason,
  pendingReason,
  v3SuccessReason,
  type CampaignPackage,
} from './campaign-catalog.js';
import type { SimClock } from './clock.js';
import { fitDeviceCounts } from './dataset.js';
import { Random, hashInts, hashString, mix32 } from './random.js';

/** Initial campaigns per account and API: a number for a realistic mix, or exact counts per status. */
export type CampaignPlan =
  { readonly mix: number } | { readonly perStatus: Readonly<Record<KnownCampaignStatus, number>> };

export interface CampaignOptions {
  readonly seed: number;
  readonly campaignsPerAccount: CampaignPlan;
  readonly campaignDevicesMean: number;
  readonly campaignDevicesMax: number;
  /** When set, the initial campaigns' device entries add up to exactly this many. */
  readonly campaignTotalDevices: number | null;
  readonly campaignArrivalsPerTick: number;
  readonly campaignUnknownStatuses: number;
  readonly tickStepMs: number;
}

/** Cancel and abort end the path of every device still on the way with a status of their own. */
export interface CampaignStop {
  readonly generation: number;
  readonly atMs: number;
  readonly kind: 'CampaignCancelled' | 'CampaignAborted';
}

export interface CampaignSpike {
  readonly generation: number;
  readonly atMs: number;
  /** Active ticks when it struck: devices not done by then failed. */
  readonly ticks: number;
}

export interface Campaign {
  readonly api: CampaignApi;
  readonly id: string;
  /** Creation order; breaks ties between equal start dates so the listing order is total. */
  readonly seq: number;
  readonly accountName: string;
  /** '' is an unnamed campaign. */
  readonly name: string;
  readonly pkg: CampaignPackage;
  /** Start instant; a date-only startDate stands for UTC midnight. */
  readonly startMs: number;
  readonly startDate: string;
  /** End instant; a date-only endDate stands for the end of that UTC day. */
  readonly endMs: number;
  /** As served; undefined is served without an endDate. */
  readonly endDate: string | undefined;
  readonly windowStartHour: number;
  readonly windowHours: number;
  /** The status as served: one of the nine known ones, or (with --campaign-unknown-statuses) not. */
  status: string;
  /** The listing (campaignStatus query) that serves the campaign. */
  listedUnder: KnownCampaignStatus;
  /** False: listed without a status key, so a reader must take the listing's status. */
  readonly statusKey: boolean;
  readonly deviceCount: number;
  /** Offset of the first device id from the API's device base. */
  readonly firstDevice: number;
  readonly deviceSeed: number;
  readonly createdGeneration: number;
  readonly createdMs: number;
  /** Active ticks the campaign had before it was created here (the history it starts with). */
  readonly initialTicks: number;
  /** Simulated time of active tick 0, for the times of ticks before creation. */
  readonly activeFromMs: number;
  /** The generations of the active ticks since creation, ascending. */
  readonly tickGenerations: number[];
  stop: CampaignStop | null;
  spike: CampaignSpike | null;
  /** Stays Scheduled for days past its endDate, devices still pending: the "stuck" case. */
  readonly stuck: boolean;
  /** A campaign of an unknown status: its status never changes, its devices move into an unknown one. */
  readonly paused: boolean;
  /** Bumped on every change, so derived summaries can tell they are stale. */
  version: number;
}

export interface CampaignSpikeResult {
  readonly api: CampaignApi;
  readonly campaignId: string;
  readonly failedDevices: number;
}

export const DEVICE_ID_BASE: Readonly<Record<CampaignApi, number>> = {
  v2: 350_000_000_000_000,
  v3: 860_000_000_000_000,
};
/** ThingSpace keeps campaign history about as long as upgrade history. */
const HISTORY_MS = 182 * 86_400_000;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const DEPARTED_CURSOR_GENERATIONS = 1000;
const DEVICE_COUNT_SIGMA = 1.2;
const EMPTY_CAMPAIGN_CHANCE = 0.01;
/** Per-tick chances of moving on. */
const QUEUE_CHANCE = 0.25;
const REQUEST_FAIL_CHANCE = 0.02;
const SCHEDULE_CHANCE = 0.25;
const PRESCHEDULED_CHANCE = 0.3;
const CANCEL_CHANCE = 0.004;
const ABORT_CHANCE = 0.002;
const FAIL_CHANCE = 0.002;
/** Once past its end, a campaign ends within a couple of ticks; a stuck one days later. */
const END_CHANCE = 0.5;
const STUCK_EXTRA_MS = 5 * DAY_MS;
const STUCK_CHANCE = 0.15;
const NO_END_DATE_CHANCE = 0.05;
const NO_STATUS_KEY_CHANCE = 0.08;
/** One device in this many is rejected; other fates are per cent of the device hash. */
const REJECTED_EVERY = 25;
const NEVER_REPORTS_PERCENT = 5;
const FAILED_PERCENT = 12;
/** Ticks a finished campaign's devices had: enough for every device that reports. */
const FULL_TICKS = 64;

/** Weights of the statuses of initial campaigns beyond the first of each. */
const STATUS_WEIGHTS: Readonly<Record<KnownCampaignStatus, number>> = {
  CampaignRequestPending: 7,
  CampaignRequestQueued: 6,
  CampaignPreScheduled: 6,
  CampaignScheduled: 25,
  CampaignEnded: 38,
  CampaignCancelled: 6,
  CampaignAborted: 4,
  CampaignFailed: 4,
  CampaignRequestFailed: 4,
};

/** v2 has no CampaignPreScheduled (only the v3 lifecycle page knows it). */
function statusesOf(api: CampaignApi): readonly KnownCampaignStatus[] {
  return api === 'v2'
    ? CAMPAIGN_STATUSES.filter((status) => status !== 'CampaignPreScheduled')
    : CAMPAIGN_STATUSES;
}

export function isKnownCampaignStatus(status: string): status is KnownCampaignStatus {
  return (CAMPAIGN_STATUSES as readonly string[]).includes(status);
}

/** Listing order: oldest start first, then creation order. */
export function compareCampaigns(a: Campaign, b: Campaign): number {
  return a.startMs - b.startMs || a.seq - b.seq;
}

/** Active ticks the campaign has had by now. */
export function activeTicks(campaign: Campaign): number {
  return campaign.initialTicks + campaign.tickGenerations.length;
}

/**
 * One device's path, derived on demand into reusable arrays (no allocation per device):
 * `steps` statuses, each with its reason (undefined: no resultReason key; null: JSON null), the
 * generation it was entered at, and when.
 */
export class DeviceTrack {
  deviceId = 0;
  steps = 0;
  readonly statuses: string[] = ['', '', ''];
  readonly reasons: (string | null | undefined)[] = [undefined, undefined, undefined];
  readonly generations: number[] = [0, 0, 0];
  readonly times: number[] = [0, 0, 0];
  /** v3 attempt times; NaN when there is none. */
  recentAttemptMs = NaN;
  nextAttemptMs = NaN;

  get status(): string {
    return this.statuses[this.steps - 1] ?? '';
  }

  get reason(): string | null | undefined {
    return this.reasons[this.steps - 1];
  }

  get updatedMs(): number {
    return this.times[this.steps - 1] ?? 0;
  }

  push(status: string, reason: string | null | undefined, generation: number, atMs: number): void {
    this.statuses[this.steps] = status;
    this.reasons[this.steps] = reason;
    this.generations[this.steps] = generation;
    this.times[this.steps] = atMs;
    this.steps += 1;
  }
}

function weighted<T extends { readonly weight: number }>(items: readonly T[], unit: number): T {
  const total = items.reduce((sum, item) => sum + item.weight, 0);
  let point = unit * total;
  for (const item of items) {
    point -= item.weight;
    if (point < 0) return item;
  }
  return items[items.length - 1] as T;
}

/**
 * Derives the state of the campaign's devices at the current generation. Built once per request or
 * truth pass: the per-campaign values are worked out here, not per device.
 */
export class DeviceDeriver {
  private readonly limit: number;
  private readonly base: number;
  private readonly tickStepMs: number;

  constructor(
    private readonly campaign: Campaign,
    private readonly clock: SimClock,
    tickStepMs: number,
  ) {
    const now = activeTicks(campaign);
    this.limit = campaign.spike === null ? now : Math.min(now, campaign.spike.ticks);
    this.base = DEVICE_ID_BASE[campaign.api] + campaign.firstDevice;
    this.tickStepMs = tickStepMs;
  }

  /** The generation of active tick k (1-based). */
  private generationOf(k: number): number {
    const c = this.campaign;
    if (k <= c.initialTicks) return c.createdGeneration;
    return c.tickGenerations[k - c.initialTicks - 1] ?? this.clock.generation;
  }

  /** The simulated time of active tick k. */
  private timeOf(k: number): number {
    const c = this.campaign;
    if (k <= c.initialTicks) return c.activeFromMs + k * this.tickStepMs;
    return this.clock.clockAt(this.generationOf(k));
  }

  /** Fills `track` with device i's path (i is its position in the list, 0-based). */
  derive(i: number, track: DeviceTrack): void {
    const c = this.campaign;
    const v3 = c.api === 'v3';
    const h = hashInts(c.deviceSeed, i);
    const h2 = mix32(h ^ 0x2545f491);
    const h3 = mix32(h2 ^ 0x68e31da4);
    track.deviceId = this.base + i;
    track.steps = 0;
    track.recentAttemptMs = NaN;
    track.nextAttemptMs = NaN;
    if (i % REJECTED_EVERY === REJECTED_EVERY >> 1) {
      // Rejections come in turn, so their reasons tie in weight: the top-N rule's tie-break matters.
      const reason = REJECTED_REASONS[Math.floor(i / REJECTED_EVERY) % REJECTED_REASONS.length];
      track.push('DeviceRejected', reason, c.createdGeneration, c.createdMs);
      return;
    }
    const pendingAt = 1 + ((h2 >>> 16) % 12);
    const doneAt = pendingAt + 1 + (h3 % 24);
    const neverReports = h2 % 100 < NEVER_REPORTS_PERCENT;
    track.push('Accepted', v3 ? null : undefined, c.createdGeneration, c.createdMs);
    if (c.paused) {
      // Devices of a campaign in an unknown status move into an unknown device status, and stay.
      if (pendingAt <= this.limit) {
        const since = this.timeOf(pendingAt);
        const until = Math.floor((since + (doneAt * HOUR_MS) / 4) / MINUTE_MS) * MINUTE_MS;
        track.push(
          UNKNOWN_DEVICE_STATUS,
          deferredReason(until),
          this.generationOf(pendingAt),
          since,
        );
      }
      return;
    }
    if (v3 && pendingAt <= this.limit) {
      const since = this.timeOf(pendingAt);
      const steps = neverReports ? 24 : doneAt - pendingAt;
      const estimate = Math.floor((since + steps * this.tickStepMs) / MINUTE_MS) * MINUTE_MS;
      track.push('UpgradePending', pendingReason(estimate), this.generationOf(pendingAt), since);
      track.recentAttemptMs = since;
      track.nextAttemptMs = estimate;
    }
    if (!neverReports && doneAt <= this.limit) {
      const at = this.timeOf(doneAt);
      const failed = (h2 >>> 8) % 100 < FAILED_PERCENT;
      const unit = (h3 >>> 8) / 16777216;
      let reason: string | undefined;
      if (failed) {
        reason = v3
          ? weighted(V3_FAILURE_REASONS, unit).text(h3)
          : weighted(V2_FAILURE_REASONS, unit).text;
      } else reason = v3 ? v3SuccessReason(at) : V2_SUCCESS_REASON;
      track.push(
        failed ? 'UpgradeFailed' : 'UpgradeSuccess',
        reason,
        this.generationOf(doneAt),
        at,
      );
      track.recentAttemptMs = at;
      track.nextAttemptMs = NaN;
      return;
    }
    if (c.spike !== null) {
      track.push('UpgradeFailed', SPIKE_REASONS[c.api], c.spike.generation, c.spike.atMs);
      track.recentAttemptMs = c.spike.atMs;
      track.nextAttemptMs = NaN;
    } else if (c.stop !== null) {
      const reason =
        c.stop.kind === 'CampaignCancelled'
          ? cancelledReason(c.api, c.stop.atMs)
          : V2_ABORTED_REASON;
      track.push(c.stop.kind, reason, c.stop.generation, c.stop.atMs);
      track.nextAttemptMs = NaN;
    }
  }

  deviceIdAt(i: number): number {
    return this.base + i;
  }

  /** Parses a device id back into its position in the list; null when it is not one of ours. */
  positionOf(deviceId: number): number | null {
    const i = deviceId - this.base;
    return Number.isInteger(i) && i >= 0 && i < this.campaign.deviceCount ? i : null;
  }

  /** Whether a device is still on its way (not rejected, not done): what a spike would fail. */
  pending(track: DeviceTrack): boolean {
    const status = track.status;
    return status === 'Accepted' || status === 'UpgradePending';
  }
}

function drawDeviceCount(rng: Random, mean: number, max: number): number {
  if (rng.chance(EMPTY_CAMPAIGN_CHANCE)) return 0;
  const mu = Math.log(Math.min(mean, max)) - (DEVICE_COUNT_SIGMA * DEVICE_COUNT_SIGMA) / 2;
  const count = Math.round(Math.exp(mu + DEVICE_COUNT_SIGMA * rng.normal()));
  return Math.min(max, Math.max(1, count));
}

function isoMinute(ms: number): string {
  return new Date(ms).toISOString();
}

/** A date, as served, and the instant it stands for. */
function datePair(
  approximateMs: number,
  dateOnly: boolean,
  end: boolean,
): { text: string; ms: number } {
  if (!dateOnly) {
    const ms = Math.floor(approximateMs / MINUTE_MS) * MINUTE_MS;
    return { text: isoMinute(ms), ms };
  }
  const midnight = Math.floor(approximateMs / DAY_MS) * DAY_MS;
  return {
    text: new Date(midnight).toISOString().slice(0, 10),
    ms: end ? midnight + DAY_MS : midnight,
  };
}

function fillName(template: string, pkg: CampaignPackage, seq: number, q: number): string {
  return template
    .replaceAll('{model}', pkg.model)
    .replaceAll('{make}', pkg.make)
    .replaceAll('{to}', pkg.to ?? pkg.name)
    .replaceAll('{n}', String(1 + (seq % 9)))
    .replaceAll('{q}', String(q));
}

/** What an initial campaign looks like, before its devices are counted. */
interface Draft {
  readonly account: string;
  readonly api: CampaignApi;
  readonly status: string;
  readonly listedUnder: KnownCampaignStatus;
  readonly paused: boolean;
  /** The first campaign of its status for this account and API. */
  readonly first: boolean;
}

type CampaignLists = Record<CampaignApi, Campaign[]>;

export class CampaignDataset {
  private readonly lists = new Map<string, CampaignLists>();
  private readonly byId = new Map<string, Campaign>();
  private readonly departed: { generation: number; id: string }[] = [];
  private nextSeq = 0;
  private readonly nextDevice: Record<CampaignApi, number> = { v2: 0, v3: 0 };

  constructor(
    private readonly options: CampaignOptions,
    readonly accounts: readonly string[],
    private readonly clock: SimClock,
  ) {
    const rng = new Random(options.seed, hashString('campaigns'));
    const drafts = this.plan(rng);
    const counts = drafts.map(() =>
      drawDeviceCount(rng, options.campaignDevicesMean, options.campaignDevicesMax),
    );
    if (options.campaignTotalDevices !== null) {
      fitDeviceCounts(counts, options.campaignTotalDevices, options.campaignDevicesMax, rng);
    }
    for (const account of accounts) this.lists.set(account, { v2: [], v3: [] });
    drafts.forEach((draft, i) => {
      const campaign = this.createInitial(rng, draft, counts[i] ?? 0);
      this.lists.get(draft.account)?.[draft.api].push(campaign);
    });
    for (const lists of this.lists.values()) {
      for (const api of CAMPAIGN_APIS) lists[api].sort(compareCampaigns);
    }
  }

  get generation(): number {
    return this.clock.generation;
  }

  get tickStepMs(): number {
    return this.options.tickStepMs;
  }

  hasAccount(account: string): boolean {
    return this.lists.has(account);
  }

  /** Every campaign of an account and API, in listing order. */
  campaigns(account: string, api: CampaignApi): readonly Campaign[] {
    return this.lists.get(account)?.[api] ?? [];
  }

  /** What the history endpoint lists for one campaignStatus, in listing order. */
  listing(account: string, api: CampaignApi, status: KnownCampaignStatus): Campaign[] {
    return this.campaigns(account, api).filter((campaign) => campaign.listedUnder === status);
  }

  /** Any campaign by id, including ones that recently left the history. */
  find(id: string): Campaign | undefined {
    return this.byId.get(id);
  }

  deriver(campaign: Campaign): DeviceDeriver {
    return new DeviceDeriver(campaign, this.clock, this.options.tickStepMs);
  }

  totals(): { campaigns: number; campaignDevices: number } {
    let campaigns = 0;
    let campaignDevices = 0;
    for (const lists of this.lists.values()) {
      for (const api of CAMPAIGN_APIS) {
        campaigns += lists[api].length;
        for (const campaign of lists[api]) campaignDevices += campaign.deviceCount;
      }
    }
    return { campaigns, campaignDevices };
  }

  /** One step of simulated time, once the clock has moved: status changes, active ticks, arrivals. */
  tick(): void {
    const generation = this.clock.generation;
    const clockMs = this.clock.clockMs;
    this.accounts.forEach((account, accountIndex) => {
      const lists = this.lists.get(account);
      if (lists === undefined) return;
      CAMPAIGN_APIS.forEach((api, apiIndex) => {
        const rng = new Random(
          this.options.seed,
          hashString('campaign-tick'),
          generation,
          accountIndex,
          apiIndex,
        );
        for (const campaign of lists[api]) this.move(rng, campaign, generation, clockMs);
        const kept = lists[api].filter((campaign) => {
          const gone =
            isFinalCampaignStatus(campaign.status) && campaign.endMs < clockMs - HISTORY_MS;
          if (gone) this.departed.push({ generation, id: campaign.id });
          return !gone;
        });
        for (let n = rng.poisson(this.options.campaignArrivalsPerTick); n > 0; n -= 1) {
          kept.push(this.createArrival(rng, account, api));
        }
        lists[api] = kept.sort(compareCampaigns);
      });
    });
    while (
      this.departed.length > 0 &&
      (this.departed[0]?.generation ?? 0) < generation - DEPARTED_CURSOR_GENERATIONS
    ) {
      const gone = this.departed.shift();
      if (gone !== undefined) this.byId.delete(gone.id);
    }
  }

  /**
   * The campaign side of the failure-spike scenario, once the clock has counted it: per API, the
   * account's campaign with the most devices still on the way (a Scheduled one if any; ties to the
   * lowest id) has all of them fail.
   */
  failureSpike(account: string): CampaignSpikeResult[] {
    const results: CampaignSpikeResult[] = [];
    const lists = this.lists.get(account);
    if (lists === undefined) return results;
    const track = new DeviceTrack();
    for (const api of CAMPAIGN_APIS) {
      let best: { campaign: Campaign; pending: number; scheduled: boolean } | null = null;
      for (const campaign of lists[api]) {
        if (campaign.paused || isFinalCampaignStatus(campaign.status)) continue;
        const deriver = this.deriver(campaign);
        let pending = 0;
        for (let i = 0; i < campaign.deviceCount; i += 1) {
          deriver.derive(i, track);
          if (deriver.pending(track)) pending += 1;
        }
        if (pending === 0) continue;
        const scheduled = campaign.status === 'CampaignScheduled';
        const better =
          best === null ||
          (scheduled && !best.scheduled) ||
          (scheduled === best.scheduled &&
            (pending > best.pending ||
              (pending === best.pending && campaign.id < best.campaign.id)));
        if (better) best = { campaign, pending, scheduled };
      }
      if (best === null) continue;
      best.campaign.spike = {
        generation: this.clock.generation,
        atMs: this.clock.clockMs,
        ticks: activeTicks(best.campaign),
      };
      best.campaign.version += 1;
      results.push({ api, campaignId: best.campaign.id, failedDevices: best.pending });
    }
    return results;
  }

  private move(rng: Random, campaign: Campaign, generation: number, clockMs: number): void {
    if (campaign.paused) {
      // An unknown status never changes here, but its devices move on.
      campaign.tickGenerations.push(generation);
      campaign.version += 1;
      return;
    }
    const before = campaign.status;
    const point = rng.float();
    const stop = (kind: CampaignStop['kind']): void => {
      campaign.status = kind;
      campaign.stop = { generation, atMs: clockMs, kind };
    };
    switch (before) {
      case 'CampaignRequestPending':
        if (point < QUEUE_CHANCE) campaign.status = 'CampaignRequestQueued';
        else if (point < QUEUE_CHANCE + REQUEST_FAIL_CHANCE)
          campaign.status = 'CampaignRequestFailed';
        else if (point < QUEUE_CHANCE + REQUEST_FAIL_CHANCE + CANCEL_CHANCE)
          stop('CampaignCancelled');
        break;
      case 'CampaignRequestQueued':
        if (point < SCHEDULE_CHANCE) {
          campaign.status = campaign.api === 'v3' ? 'CampaignPreScheduled' : 'CampaignScheduled';
        } else if (point < SCHEDULE_CHANCE + CANCEL_CHANCE) stop('CampaignCancelled');
        break;
      case 'CampaignPreScheduled':
        if (point < PRESCHEDULED_CHANCE) campaign.status = 'CampaignScheduled';
        else if (point < PRESCHEDULED_CHANCE + CANCEL_CHANCE) stop('CampaignCancelled');
        break;
      case 'CampaignScheduled': {
        const endsAt = campaign.endMs + (campaign.stuck ? STUCK_EXTRA_MS : 0);
        if (clockMs >= endsAt) {
          if (point < END_CHANCE) campaign.status = 'CampaignEnded';
        } else if (point < CANCEL_CHANCE) stop('CampaignCancelled');
        else if (point < CANCEL_CHANCE + ABORT_CHANCE) stop('CampaignAborted');
        else if (point < CANCEL_CHANCE + ABORT_CHANCE + FAIL_CHANCE) {
          campaign.status = 'CampaignFailed';
        }
        break;
      }
      default:
        break;
    }
    if (campaign.status !== before) {
      if (isKnownCampaignStatus(campaign.status)) campaign.listedUnder = campaign.status;
      campaign.version += 1;
    }
    if (campaign.status === 'CampaignScheduled') {
      campaign.tickGenerations.push(generation);
      campaign.version += 1;
    }
  }

  /** The statuses of each account's and API's initial campaigns. */
  private plan(rng: Random): Draft[] {
    const drafts: Draft[] = [];
    const plan = this.options.campaignsPerAccount;
    for (const account of this.accounts) {
      for (const api of CAMPAIGN_APIS) {
        const statuses: KnownCampaignStatus[] = [];
        if ('perStatus' in plan) {
          for (const status of CAMPAIGN_STATUSES) {
            for (let n = plan.perStatus[status]; n > 0; n -= 1) statuses.push(status);
          }
        } else {
          // Every status of the API once (in a seeded order), then a realistic mix.
          const each = [...statusesOf(api)];
          for (let i = each.length - 1; i > 0; i -= 1) {
            const j = rng.int(0, i);
            [each[i], each[j]] = [each[j] as KnownCampaignStatus, each[i] as KnownCampaignStatus];
          }
          const weights = statusesOf(api).map((status) => ({
            status,
            weight: STATUS_WEIGHTS[status],
          }));
          for (let n = 0; n < plan.mix; n += 1) {
            statuses.push(each[n] ?? weighted(weights, rng.float()).status);
          }
        }
        const seen = new Set<string>();
        for (const status of statuses) {
          drafts.push({
            account,
            api,
            status,
            listedUnder: status,
            paused: false,
            first: !seen.has(status),
          });
          seen.add(status);
        }
        for (let k = 0; k < this.options.campaignUnknownStatuses; k += 1) {
          const status = UNKNOWN_CAMPAIGN_STATUSES[k] ?? `CampaignStatus${k + 1}`;
          const listings = [
            'CampaignScheduled',
            'CampaignRequestQueued',
            'CampaignPreScheduled',
          ] as const;
          const listedUnder = listings[k % listings.length] ?? 'CampaignScheduled';
          drafts.push({ account, api, status, listedUnder, paused: true, first: false });
        }
      }
    }
    return drafts;
  }

  /** An initial campaign with a history consistent with its status at the starting clock. */
  private createInitial(rng: Random, draft: Draft, deviceCount: number): Campaign {
    const now = this.clock.clockMs;
    const duration = rng.int(3, 30) * DAY_MS;
    const step = this.options.tickStepMs;
    let startApprox = now - rng.float() * 10 * DAY_MS;
    let endApprox = startApprox + duration;
    let initialTicks = 0;
    let stoppedAt = now;
    let stop: CampaignStop | null = null;
    let stuck = false;
    switch (draft.paused ? 'paused' : draft.status) {
      case 'CampaignRequestPending':
      case 'CampaignRequestQueued':
      case 'CampaignPreScheduled':
        startApprox = now + (rng.float() * 3 - 1) * DAY_MS;
        endApprox = startApprox + duration;
        break;
      case 'CampaignScheduled':
        stuck = rng.chance(STUCK_CHANCE);
        endApprox = stuck
          ? now - (0.5 + rng.float() * 3.5) * DAY_MS
          : Math.max(startApprox + duration, now + (1 + rng.float() * 19) * DAY_MS);
        if (stuck) startApprox = endApprox - duration;
        initialTicks = rng.int(0, 40);
        break;
      case 'CampaignEnded':
        // The first ended campaign of each account and API ended within the default lookback.
        endApprox = now - rng.float() * (draft.first ? 3 : 120) * DAY_MS;
        startApprox = endApprox - duration;
        initialTicks = FULL_TICKS;
        stoppedAt = endApprox;
        break;
      case 'CampaignCancelled':
      case 'CampaignAborted':
      case 'CampaignFailed':
        startApprox = now - (1 + rng.float() * 59) * DAY_MS;
        endApprox = startApprox + duration;
        initialTicks = rng.int(0, 20);
        stoppedAt = Math.min(now, startApprox + initialTicks * step + DAY_MS);
        if (draft.status !== 'CampaignFailed') {
          stop = { generation: 0, atMs: stoppedAt, kind: draft.status as CampaignStop['kind'] };
        }
        break;
      case 'CampaignRequestFailed':
        startApprox = now - rng.float() * 30 * DAY_MS;
        endApprox = startApprox + duration;
        break;
      default:
        initialTicks = rng.int(0, 20);
        break;
    }
    const activeFromMs = Math.min(now, stoppedAt) - initialTicks * step;
    const createdMs = Math.min(startApprox, activeFromMs);
    return this.create(rng, {
      account: draft.account,
      api: draft.api,
      status: draft.status,
      listedUnder: draft.listedUnder,
      paused: draft.paused,
      startApprox,
      endApprox,
      deviceCount,
      createdMs,
      initialTicks,
      activeFromMs,
      stop,
      stuck,
    });
  }

  private createArrival(rng: Random, account: string, api: CampaignApi): Campaign {
    const now = this.clock.clockMs;
    return this.create(rng, {
      account,
      api,
      status: 'CampaignRequestPending',
      listedUnder: 'CampaignRequestPending',
      paused: false,
      startApprox: now,
      endApprox: now + rng.int(3, 30) * DAY_MS,
      deviceCount: drawDeviceCount(
        rng,
        this.options.campaignDevicesMean,
        this.options.campaignDevicesMax,
      ),
      createdMs: now,
      initialTicks: 0,
      activeFromMs: now,
      stop: null,
      stuck: rng.chance(STUCK_CHANCE),
    });
  }

  private create(
    rng: Random,
    spec: {
      account: string;
      api: CampaignApi;
      status: string;
      listedUnder: KnownCampaignStatus;
      paused: boolean;
      startApprox: number;
      endApprox: number;
      deviceCount: number;
      createdMs: number;
      initialTicks: number;
      activeFromMs: number;
      stop: CampaignStop | null;
      stuck: boolean;
    },
  ): Campaign {
    const packages = PACKAGES[spec.api];
    const pkg = packages[rng.int(0, packages.length - 1)] as CampaignPackage;
    const seq = this.nextSeq++;
    const nameTemplate = CAMPAIGN_NAMES[rng.int(0, CAMPAIGN_NAMES.length - 1)] ?? '';
    const dateOnly = rng.chance(0.5);
    const start = datePair(spec.startApprox, dateOnly, false);
    // An arrival starts now: a date-only start date must not put it in the future.
    const end = datePair(Math.max(spec.endApprox, start.ms + DAY_MS), dateOnly, true);
    const campaign: Campaign = {
      api: spec.api,
      id: rng.uuid(),
      seq,
      accountName: spec.account,
      name: fillName(nameTemplate, pkg, seq, 1 + rng.int(0, 3)),
      pkg,
      startMs: start.ms,
      startDate: start.text,
      endMs: end.ms,
      endDate: rng.chance(NO_END_DATE_CHANCE) ? undefined : end.text,
      windowStartHour: rng.int(0, 23),
      windowHours: rng.int(2, 8),
      status: spec.status,
      listedUnder: spec.listedUnder,
      // An unknown status must be served: a reader would take the listing's status instead.
      statusKey: !rng.chance(NO_STATUS_KEY_CHANCE) || spec.paused,
      deviceCount: spec.deviceCount,
      firstDevice: this.nextDevice[spec.api],
      deviceSeed: rng.uint32(),
      createdGeneration: this.clock.generation,
      createdMs: spec.createdMs,
      initialTicks: spec.initialTicks,
      activeFromMs: spec.activeFromMs,
      tickGenerations: [],
      stop: spec.stop,
      spike: null,
      stuck: spec.stuck,
      paused: spec.paused,
      version: 0,
    };
    this.nextDevice[spec.api] += spec.deviceCount;
    this.byId.set(campaign.id, campaign);
    return campaign;
  }
}
