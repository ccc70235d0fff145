import type { RunningSimulator } from '../../src/simulator/index.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import {
  ACCOUNT_1,
  ACCOUNT_2,
  getPage,
  json,
  signIn,
  startFrozen,
  walk,
  walkAll,
  type ServedPage,
  type ServedUpgrade,
  type Session,
} from './helpers.js';

const PAGE_SIZE = 7;

function startSeconds(startDate: string): number {
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(startDate) ? `${startDate}T00:00:00Z` : startDate;
  return Date.parse(iso);
}

describe('simulator reports paging', () => {
  let sim: RunningSimulator;
  let auth: Session;

  beforeAll(async () => {
    sim = await startFrozen({
      seed: 7,
      accounts: 2,
      upgradesPerStatus: {
        RequestPending: 25,
        Queued: 25,
        RequestFailed: 25,
        InProgress: 25,
        Finished: 40,
        UpgradeFailed: 40,
      },
      pageSize: PAGE_SIZE,
    });
    auth = await signIn(sim.url);
  });
  afterAll(async () => {
    await sim.close();
  });

  test.each([50, 3])('walking every report gives the truth (maxLabelValues %i)', async (max) => {
    const truth = sim.truth(max);
    expect(truth.maxLabelValues).toBe(max);
    expect(await walkAll(sim, auth, max)).toEqual(truth.accounts);
    const json = JSON.stringify(truth.accounts);
    // Reasons that differ only in counts, dates and device ids fold into one value each.
    expect(json).not.toMatch(/last attempt \d/);
    if (max === 50) {
      expect(json).toContain('Upgrade failed after <n> attempts, last attempt <date>');
      expect(json).toContain('Device <id> not reachable');
    }
    // The data set must be big enough to exercise the caps.
    if (max === 3) {
      expect(json).toContain('"result_reason":"other"');
      expect(json).toContain('"firmware_to":"other"');
    }
  });

  test('small upgrades and a cap of 4: ties go to the most recent value', async () => {
    const small = await startFrozen({
      seed: 12,
      accounts: 1,
      devicesPerUpgradeMean: 2,
      pageSize: 5,
    });
    try {
      const session = await signIn(small.url);
      // With two devices an upgrade, firmware and reasons tie at the fourth place here.
      expect(await walkAll(small, session, 4)).toEqual(small.truth(4).accounts);
    } finally {
      await small.close();
    }
  });

  test('truth covers all six statuses of every account', () => {
    const truth = sim.truth();
    expect(Object.keys(truth.accounts)).toEqual([ACCOUNT_1, ACCOUNT_2]);
    for (const account of Object.values(truth.accounts)) {
      expect(Object.keys(account)).toEqual([...UPGRADE_STATUSES]);
    }
  });

  test('the label rules meet edge cases: long values, unknown firmware, missing reasons', () => {
    const values = JSON.stringify(sim.truth(1000));
    const truth = sim.truth(1000);
    const reasons = Object.values(truth.accounts).flatMap((account) =>
      Object.values(account).flatMap((status) => status.devices.map((d) => d.result_reason)),
    );
    const long = reasons.find((reason) => reason.startsWith('Upgrade deferred'));
    expect(long).toBeDefined();
    expect([...(long ?? '')]).toHaveLength(120);
    expect(long?.endsWith('🔌')).toBe(true);
    expect(reasons).toContain('none');
    expect(reasons.some((reason) => reason.includes('"'))).toBe(true);
    expect(reasons.some((reason) => reason.includes('\\'))).toBe(true);
    expect(reasons.some((reason) => reason.includes('\n'))).toBe(true);
    expect(values).toContain('"firmware_to":"unknown"');
  });

  test('pages are sorted oldest first, sized, and chained by the last upgrade id', async () => {
    const list: ServedUpgrade[] = [];
    let index: string | number = 0;
    for (;;) {
      const page: ServedPage = json<ServedPage>(
        await getPage(sim.url, auth, ACCOUNT_1, 'Finished', index),
      );
      list.push(...page.reportList);
      const last = page.reportList[page.reportList.length - 1];
      expect(page.lastSeenUpgradeId).toBe(last?.id);
      if (!page.hasMoreFlag) break;
      expect(page.reportList).toHaveLength(PAGE_SIZE);
      index = String(page.lastSeenUpgradeId);
    }
    expect(list).toHaveLength(40);
    const starts = list.map((upgrade) => startSeconds(upgrade.startDate));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(list.every((upgrade) => upgrade.status === 'Finished')).toBe(true);
    expect(list.some((upgrade) => /^\d{4}-\d{2}-\d{2}$/.test(upgrade.startDate))).toBe(true);
    expect(list.some((upgrade) => upgrade.startDate.endsWith('.000Z'))).toBe(true);
  });

  test('served upgrades have the documented shape and realistic devices', async () => {
    const { upgrades } = await walk(sim.url, auth, ACCOUNT_2, 'RequestPending');
    for (const upgrade of upgrades) {
      expect(upgrade).toEqual({
        id: expect.stringMatching(
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        ),
        accountName: ACCOUNT_2,
        firmwareName: expect.any(String),
        ...(upgrade.firmwareTo === undefined ? {} : { firmwareTo: expect.any(String) }),
        startDate: expect.any(String),
        status: 'RequestPending',
        deviceList: expect.any(Array),
      });
      for (const device of upgrade.deviceList) {
        expect(device.deviceId).toMatch(/^\d{15}$/);
        expect(['Request Pending', 'Device Accepted']).toContain(device.status);
      }
    }
    const devices = upgrades.flatMap((upgrade) => upgrade.deviceList);
    expect(devices.some((device) => device.resultReason === undefined)).toBe(true);
  });

  test('a numeric index is the zero-based number of the first record', async () => {
    const { upgrades } = await walk(sim.url, auth, ACCOUNT_1, 'Queued');
    const page = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 5));
    expect(page.reportList.map((u) => u.id)).toEqual(
      upgrades.slice(5, 5 + PAGE_SIZE).map((u) => u.id),
    );
    const beyond = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 1000));
    expect(beyond).toEqual({ hasMoreFlag: false, reportList: [] });
  });

  test.each([
    ['0242078689-99999', 'Queued', '0', 'Inactive account'],
    ['not-an-account', 'Queued', '0', 'Invalid account name format'],
    [ACCOUNT_1, 'Cancelled', '0', 'Invalid upgrade status'],
    [ACCOUNT_1, 'Queued', 'abc', 'Invalid index value'],
    [ACCOUNT_1, 'Queued', '-1', 'Invalid index value'],
    [ACCOUNT_1, 'Queued', '3ac8c863-bde7-4f41-878e-dd5473e973bb', 'Invalid index value'],
  ])('%s/%s/%s is refused: %s', async (account, status, index, message) => {
    const answer = await getPage(sim.url, auth, account, status, index);
    expect(answer.status).toBe(400);
    expect(json(answer)).toEqual({ errorCode: 'INVALID_PARAMETER', errorMessage: message });
  });

  test('an upgrade id of another account is not a valid cursor', async () => {
    const other = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_2, 'Queued', 0));
    const answer = await getPage(
      sim.url,
      auth,
      ACCOUNT_1,
      'Queued',
      String(other.lastSeenUpgradeId),
    );
    expect(answer.status).toBe(400);
  });
});

describe('simulator paging across a tick', () => {
  test('a cursor stays usable after its upgrade moved on or left', async () => {
    const sim = await startFrozen({ seed: 3, accounts: 1, pageSize: 3, tickStepMs: 86_400_000 });
    try {
      const auth = await signIn(sim.url);
      for (const status of UPGRADE_STATUSES) {
        const first = json<ServedPage>(await getPage(sim.url, auth, ACCOUNT_1, status, 0));
        sim.advance(30);
        const next = await getPage(
          sim.url,
          auth,
          ACCOUNT_1,
          status,
          String(first.lastSeenUpgradeId),
        );
        expect(next.status).toBe(200);
      }
    } finally {
      await sim.close();
    }
  });
});
