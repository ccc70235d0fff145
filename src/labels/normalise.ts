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
import { boundLength, MAX_LABEL_LENGTH, NO_REASON } from './bound.js';

/** A pattern that can consume a character `isStop` lists would break the memo's prefixes (below). */
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
 * Raw reasons up to this many UTF-16 units are memoised as they are; longer ones by a prefix (see
 * `settledPrefix`), so the memo holds at most `maxMemo` × MAX_MEMO_KEY units however long the texts are.
 */
export const MAX_MEMO_KEY = 512;
/** Where the search for a prefix starts: far enough for its normal form to fill a label, as a rule. */
const MIN_PREFIX = 256;

/**
 * Characters no rule can consume: none of them is a digit, an ASCII letter, a space or one of `-:.+`, and
 * no pattern above matches anything else. ASCII controls and punctuation, and every BMP character beyond
 * ASCII except surrogates (so that a cut never splits a pair).
 */
function isStop(unit: number): boolean {
  if (unit >= 0x80) return unit < 0xd800 || unit > 0xdfff;
  return (
    unit < 0x20 || // controls: tab, newline, …
    (unit >= 0x21 && unit <= 0x2a) || // ! " # $ % & ' ( ) *
    unit === 0x2c || // ,
    unit === 0x2f || // /
    (unit >= 0x3b && unit <= 0x40) || // ; < = > ? @
    (unit >= 0x5b && unit <= 0x60) || // [ \ ] ^ _ `
    unit >= 0x7b // { | } ~ DEL
  );
}

/**
 * The longest prefix of `raw` within MAX_MEMO_KEY that ends with a stop character, if one ends at or after
 * MIN_PREFIX. The reason's label depends on nothing after such a prefix as long as the prefix's normal form
 * has MAX_LABEL_LENGTH code points or more:
 *
 * Every rule scans left to right; a match attempt starting before the stop has to consume it to look past
 * it (lookarounds and \b only look one character beyond a match, which is at most the stop itself), and no
 * pattern can. So every attempt that starts before the stop sees exactly what it sees in the prefix alone:
 * the matches before the stop are the same, the stop is kept, and the whole text's result is the prefix's
 * result followed by the rest's. The same holds for each next rule, the stop still being there; the label
 * is the first MAX_LABEL_LENGTH code points of the result, so the rest cannot reach it.
 */
function settledPrefix(raw: string): string | undefined {
  for (let end = Math.min(raw.length, MAX_MEMO_KEY); end >= MIN_PREFIX; end--) {
    if (isStop(raw.charCodeAt(end - 1))) return raw.slice(0, end);
  }
  return undefined;
}

/** A copy of a short slice: V8 slices of long strings keep the whole string alive. */
function detached(slice: string): string {
  return Buffer.from(slice, 'utf16le').toString('utf16le');
}

function codePoints(text: string, atLeast: number): boolean {
  if (text.length < atLeast) return false;
  let points = 0;
  for (const _ of text) if (++points >= atLeast) return true;
  return false;
}

/**
 * The label value of a raw result reason: normalised, cut, `none` when missing. Reasons repeat across millions
 * of device entries, so results are memoised; the memo is bounded in entries and in the length of its keys,
 * because the raw texts are not (a page may be 64 MiB). A long text is memoised by a prefix that settles its
 * label (`settledPrefix`); one without such a prefix is normalised whole each time and not remembered.
 */
export class ReasonLabels {
  private readonly memo = new Map<string, string>();
  constructor(private readonly maxMemo = 10_000) {}

  of(raw: string | null | undefined): string {
    if (!raw) return NO_REASON;
    const key = raw.length <= MAX_MEMO_KEY ? raw : settledPrefix(raw);
    if (key === undefined) return boundLength(normaliseReason(raw));
    let label = this.memo.get(key);
    if (label === undefined) {
      // A prefix's label is memoised as what it is, the label of that text: a reason may be exactly it.
      label = boundLength(normaliseReason(key));
      if (this.memo.size >= this.maxMemo) this.memo.clear();
      this.memo.set(key === raw ? raw : detached(key), label);
    }
    // A prefix settles the label only if its normal form fills one (long digit runs, ids shrink): else what
    // follows counts.
    if (key !== raw && !codePoints(label, MAX_LABEL_LENGTH))
      return boundLength(normaliseReason(raw));
    return label;
  }
}
