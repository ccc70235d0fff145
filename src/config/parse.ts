import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  ConfigError,
  SETTINGS,
  type Config,
  type Secret,
  type SettingName,
  type SettingSpec,
} from './settings.js';

type Env = Readonly<Record<string, string | undefined>>;
type ReadFile = (path: string) => string;

const readUtf8: ReadFile = (path) => readFileSync(path, 'utf8');

const ENTRIES = Object.entries(SETTINGS) as [SettingName, SettingSpec<unknown>][];
const BY_FLAG = new Map(ENTRIES.filter(([, s]) => s.flag).map(([name, s]) => [s.flag!, name]));

export function describeSetting(spec: SettingSpec<unknown>): string {
  return spec.flag ? `${spec.flag} (${spec.env})` : spec.env;
}

/** Splits `--flag=value`, `--flag value` and bare boolean flags into raw values by setting name. */
function parseArgs(argv: readonly string[]): Map<SettingName, string> {
  const values = new Map<SettingName, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const name = BY_FLAG.get(flag as `--${string}`);
    if (!name) {
      throw new ConfigError(
        arg.startsWith('-')
          ? `unknown flag ${flag} (see --help)`
          : `unexpected argument "${arg}" (see --help)`,
      );
    }
    const spec = SETTINGS[name] as SettingSpec<unknown>;
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (spec.boolean) value = 'true';
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new ConfigError(`${flag} needs a value`);
    values.set(name, value);
  }
  return values;
}

function fileSecret(env: string, path: string, readFile: ReadFile): Secret {
  const read = (): string => {
    let text: string;
    try {
      text = readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError(`${env}_FILE: cannot read "${path}" (${code})`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (value.length === 0) throw new ConfigError(`${env}_FILE: "${path}" is empty`);
    return value;
  };
  read();
  return { read, source: `${env}_FILE` };
}

function resolveSecret(spec: SettingSpec<unknown>, env: Env, readFile: ReadFile): Secret {
  const direct = env[spec.env];
  const file = env[`${spec.env}_FILE`];
  if (direct !== undefined && file !== undefined) {
    throw new ConfigError(`${spec.env}: set either ${spec.env} or ${spec.env}_FILE, not both`);
  }
  if (file !== undefined) return fileSecret(spec.env, file, readFile);
  if (direct === undefined || direct.length === 0) {
    throw new ConfigError(
      `${spec.env}: is required (set it, or ${spec.env}_FILE to a file holding it)`,
    );
  }
  return { read: () => direct, source: spec.env };
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Builds the configuration from flags and environment (a flag wins over its variable).
 * Throws a ConfigError whose message names the setting and never contains a secret's value.
 */
export function parseConfig(
  argv: readonly string[],
  env: Env,
  readFile: ReadFile = readUtf8,
): Config {
  const fromFlags = parseArgs(argv);
  const config: Record<string, unknown> = {};
  for (const [name, spec] of ENTRIES) {
    if (spec.secret) {
      config[name] = resolveSecret(spec, env, readFile);
      continue;
    }
    const raw = fromFlags.get(name) ?? env[spec.env] ?? spec.default;
    if (raw === undefined) throw new ConfigError(`${describeSetting(spec)}: is required`);
    try {
      config[name] = spec.parse(raw);
    } catch (error) {
      throw new ConfigError(`${describeSetting(spec)}: ${(error as Error).message}`);
    }
  }
  const parsed = config as Config;
  if (
    parsed.baseUrl.protocol === 'http:' &&
    !isLoopback(parsed.baseUrl.hostname) &&
    !parsed.allowInsecureHttp
  ) {
    throw new ConfigError(
      `${describeSetting(SETTINGS.baseUrl)}: plain http is only allowed for loopback addresses; use https or set ${SETTINGS.allowInsecureHttp.flag}`,
    );
  }
  return parsed;
}
