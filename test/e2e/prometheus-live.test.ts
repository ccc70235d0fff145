/**
 * The whole chain, live: the ThingSpace simulator (v1 upgrades, v2 and v3 campaigns, time frozen),
 * the exporter collecting from it every 2s, a real Prometheus scraping it every 1s with the shipped
 * rules (evaluated every 1s; `for:` shortened, see below), a real Alertmanager with the shipped
 * example configuration, and a webhook receiver in this test. Then:
 *
 * - every query of the dashboard (variables set to All, $__rate_interval to 1m) runs without error
 *   and returns data, except queries that compare with an earlier time (`offset`), which must only
 *   succeed: this Prometheus is minutes old; every variable query returns values;
 * - every recording rule returns data, every series an alert reads exists with the labels the alert
 *   matches on, and every alert is quiet in this healthy system or active because of what the
 *   simulator's data set is (DATA_ALERTS, with the reason);
 * - Alertmanager: from start-up through the exporter's learning pass nothing critical is sent; then
 *   the simulator's failure-spike scenario (v1 upgrades and a campaign per API) → exporter →
 *   Prometheus → Alertmanager → the webhook receives ThingSpaceFotaUpgradeFailedSpike (and the other
 *   spike alerts the spike reaches) for the spiked account, with a runbook_url that resolves to that
 *   alert's section of docs/runbook.md; the other account, a quiet fleet over the same time, and the
 *   exporter as a whole send nothing critical.
 *
 * Why a copy of the rules with shorter `for:`: Prometheus runs on the wall clock, and the spike
 * alerts wait `for: 10m` after the condition holds. The copy is generated from the shipped file by
 * dividing every `for:` by FOR_DIVISOR (60: as the 1s scrape and evaluation intervals here are to the
 * shipped 1m), and rulesWithShortFor() refuses any other difference; the first test also checks what
 * Prometheus loaded. Expressions, windows ([1h], [1d] offset 1h), thresholds, labels and annotations
 * are the shipped ones, so the alert that reaches the webhook is the shipped alert, only sooner.
 * Rejected: `--rules.alert.for-grace-period` only applies when Prometheus restores `for` state after
 * its own restart (it never shortens a fresh pending period), and faking the ALERTS_FOR_STATE series
 * it restores from would test the fake; waiting the real 10 minutes is too slow for CI. That an alert
 * fires only once its full `for:` has passed is proven by the promtool unit tests
 * (prometheus/tests/), which control time.
 *
 * Needs `npm run build` (npm test runs it), `prometheus` and Alertmanager (`prometheus-alertmanager`)
 * on PATH; without them it skips loudly outside CI and fails in CI. Every process it starts is
 * stopped in afterAll, also when a test fails. All of it listens on 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { jest } from '@jest/globals';
import { killAll, startExporterProcess } from '../support/process.js';
import { freePort } from '../support/faults.js';
import {
  SIMULATOR_ENV,
  enteredTruthSeries,
  startSimulatorProcess,
  type SimulatorProcess,
} from '../support/simulator.js';
import { seriesKey } from '../../bench/lib/series.mjs';
import { requireTool } from '../rules/promtool.js';
import {
  ALERTING_DOC_PATH,
  ALERTMANAGER_EXAMPLE_PATH,
  PROMETHEUS_CONFIG_PATH,
  ROOT,
  RULES_PATH,
  alertingRules,
  loadRuleGroups,
  recordingRules,
} from '../rules/model.js';
import {
  annotationQueries,
  loadDashboard,
  offsetSeconds,
  panelQueries,
  substitute,
  variableQuery,
} from '../dashboards/model.js';
import { labelValuesSelector, selectors, variableExpr } from '../dashboards/promql.js';
import { assertServicesRunning, sleep, stopServices, waitFor } from '../support/services.js';
import {
  parsePromDuration,
  rulesWithShortFor,
  startPrometheus,
  testPrometheusConfig,
  type PrometheusApi,
} from '../support/prometheus.js';
import {
  findAlertmanager,
  renderTemplate,
  startAlertmanager,
  testAlertmanagerConfig,
} from '../support/alertmanager.js';
import {
  startWebhookReceiver,
  type WebhookAlert,
  type WebhookNotification,
  type WebhookReceiver,
} from '../support/webhook.js';
import { markdownHeadings, resolveRepositoryLink } from '../support/markdown.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { CAMPAIGN_APIS } from '../../src/campaigns/statuses.js';
import type { FailureSpikeResult } from '../../src/simulator/index.js';
import type { EnteredCampaignDevice } from '../../src/simulator/campaign-truth.js';
import type { EnteredUpgrade } from '../../src/simulator/truth.js';

jest.setTimeout(180_000);

/** Prometheus' scrape and rule evaluation interval, in seconds. */
const INTERVAL_SECONDS = 1;
const COLLECTION_INTERVAL_MS = 2_000;
/** The test copy's `for:` is the shipped one divided by this (see the header). */
const FOR_DIVISOR = 60;
/** Alertmanager's group_wait and group_interval in the test (the example has 30s and 5m). */
const ALERTMANAGER_WAIT = '1s';

