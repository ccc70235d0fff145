/**
 * Retries of one request. Server errors, timeouts and network failures are retried at most `maxRetries`
 * times with exponential backoff and full jitter. A throttled answer (429, or 503 with Retry-After) is
 * different: the shared gate (gate.ts) pauses every request and decides when this one goes again, so it is
 * retried without counting, until the collection's time budget runs out (the gate then throws a final
 * throttled error). A throttled report thus resumes from its cursor instead of starting over.
 */
import { ThingSpaceError } from './errors.js';

export interface RetryPolicy {
  maxRetries: number;
  /** First backoff; it doubles with each retry, up to maxDelayMs, and is drawn with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Omit<RetryPolicy, 'maxRetries'> = {
  baseDelayMs: 250,
  maxDelayMs: 10_000,
};

export interface RetryDeps {
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  onRetry?: (error: ThingSpaceError, attempt: number, delayMs: number) => void;
}

export type Retry = <T>(attempt: () => Promise<T>) => Promise<T>;

/** A safety net should a throttled answer ever come back without the gate closing: never spin for ever. */
const MAX_THROTTLED_IN_A_ROW = 1000;

export function createRetry(policy: RetryPolicy, deps: RetryDeps): Retry {
  return async function retry<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0, throttled = 0; ;) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof ThingSpaceError) || !error.retryable) throw error;
        if (error.kind === 'throttled') {
          // The gate waits; the retry only has to ask again.
          if (++throttled >= MAX_THROTTLED_IN_A_ROW) throw error;
          deps.onRetry?.(error, throttled, 0);
          continue;
        }
        if (n >= policy.maxRetries) throw error;
        const delayMs =
          error.retryAfterSeconds !== undefined
            ? Math.min(error.retryAfterSeconds * 1000, policy.maxDelayMs)
            : deps.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** n);
        n++;
        deps.onRetry?.(error, n, delayMs);
        await deps.sleep(delayMs);
      }
    }
  };
}
