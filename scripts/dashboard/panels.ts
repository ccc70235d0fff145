/**
 * The panel kinds of the dashboard, on Grafana's typed builders (@grafana/grafana-foundation-sdk,
 * the build for Grafana 11.6): every panel gets the templated data source, a title, a description, a
 * unit and its queries from `Common`, and each kind its display options in one place. A panel is
 * returned with its size only; `layout` places them.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Every panel, row and query reads from the dashboard's `datasource` variable. */
export const DATASOURCE: dashboard.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

// ---- Queries ----------------------------------------------------------------------------------

export interface Query {
  expr: string;
  legend: string;
  /** Instant query (tables, stats and bar gauges show the latest value only). */
  instant?: boolean;
  /** Table format: one row per series, labels as columns. */
  table?: boolean;
}

export function q(
  expr: string,
  legend: string,
  options: Omit<Query, 'expr' | 'legend'> = {},
): Query {
  return { expr, legend, ...options };
}

/** The refId of the i-th query of a panel: A, B, C, ... */
export function refId(index: number): string {
  return String.fromCharCode(65 + index);
}

function target(query: Query, index: number): prometheus.DataqueryBuilder {
  const builder = new prometheus.DataqueryBuilder()
    .datasource(DATASOURCE)
    .refId(refId(index))
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(query.expr)
    .legendFormat(query.legend)
    .format(query.table ? prometheus.PromQueryFormat.Table : prometheus.PromQueryFormat.TimeSeries);
  return query.instant ? builder.instant() : builder.range();
}

// ---- Field configuration ----------------------------------------------------------------------

export type Step = [value: number, color: string];

/** Threshold steps: `base` below the first value, then each colour from its value up. */
export function steps(base: string, ...rest: Step[]): dashboard.Threshold[] {
  return [{ value: null, color: base }, ...rest.map(([value, color]) => ({ value, color }))];
}

/** Maps values to texts and colours, e.g. 0 → ok, 1 → BLOCKED. */
export function valueMap(
  entries: [value: number, text: string, color: string][],
): dashboard.ValueMapping[] {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  entries.forEach(([value, text, color], index) => {
    options[String(value)] = { text, color, index };
  });
  return [{ type: dashboard.MappingType.ValueToText, options }];
}

/** A link to a section of docs/runbook.md, under the dashboard's runbook base URL. */
export interface RunbookLink {
  title: string;
  /** The heading's anchor, e.g. `thingspacefotaupgradefailedspike`. */
  anchor: string;
}

export const RUNBOOK_BASE_VARIABLE = 'runbook_base_url';

export function runbookUrl(anchor = ''): string {
  return `\${${RUNBOOK_BASE_VARIABLE}}/docs/runbook.md${anchor ? `#${anchor}` : ''}`;
}

function runbookLink(link: RunbookLink): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder(link.title)
    .type(dashboard.DashboardLinkType.Link)
    .url(runbookUrl(link.anchor))
    .icon('doc')
    .tooltip('The runbook section (docs/runbook.md)')
    .targetBlank(true);
}

/**
 * A data link to the exporter's /arrivals page: the upgrades and devices behind a series. `query` is
 * the page's query string; Grafana fills in ${__field.labels.*} and the range's start (`since`).
 */
export interface ArrivalsLink {
  title: string;
  query: string;
}

/** The dashboard variable holding the exporter's --web.external-url (thingspace_fota_exporter_external_url_info). */
export const EXPORTER_URL_VARIABLE = 'exporter_url';

/**
 * The links' host while --web.external-url is unset: the alerts' placeholder (their arrivals_url, in
 * prometheus/rules/), a reserved name that never resolves, so the link says what to set rather than
 * pointing at Grafana's own host. A test holds the two equal.
 */
export const EXPORTER_URL_PLACEHOLDER = 'http://web-external-url-not-set.invalid';

export function arrivalsUrl(query: string): string {
  return `\${${EXPORTER_URL_VARIABLE}}/arrivals?${query}&since=\${__from:date:seconds}`;
}

function arrivalsLink(link: ArrivalsLink): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder(link.title)
    .type(dashboard.DashboardLinkType.Link)
    .url(arrivalsUrl(link.query))
    .targetBlank(true);
}

// ---- Panels -----------------------------------------------------------------------------------

