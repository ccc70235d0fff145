/**
 * The shared throttle gate (src/thingspace/gate.ts), on virtual time: a sleep registers a timer, and the
 * driver moves the clock to the earliest timer only once every ready callback has run. So concurrent
 * requests interleave as they would on the network, and the tests read exact instants without waiting.
 */
import pLimit from 'p-limit';
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import { gatedSend, ThrottleGate, type GatePolicy } from '../../src/thingspace/gate.js';
import {
  throwIfTransient,
  type HttpRequest,
  type HttpResponse,
  type Send,
} from '../../src/thingspace/http.js';
import { createRetry } from '../../src/thingspace/retry.js';

class VirtualTime {
  t = 0;
  private seq = 0;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];

  readonly now = (): number => this.t;

  readonly sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      this.timers.push({ at: this.t + Math.max(0, ms), seq: this.seq++, resolve });
    });

  /** Lets every callback that is ready run (promise jobs and p-limit's queue). */
  async flush(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Drives time forward until `work` settles; fails if it waits on nothing. */
  async run<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      await this.flush();
      if (settled) return work;
      if (this.timers.length === 0) throw new Error('work waits for something that never comes');
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
  }

  /** Moves time to `at`, firing the timers due on the way. */
  async advanceTo(at: number): Promise<void> {
    for (;;) {
      await this.flush();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > at) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = Math.max(this.t, at);
    await this.flush();
  }
}

const ok: HttpResponse = { status: 200, body: {} };
const tooMany = (retryAfterSeconds?: number): HttpResponse => ({
  status: 429,
  body: undefined,
  retryAfterSeconds,
});

/** A deterministic random source (mulberry32), so a simulation with jitter is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sent {
  readonly at: number;
  readonly path: string;
  answer?: HttpResponse | Error;
  answeredAt?: number;
}

interface HarnessOptions {
  /** What the fake server answers a request received at `at`. */
  answer?: (req: HttpRequest, at: number, n: number) => HttpResponse | Error;
  /** How long the answer to the `n`th request takes. */
  latencyMs?: number | ((req: HttpRequest, n: number) => number);
  random?: () => number;
  maxRequestsPerSecond?: number;
  policy?: GatePolicy;
  deadline?: () => number;
}

function harness(options: HarnessOptions = {}) {
  const time = new VirtualTime();
  const sent: Sent[] = [];
  const closes: number[] = [];
  const opens: { at: number; closedMs: number }[] = [];
  const gate = new ThrottleGate({
    clock: { monotonicMs: time.now },
    random: options.random ?? (() => 0),
    sleep: time.sleep,
    maxRequestsPerSecond: options.maxRequestsPerSecond ?? 0,
    policy: options.policy,
    onClose: () => closes.push(time.t),
    onOpen: (closedMs) => opens.push({ at: time.t, closedMs }),
  });
  const server: Send = async (req) => {
    const record: Sent = { at: time.t, path: req.path };
    sent.push(record);
    const n = sent.length;
    const answer = (options.answer ?? (() => ok))(req, time.t, n);
    const latency =
      typeof options.latencyMs === 'function'
        ? options.latencyMs(req, n)
        : (options.latencyMs ?? 10);
    await time.sleep(latency);
    record.answer = answer;
    record.answeredAt = time.t;
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const send = gatedSend(server, gate, options.deadline ?? (() => Infinity));
  /** One GET as the client makes it: throttled answers retried without counting, other failures not. */
  const retry = createRetry(
    { maxRetries: 0, baseDelayMs: 100, maxDelayMs: 1000 },
    { sleep: time.sleep, random: () => 0 },
  );
  const get = (path: string) =>
    retry(async () => {
      const response = await send({ endpoint: 'reports', method: 'GET', path, headers: {} });
      throwIfTransient('reports', response);
      return response;
    });
  const throttled = () =>
    sent.filter(
      (s) => !(s.answer instanceof Error) && s.answer !== undefined && s.answer.status === 429,
    );
  return { time, gate, sent, closes, opens, send, get, throttled };
}

async function caught(promise: Promise<unknown>): Promise<ThingSpaceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    return error as ThingSpaceError;
  }
  throw new Error('expected a ThingSpaceError');
}

