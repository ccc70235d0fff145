const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** Parses a Prometheus-style duration (`30s`, `5m`, `1h`; a bare number means seconds) into milliseconds. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new Error(
      `invalid duration ${JSON.stringify(text.slice(0, 80))} (use e.g. 30s, 5m, 1h; a bare number means seconds)`,
    );
  }
  return Number(match[1]) * UNIT_MS[match[2] ?? 's']!;
}

/** Formats milliseconds back into the shortest exact duration, for --help and logs. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
