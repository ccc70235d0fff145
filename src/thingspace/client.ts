/**
 * The ThingSpace API as every source sees it: an authorised GET that answers parsed JSON. Tokens are
 * attached and renewed when ThingSpace rejects them, transient failures retried; what the body means is the
 * caller's business (src/upgrades, src/campaigns validate their own answers).
 */
import type { Authenticator } from './auth.js';
import {
  isBearerRejection,
  isSessionRejection,
  parseErrorBody,
  ThingSpaceError,
  type Endpoint,
} from './errors.js';
import { throwIfTransient, type HttpResponse, type Send } from './http.js';
import type { Retry } from './retry.js';

const MAX_TOKEN_RENEWALS = 3;

export interface ThingSpaceApi {
  /** GETs `path` (below the base URL); resolves to a 2xx answer (body parsed, not yet validated), throws a ThingSpaceError otherwise. */
  get(endpoint: Endpoint, path: string): Promise<HttpResponse>;
}

export class ThingSpaceClient implements ThingSpaceApi {
  constructor(
    private readonly send: Send,
    private readonly auth: Authenticator,
    private readonly retry: Retry,
  ) {}

  async get(endpoint: Endpoint, path: string): Promise<HttpResponse> {
    // A rejected token is renewed and the request sent again, a bounded number of times: with short-lived
    // tokens and long backoffs a renewed token may expire too, but a token rejected twice is a refusal.
    const rejected = new Set<string>();
    for (;;) {
      const tokens = await this.auth.tokens();
      const response = await this.retry(async () => {
        const res = await this.send({
          endpoint,
          method: 'GET',
          path,
          headers: { authorization: `Bearer ${tokens.bearer}`, 'vz-m2m-token': tokens.session },
        });
        throwIfTransient(endpoint, res);
        return res;
      });
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
