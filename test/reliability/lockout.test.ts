/**
 * Account-lockout protection against the simulator's own lockout (five consecutive failed logins lock the
 * user until it restarts): at most one login per interval after a rejection, none at all after
 * --thingspace.max-login-failures in a row, a clear error line and thingspace_fota_login_blocked 1, and
 * logins again only after a restart or a change of the credentials. The simulator must never lock.
 *
 * With --storage.path the count survives restarts: restarting with the same wrong password never reaches
 * the simulator's fifth failure, and only new credentials (or removing the state file) lift a block.
 * Those tests need the exporter wiring of src/storage (cli.ts loads the store, exporter.ts passes it to the
 * Authenticator with onBlocked → thingspace_fota_login_blocked); without it the flag is ignored and they fail.
 */
import { jest } from '@jest/globals';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  count,
  countAll,
  expectAllExact,
  logLines,
  reportFigures,
  scrape,
  simStats,
  startPair,
  total,
  until,
  value,
  waitForCollection,
  waitForFreshCollection,
  type ExporterProcess,
} from '../support/faults.js';
import { EXPORTER_BIN, killAll, startExporterProcess, startProcess } from '../support/process.js';
import { SIMULATOR_ENV, startSimulatorProcess } from '../support/simulator.js';
import { STATE_FILE } from '../../src/storage/store.js';

jest.setTimeout(60_000);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockout-'));
});
afterEach(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const DATA = ['--seed', '2', '--accounts', '2', '--upgrades-per-status', '10'];
const INTERVAL_MS = 1000;

function rejectionLines(exporter: ExporterProcess) {
  return logLines(exporter).filter(
    (l) => l.level === 'error' && String(l.msg).startsWith('ThingSpace rejected'),
  );
}

function blockedLine(exporter: ExporterProcess) {
  return rejectionLines(exporter).find((l) => String(l.msg).includes('no more logins'));
}

async function waitUntilBlocked(exporter: ExporterProcess): Promise<void> {
  await exporter.waitForLine(
    (l) => l.level === 'error' && String(l.msg).includes('no more logins'),
    20_000,
  );
}

/** Lets `n` more collections run, each of which would have logged in if anything allowed it. */
async function moreCollections(exporter: ExporterProcess, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await waitForFreshCollection(exporter);
}

describe.each([
  {
    what: 'session login (wrong password), default limit 3',
    env: { THINGSPACE_PASSWORD: 'wrong-password-1' },
    flags: [] as string[],
    limit: 3,
    endpoint: 'session_login' as const,
    code: '400',
  },
  {
    what: 'session login (wrong password), --thingspace.max-login-failures=4 (the highest allowed)',
    env: { THINGSPACE_PASSWORD: 'wrong-password-1' },
    flags: ['--thingspace.max-login-failures=4'],
    limit: 4,
    endpoint: 'session_login' as const,
    code: '400',
  },
  {
    what: 'OAuth token (wrong client secret), --thingspace.max-login-failures=1',
    env: { THINGSPACE_CLIENT_SECRET: 'wrong-secret-1' },
    flags: ['--thingspace.max-login-failures=1'],
    limit: 1,
    endpoint: 'oauth_token' as const,
    code: '401',
  },
])('rejected $what', ({ env, flags, limit, endpoint, code }) => {
  test('one login per interval at most, blocked after the limit, the simulator never locked', async () => {
    const { sim, exporter } = await startPair(DATA, ['--collector.interval=1s', ...flags], {
      ...SIMULATOR_ENV,
      ...env,
    });
    await waitUntilBlocked(exporter);
    await moreCollections(exporter, 3);

    const stats = await simStats(sim);
    expect(count(stats, endpoint, code)).toBe(limit);
    expect(stats.login.locked).toBe(false);
    expect(stats.login.consecutiveFailures).toBe(endpoint === 'session_login' ? limit : 0);
    expect(countAll(stats, 'reports')).toBe(0);

    const rejections = rejectionLines(exporter);
    expect(rejections).toHaveLength(limit);
    const times = rejections.map((l) => Date.parse(String(l.time)));
    for (let i = 1; i < times.length; i++) {
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_MS - 5);
    }
    expect(rejections.map((l) => l.consecutive)).toEqual(
      Array.from({ length: limit }, (_, i) => i + 1),
    );
    // one clear error line says what happened, why, and what lifts it
    expect(String(blockedLine(exporter)?.msg)).toMatch(
      /rejected \d+ logins in a row: no more logins until the credentials change or the exporter restarts/,
    );

    const samples = await scrape(exporter);
    reportFigures(`lockout: ${expect.getState().currentTestName}`, {
      rejectedLogins: count(stats, endpoint, code),
      msBetweenRejections: times.slice(1).map((t, i) => t - times[i]!),
      collectionsAfterTheBlock: 3,
      simulatorLogin: stats.login,
      loginBlockedGauge: value(samples, 'thingspace_fota_login_blocked'),
    });
    expect(value(samples, 'thingspace_fota_login_blocked')).toBe(1);
    expect(
      value(samples, 'thingspace_fota_login_failures_total', {
        kind: endpoint,
      }),
    ).toBe(limit);
    expect(value(samples, 'thingspace_fota_collection_success', { status: 'Queued' })).toBe(0);
    expect(total(samples, 'thingspace_fota_collection_errors_total', { error: 'auth' })).toBe(
      total(samples, 'thingspace_fota_collection_errors_total'),
    );
    // still serving and still collecting (without logging in)
    expect(exporter.proc.exitCode).toBeNull();
  });
});

