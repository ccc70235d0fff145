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
 * A failure the request's own retry must pass untouched: a login that failed inside an attempt (the
 * Authenticator already retried it as the retry policy allows, so a failing login is not retried squared),
 * or the caller's `use` refusing an answer (a page of the wrong shape is not sent for again).
 */
class NotRetried {
  constructor(readonly error: unknown) {}
}

/**
 * Runs a task inside one request slot (a concurrency limit such as p-limit), releasing the slot when the
 * task settles. Without one, tasks run at once.
 */
export type Schedule = <T>(task: () => Promise<T>) => Promise<T>;

const AT_ONCE: Schedule = (task) => task();

export interface ThingSpaceApi {
  /**
   * GETs `path` (below the base URL) and resolves to what `use` makes of the 2xx answer (body parsed, not yet
   * validated); throws a ThingSpaceError otherwise, or what `use` threw.
   *
   * With `schedule`, each attempt takes its own request slot and gives it back when it ends: a retry's
   * backoff and a pause at the throttle gate hold none, so a request that keeps failing does not keep
   * others waiting. `use` (synchronous) runs inside the slot of the attempt that succeeded, so a page is
   * consumed (aggregated, dropped) before its slot goes to the next request: no more pages are alive at
   * once than there are slots.
   */
  get<T>(
    endpoint: Endpoint,
    path: RequestPath,
    use: (response: HttpResponse) => T,
    schedule?: Schedule,
  ): Promise<T>;
}

/**
 * Below the base URL; a function is asked once per attempt, inside its slot, for a choice that may change
 * while the request waits for one (which v3 listing path answers).
 */
export type RequestPath = string | (() => string);

/** What one attempt ends with: the caller's result, or an answer that rejects a token. */
type Outcome<T> =
  { readonly used: T } | { readonly response: HttpResponse; readonly tokens: Tokens };

export class ThingSpaceClient implements ThingSpaceApi {
  constructor(
    private readonly send: Send,
    private readonly auth: Authenticator,
    private readonly retry: Retry,
    /** Resolves once requests may flow (the throttle gate); tokens are taken only after it. */
    private readonly ready: () => Promise<void> = async () => undefined,
  ) {}

  async get<T>(
    endpoint: Endpoint,
    path: RequestPath,
    use: (response: HttpResponse) => T,
    schedule: Schedule = AT_ONCE,
  ): Promise<T> {
    // A rejected token is renewed and the request sent again, a bounded number of times: with short-lived
    // tokens and long backoffs a renewed token may expire too, but a token rejected twice is a refusal.
    const rejected = new Set<string>();
    for (;;) {
      const outcome: Outcome<T> = await this.retry(async () => {
        // The pause at the throttle gate comes before the slot: a request waiting there holds none. (Its
        // send still passes the gate, gate.ts, inside the slot: should the gate close in between, nobody
        // could send, so the slot held there keeps no request waiting that could go.)
        await this.ready();
        return schedule(async (): Promise<Outcome<T>> => {
          // Tokens are taken for each attempt, after any pause at the gate: a session token held through a
          // long pause could expire before the request goes. Waiting for a login holds the slot: a login
          // is a request too, and no request that needs its tokens could go meanwhile anyway.
          let tokens: Tokens;
          try {
            tokens = await this.auth.tokens();
          } catch (error) {
            throw new NotRetried(error);
          }
          const response = await this.send({
            endpoint,
            method: 'GET',
            path: typeof path === 'string' ? path : path(),
            headers: { authorization: `Bearer ${tokens.bearer}`, 'vz-m2m-token': tokens.session },
          });
          throwIfTransient(endpoint, response);
          if (response.status >= 300) return { response, tokens };
          this.auth.touchSession(tokens.session);
          try {
            return { used: use(response) };
          } catch (error) {
            throw new NotRetried(error);
          }
        });
      }).catch((error: unknown) => {
        throw error instanceof NotRetried ? error.error : error;
      });
      if ('used' in outcome) return outcome.used;
      const { response, tokens } = outcome;
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
