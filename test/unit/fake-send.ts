/**
 * An in-process stand-in for ThingSpace behind the `Send` seam: no sockets. It issues bearer and session
 * tokens the way ThingSpace does (bearer valid `expiresInS`, session ending after 20 idle minutes), checks
 * the tokens a request carries, and locks the user after five consecutive failed logins, as ThingSpace does.
 * Tests may replace any endpoint's answer with `override`.
 */
import type { Credentials } from '../../src/thingspace/auth.js';
import type { ThingSpaceApi } from '../../src/thingspace/client.js';
import type { Endpoint } from '../../src/thingspace/errors.js';
import type { HttpRequest, HttpResponse, Send } from '../../src/thingspace/http.js';
import { createRetry, type Retry } from '../../src/thingspace/retry.js';

/**
 * ThingSpaceApi.get over a function that answers requests, placed as ThingSpaceClient places it: the
 * answer is awaited inside the request slot (`schedule`), and `use` runs inside the same slot.
 */
export function getVia(
  answer: (endpoint: Endpoint, path: string) => Promise<HttpResponse>,
): ThingSpaceApi['get'] {
  return (endpoint, path, use, schedule = (task) => task()) =>
    schedule(async () => use(await answer(endpoint, typeof path === 'string' ? path : path())));
}

export const SESSION_IDLE_LIMIT_MS = 20 * 60_000;

export interface Clock {
  t: number;
  now: () => number;
  advance: (ms: number) => void;
}

export function fakeClock(start = Date.UTC(2024, 0, 1)): Clock {
  const clock: Clock = {
    t: start,
    now: () => clock.t,
    advance: (ms) => {
      clock.t += ms;
    },
  };
  return clock;
}

export interface Deferred {
  promise: Promise<void>;
  release: () => void;
}

export function deferred(): Deferred {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

/** What an override answers: a response, or an error thrown by `send` (a timeout, a network error). */
export type Override = (req: HttpRequest, n: number) => HttpResponse | Error | undefined;

export const BEARER_FAULT = {
  fault: {
    code: '900901',
    message: 'Invalid Credentials',
    description: 'Access failure for API: /m2m/v1, version: v1',
  },
};
export const LOGIN_REJECTED = {
  errorCode: 'UnifiedWebService.REQUEST_FAILED.Login.InvalidCredentials',
  errorMessage: 'Invalid username or password',
};

export class FakeThingSpace {
  readonly requests: HttpRequest[] = [];
  /** Tokens issued, in order, so tests can compare with what the client sends and reports. */
  readonly bearers: string[] = [];
  readonly sessions: string[] = [];
  readonly correct = {
    clientId: 'cid-3Fq9',
    clientSecret: 'csec-8Lm2',
    username: 'user-5Tz1',
    password: 'pw-7Kd4',
  };
  expiresInS = 3600;
  /** Consecutive failed logins as ThingSpace counts them, and whether the user is locked. */
  consecutiveFailedLogins = 0;
  locked = false;
  /** Set to hold every answer until released. */
  hold: Promise<void> | undefined;
  readonly override: Partial<Record<Endpoint, Override>> = {};
  reportBody: unknown = { hasMoreFlag: false, reportList: [] };

  private readonly bearerExpiry = new Map<string, number>();
  private readonly sessionLastUse = new Map<string, number>();
  private readonly counts: Record<Endpoint, number> = {
    oauth_token: 0,
    session_login: 0,
    reports: 0,
    campaigns: 0,
    campaign_devices: 0,
  };

  constructor(private readonly clock: Clock) {}

  count(endpoint: Endpoint): number {
    return this.requests.filter((r) => r.endpoint === endpoint).length;
  }

  bearerValid(token: string): boolean {
    return (this.bearerExpiry.get(token) ?? -Infinity) > this.clock.now();
  }

  sessionValid(token: string): boolean {
    return (this.sessionLastUse.get(token) ?? -Infinity) + SESSION_IDLE_LIMIT_MS > this.clock.now();
  }

  readonly send: Send = async (req) => {
    this.requests.push({ ...req, headers: { ...req.headers } });
    const n = ++this.counts[req.endpoint];
    if (this.hold) await this.hold;
    const custom = this.override[req.endpoint]?.(req, n);
    if (custom instanceof Error) throw custom;
    if (custom) {
      if (req.endpoint === 'session_login' && custom.status >= 400 && !isGatewayFault(custom.body))
        this.failedLogin();
      return custom;
    }
    switch (req.endpoint) {
      case 'oauth_token':
        return this.oauth(req);
      case 'session_login':
        return this.login(req);
      case 'reports':
      case 'campaigns':
      case 'campaign_devices':
        // Campaign answers are checked like reports; tests set their bodies with `reportBody`.
        return this.reports(req);
    }
  };

  private failedLogin(): void {
    this.consecutiveFailedLogins++;
    if (this.consecutiveFailedLogins >= 5) this.locked = true;
  }

  private oauth(req: HttpRequest): HttpResponse {
    const expected = Buffer.from(`${this.correct.clientId}:${this.correct.clientSecret}`).toString(
      'base64',
    );
    if (req.headers.authorization !== `Basic ${expected}`) {
      return {
        status: 401,
        body: { error: 'invalid_client', error_description: 'Client authentication failed' },
      };
    }
    const token = `bearer-${this.bearers.length + 1}`;
    this.bearers.push(token);
    this.bearerExpiry.set(token, this.clock.now() + this.expiresInS * 1000);
    return {
      status: 200,
      body: { access_token: token, token_type: 'bearer', expires_in: this.expiresInS, scope: 'x' },
    };
  }

  private bearerOf(req: HttpRequest): string | undefined {
    const header = req.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
  }

  private login(req: HttpRequest): HttpResponse {
    const bearer = this.bearerOf(req);
    if (bearer === undefined || !this.bearerValid(bearer))
      return { status: 401, body: BEARER_FAULT };
    const { username, password } = JSON.parse(req.body ?? '{}') as Record<string, unknown>;
    if (this.locked || username !== this.correct.username || password !== this.correct.password) {
      this.failedLogin();
      return { status: 400, body: LOGIN_REJECTED };
    }
    this.consecutiveFailedLogins = 0;
    const token = `session-${this.sessions.length + 1}`;
    this.sessions.push(token);
    this.sessionLastUse.set(token, this.clock.now());
    return { status: 200, body: { sessionToken: token } };
  }

  private reports(req: HttpRequest): HttpResponse {
    const bearer = this.bearerOf(req);
    if (bearer === undefined || !this.bearerValid(bearer))
      return { status: 401, body: BEARER_FAULT };
    const session = req.headers['vz-m2m-token'];
    if (session === undefined || !this.sessionValid(session)) {
      return {
        status: 400,
        body: {
          errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
          errorMessage: 'SessionToken Expired',
        },
      };
    }
    this.sessionLastUse.set(session, this.clock.now());
    return { status: 200, body: this.reportBody };
  }
}

function isGatewayFault(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'fault' in body;
}

export function mutableCredentials(values: {
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
}): Credentials {
  const secret = (key: keyof typeof values) => ({ read: () => values[key], source: key });
  return {
    clientId: secret('clientId'),
    clientSecret: secret('clientSecret'),
    username: secret('username'),
    password: secret('password'),
  };
}

/** The real retry, with sleeps recorded instead of waited for. */
export function instantRetry(maxRetries = 3): Retry & { sleeps: number[] } {
  const sleeps: number[] = [];
  const retry = createRetry(
    { maxRetries, baseDelayMs: 100, maxDelayMs: 1000 },
    {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
    },
  );
  return Object.assign(retry, { sleeps });
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}
