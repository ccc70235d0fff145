/**
 * JSON-lines logging with pino. Two layers keep secrets out: redaction of the fields that may carry them
 * (headers, credentials, tokens), and a last scrub of every line for the secret values themselves, which
 * catches a secret wherever it might hide (an error message, a nested object).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/settings.js';

export type { Logger };

const MIN_SECRET_LENGTH = 3;
const MASK = '[REDACTED]';
const MAX_SECRETS = 64;

/** The secret values known so far: configured credentials and the tokens obtained with them. */
export class SecretScrubber {
  /** Longest first, so that a secret containing another is masked whole. */
  private values: string[] = [];
  private recent: string[] = [];
  private pinned: string[] = [];

  add(value: string): void {
    const forms = SecretScrubber.forms(value);
    if (forms.length === 0) return;
    // Tokens are replaced every hour or so: keep the most recently added values only. Credentials are
    // added again at each login, which keeps them among the recent ones.
    this.recent = [...this.recent.filter((v) => !forms.includes(v)), ...forms].slice(-MAX_SECRETS);
    this.update();
  }

  /** A secret that never changes while the process runs (proxy credentials): never evicted. */
  pin(value: string): void {
    for (const form of SecretScrubber.forms(value))
      if (!this.pinned.includes(form)) this.pinned.push(form);
    this.update();
  }

  /** In a JSON line a secret with quotes or backslashes appears escaped. */
  private static forms(value: string): string[] {
    if (value.length < MIN_SECRET_LENGTH) return [];
    const escaped = JSON.stringify(value).slice(1, -1);
    return escaped === value ? [value] : [value, escaped];
  }

  private update(): void {
    this.values = [...new Set([...this.pinned, ...this.recent])].sort(
      (a, b) => b.length - a.length,
    );
  }

  scrub(text: string): string {
    let out = text;
    for (const value of this.values) if (out.includes(value)) out = out.split(value).join(MASK);
    return out;
  }
}

const REDACT_PATHS = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.headers["vz-m2m-token"]',
  '*.headers["VZ-M2M-Token"]',
  'password',
  '*.password',
  'clientSecret',
  '*.clientSecret',
  'token',
  '*.token',
  'sessionToken',
  '*.sessionToken',
  'access_token',
  '*.access_token',
];

export function createLogger(
  level: LogLevel,
  scrubber: SecretScrubber,
  destination: DestinationStream | 1 | 2 = 1,
): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: MASK },
      hooks: { streamWrite: (line) => scrubber.scrub(line) },
    },
    typeof destination === 'number'
      ? pino.destination({ dest: destination, sync: true })
      : destination,
  );
}
