/**
 * The whole chain, live: the ThingSpace simulator, the exporter collecting from it every 2s, and a real
 * Prometheus scraping the exporter every 1s with the shipped rules (evaluated every 1s). Then:
 *
 * - every query of the dashboard (variables set to All, $__rate_interval to 1m) returns data without
 *   error, every variable query returns values, and the annotation query evaluates;
 * - every recording rule returns data, and so does the series it records;
 * - every series an alert reads exists, with the labels the alert matches on;
 * - every alert is either quiet in this healthy system (nothing injects faults), or active because of
 *   what the simulator's data set is (listed in DATA_ALERTS with the reason): each list is checked;
 * - after the simulator's failure-spike scenario, both spike alerts are pending (their `for:` is 10m,
 *   and firing is for the promtool tests, which control time: the rules are used as shipped, with no
 *   test copy, because the rise they watch needs no history, only the sample before the spike).
 *
 * Needs `npm run build` (npm test runs it) and `prometheus` on PATH (skips loudly outside CI without
 * it). Every process it starts is stopped in afterAll, also when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { parse, stringify } from 'yaml';
import {
  EXPORTER_BIN,
  SIMULATOR_BIN,
  killAll,
  requireBuild,
  startExporterProcess,
  startProcess,
} from '../support/process.js';
import { requireTool } from '../rules/promtool.js';
import {
  PROMETHEUS_CONFIG_PATH,
  RULES_PATH,
  alertingRules,
  recordingRules,
} from '../rules/model.js';
import {
  annotationQueries,
  loadDashboard,
  panelQueries,
  substitute,
  variableQuery,
} from '../dashboards/model.js';
import { labelValuesSelector, selectors } from '../dashboards/promql.js';

jest.setTimeout(180_000);

const CREDENTIALS = {
  THINGSPACE_CLIENT_ID: 'demo-client',
  THINGSPACE_CLIENT_SECRET: 'demo-secret',
  THINGSPACE_USERNAME: 'demo-user',
  THINGSPACE_PASSWORD: 'demo-password',
};

/** Pinned so that DATA_ALERTS below hold whatever the simulator's defaults become. */
const SIMULATOR_ARGS = [
  '--tick',
  '0',
  '--seed',
  '1',
  '--accounts',
  '2',
  '--upgrades-per-status',
  '20',
  '--start-time',
  '2025-01-01T00:00:00Z',
];

/**
 * Alerts this data set makes active, and why; every other alert must be quiet before the spike (no
 * fault is injected, and time is frozen so nothing rises).
 */
const DATA_ALERTS: Record<string, string> = {
  ThingSpaceFotaHighFailureRatio:
    'the simulator lists as many UpgradeFailed as Finished upgrades (--upgrades-per-status): 50%',
  ThingSpaceFotaUpgradeStuckInProgress:
    'the simulated clock is frozen on 2025-01-01 (--start-time, --tick 0): its upgrades look months old',
  ThingSpaceFotaUpgradeStuckQueued: 'the same frozen clock: its Queued upgrades are months late',
};

const SPIKE_ALERTS = [
  'ThingSpaceFotaUpgradeFailedSpike',
  'ThingSpaceFotaUpgradeFailedDevicesSpike',
];

interface PromResponse<T> {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: T;
}

interface VectorResult {
  resultType: string;
  result: { metric: Record<string, string>; value?: [number, string] }[];
}

interface AlertsResult {
  alerts: { labels: Record<string, string>; state: string; value: string }[];
}

let prometheus: ChildProcess | undefined;
let prometheusOutput = '';
let workDir: string | undefined;

interface Stack {
  prometheusUrl: string;
  simulatorUrl: string;
  accounts: string[];
}
let stack: Stack | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (prometheus && prometheus.exitCode !== null) {
      throw new Error(`prometheus exited (${prometheus.exitCode}):\n${prometheusOutput}`);
    }
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await sleep(250);
  }
}

async function api<T>(path: string, form?: Record<string, string>): Promise<PromResponse<T>> {
  if (!stack) throw new Error('the stack is not running');
  const url = `${stack.prometheusUrl}${path}`;
  const res = form
    ? await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      })
    : await fetch(url);
  return (await res.json()) as PromResponse<T>;
}

async function query(expr: string): Promise<PromResponse<VectorResult>> {
  return api<VectorResult>('/api/v1/query', { query: expr });
}

