/**
 * The "entered" mechanism (SPEC §4): the id table, a report's memory (learning pass, arrivals, 24 h
 * forgetting, observed seconds), the campaigns' device memory, and the counter families that publish them.
 */
import { CampaignMemory, MAX_UNKNOWN_STATUSES } from '../../src/arrivals/campaign-memory.js';
import { CounterFamily } from '../../src/arrivals/counters.js';
import { EnteredCounters } from '../../src/arrivals/entered.js';
import { hashId, IdTable } from '../../src/arrivals/id-table.js';
import {
  FORGET_AFTER_MS,
  ReportMemory,
  type PassResult,
} from '../../src/arrivals/report-memory.js';
import { CAMPAIGN_DEVICE_STATUSES } from '../../src/campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('hashId', () => {
  it('is deterministic, never 0 (the empty slot), and depends on the seed', () => {
    expect(hashId('990000862471854')).toBe(hashId('990000862471854'));
    expect(hashId('')).not.toBe(0);
    expect(hashId('a', 1)).not.toBe(hashId('a', 2));
    for (const id of ['', 'a', 'b', '0', '990000862471854'])
      expect(Number.isSafeInteger(hashId(id)) && hashId(id) > 0).toBe(true);
  });
});

describe('IdTable', () => {
  const entries = (table: IdTable) => {
    const out = new Map<number, number>();
    table.forEach((key, value) => out.set(key, value));
    return out;
  };

  it('grows from its initial capacity and finds every key again', () => {
    const table = new IdTable();
    const small = table.bytes;
    for (let i = 1; i <= 5000; i++) table.set(hashId(`id-${i}`), i);
    expect(table.size).toBe(5000);
    expect(table.bytes).toBeGreaterThan(small);
    for (let i = 1; i <= 5000; i++) expect(table.get(hashId(`id-${i}`))).toBe(i);
    expect(table.get(hashId('id-5001'))).toBeUndefined();
    // 12 bytes a slot, between a quarter and half of the slots used: 24 to 48 bytes an entry
    expect(table.bytes / table.size).toBeGreaterThanOrEqual(24);
    expect(table.bytes / table.size).toBeLessThanOrEqual(48);
  });

  it('overwrites the value of a key it holds without growing', () => {
    const table = new IdTable();
    table.set(7, 1);
    table.set(7, 2);
    expect(table.size).toBe(1);
    expect(table.get(7)).toBe(2);
  });

  it('finds keys whose probes collide in the low bits', () => {
    // keys equal modulo 2^32 land on the same slot: linear probing must keep them apart
    const table = new IdTable();
    const keys = [1, 1 + 2 ** 32, 1 + 2 ** 33, 1 + 3 * 2 ** 32];
    keys.forEach((k, i) => table.set(k, i + 10));
    keys.forEach((k, i) => expect(table.get(k)).toBe(i + 10));
    expect(table.size).toBe(4);
  });

  it('retain keeps what it is told, drops the rest and shrinks', () => {
    const table = new IdTable();
    for (let i = 1; i <= 4000; i++) table.set(hashId(`id-${i}`), i);
    const big = table.bytes;
    table.retain((_key, value) => value % 100 === 0);
    expect(table.size).toBe(40);
    for (let i = 1; i <= 4000; i++)
      expect(table.get(hashId(`id-${i}`))).toBe(i % 100 === 0 ? i : undefined);
    expect(table.bytes).toBeLessThan(big / 10);
    // and grows again as needed
    for (let i = 5000; i < 6000; i++) table.set(hashId(`id-${i}`), i);
    expect(table.size).toBe(1040);
  });

  it('retain keeping everything changes nothing', () => {
    const table = new IdTable();
    for (let i = 1; i <= 100; i++) table.set(i, i);
    const before = entries(table);
    table.retain(() => true);
    expect(entries(table)).toEqual(before);
    table.retain(() => false);
    expect(table.size).toBe(0);
  });

  it('a million distinct ids give a million entries (collisions do not happen in practice)', () => {
    const table = new IdTable();
    const base = 990_000_000_000_000;
    for (let i = 0; i < 1_000_000; i++) table.set(hashId(String(base + i)), 1);
    expect(table.size).toBe(1_000_000);
    // and a bound on memory: at most 48 bytes an id
    expect(table.bytes).toBeLessThanOrEqual(48 * 1_000_000);
  });
});

