/**
 * The metrics that change as things happen (requests, errors, logins, the throttle gate), in a prom-client
 * registry with Node's process metrics. Label sets the alerts divide by are initialised at 0, so rate() and
 * increase() see the first event; error series appear at their first error (pre-creating every account ×
 * status × kind would cost 54 series per account that no alert reads).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LoginKind } from '../thingspace/auth.js';
import { ENDPOINTS, type Endpoint, type ErrorKind } from '../thingspace/errors.js';
import { definition, type MetricName } from './definitions.js';

function config<N extends MetricName>(name: N) {
  const def = definition(name);
  return {
    name: def.name,
    help: def.help,
    labelNames: [...def.labels],
    registers: [] as Registry[],
  };
}

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class LiveMetrics {
  readonly registry = new Registry();
  private readonly collectionErrors = new Counter(
    config('thingspace_fota_collection_errors_total'),
  );
  private readonly campaignErrors = new Counter(
    config('thingspace_fota_campaign_collection_errors_total'),
  );
  private readonly apiRequests = new Counter(config('thingspace_fota_api_requests_total'));
  private readonly apiDuration = new Histogram({
    ...config('thingspace_fota_api_request_duration_seconds'),
    buckets: LATENCY_BUCKETS,
  });
  private readonly gateOpen = new Gauge(config('thingspace_fota_api_gate_open'));
  private readonly gateClosures = new Counter(config('thingspace_fota_api_gate_closures_total'));
  private readonly gateClosedSeconds = new Counter(
    config('thingspace_fota_api_gate_closed_seconds_total'),
  );
  private readonly loginFailures = new Counter(config('thingspace_fota_login_failures_total'));
  private readonly loginsUnanswered = new Counter(config('thingspace_fota_login_unanswered_total'));
  private readonly loginBlocked = new Gauge(config('thingspace_fota_login_blocked'));
  private readonly snapshotErrors = new Counter(
    config('thingspace_fota_arrivals_snapshot_errors_total'),
  );
  private readonly snapshotWritten = new Gauge(
    config('thingspace_fota_arrivals_snapshot_last_write_timestamp_seconds'),
  );
  private readonly snapshotBytes = new Gauge(config('thingspace_fota_arrivals_snapshot_bytes'));
  private readonly arrivalsDroppedTotal = new Counter(
    config('thingspace_fota_arrivals_dropped_total'),
  );

  constructor(
    version: string,
    options: { externalUrl?: string; arrivalsKept?: () => number } = {},
  ) {
    for (const metric of [
      this.collectionErrors,
      this.campaignErrors,
      this.apiRequests,
      this.apiDuration,
      this.gateOpen,
      this.gateClosures,
      this.gateClosedSeconds,
      this.loginFailures,
      this.loginsUnanswered,
      this.loginBlocked,
      this.snapshotErrors,
      this.snapshotWritten,
      this.snapshotBytes,
      this.arrivalsDroppedTotal,
    ]) {
      this.registry.registerMetric(metric);
    }
    const buildInfo = new Gauge(config('thingspace_fota_exporter_build_info'));
    this.registry.registerMetric(buildInfo);
    buildInfo.set({ version, nodejs_version: process.version }, 1);
    const externalUrl = new Gauge(config('thingspace_fota_exporter_external_url_info'));
    this.registry.registerMetric(externalUrl);
    externalUrl.set({ external_url: options.externalUrl ?? '' }, 1);
    const kept = options.arrivalsKept;
    this.registry.registerMetric(
      new Gauge({
        ...config('thingspace_fota_arrivals_kept'),
        collect() {
          this.set(kept ? kept() : 0);
        },
      }),
    );
    for (const bound of ['retention', 'max_entries']) this.arrivalsDroppedTotal.inc({ bound }, 0);
    collectDefaultMetrics({ register: this.registry });
    // prom-client also exposes these gauges under a counter's suffix, which promtool rightly rejects;
    // the same values remain as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }

    for (const kind of ['oauth_token', 'session_login'] satisfies LoginKind[])
      this.loginFailures.inc({ kind }, 0);
    for (const endpoint of ENDPOINTS) {
      this.apiDuration.zero({ endpoint });
      // The codes alerts divide by, present from the start so that rate() sees their first increase.
      for (const code of ['200', '429', '500', 'error'])
        this.apiRequests.inc({ endpoint, code }, 0);
    }
    this.loginBlocked.set(0);
    this.gateOpen.set(1);
    this.gateClosures.inc(0);
    this.gateClosedSeconds.inc(0);
    this.snapshotErrors.inc(0);
    this.snapshotWritten.set(0);
    this.snapshotBytes.set(0);
  }

  arrivalsSnapshotWritten(bytes: number, wallMs: number): void {
    this.snapshotWritten.set(wallMs / 1000);
    this.snapshotBytes.set(bytes);
  }

  arrivalsSnapshotFailed(): void {
    this.snapshotErrors.inc();
  }

  reportFailed(account: string, status: string, error: ErrorKind): void {
    this.collectionErrors.inc({ account, status, error });
  }

  campaignStageFailed(account: string, api: string, stage: string, error: ErrorKind): void {
    this.campaignErrors.inc({ account, api, stage, error });
  }

  apiRequest(endpoint: Endpoint, code: string, seconds: number): void {
    this.apiRequests.inc({ endpoint, code });
    this.apiDuration.observe({ endpoint }, seconds);
  }

  gateClosed(): void {
    this.gateOpen.set(0);
    this.gateClosures.inc();
  }

  gateOpened(closedMs: number): void {
    this.gateOpen.set(1);
    this.gateClosedSeconds.inc(closedMs / 1000);
  }

  loginRejected(kind: LoginKind, blocked: boolean): void {
    this.loginFailures.inc({ kind });
    this.loginBlocked.set(blocked ? 1 : 0);
  }

  loginUnanswered(blocked: boolean): void {
    this.loginsUnanswered.inc();
    this.loginBlocked.set(blocked ? 1 : 0);
  }

  loginSucceeded(): void {
    this.loginBlocked.set(0);
  }

  /** Logins refused until the credentials change (or the state file is removed), or no longer. */
  setLoginBlocked(blocked: boolean): void {
    this.loginBlocked.set(blocked ? 1 : 0);
  }

  arrivalsDropped(bound: 'retention' | 'max_entries', count: number): void {
    this.arrivalsDroppedTotal.inc({ bound }, count);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