describe('ThrottleGate', () => {
  it('one 429 pauses every concurrent request until the gate reopens', async () => {
    // ThingSpace throttles every request it receives during the first 2 s.
    const h = harness({
      answer: (_req, at) => (at < 2000 ? tooMany(2) : ok),
      latencyMs: 50,
    });
    const chains = ['a', 'b', 'c', 'd'].map(async (name) => {
      for (let page = 0; page < 3; page++) await h.get(`/${name}/${page}`);
    });
    await h.time.run(Promise.all(chains));

    expect(h.closes).toHaveLength(1);
    const closedAt = h.closes[0]!;
    expect(h.gate.open).toBe(true);
    expect(h.opens).toHaveLength(1);
    const reopenedAt = h.opens[0]!.at;
    // Nothing at all was sent while the gate was closed, apart from the probe that reopened it.
    const whileClosed = h.sent.filter((s) => s.at > closedAt && s.at < reopenedAt);
    expect(whileClosed).toHaveLength(1);
    expect(whileClosed[0]!.at).toBeGreaterThanOrEqual(closedAt + 2000);
    // Only the four requests in flight when ThingSpace started throttling were answered 429.
    expect(h.throttled()).toHaveLength(4);
    expect(h.throttled().every((s) => s.at < closedAt)).toBe(true);
    // Every chain read every page once successfully, resuming where it was throttled.
    const good = h.sent.filter((s) => s.answer === ok).map((s) => s.path);
    expect(good.sort()).toEqual(
      ['a', 'b', 'c', 'd'].flatMap((n) => [0, 1, 2].map((p) => `/${n}/${p}`)).sort(),
    );
  });

  it.each([0, 0.5, 0.999999])(
    'jitter (random %p) stretches the wait, never below Retry-After',
    async (r) => {
      const h = harness({
        answer: (_req, at) => (at < 7000 ? tooMany(7) : ok),
        random: () => r,
        latencyMs: 0,
      });
      await h.time.run(h.get('/x'));
      const [first, probe] = h.sent;
      expect(h.sent).toHaveLength(2);
      const waited = probe!.at - first!.answeredAt!;
      expect(waited).toBeGreaterThanOrEqual(7000);
      expect(waited).toBeCloseTo(7000 * (1 + 0.2 * r), 6);
    },
  );

  it('without Retry-After the backoff alone decides, with jitter on top', async () => {
    const h = harness({
      answer: (_req, _at, n) => (n === 1 ? tooMany() : ok),
      random: () => 0.5,
      latencyMs: 0,
    });
    await h.time.run(h.get('/x'));
    expect(h.sent[1]!.at - h.sent[0]!.answeredAt!).toBeCloseTo(1000 * 1.1, 6);
  });

  it('sends exactly one probe when it reopens; the others wait for its outcome', async () => {
    const h = harness({
      answer: (_req, _at, n) => (n <= 5 ? tooMany(1) : ok),
      // the probe (the sixth request) takes 30 s: nobody may pass meanwhile
      latencyMs: (_req, n) => (n === 6 ? 30_000 : 10),
    });
    await h.time.run(Promise.all(['a', 'b', 'c', 'd', 'e'].map((p) => h.get(`/${p}`))));
    expect(h.throttled()).toHaveLength(5);
    const [probe, ...rest] = h.sent.slice(5);
    expect(probe!.answer).toBe(ok);
    expect(probe!.answeredAt! - probe!.at).toBe(30_000);
    // the other four went only when the probe came back, all at once
    expect(rest).toHaveLength(4);
    for (const s of rest) expect(s.at).toBe(probe!.answeredAt);
  });

  it('a throttled probe closes it again with a doubled backoff, up to maxDelayMs', async () => {
    const policy: GatePolicy = { baseDelayMs: 1000, maxDelayMs: 5000, jitter: 0.2 };
    const h = harness({
      answer: (_req, _at, n) => (n <= 6 ? tooMany() : ok),
      policy,
      latencyMs: 0,
    });
    await h.time.run(h.get('/x'));
    const gaps = h.sent.slice(1).map((s, i) => s.at - h.sent[i]!.answeredAt!);
    expect(gaps).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
    // one closure: the probes that were throttled again kept it closed, they did not reopen it
    expect(h.closes).toHaveLength(1);
    expect(h.opens).toHaveLength(1);
  });

  it('the backoff starts over after the gate was open', async () => {
    const h = harness({
      answer: (_req, _at, n) => ([1, 2, 4].includes(n) ? tooMany() : ok),
      latencyMs: 0,
    });
    await h.time.run(h.get('/x')); // 429, probe 429, probe ok
    await h.time.run(h.get('/y')); // 429 again: base backoff, not 4 s
    const last = h.sent.at(-1)!;
    const before = h.sent.at(-2)!;
    expect(last.at - before.answeredAt!).toBe(1000);
    expect(h.closes).toHaveLength(2);
  });

  it.each([
    ['200', ok],
    ['500', { status: 500, body: undefined }],
    ['503 without Retry-After', { status: 503, body: undefined }],
    ['404', { status: 404, body: undefined }],
    ['a network error', new ThingSpaceError('http', 'network error (ECONNRESET)')],
    ['a timeout', new ThingSpaceError('timeout', 'no complete answer')],
  ] as const)('a probe answered with %s reopens the gate', async (_name, answer) => {
    const h = harness({
      answer: (_req, _at, n) => (n === 1 ? tooMany(1) : n === 2 ? answer : ok),
      latencyMs: 0,
    });
    const first = h.send({ endpoint: 'reports', method: 'GET', path: '/1', headers: {} });
    await h.time.run(first);
    expect(h.gate.open).toBe(false);
    // two requests queue; the first to go is the probe
    const probe = h.send({ endpoint: 'reports', method: 'GET', path: '/2', headers: {} });
    const other = h.send({ endpoint: 'reports', method: 'GET', path: '/3', headers: {} });
    await h.time.run(probe.catch(() => undefined));
    expect(h.gate.open).toBe(true);
    expect(h.opens).toHaveLength(1);
    await h.time.run(other);
    expect(h.sent.map((s) => s.path)).toEqual(['/1', '/2', '/3']);
  });

  it('a probe answered 503 with Retry-After is a throttle: the gate stays closed', async () => {
    const h = harness({
      answer: (_req, _at, n) =>
        n === 1
          ? tooMany(1)
          : n === 2
            ? { status: 503, body: undefined, retryAfterSeconds: 3 }
            : ok,
      latencyMs: 0,
    });
    await h.time.run(h.get('/x'));
    expect(h.sent).toHaveLength(3);
    expect(h.sent[2]!.at - h.sent[1]!.answeredAt!).toBe(3000);
    expect(h.closes).toHaveLength(1);
  });

  it('requests already in flight that come back 429 add no closure and no backoff step', async () => {
    const h = harness({
      // the first eight requests are answered 429 without Retry-After, then the probe too, then all is well
      answer: (_req, _at, n) => (n <= 9 ? tooMany() : ok),
      latencyMs: 100,
    });
    const all = Array.from({ length: 8 }, (_, i) => h.get(`/${i}`));
    await h.time.run(Promise.all(all));
    expect(h.closes).toHaveLength(1);
    const probes = h.sent.slice(8);
    // 8 answers at t=100: one closure of 1 s (not 2^7 s); the probe throttled: 2 s; the next probe succeeds
    expect(probes[0]!.at).toBe(100 + 1000);
    expect(probes[1]!.at).toBe(probes[0]!.answeredAt! + 2000);
    expect(probes[1]!.answer).toBe(ok);
    expect(h.throttled()).toHaveLength(9);
  });

  it('a request in flight told to wait longer pushes the reopening out to that', async () => {
    const h = harness({
      answer: (req) => (req.path === '/slow' ? tooMany(5) : req.path === '/fast' ? tooMany(2) : ok),
      latencyMs: (req) => (req.path === '/slow' ? 500 : 100),
    });
    const fast = h.send({ endpoint: 'reports', method: 'GET', path: '/fast', headers: {} });
    const slow = h.send({ endpoint: 'reports', method: 'GET', path: '/slow', headers: {} });
    await h.time.run(Promise.all([fast, slow]));
    const next = h.send({ endpoint: 'reports', method: 'GET', path: '/next', headers: {} });
    await h.time.run(next);
    expect(h.closes).toHaveLength(1);
    expect(h.sent[2]!.at).toBe(500 + 5000);
  });

  it('pacing spaces requests at 1/rate', async () => {
    const h = harness({ maxRequestsPerSecond: 4, latencyMs: 0 });
    await h.time.run(Promise.all(Array.from({ length: 6 }, (_, i) => h.get(`/${i}`))));
    const times = h.sent.map((s) => s.at);
    expect(times).toEqual([0, 250, 500, 750, 1000, 1250]);
    // after a pause the next request goes at once, without a burst of the missed slots
    await h.time.advanceTo(10_000);
    await h.time.run(Promise.all(Array.from({ length: 3 }, (_, i) => h.get(`/later${i}`))));
    expect(h.sent.slice(6).map((s) => s.at)).toEqual([10_000, 10_250, 10_500]);
  });

  it('without pacing concurrent requests go at once', async () => {
    const h = harness({ latencyMs: 0 });
    await h.time.run(Promise.all(Array.from({ length: 6 }, (_, i) => h.get(`/${i}`))));
    expect(h.sent.map((s) => s.at)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("a wait beyond the collection's deadline fails at once, as a throttled error no retry repeats", async () => {
    let deadline = Infinity;
    const h = harness({
      answer: (_req, _at, n) => (n === 1 ? tooMany(60) : ok),
      latencyMs: 0,
      deadline: () => deadline,
    });
    await h.time.run(
      h.send({ endpoint: 'reports', method: 'GET', path: '/1', headers: {} }).then(() => undefined),
    );
    deadline = h.time.t + 10_000;
    const before = h.time.t;
    const error = await caught(h.time.run(h.get('/2')));
    expect(h.time.t).toBe(before); // at once, without sleeping
    expect(error.kind).toBe('throttled');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/time budget/);
    expect(h.sent).toHaveLength(1);
    // a later collection with a budget that reaches the reopening waits for it
    deadline = Infinity;
    await h.time.run(h.get('/3'));
    expect(h.sent[1]!.at).toBe(60_000);
  });

  it('a paced slot beyond the deadline fails at once too', async () => {
    const h = harness({ maxRequestsPerSecond: 1, latencyMs: 0, deadline: () => 1500 });
    const results = await h.time.run(
      Promise.allSettled(Array.from({ length: 4 }, (_, i) => h.get(`/${i}`))),
    );
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
    ]);
    expect(h.sent.map((s) => s.at)).toEqual([0, 1000]);
    for (const r of results.slice(2))
      expect((r as PromiseRejectedResult).reason).toMatchObject({ kind: 'throttled' });
  });

  it('a probe that cannot be sent before the deadline leaves the gate closed for a real probe', async () => {
    let deadline = Infinity;
    const h = harness({
      answer: (_req, _at, n) => (n === 1 ? tooMany(1) : ok),
      maxRequestsPerSecond: 0.1, // one request every 10 s
      latencyMs: 0,
      deadline: () => deadline,
    });
    await h.time.run(h.send({ endpoint: 'reports', method: 'GET', path: '/1', headers: {} }));
    expect(h.gate.open).toBe(false);
    // the gate may reopen at 1 s, but the next paced slot is at 10 s, beyond this collection's deadline
    deadline = 5000;
    const error = await caught(h.time.run(h.get('/2')));
    expect(error.kind).toBe('throttled');
    expect(h.sent).toHaveLength(1);
    // no probe was answered, so nothing says ThingSpace stopped throttling
    expect(h.gate.open).toBe(false);
    expect(h.opens).toEqual([]);
    // the next collection's first request is the probe, and its answer reopens the gate
    deadline = Infinity;
    await h.time.run(Promise.all([h.get('/a'), h.get('/b')]));
    expect(h.sent.map((s) => s.path)).toEqual(['/1', '/a', '/b']);
    expect(h.opens).toEqual([{ at: 10_000, closedMs: 10_000 }]);
    expect(h.closes).toHaveLength(1);
  });

  it('reports each closure once and the time it stayed closed', async () => {
    const h = harness({
      answer: (_req, at) => (at < 3000 || (at >= 20_000 && at < 21_000) ? tooMany(1) : ok),
      latencyMs: 0,
    });
    await h.time.run(h.get('/x'));
    expect(h.closes).toEqual([0]);
    // 429 at 0 (closed 1 s), the probe at 1 s throttled (closed 2 s more), the probe at 3 s answered
    expect(h.opens).toEqual([{ at: 3000, closedMs: 3000 }]);
    await h.time.advanceTo(20_000);
    await h.time.run(h.get('/y'));
    expect(h.closes).toEqual([0, 20_000]);
    expect(h.opens[1]).toEqual({ at: 21_000, closedMs: 1000 });
    expect(h.gate.open).toBe(true);
  });
});

