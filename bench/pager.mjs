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
 * Both use the bearer and session tokens the benchmark obtained once (BENCH_BEARER, BENCH_SESSION) and
 * count pages, upgrades and device entries from the parsed pages (one addition per upgrade) as a check.
 *
 * Run: BENCH_URL=… BENCH_BEARER=… BENCH_SESSION=… node bench/pager.mjs floor|naive <concurrency> <accounts,…> [walks]
 * It walks every report `walks` times (default 1) in the same process and prints one JSON line about the
 * last walk: {mode, seconds, cpuSeconds, pages, upgrades, devices, longestChain, walks, peakRssBytes}.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Client, Pool } from 'undici';
import { UPGRADE_STATUSES } from '../dist/upgrades/statuses.js';

/** Same guard as the exporter's --collector.max-pages default: no walk loops for ever. */
const MAX_PAGES = 10_000;

/**
 * @typedef {object} WalkOptions
 * @property {string} url simulator origin
 * @property {readonly string[]} accounts
 * @property {number} concurrency
 * @property {{ bearer: string, session: string }} tokens
 */

/**
 * @typedef {object} WalkResult
 * @property {number} seconds wall time from the first request to the last page parsed
 * @property {number} pages
 * @property {number} upgrades
 * @property {number} devices
 * @property {number} longestChain pages of the longest report
 */

/** @param {string} account @param {string} status @param {string} index */
function reportPath(account, status, index) {
  return `/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/${encodeURIComponent(index)}`;
}

/** @param {WalkOptions['tokens']} tokens */
function authHeaders(tokens) {
  return { authorization: `Bearer ${tokens.bearer}`, 'vz-m2m-token': tokens.session };
}

/**
 * Reads one page: JSON.parse, counts, and the cursor of the next page (undefined after the last one).
 * @param {string} text
 * @param {{ pages: number, upgrades: number, devices: number }} totals
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
 * @param {(path: string) => Promise<string>} get
 * @param {string} path
 * @param {{ pages: number, upgrades: number, devices: number }} totals
 */
async function fetchPage(get, path, totals) {
  return readPage(await get(path), totals);
}

/**
 * Pages through one report with `get` (which returns a page's body text); counts into `totals`.
 * @param {(path: string) => Promise<string>} get
 * @param {string} account
 * @param {string} status
 * @param {{ pages: number, upgrades: number, devices: number }} totals
 */
async function walkReport(get, account, status, totals) {
  let index = '0';
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const next = await fetchPage(get, reportPath(account, status, index), totals);
    if (next === undefined) return pages;
    index = next;
  }
  throw new Error(`${account}/${status}: more than ${MAX_PAGES} pages`);
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
  const totals = { pages: 0, upgrades: 0, devices: 0 };
  try {
    const started = performance.now();
    const chains = await Promise.all(
      options.accounts.flatMap((account) =>
        UPGRADE_STATUSES.map((status) => walkReport(get, account, status, totals)),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    return { seconds, ...totals, longestChain: Math.max(...chains) };
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
  const totals = { pages: 0, upgrades: 0, devices: 0 };
  let longestChain = 0;
  const started = performance.now();
  for (const account of options.accounts) {
    for (const status of UPGRADE_STATUSES) {
      longestChain = Math.max(longestChain, await walkReport(get, account, status, totals));
    }
  }
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

function peakRss() {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : null;
}

async function main() {
  const [mode, concurrency, accounts, walks = '1'] = process.argv.slice(2);
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
      'usage: BENCH_URL=… BENCH_BEARER=… BENCH_SESSION=… node bench/pager.mjs floor|naive <concurrency> <accounts,…> [walks]\n',
    );
    return 2;
  }
  const options = {
    url,
    accounts: accounts.split(','),
    concurrency: Number(concurrency),
    tokens: { bearer, session },
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
