import { spawnSync } from 'node:child_process';
import { ReportAggregator, type ReportCounts } from '../../src/upgrades/aggregate.js';
import { EnteredCounters } from '../../src/arrivals/entered.js';
import {
  CampaignDeviceAggregator,
  countCampaigns,
  labelCampaignStatuses,
  listed,
  mergeWalks,
  selectWalks,
} from '../../src/campaigns/aggregate.js';
import type { CampaignApi } from '../../src/campaigns/statuses.js';
import type { CampaignApiState, ReportState, Snapshot } from '../../src/collection/snapshot.js';
import { METRIC_DEFINITIONS } from '../../src/metrics/definitions.js';
import {
  CONTENT_TYPE,
  escapeLabelValue,
  renderEntered,
  renderSnapshot,
} from '../../src/metrics/render.js';
import type { Upgrade } from '../../src/upgrades/schema.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../../src/upgrades/statuses.js';

// ---------------------------------------------------------------------------------------------------------
// A strict little parser of the text format (version 0.0.4): it throws on anything a scraper would refuse.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  help?: string;
  type?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value ${text}`);
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(.)/g, (_m, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\') return '\\';
    throw new Error(`bad escape \\${c} in HELP`);
  });
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq === -1) throw new Error(`label without "=": ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${name}: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted: ${line}`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unterminated label value: ${line}`);
      if (c === '\n') throw new Error(`raw newline in label value: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`bad escape \\${next} in label value: ${line}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`expected "," after label ${name}: ${line}`);
      i++;
    }
  }
  return labels;
}

