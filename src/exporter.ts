/**
 * The exporter: wiring only. The ThingSpace client (HTTP pool, throttle gate, retries, tokens) feeds the
 * Collector; each collection's snapshot is rendered once and published to the Exposition that scrapes
 * read; the CollectionLoop runs collections in the background on the interval.
 */
import { Agent, type Dispatcher } from 'undici';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/settings.js';
import { ArrivalJournal } from './arrivals/journal.js';
import { Collector, type Failure } from './collection/collect.js';
import { CollectionLoop } from './collection/loop.js';
import type { Snapshot } from './collection/snapshot.js';
import { summarise } from './collection/summary.js';
import type { Logger, SecretScrubber } from './log.js';
import { Exposition } from './metrics/exposition.js';
import { LiveMetrics } from './metrics/live.js';
import { renderEntered, renderSnapshot } from './metrics/render.js';
import { ArrivalsPersistence, type ArrivalsState } from './storage/arrivals-snapshot.js';
import type { StateStore } from './storage/store.js';
import { Authenticator } from './thingspace/auth.js';
import { ThingSpaceClient } from './thingspace/client.js';
import { gatedSend, ThrottleGate } from './thingspace/gate.js';
import { createSend } from './thingspace/http.js';
import { createRetry, DEFAULT_RETRY_POLICY } from './thingspace/retry.js';

export interface ExporterDeps {
  logger: Logger;
  scrubber: SecretScrubber;
  version: string;
  /** Injected by tests; by default one keep-alive pool per origin, sized for the concurrency. */
  dispatcher?: Dispatcher;
  clock?: Clock;
  /** The --storage.path store, loaded by the command; absent: memory only, as before. */
  store?: StateStore;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export type CollectionConfig = Pick<
  Config,
  | 'baseUrl'
  | 'accounts'
  | 'apis'
  | 'clientId'
  | 'clientSecret'
  | 'username'
  | 'password'
  | 'maxLoginFailures'
  | 'maxRequestsPerSecond'
  | 'interval'
  | 'concurrency'
  | 'timeout'
  | 'maxRetries'
  | 'maxStale'
  | 'maxLabelValues'
  | 'maxPages'
  | 'maxPageBytes'
  | 'campaignLookback'
  | 'maxCampaigns'
  | 'externalUrl'
  | 'arrivalsEnabled'
  | 'arrivalsRetention'
  | 'arrivalsMaxEntries'
>;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether a collection completed any pass: its memories then hold something worth writing. */
function readSomething(snapshot: Snapshot): boolean {
  return (
    snapshot.reports.some((r) => r.success) ||
    snapshot.campaigns.some((c) => c.listing.success || c.devices.success)
  );
}

export class Exporter {
  readonly live: LiveMetrics;
  readonly collector: Collector;
  /** The arrivals behind the entered counters; undefined with --arrivals.enabled=false. */
  readonly arrivals: ArrivalJournal | undefined;
  private readonly exposition: Exposition;
  private readonly loop: CollectionLoop;
  private readonly dispatcher: Dispatcher;
  private published: Snapshot | undefined;
  /** With --storage.path: the id memories and entered counters kept across restarts. */
  private readonly persistence: ArrivalsPersistence | undefined;

