#!/usr/bin/env node
// @ts-check
/**
 * Where the exporter's CPU goes during a collection: runs the exporter under `node --cpu-prof` against a
 * simulator with one of the benchmark's profiles, lets it collect twice (interval 1s, like the benchmark),
 * stops it, and prints the functions with the most self time, by function and by file. The .cpuprofile
 * is written to a temporary directory (or --keep <dir>) and is not meant to be committed.
 *
 *   npm run build && node bench/profile.mjs [--profile 2M] [--latency-ms 20] [--top 25] [--keep dir]
 *
 * Profiles are the benchmark's (bench/lib/profiles.mjs): the same simulator flags and --thingspace.apis.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killChildrenOnExit, startNode } from './lib/proc.mjs';
import { PROFILES, simulatorArgs } from './lib/profiles.mjs';
import { EXPORTER_ENV, startSimulator } from './lib/simulator.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * @typedef {object} ProfileNode
 * @property {number} id
 * @property {{ functionName: string, url: string, lineNumber: number }} callFrame
 * @property {number[]} [children]
 */

/**
 * Self time by function and by file, from a .cpuprofile.
 * @param {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[] }} profile
 * @param {number} top
 */
export function summarizeProfile(profile, top) {
  /** @type {Map<number, ProfileNode>} */
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<string, number>} */
  const byFunction = new Map();
  /** @type {Map<string, number>} */
  const byFile = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url ? url.replace(/^file:\/\//, '').replace(ROOT, '') : '(native)';
    const fn = `${functionName || '(anonymous)'} ${url ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const group = file.startsWith('node_modules/')
      ? file
          .split('/')
          .slice(0, file.split('/')[1]?.startsWith('@') ? 3 : 2)
          .join('/')
      : file;
    byFile.set(group, (byFile.get(group) ?? 0) + us);
  });
  /** @param {Map<string, number>} map */
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: (100 * us) / total }));
  return { totalMs: total / 1000, functions: rank(byFunction), files: rank(byFile) };
}

async function main() {
  const args = process.argv.slice(2);
  /** @param {string} name @param {string} fallback */
  const flag = (name, fallback) => {
    const i = args.indexOf(name);
    return i === -1 ? fallback : (args[i + 1] ?? fallback);
  };
  const profileName = flag('--profile', '2M');
  const profile = PROFILES.find((p) => p.name.toLowerCase() === profileName.toLowerCase());
  if (!profile)
    throw new Error(
      `unknown profile ${profileName}; known: ${PROFILES.map((p) => p.name).join(', ')}`,
    );
  const top = Number(flag('--top', '25'));
  const keep = flag('--keep', '');
  const dir = keep ? path.resolve(keep) : mkdtempSync(path.join(os.tmpdir(), 'fota-profile-'));
  killChildrenOnExit();
  const sim = await startSimulator(
    ROOT,
    simulatorArgs(profile, Number(flag('--latency-ms', '20'))),
  );
  try {
    const accounts = Object.keys((await sim.summary()).accounts);
    const exporter = startNode(
      'exporter',
      `${ROOT}dist/cli.js`,
      [
        '--web.listen-address=127.0.0.1:0',
        `--thingspace.base-url=${sim.url}`,
        `--thingspace.accounts=${accounts.join(',')}`,
        `--thingspace.apis=${profile.apis.join(',')}`,
        '--collector.interval=1s',
      ],
      { env: EXPORTER_ENV, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] },
    );
    const first = await exporter.waitForLine((l) => l.msg === 'collection finished', 900_000);
    const second = await exporter.waitForLine(
      (l) => l.msg === 'collection finished',
      900_000,
      exporter.lines.indexOf(first) + 1,
    );
    await exporter.stop('SIGTERM', 30_000);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    const summary = summarizeProfile(JSON.parse(readFileSync(path.join(dir, file), 'utf8')), top);
    process.stdout.write(
      `profile ${profile.name}: collections of ${first.durationSeconds} s and ${second.durationSeconds} s, ` +
        `${(summary.totalMs / 1000).toFixed(2)} s sampled (idle included)\n\nself time by function:\n`,
    );
    for (const f of summary.functions)
      process.stdout.write(
        `${f.percent.toFixed(1).padStart(5)} %  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}\n`,
      );
    process.stdout.write('\nself time by file:\n');
    for (const f of summary.files)
      process.stdout.write(
        `${f.percent.toFixed(1).padStart(5)} %  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}\n`,
      );
    if (keep) process.stdout.write(`\nprofile kept in ${path.join(dir, file)}\n`);
  } finally {
    await sim.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`profile: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
