/** A small parser of the Prometheus text format, for comparing /metrics with what a fake says is true. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function unescape(value: string): string {
  return value.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let m: RegExpExecArray | null;
    let consumed = 0;
    while ((m = pair.exec(body)) !== null) {
      labels[m[1]!] = unescape(m[2]!);
      consumed = pair.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`unparseable labels: ${line}`);
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** `name{a="x",b="y"}` with labels sorted: a stable key for comparing sets of series. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

export function seriesMap(samples: Sample[], names: readonly string[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const s of samples)
    if (names.includes(s.name)) map.set(seriesKey(s.name, s.labels), s.value);
  return map;
}
