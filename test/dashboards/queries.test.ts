/**
 * What the dashboard's less obvious queries compute, evaluated by Prometheus itself (promtool's
 * expression tests) on made-up series: the committed queries, read from the dashboard JSON, with the
 * variables set to All. The static tests check which series a query reads; these check that it
 * answers the panel's question.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { requireTool, run } from '../rules/promtool.js';
import {
  TEST_VARIABLES,
  annotationQueries,
  loadDashboard,
  panelQueries,
  substitute,
  variableQuery,
} from './model.js';
import { variableExpr } from './promql.js';
import { EXPORTER_URL_PLACEHOLDER } from '../../scripts/dashboard/panels.js';

const dashboard = loadDashboard();
const SCOPE = 'job="thingspace-fota", instance="exporter:9775"';

/** The query of a panel's target, as the live test sends it. */
function query(title: string, refId: string, variables = TEST_VARIABLES): string {
  const found = panelQueries(dashboard).find((q) => q.where === `panel "${title}" / ${refId}`);
  if (!found) throw new Error(`no query ${refId} in panel "${title}"`);
  return substitute(found.expr, variables);
}

interface Sample {
  labels: string;
  value: number;
}

interface ExprTest {
  expr: string;
  eval_time: string;
  exp_samples: Sample[];
}

let dir: string | undefined;

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs promtool's expression tests on `series` (1m apart); returns promtool's complaint, or ''. */
function evaluate(series: Record<string, string>, tests: ExprTest[]): string {
  const promtool = requireTool('promtool');
  if (!promtool) return '';
  dir ??= mkdtempSync(join(tmpdir(), 'thingspace-fota-dashboard-'));
  writeFileSync(join(dir, 'empty.rules.yml'), 'groups: []\n');
  const file = join(dir, 'queries.test.yml');
  writeFileSync(
    file,
    stringify({
      rule_files: ['empty.rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: Object.entries(series).map(([s, values]) => ({ series: s, values })),
          promql_expr_test: tests,
        },
      ],
    }),
  );
  const result = run(promtool, ['test', 'rules', file], dir);
  return result.status === 0 ? '' : result.output;
}

describe('every query', () => {
  it('is PromQL that Prometheus parses (promtool check rules)', () => {
    const promtool = requireTool('promtool');
    if (!promtool) return;
    dir ??= mkdtempSync(join(tmpdir(), 'thingspace-fota-dashboard-'));
    const all = [...panelQueries(dashboard), ...annotationQueries(dashboard)];
    const file = join(dir, 'parse.rules.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'dashboard',
            rules: all.map((q, i) => ({ record: `dashboard:query${i}`, expr: substitute(q.expr) })),
          },
        ],
      }),
    );
    const result = run(promtool, ['check', 'rules', file], dir);
    expect(result.output).toContain(`SUCCESS: ${all.length} rules found`);
    expect(result.status).toBe(0);
  });
});

describe("the breakdown of the last hour's failures by firmware and reason", () => {
  const expr = query("Last hour's failed devices by firmware and reason", 'A');
  const devices = (account: string, status: string, fw: string, ds: string, reason: string) =>
    `thingspace_fota_upgrade_devices{${SCOPE}, account="${account}", status="${status}", firmware_to="${fw}", device_status="${ds}", result_reason="${reason}"}`;
  const reported = (account: string) =>
    `thingspace_fota_collection_success{${SCOPE}, account="${account}", status="UpgradeFailed"}`;

  it('counts the growth since an hour ago, and new firmware × reason in full; not what shrank, not other statuses, not an account unseen an hour ago', () => {
    // Evaluated at 70m: "an hour ago" is 10m.
    const series = {
      // A / r1 grows from 10 to 14 over two device statuses.
      [devices('acct-1', 'UpgradeFailed', 'A', 'UpgradeFailed', 'r1')]: '6x30 8x40',
      [devices('acct-1', 'UpgradeFailed', 'A', 'Device Accepted', 'r1')]: '4x30 6x40',
      // Unchanged.
      [devices('acct-1', 'UpgradeFailed', 'A', 'UpgradeFailed', 'r2')]: '10x70',
      // New since an hour ago: all 3 are new.
      [devices('acct-1', 'UpgradeFailed', 'B', 'UpgradeFailed', 'r1')]: '_x40 3x30',
      // Old failures ageing out: not new.
      [devices('acct-1', 'UpgradeFailed', 'C', 'UpgradeFailed', 'r3')]: '20x30 15x40',
      // Another report: not failures.
      [devices('acct-1', 'Finished', 'A', 'UpgradeSuccess', 'r1')]: '0x30 50x40',
      // An account the exporter did not report an hour ago: its history is not "new".
      [devices('acct-2', 'UpgradeFailed', 'A', 'UpgradeFailed', 'r1')]: '_x40 7x30',
      [reported('acct-1')]: '1x70',
      [reported('acct-2')]: '_x40 1x30',
    };
    expect(
      evaluate(series, [
        {
          expr,
          eval_time: '70m',
          exp_samples: [
            { labels: '{firmware_to="A", result_reason="r1"}', value: 4 },
            { labels: '{firmware_to="B", result_reason="r1"}', value: 3 },
          ],
        },
        // No history an hour back at all (a young Prometheus): nothing, rather than everything.
        { expr, eval_time: '5m', exp_samples: [] },
      ]),
    ).toBe('');
  });
});

