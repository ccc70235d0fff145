// @ts-check
/**
 * The two reference clients of the benchmark, each run as its own process so that its time, CPU and peak
 * RSS are measured like the exporter's:
 *
 * - floor: the least a client can do to read every report. One undici Pool of keep-alive connections
 *   to the simulator, sized like the exporter's (`concurrency` + 2), the body read as text and
 *   JSON.parse'd, the cursor followed; nothing else (no validation, no aggregation, no retries, no
 *   metrics). Scheduling: every report (account × status) starts at once and asks for its next page as
 *   soon as it has read the previous one; a first-come-first-served semaphore keeps at most
 *   `concurrency` requests in flight, each holding its slot from sending the request until its body has
 *   arrived (not while it is parsed: the most favourable choice for the floor). That is the exporter's
 *   scheduling (one FIFO limit over all reports), so the ratio measures the cost of the exporter's code,
 *   not a difference in scheduling.
 * - naive: reports one after another, pages one after another, a new connection for every request
 *   (a fresh undici Client, `connection: close`), JSON.parse.
 *
 * The sources are those the exporter is given with --thingspace.apis: v1 reads the six upgrade reports of
 * each account; v2 and v3 read, per account, the campaign history of each of the nine campaign statuses (all
 * nine at once, each paged by lastSeenCampaignId), then the device lists of the campaigns worth walking (all
 * at once, each paged by lastSeenDeviceId), as the exporter does (SPEC §5). Which campaigns are worth walking
 * is decided by the exporter's own selectWalks (from dist/, with its defaults: 7 days of lookback, 100
 * campaigns), a pure function of the listed campaigns, so the floor walks exactly the exporter's set.
 *
 * Both use the bearer and session tokens the benchmark obtained once (BENCH_BEARER, BENCH_SESSION) and
 * count pages, upgrades, campaigns and device entries from the parsed pages as a check.
 *
 * Run: BENCH_URL=… BENCH_BEARER=… BENCH_SESSION=… node bench/pager.mjs floor|naive <concurrency> <accounts,…> [walks] [apis]
 * It walks every report and campaign `walks` times (default 1) in the same process and prints one JSON line
 * about the last walk: {mode, seconds, cpuSeconds, pages, upgrades, devices, campaigns, walked,
 * campaignDevices, longestChain, walks, peakRssBytes}. `apis` is a comma-separated subset of v1,v2,v3
 * (default v1).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Client, Pool } from 'undici';
import { selectWalks } from '../dist/campaigns/aggregate.js';
import { CAMPAIGN_STATUSES } from '../dist/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../dist/upgrades/statuses.js';

/** Same guard as the exporter's --collector.max-pages default: no walk loops for ever. */
const MAX_PAGES = 10_000;
/** The exporter's --collector.campaign-lookback and --collector.max-campaigns defaults. */
const CAMPAIGN_LOOKBACK_MS = 7 * 86_400_000;
const MAX_CAMPAIGNS = 100;

/**
 * @typedef {object} WalkOptions
 * @property {string} url simulator origin
 * @property {readonly string[]} accounts
 * @property {number} concurrency
 * @property {{ bearer: string, session: string }} tokens
 * @property {readonly string[]} [apis] v1, v2, v3 (default v1)
 */

/**
 * @typedef {object} Totals
 * @property {number} pages every page read, reports, campaign histories and device lists alike
 * @property {number} upgrades
 * @property {number} devices device entries of the v1 upgrades
 * @property {number} campaigns campaigns listed (deduplicated per account × API)
 * @property {number} walked campaigns whose devices were read
 * @property {number} campaignDevices device entries of the walked campaigns
 */

/**
 * @typedef {Totals & { seconds: number, longestChain: number }} WalkResult
 * `seconds`: wall time from the first request to the last page parsed; `longestChain`: pages of the longest
 * report, campaign history or device list
 */

function newTotals() {
  return { pages: 0, upgrades: 0, devices: 0, campaigns: 0, walked: 0, campaignDevices: 0 };
}

/** @param {string} account @param {string} status @param {string} index */
function reportPath(account, status, index) {
  return `/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/${encodeURIComponent(index)}`;
}

/** @param {WalkOptions['tokens']} tokens */
function authHeaders(tokens) {
  return { authorization: `Bearer ${tokens.bearer}`, 'vz-m2m-token': tokens.session };
}

/**
 * Reads one report page: JSON.parse, counts, and the cursor of the next page (undefined after the last one).
 * @param {string} text
 * @param {Totals} totals
 * @returns {string | undefined}
 */
