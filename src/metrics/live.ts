/**
 * The metrics that change as things happen (requests, errors, logins), in a prom-client registry with
 * Node's process metrics. Every label set that is known up front is initialised at 0, so rate() and
 * increase() see the first event.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ENDPOINTS, ERROR_KINDS, type Endpoint, type ErrorKind } from '../thingspace/errors.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import type { LoginKind } from '../thingspace/auth.js';
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
  private readonly apiRequests = new Counter(config('thingspace_fota_api_requests_total'));
  private readonly apiDuration = new Histogram({
    ...config('thingspace_fota_api_request_duration_seconds'),
    buckets: LATENCY_BUCKETS,
  });
  private readonly loginFailures = new Counter(config('thingspace_fota_login_failures_total'));
  private readonly loginBlocked = new Gauge(config('thingspace_fota_login_blocked'));

  constructor(accounts: readonly string[], version: string) {
    for (const metric of [
      this.collectionErrors,
      this.apiRequests,
      this.apiDuration,
      this.loginFailures,
      this.loginBlocked,
    ]) {
      this.registry.registerMetric(metric);
    }
    const buildInfo = new Gauge(config('thingspace_fota_exporter_build_info'));
    this.registry.registerMetric(buildInfo);
    buildInfo.set({ version, nodejs_version: process.version }, 1);
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

    for (const account of accounts) {
      for (const status of UPGRADE_STATUSES) {
        for (const error of ERROR_KINDS) this.collectionErrors.inc({ account, status, error }, 0);
      }
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
  }

  reportFailed(account: string, status: UpgradeStatus, error: ErrorKind): void {
    this.collectionErrors.inc({ account, status, error });
  }

  apiRequest(endpoint: Endpoint, code: string, seconds: number): void {
    this.apiRequests.inc({ endpoint, code });
    this.apiDuration.observe({ endpoint }, seconds);
  }

  loginRejected(kind: LoginKind, blocked: boolean): void {
    this.loginFailures.inc({ kind });
    this.loginBlocked.set(blocked ? 1 : 0);
  }

  loginSucceeded(): void {
    this.loginBlocked.set(0);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