test('blocked, then restarted with the right credentials: logs in again, the data exact', async () => {
  const { sim, exporter, accounts, truth } = await startPair(DATA, ['--collector.interval=1s'], {
    ...SIMULATOR_ENV,
    THINGSPACE_PASSWORD: 'wrong-password-1',
  });
  await waitUntilBlocked(exporter);
  expect(await exporter.stop()).toBe(0);

  const restarted = await startExporterProcess(
    [
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--collector.interval=1s',
    ],
    SIMULATOR_ENV,
  );
  await waitForCollection(restarted, 1);
  const samples = await scrape(restarted);
  expectAllExact(samples, truth, accounts);
  expect(value(samples, 'thingspace_fota_login_blocked')).toBe(0);
  const stats = await simStats(sim);
  expect(stats.login).toMatchObject({ consecutiveFailures: 0, locked: false, failedTotal: 3 });
});

test('blocked, then the password file corrected: the new contents are read, logins resume, the data exact', async () => {
  const file = join(dir, 'password');
  writeFileSync(file, 'wrong-password-1\n');
  const { THINGSPACE_PASSWORD: _fromFile, ...env } = SIMULATOR_ENV;
  const { sim, exporter, accounts, truth } = await startPair(DATA, ['--collector.interval=1s'], {
    ...env,
    THINGSPACE_PASSWORD_FILE: file,
  });
  await waitUntilBlocked(exporter);
  await moreCollections(exporter, 2);
  expect(count(await simStats(sim), 'session_login', '400')).toBe(3); // blocked means blocked

  writeFileSync(file, `${SIMULATOR_ENV.THINGSPACE_PASSWORD}\n`);
  await until(
    async () =>
      (await scrape(exporter)).some(
        (s) => s.name === 'thingspace_fota_collection_success' && s.value === 1,
      ),
    'a successful report after the password file changed',
    10_000,
    100,
  );
  await waitForFreshCollection(exporter);
  const samples = await scrape(exporter);
  expectAllExact(samples, truth, accounts);
  expect(value(samples, 'thingspace_fota_login_blocked')).toBe(0);
  const stats = await simStats(sim);
  expect(stats.login).toMatchObject({ consecutiveFailures: 0, locked: false });
  expect(count(stats, 'session_login', '200')).toBe(1);
});

