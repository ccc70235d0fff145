/**
 * A smoke run of the benchmark (`node bench/run.mjs --quick`), so that it cannot rot: it must run to the
 * end, print all five figures, and write a valid results file. Timings are not checked here (they do not
 * belong in tests); correctness is: /metrics must equal the simulator's truth for every quick profile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireBuild, EXPORTER_BIN, SIMULATOR_BIN } from '../support/process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Figure {
  figure: number;
  name: string;
  profile: string;
  pass: boolean | null;
  raw: Record<string, number | null>;
}

interface Results {
  schema: number;
  passed: boolean;
  machine: { cpus: number; cpuModel: string; memoryBytes: number; node: string };
  settings: { latencyMs: number; quick: boolean };
  figures: Figure[];
  table: string;
  profiles: { profile: { name: string }; truthOk: boolean; devices: number }[];
}

let child: ChildProcess | undefined;
let dir: string | undefined;

/** The benchmark leads its own process group: killing the group also kills whatever it started. */
function killGroup(): void {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

afterAll(() => {
  killGroup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('npm run bench -- --quick prints all five figures and writes a valid results file', async () => {
  requireBuild(EXPORTER_BIN);
  requireBuild(SIMULATOR_BIN);
  dir = mkdtempSync(path.join(tmpdir(), 'fota-bench-smoke-'));
  const out = path.join(dir, 'results.json');
  const proc = spawn(process.execPath, ['bench/run.mjs', '--quick', '--out', out], {
    cwd: ROOT,
    detached: true,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  killGroup();

  expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
  for (const figure of [1, 2, 3, 4, 5])
    expect(stdout).toMatch(new RegExp(`^\\| ${figure} +\\| `, 'm'));
  expect(stdout).toMatch(/load average/);

  const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
  expect(results.schema).toBe(1);
  expect(results.settings.quick).toBe(true);
  expect(results.machine.cpus).toBeGreaterThan(0);
  expect(results.machine.node).toBe(process.version);
  expect(results.table).toContain('| 5 ');
  expect(new Set(results.figures.map((f) => f.figure))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
  for (const f of results.figures) {
    for (const value of Object.values(f.raw)) {
      expect(Number.isFinite(value)).toBe(true);
    }
  }
  // Correctness is not a timing: the exporter must have served exactly the truth for every profile.
  expect(results.profiles.length).toBeGreaterThanOrEqual(3);
  for (const p of results.profiles)
    expect({ [p.profile.name]: p.truthOk }).toEqual({ [p.profile.name]: true });
  expect(results.figures.filter((f) => f.figure === 0).every((f) => f.pass === true)).toBe(true);
}, 180_000);
