/**
 * Collections: every status of every account (FOTA v1) and every campaign API of every account (v2, v3),
 * requests limited to `concurrency` in flight across all of them, each list aggregated as its pages arrive.
 * A collection's result is a new snapshot; the previous one only supplies last good values for work that
 * fails now. The Collector also keeps what must outlive one collection: the arrival memories behind the
 * entered counters, and which v3 history path answers.
 */
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { CampaignMemory } from '../arrivals/campaign-memory.js';
import {
  campaignArrivals,
  upgradeArrivals,
  type CampaignArrivalDetail,
} from '../arrivals/details.js';
import { EnteredCounters } from '../arrivals/entered.js';
import type { ArrivalJournal } from '../arrivals/journal.js';
import { ReportMemory } from '../arrivals/report-memory.js';
import { collectCampaigns, type CampaignStage } from '../campaigns/collect.js';
import { ListingPaths, type V3ListingPath } from '../campaigns/pager.js';
import { CAMPAIGN_APIS, type Api, type CampaignApi } from '../campaigns/statuses.js';
import { ReasonLabels } from '../labels/normalise.js';
import type { ThingSpaceApi } from '../thingspace/client.js';
import { ThingSpaceError } from '../thingspace/errors.js';
import { collectReport } from '../upgrades/collect.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import { reportKey, type CampaignApiState, type ReportState, type Snapshot } from './snapshot.js';

/** Report or campaign passes open at once, per request slot: enough to keep every slot busy. */
const PASSES_PER_REQUEST_SLOT = 4;

export interface CollectOptions {
  readonly accounts: readonly string[];
  readonly apis: readonly Api[];
  readonly concurrency: number;
  readonly maxStaleMs: number;
  readonly maxLabelValues: number;
  readonly maxPages: number;
  readonly campaignLookbackMs: number;
  readonly maxCampaigns: number;
  /** How long one collection may wait on a throttled ThingSpace (the interval). */
  readonly budgetMs: number;
}

/** A piece of work that failed: one report, or one stage of one account's campaigns of one API. */
export type Failure =
  | { readonly account: string; readonly status: UpgradeStatus; readonly error: ThingSpaceError }
  | {
      readonly account: string;
      readonly api: CampaignApi;
      readonly stage: CampaignStage;
      readonly error: ThingSpaceError;
    };

export interface CollectDeps {
  readonly api: ThingSpaceApi;
  readonly clock: Clock;
  readonly onFailed: (failure: Failure) => void;
  /** Called once the v3 history path that answers is known. */
  readonly onV3ListingPath?: (path: V3ListingPath) => void;
  /**
   * Called after a collection's passes, before its entered counters are published (the --storage.path
   * snapshot is written there, so that it never holds less than what a scrape may have seen).
   */
  readonly beforePublish?: (snapshot: Snapshot) => Promise<void>;
  /** Where the arrivals the entered counters count are kept in detail (--arrivals.enabled). */
  readonly journal?: ArrivalJournal;
}

/** Anything that is not a ThingSpaceError is a bug of ours; it still fails only its own work, never the process. */
export function errorOf(error: unknown): ThingSpaceError {
  if (error instanceof ThingSpaceError) return error;
  return new ThingSpaceError(
    'internal',
    `unexpected ${(error as Error)?.name ?? 'error'}: ${String((error as Error)?.message ?? error).slice(0, 200)}`,
  );
}

export class Collector {
  readonly entered: EnteredCounters;
  private readonly reportMemories = new Map<string, ReportMemory>();
  private readonly campaignMemories = new Map<string, CampaignMemory<CampaignArrivalDetail>>();
  private readonly paths: ListingPaths;
  private readonly reasons = new ReasonLabels();
  private readonly campaignApis: readonly CampaignApi[];
  private previous: Snapshot | undefined;
  private deadlineMs = Infinity;
  private readonly originMs: number;

