/**
 * Pages through one report (one account, one status): index 0, then each answer's cursor while
 * `hasMoreFlag` says there is more. A cursor that is missing or comes back a second time, or a report longer
 * than maxPages, ends the pass with a pagination error instead of looping for ever.
 * Pages are handed to `onPage` as they arrive and not kept, so memory does not grow with the report.
 */
import type { ReportSource } from '../thingspace/client.js';
import { ThingSpaceError } from '../thingspace/errors.js';
import type { ReportPage } from '../thingspace/schema.js';
import type { UpgradeStatus } from '../upgrades/statuses.js';

/** Runs one page's fetch and aggregation, e.g. inside a concurrency limit; by default, at once. */
export type Schedule = <T>(task: () => Promise<T>) => Promise<T>;

export async function walkReport(
  source: ReportSource,
  account: string,
  status: UpgradeStatus,
  onPage: (page: ReportPage) => void,
  maxPages: number,
  schedule: Schedule = (task) => task(),
): Promise<number> {
  // A page is aggregated inside its scheduled task and dropped there: only the cursor leaves it. A page
  // held while this report waits for a request slot behind hundreds of others, or carried through the
  // limiter's promises, would keep pages alive that nobody needs.
  const readPage = (index: string) =>
    schedule(async () => {
      const page = await source.fetchReportPage(account, status, index);
      onPage(page);
      return { hasMore: page.hasMore, cursor: page.cursor };
    });
  const seenCursors = new Set<string>(['0']);
  let index = '0';
  for (let pages = 1; ; pages++) {
    const page = await readPage(index);
    if (!page.hasMore) return pages;
    if (page.cursor === undefined) {
      throw new ThingSpaceError(
        'pagination',
        `page ${pages} says hasMoreFlag but gives no lastSeenUpgradeId`,
      );
    }
    if (seenCursors.has(page.cursor)) {
      throw new ThingSpaceError(
        'pagination',
        `cursor "${page.cursor.slice(0, 64)}" repeated on page ${pages}`,
      );
    }
    if (pages >= maxPages) {
      throw new ThingSpaceError(
        'pagination',
        `report still has more after ${maxPages} pages (--collector.max-pages)`,
      );
    }
    seenCursors.add(page.cursor);
    index = page.cursor;
  }
}
