/**
 * Label bounds: reason normalisation (SPEC §3.1) and top-N capping (SPEC §3.3).
 */
import { boundLength, MAX_LABEL_LENGTH, NO_REASON, OTHER } from '../../src/labels/bound.js';
import { MAX_MEMO_KEY, normaliseReason, ReasonLabels } from '../../src/labels/normalise.js';
import { keptOr, topOf, TopValues, TRACKED_PER_KEPT, type Tally } from '../../src/labels/top.js';

describe('normaliseReason: the examples of SPEC §3.1, exactly', () => {
  it.each([
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
  ])('%j', (raw, expected) => {
    expect(normaliseReason(raw)).toBe(expected);
  });
});

describe('normaliseReason: each rule', () => {
  it.each([
    // 1. UUIDs, either case, before anything else can take their digits
    ['job 60b5d639-ccdc-4db8-8824-069bd94c95bf failed', 'job <id> failed'],
    ['job 60B5D639-CCDC-4DB8-8824-069BD94C95BF failed', 'job <id> failed'],
    ['uuid 12345678-1234-1234-1234-123456789012 here', 'uuid <id> here'],
    // 2. ISO date-times, with or without seconds, fraction, zone
    ['at 2022-10-06T18:05:00Z.', 'at <time>.'],
    ['at 2022-10-06T18:05:00.123+02:00 then', 'at <time> then'],
    ['at 2022-10-06 18:05 then', 'at <time> then'],
    ['at 2022-10-06T18:05-0500', 'at <time>'],
    // 3. ISO dates
    ['on 2024-05-01', 'on <date>'],
    ['between 2024-05-01 and 2024-05-02', 'between <date> and <date>'],
    // 4. written dates, any case, long or short month, 2- or 4-digit year
    ['on 6 October 2022', 'on <date>'],
    ['on 06 oct 22', 'on <date>'],
    ['on 6 SEPT 2022 ok', 'on <date> ok'],
    // 5. clock times with an optional zone
    ['at 18:05', 'at <time>'],
    ['at 8:05:59 GMT, retry', 'at <time>, retry'],
    ['at 18:05Z', 'at <time>'],
    ['at 18:05 UTC+1', 'at <time>+<n>'],
    // 6. long digit runs: IMEI, ICCID, MDN
    ['ICCID 89148000001234567890', 'ICCID <id>'],
    ['MDN 5551234567 busy', 'MDN <id> busy'],
    ['IMEI:990000862471854', 'IMEI:<id>'],
    // 7. other numbers not inside a word
    ['retry 3 of 5', 'retry <n> of <n>'],
    ['took 2.5 s', 'took <n> s'],
    ['(42)', '(<n>)'],
    ['code=404', 'code=<n>'],
  ])('%j → %j', (raw, expected) => {
    expect(normaliseReason(raw)).toBe(expected);
  });

  it.each([
    'Device not found.',
    'Current device software version does not meet software prerequisites.',
    'Uknown device error.',
    'RovaClientDownloadFailed',
    '',
    '  spaces \n and\tnewlines  kept ',
    'UPPER lower MiXeD',
  ])('leaves a reason without digits untouched: %j', (raw) => {
    expect(normaliseReason(raw)).toBe(raw);
  });

  it.each([
    'RovaClient2DownloadFailed',
    'firmware FW-02 rejected',
    'version v1.2.3 rejected',
    'model SM_G960 unsupported',
    'error E42',
    'file fw_2024.bin',
    'x86 device',
  ])('leaves digits inside words untouched: %j', (raw) => {
    expect(normaliseReason(raw)).toBe(raw);
  });

  it('a free-standing dotted version loses its first two parts, as rule 7 is written', () => {
    // rule 7 takes "1.2" (a number with a fraction, followed by "."), and "3" follows a "." so stays
    expect(normaliseReason('build 1.2.3-rc1')).toBe('build <n>.3-rc1');
  });

  it('applies the rules in their order: a clock time takes its digits before the long-run rule', () => {
    expect(normaliseReason('at 12:34:567890')).toBe('at <time><n>');
    expect(normaliseReason('on 2024-05-01T10:00Z')).toBe('on <time>');
    expect(normaliseReason('id 2024-05-01-ab12cd34')).toBe('id <date>-ab12cd34');
  });

  it('keeps whitespace, newlines and case around the placeholders', () => {
    expect(normaliseReason('Failed\n  at 18:05\tRETRY 3')).toBe('Failed\n  at <time>\tRETRY <n>');
  });

  it('is idempotent: a normalised reason stays as it is', () => {
    const once = normaliseReason(
      'Upgrade pending, scheduled for 06 Oct 22 18:05 UTC, 3 tries, device 990000862471854',
    );
    expect(normaliseReason(once)).toBe(once);
  });

  it('folds reasons that differ only in their variable parts into one value', () => {
    const a = normaliseReason('Upgrade pending, scheduled for 06 Oct 22 18:05 UTC');
    const b = normaliseReason('Upgrade pending, scheduled for 17 Nov 23 02:41 UTC');
    expect(a).toBe(b);
  });
});

