/** Request counts by endpoint and outcome, for tests and benchmarks to check what was served. */

import { ENDPOINTS, type Endpoint } from '../thingspace/errors.js';

export type { Endpoint };
/** An HTTP status code, or what happened instead of an answer. */
export type Outcome = number | 'reset' | 'closed' | 'hang' | 'aborted';

export class RequestStats {
  private counts = new Map<Endpoint, Map<string, number>>();

  count(endpoint: Endpoint, outcome: Outcome): void {
    let byOutcome = this.counts.get(endpoint);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.counts.set(endpoint, byOutcome);
    }
    const key = String(outcome);
    byOutcome.set(key, (byOutcome.get(key) ?? 0) + 1);
  }

  snapshot(): Record<Endpoint, Record<string, number>> {
    return Object.fromEntries(
      ENDPOINTS.map((endpoint) => [
        endpoint,
        Object.fromEntries([...(this.counts.get(endpoint) ?? new Map<string, number>())].sort()),
      ]),
    ) as Record<Endpoint, Record<string, number>>;
  }

  reset(): void {
    this.counts = new Map();
  }
}
