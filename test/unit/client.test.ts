import { Authenticator } from '../../src/thingspace/auth.js';
import {
  MAX_TOKEN_RENEWALS,
  ThingSpaceClient,
  type Schedule,
} from '../../src/thingspace/client.js';
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import { gatedSend, ThrottleGate } from '../../src/thingspace/gate.js';
import type { HttpRequest } from '../../src/thingspace/http.js';
import { createRetry } from '../../src/thingspace/retry.js';
import type { ReportPage } from '../../src/upgrades/schema.js';
import { fetchReportPage } from '../../src/upgrades/pager.js';
import {
  BEARER_FAULT,
  fakeClock,
  FakeThingSpace,
  instantRetry,
  mutableCredentials,
} from './fake-send.js';

const MINUTE = 60_000;
const ACCOUNT = '0242078689-00001';

function setup(maxRetries = 3, budgetMs = Infinity) {
  const clock = fakeClock();
  const fake = new FakeThingSpace(clock);
  const retry = instantRetry(maxRetries);
  // Every request passes the shared throttle gate, as in the exporter; its waits move the fake clock.
  const gateSleeps: number[] = [];
  const gate = new ThrottleGate({
    clock: { monotonicMs: clock.now },
    random: () => 0.5,
    sleep: async (ms) => {
      gateSleeps.push(ms);
      clock.advance(ms);
    },
    maxRequestsPerSecond: 0,
  });
  const deadline = clock.now() + budgetMs;
  const send = gatedSend(fake.send, gate, () => deadline);
  const rejectedLogins: string[] = [];
  const auth = new Authenticator({
    send,
    retry,
    credentials: mutableCredentials({ ...fake.correct }),
    clock: { wallMs: clock.now, monotonicMs: clock.now },
    loginBackoffMs: 5 * MINUTE,
    maxLoginFailures: 3,
    onSecret: () => undefined,
    onLoginRejected: (kind) => rejectedLogins.push(kind),
    onLoginSucceeded: () => undefined,
  });
  const client = new ThingSpaceClient(send, auth, retry);
  const reports = () => fake.requests.filter((r) => r.endpoint === 'reports');
  return { clock, fake, auth, client, retry, gateSleeps, reports, rejectedLogins };
}

async function fetchError(promise: Promise<ReportPage>): Promise<ThingSpaceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    return error as ThingSpaceError;
  }
  throw new Error('expected fetchReportPage to fail');
}

const tokensOf = (req: HttpRequest) => ({
  bearer: req.headers.authorization?.replace(/^Bearer /, ''),
  session: req.headers['vz-m2m-token'],
});

