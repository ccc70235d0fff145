/**
 * Every failure of a request to ThingSpace becomes a ThingSpaceError with a `kind` from a small fixed set:
 * it is the `error` label of thingspace_fota_collection_errors_total and decides whether a retry may help.
 * docs/runbook.md says what each kind means and what to do about it:
 * - auth: a login or a token was refused;      - http: an HTTP error status or a network failure;
 * - timeout: no complete answer in time;        - throttled: 429s outlasted the collection's time budget;
 * - parse: an answer of the wrong shape;        - pagination: a cursor missing, repeated, or too many pages;
 * - oversize: an answer over the size limit;    - config: a setting that cannot be used (e.g. an unreadable *_FILE);
 * - internal: a bug of the exporter's own.
 */
export const ERROR_KINDS = [
  'auth',
  'http',
  'timeout',
  'throttled',
  'parse',
  'pagination',
  'oversize',
  'config',
  'internal',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const ENDPOINTS = [
  'oauth_token',
  'session_login',
  'reports',
  'campaigns',
  'campaign_devices',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export class ThingSpaceError extends Error {
  override name = 'ThingSpaceError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** ThingSpace's own error code (`errorCode`, or the gateway's `fault.code`) when it sent one. */
    readonly code?: string,
    readonly httpStatus?: number,
    /** Seconds the server asked us to wait (Retry-After). */
    readonly retryAfterSeconds?: number,
    /**
     * The request was certainly not sent: it failed while connecting (see `failedBeforeSending` in http.ts)
     * or never left the exporter (the throttle gate's own limit). False when it may have reached ThingSpace.
     */
    readonly notSent = false,
  ) {
    super(message);
  }

  /**
   * Throttling answers, server errors, timeouts and network failures may pass; a 4xx answer will not, nor
   * the collection's time budget running out while throttled (no httpStatus: it is our own limit).
   */
  get retryable(): boolean {
    if (this.kind === 'throttled') return this.httpStatus !== undefined;
    if (this.kind === 'timeout') return true;
    return this.kind === 'http' && (this.httpStatus === undefined || this.httpStatus >= 500);
  }
}

/** The bits of a ThingSpace error body we trust: the FOTA `{errorCode, errorMessage}` and the gateway's `{fault}`. */
export interface ErrorBody {
  code?: string;
  message?: string;
}

const MAX_TEXT = 200;

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, MAX_TEXT) : undefined;
}

export function parseErrorBody(body: unknown): ErrorBody {
  if (typeof body !== 'object' || body === null) return {};
  const record = body as Record<string, unknown>;
  if (typeof record.fault === 'object' && record.fault !== null) {
    const fault = record.fault as Record<string, unknown>;
    const code = fault.code === undefined ? undefined : String(fault.code).slice(0, MAX_TEXT);
    return { code, message: text(fault.message) };
  }
  return {
    code: text(record.errorCode) ?? text(record.error),
    message: text(record.errorMessage) ?? text(record.error_description),
  };
}

/** The gateway answers an invalid, expired or missing bearer token with 401 and fault 900901/900902. */
export function isBearerRejection(status: number, body: ErrorBody): boolean {
  return status === 401 && (body.code === undefined || body.code.startsWith('9009'));
}

/**
 * Only the gateway's own fault (900901/900902) proves that a bearer token, not the user's password, was
 * refused. A login answered with a bare 401 counts as a failed login: retrying it would spend another of
 * the user's five attempts.
 */
export function isGatewayFault(status: number, body: ErrorBody): boolean {
  return status === 401 && body.code !== undefined && body.code.startsWith('9009');
}

/** Session expiry arrives with varying HTTP statuses; only the code is reliable. */
export function isSessionRejection(body: ErrorBody): boolean {
  return body.code?.includes('SessionToken') ?? false;
}

/**
 * Whether a failed request may have reached ThingSpace. Only a failure known to have happened before the
 * request was written says no; a timeout, a reset or a connection closed after writing (also on a reused
 * keep-alive connection), an answer of any kind, or an error we cannot place all say it may have. A session
 * login that may have reached ThingSpace may have been counted as a failed login.
 */
export function mayHaveReachedThingSpace(error: unknown): boolean {
  return !(error instanceof ThingSpaceError && error.notSent);
}
