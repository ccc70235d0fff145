/**
 * A forwarding HTTP proxy to put between the exporter and the simulator, on 127.0.0.1:
 * - it records every token ThingSpace hands out (access_token, sessionToken), so a test can look for them
 *   in what the exporter wrote or served (the simulator does not expose them);
 * - it can drop Content-Length from chosen answers, so the body arrives chunked and the exporter's size cap
 *   must work on a stream whose length it cannot know in advance.
 * A reset or a hang upstream is passed on as a reset or a hang.
 */
import { once } from 'node:events';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyOptions {
  /** Answers to these request paths lose their Content-Length and are streamed chunked. */
  chunked?: (path: string) => boolean;
}

export interface RecordingProxy {
  url: string;
  /** Every access_token and sessionToken seen in an answer, in order. */
  tokens: string[];
  close(): Promise<void>;
}

const TOKEN_PATHS = new Set(['/api/ts/v1/oauth2/token', '/api/m2m/v1/session/login']);

function withoutLength(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { 'content-length': _dropped, ...rest } = headers;
  return rest;
}

export async function startRecordingProxy(
  target: string,
  options: ProxyOptions = {},
): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const tokens: string[] = [];

  function record(body: Buffer): void {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      for (const key of ['access_token', 'sessionToken']) {
        const value = parsed[key];
        if (typeof value === 'string' && !tokens.includes(value)) tokens.push(value);
      }
    } catch {
      // not JSON: nothing handed out
    }
  }

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer: IncomingMessage) => {
        if (TOKEN_PATHS.has(path.split('?')[0]!)) {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => {
            const body = Buffer.concat(chunks);
            record(body);
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(body);
          });
          answer.on('error', () => res.destroy());
          return;
        }
        const headers = options.chunked?.(path) ? withoutLength(answer.headers) : answer.headers;
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
        res.on('close', () => answer.destroy());
      },
    );
    // An upstream reset becomes a reset for the client too.
    out.on('error', () => req.socket.resetAndDestroy());
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  }

  const server = createServer(forward);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