describe('ReasonLabels', () => {
  it('a missing, null or empty reason is "none"', () => {
    const labels = new ReasonLabels();
    expect(labels.of(undefined)).toBe(NO_REASON);
    expect(labels.of(null)).toBe(NO_REASON);
    expect(labels.of('')).toBe(NO_REASON);
  });

  it('normalises before cutting to 120 code points', () => {
    const labels = new ReasonLabels();
    // 115 letters and an IMEI: 131 raw, 120 after normalisation, so nothing is cut (cut first, the IMEI
    // would lose its tail and count as a short number)
    const raw = `${'x'.repeat(115)} 990000862471854`;
    expect(labels.of(raw)).toBe(`${'x'.repeat(115)} <id>`);
    const long = `${'é'.repeat(130)} 3`;
    expect(labels.of(long)).toBe(boundLength(`${'é'.repeat(130)} <n>`));
    expect([...labels.of(long)]).toHaveLength(MAX_LABEL_LENGTH);
  });

  it('keeps its memo bounded, and answers the same after clearing it', () => {
    const labels = new ReasonLabels(3);
    const memo = (labels as unknown as { memo: Map<string, string> }).memo;
    const raws = Array.from({ length: 10 }, (_, i) => `failed after ${i} tries at 1${i}:00`);
    for (const raw of raws) {
      expect(labels.of(raw)).toBe('failed after <n> tries at <time>');
      expect(memo.size).toBeLessThanOrEqual(3);
    }
    for (const raw of raws) expect(labels.of(raw)).toBe(normaliseReason(raw));
    expect(memo.size).toBeGreaterThan(0);
  });
});

