import { Collector, type CollectOptions, type Failure } from '../../src/collection/collect.js';
import type { ReportState, Snapshot } from '../../src/collection/snapshot.js';
import { renderSnapshot } from '../../src/metrics/render.js';
import type { ThingSpaceApi } from '../../src/thingspace/client.js';
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import type { HttpResponse } from '../../src/thingspace/http.js';
import type { ReportPage, Upgrade } from '../../src/upgrades/schema.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../../src/upgrades/statuses.js';
import { fakeClock, getVia, type Clock } from './fake-send.js';

const MINUTE = 60_000;

type Behaviour = Upgrade[][] | (() => never);

/**
 * Reports held in memory: each account+status is a list of pages (cursor = page number), or a function that
 * throws. It counts requests in flight, and each answer takes a couple of event-loop turns so that requests
 * overlap as they would on the network.
 */
class MemorySource implements ThingSpaceApi {
  inFlight = 0;
  maxInFlight = 0;
  requests = 0;
  readonly data = new Map<string, Behaviour>();

  set(account: string, status: UpgradeStatus, behaviour: Behaviour): void {
    this.data.set(`${account}/${status}`, behaviour);
  }

  /** The v1 report path, answered with the raw page ThingSpace would send. */
  readonly get: ThingSpaceApi['get'] = getVia((endpoint, path) => this.answer(endpoint, path));

  async answer(_endpoint: string, path: string): Promise<HttpResponse> {
    const [account, status, index] =
      /^\/api\/fota\/v1\/reports\/([^/]+)\/status\/([^/]+)\/index\/([^/]+)$/
        .exec(path)!
        .slice(1)
        .map(decodeURIComponent);
    const page = await this.fetchReportPage(account!, status as UpgradeStatus, index!);
    return {
      status: 200,
      body: {
        hasMoreFlag: page.hasMore,
        lastSeenUpgradeId: page.cursor,
        reportList: page.upgrades,
      },
    };
  }

  async fetchReportPage(
    account: string,
    status: UpgradeStatus,
    index: string,
  ): Promise<ReportPage> {
    this.requests++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const behaviour = this.data.get(`${account}/${status}`) ?? [[]];
      if (typeof behaviour === 'function') behaviour();
      const pages = behaviour as Upgrade[][];
      const n = Number(index);
      const more = n + 1 < pages.length;
      return { hasMore: more, cursor: more ? String(n + 1) : undefined, upgrades: pages[n] ?? [] };
    } finally {
      this.inFlight--;
    }
  }
}

function setup(options: Partial<CollectOptions> = {}) {
  const clock: Clock = fakeClock();
  const source = new MemorySource();
  const failures: { account: string; status: UpgradeStatus; error: unknown }[] = [];
  const opts: CollectOptions = {
    accounts: ['0001', '0002'],
    apis: ['v1'],
    concurrency: 4,
    maxStaleMs: 15 * MINUTE,
    maxLabelValues: 50,
    maxPages: 100,
    campaignLookbackMs: 7 * 24 * 60 * MINUTE,
    maxCampaigns: 100,
    budgetMs: 5 * MINUTE,
    ...options,
  };
  const deps = {
    api: source,
    clock: { wallMs: clock.now, monotonicMs: clock.now },
    onFailed: (failure: Failure) => {
      if ('status' in failure) failures.push(failure);
    },
  };
  let collector = new Collector(opts, deps);
  // The collector remembers the previous snapshot itself; `_previous` documents what it continues from.
  const run = (_previous?: Snapshot) => collector.collect();
  /** A new process: nothing remembered. */
  const restart = () => {
    collector = new Collector(opts, deps);
  };
  const entered = (account: string, status: UpgradeStatus) => {
    const value = (family: keyof Collector['entered']) =>
      [
        ...(
          collector.entered[family] as {
            entries(): Iterable<{ labels: Record<string, string>; value: number }>;
          }
        ).entries(),
      ].find((e) => e.labels.account === account && e.labels.status === status)?.value;
    return {
      upgrades: value('upgrades'),
      devices: value('upgradeDevices'),
      observed: value('upgradesObserved'),
    };
  };
  return { clock, source, failures, run, restart, entered, opts };
}

const get = (snapshot: Snapshot, account: string, status: UpgradeStatus): ReportState =>
  snapshot.reports.find((r) => r.account === account && r.status === status)!;

