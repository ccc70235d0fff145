/**
 * The simulator's state and behaviour, without HTTP: data set, credentials, faults, statistics,
 * the clock that ticks, and the scenario trigger. server.ts exposes it over HTTP.
 */
import { UPGRADE_STATUSES } from '../upgrades/statuses.js';
import { AuthState, type LoginState } from './auth.js';
import { Dataset, type FailureSpikeRequest, type FailureSpikeResult } from './dataset.js';
import { FaultState } from './faults.js';
import { FAULT_FLAGS, type FaultSettings, type SimulatorOptions } from './options.js';
import { UpgradeJsonCache } from './serialize.js';
import { RequestStats, type Endpoint } from './stats.js';
import { DEFAULT_MAX_LABEL_VALUES, computeTruth } from './truth.js';

export interface StatsSnapshot {
  readonly generation: number;
  readonly clock: string;
  readonly requests: Record<Endpoint, Record<string, number>>;
  readonly login: LoginState;
  readonly data: { readonly upgrades: number; readonly devices: number };
  readonly cache: {
    readonly upgrades: number;
    readonly bytes: number;
    readonly budgetBytes: number;
  };
  /** The simulator's own memory, so a benchmark can tell its footprint from the exporter's. */
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number };
}

export class Simulator {
  readonly dataset: Dataset;
  readonly auth: AuthState;
  readonly faults: FaultState;
  readonly stats = new RequestStats();
  readonly cache: UpgradeJsonCache;
  private ticks = 0;
  private scenarioDone = false;
  private timer: NodeJS.Timeout | null = null;
  private truthCache: { key: string; json: string } | null = null;

  constructor(readonly options: SimulatorOptions) {
    this.dataset = new Dataset(options);
    const faultSettings = Object.fromEntries(
      FAULT_FLAGS.map((spec) => [spec.key, options[spec.key]]),
    ) as FaultSettings;
    this.faults = new FaultState(faultSettings, options.seed);
    this.auth = new AuthState(options, () => this.faults.settings);
    this.cache = new UpgradeJsonCache(options.cacheMb * 1024 * 1024, this.dataset);
    this.maybeRunScenario();
  }

  /** Starts wall-clock ticking; with --tick 0 time only moves through advance(). */
  start(): void {
    if (this.options.tickMs <= 0 || this.timer !== null) return;
    this.timer = setInterval(() => this.advance(1), this.options.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  advance(ticks: number): number {
    for (let i = 0; i < ticks; i += 1) {
      this.dataset.tick();
      this.ticks += 1;
      this.maybeRunScenario();
    }
    return this.dataset.generation;
  }

  failureSpike(request?: FailureSpikeRequest): FailureSpikeResult {
    return this.dataset.failureSpike(request);
  }

  /** Truth as JSON text, memoised per generation and cap: walking millions of devices is not free. */
  truthJson(maxLabelValues = DEFAULT_MAX_LABEL_VALUES): string {
    const key = `${this.dataset.generation}:${maxLabelValues}`;
    if (this.truthCache?.key !== key) {
      this.truthCache = { key, json: JSON.stringify(computeTruth(this.dataset, maxLabelValues)) };
    }
    return this.truthCache.json;
  }

  statsSnapshot(): StatsSnapshot {
    return {
      generation: this.dataset.generation,
      clock: new Date(this.dataset.clockMs).toISOString(),
      requests: this.stats.snapshot(),
      login: this.auth.loginState(),
      data: this.dataset.totals(),
      cache: this.cache.usage(),
      memory: {
        rssBytes: process.memoryUsage.rss(),
        heapUsedBytes: process.memoryUsage().heapUsed,
      },
    };
  }

  /** Upgrade and device counts per account and status, for a quick look at the data set. */
  summary(): Record<string, Record<string, { upgrades: number; devices: number }>> {
    return Object.fromEntries(
      this.dataset.accounts.map((account) => [
        account,
        Object.fromEntries(
          UPGRADE_STATUSES.map((status) => {
            const list = this.dataset.list(account, status);
            const devices = list.reduce((sum, upgrade) => sum + upgrade.deviceCount, 0);
            return [status, { upgrades: list.length, devices }];
          }),
        ),
      ]),
    );
  }

  private maybeRunScenario(): void {
    if (this.scenarioDone || this.options.scenario === null) return;
    if (this.ticks < this.options.scenarioAfterTicks) return;
    this.scenarioDone = true;
    this.failureSpike();
  }
}
