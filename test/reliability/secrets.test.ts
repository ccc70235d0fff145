/**
 * No secret leaves the process. Every path is run with distinctive credentials — start-up errors, failed
 * logins, ThingSpace's HTTP errors, trace logging, --once, --help, the landing page, /metrics — and
 * everything the process wrote (stdout, stderr) or served (every answer, headers included) is searched for
 * the credentials and for every token ThingSpace handed out (a recording proxy sits in front of the
 * simulator and keeps them), in every form they could take on the way out.
 */
import { jest } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  collectionLines,
  count,
  freePort,
  reportFigures,
  simStats,
  until,
  waitForCollection,
  waitForFreshCollection,
  type ExporterProcess,
} from '../support/faults.js';
import { EXPORTER_BIN, killAll, runProcess, startExporterProcess } from '../support/process.js';
import { startRecordingProxy, type RecordingProxy } from '../support/proxy.js';
import { findLeaks } from '../support/secrets.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator.js';

jest.setTimeout(90_000);

/** Distinctive, and awkward: quotes, backslashes, HTML and URL metacharacters, non-ASCII. */
const SECRETS = {
  THINGSPACE_CLIENT_ID: 'rel-client-7Qx"Wq\\id',
  THINGSPACE_CLIENT_SECRET: 'rel-secret-Zk9"<&>\\Tb',
  THINGSPACE_USERNAME: 'rel-user-Øy4-Mv€Lh',
  THINGSPACE_PASSWORD: "rel-pass-%41{$}#'Jr",
};
/** Wrong credentials are secrets too: often a near miss of the right ones. */
const WRONG = {
  THINGSPACE_CLIENT_SECRET: 'rel-wrong-secret-Hq2"Vd',
  THINGSPACE_PASSWORD: 'rel-wrong-pass-Ue8\\Nc',
  /** Written to a *_FILE while the exporter runs: known to it only from then on. */
  ROTATED_PASSWORD: 'rel-rotated-pass-Wy6"Kd',
};
const ACCOUNTS = ['0242078689-00001', '0242078689-00002'];

