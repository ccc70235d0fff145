/**
 * The --storage.path arrivals snapshot (src/storage/arrivals-snapshot.ts): the id memories and entered
 * counters written and read back, and every kind of file that must be ignored instead (another version,
 * truncated, damaged, other accounts, too old, too large), and the writer's rules (when it writes, what a
 * failed write leaves behind).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CampaignMemory } from '../../src/arrivals/campaign-memory.js';
import { EnteredCounters } from '../../src/arrivals/entered.js';
import { IdTable } from '../../src/arrivals/id-table.js';
import { FORGET_AFTER_MS, ReportMemory } from '../../src/arrivals/report-memory.js';
import type { Api } from '../../src/campaigns/statuses.js';
import type { Clock } from '../../src/clock.js';
import { reportKey } from '../../src/collection/snapshot.js';
import {
  ARRIVALS_SNAPSHOT_FILE,
  ArrivalsPersistence,
  readArrivalsSnapshot,
  SnapshotTooLargeError,
  writeArrivalsSnapshot,
  type ArrivalsState,
  type ReadResult,
} from '../../src/storage/arrivals-snapshot.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ACCOUNTS = ['0000000001-00001', '0000000002-00002'];
const APIS: Api[] = ['v1', 'v2', 'v3'];
const SCOPE = { accounts: ACCOUNTS, apis: APIS, maxLabelValues: 50 };

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arrivals-snapshot-'));
  file = join(dir, ARRIVALS_SNAPSHOT_FILE);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A clock whose wall and monotonic times differ, as they do between two processes. */