const upgrades = (firmware: string, n: number, prefix = firmware): Upgrade[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    firmwareTo: firmware,
    deviceList: [{ status: 'Device Accepted', resultReason: 'success' }],
  }));

const fail = (error: unknown) => (): never => {
  throw error;
};

describe('collect', () => {
  it('reads every status of every account, in configuration and lifecycle order', async () => {
    const { source, run, clock } = setup();
    source.set('0001', 'Queued', [upgrades('FW-A', 2), upgrades('FW-B', 1)]);
    source.set('0002', 'Finished', [upgrades('FW-C', 3)]);
    const snapshot = await run();
    expect(snapshot.reports.map((r) => `${r.account}/${r.status}`)).toEqual(
      ['0001', '0002'].flatMap((a) => UPGRADE_STATUSES.map((s) => `${a}/${s}`)),
    );
    for (const r of snapshot.reports) {
      expect(r.success).toBe(true);
      expect(r.error).toBeUndefined();
      expect(r.lastSuccessSeconds).toBe(clock.now() / 1000);
    }
    const queued = get(snapshot, '0001', 'Queued');
    expect(Object.fromEntries(queued.counts!.upgrades)).toEqual({ 'FW-A': 2, 'FW-B': 1 });
    expect(queued.pages).toBe(2);
    expect(get(snapshot, '0002', 'Finished').counts!.upgradeCount).toBe(3);
    expect(get(snapshot, '0002', 'Queued').counts!.upgradeCount).toBe(0);
    expect(snapshot.startedAtSeconds).toBe(clock.now() / 1000);
    expect([...snapshot.accountDurations.keys()]).toEqual(['0001', '0002']);
  });

  it('measures durations with the injected clock', async () => {
    const { source, run, clock } = setup({ accounts: ['0001'] });
    const real = source.fetchReportPage.bind(source);
    source.fetchReportPage = async (...args) => {
      clock.advance(1000);
      return real(...args);
    };
    const snapshot = await run();
    expect(snapshot.durationSeconds).toBeGreaterThanOrEqual(6);
    expect(snapshot.accountDurations.get('0001')).toBe(snapshot.durationSeconds);
  });

  it.each([1, 2, 4, 7])(
    'never has more than concurrency=%d requests in flight',
    async (concurrency) => {
      const { source, run } = setup({ accounts: ['a', 'b', 'c'], concurrency });
      for (const account of ['a', 'b', 'c'])
        for (const status of UPGRADE_STATUSES)
          source.set(account, status, [
            upgrades('F', 1, `${account}${status}1`),
            upgrades('F', 1, `${account}${status}2`),
            [],
          ]);
      const snapshot = await run();
      expect(snapshot.reports.every((r) => r.success)).toBe(true);
      expect(source.requests).toBe(3 * 6 * 3);
      expect(source.maxInFlight).toBeLessThanOrEqual(concurrency);
      // and the limit is used, not undercut: requests do overlap up to it
      expect(source.maxInFlight).toBe(concurrency);
    },
  );

  it("keeps a failing report's last good values while younger than maxStale, then drops them", async () => {
    const { source, run, clock, failures } = setup({ accounts: ['0001'], maxStaleMs: 15 * MINUTE });
    source.set('0001', 'Queued', [upgrades('FW-A', 2), upgrades('FW-B', 1)]);
    const first = await run();
    const goodAt = clock.now() / 1000;
    const good = get(first, '0001', 'Queued');
    expect(good.success).toBe(true);

    source.set('0001', 'Queued', fail(new ThingSpaceError('timeout', 'slow')));
    const stale = [5, 10, 15]; // minutes after the good pass: still served
    let previous = first;
    for (const minutes of stale) {
      clock.t = goodAt * 1000 + minutes * MINUTE;
      previous = await run(previous);
      const r = get(previous, '0001', 'Queued');
      expect(r.success).toBe(false);
      expect(r.error).toBe('timeout');
      expect(r.lastSuccessSeconds).toBe(goodAt);
      expect(r.counts).toEqual(good.counts);
      expect(r.pages).toBe(2);
    }

    clock.t = goodAt * 1000 + 15 * MINUTE + 1;
    previous = await run(previous);
    const dropped = get(previous, '0001', 'Queued');
    expect(dropped.success).toBe(false);
    expect(dropped.counts).toBeUndefined();
    expect(dropped.pages).toBeUndefined();
    expect(dropped.lastSuccessSeconds).toBe(goodAt);
    expect(renderSnapshot(previous)).not.toMatch(/status="Queued",firmware_to=/);
    expect(renderSnapshot(previous)).toMatch(
      /thingspace_fota_collection_success\{account="0001",status="Queued"\} 0/,
    );

    // and stay dropped, remembering when it last worked
    clock.advance(10 * MINUTE);
    previous = await run(previous);
    expect(get(previous, '0001', 'Queued').counts).toBeUndefined();
    expect(get(previous, '0001', 'Queued').lastSuccessSeconds).toBe(goodAt);
    expect(failures.filter((f) => f.status === 'Queued')).toHaveLength(5);

    // a later success serves fresh values again
    source.set('0001', 'Queued', [upgrades('FW-C', 1)]);
    previous = await run(previous);
    expect(get(previous, '0001', 'Queued').success).toBe(true);
    expect(Object.fromEntries(get(previous, '0001', 'Queued').counts!.upgrades)).toEqual({
      'FW-C': 1,
    });
  });

  it('a failure with no earlier success has no values and no last success', async () => {
    const { source, run } = setup({ accounts: ['0001'] });
    source.set('0001', 'Finished', fail(new ThingSpaceError('auth', 'no')));
    const snapshot = await run();
    const r = get(snapshot, '0001', 'Finished');
    expect(r).toMatchObject({ success: false, error: 'auth' });
    expect(r.counts).toBeUndefined();
    expect(r.lastSuccessSeconds).toBeUndefined();
  });

  it('label values that vanish from the data vanish from the snapshot', async () => {
    const { source, run, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'InProgress', [[...upgrades('FW-OLD', 2), ...upgrades('FW-NEW', 1)]]);
    const first = await run();
    expect([...get(first, '0001', 'InProgress').counts!.upgrades.keys()].sort()).toEqual([
      'FW-NEW',
      'FW-OLD',
    ]);
    expect(renderSnapshot(first)).toContain('FW-OLD');

    source.set('0001', 'InProgress', [upgrades('FW-NEW', 3)]);
    clock.advance(5 * MINUTE);
    const second = await run(first);
    expect([...get(second, '0001', 'InProgress').counts!.upgrades.keys()]).toEqual(['FW-NEW']);
    expect([...get(second, '0001', 'InProgress').counts!.devices.keys()]).toEqual(['FW-NEW']);
    expect(renderSnapshot(second)).not.toContain('FW-OLD');
  });

  it.each([
    [
      'a ThingSpaceError',
      new ThingSpaceError('http', 'HTTP 400', 'INVALID_PARAMETER', 400),
      'http',
    ],
    ['a TypeError', new TypeError('cannot read properties of undefined'), 'internal'],
    ['a thrown string', 'just a string', 'internal'],
    ['a thrown null', null, 'internal'],
  ])('one report failing with %s does not affect the others', async (_what, error, kind) => {
    const { source, run, failures } = setup();
    for (const account of ['0001', '0002'])
      for (const status of UPGRADE_STATUSES)
        source.set(account, status, [upgrades(`FW-${account}`, 1, `${account}${status}`)]);
    source.set('0002', 'RequestFailed', fail(error));
    const snapshot = await run();
    for (const r of snapshot.reports) {
      if (r.account === '0002' && r.status === 'RequestFailed') {
        expect(r).toMatchObject({ success: false, error: kind });
      } else {
        expect(r.success).toBe(true);
        expect(r.counts!.upgradeCount).toBe(1);
      }
    }
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ account: '0002', status: 'RequestFailed' });
    expect(failures[0]!.error).toBeInstanceOf(ThingSpaceError);
    expect((failures[0]!.error as ThingSpaceError).kind).toBe(kind);
  });

  it('a pagination fault fails only its report, and its partial pages are not served', async () => {
    const { source, run } = setup({ accounts: ['0001'], maxPages: 2 });
    source.set('0001', 'Queued', [upgrades('A', 1), upgrades('B', 1), upgrades('C', 1)]);
    source.set('0001', 'Finished', [upgrades('D', 1), upgrades('E', 1)]);
    const snapshot = await run();
    expect(get(snapshot, '0001', 'Queued')).toMatchObject({ success: false, error: 'pagination' });
    expect(get(snapshot, '0001', 'Queued').counts).toBeUndefined();
    expect(get(snapshot, '0001', 'Finished')).toMatchObject({ success: true, pages: 2 });
  });

  it('label caps apply per account and status', async () => {
    const { source, run } = setup({ accounts: ['0001', '0002'], maxLabelValues: 1 });
    source.set('0001', 'Queued', [[...upgrades('A', 1), ...upgrades('B', 1)]]);
    source.set('0002', 'Queued', [[...upgrades('B', 1), ...upgrades('A', 1)]]);
    source.set('0001', 'Finished', [[...upgrades('B', 1, 'x')]]);
    const snapshot = await run();
    // Equal weight (one device each): the later upgrade's firmware is kept.
    expect(Object.fromEntries(get(snapshot, '0001', 'Queued').counts!.upgrades)).toEqual({
      B: 1,
      other: 1,
    });
    expect(Object.fromEntries(get(snapshot, '0002', 'Queued').counts!.upgrades)).toEqual({
      A: 1,
      other: 1,
    });
    expect(Object.fromEntries(get(snapshot, '0001', 'Finished').counts!.upgrades)).toEqual({
      B: 1,
    });
  });

  it('starts the reports that took the most pages last time first', async () => {
    const { source, run, clock } = setup({ accounts: ['0001', '0002'], concurrency: 1 });
    source.set('0002', 'Finished', [
      upgrades('A', 1, 'a'),
      upgrades('B', 1, 'b'),
      upgrades('C', 1, 'c'),
    ]);
    source.set('0001', 'InProgress', [upgrades('D', 1, 'd'), upgrades('E', 1, 'e')]);
    const first = await run();
    const order: string[] = [];
    const real = source.fetchReportPage.bind(source);
    source.fetchReportPage = (account, status, index) => {
      if (index === '0') order.push(`${account}/${status}`);
      return real(account, status, index);
    };
    clock.advance(MINUTE);
    const second = await run(first);
    expect(order.slice(0, 2)).toEqual(['0002/Finished', '0001/InProgress']);
    expect(order).toHaveLength(12);
    // the snapshot keeps configuration and lifecycle order whatever the order of work
    expect(second.reports.map((r) => `${r.account}/${r.status}`)).toEqual(
      first.reports.map((r) => `${r.account}/${r.status}`),
    );
  });

  it('does not change the previous snapshot', async () => {
    const { source, run, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'Queued', [upgrades('A', 2)]);
    const first = await run();
    const before = structuredClone(first.reports);
    source.set('0001', 'Queued', fail(new ThingSpaceError('http', 'x', undefined, 500)));
    clock.advance(MINUTE);
    await run(first);
    expect(first.reports).toEqual(before);
    expect(get(first, '0001', 'Queued').success).toBe(true);
  });
});