  constructor(
    private readonly config: CollectionConfig,
    private readonly deps: ExporterDeps,
  ) {
    const { logger, scrubber } = deps;
    const clock = deps.clock ?? systemClock;
    const sleep = deps.sleep ?? delay;
    const random = deps.random ?? Math.random;
    this.arrivals = config.arrivalsEnabled
      ? new ArrivalJournal({
          retentionMs: config.arrivalsRetention,
          maxEntries: config.arrivalsMaxEntries,
          now: () => clock.wallMs(),
          onDropped: (bound, count) => this.live.arrivalsDropped(bound, count),
        })
      : undefined;
    const journal = this.arrivals;
    this.live = new LiveMetrics(deps.version, {
      externalUrl: config.externalUrl,
      arrivalsKept:
        journal &&
        (() => {
          journal.prune();
          return journal.size;
        }),
    });
    this.exposition = new Exposition(this.live, clock);
    this.dispatcher =
      deps.dispatcher ??
      new Agent({ connections: config.concurrency + 2, keepAliveTimeout: 60_000, pipelining: 1 });
    for (const secret of [config.clientId, config.clientSecret, config.username, config.password]) {
      scrubber.add(secret.read());
    }
    const gate = new ThrottleGate({
      clock,
      random,
      sleep,
      maxRequestsPerSecond: config.maxRequestsPerSecond,
      onClose: () => {
        this.live.gateClosed();
        logger.warn('ThingSpace throttles: every request pauses until the gate reopens');
      },
      onOpen: (closedMs) => {
        this.live.gateOpened(closedMs);
        logger.info({ closedSeconds: Number((closedMs / 1000).toFixed(3)) }, 'throttle gate open');
      },
    });
    const send = gatedSend(
      createSend({
        baseUrl: config.baseUrl,
        dispatcher: this.dispatcher,
        timeoutMs: config.timeout,
        maxBodyBytes: config.maxPageBytes,
        observe: (endpoint, code, seconds) => this.live.apiRequest(endpoint, code, seconds),
        now: () => clock.wallMs(),
      }),
      gate,
      () => this.collector.deadline,
    );
    const retry = createRetry(
      { ...DEFAULT_RETRY_POLICY, maxRetries: config.maxRetries },
      {
        sleep,
        random,
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
      clock,
      store: deps.store,
      loginBackoffMs: config.interval,
      maxLoginFailures: config.maxLoginFailures,
      onSecret: (value) => scrubber.add(value),
      onLoginRejected: (kind, consecutive, blocked, message) => {
        this.live.loginRejected(kind, blocked);
        logger.error({ kind, consecutive }, message);
      },
      onLoginUnanswered: (consecutive, blocked, message) => {
        this.live.loginUnanswered(blocked);
        logger.error({ kind: 'session_login', consecutive, blocked }, message);
      },
      onLoginSucceeded: () => this.live.loginSucceeded(),
      onBlocked: (blocked) => this.live.setLoginBlocked(blocked),
    });
    const directory = deps.store?.persistent ? deps.store.directory : undefined;
    this.persistence =
      directory === undefined
        ? undefined
        : ArrivalsPersistence.in(directory, {
            clock,
            logger,
            onWritten: (result, wallMs) => this.live.arrivalsSnapshotWritten(result.bytes, wallMs),
            onWriteFailed: () => this.live.arrivalsSnapshotFailed(),
          });
    const arrivalsState = (): ArrivalsState => ({
      ...this.collector.memories,
      counters: this.collector.entered,
    });
    this.collector = new Collector(
      {
        accounts: config.accounts,
        apis: config.apis,
        concurrency: config.concurrency,
        maxStaleMs: config.maxStale,
        maxLabelValues: config.maxLabelValues,
        maxPages: config.maxPages,
        campaignLookbackMs: config.campaignLookback,
        maxCampaigns: config.maxCampaigns,
        budgetMs: config.interval,
      },
      {
        api: new ThingSpaceClient(send, auth, retry, () => gate.whenOpen(this.collector.deadline)),
        clock,
        onFailed: (failure) => this.failed(failure),
        journal,
        onV3ListingPath: (path) =>
          logger.info(
            { path: `/api/fota/v3/reports/{account}/${path}` },
            'the v3 campaign history answers on this path',
          ),
        ...(this.persistence
          ? {
              beforePublish: (snapshot: Snapshot) =>
                this.persistence!.afterCollection(arrivalsState(), readSomething(snapshot)),
            }
          : {}),
      },
    );
    // Before the entered counters are first shown: restored ones continue from their saved values.
    this.persistence?.restore(arrivalsState(), {
      accounts: config.accounts,
      apis: config.apis,
      maxLabelValues: config.maxLabelValues,
    });
    // The entered counters exist from start-up, before the first collection.
    this.exposition.publish(renderEntered(this.collector.entered));
    this.loop = new CollectionLoop(
      () => this.collect().then(() => undefined),
      config.interval,
      clock,
      (error) => logger.error({ err: error }, 'collection crashed'),
    );
  }

  /** The last complete snapshot, if any collection has finished yet. */
  get snapshot(): Snapshot | undefined {
    return this.published;
  }

  get ready(): boolean {
    return this.published !== undefined;
  }

  metrics(): Promise<string> {
    return this.exposition.text();
  }

  metricsGzipped(): Promise<Buffer> {
    return this.exposition.gzipped();
  }

  /** Runs one collection (or joins the one running) and resolves to its snapshot. */
  async collectOnce(): Promise<Snapshot> {
    await this.loop.runOnce();
    return this.published!;
  }

  private async collect(): Promise<void> {
    const snapshot = await this.collector.collect();
    this.exposition.publish(renderSnapshot(snapshot) + renderEntered(this.collector.entered));
    this.published = snapshot;
    const written = this.persistence?.takeWrite();
    const summary = {
      ...summarise(snapshot),
      idMemory: this.collector.memoryUse(),
      ...(written
        ? {
            arrivalsSnapshot: { bytes: written.bytes, seconds: Number(written.seconds.toFixed(3)) },
          }
        : {}),
    };
    const level = summary.failed > 0 ? 'warn' : 'info';
    this.deps.logger[level](summary, 'collection finished');
  }

  private failed(failure: Failure): void {
    const { account, error } = failure;
    const where =
      'status' in failure ? { status: failure.status } : { api: failure.api, stage: failure.stage };
    if ('status' in failure) this.live.reportFailed(account, failure.status, error.kind);
    else this.live.campaignStageFailed(account, failure.api, failure.stage, error.kind);
    // One line per failure only at debug: the collection's summary groups them by kind.
    this.deps.logger.debug(
      { account, ...where, error: error.kind, code: error.code, httpStatus: error.httpStatus },
      `failed: ${error.message}`,
    );
  }

  /** Collects now and then on the interval until stop(). */
  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.loop.stop();
    await this.dispatcher.destroy().catch(() => undefined);
    await this.deps.store?.close();
  }
}
