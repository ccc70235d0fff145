/**
 * The connection pool to ThingSpace, with the corporate-network parts: an outbound HTTP(S) proxy and a
 * private CA bundle.
 *
 * Proxy choice follows undici's EnvHttpProxyAgent (which does the routing): `https_proxy`/`HTTPS_PROXY` for
 * https:// targets, `http_proxy`/`HTTP_PROXY` for http:// ones (and for https:// when no HTTPS proxy is
 * set), the lower-case form winning when both are set, and `no_proxy`/`NO_PROXY` (comma- or space-separated
 * hosts, `.domain` suffixes, optional `:port`, `*`) sending matching hosts direct. `--thingspace.proxy-url`
 * replaces both proxy variables but NO_PROXY still applies. Every proxied request, http:// included, goes
 * through a CONNECT tunnel, so the proxy never sees tokens or credentials in clear. The environment is read
 * once, at start-up.
 *
 * Proxy credentials are secrets: they are handed back for the log scrubber and every description of the
 * proxy shows `***` instead of the password.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent, EnvHttpProxyAgent, Pool, type Dispatcher } from 'undici';
import { ConfigError } from '../config/settings.js';

export const CA_FILE_SETTING = '--thingspace.ca-file';
export const PROXY_URL_SETTING = '--thingspace.proxy-url';

/**
 * A setting that makes the network unusable: the CA file, a proxy variable or the proxy flag. Extends
 * ConfigError so the CLI turns it into exit 2; the message names the setting and never quotes a proxy URL
 * or the contents of a file.
 */
export class DispatcherConfigError extends ConfigError {
  override name = 'DispatcherConfigError';
  constructor(
    /** The flag or environment variable at fault, e.g. `--thingspace.ca-file` or `HTTPS_PROXY`. */
    readonly setting: string,
    detail: string,
  ) {
    super(`${setting}: ${detail}`);
  }
}

/**
 * The proxy answered a CONNECT with something other than 200 (407: credentials missing or refused; 403: the
 * proxy's policy forbids the destination). `code` is what the HTTP layer shows: `network error (PROXY_407)`.
 */
export class ProxyRefusedError extends Error {
  override name = 'ProxyRefusedError';
  readonly code: string;
  constructor(readonly status: number) {
    super(
      `the proxy answered ${status}${status === 407 ? ' Proxy Authentication Required' : ''} to CONNECT`,
    );
    this.code = `PROXY_${status}`;
  }
}

export interface DispatcherOptions {
  /** Keep-alive connections per origin: the exporter uses concurrency + 2. */
  connections: number;
  keepAliveTimeoutMs?: number;
  pipelining?: number;
  /** The request timeout; also bounds how long a proxy may take to answer a CONNECT. */
  timeoutMs: number;
  /** `--thingspace.proxy-url`: replaces HTTP(S)_PROXY; NO_PROXY still applies. */
  proxyUrl?: URL;
  /** `--thingspace.ca-file`: a PEM bundle trusted in addition to Node's bundled CAs; '' for none. */
  caFile: string;
  /** The process environment (injected so tests do not depend on, or change, the real one). */
  env: Readonly<Record<string, string | undefined>>;
}

export interface ProxyDescription {
  /** Where the proxy setting came from; 'none' means every connection goes direct. */
  source: 'flag' | 'environment' | 'none';
  /** Proxy for https:// targets (ThingSpace), credentials redacted: `http://user:***@host:port`. */
  https?: string;
  /** Proxy for http:// targets, redacted the same way. */
  http?: string;
  /** Hosts that go direct, as given in no_proxy/NO_PROXY. */
  noProxy?: string;
  /** The variable or flag each proxy came from, for the operator who wonders which one won. */
  httpsFrom?: string;
  httpFrom?: string;
  noProxyFrom?: string;
}

export interface ThingSpaceDispatcher {
  dispatcher: Dispatcher;
  proxy: ProxyDescription;
  /** Extra trusted CA certificates: those of the CA file (and NODE_EXTRA_CA_CERTS kept alongside it). */
  extraCaCertificates: number;
  /** One line for the start-up log; proxy passwords appear as `***`. */
  describe(): string;
  /**
   * Every form in which a proxy password could reach a log line: decoded, as written in the URL
   * (percent-encoded), and the Basic credentials of the Proxy-Authorization header (with and without
   * `Basic `). Give each to the SecretScrubber.
   */
  secrets: string[];
  /** Things worth a warning at start-up that do not stop the exporter. */
  warnings: string[];
}

type Env = DispatcherOptions['env'];

interface ChosenProxy {
  url: URL;
  from: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]{1,40})-----([\s\S]*?)-----END \1-----/g;

function errorCode(error: unknown): string {
  return (error as { code?: string }).code ?? (error as Error).name;
}

