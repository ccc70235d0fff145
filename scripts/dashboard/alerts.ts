/**
 * What the panels show of the alerts in prometheus/rules/thingspace-fota.rules.yml: the fixed
 * thresholds drawn as lines or colours (the spike thresholds are not here: the panels draw the
 * recorded series the alerts compare against), and the runbook sections the panels link to.
 */
import type { RunbookLink } from './panels.js';

export const FAILURE_RATIO_ALERT = 0.2;
export const API_RATIO_ALERT = 0.1;
export const QUEUED_STUCK_SECONDS = 86_400;
export const IN_PROGRESS_STUCK_SECONDS = 259_200;
export const COLLECTION_LATE_SECONDS = 900;
export const DATA_STALE_SECONDS = 3_600;

/** The runbook section of an alert: docs/runbook.md#<alert name in lower case>. */
export function runbook(alert: string): RunbookLink {
  return { title: `Runbook: ${alert}`, anchor: alert.toLowerCase() };
}
