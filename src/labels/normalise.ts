/**
 * Result reasons are free text, and newer APIs put dates, times, counts and device ids inside them
 * ("…estimated to be scheduled for 06 Oct 22 18:05 UTC"). As label values such reasons would make a new
 * series every time, so their variable parts are replaced by placeholders, in this order:
 *
 *   1. UUIDs                                   → <id>
 *   2. ISO date-times (2022-10-06T18:05:00Z)   → <time>
 *   3. ISO dates (2022-10-06)                  → <date>
 *   4. written dates (06 Oct 22, 6 October 2022) → <date>
 *   5. clock times (18:05, 18:05:59 UTC)       → <time>
 *   6. runs of 6+ digits (IMEI, ICCID, MDN)    → <id>
 *   7. other numbers not inside a word         → <n>   ("15%" yes, "Version-02" no)
 *
 * Nothing else changes: whitespace, newlines and case are kept. The README documents the rule with examples.
 */
import { boundLength, NO_REASON } from './bound.js';

const RULES: readonly [RegExp, string][] = [
  [/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g, '<id>'],
  [/\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<time>'],
  [/\d{4}-\d{2}-\d{2}/g, '<date>'],
  [/\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{2,4}\b/gi, '<date>'],
  [/\b\d{1,2}:\d{2}(?::\d{2})?(?: ?(?:UTC|GMT|Z)\b)?/g, '<time>'],
  [/\d{6,}/g, '<id>'],
  [/(?<![\p{L}\p{N}_.-])\d+(?:\.\d+)?(?![\p{L}\p{N}_])/gu, '<n>'],
];

/** Replaces the variable parts of a reason with placeholders (rule above); text without digits is returned as is. */
export function normaliseReason(reason: string): string {
  if (!/\d/.test(reason)) return reason;
  let out = reason;
  for (const [pattern, placeholder] of RULES) out = out.replace(pattern, placeholder);
  return out;
}

/**
 * The label value of a raw result reason: normalised, cut, `none` when missing. Reasons repeat across millions
 * of device entries, so results are memoised; the memo is bounded, because the raw texts are not.
 */
export class ReasonLabels {
  private readonly memo = new Map<string, string>();
  constructor(private readonly maxMemo = 10_000) {}

  of(raw: string | null | undefined): string {
    if (!raw) return NO_REASON;
    let label = this.memo.get(raw);
    if (label === undefined) {
      label = boundLength(normaliseReason(raw));
      if (this.memo.size >= this.maxMemo) this.memo.clear();
      this.memo.set(raw, label);
    }
    return label;
  }
}