/** What every panel kind has. */
export interface Common {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  w: number;
  h: number;
  thresholds?: dashboard.Threshold[];
  mappings?: dashboard.ValueMapping[];
  min?: number;
  max?: number;
  decimals?: number;
  links?: RunbookLink[];
  /** Links from each series (or table row) to the exporter's /arrivals page. */
  arrivals?: ArrivalsLink[];
}

/**
 * The methods the SDK's panel builders share (each kind has its own class): enough to fill in
 * `Common` and to place the panel.
 */
export interface PanelBuilder extends cog.Builder<dashboard.Panel> {
  id(id: number): unknown;
  gridPos(gridPos: dashboard.GridPos): unknown;
  title(title: string): unknown;
  description(description: string): unknown;
  datasource(datasource: dashboard.DataSourceRef): unknown;
  withTarget(target: cog.Builder<cog.Dataquery>): unknown;
  unit(unit: string): unknown;
  min(min: number): unknown;
  max(max: number): unknown;
  decimals(decimals: number): unknown;
  thresholds(thresholds: cog.Builder<dashboard.ThresholdsConfig>): unknown;
  mappings(mappings: dashboard.ValueMapping[]): unknown;
  colorScheme(color: cog.Builder<dashboard.FieldColor>): unknown;
  links(links: cog.Builder<dashboard.DashboardLink>[]): unknown;
  dataLinks(links: cog.Builder<dashboard.DashboardLink>[]): unknown;
}

/** A panel and its size, before layout. */
export interface Cell {
  title: string;
  w: number;
  h: number;
  builder: PanelBuilder;
}

function cell<B extends PanelBuilder>(
  builder: B,
  c: Common,
  color: dashboard.FieldColorModeId,
): Cell {
  builder.title(c.title);
  builder.description(c.description);
  builder.datasource(DATASOURCE);
  c.queries.forEach((query, i) => builder.withTarget(target(query, i)));
  builder.unit(c.unit);
  if (c.min !== undefined) builder.min(c.min);
  if (c.max !== undefined) builder.max(c.max);
  if (c.decimals !== undefined) builder.decimals(c.decimals);
  builder.colorScheme(new dashboard.FieldColorBuilder().mode(color));
  builder.thresholds(
    new dashboard.ThresholdsConfigBuilder()
      .mode(dashboard.ThresholdsMode.Absolute)
      .steps(c.thresholds ?? steps('green')),
  );
  builder.mappings(c.mappings ?? []);
  if (c.links?.length) builder.links(c.links.map(runbookLink));
  if (c.arrivals?.length) builder.dataLinks(c.arrivals.map(arrivalsLink));
  return { title: c.title, w: c.w, h: c.h, builder };
}

export interface TimeseriesOptions extends Common {
  /** Draw the thresholds as dashed lines (the alert thresholds). */
  thresholdLines?: boolean;
  /** refIds drawn as a dashed red line without fill: a threshold series, e.g. a spike threshold. */
  thresholdSeries?: string[];
}

export function timeseriesPanel(c: TimeseriesOptions): Cell {
  const builder = new timeseries.PanelBuilder()
    .drawStyle(common.GraphDrawStyle.Line)
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.None).group('A'))
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(
        c.thresholdLines
          ? common.GraphThresholdsStyleMode.Dashed
          : common.GraphThresholdsStyleMode.Off,
      ),
    )
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['lastNotNull', 'max']),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
  for (const ref of c.thresholdSeries ?? []) {
    builder.overrideByQuery(ref, [
      { id: 'color', value: { mode: dashboard.FieldColorModeId.Fixed, fixedColor: 'red' } },
      {
        id: 'custom.lineStyle',
        value: new common.LineStyleBuilder().fill('dash').dash([10, 10]).build(),
      },
      { id: 'custom.lineWidth', value: 2 },
      { id: 'custom.fillOpacity', value: 0 },
    ]);
  }
  return cell(builder, c, dashboard.FieldColorModeId.PaletteClassic);
}

function lastValue(): common.ReduceDataOptionsBuilder {
  return new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false);
}

export function statPanel(c: Common): Cell {
  const builder = new stat.PanelBuilder()
    .reduceOptions(lastValue())
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.None)
    .justifyMode(common.BigValueJustifyMode.Auto)
    .orientation(common.VizOrientation.Auto)
    .textMode(common.BigValueTextMode.Auto);
  return cell(builder, c, dashboard.FieldColorModeId.Thresholds);
}