describe('ReportMemory', () => {
  /** One pass from `start` to `end` (monotonic ms) reading `ids` (id → device entries). */
  function pass(
    memory: ReportMemory,
    ids: readonly (string | readonly [string, number])[],
    start: number,
    end = start + MINUTE,
    complete = true,
  ): PassResult & { arrived: string[] } {
    memory.beginPass(start);
    const arrived: string[] = [];
    for (const entry of ids) {
      const [id, devices] = typeof entry === 'string' ? [entry, 1] : entry;
      if (memory.see(id, devices)) arrived.push(id);
    }
    return { ...memory.endPass(complete, end), arrived };
  }

  const range = (prefix: string, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

  it('the first complete pass learns and counts nothing; the next counts only new ids', () => {
    const memory = new ReportMemory(0);
    expect(memory.counting).toBe(false);
    const first = pass(memory, range('u', 0, 100), 0);
    expect(first).toMatchObject({ arrivals: 0, devices: 0, observedSeconds: 0, arrived: [] });
    expect(memory.counting).toBe(true);
    const second = pass(memory, [...range('u', 0, 100), ['new1', 3], ['new2', 0]], 5 * MINUTE);
    expect(second.arrived).toEqual(['new1', 'new2']);
    expect(second).toMatchObject({ arrivals: 2, devices: 3 });
    // it covers the time from the end of the first complete pass to its own end
    expect(second.observedSeconds).toBe((6 * MINUTE - MINUTE) / 1000);
  });

  it('a pass that fails before any pass completed only learns; the next complete pass learns too', () => {
    const memory = new ReportMemory(0);
    const failed = pass(memory, range('u', 0, 50), 0, MINUTE, false);
    expect(failed).toMatchObject({ arrivals: 0, observedSeconds: 0 });
    expect(memory.counting).toBe(false);
    const complete = pass(memory, range('u', 0, 100), 5 * MINUTE);
    expect(complete).toMatchObject({ arrivals: 0, observedSeconds: 0 });
    const third = pass(memory, [...range('u', 0, 100), 'n'], 10 * MINUTE);
    expect(third.arrived).toEqual(['n']);
  });

  it('counts the ids of a pass that later fails, and never again', () => {
    const memory = new ReportMemory(0);
    pass(memory, range('u', 0, 10), 0);
    const failed = pass(
      memory,
      [...range('u', 0, 10), ['x', 4], ['y', 2]],
      5 * MINUTE,
      6 * MINUTE,
      false,
    );
    expect(failed.arrived).toEqual(['x', 'y']);
    expect(failed).toMatchObject({ arrivals: 2, devices: 6, observedSeconds: 0 });
    const next = pass(memory, [...range('u', 0, 10), 'x', 'y', 'z'], 10 * MINUTE);
    expect(next.arrived).toEqual(['z']);
    // the complete pass covers the time since the last complete pass, the failed one's included
    expect(next.observedSeconds).toBe((11 * MINUTE - MINUTE) / 1000);
  });

  it('a short report followed by the full one counts nothing twice', () => {
    const memory = new ReportMemory(0);
    const full = range('u', 0, 100);
    pass(memory, full, 0);
    expect(pass(memory, full.slice(0, 80), 5 * MINUTE).arrivals).toBe(0);
    expect(pass(memory, full, 10 * MINUTE).arrivals).toBe(0);
    // also a day later, as long as the missing ones were seen within 24 h
    expect(pass(memory, full.slice(0, 80), 20 * HOUR).arrivals).toBe(0);
    expect(pass(memory, full, 30 * HOUR).arrivals).toBe(0);
  });

  it('forgets an id only after a complete pass more than 24 h after it was last seen', () => {
    const memory = new ReportMemory(0);
    pass(memory, ['old', 'stay'], 0);
    expect(memory.size).toBe(2);
    // 'old' leaves the report; failing passes a day later forget nothing
    pass(memory, ['stay'], 10 * MINUTE);
    pass(memory, ['stay'], FORGET_AFTER_MS + 5 * MINUTE, FORGET_AFTER_MS + 6 * MINUTE, false);
    expect(memory.size).toBe(2);
    // a complete pass just under 24 h after 'old' was last seen (at 0) keeps it
    pass(memory, ['stay'], FORGET_AFTER_MS - MINUTE);
    expect(memory.size).toBe(2);
    // the first complete pass beyond 24 h forgets it
    pass(memory, ['stay'], FORGET_AFTER_MS + 20 * MINUTE);
    expect(memory.size).toBe(1);
    // 'stay', seen by every pass, is never forgotten, and 'old' coming back is an arrival again
    const back = pass(memory, ['stay', 'old'], 3 * FORGET_AFTER_MS);
    expect(back.arrived).toEqual(['old']);
  });

  it('after a long collection gap, arrivals and observed seconds jump together', () => {
    const memory = new ReportMemory(0);
    pass(memory, range('u', 0, 100), 0, MINUTE);
    pass(memory, range('u', 0, 100), 5 * MINUTE, 6 * MINUTE);
    // 80 minutes without a collection; 20 failures arrived meanwhile
    const after = pass(memory, range('u', 0, 120), 86 * MINUTE, 87 * MINUTE);
    expect(after.arrivals).toBe(20);
    expect(after.observedSeconds).toBe(81 * 60);
  });

  it('observed seconds follow the monotonic clock given, never negative', () => {
    const memory = new ReportMemory(1_000_000);
    pass(memory, ['a'], 1_000_000, 1_060_000);
    expect(pass(memory, ['a'], 1_060_000, 1_060_000).observedSeconds).toBe(0);
  });
});

describe('CampaignMemory', () => {
  type Seen = readonly (readonly [string | number, string | undefined])[];

  /**
   * One account × API pass: a listing of `listed`, then walks; returns the arrivals by status. Each device
   * seen carries the payload `campaign/device/status`.
   */
  function runPass(
    memory: CampaignMemory<string>,
    at: number,
    listed: readonly string[],
    walks: Record<string, Seen | { devices: Seen; complete: false }>,
    listingComplete = true,
  ) {
    memory.listedCampaigns(listed, listingComplete, at);
    for (const [id, walk] of Object.entries(walks)) {
      const devices = 'devices' in walk ? walk.devices : walk;
      const complete = !('complete' in walk);
      const w = memory.walk(id, at);
      for (const [device, status] of devices)
        w.see(device, status, () => `${id}/${device}/${status}`);
      w.end(complete);
    }
    const result = memory.endPass(listingComplete, at + MINUTE);
    return { ...result, arrivals: Object.fromEntries(result.arrivals) };
  }

  it('the first pass learns; a device then counts once per status it is seen with', () => {
    const memory = new CampaignMemory<string>(50);
    const learn = runPass(memory, 0, ['c1'], {
      c1: [
        ['d1', 'Accepted'],
        ['d2', 'Accepted'],
      ],
    });
    expect(learn.arrivals).toEqual({});
    const next = runPass(memory, 5 * MINUTE, ['c1'], {
      c1: [
        ['d1', 'UpgradePending'],
        ['d2', 'Accepted'],
        ['d3', 'Accepted'],
      ],
    });
    expect(next.arrivals).toEqual({ UpgradePending: 1, Accepted: 1 });
    // back to a status it had: not again; a device listed twice in one walk: once
    const again = runPass(memory, 10 * MINUTE, ['c1'], {
      c1: [
        ['d1', 'Accepted'],
        ['d1', 'UpgradeFailed'],
        ['d1', 'UpgradeFailed'],
        [42, 'UpgradeFailed'],
      ],
    });
    expect(again.arrivals).toEqual({ UpgradeFailed: 2 });
  });

  it('devices without an id are not remembered; a missing status is "unknown"', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, [], {});
    const pass = runPass(memory, MINUTE, ['c1'], {
      c1: [
        ['', 'Accepted'],
        ['d1', undefined],
        ['d2', ''],
      ],
    });
    expect(pass.arrivals).toEqual({ unknown: 2 });
  });

  it('a campaign listed before the listing was learned learns on its first complete walk', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, ['known'], { known: [['d1', 'Accepted']] });
    const second = runPass(memory, 5 * MINUTE, ['known'], {
      known: [
        ['d1', 'Accepted'],
        ['d2', 'UpgradeFailed'],
      ],
    });
    expect(second.arrivals).toEqual({ UpgradeFailed: 1 });
  });

  it('a campaign first listed after the listing was learned counts from its first walk', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, ['old'], { old: [['d1', 'Accepted']] });
    const pass = runPass(memory, 5 * MINUTE, ['old', 'fresh'], {
      old: [['d1', 'Accepted']],
      fresh: [
        ['d1', 'Accepted'],
        ['d2', 'DeviceRejected'],
      ],
    });
    expect(pass.arrivals).toEqual({ Accepted: 1, DeviceRejected: 1 });
  });

  it('a new campaign whose first walk fails holds it back, and counts on its next complete walk, each device once', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, [], {});
    const failed = runPass(memory, MINUTE, ['fresh'], {
      fresh: { devices: [['d1', 'Accepted']], complete: false },
    });
    expect(failed.arrivals).toEqual({});
    // nothing else was walked, and that walk failed: the pass covers no time
    expect(failed.observedSeconds).toBe(0);
    const next = runPass(memory, 2 * MINUTE, ['fresh'], {
      fresh: [
        ['d1', 'Accepted'],
        ['d2', 'Accepted'],
      ],
    });
    expect(next.arrivals).toEqual({ Accepted: 2 });
    expect(next.details).toEqual(['fresh/d1/Accepted', 'fresh/d2/Accepted']);
    expect(next.observedSeconds).toBe(120);
  });

  it('a campaign listed but not walked (folded) learns on its first walk, later ones count', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, ['walked', 'folded'], { walked: [['d1', 'Accepted']] });
    runPass(memory, 5 * MINUTE, ['walked', 'folded'], { walked: [['d1', 'Accepted']] });
    const first = runPass(memory, 10 * MINUTE, ['walked', 'folded'], {
      folded: [
        ['f1', 'UpgradeFailed'],
        ['f2', 'UpgradeFailed'],
      ],
    });
    expect(first.arrivals).toEqual({});
    const later = runPass(memory, 15 * MINUTE, ['walked', 'folded'], {
      folded: [
        ['f1', 'UpgradeFailed'],
        ['f3', 'UpgradeFailed'],
      ],
    });
    expect(later.arrivals).toEqual({ UpgradeFailed: 1 });
  });

  it('an incomplete listing does not end the learning: campaigns listed by the next one are not new', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, ['a'], {}, false);
    runPass(memory, MINUTE, ['a', 'b'], {});
    const pass = runPass(memory, 2 * MINUTE, ['a', 'b'], {
      b: [['d1', 'Accepted']],
    });
    expect(pass.arrivals).toEqual({});
  });

  it(`gives unknown device statuses their own label up to the bound, later ones count as "other"`, () => {
    const memory = new CampaignMemory<string>(2);
    runPass(memory, 0, [], {});
    const pass = runPass(memory, MINUTE, ['c'], {
      c: [
        ['d1', 'Weird1'],
        ['d2', 'Weird2'],
        ['d3', 'Weird3'],
        ['d4', 'Weird4'],
        ['d5', 'Weird1'],
        ['d1', 'Weird3'],
      ],
    });
    expect(pass.arrivals).toEqual({ Weird1: 2, Weird2: 1, other: 3 });
    // "other" is one status: a device seen with two late unknown statuses counts once under it
    const again = runPass(memory, 2 * MINUTE, ['c'], { c: [['d3', 'Weird4']] });
    expect(again.arrivals).toEqual({});
  });

  it('never gives more unknown statuses a bit than the 32-bit mask holds', () => {
    const memory = new CampaignMemory<string>(1000);
    runPass(memory, 0, [], {});
    const statuses = Array.from({ length: MAX_UNKNOWN_STATUSES + 5 }, (_, i) => `S${i}`);
    const pass = runPass(memory, MINUTE, ['c'], {
      c: statuses.map((s, i) => [`d${i}`, s] as const),
    });
    expect(pass.arrivals.other).toBe(5);
    expect(Object.keys(pass.arrivals)).toHaveLength(MAX_UNKNOWN_STATUSES + 1);
    expect(MAX_UNKNOWN_STATUSES + CAMPAIGN_DEVICE_STATUSES.length).toBeLessThanOrEqual(31);
    // every known status still has its own bit
    const known = runPass(memory, 2 * MINUTE, ['c'], {
      c: CAMPAIGN_DEVICE_STATUSES.map((s) => ['d1', s] as const),
    });
    expect(known.arrivals).toEqual(Object.fromEntries(CAMPAIGN_DEVICE_STATUSES.map((s) => [s, 1])));
  });

  it('drops a campaign’s memory 24 h after it was last walked, whenever the listing completes', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, ['c', 'other'], {
      c: [
        ['d1', 'Accepted'],
        ['d2', 'Accepted'],
      ],
      other: [['x', 'Accepted']],
    });
    expect(memory.size.devices).toBe(3);
    // 'other' keeps being walked, 'c' is not (e.g. final beyond the lookback)
    runPass(memory, FORGET_AFTER_MS - MINUTE, ['c', 'other'], { other: [['x', 'Accepted']] });
    expect(memory.size.devices).toBe(3);
    // a pass whose listing fails forgets nothing
    runPass(
      memory,
      FORGET_AFTER_MS + 2 * MINUTE,
      ['c', 'other'],
      { other: [['x', 'Accepted']] },
      false,
    );
    expect(memory.size.devices).toBe(3);
    // one whose listing completes does, even though its only walk fails
    runPass(memory, FORGET_AFTER_MS + 5 * MINUTE, ['c', 'other'], {
      other: { devices: [], complete: false },
    });
    expect(memory.size.devices).toBe(1);
  });

  it('a campaign walked again after its memory was dropped learns again: nothing counts twice', () => {
    const memory = new CampaignMemory<string>(50);
    runPass(memory, 0, [], {});
    // a new campaign: its first walk counts every device
    const first = runPass(memory, MINUTE, ['c'], {
      c: [
        ['d1', 'Accepted'],
        ['d2', 'UpgradeSuccess'],
      ],
    });
    expect(first.arrivals).toEqual({ Accepted: 1, UpgradeSuccess: 1 });
    // then it is folded for more than a day (still listed), and its device memory goes
    runPass(memory, FORGET_AFTER_MS + 2 * HOUR, ['c'], {});
    expect(memory.size.devices).toBe(0);
    // walked again with the same devices: they are not new arrivals
    const again = runPass(memory, FORGET_AFTER_MS + 3 * HOUR, ['c'], {
      c: [
        ['d1', 'Accepted'],
        ['d2', 'UpgradeSuccess'],
      ],
    });
    expect(again.arrivals).toEqual({});
    // and it counts from then on
    const later = runPass(memory, FORGET_AFTER_MS + 4 * HOUR, ['c'], {
      c: [
        ['d1', 'UpgradeFailed'],
        ['d2', 'UpgradeSuccess'],
      ],
    });
    expect(later.arrivals).toEqual({ UpgradeFailed: 1 });
  });

  it('each pass that covers the time adds the time since the previous one; a failed listing adds none', () => {
    const memory = new CampaignMemory<string>(50);
    expect(runPass(memory, 0, ['c'], { c: [] }).observedSeconds).toBe(0);
    expect(runPass(memory, 5 * MINUTE, ['c'], {}, false).observedSeconds).toBe(0);
    expect(runPass(memory, 10 * MINUTE, ['c'], { c: [] }).observedSeconds).toBe(600);
    // a listing with nothing to walk covers its time too
    expect(runPass(memory, 15 * MINUTE, [], {}).observedSeconds).toBe(300);
  });

  describe('completeness per campaign', () => {
    /** A fleet of two campaigns, learnt; `a` then fails for `failing` passes 5 minutes apart. */
    function fleet() {
      const memory = new CampaignMemory<string>(50);
      const devices = (c: string, n: number, status: string): Seen =>
        Array.from({ length: n }, (_, i) => [`${c}${i}`, status] as const);
      runPass(memory, 0, ['a', 'b'], {
        a: devices('a', 10, 'Accepted'),
        b: devices('b', 10, 'Accepted'),
      });
      return { memory, devices };
    }

    it('a failing walk holds back its arrivals; the others count with the observed seconds moving', () => {
      const { memory, devices } = fleet();
      // a fails after reading 3 devices that failed; b has 2 failures
      const during = runPass(memory, 5 * MINUTE, ['a', 'b'], {
        a: { devices: devices('a', 3, 'UpgradeFailed'), complete: false },
        b: devices('b', 2, 'UpgradeFailed'),
      });
      expect(during.arrivals).toEqual({ UpgradeFailed: 2 });
      expect(during.details).toEqual(['b/b0/UpgradeFailed', 'b/b1/UpgradeFailed']);
      expect(during.observedSeconds).toBe(300);
      // half an hour later a is read again: what it held back comes with what it reads now, once
      let last = during;
      for (let t = 10; t <= 30; t += 5)
        last = runPass(memory, t * MINUTE, ['a', 'b'], {
          a: { devices: devices('a', 3, 'UpgradeFailed'), complete: false },
          b: devices('b', 2, 'UpgradeFailed'),
        });
      expect(last.arrivals).toEqual({});
      expect(last.observedSeconds).toBe(300);
      const back = runPass(memory, 35 * MINUTE, ['a', 'b'], {
        a: devices('a', 5, 'UpgradeFailed'),
        b: devices('b', 2, 'UpgradeFailed'),
      });
      expect(back.arrivals).toEqual({ UpgradeFailed: 5 });
      expect(back.details).toEqual(
        ['a0', 'a1', 'a2', 'a3', 'a4'].map((d) => `a/${d}/UpgradeFailed`),
      );
      expect(back.observedSeconds).toBe(300);
    });

    it('a campaign that misses more than an hour drops what it held back and learns again', () => {
      const { memory, devices } = fleet();
      for (let t = 5; t <= 65; t += 5) {
        const pass = runPass(memory, t * MINUTE, ['a', 'b'], {
          a: { devices: devices('a', 3, 'UpgradeFailed'), complete: false },
          b: [],
        });
        expect(pass.arrivals).toEqual({});
        expect(pass.observedSeconds).toBe(300);
      }
      // 65 minutes missed: the walk that completes learns, the next one counts
      const back = runPass(memory, 70 * MINUTE, ['a', 'b'], {
        a: devices('a', 8, 'UpgradeFailed'),
        b: [],
      });
      expect(back.arrivals).toEqual({});
      expect(back.details).toEqual([]);
      const later = runPass(memory, 75 * MINUTE, ['a', 'b'], {
        a: [...devices('a', 8, 'UpgradeFailed'), ['a9', 'UpgradeFailed']],
        b: [],
      });
      expect(later.arrivals).toEqual({ UpgradeFailed: 1 });
    });

    it('missing an hour exactly still releases; the bound grows with a longer interval', () => {
      const { memory, devices } = fleet();
      for (let t = 5; t <= 60; t += 5)
        runPass(memory, t * MINUTE, ['a', 'b'], {
          a: { devices: devices('a', 1, 'UpgradeFailed'), complete: false },
          b: [],
        });
      expect(
        runPass(memory, 65 * MINUTE, ['a', 'b'], { a: devices('a', 2, 'UpgradeFailed'), b: [] })
          .arrivals,
      ).toEqual({ UpgradeFailed: 2 });
      // passes two hours apart: one failed walk (two hours missed) is still released
      const slow = fleet();
      runPass(slow.memory, 2 * HOUR, ['a', 'b'], { a: [], b: [] });
      runPass(slow.memory, 4 * HOUR, ['a', 'b'], {
        a: { devices: slow.devices('a', 1, 'UpgradeFailed'), complete: false },
        b: [],
      });
      const released = runPass(slow.memory, 6 * HOUR, ['a', 'b'], {
        a: slow.devices('a', 2, 'UpgradeFailed'),
        b: [],
      });
      expect(released.arrivals).toEqual({ UpgradeFailed: 2 });
      // two failed walks (four hours) are not
      for (const t of [8, 10])
        runPass(slow.memory, t * HOUR, ['a', 'b'], {
          a: { devices: slow.devices('a', 3, 'UpgradeFailed'), complete: false },
          b: [],
        });
      expect(
        runPass(slow.memory, 12 * HOUR, ['a', 'b'], {
          a: slow.devices('a', 4, 'UpgradeFailed'),
          b: [],
        }).arrivals,
      ).toEqual({});
    });

    it('when no walk completes the pass covers no time: the gap is added, and released, when one does', () => {
      const { memory, devices } = fleet();
      for (let t = 5; t <= 120; t += 5) {
        const pass = runPass(memory, t * MINUTE, ['a', 'b'], {
          a: { devices: devices('a', 2, 'UpgradeFailed'), complete: false },
          b: { devices: [], complete: false },
        });
        expect(pass).toMatchObject({ arrivals: {}, observedSeconds: 0 });
      }
      const back = runPass(memory, 125 * MINUTE, ['a', 'b'], {
        a: devices('a', 4, 'UpgradeFailed'),
        b: devices('b', 1, 'DeviceRejected'),
      });
      expect(back.arrivals).toEqual({ UpgradeFailed: 4, DeviceRejected: 1 });
      // from the end of the learning pass (1 minute) to the end of this one
      expect(back.observedSeconds).toBe(125 * 60);
    });

    it('a listing that fails still counts complete walks; their time comes with the next complete listing', () => {
      const { memory, devices } = fleet();
      const failed = runPass(
        memory,
        5 * MINUTE,
        ['a', 'b'],
        { a: devices('a', 1, 'UpgradeFailed'), b: [] },
        false,
      );
      expect(failed).toMatchObject({ arrivals: { UpgradeFailed: 1 }, observedSeconds: 0 });
      expect(runPass(memory, 10 * MINUTE, ['a', 'b'], { a: [], b: [] }).observedSeconds).toBe(600);
    });
  });

  describe('a campaign walked for the first time', () => {
    it('first listed while folded and walked in a later pass: learns, then counts', () => {
      const memory = new CampaignMemory<string>(50);
      runPass(memory, 0, ['a'], { a: [['x', 'Accepted']] });
      // b appears while a holds the only walk (max-campaigns 1), for two passes
      runPass(memory, 5 * MINUTE, ['a', 'b'], { a: [['x', 'Accepted']] });
      runPass(memory, 10 * MINUTE, ['a', 'b'], { a: [['x', 'Accepted']] });
      const devices = Array.from({ length: 500 }, (_, i) => [`b${i}`, 'UpgradeFailed'] as const);
      const first = runPass(memory, 15 * MINUTE, ['a', 'b'], { b: devices });
      expect(first.arrivals).toEqual({});
      const next = runPass(memory, 20 * MINUTE, ['a', 'b'], {
        b: [...devices, ['b500', 'UpgradeFailed']],
      });
      expect(next.arrivals).toEqual({ UpgradeFailed: 1 });
    });

    it('walked in the pass that first listed it: counts whole, even when that walk fails', () => {
      const memory = new CampaignMemory<string>(50);
      runPass(memory, 0, ['a'], { a: [] });
      const first = runPass(memory, 5 * MINUTE, ['a', 'b'], {
        a: [],
        b: { devices: [['b1', 'Accepted']], complete: false },
      });
      expect(first.arrivals).toEqual({});
      const next = runPass(memory, 10 * MINUTE, ['a', 'b'], {
        a: [],
        b: [
          ['b1', 'Accepted'],
          ['b2', 'Accepted'],
        ],
      });
      expect(next.arrivals).toEqual({ Accepted: 2 });
    });

    it('a campaign walked before and folded for more than an hour learns again; for less it counts', () => {
      const memory = new CampaignMemory<string>(50);
      runPass(memory, 0, ['a', 'b'], { a: [['a1', 'Accepted']], b: [['b1', 'Accepted']] });
      for (let t = 5; t <= 70; t += 5) runPass(memory, t * MINUTE, ['a', 'b'], { b: [] });
      expect(
        runPass(memory, 75 * MINUTE, ['a', 'b'], { a: [['a1', 'UpgradeFailed']] }).arrivals,
      ).toEqual({});
      for (let t = 80; t <= 100; t += 5) runPass(memory, t * MINUTE, ['a', 'b'], { b: [] });
      expect(
        runPass(memory, 105 * MINUTE, ['a', 'b'], { a: [['a1', 'UpgradeSuccess']] }).arrivals,
      ).toEqual({ UpgradeSuccess: 1 });
    });
  });

  it('payloads and counts always agree, per status, whatever fails and whenever', () => {
    // A seeded run through random listings, folds and failures: every pass's payloads are exactly its
    // counts, label by label, and over the run no payload comes twice.
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const memory = new CampaignMemory<string>(3);
    const statuses = ['Accepted', 'UpgradeFailed', 'W1', 'W2', 'W3', 'W4', undefined];
    const campaigns = ['c0', 'c1', 'c2', 'c3'];
    const payloads: string[] = [];
    let counted = 0;
    let held = 0;
    for (let p = 0; p < 600; p++) {
      const at = p * 5 * MINUTE + (p > 300 ? 3 * HOUR : 0); // and a gap
      const listed = campaigns.slice(0, 1 + Math.floor(p / 50));
      const listingComplete = random() > 0.1;
      memory.listedCampaigns(listed, listingComplete, at);
      for (const id of listed) {
        if (random() < 0.2) continue; // folded this pass
        const w = memory.walk(id, at);
        for (let i = 0; i < 5; i++) {
          const device = `${id}-d${Math.floor(random() * 30)}`;
          const status = statuses[Math.floor(random() * statuses.length)];
          w.see(device, status, () => `${device}:${status}:${p}`);
        }
        const complete = random() > (p % 100 < 30 ? 0.9 : 0.2); // long runs of failing walks too
        if (!complete) held++;
        w.end(complete);
      }
      const result = memory.endPass(listingComplete, at + MINUTE);
      const byLabel = new Map<string, number>();
      for (const s of result.detailStatuses) byLabel.set(s, (byLabel.get(s) ?? 0) + 1);
      expect(result.details).toHaveLength(result.detailStatuses.length);
      expect(byLabel).toEqual(result.arrivals);
      payloads.push(...result.details);
      for (const n of result.arrivals.values()) counted += n;
    }
    expect(new Set(payloads).size).toBe(payloads.length);
    // what the run exercised: many arrivals, "other", failing walks
    expect(counted).toBeGreaterThan(100);
    expect(payloads.some((d) => d.includes(':W4:'))).toBe(true);
    expect(held).toBeGreaterThan(100);
  });

  it('without payloads, details stay empty', () => {
    const memory = new CampaignMemory(50);
    memory.listedCampaigns(['c'], true, 0);
    memory.endPass(true, MINUTE);
    memory.listedCampaigns(['c', 'n'], true, 5 * MINUTE);
    const w = memory.walk('n', 5 * MINUTE);
    w.see('d1', 'Accepted');
    w.end(true);
    const pass = memory.endPass(true, 6 * MINUTE);
    expect(Object.fromEntries(pass.arrivals)).toEqual({ Accepted: 1 });
    expect(pass).toMatchObject({ details: [], detailStatuses: [] });
  });
});