  constructor(
    private readonly options: CollectOptions,
    private readonly deps: CollectDeps,
  ) {
    this.entered = new EnteredCounters(options.accounts, options.apis);
    this.originMs = deps.clock.monotonicMs();
    this.paths = new ListingPaths(deps.onV3ListingPath);
    this.campaignApis = CAMPAIGN_APIS.filter((api) => options.apis.includes(api));
  }

  /** The monotonic instant the running collection's time budget ends (Infinity between collections). */
  get deadline(): number {
    return this.deadlineMs;
  }

  /**
   * The id memories, v1 reports by reportKey(account, status) and campaigns by reportKey(account, api), for
   * the --storage.path snapshot: restored into before the first collection, read between collections.
   */
  get memories(): {
    readonly reports: Map<string, ReportMemory>;
    readonly campaigns: Map<string, CampaignMemory>;
  } {
    return { reports: this.reportMemories, campaigns: this.campaignMemories };
  }

  /** Ids and devices remembered for the entered counters, and the bytes they take. */
  memoryUse(): { ids: number; bytes: number } {
    let ids = 0;
    let bytes = 0;
    for (const memory of this.reportMemories.values()) {
      ids += memory.size;
      bytes += memory.bytes;
    }
    for (const memory of this.campaignMemories.values()) {
      ids += memory.size.devices;
      bytes += memory.size.bytes;
    }
    return { ids, bytes };
  }

  async collect(): Promise<Snapshot> {
    const { clock } = this.deps;
    const startedWall = clock.wallMs();
    const startedMono = clock.monotonicMs();
    this.deadlineMs = startedMono + this.options.budgetMs;
    const limit = pLimit(this.options.concurrency);
    // Requests are limited by `limit`; passes (each with its aggregation state) by `passes`, so that 500
    // accounts do not hold 3,000 half-read reports at once while only `concurrency` requests can move.
    const passes = pLimit(this.options.concurrency * PASSES_PER_REQUEST_SLOT);
    const accountDurations = new Map<string, number>();
    const finished = (account: string) => {
      const elapsed = (clock.monotonicMs() - startedMono) / 1000;
      accountDurations.set(account, Math.max(accountDurations.get(account) ?? 0, elapsed));
    };
    try {
      // Both sources share the request slots: v1 reports and campaigns queue together.
      const [reports, campaigns] = await Promise.all([
        this.options.apis.includes('v1') ? this.collectReports(limit, passes, finished) : [],
        this.collectAllCampaigns(limit, passes, finished),
      ]);
      const snapshot: Snapshot = {
        startedAtSeconds: startedWall / 1000,
        durationSeconds: (clock.monotonicMs() - startedMono) / 1000,
        reports,
        campaigns,
        accountDurations,
      };
      this.previous = snapshot;
      await this.deps.beforePublish?.(snapshot);
      this.entered.publish();
      this.deps.journal?.publish();
      return snapshot;
    } finally {
      this.deadlineMs = Infinity;
    }
  }

  private async collectReports(
    limit: ReturnType<typeof pLimit>,
    passes: ReturnType<typeof pLimit>,
    finished: (account: string) => void,
  ): Promise<ReportState[]> {
    const before = new Map(this.previous?.reports.map((r) => [reportKey(r.account, r.status), r]));
    // Start the reports that took the most pages last time first: the longest chain of pages bounds the
    // collection, and p-limit serves requests in the order they queue.
    const pairs = this.options.accounts.flatMap((account, a) =>
      UPGRADE_STATUSES.map((status, s) => ({
        account,
        status,
        index: a * UPGRADE_STATUSES.length + s,
        lastPages: before.get(reportKey(account, status))?.pages ?? 0,
      })),
    );
    const reports: ReportState[] = new Array(pairs.length);
    await Promise.all(
      pairs
        .sort((a, b) => b.lastPages - a.lastPages)
        .map(async ({ account, status, index }) => {
          reports[index] = await passes(() =>
            this.collectReport(account, status, limit, before.get(reportKey(account, status))),
          );
          finished(account);
        }),
    );
    return reports;
  }

