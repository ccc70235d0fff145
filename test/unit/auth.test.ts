import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/settings.js';
import type { Clock as AuthClock } from '../../src/clock.js';
import { STATE_FILE, StateStore } from '../../src/storage/store.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { LockoutMemory } from '../../src/storage/lockout.js';
import {
  Authenticator,
  describeFailures,
  judgeLoginAnswer,
  type LoginKind,
  type Tokens,
} from '../../src/thingspace/auth.js';
import { ThingSpaceClient } from '../../src/thingspace/client.js';
import { mayHaveReachedThingSpace, ThingSpaceError } from '../../src/thingspace/errors.js';
import { createSend, failedBeforeSending, type Send } from '../../src/thingspace/http.js';
import {
  BEARER_FAULT,
  deferred,
  fakeClock,
  FakeThingSpace,
  instantRetry,
  LOGIN_REJECTED,
  mutableCredentials,
  SESSION_IDLE_LIMIT_MS,
  settle,
  type Clock,
} from './fake-send.js';

const MINUTE = 60_000;

/** What http.ts makes of a refused connection: certainly never sent. */
function refused(): ThingSpaceError {
  return new ThingSpaceError(
    'http',
    'network error (ECONNREFUSED)',
    undefined,
    undefined,
    undefined,
    true,
  );
}
const HOUR = 60 * MINUTE;
const BACKOFF_MS = 5 * MINUTE;

/**
 * The authenticator's clock over the fake's (which is real elapsed time): monotonic time follows it from
 * another origin, and wall time follows it too but can be stepped, as NTP or an operator would.
 */
interface SteppableClock extends AuthClock {
  stepWall(ms: number): void;
}

function steppable(elapsed: Clock): SteppableClock {
  const origin = elapsed.now();
  let step = 0;
  return {
    wallMs: () => elapsed.now() + step,
    monotonicMs: () => elapsed.now() - origin + 1234.5,
    stepWall: (ms) => {
      step += ms;
    },
  };
}

interface Setup {
  clock: Clock;
  authClock: SteppableClock;
  fake: FakeThingSpace;
  auth: Authenticator;
  creds: { clientId: string; clientSecret: string; username: string; password: string };
  secrets: string[];
  rejections: { kind: LoginKind; consecutive: number; blocked: boolean }[];
  /** Session logins sent that got no verdict, and the log lines of failures of both kinds. */
  lost: { consecutive: number; blocked: boolean }[];
  lines: string[];
  blockedCalls: boolean[];
  successes: () => number;
}

interface SetupOptions {
  maxLoginFailures?: number;
  wrongPassword?: boolean;
  store?: StateStore;
  /** Share the fake ThingSpace (and its clock) of an earlier setup: a restarted exporter. */
  after?: Setup;
  /** What the authenticator sends through, given the fake ThingSpace; the fake itself by default. */
  send?: (fake: FakeThingSpace) => Send;
  /** Wall clock offset from real time when the authenticator starts (a clock stepped between restarts). */
  wallStep?: number;
}

function setup(options: SetupOptions = {}): Setup {
  const clock = options.after?.clock ?? fakeClock();
  const fake = options.after?.fake ?? new FakeThingSpace(clock);
  const authClock = steppable(clock);
  authClock.stepWall(options.wallStep ?? 0);
  const creds = options.after ? options.after.creds : { ...fake.correct };
  if (options.wrongPassword) creds.password = 'pw-wrong-1';
  const secrets: string[] = [];
  const rejections: Setup['rejections'] = [];
  const lost: Setup['lost'] = [];
  const lines: string[] = [];
  const blockedCalls: boolean[] = [];
  let successes = 0;
  const auth = new Authenticator({
    send: options.send ? options.send(fake) : fake.send,
    retry: instantRetry(3),
    credentials: mutableCredentials(creds),
    clock: authClock,
    loginBackoffMs: BACKOFF_MS,
    maxLoginFailures: options.maxLoginFailures ?? 3,
    store: options.store,
    onSecret: (value) => secrets.push(value),
    onLoginRejected: (kind, consecutive, blocked, line) => {
      rejections.push({ kind, consecutive, blocked });
      lines.push(line);
    },
    onLoginUnanswered: (consecutive, blocked, line) => {
      lost.push({ consecutive, blocked });
      lines.push(line);
    },
    onLoginSucceeded: () => successes++,
    onBlocked: (blocked) => blockedCalls.push(blocked),
  });
  return {
    clock,
    authClock,
    fake,
    auth,
    creds,
    secrets,
    rejections,
    lost,
    lines,
    blockedCalls,
    successes: () => successes,
  };
}

async function authError(promise: Promise<Tokens>): Promise<ThingSpaceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ThingSpaceError);
    return error as ThingSpaceError;
  }
  throw new Error('expected tokens() to fail');
}

