/**
 * Static checks of grafana/dashboards/thingspace-fota.json, the committed file as Grafana imports it:
 * the layout, the data source of every panel and query, units and descriptions, the variables, and
 * the queries themselves by the rules of Grafana's dashboard-linter (job/instance/account filters,
 * $__rate_interval, counters only through rate/increase) plus our own: a query reads only series
 * the exporter exposes (src/metrics/definitions.ts) or a recording rule records, every campaign
 * series is filtered by $api, the spike panels draw what the spike alerts compare, every exporter
 * metric is on the dashboard (or the reason it is not is written down), and the runbook links lead
 * to sections that exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_DEFINITIONS } from '../../src/metrics/definitions.js';
import { EXPORTER_URL_PLACEHOLDER } from '../../scripts/dashboard/panels.js';
import {
  ROOT,
  alertingRules,
  knownSeries,
  recordingRules,
  runbookSections,
} from '../rules/model.js';
import {
  allPanels,
  annotationQueries,
  loadDashboard,
  panelQueries,
  variableQuery,
  type PanelJson,
} from './model.js';
import {
  labelValuesSelector,
  variableExpr,
  metricNames,
  selectorNames,
  selectors,
  type Selector,
} from './promql.js';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** The units the panels may use: Grafana unit ids the dashboard-linter knows. */
const UNITS = ['short', 'none', 'percentunit', 's', 'reqps', 'ops', 'cps'];
const RATE_FUNCTIONS = ['rate', 'irate', 'increase'];

const dashboard = loadDashboard();
const panels = allPanels(dashboard);
const contentPanels = panels.filter((p) => p.type !== 'row');
const queries = panelQueries(dashboard);
const known = knownSeries();

function title(panel: PanelJson): string {
  return panel.title ?? `#${panel.id ?? '?'}`;
}

function describeSelector(s: Selector): string {
  return `${s.name}{${s.matchers.map((m) => `${m.label}${m.op}"${m.value}"`).join(', ')}}`;
}

function hasMatcher(s: Selector, label: string, value: string): boolean {
  return s.matchers.some((m) => m.label === label && m.op === '=~' && m.value === value);
}

