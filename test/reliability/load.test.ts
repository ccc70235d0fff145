/**
 * Load: many concurrent clients scrape /metrics (and a few the landing page) without pause for LOAD_SECONDS
 * (default 15) while collections run every second against a simulator whose data moves every 300 ms, so
 * that each collection's snapshot differs from the last. Every answer must be a 200, and every scrape one
 * consistent snapshot:
 * - all its reports come from one collection: each report's last-success timestamp lies inside the same
 *   collection's span, taken from that collection's `collection finished` log line;
 * - its totals (upgrades, devices, campaigns, campaign devices) are that log line's;
 * - per account+status, its upgrades, devices and pages add up to what the landing page showed for that
 *   same collection, and per account+API its campaigns and walked campaigns too; the log's pages are the
 *   report pages of the scrape plus the campaign pages of that landing page.
 * The simulator serves v2 and v3 campaigns as well, which move with time like the upgrades.
 */
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import { parseExposition, type Sample } from '../support/exposition.js';
import {
  collectionLines,
  median,
  percentile,
  reportFigures,
  total,
  type CollectionLine,
} from '../support/faults.js';
import { killAll, startExporterProcess } from '../support/process.js';
import { SIMULATOR_ENV, startSimulatorProcess } from '../support/simulator.js';
import { CAMPAIGN_APIS } from '../../src/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 15);
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 64);

jest.setTimeout((LOAD_SECONDS + 60) * 1000);
afterAll(() => killAll());

interface LandingRow {
  upgrades: number;
  devices: number;
  pages: number;
}
interface CampaignRow {
  campaigns: number;
  walked: number;
  pages: number;
}
interface Landing {
  startedMs: number;
  durationSeconds: number;
  rows: Map<string, LandingRow>;
  campaignRows: Map<string, CampaignRow>;
}

function parseLanding(html: string): Landing | undefined {
  const head = /Last collection started (\S+) and took ([\d.]+) s\./.exec(html);
  if (!head) return undefined;
  const rows = new Map<string, LandingRow>();
  const row =
    /<tr><td>([^<]+)<\/td><td>(\w+)<\/td><td>ok<\/td><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><\/tr>/g;
  for (const m of html.matchAll(row)) {
    rows.set(`${m[1]}/${m[2]}`, { upgrades: +m[3]!, devices: +m[4]!, pages: +m[5]! });
  }
  const campaignRows = new Map<string, CampaignRow>();
  const campaignRow =
    /<tr><td>([^<]+)<\/td><td>(v[23])<\/td><td>ok<\/td><td>ok<\/td><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><\/tr>/g;
  for (const m of html.matchAll(campaignRow)) {
    campaignRows.set(`${m[1]}/${m[2]}`, { campaigns: +m[3]!, walked: +m[4]!, pages: +m[5]! });
  }
  return { startedMs: Date.parse(head[1]!), durationSeconds: Number(head[2]), rows, campaignRows };
}

/** The collection whose span holds every last-success timestamp of the scrape, if there is one. */
function collectionOf(samples: Sample[], lines: CollectionLine[]): CollectionLine | undefined {
  const stamps = samples
    .filter((s) => s.name === 'thingspace_fota_collection_last_success_timestamp_seconds')
    .map((s) => s.value * 1000);
  const lo = Math.min(...stamps);
  const hi = Math.max(...stamps);
  // the log gives the end (ms) and the duration (rounded to ms): allow 3 ms either side
  return lines.find((l) => lo >= l.time - l.durationSeconds * 1000 - 3 && hi <= l.time + 3);
}