describe('ThingSpaceClient.get, through fetchReportPage', () => {
  it('requests the report page with both tokens and returns the parsed page', async () => {
    const { fake, client, reports } = setup();
    fake.reportBody = {
      hasMoreFlag: true,
      lastSeenUpgradeId: 7,
      reportList: [{ id: 'u1', firmwareTo: 'FW', deviceList: [] }],
    };
    const page = await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(page).toEqual({
      hasMore: true,
      cursor: '7',
      upgrades: [{ id: 'u1', firmwareTo: 'FW', deviceList: [] }],
    });
    const [req] = reports();
    expect(req!.method).toBe('GET');
    expect(req!.path).toBe(`/api/fota/v1/reports/${ACCOUNT}/status/Queued/index/0`);
    expect(tokensOf(req!)).toEqual({ bearer: fake.bearers[0], session: fake.sessions[0] });
  });

  it('encodes the cursor into one path segment', async () => {
    const { client, reports } = setup();
    await fetchReportPage(client, ACCOUNT, 'Finished', 'a/b?c#d');
    expect(reports()[0]!.path).toBe(
      `/api/fota/v1/reports/${ACCOUNT}/status/Finished/index/a%2Fb%3Fc%23d`,
    );
  });

  it('a successful request keeps the session alive', async () => {
    const { fake, client, clock } = setup();
    for (let i = 0; i < 6; i++) {
      await fetchReportPage(client, ACCOUNT, 'Queued', '0');
      clock.advance(15 * MINUTE);
    }
    expect(fake.count('session_login')).toBe(1);
  });

  it('a 401 fault invalidates the bearer, renews it and retries once', async () => {
    const { fake, client, reports } = setup();
    fake.override.reports = (_req, n) =>
      n === 1 ? { status: 401, body: BEARER_FAULT } : undefined;
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(reports()).toHaveLength(2);
    expect(fake.count('oauth_token')).toBe(2);
    expect(fake.count('session_login')).toBe(1);
    expect(tokensOf(reports()[0]!).bearer).toBe(fake.bearers[0]);
    expect(tokensOf(reports()[1]!)).toEqual({ bearer: fake.bearers[1], session: fake.sessions[0] });
  });

  it('a bearer that expired at ThingSpace is discovered and replaced', async () => {
    const { fake, client, clock, reports } = setup();
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    // ThingSpace revokes the token early (e.g. a token revocation request elsewhere)
    fake.override.reports = (req) =>
      tokensOf(req).bearer === fake.bearers[0] ? { status: 401, body: BEARER_FAULT } : undefined;
    clock.advance(MINUTE);
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(tokensOf(reports().at(-1)!).bearer).toBe(fake.bearers[1]);
  });

  it.each([400, 401, 403])(
    'an errorCode containing SessionToken with HTTP %d renews the session once',
    async (status) => {
      const { fake, client, reports, rejectedLogins } = setup();
      fake.override.reports = (_req, n) =>
        n === 1
          ? {
              status,
              body: {
                errorCode: 'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid',
                errorMessage: 'whatever the text',
              },
            }
          : undefined;
      await fetchReportPage(client, ACCOUNT, 'Queued', '0');
      expect(reports()).toHaveLength(2);
      expect(fake.count('session_login')).toBe(2);
      expect(fake.count('oauth_token')).toBe(1);
      expect(tokensOf(reports()[1]!)).toEqual({
        bearer: fake.bearers[0],
        session: fake.sessions[1],
      });
      expect(rejectedLogins).toEqual([]);
    },
  );

  it('a session that ThingSpace ended for idleness is replaced (real expiry in the fake)', async () => {
    const { fake, client, auth, clock, reports } = setup();
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    // the exporter thinks the session is alive, ThingSpace has dropped it
    auth.touchSession(fake.sessions[0]!);
    fake.override.reports = (req) =>
      tokensOf(req).session === fake.sessions[0]
        ? {
            status: 400,
            body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired' },
          }
        : undefined;
    clock.advance(MINUTE);
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(tokensOf(reports().at(-1)!).session).toBe(fake.sessions[1]);
  });

  // A token rejected again after renewal is a refusal, not an expiry: the client renews at least once and
  // at most a few times (each with a fresh token, never resending a rejected one), then fails as auth.
  const MAX_ATTEMPTS = MAX_TOKEN_RENEWALS + 1;

  it('a session rejected again after renewal ends as an auth error carrying the code', async () => {
    const { fake, client, reports } = setup();
    fake.override.reports = () => ({
      status: 403,
      body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired' },
    });
    const error = await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
    expect(error.kind).toBe('auth');
    expect(error.code).toBe('UnifiedWebService.REQUEST_FAILED.SessionToken.Expired');
    expect(error.httpStatus).toBe(403);
    const attempts = reports().length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(MAX_ATTEMPTS);
    expect(new Set(reports().map((r) => tokensOf(r).session)).size).toBe(attempts);
    expect(fake.count('session_login')).toBe(attempts);
    expect(fake.count('oauth_token')).toBe(1);
  });

  it('a bearer rejected again after renewal ends as an auth error, after a bounded number of attempts', async () => {
    const { fake, client, reports } = setup();
    fake.override.reports = () => ({ status: 401, body: BEARER_FAULT });
    const error = await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
    expect(error.kind).toBe('auth');
    expect(error.code).toBe('900901');
    const attempts = reports().length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(MAX_ATTEMPTS);
    expect(new Set(reports().map((r) => tokensOf(r).bearer)).size).toBe(attempts);
    expect(fake.count('oauth_token')).toBe(attempts);
    expect(fake.count('session_login')).toBe(1);
  });

  it('INVALID_PARAMETER 400 is an http error with the code, not retried and no token renewed', async () => {
    const { fake, client, reports, retry } = setup();
    fake.override.reports = () => ({
      status: 400,
      body: { errorCode: 'INVALID_PARAMETER', errorMessage: 'Invalid account name format' },
    });
    const error = await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
    expect(error.kind).toBe('http');
    expect(error.code).toBe('INVALID_PARAMETER');
    expect(error.httpStatus).toBe(400);
    expect(error.retryable).toBe(false);
    expect(reports()).toHaveLength(1);
    expect(retry.sleeps).toEqual([]);
    expect(fake.count('oauth_token')).toBe(1);
    expect(fake.count('session_login')).toBe(1);
  });

  it('a 404 without a body is an http error', async () => {
    const { fake, client } = setup();
    fake.override.reports = () => ({ status: 404, body: undefined });
    const error = await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
    expect(error.kind).toBe('http');
    expect(error.httpStatus).toBe(404);
  });

  it.each([500, 502, 503])('%d is retried through retry', async (status) => {
    const { fake, client, reports, retry } = setup();
    fake.override.reports = (_req, n) => (n <= 2 ? { status, body: undefined } : undefined);
    const page = await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(page.hasMore).toBe(false);
    expect(reports()).toHaveLength(3);
    expect(retry.sleeps).toHaveLength(2);
  });

  it.each([
    [429, undefined],
    [503, 2],
  ])('%d (Retry-After %j) waits at the throttle gate, not in retry', async (status, after) => {
    const { fake, client, reports, retry, gateSleeps } = setup();
    fake.override.reports = (_req, n) =>
      n <= 2 ? { status, body: undefined, retryAfterSeconds: after } : undefined;
    const page = await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(page.hasMore).toBe(false);
    expect(reports()).toHaveLength(3);
    expect(retry.sleeps).toEqual([]);
    expect(gateSleeps).toHaveLength(2);
  });

  it('a timeout thrown by send is retried', async () => {
    const { fake, client, reports } = setup();
    fake.override.reports = (_req, n) =>
      n === 1 ? new ThingSpaceError('timeout', 'no complete answer within 100 ms') : undefined;
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(reports()).toHaveLength(2);
  });

  it('a 429 with Retry-After waits at least as asked, with jitter on top', async () => {
    const { fake, client, gateSleeps } = setup();
    fake.override.reports = (_req, n) =>
      n === 1 ? { status: 429, body: undefined, retryAfterSeconds: 3 } : undefined;
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(gateSleeps).toHaveLength(1);
    expect(gateSleeps[0]).toBeGreaterThanOrEqual(3000);
    expect(gateSleeps[0]).toBeLessThanOrEqual(3000 * 1.2);
  });

  it('a Retry-After longer than max-retries would allow is still waited for, within the budget', async () => {
    const { fake, client, reports } = setup(0, 10 * MINUTE);
    fake.override.reports = (_req, n) =>
      n <= 3 ? { status: 429, body: undefined, retryAfterSeconds: 90 } : undefined;
    await fetchReportPage(client, ACCOUNT, 'Queued', '0');
    expect(reports()).toHaveLength(4);
  });

  it('persistent 429 ends as throttled once the time budget runs out, whatever maxRetries says', async () => {
    const { fake, client, reports, clock } = setup(2, 5 * MINUTE);
    const start = clock.now();
    fake.override.reports = () => ({ status: 429, body: undefined });
    const error = await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
    expect(error.kind).toBe('throttled');
    expect(error.retryable).toBe(false);
    // More than maxRetries + 1 attempts, and never past the budget.
    expect(reports().length).toBeGreaterThan(3);
    expect(clock.now() - start).toBeLessThanOrEqual(5 * MINUTE);
  });

  it('a 200 with a malformed body is a parse error and is not retried', async () => {
    const { fake, client, reports } = setup();
    fake.reportBody = { hasMoreFlag: 'no' };
    const error = await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
    expect(error.kind).toBe('parse');
    expect(reports()).toHaveLength(1);
  });

  it('a blocked login fails the request without sending it', async () => {
    const { fake, client, clock } = setup();
    fake.override.session_login = () => ({ status: 400, body: { errorCode: 'Login.Failed' } });
    for (let i = 0; i < 5; i++) {
      await fetchError(fetchReportPage(client, ACCOUNT, 'Queued', '0'));
      clock.advance(5 * MINUTE);
    }
    expect(fake.count('session_login')).toBe(3);
    expect(fake.count('reports')).toBe(0);
  });
});

