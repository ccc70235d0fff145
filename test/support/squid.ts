/**
 * A real squid (Debian package squid) on 127.0.0.1 with a generated configuration in a temp dir: its own
 * ports, access log and cache log, foreground (-N), no disk cache, only 127.0.0.1 allowed in, CONNECT only
 * to the given ports, optional Basic auth (an htpasswd file checked by squid's basic_ncsa_auth helper, so
 * any password works, unlike tinyproxy's), an optional TLS listener (https_port: an HTTPS proxy), and
 * outgoing connections from `outgoingAddress` (127.0.0.2 by default).
 *
 * Squid writes an access-log line when a transaction ends, i.e. when a CONNECT tunnel closes: close the
 * client's connections before counting.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findProxyBinary,
  freePort,
  pollRequests,
  readLog,
  spawnProxy,
  type ProxyRequest,
  type RunningProxy,
} from './proxy-process.js';

export const SQUID_PACKAGE = 'squid';

export function squidBinary(): string | undefined {
  return findProxyBinary('squid', SQUID_PACKAGE);
}

export interface SquidOptions {
  connectPorts: number[];
  basicAuth?: { user: string; password: string };
  /** PEM certificate and key files: adds an https_port. */
  tls?: { certFile: string; keyFile: string };
  outgoingAddress?: string;
}

export interface RunningSquid extends RunningProxy {
  /** https://127.0.0.1:port when `tls` was given. */
  httpsUrl?: string;
}

// "1795828765.028      4 127.0.0.1 TCP_TUNNEL/200 157 CONNECT 127.0.0.1:18997 alice HIER_DIRECT/127.0.0.1 -"
export function parseSquidLog(text: string): ProxyRequest[] {
  const out: ProxyRequest[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // '-' is a connection closed before it sent a request: the helper's own readiness probe.
    if (fields.length < 8 || fields[5] === '-') continue;
    const status = Number(fields[3]!.split('/')[1]);
    out.push({ method: fields[5]!, target: fields[6]!, status, user: fields[7]! });
  }
  return out;
}

/** Running as root, squid switches to its own user, which must be able to write the temp dir. */
function handOver(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'proxy'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir)) chownSync(join(dir, name), uid, gid);
}

export async function startSquid(options: SquidOptions): Promise<RunningSquid> {
  const bin = squidBinary();
  if (!bin) throw new Error('squid is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tsfota-squid-'));
  const accessLog = join(dir, 'access.log');
  const cacheLog = join(dir, 'cache.log');
  const outgoingAddress = options.outgoingAddress ?? '127.0.0.2';
  const lines: string[] = [];
  // Copied in, so that squid's user can read them wherever the test made them.
  const tls = options.tls
    ? { certFile: join(dir, 'proxy-cert.pem'), keyFile: join(dir, 'proxy-key.pem') }
    : undefined;
  if (options.tls && tls) {
    copyFileSync(options.tls.certFile, tls.certFile);
    copyFileSync(options.tls.keyFile, tls.keyFile);
  }
  if (options.basicAuth) {
    const hash = execFileSync('openssl', ['passwd', '-apr1', '-stdin'], {
      input: `${options.basicAuth.password}\n`,
      encoding: 'utf8',
    }).trim();
    writeFileSync(join(dir, 'passwd'), `${options.basicAuth.user}:${hash}\n`);
    lines.push(
      `auth_param basic program /usr/lib/squid/basic_ncsa_auth ${join(dir, 'passwd')}`,
      'auth_param basic children 1 startup=1 idle=1',
      'acl authed proxy_auth REQUIRED',
    );
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const tlsPort = tls ? await freePort() : undefined;
    const config = [
      `http_port 127.0.0.1:${port}`,
      ...(tls
        ? [`https_port 127.0.0.1:${tlsPort} tls-cert=${tls.certFile} tls-key=${tls.keyFile}`]
        : []),
      `pid_filename ${join(dir, 'squid.pid')}`,
      `access_log stdio:${accessLog}`,
      `cache_log ${cacheLog}`,
      'cache_store_log none',
      'cache deny all',
      'cache_mem 8 MB',
      `coredump_dir ${dir}`,
      'netdb_filename none',
      'pinger_enable off',
      'visible_hostname tsfota-test-squid',
      'shutdown_lifetime 0 seconds',
      `tcp_outgoing_address ${outgoingAddress}`,
      ...lines,
      `acl test_ports port ${options.connectPorts.join(' ')}`,
      'acl test_client src 127.0.0.1/32',
      'acl CONNECT method CONNECT',
      'http_access deny CONNECT !test_ports',
      `http_access allow test_client${options.basicAuth ? ' authed' : ''}`,
      'http_access deny all',
    ];
    const configFile = join(dir, 'squid.conf');
    writeFileSync(configFile, `${config.join('\n')}\n`);
    handOver(dir);
    try {
      const spawned = await spawnProxy(
        bin,
        ['-N', '-f', configFile],
        tlsPort ? [port, tlsPort] : [port],
        () => readLog(cacheLog),
      );
      const requests = () => parseSquidLog(readLog(accessLog));
      return {
        url: `http://127.0.0.1:${port}`,
        ...(tlsPort ? { httpsUrl: `https://127.0.0.1:${tlsPort}` } : {}),
        port,
        outgoingAddress,
        logFile: accessLog,
        requests,
        waitForRequests: (count, timeoutMs = 10_000) => pollRequests(requests, count, timeoutMs),
        output: spawned.output,
        stop: async () => {
          await spawned.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}
