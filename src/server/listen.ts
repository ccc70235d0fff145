/**
 * Starts the HTTP(S) server for the express app, applying the web configuration (TLS, basic auth) to every
 * endpoint, and re-reading the configuration when its file, or a certificate, key or client CA file it
 * names, changes.
 *
 * Changes are found by content: every poll interval the YAML and the files it names are read and hashed.
 * That sees a file written in place, a new file renamed over it and a symlink re-pointed (kubelet's
 * `..data` swap for Secret volumes, certbot's `live/` links), which an inotify watch on the old inode
 * misses; and unlike fs.watchFile, which compares stats, it cannot miss a same-size rewrite within the
 * file system's timestamp granularity, nor one made between reading the file and the first stat. A change
 * is applied once two polls in a row read the same content, so a certificate and its key replaced one
 * after the other are normally read together; content that was tried and refused is not tried again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { PasswordWorker } from './password-worker.js';
import {
  BasicAuth,
  clientCertificateAllowed,
  parseWebConfig,
  referencedFiles,
  WebConfigError,
  type PasswordComparer,
  type TlsSettings,
  type WebConfig,
} from './web-config.js';

export interface Listening {
  server: Server | HttpsServer;
  url: string;
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Path of an exporter-toolkit web configuration file; empty for plain HTTP without authentication. */
  webConfigFile: string;
  logger: Logger;
  /** How often the web configuration file and the files it names are read to look for changes. */
  watchIntervalMs?: number;
  /** Compares basic-auth passwords with their bcrypt hashes (a worker thread unless a test spies on it). */
  comparePassword?: PasswordComparer;
}

export class ListenError extends Error {
  override name = 'ListenError';
}

/** The configuration file and the files it names, as read at one moment. */
interface Sources {
  /** The configuration file's directory, against which the relative paths it names resolve. */
  directory: string;
  /** SHA-256 over every path and its content (or its read error). */
  digest: string;
  text?: string;
  error?: WebConfigError;
  files: Map<string, { content: Buffer } | { code: string }>;
}

