/**
 * The throttle window (real-clock windows in which every API request is answered 429) and the
 * one-off short report. The windows are long enough that a loaded machine does not blur them.
 */
import type { RunningSimulator } from '../../src/simulator/index.js';
import { authed, listingUrl } from './campaign-helpers.js';
import {
  ACCOUNT_1,
  control,
  getPage,
  getToken,
  json,
  login,
  signIn,
  startFrozen,
  walk,
  type ServedPage,
  type Session,
} from './helpers.js';

interface ThrottleStats {
  window: string | null;
  windows: { index: number; startedAt: string; throttled: number }[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('throttle window', () => {
  let sim: RunningSimulator;
  let auth: Session;

  beforeEach(async () => {
    sim = await startFrozen({ seed: 2, accounts: 1 });
    auth = await signIn(sim.url);
  });
  afterEach(async () => {
    await sim.close();
  });

  test('every API request is answered 429 with Retry-After inside a window, and counted per window', async () => {
    const set = performance.now();
    await control(sim, 'faults', 'PUT', {
      throttleWindow: '1500ms/4s',
      throttleRetryAfterSeconds: 2,
    });
    const answers = [
      await getToken(sim.url),
      await login(sim.url, auth.bearer),
      await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0),
      await authed(listingUrl(sim.url, 'v3', ACCOUNT_1, 'CampaignEnded'), auth),
    ];
    expect(performance.now() - set).toBeLessThan(1500);
    for (const answer of answers) {
      expect(answer.status).toBe(429);
      expect(answer.headers['retry-after']).toBe('2');
      expect(json(answer)).toEqual({
        errorCode: 'TOO_MANY_REQUESTS',
        errorMessage: 'Too many requests',
      });
    }
    // The control API is never throttled.
    const first = await control<{ throttle: ThrottleStats }>(sim, 'stats');
    expect(first.throttle).toEqual({
      window: '1500ms/4s',
      windows: [{ index: 0, startedAt: expect.any(String), throttled: 4 }],
    });
    await sleep(Math.max(0, set + 2000 - performance.now()));
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
    await sleep(Math.max(0, set + 4100 - performance.now()));
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(429);
    const second = await control<{ throttle: ThrottleStats; requests: { reports: object } }>(
      sim,
      'stats',
    );
    expect(second.throttle.windows.map((w) => [w.index, w.throttled])).toEqual([
      [0, 4],
      [1, 1],
    ]);
    expect(second.requests.reports).toEqual({ '200': 1, '429': 2 });
    await control(sim, 'faults', 'PUT', { throttleWindow: null });
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
    expect((await control<{ throttle: ThrottleStats }>(sim, 'stats')).throttle).toEqual({
      window: null,
      windows: [],
    });
  });

  test.each([['10s'], ['30s/10s'], ['0s/10s'], ['10s/30s/1m']])(
    'throttleWindow %j is refused',
    async (value) => {
      expect(() => sim.setFaults({ throttleWindow: value })).toThrow(/throttleWindow/);
    },
  );
});

describe('short report', () => {
  test('ends halfway with hasMoreFlag false while set; the truth keeps the real data', async () => {
    const sim = await startFrozen({ seed: 4, accounts: 1, pageSize: 4 });
    try {
      const auth = await signIn(sim.url);
      const truth = sim.truth();
      const full = await walk(sim.url, auth, ACCOUNT_1, 'UpgradeFailed');
      expect(full.upgrades).toHaveLength(20);
      sim.setFaults({ shortReportStatus: 'UpgradeFailed' });
      const short = await walk(sim.url, auth, ACCOUNT_1, 'UpgradeFailed');
      expect(short.upgrades.map((u) => u.id)).toEqual(full.upgrades.slice(0, 10).map((u) => u.id));
      const last = json<ServedPage>(
        await getPage(sim.url, auth, ACCOUNT_1, 'UpgradeFailed', short.upgrades[7]?.id ?? ''),
      );
      expect(last).toMatchObject({ hasMoreFlag: false });
      expect(last.reportList).toHaveLength(2);
      // Other statuses are whole.
      expect((await walk(sim.url, auth, ACCOUNT_1, 'Finished')).upgrades).toHaveLength(20);
      expect(sim.truth()).toEqual(truth);
      sim.setFaults({ shortReportStatus: null });
      expect((await walk(sim.url, auth, ACCOUNT_1, 'UpgradeFailed')).upgrades).toEqual(
        full.upgrades,
      );
    } finally {
      await sim.close();
    }
  });
});
