/**
 * One pass over the campaigns of one account × API: the history of every campaign status, then the devices
 * of the campaigns worth walking, aggregated as pages arrive, and the arrivals counted. A listing or a walk
 * that fails keeps its last good result while it is younger than max-stale; nothing here touches v1.
 */
import type { CampaignMemory } from '../arrivals/campaign-memory.js';
import type { CampaignArrivalDetail } from '../arrivals/details.js';
import type { ReasonLabels } from '../labels/normalise.js';
import { keepWhileFresh, type Outcome } from '../outcome.js';
import type { ThingSpaceApi } from '../thingspace/client.js';
import type { ThingSpaceError } from '../thingspace/errors.js';
import type { Schedule } from '../upgrades/pager.js';
import {
  CampaignDeviceAggregator,
  countCampaigns,
  labelCampaignStatuses,
  listed,
  mergeWalks,
  selectWalks,
  type CampaignDeviceCounts,
  type CampaignWalkCounts,
  type ListedCampaign,
} from './aggregate.js';
import { walkDevices, walkListing, type ListingPaths } from './pager.js';
import type { CampaignDevice } from './schema.js';
import { CAMPAIGN_STATUSES, type CampaignApi } from './statuses.js';

export type CampaignStage = 'listing' | 'devices';

export interface CampaignListingState {
  readonly campaigns: readonly ListedCampaign[];
  readonly lastSuccessSeconds: number;
}

export interface CampaignWalkState {
  readonly counts: CampaignWalkCounts;
  readonly lastSuccessSeconds: number;
}

export interface CampaignCounts {
  /** Campaigns by campaign status (every known status whose listing is fresh, 0 when none). */
  readonly campaigns: ReadonlyMap<string, number>;
  /** Campaigns that qualified for a walk but were left out by --collector.max-campaigns. */
  readonly folded: number;
  readonly devices: CampaignDeviceCounts;
}

export interface CampaignApiState {
  readonly account: string;
  readonly api: CampaignApi;
  readonly listing: Outcome;
  readonly devices: Outcome;
  /** Per campaign status asked for: its last complete listing, while fresh. */
  readonly listings: ReadonlyMap<string, CampaignListingState>;
  /** Per walked campaign id: its last complete walk, while fresh. */
  readonly walks: ReadonlyMap<string, CampaignWalkState>;
  /** The series; undefined when no listing is fresh any more. */
  readonly counts?: CampaignCounts;
  /** Pages read by this pass. */
  readonly pages: number;
}

export interface CampaignPass {
  readonly api: ThingSpaceApi;
  readonly version: CampaignApi;
  readonly account: string;
  readonly paths: ListingPaths;
  readonly schedule: Schedule;
  readonly memory: CampaignMemory<CampaignArrivalDetail>;
  /**
   * The arrivals journal's detail of a campaign device that counts, or undefined when the journal is off or
   * has no room left in this collection (--arrivals.max-entries).
   */
  readonly arrivalDetail?: (
    campaign: ListedCampaign,
    device: CampaignDevice,
  ) => CampaignArrivalDetail | undefined;
  readonly reasons: ReasonLabels;
  readonly maxPages: number;
  readonly maxLabelValues: number;
  readonly maxStaleMs: number;
  readonly lookbackMs: number;
  readonly maxCampaigns: number;
  /** Wall clock (exported timestamps, lookback) and monotonic clock (memory). */
  readonly wallMs: () => number;
  readonly monotonicMs: () => number;
  readonly onFailed: (stage: CampaignStage, error: ThingSpaceError) => void;
  readonly errorOf: (caught: unknown) => ThingSpaceError;
}

interface StageResult {
  failed?: ThingSpaceError;
}

function outcome(result: StageResult, last: Outcome | undefined, nowSeconds: number): Outcome {
  if (!result.failed) return { success: true, lastSuccessSeconds: nowSeconds };
  return {
    success: false,
    error: result.failed.kind,
    message: result.failed.message,
    lastSuccessSeconds: last?.lastSuccessSeconds,
  };
}

