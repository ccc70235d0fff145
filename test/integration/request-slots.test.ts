/**
 * --collector.concurrency limits requests in flight, not retries waiting: one account whose pages time out
 * on every attempt holds a request slot only while an attempt is out, so the other accounts' requests go
 * between its attempts instead of after all of them. In one process against the fake ThingSpace over real
 * sockets; the exporter's own --collector.timeout ends the hanging requests.
 */
import { makeData, startFakeThingSpace, type FakeThingSpace } from '../support/fake-thingspace.js';
import { startExporter, type Harness } from '../support/exporter-harness.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

const STUCK = '0000000001-00001';
const OTHERS = ['0000000002-00002', '0000000003-00003'];
const TIMEOUT_MS = 800;
const RETRIES = 3;

let fake: FakeThingSpace | undefined;
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  await fake?.close();
  harness = undefined;
  fake = undefined;
});

it("one account timing out on every attempt delays the others' passes by at most one timeout", async () => {
  const accounts = [STUCK, ...OTHERS];
  // One page per report: each of the others' passes is a single request, queued behind the stuck
  // account's first attempts.
  fake = await startFakeThingSpace({ data: makeData(accounts, 2, 2) });
  const order: { account: string; status: string }[] = [];
  fake.onReport = ({ account, status }) => {
    order.push({ account, status });
    return account === STUCK ? 'hang' : undefined;
  };
  // As many slots as the stuck account has reports, and the stuck account first in line: its first
  // attempts take every slot.
  harness = await startExporter(fake.url, accounts, [
    `--collector.concurrency=${UPGRADE_STATUSES.length}`,
    `--collector.timeout=${TIMEOUT_MS}ms`,
    `--collector.max-retries=${RETRIES}`,
  ]);
  const snapshot = await harness.exporter.collectOnce();

  const stuck = snapshot.reports.filter((r) => r.account === STUCK);
  expect(stuck.map((r) => r.error)).toEqual(UPGRADE_STATUSES.map(() => 'timeout'));
  expect(order.filter((r) => r.account === STUCK)).toHaveLength(
    UPGRADE_STATUSES.length * (1 + RETRIES),
  );
  const others = snapshot.reports.filter((r) => r.account !== STUCK);
  expect(others.every((r) => r.error === undefined)).toBe(true);

  // The others' requests were queued before any retry of the stuck account: they go as soon as its
  // first attempts give their slots back, not after its last. (The order they reach the fake over separate
  // connections may mix a few retries in; holding the slots through every retry would put all 24 first.)
  const firstAttempts = UPGRADE_STATUSES.length;
  const lastOther = order.map((r) => r.account).lastIndexOf(OTHERS[1]!);
  const stuckBeforeLastOther = order.slice(0, lastOther).filter((r) => r.account === STUCK);
  expect(order.slice(0, firstAttempts).every((r) => r.account === STUCK)).toBe(true);
  expect(stuckBeforeLastOther.length).toBeLessThan(2 * firstAttempts);

  // Their passes end about one timeout after the start (a second one is margin for a loaded machine);
  // holding the slots through every retry would end them with the stuck account's, after 1 + RETRIES
  // timeouts (the HTTP client's timer is coarse: 3.05-3.13 s here for 4 × 800 ms, hence RETRIES below).
  const seconds = (account: string) => snapshot.accountDurations.get(account)!;
  expect(seconds(STUCK)).toBeGreaterThanOrEqual((RETRIES * TIMEOUT_MS) / 1000);
  for (const account of OTHERS) expect(seconds(account)).toBeLessThan((2 * TIMEOUT_MS) / 1000);
});
