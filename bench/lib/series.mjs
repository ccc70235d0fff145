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

/** The campaign series whose values come from the data, and so must equal the simulator's truth. */
export const CAMPAIGN_METRICS = [
  'thingspace_fota_campaigns',
  'thingspace_fota_campaign_devices',
  'thingspace_fota_campaign_info',
  'thingspace_fota_campaign_device_status',
  'thingspace_fota_campaign_total_devices',
  'thingspace_fota_campaign_end_timestamp_seconds',
  'thingspace_fota_campaigns_folded',
];

/**
 * The campaign series a correct exporter must serve for this truth, keyed like seriesMap(). `only` narrows
 * it to some accounts and APIs (e.g. the ones not under a fault, or the APIs the exporter reads).
 * @param {Pick<import('./series.d.mts').Truth, 'campaigns'>} truth
 * @param {(account: string, api: string) => boolean} [only]
 */
export function campaignTruthSeries(truth, only) {
  /** @type {Map<string, number>} */
  const out = new Map();
  for (const [account, apis] of Object.entries(truth.campaigns ?? {})) {
    for (const [api, t] of Object.entries(apis)) {
      if (only && !only(account, api)) continue;
      const base = { account, api };
      for (const { campaign_status, count } of t.campaigns) {
        out.set(seriesKey('thingspace_fota_campaigns', { ...base, campaign_status }), count);
      }
      for (const { count, ...labels } of t.devices) {
        out.set(seriesKey('thingspace_fota_campaign_devices', { ...base, ...labels }), count);
      }
      for (const walked of t.walked) {
        const id = { ...base, campaign_id: walked.campaign_id };
        out.set(
          seriesKey('thingspace_fota_campaign_info', {
            ...id,
            campaign_name: walked.campaign_name,
            firmware_from: walked.firmware_from,
            firmware_to: walked.firmware_to,
            campaign_status: walked.campaign_status,
          }),
          1,
        );
        for (const { device_status, count } of walked.device_status) {
          out.set(
            seriesKey('thingspace_fota_campaign_device_status', { ...id, device_status }),
            count,
          );
        }
        out.set(seriesKey('thingspace_fota_campaign_total_devices', id), walked.total_devices);
        if (walked.end_timestamp_seconds !== null) {
          out.set(
            seriesKey('thingspace_fota_campaign_end_timestamp_seconds', id),
            walked.end_timestamp_seconds,
          );
        }
      }
      out.set(seriesKey('thingspace_fota_campaigns_folded', base), t.folded);
    }
  }
  return out;
}

export const ENTERED_METRICS = [
  'thingspace_fota_upgrades_entered_total',
  'thingspace_fota_upgrade_devices_entered_total',
  'thingspace_fota_campaign_devices_entered_total',
];

/**
 * The entered counters a correct exporter must show, for a truth asked with enteredSince = the generation
 * its learning pass read (and polled every generation since). `apis` are the sources the exporter reads
 * (default all three): v1 gives the upgrade counters, v2 and v3 the campaign one.
 * @param {import('./series.d.mts').Truth} truth
 * @param {readonly string[]} [apis]
 */
export function enteredTruthSeries(truth, apis = ['v1', 'v2', 'v3']) {
  if (truth.enteredSince === null || truth.enteredSince === undefined)
    throw new Error('ask the truth with enteredSince');
  /** @type {Map<string, number>} */
  const out = new Map();
  if (apis.includes('v1')) {
    for (const [account, statuses] of Object.entries(truth.accounts)) {
      for (const [status, t] of Object.entries(statuses)) {
        const labels = { account, status };
        out.set(
          seriesKey('thingspace_fota_upgrades_entered_total', labels),
          t.entered?.upgrades ?? 0,
        );
        out.set(
          seriesKey('thingspace_fota_upgrade_devices_entered_total', labels),
          t.entered?.devices ?? 0,
        );
      }
    }
  }
  for (const [account, byApi] of Object.entries(truth.campaigns ?? {})) {
    for (const [api, t] of Object.entries(byApi)) {
      if (!apis.includes(api)) continue;
      for (const { device_status, count } of t.enteredDevices ?? []) {
        out.set(
          seriesKey('thingspace_fota_campaign_devices_entered_total', {
            account,
            api,
            device_status,
          }),
          count,
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
