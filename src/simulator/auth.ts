/**
 * The two ThingSpace credentials: the OAuth bearer token (client credentials, fixed lifetime) and
 * the M2M session token (inactivity lifetime), plus the login lockout. Lifetimes are read from the
 * fault settings on every check, so shortening them at run time expires tokens already handed out.
 */
import { randomUUID } from 'node:crypto';

export interface Credentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly username: string;
  readonly password: string;
}

export interface Lifetimes {
  readonly bearerTtlSeconds: number;
  readonly sessionTtlSeconds: number;
}

/** An HTTP answer, independent of the HTTP layer. */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type TokenCheck = 'ok' | 'missing' | 'invalid' | 'expired';

/** ThingSpace locks a user after this many consecutive failed logins. */
export const LOCKOUT_THRESHOLD = 5;
const SCOPE = 'ts.fota.ro ts.m2m.session';
/** Expired sessions are remembered this long so that they are reported as expired, not unknown. */
const EXPIRED_SESSION_MEMORY_MS = 3_600_000;

export const LOGIN_FAILED_CODE = 'UnifiedWebService.AUTHENTICATION_FAILED';
export const USER_LOCKED_CODE = 'UnifiedWebService.AUTHENTICATION_FAILED.User.Locked';
export const SESSION_EXPIRED_CODE = 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired';
export const SESSION_INVALID_CODE = 'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid';

interface LoginRecord {
  consecutiveFailures: number;
  locked: boolean;
}

export interface LoginState {
  readonly consecutiveFailures: number;
  readonly failedTotal: number;
  readonly locked: boolean;
}

function oauthError(status: number, error: string, description: string): Answer {
  return { status, body: { error, error_description: description } };
}

export class AuthState {
  /** Access token → issue time. */
  private readonly bearers = new Map<string, number>();
  private currentBearer: string | null = null;
  /** Session token → time of last successful use. */
  private readonly sessions = new Map<string, number>();
  private readonly logins = new Map<string, LoginRecord>();
  private failedTotal = 0;

  constructor(
    private readonly credentials: Credentials,
    private readonly lifetimes: () => Lifetimes,
    private readonly now: () => number = Date.now,
  ) {}

  /** POST /api/ts/v1/oauth2/token */
  issueAccessToken(authorization: string | undefined, form: URLSearchParams): Answer {
    const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
    const decoded = basic?.[1] === undefined ? '' : Buffer.from(basic[1], 'base64').toString();
    const colon = decoded.indexOf(':');
    if (
      colon === -1 ||
      decoded.slice(0, colon) !== this.credentials.clientId ||
      decoded.slice(colon + 1) !== this.credentials.clientSecret
    ) {
      return {
        ...oauthError(401, 'invalid_client', 'Client authentication failed'),
        headers: { 'WWW-Authenticate': 'Basic realm="ThingSpace"' },
      };
    }
    const grant = form.get('grant_type');
    if (grant === null) return oauthError(400, 'invalid_request', 'Missing grant_type');
    if (grant !== 'client_credentials') {
      return oauthError(400, 'unsupported_grant_type', `Unsupported grant_type ${grant}`);
    }
    const now = this.now();
    const ttlMs = this.lifetimes().bearerTtlSeconds * 1000;
    for (const [token, issued] of this.bearers) {
      if (issued + ttlMs <= now && token !== this.currentBearer) this.bearers.delete(token);
    }
    let token = this.currentBearer;
    const issued = token === null ? undefined : this.bearers.get(token);
    if (token === null || issued === undefined || issued + ttlMs <= now) {
      token = randomUUID();
      this.bearers.set(token, now);
      this.currentBearer = token;
    }
    const remainingMs = (this.bearers.get(token) ?? now) + ttlMs - now;
    return {
      status: 200,
      body: {
        access_token: token,
        token_type: 'bearer',
        expires_in: Math.max(1, Math.ceil(remainingMs / 1000)),
        scope: SCOPE,
      },
    };
  }

  checkBearer(authorization: string | undefined): TokenCheck {
    if (authorization === undefined || authorization.trim() === '') return 'missing';
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    const issued = match?.[1] === undefined ? undefined : this.bearers.get(match[1]);
    if (issued === undefined) return 'invalid';
    return issued + this.lifetimes().bearerTtlSeconds * 1000 > this.now() ? 'ok' : 'expired';
  }

  /** POST /api/m2m/v1/session/login, after the bearer was checked. */
  login(body: unknown): Answer {
    const fields =
      typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const { username, password } = fields;
    if (typeof username !== 'string' || typeof password !== 'string' || username === '') {
      return {
        status: 400,
        body: {
          errorCode: 'UnifiedWebService.INPUT_INVALID',
          errorMessage: 'Request body must be a JSON object with string username and password',
        },
      };
    }
    const record = this.logins.get(username) ?? { consecutiveFailures: 0, locked: false };
    this.logins.set(username, record);
    if (record.locked) {
      return {
        status: 400,
        body: {
          errorCode: USER_LOCKED_CODE,
          errorMessage: `User ${username} is locked after ${LOCKOUT_THRESHOLD} failed logins; contact support`,
        },
      };
    }
    if (username !== this.credentials.username || password !== this.credentials.password) {
      record.consecutiveFailures += 1;
      this.failedTotal += 1;
      if (record.consecutiveFailures >= LOCKOUT_THRESHOLD) record.locked = true;
      return {
        status: 400,
        body: { errorCode: LOGIN_FAILED_CODE, errorMessage: 'Invalid username or password' },
      };
    }
    record.consecutiveFailures = 0;
    this.pruneSessions();
    const sessionToken = randomUUID();
    this.sessions.set(sessionToken, this.now());
    return { status: 200, body: { sessionToken } };
  }

  /** Checks a VZ-M2M-Token; a valid one is renewed, since its lifetime counts from the last use. */
  useSession(token: string | undefined): TokenCheck {
    if (token === undefined || token.trim() === '') return 'missing';
    const lastUsed = this.sessions.get(token.trim());
    if (lastUsed === undefined) return 'invalid';
    const now = this.now();
    if (lastUsed + this.lifetimes().sessionTtlSeconds * 1000 <= now) return 'expired';
    this.sessions.set(token.trim(), now);
    return 'ok';
  }

  /** Ends the life of every token handed out so far, as if their lifetimes had run out. */
  expire(which: 'bearer' | 'session' | 'all'): void {
    const { bearerTtlSeconds, sessionTtlSeconds } = this.lifetimes();
    const now = this.now();
    if (which !== 'session') {
      for (const token of this.bearers.keys())
        this.bearers.set(token, now - bearerTtlSeconds * 1000);
    }
    if (which !== 'bearer') {
      for (const token of this.sessions.keys()) {
        this.sessions.set(token, now - sessionTtlSeconds * 1000);
      }
    }
  }

  loginState(): LoginState {
    const record = this.logins.get(this.credentials.username);
    return {
      consecutiveFailures: record?.consecutiveFailures ?? 0,
      failedTotal: this.failedTotal,
      locked: record?.locked ?? false,
    };
  }

  private pruneSessions(): void {
    const forgetBefore =
      this.now() - this.lifetimes().sessionTtlSeconds * 1000 - EXPIRED_SESSION_MEMORY_MS;
    for (const [token, lastUsed] of this.sessions) {
      if (lastUsed < forgetBefore) this.sessions.delete(token);
    }
  }
}
