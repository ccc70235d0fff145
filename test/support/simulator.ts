/** The simulator as a separate process, with its control API, and its truth as series for comparing. */
import { SIMULATOR_BIN, startProcess, type Running } from './process.js';
import { CAMPAIGN_METRICS, seriesKey, type Sample, type Truth } from '../../bench/lib/series.mjs';
import type { CampaignTruth } from '../../src/simulator/index.js';

export const SIMULATOR_ENV = {
  THINGSPACE_CLIENT_ID: 'demo-client',
  THINGSPACE_CLIENT_SECRET: 'demo-secret',
  THINGSPACE_USERNAME: 'demo-user',
  THINGSPACE_PASSWORD: 'demo-password',
};

/** What /_sim/truth is asked for (docs/simulator.md, "Truth"); every field is optional. */
export interface TruthQuery {
  maxLabelValues?: number;
  /** A duration such as 7d (the exporter's --collector.campaign-lookback). */
  campaignLookback?: string;
  maxCampaigns?: number;
  /** ms since the epoch: pass the exporter's wall clock, since it decides the walk set by it. */
  now?: number;
  /** A generation: adds what entered each status after it. */
  enteredSince?: number;
  /** With enteredSince: which upgrades and devices entered, too. */
  enteredDetails?: boolean;
}

/** The part of a truth query the exporter must be told the same (its campaign walk set and label cap). */
export type CampaignQuery = Required<
  Pick<TruthQuery, 'maxLabelValues' | 'campaignLookback' | 'maxCampaigns'>
>;

/** Every campaign stays walked all along (the truth counts the campaigns walked now). */
export const WALK_EVERY_CAMPAIGN: CampaignQuery = {
  maxLabelValues: 50,
  campaignLookback: '3650d',
  maxCampaigns: 100_000,
};

/** The exporter flags that say what the truth query says. */
export function campaignQueryFlags(q: CampaignQuery): string[] {
  return [
    `--collector.max-label-values=${q.maxLabelValues}`,
    `--collector.campaign-lookback=${q.campaignLookback}`,
    `--collector.max-campaigns=${q.maxCampaigns}`,
  ];
}

/** The whole truth: the v1 part the benchmark also reads, and the campaigns. */
export interface SimulatorTruth extends Truth {
  maxLabelValues: number;
  campaignLookbackMs: number;
  maxCampaigns: number;
  now: number;
  enteredSince: number | null;
  accounts: Record<
    string,
    Record<
      string,
      Truth['accounts'][string][string] & { entered?: { upgrades: number; devices: number } }
    >
  >;
  campaigns: Record<string, Record<'v2' | 'v3', CampaignTruth>>;
}

export interface SimulatorProcess extends Running {
  url: string;
  /** A number is maxLabelValues alone. */
  truth(query?: number | TruthQuery): Promise<SimulatorTruth>;
  stats(): Promise<Record<string, unknown>>;
  setFaults(changes: Record<string, unknown>): Promise<void>;
  advance(ticks: number): Promise<number>;
  post(path: string, body?: unknown): Promise<unknown>;
}

async function json(res: Response): Promise<unknown> {
  if (!res.ok) throw new Error(`${res.url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

export function truthPath(query: number | TruthQuery = {}): string {
  const params = new URLSearchParams();
  const q: TruthQuery = typeof query === 'number' ? { maxLabelValues: query } : query;
  for (const [key, value] of Object.entries(q)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '/_sim/truth' : `/_sim/truth?${text}`;
}

export async function startSimulatorProcess(args: string[]): Promise<SimulatorProcess> {
  const p = startProcess(SIMULATOR_BIN, ['--listen-address', '127.0.0.1:0', ...args]);
  const line = await p.waitForLine((l) => l.msg === 'simulator listening');
  const url = String(line.url);
  const post = async (path: string, body?: unknown) =>
    json(
      await fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      }),
    );
  return {
    ...p,
    url,
    truth: async (query = 50) =>
      (await json(await fetch(url + truthPath(query)))) as SimulatorTruth,
    stats: async () => (await json(await fetch(`${url}/_sim/stats`))) as Record<string, unknown>,
    setFaults: async (changes) => {
      await json(
        await fetch(`${url}/_sim/faults`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(changes),
        }),
      );
    },
    advance: async (ticks) =>
      ((await post(`/_sim/advance?ticks=${ticks}`)) as { generation: number }).generation,
    post,
  };
}

// Truth as series is shared with the benchmark (bench/lib/series.mjs), which runs without a build step.
export { CAMPAIGN_METRICS };
export {
  BUSINESS_METRICS,
  ENTERED_METRICS,
  campaignTruthSeries,
  diffSeries,
  enteredTruthSeries,
  truthSeries,
} from '../../bench/lib/series.mjs';
export type { StatusTruth, Truth } from '../../bench/lib/series.mjs';

/** The exporter's campaign series (CAMPAIGN_METRICS) of the account × API pairs `only` accepts. */
export function campaignSeriesOf(
  samples: readonly Sample[],
  only: (account: string, api: string) => boolean = () => true,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (!CAMPAIGN_METRICS.includes(s.name)) continue;
    if (!only(s.labels.account ?? '', s.labels.api ?? '')) continue;
    out.set(seriesKey(s.name, s.labels), s.value);
  }
  return out;
}

/**
 * The truth for a collection that ran between `fromMs` and `toMs` of wall-clock time. The exporter
 * decides its campaign walk set at one instant inside that window; if a final campaign's end crossed
 * the lookback boundary inside it, no single `now` describes the collection, and this says so rather
 * than letting a comparison fail (or pass) by chance.
 */
export async function truthForWindow(
  sim: SimulatorProcess,
  query: Omit<TruthQuery, 'now'>,
  fromMs: number,
  toMs: number,
): Promise<SimulatorTruth> {
  const [first, last] = await Promise.all([
    sim.truth({ ...query, now: Math.floor(fromMs) }),
    sim.truth({ ...query, now: Math.ceil(toMs) }),
  ]);
  const walkedIds = (t: SimulatorTruth) =>
    Object.values(t.campaigns)
      .flatMap((apis) => Object.values(apis).flatMap((c) => c.walked.map((w) => w.campaign_id)))
      .sort();
  if (JSON.stringify(walkedIds(first)) !== JSON.stringify(walkedIds(last))) {
    throw new Error(
      `a campaign's end crossed the lookback boundary during the collection (${fromMs}..${toMs}): ` +
        'choose data or a lookback whose boundary no end date is near',
    );
  }
  return last;
}
