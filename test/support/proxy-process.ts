/**
 * What the tinyproxy and squid helpers share: finding the binary (a missing one fails in CI and skips
 * loudly elsewhere, like promtool), free ports, waiting for a listener, and stopping the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';

/** One request as the proxy logged it. */
export interface ProxyRequest {
  method: string;
  /** `host:port` for CONNECT, the absolute URL otherwise. */
  target: string;
  /** The proxy's answer, where its log says (squid); undefined for tinyproxy. */
  status?: number;
  /** The authenticated user, where the log says (squid); '-' or undefined when none. */
  user?: string;
}

export interface RunningProxy {
  /** http://127.0.0.1:port */
  url: string;
  port: number;
  /** The address the proxy connects out from, so a server can tell proxied requests from direct ones. */
  outgoingAddress: string;
  logFile: string;
  /** Everything the proxy has logged so far, in order. */
  requests(): ProxyRequest[];
  /** Polls the log until `count` requests are in it (or the deadline passes), then returns them all. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ProxyRequest[]>;
  /** Output of the process, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];

const warned = new Set<string>();

/**
 * The binary's path; or, outside CI, undefined after a loud notice (the caller skips its tests).
 * In CI (CI=true) a missing binary is a failure: .ci/run installs the Debian package.
 */
export function findProxyBinary(name: 'tinyproxy' | 'squid', debianPackage: string) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  if (process.env.CI === 'true') {
    throw new Error(
      `${name} is not installed; CI must install it (apt-get install ${debianPackage})`,
    );
  }
  if (!warned.has(name)) {
    warned.add(name);
    console.warn(
      [
        '',
        '!'.repeat(78),
        `!! SKIPPED: ${name} is not installed, so the proxy tests that need it do not run.`,
        `!! Install it to run them: apt-get install ${debianPackage}. In CI (CI=true) this is a failure.`,
        '!'.repeat(78),
        '',
      ].join('\n'),
    );
  }
  return undefined;
}

/** A port free right now on 127.0.0.1 (for programs that cannot listen on port 0 and report back). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SpawnedProxy {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts the proxy in the foreground and resolves once every port accepts connections. */
export async function spawnProxy(
  bin: string,
  args: string[],
  ports: number[],
  logHint: () => string,
): Promise<SpawnedProxy> {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => chunks.push(c));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => chunks.push(c));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const output = () => `${chunks.join('')}${logHint()}`;
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };
  const deadline = Date.now() + 20_000;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`${bin} exited before listening on ${port}:\n${output()}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${bin} did not listen on ${port} within 20 s:\n${output()}`);
      }
      await pause(25);
    }
  }
  return { proc, output, stop };
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export async function pollRequests(
  read: () => ProxyRequest[],
  count: number,
  timeoutMs: number,
): Promise<ProxyRequest[]> {
  const deadline = Date.now() + timeoutMs;
  let seen = read();
  while (seen.length < count && Date.now() < deadline) {
    await pause(25);
    seen = read();
  }
  return seen;
}
