import { ThingSpaceError } from './errors.js';

export interface RetryPolicy {
  maxRetries: number;
  /** First backoff; it doubles with each retry, up to maxDelayMs, and is drawn with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the request fails as throttled. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: Omit<RetryPolicy, 'maxRetries'> = {
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
};

export interface RetryDeps {
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  onRetry?: (error: ThingSpaceError, attempt: number, delayMs: number) => void;
}

export type Retry = <T>(attempt: () => Promise<T>) => Promise<T>;

export function createRetry(policy: RetryPolicy, deps: RetryDeps): Retry {
  return async function retry<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof ThingSpaceError) || !error.retryable || n >= policy.maxRetries)
          throw error;
        let delayMs: number;
        if (error.retryAfterSeconds !== undefined) {
          delayMs = error.retryAfterSeconds * 1000;
          if (delayMs > policy.maxRetryAfterMs) throw error;
        } else {
          delayMs = deps.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** n);
        }
        deps.onRetry?.(error, n + 1, delayMs);
        await deps.sleep(delayMs);
      }
    }
  };
}
