/**
 * Collections: every status of every account (FOTA v1) and every campaign API of every account (v2, v3),
 * requests limited to `concurrency` in flight across all of them, each list aggregated as its pages arrive.
 * A collection's result is a new snapshot; the previous one only supplies last good values for work that
 * fails now. The Collector also keeps what must outlive one collection: the arrival memories behind the
 * entered counters.
 */
import pLimit from 'p-limit';
import type { Clock } from '../clock.js';
import { EnteredCounters } from '../arrivals/entered.js';
import { ReportMemory } from '../arrivals/report-memory.js';
import type { Api } from '../campaigns/statuses.js';
import type { ThingSpaceApi } from '../thingspace/client.js';
import { ThingSpaceError } from '../thingspace/errors.js';
import { ReportAggregator } from '../upgrades/aggregate.js';
import { walkReport } from '../upgrades/pager.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import { isFresh, reportKey, type ReportState, type Snapshot } from './snapshot.js';

export interface CollectOptions {
  readonly accounts: readonly string[];
  readonly apis: readonly Api[];
  readonly concurrency: number;
  readonly maxStaleMs: number;
  readonly maxLabelValues: number;
  readonly maxPages: number;
  /** How long one collection may wait on a throttled ThingSpace (the interval). */
  readonly budgetMs: number;
}

/** A piece of work that failed: one report, or one stage of one account's campaigns. */
export type Failure =
  | { readonly account: string; readonly status: UpgradeStatus; readonly error: ThingSpaceError }
  | {
      readonly account: string;
      readonly api: string;
      readonly stage: 'listing' | 'devices';
      readonly error: ThingSpaceError;
    };

export interface CollectDeps {
  readonly api: ThingSpaceApi;
  readonly clock: Clock;
  readonly onFailed: (failure: Failure) => void;
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
  private readonly memories = new Map<string, ReportMemory>();
  private previous: Snapshot | undefined;
  private deadlineMs = Infinity;
  private readonly originMs: number;

  constructor(
    private readonly options: CollectOptions,
    private readonly deps: CollectDeps,
  ) {
    this.entered = new EnteredCounters(options.accounts, options.apis);
    this.originMs = deps.clock.monotonicMs();
  }

  /** The monotonic instant the running collection's time budget ends (Infinity between collections). */
  get deadline(): number {
    return this.deadlineMs;
  }

  /** Ids remembered for the entered counters, and the bytes they take. */
  memoryUse(): { ids: number; bytes: number } {
    let ids = 0;
    let bytes = 0;
    for (const memory of this.memories.values()) {
      ids += memory.size;
      bytes += memory.bytes;
    }
    return { ids, bytes };
  }

  async collect(): Promise<Snapshot> {
    const { clock } = this.deps;
    const startedWall = clock.wallMs();
    const startedMono = clock.monotonicMs();
    this.deadlineMs = startedMono + this.options.budgetMs;
    const limit = pLimit(this.options.concurrency);
    const accountDurations = new Map<string, number>();
    const finished = (account: string) => {
      const elapsed = (clock.monotonicMs() - startedMono) / 1000;
      accountDurations.set(account, Math.max(accountDurations.get(account) ?? 0, elapsed));
    };
    try {
      const reports = this.options.apis.includes('v1')
        ? await this.collectReports(limit, finished)
        : [];
      const snapshot: Snapshot = {
        startedAtSeconds: startedWall / 1000,
        durationSeconds: (clock.monotonicMs() - startedMono) / 1000,
        reports,
        accountDurations,
      };
      this.previous = snapshot;
      this.entered.publish();
      return snapshot;
    } finally {
      this.deadlineMs = Infinity;
    }
  }

  private async collectReports(
    limit: ReturnType<typeof pLimit>,
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
          reports[index] = await this.collectReport(
            account,
            status,
            limit,
            before.get(reportKey(account, status)),
          );
          finished(account);
        }),
    );
    return reports;
  }

  private memory(key: string): ReportMemory {
    let memory = this.memories.get(key);
    if (!memory) this.memories.set(key, (memory = new ReportMemory(this.originMs)));
    return memory;
  }

  private async collectReport(
    account: string,
    status: UpgradeStatus,
    limit: ReturnType<typeof pLimit>,
    last: ReportState | undefined,
  ): Promise<ReportState> {
    const { clock } = this.deps;
    const aggregator = new ReportAggregator(this.options.maxLabelValues);
    const memory = this.memory(reportKey(account, status));
    memory.beginPass(clock.monotonicMs());
    let state: ReportState;
    let complete = false;
    try {
      const pages = await walkReport({
        api: this.deps.api,
        account,
        status,
        maxPages: this.options.maxPages,
        schedule: limit,
        onPage: (page) => {
          aggregator.addPage(page);
          for (const upgrade of page.upgrades) {
            memory.see(upgrade.id, upgrade.deviceList ? upgrade.deviceList.length : 0);
          }
        },
      });
      complete = true;
      state = {
        account,
        status,
        success: true,
        lastSuccessSeconds: clock.wallMs() / 1000,
        counts: aggregator.result(),
        pages,
      };
    } catch (caught) {
      const error = errorOf(caught);
      this.deps.onFailed({ account, status, error });
      const fresh = isFresh(last?.lastSuccessSeconds, clock.wallMs(), this.options.maxStaleMs);
      state = {
        account,
        status,
        success: false,
        error: error.kind,
        message: error.message,
        lastSuccessSeconds: last?.lastSuccessSeconds,
        counts: fresh ? last?.counts : undefined,
        pages: fresh ? last?.pages : undefined,
      };
    }
    const pass = memory.endPass(complete, clock.monotonicMs());
    const labels = { account, status };
    this.entered.upgrades.add(labels, pass.arrivals);
    this.entered.upgradeDevices.add(labels, pass.devices);
    this.entered.upgradesObserved.add(labels, pass.observedSeconds);
    return state;
  }
}
