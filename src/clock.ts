/**
 * Time, injected everywhere: wall time only for timestamps that are exported or persisted, monotonic time
 * for every duration (a wall clock stepped back must neither delay nor hurry anything).
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (Date.now). */
  wallMs(): number;
  /** Milliseconds on a clock that never steps (performance.now). */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monotonicMs: () => performance.now(),
};
