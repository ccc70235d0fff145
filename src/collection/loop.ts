/**
 * The background loop: a collection at start-up, then one per interval, never two at once (if one overruns
 * the interval, the next starts when it ends). Durations are measured on the monotonic clock, so a wall clock
 * stepped back neither delays nor hurries the next collection.
 */
import type { Clock } from '../clock.js';

export class CollectionLoop {
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly collect: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly clock: Pick<Clock, 'monotonicMs'>,
    /** collect() turns ThingSpace failures into state; reaching this is a bug, not a reason to stop. */
    private readonly onCrash: (error: unknown) => void,
  ) {}

  /** Runs one collection, or joins the one already running. */
  runOnce(): Promise<void> {
    this.running ??= this.collect().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(): void {
    const tick = async () => {
      const started = this.clock.monotonicMs();
      try {
        await this.runOnce();
      } catch (error) {
        this.onCrash(error);
      }
      if (this.stopped) return;
      const wait = Math.max(0, started + this.intervalMs - this.clock.monotonicMs());
      this.timer = setTimeout(() => void tick(), wait);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
