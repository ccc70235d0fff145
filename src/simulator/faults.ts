/**
 * Fault settings in force, changeable at run time, and the seeded draws that decide which reports
 * requests fail. Draws come from their own seeded streams, one draw per request, so a given
 * sequence of requests meets the same faults on every run with the same seed.
 */
import { checkFaults, type FaultSettings } from './options.js';
import { Random, hashString } from './random.js';

export type ReportsDraw = 'reset' | 'error' | 'throttle' | 'throttle-bare' | null;

export class FaultState {
  private current: FaultSettings;
  private readonly reportsRandom: Random;
  private readonly tokenRandom: Random;

  constructor(
    private readonly initial: FaultSettings,
    seed: number,
  ) {
    checkFaults(initial);
    this.current = { ...initial };
    this.reportsRandom = new Random(seed, hashString('faults:reports'));
    this.tokenRandom = new Random(seed, hashString('faults:token'));
  }

  get settings(): FaultSettings {
    return { ...this.current };
  }

  /** Merges validated changes; the combination is checked before anything is applied. */
  update(changes: Partial<FaultSettings>): FaultSettings {
    const next = { ...this.current, ...changes };
    checkFaults(next);
    this.current = next;
    return this.settings;
  }

  /** Back to the settings the simulator started with. */
  reset(): FaultSettings {
    this.current = { ...this.initial };
    return this.settings;
  }

  /** One draw per reports request; the rates partition [0, 1), so each is exact on its own. */
  drawReports(): ReportsDraw {
    const f = this.current;
    let point = this.reportsRandom.float();
    if ((point -= f.resetRate) < 0) return 'reset';
    if ((point -= f.errorRate) < 0) return 'error';
    if ((point -= f.throttleRate) < 0) return 'throttle';
    if ((point -= f.throttleBareRate) < 0) return 'throttle-bare';
    return null;
  }

  /** One draw per token or login request. */
  drawTokenError(): boolean {
    return this.tokenRandom.float() < this.current.tokenErrorRate;
  }
}
