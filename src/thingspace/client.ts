/**
 * The ThingSpace API as every source sees it: an authorised GET that answers parsed JSON. Tokens are
 * attached and renewed when ThingSpace rejects them, transient failures retried; what the body means is the
 * caller's business (src/upgrades, src/campaigns validate their own answers).
 */
import type { Authenticator, Tokens } from './auth.js';
import {
  isBearerRejection,
  isSessionRejection,
  parseErrorBody,
  ThingSpaceError,
  type Endpoint,
} from './errors.js';
import { throwIfTransient, type HttpResponse, type Send } from './http.js';
import type { Retry } from './retry.js';

/**
 * Token renewals one request may make. A request that waits at the throttle gate can outlive more than one
 * session (20 idle minutes at ThingSpace, seconds in the tests), so a few renewals are normal; a token
 * rejected twice is a refusal whatever the count.
 */
export const MAX_TOKEN_RENEWALS = 5;

/**
 * A login that failed inside a request's attempt. The Authenticator already retried it as the retry policy
 * allows; wrapped, it passes the request's own retry untouched, so a failing login is not retried squared.
 */
class LoginFailed {
  constructor(readonly error: unknown) {}
}

export interface ThingSpaceApi {
  /** GETs `path` (below the base URL); resolves to a 2xx answer (body parsed, not yet validated), throws a ThingSpaceError otherwise. */
  get(endpoint: Endpoint, path: string): Promise<HttpResponse>;
}

export class ThingSpaceClient implements ThingSpaceApi {
  constructor(
    private readonly send: Send,
    private readonly auth: Authenticator,
    private readonly retry: Retry,
    /** Resolves once requests may flow (the throttle gate); tokens are taken only after it. */
    private readonly ready: () => Promise<void> = async () => undefined,
  ) {}

  async get(endpoint: Endpoint, path: string): Promise<HttpResponse> {
    // A rejected token is renewed and the request sent again, a bounded number of times: with short-lived
    // tokens and long backoffs a renewed token may expire too, but a token rejected twice is a refusal.
    const rejected = new Set<string>();
    for (;;) {
      let tokens: Tokens | undefined;
      const response = await this.retry(async () => {
        // Tokens are taken for each attempt, after any pause at the throttle gate: a session token held
        // through a long pause could expire before the request goes.
        await this.ready();
        try {
          tokens = await this.auth.tokens();
        } catch (error) {
          throw new LoginFailed(error);
        }
        const res = await this.send({
          endpoint,
          method: 'GET',
          path,
          headers: { authorization: `Bearer ${tokens.bearer}`, 'vz-m2m-token': tokens.session },
        });
        throwIfTransient(endpoint, res);
        return res;
      }).catch((error: unknown) => {
        throw error instanceof LoginFailed ? error.error : error;
      });
      if (!tokens) throw new Error('unreachable: a response without tokens');
      if (response.status < 300) {
        this.auth.touchSession(tokens.session);
        return response;
      }
      const body = parseErrorBody(response.body);
      const detail = `${endpoint} answered HTTP ${response.status}${body.code ? ` ${body.code}` : ''}${body.message ? `: ${body.message}` : ''}`;
      const tokenKind = isSessionRejection(body)
        ? 'session'
        : isBearerRejection(response.status, body)
          ? 'bearer'
          : undefined;
      if (tokenKind === undefined) {
        throw new ThingSpaceError('http', detail, body.code, response.status);
      }
      const token = tokenKind === 'bearer' ? tokens.bearer : tokens.session;
      if (rejected.has(token) || rejected.size >= MAX_TOKEN_RENEWALS) {
        throw new ThingSpaceError(
          'auth',
          `${detail} (after renewing the ${tokenKind} token)`,
          body.code,
          response.status,
        );
      }
      rejected.add(token);
      this.auth.invalidate(tokenKind, token);
    }
  }
}
