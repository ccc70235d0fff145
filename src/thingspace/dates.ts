/**
 * ThingSpace writes dates both as `2018-04-02` and as `2018-04-01T16:03:00.000Z` (and sometimes without a
 * zone, meaning UTC). A date alone means UTC midnight at its start; as an end date, the end of that day.
 */
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const DAY_SECONDS = 86_400;

/** Unix seconds of a ThingSpace date; undefined when missing or unreadable. */
export function parseDate(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  let ms: number;
  if (DATE_ONLY.test(text)) ms = Date.parse(`${text}T00:00:00Z`);
  else if (DATE_TIME.test(text))
    ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`);
  else return undefined;
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** An end date in Unix seconds: a date alone ends at the next midnight, UTC. */
export function parseEndDate(text: string | null | undefined): number | undefined {
  const seconds = parseDate(text);
  if (seconds === undefined || !DATE_ONLY.test(text!)) return seconds;
  return seconds + DAY_SECONDS;
}
