import { request } from 'undici';
import type { RunningSimulator } from '../../src/simulator/index.js';
import {
  ACCOUNT_1,
  control,
  countServed,
  getPage,
  getToken,
  http,
  json,
  login,
  reportsUrl,
  signIn,
  startFrozen,
  walk,
  type ServedPage,
  type Session,
} from './helpers.js';

const SMALL = {
  seed: 11,
  accounts: 1,
  pageSize: 4,
  upgradesPerStatus: {
    RequestPending: 6,
    Queued: 9,
    RequestFailed: 3,
    InProgress: 5,
    Finished: 10,
    UpgradeFailed: 7,
  },
};

describe('simulator faults', () => {
  let sim: RunningSimulator;
  let auth: Session;

  beforeEach(async () => {
    sim = await startFrozen(SMALL);
    auth = await signIn(sim.url);
  });
  afterEach(async () => {
    await sim.close();
  });

  test('latency delays reports responses only', async () => {
    sim.setFaults({ latencyMs: 500 });
    let started = performance.now();
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(490);
    started = performance.now();
    await getToken(sim.url);
    expect(performance.now() - started).toBeLessThan(400);
  });

  test('error, throttle and bare throttle answers', async () => {
    sim.setFaults({ errorRate: 1 });
    const error = await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0);
    expect(error.status).toBe(500);
    expect(json(error)).toMatchObject({ errorCode: 'INTERNAL_SERVER_ERROR' });
    sim.setFaults({ errorRate: 0, throttleRate: 1, throttleRetryAfterSeconds: 7 });
    const throttled = await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0);
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('7');
    sim.setFaults({ throttleRate: 0, throttleBareRate: 1 });
    const bare = await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0);
    expect(bare.status).toBe(429);
    expect(bare.headers['retry-after']).toBeUndefined();
    // Reports fault rates leave the token endpoints alone.
    expect((await getToken(sim.url)).status).toBe(200);
    expect((await login(sim.url, auth.bearer)).status).toBe(200);
    expect(sim.stats().requests.reports).toEqual({ '429': 2, '500': 1 });
  });

  test('connection resets', async () => {
    sim.setFaults({ resetRate: 1 });
    await expect(getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).rejects.toThrow();
    expect(sim.stats().requests.reports).toEqual({ reset: 1 });
  });

  test('token endpoints have their own error rate', async () => {
    sim.setFaults({ tokenErrorRate: 1 });
    expect((await getToken(sim.url)).status).toBe(500);
    expect((await login(sim.url, auth.bearer)).status).toBe(500);
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
  });

  test('rates are drawn from the seed: same seed, same sequence, about the right share', async () => {
    const outcomes = async (target: RunningSimulator): Promise<number[]> => {
      target.setFaults({ errorRate: 0.3 });
      const session = await signIn(target.url);
      const statuses: number[] = [];
      for (let i = 0; i < 200; i += 1) {
        statuses.push((await getPage(target.url, session, ACCOUNT_1, 'Queued', 0)).status);
      }
      return statuses;
    };
    const twin = await startFrozen(SMALL);
    try {
      const first = await outcomes(sim);
      expect(await outcomes(twin)).toEqual(first);
      const errors = first.filter((status) => status === 500).length;
      expect(errors).toBeGreaterThan(40);
      expect(errors).toBeLessThan(80);
    } finally {
      await twin.close();
    }
  });

  test('malformed JSON for one status; the truth still gives the real data', async () => {
    const before = sim.truth();
    sim.setFaults({ malformedJsonStatus: 'Finished' });
    const bad = await getPage(sim.url, auth, ACCOUNT_1, 'Finished', 0);
    expect(bad.status).toBe(200);
    expect(() => JSON.parse(bad.text) as unknown).toThrow();
    expect((await walk(sim.url, auth, ACCOUNT_1, 'Queued')).upgrades).toHaveLength(9);
    expect(sim.truth()).toEqual(before);
  });

  test('wrong shape for one status', async () => {
    sim.setFaults({ wrongShapeStatus: 'Queued' });
    const page = json(await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0));
    expect(typeof page.hasMoreFlag).toBe('string');
    expect(Array.isArray(page.reportList)).toBe(false);
  });

  test('a repeating cursor hands back the index it was given', async () => {
    sim.setFaults({ repeatCursorStatus: 'Finished' });
    const first = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_1, 'Finished', 0));
    expect(first.hasMoreFlag).toBe(true);
    const cursor = String(first.lastSeenUpgradeId);
    const second = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_1, 'Finished', cursor));
    expect(second).toMatchObject({ hasMoreFlag: true, lastSeenUpgradeId: cursor });
    await expect(walk(sim.url, auth, ACCOUNT_1, 'Finished')).rejects.toThrow(/cursor repeated/);
  });

  test.each([
    ['misspelt cursor key', { misspeltCursorKey: true }, 'lastSeenUpgrdadeId', 'string'],
    ['numeric cursor', { numericCursor: true }, 'lastSeenUpgradeId', 'number'],
  ])('%s: pages still chain and add up to the truth', async (_name, faults, key, type) => {
    sim.setFaults(faults);
    const page = json(await getPage(sim.url, auth, ACCOUNT_1, 'Finished', 0));
    expect(Object.keys(page)).toEqual(['hasMoreFlag', key, 'reportList']);
    expect(typeof page[key]).toBe(type);
    const { upgrades, pages } = await walk(sim.url, auth, ACCOUNT_1, 'Finished');
    expect(pages).toBe(3);
    expect(countServed(upgrades, 50)).toEqual(sim.truth().accounts[ACCOUNT_1]?.Finished);
  });

  test.each([false, true])('endless hasMoreFlag (numeric cursor %s)', async (numericCursor) => {
    sim.setFaults({ endlessStatus: 'Queued', numericCursor });
    const cursors = new Set<string>();
    let index: string | number = 0;
    let served = 0;
    for (let i = 0; i < 10; i += 1) {
      const page: ServedPage = json<ServedPage>(
        await getPage(sim.url, auth, ACCOUNT_1, 'Queued', index),
      );
      expect(page.hasMoreFlag).toBe(true);
      served += page.reportList.length;
      const cursor = page.lastSeenUpgradeId;
      expect(cursor).toBeDefined();
      expect(cursors.has(String(cursor))).toBe(false);
      cursors.add(String(cursor));
      index = cursor ?? 0;
    }
    expect(served).toBe(9);
  });

  test('a hang never answers, and close() still ends promptly', async () => {
    sim.setFaults({ hangStatus: 'InProgress' });
    const hung = request(reportsUrl(sim.url, ACCOUNT_1, 'InProgress', 0), {
      headers: { authorization: `Bearer ${auth.bearer}`, 'vz-m2m-token': auth.session },
    });
    const outcome = await Promise.race([
      hung.then(() => 'answered').catch(() => 'failed'),
      new Promise((resolve) => setTimeout(() => resolve('pending'), 300)),
    ]);
    expect(outcome).toBe('pending');
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
    expect(sim.stats().requests.reports).toEqual({ '200': 1, hang: 1 });
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(hung).rejects.toThrow();
  });

  test('an oversize page carries padding but the same data', async () => {
    const normal = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_1, 'Finished', 0));
    sim.setFaults({ oversizePageStatus: 'Finished', oversizePageMb: 3 });
    const answer = await getPage(sim.url, auth, ACCOUNT_1, 'Finished', 0);
    expect(answer.text.length).toBeGreaterThan(3 * 1024 * 1024);
    const page = json<ServedPage & { padding: string }>(answer);
    expect(page.padding).toHaveLength(3 * 1024 * 1024);
    expect(page.reportList).toEqual(normal.reportList);
  });
});