export function barGaugePanel(c: Common): Cell {
  const builder = new bargauge.PanelBuilder()
    .reduceOptions(lastValue())
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .showUnfilled(true)
    .valueMode(common.BarGaugeValueMode.Color);
  return cell(builder, c, dashboard.FieldColorModeId.Thresholds);
}

export function stateTimelinePanel(c: Common): Cell {
  const builder = new statetimeline.PanelBuilder()
    .mergeValues(true)
    .showValue(common.VisibilityMode.Never)
    .alignValue(common.TimelineValueAlignment.Left)
    .rowHeight(0.9)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Single)
        .sort(common.SortOrder.None),
    );
  return cell(builder, c, dashboard.FieldColorModeId.Thresholds);
}

/** A column shown differently from the panel's defaults, e.g. a share as a gauge. */
export interface Column {
  unit?: string;
  min?: number;
  max?: number;
  gauge?: boolean;
}

export interface TableOptions extends Common {
  /** Column renames, e.g. `Value #A` → `Failed upgrades`; the columns appear in this order. */
  rename: Record<string, string>;
  hide: string[];
  sortBy: string;
  ascending?: boolean;
  /** Per column (by its name after renaming). */
  columns?: Record<string, Column>;
  /** Transformations before the merge of the queries and the renaming. */
  transform?: dashboard.DataTransformerConfig[];
}

export function tablePanel(c: TableOptions): Cell {
  const builder = new table.PanelBuilder()
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm)
    .footer(new common.TableFooterOptionsBuilder().show(false).reducer(['sum']).fields([]))
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(c.sortBy).desc(!c.ascending)]);
  const transformations: dashboard.DataTransformerConfig[] = [...(c.transform ?? [])];
  if (c.queries.length > 1) transformations.push({ id: 'merge', options: {} });
  transformations.push({
    id: 'organize',
    options: {
      excludeByName: Object.fromEntries(c.hide.map((name) => [name, true])),
      indexByName: Object.fromEntries(Object.keys(c.rename).map((name, i) => [name, i])),
      renameByName: c.rename,
    },
  });
  builder.transformations(transformations);
  for (const [name, column] of Object.entries(c.columns ?? {})) {
    const properties: dashboard.DynamicConfigValue[] = [];
    if (column.unit) properties.push({ id: 'unit', value: column.unit });
    if (column.min !== undefined) properties.push({ id: 'min', value: column.min });
    if (column.max !== undefined) properties.push({ id: 'max', value: column.max });
    if (column.gauge) {
      const gauge: common.TableBarGaugeCellOptions = {
        type: common.TableCellDisplayMode.Gauge,
        mode: common.BarGaugeDisplayMode.Basic,
        valueDisplayMode: common.BarGaugeValueMode.Text,
      };
      properties.push({ id: 'custom.cellOptions', value: gauge });
    }
    builder.overrideByName(name, properties);
  }
  return cell(builder, c, dashboard.FieldColorModeId.Thresholds);
}

// ---- Layout -----------------------------------------------------------------------------------

export interface Section {
  title: string;
  cells: Cell[];
}

const GRID_WIDTH = 24;

/**
 * Rows, each followed by its panels flowed left to right and wrapped at 24 columns; a line of panels
 * is as high as its highest panel, so nothing overlaps. Every panel gets its position and id here
 * (the SDK's own flow does not wrap a panel that would overflow the line).
 */
export function layout(builder: dashboard.DashboardBuilder, sections: Section[]): void {
  let id = 1;
  let y = 0;
  for (const section of sections) {
    builder.withRow(
      new dashboard.RowBuilder(section.title)
        .id(id++)
        .datasource(DATASOURCE)
        .collapsed(false)
        .gridPos({ h: 1, w: GRID_WIDTH, x: 0, y }),
    );
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const { title, w, h, builder: panel } of section.cells) {
      if (w > GRID_WIDTH) throw new Error(`panel "${title}" is wider than the grid`);
      if (x + w > GRID_WIDTH) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      panel.id(id++);
      panel.gridPos({ h, w, x, y });
      builder.withPanel(panel);
      x += w;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
}
