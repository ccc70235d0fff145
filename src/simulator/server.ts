/**
 * HTTP plumbing on node:http (lean enough to be a benchmark target): routing, bodies, the
 * ThingSpace error shapes, and the /_sim control API. Behaviour lives in Simulator.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { TokenCheck } from './auth.js';
import { SESSION_EXPIRED_CODE, SESSION_INVALID_CODE } from './auth.js';
import { CAMPAIGN_APIS, type CampaignApi } from '../campaigns/statuses.js';
import { devicesPage, listingPage, type CampaignOutcome } from './campaigns.js';
import type { FailureSpikeRequest } from './dataset.js';
import type { RequestDraw } from './faults.js';
import { OptionError, parseDuration, parseFaultChanges } from './options.js';
import { bodyLength, reportPage, type BodyPart } from './reports.js';
import type { Simulator } from './simulator.js';
import type { Endpoint, Outcome } from './stats.js';
import type { TruthQuery } from './truth.js';

const BODY_LIMIT = 64 * 1024;
const REPORTS_PREFIX = '/api/fota/v1/reports/';
/** /api/fota/v2/reports/ and /api/fota/v3/reports/ */
const CAMPAIGN_PREFIX = /^\/api\/fota\/(v2|v3)\/reports\//;
const PADDING = Buffer.alloc(1024 * 1024, 'x');

/** An answer decided before the normal flow ends: thrown, then written by the dispatcher. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes a page; padding goes out in 1 MiB slices with backpressure, never allocated whole. */
async function sendPage(res: ServerResponse, body: readonly BodyPart[]): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': bodyLength(body) });
  for (const part of body) {
    if (res.destroyed) return;
    if (Buffer.isBuffer(part)) {
      // Cached buffers are only referenced by the socket queue, so no backpressure is needed.
      res.write(part);
      continue;
    }
    for (let left = part.padding; left > 0 && !res.destroyed; left -= PADDING.length) {
      if (!res.write(PADDING.subarray(0, Math.min(left, PADDING.length)))) await drained(res);
    }
  }
  res.end();
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  415: 'Unsupported Media Type',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Time-out',
};

