import {
  boundLength,
  MAX_LABEL_LENGTH,
  NO_REASON,
  OTHER,
  UNKNOWN as UNKNOWN_FIRMWARE,
} from '../../src/labels/bound.js';
import { TopValues } from '../../src/labels/top.js';
import {
  emptyCounts,
  parseStartDate,
  ReportAggregator,
  type ReportCounts,
} from '../../src/upgrades/aggregate.js';
import type { Device, ReportPage, Upgrade } from '../../src/upgrades/schema.js';

function page(upgrades: Upgrade[], hasMore = false, cursor?: string): ReportPage {
  return { hasMore, cursor, upgrades };
}

function aggregate(pages: ReportPage[], maxLabelValues = 50): ReportCounts {
  const aggregator = new ReportAggregator(maxLabelValues);
  for (const p of pages) aggregator.addPage(p);
  return aggregator.result();
}

/** Flattens the nested device counts into `firmware|status|reason → count`. */
function flatDevices(counts: ReportCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [firmware, byStatus] of counts.devices)
    for (const [status, byReason] of byStatus)
      for (const [reason, n] of byReason) out[`${firmware}|${status}|${reason}`] = n;
  return out;
}

const device = (status: string, resultReason?: string | null): Device => ({
  deviceId: '9000',
  status,
  resultReason,
});

describe('ReportAggregator counts', () => {
  it('counts upgrades by firmware_to and devices by firmware_to/device_status/result_reason', () => {
    const counts = aggregate([
      page(
        [
          {
            id: 'u1',
            firmwareTo: 'FW-02',
            startDate: '2018-04-02',
            deviceList: [
              device('Device Accepted', 'success'),
              device('Device Accepted', 'success'),
            ],
          },
          {
            id: 'u2',
            firmwareTo: 'FW-02',
            startDate: '2018-04-03',
            deviceList: [device('UpgradeFailed', 'Device not found')],
          },
        ],
        true,
        'u2',
      ),
      page([
        {
          id: 'u3',
          firmwareTo: 'FW-03',
          deviceList: [
            device('UpgradeSuccess', 'success'),
            device('UpgradeFailed', 'Invalid device IMEI'),
          ],
        },
        { id: 'u4', firmwareTo: 'FW-03', deviceList: [] },
      ]),
    ]);
    expect(Object.fromEntries(counts.upgrades)).toEqual({ 'FW-02': 2, 'FW-03': 2 });
    expect(flatDevices(counts)).toEqual({
      'FW-02|Device Accepted|success': 2,
      'FW-02|UpgradeFailed|Device not found': 1,
      'FW-03|UpgradeSuccess|success': 1,
      'FW-03|UpgradeFailed|Invalid device IMEI': 1,
    });
    expect(counts.upgradeCount).toBe(4);
    expect(counts.deviceCount).toBe(5);
    expect(counts.folded).toEqual({ firmware_to: 0, device_status: 0, result_reason: 0 });
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['empty', ''],
  ])('a %s result reason is counted as "none"', (_what, reason) => {
    const d: Device =
      reason === undefined
        ? { deviceId: '1', status: 'Request Pending' }
        : device('Request Pending', reason);
    const counts = aggregate([page([{ id: 'u1', firmwareTo: 'FW', deviceList: [d] }])]);
    expect(NO_REASON).toBe('none');
    expect(flatDevices(counts)).toEqual({ 'FW|Request Pending|none': 1 });
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['empty', ''],
  ])('a %s firmwareTo is counted as "unknown"', (_what, firmwareTo) => {
    const upgrade: Upgrade =
      firmwareTo === undefined
        ? { id: 'u1', deviceList: [device('Device Accepted', 'success')] }
        : { id: 'u1', firmwareTo, deviceList: [device('Device Accepted', 'success')] };
    const counts = aggregate([page([upgrade])]);
    expect(UNKNOWN_FIRMWARE).toBe('unknown');
    expect(Object.fromEntries(counts.upgrades)).toEqual({ unknown: 1 });
    expect(flatDevices(counts)).toEqual({ 'unknown|Device Accepted|success': 1 });
  });

  it('an upgrade without a device list counts as an upgrade with no devices', () => {
    const counts = aggregate([
      page([
        { id: 'u1', firmwareTo: 'FW' },
        { id: 'u2', deviceList: null },
      ]),
    ]);
    expect(counts.upgradeCount).toBe(2);
    expect(counts.deviceCount).toBe(0);
    expect(counts.devices.size).toBe(0);
  });

  it('counts an upgrade id seen twice in one pass (overlapping pages) once', () => {
    const u1: Upgrade = {
      id: 'u1',
      firmwareTo: 'FW',
      deviceList: [device('A', 'r'), device('A', 'r')],
    };
    const counts = aggregate([
      page([u1, { id: 'u2', firmwareTo: 'FW', deviceList: [device('A', 'r')] }], true, 'u2'),
      page([{ ...u1 }, { id: 'u3', firmwareTo: 'FW', deviceList: [device('B', 'r')] }]),
    ]);
    expect(counts.upgradeCount).toBe(3);
    expect(Object.fromEntries(counts.upgrades)).toEqual({ FW: 3 });
    expect(counts.deviceCount).toBe(4);
    expect(flatDevices(counts)).toEqual({ 'FW|A|r': 3, 'FW|B|r': 1 });
  });

  it('a fresh aggregator does not remember ids from another pass', () => {
    const upgrades: Upgrade[] = [{ id: 'u1', firmwareTo: 'FW', deviceList: [device('A', 'r')] }];
    expect(aggregate([page(upgrades)]).upgradeCount).toBe(1);
    expect(aggregate([page(upgrades)]).upgradeCount).toBe(1);
  });

  it('emptyCounts has nothing in it', () => {
    const counts = emptyCounts();
    expect(counts.upgrades.size).toBe(0);
    expect(counts.devices.size).toBe(0);
    expect(counts.upgradeCount).toBe(0);
    expect(counts.deviceCount).toBe(0);
    expect(counts.oldestStartSeconds).toBeUndefined();
  });
});