function readSources(path: string): Sources {
  const hash = createHash('sha256');
  const files: Sources['files'] = new Map();
  let text: string | undefined;
  let error: WebConfigError | undefined;
  try {
    text = readFileSync(path, 'utf8');
    hash.update(text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    error = new WebConfigError(`cannot read "${path}" (${code})`);
    hash.update(`\0!${code}`);
  }
  const directory = dirname(path);
  for (const named of text === undefined ? [] : referencedFiles(text, directory)) {
    hash.update(`\0${named}\0`);
    try {
      const content = readFileSync(named);
      files.set(named, { content });
      hash.update(content);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      files.set(named, { code });
      hash.update(`!${code}`);
    }
  }
  return { directory, digest: hash.digest('hex'), text, error, files };
}

/** Parses exactly the bytes that were hashed, so the digest describes the configuration in use. */
function parseSources(sources: Sources): WebConfig {
  if (sources.text === undefined) throw sources.error;
  return parseWebConfig(sources.text, {
    directory: sources.directory,
    readFile: (named) => {
      const read = sources.files.get(named);
      if (!read) return readFileSync(named);
      if ('code' in read) throw Object.assign(new Error(read.code), { code: read.code });
      return read.content;
    },
  });
}

export function loadWebConfig(path: string): WebConfig {
  return parseSources(readSources(path));
}

function refuse(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

/**
 * Node reads these two properties of a tls.Server for every new connection (tlsConnectionListener in
 * lib/_tls_wrap.js; read on Node 20) and setSecureContext() leaves them alone, so assigning them is how a
 * reload changes the client-certificate policy of the next handshake. SNICallback is no alternative: a
 * scraper that connects by IP address sends no server name, so it is never called. The properties are not
 * in the typings; the handshakes in test/integration/web-config-reload.test.ts check that Node honours them.
 */
interface PerConnectionTlsPolicy {
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

export async function listen(app: RequestListener, options: ListenOptions): Promise<Listening> {
  const { logger } = options;
  const path = options.webConfigFile;
  const initial = path ? readSources(path) : undefined;
  let config: WebConfig = initial ? parseSources(initial) : { users: new Map() };
  // One checker for the life of the server, so that its bound on bcrypt comparisons holds across reloads.
  const passwords = options.comparePassword ? undefined : new PasswordWorker();
  const auth = new BasicAuth(config.users, {
    compare: options.comparePassword ?? passwords!.compare,
  });

  // A connection keeps the client-certificate policy of its handshake (TLS 1.3 cannot renegotiate), so
  // each one remembers the access policy it was made under, and one made under an older policy is not
  // served again: idle ones are closed at the reload, busy ones answer `Connection: close` (or close after
  // an answer already under way), and a request that still arrives on one has its connection closed
  // without an answer. A scraper that is still allowed just reconnects.
  let accessPolicy = 0;
  const madeUnder = new Map<string, { socket: Socket; accessPolicy: number }>();
  const peer = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  const inFlight = new Set<ServerResponse>();

  const guarded: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    const tls = config.tls;
    if (tls) {
      const socket = req.socket as TLSSocket;
      const under = madeUnder.get(peer(socket))?.accessPolicy;
      if (under !== accessPolicy) {
        socket.destroy();
        return;
      }
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
      const allowed = clientCertificateAllowed(tls.clientAuthType, {
        presented: Object.keys(socket.getPeerCertificate()).length > 0,
        authorized: socket.authorized,
      });
      if (!allowed) return refuse(res, 403, 'Forbidden');
    }
    if (!auth.enabled) return app(req, res);
    auth.check(req.headers.authorization).then(
      (outcome) => {
        if (outcome === 'allowed') return app(req, res);
        // Not 401: the credentials were not checked, and a scraper told they are wrong would be misled.
        if (outcome === 'busy')
          return refuse(res, 429, 'Too Many Requests', { 'retry-after': '1' });
        refuse(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic' });
      },
      () => refuse(res, 500, 'Internal Server Error'),
    );
  };

  const server = config.tls
    ? createHttpsServer(
        {
          ...config.tls.secureContext,
          requestCert: config.tls.requestCert,
          rejectUnauthorized: config.tls.rejectUnauthorized,
        },
        guarded,
      )
    : createHttpServer(guarded);
  if (config.tls) {
    // Registered after Node's own listener, which has just created the TLS socket with the server's
    // policy: both run in the same emit, so the policy recorded here is the one that socket got.
    server.on('connection', (socket: Socket) => {
      const key = peer(socket);
      madeUnder.set(key, { socket, accessPolicy });
      socket.once('close', () => {
        if (madeUnder.get(key)?.socket === socket) madeUnder.delete(key);
      });
    });
  }
  server.keepAliveTimeout = 65_000;
  server.listen({ port: options.port, host: options.host || undefined });
  try {
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ListenError(`cannot listen on ${options.host || '*'}:${options.port} (${code})`);
  }

  const applyTls = (tls: TlsSettings) => {
    const https = server as HttpsServer & PerConnectionTlsPolicy;
    https.setSecureContext(tls.secureContext);
    // New session-ticket keys, so that no session from before the reload is resumed: Node counts a
    // resumed TLS 1.3 session as verified even when it carries no client certificate, and resumption
    // skips verification against a replaced client CA. (Node 20's setSecureContext happens to make new
    // keys too; older versions carried the old ones over.)
    https.setTicketKeys(randomBytes(48));
    https.requestCert = tls.requestCert;
    https.rejectUnauthorized = tls.rejectUnauthorized;
  };

  const reload = (sources: Sources) => {
    let next: WebConfig;
    try {
      next = parseSources(sources);
      if (Boolean(next.tls) !== Boolean(config.tls)) {
        throw new WebConfigError(`switching TLS ${config.tls ? 'off' : 'on'} needs a restart`);
      }
    } catch (error) {
      logger.error(
        { file: path },
        `web configuration not reloaded, keeping the previous one: ${(error as Error).message}`,
      );
      return;
    }
    const policyChanged = next.tls?.accessPolicy !== config.tls?.accessPolicy;
    if (next.tls) applyTls(next.tls);
    config = next;
    auth.setUsers(next.users);
    if (policyChanged) {
      accessPolicy += 1;
      server.closeIdleConnections();
      for (const res of inFlight) {
        if (!res.headersSent) res.setHeader('connection', 'close');
        else {
          const socket = res.socket;
          res.once('finish', () => socket?.end());
        }
      }
    }
    logger.info(
      {
        file: path,
        users: next.users.size,
        ...(next.tls && {
          client_auth_type: next.tls.clientAuthType,
          certificate_sha256: next.tls.certificate.sha256,
          certificate_not_after: next.tls.certificate.notAfter,
          access_policy_changed: policyChanged,
        }),
      },
      'web configuration reloaded',
    );
  };

  let poller: NodeJS.Timeout | undefined;
  if (initial) {
    let attempted = initial.digest;
    let seen = initial.digest;
    poller = setInterval(() => {
      const sources = readSources(path);
      const settled = sources.digest === seen;
      seen = sources.digest;
      if (!settled || sources.digest === attempted) return;
      attempted = sources.digest;
      reload(sources);
    }, options.watchIntervalMs ?? 2000);
    poller.unref();
  }

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `${config.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(poller);
        server.closeIdleConnections();
        server.close(() => void (passwords?.close() ?? Promise.resolve()).then(resolve, resolve));
      }),
  };
}