/**
 * Pinned so that DATA_ALERTS and the spike below hold whatever the simulator's defaults become. Time
 * is frozen (--tick 0): nothing moves but the failure-spike scenario, so the counters of new
 * failures stay at 0 until the spike (a quiet fleet) and then equal exactly what it did.
 * --campaigns-per-account 10 gives every campaign status (scheduled ones with devices still
 * Accepted or UpgradePending, failed and rejected devices) for the Campaigns row and the spike.
 */
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
  '--campaigns-per-account',
  '10',
  '--campaign-devices-mean',
  '200',
];

/**
 * Alerts this data set makes active, and why; every other alert must be quiet before the spike (no
 * fault is injected, and time is frozen so nothing new fails). All are warnings.
 */
const DATA_ALERTS: Record<string, string> = {
  ThingSpaceFotaHighFailureRatio:
    'the simulator lists as many UpgradeFailed as Finished upgrades (--upgrades-per-status): 50%',
  ThingSpaceFotaUpgradeStuckInProgress:
    'the simulated clock is frozen on 2025-01-01 (--start-time, --tick 0): its upgrades look months old',
  ThingSpaceFotaUpgradeStuckQueued: 'the same frozen clock: its Queued upgrades are months late',
  ThingSpaceFotaCampaignStuck:
    'the same frozen clock: scheduled campaigns end in January 2025, long before the wall clock ' +
    'that Prometheus evaluates time() with, and they still have Accepted or UpgradePending devices',
};

const UPGRADE_SPIKE = 'ThingSpaceFotaUpgradeFailedSpike';
const DEVICES_SPIKE = 'ThingSpaceFotaUpgradeFailedDevicesSpike';
const CAMPAIGN_SPIKE = 'ThingSpaceFotaCampaignDeviceFailureSpike';

/** The test copy of the rules; generating it checks that it differs from the shipped file only in `for:`. */
const RULES_COPY = rulesWithShortFor(readFileSync(RULES_PATH, 'utf8'), FOR_DIVISOR);

interface Stack {
  prometheus: PrometheusApi;
  simulator: SimulatorProcess;
  accounts: string[];
  /** Prometheus' instance label of the exporter. */
  instance: string;
  /** Absent when Alertmanager is not installed (outside CI only). */
  webhook?: WebhookReceiver;
}

let stack: Stack | undefined;
let workDir: string | undefined;
let webhook: WebhookReceiver | undefined;

async function startStack(prometheusBin: string, alertmanagerBin?: string): Promise<Stack> {
  workDir = mkdtempSync(join(tmpdir(), 'thingspace-fota-live-'));

  let alertmanagerUrl: string | undefined;
  if (alertmanagerBin) {
    webhook = await startWebhookReceiver();
    const configFile = join(workDir, 'alertmanager.yml');
    writeFileSync(
      configFile,
      testAlertmanagerConfig(
        readFileSync(ALERTMANAGER_EXAMPLE_PATH, 'utf8'),
        webhook.url,
        ALERTMANAGER_WAIT,
      ),
    );
    alertmanagerUrl = (await startAlertmanager(alertmanagerBin, configFile, workDir)).url;
  }

  const simulator = await startSimulatorProcess(SIMULATOR_ARGS);
  const accounts = Object.keys((await simulator.truth()).accounts);
  // The port is chosen first so that the exporter can be told the URL it is reached on: the spike
  // alerts' arrivals_url is built from it.
  const port = await freePort();
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${simulator.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      `--collector.interval=${COLLECTION_INTERVAL_MS / 1000}s`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=http://127.0.0.1:${port}`,
    ],
    SIMULATOR_ENV,
  );
  const instance = new URL(exporter.url).host;

  const rulesCopyFile = join(workDir, 'thingspace-fota.rules.yml');
  writeFileSync(rulesCopyFile, RULES_COPY.text);
  const configFile = join(workDir, 'prometheus.yml');
  writeFileSync(
    configFile,
    testPrometheusConfig(readFileSync(PROMETHEUS_CONFIG_PATH, 'utf8'), {
      rulesFile: rulesCopyFile,
      target: instance,
      intervalSeconds: INTERVAL_SECONDS,
      alertmanager: alertmanagerUrl,
    }),
  );
  const prometheus = (await startPrometheus(prometheusBin, configFile, join(workDir, 'data'))).api;

  // Scraped, rules evaluated, and enough samples for rate() over 1m.
  await waitFor('the exporter to be scraped', () =>
    prometheus.nonEmpty('up{job="thingspace-fota"} == 1'),
  );
  for (const rule of recordingRules()) {
    await waitFor(`recording rule ${rule.record}`, () => prometheus.nonEmpty(rule.record));
  }
  await waitFor('request rates', () =>
    prometheus.nonEmpty('sum(rate(thingspace_fota_api_requests_total[1m])) > 0'),
  );
  return { prometheus, simulator, accounts, instance, webhook };
}

