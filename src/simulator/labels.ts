/**
 * The exporter's label rules (SPEC §3), written here from the rule text and never imported from the
 * exporter: if both sides shared one implementation, the end-to-end equality tests could not catch
 * a misreading of the rules. Used by the v1 truth (truth.ts) and the campaign truth (campaign-truth.ts).
 */

export const MAX_LABEL_LENGTH = 120;
export const DEFAULT_MAX_LABEL_VALUES = 50;
/** Working memory of the top-N rule: this many distinct values per label are tracked, per N. */
export const TRACKED_PER_KEPT = 10;
export const OTHER = 'other';
export const NONE = 'none';
export const UNKNOWN = 'unknown';

/** Cuts a value to its first MAX_LABEL_LENGTH Unicode code points (not UTF-16 units). */
export function truncateLabel(value: string): string {
  if (value.length <= MAX_LABEL_LENGTH) return value;
  const points = Array.from(value);
  return points.length <= MAX_LABEL_LENGTH ? value : points.slice(0, MAX_LABEL_LENGTH).join('');
}

/** Missing or empty becomes `fallback`; anything else is cut to the label length. */
export function labelOr(value: string | null | undefined, fallback: string): string {
  return value === undefined || value === null || value === '' ? fallback : truncateLabel(value);
}