/**
 * Reads a PEM bundle and returns its certificates re-encoded. The messages name the file and what is wrong,
 * never what the file contains (someone may point this at a key file by mistake).
 */
function readPemBundle(path: string, setting: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DispatcherConfigError(setting, `cannot read "${path}" (${errorCode(error)})`);
  }
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) {
    throw new DispatcherConfigError(
      setting,
      `"${path}" holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file needs converting first: openssl x509 -inform der -in FILE -out FILE.pem`,
    );
  }
  if (text.split('-----BEGIN ').length - 1 !== blocks.length) {
    throw new DispatcherConfigError(setting, `"${path}" has an unterminated PEM block`);
  }
  return blocks.map((block, i) => {
    const type = block[1]!;
    if (type !== 'CERTIFICATE') {
      throw new DispatcherConfigError(
        setting,
        `"${path}" block ${i + 1} of ${blocks.length} is a ${type}; only CERTIFICATE blocks belong in a CA file`,
      );
    }
    try {
      return new X509Certificate(block[0]).toString();
    } catch {
      throw new DispatcherConfigError(
        setting,
        `"${path}" certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate`,
      );
    }
  });
}

/**
 * The CA list to use instead of Node's default: bundled CAs + NODE_EXTRA_CA_CERTS + the CA file. Node drops
 * NODE_EXTRA_CA_CERTS whenever a `ca` is given explicitly, so it is read here to keep both working together.
 */
function trustStore(
  caFile: string,
  env: Env,
  warnings: string[],
): { context: SecureContext; fromFile: number; fromEnv: number } | undefined {
  if (caFile === '') return undefined;
  const fromFile = readPemBundle(caFile, CA_FILE_SETTING);
  let fromEnv: string[] = [];
  const extraCerts = env.NODE_EXTRA_CA_CERTS;
  if (extraCerts) {
    try {
      fromEnv = readPemBundle(extraCerts, 'NODE_EXTRA_CA_CERTS');
    } catch (error) {
      warnings.push(
        `${(error as Error).message}; only ${CA_FILE_SETTING} and Node's bundled CAs are trusted for ThingSpace`,
      );
    }
  }
  return {
    context: createSecureContext({ ca: [...rootCertificates, ...fromEnv, ...fromFile] }),
    fromFile: fromFile.length,
    fromEnv: fromEnv.length,
  };
}

/**
 * Parses a proxy setting the way curl does (a value without a scheme is http://) and checks what undici
 * would otherwise reject, or worse, use oddly. Messages never include the value: it may hold a password.
 */
function parseProxy(raw: string, from: string): URL {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    throw new DispatcherConfigError(
      from,
      'is not a valid proxy URL (expected http://[user:password@]host:port)',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DispatcherConfigError(
      from,
      `proxy scheme ${url.protocol.replace(/:$/, '')} is not supported; use http:// or https://`,
    );
  }
  if (url.hostname === '') throw new DispatcherConfigError(from, 'proxy URL has no host');
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new DispatcherConfigError(from, 'proxy credentials contain an invalid %-escape');
  }
  return url;
}

/** `http://user:***@host:port`: the form that may be logged or shown. */
export function redactProxyUrl(url: URL): string {
  const user = url.username ? `${url.username}${url.password ? ':***' : ''}@` : '';
  return `${url.protocol}//${user}${url.host}`;
}

function proxySecrets(url: URL): string[] {
  if (!url.password) return [];
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  // Exactly what undici puts in Proxy-Authorization.
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  return [...new Set([password, url.password, basic, `Basic ${basic}`])];
}

/** First set wins, lower case first, as in undici; an empty value counts as set (and means "none"). */
function pick(env: Env, names: string[]): { value: string; from: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) return { value, from: name };
  }
  return undefined;
}

function chooseProxies(options: DispatcherOptions): {
  http?: ChosenProxy;
  https?: ChosenProxy;
  noProxy?: { value: string; from: string };
} {
  const noProxy = pick(options.env, ['no_proxy', 'NO_PROXY']);
  if (options.proxyUrl) {
    const url = parseProxy(options.proxyUrl.href, PROXY_URL_SETTING);
    const chosen = { url, from: PROXY_URL_SETTING };
    return { http: chosen, https: chosen, noProxy };
  }
  const fromEnv = (names: string[]): ChosenProxy | undefined => {
    const found = pick(options.env, names);
    if (!found || found.value.trim() === '') return undefined;
    return { url: parseProxy(found.value, found.from), from: found.from };
  };
  const http = fromEnv(['http_proxy', 'HTTP_PROXY']);
  const https = fromEnv(['https_proxy', 'HTTPS_PROXY']) ?? http;
  return { http, https, noProxy };
}