function readPage(text, totals) {
  const page = JSON.parse(text);
  totals.pages++;
  const list = page.reportList ?? [];
  totals.upgrades += list.length;
  for (const upgrade of list) totals.devices += upgrade.deviceList?.length ?? 0;
  return page.hasMoreFlag ? String(page.lastSeenUpgradeId) : undefined;
}

/**
 * Fetches and reads one page in a frame of its own. An async function keeps the value of its last
 * `await` in its suspended frame until the next one resumes it, so a report that awaited its page text
 * directly would keep that text alive while it waits for the next page, and with hundreds of reports
 * queued behind the concurrency limit (50 accounts) hundreds of pages would stay in memory.
 * @template T
 * @param {(path: string) => Promise<string>} get
 * @param {string} path
 * @param {(text: string) => T} read
 * @returns {Promise<T>}
 */
async function fetchPage(get, path, read) {
  return read(await get(path));
}

/**
 * Pages through one report with `get` (which returns a page's body text); counts into `totals`.
 * @param {(path: string) => Promise<string>} get
 * @param {string} account
 * @param {string} status
 * @param {Totals} totals
 */
async function walkReport(get, account, status, totals) {
  let index = '0';
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const next = await fetchPage(get, reportPath(account, status, index), (text) =>
      readPage(text, totals),
    );
    if (next === undefined) return pages;
    index = next;
  }
  throw new Error(`${account}/${status}: more than ${MAX_PAGES} pages`);
}

/** @param {string} api @param {string} account */
function campaignBase(api, account) {
  return `/api/fota/${api}/reports/${encodeURIComponent(account)}`;
}

/** A cursor as ThingSpace sends it (string or integer), as text; undefined when absent. */
function cursorOf(/** @type {unknown} */ value) {
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/**
 * @typedef {{ id: string, status: string, startDate?: string, endDate?: string }} Listed
 */

/**
 * Pages through the history of one campaign status (v3: the SDK's path, which the exporter tries first and
 * the simulator answers); the campaigns go into `into`, with their status resolved as the exporter does.
 * @param {(path: string) => Promise<string>} get
 * @param {string} api
 * @param {string} account
 * @param {string} status
 * @param {Listed[]} into
 * @param {Totals} totals
 */
async function walkListing(get, api, account, status, into, totals) {
  const path = `${campaignBase(api, account)}/${api === 'v3' ? 'firmware/campaigns' : 'campaigns'}`;
  let cursor = '0';
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const query = `campaignStatus=${status}${cursor === '0' ? '' : `&lastSeenCampaignId=${encodeURIComponent(cursor)}`}`;
    const next = await fetchPage(get, `${path}?${query}`, (text) => {
      const page = JSON.parse(text);
      totals.pages++;
      for (const c of page.campaignList ?? []) {
        into.push({
          id: String(c.id),
          status: typeof c.status === 'string' && c.status !== '' ? c.status : status,
          startDate: c.startDate,
          endDate: c.endDate,
        });
      }
      return page.hasMoreData ? cursorOf(page.lastSeenCampaignId) : undefined;
    });
    if (next === undefined) return pages;
    cursor = next;
  }
  throw new Error(`${api} ${account}/${status}: more than ${MAX_PAGES} pages`);
}

/**
 * Pages through the device list of one campaign.
 * @param {(path: string) => Promise<string>} get
 * @param {string} api
 * @param {string} account
 * @param {string} campaignId
 * @param {Totals} totals
 */
async function walkDevices(get, api, account, campaignId, totals) {
  const path = `${campaignBase(api, account)}/campaigns/${encodeURIComponent(campaignId)}/devices`;
  let cursor = '0';
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const url = cursor === '0' ? path : `${path}?lastSeenDeviceId=${encodeURIComponent(cursor)}`;
    const next = await fetchPage(get, url, (text) => {
      const page = JSON.parse(text);
      totals.pages++;
      totals.campaignDevices += page.deviceList?.length ?? 0;
      return page.hasMoreData ? cursorOf(page.lastSeenDeviceId) : undefined;
    });
    if (next === undefined) return pages;
    cursor = next;
  }
  throw new Error(`${api} ${account}/${campaignId}: more than ${MAX_PAGES} pages`);
}

/**
 * One account's campaigns of one API: every status's history at once, then every campaign worth walking at
 * once (or, `sequential`, one after another); returns the longest chain of pages.
 * @param {(path: string) => Promise<string>} get
 * @param {string} api
 * @param {string} account
 * @param {Totals} totals
 * @param {boolean} sequential
 */