describe('Accounts in a failure spike', () => {
  const expr = query('Accounts in a failure spike', 'A');
  const rule = (name: string, labels: string) => `thingspace_fota:${name}{${SCOPE}, ${labels}}`;

  it('counts each account at or over any of its spike thresholds once, whether the threshold has a status label or not', () => {
    const series = {
      // acct-1: 6 new failed upgrades against 5 (threshold with the status label), then 4.
      [rule('upgrades_entered:increase1h', 'account="acct-1", status="UpgradeFailed"')]: '6x5 4x5',
      [rule('upgrades_entered:increase1h', 'account="acct-1", status="Finished"')]: '100x10',
      [rule('upgrades_entered:spike_threshold1h', 'account="acct-1", status="UpgradeFailed"')]:
        '5x10',
      // acct-1 is also over its device threshold: still one account.
      [rule('upgrade_devices_entered:increase1h', 'account="acct-1", status="UpgradeFailed"')]:
        '60x5 0x5',
      [rule('upgrade_devices_entered:spike_threshold1h', 'account="acct-1"')]: '50x10',
      // acct-2: under both.
      [rule('upgrades_entered:increase1h', 'account="acct-2", status="UpgradeFailed"')]: '1x10',
      [rule('upgrades_entered:spike_threshold1h', 'account="acct-2", status="UpgradeFailed"')]:
        '5x10',
      [rule('upgrade_devices_entered:increase1h', 'account="acct-2", status="UpgradeFailed"')]:
        '40x10',
      [rule('upgrade_devices_entered:spike_threshold1h', 'account="acct-2"')]: '50x10',
      // acct-3: campaign devices on v3 over the threshold, v2 not.
      [rule('campaign_devices_failed_entered:increase1h', 'account="acct-3", api="v3"')]:
        '60x5 10x5',
      [rule('campaign_devices_failed_entered:spike_threshold1h', 'account="acct-3", api="v3"')]:
        '50x10',
      [rule('campaign_devices_failed_entered:increase1h', 'account="acct-3", api="v2"')]: '0x10',
      [rule('campaign_devices_failed_entered:spike_threshold1h', 'account="acct-3", api="v2"')]:
        '50x10',
    };
    expect(
      evaluate(series, [
        { expr, eval_time: '3m', exp_samples: [{ labels: '{}', value: 2 }] },
        { expr, eval_time: '8m', exp_samples: [{ labels: '{}', value: 0 }] },
      ]),
    ).toBe('');
  });
});

describe('Active campaigns: progress', () => {
  const campaign = (metric: string, id: string, extra = '') =>
    `thingspace_fota_campaign_${metric}{${SCOPE}, account="acct-1", api="v3", campaign_id="${id}"${extra}}`;
  const info = (id: string, status: string) =>
    campaign(
      'info',
      id,
      `, campaign_name="${id} rollout", firmware_from="1.0", firmware_to="2.0", campaign_status="${status}"`,
    );
  const row = (id: string, status: string) =>
    `{${SCOPE}, account="acct-1", api="v3", campaign_id="${id}", campaign_name="${id} rollout", firmware_from="1.0", firmware_to="2.0", campaign_status="${status}"}`;
  const series = {
    // c1: scheduled, 10 devices: 3 upgraded, 1 failed, 6 accepted.
    [info('c1', 'CampaignScheduled')]: '1x5',
    [campaign('total_devices', 'c1')]: '10x5',
    [campaign('device_status', 'c1', ', device_status="UpgradeSuccess"')]: '3x5',
    [campaign('device_status', 'c1', ', device_status="UpgradeFailed"')]: '1x5',
    [campaign('device_status', 'c1', ', device_status="Accepted"')]: '6x5',
    [campaign('end_timestamp_seconds', 'c1')]: '1767225600x5',
    // c2: ended, so not active.
    [info('c2', 'CampaignEnded')]: '1x5',
    [campaign('total_devices', 'c2')]: '5x5',
    [campaign('device_status', 'c2', ', device_status="UpgradeSuccess"')]: '5x5',
    // c3: just requested, nothing concluded yet, no end date.
    [info('c3', 'CampaignRequestPending')]: '1x5',
    [campaign('total_devices', 'c3')]: '4x5',
    [campaign('device_status', 'c3', ', device_status="Accepted"')]: '4x5',
  };
  const panel = 'Active campaigns: progress';

  it('lists the campaigns not in a final status, with devices, successes, failures, progress and end', () => {
    expect(
      evaluate(series, [
        {
          expr: query(panel, 'A'),
          eval_time: '2m',
          exp_samples: [
            { labels: row('c1', 'CampaignScheduled'), value: 10 },
            { labels: row('c3', 'CampaignRequestPending'), value: 4 },
          ],
        },
        {
          expr: query(panel, 'B'),
          eval_time: '2m',
          exp_samples: [
            { labels: row('c1', 'CampaignScheduled'), value: 3 },
            { labels: row('c3', 'CampaignRequestPending'), value: 0 },
          ],
        },
        {
          expr: query(panel, 'C'),
          eval_time: '2m',
          exp_samples: [
            { labels: row('c1', 'CampaignScheduled'), value: 1 },
            { labels: row('c3', 'CampaignRequestPending'), value: 0 },
          ],
        },
        {
          expr: query(panel, 'D'),
          eval_time: '2m',
          exp_samples: [
            { labels: row('c1', 'CampaignScheduled'), value: 0.4 },
            { labels: row('c3', 'CampaignRequestPending'), value: 0 },
          ],
        },
        {
          expr: query(panel, 'E'),
          eval_time: '2m',
          exp_samples: [{ labels: row('c1', 'CampaignScheduled'), value: 1767225600000 }],
        },
      ]),
    ).toBe('');
  });
});

