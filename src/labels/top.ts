/**
 * Which values of a label get their own series: the N with the most device entries, ties to the most recent.
 * Keeping the first N seen (oldest upgrade first) would fold the current rollout's firmware into "other" once
 * six months of history hold more than N versions; weight keeps the values that matter now.
 *
 * Working memory is bounded: only the first `track` (10 × N) distinct values met are weighed; a value first
 * met after that is folded at once. The README documents the rule.
 */
import { OTHER } from './bound.js';

/** How many distinct values are weighed for each value kept. */
export const TRACKED_PER_KEPT = 10;

export interface Tally {
  weight: number;
  /** Position of the last occurrence in processing order: the tie-break. */
  last: number;
}

/** The `keep` values with the highest weight, ties to the higher position (the most recent). */
export function topOf(tallies: ReadonlyMap<string, Tally>, keep: number): ReadonlySet<string> {
  if (tallies.size <= keep) return new Set(tallies.keys());
  const ranked = [...tallies].sort(([, a], [, b]) => b.weight - a.weight || b.last - a.last);
  return new Set(ranked.slice(0, keep).map(([value]) => value));
}

export class TopValues {
  private readonly tallies = new Map<string, Tally>();
  private readonly untracked = new Set<string>();
  private readonly track: number;

  /** `track`: how many distinct values are weighed (10 × keep unless said otherwise). */
  constructor(
    private readonly keep: number,
    track = TRACKED_PER_KEPT * keep,
  ) {
    this.track = track;
  }

  /**
   * Adds `weight` to `value`, last seen at `position`. Returns the value, or OTHER when it is not tracked
   * (and so can never be kept): callers aggregate under what this returns and fold the rest at the end.
   */
  add(value: string, weight: number, position: number): string {
    const tally = this.tallies.get(value);
    if (tally) {
      tally.weight += weight;
      tally.last = position;
      return value;
    }
    if (this.tallies.size < this.track) {
      this.tallies.set(value, { weight, last: position });
      return value;
    }
    // Counted for the folded gauge only, and only up to a bound: it is for alerting, not a census.
    if (this.untracked.size < this.track) this.untracked.add(value);
    return OTHER;
  }

  /** The values that keep their own series. */
  kept(): ReadonlySet<string> {
    return topOf(this.tallies, this.keep);
  }

  /** Distinct values folded into OTHER (those met after the tracking bound, counted up to a bound). */
  get folded(): number {
    return Math.max(0, this.tallies.size - this.keep) + this.untracked.size;
  }

  /** Distinct values met after the tracking bound (each folded at once). */
  get untrackedCount(): number {
    return this.untracked.size;
  }

  /** The weighed values, for merging with others (campaigns are weighed one by one, then together). */
  entries(): ReadonlyMap<string, Tally> {
    return this.tallies;
  }
}

/** Maps a value to itself when kept, else to OTHER. */
export function keptOr(kept: ReadonlySet<string>, value: string): string {
  return kept.has(value) ? value : OTHER;
}
