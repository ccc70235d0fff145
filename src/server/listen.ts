/**
 * Starts the HTTP(S) server for the express app, applying the web configuration (TLS, basic auth) to every
 * endpoint, and re-reading the configuration file when it changes.
 */
import { once } from 'node:events';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { BasicAuthChecker, parseWebConfig, WebConfigError, type WebConfig } from './web-config.js';

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
  /** How often the web configuration file is checked for changes. */
  watchIntervalMs?: number;
}

export class ListenError extends Error {
  override name = 'ListenError';
}

export function loadWebConfig(path: string): WebConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new WebConfigError(
      `cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return parseWebConfig(text);
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

export async function listen(app: RequestListener, options: ListenOptions): Promise<Listening> {
  const { logger } = options;
  let config: WebConfig = options.webConfigFile
    ? loadWebConfig(options.webConfigFile)
    : { users: new Map() };
  let auth = new BasicAuthChecker(config.users);

  const guarded: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    const tls = config.tls;
    if (
      tls &&
      (tls.clientAuthType === 'RequireAnyClientCert' ||
        tls.clientAuthType === 'VerifyClientCertIfGiven')
    ) {
      const socket = req.socket as TLSSocket;
      const presented = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
      if (
        (tls.clientAuthType === 'RequireAnyClientCert' && !presented) ||
        (tls.clientAuthType === 'VerifyClientCertIfGiven' && presented && !socket.authorized)
      ) {
        return refuse(res, 403, 'Forbidden');
      }
    }
    if (!auth.enabled) return app(req, res);
    auth.check(req.headers.authorization).then(
      (ok) =>
        ok ? app(req, res) : refuse(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic' }),
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
  server.keepAliveTimeout = 65_000;
  server.listen({ port: options.port, host: options.host || undefined });
  try {
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ListenError(`cannot listen on ${options.host || '*'}:${options.port} (${code})`);
  }

  if (options.webConfigFile) {
    const path = options.webConfigFile;
    watchFile(path, { interval: options.watchIntervalMs ?? 2000 }, () => {
      try {
        const next = loadWebConfig(path);
        if (Boolean(next.tls) !== Boolean(config.tls)) {
          throw new Error('switching TLS on or off needs a restart');
        }
        if (next.tls) (server as HttpsServer).setSecureContext(next.tls.secureContext);
        config = next;
        auth = new BasicAuthChecker(next.users);
        logger.info({ file: path }, 'web configuration reloaded');
      } catch (error) {
        logger.error(
          { file: path },
          `web configuration not reloaded, keeping the previous one: ${(error as Error).message}`,
        );
      }
    });
  }

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `${config.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (options.webConfigFile) unwatchFile(options.webConfigFile);
        server.closeIdleConnections();
        server.close(() => resolve());
      }),
  };
}
