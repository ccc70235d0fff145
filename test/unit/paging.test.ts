/**
 * The cursor loop every ThingSpace list shares (src/thingspace/paging.ts): its guards against a cursor
 * that is missing or comes back, and against lists longer than max-pages; and the cursor's two spellings.
 */
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import {
  cursorText,
  FIRST_CURSOR,
  pageThrough,
  type PageStep,
} from '../../src/thingspace/paging.js';

/** A list served as steps; records the cursor of every request. */
function list(...steps: PageStep[]) {
  const asked: string[] = [];
  const read = async (cursor: string): Promise<PageStep> => {
    asked.push(cursor);
    const step = steps[asked.length - 1];
    if (!step) throw new Error(`page ${asked.length} was not expected`);
    return step;
  };
  return { asked, read };
}

const more = (cursor: string | undefined): PageStep => ({ hasMore: true, cursor });
const last: PageStep = { hasMore: false, cursor: undefined };

async function paginationError(promise: Promise<unknown>): Promise<ThingSpaceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    expect((error as ThingSpaceError).kind).toBe('pagination');
    expect((error as ThingSpaceError).retryable).toBe(false);
    return error as ThingSpaceError;
  }
  throw new Error('expected a pagination error');
}

const OPTIONS = { maxPages: 100, cursorName: 'lastSeenDeviceId' };

describe('pageThrough', () => {
  it('asks with the first cursor, then with each answer’s cursor, until there is no more', async () => {
    const l = list(more('17'), more('abc'), last);
    await expect(pageThrough(l.read, OPTIONS)).resolves.toBe(3);
    expect(l.asked).toEqual([FIRST_CURSOR, '17', 'abc']);
  });

  it('a single page is one request', async () => {
    const l = list(last);
    await expect(pageThrough(l.read, OPTIONS)).resolves.toBe(1);
    expect(l.asked).toEqual([FIRST_CURSOR]);
  });

  it('a last page may carry a cursor: it is not followed', async () => {
    const l = list({ hasMore: false, cursor: '99' });
    await expect(pageThrough(l.read, OPTIONS)).resolves.toBe(1);
  });

  it('more without a cursor is a pagination error naming the cursor field and the page', async () => {
    const l = list(more('1'), more(undefined));
    const error = await paginationError(pageThrough(l.read, OPTIONS));
    expect(error.message).toMatch(/page 2 .*lastSeenDeviceId/);
    expect(l.asked).toHaveLength(2);
  });

  it.each([
    ['the previous cursor', ['a', 'a']],
    ['an older cursor', ['a', 'b', 'a']],
    ['the first cursor', [FIRST_CURSOR]],
  ])('a repeated cursor (%s) ends the walk instead of looping', async (_name, cursors) => {
    const l = list(...cursors.map((c) => more(c)), last);
    const error = await paginationError(pageThrough(l.read, OPTIONS));
    expect(error.message).toMatch(/lastSeenDeviceId ".*" repeated/);
    // the repeated cursor is never asked for a second time
    expect(new Set(l.asked).size).toBe(l.asked.length);
  });

  it('stops after maxPages pages that all say there is more, naming the flag', async () => {
    const l = list(more('1'), more('2'), more('3'), last);
    const error = await paginationError(pageThrough(l.read, { ...OPTIONS, maxPages: 3 }));
    expect(error.message).toMatch(/3 pages .*--collector\.max-pages/);
    expect(l.asked).toHaveLength(3);
  });

  it('a list of exactly maxPages pages is fine', async () => {
    const l = list(more('1'), more('2'), last);
    await expect(pageThrough(l.read, { ...OPTIONS, maxPages: 3 })).resolves.toBe(3);
  });

  it('names another flag when told', async () => {
    const l = list(more('1'), last);
    const error = await paginationError(
      pageThrough(l.read, { ...OPTIONS, maxPages: 1, maxPagesFlag: '--some.flag' }),
    );
    expect(error.message).toMatch(/--some\.flag/);
  });

  it('a long cursor is cut in the message', async () => {
    const long = 'x'.repeat(500);
    const l = list(more(long), more(long));
    const error = await paginationError(pageThrough(l.read, OPTIONS));
    expect(error.message.length).toBeLessThan(200);
  });

  it('a failing page ends the walk with its own error', async () => {
    const boom = new ThingSpaceError('timeout', 'slow');
    let calls = 0;
    await expect(
      pageThrough(async () => {
        calls++;
        if (calls === 2) throw boom;
        return more(String(calls));
      }, OPTIONS),
    ).rejects.toBe(boom);
    expect(calls).toBe(2);
  });
});

describe('cursorText', () => {
  it.each([
    ['a string', 'abc', 'abc'],
    ['a 15-digit IMEI string', '990000862471854', '990000862471854'],
    ['a whole number', 42, '42'],
    ['a large whole number', 990000862471854, '990000862471854'],
    ['zero', 0, '0'],
    ['missing', undefined, undefined],
    ['null', null, undefined],
    ['empty', '', undefined],
  ])('%s → %p', (_name, value, expected) => {
    expect(cursorText(value, 'lastSeenCampaignId')).toBe(expected);
  });

  it.each([
    ['a fraction', 1.5],
    ['a negative number', -1],
    ['an unsafe integer', 2 ** 60],
    ['a boolean', true],
    ['an object', { id: 1 }],
    ['an array', ['1']],
  ])('%s is a parse error naming the field', (_name, value) => {
    let error: unknown;
    try {
      cursorText(value, 'lastSeenCampaignId');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ThingSpaceError);
    expect((error as ThingSpaceError).kind).toBe('parse');
    expect((error as ThingSpaceError).message).toMatch(/lastSeenCampaignId/);
  });
});
