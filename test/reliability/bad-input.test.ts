/**
 * Bad input at process level, beyond what test/unit/config.test.ts and test/cli/cli.test.ts already hold:
 * hostile account names and base URLs from flags and from the environment are refused at start-up with exit
 * code 2 and one line naming the setting (never echoing credentials found in a URL), and label values taken
 * from ThingSpace's free text are bounded in length and in number on /metrics.
 * (Answers from ThingSpace that fail validation are the parse rows of faults.test.ts.)
 */
import { jest } from '@jest/globals';
import type { Sample } from '../support/exposition.js';
import {
  expectEverythingExact,
  scrape,
  truthNow,
  value,
  waitForCollection,
} from '../support/faults.js';
import { EXPORTER_BIN, killAll, runProcess, startExporterProcess } from '../support/process.js';
import { BUSINESS_METRICS, SIMULATOR_ENV, startSimulatorProcess } from '../support/simulator.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';

jest.setTimeout(60_000);
afterEach(() => killAll());

async function refused(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await runProcess(EXPORTER_BIN, args, {
    ...SIMULATOR_ENV,
    ...env,
  });
  return { code, stdout, stderr, lines: stderr.trim().split('\n') };
}

describe('account names', () => {
  test.each([
    '../etc',
    '..',
    '.',
    'a/b',
    'a%2fb',
    'a?b=1',
    'a#b',
    'a b',
    '-rf',
    '_x',
    'ü-123',
    '0242078689-00001\u0000',
    'x'.repeat(65),
    '0242078689-00001,0242078689-00001',
    ',,,',
  ])('%j is refused: exit 2, one line naming --thingspace.accounts', async (accounts) => {
    for (const [args, env] of [
      [[`--thingspace.accounts=${accounts.replace('\u0000', '')}`], {}],
      [[], { THINGSPACE_ACCOUNTS: accounts.replace('\u0000', '') }],
    ] as const) {
      if (accounts.includes('\u0000')) continue; // cannot be passed to a process at all
      const { code, lines, stdout } = await refused([...args], env);
      expect(code).toBe(2);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('--thingspace.accounts (THINGSPACE_ACCOUNTS)');
      expect(stdout).toBe('');
    }
  });

  // A newline in an echoed value would split the one-line error, and the second line could pass for a
  // forged JSON log line: echoed values are JSON-quoted.
  test.each([
    ['THINGSPACE_ACCOUNTS', '0242078689-00001\n{"level":"error","msg":"forged"}'],
    ['THINGSPACE_BASE_URL', 'http://x\n{"level":"error","msg":"forged"}'],
  ])('a newline inside %s is refused and the error stays on one line', async (name, raw) => {
    const { code, lines } = await refused([], {
      THINGSPACE_ACCOUNTS: '0242078689-00001',
      [name]: raw,
    });
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
  });
});