describe('simulator fault control API', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startFrozen({ latencyMs: 5, hangStatus: 'Queued' });
  });
  afterAll(async () => {
    await sim.close();
  });

  test('GET shows every setting, PUT merges, DELETE restores the start settings', async () => {
    const start = await control(sim, 'faults');
    expect(start).toMatchObject({ latencyMs: 5, hangStatus: 'Queued', errorRate: 0 });
    const changed = await control(sim, 'faults', 'PUT', { errorRate: 0.5, hangStatus: null });
    expect(changed).toEqual({ ...start, errorRate: 0.5, hangStatus: null });
    expect(await control(sim, 'faults', 'POST', { numericCursor: true })).toMatchObject({
      errorRate: 0.5,
      numericCursor: true,
    });
    expect(await control(sim, 'faults', 'DELETE')).toEqual(start);
  });

  test.each([
    [{ nope: 1 }, 'unknown fault'],
    [{ errorRate: '0.5' }, 'errorRate'],
    [{ errorRate: 2 }, 'errorRate'],
    [{ hangStatus: 'Sleeping' }, 'hangStatus'],
    [{ sessionErrorStatus: 500 }, 'sessionErrorStatus'],
    [{ errorRate: 0.7, throttleRate: 0.7 }, 'at most 1'],
    [[1], 'JSON object'],
  ])('%j is refused', async (body, message) => {
    const answer = await http(`${sim.url}/_sim/faults`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    expect(answer.status).toBe(400);
    expect(json<{ error: string }>(answer).error).toContain(message);
    expect(await control(sim, 'faults')).toMatchObject({ errorRate: 0 });
  });
});