test(`load: ${CLIENTS} clients scraping for ${LOAD_SECONDS} s during collections`, async () => {
  const sim = await startSimulatorProcess([
    '--tick',
    '300ms',
    '--arrivals-per-tick',
    '3',
    '--seed',
    '31',
    '--accounts',
    '3',
    '--upgrades-per-status',
    '40',
    '--page-size',
    '10',
    '--latency-ms',
    '20',
  ]);
  const accounts = Object.keys((await sim.truth()).accounts);
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1s',
    ],
    SIMULATOR_ENV,
  );
  await exporter.waitForLine((l) => l.msg === 'collection finished');

  const dispatcher = new Agent({ connections: CLIENTS + 4, pipelining: 1 });
  const texts = new Map<string, string>();
  const scrapes: { hash: string; sentAt: number; ms: number }[] = [];
  const landings: string[] = [];
  const errors: string[] = [];
  let bytes = 0;
  const deadline = Date.now() + LOAD_SECONDS * 1000;

  async function client(path: string): Promise<void> {
    while (Date.now() < deadline) {
      const sentAt = Date.now();
      const t0 = performance.now();
      try {
        const res = await request(exporter.url + path, { dispatcher });
        const text = await res.body.text();
        const ms = performance.now() - t0;
        if (res.statusCode !== 200) {
          errors.push(`${path}: HTTP ${res.statusCode}`);
          continue;
        }
        if (path === '/') {
          landings.push(text);
          continue;
        }
        bytes += text.length;
        const hash = createHash('sha1').update(text).digest('hex');
        if (!texts.has(hash)) texts.set(hash, text);
        scrapes.push({ hash, sentAt, ms });
      } catch (error) {
        errors.push(`${path}: ${String(error)}`);
      }
    }
  }
  const started = Date.now();
  await Promise.all([
    ...Array.from({ length: CLIENTS }, () => client('/metrics')),
    ...Array.from({ length: 4 }, () => client('/')),
  ]);
  const elapsed = (Date.now() - started) / 1000;
  await dispatcher.close();

  // let the last collection that a scrape may have seen be logged
  await new Promise((resolve) => setTimeout(resolve, 200));
  const lines = collectionLines(exporter);
  const landingBy = new Map<string, Landing>();
  for (const html of landings) {
    const landing = parseLanding(html);
    if (landing) landingBy.set(`${landing.startedMs}/${landing.durationSeconds}`, landing);
  }

  const problems: string[] = [];
  const collectionsServed = new Set<CollectionLine>();
  let crossChecked = 0;
  for (const [hash, text] of texts) {
    const samples = parseExposition(text);
    const line = collectionOf(samples, lines);
    if (!line) {
      problems.push(`${hash}: last-success timestamps span more than one collection`);
      continue;
    }
    collectionsServed.add(line);
    const sums = {
      upgrades: total(samples, 'thingspace_fota_upgrades'),
      devices: total(samples, 'thingspace_fota_upgrade_devices'),
      campaigns: total(samples, 'thingspace_fota_campaigns'),
      campaignDevices: total(samples, 'thingspace_fota_campaign_devices'),
    };
    const logged = {
      upgrades: line.upgrades,
      devices: line.devices,
      campaigns: line.campaigns,
      campaignDevices: line.campaignDevices,
    };
    if (JSON.stringify(sums) !== JSON.stringify(logged)) {
      problems.push(
        `${hash}: totals ${JSON.stringify(sums)} but the log says ${JSON.stringify(logged)}`,
      );
    }
    const startMs = line.time - line.durationSeconds * 1000;
    const landing = [...landingBy.values()].find(
      (l) => l.durationSeconds === line.durationSeconds && Math.abs(l.startedMs - startMs) < 100,
    );
    if (!landing) continue;
    crossChecked++;
    let campaignPages = 0;
    for (const account of accounts) {
      for (const api of CAMPAIGN_APIS) {
        const labels = { account, api };
        const got = {
          campaigns: total(samples, 'thingspace_fota_campaigns', labels),
          walked: samples.filter(
            (s) =>
              s.name === 'thingspace_fota_campaign_info' &&
              s.labels.account === account &&
              s.labels.api === api,
          ).length,
        };
        const shown = landing.campaignRows.get(`${account}/${api}`);
        campaignPages += shown?.pages ?? NaN;
        if (
          JSON.stringify(got) !==
          JSON.stringify({ campaigns: shown?.campaigns, walked: shown?.walked })
        ) {
          problems.push(
            `${hash} ${account}/${api}: ${JSON.stringify(got)}, landing page ${JSON.stringify(shown)}`,
          );
        }
      }
    }
    const pages = total(samples, 'thingspace_fota_collection_pages') + campaignPages;
    if (pages !== line.pages) {
      problems.push(`${hash}: ${pages} pages (reports and campaigns), the log says ${line.pages}`);
    }
    for (const account of accounts) {
      for (const status of UPGRADE_STATUSES) {
        const labels = { account, status };
        const got = {
          upgrades: total(samples, 'thingspace_fota_upgrades', labels),
          devices: total(samples, 'thingspace_fota_upgrade_devices', labels),
          pages: total(samples, 'thingspace_fota_collection_pages', labels),
        };
        const shown = landing.rows.get(`${account}/${status}`);
        if (JSON.stringify(got) !== JSON.stringify(shown)) {
          problems.push(
            `${hash} ${account}/${status}: ${JSON.stringify(got)}, landing page ${JSON.stringify(shown)}`,
          );
        }
      }
    }
  }

  const during = scrapes.filter((s) =>
    lines.some((l) => s.sentAt >= l.time - l.durationSeconds * 1000 && s.sentAt <= l.time),
  ).length;
  const latencies = scrapes.map((s) => s.ms);
  const figures = {
    seconds: Number(elapsed.toFixed(1)),
    clients: CLIENTS,
    scrapes: scrapes.length,
    scrapesPerSecond: Math.round(scrapes.length / elapsed),
    scrapesDuringACollection: during,
    landingPages: landings.length,
    errors: errors.length,
    exposition: Math.round(bytes / Math.max(1, scrapes.length)),
    msP50: Number(median(latencies).toFixed(1)),
    msP99: Number(percentile(latencies, 99).toFixed(1)),
    msMax: Number(Math.max(...latencies).toFixed(1)),
    distinctExpositions: texts.size,
    collectionsServed: collectionsServed.size,
    collectionsRun: lines.length,
    crossCheckedWithLandingPage: crossChecked,
    inconsistentScrapes: problems.length,
  };
  reportFigures('load', figures);

  expect(errors.slice(0, 5)).toEqual([]);
  expect(problems.slice(0, 5)).toEqual([]);
  expect(scrapes.length).toBeGreaterThan(LOAD_SECONDS * 50);
  expect(during).toBeGreaterThan(0);
  // the data really moved: many different snapshots were served, and checked against the landing page
  expect(collectionsServed.size).toBeGreaterThanOrEqual(Math.min(5, LOAD_SECONDS / 3));
  expect(new Set(lines.map((l) => l.devices)).size).toBeGreaterThan(1);
  expect(crossChecked).toBeGreaterThan(0);
  expect(lines.every((l) => l.failed === 0)).toBe(true);
});
