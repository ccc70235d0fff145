/**
 * What a scrape gets: the text rendered once per collection (snapshot and entered counters) followed by the
 * live metrics. The whole text is reused for up to MAX_AGE_MS while the collection's text stays the same, so
 * that many scrapers (HA pairs, federation) cost a string copy rather than a registry walk each; it is
 * gzipped once per cached text for scrapers that ask (Prometheus does).
 */
import { gzipSync } from 'node:zlib';
import type { Clock } from '../clock.js';
import type { LiveMetrics } from './live.js';

/** Live counters may be this old in a scrape; Prometheus scrapes every 15 s or more. */
export const MAX_AGE_MS = 1000;

interface Cached {
  readonly collected: string;
  readonly at: number;
  readonly text: string;
  gzipped?: Buffer;
}

export class Exposition {
  private collected = '';
  private cached: Cached | undefined;

  constructor(
    private readonly live: LiveMetrics,
    private readonly clock: Pick<Clock, 'monotonicMs'>,
  ) {}

  /** Replaces the collection's part of the text, in one step. */
  publish(collected: string): void {
    this.collected = collected;
  }

  async text(): Promise<string> {
    return (await this.current()).text;
  }

  async gzipped(): Promise<Buffer> {
    const cached = await this.current();
    cached.gzipped ??= gzipSync(cached.text, { level: 6 });
    return cached.gzipped;
  }

  private async current(): Promise<Cached> {
    const now = this.clock.monotonicMs();
    const cached = this.cached;
    if (cached && cached.collected === this.collected && now - cached.at < MAX_AGE_MS) {
      return cached;
    }
    const collected = this.collected;
    const text = collected + (await this.live.render());
    this.cached = { collected, at: now, text };
    return this.cached;
  }
}
