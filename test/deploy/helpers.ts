/** Shared by the deployment tests: the repository root, YAML loading, the exporter's config table. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parseDocument } from 'yaml';
import { parseConfig } from '../../src/config/parse.js';
import { SETTINGS, type Config } from '../../src/config/settings.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function repoPath(path: string): string {
  return join(ROOT, path);
}

/** One YAML document; merge keys (`<<:`) resolved as Compose does. Fails on any error or warning,
 * except a warning about a tag in `allowTags` (Compose's `!reset`). */
export function loadYaml<T = Record<string, unknown>>(path: string, allowTags: string[] = []): T {
  const doc = parseDocument(readFileSync(repoPath(path), 'utf8'), { merge: true });
  if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]!.message}`);
  const warnings = doc.warnings.filter((w) => !allowTags.some((tag) => w.message.includes(tag)));
  if (warnings.length > 0) throw new Error(`${path}: ${warnings[0]!.message}`);
  return doc.toJS() as T;
}

export function loadAllYaml(path: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(repoPath(path), 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${path}: no YAML document`);
  for (const doc of docs) {
    if (doc.errors.length > 0 || doc.warnings.length > 0) {
      throw new Error(`${path}: ${(doc.errors[0] ?? doc.warnings[0])!.message}`);
    }
  }
  return docs.map((doc) => doc.toJS() as Record<string, unknown>);
}

/** Every environment variable the exporter reads: the table's, plus `<secret>_FILE`. */
export const EXPORTER_ENV = new Set(
  Object.values(SETTINGS).flatMap((spec) =>
    'secret' in spec && spec.secret ? [spec.env, `${spec.env}_FILE`] : [spec.env],
  ),
);

/** The exporter's own parser over an environment whose `*_FILE` paths are looked up in `files`. */
export function exporterConfig(env: Record<string, string>, files: Record<string, string>): Config {
  return parseConfig([], env, (path) => {
    const file = files[path];
    if (file === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return readFileSync(repoPath(file), 'utf8');
  });
}

export function port(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** A port the exporter listens on by default: the table's default listen address. */
export const DEFAULT_LISTEN_PORT = port(SETTINGS.listenAddress.default ?? '');

export function exists(path: string): boolean {
  return existsSync(repoPath(path));
}

/** promtool's path; outside CI a missing promtool skips (with a notice), in CI it fails. */
export function promtool(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'promtool'), constants.X_OK);
      return join(dir, 'promtool');
    } catch {
      // not here
    }
  }
  if (process.env.CI === 'true') throw new Error('promtool is not on PATH; CI installs it');
  console.warn('!! SKIPPED: promtool is not installed (apt-get install prometheus); not checked.');
  return undefined;
}

export function runTool(binary: string, args: string[], cwd: string) {
  const result = spawnSync(binary, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