describe('CounterFamily', () => {
  const values = (family: CounterFamily) =>
    Object.fromEntries([...family.entries()].map((e) => [JSON.stringify(e.labels), e.value]));

  it('a created series is published at 0 from the start, and shows increments at the next publish', () => {
    const family = new CounterFamily(['account', 'status']);
    family.create({ account: 'a', status: 'UpgradeFailed' });
    expect(values(family)).toEqual({ '{"account":"a","status":"UpgradeFailed"}': 0 });
    family.add({ account: 'a', status: 'UpgradeFailed' }, 3);
    expect(values(family)).toEqual({ '{"account":"a","status":"UpgradeFailed"}': 0 });
    family.publish();
    expect(values(family)).toEqual({ '{"account":"a","status":"UpgradeFailed"}': 3 });
    family.add({ account: 'a', status: 'UpgradeFailed' }, 2);
    family.publish();
    expect(values(family)).toEqual({ '{"account":"a","status":"UpgradeFailed"}': 5 });
  });

  it('a new label set is published at 0 first; its increments appear one publish later', () => {
    const family = new CounterFamily(['device_status']);
    family.add({ device_status: 'Weird' }, 4);
    expect(family.has({ device_status: 'Weird' })).toBe(true);
    expect(values(family)).toEqual({}); // not before its first publish
    family.publish(); // the scrape after this collection sees 0: increase() has a base
    expect(values(family)).toEqual({ '{"device_status":"Weird"}': 0 });
    family.add({ device_status: 'Weird' }, 1);
    family.publish(); // now the held-back increment and the new one
    expect(values(family)).toEqual({ '{"device_status":"Weird"}': 5 });
  });

  it('an add of nothing creates no series', () => {
    const family = new CounterFamily(['x']);
    family.add({ x: 'a' }, 0);
    family.publish();
    expect(family.has({ x: 'a' })).toBe(false);
    expect([...family.entries()]).toEqual([]);
  });

  it('never goes down', () => {
    const family = new CounterFamily(['x']);
    family.create({ x: 'a' });
    family.add({ x: 'a' }, -5);
    family.publish();
    expect(values(family)).toEqual({ '{"x":"a"}': 0 });
  });
});

