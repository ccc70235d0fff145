/**
 * How the last attempt at one piece of work went (a v1 report, a campaign listing, a campaign's walk,
 * the device walks of an account × API), and the one rule for its last good values: they stay served
 * while younger than --collector.max-stale after the last success, then go. Below collection, upgrades
 * and campaigns, which all apply it.
 */
import type { ErrorKind } from './thingspace/errors.js';

export interface Outcome {
  /** Whether the last pass read everything. */
  readonly success: boolean;
  readonly error?: ErrorKind;
  /** The failure's message, for the log line that groups failures. */
  readonly message?: string;
  /** Unix seconds of the last complete pass, if any since start-up. */
  readonly lastSuccessSeconds?: number;
}

/** Whether values last read successfully at `lastSuccessSeconds` may still be served at `nowMs`. */
export function isFresh(
  lastSuccessSeconds: number | undefined,
  nowMs: number,
  maxStaleMs: number,
): boolean {
  return lastSuccessSeconds !== undefined && nowMs - lastSuccessSeconds * 1000 <= maxStaleMs;
}

/** The last good result of a piece of work that failed now: kept while fresh, else undefined. */
export function keepWhileFresh<V extends { readonly lastSuccessSeconds?: number }>(
  last: V | undefined,
  nowMs: number,
  maxStaleMs: number,
): V | undefined {
  return last && isFresh(last.lastSuccessSeconds, nowMs, maxStaleMs) ? last : undefined;
}