export async function collectCampaigns(
  pass: CampaignPass,
  last: CampaignApiState | undefined,
): Promise<CampaignApiState> {
  let pages = 0;
  const lastGood = <V extends { readonly lastSuccessSeconds?: number }>(v: V | undefined) =>
    keepWhileFresh(v, pass.wallMs(), pass.maxStaleMs);
  const fail = (stage: CampaignStage, result: StageResult, caught: unknown) => {
    const error = pass.errorOf(caught);
    pass.onFailed(stage, error);
    result.failed ??= error;
  };

  // 1. The history of every known campaign status.
  const listing: StageResult = {};
  const listings = new Map<string, CampaignListingState>();
  const readNow: string[] = [];
  await Promise.all(
    CAMPAIGN_STATUSES.map(async (status) => {
      const campaigns: ListedCampaign[] = [];
      try {
        const listingPages = await walkListing({
          api: pass.api,
          version: pass.version,
          account: pass.account,
          status,
          paths: pass.paths,
          maxPages: pass.maxPages,
          schedule: pass.schedule,
          onPage: (page) => {
            for (const c of page.campaigns) {
              campaigns.push(listed(c, status));
              readNow.push(c.id);
            }
          },
        });
        pages += listingPages;
        listings.set(status, { campaigns, lastSuccessSeconds: pass.wallMs() / 1000 });
      } catch (caught) {
        fail('listing', listing, caught);
        const previous = lastGood(last?.listings.get(status));
        if (previous) listings.set(status, previous);
      }
    }),
  );
  pass.memory.listedCampaigns(readNow, !listing.failed, pass.monotonicMs());

  // Campaigns listed under two statuses (moved between two requests) count once, first status first.
  const seen = new Set<string>();
  const deduplicated: ListedCampaign[] = [];
  for (const status of CAMPAIGN_STATUSES) {
    for (const c of listings.get(status)?.campaigns ?? []) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      deduplicated.push(c);
    }
  }
  const campaigns = labelCampaignStatuses(deduplicated, pass.maxLabelValues);

  // 2. The devices of the campaigns worth walking.
  const devices: StageResult = {};
  const walks = new Map<string, CampaignWalkState>();
  const selection =
    listings.size > 0
      ? selectWalks(campaigns, pass.wallMs(), pass.lookbackMs, pass.maxCampaigns)
      : undefined;
  await Promise.all(
    (selection?.walk ?? []).map(async (campaign) => {
      const aggregator = new CampaignDeviceAggregator(pass.maxLabelValues, pass.reasons);
      const memory = pass.memory.walk(campaign.id, pass.monotonicMs());
      let complete = false;
      try {
        const devicePages = await walkDevices({
          api: pass.api,
          version: pass.version,
          account: pass.account,
          campaignId: campaign.id,
          maxPages: pass.maxPages,
          schedule: pass.schedule,
          onPage: (page) => {
            aggregator.addPage(page);
            const detail = pass.arrivalDetail;
            for (const device of page.devices)
              memory.see(
                device.deviceId,
                device.status,
                detail && (() => detail(campaign, device)),
              );
          },
        });
        pages += devicePages;
        complete = true;
        walks.set(campaign.id, {
          counts: aggregator.result(),
          lastSuccessSeconds: pass.wallMs() / 1000,
        });
      } catch (caught) {
        fail('devices', devices, caught);
        const previous = lastGood(last?.walks.get(campaign.id));
        if (previous) walks.set(campaign.id, previous);
      } finally {
        memory.end(complete);
      }
    }),
  );
  // No listing to choose walks from: the devices stage fails as well, and counts one error per pass (there
  // were no walks to count), so that its success of 0 has its error in campaign_collection_errors_total.
  if (!selection && listing.failed) fail('devices', devices, listing.failed);

  const nowSeconds = pass.wallMs() / 1000;
  return {
    account: pass.account,
    api: pass.version,
    listing: outcome(listing, last?.listing, nowSeconds),
    devices: outcome(devices, last?.devices, nowSeconds),
    listings,
    walks,
    pages,
    counts: selection && {
      campaigns: countCampaigns(
        campaigns,
        CAMPAIGN_STATUSES.filter((s) => listings.has(s)),
      ),
      folded: selection.folded,
      devices: mergeWalks(
        selection.walk.flatMap((campaign) => {
          const walk = walks.get(campaign.id);
          return walk ? [{ campaign, counts: walk.counts }] : [];
        }),
        pass.maxLabelValues,
      ),
    },
  };
}
