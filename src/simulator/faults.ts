/**
 * Fault settings in force, changeable at run time, and the seeded draws that decide which requests
 * fail. Draws come from their own seeded streams, one draw per request, so a given sequence of
 * requests meets the same faults on every run with the same seed: v1 reports, campaign requests and
 * token requests each have a stream, so traffic on one never shifts the faults of another.
 */
import { checkFaults, parseThrottleWindow, type FaultSettings } from './options.js';
import { Random, hashString } from './random.js';

export type RequestDraw = 'reset' | 'error' | 'throttle' | 'throttle-bare' | null;

export interface ThrottleWindowCount {
  /** 0 for the window that began when the setting was made, 1 for the next, … */
  readonly index: number;
  readonly startedAt: string;
  /** Requests answered 429 in this window. */
  readonly throttled: number;
}

export interface ThrottleWindowStats {
  readonly window: string | null;
  /** Every window from the first to the current one (at most the last 100). */
  readonly windows: ThrottleWindowCount[];
}

const KEPT_WINDOWS = 100;

/**
 * Throttle windows by the real clock (monotonic), counted from the moment the setting was made: the
 * first window starts throttled at once, so a test knows where it stands.
 */
class ThrottleWindows {
  private setting: string | null = null;
  private onMs = 0;
  private periodMs = 0;
  private originMono = 0;
  private originWall = 0;
  private counts = new Map<number, number>();

  configure(setting: string | null): void {
    if (setting === this.setting) return;
    this.setting = setting;
    this.counts = new Map();
    this.originMono = performance.now();
    this.originWall = Date.now();
    if (setting === null) return;
    ({ onMs: this.onMs, periodMs: this.periodMs } = parseThrottleWindow(setting));
  }

  /** Whether a request arriving now is throttled; counts it if so. */
  take(): boolean {
    if (this.setting === null) return false;
    const elapsed = performance.now() - this.originMono;
    const index = Math.floor(elapsed / this.periodMs);
    if (elapsed - index * this.periodMs >= this.onMs) return false;
    this.counts.set(index, (this.counts.get(index) ?? 0) + 1);
    return true;
  }

  clearCounts(): void {
    this.counts = new Map();
  }

  snapshot(): ThrottleWindowStats {
    if (this.setting === null) return { window: null, windows: [] };
    const current = Math.floor((performance.now() - this.originMono) / this.periodMs);
    const windows: ThrottleWindowCount[] = [];
    for (let index = Math.max(0, current - KEPT_WINDOWS + 1); index <= current; index += 1) {
      windows.push({
        index,
        startedAt: new Date(this.originWall + index * this.periodMs).toISOString(),
        throttled: this.counts.get(index) ?? 0,
      });
    }
    for (const index of this.counts.keys())
      if (index <= current - KEPT_WINDOWS) this.counts.delete(index);
    return { window: this.setting, windows };
  }
}

export class FaultState {
  private current: FaultSettings;
  private readonly reportsRandom: Random;
  private readonly campaignsRandom: Random;
  private readonly tokenRandom: Random;
  private readonly throttle = new ThrottleWindows();

  constructor(
    private readonly initial: FaultSettings,
    seed: number,
  ) {
    checkFaults(initial);
    this.current = { ...initial };
    this.throttle.configure(initial.throttleWindow);
    this.reportsRandom = new Random(seed, hashString('faults:reports'));
    this.campaignsRandom = new Random(seed, hashString('faults:campaigns'));
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
    this.throttle.configure(next.throttleWindow);
    return this.settings;
  }

  /** Back to the settings the simulator started with. */
  reset(): FaultSettings {
    this.current = { ...this.initial };
    this.throttle.configure(this.current.throttleWindow);
    return this.settings;
  }

  /** One draw per reports request; the rates partition [0, 1), so each is exact on its own. */
  drawReports(): RequestDraw {
    return this.draw(this.reportsRandom);
  }

  /** One draw per campaign request (listing or device list), from a stream of its own. */
  drawCampaigns(): RequestDraw {
    return this.draw(this.campaignsRandom);
  }

  /** One draw per token or login request. */
  drawTokenError(): boolean {
    return this.tokenRandom.float() < this.current.tokenErrorRate;
  }

  /** Whether an API request arriving now falls into a throttle window (and is counted there). */
  throttledByWindow(): boolean {
    return this.throttle.take();
  }

  throttleWindows(): ThrottleWindowStats {
    return this.throttle.snapshot();
  }

  clearThrottleCounts(): void {
    this.throttle.clearCounts();
  }

  private draw(random: Random): RequestDraw {
    const f = this.current;
    let point = random.float();
    if ((point -= f.resetRate) < 0) return 'reset';
    if ((point -= f.errorRate) < 0) return 'error';
    if ((point -= f.throttleRate) < 0) return 'throttle';
    if ((point -= f.throttleBareRate) < 0) return 'throttle-bare';
    return null;
  }
}