/** The result of an instant query; throws on a query error. */
async function result(expr: string): Promise<VectorResult['result']> {
  const response = await query(expr);
  if (response.status !== 'success' || !response.data) {
    throw new Error(`${expr}: ${response.errorType ?? ''} ${response.error ?? 'no data'}`);
  }
  return response.data.result;
}

async function nonEmpty(expr: string): Promise<true | undefined> {
  return (await result(expr)).length > 0 ? true : undefined;
}

/** The Prometheus config for the test: the shipped example with 1s intervals and this exporter. */
function prometheusConfig(target: string): string {
  const config = parse(readFileSync(PROMETHEUS_CONFIG_PATH, 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: Record<string, unknown>[];
  };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  config.rule_files = [RULES_PATH];
  const job = config.scrape_configs.find((c) => c.job_name === 'thingspace-fota');
  if (!job) throw new Error('prometheus/prometheus.yml has no thingspace-fota job');
  job.scrape_interval = '1s';
  job.scrape_timeout = '1s';
  job.static_configs = [{ targets: [target] }];
  config.scrape_configs = [job];
  return stringify(config);
}

async function startStack(prometheusBin: string): Promise<Stack> {
  requireBuild(EXPORTER_BIN);
  requireBuild(SIMULATOR_BIN);

  const simulator = startProcess(SIMULATOR_BIN, [
    '--listen-address',
    '127.0.0.1:0',
    ...SIMULATOR_ARGS,
  ]);
  const simulatorUrl = String(
    (await simulator.waitForLine((l) => l.msg === 'simulator listening')).url,
  );
  const truth = (await (await fetch(`${simulatorUrl}/_sim/truth`)).json()) as {
    accounts: Record<string, unknown>;
  };
  const accounts = Object.keys(truth.accounts);

  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${simulatorUrl}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=2s',
    ],
    CREDENTIALS,
  );

  workDir = mkdtempSync(join(tmpdir(), 'thingspace-fota-prometheus-'));
  const configFile = join(workDir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(new URL(exporter.url).host));
  const port = await freePort();
  prometheus = spawn(
    prometheusBin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(workDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const stream of [prometheus.stdout, prometheus.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      prometheusOutput += chunk;
    });
  }
  const prometheusUrl = `http://127.0.0.1:${port}`;
  stack = { prometheusUrl, simulatorUrl, accounts };

  await waitFor('Prometheus to be ready', async () =>
    (await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined,
  );
  // Scraped, rules evaluated, and enough samples for rate() over 1m.
  await waitFor('the exporter to be scraped', () => nonEmpty('up{job="thingspace-fota"} == 1'));
  for (const rule of recordingRules()) {
    await waitFor(`recording rule ${rule.record}`, () => nonEmpty(rule.record));
  }
  await waitFor('request rates', () =>
    nonEmpty('sum(rate(thingspace_fota_api_requests_total[1m])) > 0'),
  );
  return stack;
}