describe('ThingSpaceClient.get with request slots', () => {
  it("takes a slot per attempt: the backoff and the wait at the gate hold none; use runs in the successful attempt's slot", async () => {
    const { fake, auth } = setup();
    const log: string[] = [];
    let held = 0;
    const schedule: Schedule = async (task) => {
      held++;
      log.push('take a slot');
      try {
        return await task();
      } finally {
        held--;
        log.push('give it back');
      }
    };
    const retry = createRetry(
      { maxRetries: 2, baseDelayMs: 100, maxDelayMs: 1000 },
      {
        sleep: async () => {
          log.push(`backoff, slots held: ${held}`);
        },
        random: () => 0.5,
      },
    );
    const ready = async () => {
      log.push(`gate, slots held: ${held}`);
    };
    const client = new ThingSpaceClient(fake.send, auth, retry, ready);
    fake.override.reports = (_req, n) =>
      n <= 2
        ? new ThingSpaceError('timeout', 'reports: no complete answer within 30 s')
        : undefined;
    const page = await fetchReportPage(
      client,
      ACCOUNT,
      'Queued',
      '0',
      (p) => {
        log.push(`use the page, slots held: ${held}`);
        return p;
      },
      schedule,
    );
    expect(page.hasMore).toBe(false);
    const attempt = ['gate, slots held: 0', 'take a slot', 'give it back'];
    expect(log).toEqual([
      ...attempt,
      'backoff, slots held: 0',
      ...attempt,
      'backoff, slots held: 0',
      'gate, slots held: 0',
      'take a slot',
      'use the page, slots held: 1',
      'give it back',
    ]);
  });

  it('an error thrown by use is not retried, and gives the slot back', async () => {
    const { client, reports } = setup();
    let held = 0;
    const schedule: Schedule = async (task) => {
      held++;
      try {
        return await task();
      } finally {
        held--;
      }
    };
    const refused = new ThingSpaceError('http', 'answered HTTP 503'); // retryable, were it retried
    await expect(
      fetchReportPage(
        client,
        ACCOUNT,
        'Queued',
        '0',
        () => {
          throw refused;
        },
        schedule,
      ),
    ).rejects.toBe(refused);
    expect(reports()).toHaveLength(1);
    expect(held).toBe(0);
  });
});
