/** The one rule for last good values: served while younger than max-stale after the last success. */
import { isFresh, keepWhileFresh } from '../../src/outcome.js';

describe('keepWhileFresh', () => {
  const last = { lastSuccessSeconds: 1_000, counts: 7 };

  it('keeps the last good value up to max-stale after its success, inclusive, then drops it', () => {
    expect(keepWhileFresh(last, 1_000_000 + 60_000, 60_000)).toBe(last);
    expect(keepWhileFresh(last, 1_000_000 + 60_001, 60_000)).toBeUndefined();
    expect(isFresh(1_000, 1_000_000 + 60_000, 60_000)).toBe(true);
    expect(isFresh(1_000, 1_000_000 + 60_001, 60_000)).toBe(false);
  });

  it('has nothing to keep without a last success', () => {
    expect(keepWhileFresh(undefined, 0, 60_000)).toBeUndefined();
    expect(keepWhileFresh({ lastSuccessSeconds: undefined }, 0, 60_000)).toBeUndefined();
    expect(isFresh(undefined, 0, 60_000)).toBe(false);
  });
});
