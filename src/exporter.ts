/**
 * The exporter: wires the ThingSpace client to the collector, runs collections in the background on the
 * interval (never two at once: the next starts when the last one ended, or when the interval is up), and
 * swaps each complete snapshot, rendered once, in for the previous one.
 */
import { gzipSync } from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import type { Config } from './config/settings.js';
import { collect } from './collector/collect.js';
import type { Snapshot } from './collector/snapshot.js';
import type { Logger, SecretScrubber } from './log.js';
import { renderSnapshot } from './metrics/exposition.js';
import { LiveMetrics } from './metrics/live.js';
import { Authenticator } from './thingspace/auth.js';
import { ThingSpaceClient, type ReportSource } from './thingspace/client.js';
import { createSend } from './thingspace/http.js';
import { createRetry, DEFAULT_RETRY_POLICY } from './thingspace/retry.js';

export interface ExporterDeps {
  logger: Logger;
  scrubber: SecretScrubber;
  version: string;
  /** Injected by tests; by default one keep-alive pool per origin, sized for the concurrency. */
  dispatcher?: Dispatcher;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

interface Exposition {
  readonly published: Published | undefined;
  readonly at: number;
  readonly text: string;
  gzipped?: Buffer;
}

interface Published {
  readonly snapshot: Snapshot;
  readonly text: string;
}

export type CollectionConfig = Pick<
  Config,
  | 'baseUrl'
  | 'accounts'
  | 'clientId'
  | 'clientSecret'
  | 'username'
  | 'password'
  | 'maxLoginFailures'
  | 'interval'
  | 'concurrency'
  | 'timeout'
  | 'maxRetries'
  | 'maxStale'
  | 'maxLabelValues'
  | 'maxPages'
  | 'maxPageBytes'
>;

/** Live counters may be this old in a scrape; Prometheus scrapes every 15 s or more. */
const LIVE_METRICS_MAX_AGE_MS = 1000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Exporter {
  readonly live: LiveMetrics;
  private readonly source: ReportSource;
  private readonly dispatcher: Dispatcher;
  private readonly now: () => number;
  private published: Published | undefined;
  private cached: Exposition | undefined;
  private running: Promise<Snapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly config: CollectionConfig,
    private readonly deps: ExporterDeps,
  ) {
    const { logger, scrubber } = deps;
    this.now = deps.now ?? Date.now;
    this.live = new LiveMetrics(config.accounts, deps.version);
    this.dispatcher =
      deps.dispatcher ??
      new Agent({ connections: config.concurrency + 2, keepAliveTimeout: 60_000, pipelining: 1 });
    for (const secret of [config.clientId, config.clientSecret, config.username, config.password]) {
      scrubber.add(secret.read());
    }
    const send = createSend({
      baseUrl: config.baseUrl,
      dispatcher: this.dispatcher,
      timeoutMs: config.timeout,
      maxBodyBytes: config.maxPageBytes,
      observe: (endpoint, code, seconds) => this.live.apiRequest(endpoint, code, seconds),
      now: this.now,
    });
    const retry = createRetry(
      { ...DEFAULT_RETRY_POLICY, maxRetries: config.maxRetries },
      {
        sleep: deps.sleep ?? delay,
        random: deps.random ?? Math.random,
        onRetry: (error, attempt, delayMs) =>
          logger.debug(
            { kind: error.kind, code: error.code, attempt, delayMs: Math.round(delayMs) },
            `retrying: ${error.message}`,
          ),
      },
    );
    const auth = new Authenticator({
      send,
      retry,
      credentials: {
        clientId: config.clientId,
        clientSecret: config.clientSecret,
        username: config.username,
        password: config.password,
      },
      now: this.now,
      loginBackoffMs: config.interval,
      maxLoginFailures: config.maxLoginFailures,
      onSecret: (value) => scrubber.add(value),
      onLoginRejected: (kind, consecutive, blocked) => {
        this.live.loginRejected(kind, blocked);
        if (blocked) {
          logger.error(
            { kind, consecutive },
            `ThingSpace rejected ${consecutive} logins in a row: no more logins until the credentials change or the exporter restarts (five failures lock the user)`,
          );
        } else {
          logger.error(
            { kind, consecutive },
            'ThingSpace rejected the login; the next attempt waits at least one collection interval',
          );
        }
      },
      onLoginSucceeded: () => this.live.loginSucceeded(),
    });
    this.source = new ThingSpaceClient(send, auth, retry);
  }

