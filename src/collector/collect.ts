/**
 * One collection: every status of every account, report requests limited to `concurrency` in flight across
 * all of them, each report aggregated as its pages arrive. The result is a new snapshot; the previous one
 * only supplies last good values for reports that fail now.
 */
import pLimit from 'p-limit';
import { ReportAggregator, type ReportCounts } from '../aggregate/report.js';
import { walkReport } from '../report/pager.js';
import type { ReportSource } from '../thingspace/client.js';
import { ThingSpaceError, type ErrorKind } from '../thingspace/errors.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import { reportKey, type ReportState, type Snapshot } from './snapshot.js';

export interface CollectOptions {
  accounts: readonly string[];
  concurrency: number;
  maxStaleMs: number;
  maxLabelValues: number;
  maxPages: number;
}

export interface CollectDeps {
  source: ReportSource;
  now: () => number;
  onReportFailed: (account: string, status: UpgradeStatus, error: ThingSpaceError) => void;
}

function errorOf(error: unknown): ThingSpaceError {
  if (error instanceof ThingSpaceError) return error;
  // Anything else is a bug of ours; it still fails only this report, never the process.
  return new ThingSpaceError(
    'parse',
    `unexpected ${(error as Error)?.name ?? 'error'}: ${String((error as Error)?.message ?? error).slice(0, 200)}`,
  );
}

export async function collect(
  options: CollectOptions,
  deps: CollectDeps,
  previous: Snapshot | undefined,
): Promise<Snapshot> {
  const started = deps.now();
  const limit = pLimit(options.concurrency);
  const before = new Map(previous?.reports.map((r) => [reportKey(r.account, r.status), r]));
  const accountDurations = new Map<string, number>();

  async function collectReport(account: string, status: UpgradeStatus): Promise<ReportState> {
    const aggregator = new ReportAggregator(options.maxLabelValues);
    let state: ReportState;
    try {
      const pages = await walkReport(
        deps.source,
        account,
        status,
        (page) => aggregator.addPage(page),
        options.maxPages,
        limit,
      );
      state = {
        account,
        status,
        success: true,
        lastSuccessSeconds: deps.now() / 1000,
        counts: aggregator.result(),
        pages,
      };
    } catch (caught) {
      const error = errorOf(caught);
      deps.onReportFailed(account, status, error);
      state = staleState(account, status, error.kind, before.get(reportKey(account, status)));
    }
    const elapsed = (deps.now() - started) / 1000;
    accountDurations.set(account, Math.max(accountDurations.get(account) ?? 0, elapsed));
    return state;
  }

  function staleState(
    account: string,
    status: UpgradeStatus,
    error: ErrorKind,
    last: ReportState | undefined,
  ): ReportState {
    const lastSuccessSeconds = last?.lastSuccessSeconds;
    const fresh =
      lastSuccessSeconds !== undefined &&
      deps.now() - lastSuccessSeconds * 1000 <= options.maxStaleMs;
    const counts: ReportCounts | undefined = fresh ? last?.counts : undefined;
    return {
      account,
      status,
      success: false,
      error,
      lastSuccessSeconds,
      counts,
      pages: counts && last?.pages,
    };
  }

  // Start the reports that took the most pages last time first: the longest chain of pages bounds the
  // collection, and p-limit serves requests in the order they queue.
  const pairs = options.accounts.flatMap((account) =>
    UPGRADE_STATUSES.map((status) => ({ account, status })),
  );
  const lastPages = (p: (typeof pairs)[number]) =>
    before.get(reportKey(p.account, p.status))?.pages ?? 0;
  const reports: ReportState[] = new Array(pairs.length);
  await Promise.all(
    pairs
      .map((pair, index) => ({ ...pair, index }))
      .sort((a, b) => lastPages(b) - lastPages(a))
      .map(async ({ account, status, index }) => {
        reports[index] = await collectReport(account, status);
      }),
  );
  return {
    startedAtSeconds: started / 1000,
    durationSeconds: (deps.now() - started) / 1000,
    reports,
    accountDurations,
  };
}