describe('ReasonLabels: long raw texts', () => {
  const direct = (raw: string) => boundLength(normaliseReason(raw));
  const memoOf = (labels: ReasonLabels) =>
    (labels as unknown as { memo: Map<string, string> }).memo;

  it('memoises a long text by a bounded key, with the label of the whole text', () => {
    const labels = new ReasonLabels();
    const raw = 'Upgrade failed, device 990000862471854 at 18:05 UTC; retrying. '.repeat(20_000);
    expect(raw.length).toBeGreaterThan(1_000_000);
    expect(labels.of(raw)).toBe(direct(raw));
    expect(labels.of(raw)).toBe(direct(raw));
    const keys = [...memoOf(labels).keys()];
    expect(keys).toHaveLength(1);
    expect(keys[0]!.length).toBeLessThanOrEqual(MAX_MEMO_KEY);
  });

  it('a text whose start settles nothing is labelled whole and not remembered', () => {
    const labels = new ReasonLabels();
    // no character within the key bound that every rule stops at: cut anywhere, the digit run would end
    // early and the tail be lost
    const runs = `${'a'.repeat(100)} ${'1'.repeat(1000)} tail ${'b'.repeat(200)}`;
    // a stop, but before it the run of digits shrinks to <id>: the prefix's normal form is too short
    const shrunk = `${'x'.repeat(50)},${'1'.repeat(450)},${' more'.repeat(100)}`;
    for (const raw of [runs, shrunk]) {
      expect(labels.of(raw)).toBe(direct(raw));
      expect(labels.of(raw.slice(0, MAX_MEMO_KEY))).not.toBe(direct(raw));
    }
    expect([...memoOf(labels).keys()].every((k) => k.length <= MAX_MEMO_KEY)).toBe(true);
  });

  it('gives every long text the label of the whole text (each pattern across the key bound)', () => {
    // Digit runs that shrink to <id> bring the normal form near 120 code points just before the key bound,
    // then a text some rule matches across several characters is placed at every offset across that bound.
    const crossing = [
      '6 Oct 22',
      '06 October 2022',
      '18:05 UTC',
      '8:05:59 GMT',
      '2022-10-06 18:05:00.123+02:00',
      '2022-10-06T18:05Z',
      '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      'deadbeef-dead-beef-dead-beefdeadbeef',
      '990000862471854',
      '2.5',
      '15%',
      'Version-02',
      'v1.2.3',
    ];
    const labels = new ReasonLabels(50);
    let cases = 0;
    for (const piece of crossing) {
      for (let pad = 0; pad <= 14; pad++) {
        for (let shift = 0; shift <= piece.length + 1; shift++) {
          const runs = 22;
          const digits = MAX_MEMO_KEY - shift - pad - runs; // the runs' digits and their commas
          const first = digits - (runs - 1) * Math.floor(digits / runs);
          const filler =
            `${'1'.repeat(first)},` + `${'1'.repeat(Math.floor(digits / runs))},`.repeat(runs - 1);
          const raw = `${filler}${'x'.repeat(pad)}${piece} and then, a tail. `.repeat(3);
          expect(labels.of(raw)).toBe(direct(raw));
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(2000);
  });

  it('gives every long text the label of the whole text (seeded random texts around the cut)', () => {
    // Pieces that the rules join or split: dates, times, ids, digit runs, month names, and characters
    // some rules stop at and others cross.
    const pieces = [
      'Upgrade',
      'failed',
      ' ',
      ' ',
      ' ',
      ',',
      ';',
      '\n',
      '\t',
      '-',
      ':',
      '.',
      '+',
      'é',
      '😀',
      '_',
      '(',
      ')',
      '06 Oct 22',
      '6 October 2022',
      ' 18:05',
      ' UTC',
      'Z',
      'T',
      '2022-10-06',
      '2022-10-06T18:05:00Z',
      '2022-10-06 18:05:59.123+02:00',
      '990000862471854',
      '3',
      '15%',
      'v1.2',
      '0.5',
      '12:34:567890',
      '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      'deadbeef-dead-beef-dead-beefdeadbeef',
      'Version-02',
    ];
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const labels = new ReasonLabels(50);
    for (let n = 0; n < 3000; n++) {
      const length = MAX_MEMO_KEY - 200 + Math.floor(random() * 800);
      // Every other text starts with digit runs that shrink to <id>: its normal form reaches 120 code
      // points only near the key bound, where a wrong cut would show in the label.
      let raw = '';
      if (n % 2) {
        const runs = 18 + Math.floor(random() * 9);
        const digits = 10 + Math.floor(random() * 16);
        raw = `${'1'.repeat(digits)},`.repeat(runs);
      }
      while (raw.length < length) {
        const piece = pieces[Math.floor(random() * pieces.length)]!;
        // sometimes a long run of one piece, so that a match may cross any cut
        raw += random() < 0.05 ? piece.repeat(1 + Math.floor(random() * 80)) : piece;
      }
      expect(labels.of(raw)).toBe(direct(raw));
    }
    expect([...memoOf(labels).keys()].every((k) => k.length <= MAX_MEMO_KEY)).toBe(true);
  });
});

describe('TopValues (SPEC §3.3)', () => {
  /** Adds [value, weight] pairs at positions 0, 1, 2, … */
  function feed(keep: number, values: readonly (readonly [string, number])[], track?: number) {
    const top = new TopValues(keep, track);
    const returned = values.map(([value, weight], i) => top.add(value, weight, i));
    return { top, returned };
  }

  it('keeps the N values with the highest weight, whatever their order', () => {
    const { top } = feed(2, [
      ['old', 1],
      ['big', 5],
      ['mid', 3],
      ['old', 1],
      ['small', 1],
    ]);
    expect([...top.kept()].sort()).toEqual(['big', 'mid']);
    expect(top.folded).toBe(2);
  });

  it('sums weights of a value met several times', () => {
    const { top } = feed(1, [
      ['a', 3],
      ['b', 2],
      ['b', 2],
    ]);
    expect([...top.kept()]).toEqual(['b']);
  });

  it('breaks a tie in weight for the most recent value (the later last position)', () => {
    const { top } = feed(1, [
      ['early', 2],
      ['late', 2],
    ]);
    expect([...top.kept()]).toEqual(['late']);
    // recency is the LAST occurrence: "early" seen again last wins the tie
    const again = feed(1, [
      ['early', 1],
      ['late', 2],
      ['early', 1],
    ]);
    expect([...again.top.kept()]).toEqual(['early']);
  });

  it('a weight of 0 still counts as a value; it loses to any weight', () => {
    const { top } = feed(1, [
      ['none', 0],
      ['one', 1],
      ['none', 0],
    ]);
    expect([...top.kept()]).toEqual(['one']);
  });

  it('keeps everything while there are at most N values', () => {
    const { top } = feed(3, [
      ['a', 0],
      ['b', 7],
    ]);
    expect([...top.kept()].sort()).toEqual(['a', 'b']);
    expect(top.folded).toBe(0);
  });

  it(`tracks only the first ${TRACKED_PER_KEPT} × N distinct values; a later new value folds at once`, () => {
    const keep = 2;
    const early = Array.from({ length: TRACKED_PER_KEPT * keep }, (_, i) => [`v${i}`, 1] as const);
    const { top, returned } = feed(keep, [...early, ['heavy-but-late', 1000], ['v3', 1]]);
    expect(returned.slice(0, early.length)).toEqual(early.map(([v]) => v));
    expect(returned.at(-2)).toBe(OTHER);
    expect(returned.at(-1)).toBe('v3'); // a tracked value keeps counting
    expect(top.kept().has('heavy-but-late')).toBe(false);
    expect(top.entries().size).toBe(TRACKED_PER_KEPT * keep);
    expect(top.untrackedCount).toBe(1);
    expect(top.folded).toBe(TRACKED_PER_KEPT * keep - keep + 1);
    // v3 has weight 2, the rest 1: v3 and the most recent of the others are kept
    expect([...top.kept()].sort()).toEqual(['v19', 'v3']);
  });

  it('counts each untracked value once, and only up to a bound', () => {
    const top = new TopValues(1, 2);
    top.add('a', 1, 0);
    top.add('b', 1, 1);
    for (let i = 0; i < 10; i++) top.add(`late${i % 5}`, 1, 2 + i);
    expect(top.untrackedCount).toBe(2);
    expect(top.folded).toBe(1 + 2);
  });

  it('topOf ranks by weight, then position, and keptOr folds the rest', () => {
    const tallies = new Map<string, Tally>([
      ['a', { weight: 5, last: 1 }],
      ['b', { weight: 5, last: 9 }],
      ['c', { weight: 6, last: 0 }],
      ['d', { weight: 1, last: 99 }],
    ]);
    const kept = topOf(tallies, 2);
    expect([...kept].sort()).toEqual(['b', 'c']);
    expect(keptOr(kept, 'a')).toBe(OTHER);
    expect(keptOr(kept, 'b')).toBe('b');
    expect(topOf(tallies, 4).size).toBe(4);
    expect(topOf(tallies, 0).size).toBe(0);
  });
});
