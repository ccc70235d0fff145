import { ThingSpaceError, type ErrorKind } from '../../src/thingspace/errors.js';
import { createRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../src/thingspace/retry.js';

const POLICY: RetryPolicy = {
  maxRetries: 3,
  baseDelayMs: 100,
  maxDelayMs: 1000,
};

function harness(policy: Partial<RetryPolicy> = {}, random: () => number = () => 1) {
  const sleeps: number[] = [];
  const retries: { kind: ErrorKind; attempt: number; delayMs: number }[] = [];
  const retry = createRetry(
    { ...POLICY, ...policy },
    {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random,
      onRetry: (error, attempt, delayMs) => retries.push({ kind: error.kind, attempt, delayMs }),
    },
  );
  return { retry, sleeps, retries };
}

/** An operation that fails with the given errors in turn, then answers `ok`. */
function failing(...errors: unknown[]) {
  const op = {
    calls: 0,
    run: async (): Promise<string> => {
      const error = errors[op.calls++];
      if (error !== undefined) throw error;
      return 'ok';
    },
  };
  return op;
}

const throttled = (retryAfterSeconds?: number) =>
  new ThingSpaceError('throttled', 'reports answered 429', undefined, 429, retryAfterSeconds);
const serverError = (status = 503) =>
  new ThingSpaceError('http', `reports answered HTTP ${status}`, undefined, status);
const timeout = () => new ThingSpaceError('timeout', 'no complete answer within 100 ms');
const network = () => new ThingSpaceError('http', 'network error (ECONNRESET)');

describe('createRetry', () => {
  it('returns the first answer without sleeping', async () => {
    const { retry, sleeps } = harness();
    const op = failing();
    await expect(retry(op.run)).resolves.toBe('ok');
    expect(op.calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it.each([
    ['a 5xx answer', () => serverError(500)],
    ['a 502 answer', () => serverError(502)],
    ['a timeout', timeout],
    ['a network error', network],
  ])('retries %s until it succeeds', async (_what, make) => {
    const { retry, sleeps } = harness();
    const op = failing(make(), make());
    await expect(retry(op.run)).resolves.toBe('ok');
    expect(op.calls).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it.each([0, 1, 3, 5])(
    'makes at most maxRetries=%d retries, then throws the last error',
    async (maxRetries) => {
      const { retry, sleeps } = harness({ maxRetries });
      const errors = Array.from({ length: 20 }, () => serverError());
      const op = failing(...errors);
      const caught = await retry(op.run).catch((e: unknown) => e);
      expect(op.calls).toBe(maxRetries + 1);
      expect(sleeps).toHaveLength(maxRetries);
      expect(caught).toBe(errors[maxRetries]);
    },
  );

  it.each([
    ['a 400', new ThingSpaceError('http', 'bad', 'INVALID_PARAMETER', 400)],
    ['a 404', new ThingSpaceError('http', 'missing', undefined, 404)],
    ['an auth error', new ThingSpaceError('auth', 'rejected', undefined, 401)],
    ['a parse error', new ThingSpaceError('parse', 'wrong shape')],
    ['a pagination error', new ThingSpaceError('pagination', 'repeated')],
    ['a plain Error', new Error('bug')],
    ['a thrown string', 'oops'],
  ])('does not retry %s', async (_what, error) => {
    const { retry, sleeps } = harness();
    const op = failing(error);
    const caught = await retry(op.run).catch((e: unknown) => e);
    expect(caught).toBe(error);
    expect(op.calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('asks again at once after a throttled answer: the shared gate does the waiting', async () => {
    const { retry, sleeps, retries } = harness({ maxRetries: 0 });
    const op = failing(throttled(7), throttled(0), throttled());
    await expect(retry(op.run)).resolves.toBe('ok');
    expect(op.calls).toBe(4);
    expect(sleeps).toEqual([]);
    expect(retries.map((r) => [r.kind, r.attempt, r.delayMs])).toEqual([
      ['throttled', 1, 0],
      ['throttled', 2, 0],
      ['throttled', 3, 0],
    ]);
  });

  it('does not count throttled answers against maxRetries, but counts the other failures', async () => {
    const { retry, sleeps } = harness({ maxRetries: 1 });
    const last = serverError();
    const op = failing(throttled(), serverError(), throttled(), last);
    const caught = await retry(op.run).catch((e: unknown) => e);
    expect(caught).toBe(last);
    expect(op.calls).toBe(4);
    expect(sleeps).toHaveLength(1);
  });

  it('never spins for ever on throttled answers (the gate should have closed)', async () => {
    const { retry } = harness();
    const op = {
      calls: 0,
      run: async () => {
        op.calls++;
        throw throttled();
      },
    };
    await expect(retry(op.run)).rejects.toBeInstanceOf(ThingSpaceError);
    expect(op.calls).toBe(1000);
  });

  it('gives up at once when the time budget ran out (a throttled error without an HTTP status)', async () => {
    const { retry, sleeps } = harness();
    const error = new ThingSpaceError('throttled', 'time budget used up');
    const op = failing(error);
    await expect(retry(op.run).catch((e: unknown) => e)).resolves.toBe(error);
    expect(op.calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('honours a Retry-After sent with a 5xx, up to maxDelayMs', async () => {
    const { retry, sleeps } = harness();
    await retry(failing(new ThingSpaceError('http', 'busy', undefined, 500, 4)).run);
    await retry(failing(new ThingSpaceError('http', 'busy', undefined, 502, 0.5)).run);
    expect(sleeps).toEqual([POLICY.maxDelayMs, 500]);
  });

  it('backs off exponentially up to maxDelayMs (random = 1 gives the ceiling)', async () => {
    const { retry, sleeps } = harness({ maxRetries: 6 }, () => 1);
    const op = failing(...Array.from({ length: 6 }, () => serverError()));
    await retry(op.run);
    expect(sleeps).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('draws each delay with full jitter between 0 and the ceiling', async () => {
    const draws = [0.5, 0.25, 0, 0.999];
    let i = 0;
    const { retry, sleeps } = harness({ maxRetries: 4 }, () => draws[i++]!);
    await retry(failing(timeout(), timeout(), timeout(), timeout()).run);
    expect(i).toBe(4);
    expect(sleeps).toEqual([0.5 * 100, 0.25 * 200, 0, 0.999 * 800]);
  });

  it('jittered delays differ between retries with different random draws', async () => {
    const a = harness({}, () => 0.1);
    const b = harness({}, () => 0.9);
    await a.retry(failing(network()).run);
    await b.retry(failing(network()).run);
    expect(a.sleeps[0]).not.toBe(b.sleeps[0]);
    for (const s of [...a.sleeps, ...b.sleeps]) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(POLICY.baseDelayMs);
    }
  });

  it('has sane defaults', () => {
    expect(DEFAULT_RETRY_POLICY.baseDelayMs).toBeGreaterThan(0);
    expect(DEFAULT_RETRY_POLICY.maxDelayMs).toBeGreaterThanOrEqual(
      DEFAULT_RETRY_POLICY.baseDelayMs,
    );
  });

  it('retry state is per call: a second call gets its full budget', async () => {
    const { retry } = harness({ maxRetries: 2 });
    const first = failing(serverError(), serverError());
    await retry(first.run);
    const second = failing(serverError(), serverError());
    await expect(retry(second.run)).resolves.toBe('ok');
    expect(second.calls).toBe(3);
  });
});

describe('ThingSpaceError.retryable', () => {
  it.each([
    [new ThingSpaceError('throttled', 'x', undefined, 429), true],
    [new ThingSpaceError('throttled', 'time budget used up'), false],
    [new ThingSpaceError('oversize', 'x'), false],
    [new ThingSpaceError('internal', 'x'), false],
    [new ThingSpaceError('timeout', 'x'), true],
    [new ThingSpaceError('http', 'x', undefined, 500), true],
    [new ThingSpaceError('http', 'x', undefined, 599), true],
    [new ThingSpaceError('http', 'network'), true],
    [new ThingSpaceError('http', 'x', undefined, 499), false],
    [new ThingSpaceError('http', 'x', undefined, 400), false],
    [new ThingSpaceError('auth', 'x', undefined, 500), false],
    [new ThingSpaceError('parse', 'x'), false],
    [new ThingSpaceError('pagination', 'x'), false],
  ])('%s → %s', (error, expected) => {
    expect(error.retryable).toBe(expected);
  });
});