  /** The last complete snapshot, if any collection has finished yet. */
  get snapshot(): Snapshot | undefined {
    return this.published?.snapshot;
  }

  get ready(): boolean {
    return this.published !== undefined;
  }

  /**
   * The full exposition: the snapshot's pre-rendered text plus the live metrics. The whole text is reused
   * for up to LIVE_METRICS_MAX_AGE_MS while the snapshot stays the same, so that many scrapers (HA pairs,
   * federation) cost a string copy rather than a registry walk each.
   */
  async metrics(): Promise<string> {
    return (await this.exposition()).text;
  }

  /** The same exposition gzipped (Prometheus asks for gzip), compressed once per cached text. */
  async metricsGzipped(): Promise<Buffer> {
    const exposition = await this.exposition();
    exposition.gzipped ??= gzipSync(exposition.text, { level: 6 });
    return exposition.gzipped;
  }

  private async exposition(): Promise<Exposition> {
    const now = this.now();
    const cached = this.cached;
    if (
      cached &&
      cached.published === this.published &&
      now - cached.at < LIVE_METRICS_MAX_AGE_MS
    ) {
      return cached;
    }
    const published = this.published;
    const text = (published?.text ?? '') + (await this.live.render());
    this.cached = { published, at: now, text };
    return this.cached;
  }

  /** Runs one collection, or joins the one already running. */
  collectOnce(): Promise<Snapshot> {
    this.running ??= this.runCollection().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async runCollection(): Promise<Snapshot> {
    const { logger } = this.deps;
    const snapshot = await collect(
      this.collectOptions(),
      {
        source: this.source,
        now: this.now,
        onReportFailed: (account, status, error) => {
          this.live.reportFailed(account, status, error.kind);
          logger.warn(
            { account, status, error: error.kind, code: error.code, httpStatus: error.httpStatus },
            `report failed: ${error.message}`,
          );
        },
      },
      this.published?.snapshot,
    );
    this.published = { snapshot, text: renderSnapshot(snapshot) };
    logger.info(summarise(snapshot), 'collection finished');
    return snapshot;
  }

  private collectOptions() {
    const { accounts, concurrency, maxStale, maxLabelValues, maxPages } = this.config;
    return { accounts, concurrency, maxStaleMs: maxStale, maxLabelValues, maxPages };
  }

  /** Collects now and then on the interval until stop(). */
  start(): void {
    const tick = async () => {
      const started = this.now();
      try {
        await this.collectOnce();
      } catch (error) {
        // collect() turns ThingSpace failures into report states; reaching here is a bug, not a reason to stop.
        this.deps.logger.error({ err: error }, 'collection crashed');
      }
      if (this.stopped) return;
      const wait = Math.max(0, started + this.config.interval - this.now());
      this.timer = setTimeout(() => void tick(), wait);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.dispatcher.destroy().catch(() => undefined);
  }
}

export function summarise(snapshot: Snapshot) {
  let pages = 0;
  let upgrades = 0;
  let devices = 0;
  const failures: string[] = [];
  for (const report of snapshot.reports) {
    if (report.success && report.counts) {
      pages += report.pages ?? 0;
      upgrades += report.counts.upgradeCount;
      devices += report.counts.deviceCount;
    } else {
      failures.push(`${report.account}/${report.status}: ${report.error ?? 'error'}`);
    }
  }
  return {
    durationSeconds: Number(snapshot.durationSeconds.toFixed(3)),
    reports: snapshot.reports.length,
    pages,
    upgrades,
    devices,
    failed: failures.length,
    failures,
  };
}
