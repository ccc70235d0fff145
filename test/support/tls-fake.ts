/**
 * TLS for the corporate-network tests, made the way an operator would: CAs and certificates by the openssl
 * command line, and a front that serves a fake ThingSpace (or the simulator) over HTTPS (or HTTP) on
 * 127.0.0.1 while noting, for every connection and request, the address it came from: a proxy started by
 * these tests connects out from 127.0.0.2, so "did this request go through the proxy" is read off the
 * server's side, not guessed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  name: string;
  certFile: string;
  keyFile: string;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  /** Makes a self-signed CA with `openssl req -x509`. */
  ca(name: string): TestCa;
  /** A server certificate for 127.0.0.1 (IP SAN) and localhost, signed by `ca`. */
  serverCert(ca: TestCa, name: string): TestCert;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'tsfota-pki-'));
  return {
    dir,
    ca(name) {
      const certFile = join(dir, `${name}.pem`);
      const keyFile = join(dir, `${name}.key`);
      openssl(
        [
          'req',
          '-x509',
          ...EC_KEY,
          '-keyout',
          keyFile,
          '-out',
          certFile,
          '-days',
          '2',
          '-subj',
          `/CN=${name} test CA`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        dir,
      );
      return { name, certFile, keyFile };
    },
    serverCert(ca, name) {
      const certFile = join(dir, `${name}.pem`);
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(
        ext,
        'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
      );
      openssl(['req', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          ca.certFile,
          '-CAkey',
          ca.keyFile,
          '-CAcreateserial',
          '-out',
          certFile,
          '-days',
          '2',
          '-extfile',
          ext,
        ],
        dir,
      );
      return { certFile, keyFile };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface FrontConnection {
  id: number;
  /** Where the TCP connection came from: 127.0.0.1 direct, the proxy's outgoing address otherwise. */
  peer: string;
}

export interface FrontRequest {
  connection: number;
  peer: string;
  method: string;
  path: string;
}

export interface Front {
  url: string;
  connections: FrontConnection[];
  requests: FrontRequest[];
  /** TLS handshakes that failed on the server's side (e.g. the client did not trust the certificate). */
  tlsErrors: number;
  close(): Promise<void>;
}

/**
 * Serves `target` (an http:// URL on 127.0.0.1) on a new port of 127.0.0.1, over TLS with `cert` when
 * given. Each request is forwarded on a fresh connection, so the target sees nothing of the client.
 */
export async function startFront(target: string, cert?: TestCert): Promise<Front> {
  const upstream = new URL(target);
  // A TCP connection is known by its peer's address and port, which its TLS socket shares.
  const ids = new Map<string, number>();
  const key = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
  const front: Front = {
    url: '',
    connections: [],
    requests: [],
    tlsErrors: 0,
    close: async () => undefined,
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    front.requests.push({
      connection: ids.get(key(socket)) ?? -1,
      peer: socket.remoteAddress ?? '',
      method: req.method ?? '',
      path: req.url ?? '',
    });
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  };

  const server = cert
    ? createHttpsServer(
        { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
        handler,
      )
    : createHttpServer(handler);
  // 'connection' is the TCP connection in both cases; the TLS socket a request arrives on wraps it.
  const track = (socket: Socket) => {
    const id = front.connections.length;
    ids.set(key(socket), id);
    front.connections.push({ id, peer: socket.remoteAddress ?? '' });
  };
  if (cert) server.on('tlsClientError', () => front.tlsErrors++);
  server.on('connection', track);
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  front.url = `${cert ? 'https' : 'http'}://127.0.0.1:${port}`;
  front.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return front;
}

/** Connections and requests that came from `peer`, for "all through the proxy" / "none through it". */
export function fromPeer(front: Front, peer: string) {
  return {
    connections: front.connections.filter((c) => c.peer === peer).length,
    requests: front.requests.filter((r) => r.peer === peer).length,
  };
}
