/**
 * Label values come from ThingSpace's free text, and newer APIs embed dates and counts in reasons: without
 * bounds, one report could create unbounded series. Each value is normalised, then capped per account+status.
 */
export const MAX_LABEL_LENGTH = 120;
export const OTHER = 'other';
export const NO_REASON = 'none';
export const UNKNOWN_FIRMWARE = 'unknown';

/** Cuts a value to MAX_LABEL_LENGTH Unicode code points (never in the middle of a surrogate pair). */
export function boundLength(value: string): string {
  if (value.length <= MAX_LABEL_LENGTH) return value;
  let end = 0;
  let points = 0;
  while (end < value.length && points < MAX_LABEL_LENGTH) {
    end += value.codePointAt(end)! > 0xffff ? 2 : 1;
    points++;
  }
  return value.slice(0, end);
}

/**
 * Keeps the first `max` distinct values it is shown and answers OTHER for any later new one.
 * Shown in report order (oldest upgrade first), the kept values are the long-lived ones and stay stable
 * from one collection to the next.
 */
export class LabelCap {
  private readonly kept = new Set<string>();
  /** Distinct values folded into OTHER, for the folded-values counter. */
  folded = 0;
  private readonly foldedSeen = new Set<string>();

  constructor(private readonly max: number) {}

  map(value: string): string {
    if (this.kept.has(value)) return value;
    if (this.kept.size < this.max) {
      this.kept.add(value);
      return value;
    }
    // Remember folded values only up to a bound: the count is for alerting, not an exact census.
    if (this.foldedSeen.size < 10 * this.max && !this.foldedSeen.has(value)) {
      this.foldedSeen.add(value);
      this.folded++;
    }
    return OTHER;
  }
}
