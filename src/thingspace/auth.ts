/**
 * The two ThingSpace tokens: the OAuth2 bearer token (client credentials, one hour) and the M2M session
 * token (username/password, 20 minutes of inactivity). Both are cached and refreshed before expiry; requests
 * that find them rejected invalidate them, and concurrent refreshes share one flight.
 *
 * Five failed logins lock a ThingSpace user, and only Verizon support can unlock it. So a rejected login is
 * never retried in a loop: after one, no login is tried for at least `loginBackoffMs` (the collection
 * interval), and after `maxLoginFailures` in a row none at all until the credentials change (or, without
 * --storage.path, the process restarts). The count is kept per user (see ../storage/lockout.ts), so that
 * switching to another user and back, or a restart with --storage.path, does not reset it.
 *
 * Token lifetimes and the backoff are measured on the monotonic clock: a wall clock stepped by an hour
 * neither ends a token early nor stretches or cuts the wait.
 */
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, type Secret } from '../config/settings.js';
import {
  LockoutMemory,
  LockoutPersistError,
  type LoginAttempt,
  type LoginIdentity,
  type RawCredentials,
} from '../storage/lockout.js';
import type { StateStore } from '../storage/store.js';
import { isGatewayFault, parseErrorBody, ThingSpaceError, type Endpoint } from './errors.js';
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
  onLoginRejected: (kind: LoginKind, consecutive: number, blocked: boolean) => void;
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

export class Authenticator {
  private bearer: Cached | undefined;
  private session: Cached | undefined;
  private inFlight: Promise<Tokens> | undefined;
  private readonly clock: Clock;
  private readonly lockout: LockoutMemory;
  private blockedNow = false;

  constructor(private readonly deps: AuthDeps) {
    this.clock = deps.clock ?? systemClock;
    this.lockout = new LockoutMemory(deps.store, this.clock);
  }

  /**
   * True while logins are refused for the configured user until the credentials change: after
   * maxLoginFailures consecutive rejections, when one more would lock the user, or when the count is unknown.
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
        `login blocked: ${this.lockout.unknown}, and one more rejected login could lock the user at ThingSpace; remove the state file once the credentials are known to be right`,
      );
    }
    const record = this.lockout.get(identity.user);
    if (!record) {
      this.setBlocked(false);
      return;
    }
    if (record.credentials !== identity.credentials) {
      if (record.failures >= THINGSPACE_LOCKOUT_AT - 1) {
        throw this.blockedError(
          `login blocked: ${record.failures} logins of this user were rejected in a row and one more would lock it at ThingSpace; change the credentials only once they are known to be right, or have Verizon confirm the user's state`,
        );
      }
      this.setBlocked(false);
      return;
    }
    if (record.failures >= this.deps.maxLoginFailures) {
      const lift = this.lockout.persistent
        ? `fix the credentials (a *_FILE change is picked up); the count is kept in ${this.lockout.location}, so a restart does not lift the block`
        : 'fix the credentials (a *_FILE change is picked up) or restart';
      throw this.blockedError(
        `login blocked after ${record.failures} rejected logins in a row, to keep ThingSpace from locking the user; ${lift}`,
      );
    }
    this.setBlocked(false);
    const waitMs = record.lastRejectionMonoMs + this.deps.loginBackoffMs - this.clock.monotonicMs();
    if (waitMs > 0) {
      throw new ThingSpaceError(
        'auth',
        `not logging in for another ${Math.ceil(waitMs / 1000)}s after a rejected login`,
      );
    }
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

  /** Reads the credentials, fingerprints them and checks the lockout rules; then records the attempt. */
  private async beginLogin(): Promise<{ raw: RawCredentials; attempt: LoginAttempt }> {
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
      return { raw, attempt: await this.lockout.begin(identity) };
    } catch (error) {
      if (!(error instanceof LockoutPersistError)) throw error;
      throw new ThingSpaceError(
        'config',
        `not logging in: the attempt could not be recorded first (${error.message}), and a restart would forget a rejection`,
      );
    }
  }

  private rejected(kind: LoginKind, response: HttpResponse, attempt: LoginAttempt) {
    const body = parseErrorBody(response.body);
    const record = attempt.rejected();
    const blocked = record.failures >= this.deps.maxLoginFailures;
    this.setBlocked(blocked);
    this.deps.onLoginRejected(kind, record.failures, blocked);
    return new ThingSpaceError(
      'auth',
      `${kind} rejected with HTTP ${response.status}${body.code ? ` ${body.code}` : ''}${body.message ? `: ${body.message}` : ''}`,
      body.code,
      response.status,
    );
  }

  private async post(
    endpoint: Endpoint,
    path: string,
    headers: Record<string, string>,
    body: string,
    attempt: LoginAttempt,
  ) {
    try {
      return await this.deps.retry(async () => {
        const response = await this.deps.send({ endpoint, method: 'POST', path, headers, body });
        throwIfTransient(endpoint, response);
        return response;
      });
    } catch (error) {
      // No answer on the credentials (timeouts, 5xx, network): not a rejected login.
      attempt.notRejected();
      throw error;
    }
  }

  private async requestBearer(): Promise<Cached> {
    const { raw, attempt } = await this.beginLogin();
    const basic = Buffer.from(`${raw.clientId}:${raw.clientSecret}`).toString('base64');
    this.deps.onSecret(basic);
    const response = await this.post(
      'oauth_token',
      '/api/ts/v1/oauth2/token',
      { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials',
      attempt,
    );
    if (response.status >= 300) throw this.rejected('oauth_token', response, attempt);
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
    const { raw, attempt } = await this.beginLogin();
    const response = await this.post(
      'session_login',
      '/api/m2m/v1/session/login',
      { authorization: `Bearer ${bearer.value}`, 'content-type': 'application/json' },
      JSON.stringify({ username: raw.username, password: raw.password }),
      attempt,
    );
    if (response.status >= 300) {
      // A stale bearer token is not a failed login: renew it once and log in again.
      if (mayRenewBearer && isGatewayFault(response.status, parseErrorBody(response.body))) {
        attempt.notRejected();
        this.invalidate('bearer', bearer.value);
        const renewed = await this.requestBearer();
        this.bearer = renewed;
        return this.login(renewed, false);
      }
      throw this.rejected('session_login', response, attempt);
    }
    const token = (response.body as { sessionToken?: unknown } | undefined)?.sessionToken;
    if (typeof token !== 'string' || token.length === 0) {
      attempt.notRejected();
      throw new ThingSpaceError('parse', 'session_login answer has no sessionToken');
    }
    this.deps.onSecret(token);
    attempt.accepted();
    this.setBlocked(false);
    this.deps.onLoginSucceeded();
    return {
      bearer,
      session: { value: token, expiresAt: this.clock.monotonicMs() + SESSION_IDLE_MS },
    };
  }
}
