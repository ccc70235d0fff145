/**
 * The CLI as operators run it: compiled JavaScript in a child process. It is compiled here into a
 * temporary directory so the test does not depend on a fresh `npm run build`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ALL_FLAGS } from '../../src/simulator/options.js';
import { getToken } from './helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve('.');
let outDir: string;
let cli: string;

beforeAll(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'simulator-cli-'));
  const config = path.join(outDir, 'tsconfig.json');
  await writeFile(
    config,
    JSON.stringify({
      extends: path.join(ROOT, 'tsconfig.build.json'),
      compilerOptions: {
        outDir: path.join(outDir, 'out'),
        rootDir: path.join(ROOT, 'src'),
        sourceMap: false,
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
      },
      include: [],
      files: [path.join(ROOT, 'src/simulator/cli.ts')],
    }),
  );
  await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config]);
  cli = path.join(outDir, 'out/simulator/cli.js');
}, 60_000);

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

async function runCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number | null; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('thingspace-simulator CLI', () => {
  test('--help lists every flag and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const spec of ALL_FLAGS) expect(stdout).toContain(spec.flag);
  });

  test.each([
    [['--seed', 'abc'], '--seed'],
    [['--bogus'], '--bogus'],
    [['--tick', '5x'], '--tick'],
    [['--accounts'], '--accounts'],
    [['--error-rate', '1.5'], '--error-rate'],
    [['--hang-status', 'Nope'], '--hang-status'],
    [['--listen-address', '0.0.0.0:0'], '--listen-address'],
    [['--listen-address', 'localhost'], '--listen-address'],
    [['--total-devices', '1000000', '--devices-per-upgrade-max', '10'], '--total-devices'],
    [['--error-rate', '0.6', '--reset-rate', '0.6'], 'at most 1'],
    [['--throttle-window', '30s/10s'], '--throttle-window'],
    [['--v3-listing-path', 'firmware'], '--v3-listing-path'],
    [['stray'], 'stray'],
  ])('%j exits 2 with one line naming %s', async (args, named) => {
    const { code, stdout, stderr } = await runCli(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(named);
  });

  test('starts, prints one JSON line with its URL, serves, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [cli, '--listen-address', '127.0.0.1:0', '--tick', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      expect(line.trim().split('\n')).toHaveLength(1);
      const started = JSON.parse(line) as { msg: string; url: string };
      expect(started.msg).toBe('simulator listening');
      expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await getToken(started.url)).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