describe('Collection errors', () => {
  it('draws each error kind, and a 0 line for an account without any error series', () => {
    const expr = query('Collection errors', 'A', { ...TEST_VARIABLES, __rate_interval: '5m' });
    const series = {
      [`thingspace_fota_collection_errors_total{${SCOPE}, account="acct-1", status="Finished", error="timeout"}`]:
        '0+1x10',
      [`thingspace_fota_collection_success{${SCOPE}, account="acct-1", status="Finished"}`]: '0x10',
      [`thingspace_fota_collection_success{${SCOPE}, account="acct-1", status="Queued"}`]: '1x10',
      [`thingspace_fota_collection_success{${SCOPE}, account="acct-2", status="Finished"}`]: '1x10',
    };
    expect(
      evaluate(series, [
        {
          expr,
          eval_time: '10m',
          exp_samples: [
            { labels: '{account="acct-1", error="timeout"}', value: 5 },
            { labels: '{account="acct-2", error="none"}', value: 0 },
          ],
        },
      ]),
    ).toBe('');
  });
});

describe('Campaign collection errors', () => {
  it('draws each error kind, and one 0 line for a stage without any error series', () => {
    const expr = query('Campaign collection errors', 'A', {
      ...TEST_VARIABLES,
      __rate_interval: '5m',
    });
    const stage = (api: string, name: string) => `account="acct-1", api="${api}", stage="${name}"`;
    const series = {
      [`thingspace_fota_campaign_collection_errors_total{${SCOPE}, ${stage('v3', 'devices')}, error="pagination"}`]:
        '0+2x10',
      [`thingspace_fota_campaign_collection_success{${SCOPE}, ${stage('v3', 'devices')}}`]: '0x10',
      [`thingspace_fota_campaign_collection_success{${SCOPE}, ${stage('v3', 'listing')}}`]: '1x10',
      // The same stage seen through a second exporter instance: still one 0 line.
      [`thingspace_fota_campaign_collection_success{job="thingspace-fota", instance="exporter-2:9775", ${stage('v3', 'listing')}}`]:
        '1x10',
    };
    expect(
      evaluate(series, [
        {
          expr,
          eval_time: '10m',
          exp_samples: [
            { labels: `{${stage('v3', 'devices')}, error="pagination"}`, value: 10 },
            { labels: `{${stage('v3', 'listing')}, error="none"}`, value: 0 },
          ],
        },
      ]),
    ).toBe('');
  });
});

describe('the exporter URL variable, the host of the links to /arrivals', () => {
  const variable = (dashboard.templating?.list ?? []).find((v) => v.name === 'exporter_url');
  const expr = substitute(variableExpr(variableQuery(variable!)));
  const regex = /external_url="([^"]+)"/;
  const info = `thingspace_fota_exporter_external_url_info{${SCOPE}, external_url="https://fota.example.com/exporter"}`;

  it("reads the exporter's --web.external-url, and the alerts' placeholder only while it is unset", () => {
    expect(
      evaluate({ [info]: '1x10' }, [
        {
          expr,
          eval_time: '5m',
          exp_samples: [
            {
              labels: `thingspace_fota_exporter_external_url_info{${SCOPE}, external_url="https://fota.example.com/exporter"}`,
              value: 1,
            },
          ],
        },
      ]),
    ).toBe('');
    expect(
      evaluate({ 'up{job="thingspace-fota", instance="exporter:9775"}': '1x10' }, [
        {
          expr,
          eval_time: '5m',
          exp_samples: [{ labels: `{external_url="${EXPORTER_URL_PLACEHOLDER}"}`, value: 1 }],
        },
      ]),
    ).toBe('');
  });

  it("takes the URL out of the series' labels with the variable's regex", () => {
    expect(variable?.regex).toBe(`/${regex.source}/`);
    expect(regex.exec(`{external_url="${EXPORTER_URL_PLACEHOLDER}"} 1 1700000000000`)?.[1]).toBe(
      EXPORTER_URL_PLACEHOLDER,
    );
  });
});