let dir: string;
let sim: SimulatorProcess | undefined;
let proxy: RecordingProxy | undefined;
/** Every token handed out in this file, by any simulator. */
const tokens: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'secrets-'));
});
afterEach(async () => {
  if (proxy) tokens.push(...proxy.tokens);
  killAll();
  await proxy?.close();
  proxy = undefined;
  sim = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectNoLeak(text: string, extra: Record<string, string> = {}): void {
  const values: Record<string, string> = { ...extra };
  for (const [name, value] of Object.entries({ ...SECRETS })) values[name] = value;
  for (const [name, value] of Object.entries(WRONG)) values[`wrong ${name}`] = value;
  tokens.forEach((token, i) => (values[`token #${i + 1}`] = token));
  proxy?.tokens.forEach((token, i) => (values[`token (this test) #${i + 1}`] = token));
  expect(
    findLeaks(text, values, [
      [SECRETS.THINGSPACE_CLIENT_ID, SECRETS.THINGSPACE_CLIENT_SECRET],
      [SECRETS.THINGSPACE_CLIENT_ID, WRONG.THINGSPACE_CLIENT_SECRET],
    ]),
  ).toEqual([]);
}

/** A simulator that knows the distinctive credentials, behind a recording proxy. */
async function startThingSpace(simArgs: string[] = []): Promise<string> {
  sim = await startSimulatorProcess([
    '--tick',
    '0',
    '--seed',
    '8',
    '--accounts',
    '2',
    '--upgrades-per-status',
    '12',
    '--page-size',
    '4',
    '--client-id',
    SECRETS.THINGSPACE_CLIENT_ID,
    '--client-secret',
    SECRETS.THINGSPACE_CLIENT_SECRET,
    '--username',
    SECRETS.THINGSPACE_USERNAME,
    '--password',
    SECRETS.THINGSPACE_PASSWORD,
    ...simArgs,
  ]);
  proxy = await startRecordingProxy(sim.url);
  return proxy.url;
}

/** Everything a client can get from the exporter: each page and probe, with its headers. */
async function everythingServed(exporter: ExporterProcess): Promise<string> {
  const parts: string[] = [];
  const requests: [string, RequestInit][] = [
    ['/metrics', {}],
    ['/', {}],
    ['/-/ready', {}],
    ['/-/healthy', {}],
    ['/no-such-page', {}],
    ['/%', {}],
    ['/metrics', { method: 'POST', body: 'x' }],
    ['/metrics', { method: 'HEAD' }],
  ];
  for (const [path, init] of requests) {
    const res = await fetch(exporter.url + path, init);
    parts.push(`${res.status} ${JSON.stringify([...res.headers])}\n${await res.text()}`);
  }
  return parts.join('\n');
}

function serveArgs(baseUrl: string, extra: string[] = []): string[] {
  return [
    `--thingspace.base-url=${baseUrl}`,
    `--thingspace.accounts=${ACCOUNTS.join(',')}`,
    '--collector.interval=1s',
    '--log.level=trace',
    ...extra,
  ];
}

describe('start-up and configuration errors', () => {
  test('--help and --version', async () => {
    for (const flag of ['--help', '--version', '-h']) {
      const { code, stdout, stderr } = await runProcess(EXPORTER_BIN, [flag], SECRETS);
      expect(code).toBe(0);
      expectNoLeak(stdout + stderr);
    }
  });

  test.each([
    ['an unknown flag', ['--thingspace.acounts=1'], {}],
    ['a bad duration', ['--collector.interval=soon'], {}],
    ['a bad account name', ['--thingspace.accounts=../../etc'], {}],
    ['a base URL that is not loopback over http', ['--thingspace.base-url=http://10.1.2.3'], {}],
    ['a base URL that is not a URL', ['--thingspace.base-url=::nonsense::'], {}],
    ['--thingspace.max-login-failures=5', ['--thingspace.max-login-failures=5'], {}],
    ['a bad log level', ['--log.level=verbose'], {}],
    ['a missing password', [], { THINGSPACE_PASSWORD: undefined }],
    ['a missing client secret', [], { THINGSPACE_CLIENT_SECRET: undefined }],
    [
      'both a variable and its _FILE',
      [],
      { THINGSPACE_PASSWORD_FILE: '/nonexistent/thingspace-password' },
    ],
    [
      'an unreadable _FILE',
      [],
      { THINGSPACE_CLIENT_SECRET: undefined, THINGSPACE_CLIENT_SECRET_FILE: '/nonexistent/x' },
    ],
  ])('%s: exit 2, one line, no secret', async (_what, flags, envChanges) => {
    const env: Record<string, string> = { ...SECRETS };
    for (const [k, v] of Object.entries(envChanges)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const { code, stdout, stderr } = await runProcess(
      EXPORTER_BIN,
      ['--thingspace.accounts=0242078689-00001', '--log.level=trace', ...flags],
      env,
    );
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^thingspace-fota-exporter: configuration error: /);
    expectNoLeak(stdout + stderr);
  });

  test('an empty secret file: exit 2, no secret', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const { THINGSPACE_USERNAME: _u, ...env } = SECRETS;
    const { code, stdout, stderr } = await runProcess(
      EXPORTER_BIN,
      ['--thingspace.accounts=0242078689-00001'],
      { ...env, THINGSPACE_USERNAME_FILE: empty },
    );
    expect(code).toBe(2);
    expect(stderr).toContain('THINGSPACE_USERNAME_FILE');
    expectNoLeak(stdout + stderr);
  });

  test('the listen address in use, and a broken --web.config.file: exit 2, no secret', async () => {
    const busy: Server = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address() as AddressInfo;
    const webConfig = join(dir, 'web.yml');
    writeFileSync(webConfig, `basic_auth_users:\n  admin: ${SECRETS.THINGSPACE_PASSWORD}\n`);
    try {
      for (const flags of [
        [`--web.listen-address=127.0.0.1:${port}`],
        ['--web.listen-address=127.0.0.1:0', `--web.config.file=${webConfig}`],
      ]) {
        const { code, stdout, stderr } = await runProcess(
          EXPORTER_BIN,
          [
            '--thingspace.accounts=0242078689-00001',
            `--thingspace.base-url=http://127.0.0.1:${port}`,
            '--log.level=trace',
            ...flags,
          ],
          SECRETS,
        );
        expect(code).toBe(2);
        expectNoLeak(stdout + stderr);
      }
    } finally {
      busy.close();
    }
  });
});

describe('--once', () => {
  test('a successful collection, trace logging: exposition and logs carry no secret nor token', async () => {
    const base = await startThingSpace();
    const { code, stdout, stderr } = await runProcess(
      EXPORTER_BIN,
      ['--once', ...serveArgs(base)],
      SECRETS,
    );
    expect(code).toBe(0);
    expect(proxy!.tokens.length).toBeGreaterThanOrEqual(2);
    expectNoLeak(stdout + stderr);
  });

  test.each([
    ['a rejected client secret', { THINGSPACE_CLIENT_SECRET: WRONG.THINGSPACE_CLIENT_SECRET }],
    ['a rejected password', { THINGSPACE_PASSWORD: WRONG.THINGSPACE_PASSWORD }],
  ])('%s: exit 1, no secret', async (_what, wrong) => {
    const base = await startThingSpace();
    const { code, stdout, stderr } = await runProcess(
      EXPORTER_BIN,
      ['--once', ...serveArgs(base)],
      { ...SECRETS, ...wrong },
    );
    expect(code).toBe(1);
    expect(stderr).toContain('rejected');
    expectNoLeak(stdout + stderr);
  });
});

describe('serving', () => {
  test('through token expiry, 500s, resets, 429s, token errors, bad answers and an inactive account, at trace level', async () => {
    const base = await startThingSpace([
      '--latency-ms',
      '10',
      '--error-rate',
      '0.1',
      '--reset-rate',
      '0.05',
      '--throttle-rate',
      '0.05',
      '--throttle-retry-after-seconds',
      '0',
      '--token-error-rate',
      '0.3',
      '--malformed-json-status',
      'Finished',
      '--wrong-shape-status',
      'Queued',
    ]);
    const exporter = await startExporterProcess(
      serveArgs(base, ['--collector.max-retries=5']).map((a) =>
        a.startsWith('--thingspace.accounts=')
          ? `--thingspace.accounts=${[...ACCOUNTS, '0242078689-00099'].join(',')}`
          : a,
      ),
      SECRETS,
    );
    // Each expiry is renewed before the next: a login answered 500 is not resent but waits one interval,
    // and collections fail as throttled, so two expiries could otherwise share one renewal.
    const renewed = (bearers: number, sessions: number) =>
      until(
        async () => {
          const now = await simStats(sim!);
          return (
            count(now, 'oauth_token', '200') >= bearers &&
            count(now, 'session_login', '200') >= sessions
          );
        },
        `${bearers} bearer tokens and ${sessions} sessions`,
        30_000,
        200,
      );
    await renewed(1, 1);
    for (const [tokensToExpire, bearers, sessions] of [
      ['bearer', 2, 1],
      ['session', 2, 2],
      ['all', 3, 3],
    ] as const) {
      await waitForFreshCollection(exporter);
      await sim!.post(`/_sim/expire?tokens=${tokensToExpire}`);
      await renewed(bearers, sessions);
    }
    await waitForFreshCollection(exporter);
    // The time budget of a collection is the interval (1 s) and a 429 shuts the throttle gate for at least
    // a second: such a collection fails as throttled before its requests meet the expired tokens, and the
    // renewal comes a collection later.
    await until(
      async () => {
        const renewals = await simStats(sim!);
        return (
          count(renewals, 'oauth_token', '200') >= 3 && count(renewals, 'session_login', '200') >= 3
        );
      },
      'three bearer tokens and three sessions',
      30_000,
      200,
    );
    const stats = await simStats(sim!);
    reportFigures(`secrets: ${expect.getState().currentTestName}`, {
      collectionSeconds: collectionLines(exporter).map((l) => l.durationSeconds),
      failures: collectionLines(exporter).map((l) => Object.keys(l.failures)),
      requests: stats.requests,
    });
    expect(count(stats, 'oauth_token', '200')).toBeGreaterThanOrEqual(3);
    expect(count(stats, 'session_login', '200')).toBeGreaterThanOrEqual(3);
    expect(exporter.output()).toContain('Inactive account');
    const served = await everythingServed(exporter);
    expect(await exporter.stop()).toBe(0);
    expect(proxy!.tokens.length).toBeGreaterThanOrEqual(6);
    expectNoLeak(exporter.output() + served);
  });

  test('credentials from *_FILE, a rejected password until blocked, at trace level', async () => {
    const base = await startThingSpace();
    const files: Record<string, string> = {};
    const values = { ...SECRETS, THINGSPACE_PASSWORD: WRONG.THINGSPACE_PASSWORD };
    for (const [name, value] of Object.entries(values)) {
      const file = join(dir, name.toLowerCase());
      writeFileSync(file, `${value}\n`);
      files[`${name}_FILE`] = file;
    }
    const exporter = await startExporterProcess(serveArgs(base), files);
    await exporter.waitForLine((l) => String(l.msg).includes('no more logins'), 20_000);
    const served = await everythingServed(exporter);
    expect(await exporter.stop()).toBe(0);
    const stats = await simStats(sim!);
    expect(stats.login).toMatchObject({ consecutiveFailures: 3, locked: false });
    expectNoLeak(exporter.output() + served);
  });

  test('credentials rotated in *_FILE while running (a wrong one, then the right one), at trace level', async () => {
    const base = await startThingSpace();
    const files: Record<string, string> = {};
    for (const [name, value] of Object.entries(SECRETS)) {
      const file = join(dir, `rotate-${name.toLowerCase()}`);
      writeFileSync(file, `${value}\n`);
      files[`${name}_FILE`] = file;
    }
    const exporter = await startExporterProcess(serveArgs(base), files);
    await waitForCollection(exporter, 1);
    writeFileSync(files.THINGSPACE_PASSWORD_FILE!, `${WRONG.ROTATED_PASSWORD}\n`);
    await sim!.post('/_sim/expire?tokens=session');
    await until(
      async () => count(await simStats(sim!), 'session_login', '400') >= 1,
      'a login with the rotated password',
    );
    writeFileSync(files.THINGSPACE_PASSWORD_FILE!, `${SECRETS.THINGSPACE_PASSWORD}\n`);
    await until(
      async () => count(await simStats(sim!), 'session_login', '200') >= 2,
      'a login with the right password again',
      15_000,
      100,
    );
    await waitForFreshCollection(exporter);
    const served = await everythingServed(exporter);
    expect(await exporter.stop()).toBe(0);
    expectNoLeak(exporter.output() + served);
  });

  test('a rejected client secret, at trace level', async () => {
    const base = await startThingSpace();
    const exporter = await startExporterProcess(serveArgs(base), {
      ...SECRETS,
      THINGSPACE_CLIENT_SECRET: WRONG.THINGSPACE_CLIENT_SECRET,
    });
    await waitForCollection(exporter, 2);
    const served = await everythingServed(exporter);
    expect(await exporter.stop()).toBe(0);
    expectNoLeak(exporter.output() + served);
  });

  test('ThingSpace unreachable, at trace level', async () => {
    const port = await freePort();
    const exporter = await startExporterProcess(
      serveArgs(`http://127.0.0.1:${port}`, ['--collector.max-retries=1']),
      SECRETS,
    );
    await waitForCollection(exporter, 1);
    const served = await everythingServed(exporter);
    expect(await exporter.stop()).toBe(0);
    expectNoLeak(exporter.output() + served);
  });

  test('a SIGTERM in the middle of a collection, at trace level', async () => {
    const base = await startThingSpace(['--hang-status', 'Queued']);
    const exporter = await startExporterProcess(serveArgs(base), SECRETS);
    await until(async () => count(await simStats(sim!), 'reports', 'hang') >= 1, 'a hang');
    const served = await everythingServed(exporter);
    expect(await exporter.stop()).toBe(0);
    expectNoLeak(exporter.output() + served);
  });
});

test('the tokens really were looked for: the proxy saw them, and a leak would be found', () => {
  reportFigures('secrets', { tokensHandedOutAndSearchedFor: tokens.length });
  expect(tokens.length).toBeGreaterThanOrEqual(10);
  // the search itself works: a token or a secret cut short in a message is found
  const token = tokens[0]!;
  expect(findLeaks(`session ${token.slice(0, 20)}…`, { token })).not.toEqual([]);
  expect(
    findLeaks(JSON.stringify({ msg: SECRETS.THINGSPACE_CLIENT_SECRET }), {
      s: SECRETS.THINGSPACE_CLIENT_SECRET,
    }),
  ).not.toEqual([]);
  expect(findLeaks('all clear', { token })).toEqual([]);
});