describe('dashboard model', () => {
  it('has a fixed uid, a title, tags, a 24h range and a 1m refresh, and is not editable', () => {
    expect(dashboard.uid).toBe('thingspace-fota');
    expect(dashboard.title).toMatch(/\S/);
    expect(dashboard.tags?.length).toBeGreaterThan(0);
    expect(dashboard.time).toEqual({ from: 'now-24h', to: 'now' });
    expect(dashboard.refresh).toBe('1m');
    expect(dashboard.editable).toBe(false);
  });

  it('can be imported and provisioned alike: no __inputs, no hard-wired data source', () => {
    expect(dashboard).not.toHaveProperty('__inputs');
    expect(dashboard).not.toHaveProperty('__requires');
    expect(dashboard).not.toHaveProperty('id');
    const text = readFileSync(join(ROOT, 'grafana/dashboards/thingspace-fota.json'), 'utf8');
    expect(text).not.toMatch(/\$\{DS_/);
  });
});

describe('variables', () => {
  const list = dashboard.templating?.list ?? [];
  const byName = new Map(list.map((v) => [v.name, v]));

  it('has one data source variable, named datasource, for Prometheus', () => {
    const sources = list.filter((v) => v.type === 'datasource');
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({
      name: 'datasource',
      label: 'Data source',
      query: 'prometheus',
    });
  });

  it.each([
    ['job', 'Job'],
    ['instance', 'Instance'],
    ['account', 'Account'],
    ['api', 'Campaign API'],
  ])(
    'has a multi-select %s variable with All (.+), refreshed on time range change',
    (name, label) => {
      expect(byName.get(name)).toMatchObject({
        label,
        type: 'query',
        datasource: DATASOURCE,
        multi: true,
        includeAll: true,
        allValue: '.+',
        refresh: 2,
      });
    },
  );

  it('takes the accounts from the collection series of FOTA v1 and of the campaigns alike', () => {
    // An exporter that reads only v2/v3 has no v1 series, and one that reads only v1 no campaign
    // series; every configured account has one of the two.
    const account = byName.get('account');
    expect(account).toBeDefined();
    if (!account) return;
    const { selector, label } = labelValuesSelector(variableQuery(account));
    expect(label).toBe('account');
    expect(selectors(selector).flatMap(selectorNames).sort()).toEqual([
      'thingspace_fota_campaign_collection_success',
      'thingspace_fota_collection_success',
    ]);
  });

  it('takes the APIs from a campaign series', () => {
    const api = byName.get('api');
    expect(api).toBeDefined();
    if (!api) return;
    const { selector, label } = labelValuesSelector(variableQuery(api));
    expect(label).toBe('api');
    for (const name of selectors(selector).flatMap(selectorNames)) {
      expect(known.get(name)?.labels).toContain('api');
    }
  });

  it('query only known series', () => {
    for (const variable of list.filter((v) => v.type === 'query')) {
      for (const name of selectors(variableExpr(variableQuery(variable))).flatMap(selectorNames)) {
        expect({ variable: variable.name, name, known: known.has(name) }).toEqual({
          variable: variable.name,
          name,
          known: true,
        });
      }
    }
  });

  it('has a hidden constant runbook base URL, a placeholder that cannot resolve', () => {
    const base = byName.get('runbook_base_url');
    expect(base).toMatchObject({ type: 'constant', hide: 2 });
    // RFC 6761: .invalid never resolves, so nobody is sent to someone else's site by default.
    expect(new URL(variableQuery(base ?? {})).hostname).toMatch(/\.invalid$/);
  });
});

describe('layout', () => {
  it('gives every panel a unique id', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps every panel inside the 24 columns', () => {
    const outside = panels.filter((p) => {
      const g = p.gridPos;
      if (!g) return true;
      const ints = [g.x, g.y, g.w, g.h].every(Number.isInteger);
      return !ints || g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24;
    });
    expect(outside.map(title)).toEqual([]);
  });

  it('lets no two panels overlap', () => {
    const overlaps: string[] = [];
    const placed = panels.filter((p) => p.gridPos);
    placed.forEach((a, i) => {
      for (const b of placed.slice(i + 1)) {
        const ga = a.gridPos;
        const gb = b.gridPos;
        if (!ga || !gb) continue;
        const apart =
          ga.x + ga.w <= gb.x || gb.x + gb.w <= ga.x || ga.y + ga.h <= gb.y || gb.y + gb.h <= ga.y;
        if (!apart) overlaps.push(`${title(a)} / ${title(b)}`);
      }
    });
    expect(overlaps).toEqual([]);
  });

  it('starts with a row, and has rows of panels', () => {
    expect(dashboard.panels?.[0]?.type).toBe('row');
    expect(panels.filter((p) => p.type === 'row').length).toBeGreaterThanOrEqual(4);
  });
});

describe('panels', () => {
  it('use the datasource variable on every panel and every query', () => {
    const wrong = [
      ...panels
        .filter((p) => JSON.stringify(p.datasource) !== JSON.stringify(DATASOURCE))
        .map(title),
      ...panels.flatMap((p) =>
        (p.targets ?? [])
          .filter((t) => JSON.stringify(t.datasource) !== JSON.stringify(DATASOURCE))
          .map((t) => `${title(p)} / ${t.refId ?? '?'}`),
      ),
    ];
    expect(wrong).toEqual([]);
    for (const a of dashboard.annotations?.list ?? []) expect(a.datasource).toEqual(DATASOURCE);
  });

  it.each(contentPanels.map((p) => [title(p), p] as const))(
    '%s has a title, a description, a unit and queries',
    (_title, panel) => {
      expect(panel.title).toMatch(/\S/);
      expect(panel.description).toMatch(/\S{3}/);
      expect(UNITS).toContain(panel.fieldConfig?.defaults?.unit);
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) expect(t.expr).toMatch(/\S/);
    },
  );

  it('have unique titles', () => {
    const titles = contentPanels.map(title);
    expect(new Set(titles).size).toBe(titles.length);
  });
});