  private async collectReport(
    account: string,
    status: UpgradeStatus,
    limit: ReturnType<typeof pLimit>,
    last: ReportState | undefined,
  ): Promise<ReportState> {
    const { clock } = this.deps;
    const key = reportKey(account, status);
    let memory = this.reportMemories.get(key);
    if (!memory) this.reportMemories.set(key, (memory = new ReportMemory(this.originMs)));
    memory.beginPass(clock.monotonicMs());
    const { journal } = this.deps;
    const { state, complete } = await collectReport(
      {
        api: this.deps.api,
        account,
        status,
        schedule: limit,
        memory,
        maxPages: this.options.maxPages,
        maxLabelValues: this.options.maxLabelValues,
        maxStaleMs: this.options.maxStaleMs,
        reasons: this.reasons,
        wallMs: () => clock.wallMs(),
        onFailed: (error) => this.deps.onFailed({ account, status, error }),
        errorOf,
        onArrival:
          journal &&
          ((upgrade) => {
            const granted = journal.take(Math.max(1, upgrade.deviceList?.length ?? 0));
            if (granted === 0) return;
            journal.add(
              upgradeArrivals(this.reasons, account, status, upgrade, clock.wallMs(), granted),
            );
          }),
      },
      last,
    );
    const pass = memory.endPass(complete, clock.monotonicMs());
    const labels = { account, status };
    this.entered.upgrades.add(labels, pass.arrivals);
    this.entered.upgradeDevices.add(labels, pass.devices);
    this.entered.upgradesObserved.add(labels, pass.observedSeconds);
    return state;
  }

  private async collectAllCampaigns(
    limit: ReturnType<typeof pLimit>,
    passes: ReturnType<typeof pLimit>,
    finished: (account: string) => void,
  ): Promise<CampaignApiState[]> {
    const before = new Map(this.previous?.campaigns.map((c) => [reportKey(c.account, c.api), c]));
    const work = this.options.accounts.flatMap((account) =>
      this.campaignApis.map((api) => ({ account, api })),
    );
    return Promise.all(
      work.map(async ({ account, api }) => {
        const state = await passes(() =>
          this.collectCampaigns(account, api, limit, before.get(reportKey(account, api))),
        );
        finished(account);
        return state;
      }),
    );
  }

  private async collectCampaigns(
    account: string,
    api: CampaignApi,
    limit: ReturnType<typeof pLimit>,
    last: CampaignApiState | undefined,
  ): Promise<CampaignApiState> {
    const { clock } = this.deps;
    const key = reportKey(account, api);
    const { journal } = this.deps;
    let memory = this.campaignMemories.get(key);
    if (!memory) {
      this.campaignMemories.set(
        key,
        (memory = new CampaignMemory<CampaignArrivalDetail>(this.options.maxLabelValues)),
      );
    }
    const state = await collectCampaigns(
      {
        api: this.deps.api,
        version: api,
        account,
        paths: this.paths,
        schedule: limit,
        memory,
        reasons: this.reasons,
        maxPages: this.options.maxPages,
        maxLabelValues: this.options.maxLabelValues,
        maxStaleMs: this.options.maxStaleMs,
        lookbackMs: this.options.campaignLookbackMs,
        maxCampaigns: this.options.maxCampaigns,
        wallMs: () => clock.wallMs(),
        monotonicMs: () => clock.monotonicMs(),
        onFailed: (stage, error) => this.deps.onFailed({ account, api, stage, error }),
        errorOf,
        arrivalDetail:
          journal &&
          ((campaign, device) => (journal.take(1) === 1 ? { campaign, device } : undefined)),
      },
      last,
    );
    // Completeness is judged per campaign by the memory: a failing walk holds back its own arrivals.
    const pass = memory.endPass(state.listing.success, clock.monotonicMs());
    for (const [device_status, count] of pass.arrivals) {
      this.entered.campaignDevices.add({ account, api, device_status }, count);
    }
    this.entered.campaignDevicesObserved.add({ account, api }, pass.observedSeconds);
    journal?.add(
      campaignArrivals(
        this.reasons,
        account,
        api,
        pass.details,
        pass.detailStatuses,
        clock.wallMs(),
      ),
    );
    return state;
  }
}