function parseExposition(text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n'))
    throw new Error('exposition does not end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const finished = new Set<string>();
  let current: string | undefined;
  const family = (name: string) => {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${name}`);
    if (name !== current) {
      if (finished.has(name)) throw new Error(`family ${name} is not contiguous`);
      if (current !== undefined) finished.add(current);
      current = name;
    }
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: [] }));
    return f;
  };
  for (const line of text.split('\n').slice(0, -1)) {
    if (line === '') throw new Error('empty line');
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (help) {
      const f = family(help[1]!);
      if (f.help !== undefined || f.samples.length > 0)
        throw new Error(`late or repeated HELP: ${line}`);
      f.help = unescapeHelp(help[2]!);
    } else if (type) {
      const f = family(type[1]!);
      if (f.type !== undefined || f.samples.length > 0)
        throw new Error(`late or repeated TYPE: ${line}`);
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type[2]!))
        throw new Error(`bad type: ${line}`);
      f.type = type[2];
    } else if (line.startsWith('#')) {
      throw new Error(`unexpected comment: ${line}`);
    } else {
      const brace = line.indexOf('{');
      const space = line.lastIndexOf(' ');
      const name = brace === -1 ? line.slice(0, space) : line.slice(0, brace);
      let labels: Record<string, string> = {};
      if (brace !== -1) {
        if (line[space - 1] !== '}') throw new Error(`bad sample: ${line}`);
        labels = parseLabels(line.slice(brace + 1, space - 1), line);
      }
      const value = parseValue(line.slice(space + 1));
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (seen.has(key)) throw new Error(`duplicate series: ${line}`);
      seen.add(key);
      family(name).samples.push({ name, labels, value });
    }
  }
  return families;
}

function promtoolCheck(text: string): {
  available: boolean;
  status: number | null;
  output: string;
} {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error) return { available: false, status: null, output: String(result.error) };
  return { available: true, status: result.status, output: `${result.stdout}${result.stderr}` };
}

// ---------------------------------------------------------------------------------------------------------

function counts(upgrades: Upgrade[], max = 50): ReportCounts {
  const aggregator = new ReportAggregator(max);
  aggregator.addPage({ hasMore: false, cursor: undefined, upgrades });
  return aggregator.result();
}

function report(
  account: string,
  status: UpgradeStatus,
  extra: Partial<ReportState> = {},
): ReportState {
  return {
    account,
    status,
    success: true,
    lastSuccessSeconds: 1_700_000_000,
    counts: counts([]),
    pages: 1,
    ...extra,
  };
}

function snapshot(reports: ReportState[], campaigns: CampaignApiState[] = []): Snapshot {
  const accounts = [...new Set(reports.map((r) => r.account))];
  return {
    startedAtSeconds: 1_700_000_000,
    durationSeconds: 1.25,
    reports,
    campaigns,
    accountDurations: new Map(accounts.map((a, i) => [a, 0.5 + i])),
  };
}

/** One account × API of campaigns, aggregated by the real functions from listed campaigns and devices. */
function campaignState(account: string, api: CampaignApi): CampaignApiState {
  const now = Date.UTC(2026, 10, 1);
  const all = [
    listed(
      {
        id: 'c-1',
        name: 'Rollout "A"',
        startDate: '2026-10-01',
        endDate: '2026-12-01',
        firmwareFrom: '1.0',
        firmwareTo: '2.0',
      },
      'CampaignScheduled',
    ),
    listed({ id: 'c-2', startDate: '2026-09-01', endDate: '2026-09-02' }, 'CampaignEnded'),
    listed({ id: 'c-3', status: 'CampaignPaused' }, 'CampaignRequestPending'),
  ];
  const selection = selectWalks(all, now, 7 * 86_400_000, 100);
  const walk = new CampaignDeviceAggregator(50);
  walk.addPage({
    hasMore: false,
    cursor: undefined,
    totalDevice: 3,
    devices: [
      { deviceId: '1', status: 'UpgradeFailed', resultReason: 'RovaClientDownloadFailed' },
      {
        deviceId: '2',
        status: 'UpgradePending',
        resultReason: 'Upgrade pending, scheduled for 06 Oct 22 18:05 UTC',
      },
      { deviceId: 3, status: 'UpgradeSuccess' },
    ],
  });
  const counts = walk.result();
  return {
    account,
    api,
    listing: { success: true, lastSuccessSeconds: now / 1000 },
    devices: { success: false, error: 'timeout', lastSuccessSeconds: now / 1000 - 60 },
    listings: new Map(),
    walks: new Map(),
    pages: 4,
    counts: {
      campaigns: countCampaigns(labelCampaignStatuses(all, 50)),
      folded: selection.folded,
      devices: mergeWalks(
        selection.walk.map((campaign) => ({ campaign, counts })),
        50,
      ),
    },
  };
}

function allStatuses(
  account: string,
  make: (s: UpgradeStatus) => Partial<ReportState> = () => ({}),
) {
  return UPGRADE_STATUSES.map((status) => report(account, status, make(status)));
}

const find = (families: Map<string, Family>, name: string, labels: Record<string, string>) =>
  families
    .get(name)
    ?.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v)) ?? [];

const NASTY = [
  'quote " in the middle',
  'back\\slash',
  'ends with backslash\\',
  'new\nline',
  '\\n literally',
  '\\"',
  'unicode é ü 中文 😀',
  'tab\tand cr\r',
  '',
];

describe('renderSnapshot', () => {
  it('declares the text format version 0.0.4 in UTF-8', () => {
    expect(CONTENT_TYPE).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
  });

  it.each(NASTY)('escapes the label value %j so that it parses back unchanged', (value) => {
    const upgrade: Upgrade = {
      id: 'u1',
      firmwareTo: value === '' ? 'FW' : value,
      deviceList: [{ status: value || 'S', resultReason: value || 'R' }],
    };
    const text = renderSnapshot(
      snapshot([report('0001', 'Queued', { counts: counts([upgrade]) })]),
    );
    const families = parseExposition(text);
    const firmware = upgrade.firmwareTo!;
    expect(find(families, 'thingspace_fota_upgrades', { firmware_to: firmware })).toHaveLength(1);
    const devices = find(families, 'thingspace_fota_upgrade_devices', { firmware_to: firmware });
    expect(devices).toHaveLength(1);
    expect(devices[0]!.labels.device_status).toBe(value || 'S');
    expect(devices[0]!.labels.result_reason).toBe(value || 'R');
    expect(devices[0]!.value).toBe(1);
    const checked = promtoolCheck(text);
    if (checked.available) expect(checked).toEqual({ available: true, status: 0, output: '' });
  });

  it('escapeLabelValue escapes exactly backslash, quote and newline', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeLabelValue('\\n')).toBe('\\\\n');
    expect(escapeLabelValue('plain é 😀')).toBe('plain é 😀');
  });

  it('gives every status a thingspace_fota_upgrades series, firmware_to="" 0 when the report is empty', () => {
    const text = renderSnapshot(
      snapshot(
        allStatuses('0242078689-00001', (status) =>
          status === 'Finished'
            ? {
                counts: counts([
                  { id: 'a', firmwareTo: 'FW-2' },
                  { id: 'b', firmwareTo: 'FW-2' },
                ]),
              }
            : {},
        ),
      ),
    );
    const families = parseExposition(text);
    for (const status of UPGRADE_STATUSES) {
      const series = find(families, 'thingspace_fota_upgrades', {
        account: '0242078689-00001',
        status,
      });
      expect(series.length).toBeGreaterThan(0);
      if (status === 'Finished') {
        expect(series.map((s) => [s.labels.firmware_to, s.value])).toEqual([['FW-2', 2]]);
      } else {
        expect(series.map((s) => [s.labels.firmware_to, s.value])).toEqual([['', 0]]);
      }
    }
    expect(find(families, 'thingspace_fota_collection_success', {}).map((s) => s.value)).toEqual(
      UPGRADE_STATUSES.map(() => 1),
    );
  });

  it('renders the device counts, oldest start, pages and folded counts of a report', () => {
    const c = counts(
      [
        {
          id: 'a',
          firmwareTo: 'FW-1',
          startDate: '2018-04-02',
          deviceList: [
            { status: 'Device Accepted', resultReason: 'success' },
            { status: 'Device Accepted', resultReason: 'success' },
            { status: 'Device Accepted' },
          ],
        },
        { id: 'b', firmwareTo: 'FW-2', startDate: '2018-04-01T16:03:00.000Z' },
        { id: 'c', firmwareTo: 'FW-3' },
      ],
      2,
    );
    const families = parseExposition(
      renderSnapshot(snapshot([report('A', 'Queued', { counts: c, pages: 4 })])),
    );
    const base = { account: 'A', status: 'Queued' };
    expect(
      find(families, 'thingspace_fota_upgrade_devices', base).map((s) => [
        s.labels.firmware_to,
        s.labels.device_status,
        s.labels.result_reason,
        s.value,
      ]),
    ).toEqual([
      ['FW-1', 'Device Accepted', 'success', 2],
      ['FW-1', 'Device Accepted', 'none', 1],
    ]);
    expect(
      find(families, 'thingspace_fota_upgrade_oldest_start_timestamp_seconds', base)[0]!.value,
    ).toBe(Date.UTC(2018, 3, 1, 16, 3) / 1000);
    expect(find(families, 'thingspace_fota_collection_pages', base)[0]!.value).toBe(4);
    const folded = find(families, 'thingspace_fota_label_values_folded', base);
    expect(Object.fromEntries(folded.map((s) => [s.labels.label, s.value]))).toEqual({
      firmware_to: 1,
      device_status: 0,
      result_reason: 0,
    });
    expect(
      find(families, 'thingspace_fota_upgrades', { ...base, firmware_to: 'other' })[0]!.value,
    ).toBe(1);
  });

  it('a failed report without counts has success 0, its last success time, and no value series', () => {
    const families = parseExposition(
      renderSnapshot(
        snapshot([
          report('A', 'Queued', {
            success: false,
            error: 'auth',
            counts: undefined,
            pages: undefined,
          }),
          report('A', 'Finished'),
        ]),
      ),
    );
    const base = { account: 'A', status: 'Queued' };
    expect(find(families, 'thingspace_fota_collection_success', base).map((s) => s.value)).toEqual([
      0,
    ]);
    expect(
      find(families, 'thingspace_fota_collection_last_success_timestamp_seconds', base).map(
        (s) => s.value,
      ),
    ).toEqual([1_700_000_000]);
    for (const name of [
      'thingspace_fota_upgrades',
      'thingspace_fota_upgrade_devices',
      'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
      'thingspace_fota_collection_pages',
      'thingspace_fota_label_values_folded',
    ]) {
      expect(find(families, name, base)).toEqual([]);
    }
    // the healthy report beside it is unaffected
    expect(
      find(families, 'thingspace_fota_upgrades', { account: 'A', status: 'Finished' }),
    ).toHaveLength(1);
  });

  it('a report that never succeeded has no last-success series', () => {
    const families = parseExposition(
      renderSnapshot(
        snapshot([
          report('A', 'Queued', {
            success: false,
            error: 'http',
            lastSuccessSeconds: undefined,
            counts: undefined,
          }),
        ]),
      ),
    );
    expect(
      families.get('thingspace_fota_collection_last_success_timestamp_seconds'),
    ).toBeUndefined();
    expect(
      find(families, 'thingspace_fota_collection_success', { status: 'Queued' })[0]!.value,
    ).toBe(0);
  });

  it('a failed report still serving its last good counts shows them with success 0', () => {
    const c = counts([
      { id: 'a', firmwareTo: 'FW', deviceList: [{ status: 'S', resultReason: 'R' }] },
    ]);
    const families = parseExposition(
      renderSnapshot(
        snapshot([
          report('A', 'Queued', { success: false, error: 'timeout', counts: c, pages: 3 }),
        ]),
      ),
    );
    expect(find(families, 'thingspace_fota_collection_success', {})[0]!.value).toBe(0);
    expect(find(families, 'thingspace_fota_upgrades', { firmware_to: 'FW' })[0]!.value).toBe(1);
    expect(find(families, 'thingspace_fota_upgrade_devices', { firmware_to: 'FW' })[0]!.value).toBe(
      1,
    );
    expect(find(families, 'thingspace_fota_collection_pages', {})[0]!.value).toBe(3);
  });

  it('renders the per-account collection duration', () => {
    const families = parseExposition(
      renderSnapshot(snapshot([...allStatuses('A'), ...allStatuses('B')])),
    );
    const durations = families.get('thingspace_fota_collection_duration_seconds')!.samples;
    expect(durations.map((s) => [s.labels, s.value])).toEqual([
      [{ account: 'A' }, 0.5],
      [{ account: 'B' }, 1.5],
    ]);
  });

  describe('against METRIC_DEFINITIONS', () => {
    const c = counts([
      {
        id: 'a',
        firmwareTo: 'FW "1"',
        startDate: '2018-04-02',
        deviceList: [{ status: 'S\\x', resultReason: 'line\nbreak' }],
      },
    ]);
    const entered = new EnteredCounters(['0001', '0002'], ['v1', 'v2', 'v3']);
    const text =
      renderSnapshot(
        snapshot(
          [
            ...allStatuses('0001', () => ({ counts: c, pages: 2 })),
            ...allStatuses('0002', (s) =>
              s === 'Queued'
                ? { success: false, error: 'parse', counts: undefined, pages: undefined }
                : {},
            ),
          ],
          [campaignState('0001', 'v2'), campaignState('0001', 'v3')],
        ),
      ) + renderEntered(entered);
    let families: Map<string, Family>;
    beforeAll(() => {
      families = parseExposition(text);
    });

    it('parses as valid exposition', () => {
      expect(() => parseExposition(text)).not.toThrow();
    });

    it('renders every snapshot-sourced family, and nothing else', () => {
      const snapshotNames = METRIC_DEFINITIONS.filter((d) => d.source === 'snapshot').map(
        (d) => d.name,
      );
      expect([...families.keys()].sort()).toEqual([...snapshotNames].sort());
    });

    it.each(
      METRIC_DEFINITIONS.filter((d) => d.source === 'snapshot').map((d) => [d.name, d] as const),
    )('%s: HELP, TYPE and label names come from its definition', (name, def) => {
      const family = families.get(name)!;
      expect(family.help).toBe(def.help);
      expect(family.type).toBe(def.type);
      expect(family.samples.length).toBeGreaterThan(0);
      for (const s of family.samples)
        expect(Object.keys(s.labels).sort()).toEqual([...def.labels].sort());
    });

    it('passes promtool check metrics when promtool is installed', () => {
      const result = promtoolCheck(text);
      if (!result.available) return; // the strict parser above still checked the format
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    });
  });

  it('an empty snapshot renders as nothing', () => {
    expect(renderSnapshot(snapshot([]))).toBe('');
  });

  it('the strict parser refuses what a scraper would refuse', () => {
    expect(() => parseExposition('a{b="c} 1\n')).toThrow();
    expect(() => parseExposition('a{b="c\\x"} 1\n')).toThrow();
    expect(() => parseExposition('a 1\na 2\n')).toThrow(/duplicate/);
    expect(() => parseExposition('a 1\nb 1\na{x="y"} 1\n')).toThrow(/contiguous/);
    expect(() => parseExposition('a one\n')).toThrow();
    expect(() => parseExposition('# TYPE a gauge\n# HELP a x\na 1\n')).not.toThrow();
    expect(() => parseExposition('a 1\n# TYPE a gauge\n')).toThrow(/late/);
  });
});
