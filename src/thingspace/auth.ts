/**
 * The two ThingSpace tokens: the OAuth2 bearer token (client credentials, one hour) and the M2M session
 * token (username/password, 20 minutes of inactivity). Both are cached and refreshed before expiry; requests
 * that find them rejected invalidate them, and every refresh shares one flight: one login at a time, whatever
 * the number of requests, their retries and the collections waiting for it.
 *
 * Five failed logins lock a ThingSpace user, and only Verizon support can unlock it. ThingSpace decides what
 * counted, so the exporter counts every session login that ThingSpace may have counted:
 * - rejected: 400/401/403 with ThingSpace's error body (`{errorCode, errorMessage}`), not the gateway's
 *   900901/900902 bearer fault (that renews the bearer);
 * - unanswered: sent, and no verdict came back: a timeout, a 5xx, a connection closed after the request was
 *   written, or a 400/401/403 without ThingSpace's error body. It is never resent.
 * Nothing else counts: a failure before the request was written (refused, DNS, TLS; retried at once within
 * the retry policy), a 429 (the gateway's, before the check; it waits at the throttle gate), and answers that
 * never came from the credential check (3xx, 404, 405, 415, a proxy's page: "no verdict", error kind config).
 * After any failed or no-verdict login the next one waits at least `loginBackoffMs` (the collection
 * interval); after `maxLoginFailures` failures in a row none is sent at all until the credentials change
 * (or the count is cleared: a restart without --storage.path, the state file removed with it). The count is
 * kept per user (see ../storage/lockout.ts), so that switching to another user and back, or a restart with
 * --storage.path, does not reset it.
 *
 * OAuth token requests use client credentials, which do not lock the M2M user: they keep the retry policy
 * (5xx, timeouts and network failures retried), and only a rejection counts.
 *
 * Token lifetimes and the backoff are measured on the monotonic clock: a wall clock stepped by an hour
 * neither ends a token early nor stretches or cuts the wait.
 */
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, type Secret } from '../config/settings.js';
import {
  LockoutMemory,
  LockoutPersistError,
  rejections,
  type LockoutRecord,
  type LoginAttempt,
  type LoginIdentity,
  type RawCredentials,
} from '../storage/lockout.js';
import type { StateStore } from '../storage/store.js';
import {
  isGatewayFault,
  mayHaveReachedThingSpace,
  parseErrorBody,
  ThingSpaceError,
} from './errors.js';
import { throwIfTransient, type HttpResponse, type Send } from './http.js';
import type { Retry } from './retry.js';

export interface Credentials {
  clientId: Secret;
  clientSecret: Secret;
  username: Secret;
  password: Secret;
}

export interface Tokens {
  bearer: string;
  session: string;
}

export type LoginKind = 'oauth_token' | 'session_login';

export interface AuthDeps {
  send: Send;
  retry: Retry;
  credentials: Credentials;
  /** Monotonic time for token lifetimes and the backoff; wall time only for persisted rejection times. */
  clock?: Clock;
  loginBackoffMs: number;
  maxLoginFailures: number;
  /**
   * The --storage.path store: the per-user counts are kept in its `lockout` section across restarts.
   * Without it (or with an in-memory store) they last as long as the process.
   */
  store?: StateStore;
  /** Called with each token obtained, so the logger can redact it. */
  onSecret: (value: string) => void;
  /**
   * ThingSpace refused a login. `consecutive` counts the user's failures in a row of both kinds; `message`
   * is the line for the operator (what happened, what happens next, what lifts a block).
   */
  onLoginRejected: (
    kind: LoginKind,
    consecutive: number,
    blocked: boolean,
    message: string,
  ) => void;
  /** A session login was sent and no verdict came back: ThingSpace may have counted it. As above. */
  onLoginUnanswered?: (consecutive: number, blocked: boolean, message: string) => void;
  onLoginSucceeded: () => void;
  /**
   * Called when logins become refused for the configured user until something changes (the credentials,
   * or the state file), and when they no longer are: at start-up with a block remembered from before, on
   * a switch of user, after a rejection or a successful login.
   */
  onBlocked?: (blocked: boolean) => void;
}