beforeAll(async () => {
  const prometheusBin = requireTool('prometheus');
  if (prometheusBin) stack = await startStack(prometheusBin, findAlertmanager());
}, 150_000);

afterAll(async () => {
  try {
    await webhook?.close();
    await stopServices();
  } finally {
    killAll();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  }
});

/** The running stack, or undefined (the test passes after the notice) without prometheus outside CI. */
function live(): Stack | undefined {
  if (!requireTool('prometheus')) return undefined;
  if (!stack) throw new Error('the stack did not start (see beforeAll)');
  return stack;
}

/** The stack with its Alertmanager and webhook, or undefined without Alertmanager outside CI. */
function paging(): (Stack & { webhook: WebhookReceiver }) | undefined {
  const running = live();
  if (!running || !findAlertmanager()) return undefined;
  if (!running.webhook) throw new Error('Alertmanager did not start (see beforeAll)');
  return { ...running, webhook: running.webhook };
}

/**
 * Resolves once every account × status and account × API has had a counting pass after its learning
 * pass, as Prometheus sees it: the entered counters count nothing before (a spike then would be
 * learnt, not counted), and observed seconds only grow from the first counting pass.
 */
let learning: Promise<unknown> | undefined;
function learningPassesDone({ prometheus, accounts }: Stack): Promise<unknown> {
  learning ??= waitFor(
    'a counting pass after the learning pass of every report and campaign API',
    async () => {
      const v1 = await prometheus.result('thingspace_fota_upgrades_observed_seconds_total > 0');
      const campaigns = await prometheus.result(
        'thingspace_fota_campaign_devices_observed_seconds_total > 0',
      );
      return v1.length === accounts.length * UPGRADE_STATUSES.length &&
        campaigns.length === accounts.length * CAMPAIGN_APIS.length
        ? true
        : undefined;
    },
  );
  return learning;
}

/** How an alert is told apart in the checks: its name and the labels that say whose it is. */
function alertKey(labels: Record<string, string>): string {
  const { alertname = '?', account, api } = labels;
  return `${alertname}{account=${account ?? ''},api=${api ?? ''}}`;
}

/** The exporter's entered counters as Prometheus has them, keyed like enteredTruthSeries(). */
async function enteredCounters(prometheus: PrometheusApi): Promise<Record<string, number>> {
  const samples = await prometheus.result(
    '{__name__=~"thingspace_fota_(upgrades|upgrade_devices|campaign_devices)_entered_total"}',
  );
  return Object.fromEntries(
    samples.map(({ metric, value }) => {
      const { __name__: name = '', job: _job, instance: _instance, ...labels } = metric;
      return [seriesKey(name, labels), Number(value[1])];
    }),
  );
}

function critical(alerts: WebhookAlert[]): WebhookAlert[] {
  return alerts.filter((a) => a.labels.severity === 'critical');
}

