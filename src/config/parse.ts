import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import { formatDuration } from './duration.js';
import {
  ConfigError,
  MAX_STALE_INTERVALS,
  quote,
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

const OPTIONS = Object.fromEntries(
  ENTRIES.filter(([, s]) => s.flag).map(([, s]) => [
    s.flag!.slice(2),
    { type: s.boolean ? 'boolean' : 'string' } as const,
  ]),
);

/**
 * Splits `--flag=value`, `--flag value` and bare boolean flags into raw values by setting name, with Node's
 * own parser. A boolean flag also takes `--flag=true|false` (util.parseArgs refuses a value on a boolean),
 * so those are set aside first.
 */
function parseFlags(argv: readonly string[]): Map<SettingName, string> {
  const values = new Map<SettingName, string>();
  const rest: string[] = [];
  for (const arg of argv) {
    const eq = arg.indexOf('=');
    const name = eq === -1 ? undefined : BY_FLAG.get(arg.slice(0, eq) as `--${string}`);
    if (name && SETTINGS[name].boolean) values.set(name, arg.slice(eq + 1));
    else rest.push(arg);
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ConfigError(describeArgError(error as Error & { code?: string }, rest));
  }
  for (const [key, value] of Object.entries(parsed.values)) {
    const name = BY_FLAG.get(`--${key}`)!;
    values.set(name, typeof value === 'boolean' ? String(value) : (value as string));
  }
  return values;
}

/** util.parseArgs's messages quote whole arguments; ours name the flag only (a value may be a secret). */
function describeArgError(error: Error & { code?: string }, argv: readonly string[]): string {
  const flag = /'(-[^'\s=]*)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? '(unreadable)'} (see --help)`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const positional = argv.find((arg) => !arg.startsWith('-')) ?? '';
      return `unexpected argument ${quote(positional)} (see --help)`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `${flag ?? 'a flag'} needs a value`;
    default:
      return 'cannot read the command line (see --help)';
  }
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
  const fromFlags = parseFlags(argv);
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
  const maxStale = config.maxStale as number | undefined;
  parsed.maxStale = maxStale ?? MAX_STALE_INTERVALS * parsed.interval;
  if (parsed.maxStale < parsed.interval) {
    // A series would disappear after one failed pass, before the next pass could mend it.
    throw new ConfigError(
      `${describeSetting(SETTINGS.maxStale)}: must be at least ${describeSetting(SETTINGS.interval)} (${formatDuration(parsed.interval)}), got ${formatDuration(parsed.maxStale)}`,
    );
  }
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
