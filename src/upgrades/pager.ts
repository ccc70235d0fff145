/**
 * Pages through one FOTA v1 report (one account, one status): index 0, then each answer's
 * `lastSeenUpgradeId`. Pages are handed to `onPage` as they arrive and not kept, so memory does not grow with
 * the report.
 */
import type { Schedule, ThingSpaceApi } from '../thingspace/client.js';
import { pageThrough } from '../thingspace/paging.js';
import { parseReportPage, type ReportPage } from './schema.js';
import type { UpgradeStatus } from './statuses.js';

export type { Schedule } from '../thingspace/client.js';

export interface ReportWalk {
  readonly api: ThingSpaceApi;
  readonly account: string;
  readonly status: UpgradeStatus;
  readonly maxPages: number;
  readonly onPage: (page: ReportPage) => void;
  /** Takes a request slot (--collector.concurrency) for each attempt; none: no limit. */
  readonly schedule?: Schedule;
}

export function reportPath(account: string, status: UpgradeStatus, index: string): string {
  return `/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/${encodeURIComponent(index)}`;
}

/** One validated page of a report, handed to `use` inside the slot of the attempt that fetched it. */
export function fetchReportPage<T = ReportPage>(
  api: ThingSpaceApi,
  account: string,
  status: UpgradeStatus,
  index: string,
  use: (page: ReportPage) => T = (page) => page as T,
  schedule?: Schedule,
): Promise<T> {
  return api.get(
    'reports',
    reportPath(account, status, index),
    (response) => use(parseReportPage(response.body)),
    schedule,
  );
}

/** Reads the whole report; resolves to the number of pages read. */
export function walkReport(walk: ReportWalk): Promise<number> {
  // A page is aggregated inside the request slot of the attempt that fetched it and dropped there: only the
  // cursor leaves it. A page held while this report waits for a request slot behind hundreds of others, or
  // carried through the limiter's promises, would keep pages alive that nobody needs.
  return pageThrough(
    (index) =>
      fetchReportPage(
        walk.api,
        walk.account,
        walk.status,
        index,
        (page) => {
          walk.onPage(page);
          return { hasMore: page.hasMore, cursor: page.cursor };
        },
        walk.schedule,
      ),
    { maxPages: walk.maxPages, cursorName: 'lastSeenUpgradeId' },
  );
}
