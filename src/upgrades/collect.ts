/**
 * One pass over one FOTA v1 report (account × status): paged, aggregated as pages arrive, arrivals counted.
 * A pass that fails keeps the last good values while they are younger than max-stale.
 */
import type { ReportMemory } from '../arrivals/report-memory.js';
import type { ReasonLabels } from '../labels/normalise.js';
import { keepWhileFresh, type Outcome } from '../outcome.js';
import type { ThingSpaceApi } from '../thingspace/client.js';
import type { ThingSpaceError } from '../thingspace/errors.js';
import { ReportAggregator, type ReportCounts } from './aggregate.js';
import { walkReport, type Schedule } from './pager.js';
import type { Upgrade } from './schema.js';
import type { UpgradeStatus } from './statuses.js';

export interface ReportState extends Outcome {
  readonly account: string;
  readonly status: UpgradeStatus;
  /**
   * The values served: this pass's on success, the last good pass's while it is younger than max-stale,
   * otherwise undefined (the series disappear).
   */
  readonly counts?: ReportCounts;
  /** Pages read by the pass that produced `counts`. */
  readonly pages?: number;
}

export interface ReportPass {
  readonly api: ThingSpaceApi;
  readonly account: string;
  readonly status: UpgradeStatus;
  readonly schedule: Schedule;
  readonly memory: ReportMemory;
  readonly maxPages: number;
  readonly maxLabelValues: number;
  readonly maxStaleMs: number;
  readonly reasons: ReasonLabels;
  readonly wallMs: () => number;
  readonly onFailed: (error: ThingSpaceError) => void;
  readonly errorOf: (caught: unknown) => ThingSpaceError;
  /** Each upgrade the memory counts as an arrival, as it is counted (the arrivals journal's entries). */
  readonly onArrival?: (upgrade: Upgrade) => void;
}

/** Reads the report; resolves to its state and whether the pass was complete. */
export async function collectReport(
  pass: ReportPass,
  last: ReportState | undefined,
): Promise<{ state: ReportState; complete: boolean }> {
  const { account, status, memory } = pass;
  const aggregator = new ReportAggregator(pass.maxLabelValues, pass.reasons);
  try {
    const pages = await walkReport({
      api: pass.api,
      account,
      status,
      maxPages: pass.maxPages,
      schedule: pass.schedule,
      onPage: (page) => {
        aggregator.addPage(page);
        for (const upgrade of page.upgrades) {
          if (memory.see(upgrade.id, upgrade.deviceList ? upgrade.deviceList.length : 0))
            pass.onArrival?.(upgrade);
        }
      },
    });
    const state: ReportState = {
      account,
      status,
      success: true,
      lastSuccessSeconds: pass.wallMs() / 1000,
      counts: aggregator.result(),
      pages,
    };
    return { state, complete: true };
  } catch (caught) {
    const error = pass.errorOf(caught);
    pass.onFailed(error);
    const kept = keepWhileFresh(last, pass.wallMs(), pass.maxStaleMs);
    const state: ReportState = {
      account,
      status,
      success: false,
      error: error.kind,
      message: error.message,
      lastSuccessSeconds: last?.lastSuccessSeconds,
      counts: kept?.counts,
      pages: kept?.pages,
    };
    return { state, complete: false };
  }
}