async function stopPrometheus(): Promise<void> {
  const proc = prometheus;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Whether the tests can run; outside CI without prometheus they pass after a notice. */
function live(): Stack | undefined {
  if (!requireTool('prometheus')) return undefined;
  if (!stack) throw new Error('the stack did not start (see beforeAll)');
  return stack;
}

beforeAll(async () => {
  const bin = requireTool('prometheus');
  if (bin) await startStack(bin);
}, 150_000);

afterAll(async () => {
  try {
    await stopPrometheus();
  } finally {
    killAll();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  }
});

describe('live: simulator → exporter → Prometheus with the shipped rules', () => {
  const dashboard = loadDashboard();

  it('runs every dashboard panel query without error and with data', async () => {
    if (!live()) return;
    const queries = panelQueries(dashboard);
    expect(queries.length).toBeGreaterThan(20);
    const failures: string[] = [];
    for (const q of queries) {
      const expr = substitute(q.expr);
      const response = await query(expr);
      if (response.status !== 'success') {
        failures.push(`${q.where}: ${response.error ?? 'error'}\n  ${expr}`);
      } else if ((response.data?.result.length ?? 0) === 0) {
        failures.push(`${q.where}: no data\n  ${expr}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('evaluates the annotation query (empty: no alert fires in this test)', async () => {
    if (!live()) return;
    for (const q of annotationQueries(dashboard)) {
      const response = await query(substitute(q.expr));
      expect({ where: q.where, status: response.status, error: response.error }).toEqual({
        where: q.where,
        status: 'success',
        error: undefined,
      });
    }
  });

  it('answers every variable query, and lists the simulator accounts', async () => {
    const running = live();
    if (!running) return;
    for (const variable of (dashboard.templating?.list ?? []).filter((v) => v.type === 'query')) {
      const { selector, label } = labelValuesSelector(variableQuery(variable));
      const params = new URLSearchParams({ 'match[]': substitute(selector) });
      const response = await api<string[]>(`/api/v1/label/${label}/values?${params.toString()}`);
      expect(response.status).toBe('success');
      expect(response.data?.length).toBeGreaterThan(0);
      if (variable.name === 'account')
        expect(response.data?.sort()).toEqual([...running.accounts].sort());
    }
  });

  it('evaluates every recording rule with data', async () => {
    if (!live()) return;
    for (const rule of recordingRules()) {
      expect({ rule: rule.record, data: (await result(rule.expr)).length > 0 }).toEqual({
        rule: rule.record,
        data: true,
      });
    }
  });

  it('reads, in every alert, only series that exist with the labels it matches on', async () => {
    if (!live()) return;
    const missing: string[] = [];
    for (const alert of alertingRules()) {
      for (const s of selectors(alert.expr)) {
        const checks = [
          `{__name__="${s.name}"}`,
          ...s.matchers
            .filter((m) => m.label !== '__name__')
            .map((m) => `{__name__="${s.name}", ${m.label}=~".+"}`),
        ];
        for (const check of checks) {
          if ((await result(`count(${check})`)).length === 0) {
            missing.push(`${alert.alert}: ${check}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('keeps every alert quiet that the healthy system and its data do not trigger', async () => {
    if (!live()) return;
    const active: string[] = [];
    for (const alert of alertingRules()) {
      if (alert.alert in DATA_ALERTS) continue;
      if ((await result(alert.expr)).length > 0) active.push(alert.alert);
    }
    expect(active).toEqual([]);
  });

  it.each(Object.entries(DATA_ALERTS))(
    'finds %s active on the simulator data (%s)',
    async (name) => {
      if (!live()) return;
      const alert = alertingRules().find((a) => a.alert === name);
      expect(alert).toBeDefined();
      if (!alert) return;
      expect((await result(alert.expr)).length).toBeGreaterThan(0);
    },
  );

  it('raises both spike alerts (pending) for the account the failure spike hits, only for it', async () => {
    const running = live();
    if (!running) return;
    const res = await fetch(`${running.simulatorUrl}/_sim/scenario/failure-spike`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const spike = (await res.json()) as { account: string; addedUpgrades: number };
    expect(running.accounts).toContain(spike.account);

    const alerts = await waitFor('the spike alerts', async () => {
      const response = await api<AlertsResult>('/api/v1/alerts');
      const spiking = (response.data?.alerts ?? []).filter((a) =>
        SPIKE_ALERTS.includes(a.labels.alertname ?? ''),
      );
      const names = new Set(spiking.map((a) => a.labels.alertname));
      return SPIKE_ALERTS.every((n) => names.has(n)) ? spiking : undefined;
    });
    for (const alert of alerts) {
      expect(alert.labels).toMatchObject({
        account: spike.account,
        status: 'UpgradeFailed',
        severity: 'critical',
        job: 'thingspace-fota',
      });
      expect(['pending', 'firing']).toContain(alert.state);
    }
    expect(alerts).toHaveLength(SPIKE_ALERTS.length);

    // The rise is the spike's size, over the minimum threshold (no baseline yet: under an hour).
    const rise = await result(
      `thingspace_fota:upgrades:rise1h{account="${spike.account}", status="UpgradeFailed"}`,
    );
    expect(Number(rise[0]?.value?.[1])).toBeGreaterThanOrEqual(spike.addedUpgrades);
    const threshold = await result(
      `thingspace_fota:upgrades:rise1h_spike_threshold{account="${spike.account}"}`,
    );
    expect(Number(threshold[0]?.value?.[1])).toBe(5);

    // The dashboard shows it: one account in a failure spike.
    const panel = panelQueries(dashboard).find((q) =>
      q.where.includes('Accounts in a failure spike'),
    );
    expect(panel).toBeDefined();
    const spiking = await result(substitute(panel?.expr ?? ''));
    expect(spiking.map((r) => Number(r.value?.[1]))).toEqual([1]);
  });
});
