/**
 * Pages through one FOTA v1 report (one account, one status): index 0, then each answer's
 * `lastSeenUpgradeId`. Pages are handed to `onPage` as they arrive and not kept, so memory does not grow with
 * the report.
 */
import type { ThingSpaceApi } from '../thingspace/client.js';
import { pageThrough } from '../thingspace/paging.js';
import { parseReportPage, type ReportPage } from './schema.js';
import type { UpgradeStatus } from './statuses.js';

/** Runs one page's fetch and aggregation, e.g. inside a concurrency limit; by default, at once. */
export type Schedule = <T>(task: () => Promise<T>) => Promise<T>;

export interface ReportWalk {
  readonly api: ThingSpaceApi;
  readonly account: string;
  readonly status: UpgradeStatus;
  readonly maxPages: number;
  readonly onPage: (page: ReportPage) => void;
  readonly schedule?: Schedule;
}

export function reportPath(account: string, status: UpgradeStatus, index: string): string {
  return `/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/${encodeURIComponent(index)}`;
}

/** One validated page of a report. */
export async function fetchReportPage(
  api: ThingSpaceApi,
  account: string,
  status: UpgradeStatus,
  index: string,
): Promise<ReportPage> {
  const response = await api.get('reports', reportPath(account, status, index));
  return parseReportPage(response.body);
}

/** Reads the whole report; resolves to the number of pages read. */
export function walkReport(walk: ReportWalk): Promise<number> {
  const schedule: Schedule = walk.schedule ?? ((task) => task());
  // A page is aggregated inside its scheduled task and dropped there: only the cursor leaves it. A page
  // held while this report waits for a request slot behind hundreds of others, or carried through the
  // limiter's promises, would keep pages alive that nobody needs.
  return pageThrough(
    (index) =>
      schedule(async () => {
        const page = await fetchReportPage(walk.api, walk.account, walk.status, index);
        walk.onPage(page);
        return { hasMore: page.hasMore, cursor: page.cursor };
      }),
    { maxPages: walk.maxPages, cursorName: 'lastSeenUpgradeId' },
  );
}
