/**
 * ThingSpace pages every list by a cursor: ask without one (or with 0), then send back the answer's cursor
 * while it says there is more. The loop guards live here once for every list: a cursor that is missing or
 * comes back a second time, or a list longer than maxPages, ends the walk with a pagination error instead of
 * looping for ever.
 */
import { ThingSpaceError } from './errors.js';

export interface PageStep {
  readonly hasMore: boolean;
  /** The cursor for the next request, as text (ThingSpace sends numbers and strings). */
  readonly cursor: string | undefined;
}

export interface PagingOptions {
  readonly maxPages: number;
  /** The answer's cursor field, for error messages. */
  readonly cursorName: string;
  /** The flag that bounds maxPages, for error messages. */
  readonly maxPagesFlag?: string;
}

/** The cursor of the first request: 0, or none at all. */
export const FIRST_CURSOR = '0';

/** Reads pages until one says there is no more; returns the number of pages read. */
export async function pageThrough(
  read: (cursor: string) => Promise<PageStep>,
  options: PagingOptions,
): Promise<number> {
  const seen = new Set<string>([FIRST_CURSOR]);
  let cursor = FIRST_CURSOR;
  for (let pages = 1; ; pages++) {
    const page = await read(cursor);
    if (!page.hasMore) return pages;
    if (page.cursor === undefined) {
      throw new ThingSpaceError(
        'pagination',
        `page ${pages} says there is more but gives no ${options.cursorName}`,
      );
    }
    if (seen.has(page.cursor)) {
      throw new ThingSpaceError(
        'pagination',
        `${options.cursorName} "${page.cursor.slice(0, 64)}" repeated on page ${pages}`,
      );
    }
    if (pages >= options.maxPages) {
      throw new ThingSpaceError(
        'pagination',
        `still more after ${options.maxPages} pages (${options.maxPagesFlag ?? '--collector.max-pages'})`,
      );
    }
    seen.add(page.cursor);
    cursor = page.cursor;
  }
}

/** A cursor as ThingSpace sends it: a non-empty string or a whole number; anything else is a shape error. */
export function cursorText(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  throw new ThingSpaceError('parse', `${what} is neither a string nor a whole number`);
}
