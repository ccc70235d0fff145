// @ts-check
/**
 * The id memory behind the entered counters (src/arrivals), sized for a profile: the exporter's own
 * ReportMemory and CampaignMemory from dist/, fed as many distinct ids as the profile's reports and walked
 * campaigns hold, through one learning pass. Their size depends only on how many distinct ids each report or
 * campaign holds (each id is one slot of a typed-array table whose capacity doubles), so this gives the ids
 * remembered and the bytes of the tables the exporter holds after its first collection, without reading
 * the pages again. When the exporter reports its own figure (`idMemory` in its `collection finished` line),
 * the benchmark shows that one and checks that both agree.
 */
import { CampaignMemory } from '../../dist/arrivals/campaign-memory.js';
import { ReportMemory } from '../../dist/arrivals/report-memory.js';

/**
 * @typedef {object} IdMemory
 * @property {number} ids ids remembered (v1 upgrade ids, plus campaign device ids)
 * @property {number} bytes bytes of the tables that hold them
 */

/**
 * @param {object} shape
 * @param {number[]} shape.reports distinct upgrade ids of each v1 report read (account × status)
 * @param {number[][]} shape.campaigns for each account × API read, the device entries of each walked campaign
 * @param {number} maxLabelValues the exporter's --collector.max-label-values
 * @returns {IdMemory & { reportIds: number, reportBytes: number, campaignIds: number, campaignBytes: number }}
 */
export function idMemoryFor(shape, maxLabelValues) {
  let reportIds = 0;
  let reportBytes = 0;
  for (const upgrades of shape.reports) {
    const memory = new ReportMemory(0);
    memory.beginPass(0);
    for (let i = 0; i < upgrades; i++) memory.see(`upgrade-${i}`, 0);
    memory.endPass(true, 0);
    reportIds += memory.size;
    reportBytes += memory.bytes;
  }
  let campaignIds = 0;
  let campaignBytes = 0;
  for (const walked of shape.campaigns) {
    const memory = new CampaignMemory(maxLabelValues);
    memory.listedCampaigns(
      walked.map((_, i) => `campaign-${i}`),
      true,
      0,
    );
    walked.forEach((devices, i) => {
      const walk = memory.walk(`campaign-${i}`, 0);
      for (let d = 0; d < devices; d++) walk.see(d, 'Accepted');
      walk.end(true);
    });
    memory.endPass(true, 0);
    campaignIds += memory.size.devices;
    campaignBytes += memory.size.bytes;
  }
  return {
    ids: reportIds + campaignIds,
    bytes: reportBytes + campaignBytes,
    reportIds,
    reportBytes,
    campaignIds,
    campaignBytes,
  };
}