describe('oldest start date', () => {
  it('reads a bare date as UTC midnight', () => {
    expect(parseStartDate('2018-04-02')).toBe(Date.UTC(2018, 3, 2) / 1000);
  });

  it('reads a date-time with Z, an offset, or no zone (UTC)', () => {
    const expected = Date.UTC(2018, 3, 1, 16, 3) / 1000;
    expect(parseStartDate('2018-04-01T16:03:00.000Z')).toBe(expected);
    expect(parseStartDate('2018-04-01T16:03:00Z')).toBe(expected);
    expect(parseStartDate('2018-04-01T16:03:00')).toBe(expected);
    expect(parseStartDate('2018-04-01T18:03:00+02:00')).toBe(expected);
  });

  it.each([
    undefined,
    null,
    '',
    'yesterday',
    '04/02/2018',
    '2018-13-01',
    '2018-04-02 16:03',
    '20180402',
  ])('ignores %j', (text) => {
    expect(parseStartDate(text)).toBeUndefined();
  });

  it('takes the oldest of both forms across pages and skips unreadable dates', () => {
    const counts = aggregate([
      page(
        [
          { id: 'a', startDate: '2018-04-02' },
          { id: 'b', startDate: 'not a date' },
        ],
        true,
        'b',
      ),
      page([
        { id: 'c', startDate: '2018-04-01T16:03:00.000Z' },
        { id: 'd', startDate: '2018-04-03T00:00:00.000Z' },
        { id: 'e', startDate: null },
        { id: 'f' },
      ]),
    ]);
    expect(counts.oldestStartSeconds).toBe(Date.UTC(2018, 3, 1, 16, 3) / 1000);
  });

  it('a bare date earlier than a date-time wins', () => {
    const counts = aggregate([
      page([
        { id: 'a', startDate: '2018-04-01T16:03:00.000Z' },
        { id: 'b', startDate: '2018-04-01' },
      ]),
    ]);
    expect(counts.oldestStartSeconds).toBe(Date.UTC(2018, 3, 1) / 1000);
  });

  it('is undefined when no date is readable', () => {
    const counts = aggregate([page([{ id: 'a', startDate: 'soon' }, { id: 'b' }])]);
    expect(counts.oldestStartSeconds).toBeUndefined();
  });
});

