// @ts-check
/**
 * Figure 5, CPU per device entry: the same report pages, held in memory as the body texts the simulator
 * served, timed in this process two ways, alternately, several rounds:
 *   reference: JSON.parse of every page;
 *   exporter:  JSON.parse, then the exporter's own parseReportPage (validation) and ReportAggregator.addPage
 *              (aggregation, one aggregator per status, as a collection does), from dist/.
 * The best round of each is kept (the least disturbed by the rest of the machine); the ratio says what the
 * exporter's per-device work costs on top of the JSON.parse that no client can avoid.
 */
import { ReportAggregator } from '../../dist/aggregate/report.js';
import { parseReportPage } from '../../dist/thingspace/schema.js';

/**
 * @param {{ status: string, text: string }[]} pages
 * @param {{ rounds: number, maxLabelValues: number }} options
 */
export function measureCpuPerDevice(pages, options) {
  let devices = 0;
  let bytes = 0;
  for (const { text } of pages) {
    bytes += Buffer.byteLength(text);
    for (const upgrade of JSON.parse(text).reportList ?? [])
      devices += upgrade.deviceList?.length ?? 0;
  }
  let sink = 0;
  const parseOnly = () => {
    const t0 = process.hrtime.bigint();
    for (const { text } of pages) sink += JSON.parse(text).hasMoreFlag ? 1 : 0;
    return Number(process.hrtime.bigint() - t0);
  };
  const exporter = () => {
    const t0 = process.hrtime.bigint();
    /** @type {Map<string, ReportAggregator>} */
    const byStatus = new Map();
    for (const { status, text } of pages) {
      let aggregator = byStatus.get(status);
      if (!aggregator)
        byStatus.set(status, (aggregator = new ReportAggregator(options.maxLabelValues)));
      aggregator.addPage(parseReportPage(JSON.parse(text)));
    }
    let counted = 0;
    for (const aggregator of byStatus.values()) counted += aggregator.result().deviceCount;
    const elapsed = Number(process.hrtime.bigint() - t0);
    if (counted !== devices) throw new Error(`aggregated ${counted} device entries of ${devices}`);
    return elapsed;
  };
  // One untimed pass each, so that both are optimised before the clock runs.
  parseOnly();
  exporter();
  const parseNs = [];
  const exporterNs = [];
  for (let round = 0; round < options.rounds; round++) {
    parseNs.push(parseOnly());
    exporterNs.push(exporter());
  }
  const best = (/** @type {number[]} */ xs) => Math.min(...xs);
  const parseBest = best(parseNs);
  const exporterBest = best(exporterNs);
  return {
    pages: pages.length,
    bytes,
    devices,
    rounds: options.rounds,
    parseNsPerDevice: parseBest / devices,
    exporterNsPerDevice: exporterBest / devices,
    aggregationNsPerDevice: (exporterBest - parseBest) / devices,
    ratio: exporterBest / parseBest,
    parseRoundsMs: parseNs.map((ns) => ns / 1e6),
    exporterRoundsMs: exporterNs.map((ns) => ns / 1e6),
    sink,
  };
}
