import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ThingSpaceApi } from '../../src/thingspace/client.js';
import { getVia } from './fake-send.js';
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import { walkReport as walk } from '../../src/upgrades/pager.js';
import type { ReportPage } from '../../src/upgrades/schema.js';
import type { UpgradeStatus } from '../../src/upgrades/statuses.js';

interface Request {
  account: string;
  status: UpgradeStatus;
  index: string;
}

/** A report page as ThingSpace sends it. */
function raw(page: ReportPage): unknown {
  return { hasMoreFlag: page.hasMore, lastSeenUpgradeId: page.cursor, reportList: page.upgrades };
}

/** What a report source answers for (account, status, index). */
type Answer = (account: string, status: UpgradeStatus, index: string) => Promise<ReportPage>;

/** A report held by a test, page by page. */
interface ReportSource {
  fetchReportPage: Answer;
}

/** The API seam over an in-memory report: GETs of v1 report paths answer raw pages. */
function apiOf(answer: Answer): ThingSpaceApi {
  return {
    get: getVia(async (endpoint, path) => {
      expect(endpoint).toBe('reports');
      const [, account, , status, , index] =
        /^\/api\/fota\/v1\/reports\/([^/]+)\/status\/([^/]+)\/index\/([^/]+)$/
          .exec(path)!
          .map((part, i) => (i === 0 ? part : decodeURIComponent(part)))
          .flatMap((part, i) => (i === 0 ? [part] : [part, part]));
      return { status: 200, body: raw(await answer(account!, status as UpgradeStatus, index!)) };
    }),
  };
}

/** walkReport with the positional arguments these tests were written with. */
function walkReport(
  answer: ReportSource,
  account: string,
  status: UpgradeStatus,
  onPage: (page: ReportPage) => void,
  maxPages: number,
): Promise<number> {
  return walk({ api: apiOf(answer.fetchReportPage), account, status, onPage, maxPages });
}

/** A report held in memory: `pages[index]` answers a request for that start index. */
function source(pages: Record<string, ReportPage>): ReportSource & { requests: Request[] } {
  const requests: Request[] = [];
  return {
    requests,
    async fetchReportPage(account, status, index) {
      requests.push({ account, status, index });
      const page = pages[index];
      if (!page) throw new Error(`no page at index ${index}`);
      return page;
    },
  };
}

const upgrade = (id: string) => ({ id, firmwareTo: 'FW', deviceList: [] });

async function walkError(promise: Promise<unknown>): Promise<ThingSpaceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    return error as ThingSpaceError;
  }
  throw new Error('expected the walk to fail');
}

