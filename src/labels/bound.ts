/**
 * Label values come from ThingSpace's free text: every value is cut to a bounded length, and missing values
 * get a fixed name, so that a label never holds more than MAX_LABEL_LENGTH code points nor an empty string.
 */
export const MAX_LABEL_LENGTH = 120;
/** Values beyond --collector.max-label-values are counted under this one. */
export const OTHER = 'other';
/** A device entry without a result reason (e.g. while pending). */
export const NO_REASON = 'none';
/** A missing target firmware, device status or campaign name. */
export const UNKNOWN = 'unknown';

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