async function walkCampaigns(get, api, account, totals, sequential) {
  /** @type {Listed[][]} */
  const byStatus = CAMPAIGN_STATUSES.map(() => []);
  const listings = CAMPAIGN_STATUSES.map(
    (status, i) => () =>
      walkListing(get, api, account, status, /** @type {Listed[]} */ (byStatus[i]), totals),
  );
  const chains = await run(listings, sequential);
  // Deduplicated by id, first status first, as the exporter does.
  const seen = new Set();
  /** @type {Listed[]} */
  const campaigns = [];
  for (const c of byStatus.flat()) {
    if (seen.has(c.id)) continue;
    seen.add(c.id);
    campaigns.push(c);
  }
  totals.campaigns += campaigns.length;
  const { walk } = selectWalks(campaigns, Date.now(), CAMPAIGN_LOOKBACK_MS, MAX_CAMPAIGNS);
  totals.walked += walk.length;
  const walks = walk.map(
    (/** @type {Listed} */ c) => () => walkDevices(get, api, account, c.id, totals),
  );
  return Math.max(...chains, ...(await run(walks, sequential)));
}

/**
 * Runs the tasks all at once, or one after another; resolves to their results in order.
 * @template T
 * @param {(() => Promise<T>)[]} tasks
 * @param {boolean} sequential
 * @returns {Promise<T[]>}
 */
async function run(tasks, sequential) {
  if (!sequential) return Promise.all(tasks.map((task) => task()));
  const out = [];
  for (const task of tasks) out.push(await task());
  return out;
}

/**
 * Everything the exporter would read for these accounts and APIs; returns the longest chain of pages.
 * @param {(path: string) => Promise<string>} get
 * @param {WalkOptions} options
 * @param {Totals} totals
 * @param {boolean} sequential
 */
async function walkAll(get, options, totals, sequential) {
  const apis = options.apis ?? ['v1'];
  /** @type {(() => Promise<number>)[]} */
  const tasks = [];
  for (const account of options.accounts) {
    if (apis.includes('v1'))
      for (const status of UPGRADE_STATUSES)
        tasks.push(() => walkReport(get, account, status, totals));
    for (const api of ['v2', 'v3'])
      if (apis.includes(api))
        tasks.push(() => walkCampaigns(get, api, account, totals, sequential));
  }
  return Math.max(0, ...(await run(tasks, sequential)));
}

/**
 * @param {Pick<import('undici').Dispatcher, 'request'>} dispatcher
 * @param {Record<string, string>} headers
 * @returns {(path: string) => Promise<string>}
 */
