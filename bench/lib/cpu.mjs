// @ts-check
/**
 * Figure 5, CPU per device entry: the same pages, held in memory as the body texts the simulator served,
 * timed in this process two ways, alternately, several rounds:
 *   reference: JSON.parse of every page;
 *   exporter:  JSON.parse, then what the exporter does with each page, from dist/: validation, aggregation
 *              and the id memory of the entered counters, as a collection does it (one aggregator and one
 *              memory per report or campaign).
 * v1 report pages: parseReportPage, ReportAggregator.addPage, ReportMemory.see per upgrade
 * (src/upgrades/collect.ts). Campaign device pages: parseCampaignDevices, CampaignDeviceAggregator.addPage,
 * CampaignMemory's walk.see per device (src/campaigns/collect.ts).
 * The best round of each is kept (the least disturbed by the rest of the machine); the ratio says what the
 * exporter's per-device work costs on top of the JSON.parse that no client can avoid. The id memory's share
 * is measured apart too (the same rounds without it), since it is new per-device work.
 */
import { CampaignMemory } from '../../dist/arrivals/campaign-memory.js';
import { ReportMemory } from '../../dist/arrivals/report-memory.js';
import { CampaignDeviceAggregator } from '../../dist/campaigns/aggregate.js';
import { parseCampaignDevices } from '../../dist/campaigns/schema.js';
import { ReportAggregator } from '../../dist/upgrades/aggregate.js';
import { parseReportPage } from '../../dist/upgrades/schema.js';

/**
 * Times `parse` (JSON.parse alone), `full` (the exporter's work) and `withoutMemory` (the same without the
 * id memory) alternately, after one untimed pass each; best round each.
 * @param {{ text: string }[]} pages
 * @param {number} devices device entries in the pages
 * @param {number} rounds
 * @param {(memory: boolean) => number} exporter returns the device entries it counted
 */
function timeRounds(pages, devices, rounds, exporter) {
  let bytes = 0;
  for (const { text } of pages) bytes += Buffer.byteLength(text);
  let sink = 0;
  const parseOnly = () => {
    const t0 = process.hrtime.bigint();
    for (const { text } of pages) sink += JSON.parse(text) ? 1 : 0;
    return Number(process.hrtime.bigint() - t0);
  };
  const timed = (/** @type {boolean} */ memory) => {
    const t0 = process.hrtime.bigint();
    const counted = exporter(memory);
    const elapsed = Number(process.hrtime.bigint() - t0);
    if (counted !== devices) throw new Error(`aggregated ${counted} device entries of ${devices}`);
    return elapsed;
  };
  parseOnly();
  timed(true);
  timed(false);
  const parseNs = [];
  const exporterNs = [];
  const withoutMemoryNs = [];
  for (let round = 0; round < rounds; round++) {
    parseNs.push(parseOnly());
    exporterNs.push(timed(true));
    withoutMemoryNs.push(timed(false));
  }
  const best = (/** @type {number[]} */ xs) => Math.min(...xs);
  const parseBest = best(parseNs);
  const exporterBest = best(exporterNs);
  const withoutMemoryBest = best(withoutMemoryNs);
  return {
    pages: pages.length,
    bytes,
    devices,
    rounds,
    parseNsPerDevice: parseBest / devices,
    exporterNsPerDevice: exporterBest / devices,
    aggregationNsPerDevice: (exporterBest - parseBest) / devices,
    memoryNsPerDevice: Math.max(0, exporterBest - withoutMemoryBest) / devices,
    ratio: exporterBest / parseBest,
    parseRoundsMs: parseNs.map((ns) => ns / 1e6),
    exporterRoundsMs: exporterNs.map((ns) => ns / 1e6),
    withoutMemoryRoundsMs: withoutMemoryNs.map((ns) => ns / 1e6),
    sink,
  };
}

/**
 * v1 report pages.
 * @param {{ status: string, text: string }[]} pages
 * @param {{ rounds: number, maxLabelValues: number }} options
 */
export function measureCpuPerDevice(pages, options) {
  let devices = 0;
  for (const { text } of pages) {
    for (const upgrade of JSON.parse(text).reportList ?? [])
      devices += upgrade.deviceList?.length ?? 0;
  }
  return timeRounds(pages, devices, options.rounds, (withMemory) => {
    /** @type {Map<string, { aggregator: ReportAggregator, memory: ReportMemory }>} */
    const byStatus = new Map();
    for (const { status, text } of pages) {
      let report = byStatus.get(status);
      if (!report) {
        report = {
          aggregator: new ReportAggregator(options.maxLabelValues),
          memory: new ReportMemory(0),
        };
        report.memory.beginPass(0);
        byStatus.set(status, report);
      }
      const page = parseReportPage(JSON.parse(text));
      report.aggregator.addPage(page);
      if (withMemory)
        for (const upgrade of page.upgrades)
          report.memory.see(upgrade.id, upgrade.deviceList ? upgrade.deviceList.length : 0);
    }
    let counted = 0;
    for (const { aggregator } of byStatus.values()) counted += aggregator.result().deviceCount;
    return counted;
  });
}

/**
 * Campaign device pages.
 * @param {{ api: string, campaignId: string, text: string }[]} pages
 * @param {{ rounds: number, maxLabelValues: number }} options
 */
export function measureCampaignCpuPerDevice(pages, options) {
  let devices = 0;
  for (const { text } of pages) devices += JSON.parse(text).deviceList?.length ?? 0;
  return timeRounds(pages, devices, options.rounds, (withMemory) => {
    /** @type {Map<string, CampaignMemory>} */
    const memories = new Map();
    /** @type {Map<string, { aggregator: CampaignDeviceAggregator, walk: ReturnType<CampaignMemory['walk']> }>} */
    const walks = new Map();
    for (const { api, campaignId, text } of pages) {
      const key = `${api}/${campaignId}`;
      let campaign = walks.get(key);
      if (!campaign) {
        let memory = memories.get(api);
        if (!memory) memories.set(api, (memory = new CampaignMemory(options.maxLabelValues)));
        campaign = {
          aggregator: new CampaignDeviceAggregator(options.maxLabelValues),
          walk: memory.walk(campaignId, 0),
        };
        walks.set(key, campaign);
      }
      const page = parseCampaignDevices(JSON.parse(text));
      campaign.aggregator.addPage(page);
      if (withMemory)
        for (const device of page.devices) campaign.walk.see(device.deviceId, device.status);
    }
    let counted = 0;
    for (const { aggregator } of walks.values()) counted += aggregator.result().deviceCount;
    return counted;
  });
}