describe('queries', () => {
  const cases = queries.map((q) => [q.where, q.expr] as const);

  it('exist', () => {
    expect(queries.length).toBeGreaterThan(20);
  });

  it.each(cases)('%s reads only known series', (_where, expr) => {
    const unknown = selectors(expr)
      .map((s) => s.name)
      .filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });

  it.each(cases)('%s filters every campaign series by $api', (_where, expr) => {
    const unfiltered = selectors(expr)
      .filter((s) => known.get(s.name)?.labels.includes('api'))
      .filter((s) => !hasMatcher(s, 'api', '$api'))
      .map(describeSelector);
    expect(unfiltered).toEqual([]);
  });

  it.each(cases)('%s filters every selector by job and instance', (_where, expr) => {
    const unfiltered = selectors(expr)
      .filter((s) => !hasMatcher(s, 'job', '$job') || !hasMatcher(s, 'instance', '$instance'))
      .map(describeSelector);
    expect(unfiltered).toEqual([]);
  });

  it.each(cases)('%s filters every series with an account label by $account', (_where, expr) => {
    const unfiltered = selectors(expr)
      .filter((s) => known.get(s.name)?.labels.includes('account'))
      .filter((s) => !hasMatcher(s, 'account', '$account'))
      .map(describeSelector);
    expect(unfiltered).toEqual([]);
  });

  it.each(cases)('%s uses $__rate_interval in rate() and increase()', (_where, expr) => {
    const wrong = selectors(expr)
      .filter((s) => RATE_FUNCTIONS.includes(s.calls[0] ?? ''))
      .filter((s) => s.range !== '$__rate_interval')
      .map((s) => `${s.calls[0] ?? ''}(${describeSelector(s)}[${s.range ?? ''}])`);
    expect(wrong).toEqual([]);
  });

  it.each(cases)('%s reads counters only through rate() or increase()', (_where, expr) => {
    const wrong = selectors(expr)
      .filter((s) => s.name.endsWith('_total') || known.get(s.name)?.type === 'counter')
      .filter((s) => !RATE_FUNCTIONS.includes(s.calls[0] ?? '') || s.range === undefined)
      .map(describeSelector);
    expect(wrong).toEqual([]);
  });

  it.each(cases)(
    '%s reads histogram buckets only in histogram_quantile(rate())',
    (_where, expr) => {
      const wrong = selectors(expr)
        .filter((s) => s.name.endsWith('_bucket'))
        .filter((s) => s.calls[0] !== 'rate' || !s.calls.includes('histogram_quantile'))
        .map(describeSelector);
      expect(wrong).toEqual([]);
    },
  );

  it('in annotations read only known series', () => {
    for (const q of annotationQueries(dashboard)) {
      for (const s of selectors(q.expr)) expect(known.has(s.name)).toBe(true);
    }
  });
});

/** The refIds a panel draws as a dashed line (an override by query with a dashed line style). */
function dashedRefIds(panel: PanelJson): string[] {
  return (panel.fieldConfig?.overrides ?? [])
    .filter((o) => o.matcher?.id === 'byFrameRefID')
    .filter((o) =>
      (o.properties ?? []).some(
        (p) =>
          p.id === 'custom.lineStyle' &&
          (p.value as { fill?: string } | undefined)?.fill === 'dash',
      ),
    )
    .map((o) => String(o.matcher?.options));
}

function reads(panel: PanelJson, name: string): boolean {
  return (panel.targets ?? []).some((t) => metricNames(t.expr ?? '').includes(name));
}

