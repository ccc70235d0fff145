/**
 * Static checks of grafana/dashboards/thingspace-fota.json, the committed file as Grafana imports it:
 * the layout, the data source of every panel and query, units and descriptions, the variables, and
 * the queries themselves by the rules of Grafana's dashboard-linter (job/instance/account filters,
 * $__rate_interval, counters only through rate/increase) plus one of our own: a query reads only
 * series the exporter exposes (src/metrics/definitions.ts) or a recording rule records.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, knownSeries } from '../rules/model.js';
import {
  allPanels,
  annotationQueries,
  loadDashboard,
  panelQueries,
  variableQuery,
  type PanelJson,
} from './model.js';
import { labelValuesSelector, selectors, type Selector } from './promql.js';

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

  it('takes the accounts from thingspace_fota_upgrades', () => {
    const account = byName.get('account');
    expect(account).toBeDefined();
    if (!account) return;
    const { selector, label } = labelValuesSelector(variableQuery(account));
    expect(label).toBe('account');
    expect(selectors(selector).map((s) => s.name)).toEqual(['thingspace_fota_upgrades']);
  });

  it('query only known series', () => {
    for (const variable of list.filter((v) => v.type === 'query')) {
      const { selector } = labelValuesSelector(variableQuery(variable));
      for (const s of selectors(selector)) expect(known.has(s.name)).toBe(true);
    }
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

  it('draw the spike thresholds the alerts compare against', () => {
    const all = queries.map((q) => q.expr).join('\n');
    expect(all).toContain('thingspace_fota:upgrades:rise1h_spike_threshold');
    expect(all).toContain('thingspace_fota:upgrade_devices:rise1h_spike_threshold');
  });
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