describe('EnteredCounters', () => {
  const labelSets = (family: CounterFamily) => [...family.entries()].map((e) => e.labels);

  it('pre-creates every account × status and account × api × known device status at 0', () => {
    const entered = new EnteredCounters(['a', 'b'], ['v1', 'v2', 'v3']);
    for (const family of [entered.upgrades, entered.upgradeDevices, entered.upgradesObserved]) {
      expect(labelSets(family)).toHaveLength(2 * UPGRADE_STATUSES.length);
      expect([...family.entries()].every((e) => e.value === 0)).toBe(true);
    }
    expect(labelSets(entered.campaignDevices)).toHaveLength(
      2 * 2 * CAMPAIGN_DEVICE_STATUSES.length,
    );
    expect(labelSets(entered.campaignDevicesObserved)).toEqual([
      { account: 'a', api: 'v2' },
      { account: 'a', api: 'v3' },
      { account: 'b', api: 'v2' },
      { account: 'b', api: 'v3' },
    ]);
  });

  it('creates only the series of the APIs that are read', () => {
    const v1 = new EnteredCounters(['a'], ['v1']);
    expect(labelSets(v1.campaignDevices)).toEqual([]);
    expect(labelSets(v1.campaignDevicesObserved)).toEqual([]);
    const v3 = new EnteredCounters(['a'], ['v3']);
    expect(labelSets(v3.upgrades)).toEqual([]);
    expect(new Set(labelSets(v3.campaignDevices).map((l) => l.api))).toEqual(new Set(['v3']));
  });

  it('publish makes every family’s increments visible together', () => {
    const entered = new EnteredCounters(['a'], ['v1', 'v2']);
    entered.upgrades.add({ account: 'a', status: 'UpgradeFailed' }, 1);
    entered.campaignDevices.add({ account: 'a', api: 'v2', device_status: 'UpgradeFailed' }, 2);
    entered.publish();
    const find = (family: CounterFamily, match: Record<string, string>) =>
      [...family.entries()].find((e) => Object.entries(match).every(([k, v]) => e.labels[k] === v))
        ?.value;
    expect(find(entered.upgrades, { status: 'UpgradeFailed' })).toBe(1);
    expect(find(entered.campaignDevices, { device_status: 'UpgradeFailed' })).toBe(2);
  });
});
