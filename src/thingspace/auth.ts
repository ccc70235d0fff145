/**
 * The two ThingSpace tokens: the OAuth2 bearer token (client credentials, one hour) and the M2M session
 * token (username/password, 20 minutes of inactivity). Both are cached and refreshed before expiry; requests
 * that find them rejected invalidate them, and concurrent refreshes share one flight.
 *
 * Five failed logins lock a ThingSpace user, and only Verizon support can unlock it. So a rejected login is
 * never retried in a loop: after one, no login is tried for at least `loginBackoffMs` (the collection
 * interval), and after `maxLoginFailures` in a row none at all until the credentials change or the process
 * restarts.
 */
import { createHash } from 'node:crypto';
import type { Secret } from '../config/settings.js';
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
  now: () => number;
  loginBackoffMs: number;
  maxLoginFailures: number;
  /** Called with each token obtained, so the logger can redact it. */
  onSecret: (value: string) => void;
  onLoginRejected: (kind: LoginKind, consecutive: number, blocked: boolean) => void;
  onLoginSucceeded: () => void;
}

/** ThingSpace ends a session after 20 idle minutes; renew a minute early rather than race it. */
export const SESSION_IDLE_MS = 19 * 60_000;
const BEARER_MARGIN_MS = 60_000;
const DEFAULT_BEARER_LIFETIME_S = 3600;

interface Cached {
  value: string;
  expiresAt: number;
}

/** ThingSpace locks a user at this many consecutive failed logins. */
export const THINGSPACE_LOCKOUT_AT = 5;

function fingerprint(...secrets: Secret[]): string {
  const hash = createHash('sha256');
  for (const secret of secrets) hash.update(secret.read()).update('\0');
  return hash.digest('hex');
}

export class Authenticator {
  private bearer: Cached | undefined;
  private session: Cached | undefined;
  private inFlight: Promise<Tokens> | undefined;
  private consecutiveRejections = 0;
  private lastRejectionAt = 0;
  private rejectedFingerprint: string | undefined;
  private rejectedUser: string | undefined;

  constructor(private readonly deps: AuthDeps) {}

  /** True while logins are refused after maxLoginFailures consecutive rejections. */
  get blocked(): boolean {
    return this.consecutiveRejections >= this.deps.maxLoginFailures;
  }

  /** Current tokens, logging in first if either is missing or about to expire. */
  tokens(): Promise<Tokens> {
    const now = this.deps.now();
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
    if (this.session?.value === session) this.session.expiresAt = this.deps.now() + SESSION_IDLE_MS;
  }

  /** Forget a token ThingSpace rejected, unless another request already replaced it. */
  invalidate(kind: 'bearer' | 'session', value: string): void {
    if (kind === 'bearer' && this.bearer?.value === value) this.bearer = undefined;
    if (kind === 'session' && this.session?.value === value) this.session = undefined;
  }

  /**
   * ThingSpace counts failed logins per user, whatever the password tried: new credentials for the same
   * user get one attempt straight away, but never the one that would lock the user.
   */
  private checkLoginAllowed(): void {
    if (this.consecutiveRejections === 0) return;
    const { clientId, clientSecret, username, password } = this.deps.credentials;
    if (fingerprint(username) !== this.rejectedUser) {
      this.consecutiveRejections = 0;
      this.deps.onLoginSucceeded();
      return;
    }
    if (fingerprint(clientId, clientSecret, username, password) !== this.rejectedFingerprint) {
      if (this.consecutiveRejections >= THINGSPACE_LOCKOUT_AT - 1) {
        throw new ThingSpaceError(
          'auth',
          `login blocked: ${this.consecutiveRejections} logins of this user were rejected in a row and one more would lock it at ThingSpace; restart only once the credentials are known to be right`,
        );
      }
      return;
    }
    if (this.blocked) {
      throw new ThingSpaceError(
        'auth',
        `login blocked after ${this.consecutiveRejections} rejected logins in a row, to keep ThingSpace from locking the user; fix the credentials (a *_FILE change is picked up) or restart`,
      );
    }
    const waitMs = this.lastRejectionAt + this.deps.loginBackoffMs - this.deps.now();
    if (waitMs > 0) {
      throw new ThingSpaceError(
        'auth',
        `not logging in for another ${Math.ceil(waitMs / 1000)}s after a rejected login`,
      );
    }
  }