describe('Authenticator: token life cycle', () => {
  it('logs in with the client credentials, then the user, and sends what ThingSpace expects', async () => {
    const { fake, auth } = setup();
    const tokens = await auth.tokens();
    expect(tokens).toEqual({ bearer: fake.bearers[0], session: fake.sessions[0] });
    expect(fake.requests.map((r) => r.endpoint)).toEqual(['oauth_token', 'session_login']);

    const [oauth, login] = fake.requests;
    expect(oauth!.method).toBe('POST');
    expect(oauth!.path).toBe('/api/ts/v1/oauth2/token');
    expect(oauth!.headers.authorization).toBe(
      `Basic ${Buffer.from(`${fake.correct.clientId}:${fake.correct.clientSecret}`).toString('base64')}`,
    );
    expect(oauth!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(oauth!.body).toBe('grant_type=client_credentials');

    expect(login!.method).toBe('POST');
    expect(login!.path).toBe('/api/m2m/v1/session/login');
    expect(login!.headers.authorization).toBe(`Bearer ${fake.bearers[0]}`);
    expect(login!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(login!.body!)).toEqual({
      username: fake.correct.username,
      password: fake.correct.password,
    });
  });

  it('caches both tokens and reuses them', async () => {
    const { fake, auth, clock } = setup();
    const first = await auth.tokens();
    for (let i = 0; i < 10; i++) {
      clock.advance(MINUTE);
      expect(await auth.tokens()).toEqual(first);
      auth.touchSession(first.session);
    }
    expect(fake.count('oauth_token')).toBe(1);
    expect(fake.count('session_login')).toBe(1);
  });

  it('reports every token and every credential it uses through onSecret', async () => {
    const { fake, auth, secrets, clock } = setup();
    await auth.tokens();
    clock.advance(SESSION_IDLE_LIMIT_MS + MINUTE * 61);
    await auth.tokens();
    expect(fake.bearers).toHaveLength(2);
    expect(fake.sessions).toHaveLength(2);
    // every token, the credentials as read (a *_FILE may have changed) and the Basic header value
    const tokens = [...fake.bearers, ...fake.sessions];
    expect(secrets.filter((s) => tokens.includes(s)).sort()).toEqual(tokens.sort());
    const { clientId, clientSecret, username, password } = fake.correct;
    expect([...new Set(secrets.filter((s) => !tokens.includes(s)))].sort()).toEqual(
      [
        clientId,
        clientSecret,
        username,
        password,
        Buffer.from(`${clientId}:${clientSecret}`).toString('base64'),
      ].sort(),
    );
  });

  it.each([3600, 600, 120])(
    'renews a bearer token of %ds before it expires, without logging in again',
    async (expiresInS) => {
      const { fake, auth, clock } = setup();
      fake.expiresInS = expiresInS;
      const horizon = 3 * expiresInS * 1000;
      const step = Math.min(MINUTE, (expiresInS * 1000) / 20);
      // a request must reach ThingSpace before its token expires: leave it at least the default timeout
      const inFlightMs = expiresInS >= 600 ? 30_000 : 0;
      for (let elapsed = 0; elapsed <= horizon; elapsed += step) {
        const tokens = await auth.tokens();
        expect(fake.bearerValid(tokens.bearer)).toBe(true);
        clock.advance(inFlightMs);
        expect(fake.bearerValid(tokens.bearer)).toBe(true);
        clock.advance(-inFlightMs);
        auth.touchSession(tokens.session);
        clock.advance(step);
      }
      expect(fake.count('session_login')).toBe(1);
      // renewed a few times, but each token reused for most of its hour, not fetched per call
      const renewals = fake.count('oauth_token');
      expect(renewals).toBeGreaterThanOrEqual(3);
      expect(renewals).toBeLessThanOrEqual(5);
    },
  );

  it('renews the session after it has been idle, before ThingSpace ends it, keeping the bearer', async () => {
    const { fake, auth, clock } = setup();
    const first = await auth.tokens();
    clock.advance(MINUTE);
    expect((await auth.tokens()).session).toBe(first.session);
    // idle: no touchSession; at no point may a session ThingSpace has ended be handed out
    for (let elapsed = MINUTE; elapsed < 2 * SESSION_IDLE_LIMIT_MS; elapsed += 30_000) {
      clock.advance(30_000);
      const tokens = await auth.tokens();
      expect(fake.sessionValid(tokens.session)).toBe(true);
    }
    expect(fake.count('session_login')).toBeGreaterThanOrEqual(2);
    expect(fake.count('oauth_token')).toBe(1);
    expect((await auth.tokens()).bearer).toBe(first.bearer);
  });

  it('renews the session at the latest just before 20 idle minutes', async () => {
    const { auth, clock } = setup();
    const first = await auth.tokens();
    clock.advance(SESSION_IDLE_LIMIT_MS - 1);
    expect((await auth.tokens()).session).not.toBe(first.session);
  });

  it('touchSession keeps the session alive', async () => {
    const { fake, auth, clock } = setup();
    const first = await auth.tokens();
    for (let i = 0; i < 6; i++) {
      clock.advance(15 * MINUTE);
      auth.touchSession(first.session);
    }
    expect((await auth.tokens()).session).toBe(first.session);
    expect(fake.count('session_login')).toBe(1);
  });

  it('touchSession with another value does not extend the current session', async () => {
    const { fake, auth, clock } = setup();
    const first = await auth.tokens();
    clock.advance(15 * MINUTE);
    auth.touchSession('session-from-elsewhere');
    clock.advance(15 * MINUTE);
    expect((await auth.tokens()).session).not.toBe(first.session);
    expect(fake.count('session_login')).toBe(2);
  });

  it('invalidate drops only the named token, and only if it is still current', async () => {
    const { fake, auth } = setup();
    const first = await auth.tokens();
    auth.invalidate('bearer', 'some-older-bearer');
    expect(await auth.tokens()).toEqual(first);
    auth.invalidate('bearer', first.bearer);
    const second = await auth.tokens();
    expect(second.bearer).not.toBe(first.bearer);
    expect(second.session).toBe(first.session);
    expect(fake.count('session_login')).toBe(1);
    auth.invalidate('session', first.session);
    const third = await auth.tokens();
    expect(third.session).not.toBe(first.session);
    expect(third.bearer).toBe(second.bearer);
    expect(fake.count('oauth_token')).toBe(2);
  });

  it('concurrent tokens() calls share one login', async () => {
    const { fake, auth } = setup();
    const gate = deferred();
    fake.hold = gate.promise;
    const calls = Array.from({ length: 8 }, () => auth.tokens());
    await settle();
    gate.release();
    const results = await Promise.all(calls);
    expect(fake.count('oauth_token')).toBe(1);
    expect(fake.count('session_login')).toBe(1);
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('a 503 from session_login is not resent: ThingSpace may have counted it', async () => {
    const { fake, auth, rejections, lost } = setup();
    fake.override.session_login = (_req, n) =>
      n <= 2 ? { status: 503, body: undefined } : undefined;
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('http');
    expect(error.message).toMatch(
      /^session_login answered HTTP 503: the session login got no answer/,
    );
    expect(fake.count('session_login')).toBe(1);
    expect(rejections).toEqual([]);
    expect(lost).toEqual([{ consecutive: 1, blocked: false }]);
  });

  it('an oauth answer without access_token is a parse error', async () => {
    const { fake, auth } = setup();
    fake.override.oauth_token = () => ({ status: 200, body: { token_type: 'bearer' } });
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('parse');
    expect(fake.count('session_login')).toBe(0);
  });

  it('a login answer without sessionToken is a parse error', async () => {
    const { fake, auth } = setup();
    fake.override.session_login = () => ({ status: 200, body: {} });
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('parse');
  });
});

describe('Authenticator: account-lockout protection', () => {
  it.each([
    ['400 with an error code', 400, LOGIN_REJECTED],
    [
      '401 with an error code',
      401,
      { errorCode: 'UnifiedWebService.AUTH_FAILED', errorMessage: 'Login failed' },
    ],
    ['403 with an error code', 403, { errorCode: 'UnifiedWebService.REQUEST_FAILED.Forbidden' }],
  ])('a login rejected with %s is not retried', async (_what, status, body) => {
    const { fake, auth, rejections } = setup();
    fake.override.session_login = () => ({ status, body });
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('auth');
    expect(error.httpStatus).toBe(status);
    expect(error.retryable).toBe(false);
    expect(fake.count('session_login')).toBe(1);
    expect(rejections).toEqual([{ kind: 'session_login', consecutive: 1, blocked: false }]);
  });

  // BUG: src/thingspace/auth.ts:202-208 (login) renews the bearer and logs in again on any 401 that
  // isBearerRejection() accepts, and src/thingspace/errors.ts:59-61 accepts a 401 without any code. So a bare
  // 401 from session_login sends the same user and password a second time and counts the pair as one
  // rejection: ThingSpace sees 2 × maxLoginFailures failed logins (6 with the default 3; it locks at 5).
  it('a 401 from session_login that is not a gateway fault counts as a rejected login and is sent once', async () => {
    // Only the gateway's fault 9009xx says the bearer token was refused; anything else may be the user's
    // credentials, and each such request may count towards ThingSpace's five-failure lock.
    // Without ThingSpace's error body it is not known to be the credential check's: counted as a login
    // without an answer, which blocks the same way.
    const { fake, auth, lost } = setup();
    fake.override.session_login = () => ({ status: 401, body: undefined });
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('auth');
    expect(error.message).toMatch(
      /^session_login answered HTTP 401 without ThingSpace's error body/,
    );
    expect(fake.count('session_login')).toBe(1);
    expect(lost).toHaveLength(1);
  });

  it('after a rejected login, refuses to log in without any request until loginBackoffMs has passed', async () => {
    const { fake, auth, clock } = setup({ wrongPassword: true });
    await authError(auth.tokens());
    expect(fake.count('session_login')).toBe(1);
    const requestsAfterFirst = fake.requests.length;

    for (const wait of [0, MINUTE, BACKOFF_MS - MINUTE - 1]) {
      clock.advance(wait);
      const error = await authError(auth.tokens());
      expect(error.kind).toBe('auth');
      expect(error.message).toMatch(/not logging in/);
    }
    expect(fake.requests.length).toBe(requestsAfterFirst);

    clock.advance(1);
    await authError(auth.tokens());
    expect(fake.count('session_login')).toBe(2);
  });

  it('concurrent callers during a rejected login share the one request', async () => {
    const { fake, auth } = setup({ wrongPassword: true });
    const gate = deferred();
    fake.hold = gate.promise;
    const calls = Array.from({ length: 6 }, () => authError(auth.tokens()));
    await settle();
    gate.release();
    const errors = await Promise.all(calls);
    for (const e of errors) expect(e.kind).toBe('auth');
    expect(fake.count('session_login')).toBe(1);
  });

  it.each([1, 2, 3, 4])(
    'with maxLoginFailures=%d, blocks after that many rejections: no request, however long it waits',
    async (maxLoginFailures) => {
      const { fake, auth, clock, rejections } = setup({ wrongPassword: true, maxLoginFailures });
      for (let attempt = 0; attempt < 40; attempt++) {
        await authError(auth.tokens());
        clock.advance(BACKOFF_MS + 1);
      }
      expect(fake.count('session_login')).toBe(maxLoginFailures);
      expect(auth.blocked).toBe(true);
      expect(rejections.map((r) => r.consecutive)).toEqual(
        Array.from({ length: maxLoginFailures }, (_, i) => i + 1),
      );
      expect(rejections.map((r) => r.blocked)).toEqual(
        Array.from({ length: maxLoginFailures }, (_, i) => i + 1 === maxLoginFailures),
      );

      clock.advance(10 * 365 * 24 * 60 * MINUTE);
      const error = await authError(auth.tokens());
      expect(error.kind).toBe('auth');
      expect(error.message).toMatch(/blocked/);
      expect(fake.count('session_login')).toBe(maxLoginFailures);
      expect(fake.locked).toBe(false);
    },
  );

  it('stays blocked across bearer expiry: not even an oauth_token request', async () => {
    const { fake, auth, clock } = setup({ wrongPassword: true, maxLoginFailures: 2 });
    for (let i = 0; i < 2; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    const before = fake.requests.length;
    clock.advance(3 * 3600_000);
    await authError(auth.tokens());
    await authError(auth.tokens());
    expect(fake.requests.length).toBe(before);
  });

  it('a blocked login resumes at once when a credential read() returns something different', async () => {
    const { fake, auth, clock, creds, successes } = setup({
      wrongPassword: true,
      maxLoginFailures: 3,
    });
    for (let i = 0; i < 3; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    expect(auth.blocked).toBe(true);
    clock.advance(1000);
    await authError(auth.tokens());
    expect(fake.count('session_login')).toBe(3);

    creds.password = fake.correct.password;
    const tokens = await auth.tokens();
    expect(tokens.session).toBe(fake.sessions[0]);
    expect(fake.count('session_login')).toBe(4);
    expect(auth.blocked).toBe(false);
    expect(successes()).toBe(1);
  });

  it('new but still wrong passwords never spend the attempt that would lock the user', async () => {
    const { fake, auth, clock, creds } = setup({ wrongPassword: true, maxLoginFailures: 3 });
    for (let i = 0; i < 3; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    expect(fake.count('session_login')).toBe(3);
    creds.password = 'second-wrong-password';
    await authError(auth.tokens());
    expect(fake.count('session_login')).toBe(4);
    creds.password = 'third-wrong-password';
    clock.advance(BACKOFF_MS * 10);
    await expect(auth.tokens()).rejects.toThrow('one more would lock it');
    creds.password = fake.correct.password;
    await expect(auth.tokens()).rejects.toThrow('one more would lock it');
    expect(fake.count('session_login')).toBe(4);
    expect(fake.locked).toBe(false);
  });

  it('a change of the username also lifts the block, right away', async () => {
    const { fake, auth, clock, creds } = setup({ maxLoginFailures: 1 });
    creds.username = 'user-typo';
    await authError(auth.tokens());
    clock.advance(BACKOFF_MS * 10);
    await authError(auth.tokens());
    expect(fake.count('session_login')).toBe(1);
    creds.username = fake.correct.username;
    await auth.tokens();
    expect(fake.count('session_login')).toBe(2);
  });

  it('a successful login resets the count of consecutive rejections', async () => {
    // same credentials throughout: ThingSpace refuses twice, accepts once, then refuses again
    const { fake, auth, clock } = setup({ maxLoginFailures: 3 });
    fake.override.session_login = (_req, n) =>
      n === 3 ? undefined : { status: 400, body: LOGIN_REJECTED };
    for (let i = 0; i < 2; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    const good = await auth.tokens();
    expect(auth.blocked).toBe(false);
    auth.invalidate('session', good.session);
    for (let i = 0; i < 10; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    expect(fake.count('session_login')).toBe(2 + 1 + 3);
    expect(auth.blocked).toBe(true);
  });

  it('never gets the user locked, whatever mix of rejections ThingSpace sends', async () => {
    const { fake, auth, clock } = setup({ wrongPassword: true, maxLoginFailures: 4 });
    const bodies = [
      { status: 400, body: LOGIN_REJECTED },
      { status: 401, body: { errorCode: 'X.AUTH' } },
      { status: 403, body: { errorCode: 'X.FORBIDDEN' } },
      { status: 400, body: undefined },
    ];
    fake.override.session_login = (_req, n) => bodies[(n - 1) % bodies.length];
    for (let i = 0; i < 30; i++) {
      await authError(auth.tokens()).catch(() => undefined);
      clock.advance(BACKOFF_MS + 1);
    }
    expect(fake.consecutiveFailedLogins).toBeLessThan(5);
    expect(fake.locked).toBe(false);
  });

  // BUG: same cause as above; with the default maxLoginFailures=3 the fake ThingSpace sees 6 failed logins.
  it('never gets the user locked when every rejected login is a bare 401', async () => {
    const { fake, auth, clock } = setup({ wrongPassword: true, maxLoginFailures: 3 });
    fake.override.session_login = () => ({ status: 401, body: undefined });
    for (let i = 0; i < 30; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS + 1);
    }
    expect(fake.consecutiveFailedLogins).toBeLessThan(5);
    expect(fake.locked).toBe(false);
  });

  it('a rejected oauth_token request is not retried and holds back the next attempt too', async () => {
    const { fake, auth, clock, creds, rejections } = setup();
    creds.clientSecret = 'csec-wrong';
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('auth');
    expect(error.httpStatus).toBe(401);
    expect(fake.count('oauth_token')).toBe(1);
    expect(fake.count('session_login')).toBe(0);
    expect(rejections).toEqual([{ kind: 'oauth_token', consecutive: 1, blocked: false }]);
    clock.advance(BACKOFF_MS - 1);
    await authError(auth.tokens());
    expect(fake.count('oauth_token')).toBe(1);
    clock.advance(1);
    await authError(auth.tokens());
    expect(fake.count('oauth_token')).toBe(2);
  });
});

describe('Authenticator: a stale bearer token on session_login', () => {
  it('renews the bearer once and logs in again, without counting a failed login', async () => {
    const { fake, auth, rejections } = setup();
    fake.override.session_login = (_req, n) =>
      n === 1 ? { status: 401, body: BEARER_FAULT } : undefined;
    const tokens = await auth.tokens();
    expect(fake.requests.map((r) => r.endpoint)).toEqual([
      'oauth_token',
      'session_login',
      'oauth_token',
      'session_login',
    ]);
    expect(fake.requests[3]!.headers.authorization).toBe(`Bearer ${fake.bearers[1]}`);
    expect(tokens).toEqual({ bearer: fake.bearers[1], session: fake.sessions[0] });
    expect(rejections).toEqual([]);
    expect(auth.blocked).toBe(false);
  });

  it('the 900902 "missing credentials" fault is treated the same way', async () => {
    const { fake, auth, rejections } = setup();
    fake.override.session_login = (_req, n) =>
      n === 1
        ? { status: 401, body: { fault: { code: 900902, message: 'Missing Credentials' } } }
        : undefined;
    await auth.tokens();
    expect(fake.count('oauth_token')).toBe(2);
    expect(rejections).toEqual([]);
  });

  it('renews only once: a second fault ends the attempt instead of looping', async () => {
    const { fake, auth } = setup();
    fake.override.session_login = () => ({ status: 401, body: BEARER_FAULT });
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('auth');
    expect(fake.count('oauth_token')).toBe(2);
    expect(fake.count('session_login')).toBe(2);
  });

  it('a bearer that expired while cached is renewed before the login, not discovered by a fault', async () => {
    const { fake, auth, clock } = setup();
    const first = await auth.tokens();
    clock.advance(3600_000);
    const second = await auth.tokens();
    expect(second.bearer).not.toBe(first.bearer);
    // the new session was requested with the new bearer, and no request met a fault
    const logins = fake.requests.filter((r) => r.endpoint === 'session_login');
    expect(logins.at(-1)!.headers.authorization).toBe(`Bearer ${second.bearer}`);
    expect(fake.count('session_login')).toBe(2);
  });
});

describe('Authenticator: token refresh race', () => {
  /**
   * A send that stops each session_login at a gate once the fake has the request: the test decides what
   * happens in between (here: a concurrent request invalidating the bearer) and then lets it answer.
   */
  function gatedLogin() {
    let gate: ReturnType<typeof deferred> | undefined;
    let arrived: ReturnType<typeof deferred> = deferred();
    const loginsSeen: string[] = [];
    const wrap =
      (fake: FakeThingSpace): Send =>
      async (req) => {
        if (req.endpoint === 'session_login' && gate) {
          loginsSeen.push(req.headers.authorization!.replace(/^Bearer /, ''));
          arrived.release();
          await gate.promise;
        }
        return fake.send(req);
      };
    return {
      wrap,
      loginsSeen,
      hold() {
        gate = deferred();
        arrived = deferred();
        return { arrived: arrived.promise, release: gate.release };
      },
    };
  }

  it('a bearer invalidated between the bearer request and the session login does not fail the refresh', async () => {
    const gated = gatedLogin();
    const { auth, fake } = setup({ send: gated.wrap });
    const held = gated.hold();
    const waiting = Array.from({ length: 5 }, () => auth.tokens());
    await held.arrived;
    // the bearer was just obtained; a request that carried it is answered with a gateway fault meanwhile
    const bearer = gated.loginsSeen[0]!;
    auth.invalidate('bearer', bearer);
    held.release();

    const results = await Promise.allSettled(waiting);
    for (const result of results) {
      expect(result).toEqual({
        status: 'fulfilled',
        value: { bearer, session: fake.sessions[0] },
      });
    }
    expect(fake.count('oauth_token')).toBe(1);
    expect(fake.count('session_login')).toBe(1);

    // the invalidation is honoured: the next call renews the bearer and keeps the session
    const next = await auth.tokens();
    expect(next.bearer).not.toBe(bearer);
    expect(next.session).toBe(fake.sessions[0]);
    expect(fake.count('oauth_token')).toBe(2);
    expect(fake.count('session_login')).toBe(1);
  });

  it('a session renewal with a cached bearer survives that bearer being invalidated meanwhile', async () => {
    const gated = gatedLogin();
    const { auth, fake, clock } = setup({ send: gated.wrap });
    const first = await auth.tokens();
    clock.advance(SESSION_IDLE_LIMIT_MS); // the session is idle too long, the bearer still good

    const held = gated.hold();
    const waiting = auth.tokens();
    await held.arrived;
    auth.invalidate('bearer', first.bearer);
    held.release();

    expect(await waiting).toEqual({ bearer: first.bearer, session: fake.sessions[1] });
    expect(fake.count('session_login')).toBe(2);
  });
});

describe('Authenticator: a wall clock that steps', () => {
  it.each([
    ['back', -HOUR],
    ['forward', HOUR],
  ])(
    'the login backoff is exactly loginBackoffMs of real time when the wall clock steps %s by an hour',
    async (_direction, step) => {
      const { fake, auth, clock, authClock } = setup({ wrongPassword: true });
      await authError(auth.tokens());
      expect(fake.count('session_login')).toBe(1);
      authClock.stepWall(step);
      clock.advance(BACKOFF_MS - 1);
      expect((await authError(auth.tokens())).message).toMatch(/not logging in for another 1s/);
      expect(fake.count('session_login')).toBe(1);
      clock.advance(1);
      await authError(auth.tokens());
      expect(fake.count('session_login')).toBe(2);
    },
  );

  it.each([
    ['back', -2 * HOUR],
    ['forward', 2 * HOUR],
  ])('token lifetimes ignore a wall clock stepped %s', async (_direction, step) => {
    const { fake, auth, clock, authClock } = setup();
    const first = await auth.tokens();
    authClock.stepWall(step);
    expect(await auth.tokens()).toEqual(first);
    expect(fake.requests).toHaveLength(2);
    // and real time still ends them: the session after its idle limit, the bearer after its hour
    clock.advance(SESSION_IDLE_LIMIT_MS);
    const second = await auth.tokens();
    expect(second.session).not.toBe(first.session);
    expect(fake.sessionValid(second.session)).toBe(true);
    expect(second.bearer).toBe(first.bearer);
    clock.advance(HOUR - SESSION_IDLE_LIMIT_MS);
    auth.touchSession(second.session);
    expect(fake.bearerValid((await auth.tokens()).bearer)).toBe(true);
    expect(fake.count('oauth_token')).toBe(2);
  });
});

describe('Authenticator: configuration errors', () => {
  it('an unreadable *_FILE secret fails with kind config and sends nothing', async () => {
    const clock = fakeClock();
    const fake = new FakeThingSpace(clock);
    const credentials = mutableCredentials({ ...fake.correct });
    credentials.password = {
      source: 'THINGSPACE_PASSWORD_FILE',
      read: () => {
        throw new ConfigError('THINGSPACE_PASSWORD_FILE: cannot read "/run/secrets/pw" (ENOENT)');
      },
    };
    const auth = new Authenticator({
      send: fake.send,
      retry: instantRetry(3),
      credentials,
      clock: steppable(clock),
      loginBackoffMs: BACKOFF_MS,
      maxLoginFailures: 3,
      onSecret: () => undefined,
      onLoginRejected: () => undefined,
      onLoginSucceeded: () => undefined,
    });
    const error = await authError(auth.tokens());
    expect(error.kind).toBe('config');
    expect(error.message).toContain('THINGSPACE_PASSWORD_FILE');
    expect(fake.requests).toHaveLength(0);
  });
});

/**
 * ThingSpace as it counts per user: each username has its own run of failed logins, reset by a success,
 * and is locked at five. `passwords` are the users that exist.
 */
function perUserLogins(fake: FakeThingSpace, passwords: Record<string, string>) {
  const failures = new Map<string, number>();
  const locked = new Set<string>();
  fake.override.session_login = (req) => {
    const { username, password } = JSON.parse(req.body!) as Record<string, string>;
    if (!locked.has(username!) && passwords[username!] === password) {
      failures.set(username!, 0);
      return {
        status: 200,
        body: { sessionToken: `session-of-${username}-${fake.requests.length}` },
      };
    }
    const n = (failures.get(username!) ?? 0) + 1;
    failures.set(username!, n);
    if (n >= 5) locked.add(username!);
    return { status: 400, body: LOGIN_REJECTED };
  };
  return { failures, locked };
}

describe('Authenticator: lockout memory per user', () => {
  it('switching to another user and back keeps the first user’s count, even after the other logs in', async () => {
    const { fake, auth, clock, creds } = setup({ maxLoginFailures: 3 });
    const thingspace = perUserLogins(fake, { 'user-a': 'pw-a', 'user-b': 'pw-b' });
    Object.assign(creds, { username: 'user-a', password: 'wrong-a' });
    for (let i = 0; i < 2; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    Object.assign(creds, { username: 'user-b', password: 'wrong-b' });
    await authError(auth.tokens());
    creds.password = 'pw-b';
    const good = await auth.tokens();
    auth.invalidate('session', good.session);

    Object.assign(creds, { username: 'user-a', password: 'wrong-a' });
    for (let i = 0; i < 20; i++) {
      await authError(auth.tokens()).catch(() => undefined);
      clock.advance(BACKOFF_MS);
    }
    expect(thingspace.failures.get('user-a')).toBe(3);
    expect(thingspace.locked.size).toBe(0);
    expect(auth.blocked).toBe(true);
  });

  it('a user one failure short of the lock gets no attempt with any credentials after a switch away and back', async () => {
    const { fake, auth, clock, creds } = setup({ maxLoginFailures: 4 });
    const thingspace = perUserLogins(fake, { 'user-a': 'pw-a', 'user-b': 'pw-b' });
    Object.assign(creds, { username: 'user-a', password: 'wrong-a' });
    for (let i = 0; i < 10; i++) {
      await authError(auth.tokens()).catch(() => undefined);
      clock.advance(BACKOFF_MS);
    }
    expect(thingspace.failures.get('user-a')).toBe(4);
    Object.assign(creds, { username: 'user-b', password: 'pw-b' });
    auth.invalidate('session', (await auth.tokens()).session);
    Object.assign(creds, { username: 'user-a', password: 'pw-a' });
    await expect(auth.tokens()).rejects.toThrow('one more would lock it');
    expect(thingspace.failures.get('user-a')).toBe(4);
  });

  it('the blocked state follows the user: lifted on a switch away, back on a switch back, without a request', async () => {
    const { fake, auth, creds, blockedCalls } = setup({ maxLoginFailures: 1 });
    perUserLogins(fake, { 'user-a': 'pw-a', 'user-b': 'pw-b' });
    Object.assign(creds, { username: 'user-a', password: 'wrong-a' });
    await authError(auth.tokens());
    expect(blockedCalls).toEqual([true]);
    Object.assign(creds, { username: 'user-b', password: 'pw-b' });
    const good = await auth.tokens();
    expect(blockedCalls).toEqual([true, false]);
    auth.invalidate('session', good.session);
    Object.assign(creds, { username: 'user-a', password: 'wrong-a' });
    const requests = fake.requests.length;
    expect((await authError(auth.tokens())).message).toMatch(/login blocked/);
    expect(fake.requests.length).toBe(requests);
    expect(blockedCalls).toEqual([true, false, true]);
    expect(auth.blocked).toBe(true);
  });
});

describe('Authenticator: lockout memory in --storage.path', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'auth-store-'));
  });
  const stores: StateStore[] = [];
  afterEach(async () => {
    // writes after an answer are not awaited by the authenticator: let them land before removing the dir
    await Promise.all(stores.splice(0).map((store) => store.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const load = () => {
    const store = StateStore.load(dir);
    stores.push(store);
    return store;
  };
  const stateFile = () =>
    JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as {
      damaged?: unknown;
      sections: { lockout: { users: Record<string, { failures: number }> } };
    };
  const users = () => Object.values(stateFile().sections.lockout.users);

  /**
   * A new process over the same ThingSpace, the same credentials and the same directory, once the previous
   * one's writes have landed (as when it exits; one killed mid-write is the test of its own below).
   */
  const restart = async (previous: Setup, options: Omit<SetupOptions, 'after' | 'store'> = {}) => {
    await Promise.all(stores.map((store) => store.close()));
    return setup({ maxLoginFailures: 3, ...options, after: previous, store: load() });
  };

  it('six restarts with the same wrong password, each trying at once: ThingSpace sees maxLoginFailures failures, never five', async () => {
    let run = setup({ wrongPassword: true, store: load() });
    const messages: string[] = [];
    for (let i = 0; i < 6; i++) {
      if (i > 0) run = await restart(run);
      for (let j = 0; j < 3; j++) messages.push((await authError(run.auth.tokens())).message);
      run.clock.advance(BACKOFF_MS);
    }
    expect(run.fake.count('session_login')).toBe(3);
    expect(run.fake.consecutiveFailedLogins).toBe(3);
    expect(run.fake.locked).toBe(false);
    expect(messages.at(-1)).toMatch(
      /login blocked after 3 rejected logins in a row.*a restart does not lift the block/,
    );
    expect(run.auth.blocked).toBe(true);
    expect(run.blockedCalls).toEqual([true]);
  });

  it('without a store each restart starts from zero: the behaviour --storage.path exists to avoid', async () => {
    let run = setup({ wrongPassword: true });
    for (let i = 0; i < 6; i++) {
      if (i > 0) run = setup({ after: run });
      await authError(run.auth.tokens());
      run.clock.advance(BACKOFF_MS);
    }
    expect(run.fake.locked).toBe(true);
  });

  it('a restart keeps the backoff, counted from the rejection’s wall time', async () => {
    const first = setup({ wrongPassword: true, store: load() });
    await authError(first.auth.tokens());
    first.clock.advance(MINUTE);
    const second = await restart(first);
    expect((await authError(second.auth.tokens())).message).toMatch(/another 240s/);
    second.clock.advance(BACKOFF_MS - MINUTE - 1);
    await authError(second.auth.tokens());
    expect(second.fake.count('session_login')).toBe(1);
    second.clock.advance(1);
    await authError(second.auth.tokens());
    expect(second.fake.count('session_login')).toBe(2);
  });

  it('a wall clock stepped back across a restart does not stretch the backoff beyond its length', async () => {
    const first = setup({ wrongPassword: true, store: load() });
    await authError(first.auth.tokens());
    first.clock.advance(MINUTE);
    // the rejection now looks an hour in the future: waited for from now, once
    const second = await restart(first, { wallStep: -HOUR });
    second.clock.advance(BACKOFF_MS - 1);
    expect((await authError(second.auth.tokens())).message).toMatch(/not logging in/);
    second.clock.advance(1);
    await authError(second.auth.tokens());
    expect(second.fake.count('session_login')).toBe(2);
  });

  it('after a persisted block, new credentials get their one attempt and a success clears the user', async () => {
    let run = setup({ wrongPassword: true, store: load() });
    for (let i = 0; i < 4; i++) {
      run = await restart(run);
      await authError(run.auth.tokens());
      run.clock.advance(BACKOFF_MS);
    }
    expect(run.fake.count('session_login')).toBe(3);
    expect(users()).toEqual([expect.objectContaining({ failures: 3 })]);
    run.creds.password = run.fake.correct.password;
    const store = load();
    run = setup({ maxLoginFailures: 3, after: run, store });
    await run.auth.tokens();
    expect(run.fake.count('session_login')).toBe(4);
    await store.close();
    expect(users()).toEqual([]);
    expect(run.fake.consecutiveFailedLogins).toBe(0);
  });

  it('the state file holds no credential, nor a fast hash of one', async () => {
    const run = setup({ wrongPassword: true, store: load() });
    await authError(run.auth.tokens());
    const { clientId, clientSecret, username, password } = run.creds;
    const text = readFileSync(join(dir, STATE_FILE), 'utf8');
    const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
    const forbidden = [
      clientId,
      clientSecret,
      username,
      password,
      Buffer.from(`${clientId}:${clientSecret}`).toString('base64'),
      Buffer.from(password).toString('base64'),
      sha256(password),
      sha256(username),
      // the in-memory fingerprint the exporter used before
      createHash('sha256')
        .update(`${clientId}\0${clientSecret}\0${username}\0${password}\0`)
        .digest('hex'),
      sha256(`${username}\0`),
    ];
    for (const value of forbidden) expect(text).not.toContain(value);
    expect(users()).toEqual([expect.objectContaining({ failures: 1 })]);
  });

  it('an attempt is on disk before it is sent: a process killed while waiting still counted it', async () => {
    let release!: () => void;
    let arrived!: () => void;
    const atThingSpace = new Promise<void>((resolve) => (arrived = resolve));
    const answer = new Promise<void>((resolve) => (release = resolve));
    const run = setup({
      wrongPassword: true,
      store: load(),
      send: (fake) => async (req) => {
        if (req.endpoint === 'session_login') {
          arrived();
          await answer;
        }
        return fake.send(req);
      },
    });
    const pending = authError(run.auth.tokens());
    await atThingSpace;
    expect(users()).toEqual([expect.objectContaining({ failures: 1 })]);
    // what a restarted process would do now: nothing until the backoff has passed
    const reborn = await restart(run);
    expect((await authError(reborn.auth.tokens())).message).toMatch(/not logging in/);
    release();
    await pending;
    expect(run.fake.count('session_login')).toBe(1);
  });

  it('a login answered 503 stays on disk as a login without an answer; one never sent is taken back', async () => {
    const store = load();
    const run = setup({ store });
    run.fake.override.session_login = () => ({ status: 503, body: undefined });
    expect((await authError(run.auth.tokens())).kind).toBe('http');
    await store.close();
    expect(users()).toEqual([expect.objectContaining({ failures: 1, unanswered: 1 })]);
    expect(run.rejections).toEqual([]);

    const next = await restart(run);
    next.clock.advance(BACKOFF_MS);
    next.fake.override.session_login = () => refused();
    expect((await authError(next.auth.tokens())).message).toBe('network error (ECONNREFUSED)');
    expect(next.fake.count('session_login')).toBe(1 + 4);
    await Promise.all(stores.map((s) => s.close()));
    expect(users()).toEqual([expect.objectContaining({ failures: 1, unanswered: 1 })]);
  });

  it('when the attempt cannot be written first, the session login is not sent (kind config)', async () => {
    const store = load();
    const run = setup({ store });
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'the directory went away\n');
    const error = await authError(run.auth.tokens());
    expect(error.kind).toBe('config');
    expect(error.message).toMatch(/not logging in: the attempt could not be recorded first/);
    // the bearer token (client credentials, which cannot lock the user) is not recorded first
    expect(run.fake.requests.map((r) => r.endpoint)).toEqual(['oauth_token']);
  });

  it('a damaged state file: no login at all, across restarts, until the file is removed', async () => {
    writeFileSync(join(dir, STATE_FILE), '{"format": "thingspace-fota-exporter/state", "ver');
    let run = setup({ store: load() });
    const error = await authError(run.auth.tokens());
    expect(error.kind).toBe('auth');
    expect(error.message).toMatch(/login blocked: .*state\.json is not valid JSON/);
    expect(run.blockedCalls).toEqual([true]);
    run = await restart(run);
    await authError(run.auth.tokens());
    expect(run.fake.requests).toHaveLength(0);
    expect(stateFile().damaged).toBeDefined();

    rmSync(join(dir, STATE_FILE));
    run = await restart(run);
    await run.auth.tokens();
    expect(run.fake.count('session_login')).toBe(1);
  });

  it('an unreadable lockout section blocks logins and is left as it is on disk', async () => {
    const section = { salt: 'not enough', kdf: {}, users: {} };
    writeFileSync(
      join(dir, STATE_FILE),
      JSON.stringify({
        format: 'thingspace-fota-exporter/state',
        version: 1,
        writtenAt: new Date().toISOString(),
        sections: { lockout: section },
      }),
    );
    const store = load();
    const run = setup({ store });
    expect((await authError(run.auth.tokens())).message).toMatch(
      /lockout section of .* has no usable salt/,
    );
    store.section('other').set({ kept: true });
    await store.save();
    expect(stateFile().sections.lockout).toEqual(section);
    expect(run.fake.requests).toHaveLength(0);
  });
});

describe('which failures may have reached ThingSpace', () => {
  it.each([
    ['ECONNREFUSED', false],
    ['ENOTFOUND', false],
    ['EAI_AGAIN', false],
    ['UND_ERR_CONNECT_TIMEOUT', false],
    ['ERR_TLS_CERT_ALTNAME_INVALID', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', false],
    ['CERT_HAS_EXPIRED', false],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', false],
    ['SELF_SIGNED_CERT_IN_CHAIN', false],
    ['ERR_SSL_WRONG_VERSION_NUMBER', false],
    ['PROXY_407', false],
    ['UND_ERR_SOCKET', true],
    ['ECONNRESET', true],
    ['EPIPE', true],
    ['UND_ERR_HEADERS_TIMEOUT', true],
    ['UND_ERR_BODY_TIMEOUT', true],
    ['UND_ERR_ABORTED', true],
    [undefined, true],
  ])('%s: may have reached ThingSpace = %s', (code, reached) => {
    expect(failedBeforeSending(code)).toBe(!reached);
  });

  it('only an error marked as never sent says no; anything else may have reached ThingSpace', () => {
    expect(mayHaveReachedThingSpace(refused())).toBe(false);
    expect(mayHaveReachedThingSpace(new ThingSpaceError('timeout', 'no complete answer'))).toBe(
      true,
    );
    expect(mayHaveReachedThingSpace(new ThingSpaceError('http', 'x', undefined, 504))).toBe(true);
    expect(mayHaveReachedThingSpace(new TypeError('a bug'))).toBe(true);
  });

  describe('over real sockets (undici)', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      server = undefined;
    });

    async function serve(handler: Parameters<typeof createServer>[1]): Promise<URL> {
      server = createServer(handler);
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }

    async function failure(baseUrl: URL, timeoutMs = 2000, dispatcher = new Agent()) {
      const send = createSend({
        baseUrl,
        dispatcher,
        timeoutMs,
        maxBodyBytes: 1 << 20,
        observe: () => undefined,
      });
      const request = {
        endpoint: 'session_login' as const,
        method: 'POST' as const,
        path: '/login',
        headers: {},
        body: '{}',
      };
      try {
        await send(request);
      } catch (error) {
        return { error: error as ThingSpaceError, send, request };
      }
      throw new Error('expected the request to fail');
    }

    it('a refused connection was never sent', async () => {
      const url = await serve(() => undefined);
      await new Promise((resolve) => server!.close(resolve));
      server = undefined;
      const { error } = await failure(url);
      expect(error.message).toBe('network error (ECONNREFUSED)');
      expect(mayHaveReachedThingSpace(error)).toBe(false);
    });

    it('a connection closed after the request was read may have reached ThingSpace', async () => {
      const url = await serve((req) => {
        req.resume();
        req.on('end', () => req.socket.destroy());
      });
      const { error } = await failure(url);
      expect(error.message).toBe('network error (UND_ERR_SOCKET)');
      expect(mayHaveReachedThingSpace(error)).toBe(true);
    });

    it('no answer in time after sending may have reached ThingSpace', async () => {
      const url = await serve((req) => req.resume());
      const { error } = await failure(url, 200);
      expect(error.kind).toBe('timeout');
      expect(mayHaveReachedThingSpace(error)).toBe(true);
    });

    it('a reused keep-alive connection closed as the request arrives may have reached ThingSpace', async () => {
      let n = 0;
      const url = await serve((req, res) => {
        req.resume();
        req.on('end', () => {
          if (++n === 1) res.end('{}');
          else req.socket.destroy();
        });
      });
      const dispatcher = new Agent({ keepAliveTimeout: 60_000 });
      const send = createSend({
        baseUrl: url,
        dispatcher,
        timeoutMs: 2000,
        maxBodyBytes: 1 << 20,
        observe: () => undefined,
      });
      const request = {
        endpoint: 'session_login' as const,
        method: 'POST' as const,
        path: '/login',
        headers: {},
        body: '{}',
      };
      expect((await send(request)).status).toBe(200);
      const error = await send(request).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ThingSpaceError);
      expect(mayHaveReachedThingSpace(error)).toBe(true);
      await dispatcher.close();
    });
  });
});

describe('judging an answer to a login', () => {
  const TS = { errorCode: 'UnifiedWebService.AUTHENTICATION_FAILED', errorMessage: 'Invalid' };
  it.each([
    [200, { sessionToken: 's' }, 'accepted'],
    [400, TS, 'rejected'],
    [401, TS, 'rejected'],
    [403, TS, 'rejected'],
    [401, BEARER_FAULT, 'bearer'],
    [400, undefined, 'unanswered'],
    [401, undefined, 'unanswered'],
    [403, { message: 'blocked by policy' }, 'unanswered'],
    [500, TS, 'unanswered'],
    [502, undefined, 'unanswered'],
    [503, undefined, 'unanswered'],
    [504, undefined, 'unanswered'],
    [301, undefined, 'no-verdict'],
    [302, undefined, 'no-verdict'],
    [404, { errorCode: 'NOT_FOUND' }, 'no-verdict'],
    [404, undefined, 'no-verdict'],
    [405, undefined, 'no-verdict'],
    [415, undefined, 'no-verdict'],
  ])('session_login %d %j: %s', (status, body, verdict) => {
    expect(judgeLoginAnswer('session_login', status, body)).toBe(verdict);
  });

  it.each([
    [401, { error: 'invalid_client' }, 'rejected'],
    [401, undefined, 'rejected'],
    [400, { error: 'unsupported_grant_type' }, 'rejected'],
    [404, undefined, 'no-verdict'],
    [302, undefined, 'no-verdict'],
  ])('oauth_token %d %j: %s', (status, body, verdict) => {
    expect(judgeLoginAnswer('oauth_token', status, body)).toBe(verdict);
  });
});

describe('LockoutMemory: the endings of a login attempt', () => {
  const clock = { wallMs: () => 1_700_000_000_000, monotonicMs: () => 5000 };
  const identity = { user: 'a'.repeat(64), credentials: 'b'.repeat(64) };

  it('rejected and unanswered both count; unanswered says so; accepted starts again; notRejected leaves no trace', async () => {
    const memory = new LockoutMemory(undefined, clock);
    expect((await memory.begin(identity)).unanswered()).toMatchObject({
      failures: 1,
      unanswered: 1,
    });
    expect((await memory.begin(identity)).rejected()).toMatchObject({
      failures: 2,
      unanswered: 1,
    });
    (await memory.begin(identity)).notRejected();
    expect(memory.get(identity.user)).toMatchObject({ failures: 2, unanswered: 1 });
    (await memory.begin(identity)).accepted();
    expect(memory.get(identity.user)).toBeUndefined();
  });

  it('an attempt ends once', async () => {
    const memory = new LockoutMemory(undefined, clock);
    const attempt = await memory.begin(identity);
    attempt.unanswered();
    expect(() => attempt.rejected()).toThrow('ended twice');
  });

  it.each([
    [
      3,
      1,
      '3 failed logins in a row: 2 rejected, 1 login without an answer (ThingSpace may have counted it)',
    ],
    [3, 0, '3 rejected logins in a row'],
    [1, 0, '1 rejected login'],
    [3, 3, '3 logins without an answer (ThingSpace may have counted them)'],
    [1, 1, '1 login without an answer (ThingSpace may have counted it)'],
  ])('%d failures, %d unanswered: "%s"', (failures, unanswered, text) => {
    expect(
      describeFailures({
        failures,
        unanswered,
        credentials: '',
        lastFailureWallMs: 0,
        lastFailureMonoMs: 0,
      }),
    ).toBe(text);
  });

  describe('in the state file', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'lockout-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    function write(users: Record<string, unknown>) {
      writeFileSync(
        join(dir, STATE_FILE),
        JSON.stringify({
          format: 'thingspace-fota-exporter/state',
          version: 1,
          writtenAt: new Date().toISOString(),
          sections: {
            lockout: {
              salt: Buffer.alloc(16, 1).toString('base64'),
              kdf: { N: 16, r: 1, p: 1 },
              users,
            },
          },
        }),
      );
    }

    it('a file written before lost answers were told apart loads, every failure a rejection', () => {
      write({
        [identity.user]: {
          failures: 2,
          credentials: identity.credentials,
          lastRejectionAt: '2024-01-01T00:00:00.000Z',
        },
      });
      const memory = new LockoutMemory(StateStore.load(dir), clock);
      expect(memory.unknown).toBeUndefined();
      expect(memory.get(identity.user)).toMatchObject({ failures: 2, unanswered: 0 });
    });

    it('the split is kept across a restart', async () => {
      const store = StateStore.load(dir);
      const memory = new LockoutMemory(store, clock, { N: 16, r: 1, p: 1 });
      (await memory.begin(identity)).rejected();
      (await memory.begin(identity)).unanswered();
      await store.close();
      const again = new LockoutMemory(StateStore.load(dir), clock);
      expect(again.get(identity.user)).toMatchObject({ failures: 2, unanswered: 1 });
    });

    it.each([-1, 3, 1.5, '1'])('an unanswered count of %j is unreadable: logins blocked', (bad) => {
      write({
        [identity.user]: {
          failures: 2,
          unanswered: bad,
          credentials: identity.credentials,
          lastRejectionAt: '2024-01-01T00:00:00.000Z',
        },
      });
      expect(new LockoutMemory(StateStore.load(dir), clock).unknown).toMatch(
        /has an unreadable user record/,
      );
    });
  });
});

describe('Authenticator: logins that may have reached ThingSpace without a verdict', () => {
  const timeout = () => new ThingSpaceError('timeout', 'no complete answer within 30000 ms');
  const closed = () => new ThingSpaceError('http', 'network error (UND_ERR_SOCKET)');

  it.each([
    ['a 504', () => ({ status: 504, body: undefined })],
    ['a 500 with an error body', () => ({ status: 500, body: { errorCode: 'X' } })],
    ['a timeout after sending', timeout],
    ['a connection closed after sending', closed],
    ["a 403 without ThingSpace's error body", () => ({ status: 403, body: undefined })],
  ])(
    '%s: sent once, counted, the next login one interval later, blocked after the limit',
    async (_what, answer) => {
      const { fake, auth, clock, rejections, lost, lines } = setup({ wrongPassword: true });
      fake.override.session_login = answer;
      for (let i = 0; i < 20; i++) {
        await authError(auth.tokens());
        clock.advance(BACKOFF_MS / 4);
      }
      expect(fake.count('session_login')).toBe(3);
      expect(rejections).toEqual([]);
      expect(lost).toEqual([
        { consecutive: 1, blocked: false },
        { consecutive: 2, blocked: false },
        { consecutive: 3, blocked: true },
      ]);
      expect(lines[0]).toMatch(
        /^the session login got no answer \(.*\); ThingSpace may have counted it/,
      );
      expect(lines[2]).toMatch(
        /^3 logins without an answer \(ThingSpace may have counted them\): no more logins.*check the network path.*restart the exporter$/,
      );
      expect(auth.blocked).toBe(true);
      const error = await authError(auth.tokens());
      expect(error.message).toMatch(
        /^login blocked after 3 logins without an answer \(ThingSpace may have counted them\)/,
      );
    },
  );

  it('failures before the request was written are retried at once, within the policy, and count nothing', async () => {
    const { fake, auth, lost, rejections } = setup();
    fake.override.session_login = (_req, n) => (n <= 3 ? refused() : undefined);
    await auth.tokens();
    expect(fake.count('session_login')).toBe(4);
    expect(lost).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('a 429 is the gateway refusing before the check: asked again, nothing counted', async () => {
    const { fake, auth, lost } = setup();
    fake.override.session_login = (_req, n) =>
      n === 1 ? { status: 429, body: undefined, retryAfterSeconds: 0 } : undefined;
    await auth.tokens();
    expect(fake.count('session_login')).toBe(2);
    expect(lost).toEqual([]);
  });

  it('rejections and lost answers add up, and the block says both and what lifts each', async () => {
    const { fake, auth, clock, lines } = setup({ wrongPassword: true });
    fake.override.session_login = (_req, n) =>
      n === 2 ? { status: 504, body: undefined } : undefined;
    for (let i = 0; i < 3; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    expect(fake.count('session_login')).toBe(3);
    expect(lines[2]).toMatch(
      /^3 failed logins in a row: 2 rejected, 1 login without an answer \(ThingSpace may have counted it\): no more logins.*fix the credentials.*check the network path/,
    );
    expect((await authError(auth.tokens())).message).toMatch(
      /^login blocked after 3 failed logins in a row: 2 rejected, 1 login without an answer/,
    );
  });

  it('a success after lost answers clears them', async () => {
    const { fake, auth, clock } = setup();
    fake.override.session_login = (_req, n) =>
      n <= 2 ? { status: 504, body: undefined } : undefined;
    for (let i = 0; i < 2; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    const good = await auth.tokens();
    auth.invalidate('session', good.session);
    fake.override.session_login = () => ({ status: 504, body: undefined });
    for (let i = 0; i < 2; i++) {
      await authError(auth.tokens());
      clock.advance(BACKOFF_MS);
    }
    expect(auth.blocked).toBe(false);
    expect(fake.count('session_login')).toBe(5);
  });

  it('OAuth token requests keep their retries (1 + max-retries), and a lost answer counts nothing', async () => {
    const { fake, auth, lost, rejections } = setup();
    fake.override.oauth_token = () => ({ status: 503, body: undefined });
    for (let i = 0; i < 5; i++) expect((await authError(auth.tokens())).kind).toBe('http');
    expect(fake.count('oauth_token')).toBe(5 * 4);
    expect(lost).toEqual([]);
    expect(rejections).toEqual([]);
    expect(auth.blocked).toBe(false);
  });
});

describe('Authenticator: answers that are no verdict', () => {
  it.each([
    ['session_login', 404],
    ['session_login', 302],
    ['session_login', 405],
    ['session_login', 415],
    ['oauth_token', 404],
  ] as const)(
    '%s answered %d: kind config naming the URL, not counted, one interval before the next',
    async (endpoint, status) => {
      const { fake, auth, clock, rejections, lost } = setup();
      fake.override[endpoint] = () => ({
        status,
        body: undefined,
        url: `https://proxy.example/${endpoint}`,
      });
      for (let i = 0; i < 40; i++) {
        const error = await authError(auth.tokens());
        expect(error.kind).toBe('config');
        // not the status of the request that waited for the login (a campaign listing reads 404 as "not here")
        expect(error.httpStatus).toBeUndefined();
        expect(error.message).toMatch(
          new RegExp(
            `^${endpoint}: https://proxy.example/${endpoint} answered HTTP ${status}, which is not ThingSpace's answer to .*: check --thingspace.base-url and any proxy`,
          ),
        );
        clock.advance(BACKOFF_MS / 4);
      }
      expect(fake.count(endpoint)).toBe(10);
      expect(rejections).toEqual([]);
      expect(lost).toEqual([]);
      expect(auth.blocked).toBe(false);
      // the path fixed: the next login after the back-off goes through (the fake counts any overridden
      // 4xx as a failed login; the real ThingSpace never saw these)
      delete fake.override[endpoint];
      fake.consecutiveFailedLogins = 0;
      fake.locked = false;
      clock.advance(BACKOFF_MS);
      await auth.tokens();
    },
  );
});

describe('Authenticator: one login at a time, across requests, their retries and collections', () => {
  it('while the login has no answer, no other is sent: every request waits for it or fails with it', async () => {
    const { fake, auth, clock } = setup({ wrongPassword: true });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    fake.override.session_login = () => new ThingSpaceError('timeout', 'no complete answer');
    const send: Send = async (req) => {
      if (req.endpoint === 'session_login') await held;
      return fake.send(req);
    };
    const client = new ThingSpaceClient(send, auth, instantRetry(3));
    // one collection: many requests at once, each with its own retries
    const first = Array.from({ length: 12 }, () =>
      client.get('reports', '/r', (r) => r).catch((e: unknown) => e),
    );
    await settle();
    release();
    const errors = await Promise.all(first);
    for (const e of errors) expect(e).toBeInstanceOf(ThingSpaceError);
    expect(fake.count('session_login')).toBe(1);
    // the next collections, inside and after the back-off
    for (let pass = 0; pass < 6; pass++) {
      clock.advance(BACKOFF_MS / 2);
      await Promise.all(
        Array.from({ length: 12 }, () =>
          client.get('reports', '/r', (r) => r).catch(() => undefined),
        ),
      );
    }
    expect(fake.count('session_login')).toBe(3);
    expect(fake.count('reports')).toBe(0);
    expect(auth.blocked).toBe(true);
  });
});
