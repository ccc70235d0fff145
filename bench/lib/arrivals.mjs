// @ts-check
/**
 * Figure 8: the arrivals journal behind /api/v1/arrivals with its cap full (--arrivals.max-entries, 100,000
 * entries by default).
 *
 * - Bytes per kept entry: the exporter's own ArrivalJournal (dist/) filled past its cap with entries made
 *   by its own code from realistic upgrades (the simulator's firmware and failure reasons, templated ones
 *   included, 15-digit device ids, 25 devices an upgrade), in a child process run with --expose-gc: the
 *   heap and the array buffers (the columns live outside the heap) after a full collection, minus the
 *   same before, divided by the entries kept.
 * - Peak RSS with the cap full: a fresh exporter over the profile's simulator; after its learning pass,
 *   arrivals are made (v1: the failure-spike scenario with 120,000 new failed devices; campaigns: the
 *   simulator's clock moved a tick at a time, devices moving status) until the journal drops entries, then
 *   one more collection; the exporter's peak RSS against the 200 MiB target.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'undici';
import { peakRssBytes, startNode } from './proc.mjs';
import { simulatorArgs } from './profiles.mjs';
import { EXPORTER_ENV, startSimulator } from './simulator.mjs';

/** The exporter's --arrivals.max-entries default. */
export const MAX_ENTRIES = 100_000;
const MAX_STEPS = 12;

/**
 * Heap bytes per kept entry of a full journal, measured in a child process (it needs --expose-gc).
 * @param {string} root
 * @param {number} entries the cap
 * @returns {{ bytesPerEntry: number, kept: number, heapBytes: number, offHeapBytes: number }}
 */
export function journalBytesPerEntry(root, entries = MAX_ENTRIES) {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', `${root}bench/lib/arrivals-heap.mjs`, String(entries)],
    { encoding: 'utf8' },
  );
  return JSON.parse(out);
}

/**
 * @param {string} url
 * @param {{ method?: 'GET' | 'POST', body?: unknown }} [init]
 */
async function call(url, init = {}) {
  const res = await request(url, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${url}: HTTP ${res.statusCode} ${text}`);
  return text;
}

/** @param {string} exposition @param {string} name */
function sampleSum(exposition, name) {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * @param {string} root
 * @param {import('./profiles.mjs').Profile} profile
 * @param {{ latencyMs: number, concurrency: number }} options
 * @param {(text: string) => void} progress
 * @param {{ steps?: number }} [reference] the reference run: --arrivals.enabled=false, the same
 *   number of steps as the measured run took (the same data, the same collections, no journal)
 */
export async function arrivalsAtCap(root, profile, options, progress, reference) {
  const sim = await startSimulator(root, simulatorArgs(profile, options.latencyMs));
  const exporter = /** @type {ReturnType<typeof startNode> | undefined} */ (undefined);
  let child = exporter;
  try {
    const accounts = Object.keys((await sim.summary()).accounts);
    child = startNode(
      'exporter',
      `${root}dist/cli.js`,
      [
        '--web.listen-address=127.0.0.1:0',
        `--thingspace.base-url=${sim.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        `--thingspace.apis=${profile.apis.join(',')}`,
        '--collector.interval=1s',
        `--collector.concurrency=${options.concurrency}`,
        `--arrivals.max-entries=${MAX_ENTRIES}`,
        ...(reference ? ['--arrivals.enabled=false'] : []),
      ],
      { env: EXPORTER_ENV },
    );
    const running = child;
    const listening = await running.waitForLine((l) => l.msg === 'listening', 60_000);
    const metricsUrl = String(listening.url);
    const finished = (/** @type {import('./proc.mjs').LogLine} */ l) =>
      l.msg === 'collection finished';
    let seen = running.lines.indexOf(await running.waitForLine(finished, 900_000)) + 1;
    /** A collection that started after this call. */
    const fresh = async () => {
      const since = Date.now();
      for (;;) {
        const line = await running.waitForLine(finished, 900_000, seen);
        seen = running.lines.indexOf(line) + 1;
        // The log line's time is ISO 8601 (pino's isoTime), when the collection ended.
        if (Date.parse(String(line.time)) - Number(line.durationSeconds) * 1000 >= since - 1)
          return line;
      }
    };
    let kept = 0;
    let dropped = 0;
    let steps = 0;
    while (reference ? steps < (reference.steps ?? 1) : dropped === 0 && steps < MAX_STEPS) {
      steps++;
      if (profile.apis.includes('v1')) {
        await call(`${sim.url}/_sim/scenario/failure-spike`, {
          method: 'POST',
          body: { upgrades: 400, devicesPerUpgrade: 300 },
        });
      } else {
        await call(`${sim.url}/_sim/advance?ticks=1`, { method: 'POST' });
      }
      await fresh();
      const text = await call(metricsUrl);
      kept = sampleSum(text, 'thingspace_fota_arrivals_kept');
      dropped = sampleSum(text, 'thingspace_fota_arrivals_dropped_total');
      progress(`${profile.name}: arrivals journal ${kept} kept, ${dropped} dropped`);
    }
    await fresh(); // one more collection with the journal full
    return { kept, dropped, steps, peakRssBytes: peakRssBytes(running.pid) };
  } finally {
    await child?.stop();
    await sim.stop();
  }
}