describe('walkReport', () => {
  it('starts at index 0 and follows each cursor until hasMoreFlag is false', async () => {
    const src = source({
      '0': { hasMore: true, cursor: 'u2', upgrades: [upgrade('u1'), upgrade('u2')] },
      u2: { hasMore: true, cursor: '17', upgrades: [upgrade('u3')] },
      '17': { hasMore: false, cursor: 'u4', upgrades: [upgrade('u4')] },
      u4: { hasMore: false, cursor: undefined, upgrades: [upgrade('never')] },
    });
    const seen: string[] = [];
    const pages = await walkReport(
      src,
      '0242078689-00001',
      'Queued',
      (p) => seen.push(...p.upgrades.map((u) => u.id)),
      100,
    );
    expect(pages).toBe(3);
    expect(src.requests).toEqual([
      { account: '0242078689-00001', status: 'Queued', index: '0' },
      { account: '0242078689-00001', status: 'Queued', index: 'u2' },
      { account: '0242078689-00001', status: 'Queued', index: '17' },
    ]);
    expect(seen).toEqual(['u1', 'u2', 'u3', 'u4']);
  });

  it('stops after one page when hasMoreFlag is false, even without a cursor', async () => {
    const src = source({ '0': { hasMore: false, cursor: undefined, upgrades: [] } });
    const onPage = jestLikeCounter();
    expect(await walkReport(src, 'a', 'Finished', onPage.fn, 5)).toBe(1);
    expect(onPage.calls).toBe(1);
    expect(src.requests).toHaveLength(1);
  });

  it('ends with a pagination error when a cursor comes back', async () => {
    const src = source({
      '0': { hasMore: true, cursor: 'a', upgrades: [] },
      a: { hasMore: true, cursor: 'b', upgrades: [] },
      b: { hasMore: true, cursor: 'a', upgrades: [] },
    });
    const error = await walkError(walkReport(src, 'acc', 'Queued', () => undefined, 100));
    expect(error.kind).toBe('pagination');
    expect(error.message).toContain('"a"');
    expect(src.requests.map((r) => r.index)).toEqual(['0', 'a', 'b']);
  });

  it('ends with a pagination error when the cursor does not advance', async () => {
    const src = source({
      '0': { hasMore: true, cursor: 'a', upgrades: [] },
      a: { hasMore: true, cursor: 'a', upgrades: [] },
    });
    const error = await walkError(walkReport(src, 'acc', 'Queued', () => undefined, 100));
    expect(error.kind).toBe('pagination');
    expect(src.requests).toHaveLength(2);
  });

  it('treats a first cursor of "0" as a repeat of the start index', async () => {
    const src = source({ '0': { hasMore: true, cursor: '0', upgrades: [] } });
    const error = await walkError(walkReport(src, 'acc', 'Queued', () => undefined, 100));
    expect(error.kind).toBe('pagination');
    expect(src.requests).toHaveLength(1);
  });

  it('ends with a pagination error when hasMoreFlag is true but no cursor is given', async () => {
    const src = source({
      '0': { hasMore: true, cursor: 'a', upgrades: [] },
      a: { hasMore: true, cursor: undefined, upgrades: [] },
    });
    const error = await walkError(walkReport(src, 'acc', 'Queued', () => undefined, 100));
    expect(error.kind).toBe('pagination');
    expect(error.message).toMatch(/lastSeenUpgradeId/);
    expect(src.requests).toHaveLength(2);
  });

  it('reads a report of exactly maxPages pages', async () => {
    const src = source({
      '0': { hasMore: true, cursor: '1', upgrades: [] },
      '1': { hasMore: true, cursor: '2', upgrades: [] },
      '2': { hasMore: false, cursor: undefined, upgrades: [] },
    });
    expect(await walkReport(src, 'acc', 'Queued', () => undefined, 3)).toBe(3);
  });

  it('requests no more than maxPages pages of an endless report', async () => {
    let n = 0;
    const requests: string[] = [];
    const endless: ReportSource = {
      async fetchReportPage(_a, _s, index) {
        requests.push(index);
        n++;
        return { hasMore: true, cursor: `c${n}`, upgrades: [] };
      },
    };
    const error = await walkError(walkReport(endless, 'acc', 'Queued', () => undefined, 25));
    expect(error.kind).toBe('pagination');
    expect(error.message).toContain('25');
    expect(requests).toHaveLength(25);
  });

  it('hands each page to onPage as it arrives, before the next is requested', async () => {
    const log: string[] = [];
    const pages: Record<string, ReportPage> = {
      '0': { hasMore: true, cursor: 'a', upgrades: [upgrade('x')] },
      a: { hasMore: true, cursor: 'b', upgrades: [upgrade('y')] },
      b: { hasMore: false, cursor: undefined, upgrades: [upgrade('z')] },
    };
    const src: ReportSource = {
      async fetchReportPage(_a, _s, index) {
        log.push(`fetch ${index}`);
        return pages[index]!;
      },
    };
    await walkReport(src, 'acc', 'Queued', (p) => log.push(`page ${p.upgrades[0]!.id}`), 10);
    expect(log).toEqual(['fetch 0', 'page x', 'fetch a', 'page y', 'fetch b', 'page z']);
  });

  it('does not retain pages: earlier pages can be collected while the walk goes on', async () => {
    // Each page's upgrade list is a fresh array with a WeakRef to it (the same array travels through the
    // raw answer and the parsed page); while page n is being fetched, pages before n-1 must be
    // collectable (the walk may still hold the page it has just handled).
    const refs: WeakRef<readonly unknown[]>[] = [];
    const alive: number[] = [];
    let n = 0;
    const src: ReportSource = {
      async fetchReportPage() {
        await new Promise((resolve) => setImmediate(resolve));
        collectGarbage();
        alive.push(refs.slice(0, -1).filter((r) => r.deref() !== undefined).length);
        n++;
        const page: ReportPage = {
          hasMore: n < 8,
          cursor: `c${n}`,
          upgrades: [upgrade(`u${n}`), { id: `big${n}`, deviceList: new Array(1000).fill({}) }],
        };
        refs.push(new WeakRef(page.upgrades));
        return page;
      },
    };
    let calls = 0;
    await walkReport(src, 'acc', 'Queued', () => calls++, 100);
    expect(calls).toBe(8);
    expect(alive).toHaveLength(8);
    expect(Math.max(...alive)).toBe(0);
  });

  it('the garbage check above can see a retained page', async () => {
    const kept: ReportPage[] = [];
    const ref = await (async () => {
      const page: ReportPage = { hasMore: false, cursor: undefined, upgrades: [] };
      kept.push(page);
      return new WeakRef(page);
    })();
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(ref.deref()).toBe(kept[0]);
  });

  it('passes a source error through unchanged and stops', async () => {
    const failure = new ThingSpaceError('http', 'boom', 'X', 500);
    const requests: string[] = [];
    const src: ReportSource = {
      async fetchReportPage(_a, _s, index) {
        requests.push(index);
        if (index === 'a') throw failure;
        return { hasMore: true, cursor: 'a', upgrades: [] };
      },
    };
    await expect(walkReport(src, 'acc', 'Queued', () => undefined, 10)).rejects.toBe(failure);
    expect(requests).toEqual(['0', 'a']);
  });
});

/** A full garbage collection, without needing node --expose-gc on the command line. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function jestLikeCounter() {
  const counter = { calls: 0, fn: () => void counter.calls++ };
  return counter;
}
