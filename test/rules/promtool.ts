/**
 * Finding promtool and prometheus. In CI (CI=true) a missing binary fails the test; elsewhere the
 * test prints a loud notice and passes, so a developer without Prometheus can still run the suite.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const warned = new Set<string>();

/** The binary's path, or undefined after a skip notice (outside CI only). */
export function requireTool(name: 'promtool' | 'prometheus' | 'amtool'): string | undefined {
  const path = findOnPath(name);
  if (path) return path;
  if (process.env.CI === 'true') {
    const pkg = name === 'amtool' ? 'prometheus-alertmanager' : 'prometheus';
    throw new Error(`${name} is not on PATH; CI must install it (apt-get install ${pkg})`);
  }
  if (!warned.has(name)) {
    warned.add(name);
    console.warn(
      [
        '',
        '!'.repeat(78),
        `!! SKIPPED: ${name} is not installed, so the tests that need it pass without running.`,
        `!! Install it to run them: apt-get install ${name === 'amtool' ? 'prometheus-alertmanager' : 'prometheus'} (Debian/Ubuntu), or put`,
        `!! the ${name} binary from a Prometheus release on PATH. In CI (CI=true) this is a failure.`,
        '!'.repeat(78),
        '',
      ].join('\n'),
    );
  }
  return undefined;
}

export interface RunResult {
  status: number | null;
  output: string;
}

export function run(binary: string, args: string[], cwd: string): RunResult {
  const result = spawnSync(binary, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return {
    status: result.status,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`,
  };
}