describe('spike panels', () => {
  const recorded = new Set(recordingRules().map((r) => r.record));
  const spikeAlerts = alertingRules().filter((a) => a.alert.endsWith('Spike'));

  it('exist for the FOTA v1 upgrade and device spikes and the campaign device spike', () => {
    expect(spikeAlerts.map((a) => a.alert).sort()).toEqual([
      'ThingSpaceFotaCampaignDeviceFailureSpike',
      'ThingSpaceFotaUpgradeFailedDevicesSpike',
      'ThingSpaceFotaUpgradeFailedSpike',
    ]);
  });

  it.each(spikeAlerts.map((a) => [a.alert, a.expr] as const))(
    '%s: one panel draws both sides of the comparison, the threshold as a dashed line',
    (_alert, expr) => {
      const compared = metricNames(expr).filter((name) => recorded.has(name));
      const thresholds = compared.filter((name) => name.includes('threshold'));
      expect(thresholds.length).toBeGreaterThan(0);
      expect(compared.length).toBeGreaterThan(thresholds.length);
      const panel = contentPanels
        .filter((p) => p.type === 'timeseries')
        .find((p) => compared.every((name) => reads(p, name)));
      expect(panel).toBeDefined();
      if (!panel) return;
      for (const t of panel.targets ?? []) {
        const isThreshold = thresholds.some((name) => metricNames(t.expr ?? '').includes(name));
        expect({ refId: t.refId, dashed: dashedRefIds(panel).includes(t.refId ?? '') }).toEqual({
          refId: t.refId,
          dashed: isThreshold,
        });
      }
    },
  );

  it('come with the breakdown of the last hour by firmware and reason, from the gauges', () => {
    // The entered counters have no firmware or reason label; the gauges do, and an hour ago.
    const breakdown = contentPanels.filter((p) =>
      (p.targets ?? []).some((t) => {
        const found = selectors(t.expr ?? '');
        return (
          /by \(firmware_to, result_reason\)/.test(t.expr ?? '') &&
          found.some((s) => s.name === 'thingspace_fota_upgrade_devices') &&
          /offset 1h/.test(t.expr ?? '')
        );
      }),
    );
    expect(breakdown.map(title)).toHaveLength(1);
    expect(breakdown[0]?.description).toMatch(/net of/);
    expect(breakdown[0]?.description).toMatch(/counters/);
  });
});

/**
 * Exporter metrics that no panel reads, and why. A metric missing from the dashboard and from this
 * list fails: either draw it or say here why not.
 */
const NOT_DRAWN: Record<string, string> = {
  thingspace_fota_upgrades_entered_total:
    'drawn through its recording rules: the spike panels and Upgrades entering each status',
  thingspace_fota_upgrade_devices_entered_total:
    'drawn through its recording rules: the spike panels',
  thingspace_fota_upgrades_observed_seconds_total:
    'read by the spike threshold rules only, which the spike panels draw',
  thingspace_fota_campaign_devices_observed_seconds_total:
    'read by the campaign spike threshold rule only, which the campaign spike panel draws',
  thingspace_fota_api_gate_closures_total:
    'Time paused by the throttle gate says more than the number of closures',
  thingspace_fota_arrivals_snapshot_errors_total:
    'the --storage.path arrivals snapshot: an error is logged; the runbook tells what a failed write means',
  thingspace_fota_arrivals_snapshot_last_write_timestamp_seconds:
    'the --storage.path arrivals snapshot: for an operator checking a restart, not for the dashboard',
  thingspace_fota_arrivals_snapshot_bytes:
    'the --storage.path arrivals snapshot: its size against the 256 MiB limit, not for the dashboard',
  thingspace_fota_exporter_external_url_info:
    'read by the exporter_url variable, the base of the links to the /arrivals page',
  thingspace_fota_arrivals_kept:
    'a property of the /arrivals page (its bounds), not of the fleet; the page says what it dropped',
  thingspace_fota_arrivals_dropped_total:
    'a property of the /arrivals page (its bounds), not of the fleet; the page says what it dropped',
};

