import type { Snapshot } from '../../src/collection/snapshot.js';
import { FIRST_PLACES, summarise } from '../../src/collection/summary.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

function outage(accounts: number): Snapshot {
  const names = Array.from(
    { length: accounts },
    (_, i) => `0242078689-${String(i + 1).padStart(5, '0')}`,
  );
  return {
    startedAtSeconds: 1_700_000_000,
    durationSeconds: 12.3456,
    reports: names.flatMap((account) =>
      UPGRADE_STATUSES.map((status) => ({
        account,
        status,
        success: false,
        error: status === 'Finished' ? ('timeout' as const) : ('http' as const),
        message:
          status === 'Finished'
            ? 'no complete answer within 30000 ms'
            : 'network error (ECONNREFUSED)',
      })),
    ),
    campaigns: names.map((account) => ({
      account,
      api: 'v2' as const,
      listing: { success: false, error: 'http' as const, message: 'network error (ECONNREFUSED)' },
      devices: { success: false, error: 'http' as const, message: 'network error (ECONNREFUSED)' },
      listings: new Map(),
      walks: new Map(),
      pages: 0,
    })),
    accountDurations: new Map(),
  };
}

describe('summarise: the one line a collection ends with', () => {
  it('groups an outage over 500 accounts by kind of error: counts, the first places, one message', () => {
    const summary = summarise(outage(500));
    expect(summary.failed).toBe(500 * 6 + 500 * 2);
    expect(Object.keys(summary.failures).sort()).toEqual(['http', 'timeout']);
    expect(summary.failures.timeout).toEqual({
      count: 500,
      first: Array.from(
        { length: FIRST_PLACES },
        (_, i) => `0242078689-${String(i + 1).padStart(5, '0')}/Finished`,
      ),
      message: 'no complete answer within 30000 ms',
    });
    expect(summary.failures.http!.count).toBe(500 * 5 + 500 * 2);
    expect(summary.failures.http!.first).toHaveLength(FIRST_PLACES);
    // One short line, however many accounts fail: what grows is a count.
    expect(JSON.stringify(summary).length).toBeLessThan(1000);
    // Ten times the accounts: only the counts grow, by a digit each.
    expect(JSON.stringify(summarise(outage(5000))).length).toBeLessThanOrEqual(
      JSON.stringify(summary).length + 10,
    );
  });

  it('has no failures when everything succeeded', () => {
    const summary = summarise({ ...outage(0), durationSeconds: 1 });
    expect(summary).toMatchObject({ failed: 0, failures: {}, reports: 0 });
  });
});