// ThingSpace keeps counting a user's failures across password changes, until a successful login: a
// corrected-but-still-wrong password (a typo) gets one attempt, the user's 4th failure, and never a 5th.
test('blocked, then the password file changed to other wrong passwords: one more attempt, never the fifth', async () => {
  const file = join(dir, 'password');
  writeFileSync(file, 'wrong-password-1\n');
  const { THINGSPACE_PASSWORD: _fromFile, ...env } = SIMULATOR_ENV;
  const { sim, exporter } = await startPair(DATA, ['--collector.interval=1s'], {
    ...env,
    THINGSPACE_PASSWORD_FILE: file,
  });
  await waitUntilBlocked(exporter);
  writeFileSync(file, 'wrong-password-2\n');
  await until(
    async () => (await simStats(sim)).login.consecutiveFailures === 4,
    'the one attempt with the changed password',
    10_000,
    100,
  );
  await moreCollections(exporter, 4);
  expect((await simStats(sim)).login).toMatchObject({ consecutiveFailures: 4, locked: false });

  writeFileSync(file, 'wrong-password-3\n');
  await moreCollections(exporter, 4);
  const stats = await simStats(sim);
  expect(stats.login).toMatchObject({ consecutiveFailures: 4, locked: false });
  expect(count(stats, 'session_login', '400')).toBe(4);
  expect(value(await scrape(exporter), 'thingspace_fota_login_blocked')).toBe(1);
});

