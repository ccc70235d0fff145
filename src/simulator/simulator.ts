/**
 * The simulator's state and behaviour, without HTTP: the v1 data set and the v2/v3 campaigns on one
 * clock, credentials, faults, statistics, the ticking, and the scenario trigger. server.ts exposes it
 * over HTTP.
 */
import { CAMPAIGN_APIS, CAMPAIGN_STATUSES, type CampaignApi } from '../campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../upgrades/statuses.js';
import { AuthState, type LoginState } from './auth.js';
import { CampaignDataset, type CampaignSpikeResult } from './campaign-dataset.js';
import { SimClock } from './clock.js';
import { Dataset, type FailureSpikeRequest, type UpgradeSpikeResult } from './dataset.js';
import { FaultState, type ThrottleWindowStats } from './faults.js';
import { FAULT_FLAGS, type FaultSettings, type SimulatorOptions } from './options.js';
import { UpgradeJsonCache } from './serialize.js';
import { RequestStats, type Endpoint } from './stats.js';
import { computeTruth, resolveTruthQuery, type TruthQuery } from './truth.js';

export interface StatsSnapshot {
  readonly generation: number;
  readonly clock: string;
  readonly requests: Record<Endpoint, Record<string, number>>;
  readonly login: LoginState;
  readonly data: {
    readonly upgrades: number;
    readonly devices: number;
    readonly campaigns: number;
    readonly campaignDevices: number;
  };
  readonly cache: {
    readonly upgrades: number;
    readonly bytes: number;
    readonly budgetBytes: number;
  };
  /** 429s answered per throttle window, when one is set. */
  readonly throttle: ThrottleWindowStats;
  /** The simulator's own memory, so a benchmark can tell its footprint from the exporter's. */
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number };
}

export interface FailureSpikeResult extends UpgradeSpikeResult {
  readonly generation: number;
  readonly account: string;
  /** Per API, the campaign whose devices still on the way all failed (none when nothing was pending). */
  readonly campaigns: CampaignSpikeResult[];
  readonly campaignFailedDevices: number;
}

type Summary = Record<string, Record<string, { upgrades: number; devices: number }>>;
type CampaignSummary = Record<
  string,
  Record<CampaignApi, Record<string, { campaigns: number; devices: number }>>
>;

/** Truths kept per generation: tests ask for a few parameter sets at a time. */
const TRUTH_CACHE_SIZE = 4;

export class Simulator {
  readonly clock: SimClock;
  readonly dataset: Dataset;
  readonly campaigns: CampaignDataset;
  readonly auth: AuthState;
  readonly faults: FaultState;
  readonly stats = new RequestStats();
  readonly cache: UpgradeJsonCache;
  private ticks = 0;
  private scenarioDone = false;
  private timer: NodeJS.Timeout | null = null;
  private truthCache = new Map<string, string>();

  constructor(readonly options: SimulatorOptions) {
    this.clock = new SimClock(options.startTimeMs);
    this.dataset = new Dataset(options, this.clock);
    this.campaigns = new CampaignDataset(options, this.dataset.accounts, this.clock);
    const faultSettings = Object.fromEntries(
      FAULT_FLAGS.map((spec) => [spec.key, options[spec.key]]),
    ) as FaultSettings;
    this.faults = new FaultState(faultSettings, options.seed);
    this.auth = new AuthState(options, () => this.faults.settings);
    this.cache = new UpgradeJsonCache(options.cacheMb * 1024 * 1024, this.dataset);
    this.maybeRunScenario();
  }

  get generation(): number {
    return this.clock.generation;
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
      this.clock.tick(this.options.tickStepMs);
      this.dataset.tick();
      this.campaigns.tick();
      this.ticks += 1;
      this.maybeRunScenario();
    }
    return this.clock.generation;
  }

  /** One change of state: the account's v1 spike and, per API, one campaign's pending devices. */
  failureSpike(request: FailureSpikeRequest = {}): FailureSpikeResult {
    const account = request.account ?? this.dataset.accounts[0];
    if (account === undefined || !this.dataset.hasAccount(account)) {
      throw new RangeError(`unknown account ${JSON.stringify(request.account)}`);
    }
    const generation = this.clock.bump();
    const upgrades = this.dataset.failureSpike(account, request);
    const campaigns = this.campaigns.failureSpike(account);
    return {
      generation,
      account,
      ...upgrades,
      campaigns,
      campaignFailedDevices: campaigns.reduce((sum, c) => sum + c.failedDevices, 0),
    };
  }

  /**
   * Truth as JSON text, memoised per generation and query: walking millions of devices is not
   * free, and tests ask for the same truth from several places.
   */
  truthJson(query: TruthQuery = {}): string {
    const resolved = resolveTruthQuery(query, this.clock.clockMs);
    const key = `${this.clock.generation}:${JSON.stringify(resolved)}`;
    let json = this.truthCache.get(key);
    if (json === undefined) {
      json = JSON.stringify(computeTruth(this.dataset, this.campaigns, resolved));
      const current = `${this.clock.generation}:`;
      for (const old of [...this.truthCache.keys()]) {
        if (!old.startsWith(current)) this.truthCache.delete(old);
      }
      const oldest = this.truthCache.keys().next();
      if (this.truthCache.size >= TRUTH_CACHE_SIZE && oldest.done !== true) {
        this.truthCache.delete(oldest.value);
      }
      this.truthCache.set(key, json);
    }
    return json;
  }

  statsSnapshot(): StatsSnapshot {
    return {
      generation: this.clock.generation,
      clock: new Date(this.clock.clockMs).toISOString(),
      requests: this.stats.snapshot(),
      login: this.auth.loginState(),
      data: { ...this.dataset.totals(), ...this.campaigns.totals() },
      cache: this.cache.usage(),
      throttle: this.faults.throttleWindows(),
      memory: {
        rssBytes: process.memoryUsage.rss(),
        heapUsedBytes: process.memoryUsage().heapUsed,
      },
    };
  }

  resetStats(): void {
    this.stats.reset();
    this.faults.clearThrottleCounts();
  }

  /** Upgrade and device counts per account and status, for a quick look at the data set. */
  summary(): Summary {
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

  /** Campaign and device counts per account, API and listing. */
  campaignSummary(): CampaignSummary {
    return Object.fromEntries(
      this.dataset.accounts.map((account) => [
        account,
        Object.fromEntries(
          CAMPAIGN_APIS.map((api) => [
            api,
            Object.fromEntries(
              CAMPAIGN_STATUSES.map((status) => {
                const list = this.campaigns.listing(account, api, status);
                const devices = list.reduce((sum, campaign) => sum + campaign.deviceCount, 0);
                return [status, { campaigns: list.length, devices }];
              }),
            ),
          ]),
        ),
      ]),
    ) as CampaignSummary;
  }

  private maybeRunScenario(): void {
    if (this.scenarioDone || this.options.scenario === null) return;
    if (this.ticks < this.options.scenarioAfterTicks) return;
    this.scenarioDone = true;
    this.failureSpike();
  }
}
