import {
  OTHER,
  TopLabels,
  normaliseReason,
  reasonLabel,
  truncateLabel,
} from '../../src/simulator/labels.js';

describe('reason normalisation (SPEC §3.1)', () => {
  test.each([
    [
      'Upgrade pending, the device upgrade is estimated to be scheduled for 06 Oct 22 18:05 UTC',
      'Upgrade pending, the device upgrade is estimated to be scheduled for <date> <time>',
    ],
    [
      'Upgrade failed after 3 attempts, last attempt 2024-05-01',
      'Upgrade failed after <n> attempts, last attempt <date>',
    ],
    ['🔋 Battery below 15%, upgrade postponed', '🔋 Battery below <n>%, upgrade postponed'],
    [
      'Firmware "VerizonFirmwareVersion-02" rejected: signature mismatch',
      'Firmware "VerizonFirmwareVersion-02" rejected: signature mismatch',
    ],
    ['Device 990000862471854 not reachable', 'Device <id> not reachable'],
  ])('the SPEC example %j', (raw, normal) => {
    expect(normaliseReason(raw)).toBe(normal);
  });

  test.each([
    ['Job 60b5d639-ccdc-4db8-8824-069bd94c95bf failed', 'Job <id> failed'],
    ['Upgrade successful at 2025-01-03T10:00:00Z', 'Upgrade successful at <time>'],
    ['at 2025-01-03 10:00:00.123+02:00 done', 'at <time> done'],
    ['Campaign cancelled on 6 October 2022 09:30', 'Campaign cancelled on <date> <time>'],
    ['Deferred until 14:30 UTC', 'Deferred until <time>'],
    ['Retry in 2.5 hours (attempt 3/7)', 'Retry in <n> hours (attempt <n>/<n>)'],
    ['model-A_01To02 build 7', 'model-A_01To02 build <n>'],
    // As the rule is written: step 7 takes "1.2", and the "3" after a dot is left alone.
    ['version 1.2.3 refused', 'version <n>.3 refused'],
    ['Line one\n  Line 2', 'Line one\n  Line <n>'],
    ['No digits, UPPER and lower kept', 'No digits, UPPER and lower kept'],
  ])('%j normalises to %j', (raw, normal) => {
    expect(normaliseReason(raw)).toBe(normal);
  });

  test('missing, null and empty reasons are none; the cut comes after normalisation', () => {
    expect(reasonLabel(undefined)).toBe('none');
    expect(reasonLabel(null)).toBe('none');
    expect(reasonLabel('')).toBe('none');
    const long = `${'x'.repeat(110)} 990000862471854 ${'y'.repeat(20)}`;
    expect(reasonLabel(long)).toBe(`${'x'.repeat(110)} <id> ${'y'.repeat(4)}`);
    expect([...truncateLabel('🔌'.repeat(130))]).toHaveLength(120);
  });
});

/** Offers values in order (weight 1 each, recency = position) as one walk; returns the labels. */
function labelsOf(values: string[], max: number): string[] {
  const top = new TopLabels(max);
  const tracked = values.map((value, position) => top.offer(value, 1, position));
  return values.map((value, i) => top.label(value, tracked[i] ?? false));
}

describe('top-N capping (SPEC §3.3)', () => {
  test('the heaviest values are kept, not the first ones', () => {
    expect(labelsOf(['a', 'b', 'c', 'c', 'c', 'd', 'd'], 2)).toEqual([
      OTHER,
      OTHER,
      'c',
      'c',
      'c',
      'd',
      'd',
    ]);
  });

  test('ties go to the most recent value', () => {
    // a and b both weigh 2; b's last entry is later.
    expect(labelsOf(['a', 'b', 'a', 'b', 'z', 'z', 'z'], 2)).toEqual([
      OTHER,
      'b',
      OTHER,
      'b',
      'z',
      'z',
      'z',
    ]);
    expect(labelsOf(['b', 'a', 'b', 'a', 'z', 'z', 'z'], 2)).toEqual([
      OTHER,
      'a',
      OTHER,
      'a',
      'z',
      'z',
      'z',
    ]);
  });

  test('only the first 10 × N distinct values of a walk are tracked, however heavy a later one is', () => {
    const light = Array.from({ length: 10 }, (_, i) => `v${i}`);
    const values = [...light, 'v3', ...Array<string>(50).fill('heavy')];
    const labels = labelsOf(values, 1);
    expect(labels.filter((label) => label === 'heavy')).toHaveLength(0);
    expect(labels.filter((label) => label === 'v3')).toHaveLength(2);
  });

  test('each walk tracks its own first 10 × N values; tracked values compete across walks', () => {
    const top = new TopLabels(1);
    const first = Array.from({ length: 10 }, (_, i) => top.offer(`v${i}`, 1, i));
    const lateInFirst = top.offer('heavy', 5, 10);
    top.beginWalk();
    const inSecond = top.offer('heavy', 3, 11);
    expect(first.every(Boolean)).toBe(true);
    expect(lateInFirst).toBe(false);
    expect(inSecond).toBe(true);
    expect(top.label('heavy', inSecond)).toBe('heavy');
    expect(top.label('heavy', lateInFirst)).toBe(OTHER);
    expect(top.label('v0', true)).toBe(OTHER);
  });

  test('a value of weight 0 (a firmware whose upgrades have no devices) can be kept', () => {
    const top = new TopLabels(2);
    const zero = top.offer('empty', 0, 0);
    const full = top.offer('full', 4, 1);
    expect([top.label('empty', zero), top.label('full', full)]).toEqual(['empty', 'full']);
  });
});