describe('label capping: the N values with the most devices, ties to the most recent', () => {
  const withDevices = (id: string, firmwareTo: string, devices: number): Upgrade => ({
    id,
    firmwareTo,
    deviceList: Array.from({ length: devices }, () => device('S', 'r')),
  });

  it('keeps the firmware values with the most device entries, whatever their order, and folds the rest', () => {
    const counts = aggregate(
      [
        page(
          [withDevices('u0', 'F1', 1), withDevices('u1', 'F2', 3), withDevices('u2', 'F1', 1)],
          true,
          'u2',
        ),
        page([withDevices('u3', 'F3', 5), withDevices('u4', 'F4', 0), withDevices('u5', 'F2', 0)]),
      ],
      2,
    );
    expect(OTHER).toBe('other');
    // Weights: F3 5, F2 3, F1 2, F4 0: the first two seen (F1, F2) would have folded the largest, F3.
    expect(Object.fromEntries(counts.upgrades)).toEqual({ F3: 1, F2: 2, other: 3 });
    expect(flatDevices(counts)).toEqual({ 'F3|S|r': 5, 'F2|S|r': 3, 'other|S|r': 2 });
    expect(counts.folded.firmware_to).toBe(2); // F1 and F4
    expect(counts.upgradeCount).toBe(6);
  });

  it('breaks a tie in weight for the most recent value (the current rollout)', () => {
    const counts = aggregate(
      [
        page([
          withDevices('u0', 'OLD', 2),
          withDevices('u1', 'MID', 4),
          withDevices('u2', 'NEW', 2),
        ]),
      ],
      2,
    );
    expect(Object.fromEntries(counts.upgrades)).toEqual({ MID: 1, NEW: 1, other: 1 });
  });

  it('weighs device_status and result_reason by device entries, independently, ties to the later entry', () => {
    const devices = [
      device('S1', 'R1'),
      device('S2', 'R2'),
      device('S3', 'R1'),
      device('S1', 'R3'),
      device('S4', 'R4'),
      device('S2', 'R4'),
    ];
    const counts = aggregate([page([{ id: 'u', firmwareTo: 'F', deviceList: devices }])], 2);
    // Statuses: S1 2, S2 2 (S3, S4 1). Reasons: R1 2, R4 2 (later than R2, R3 with 1 each).
    expect(flatDevices(counts)).toEqual({
      'F|S1|R1': 1,
      'F|S2|other': 1,
      'F|other|R1': 1,
      'F|S1|other': 1,
      'F|other|R4': 1,
      'F|S2|R4': 1,
    });
    expect(counts.folded).toEqual({ firmware_to: 0, device_status: 2, result_reason: 2 });
    expect(counts.deviceCount).toBe(6);
  });

  it('weighs only the first 10 × N distinct values met, so memory stays bounded; later ones fold at once', () => {
    const top = new TopValues(1);
    for (let i = 0; i < 10; i++) expect(top.add(`v${i}`, 1, i)).toBe(`v${i}`);
    expect(top.add('late-but-heavy', 1000, 10)).toBe(OTHER);
    expect(top.add('late-but-heavy', 1000, 11)).toBe(OTHER);
    expect(top.add('v3', 1, 12)).toBe('v3');
    expect([...top.kept()]).toEqual(['v3']);
    expect(top.folded).toBe(9 + 1);
  });

  it('counts each folded value once however often it appears', () => {
    const top = new TopValues(1);
    top.add('a', 5, 0);
    top.add('b', 1, 1);
    top.add('b', 1, 2);
    top.add('c', 1, 3);
    expect([...top.kept()]).toEqual(['a']);
    expect(top.folded).toBe(2);
  });

  it('normalises reasons before capping, so reasons that differ only in dates and counts are one value', () => {
    const devices = [
      device('UpgradeFailed', 'Upgrade failed after 3 attempts, last attempt 2024-05-01'),
      device('UpgradeFailed', 'Upgrade failed after 7 attempts, last attempt 2024-06-11'),
      device('UpgradeFailed', 'Device not found'),
    ];
    const counts = aggregate([page([{ id: 'u', firmwareTo: 'F', deviceList: devices }])], 1);
    expect(flatDevices(counts)).toEqual({
      'F|UpgradeFailed|Upgrade failed after <n> attempts, last attempt <date>': 2,
      'F|UpgradeFailed|other': 1,
    });
  });

  it('caps values after cutting them to length, so long values that share a prefix are one value', () => {
    const prefix = 'x'.repeat(MAX_LABEL_LENGTH);
    const counts = aggregate(
      [
        page([
          { id: 'a', firmwareTo: `${prefix}-2024-01-01` },
          { id: 'b', firmwareTo: `${prefix}-2024-01-02` },
        ]),
      ],
      1,
    );
    expect(Object.fromEntries(counts.upgrades)).toEqual({ [prefix]: 2 });
    expect(counts.folded.firmware_to).toBe(0);
  });
});