describe('base URLs', () => {
  test.each([
    ['ftp://thingspace.verizon.com', 'http(s)'],
    ['file:///etc/passwd', 'http(s)'],
    ['javascript:alert(1)', 'http(s)'],
    ['http://10.1.2.3', 'loopback'],
    ['http://thingspace.verizon.com', 'loopback'],
    ['https://thingspace.verizon.com/?debug=1', 'query'],
    ['https://thingspace.verizon.com/#x', 'fragment'],
    ['https://user@thingspace.verizon.com', 'credentials'],
    ['', 'URL'],
    ['not a url', 'URL'],
    ['http://[::1', 'URL'],
  ])('%j is refused: exit 2, one line naming --thingspace.base-url', async (url, why) => {
    const { code, lines, stdout } = await refused([
      '--thingspace.accounts=0242078689-00001',
      `--thingspace.base-url=${url}`,
    ]);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('--thingspace.base-url (THINGSPACE_BASE_URL)');
    expect(lines[0]).toContain(why);
    expect(stdout).toBe('');
  });

  test('credentials in a well-formed base URL are refused without being echoed', async () => {
    const { code, stderr } = await refused([
      '--thingspace.accounts=0242078689-00001',
      '--thingspace.base-url=https://svc:url-password-Tq5@thingspace.verizon.com',
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain('credentials');
    expect(stderr).not.toContain('url-password-Tq5');
  });

  // A base URL that does not parse is not echoed at all: its userinfo may hold a password.
  test('credentials in a malformed base URL are not echoed either', async () => {
    const { code, stderr } = await refused([
      '--thingspace.accounts=0242078689-00001',
      '--thingspace.base-url=https://svc:url-password-Tq5@thingspace.verizon.com:99999',
    ]);
    expect(code).toBe(2);
    expect(stderr).not.toContain('url-password-Tq5');
  });
});

test.each([
  ['--collector.max-label-values=0', '--collector.max-label-values'],
  ['--collector.max-pages=0', '--collector.max-pages'],
  ['--collector.max-page-bytes=100', '--collector.max-page-bytes'],
  ['--collector.timeout=10ms', '--collector.timeout'],
  ['--collector.interval=0s', '--collector.interval'],
  ['--collector.concurrency=1000', '--collector.concurrency'],
  ['--collector.max-retries=-1', '--collector.max-retries'],
  ['--thingspace.max-login-failures=0', '--thingspace.max-login-failures'],
  ['--web.telemetry-path=/-/x', '--web.telemetry-path'],
  ['--web.telemetry-path=metrics', '--web.telemetry-path'],
  ['--web.listen-address=127.0.0.1:70000', '--web.listen-address'],
])('a guard rail out of range, %s: exit 2, one line naming it', async (flag, named) => {
  const { code, lines } = await refused(['--thingspace.accounts=0242078689-00001', flag]);
  expect(code).toBe(2);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(named);
});

test('label values from ThingSpace follow SPEC §3: normalised, cut at 120 code points, the max-label-values heaviest kept per label, the rest "other"', async () => {
  const cap = 4;
  const sim = await startSimulatorProcess([
    '--tick',
    '0',
    '--seed',
    '3',
    '--accounts',
    '2',
    '--upgrades-per-status',
    '150',
    '--devices-per-upgrade-mean',
    '15',
  ]);
  // The simulator applies the rules of SPEC §3 on its own (src/simulator/labels.ts never imports the
  // exporter's code): its truth at the same cap is what the exporter must serve, value for value.
  const accounts = Object.keys((await sim.truth()).accounts);
  const exporterAt = async (flags: string[]) => {
    const exporter = await startExporterProcess(
      [
        `--thingspace.base-url=${sim.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        '--collector.interval=1h',
        ...flags,
      ],
      SIMULATOR_ENV,
    );
    await waitForCollection(exporter, 1);
    return scrape(exporter);
  };
  const [capped, uncapped] = await Promise.all([
    exporterAt([`--collector.max-label-values=${cap}`]),
    exporterAt([]),
  ]);
  expectEverythingExact(capped, await truthNow(sim, cap), accounts);
  expectEverythingExact(uncapped, await truthNow(sim), accounts);

  // The bounds, whatever the data: at most cap + "other" values per label and account+status (v1) or
  // account+API (campaigns).
  const perLabel = (samples: Sample[], names: string[], scope: string, labels: string[]) => {
    const values = new Map<string, Set<string>>();
    for (const s of samples.filter((s) => names.includes(s.name))) {
      for (const label of labels) {
        if (!(label in s.labels)) continue;
        const key = `${s.labels.account}/${s.labels[scope]}/${label}`;
        if (!values.has(key)) values.set(key, new Set());
        values.get(key)!.add(s.labels[label]!);
      }
    }
    return values;
  };
  const upgradeLabels = perLabel(capped, BUSINESS_METRICS, 'status', [
    'firmware_to',
    'device_status',
    'result_reason',
  ]);
  const campaignLabels = perLabel(capped, ['thingspace_fota_campaign_devices'], 'api', [
    'device_status',
    'result_reason',
  ]);
  expect(upgradeLabels.size).toBe(accounts.length * UPGRADE_STATUSES.length * 3);
  const overCap = [...upgradeLabels, ...campaignLabels].filter(
    ([, values]) => values.size > cap + 1 || (values.size === cap + 1 && !values.has('other')),
  );
  expect(overCap.map(([key, values]) => [key, [...values]])).toEqual([]);
  // the simulator's failure reasons outnumber the cap: folding did happen, and says so
  expect(
    value(capped, 'thingspace_fota_label_values_folded', {
      label: 'result_reason',
      status: 'UpgradeFailed',
    }),
  ).toBeGreaterThan(0);
  // and the whole exposition stays small however many distinct values ThingSpace sent
  const business = capped.filter((s) => BUSINESS_METRICS.includes(s.name));
  expect(business.length).toBeLessThan(accounts.length * UPGRADE_STATUSES.length * (cap + 1) ** 3);

  // Uncapped (50), the simulator's long firmware names and reasons are kept: cut, not dropped.
  let longest = 0;
  for (const s of uncapped.filter((s) => s.name.startsWith('thingspace_fota_'))) {
    for (const v of Object.values(s.labels)) longest = Math.max(longest, [...v].length);
  }
  expect(longest).toBe(120);
  // Reasons carry no dates, times or device ids any more (SPEC §3.1): the simulator's templated reasons
  // ("…after 3 attempts, last attempt 2024-05-01", "Device 990000862471854 not reachable") folded.
  const reasons = new Set(
    uncapped.filter((s) => 'result_reason' in s.labels).map((s) => s.labels.result_reason!),
  );
  expect([...reasons].filter((r) => /\d{6,}|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}/.test(r))).toEqual([]);
  expect(reasons).toContain('Upgrade failed after <n> attempts, last attempt <date>');
});