describe('a throttled ThingSpace, simulated (issue 11 §2)', () => {
  const WINDOW_MS = 30_000;
  const THROTTLED_MS = 10_000;

  /**
   * `chains` report chains of `pages` pages each, through a request limit of `concurrency` (as the collector
   * schedules them), against a server that answers every request with 429 and Retry-After 2 during the first
   * 10 s of every 30 s.
   */
  async function simulate(
    chains: number,
    pages: number,
    concurrency: number,
    seed: number,
    maxRequestsPerSecond = 0,
  ) {
    const h = harness({
      answer: (_req, at) => (at % WINDOW_MS < THROTTLED_MS ? tooMany(2) : ok),
      latencyMs: 150,
      random: seeded(seed),
      maxRequestsPerSecond,
    });
    const limit = pLimit(concurrency);
    const read = new Map<number, number[]>();
    const work = Array.from({ length: chains }, async (_, chain) => {
      const got: number[] = [];
      read.set(chain, got);
      for (let page = 0; page < pages; page++) {
        await limit(() => h.get(`/chain/${chain}/page/${page}`));
        got.push(page);
      }
    });
    await h.time.run(Promise.all(work));
    const perWindow = new Map<number, number>();
    for (const s of h.throttled()) {
      const window = Math.floor(s.at / WINDOW_MS);
      perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
    }
    return { h, read, perWindow };
  }

  it.each([
    [20, 60, 1, 1, 0],
    [20, 60, 4, 2, 0],
    [30, 40, 8, 3, 0],
    [50, 60, 16, 4, 0],
    [20, 40, 8, 5, 20],
  ])(
    '%d chains × %d pages at concurrency %d (seed %d, pacing %p/s): every chain completes, ≤ concurrency + 5 429s a window',
    async (chains, pages, concurrency, seed, rate) => {
      const { h, read, perWindow } = await simulate(chains, pages, concurrency, seed, rate);
      for (let chain = 0; chain < chains; chain++)
        expect(read.get(chain)).toEqual(Array.from({ length: pages }, (_, i) => i));
      // the simulation did cross throttled windows, more than one of them
      expect(perWindow.size).toBeGreaterThanOrEqual(2);
      for (const [, count] of perWindow) expect(count).toBeLessThanOrEqual(concurrency + 5);
      // every page answered 200 exactly once: throttled pages resumed, nothing read twice
      const good = h.sent.filter((s) => s.answer === ok);
      expect(good).toHaveLength(chains * pages);
      expect(new Set(good.map((s) => s.path)).size).toBe(chains * pages);
      expect(h.gate.open).toBe(true);
      if (rate > 0) {
        const gaps = h.sent.slice(1).map((s, i) => s.at - h.sent[i]!.at);
        expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000 / rate - 1e-6);
      }
    },
  );
});