const TUNNEL_REFUSED = /^Proxy response \((\d{3})\) !== 200 when HTTP Tunneling$/;

/**
 * undici reports a refused CONNECT as a generic "request aborted" (UND_ERR_ABORTED); this names the proxy's
 * answer instead, so that a 407 reads as a credentials problem rather than a flaky network.
 */
function nameProxyRefusals(dispatch: Dispatcher['dispatch']): Dispatcher['dispatch'] {
  return (opts, handler) =>
    dispatch(opts, {
      onRequestStart: (controller, context: unknown) =>
        handler.onRequestStart?.(controller, context),
      onRequestUpgrade: (controller, statusCode, headers, socket) =>
        handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
      onResponseStart: (controller, statusCode, headers, statusMessage) =>
        handler.onResponseStart?.(controller, statusCode, headers, statusMessage),
      onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
      onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
      onResponseError: (controller, error) => {
        const refused = TUNNEL_REFUSED.exec(error.message);
        handler.onResponseError?.(
          controller,
          refused ? new ProxyRefusedError(Number(refused[1])) : error,
        );
      },
    });
}

function describeNetwork(
  proxy: ProxyDescription,
  caFile: string,
  trust: { fromFile: number; fromEnv: number } | undefined,
): string {
  const parts: string[] = [];
  if (proxy.source === 'none') {
    parts.push('no proxy: connections to ThingSpace go direct');
  } else {
    if (proxy.https) parts.push(`https:// through ${proxy.https} (${proxy.httpsFrom})`);
    if (proxy.http && (proxy.http !== proxy.https || proxy.httpFrom !== proxy.httpsFrom)) {
      parts.push(`http:// through ${proxy.http} (${proxy.httpFrom})`);
    } else if (!proxy.http) {
      parts.push('http:// direct');
    }
    if (proxy.noProxy) parts.push(`direct for ${proxy.noProxyFrom}=${proxy.noProxy}`);
  }
  if (trust) {
    const env = trust.fromEnv > 0 ? `, ${trust.fromEnv} from NODE_EXTRA_CA_CERTS` : '';
    parts.push(
      `CA certificates trusted besides Node's: ${trust.fromFile} from ${CA_FILE_SETTING} "${caFile}"${env}`,
    );
  }
  return parts.join('; ');
}

/** Builds the dispatcher for every request to ThingSpace. Throws DispatcherConfigError on a bad setting. */
export function createDispatcher(options: DispatcherOptions): ThingSpaceDispatcher {
  const warnings: string[] = [];
  const trust = trustStore(options.caFile, options.env, warnings);
  const chosen = chooseProxies(options);

  const pool = {
    connections: options.connections,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 60_000,
    pipelining: options.pipelining ?? 1,
  };
  const tls = trust ? { secureContext: trust.context } : undefined;

  let dispatcher: Dispatcher;
  let proxy: ProxyDescription;
  if (!chosen.http && !chosen.https) {
    dispatcher = new Agent({ ...pool, ...(tls ? { connect: tls } : {}) });
    proxy = { source: 'none' };
  } else {
    const noProxy = chosen.noProxy?.value ?? '';
    dispatcher = new EnvHttpProxyAgent({
      ...pool,
      // Empty strings rather than undefined: undici would fall back to process.env otherwise.
      httpProxy: chosen.http?.url.href ?? '',
      // The same proxy for both schemes shares one pool of tunnels.
      httpsProxy: chosen.https && chosen.https !== chosen.http ? chosen.https.url.href : '',
      noProxy,
      ...(tls ? { connect: tls, requestTls: tls, proxyTls: tls } : {}),
      // The connection to the proxy that carries the CONNECT: without a bound, a proxy that never answers
      // would hold a socket for undici's default five minutes.
      clientFactory: (origin: URL, opts: object) =>
        new Pool(origin, { ...opts, headersTimeout: options.timeoutMs }),
    }).compose(nameProxyRefusals);
    proxy = {
      source: options.proxyUrl ? 'flag' : 'environment',
      ...(chosen.https
        ? { https: redactProxyUrl(chosen.https.url), httpsFrom: chosen.https.from }
        : {}),
      ...(chosen.http ? { http: redactProxyUrl(chosen.http.url), httpFrom: chosen.http.from } : {}),
      ...(noProxy.trim() !== '' ? { noProxy, noProxyFrom: chosen.noProxy?.from } : {}),
    };
  }

  const secrets = [
    ...new Set([chosen.http, chosen.https].flatMap((p) => (p ? proxySecrets(p.url) : []))),
  ];
  return {
    dispatcher,
    proxy,
    extraCaCertificates: trust ? trust.fromFile + trust.fromEnv : 0,
    describe: () => describeNetwork(proxy, options.caFile, trust),
    secrets,
    warnings,
  };
}
