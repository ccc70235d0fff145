/**
 * The columns behind the arrivals journal: rows read back as written across chunk boundaries, positions
 * that stay valid while chunks are freed, texts released with the last chunk using them, and the
 * selection judged per chunk.
 */
import { ArrivalColumns, CHUNK, type Row } from '../../src/arrivals/columns.js';

const NOW = Date.parse('2026-01-02T12:00:00Z');

function row(n: number, partial: Partial<Row> = {}): Row {
  return {
    account: `acct-${n % 3}`,
    api: 'v1',
    status: n % 2 === 0 ? 'UpgradeFailed' : 'Finished',
    upgradeId: `u-${Math.floor(n / 10)}`,
    campaignId: null,
    campaignName: null,
    deviceId: `99000086${String(n).padStart(7, '0')}`,
    deviceStatus: 'UpgradeFailed',
    // Distinct reasons, and one that repeats: both are kept as bytes, the repeated one once a chunk.
    resultReason: n % 5 === 0 ? 'Device not found' : `Device ${n} not reachable`,
    reasonLabel: 'Device <n> not reachable',
    firmwareFrom: null,
    firmwareTo: 'FW-2',
    firstSeenMs: NOW + n,
    ...partial,
  };
}

const ANY = { sinceMs: 0, fields: [] };

describe('ArrivalColumns', () => {
  it('reads every row back as written, across chunks', () => {
    const columns = new ArrivalColumns();
    const count = 2 * CHUNK + 17;
    for (let n = 0; n < count; n++) columns.append(row(n));
    expect(columns.written).toBe(count);
    for (const n of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, count - 1])
      expect(columns.row(n)).toEqual(row(n));
  });

  it('keeps nulls and texts outside ASCII', () => {
    const columns = new ArrivalColumns();
    const odd = row(0, {
      api: 'v3',
      upgradeId: null,
      campaignId: 'c-1',
      campaignName: 'Vague 2 — été 🔌',
      deviceId: 'ÄÖÜ-𝔡𝔢𝔳-1',
      resultReason: '<script>alert(1)</script>',
      reasonLabel: null,
      firmwareTo: null,
      firstSeenMs: 1_700_000_000_123,
    });
    const none = row(1, { deviceId: null, deviceStatus: null, resultReason: null });
    columns.append(odd);
    columns.append(none);
    expect(columns.row(0)).toEqual(odd);
    expect(columns.row(1)).toEqual(none);
  });

  it("an upgrade's device entries read back its id, the next upgrade's its own", () => {
    const columns = new ArrivalColumns();
    for (let n = 0; n < 30; n++) columns.append(row(n));
    const ids = Array.from({ length: 30 }, (_, n) => columns.row(n).upgradeId);
    expect(new Set(ids)).toEqual(new Set(['u-0', 'u-1', 'u-2']));
    expect(ids[9]).toBe('u-0');
    expect(ids[10]).toBe('u-1');
  });

  it('positions stay valid while the chunks before them are freed', () => {
    const columns = new ArrivalColumns();
    for (let n = 0; n < 3 * CHUNK; n++) columns.append(row(n));
    const bytes = columns.bytes;
    columns.releaseBefore(CHUNK + 5); // frees the first chunk only: the second still holds kept rows
    expect(columns.bytes).toBeLessThan(bytes);
    expect(columns.row(CHUNK + 5)).toEqual(row(CHUNK + 5));
    expect(columns.row(3 * CHUNK - 1)).toEqual(row(3 * CHUNK - 1));
    columns.append(row(3 * CHUNK));
    expect(columns.row(3 * CHUNK)).toEqual(row(3 * CHUNK));
  });

  it('frees a text with the last chunk that uses it, so unique texts do not pile up', () => {
    const columns = new ArrivalColumns();
    // Every row has its own campaign name: a text of the shared table that never repeats.
    for (let n = 0; n < 10 * CHUNK; n++) {
      columns.append(row(n, { campaignName: `Wave ${n}` }));
      if (n % CHUNK === 0) columns.releaseBefore(n - CHUNK);
    }
    // Shared texts (accounts, statuses, firmware, the label) plus at most three chunks' own names.
    expect(columns.texts).toBeLessThan(3 * CHUNK + 20);
    columns.releaseBefore(10 * CHUNK);
    expect(columns.texts).toBe(0);
    expect(columns.bytes).toBe(0);
  });

  it('selects newest first, by first-seen time and by each field, within [from, to)', () => {
    const columns = new ArrivalColumns();
    const count = CHUNK + 100;
    for (let n = 0; n < count; n++) columns.append(row(n));
    const select = (selection: Parameters<ArrivalColumns['select']>[0], from = 0, to = count) => [
      ...columns.select(selection, from, to),
    ];
    expect(select(ANY, CHUNK - 2, CHUNK + 2)).toEqual([CHUNK + 1, CHUNK, CHUNK - 1, CHUNK - 2]);
    expect(select({ sinceMs: NOW + count - 3, fields: [] })).toEqual([
      count - 1,
      count - 2,
      count - 3,
    ]);
    const failedOfAcct1 = select({
      sinceMs: 0,
      fields: [
        ['status', (text) => text === 'UpgradeFailed'],
        ['account', (text) => text === 'acct-1'],
      ],
    });
    const expected = Array.from({ length: count }, (_, n) => n)
      .filter((n) => n % 2 === 0 && n % 3 === 1)
      .reverse();
    expect(failedOfAcct1).toEqual(expected);
    expect(select({ sinceMs: 0, fields: [['campaignId', (text) => text !== null]] })).toEqual([]);
  });

  it('counts the selected rows by the keys asked for', () => {
    const columns = new ArrivalColumns();
    for (let n = 0; n < CHUNK + 2; n++) columns.append(row(n));
    const { total, counts } = columns.countBy(
      { sinceMs: 0, fields: [['status', (text) => text === 'Finished']] },
      0,
      CHUNK + 2,
      [(text) => text('account')!, (text) => text('firmwareTo') ?? 'unknown'],
    );
    expect(total).toBe((CHUNK + 2) / 2);
    const byAccount = [0, 1, 2].map(
      (a) =>
        Array.from({ length: CHUNK + 2 }, (_, n) => n).filter((n) => n % 2 === 1 && n % 3 === a)
          .length,
    );
    expect(counts[0]).toEqual(
      new Map([
        ['acct-0', byAccount[0]],
        ['acct-1', byAccount[1]],
        ['acct-2', byAccount[2]],
      ]),
    );
    expect(counts[1]).toEqual(new Map([['FW-2', total]]));
  });
});
