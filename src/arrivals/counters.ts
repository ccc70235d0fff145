/**
 * The entered counters' values, published together with each collection's snapshot (so a scrape sees
 * counters and gauges of the same collection).
 *
 * increase() only sees a counter's first increment if Prometheus scraped the series before it: a series
 * born at 1 loses it. Label sets known up front are created at 0 at start-up; a label set met for the first
 * time (an unknown device status) is published at 0, and its increments wait for the next publish.
 */
export type Labels = Readonly<Record<string, string>>;

export interface SavedSeries {
  readonly labels: Labels;
  readonly value: number;
  readonly pending: number;
  readonly published: boolean;
}

interface Series {
  readonly labels: Labels;
  value: number;
  /** Added since the last publish; becomes visible at the next one. */
  pending: number;
  /** Published at least once, so Prometheus may have scraped its 0. */
  published: boolean;
}

export class CounterFamily {
  private readonly series = new Map<string, Series>();

  constructor(readonly labelNames: readonly string[]) {}

  private key(labels: Labels): string {
    return this.labelNames.map((name) => labels[name] ?? '').join('\u0000');
  }

  private entry(labels: Labels): Series {
    const key = this.key(labels);
    let series = this.series.get(key);
    if (!series) {
      series = { labels: { ...labels }, value: 0, pending: 0, published: false };
      this.series.set(key, series);
    }
    return series;
  }

  /** A series that exists from start-up at 0. */
  create(labels: Labels): void {
    this.entry(labels).published = true;
  }

  has(labels: Labels): boolean {
    return this.series.has(this.key(labels));
  }

  add(labels: Labels, amount: number): void {
    if (amount > 0) this.entry(labels).pending += amount;
  }

  /** Makes the increments since the last publish visible; a new series shows 0 first. */
  publish(): void {
    for (const series of this.series.values()) {
      if (!series.published) {
        series.published = true;
        continue;
      }
      series.value += series.pending;
      series.pending = 0;
    }
  }

  /** Every series as the --storage.path snapshot keeps it, increments held back included. */
  dump(): SavedSeries[] {
    return [...this.series.values()].map(({ labels, value, pending, published }) => ({
      labels,
      value,
      pending,
      published,
    }));
  }

  /**
   * Continues saved series at start-up, as the publish that followed the save left them (the snapshot is
   * written just before a publish): a scrape never sees a value below what the previous process served.
   */
  restore(saved: readonly SavedSeries[]): void {
    for (const s of saved) {
      const series = this.entry(s.labels);
      series.value = s.published ? s.value + s.pending : s.value;
      series.pending = s.published ? 0 : s.pending;
      series.published = true;
    }
  }

  /** Values and held-back increments of every series, summed: it grows whenever anything was added. */
  total(): number {
    let total = 0;
    for (const series of this.series.values()) total += series.value + series.pending;
    return total;
  }

  /** The published series. */
  *entries(): IterableIterator<{ labels: Labels; value: number }> {
    for (const series of this.series.values()) {
      if (series.published) yield { labels: series.labels, value: series.value };
    }
  }
}