describe('restarts with --storage.path', () => {
  const WRONG = { ...SIMULATOR_ENV, THINGSPACE_PASSWORD: 'wrong-password-1' };

  async function simulator() {
    const sim = await startSimulatorProcess(['--tick', '0', ...DATA]);
    const truth = await sim.truth();
    return { sim, truth, accounts: Object.keys(truth.accounts) };
  }

  function exporterOf(
    sim: { url: string },
    accounts: string[],
    env: Record<string, string>,
    storage?: string,
  ) {
    return startExporterProcess(
      [
        `--thingspace.base-url=${sim.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        '--collector.interval=1s',
        ...(storage ? [`--storage.path=${storage}`] : []),
      ],
      env,
    );
  }

  /** The first message of a collection's auth failures (the summary groups failures by kind). */
  const authFailure = (l: Record<string, unknown>): string | undefined =>
    l.msg === 'collection finished'
      ? (l.failures as Record<string, { message: string }> | undefined)?.auth?.message
      : undefined;

  const refusedBlocked = (l: Record<string, unknown>) =>
    authFailure(l)?.includes('login blocked') ?? false;

  /** A login was rejected, or refused because of a block: what each run is waited for. */
  const loginOutcome = (l: Record<string, unknown>) =>
    (l.level === 'error' && String(l.msg).startsWith('ThingSpace rejected')) || refusedBlocked(l);

  /**
   * Six runs, each stopped once it has either had a login rejected or refused one because of a block:
   * a crash loop, or an operator restarting in the hope that it helps.
   */
  async function sixRuns(storage: string | undefined) {
    const { sim, accounts } = await simulator();
    const runs: { rejected: number; refusal?: string; blockedGauge?: number }[] = [];
    for (let i = 0; i < 6; i++) {
      const exporter = await exporterOf(sim, accounts, WRONG, storage);
      await exporter.waitForLine(loginOutcome, 20_000);
      const refusal = logLines(exporter).find(refusedBlocked);
      runs.push({
        rejected: rejectionLines(exporter).length,
        ...(refusal && {
          refusal: authFailure(refusal),
          blockedGauge: value(await scrape(exporter), 'thingspace_fota_login_blocked'),
        }),
      });
      expect(await exporter.stop()).toBe(0);
    }
    return { stats: await simStats(sim), runs };
  }

  test('six restarts with the same wrong password: the simulator sees three failures, never five', async () => {
    const storage = join(dir, 'state');
    const { stats, runs } = await sixRuns(storage);
    reportFigures('lockout: six restarts with --storage.path', {
      runs,
      simulatorLogin: stats.login,
    });
    expect(count(stats, 'session_login', '400')).toBe(3);
    expect(stats.login).toMatchObject({ consecutiveFailures: 3, locked: false });
    expect(runs.reduce((sum, r) => sum + r.rejected, 0)).toBe(3);
    // once blocked, every later run refuses at once and says so
    expect(runs.at(-1)).toEqual({
      rejected: 0,
      refusal: expect.stringMatching(
        /^login blocked after 3 rejected logins in a row.*a restart does not lift the block$/,
      ),
      blockedGauge: 1,
    });
    const text = readFileSync(join(storage, STATE_FILE), 'utf8');
    for (const secret of [...Object.values(SIMULATOR_ENV), WRONG.THINGSPACE_PASSWORD]) {
      expect(text).not.toContain(secret);
    }
  });

  // The same runs without the flag: what the issue describes, and the proof that the test above can fail.
  test('without --storage.path each restart gets a fresh attempt, and the fifth locks the user', async () => {
    const { stats, runs } = await sixRuns(undefined);
    reportFigures('lockout: six restarts without --storage.path', {
      runs,
      simulatorLogin: stats.login,
    });
    expect(stats.login.locked).toBe(true);
  });

  test('blocked with --storage.path, then restarted with the right password: logs in, data exact, the user forgotten', async () => {
    const storage = join(dir, 'state');
    const { sim, truth, accounts } = await simulator();
    const wrong = await exporterOf(sim, accounts, WRONG, storage);
    await waitUntilBlocked(wrong);
    expect(String(blockedLine(wrong)?.msg)).toMatch(
      /no more logins until the credentials change \(the count is kept in --storage.path, so a restart does not lift the block/,
    );
    expect(await wrong.stop()).toBe(0);

    const right = await exporterOf(sim, accounts, SIMULATOR_ENV, storage);
    await waitForCollection(right, 1);
    const samples = await scrape(right);
    expectAllExact(samples, truth, accounts);
    expect(value(samples, 'thingspace_fota_login_blocked')).toBe(0);
    expect((await simStats(sim)).login).toMatchObject({ consecutiveFailures: 0, locked: false });
    expect(await right.stop()).toBe(0);
    const state = JSON.parse(readFileSync(join(storage, STATE_FILE), 'utf8')) as {
      sections: { lockout: { users: object } };
    };
    expect(state.sections.lockout.users).toEqual({});
  });

  test('a damaged state file: the exporter serves and says why, but never logs in until the file is removed', async () => {
    const storage = join(dir, 'state');
    mkdirSync(storage);
    writeFileSync(join(storage, STATE_FILE), '{"format": "thingspace-fota-exporter/state", "vers');
    const { sim, truth, accounts } = await simulator();
    const exporter = await exporterOf(sim, accounts, SIMULATOR_ENV, storage);
    await waitForCollection(exporter, 2);
    for (const collection of logLines(exporter).filter((l) => l.msg === 'collection finished')) {
      expect(authFailure(collection)).toMatch(/^login blocked: .*state\.json is not valid JSON/);
    }
    const damaged = logLines(exporter).find((l) =>
      String(l.msg).startsWith('the state file could not be used'),
    );
    expect(damaged).toMatchObject({ level: 'error', problem: 'is not valid JSON' });
    const stats = await simStats(sim);
    expect(countAll(stats, 'oauth_token') + countAll(stats, 'session_login')).toBe(0);
    const samples = await scrape(exporter);
    expect(value(samples, 'thingspace_fota_login_blocked')).toBe(1);
    expect(await exporter.stop()).toBe(0);

    rmSync(join(storage, STATE_FILE));
    const after = await exporterOf(sim, accounts, SIMULATOR_ENV, storage);
    await waitForCollection(after, 1);
    expectAllExact(await scrape(after), truth, accounts);
  });

  test('a --storage.path the exporter cannot write: configuration error, exit 2, naming the flag', async () => {
    const storage = join(dir, 'read-only');
    mkdirSync(storage);
    chmodSync(dir, 0o755);
    chmodSync(storage, 0o555);
    // as root, the directory must belong to someone else to be read-only: run as nobody
    const ids = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const p = startProcess(
      EXPORTER_BIN,
      ['--thingspace.accounts=0000000001-00001', `--storage.path=${storage}`],
      SIMULATOR_ENV,
      ids,
    );
    expect(await p.exited).toBe(2);
    expect(p.stderr.join('')).toBe(
      `thingspace-fota-exporter: configuration error: --storage.path (STORAGE_PATH): directory ${JSON.stringify(storage)} is not writable (EACCES)\n`,
    );
  });
});

/**
 * Paths on which ThingSpace's answer to a login never reaches the exporter, or never came from ThingSpace's
 * credential check: six `--once` runs with --storage.path, as a crash loop or a CronJob would make them.
 * A login answered 504 after the check, or whose connection closed, may have been counted by ThingSpace:
 * the exporter must count it too (one login per run at most, none after the limit). A login answered 404
 * by something in front of ThingSpace was never checked: it must count nothing, so that fixing the path
 * is enough.
 */
describe('lost login answers and answers that are no verdict, --once runs with --storage.path', () => {
  const WRONG = { ...SIMULATOR_ENV, THINGSPACE_PASSWORD: 'wrong-password-1' };

  async function simulator(faults: string[]) {
    const sim = await startSimulatorProcess(['--tick', '0', ...DATA, ...faults]);
    const truth = await sim.truth();
    return { sim, accounts: Object.keys(truth.accounts) };
  }

  interface Run {
    code: number | null;
    /** The first message of the collection's auth or config failures. */
    failure?: string;
    lines: Record<string, unknown>[];
  }

  /** One `--once` run; it starts once the previous run's login back-off (one interval) is over. */
  async function onceRun(
    sim: { url: string },
    accounts: string[],
    env: Record<string, string>,
    storage: string,
  ): Promise<Run> {
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS + 100));
    const p = startProcess(
      EXPORTER_BIN,
      [
        `--thingspace.base-url=${sim.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        '--collector.interval=1s',
        `--storage.path=${storage}`,
        '--once',
      ],
      env,
    );
    const code = await p.exited;
    const lines = logLines(p);
    const finished = lines.find((l) => l.msg === 'collection finished');
    const failures = finished?.failures as Record<string, { message: string }> | undefined;
    return { code, failure: failures?.auth?.message ?? failures?.config?.message, lines };
  }

  const lockoutUsers = (storage: string) =>
    Object.values(
      (
        JSON.parse(readFileSync(join(storage, STATE_FILE), 'utf8')) as {
          sections: { lockout: { users: Record<string, Record<string, unknown>> } };
        }
      ).sections.lockout.users,
    );

  describe.each([
    { lost: '504', outcome: '504' },
    { lost: 'close', outcome: 'closed' },
  ])('every login answer lost ($lost) with a wrong password', ({ lost, outcome }) => {
    test('six runs: each login sent once, ThingSpace counts three failures and never locks', async () => {
      const storage = join(dir, 'state');
      const { sim, accounts } = await simulator(['--login-lost-answer', lost]);
      const runs: Run[] = [];
      for (let i = 0; i < 6; i++) runs.push(await onceRun(sim, accounts, WRONG, storage));
      const stats = await simStats(sim);
      reportFigures(`lockout: six --once runs, login answers lost (${lost})`, {
        loginsSent: countAll(stats, 'session_login'),
        simulatorLogin: stats.login,
        failures: runs.map((r) => r.failure),
      });
      expect(stats.login.locked).toBe(false);
      expect(stats.login.failedTotal).toBe(3);
      expect(count(stats, 'session_login', outcome)).toBe(3);
      expect(countAll(stats, 'session_login')).toBe(3);
      for (const run of runs) expect(run.code).toBe(1);
      // each lost answer is said as such, once, in the log of the run that met it; the third also blocks
      const said = (run: Run, text: string) =>
        run.lines.filter((l) => l.level === 'error' && String(l.msg).includes(text));
      for (const run of runs.slice(0, 2)) expect(said(run, 'login got no answer')).toHaveLength(1);
      expect(said(runs[2]!, '3 logins without an answer')).toHaveLength(1);
      expect(runs.at(-1)!.failure).toMatch(
        /^login blocked after 3 logins without an answer \(ThingSpace may have counted them\).*check the network path.*remove .*state\.json/,
      );
      expect(lockoutUsers(storage)).toEqual([
        expect.objectContaining({ failures: 3, unanswered: 3 }),
      ]);
    });
  });

  test('lost answers with the right password: counted, but the next login that gets through clears them', async () => {
    const storage = join(dir, 'state');
    const { sim, accounts } = await simulator(['--login-lost-answer', '504']);
    for (let i = 0; i < 2; i++) {
      expect((await onceRun(sim, accounts, SIMULATOR_ENV, storage)).code).toBe(1);
    }
    expect(lockoutUsers(storage)).toEqual([
      expect.objectContaining({ failures: 2, unanswered: 2 }),
    ]);
    await sim.setFaults({ loginLostAnswer: null });
    expect((await onceRun(sim, accounts, SIMULATOR_ENV, storage)).code).toBe(0);
    expect(lockoutUsers(storage)).toEqual([]);

    // two more lost answers start from zero again: not blocked, the next run gets through
    await sim.setFaults({ loginLostAnswer: '504' });
    for (let i = 0; i < 2; i++) {
      const run = await onceRun(sim, accounts, SIMULATOR_ENV, storage);
      expect(run.failure).not.toMatch(/blocked/);
    }
    await sim.setFaults({ loginLostAnswer: null });
    expect((await onceRun(sim, accounts, SIMULATOR_ENV, storage)).code).toBe(0);
    const stats = await simStats(sim);
    expect(stats.login).toMatchObject({ failedTotal: 0, locked: false });
    expect(countAll(stats, 'session_login')).toBe(6);
  });

  test('the right password behind a login URL answering 404: six runs count nothing, the fixed path logs in', async () => {
    const storage = join(dir, 'state');
    const { sim, accounts } = await simulator(['--login-fixed-status', '404']);
    const runs: Run[] = [];
    for (let i = 0; i < 6; i++) runs.push(await onceRun(sim, accounts, SIMULATOR_ENV, storage));
    const before = await simStats(sim);
    reportFigures('lockout: six --once runs, the login answering 404', {
      loginsSent: countAll(before, 'session_login'),
      failures: runs.map((r) => r.failure),
      lockout: lockoutUsers(storage),
    });
    expect(count(before, 'session_login', '404')).toBe(6);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.failure).toMatch(
        `session_login: ${sim.url}/api/m2m/v1/session/login answered HTTP 404, which is not ThingSpace's answer to a login: check --thingspace.base-url and any proxy`,
      );
    }
    expect(lockoutUsers(storage)).toEqual([]);

    await sim.setFaults({ loginFixedStatus: null });
    const fixed = await onceRun(sim, accounts, SIMULATOR_ENV, storage);
    expect(fixed.code).toBe(0);
    const stats = await simStats(sim);
    expect(count(stats, 'session_login', '200')).toBe(1);
    expect(stats.login).toMatchObject({ failedTotal: 0, locked: false });
  });
});
