/**
 * The arrivals journal (bounds, filters, paging), the entries made from what a pass read, the query
 * parser (every 400 names its parameter), the CSV, the page's escaping, and the routes on and off.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CHUNK } from '../../src/arrivals/columns.js';
import { campaignArrivals, upgradeArrivals } from '../../src/arrivals/details.js';
import {
  ArrivalJournal,
  MAX_TEXT_LENGTH,
  keptText,
  toArrival,
  type Arrival,
  type ArrivalFilter,
  type Kept,
  type Origin,
} from '../../src/arrivals/journal.js';
import type { ListedCampaign } from '../../src/campaigns/aggregate.js';
import { ReasonLabels } from '../../src/labels/normalise.js';
import { createLogger, SecretScrubber } from '../../src/log.js';
import { createApp, type MetricsSource } from '../../src/server/app.js';
import {
  BadParameter,
  decodeCursor,
  encodeCursor,
  parseArrivalsQuery,
  parseSince,
  renderArrivalsPage,
  renderCsv,
} from '../../src/server/arrivals.js';

const NOW = Date.UTC(2026, 0, 2, 12, 0, 0);
const HOUR = 3_600_000;

const ANY: ArrivalFilter = {
  statuses: null,
  account: null,
  api: null,
  sinceMs: 0,
  firmwareTo: null,
  reason: null,
};

function origin(partial: Partial<Origin> = {}): Origin {
  return {
    account: 'acct-1',
    api: 'v1',
    upgradeId: 'u-1',
    campaignId: null,
    campaignName: null,
    firmwareFrom: null,
    firmwareTo: 'FW-2',
    firstSeenMs: NOW,
    ...partial,
  };
}

function kept(deviceId: string | null, partial: Partial<Kept> = {}, from = origin()): Kept {
  return {
    origin: from,
    status: 'UpgradeFailed',
    deviceId,
    deviceStatus: deviceId === null ? null : 'UpgradeFailed',
    resultReason: deviceId === null ? null : 'Device not found',
    reasonLabel: deviceId === null ? null : 'Device not found',
    ...partial,
  };
}

function journal(options: { maxEntries?: number; retentionMs?: number } = {}) {
  let now = NOW;
  const drops: [string, number][] = [];
  const j = new ArrivalJournal({
    maxEntries: options.maxEntries ?? 100_000,
    retentionMs: options.retentionMs ?? 24 * HOUR,
    now: () => now,
    onDropped: (bound, count) => drops.push([bound, count]),
  });
  return {
    j,
    drops,
    setNow: (ms: number) => {
      now = ms;
    },
  };
}

const ids = (page: { arrivals: readonly Arrival[] }) => page.arrivals.map((k) => k.deviceId);

describe('ArrivalJournal', () => {
  it('shows a pass only once published, with the counters, newest first', () => {
    const { j } = journal();
    j.add([kept('d1'), kept('d2')]);
    expect(j.list(ANY, 10).arrivals).toEqual([]);
    j.publish();
    j.add([kept('d3')]);
    j.publish();
    expect(ids(j.list(ANY, 10))).toEqual(['d3', 'd2', 'd1']);
    expect(j.size).toBe(3);
  });

  it('pages with a cursor: every match once, in order, and next null on the last page', () => {
    const { j } = journal();
    j.add(Array.from({ length: 25 }, (_, i) => kept(`d${i}`)));
    j.publish();
    const seen: (string | null)[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const page = j.list(ANY, 10, before);
      seen.push(...ids(page));
      before = page.next;
      pages++;
    } while (before !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `d${24 - i}`));
    // A page that ends exactly on the last match says so.
    expect(j.list(ANY, 25).next).toBeNull();
    expect(j.list(ANY, 24).next).not.toBeNull();
  });

  it('filters by status, account, api, since, target firmware (raw or label) and reason label', () => {
    const { j } = journal();
    const campaign = origin({
      api: 'v3',
      account: 'acct-2',
      upgradeId: null,
      campaignId: 'c-1',
      firmwareTo: null,
      firstSeenMs: NOW - 2 * HOUR,
    });
    j.add([
      kept('v1-failed'),
      kept('v1-queued', { status: 'Queued', reasonLabel: 'success' }),
      kept(
        'v3-rejected',
        { status: 'DeviceRejected', reasonLabel: 'Rejected <n> times' },
        campaign,
      ),
    ]);
    j.publish();
    const only = (filter: Partial<ArrivalFilter>) => ids(j.list({ ...ANY, ...filter }, 10));
    expect(only({ statuses: new Set(['UpgradeFailed', 'DeviceRejected']) })).toEqual([
      'v3-rejected',
      'v1-failed',
    ]);
    expect(only({ account: 'acct-2' })).toEqual(['v3-rejected']);
    expect(only({ api: 'v1' })).toEqual(['v1-queued', 'v1-failed']);
    expect(only({ sinceMs: NOW - HOUR })).toEqual(['v1-queued', 'v1-failed']);
    expect(only({ firmwareTo: 'FW-2' })).toEqual(['v1-queued', 'v1-failed']);
    expect(only({ firmwareTo: 'unknown' })).toEqual(['v3-rejected']);
    expect(only({ reason: 'Rejected <n> times' })).toEqual(['v3-rejected']);
    expect(only({ account: 'acct-3' })).toEqual([]);
  });

  it('groups every match by account, firmware and reason', () => {
    const { j } = journal();
    j.add([kept('a'), kept('b'), kept(null), kept('c', {}, origin({ account: 'acct-2' }))]);
    j.publish();
    const groups = j.groups(ANY);
    expect(groups.total).toBe(4);
    // The page sorts the groups by count: the maps' order is not part of the contract.
    expect(groups.accounts).toEqual(
      new Map([
        ['acct-1', 3],
        ['acct-2', 1],
      ]),
    );
    expect(groups.firmware).toEqual(new Map([['FW-2', 4]]));
    expect(groups.reasons).toEqual(
      new Map([
        ['Device not found', 3],
        ['(no devices)', 1],
      ]),
    );
  });

  it('drops the oldest beyond max-entries, counts them, and a cursor into them ends the list', () => {
    const { j, drops } = journal({ maxEntries: 5 });
    j.add([kept('d0'), kept('d1'), kept('d2')]);
    j.publish();
    const first = j.list(ANY, 1);
    expect(ids(first)).toEqual(['d2']);
    j.add([kept('d3'), kept('d4'), kept('d5'), kept('d6')]);
    j.publish();
    expect(ids(j.list(ANY, 10))).toEqual(['d6', 'd5', 'd4', 'd3', 'd2']);
    expect(j.dropped).toEqual({ retention: 0, max_entries: 2 });
    expect(j.droppedTotal).toBe(2);
    expect(drops).toEqual([['max_entries', 2]]);
    // The cursor taken before the drop still points after d2: what is left of it, nothing older.
    expect(ids(j.list(ANY, 10, first.next))).toEqual([]);
  });

  it('makes at most max-entries entries a collection, however many it counts; the rest are dropped at once', () => {
    const { j, drops } = journal({ maxEntries: 10 });
    // last collection's entries
    j.add(Array.from({ length: 4 }, (_, i) => kept(`old${i}`)));
    j.publish();
    // a collection that counts 1,000 arrivals over several passes: only 10 may be made
    let made = 0;
    for (let p = 0; p < 5; p++) {
      const granted = j.take(200);
      made += granted;
      j.add(Array.from({ length: granted }, (_, i) => kept(`p${p}-${i}`)));
    }
    expect(made).toBe(10);
    expect(j.take(1)).toBe(0);
    j.publish();
    // the older collection's entries go first; of this one, the first read are kept
    expect(ids(j.list(ANY, 100))).toEqual([
      'p0-9',
      'p0-8',
      'p0-7',
      'p0-6',
      'p0-5',
      'p0-4',
      'p0-3',
      'p0-2',
      'p0-1',
      'p0-0',
    ]);
    expect(j.dropped.max_entries).toBe(1001 - 10 + 4);
    expect(drops.reduce((n, [, count]) => n + count, 0)).toBe(995);
    // the next collection has room again
    expect(j.take(3)).toBe(3);
  });

  it('a collection bringing new entries pushes the oldest out as it writes, never showing the new early', () => {
    const { j } = journal({ maxEntries: 10 });
    j.add(Array.from({ length: 10 }, (_, i) => kept(`old${i}`)));
    j.publish();
    j.add(Array.from({ length: 4 }, (_, i) => kept(`new${i}`)));
    expect(ids(j.list(ANY, 100))).toEqual(['old9', 'old8', 'old7', 'old6', 'old5', 'old4']);
    expect(j.dropped.max_entries).toBe(4);
    j.publish();
    expect(ids(j.list(ANY, 100))).toEqual([
      'new3',
      'new2',
      'new1',
      'new0',
      'old9',
      'old8',
      'old7',
      'old6',
      'old5',
      'old4',
    ]);
    expect(j.dropped.max_entries).toBe(4);
  });

  it('holds about one cap of entries, not two, while a collection brings a full cap', () => {
    const cap = 4 * CHUNK;
    const { j } = journal({ maxEntries: cap });
    const fill = (prefix: string) => {
      const granted = j.take(cap);
      for (let i = 0; i < granted; i += 100)
        j.add(
          Array.from({ length: Math.min(100, granted - i) }, (_, k) => kept(`${prefix}${i + k}`)),
        );
    };
    fill('a');
    j.publish();
    const full = j.footprint.bytes;
    fill('b');
    // Without pushing out as it writes, the columns would hold both caps until publish: twice `full`.
    expect(j.footprint.bytes).toBeLessThanOrEqual(full * 1.3);
    j.publish();
    expect(j.size).toBe(cap);
    expect(j.dropped.max_entries).toBe(cap);
  });

  it('drops what is older than the retention, at publish and when read', () => {
    const { j, drops, setNow } = journal({ retentionMs: HOUR });
    j.add([kept('old', {}, origin({ firstSeenMs: NOW - 2 * HOUR })), kept('new')]);
    j.publish();
    expect(ids(j.list(ANY, 10))).toEqual(['new']);
    setNow(NOW + 2 * HOUR);
    expect(ids(j.list(ANY, 10))).toEqual([]);
    expect(j.dropped).toEqual({ retention: 2, max_entries: 0 });
    expect(drops).toEqual([
      ['retention', 1],
      ['retention', 1],
    ]);
  });

  it('keeps cursors valid across the compaction of dropped entries', () => {
    const { j } = journal({ maxEntries: 1200 });
    const batch = (prefix: string, n: number) => {
      j.add(Array.from({ length: n }, (_, i) => kept(`${prefix}${i}`)));
      j.publish();
    };
    batch('a', 1200);
    batch('b', 600);
    const cursor = j.list(ANY, 1).next;
    batch('c', 700); // drops 700 more: most of the array is dropped entries, so it is compacted
    expect(j.size).toBe(1200);
    expect(ids(j.list(ANY, 1, cursor))).toEqual(['b598']);
    expect(ids(j.list(ANY, 1))).toEqual(['c699']);
    const oldest = j.list(ANY, 1200).arrivals.at(-1);
    expect(oldest?.deviceId).toBe('b100');
  });
});

describe('entries from what a pass read', () => {
  const reasons = new ReasonLabels();

  it('one per device entry of an upgrade, one without a device when it has none', () => {
    const entries = upgradeArrivals(
      reasons,
      'acct-1',
      'UpgradeFailed',
      {
        id: 'u-1',
        firmwareTo: 'FW-2',
        deviceList: [
          { deviceId: '990000862471854', status: 'UpgradeFailed', resultReason: 'Failed 3 times' },
          { deviceId: '990000862471855', status: 'UpgradeSuccess' },
        ],
      },
      NOW,
    );
    expect(entries.map(toArrival)).toEqual([
      {
        account: 'acct-1',
        api: 'v1',
        status: 'UpgradeFailed',
        upgradeId: 'u-1',
        campaignId: null,
        campaignName: null,
        deviceId: '990000862471854',
        deviceStatus: 'UpgradeFailed',
        resultReason: 'Failed 3 times',
        reasonLabel: 'Failed <n> times',
        firmwareFrom: null,
        firmwareTo: 'FW-2',
        firstSeen: '2026-01-02T12:00:00.000Z',
      },
      expect.objectContaining({
        deviceId: '990000862471855',
        resultReason: null,
        reasonLabel: 'none',
      }),
    ]);
    // The device entries of one upgrade share one origin.
    expect(entries[0]!.origin).toBe(entries[1]!.origin);
    const empty = upgradeArrivals(reasons, 'acct-1', 'Queued', { id: 'u-2' }, NOW);
    expect(empty.map(toArrival)).toEqual([
      expect.objectContaining({ upgradeId: 'u-2', deviceId: null, reasonLabel: null }),
    ]);
  });

  it('a campaign device counts under the label the campaign memory counted it with', () => {
    const campaign: ListedCampaign = {
      id: 'c-1',
      name: 'Wave 2',
      status: 'CampaignScheduled',
      firmwareFrom: '2.3.7',
      firmwareTo: '2.4.1',
    };
    const entries = campaignArrivals(
      reasons,
      'acct-1',
      'v2',
      [
        { campaign, device: { deviceId: 350000000000584, status: 'DeviceRejected' } },
        { campaign, device: { deviceId: 'x' } },
        { campaign, device: { deviceId: 'y', status: 'SomethingNew' } },
      ],
      ['DeviceRejected', 'unknown', 'other'],
      NOW,
    );
    expect(entries.map(toArrival)).toEqual([
      expect.objectContaining({
        api: 'v2',
        status: 'DeviceRejected',
        upgradeId: null,
        campaignId: 'c-1',
        campaignName: 'Wave 2',
        deviceId: '350000000000584',
        firmwareFrom: '2.3.7',
        firmwareTo: '2.4.1',
      }),
      expect.objectContaining({ status: 'unknown', deviceStatus: null }),
      // past the bound on unknown statuses the counter says "other"; the raw status stays in deviceStatus
      expect.objectContaining({ status: 'other', deviceStatus: 'SomethingNew' }),
    ]);
  });

  it('cuts long texts on a code point, writes numbers out, and keeps no empty text', () => {
    const long = `${'x'.repeat(MAX_TEXT_LENGTH - 1)}🔌tail`;
    const cut = keptText(long)!;
    expect([...cut]).toHaveLength(MAX_TEXT_LENGTH);
    expect(cut.endsWith('🔌')).toBe(true);
    expect(keptText('')).toBeNull();
    expect(keptText(undefined)).toBeNull();
    expect(keptText(42)).toBe('42');
  });
});

describe('the query', () => {
  const none = { hasStatus: (_status: string) => false };
  const parse = (query: string, journal = none) =>
    parseArrivalsQuery(new URLSearchParams(query), NOW, journal);
  const refused = (query: string): { parameter: string; message: string } => {
    try {
      parse(query);
    } catch (error) {
      if (error instanceof BadParameter)
        return { parameter: error.parameter, message: error.message };
      throw error;
    }
    throw new Error(`${query} was accepted`);
  };

  it('defaults: every status, the last hour, 1000 rows, JSON', () => {
    expect(parse('')).toEqual({
      filter: { ...ANY, sinceMs: NOW - HOUR },
      limit: 1000,
      before: null,
      format: 'json',
    });
    // A form sends empty fields: they are absent, not empty filters.
    expect(parse('account=&api=&since=&firmware_to=&reason=&limit=&cursor=')).toEqual(parse(''));
  });

  it('reads every parameter', () => {
    const cursor = encodeCursor(1234);
    expect(
      parse(
        `status=UpgradeFailed&status=DeviceRejected&account=acct-1&api=v3&since=2026-01-02T10:00:00Z&firmware_to=FW&reason=Device+not+found&limit=10000&cursor=${cursor}&format=csv`,
      ),
    ).toEqual({
      filter: {
        statuses: new Set(['UpgradeFailed', 'DeviceRejected']),
        account: 'acct-1',
        api: 'v3',
        sinceMs: NOW - 2 * HOUR,
        firmwareTo: 'FW',
        reason: 'Device not found',
      },
      limit: 10_000,
      before: 1234,
      format: 'csv',
    });
  });

  it('takes RFC 3339 with an offset or fractions, and Unix seconds', () => {
    expect(parseSince('2026-01-02T13:00:00+01:00')).toBe(NOW);
    expect(parseSince('2026-01-02T12:00:00.250Z')).toBe(NOW + 250);
    expect(parseSince(String(NOW / 1000))).toBe(NOW);
    expect(parseSince('0')).toBe(0);
  });

  it('accepts a campaign device status met since start-up', () => {
    expect(refused('status=UpgradeDeferred').parameter).toBe('status');
    expect(
      parse('status=UpgradeDeferred', { hasStatus: (s: string) => s === 'UpgradeDeferred' }).filter
        .statuses,
    ).toEqual(new Set(['UpgradeDeferred']));
  });

  it.each([
    ['status=Exploded', 'status'],
    ['status=upgradefailed', 'status'],
    ['api=v4', 'api'],
    ['api=V1', 'api'],
    ['since=yesterday', 'since'],
    ['since=2026-01-02', 'since'],
    ['since=2026-13-02T00:00:00Z', 'since'],
    ['since=-5', 'since'],
    ['limit=0', 'limit'],
    ['limit=10001', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=1.5', 'limit'],
    ['cursor=nonsense', 'cursor'],
    [`cursor=${Buffer.from('a1:-3').toString('base64url')}`, 'cursor'],
    ['cursor=%3Cscript%3E', 'cursor'],
    ['format=xml', 'format'],
    ['account=a&account=b', 'account'],
    [`account=${'x'.repeat(1001)}`, 'account'],
    ['statuses=UpgradeFailed', 'statuses'],
  ])('%s is a 400 naming %s', (query, parameter) => {
    const error = refused(query);
    expect(error.parameter).toBe(parameter);
    expect(error.message).toContain(parameter);
  });

  it('round-trips its cursor', () => {
    expect(decodeCursor(encodeCursor(0))).toBe(0);
    expect(decodeCursor(encodeCursor(987654321))).toBe(987654321);
  });
});

describe('CSV', () => {
  it('quotes what needs it, leaves null empty, and defuses spreadsheet formulas', () => {
    const csv = renderCsv([
      toArrival(
        kept('d1', { resultReason: 'Line one\nline "two", three', reasonLabel: '=HYPERLINK("x")' }),
      ),
      toArrival(kept(null)),
    ]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(
      'account,api,status,upgradeId,campaignId,campaignName,deviceId,deviceStatus,resultReason,reasonLabel,firmwareFrom,firmwareTo,firstSeen',
    );
    expect(csv).toContain(
      `acct-1,v1,UpgradeFailed,u-1,,,d1,UpgradeFailed,"Line one\nline ""two"", three","'=HYPERLINK(""x"")",,FW-2,2026-01-02T12:00:00.000Z\r\n`,
    );
    expect(lines[lines.length - 2]).toBe(
      'acct-1,v1,UpgradeFailed,u-1,,,,,,,,FW-2,2026-01-02T12:00:00.000Z',
    );
    expect(csv.endsWith('\r\n')).toBe(true);
  });
});

describe('the page', () => {
  it('escapes every value ThingSpace sends', () => {
    const { j } = journal();
    const hostile = origin({
      account: 'acct"><img src=x onerror=alert(1)>',
      firmwareTo: '<b>FW</b>',
    });
    j.add([
      kept(
        '<i>dev</i>',
        { resultReason: '<script>alert(1)</script>', reasonLabel: '<script>' },
        hostile,
      ),
    ]);
    j.publish();
    const html = renderArrivalsPage(
      j,
      parseArrivalsQuery(new URLSearchParams('since=0'), NOW, j),
      j.statuses(),
    );
    expect(html).not.toMatch(/<script|<img|<b>|<i>/i);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('acct&#34;&#62;&#60;img src=x onerror=alert(1)&#62;');
    // One row, grouped under its account, firmware and reason.
    expect(html.match(/<tr><td>2026-01-02T12:00:00.000Z/g)).toHaveLength(1);
    expect(html).toContain('<strong>1</strong> arrivals match');
  });
});

describe('routes', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function start(arrivals: ArrivalJournal | undefined): Promise<string> {
    const source: MetricsSource = { ready: true, snapshot: undefined, metrics: async () => '' };
    const logger = createLogger('info', new SecretScrubber(), { write: () => undefined });
    const server = createServer(
      createApp(source, {
        telemetryPath: '/metrics',
        version: '1',
        logger,
        arrivals,
        now: () => NOW,
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('serves the API and the page, linked from the landing page', async () => {
    const { j } = journal();
    j.add([kept('d1')]);
    j.publish();
    const base = await start(j);
    const api = await fetch(`${base}/api/v1/arrivals?since=0`);
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual({ arrivals: [toArrival(kept('d1'))], next: null, dropped: 0 });
    const bad = await fetch(`${base}/api/v1/arrivals?limit=0&status=UpgradeFailed`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'limit must be a whole number from 1 to 10000, got "0"',
      parameter: 'limit',
    });
    const page = await fetch(`${base}/arrivals`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await fetch(`${base}/arrivals?since=never`)).status).toBe(400);
    expect(await (await fetch(`${base}/`)).text()).toContain('href="arrivals"');
  });

  it('with --arrivals.enabled=false: 404 for both, and the landing page does not link them', async () => {
    const base = await start(undefined);
    expect((await fetch(`${base}/api/v1/arrivals`)).status).toBe(404);
    expect((await fetch(`${base}/arrivals`)).status).toBe(404);
    expect(await (await fetch(`${base}/`)).text()).not.toContain('arrivals');
  });
});