function clockAt(wallMs: number, monotonicMs: number): Clock & { advance(ms: number): void } {
  let wall = wallMs;
  let mono = monotonicMs;
  return {
    wallMs: () => wall,
    monotonicMs: () => mono,
    advance(ms) {
      wall += ms;
      mono += ms;
    },
  };
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function reportPass(memory: ReportMemory, read: readonly string[], at: number) {
  memory.beginPass(at);
  const arrived = read.filter((id) => memory.see(id, 2));
  return { ...memory.endPass(true, at + 1000), arrived };
}

function campaignPass(
  memory: CampaignMemory,
  at: number,
  walks: Record<string, readonly (readonly [string, string])[]>,
) {
  memory.listedCampaigns(Object.keys(walks), true, at);
  for (const [id, devices] of Object.entries(walks)) {
    const walk = memory.walk(id, at);
    for (const [device, status] of devices) walk.see(device, status);
    walk.end(true);
  }
  const pass = memory.endPass(true, at + 1000);
  return { observedSeconds: pass.observedSeconds, arrivals: Object.fromEntries(pass.arrivals) };
}

/** An exporter's arrivals state after a learning pass and a counting pass at `clock`'s time. */
function learnedState(clock: Clock, accounts = ACCOUNTS): ArrivalsState {
  const state: ArrivalsState = {
    reports: new Map(),
    campaigns: new Map(),
    counters: new EnteredCounters(accounts, APIS),
  };
  const origin = clock.monotonicMs();
  for (const account of accounts) {
    const memory = new ReportMemory(origin);
    reportPass(memory, ids(`${account}-u`, 300), clock.monotonicMs());
    const counted = reportPass(memory, ids(`${account}-u`, 310), clock.monotonicMs() + MINUTE);
    state.counters.upgrades.add({ account, status: 'UpgradeFailed' }, counted.arrivals);
    state.counters.upgradesObserved.add(
      { account, status: 'UpgradeFailed' },
      counted.observedSeconds,
    );
    state.reports.set(reportKey(account, 'UpgradeFailed'), memory);
    state.reports.set(reportKey(account, 'Queued'), new ReportMemory(origin)); // never completed
    const campaigns = new CampaignMemory(50);
    const devices = ids('d', 500).map((d) => [d, 'Accepted'] as const);
    campaignPass(campaigns, clock.monotonicMs(), { c1: devices });
    campaignPass(campaigns, clock.monotonicMs() + MINUTE, {
      c1: [...devices.slice(0, 490), ['d490', 'UpgradeDeferred']],
    });
    state.campaigns.set(reportKey(account, 'v2'), campaigns);
  }
  state.counters.publish();
  return state;
}

function restored(result: ReadResult) {
  if (result.kind !== 'restored') throw new Error(`not restored: ${JSON.stringify(result)}`);
  return result;
}

describe('arrivals snapshot file', () => {
  it('round trip: restored memories count only what arrived since, over the time since the last pass', async () => {
    const before = clockAt(1_800_000_000_000, 5_000);
    const state = learnedState(before);
    const written = await writeArrivalsSnapshot(file, state, { clock: before });
    expect(statSync(file).size).toBe(written.bytes);
    // 620 upgrade ids and 1,000 campaign devices, 12 bytes each, plus the header
    expect(written.bytes).toBeGreaterThan((620 + 1000) * 12);
    expect(readdirSync(dir)).toEqual([ARRIVALS_SNAPSHOT_FILE]);

    // Another process, 40 minutes later: a monotonic clock that started again near 0.
    const after = clockAt(before.wallMs() + 40 * MINUTE, 200);
    const result = restored(readArrivalsSnapshot(file, SCOPE, { clock: after }));
    expect(result.ageSeconds).toBe(2400);
    // The never-completed report is not kept: it learns in the next process as it would have here.
    expect([...result.reports.keys()].sort()).toEqual(
      ACCOUNTS.map((a) => reportKey(a, 'UpgradeFailed')).sort(),
    );
    expect(result.campaigns.size).toBe(2);
    expect(result.ids).toBe(2 * (310 + 500));

    const memory = result.reports.get(reportKey(ACCOUNTS[0]!, 'UpgradeFailed'))!;
    expect(memory.counting).toBe(true);
    const first = reportPass(memory, ids(`${ACCOUNTS[0]}-u`, 325), after.monotonicMs());
    expect(first.arrived).toEqual(ids(`${ACCOUNTS[0]}-u`, 325).slice(310));
    // From the end of the last complete pass before the write (61 s after the clock's time then) to the
    // end of this one (1 s after now).
    const since = (40 * MINUTE - MINUTE - 1000 + 1000) / 1000;
    expect(first.observedSeconds).toBeCloseTo(since, 3);

    const campaigns = result.campaigns.get(reportKey(ACCOUNTS[1]!, 'v2'))!;
    const devices = ids('d', 500).map((d) => [d, 'Accepted'] as const);
    const pass = campaignPass(campaigns, after.monotonicMs(), {
      c1: [...devices.slice(0, 490), ['d490', 'UpgradeDeferred'], ['d491', 'UpgradeFailed']],
      c9: [['x1', 'UpgradeFailed']], // a campaign created while the exporter was down counts whole
    });
    expect(pass.arrivals).toEqual({ UpgradeFailed: 2 });
    expect(pass.observedSeconds).toBeCloseTo(since, 3);

    // The counters continue from their values.
    const upgrades = result.counters.upgrades!;
    expect(
      upgrades.find((s) => s.labels.account === ACCOUNTS[0] && s.labels.status === 'UpgradeFailed')
        ?.value,
    ).toBe(10);
    expect(
      result.counters.upgradesObserved!.find(
        (s) => s.labels.account === ACCOUNTS[0] && s.labels.status === 'UpgradeFailed',
      )?.value,
    ).toBe(60);
  });

  it('keeps what a failing walk held back: released when the campaign is read again after the restart', async () => {
    const before = clockAt(1_800_000_000_000, 5_000);
    const state: ArrivalsState = {
      reports: new Map(),
      campaigns: new Map(),
      counters: new EnteredCounters(ACCOUNTS, APIS),
    };
    const memory = new CampaignMemory(50);
    const devices = ids('d', 20).map((d) => [d, 'Accepted'] as const);
    campaignPass(memory, before.monotonicMs(), { c1: devices, c2: devices });
    // c2's walk reads a failed device, then fails: the arrival is held back; c1 completes, so time moves.
    const at = before.monotonicMs() + MINUTE;
    memory.listedCampaigns(['c1', 'c2'], true, at);
    const c1 = memory.walk('c1', at);
    for (const [device, status] of devices) c1.see(device, status);
    c1.end(true);
    const c2 = memory.walk('c2', at);
    c2.see('d0', 'UpgradeFailed');
    c2.end(false);
    expect(Object.fromEntries(memory.endPass(true, at + 1000).arrivals)).toEqual({});
    state.campaigns.set(reportKey(ACCOUNTS[0]!, 'v2'), memory);
    await writeArrivalsSnapshot(file, state, { clock: before });

    const after = clockAt(before.wallMs() + 10 * MINUTE, 200);
    const result = restored(readArrivalsSnapshot(file, SCOPE, { clock: after }));
    const back = result.campaigns.get(reportKey(ACCOUNTS[0]!, 'v2'))!;
    const pass = campaignPass(back, after.monotonicMs(), {
      c1: devices,
      c2: [['d0', 'UpgradeFailed'], ['d1', 'UpgradeFailed'], ...devices.slice(2)],
    });
    // The held-back arrival is released with the new one, and counted once.
    expect(pass.arrivals).toEqual({ UpgradeFailed: 2 });
  });

  it('keeps the forgetting horizon: ids not seen for 24 h are forgotten after the first complete pass', async () => {
    const before = clockAt(1_800_000_000_000, 0);
    const state = learnedState(before, [ACCOUNTS[0]!]);
    await writeArrivalsSnapshot(file, state, { clock: before });
    const after = clockAt(before.wallMs() + 23 * HOUR, 0);
    const memory = restored(
      readArrivalsSnapshot(file, { ...SCOPE, accounts: [ACCOUNTS[0]!] }, { clock: after }),
    ).reports.get(reportKey(ACCOUNTS[0]!, 'UpgradeFailed'))!;
    reportPass(memory, ids('other-', 1), after.monotonicMs());
    expect(memory.size).toBe(311); // seen 23 h ago: remembered
    after.advance(2 * HOUR);
    reportPass(memory, ids('other-', 1), after.monotonicMs());
    expect(memory.size).toBe(1); // 25 h: forgotten
  });

  it('ignores another format version, naming both', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    await writeArrivalsSnapshot(file, learnedState(clock), { clock });
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(2, 8);
    writeFileSync(file, bytes);
    const result = readArrivalsSnapshot(file, SCOPE, { clock });
    expect(result).toEqual({
      kind: 'ignored',
      reason: 'was written by another version of the exporter (format version 2, this one reads 1)',
    });
  });

  it('ignores a truncated file, one with bytes after its end, a damaged one and one of something else', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    await writeArrivalsSnapshot(file, learnedState(clock), { clock });
    const bytes = readFileSync(file);
    const reasons: string[] = [];
    const attempt = (content: Buffer) => {
      writeFileSync(file, content);
      const result = readArrivalsSnapshot(file, SCOPE, { clock });
      reasons.push(result.kind === 'ignored' ? result.reason : result.kind);
    };
    attempt(bytes.subarray(0, bytes.length - 100)); // in the tables
    attempt(bytes.subarray(0, 40)); // in the header
    attempt(bytes.subarray(0, 5));
    attempt(Buffer.concat([bytes, Buffer.from([0])]));
    const flipped = Buffer.from(bytes);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 200) ^ 0xff, flipped.length - 200);
    attempt(flipped);
    attempt(Buffer.from(`{"format":"thingspace-fota-exporter/state"}${' '.repeat(100)}\n`));
    const header = Buffer.from(bytes);
    header.write('X', 16, 'latin1'); // the header's opening brace
    attempt(header);
    expect(reasons).toEqual([
      'is truncated',
      'is truncated',
      'is truncated',
      'has bytes after its end',
      'does not match its checksum (damaged)',
      'is not an arrivals snapshot of this exporter',
      'has a header that is not JSON',
    ]);
  });

  it('restores the memories of configured accounts and APIs only; none configured: ignored', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    await writeArrivalsSnapshot(file, learnedState(clock), { clock });
    const subset = restored(
      readArrivalsSnapshot(
        file,
        { ...SCOPE, accounts: [ACCOUNTS[1]!, '0000000003-00003'] },
        { clock },
      ),
    );
    expect([...subset.reports.keys()]).toEqual([reportKey(ACCOUNTS[1]!, 'UpgradeFailed')]);
    expect([...subset.campaigns.keys()]).toEqual([reportKey(ACCOUNTS[1]!, 'v2')]);
    expect(subset.dropped).toBe(2);
    for (const series of Object.values(subset.counters).flat())
      expect(series.labels.account).toBe(ACCOUNTS[1]);

    const v1Only = restored(readArrivalsSnapshot(file, { ...SCOPE, apis: ['v1'] }, { clock }));
    expect(v1Only.campaigns.size).toBe(0);
    expect(v1Only.counters.campaignDevices).toEqual([]);

    const other = readArrivalsSnapshot(
      file,
      { ...SCOPE, accounts: ['0000000003-00003'] },
      { clock },
    );
    expect(other).toEqual({
      kind: 'ignored',
      reason:
        'holds the id memories of other accounts or APIs (2 account(s), none of them configured with the APIs read now)',
    });
  });

  it('ignores a snapshot older than the 24 h horizon, or from the future', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    await writeArrivalsSnapshot(file, learnedState(clock), { clock });
    const late = clockAt(clock.wallMs() + FORGET_AFTER_MS + 1000, 0);
    expect(readArrivalsSnapshot(file, SCOPE, { clock: late })).toEqual({
      kind: 'ignored',
      ageSeconds: 86_401,
      reason: "is older than the id memory's 24 h horizon (written 24.0 h ago)",
    });
    const justInTime = clockAt(clock.wallMs() + FORGET_AFTER_MS - 1000, 0);
    expect(readArrivalsSnapshot(file, SCOPE, { clock: justInTime }).kind).toBe('restored');
    const back = clockAt(clock.wallMs() - 60_000, 0);
    expect(readArrivalsSnapshot(file, SCOPE, { clock: back })).toEqual({
      kind: 'ignored',
      reason: 'was written 60 s in the future (the wall clock went back?)',
    });
  });

  it('is bounded: a snapshot over the limit is not written, and a file over it is not read', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    const state = learnedState(clock);
    const { bytes } = await writeArrivalsSnapshot(file, state, { clock });
    await expect(
      writeArrivalsSnapshot(file, state, { clock, maxBytes: bytes - 1 }),
    ).rejects.toThrow(SnapshotTooLargeError);
    expect(statSync(file).size).toBe(bytes); // the older one untouched by the refused write
    expect(readdirSync(dir)).toEqual([ARRIVALS_SNAPSHOT_FILE]);
    expect(readArrivalsSnapshot(file, SCOPE, { clock, maxBytes: bytes - 1 })).toEqual({
      kind: 'ignored',
      reason: `takes ${bytes} bytes, more than the ${bytes - 1} allowed`,
    });
    expect(readArrivalsSnapshot(file, SCOPE, { clock, maxBytes: bytes }).kind).toBe('restored');
  });

  it('writes tables of many chunks (200,000 ids) and reads them back entry for entry', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    const state: ArrivalsState = {
      reports: new Map(),
      campaigns: new Map(),
      counters: new EnteredCounters([ACCOUNTS[0]!], ['v1']),
    };
    const memory = new ReportMemory(0);
    memory.beginPass(0);
    for (let i = 0; i < 200_000; i++) memory.see(`id-${i}`, 1);
    memory.endPass(true, 1000);
    state.reports.set(reportKey(ACCOUNTS[0]!, 'Finished'), memory);
    const { bytes } = await writeArrivalsSnapshot(file, state, { clock });
    expect(bytes).toBeGreaterThan(200_000 * 12); // ten chunks written, three read
    const back = restored(readArrivalsSnapshot(file, { ...SCOPE, apis: ['v1'] }, { clock }));
    const copy = back.reports.get(reportKey(ACCOUNTS[0]!, 'Finished'))!;
    expect(copy.size).toBe(200_000);
    copy.beginPass(2000);
    expect(copy.see('id-199999', 1)).toBe(false);
    expect(copy.see('id-200000', 1)).toBe(true);
  });

  it('matches campaign status bits by label: a lower label bound folds unknown statuses into "other"', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    const memory = new CampaignMemory(50);
    campaignPass(memory, 0, { c1: [['d1', 'Accepted']] });
    campaignPass(memory, MINUTE, {
      c1: [
        ['d1', 'Accepted'],
        ['d1', 'StatusA'],
        ['d2', 'StatusB'],
      ],
    });
    const state: ArrivalsState = {
      reports: new Map(),
      campaigns: new Map([[reportKey(ACCOUNTS[0]!, 'v3'), memory]]),
      counters: new EnteredCounters([ACCOUNTS[0]!], ['v3']),
    };
    await writeArrivalsSnapshot(file, state, { clock });
    const scope = { accounts: [ACCOUNTS[0]!], apis: ['v3'] as Api[] };
    const same = restored(readArrivalsSnapshot(file, { ...scope, maxLabelValues: 50 }, { clock }));
    const one = restored(readArrivalsSnapshot(file, { ...scope, maxLabelValues: 1 }, { clock }));
    const next = [
      ['d1', 'Accepted'],
      ['d1', 'StatusA'],
      ['d2', 'StatusB'],
      ['d3', 'StatusB'],
      ['d2', 'StatusC'],
    ] as const;
    expect(
      campaignPass(same.campaigns.get(reportKey(ACCOUNTS[0]!, 'v3'))!, 2 * MINUTE, { c1: next })
        .arrivals,
    ).toEqual({ StatusB: 1, StatusC: 1 });
    // StatusB lost its own bit (only StatusA keeps one): d2 is remembered as "other", so StatusC, also
    // "other" now, does not count for d2 again.
    expect(
      campaignPass(one.campaigns.get(reportKey(ACCOUNTS[0]!, 'v3'))!, 2 * MINUTE, { c1: next })
        .arrivals,
    ).toEqual({ other: 1 });
  });
});