/** The kind of page a proxy, a load balancer or a web server answers with: HTML, not ThingSpace's JSON. */
function sendHtml(res: ServerResponse, status: number): void {
  const title = `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
  const text = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
  res.writeHead(status, {
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(text),
    ...(status >= 300 && status < 400 ? { Location: '/login/' } : {}),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= BODY_LIMIT) chunks.push(chunk);
  }
  if (size > BODY_LIMIT) {
    throw new HttpError(413, {
      errorCode: 'INPUT_INVALID',
      errorMessage: 'Request body too large',
    });
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON body; an empty body is undefined. */
function parseJson(text: string, invalid: () => HttpError): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The API gateway's answer to a bearer token it does not accept. */
function gatewayFault(check: Exclude<TokenCheck, 'ok'>): HttpError {
  if (check === 'missing') {
    return new HttpError(401, {
      fault: {
        code: '900902',
        message: 'Missing Credentials',
        description: 'Required security header Authorization is missing from the request',
      },
    });
  }
  return new HttpError(401, {
    fault: {
      code: '900901',
      message: 'Invalid Credentials',
      description:
        check === 'expired'
          ? 'Access token has expired. Make sure you have given the correct access token'
          : 'Invalid access token. Make sure you have given the correct access token',
    },
  });
}

function sessionError(check: Exclude<TokenCheck, 'ok'>, status: number): HttpError {
  if (check === 'expired') {
    return new HttpError(status, {
      errorCode: SESSION_EXPIRED_CODE,
      errorMessage: 'Session token has expired; log in again',
    });
  }
  return new HttpError(status, {
    errorCode: SESSION_INVALID_CODE,
    errorMessage:
      check === 'missing' ? 'VZ-M2M-Token header is required' : 'Session token is invalid',
  });
}

function methodNotAllowed(allowed: string): HttpError {
  return new HttpError(405, { error: `method not allowed; use ${allowed}` });
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new HttpError(400, {
      error: `${name}: expected an integer ${min}..${max}, got "${raw}"`,
    });
  }
  return value;
}

function optionalInt(url: URL, name: string, min: number, max: number): number | undefined {
  return url.searchParams.has(name) ? intParam(url, name, 0, min, max) : undefined;
}

function booleanParam(url: URL, name: string): boolean {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new HttpError(400, { error: `${name}: expected true or false, got "${raw}"` });
}

function truthQuery(url: URL): TruthQuery {
  const lookback = url.searchParams.get('campaignLookback');
  let campaignLookbackMs: number | undefined;
  if (lookback !== null) {
    try {
      campaignLookbackMs = parseDuration(lookback);
    } catch (error) {
      throw new HttpError(400, { error: `campaignLookback: ${(error as Error).message}` });
    }
  }
  return {
    maxLabelValues: optionalInt(url, 'maxLabelValues', 1, 1_000_000),
    campaignLookbackMs,
    maxCampaigns: optionalInt(url, 'maxCampaigns', 0, 1_000_000),
    now: optionalInt(url, 'now', 0, 8.64e15),
    enteredSince: optionalInt(url, 'enteredSince', 0, Number.MAX_SAFE_INTEGER),
    enteredDetails: booleanParam(url, 'enteredDetails'),
  };
}

const NOT_FOUND = (): HttpError =>
  new HttpError(404, { errorCode: 'NOT_FOUND', errorMessage: 'No such resource' });
const INTERNAL_ERROR = (): HttpError =>
  new HttpError(500, { errorCode: 'INTERNAL_SERVER_ERROR', errorMessage: 'Internal server error' });
const TOO_MANY_REQUESTS = (): HttpError =>
  new HttpError(429, { errorCode: 'TOO_MANY_REQUESTS', errorMessage: 'Too many requests' });

type CampaignRoute =
  /** served false: a listing path the v3ListingPath setting turns off (404, counted as campaigns). */
  | { readonly kind: 'listing'; readonly account: string; readonly served: boolean }
  | { readonly kind: 'devices'; readonly account: string; readonly campaignId: string };

/** The campaign route of a path below /api/fota/{api}/reports/, or null when there is none. */
function campaignRoute(api: CampaignApi, rest: string, sim: Simulator): CampaignRoute | null {
  let segments: string[];
  try {
    segments = rest.split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HttpError(400, {
      errorCode: 'INVALID_PARAMETER',
      errorMessage: 'Invalid path encoding',
    });
  }
  const [account = '', first, second, third, ...more] = segments;
  if (more.length > 0 || account === '') return null;
  const v3Path = sim.faults.settings.v3ListingPath;
  if (first === 'campaigns' && second === undefined) {
    // v2's only path; on v3 the documentation's.
    return { kind: 'listing', account, served: api === 'v2' || v3Path !== 'sdk' };
  }
  if (api === 'v3' && first === 'firmware' && second === 'campaigns' && third === undefined) {
    return { kind: 'listing', account, served: v3Path !== 'docs' };
  }
  if (first === 'campaigns' && second !== undefined && second !== '' && third === 'devices') {
    return { kind: 'devices', account, campaignId: second };
  }
  return null;
}

function spikeRequest(body: unknown): FailureSpikeRequest {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, {
      error: 'expected a JSON object {account, upgrades, devicesPerUpgrade}',
    });
  }
  const request: { account?: string; upgrades?: number; devicesPerUpgrade?: number } = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'account' && typeof value === 'string') request.account = value;
    else if (
      (key === 'upgrades' || key === 'devicesPerUpgrade') &&
      Number.isInteger(value) &&
      (value as number) >= 0 &&
      (value as number) <= 100_000
    ) {
      request[key] = value as number;
    } else {
      throw new HttpError(400, {
        error: `${key}: expected account (string), upgrades or devicesPerUpgrade (integer 0..100000)`,
      });
    }
  }
  return request;
}

export interface RequestHandlerHooks {
  /** Called with a request that will never be answered, so close() can cut it off. */
  readonly onHang: (res: ServerResponse) => void;
}

export function createRequestHandler(
  sim: Simulator,
  hooks: RequestHandlerHooks,
): (req: IncomingMessage, res: ServerResponse) => void {
  const count = (endpoint: Endpoint | null, outcome: Outcome): void => {
    if (endpoint !== null) sim.stats.count(endpoint, outcome);
  };

  /** A gateway in a throttle window answers every API request 429 before anything else. */
  function throttleWindow(res: ServerResponse): void {
    if (!sim.faults.throttledByWindow()) return;
    res.setHeader('Retry-After', String(sim.faults.settings.throttleRetryAfterSeconds));
    throw TOO_MANY_REQUESTS();
  }

  /** The rate faults every data request meets: reset, 500, 429 with or without Retry-After. */
  function drawnFault(
    req: IncomingMessage,
    res: ServerResponse,
    draw: RequestDraw,
  ): Outcome | null {
    switch (draw) {
      case 'reset':
        req.socket.resetAndDestroy();
        return 'reset';
      case 'error':
        throw INTERNAL_ERROR();
      case 'throttle':
        res.setHeader('Retry-After', String(sim.faults.settings.throttleRetryAfterSeconds));
        throw TOO_MANY_REQUESTS();
      case 'throttle-bare':
        throw TOO_MANY_REQUESTS();
      case null:
        return null;
    }
  }

  /**
   * The checks every data request passes before its page, in ThingSpace's order: method, throttle
   * window, latency, bearer, drawn fault, then the session. `beforeSession` slots an endpoint's own
   * fault in where ThingSpace would raise it. Returns what happened when the request stops here.
   */
  async function admit(
    req: IncomingMessage,
    res: ServerResponse,
    draw: () => RequestDraw,
    beforeSession: () => void = () => undefined,
  ): Promise<Outcome | null> {
    if (req.method !== 'GET') throw methodNotAllowed('GET');
    throttleWindow(res);
    const latencyMs = sim.faults.settings.latencyMs;
    if (latencyMs > 0) await delay(latencyMs);
    if (res.destroyed) return 'aborted';
    const bearer = sim.auth.checkBearer(header(req, 'authorization'));
    if (bearer !== 'ok') throw gatewayFault(bearer);
    const drawn = drawnFault(req, res, draw());
    if (drawn !== null) return drawn;
    beforeSession();
    const session = sim.auth.useSession(header(req, 'vz-m2m-token'));
    if (session !== 'ok') throw sessionError(session, sim.faults.settings.sessionErrorStatus);
    return null;
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw methodNotAllowed('POST');
    const form = new URLSearchParams(await readBody(req));
    throttleWindow(res);
    if (sim.faults.drawTokenError()) {
      throw new HttpError(500, {
        error: 'server_error',
        error_description: 'Internal server error',
      });
    }
    const answer = sim.auth.issueAccessToken(header(req, 'authorization'), form);
    sendJson(res, answer.status, answer.body, answer.headers);
  }

  /**
   * The session login. `loginFixedStatus` stands for something in front of ThingSpace that answers before
   * any check (a wrong URL, a proxy or WAF); `loginLostAnswer` for a gateway that lets the credential check
   * happen (and count) and then loses its answer. Returns what happened when no status code was written.
   */
  async function login(req: IncomingMessage, res: ServerResponse): Promise<Outcome | null> {
    if (req.method !== 'POST') throw methodNotAllowed('POST');
    const text = await readBody(req);
    throttleWindow(res);
    const fixed = sim.faults.settings.loginFixedStatus;
    if (fixed !== null) {
      sendHtml(res, fixed);
      return null;
    }
    const bearer = sim.auth.checkBearer(header(req, 'authorization'));
    if (bearer !== 'ok') throw gatewayFault(bearer);
    if (sim.faults.drawTokenError()) {
      throw new HttpError(500, {
        errorCode: 'UnifiedWebService.REQUEST_FAILED.UnexpectedError',
        errorMessage: 'Internal server error',
      });
    }
    const body = parseJson(
      text,
      () =>
        new HttpError(400, {
          errorCode: 'UnifiedWebService.INPUT_INVALID',
          errorMessage: 'Request body is not valid JSON',
        }),
    );
    const answer = sim.auth.login(body);
    switch (sim.faults.settings.loginLostAnswer) {
      case '504':
        sendHtml(res, 504);
        return null;
      case 'close':
        // The connection ends after the request was read and checked, without a byte of answer.
        req.socket.destroy();
        return 'closed';
      case null:
        sendJson(res, answer.status, answer.body, answer.headers);
        return null;
    }
  }

  /** Returns what happened when no status code was written. */
  async function reports(
    req: IncomingMessage,
    res: ServerResponse,
    segments: readonly string[],
  ): Promise<Outcome | null> {
    const admitted = await admit(req, res, () => sim.faults.drawReports());
    if (admitted !== null) return admitted;
    const faults = sim.faults.settings;
    const [account = '', , status = '', , index = ''] = segments;
    const outcome = reportPage(sim.dataset, sim.cache, sim.options.pageSize, faults, {
      account,
      status,
      index,
    });
    if (outcome.kind === 'invalid') {
      throw new HttpError(400, { errorCode: 'INVALID_PARAMETER', errorMessage: outcome.message });
    }
    if (outcome.kind === 'hang') {
      hooks.onHang(res);
      return 'hang';
    }
    await sendPage(res, outcome.body);
    return null;
  }

  /** Campaign listings and device lists: the v1 reports' checks, in the same order. */
  async function campaigns(
    req: IncomingMessage,
    res: ServerResponse,
    api: CampaignApi,
    route: CampaignRoute,
    url: URL,
  ): Promise<Outcome | null> {
    const admitted = await admit(
      req,
      res,
      () => sim.faults.drawCampaigns(),
      () => {
        if (sim.faults.settings.campaignErrorApi === api) throw INTERNAL_ERROR();
      },
    );
    if (admitted !== null) return admitted;
    const faults = sim.faults.settings;
    const outcome: CampaignOutcome =
      route.kind === 'listing'
        ? listingPage(sim.campaigns, sim.options.campaignListingPageSize, faults, {
            account: route.account,
            api,
            campaignStatus: url.searchParams.get('campaignStatus'),
            lastSeenCampaignId: url.searchParams.get('lastSeenCampaignId'),
          })
        : devicesPage(sim.campaigns, sim.options.campaignDevicePageSize, faults, {
            account: route.account,
            api,
            campaignId: route.campaignId,
            lastSeenDeviceId: url.searchParams.get('lastSeenDeviceId'),
          });
    if (outcome.kind === 'invalid') {
      throw new HttpError(400, { errorCode: 'INVALID_PARAMETER', errorMessage: outcome.message });
    }
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': outcome.body.length,
    });
    res.end(outcome.body);
    return null;
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = url.pathname.slice('/_sim/'.length);
    const method = req.method ?? 'GET';
    const invalidJson = (): HttpError =>
      new HttpError(400, { error: 'request body is not valid JSON' });
    switch (route) {
      case 'truth': {
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, sim.truthJson(truthQuery(url)));
        return;
      }
      case 'stats':
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, sim.statsSnapshot());
        return;
      case 'reset-stats':
        if (method !== 'POST') throw methodNotAllowed('POST');
        sim.resetStats();
        sendJson(res, 200, sim.statsSnapshot());
        return;
      case 'summary':
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, {
          generation: sim.generation,
          accounts: sim.summary(),
          campaigns: sim.campaignSummary(),
        });
        return;
      case 'faults': {
        if (method === 'GET') {
          sendJson(res, 200, sim.faults.settings);
        } else if (method === 'PUT' || method === 'POST') {
          const body = parseJson(await readBody(req), invalidJson) ?? {};
          try {
            sendJson(res, 200, sim.faults.update(parseFaultChanges(body)));
          } catch (error) {
            if (error instanceof OptionError) throw new HttpError(400, { error: error.message });
            throw error;
          }
        } else if (method === 'DELETE') {
          sendJson(res, 200, sim.faults.reset());
        } else throw methodNotAllowed('GET, PUT, POST, DELETE');
        return;
      }
      case 'advance': {
        if (method !== 'POST') throw methodNotAllowed('POST');
        const generation = sim.advance(intParam(url, 'ticks', 1, 1, 100_000));
        sendJson(res, 200, { generation, clock: new Date(sim.clock.clockMs).toISOString() });
        return;
      }
      case 'scenario/failure-spike': {
        if (method !== 'POST') throw methodNotAllowed('POST');
        const request = spikeRequest(parseJson(await readBody(req), invalidJson));
        if (request.account !== undefined && !sim.dataset.hasAccount(request.account)) {
          throw new HttpError(400, { error: `account: unknown account "${request.account}"` });
        }
        sendJson(res, 200, sim.failureSpike(request));
        return;
      }
      case 'expire': {
        if (method !== 'POST') throw methodNotAllowed('POST');
        const which = url.searchParams.get('tokens') ?? 'all';
        if (which !== 'bearer' && which !== 'session' && which !== 'all') {
          throw new HttpError(400, { error: 'tokens: expected bearer, session or all' });
        }
        sim.auth.expire(which);
        sendJson(res, 200, { expired: which });
        return;
      }
      default:
        throw new HttpError(404, { error: `unknown control endpoint /_sim/${route}` });
    }
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let endpoint: Endpoint | null = null;
    try {
      const url = new URL(req.url ?? '/', 'http://simulator');
      const path = url.pathname;
      if (path === '/api/ts/v1/oauth2/token') {
        endpoint = 'oauth_token';
        await token(req, res);
      } else if (path === '/api/m2m/v1/session/login') {
        endpoint = 'session_login';
        const outcome = await login(req, res);
        if (outcome !== null) {
          count(endpoint, outcome);
          return;
        }
      } else if (path.startsWith(REPORTS_PREFIX)) {
        endpoint = 'reports';
        const segments = path.slice(REPORTS_PREFIX.length).split('/');
        if (segments.length !== 5 || segments[1] !== 'status' || segments[3] !== 'index') {
          throw NOT_FOUND();
        }
        let decoded: string[];
        try {
          decoded = segments.map((segment) => decodeURIComponent(segment));
        } catch {
          throw new HttpError(400, {
            errorCode: 'INVALID_PARAMETER',
            errorMessage: 'Invalid path encoding',
          });
        }
        const outcome = await reports(req, res, decoded);
        if (outcome !== null) {
          count(endpoint, outcome);
          return;
        }
      } else if (CAMPAIGN_PREFIX.test(path)) {
        const api = CAMPAIGN_APIS.find((a) => path.startsWith(`/api/fota/${a}/reports/`)) ?? 'v2';
        const route = campaignRoute(api, path.replace(CAMPAIGN_PREFIX, ''), sim);
        if (route === null) throw NOT_FOUND();
        endpoint = route.kind === 'listing' ? 'campaigns' : 'campaign_devices';
        if (route.kind === 'listing' && !route.served) throw NOT_FOUND();
        const outcome = await campaigns(req, res, api, route, url);
        if (outcome !== null) {
          count(endpoint, outcome);
          return;
        }
      } else if (path.startsWith('/_sim/')) {
        await control(req, res, url);
      } else {
        throw NOT_FOUND();
      }
      count(endpoint, res.statusCode);
    } catch (error) {
      if (error instanceof HttpError) {
        if (!res.headersSent && !res.destroyed) sendJson(res, error.status, error.body);
        count(endpoint, error.status);
        return;
      }
      process.stderr.write(
        `thingspace-simulator: ${req.method ?? ''} ${req.url ?? ''}: ${String(error)}\n`,
      );
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, { errorCode: 'INTERNAL_SERVER_ERROR', errorMessage: 'Simulator error' });
      } else res.destroy();
      count(endpoint, 500);
    }
  }

  return (req, res) => {
    void dispatch(req, res);
  };
}