/** The steps of reason normalisation, in the order SPEC §3.1 applies them. */
const REASON_STEPS: readonly (readonly [RegExp, string])[] = [
  [/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g, '<id>'],
  [/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<time>'],
  [/\d{4}-\d{2}-\d{2}/g, '<date>'],
  [/\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{2,4}\b/gi, '<date>'],
  [/\b\d{1,2}:\d{2}(?::\d{2})?(?: ?(?:UTC|GMT|Z)\b)?/g, '<time>'],
  [/\d{6,}/g, '<id>'],
  [/(?<![\p{L}\p{N}_.-])\d+(?:\.\d+)?(?![\p{L}\p{N}_])/gu, '<n>'],
];

/** The same few hundred raw reasons come back for every device: remember their normal forms. */
const normalised = new Map<string, string>();
const NORMALISED_LIMIT = 100_000;

/** Replaces the variable parts of a reason (ids, dates, times, numbers); nothing else changes. */
export function normaliseReason(raw: string): string {
  let text = normalised.get(raw);
  if (text !== undefined) return text;
  text = raw;
  // Digits are what every step needs; most reasons have none and skip the seven scans.
  if (/\d/.test(text))
    for (const [pattern, token] of REASON_STEPS) text = text.replace(pattern, token);
  if (normalised.size >= NORMALISED_LIMIT) normalised.clear();
  normalised.set(raw, text);
  return text;
}

/** A raw result reason as a label value: normalised, cut, `none` when missing or empty. */
export function reasonLabel(raw: string | null | undefined): string {
  return raw === undefined || raw === null || raw === ''
    ? NONE
    : truncateLabel(normaliseReason(raw));
}

interface Tally {
  weight: number;
  recency: number;
}

/**
 * The top-N rule of SPEC §3.3 for one label. Values are offered in processing order, within walks
 * (a v1 report pass is one walk; each campaign is a walk of its own). In each walk only the first
 * M = 10 × N distinct values are tracked; a value met after that is `other` for the rest of that
 * walk. Across walks every tracked value competes: the N with the highest weight are kept, ties
 * to the higher recency; everything else is `other`.
 */
export class TopLabels {
  private readonly tallies = new Map<string, Tally>();
  private walk = new Set<string>();
  private readonly tracked: number;
  private keptValues: Set<string> | null = null;

  constructor(private readonly kept: number) {
    this.tracked = TRACKED_PER_KEPT * kept;
  }

  /** Starts a new walk: its first M distinct values will be tracked. */
  beginWalk(): void {
    this.walk = new Set();
  }

  /**
   * Adds weight to a value at a recency; returns whether the value is tracked in the current walk
   * (an untracked value is `other` whatever is kept in the end).
   */
  offer(value: string, weight: number, recency: number): boolean {
    if (!this.walk.has(value)) {
      if (this.walk.size >= this.tracked) return false;
      this.walk.add(value);
    }
    const tally = this.tallies.get(value);
    if (tally === undefined) this.tallies.set(value, { weight, recency });
    else {
      tally.weight += weight;
      if (recency > tally.recency) tally.recency = recency;
    }
    this.keptValues = null;
    return true;
  }

  /** The values kept once every walk is done. */
  keptSet(): ReadonlySet<string> {
    this.keptValues ??= new Set(
      [...this.tallies]
        .sort(([, a], [, b]) => b.weight - a.weight || b.recency - a.recency)
        .slice(0, this.kept)
        .map(([value]) => value),
    );
    return this.keptValues;
  }

  /** The label of a value that was (or was not) tracked in its walk. */
  label(value: string, tracked: boolean): string {
    return tracked && this.keptSet().has(value) ? value : OTHER;
  }
}

/** One distinct value of a label within an upgrade: its entries and the index of its last one. */
export interface ValueRun {
  readonly value: string;
  readonly count: number;
  readonly last: number;
}

/**
 * A run of device entries (an upgrade's, a campaign's) reduced to what the label rules need: distinct values in order of
 * first appearance with their counts and last positions, and counts per (status, reason). The top-N
 * rule only looks at first appearances (tracking), totals (weight) and last positions (recency), so
 * offering these is the same as offering the entries one by one.
 */
export interface DeviceSummary {
  readonly version: number;
  readonly statuses: readonly ValueRun[];
  readonly reasons: readonly ValueRun[];
  /** [status index, reason index, count] */
  readonly pairs: readonly (readonly [number, number, number])[];
}

/** Collects label values of a run of device entries into a DeviceSummary. */
export class SummaryBuilder {
  private readonly statuses = new Map<string, { index: number; count: number; last: number }>();
  private readonly reasons = new Map<string, { index: number; count: number; last: number }>();
  private readonly pairs = new Map<number, number>();
  private position = 0;

  add(deviceStatus: string, resultReason: string): void {
    const s = this.note(this.statuses, deviceStatus);
    const r = this.note(this.reasons, resultReason);
    addCount(this.pairs, s * 0x100000 + r, 1);
    this.position += 1;
  }

  build(version: number): DeviceSummary {
    const runs = (values: Map<string, { count: number; last: number }>): ValueRun[] =>
      [...values].map(([value, { count, last }]) => ({ value, count, last }));
    return {
      version,
      statuses: runs(this.statuses),
      reasons: runs(this.reasons),
      pairs: [...this.pairs].map(([pair, count]) => [
        Math.floor(pair / 0x100000),
        pair % 0x100000,
        count,
      ]),
    };
  }

  private note(
    values: Map<string, { index: number; count: number; last: number }>,
    value: string,
  ): number {
    const entry = values.get(value);
    if (entry === undefined) {
      values.set(value, { index: values.size, count: 1, last: this.position });
      return values.size - 1;
    }
    entry.count += 1;
    entry.last = this.position;
    return entry.index;
  }
}

/**
 * Offers a summary's values to two top-N labels at a device position; returns, per distinct value,
 * whether it is tracked in this walk.
 */
export function offerSummary(
  summary: DeviceSummary,
  position: number,
  statusLabels: TopLabels,
  reasonLabels: TopLabels,
): { statuses: boolean[]; reasons: boolean[] } {
  return {
    statuses: summary.statuses.map((run) =>
      statusLabels.offer(run.value, run.count, position + run.last),
    ),
    reasons: summary.reasons.map((run) =>
      reasonLabels.offer(run.value, run.count, position + run.last),
    ),
  };
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Adds `count` to the entry of `key` in a counting map. */
export function addCount<K>(counts: Map<K, number>, key: K, count: number): void {
  counts.set(key, (counts.get(key) ?? 0) + count);
}
