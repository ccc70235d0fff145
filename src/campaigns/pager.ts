/**
 * Paging through the campaign APIs: the campaign history of one status, and the device list of one campaign,
 * both by cursor (src/thingspace/paging.ts keeps the loop guards). Pages are handed on as they arrive and
 * not kept.
 *
 * The v3 history has two published paths: the SDK's `/firmware/campaigns` and the documentation's
 * `/campaigns`. Nothing says which one the live service answers, so the SDK's is tried first and the other on
 * a 404 (and, until one has answered, the other first after a 404); the one that answered is remembered (and
 * logged) for the life of the process.
 */
import type { Schedule, ThingSpaceApi } from '../thingspace/client.js';
import { ThingSpaceError } from '../thingspace/errors.js';
import { FIRST_CURSOR, pageThrough } from '../thingspace/paging.js';
import {
  parseCampaignDevices,
  parseCampaignListing,
  type CampaignDevicePage,
  type CampaignListingPage,
} from './schema.js';
import type { CampaignApi } from './statuses.js';

/** The v3 history paths, in the order tried. */
export const V3_LISTING_PATHS = ['firmware/campaigns', 'campaigns'] as const;
export type V3ListingPath = (typeof V3_LISTING_PATHS)[number];

/** Which v3 history path answers, once one has; shared by every account (it is one service). */
export class ListingPaths {
  private answered: V3ListingPath | undefined;
  /** The path that last answered 404 while none had answered yet: the others go first meanwhile. */
  private missed: V3ListingPath | undefined;

  constructor(private readonly onFound: (path: V3ListingPath) => void = () => undefined) {}

  candidates(api: CampaignApi): readonly string[] {
    if (api === 'v2') return ['campaigns'];
    const first = this.answered ?? V3_LISTING_PATHS.find((p) => p !== this.missed)!;
    return [first, ...V3_LISTING_PATHS.filter((p) => p !== first)];
  }

  notFound(api: CampaignApi, path: string): void {
    if (api === 'v3' && this.answered === undefined) this.missed = path as V3ListingPath;
  }

  found(api: CampaignApi, path: string): void {
    if (api !== 'v3' || path === this.answered) return;
    this.answered = path as V3ListingPath;
    this.onFound(this.answered);
  }
}

function base(api: CampaignApi, account: string): string {
  return `/api/fota/${api}/reports/${encodeURIComponent(account)}`;
}

export interface ListingWalk {
  readonly api: ThingSpaceApi;
  readonly version: CampaignApi;
  readonly account: string;
  readonly status: string;
  readonly paths: ListingPaths;
  readonly maxPages: number;
  readonly onPage: (page: CampaignListingPage) => void;
  /** Takes a request slot (--collector.concurrency) for each attempt; none: no limit. */
  readonly schedule?: Schedule;
}

/** One listing page, handed to `use` inside the slot of the attempt that fetched it. */
async function fetchListing<T>(
  walk: ListingWalk,
  cursor: string,
  use: (page: CampaignListingPage) => T,
): Promise<T> {
  const query = `campaignStatus=${encodeURIComponent(walk.status)}${
    cursor === FIRST_CURSOR ? '' : `&lastSeenCampaignId=${encodeURIComponent(cursor)}`
  }`;
  // The path is chosen when the attempt gets its slot, not when the request is queued: requests queued
  // before the first answer then take the path that has answered since, and only those already in flight
  // meet the other path's 404.
  const tried = new Set<string>();
  for (;;) {
    let path = '';
    const choose = (): string => {
      path = walk.paths.candidates(walk.version).find((p) => !tried.has(p))!;
      return `${base(walk.version, walk.account)}/${path}?${query}`;
    };
    try {
      return await walk.api.get(
        'campaigns',
        choose,
        (response) => {
          walk.paths.found(walk.version, path);
          return use(parseCampaignListing(response.body));
        },
        walk.schedule,
      );
    } catch (error) {
      const notHere = error instanceof ThingSpaceError && error.httpStatus === 404;
      if (notHere) walk.paths.notFound(walk.version, path);
      if (path !== '') tried.add(path);
      if (!notHere || tried.size >= walk.paths.candidates(walk.version).length) throw error;
    }
  }
}

/** Reads the whole history of one campaign status; resolves to the number of pages read. */
export function walkListing(walk: ListingWalk): Promise<number> {
  // As for reports (src/upgrades/pager.ts): a page is consumed inside its request slot, only the cursor
  // leaves it.
  return pageThrough(
    (cursor) =>
      fetchListing(walk, cursor, (page) => {
        walk.onPage(page);
        return { hasMore: page.hasMore, cursor: page.cursor };
      }),
    { maxPages: walk.maxPages, cursorName: 'lastSeenCampaignId' },
  );
}

export interface DeviceWalk {
  readonly api: ThingSpaceApi;
  readonly version: CampaignApi;
  readonly account: string;
  readonly campaignId: string;
  readonly maxPages: number;
  readonly onPage: (page: CampaignDevicePage) => void;
  /** Takes a request slot (--collector.concurrency) for each attempt; none: no limit. */
  readonly schedule?: Schedule;
}

export function devicesPath(
  version: CampaignApi,
  account: string,
  campaignId: string,
  cursor: string,
): string {
  const path = `${base(version, account)}/campaigns/${encodeURIComponent(campaignId)}/devices`;
  return cursor === FIRST_CURSOR ? path : `${path}?lastSeenDeviceId=${encodeURIComponent(cursor)}`;
}

/** Reads the whole device list of one campaign; resolves to the number of pages read. */
export function walkDevices(walk: DeviceWalk): Promise<number> {
  return pageThrough(
    (cursor) =>
      walk.api.get(
        'campaign_devices',
        devicesPath(walk.version, walk.account, walk.campaignId, cursor),
        (response) => {
          const page = parseCampaignDevices(response.body);
          walk.onPage(page);
          return { hasMore: page.hasMore, cursor: page.cursor };
        },
        walk.schedule,
      ),
    { maxPages: walk.maxPages, cursorName: 'lastSeenDeviceId' },
  );
}
