/** The compiled command as a user runs it: flags, exit codes, --once, signals, and no secret in its output. */
import {
  expectedSeries,
  makeData,
  startFakeThingSpace,
  type FakeThingSpace,
} from '../support/fake-thingspace.js';
import { parseExposition, seriesMap } from '../support/exposition.js';
import { CREDENTIAL_ENV } from '../support/exporter-harness.js';
import { EXPORTER_BIN, killAll, runProcess, startExporterProcess } from '../support/process.js';
import { SETTINGS } from '../../src/config/settings.js';

const SECRETS = {
  THINGSPACE_CLIENT_ID: 'cli-id-7f3a9',
  THINGSPACE_CLIENT_SECRET: 'cli-secret-Q8v"\\x',
  THINGSPACE_USERNAME: 'cli-user-55e1',
  THINGSPACE_PASSWORD: 'cli-password-Lm2#',
};

let fake: FakeThingSpace | undefined;
afterEach(async () => {
  killAll();
  await fake?.close();
  fake = undefined;
});

function expectNoSecret(text: string): void {
  for (const value of Object.values(SECRETS)) expect(text).not.toContain(value);
}

test('--help lists every flag and environment variable and exits 0', async () => {
  const { code, stdout } = await runProcess(EXPORTER_BIN, ['--help']);
  expect(code).toBe(0);
  for (const spec of Object.values(SETTINGS)) {
    expect(stdout).toContain(spec.env);
    if ('flag' in spec && spec.flag) expect(stdout).toContain(spec.flag);
  }
});

test('--version prints the version', async () => {
  const { code, stdout } = await runProcess(EXPORTER_BIN, ['--version']);
  expect(code).toBe(0);
  expect(stdout).toMatch(/^thingspace-fota-exporter \d+\.\d+\.\d+/);
});

test.each([
  [['--collector.interval=5x'], '--collector.interval (COLLECTOR_INTERVAL)'],
  [['--collector.concurrency', '0'], '--collector.concurrency'],
  [['--thingspace.accounts=../etc'], '--thingspace.accounts'],
  [['--thingspace.base-url=http://example.com'], '--thingspace.base-url'],
  [['--web.listen-address=nonsense'], '--web.listen-address'],
  [['--no-such-flag'], 'unknown flag --no-such-flag'],
])('a bad setting %j exits 2 with one line naming it, and no secret', async (args, named) => {
  const { code, stdout, stderr } = await runProcess(
    EXPORTER_BIN,
    ['--thingspace.accounts=0000000001', ...args],
    SECRETS,
  );
  expect(code).toBe(2);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toContain(named);
  expectNoSecret(stdout + stderr);
});

test('a missing secret is named without printing the others', async () => {
  const { THINGSPACE_PASSWORD: _omitted, ...rest } = SECRETS;
  const { code, stderr } = await runProcess(
    EXPORTER_BIN,
    ['--thingspace.accounts=0000000001'],
    rest,
  );
  expect(code).toBe(2);
  expect(stderr).toContain('THINGSPACE_PASSWORD');
  expectNoSecret(stderr);
});

test('--once prints the exposition and exits 0 when every report succeeded', async () => {
  const data = makeData(['0242078689-00001'], 6, 3);
  fake = await startFakeThingSpace({ data, pageSize: 4 });
  const { code, stdout, stderr } = await runProcess(
    EXPORTER_BIN,
    [
      '--once',
      `--thingspace.base-url=${fake.url}`,
      '--thingspace.apis=v1',
      '--thingspace.accounts=0242078689-00001',
      '--log.level=debug',
    ],
    CREDENTIAL_ENV,
  );
  expect(code).toBe(0);
  const samples = parseExposition(stdout);
  expect(
    seriesMap(samples, [
      'thingspace_fota_upgrades',
      'thingspace_fota_upgrade_devices',
      'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
    ]),
  ).toEqual(expectedSeries(data));
  expect(stderr).toContain('collection finished');
  for (const value of Object.values(CREDENTIAL_ENV)) expect(stdout + stderr).not.toContain(value);
});

test('--once exits 1 when a report failed, and logs in only once', async () => {
  const data = makeData(['0000000001'], 2, 1);
  fake = await startFakeThingSpace({ data });
  fake.password = 'not-what-the-exporter-has';
  const { code, stdout, stderr } = await runProcess(
    EXPORTER_BIN,
    [
      '--once',
      `--thingspace.base-url=${fake.url}`,
      '--thingspace.apis=v1',
      '--thingspace.accounts=0000000001',
      '--log.level=trace',
    ],
    CREDENTIAL_ENV,
  );
  expect(code).toBe(1);
  expect(fake.counts.login).toBe(1);
  expect(stdout).toContain(
    'thingspace_fota_collection_success{account="0000000001",status="Queued"} 0',
  );
  for (const value of Object.values(CREDENTIAL_ENV)) expect(stdout + stderr).not.toContain(value);
});

test('serves /metrics, becomes ready after the first collection, and stops on SIGTERM with exit 0', async () => {
  const data = makeData(['0000000001'], 3, 2);
  fake = await startFakeThingSpace({ data });
  const exporter = await startExporterProcess(
    [
      `--thingspace.base-url=${fake.url}`,
      '--thingspace.apis=v1',
      '--thingspace.accounts=0000000001',
      '--collector.interval=1h',
    ],
    CREDENTIAL_ENV,
  );
  await exporter.waitForLine((l) => l.msg === 'collection finished');
  expect((await fetch(`${exporter.url}/-/ready`)).status).toBe(200);
  expect((await fetch(`${exporter.url}/-/healthy`)).status).toBe(200);
  const metrics = await fetch(exporter.metricsUrl);
  expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  const landing = await (await fetch(`${exporter.url}/`)).text();
  expect(landing).toContain('/metrics');
  const started = Date.now();
  expect(await exporter.stop('SIGTERM')).toBe(0);
  expect(Date.now() - started).toBeLessThan(5000);
  for (const value of Object.values(CREDENTIAL_ENV)) expect(exporter.output()).not.toContain(value);
});

test('an unhandled rejection is logged through the scrubbed logger, and the process exits 70', async () => {
  // A bug of ours, simulated: a promise rejected with nobody listening, its message carrying a secret.
  const bug = `setTimeout(() => Promise.reject(new Error("bug while holding ${SECRETS.THINGSPACE_PASSWORD}")), 1500);`;
  const { code, stdout, stderr } = await runProcess(
    EXPORTER_BIN,
    [
      '--thingspace.base-url=http://127.0.0.1:9',
      '--thingspace.accounts=0000000001',
      '--web.listen-address=127.0.0.1:0',
    ],
    {
      ...SECRETS,
      NODE_OPTIONS: `--import=data:text/javascript;base64,${Buffer.from(bug).toString('base64')}`,
    },
  );
  expect(code).toBe(70);
  const fatal = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: string; msg: string })
    .find((line) => line.level === 'fatal');
  expect(fatal?.msg).toContain('unhandled rejection: bug while holding [REDACTED]');
  expectNoSecret(stdout + stderr);
});