function getter(dispatcher, headers) {
  return async (path) => {
    const res = await dispatcher.request({ method: 'GET', path, headers });
    const text = await res.body.text();
    if (res.statusCode !== 200)
      throw new Error(`GET ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    return text;
  };
}

/**
 * At most `size` holders at once; the others wait in arrival order.
 * @param {number} size
 */
function semaphore(size) {
  let free = size;
  /** @type {(() => void)[]} */
  const waiting = [];
  return {
    /** @returns {Promise<void> | void} */
    acquire() {
      if (free > 0) {
        free--;
        return;
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/**
 * @param {WalkOptions} options
 * @returns {Promise<WalkResult>}
 */
export async function walkFloor(options) {
  // Two spare connections, like the exporter's pool, so that a request never waits for a connection.
  const pool = new Pool(options.url, {
    connections: options.concurrency + 2,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const limit = semaphore(options.concurrency);
  const fetchText = getter(pool, authHeaders(options.tokens));
  /** @type {(path: string) => Promise<string>} */
  const get = async (path) => {
    await limit.acquire();
    try {
      return await fetchText(path);
    } finally {
      limit.release();
    }
  };
  const totals = newTotals();
  try {
    const started = performance.now();
    const longestChain = await walkAll(get, options, totals, false);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, ...totals, longestChain };
  } finally {
    await pool.destroy();
  }
}

/**
 * @param {WalkOptions} options
 * @returns {Promise<WalkResult>}
 */
export async function walkNaive(options) {
  const headers = { ...authHeaders(options.tokens), connection: 'close' };
  /** @type {(path: string) => Promise<string>} */
  const get = async (path) => {
    const client = new Client(options.url, { pipelining: 1 });
    try {
      return await getter(client, headers)(path);
    } finally {
      await client.destroy();
    }
  };
  const totals = newTotals();
  const started = performance.now();
  const longestChain = await walkAll(get, options, totals, true);
  const seconds = (performance.now() - started) / 1000;
  return { seconds, ...totals, longestChain };
}

/**
 * The first `perStatus` pages of every status of one account, as body texts (for the CPU figure).
 * @param {Omit<WalkOptions, 'accounts' | 'concurrency'>} options
 * @param {string} account
 * @param {number} perStatus
 * @returns {Promise<{ status: string, text: string }[]>}
 */
export async function fetchPageTexts(options, account, perStatus) {
  const pool = new Pool(options.url, { connections: 1 });
  const get = getter(pool, authHeaders(options.tokens));
  /** @type {{ status: string, text: string }[]} */
  const out = [];
  try {
    for (const status of UPGRADE_STATUSES) {
      let index = '0';
      for (let n = 0; n < perStatus; n++) {
        const text = await get(reportPath(account, status, index));
        out.push({ status, text });
        const page = JSON.parse(text);
        if (!page.hasMoreFlag) break;
        index = String(page.lastSeenUpgradeId);
      }
    }
    return out;
  } finally {
    await pool.destroy();
  }
}

/**
 * The first `perCampaign` device pages of every walked campaign (as the truth names them) of the given APIs,
 * as body texts (for the CPU figure of the campaign profile).
 * @param {Omit<WalkOptions, 'accounts' | 'concurrency'>} options
 * @param {{ campaigns?: Record<string, Record<string, { walked: readonly { campaign_id: string }[] }>> }} truth
 * @param {readonly string[]} apis
 * @param {number} perCampaign
 * @returns {Promise<{ api: string, campaignId: string, text: string }[]>}
 */
export async function fetchCampaignPageTexts(options, truth, apis, perCampaign) {
  const pool = new Pool(options.url, { connections: 1 });
  const get = getter(pool, authHeaders(options.tokens));
  /** @type {{ api: string, campaignId: string, text: string }[]} */
  const out = [];
  try {
    for (const [account, byApi] of Object.entries(truth.campaigns ?? {})) {
      for (const api of apis) {
        for (const { campaign_id: campaignId } of byApi[api]?.walked ?? []) {
          const path = `${campaignBase(api, account)}/campaigns/${encodeURIComponent(campaignId)}/devices`;
          let cursor = '0';
          for (let n = 0; n < perCampaign; n++) {
            const text = await get(
              cursor === '0' ? path : `${path}?lastSeenDeviceId=${encodeURIComponent(cursor)}`,
            );
            out.push({ api, campaignId, text });
            const page = JSON.parse(text);
            const next = page.hasMoreData ? cursorOf(page.lastSeenDeviceId) : undefined;
            if (next === undefined) break;
            cursor = next;
          }
        }
      }
    }
    return out;
  } finally {
    await pool.destroy();
  }
}

function peakRss() {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : null;
}

async function main() {
  const [mode, concurrency, accounts, walks = '1', apis = 'v1'] = process.argv.slice(2);
  const { BENCH_URL: url, BENCH_BEARER: bearer, BENCH_SESSION: session } = process.env;
  const count = Number(walks);
  if (
    (mode !== 'floor' && mode !== 'naive') ||
    !url ||
    !bearer ||
    !session ||
    !accounts ||
    !(count >= 1 && count <= 10)
  ) {
    process.stderr.write(
      'usage: BENCH_URL=… BENCH_BEARER=… BENCH_SESSION=… node bench/pager.mjs floor|naive <concurrency> <accounts,…> [walks] [v1,v2,v3]\n',
    );
    return 2;
  }
  const options = {
    url,
    accounts: accounts.split(','),
    concurrency: Number(concurrency),
    tokens: { bearer, session },
    apis: apis.split(','),
  };
  const runs = [];
  for (let n = 0; n < count; n++) {
    const cpu = process.cpuUsage();
    const result = mode === 'floor' ? await walkFloor(options) : await walkNaive(options);
    const used = process.cpuUsage(cpu);
    runs.push({ ...result, cpuSeconds: (used.user + used.system) / 1e6 });
  }
  const last = /** @type {WalkResult & { cpuSeconds: number }} */ (runs.at(-1));
  const walksOut = runs.map(({ seconds, cpuSeconds }) => ({ seconds, cpuSeconds }));
  process.stdout.write(
    `${JSON.stringify({ mode, ...last, walks: walksOut, peakRssBytes: peakRss() })}\n`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`pager: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
