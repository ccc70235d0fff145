/**
 * A smoke run of the benchmark (`node bench/run.mjs --quick`), so that it cannot rot: it must run to the
 * end, print every figure, and write a valid results file. Timings are not checked here (they do not
 * belong in tests); correctness is: /metrics must equal the simulator's truth for every quick profile, v1
 * reports, many accounts and v2/v3 campaigns alike, and every page and device entry must be accounted for.
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
  machine: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    node: string;
    loadAverageAtStart: number[];
    loadAverageAtEnd: number[];
  };
  settings: { latencyMs: number; quick: boolean };
  figures: Figure[];
  table: string;
  profiles: {
    profile: { name: string; kind: string; apis: string[] };
    truthOk: boolean;
    checks: string[];
    upgrades: number;
    devices: number;
    campaignDevices: number;
    idMemory: { ids: number; bytes: number };
    exposition: { series: number; textBytes: number; wireBytes: number };
  }[];
}

const FIGURES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

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

test('npm run bench -- --quick prints every figure and writes a valid results file', async () => {
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
  for (const figure of FIGURES) expect(stdout).toMatch(new RegExp(`^\\| ${figure} +\\| `, 'm'));
  expect(stdout).toMatch(/load average at start .*load average at end/);

  const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
  expect(results.schema).toBe(2);
  expect(results.settings.quick).toBe(true);
  expect(results.machine.cpus).toBeGreaterThan(0);
  expect(results.machine.node).toBe(process.version);
  expect(results.machine.loadAverageAtStart).toHaveLength(3);
  expect(results.machine.loadAverageAtEnd).toHaveLength(3);
  expect(results.table).toContain('| 7 ');
  expect(new Set(results.figures.map((f) => f.figure))).toEqual(new Set(FIGURES));
  for (const f of results.figures) {
    for (const value of Object.values(f.raw)) {
      expect(Number.isFinite(value)).toBe(true);
    }
  }
  // Every kind of profile ran: v1 reports alone, many accounts, and v2/v3 campaigns alone.
  expect(new Set(results.profiles.map((p) => p.profile.kind))).toEqual(
    new Set(['v1', 'accounts', 'campaigns']),
  );
  // Correctness is not a timing: the exporter must have served exactly the truth for every profile, and
  // read every page and device entry the reference pagers and the simulator count.
  for (const p of results.profiles) {
    expect({ [p.profile.name]: p.checks }).toEqual({ [p.profile.name]: [] });
    expect({ [p.profile.name]: p.truthOk }).toEqual({ [p.profile.name]: true });
    expect(p.upgrades + p.devices + p.campaignDevices).toBeGreaterThan(0);
    expect(p.exposition.series).toBeGreaterThan(0);
    // One id remembered per upgrade of each report and per device of each walked campaign.
    expect(p.idMemory.ids).toBe(p.upgrades + p.campaignDevices);
    expect(p.idMemory.bytes).toBeGreaterThan(0);
  }
  const campaigns = results.profiles.find((p) => p.profile.kind === 'campaigns');
  expect(campaigns?.profile.apis).toEqual(['v2', 'v3']);
  expect(campaigns?.campaignDevices).toBeGreaterThan(0);
  expect(results.figures.filter((f) => f.figure === 0).every((f) => f.pass === true)).toBe(true);
}, 180_000);
