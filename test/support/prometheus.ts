/**
 * A real Prometheus for the live test: its configuration (the shipped example, sped up), the test
 * copy of the shipped rules with only `for:` shortened, and a small client of its HTTP API.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'yaml';
import { startService, type Service } from './services.js';

export interface PromResponse<T> {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: T;
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  value: string;
}

export interface LoadedRule {
  type: 'alerting' | 'recording';
  name: string;
  /** Seconds; alerting rules only. */
  duration?: number;
}

export class PrometheusApi {
  constructor(readonly url: string) {}

  async api<T>(path: string, form?: Record<string, string>): Promise<PromResponse<T>> {
    const res = await fetch(
      `${this.url}${path}`,
      form
        ? {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(form).toString(),
          }
        : {},
    );
    return (await res.json()) as PromResponse<T>;
  }

  query(expr: string): Promise<PromResponse<{ resultType: string; result: InstantSample[] }>> {
    return this.api('/api/v1/query', { query: expr });
  }

  /** The samples of an instant query; throws on a query error. */
  async result(expr: string): Promise<InstantSample[]> {
    const response = await this.query(expr);
    if (response.status !== 'success' || !response.data) {
      throw new Error(`${expr}: ${response.errorType ?? ''} ${response.error ?? 'no data'}`);
    }
    return response.data.result;
  }

  /** For waitFor: true once the query returns at least one sample. */
  async nonEmpty(expr: string): Promise<true | undefined> {
    return (await this.result(expr)).length > 0 ? true : undefined;
  }

  /** The value of a query that returns exactly one sample; throws otherwise. */
  async scalar(expr: string): Promise<number> {
    const samples = await this.result(expr);
    if (samples.length !== 1 || !samples[0]) {
      throw new Error(`${expr}: expected one sample, got ${samples.length}`);
    }
    return Number(samples[0].value[1]);
  }

  /** Alerts in their Prometheus state (pending or firing). */
  async alerts(): Promise<PrometheusAlert[]> {
    const response = await this.api<{ alerts: PrometheusAlert[] }>('/api/v1/alerts');
    if (response.status !== 'success') throw new Error(`/api/v1/alerts: ${response.error ?? ''}`);
    return response.data?.alerts ?? [];
  }

  /** The rules Prometheus loaded, by group name. */
  async rules(): Promise<Map<string, LoadedRule[]>> {
    const response = await this.api<{ groups: { name: string; rules: LoadedRule[] }[] }>(
      '/api/v1/rules',
    );
    if (response.status !== 'success') throw new Error(`/api/v1/rules: ${response.error ?? ''}`);
    return new Map((response.data?.groups ?? []).map((g) => [g.name, g.rules]));
  }
}

const DURATION_PART = /(\d+)(ms|s|m|h|d|w|y)/g;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** A Prometheus duration (`10m`, `1h30m`, `500ms`) in milliseconds. */
export function parsePromDuration(text: string): number {
  if (!/^(?:\d+(?:ms|s|m|h|d|w|y))+$/.test(text)) throw new Error(`not a duration: ${text}`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(DURATION_PART))
    ms += Number(n) * (UNIT_MS[unit ?? ''] ?? 0);
  return ms;
}

/** Milliseconds as a Prometheus duration, in whole seconds when it is one (`10s`, else `1500ms`). */
export function formatPromDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

interface RuleYaml {
  alert?: string;
  record?: string;
  for?: string;
  [key: string]: unknown;
}
interface RulesYaml {
  groups: { name: string; rules: RuleYaml[]; [key: string]: unknown }[];
}

export interface ShortenedFor {
  alert: string;
  shipped: string;
  test: string;
}

/**
 * The test copy of a rules file: every `for:` line divided by `divisor`, the text otherwise as
 * shipped. It is made by replacing the `for:` lines of the text (so comments and layout stay), then
 * checked by parsing both files: with `for` removed from every rule they must be deeply equal, and
 * every `for` of the copy must be the shipped one divided by `divisor`. Anything else (a `for:`
 * inside an expression or annotation, a rule lost or added) throws.
 */
export function rulesWithShortFor(
  shippedText: string,
  divisor: number,
): { text: string; changes: ShortenedFor[] } {
  const text = shippedText.replace(
    /^(\s+for:\s*)(\S+)(\s*)$/gm,
    (_whole, head: string, value: string, tail: string) =>
      `${head}${formatPromDuration(parsePromDuration(value) / divisor)}${tail}`,
  );
  const shipped = parse(shippedText) as RulesYaml;
  const copy = parse(text) as RulesYaml;
  const withoutFor = (file: RulesYaml) =>
    file.groups.map((g) => ({
      ...g,
      rules: g.rules.map(({ for: _for, ...rest }) => rest),
    }));
  if (!isDeepStrictEqual(withoutFor(shipped), withoutFor(copy))) {
    throw new Error('the test copy of the rules differs from the shipped file in more than `for:`');
  }
  const changes: ShortenedFor[] = [];
  shipped.groups.forEach((group, g) =>
    group.rules.forEach((rule, r) => {
      const test = copy.groups[g]?.rules[r]?.for;
      if (rule.for === undefined && test === undefined) return;
      if (
        rule.for === undefined ||
        test === undefined ||
        parsePromDuration(test) * divisor !== parsePromDuration(rule.for)
      ) {
        throw new Error(`${rule.alert ?? rule.record ?? '?'}: for ${rule.for} became ${test}`);
      }
      changes.push({ alert: rule.alert ?? '?', shipped: rule.for, test });
    }),
  );
  return { text, changes };
}

interface PrometheusConfigYaml {
  global: Record<string, unknown>;
  rule_files?: string[];
  alerting?: unknown;
  scrape_configs: { job_name: string; [key: string]: unknown }[];
}

/**
 * The shipped example configuration with the test's intervals, rules file and exporter target, and
 * (when given) an Alertmanager: everything else, the job name included, as shipped.
 */
export function testPrometheusConfig(
  shippedText: string,
  options: {
    rulesFile: string;
    target: string;
    intervalSeconds: number;
    alertmanager?: string;
  },
): string {
  const config = parse(shippedText) as PrometheusConfigYaml;
  const interval = `${options.intervalSeconds}s`;
  config.global.scrape_interval = interval;
  config.global.evaluation_interval = interval;
  config.rule_files = [options.rulesFile];
  const job = config.scrape_configs.find((c) => c.job_name === 'thingspace-fota');
  if (!job) throw new Error('prometheus/prometheus.yml has no thingspace-fota job');
  job.scrape_interval = interval;
  job.scrape_timeout = interval;
  job.static_configs = [{ targets: [options.target] }];
  config.scrape_configs = [job];
  if (options.alertmanager) {
    config.alerting = {
      alertmanagers: [{ static_configs: [{ targets: [new URL(options.alertmanager).host] }] }],
    };
  }
  return stringify(config);
}

export interface RunningPrometheus extends Service {
  api: PrometheusApi;
}

export async function startPrometheus(
  bin: string,
  configFile: string,
  dataDir: string,
): Promise<RunningPrometheus> {
  const service = await startService('prometheus', bin, (port) => [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  return Object.assign(service, { api: new PrometheusApi(service.url) });
}