describe('collect: upgrades entering a status (the entered counters)', () => {
  const devices = (n: number) =>
    Array.from({ length: n }, () => ({ status: 'UpgradeFailed', resultReason: 'x' }));
  const failed = (ids: string[], n = 2): Upgrade[] =>
    ids.map((id) => ({ id, firmwareTo: 'F', deviceList: devices(n) }));

  it('exist at 0 for every account × status from start-up, before any collection', () => {
    const { entered } = setup();
    for (const account of ['0001', '0002'])
      for (const status of UPGRADE_STATUSES)
        expect(entered(account, status)).toEqual({ upgrades: 0, devices: 0, observed: 0 });
  });

  it('count nothing on the learning pass, then each new id once with its devices', async () => {
    const { source, run, entered, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b', 'c'])]);
    await run();
    expect(entered('0001', 'UpgradeFailed')).toEqual({ upgrades: 0, devices: 0, observed: 0 });

    clock.advance(5 * MINUTE);
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b', 'c']), failed(['d', 'e'], 3)]);
    await run();
    expect(entered('0001', 'UpgradeFailed')).toEqual({ upgrades: 2, devices: 6, observed: 300 });

    clock.advance(5 * MINUTE);
    await run();
    expect(entered('0001', 'UpgradeFailed')).toEqual({ upgrades: 2, devices: 6, observed: 600 });
  });

  it('a one-off short report followed by the full one counts nothing twice', async () => {
    const { source, run, entered, clock } = setup({ accounts: ['0001'] });
    const all = failed(['a', 'b', 'c', 'd']);
    source.set('0001', 'UpgradeFailed', [all]);
    await run();
    clock.advance(5 * MINUTE);
    source.set('0001', 'UpgradeFailed', [all.slice(0, 2)]);
    await run();
    clock.advance(5 * MINUTE);
    source.set('0001', 'UpgradeFailed', [[...all, ...failed(['new'])]]);
    await run();
    expect(entered('0001', 'UpgradeFailed').upgrades).toBe(1);
  });

  it('ids read by a pass that later fails are counted, and never again', async () => {
    const { source, run, entered, clock } = setup({ accounts: ['0001'], maxPages: 2 });
    source.set('0001', 'UpgradeFailed', [failed(['a'])]);
    await run();
    clock.advance(5 * MINUTE);
    // Three pages with max-pages 2: the pass reads two pages and fails.
    source.set('0001', 'UpgradeFailed', [failed(['a']), failed(['b']), failed(['c'])]);
    const snapshot = await run();
    expect(get(snapshot, '0001', 'UpgradeFailed').success).toBe(false);
    expect(entered('0001', 'UpgradeFailed')).toMatchObject({ upgrades: 1, observed: 0 });
    clock.advance(5 * MINUTE);
    source.set('0001', 'UpgradeFailed', [[...failed(['a']), ...failed(['b']), ...failed(['c'])]]);
    await run();
    // c arrives now; b was counted by the failed pass; the complete pass covers both passes' time.
    expect(entered('0001', 'UpgradeFailed')).toEqual({ upgrades: 2, devices: 4, observed: 600 });
  });

  it('a collection gap: the arrivals of the gap and its length arrive together', async () => {
    const { source, run, entered, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'UpgradeFailed', [failed(['a'])]);
    await run();
    source.set('0001', 'UpgradeFailed', fail(new ThingSpaceError('http', 'down', undefined, 500)));
    for (let i = 0; i < 16; i++) {
      clock.advance(5 * MINUTE);
      await run();
    }
    expect(entered('0001', 'UpgradeFailed')).toMatchObject({ upgrades: 0, observed: 0 });
    clock.advance(5 * MINUTE);
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b', 'c'])]);
    await run();
    expect(entered('0001', 'UpgradeFailed')).toEqual({
      upgrades: 2,
      devices: 4,
      observed: 85 * 60,
    });
  });

  it('a restart learns again: what the report holds is not a spike', async () => {
    const { source, run, entered, restart, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'UpgradeFailed', [failed(['a'])]);
    await run();
    restart();
    clock.advance(5 * MINUTE);
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b', 'c'])]);
    await run();
    expect(entered('0001', 'UpgradeFailed')).toEqual({ upgrades: 0, devices: 0, observed: 0 });
  });

  it('an upgrade moving to another status enters that status', async () => {
    const { source, run, entered, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'Queued', [failed(['a', 'b'])]);
    await run();
    clock.advance(5 * MINUTE);
    source.set('0001', 'Queued', [failed(['b'])]);
    source.set('0001', 'UpgradeFailed', [failed(['a'])]);
    await run();
    expect(entered('0001', 'UpgradeFailed').upgrades).toBe(1);
    expect(entered('0001', 'Queued').upgrades).toBe(0);
  });

  it('remembers an id for a day after it left the report, then forgets it', async () => {
    const { source, run, entered, clock } = setup({ accounts: ['0001'] });
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b'])]);
    await run();
    source.set('0001', 'UpgradeFailed', [failed(['b'])]);
    clock.advance(23 * 60 * MINUTE);
    await run();
    // back within the day: not an arrival
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b'])]);
    clock.advance(30 * MINUTE);
    await run();
    expect(entered('0001', 'UpgradeFailed').upgrades).toBe(0);
    // gone for more than a day: forgotten, so it counts if it ever comes back
    source.set('0001', 'UpgradeFailed', [failed(['b'])]);
    clock.advance(5 * MINUTE);
    await run();
    clock.advance(25 * 60 * MINUTE);
    await run();
    source.set('0001', 'UpgradeFailed', [failed(['a', 'b'])]);
    clock.advance(5 * MINUTE);
    await run();
    expect(entered('0001', 'UpgradeFailed').upgrades).toBe(1);
  });
});
