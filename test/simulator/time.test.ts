import type { RunningSimulator, StatusTruth, Truth } from '../../src/simulator/index.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import {
  ACCOUNT_1,
  ACCOUNT_2,
  control,
  http,
  json,
  signIn,
  startFrozen,
  walk,
  walkAll,
} from './helpers.js';

const DAY_S = 86_400;
const HISTORY_S = 182 * DAY_S;

function upgradeCount(status: StatusTruth | undefined): number {
  return (status?.upgrades ?? []).reduce((sum, series) => sum + series.count, 0);
}

function deviceCount(status: StatusTruth | undefined, deviceStatus?: string): number {
  return (status?.devices ?? [])
    .filter((series) => deviceStatus === undefined || series.device_status === deviceStatus)
    .reduce((sum, series) => sum + series.count, 0);
}

describe('simulator determinism', () => {
  test('the same seed gives the same truth, now and after ticks; another seed does not', async () => {
    const [a, b, c] = await Promise.all([
      startFrozen({ seed: 42 }),
      startFrozen({ seed: 42 }),
      startFrozen({ seed: 43 }),
    ]);
    try {
      expect(a.truth()).toEqual(b.truth());
      expect(a.truth()).not.toEqual(c.truth());
      a.advance(5);
      b.advance(5);
      expect(a.truth()).toEqual(b.truth());
      expect(a.truth().generation).toBe(5);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  test('--total-devices gives exactly that many device entries', async () => {
    const sim = await startFrozen({ accounts: 3, totalDevices: 12_345 });
    try {
      expect(sim.stats().data).toMatchObject({ upgrades: 3 * 6 * 20, devices: 12_345 });
      const truth = sim.truth();
      const total = Object.values(truth.accounts)
        .flatMap((account) => Object.values(account))
        .reduce((sum, status) => sum + deviceCount(status), 0);
      expect(total).toBe(12_345);
    } finally {
      await sim.close();
    }
  });
});

describe('simulator time', () => {
  let sim: RunningSimulator;

  beforeEach(async () => {
    sim = await startFrozen({ seed: 5, tickStepMs: 7 * DAY_S * 1000 });
  });
  afterEach(async () => {
    await sim.close();
  });

  test('frozen time moves only through /_sim/advance, and generation counts ticks', async () => {
    const before = sim.truth();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sim.truth()).toEqual(before);
    const advanced = await control<{ generation: number; clock: string }>(
      sim,
      'advance?ticks=3',
      'POST',
    );
    expect(advanced).toEqual({ generation: 3, clock: '2025-01-22T00:00:00.000Z' });
    expect(sim.truth().generation).toBe(3);
    expect((await control<{ generation: number }>(sim, 'stats')).generation).toBe(3);
    expect((await http(`${sim.url}/_sim/advance?ticks=0`, { method: 'POST' })).status).toBe(400);
  });

  test('upgrades only move forward in their lifecycle, and served data stays equal to truth', async () => {
    const auth = await signIn(sim.url);
    const finishedBefore = (await walk(sim.url, auth, ACCOUNT_1, 'Finished')).upgrades;
    sim.advance(4);
    const after = new Map<string, string>();
    for (const status of UPGRADE_STATUSES) {
      for (const upgrade of (await walk(sim.url, auth, ACCOUNT_1, status)).upgrades) {
        after.set(upgrade.id, status);
      }
    }
    for (const upgrade of finishedBefore) {
      expect([undefined, 'Finished']).toContain(after.get(upgrade.id));
    }
    expect(await walkAll(sim, auth, 50)).toEqual(sim.truth().accounts);
  });

  test('state changes with ticks: transitions, arrivals, and departures beyond six months', () => {
    const before = sim.truth();
    sim.advance(6);
    const after = sim.truth();
    expect(after).not.toEqual(before);
    const clockS = Date.parse('2025-01-01T00:00:00Z') / 1000 + 6 * 7 * DAY_S;
    for (const account of [ACCOUNT_1, ACCOUNT_2]) {
      const oldBefore = before.accounts[account]?.Finished.oldestStartTimestampSeconds ?? 0;
      const oldAfter = after.accounts[account]?.Finished.oldestStartTimestampSeconds ?? 0;
      expect(oldAfter).toBeGreaterThan(oldBefore);
      for (const status of UPGRADE_STATUSES) {
        const oldest = after.accounts[account]?.[status].oldestStartTimestampSeconds;
        if (oldest !== null && oldest !== undefined) {
          expect(oldest).toBeGreaterThanOrEqual(clockS - HISTORY_S);
        }
      }
    }
  });

  test('a ticking clock advances by itself', async () => {
    const ticking = await startFrozen({ tickMs: 40 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ticking.truth().generation).toBeGreaterThanOrEqual(3);
    } finally {
      await ticking.close();
    }
  });

  test('an empty status reports no series and a null oldest start', async () => {
    const empty = await startFrozen({
      upgradesPerStatus: {
        RequestPending: 0,
        Queued: 2,
        RequestFailed: 0,
        InProgress: 0,
        Finished: 0,
        UpgradeFailed: 0,
      },
    });
    try {
      expect(empty.truth().accounts[ACCOUNT_1]?.InProgress).toEqual({
        upgrades: [],
        devices: [],
        oldestStartTimestampSeconds: null,
      });
    } finally {
      await empty.close();
    }
  });
});

describe('failure-spike scenario', () => {
  let sim: RunningSimulator;

  beforeEach(async () => {
    sim = await startFrozen({ seed: 9 });
  });
  afterEach(async () => {
    await sim.close();
  });

  test('fails queued and in-progress upgrades and adds failed ones', async () => {
    const before: Truth = sim.truth();
    const account = before.accounts[ACCOUNT_2];
    const moving = upgradeCount(account?.Queued) + upgradeCount(account?.InProgress);
    const result = await control(sim, 'scenario/failure-spike', 'POST', {
      account: ACCOUNT_2,
      upgrades: 5,
      devicesPerUpgrade: 30,
    });
    expect(result).toMatchObject({
      generation: 1,
      account: ACCOUNT_2,
      convertedUpgrades: moving,
      addedUpgrades: 5,
    });
    const after = sim.truth();
    const spiked = after.accounts[ACCOUNT_2];
    expect(upgradeCount(spiked?.Queued)).toBe(0);
    expect(upgradeCount(spiked?.InProgress)).toBe(0);
    expect(upgradeCount(spiked?.UpgradeFailed)).toBe(
      upgradeCount(account?.UpgradeFailed) + moving + 5,
    );
    expect(deviceCount(spiked?.UpgradeFailed, 'UpgradeFailed')).toBeGreaterThanOrEqual(
      deviceCount(account?.UpgradeFailed, 'UpgradeFailed') + 5 * 30,
    );
    expect(after.accounts[ACCOUNT_1]).toEqual(before.accounts[ACCOUNT_1]);
    const auth = await signIn(sim.url);
    expect(await walkAll(sim, auth, 50)).toEqual(after.accounts);
  });

  test('refuses unknown accounts and bad fields', async () => {
    for (const body of [{ account: '0242078689-99999' }, { upgrades: -1 }, { colour: 'red' }]) {
      const answer = await http(`${sim.url}/_sim/scenario/failure-spike`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      expect(answer.status).toBe(400);
      expect(json(answer)).toEqual({ error: expect.any(String) });
    }
  });

  test('--scenario failure-spike runs once, after the given number of ticks', async () => {
    const scheduled = await startFrozen({
      seed: 9,
      scenario: 'failure-spike',
      scenarioAfterTicks: 2,
    });
    try {
      scheduled.advance(1);
      const early = scheduled.truth().accounts[ACCOUNT_1];
      expect(upgradeCount(early?.Queued)).toBeGreaterThan(0);
      scheduled.advance(1);
      const spiked = scheduled.truth();
      // Two ticks and the scenario: the generation counts every change of state.
      expect(spiked.generation).toBe(3);
      expect(upgradeCount(spiked.accounts[ACCOUNT_1]?.Queued)).toBe(0);
      scheduled.advance(3);
      expect(scheduled.truth().generation).toBe(6);
    } finally {
      await scheduled.close();
    }
  });
});