describe('ArrivalsPersistence', () => {
  function recorder() {
    const lines: { level: string; fields: object; message: string }[] = [];
    const log = (level: string) => (fields: object, message: string) =>
      lines.push({ level, fields, message });
    return { lines, info: log('info'), warn: log('warn'), error: log('error') };
  }

  it('writes after a collection that read something or counted, not after one that failed whole', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    const logger = recorder();
    let writes = 0;
    const persistence = new ArrivalsPersistence(file, {
      clock,
      logger,
      onWritten: () => writes++,
    });
    const state = learnedState(clock);
    await persistence.afterCollection(state, true);
    expect(writes).toBe(1);
    expect(persistence.takeWrite()?.bytes).toBe(statSync(file).size);
    expect(persistence.takeWrite()).toBeUndefined();
    await persistence.afterCollection(state, false); // ThingSpace down: nothing new
    expect(writes).toBe(1);
    state.counters.upgrades.add({ account: ACCOUNTS[0]!, status: 'UpgradeFailed' }, 1);
    await persistence.afterCollection(state, false); // a failing pass counted an arrival
    expect(writes).toBe(2);
    expect(logger.lines).toEqual([]);
  });

  it('a failed write is logged, counted, never thrown, and removes the older snapshot', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    const logger = recorder();
    let failures = 0;
    const state = learnedState(clock);
    const ok = new ArrivalsPersistence(file, { clock, logger });
    await ok.afterCollection(state, true);
    const tooSmall = new ArrivalsPersistence(file, {
      clock,
      logger,
      maxBytes: 100,
      onWriteFailed: () => failures++,
    });
    await tooSmall.afterCollection(state, true);
    expect(failures).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.level).toBe('error');
    expect(logger.lines[0]!.fields).toMatchObject({ olderSnapshotRemoved: true });
    expect(String((logger.lines[0]!.fields as { error: string }).error)).toMatch(
      /more than the 100 allowed/,
    );

    const gone = new ArrivalsPersistence(join(dir, 'missing', ARRIVALS_SNAPSHOT_FILE), {
      clock,
      logger,
      onWriteFailed: () => failures++,
    });
    await gone.afterCollection(state, true);
    expect(failures).toBe(2);
    expect(logger.lines[1]!.fields).toMatchObject({ error: 'ENOENT' });
    // A failure is retried at the next collection, even if nothing new was read.
    await gone.afterCollection(state, false);
    expect(failures).toBe(3);
  });

  it('restore: one log line; restored counters continue, memories replace the learning pass', async () => {
    const clock = clockAt(1_800_000_000_000, 0);
    await writeArrivalsSnapshot(file, learnedState(clock), { clock });
    const later = clockAt(clock.wallMs() + 10 * MINUTE, 0);
    const logger = recorder();
    const target: ArrivalsState = {
      reports: new Map(),
      campaigns: new Map(),
      counters: new EnteredCounters(ACCOUNTS, APIS),
    };
    new ArrivalsPersistence(file, { clock: later, logger }).restore(target, SCOPE);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({
      level: 'info',
      fields: { reports: 2, campaignApis: 2, dropped: 0, ageSeconds: 600 },
    });
    expect(target.reports.get(reportKey(ACCOUNTS[0]!, 'UpgradeFailed'))!.counting).toBe(true);
    const values = new Map(
      [...target.counters.upgrades.entries()].map((s) => [
        `${s.labels.account}/${s.labels.status}`,
        s.value,
      ]),
    );
    expect(values.get(`${ACCOUNTS[1]}/UpgradeFailed`)).toBe(10);
    expect(values.get(`${ACCOUNTS[1]}/Queued`)).toBe(0);

    for (const [content, level] of [
      [Buffer.from('garbage'), 'warn'],
      [undefined, 'info'],
    ] as const) {
      if (content) writeFileSync(file, content);
      else rmSync(file);
      const quiet = recorder();
      const fresh: ArrivalsState = {
        reports: new Map(),
        campaigns: new Map(),
        counters: new EnteredCounters(ACCOUNTS, APIS),
      };
      new ArrivalsPersistence(file, { clock: later, logger: quiet }).restore(fresh, SCOPE);
      expect(quiet.lines.map((l) => l.level)).toEqual([level]);
      expect(fresh.reports.size).toBe(0);
    }
  });

  it('leftovers of an interrupted write are removed at start-up and never read', async () => {
    writeFileSync(`${file}.tmp-123-1`, 'half a snapshot');
    const clock = clockAt(1_800_000_000_000, 0);
    expect(readArrivalsSnapshot(file, SCOPE, { clock })).toEqual({ kind: 'absent' });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('CounterFamily dump and restore', () => {
  it('restores as the publish after the save left it: never below what was served', () => {
    const family = new EnteredCounters([ACCOUNTS[0]!], ['v3']).campaignDevices;
    const known = { account: ACCOUNTS[0]!, api: 'v3', device_status: 'UpgradeFailed' };
    const unknown = { account: ACCOUNTS[0]!, api: 'v3', device_status: 'StatusA' };
    family.add(known, 2);
    family.publish();
    family.add(known, 3); // counted by the collection whose write comes before its publish
    family.add(unknown, 4); // a new label set: published at 0 first, its 4 one publish later
    const saved = family.dump();
    const copy = new EnteredCounters([ACCOUNTS[0]!], ['v3']).campaignDevices;
    copy.restore(saved);
    const values = () =>
      Object.fromEntries([...copy.entries()].map((e) => [e.labels.device_status, e.value]));
    expect(values()).toMatchObject({ UpgradeFailed: 5, StatusA: 0 });
    copy.publish();
    expect(values()).toMatchObject({ UpgradeFailed: 5, StatusA: 4 });
  });
});

describe('IdTable entries', () => {
  it('writeEntries stops at a full buffer and continues from where it stopped', () => {
    const table = new IdTable();
    for (let i = 1; i <= 100; i++) table.set(i * 1_000_003, i);
    const out = Buffer.alloc(12 * 30);
    const copy = new IdTable();
    let from = 0;
    let rounds = 0;
    while (from < table.slots) {
      const { next, end } = table.writeEntries(from, out, 0);
      expect(copy.readEntries(out.subarray(0, end))).toBe(true);
      from = next;
      rounds++;
    }
    expect(rounds).toBe(4);
    expect(copy.size).toBe(100);
    for (let i = 1; i <= 100; i++) expect(copy.get(i * 1_000_003)).toBe(i);
    const bad = Buffer.alloc(12);
    bad.writeDoubleLE(0.5, 0);
    expect(copy.readEntries(bad)).toBe(false);
  });
});
