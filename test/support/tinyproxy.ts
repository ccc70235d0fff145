/**
 * A real tinyproxy (Debian package tinyproxy-bin) on 127.0.0.1 with a generated configuration in a temp
 * dir: its own port and log file, foreground, only 127.0.0.1 allowed in, CONNECT only to the given ports,
 * optional Basic auth, and outgoing connections from `outgoingAddress` (127.0.0.2 by default) so the server
 * behind it can tell a proxied connection from a direct one (those come from 127.0.0.1).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

export const TINYPROXY_PACKAGE = 'tinyproxy-bin';

export function tinyproxyBinary(): string | undefined {
  return findProxyBinary('tinyproxy', TINYPROXY_PACKAGE);
}

export interface TinyproxyOptions {
  /** Ports CONNECT may reach; tinyproxy refuses the others with 403. */
  connectPorts: number[];
  /** tinyproxy only accepts letters, digits, '-', '_' and '.' in these. */
  basicAuth?: { user: string; password: string };
  outgoingAddress?: string;
}

// "CONNECT   Nov 28 01:18:45.254 [11408]: Request (file descriptor 5): CONNECT 127.0.0.1:18999 HTTP/1.1"
const REQUEST_LINE = /: Request \(file descriptor \d+\): (\S+) (\S+) HTTP\/1\.[01]$/;

export function parseTinyproxyLog(text: string): ProxyRequest[] {
  const out: ProxyRequest[] = [];
  for (const line of text.split('\n')) {
    const match = REQUEST_LINE.exec(line);
    if (match) out.push({ method: match[1]!, target: match[2]! });
  }
  return out;
}

export async function startTinyproxy(options: TinyproxyOptions): Promise<RunningProxy> {
  const bin = tinyproxyBinary();
  if (!bin) throw new Error('tinyproxy is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tsfota-tinyproxy-'));
  const logFile = join(dir, 'tinyproxy.log');
  const outgoingAddress = options.outgoingAddress ?? '127.0.0.2';
  // A port taken between freePort() and tinyproxy's bind (other tests run alongside) is retried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = [
      `Port ${port}`,
      'Listen 127.0.0.1',
      `Bind ${outgoingAddress}`,
      'Timeout 30',
      `LogFile "${logFile}"`,
      'LogLevel Connect',
      `PidFile "${join(dir, 'tinyproxy.pid')}"`,
      'MaxClients 100',
      'Allow 127.0.0.1',
      'DisableViaHeader Yes',
      ...options.connectPorts.map((p) => `ConnectPort ${p}`),
      ...(options.basicAuth
        ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`]
        : []),
    ];
    const configFile = join(dir, 'tinyproxy.conf');
    writeFileSync(configFile, `${config.join('\n')}\n`);
    try {
      const spawned = await spawnProxy(bin, ['-d', '-c', configFile], [port], () =>
        readLog(logFile),
      );
      const requests = () => parseTinyproxyLog(readLog(logFile));
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        outgoingAddress,
        logFile,
        requests,
        waitForRequests: (count, timeoutMs = 5000) => pollRequests(requests, count, timeoutMs),
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
