// @ts-check
/**
 * Comparing what the exporter serves with what the simulator says is true: a small parser of the
 * Prometheus text format, a stable key per series, and the simulator's truth as the same kind of series.
 * Shared by the benchmark (plain ESM, run without a build step) and the tests (test/support re-exports it);
 * the types are in series.d.mts.
 */

/** The series whose values come from the report data, and so must equal the simulator's truth. */
export const BUSINESS_METRICS = [
  'thingspace_fota_upgrades',
  'thingspace_fota_upgrade_devices',
  'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
];

/** @param {string} value */
function unescape(value) {
  return value.replace(/\\(["\\n])/g, (_m, /** @type {string} */ c) => (c === 'n' ? '\n' : c));
}

/**
 * @param {string} text
 * @returns {import('./series.d.mts').Sample[]}
 */
export function parseExposition(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${line}`);
    /** @type {Record<string, string>} */
    const labels = {};
    const body = match[2] ?? '';
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let m;
    let consumed = 0;
    while ((m = pair.exec(body)) !== null) {
      labels[String(m[1])] = unescape(String(m[2]));
      consumed = pair.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`unparseable labels: ${line}`);
    samples.push({ name: String(match[1]), labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * `name{a="x",b="y"}` with labels sorted: a stable key for comparing sets of series.
 * @param {string} name
 * @param {Record<string, string>} labels
 */
export function seriesKey(name, labels) {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

/**
 * @param {import('./series.d.mts').Sample[]} samples
 * @param {readonly string[]} names
 */
export function seriesMap(samples, names) {
  /** @type {Map<string, number>} */
  const map = new Map();
  for (const s of samples)
    if (names.includes(s.name)) map.set(seriesKey(s.name, s.labels), s.value);
  return map;
}

/**
 * The business series a correct exporter must serve for this truth, keyed like seriesMap().
 * @param {import('./series.d.mts').Truth} truth
 * @param {(account: string, status: string) => boolean} [only]
 */
export function truthSeries(truth, only) {
  /** @type {Map<string, number>} */
  const out = new Map();
  for (const [account, statuses] of Object.entries(truth.accounts)) {
    for (const [status, t] of Object.entries(statuses)) {
      if (only && !only(account, status)) continue;
      if (t.upgrades.length === 0)
        out.set(seriesKey('thingspace_fota_upgrades', { account, status, firmware_to: '' }), 0);
      for (const u of t.upgrades)
        out.set(
          seriesKey('thingspace_fota_upgrades', { account, status, firmware_to: u.firmware_to }),
          u.count,
        );
      for (const d of t.devices) {
        const { count, ...labels } = d;
        out.set(
          seriesKey('thingspace_fota_upgrade_devices', { account, status, ...labels }),
          count,
        );
      }
      if (t.oldestStartTimestampSeconds !== null) {
        out.set(
          seriesKey('thingspace_fota_upgrade_oldest_start_timestamp_seconds', { account, status }),
          t.oldestStartTimestampSeconds,
        );
      }
    }
  }
  return out;
}

/**
 * The differences between two series maps, at most `limit` of them, as readable lines; empty when equal.
 * @param {ReadonlyMap<string, number>} expected
 * @param {ReadonlyMap<string, number>} actual
 * @param {number} [limit]
 */
export function diffSeries(expected, actual, limit = 10) {
  /** @type {string[]} */
  const out = [];
  for (const [key, value] of expected) {
    if (out.length >= limit) return out;
    const got = actual.get(key);
    if (got === undefined) out.push(`missing ${key} ${value}`);
    else if (got !== value) out.push(`${key}: expected ${value}, got ${got}`);
  }
  for (const [key, value] of actual) {
    if (out.length >= limit) return out;
    if (!expected.has(key)) out.push(`unexpected ${key} ${value}`);
  }
  return out;
}