describe('links to the /arrivals page', () => {
  const linked = (p: (typeof panels)[number]) =>
    (
      (p as { fieldConfig?: { defaults?: { links?: { url?: string }[] } } }).fieldConfig?.defaults
        ?.links ?? []
    ).map((l) => l.url ?? '');

  it.each([
    [
      'Failed upgrades: new in the last hour vs spike threshold',
      /account=\$\{__field\.labels\.account:percentencode\}&api=v1&status=UpgradeFailed&/,
    ],
    [
      'Failed devices: new in the last hour vs spike threshold',
      /account=\$\{__field\.labels\.account:percentencode\}&api=v1&status=UpgradeFailed&/,
    ],
    [
      'Campaign device failures: new in the last hour vs spike threshold',
      /account=.*&api=\$\{__field\.labels\.api:percentencode\}&status=UpgradeFailed&status=DeviceRejected&/,
    ],
    [
      "Last hour's failed devices by firmware and reason",
      /api=v1&status=UpgradeFailed&firmware_to=.*&reason=\$\{__data\.fields\.result_reason:percentencode\}&/,
    ],
  ])('%s links each series to /arrivals under the exporter URL variable', (name, filter) => {
    const panel = panels.find((p) => title(p) === name);
    expect(panel).toBeDefined();
    const urls = panel ? linked(panel) : [];
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(/^\$\{exporter_url\}\/arrivals\?/);
    expect(urls[0]).toMatch(filter);
    expect(urls[0]).toMatch(/&since=\$\{__from:date:seconds\}$/);
  });

  it('takes the exporter URL from the exporter, hidden', () => {
    const variable = (dashboard.templating?.list ?? []).find((v) => v.name === 'exporter_url');
    expect(variable).toMatchObject({ type: 'query', hide: 2 });
    expect(variableQuery(variable!)).toContain('thingspace_fota_exporter_external_url_info');
  });

  it("falls back to the alerts' placeholder host, the same in the dashboard and in the rules", () => {
    const variable = (dashboard.templating?.list ?? []).find((v) => v.name === 'exporter_url');
    expect(variableQuery(variable!)).toContain(`"${EXPORTER_URL_PLACEHOLDER}"`);
    const rules = readFileSync(join(ROOT, 'prometheus/rules/thingspace-fota.rules.yml'), 'utf8');
    const bases = [...rules.matchAll(/\$base := "([^"]+)"/g)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    expect(new Set(bases)).toEqual(new Set([EXPORTER_URL_PLACEHOLDER]));
  });
});

describe('coverage', () => {
  const drawn = new Set(queries.flatMap((q) => metricNames(q.expr)));
  const isDrawn = (name: string) => drawn.has(name) || drawn.has(`${name}_bucket`);

  it('draws every exporter metric, or says why not', () => {
    const missing = METRIC_DEFINITIONS.map((d) => d.name).filter(
      (name) => !isDrawn(name) && !(name in NOT_DRAWN),
    );
    expect(missing).toEqual([]);
  });

  it('lists only real metrics that are really not drawn', () => {
    const names = new Set<string>(METRIC_DEFINITIONS.map((d) => d.name));
    const stale = Object.keys(NOT_DRAWN).filter((name) => !names.has(name) || isDrawn(name));
    expect(stale).toEqual([]);
  });
});

describe('runbook links', () => {
  const anchors = new Set(runbookSections().keys());
  const links = [
    ...(dashboard.links ?? []).map((l) => ['dashboard', l] as const),
    ...panels.flatMap((p) => (p.links ?? []).map((l) => [title(p), l] as const)),
  ];

  it('exist on the dashboard and on the alert panels', () => {
    expect(links.filter(([where]) => where === 'dashboard')).toHaveLength(1);
    expect(links.length).toBeGreaterThan(4);
  });

  it.each(links.map(([where, link]) => [where, link.url ?? ''] as const))(
    '%s: %s opens docs/runbook.md under the base URL variable, at a section that exists',
    (_where, url) => {
      const match = /^\$\{runbook_base_url\}\/docs\/runbook\.md(?:#(.+))?$/.exec(url);
      expect(match).not.toBeNull();
      const anchor = match?.[1];
      if (anchor !== undefined) expect(anchors).toContain(anchor);
    },
  );
});

describe('documentation', () => {
  const readme = readFileSync(join(ROOT, 'grafana/README.md'), 'utf8');
  const runbook = readFileSync(join(ROOT, 'docs/runbook.md'), 'utf8');
  const titles = new Set(panels.map(title));

  it('grafana/README.md says what every panel answers', () => {
    const missing = contentPanels.map(title).filter((t) => !readme.includes(t));
    expect(missing).toEqual([]);
  });

  it('the runbook refers only to panels and rows that exist', () => {
    const references = [...runbook.matchAll(/(?<![\w`])_([^_`]+)_(?![\w`])/g)].map((m) =>
      (m[1] ?? '').replace(/\s+/g, ' '),
    );
    expect(references.length).toBeGreaterThan(5);
    expect(references.filter((r) => !titles.has(r))).toEqual([]);
  });
});