  private async refresh(): Promise<Tokens> {
    const now = this.deps.now();
    if (!this.bearer || this.bearer.expiresAt <= now) {
      this.checkLoginAllowed();
      this.bearer = await this.requestBearer();
    }
    if (!this.session || this.session.expiresAt <= now) {
      this.checkLoginAllowed();
      this.session = await this.login(this.bearer.value, true);
    }
    return { bearer: this.bearer.value, session: this.session.value };
  }

  private rejected(kind: LoginKind, response: HttpResponse): ThingSpaceError {
    const body = parseErrorBody(response.body);
    this.consecutiveRejections += 1;
    this.lastRejectionAt = this.deps.now();
    const { clientId, clientSecret, username, password } = this.deps.credentials;
    this.rejectedFingerprint = fingerprint(clientId, clientSecret, username, password);
    this.rejectedUser = fingerprint(username);
    this.deps.onLoginRejected(kind, this.consecutiveRejections, this.blocked);
    return new ThingSpaceError(
      'auth',
      `${kind} rejected with HTTP ${response.status}${body.code ? ` ${body.code}` : ''}${body.message ? `: ${body.message}` : ''}`,
      body.code,
      response.status,
    );
  }

  /** Only a complete login proves the credentials: a bearer token alone does not reset the count. */
  private accepted(): void {
    this.consecutiveRejections = 0;
    this.deps.onLoginSucceeded();
  }

  private async post(
    endpoint: Endpoint,
    path: string,
    headers: Record<string, string>,
    body: string,
  ) {
    return this.deps.retry(async () => {
      const response = await this.deps.send({ endpoint, method: 'POST', path, headers, body });
      throwIfTransient(endpoint, response);
      return response;
    });
  }

  private async requestBearer(): Promise<Cached> {
    const { clientId, clientSecret } = this.deps.credentials;
    const [id, secret] = [clientId.read(), clientSecret.read()];
    const basic = Buffer.from(`${id}:${secret}`).toString('base64');
    // Values re-read from *_FILE may be new since start-up: the scrubber must know them before any log line.
    for (const value of [id, secret, basic]) this.deps.onSecret(value);
    const response = await this.post(
      'oauth_token',
      '/api/ts/v1/oauth2/token',
      { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials',
    );
    if (response.status >= 300) throw this.rejected('oauth_token', response);
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
    return { value: body.access_token, expiresAt: this.deps.now() + lifetimeS * 1000 - margin };
  }

  private async login(bearer: string, mayRenewBearer: boolean): Promise<Cached> {
    const [username, password] = [
      this.deps.credentials.username.read(),
      this.deps.credentials.password.read(),
    ];
    this.deps.onSecret(username);
    this.deps.onSecret(password);
    const response = await this.post(
      'session_login',
      '/api/m2m/v1/session/login',
      { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      JSON.stringify({ username, password }),
    );
    if (response.status >= 300) {
      // A stale bearer token is not a failed login: renew it once and log in again.
      if (mayRenewBearer && isGatewayFault(response.status, parseErrorBody(response.body))) {
        this.invalidate('bearer', bearer);
        this.bearer = await this.requestBearer();
        return this.login(this.bearer.value, false);
      }
      throw this.rejected('session_login', response);
    }
    const token = (response.body as { sessionToken?: unknown } | undefined)?.sessionToken;
    if (typeof token !== 'string' || token.length === 0) {
      throw new ThingSpaceError('parse', 'session_login answer has no sessionToken');
    }
    this.deps.onSecret(token);
    this.accepted();
    return { value: token, expiresAt: this.deps.now() + SESSION_IDLE_MS };
  }
}