/** ThingSpace ends a session after 20 idle minutes; renew a minute early rather than race it. */
export const SESSION_IDLE_MS = 19 * 60_000;
const BEARER_MARGIN_MS = 60_000;
const DEFAULT_BEARER_LIFETIME_S = 3600;

interface Cached {
  value: string;
  /** Monotonic. */
  expiresAt: number;
}

/** ThingSpace locks a user at this many consecutive failed logins. */
export const THINGSPACE_LOCKOUT_AT = 5;

/** A `*_FILE` secret that cannot be read any more is the operator's to fix, not ThingSpace's answer. */
function read(secret: Secret): string {
  try {
    return secret.read();
  } catch (error) {
    if (error instanceof ConfigError) throw new ThingSpaceError('config', error.message);
    throw error;
  }
}

/** "1 login", "3 logins". */
function logins(n: number): string {
  return `${n} login${n === 1 ? '' : 's'}`;
}

/**
 * What a user's failures in a row were, in the operator's words: "3 rejected logins in a row",
 * "3 logins without an answer (ThingSpace may have counted them)", or both.
 */
export function describeFailures(record: LockoutRecord): string {
  const rejected = rejections(record);
  const { unanswered } = record;
  const lost = `${logins(unanswered)} without an answer (ThingSpace may have counted ${unanswered === 1 ? 'it' : 'them'})`;
  if (unanswered === 0) {
    return rejected === 1 ? '1 rejected login' : `${rejected} rejected logins in a row`;
  }
  if (rejected === 0) return lost;
  return `${record.failures} failed logins in a row: ${rejected} rejected, ${lost}`;
}

/**
 * How ThingSpace's answer to a login is taken. `rejected`: the credential check refused it. `unanswered`:
 * ThingSpace may have counted it, but said nothing we can read as a verdict. `bearer`: the gateway refused
 * the bearer token, not the login. `no-verdict`: the answer did not come from the credential check.
 */
export type LoginVerdict = 'accepted' | 'rejected' | 'unanswered' | 'bearer' | 'no-verdict';

/** ThingSpace's own error body: a JSON object with a string errorCode (see THINGSPACE-NOTES). */
function isThingSpaceErrorBody(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as Record<string, unknown>).errorCode === 'string'
  );
}

export function judgeLoginAnswer(kind: LoginKind, status: number, body: unknown): LoginVerdict {
  if (status < 300) return 'accepted';
  if (status === 401 && isGatewayFault(status, parseErrorBody(body))) return 'bearer';
  if (status === 400 || status === 401 || status === 403) {
    // Client credentials cannot lock the user: any refusal of them is simply a rejection.
    if (kind === 'oauth_token' || isThingSpaceErrorBody(body)) return 'rejected';
    // A refusal that does not say it is ThingSpace's (a proxy's page, no body): it may be the credential
    // check's, so it counts, which errs towards never locking the user.
    return 'unanswered';
  }
  // A 5xx may come after the credential check (a gateway timing out on the backend).
  if (status >= 500) return 'unanswered';
  return 'no-verdict';
}

/** A login failure after its request may have been written: not retried, whatever the retry policy says. */
class MayHaveReached {
  constructor(readonly error: unknown) {}
}

export class Authenticator {
  private bearer: Cached | undefined;
  private session: Cached | undefined;
  private inFlight: Promise<Tokens> | undefined;
  private readonly clock: Clock;
  private readonly lockout: LockoutMemory;
  private blockedNow = false;
  /** The last login's answer was no verdict: the next one waits, in memory only (nothing was counted). */
  private noVerdict: { error: ThingSpaceError; untilMonoMs: number } | undefined;

  constructor(private readonly deps: AuthDeps) {
    this.clock = deps.clock ?? systemClock;
    this.lockout = new LockoutMemory(deps.store, this.clock);
  }