describe('boundLength', () => {
  const codePoints = (s: string) => [...s].length;
  const hasLoneSurrogate = (s: string) =>
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

  it('leaves short values alone', () => {
    expect(boundLength('abc')).toBe('abc');
    const exact = 'a'.repeat(MAX_LABEL_LENGTH);
    expect(boundLength(exact)).toBe(exact);
  });

  it('cuts at 120 code points', () => {
    expect(MAX_LABEL_LENGTH).toBe(120);
    const long = 'abcdefghij'.repeat(30);
    expect(boundLength(long)).toBe(long.slice(0, 120));
  });

  it('counts an astral character as one code point', () => {
    const emojis = '😀'.repeat(200);
    const cut = boundLength(emojis);
    expect(codePoints(cut)).toBe(120);
    expect(cut).toBe('😀'.repeat(120));
  });

  it('keeps 119 letters plus one emoji (121 UTF-16 units, 120 code points) whole', () => {
    const value = `${'a'.repeat(119)}😀`;
    expect(value.length).toBe(121);
    expect(boundLength(value)).toBe(value);
  });

  it('never splits a surrogate pair at the cut', () => {
    for (let offset = 0; offset < 4; offset++) {
      const value = 'a'.repeat(offset) + '𝄞'.repeat(150);
      const cut = boundLength(value);
      expect(codePoints(cut)).toBe(120);
      expect(hasLoneSurrogate(cut)).toBe(false);
      expect(value.startsWith(cut)).toBe(true);
    }
  });

  it('bounds device statuses and reasons too', () => {
    const reason = `Upgrade failed at ${'z'.repeat(300)}`;
    const counts = aggregate([
      page([{ id: 'u', firmwareTo: 'F', deviceList: [device('S', reason)] }]),
    ]);
    const [key] = Object.keys(flatDevices(counts));
    expect(key).toBe(`F|S|${reason.slice(0, 120)}`);
  });
});

