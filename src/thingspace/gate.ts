/**
 * One gate in front of every request to ThingSpace. ThingSpace publishes no rate limit, but all of one
 * client's requests share whatever limit it has: when one request is answered 429 (or 503 with Retry-After),
 * every request pauses, until the later of the Retry-After and an exponential backoff, with jitter so that
 * exporters sharing a client do not come back in step. When the gate reopens, one probe request goes first;
 * the rest follow only if it was not throttled. So a throttled minute costs a handful of 429s, not one per
 * report chain per retry.
 *
 * Optional pacing (--thingspace.max-requests-per-second) spaces requests evenly for contracts that state a limit.
 * Waiting ends at the collection's time budget: a request that cannot be sent before it fails as throttled.
 */
import type { Clock } from '../clock.js';
import { ThingSpaceError } from './errors.js';
import { isThrottleAnswer, type HttpResponse, type Send } from './http.js';

export interface GatePolicy {
  /** Backoff after the first throttled answer; it doubles with every probe throttled again. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** The wait is stretched by up to this share, at random. */
  readonly jitter: number;
}

export const DEFAULT_GATE_POLICY: GatePolicy = {
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  jitter: 0.2,
};

export interface GateDeps {
  readonly clock: Pick<Clock, 'monotonicMs'>;
  readonly random: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** 0: no pacing. */
  readonly maxRequestsPerSecond: number;
  readonly policy?: GatePolicy;
  readonly onClose?: () => void;
  /** Called when the gate opens again, with how long it was closed. */
  readonly onOpen?: (closedMs: number) => void;
}

export interface Ticket {
  /** The one request sent when the gate reopened; its outcome decides whether the others follow. */
  readonly probe: boolean;
}

const PROBE: Ticket = { probe: true };
const REGULAR: Ticket = { probe: false };

export class ThrottleGate {
  private state: 'open' | 'closed' | 'probing' = 'open';
  private reopenAt = 0;
  private closedSince = 0;
  /** Closures since the gate was last open: the backoff's exponent. */
  private closures = 0;
  private waiting: (() => void)[] = [];
  private nextSlot = 0;
  private readonly policy: GatePolicy;

  constructor(private readonly deps: GateDeps) {
    this.policy = deps.policy ?? DEFAULT_GATE_POLICY;
  }

  get open(): boolean {
    return this.state === 'open';
  }

  /** Waits until a request may be sent, or throws a throttled error once `deadline` (monotonic ms) is out of reach. */
  async enter(deadline: number): Promise<Ticket> {
    let ticket = REGULAR;
    for (;;) {
      const now = this.deps.clock.monotonicMs();
      if (this.state === 'open') break;
      if (this.state === 'closed') {
        if (now >= this.reopenAt) {
          this.state = 'probing';
          ticket = PROBE;
          break;
        }
        if (this.reopenAt > deadline) throw this.outOfBudget(this.reopenAt - now);
        await this.deps.sleep(this.reopenAt - now);
        continue;
      }
      // A probe is out: wait for its outcome.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    await this.pace(deadline, ticket);
    return ticket;
  }

  /**
   * Waits, without taking a turn, until a request could pass: the gate is open, or due to reopen. A client
   * waits here before it takes its tokens, so that a long pause does not leave it holding expired ones.
   */
  async whenOpen(deadline: number): Promise<void> {
    for (;;) {
      const now = this.deps.clock.monotonicMs();
      if (this.state === 'open') return;
      if (this.state === 'closed') {
        if (now >= this.reopenAt) return;
        if (this.reopenAt > deadline) throw this.outOfBudget(this.reopenAt - now);
        await this.deps.sleep(this.reopenAt - now);
        continue;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Reports how a request that passed the gate went. */
  leave(ticket: Ticket, response: HttpResponse | undefined): void {
    const now = this.deps.clock.monotonicMs();
    if (response && isThrottleAnswer(response)) {
      const asked = (response.retryAfterSeconds ?? 0) * 1000;
      if (ticket.probe || this.state === 'open') {
        const backoff = Math.min(
          this.policy.maxDelayMs,
          this.policy.baseDelayMs * 2 ** this.closures,
        );
        const wait = Math.max(asked, backoff) * (1 + this.policy.jitter * this.deps.random());
        if (this.state === 'open') {
          this.closedSince = now;
          this.deps.onClose?.();
        }
        this.closures++;
        this.state = 'closed';
        this.reopenAt = now + wait;
        this.wake();
      } else {
        // A request sent before the gate closed: it may only push the reopening out to what it was told.
        this.reopenAt = Math.max(this.reopenAt, now + asked);
      }
      return;
    }
    if (ticket.probe) {
      // Any answer that is not a throttle, even an error, says the limit is no longer what stops us.
      this.state = 'open';
      this.closures = 0;
      this.deps.onOpen?.(now - this.closedSince);
      this.wake();
    }
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }

  private async pace(deadline: number, ticket: Ticket): Promise<void> {
    const rate = this.deps.maxRequestsPerSecond;
    if (rate <= 0) return;
    const now = this.deps.clock.monotonicMs();
    const slot = Math.max(now, this.nextSlot);
    if (slot > deadline) {
      if (ticket.probe) {
        // The probe is never sent, so nothing says ThingSpace stopped throttling: the gate stays closed and
        // the next request to pass it is the probe.
        this.state = 'closed';
        this.wake();
      }
      throw this.outOfBudget(slot - now);
    }
    this.nextSlot = slot + 1000 / rate;
    if (slot > now) await this.deps.sleep(slot - now);
  }

  private outOfBudget(waitMs: number): ThingSpaceError {
    return new ThingSpaceError(
      'throttled',
      `the collection's time budget runs out before ThingSpace may be asked again (${Math.ceil(waitMs / 1000)}s to wait)`,
      undefined,
      undefined,
      undefined,
      true, // never sent: a login refused here cannot have been counted
    );
  }
}

/** A Send whose every request passes the gate; `deadline` gives the current collection's budget. */
export function gatedSend(send: Send, gate: ThrottleGate, deadline: () => number): Send {
  return async (req) => {
    const ticket = await gate.enter(deadline());
    let response: HttpResponse | undefined;
    try {
      response = await send(req);
      return response;
    } finally {
      gate.leave(ticket, response);
    }
  };
}