  /**
   * True while logins are refused for the configured user until the credentials change or the count is
   * cleared: after maxLoginFailures failed logins in a row, when one more would lock the user, or when the
   * count is unknown.
   */
  get blocked(): boolean {
    return this.blockedNow;
  }

  /** Current tokens, logging in first if either is missing or about to expire. */
  tokens(): Promise<Tokens> {
    const now = this.clock.monotonicMs();
    if (
      this.bearer &&
      this.session &&
      this.bearer.expiresAt > now &&
      this.session.expiresAt > now
    ) {
      return Promise.resolve({ bearer: this.bearer.value, session: this.session.value });
    }
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** A successful request keeps the session alive for another idle period. */
  touchSession(session: string): void {
    if (this.session?.value === session) {
      this.session.expiresAt = this.clock.monotonicMs() + SESSION_IDLE_MS;
    }
  }

  /** Forget a token ThingSpace rejected, unless another request already replaced it. */
  invalidate(kind: 'bearer' | 'session', value: string): void {
    if (kind === 'bearer' && this.bearer?.value === value) this.bearer = undefined;
    if (kind === 'session' && this.session?.value === value) this.session = undefined;
  }

  private setBlocked(blocked: boolean): void {
    if (blocked === this.blockedNow) return;
    this.blockedNow = blocked;
    this.deps.onBlocked?.(blocked);
  }

  private blockedError(message: string): ThingSpaceError {
    this.setBlocked(true);
    return new ThingSpaceError('auth', message);
  }

  /**
   * ThingSpace counts failed logins per user, whatever the password tried: new credentials for the same
   * user get one attempt straight away, but never the one that would lock the user.
   */
  private checkLoginAllowed(identity: LoginIdentity): void {
    if (this.lockout.unknown) {
      throw this.blockedError(
        `login blocked: ${this.lockout.unknown}, and one more failed login could lock the user at ThingSpace; remove the state file once the credentials are known to be right`,
      );
    }
    const record = this.lockout.get(identity.user);
    if (record && record.credentials !== identity.credentials) {
      if (record.failures >= THINGSPACE_LOCKOUT_AT - 1) {
        throw this.blockedError(
          `login blocked: ${describeFailures(record)} for this user, and one more would lock it at ThingSpace; change the credentials only once they are known to be right, or have Verizon confirm the user's state`,
        );
      }
    } else if (record) {
      if (record.failures >= this.deps.maxLoginFailures) {
        throw this.blockedError(
          `login blocked after ${describeFailures(record)}, to keep ThingSpace from locking the user; ${this.lift(record)}`,
        );
      }
      this.setBlocked(false);
      const waitMs = record.lastFailureMonoMs + this.deps.loginBackoffMs - this.clock.monotonicMs();
      if (waitMs > 0) {
        throw new ThingSpaceError(
          'auth',
          `not logging in for another ${Math.ceil(waitMs / 1000)}s after ${describeFailures(record)}`,
        );
      }
    }
    this.setBlocked(false);
    const noVerdict = this.noVerdict;
    if (noVerdict) {
      const waitMs = noVerdict.untilMonoMs - this.clock.monotonicMs();
      if (waitMs > 0) {
        throw new ThingSpaceError(
          noVerdict.error.kind,
          `${noVerdict.error.message} (not logging in for another ${Math.ceil(waitMs / 1000)}s)`,
          noVerdict.error.code,
          noVerdict.error.httpStatus,
        );
      }
      this.noVerdict = undefined;
    }
  }

  /** What lifts a block, for the kinds of failure it is made of. */
  private lift(record: LockoutRecord): string {
    const persistent = this.lockout.persistent;
    const steps: string[] = [];
    if (rejections(record) > 0) steps.push('fix the credentials (a *_FILE change is picked up)');
    if (record.unanswered > 0) {
      steps.push(
        `for logins without an answer, check the network path to ThingSpace (timeouts, 5xx, closed connections, proxy), confirm in the ThingSpace portal that the user can log in, then ${persistent ? `stop the exporter, remove ${this.lockout.location} and start it again` : 'restart the exporter'}`,
      );
    }
    if (persistent && record.unanswered === 0) {
      steps.push(
        `the count is kept in ${this.lockout.location}, so a restart does not lift the block`,
      );
    } else if (!persistent && record.unanswered === 0) {
      steps[0] = 'fix the credentials (a *_FILE change is picked up) or restart';
    }
    return steps.join('; ');
  }

  /**
   * The tokens of one refresh stay in locals: a concurrent request may invalidate the cached bearer while
   * the session login is awaited, and that must not take the fresh session down with it.
   */
  private async refresh(): Promise<Tokens> {
    const now = this.clock.monotonicMs();
    let bearer = this.bearer;
    if (!bearer || bearer.expiresAt <= now) {
      bearer = await this.requestBearer();
      this.bearer = bearer;
    }
    let session = this.session;
    if (!session || session.expiresAt <= now) {
      ({ bearer, session } = await this.login(bearer, true));
      this.session = session;
    }
    return { bearer: bearer.value, session: session.value };
  }

  /** Reads the credentials, fingerprints them and checks the lockout rules; then starts the attempt. */
  private async beginLogin(
    kind: LoginKind,
  ): Promise<{ raw: RawCredentials; attempt: LoginAttempt }> {
    const { clientId, clientSecret, username, password } = this.deps.credentials;
    const raw = {
      clientId: read(clientId),
      clientSecret: read(clientSecret),
      username: read(username),
      password: read(password),
    };
    // Values re-read from *_FILE may be new since start-up: the scrubber must know them before any log line.
    for (const value of Object.values(raw)) this.deps.onSecret(value);
    const identity = await this.lockout.identify(raw);
    this.checkLoginAllowed(identity);
    try {
      return { raw, attempt: await this.lockout.begin(identity, kind === 'session_login') };
    } catch (error) {
      if (!(error instanceof LockoutPersistError)) throw error;
      throw new ThingSpaceError(
        'config',
        `not logging in: the attempt could not be recorded first (${error.message}), and a restart would forget a failed login`,
      );
    }
  }

  private rejected(kind: LoginKind, response: HttpResponse, attempt: LoginAttempt) {
    const body = parseErrorBody(response.body);
    const record = attempt.rejected();
    const blocked = record.failures >= this.deps.maxLoginFailures;
    this.setBlocked(blocked);
    this.deps.onLoginRejected(kind, record.failures, blocked, this.failureLine(record, blocked));
    return new ThingSpaceError(
      'auth',
      `${kind} rejected with HTTP ${response.status}${body.code ? ` ${body.code}` : ''}${body.message ? `: ${body.message}` : ''}`,
      body.code,
      response.status,
    );
  }

  /** A session login that ThingSpace may have counted: it stays counted, and is not sent again for now. */
  private unanswered(attempt: LoginAttempt, cause: ThingSpaceError): ThingSpaceError {
    const record = attempt.unanswered();
    const blocked = record.failures >= this.deps.maxLoginFailures;
    this.setBlocked(blocked);
    this.deps.onLoginUnanswered?.(
      record.failures,
      blocked,
      this.failureLine(record, blocked, cause.message),
    );
    return new ThingSpaceError(
      cause.kind,
      `${cause.message}: the session login got no answer, and ThingSpace may have counted it as a failed login, so it is not sent again before one collection interval`,
      cause.code,
      cause.httpStatus,
    );
  }

  /** The log line of a failed login. */
  private failureLine(record: LockoutRecord, blocked: boolean, lostCause?: string): string {
    if (blocked) {
      if (record.unanswered === 0) {
        return this.lockout.persistent
          ? `ThingSpace rejected ${record.failures} logins in a row: no more logins until the credentials change (the count is kept in --storage.path, so a restart does not lift the block; five failures lock the user)`
          : `ThingSpace rejected ${record.failures} logins in a row: no more logins until the credentials change or the exporter restarts (five failures lock the user)`;
      }
      return `${describeFailures(record)}: no more logins, to keep ThingSpace from locking the user (five failures lock it); ${this.lift(record)}`;
    }
    if (lostCause === undefined) {
      return 'ThingSpace rejected the login; the next attempt waits at least one collection interval';
    }
    return `the session login got no answer (${lostCause}); ThingSpace may have counted it as a failed login (${describeFailures(record)}), so it is not sent again: the next attempt waits at least one collection interval`;
  }

  /** An answer that never came from the credential check: nothing counted, the next login one interval later. */
  private noVerdictError(
    kind: LoginKind,
    response: HttpResponse,
    attempt: LoginAttempt,
    path: string,
  ): ThingSpaceError {
    attempt.notRejected();
    const what = kind === 'session_login' ? 'a login' : 'a token request';
    // No httpStatus: the request that waited for this login would read a 404 as its own (campaigns/pager.ts).
    const error = new ThingSpaceError(
      'config',
      `${kind}: ${response.url ?? path} answered HTTP ${response.status}, which is not ThingSpace's answer to ${what}: check --thingspace.base-url and any proxy`,
    );
    this.holdBack(error);
    return error;
  }

  private holdBack(error: ThingSpaceError): void {
    this.noVerdict = {
      error,
      untilMonoMs: this.clock.monotonicMs() + this.deps.loginBackoffMs,
    };
  }

  /**
   * The OAuth token request: client credentials cannot lock the user, so it keeps the retry policy (5xx,
   * timeouts, network failures), and what it could not get an answer to is not counted.
   */
  private async postOAuth(
    path: string,
    headers: Record<string, string>,
    body: string,
    attempt: LoginAttempt,
  ): Promise<HttpResponse> {
    try {
      return await this.deps.retry(async () => {
        const response = await this.deps.send({
          endpoint: 'oauth_token',
          method: 'POST',
          path,
          headers,
          body,
        });
        throwIfTransient('oauth_token', response);
        return response;
      });
    } catch (error) {
      attempt.notRejected();
      throw error;
    }
  }

  /**
   * The session login is sent again only when it certainly was not sent (refused connection, DNS, TLS,
   * connect timeout; the throttle gate), within the retry policy, and after a 429, which the gateway answers
   * before the credential check. Anything else ends the attempt with what came back: an answer (with
   * `failure` when its body could not be read), or a MayHaveReached.
   */
  private postLogin(
    path: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ response: HttpResponse; failure?: ThingSpaceError }> {
    return this.deps.retry(async () => {
      let response: HttpResponse;
      try {
        response = await this.deps.send({
          endpoint: 'session_login',
          method: 'POST',
          path,
          headers,
          body,
        });
      } catch (error) {
        // An answer whose body could not be read is still an answer: judged by its status.
        if (error instanceof ThingSpaceError && error.httpStatus !== undefined) {
          return { response: { status: error.httpStatus, body: undefined }, failure: error };
        }
        if (mayHaveReachedThingSpace(error)) throw new MayHaveReached(error);
        throw error;
      }
      if (response.status === 429) throwIfTransient('session_login', response);
      return { response };
    });
  }

  private async requestBearer(): Promise<Cached> {
    const { raw, attempt } = await this.beginLogin('oauth_token');
    const basic = Buffer.from(`${raw.clientId}:${raw.clientSecret}`).toString('base64');
    this.deps.onSecret(basic);
    const path = '/api/ts/v1/oauth2/token';
    const response = await this.postOAuth(
      path,
      { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials',
      attempt,
    );
    const verdict = judgeLoginAnswer('oauth_token', response.status, response.body);
    if (verdict === 'no-verdict') throw this.noVerdictError('oauth_token', response, attempt, path);
    if (verdict !== 'accepted') throw this.rejected('oauth_token', response, attempt);
    // Only a complete login proves the credentials: a bearer token alone does not reset the count.
    attempt.notRejected();
    const body = response.body as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (typeof body?.access_token !== 'string' || body.access_token.length === 0) {
      throw new ThingSpaceError('parse', 'oauth_token answer has no access_token');
    }
    const lifetimeS =
      typeof body.expires_in === 'number' && body.expires_in > 0
        ? body.expires_in
        : DEFAULT_BEARER_LIFETIME_S;
    this.deps.onSecret(body.access_token);
    const margin = Math.min(BEARER_MARGIN_MS, (lifetimeS * 1000) / 10);
    return {
      value: body.access_token,
      expiresAt: this.clock.monotonicMs() + lifetimeS * 1000 - margin,
    };
  }

  private async login(
    bearer: Cached,
    mayRenewBearer: boolean,
  ): Promise<{ bearer: Cached; session: Cached }> {
    const { raw, attempt } = await this.beginLogin('session_login');
    const path = '/api/m2m/v1/session/login';
    let answer: { response: HttpResponse; failure?: ThingSpaceError };
    try {
      answer = await this.postLogin(
        path,
        { authorization: `Bearer ${bearer.value}`, 'content-type': 'application/json' },
        JSON.stringify({ username: raw.username, password: raw.password }),
      );
    } catch (error) {
      if (error instanceof MayHaveReached) {
        const cause =
          error.error instanceof ThingSpaceError
            ? error.error
            : new ThingSpaceError('http', `session_login failed (${(error.error as Error)?.name})`);
        throw this.unanswered(attempt, cause);
      }
      // Certainly never sent (connection refused until the retries ran out, the gate's budget): not counted.
      attempt.notRejected();
      throw error;
    }
    const { response, failure } = answer;
    switch (judgeLoginAnswer('session_login', response.status, response.body)) {
      case 'bearer':
        if (mayRenewBearer) {
          // A stale bearer token is not a failed login: renew it once and log in again.
          attempt.notRejected();
          this.invalidate('bearer', bearer.value);
          const renewed = await this.requestBearer();
          this.bearer = renewed;
          return this.login(renewed, false);
        }
        {
          // The gateway refused a bearer token it had just issued: not the credential check, so nothing is
          // counted, but not asked again at once either.
          attempt.notRejected();
          const code = parseErrorBody(response.body).code;
          const error = new ThingSpaceError(
            'auth',
            `session_login answered HTTP 401 ${code} again after renewing the bearer token`,
            code,
            response.status,
          );
          this.holdBack(error);
          throw error;
        }
      case 'rejected':
        throw this.rejected('session_login', response, attempt);
      case 'unanswered':
        throw this.unanswered(
          attempt,
          failure ??
            new ThingSpaceError(
              response.status >= 500 ? 'http' : 'auth',
              `session_login answered HTTP ${response.status}${response.status < 500 ? " without ThingSpace's error body" : ''}`,
              parseErrorBody(response.body).code,
              response.status,
            ),
        );
      case 'no-verdict':
        throw this.noVerdictError('session_login', response, attempt, path);
      case 'accepted':
        break;
    }
    const token = (response.body as { sessionToken?: unknown } | undefined)?.sessionToken;
    if (failure || typeof token !== 'string' || token.length === 0) {
      // Not a verdict we can use (a 2xx of the wrong shape): nothing counted, and not asked again at once.
      attempt.notRejected();
      const error =
        failure ?? new ThingSpaceError('parse', 'session_login answer has no sessionToken');
      this.holdBack(error);
      throw error;
    }
    this.deps.onSecret(token);
    attempt.accepted();
    this.noVerdict = undefined;
    this.setBlocked(false);
    this.deps.onLoginSucceeded();
    return {
      bearer,
      session: { value: token, expiresAt: this.clock.monotonicMs() + SESSION_IDLE_MS },
    };
  }
}