describe('property: totals agree with the nested counts', () => {
  /** mulberry32: a small seeded generator, so a failure can be reproduced from its seed. */
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const FIRMWARES = ['FW-01', 'FW-02', 'FW-03', 'FW-04', '', null, undefined, 'x'.repeat(130)];
  const STATUSES = ['Device Accepted', 'Request Pending', 'UpgradeSuccess', 'UpgradeFailed', ''];
  const REASONS = [
    'success',
    'Device not found',
    'Invalid device IMEI',
    '',
    null,
    undefined,
    'a"b\\c\nd',
  ];

  function generate(random: () => number): ReportPage[] {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const pages: ReportPage[] = [];
    const ids: string[] = [];
    const pageCount = 1 + Math.floor(random() * 5);
    for (let p = 0; p < pageCount; p++) {
      const upgrades: Upgrade[] = [];
      const size = Math.floor(random() * 8);
      for (let u = 0; u < size; u++) {
        // now and then repeat an earlier id, as overlapping pages do
        const id = ids.length > 0 && random() < 0.15 ? pick(ids) : `up-${p}-${u}`;
        ids.push(id);
        const deviceList: Device[] = [];
        const devices = Math.floor(random() * 6);
        for (let d = 0; d < devices; d++) deviceList.push(device(pick(STATUSES), pick(REASONS)));
        upgrades.push({
          id,
          firmwareTo: pick(FIRMWARES),
          deviceList: random() < 0.1 ? null : deviceList,
        });
      }
      pages.push(page(upgrades, p < pageCount - 1, `c${p}`));
    }
    return pages;
  }

  it('holds for 300 random reports', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = rng(seed);
      const pages = generate(random);
      const max = 1 + Math.floor(random() * 4);
      const counts = aggregate(pages, max);

      // independent expectations from the raw pages
      const firstSeen = new Map<string, Upgrade>();
      for (const p of pages)
        for (const u of p.upgrades) if (!firstSeen.has(u.id)) firstSeen.set(u.id, u);
      const expectedDevices = [...firstSeen.values()].reduce(
        (n, u) => n + (u.deviceList?.length ?? 0),
        0,
      );

      let nested = 0;
      let byFirmware = 0;
      for (const byStatus of counts.devices.values()) {
        expect(byStatus.size).toBeLessThanOrEqual(max + 1);
        for (const byReason of byStatus.values()) {
          expect(byReason.size).toBeLessThanOrEqual(max + 1);
          for (const n of byReason.values()) {
            expect(n).toBeGreaterThan(0);
            nested += n;
          }
        }
      }
      for (const n of counts.upgrades.values()) byFirmware += n;

      const context = `seed ${seed}`;
      expect({ context, nested }).toEqual({ context, nested: counts.deviceCount });
      expect({ context, devices: counts.deviceCount }).toEqual({
        context,
        devices: expectedDevices,
      });
      expect({ context, byFirmware }).toEqual({ context, byFirmware: counts.upgradeCount });
      expect({ context, upgrades: counts.upgradeCount }).toEqual({
        context,
        upgrades: firstSeen.size,
      });
      expect(counts.upgrades.size).toBeLessThanOrEqual(max + 1);
      for (const firmware of counts.devices.keys())
        expect(counts.upgrades.has(firmware)).toBe(true);

      // the kept firmware values are the `max` with the most device entries, ties to the latest upgrade
      // (every value here is among the first 10 × max distinct ones unless there are more of them)
      const tally = new Map<string, { weight: number; last: number }>();
      [...firstSeen.values()].forEach((u, index) => {
        const value = boundLength(u.firmwareTo || UNKNOWN_FIRMWARE);
        const t = tally.get(value);
        if (t) {
          t.weight += u.deviceList?.length ?? 0;
          t.last = index;
        } else if (tally.size < 10 * max) {
          tally.set(value, { weight: u.deviceList?.length ?? 0, last: index });
        }
      });
      const expectedKept = [...tally]
        .sort(([, a], [, b]) => b.weight - a.weight || b.last - a.last)
        .slice(0, max)
        .map(([value]) => value);
      const kept = [...counts.upgrades.keys()].filter(
        (k) => k !== OTHER || expectedKept.includes(OTHER),
      );
      expect({ context, kept: kept.sort() }).toEqual({ context, kept: expectedKept.sort() });
    }
  });
});

describe('ReportAggregator runs of equal device results', () => {
  it('counts interleaved and repeated results exactly, capping by weight', () => {
    const list = [
      device('A', 'r1'),
      device('A', 'r1'),
      device('B', 'r2'),
      device('A', 'r1'),
      device('A', null),
      device('A', undefined),
      device('C', 'r3'),
      device('C', 'r3'),
    ];
    const counts = aggregate([page([{ id: 'u1', firmwareTo: 'FW', deviceList: list }])], 2);
    // statuses A (5) and C (2) kept, B (1) folded; reasons r1 (3) and r3 (2, later than none's 2) kept
    expect(flatDevices(counts)).toEqual({
      'FW|A|r1': 3,
      'FW|other|other': 1,
      'FW|A|other': 2,
      'FW|C|r3': 2,
    });
    expect(counts.deviceCount).toBe(8);
    expect(counts.folded).toEqual({ firmware_to: 0, device_status: 1, result_reason: 2 });
  });
});