describe("the live test's own machinery (no server needed)", () => {
  const SHIPPED = [
    'groups:',
    '  - name: g',
    '    rules:',
    '      - alert: A',
    '        expr: up == 0',
    '        for: 10m',
    '        annotations:',
    '          runbook_url: docs/runbook.md#a',
    '',
  ].join('\n');

  it('shortens only `for:` in the rules copy, and refuses a copy that differs otherwise', () => {
    expect(rulesWithShortFor(SHIPPED, 60)).toEqual({
      text: SHIPPED.replace('for: 10m', 'for: 10s'),
      changes: [{ alert: 'A', shipped: '10m', test: '10s' }],
    });
    // A `for:` line inside a block scalar is text of an annotation, not the rule's duration.
    const inDescription = SHIPPED.replace(
      '        annotations:\n',
      '        annotations:\n          description: |\n            for: 5m\n',
    );
    expect(() => rulesWithShortFor(inDescription, 60)).toThrow(/more than `for:`/);
    expect(() => rulesWithShortFor(SHIPPED.replace('for: 10m', 'for: 1h30x'), 60)).toThrow(
      /not a duration/,
    );
  });

  it('resolves a runbook_url inside the repository to a heading, as GitHub anchors them', () => {
    const ok = resolveRepositoryLink('docs/runbook.md#thingspacefotaupgradefailedspike', ROOT);
    expect(ok.problem).toBeUndefined();
    expect(ok.heading?.text).toBe('ThingSpaceFotaUpgradeFailedSpike');
    expect(resolveRepositoryLink('https://example.com/docs/runbook.md#x', ROOT).problem).toMatch(
      /not a path inside the repository/,
    );
    expect(resolveRepositoryLink('../outside.md#x', ROOT).problem).toMatch(/not a path inside/);
    expect(resolveRepositoryLink('docs/missing.md#x', ROOT).problem).toMatch(/does not exist/);
    expect(resolveRepositoryLink('docs/runbook.md', ROOT).problem).toMatch(/no #anchor/);
    expect(
      markdownHeadings(
        [
          '# Title',
          '## Same',
          '```sh',
          '# not a heading',
          '```',
          '## Same',
          '### [A link](x.md) #',
        ].join('\n'),
      ).map((h) => h.anchor),
    ).toEqual(['title', 'same', 'same-1', 'a-link']);
  });

  it('points every receiver of the example Alertmanager configuration at the webhook, or refuses', () => {
    const config = testAlertmanagerConfig(
      readFileSync(ALERTMANAGER_EXAMPLE_PATH, 'utf8'),
      'http://127.0.0.1:1/',
      '1s',
    );
    expect(config).toContain('url: http://127.0.0.1:1/');
    expect(config).not.toMatch(/group_(wait|interval): (?!1s)/);
    expect(() =>
      testAlertmanagerConfig(
        'route: {receiver: mail}\nreceivers: [{name: mail, email_configs: [{to: a@example.com}]}]\n',
        'http://127.0.0.1:1/',
        '1s',
      ),
    ).toThrow(/not a webhook receiver/);
  });
});

describe('live: simulator → exporter → Prometheus with the shipped rules', () => {
  const dashboard = loadDashboard();

  it('loads the shipped rules with only `for:` shortened', async () => {
    const running = live();
    if (!running) return;
    const shortened = new Map(RULES_COPY.changes.map((c) => [c.alert, c.test]));
    expect(shortened.get(UPGRADE_SPIKE)).toBe('10s');
    const loaded = await running.prometheus.rules();
    for (const group of loadRuleGroups()) {
      const rules = loaded.get(group.name) ?? [];
      expect({ group: group.name, rules: rules.map((r) => r.name) }).toEqual({
        group: group.name,
        rules: group.rules.map((r) => ('alert' in r ? r.alert : r.record)),
      });
      for (const rule of group.rules) {
        if (!('alert' in rule)) continue;
        const duration = rules.find((r) => r.name === rule.alert)?.duration ?? 0;
        const shipped = rule.for ? parsePromDuration(rule.for) / 1000 : 0;
        expect({ alert: rule.alert, for: duration }).toEqual({
          alert: rule.alert,
          for: shipped / FOR_DIVISOR,
        });
      }
    }
  });

  it('runs every dashboard panel query without error, with data unless it looks back with offset', async () => {
    const running = live();
    if (!running) return;
    const queries = panelQueries(dashboard);
    expect(queries.length).toBeGreaterThan(20);
    const failures: string[] = [];
    let lookingBack = 0;
    for (const q of queries) {
      const expr = substitute(q.expr);
      const response = await running.prometheus.query(expr);
      if (response.status !== 'success') {
        failures.push(`${q.where}: ${response.error ?? 'error'}\n  ${expr}`);
      } else if (offsetSeconds(expr) > 0) {
        // It compares with `offset` ago, and this Prometheus is minutes old: no sample is that old,
        // so it cannot have data yet (the breakdown of the last hour's failures needs an hour of
        // history); running without error is all this test can ask. queries.test.ts evaluates it on
        // made-up history with promtool.
        lookingBack++;
      } else if ((response.data?.result.length ?? 0) === 0) {
        failures.push(`${q.where}: no data\n  ${expr}`);
      }
    }
    expect(failures).toEqual([]);
    // Only the breakdown panel looks back; more would mean less of the dashboard is proven here.
    expect(lookingBack).toBeLessThanOrEqual(1);
  });

  it('evaluates the annotation query', async () => {
    const running = live();
    if (!running) return;
    for (const q of annotationQueries(dashboard)) {
      const response = await running.prometheus.query(substitute(q.expr));
      expect({ where: q.where, status: response.status, error: response.error }).toEqual({
        where: q.where,
        status: 'success',
        error: undefined,
      });
    }
  });

  it('answers every variable query, and lists the simulator accounts and both campaign APIs', async () => {
    const running = live();
    if (!running) return;
    for (const variable of (dashboard.templating?.list ?? []).filter((v) => v.type === 'query')) {
      const query = variableQuery(variable);
      if (query.startsWith('query_result(')) {
        // The exporter URL: this exporter's --web.external-url, not the placeholder.
        const samples = await running.prometheus.result(substitute(variableExpr(query)));
        expect(samples.map((s) => s.metric.external_url)).toEqual([`http://${running.instance}`]);
        continue;
      }
      const { selector, label } = labelValuesSelector(query);
      const params = new URLSearchParams({ 'match[]': substitute(selector) });
      const response = await running.prometheus.api<string[]>(
        `/api/v1/label/${label}/values?${params.toString()}`,
      );
      expect(response.status).toBe('success');
      expect(response.data?.length).toBeGreaterThan(0);
      if (variable.name === 'account') {
        expect(response.data?.sort()).toEqual([...running.accounts].sort());
      }
      if (variable.name === 'api') expect(response.data?.sort()).toEqual([...CAMPAIGN_APIS]);
    }
  });

  it('evaluates every recording rule with data', async () => {
    const running = live();
    if (!running) return;
    for (const rule of recordingRules()) {
      expect({
        rule: rule.record,
        data: (await running.prometheus.result(rule.expr)).length > 0,
      }).toEqual({ rule: rule.record, data: true });
    }
  });

  it('reads, in every alert, only series that exist with the labels it matches on', async () => {
    const running = live();
    if (!running) return;
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
          if ((await running.prometheus.result(`count(${check})`)).length === 0) {
            missing.push(`${alert.alert}: ${check}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('keeps every alert quiet that the healthy system and its data do not trigger', async () => {
    const running = live();
    if (!running) return;
    const active: string[] = [];
    for (const alert of alertingRules()) {
      if (alert.alert in DATA_ALERTS) continue;
      if ((await running.prometheus.result(alert.expr)).length > 0) active.push(alert.alert);
    }
    expect(active).toEqual([]);
  });

  it.each(Object.entries(DATA_ALERTS))(
    'finds %s active on the simulator data (%s)',
    async (name) => {
      const running = live();
      if (!running) return;
      const alert = alertingRules().find((a) => a.alert === name);
      expect(alert).toBeDefined();
      if (!alert) return;
      expect(alert.labels?.severity).toBe('warning');
      expect((await running.prometheus.result(alert.expr)).length).toBeGreaterThan(0);
    },
  );
});

describe('live: … → Prometheus → Alertmanager → webhook', () => {
  const dashboard = loadDashboard();
  /** The critical alerts the spike must page, by alertKey(); filled by the spike test. */
  const expectedPages = new Set<string>();
  let spikedAccount: string | undefined;
  /** The notification that carried ThingSpaceFotaUpgradeFailedSpike; set by the spike test. */
  let spikeNotification: WebhookNotification | undefined;

  /**
   * The slowest path a critical condition takes to the webhook: the longest `for:` of a critical
   * alert in the test copy, then a collection, a scrape, two evaluations (recording rule, then alert)
   * and Alertmanager's group_wait.
   */
  const criticalPathMs =
    Math.max(
      ...alertingRules(loadRuleGroups())
        .filter((a) => a.labels?.severity === 'critical')
        .map((a) => (a.for ? parsePromDuration(a.for) / FOR_DIVISOR : 0)),
    ) +
    COLLECTION_INTERVAL_MS +
    3 * INTERVAL_SECONDS * 1000 +
    parsePromDuration(ALERTMANAGER_WAIT);

  it('sends nothing critical while the fleet is quiet: start-up, the learning pass and after', async () => {
    const running = paging();
    if (!running) return;
    await learningPassesDone(running);
    // Quiet means: no notification carrying an alert of severity critical (today the three spike
    // alerts, the two stale-data alerts, LoginBlocked, ExporterDown, ExporterAbsent) reaches the
    // webhook from the start of the stack until twice the slowest critical path after learning, and
    // at the end of that window Prometheus holds no critical alert, pending or firing. Warnings
    // caused by the data set (DATA_ALERTS) may arrive; the last test checks that nothing else does.
    const until = Date.now() + 2 * criticalPathMs;
    while (Date.now() < until && critical(running.webhook.alerts()).length === 0) {
      assertServicesRunning();
      await sleep(500);
    }
    expect(critical(running.webhook.alerts())).toEqual([]);
    // The chain was open all along: the data set's warnings (`for:` of 15s in the copy) arrived, so
    // the silence about critical alerts is not a broken Alertmanager or webhook.
    expect(running.webhook.alerts().length).toBeGreaterThan(0);
    const pendingOrFiring = (await running.prometheus.alerts()).filter(
      (a) => a.labels.severity === 'critical',
    );
    expect(pendingOrFiring).toEqual([]);
  });

  it(`pages ${UPGRADE_SPIKE} for the account the failure spike hits, with a runbook_url that resolves to its runbook section`, async () => {
    const running = paging();
    if (!running) return;
    const { prometheus, simulator, webhook: receiver } = running;
    await learningPassesDone(running);
    const account = running.accounts[0] ?? '';
    spikedAccount = account;
    const selector = `account="${account}"`;

    // A Prometheus minutes old has no baseline (it needs an observed hour a day back), so every
    // threshold is its minimum: 5 upgrades, 50 devices, 50 campaign devices per API.
    const thresholds = {
      upgrades: await prometheus.scalar(
        `thingspace_fota:upgrades_entered:spike_threshold1h{${selector}}`,
      ),
      devices: await prometheus.scalar(
        `thingspace_fota:upgrade_devices_entered:spike_threshold1h{${selector}}`,
      ),
      campaigns: new Map(
        (
          await prometheus.result(
            `thingspace_fota:campaign_devices_failed_entered:spike_threshold1h{${selector}}`,
          )
        ).map((s) => [s.metric.api ?? '', Number(s.value[1])]),
      ),
    };
    expect(thresholds.upgrades).toBe(5);
    expect(thresholds.devices).toBe(50);
    expect([...thresholds.campaigns.values()]).toEqual(CAMPAIGN_APIS.map(() => 50));

    const before = (await simulator.truth()).generation;
    const spike = (await simulator.post('/_sim/scenario/failure-spike', {
      account,
    })) as FailureSpikeResult;
    expect(spike.account).toBe(account);

    // What the spike must page, from what the simulator says it did against the thresholds.
    const failedUpgrades = spike.convertedUpgrades + spike.addedUpgrades;
    if (failedUpgrades >= thresholds.upgrades)
      expectedPages.add(alertKey({ alertname: UPGRADE_SPIKE, account }));
    if (spike.failedDevices >= thresholds.devices)
      expectedPages.add(alertKey({ alertname: DEVICES_SPIKE, account }));
    for (const c of spike.campaigns) {
      if (c.failedDevices >= (thresholds.campaigns.get(c.api) ?? Infinity)) {
        expectedPages.add(alertKey({ alertname: CAMPAIGN_SPIKE, account, api: c.api }));
      }
    }
    // The pinned data set must exercise the v1 alert the issue names and a campaign spike.
    expect(expectedPages.has(alertKey({ alertname: UPGRADE_SPIKE, account }))).toBe(true);
    expect([...expectedPages].some((k) => k.startsWith(CAMPAIGN_SPIKE))).toBe(true);

    const delivered = await waitFor(
      `the webhook to receive ${[...expectedPages].join(', ')}`,
      async () => {
        const firing = new Map(
          critical(receiver.alerts())
            .filter((a) => a.status === 'firing')
            .map((a) => [alertKey(a.labels), a]),
        );
        return [...expectedPages].every((k) => firing.has(k)) ? firing : undefined;
      },
      { timeoutMs: 120_000, everyMs: 500 },
    );

    spikeNotification = receiver.notifications.find((n) =>
      n.alerts.some((a) => a.status === 'firing' && a.labels.alertname === UPGRADE_SPIKE),
    );
    for (const key of expectedPages) {
      const alert = delivered.get(key);
      expect(alert?.labels).toMatchObject({
        account,
        severity: 'critical',
        job: 'thingspace-fota',
        instance: running.instance,
      });
      if (!alert) continue;
      const { alertname = '' } = alert.labels;
      if (alertname !== CAMPAIGN_SPIKE) expect(alert.labels.status).toBe('UpgradeFailed');
      // The description's template queries the threshold itself: it must have found it.
      const threshold =
        alertname === UPGRADE_SPIKE
          ? thresholds.upgrades
          : alertname === DEVICES_SPIKE
            ? thresholds.devices
            : thresholds.campaigns.get(alert.labels.api ?? '');
      expect(alert.annotations.description).toContain(`spike threshold of ${threshold} (`);
      // A working runbook_url: relative to the repository root (docs/alerting.md has operators put
      // their base URL in front of it), naming a file that exists and a heading of that alert.
      const runbook = resolveRepositoryLink(alert.annotations.runbook_url ?? '', ROOT);
      expect({ alertname, problem: runbook.problem, heading: runbook.heading?.text }).toEqual({
        alertname,
        problem: undefined,
        heading: alertname,
      });
    }

    // Each spike alert's arrivals_url opens the exporter's /arrivals page, filtered to the account,
    // the failed statuses (and the API) and the last hour, and its list holds exactly the spiked
    // account's new failures: the upgrade ids and campaign devices the simulator says entered.
    const details = await simulator.truth({
      enteredSince: before,
      enteredDetails: true,
      now: Date.now(),
    });
    for (const key of expectedPages) {
      const alert = delivered.get(key);
      if (!alert) continue;
      const { alertname = '', api } = alert.labels;
      const link = new URL(alert.annotations.arrivals_url ?? '');
      expect({ alertname, at: `${link.origin}${link.pathname}` }).toEqual({
        alertname,
        at: `http://${running.instance}/arrivals`,
      });
      expect(link.searchParams.get('account')).toBe(account);
      const since = Number(link.searchParams.get('since'));
      expect(since).toBeGreaterThan(Date.now() / 1000 - 3600 - 600);
      expect(since).toBeLessThanOrEqual(Date.now() / 1000 - 3600);
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(account);
      const params = new URLSearchParams(link.search);
      params.set('limit', '10000');
      const res = await fetch(`http://${running.instance}/api/v1/arrivals?${params.toString()}`);
      const listed = ((await res.json()) as { arrivals: Record<string, string | null>[] }).arrivals;
      expect(listed.every((a) => a.account === account)).toBe(true);
      if (alertname === CAMPAIGN_SPIKE) {
        expect(params.get('api')).toBe(api);
        const entered = (
          details.campaigns[account]![api as 'v2' | 'v3'] as unknown as {
            enteredDeviceList: EnteredCampaignDevice[];
          }
        ).enteredDeviceList.filter((d) => params.getAll('status').includes(d.status));
        expect(listed.map((a) => `${a.campaignId} ${a.deviceId}`).sort()).toEqual(
          entered.map((d) => `${d.campaignId} ${d.deviceId}`).sort(),
        );
      } else {
        expect(params.getAll('status')).toEqual(['UpgradeFailed']);
        expect(params.get('api')).toBe('v1');
        const entered = (
          details.accounts[account]!.UpgradeFailed as unknown as {
            enteredUpgrades: EnteredUpgrade[];
          }
        ).enteredUpgrades;
        expect([...new Set(listed.map((a) => a.upgradeId))].sort()).toEqual(
          entered.map((u) => u.id).sort(),
        );
        expect(listed.filter((a) => a.deviceId !== null)).toHaveLength(spike.failedDevices);
      }
    }

    // What paged is what the exporter counted, and that is what the simulator says entered each
    // status since the spike's generation, for every account (the quiet one: nothing).
    const truth = await simulator.truth({ enteredSince: before, now: Date.now() });
    const expected = Object.fromEntries(enteredTruthSeries(truth));
    let counted: Record<string, number> = {};
    await waitFor(
      'the entered counters in Prometheus to equal the simulator truth',
      async () => {
        counted = await enteredCounters(prometheus);
        return isDeepStrictEqual(counted, expected) ? true : undefined;
      },
      { timeoutMs: 30_000 },
    ).catch(() => undefined);
    expect(counted).toEqual(expected);
    const increase = await prometheus.scalar(
      `thingspace_fota:upgrades_entered:increase1h{${selector}, status="UpgradeFailed"}`,
    );
    expect(increase).toBeGreaterThanOrEqual(failedUpgrades);

    // The dashboard shows it: one account in a failure spike.
    const panel = panelQueries(dashboard).find((q) =>
      q.where.includes('Accounts in a failure spike'),
    );
    expect(panel).toBeDefined();
    const spiking = await prometheus.result(substitute(panel?.expr ?? ''));
    expect(spiking.map((r) => Number(r.value[1]))).toEqual([1]);
  });

  it("turns the spike's runbook_url into a link with docs/alerting.md's templates, rendered by Alertmanager's engine", () => {
    const running = paging();
    if (!running) return;
    const amtool = requireTool('amtool');
    if (!amtool || !workDir) return;
    if (!spikeNotification) throw new Error('the spike test did not receive the notification');
    const runbookUrl =
      spikeNotification.alerts.find((a) => a.labels.alertname === UPGRADE_SPIKE)?.annotations
        .runbook_url ?? '';
    // The two templates of the section "The runbook link", and how it says to call the second.
    const section = /## The runbook link\n([\s\S]*?)\n## /.exec(
      readFileSync(ALERTING_DOC_PATH, 'utf8'),
    )?.[1];
    const blocks = [...(section ?? '').matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const inline = blocks.find((b) => b.includes('$base :='));
    const definitions = blocks.find((b) => b.includes('define "thingspace.runbook"'));
    const usage = /`(\{\{ template "thingspace\.runbook" \. \}\})`/.exec(section ?? '')?.[1];
    const base = /\$base := "([^"]+)"/.exec(inline ?? '')?.[1];
    expect({ inline: !!inline, definitions: !!definitions, usage, base: !!base }).toEqual({
      inline: true,
      definitions: true,
      usage: '{{ template "thingspace.runbook" . }}',
      base: true,
    });
    if (!inline || !definitions || !usage || !base) return;

    // Rendered over the notification the webhook received, each gives the operator's base followed
    // by the runbook_url, and that is the runbook_url resolved against the base (one slash between):
    // the same file and section that resolve in this repository.
    const link = new URL(runbookUrl, base).href;
    const data = spikeNotification.body;
    expect(renderTemplate(amtool, workDir, { text: inline, data }).trim()).toBe(link);
    expect(renderTemplate(amtool, workDir, { text: usage, definitions, data }).trim()).toBe(link);
    expect(link.startsWith(base)).toBe(true);
    const inRepository = resolveRepositoryLink(link.slice(base.length), ROOT);
    expect({ problem: inRepository.problem, heading: inRepository.heading?.text }).toEqual({
      problem: undefined,
      heading: UPGRADE_SPIKE,
    });
  });

  it('sends nothing critical for the quiet account or the exporter over the same time, and only data alerts as warnings', async () => {
    const running = paging();
    if (!running) return;
    if (!spikedAccount) throw new Error('the spike test did not run');
    const receiver = running.webhook;
    // Every data alert reaches the webhook too (warnings route to the same receiver), so the
    // checks below see each kind of notification this data set sends.
    await waitFor(
      'every data alert at the webhook',
      async () => {
        const names = new Set(receiver.alerts().map((a) => a.labels.alertname));
        return Object.keys(DATA_ALERTS).every((n) => names.has(n)) ? true : undefined;
      },
      { timeoutMs: 90_000, everyMs: 500 },
    );
    const alerts = receiver.alerts();
    expect(receiver.rejected).toEqual([]);
    // Critical: exactly the spiked account's spike alerts, over the whole run; so none for the other
    // account (a quiet fleet, scraped by the same exporter over the same minutes) and none of the
    // exporter-wide ones (ExporterDown, ExporterAbsent, LoginBlocked).
    expect([...new Set(critical(alerts).map((a) => alertKey(a.labels)))].sort()).toEqual(
      [...expectedPages].sort(),
    );
    const warnings = alerts.filter((a) => a.labels.severity !== 'critical');
    expect([...new Set(warnings.map((a) => a.labels.alertname))].sort()).toEqual(
      Object.keys(DATA_ALERTS).sort(),
    );
    expect(warnings.every((a) => a.labels.severity === 'warning')).toBe(true);
    // Every runbook_url that reached the webhook leads to its alert's section.
    for (const alert of alerts) {
      const { alertname = '' } = alert.labels;
      const runbook = resolveRepositoryLink(alert.annotations.runbook_url ?? '', ROOT);
      expect({ alertname, problem: runbook.problem, heading: runbook.heading?.text }).toEqual({
        alertname,
        problem: undefined,
        heading: alertname,
      });
    }
  });
});
