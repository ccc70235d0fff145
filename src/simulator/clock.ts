/**
 * Simulated time, shared by the v1 upgrades and the v2/v3 campaigns: a generation that counts every
 * change of state (each tick, each scenario run) and the simulated clock at each generation, so that
 * "entered at a generation" and "updated at" times can be answered after the fact.
 */
export class SimClock {
  /** Increments with every change of state. */
  generation = 0;
  /** The simulated clock, in ms since the epoch. */
  clockMs: number;
  /** Clock at each generation; a number per tick is cheap even for long runs. */
  private readonly history: number[];

  constructor(startMs: number) {
    this.clockMs = startMs;
    this.history = [startMs];
  }

  /** One tick: the next generation, with the clock moved forward by `stepMs`. */
  tick(stepMs: number): number {
    this.clockMs += stepMs;
    return this.next();
  }

  /** A change of state that takes no simulated time (a scenario run). */
  bump(): number {
    return this.next();
  }

  /** The clock when `generation` began; the current clock for a generation still to come. */
  clockAt(generation: number): number {
    return this.history[generation] ?? this.clockMs;
  }

  private next(): number {
    this.generation += 1;
    this.history.push(this.clockMs);
    return this.generation;
  }
}
