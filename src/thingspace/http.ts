/**
 * The HTTP edge: one request to ThingSpace with a deadline, a size cap and a JSON body, observed for the
 * api_requests metrics. It knows nothing of tokens or paging; the dispatcher (keep-alive pool) is injected.
 */
import { request, type Dispatcher } from 'undici';
import { parseErrorBody, ThingSpaceError, type Endpoint } from './errors.js';

export interface HttpRequest {
  endpoint: Endpoint;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  /** Parsed JSON, or undefined when the body was empty or (for an error status) not JSON. */
  body: unknown;
  retryAfterSeconds?: number;
  /** The URL requested, for messages about answers that are not ThingSpace's. */
  url?: string;
}

export type RequestObserver = (endpoint: Endpoint, code: string, seconds: number) => void;

export interface HttpOptions {
  baseUrl: URL;
  dispatcher: Dispatcher;
  timeoutMs: number;
  maxBodyBytes: number;
  observe: RequestObserver;
  now?: () => number;
}

export type Send = (req: HttpRequest) => Promise<HttpResponse>;

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * Failures that happen while connecting, before a byte of the request is written: a refused connection, a
 * name that does not resolve, a connect timeout, a proxy refusing the tunnel (PROXY_<status>, dispatcher.ts),
 * a TLS handshake or certificate failure. Every other failure may come after the request was written.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const NOT_SENT_PATTERN = /^(ERR_TLS_|ERR_SSL_|PROXY_|UNABLE_TO_)|CERT/;

export function failedBeforeSending(code: string | undefined): boolean {
  return code !== undefined && (NOT_SENT_CODES.has(code) || NOT_SENT_PATTERN.test(code));
}

/** Retry-After is whole seconds or an HTTP date; anything else is ignored, leaving the backoff in charge. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  nowMs: number,
): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/**
 * Reads a body of at most `limit` bytes. With a declared length the bytes go straight into one buffer, so a
 * large page is never held twice (chunks and their concatenation).
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  declared: number,
): Promise<Buffer> {
  const whole =
    Number.isSafeInteger(declared) && declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const data of body) {
    const chunk = data as Buffer;
    if (size + chunk.length > limit || (whole && size + chunk.length > whole.length)) {
      body.destroy();
      throw new ThingSpaceError(
        'oversize',
        `response body larger than the ${limit}-byte limit or its declared length`,
      );
    }
    if (whole) chunk.copy(whole, size);
    else chunks.push(chunk);
    size += chunk.length;
  }
  if (whole) return size === whole.length ? whole : whole.subarray(0, size);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function networkError(error: unknown, timedOut: boolean, timeoutMs: number): ThingSpaceError {
  if (error instanceof ThingSpaceError) return error;
  const code = (error as { code?: string }).code;
  const notSent = failedBeforeSending(code);
  if (timedOut || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return new ThingSpaceError(
      'timeout',
      `no complete answer within ${timeoutMs} ms`,
      undefined,
      undefined,
      undefined,
      notSent,
    );
  }
  return new ThingSpaceError(
    'http',
    `network error (${code ?? (error as Error).name})`,
    undefined,
    undefined,
    undefined,
    notSent,
  );
}

export function createSend(options: HttpOptions): Send {
  const { dispatcher, timeoutMs, maxBodyBytes, observe } = options;
  const now = options.now ?? Date.now;
  const base = options.baseUrl.href.replace(/\/+$/, '');

  return async function send(req) {
    const started = performance.now();
    const url = base + req.path;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    // The status counts only once the whole answer arrived and parsed: a body that timed out, was too
    // large or was not JSON is an error, whatever status preceded it.
    let code = 'error';
    try {
      const res = await request(url, {
        dispatcher,
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const declared = Number(res.headers['content-length']);
      if (declared > maxBodyBytes) {
        res.body.destroy();
        throw new ThingSpaceError(
          'oversize',
          `response body of ${declared} bytes is over the ${maxBodyBytes}-byte limit`,
          undefined,
          res.statusCode,
        );
      }
      const raw = await readCapped(res.body, maxBodyBytes, declared).catch((error: unknown) => {
        if (error instanceof ThingSpaceError && error.httpStatus === undefined) {
          throw new ThingSpaceError(error.kind, error.message, undefined, res.statusCode);
        }
        throw error;
      });
      const retryAfterSeconds = parseRetryAfter(res.headers['retry-after'], now());
      let body: unknown;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          if (res.statusCode < 300) {
            throw new ThingSpaceError(
              'parse',
              `${req.endpoint} answer is not valid JSON`,
              undefined,
              res.statusCode,
            );
          }
        }
      }
      code = String(res.statusCode);
      return { status: res.statusCode, body, retryAfterSeconds, url };
    } catch (error) {
      throw networkError(error, timedOut, timeoutMs);
    } finally {
      clearTimeout(timer);
      observe(req.endpoint, code, (performance.now() - started) / 1000);
    }
  };
}

/** Whether an answer asks the client to slow down: 429, or 503 with Retry-After. */
export function isThrottleAnswer(response: HttpResponse): boolean {
  return (
    response.status === 429 || (response.status === 503 && response.retryAfterSeconds !== undefined)
  );
}

/**
 * 429 (and 503 with Retry-After) become throttled errors, other 5xx retryable http errors; every other
 * status is for the caller to judge.
 */
export function throwIfTransient(endpoint: Endpoint, response: HttpResponse): void {
  if (isThrottleAnswer(response)) {
    throw new ThingSpaceError(
      'throttled',
      `${endpoint} answered ${response.status} with Retry-After ${response.retryAfterSeconds ?? 'none'}`,
      undefined,
      response.status,
      response.retryAfterSeconds,
    );
  }
  if (response.status >= 500) {
    const body = parseErrorBody(response.body);
    throw new ThingSpaceError(
      'http',
      `${endpoint} answered HTTP ${response.status}${body.code ? ` ${body.code}` : ''}`,
      body.code,
      response.status,
      response.retryAfterSeconds,
    );
  }
}
