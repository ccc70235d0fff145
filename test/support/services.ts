/**
 * Servers from other projects that the live test runs on 127.0.0.1 (Prometheus, Alertmanager): start
 * on a free port, wait until ready, poll with a deadline, and stop every one in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

export interface Service {
  name: string;
  /** http://127.0.0.1:<port> */
  url: string;
  proc: ChildProcess;
  /** Everything it wrote so far (stdout and stderr), for failure messages. */
  output(): string;
  /** Throws, with its output, if it has exited. */
  assertRunning(): void;
  stop(): Promise<void>;
}

const started = new Set<Service>();

/** A port that was free a moment ago (the caller retries if another process takes it first). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a value (not undefined), every `everyMs`; a probe that throws counts
 * as "not yet" and its last error is in the timeout message. Every service in `watch` is checked on
 * each round, so a crashed server fails the wait at once with its output instead of after the timeout.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, everyMs = 250, watch = [...started] } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    for (const service of watch) service.assertRunning();
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await sleep(everyMs);
  }
}

function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  return exited.finally(() => clearTimeout(timer));
}

/**
 * Starts `bin` with `args(port)` on a free port of 127.0.0.1 and waits until `GET <url>/-/ready`
 * answers 200 (Prometheus and Alertmanager both serve it). freePort() can race with another process
 * on a shared machine, so a start that fails because the address is taken is retried on a new port.
 */
export async function startService(
  name: string,
  bin: string,
  args: (port: number) => string[],
  { readyTimeoutMs = 60_000 } = {},
): Promise<Service> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawn(bin, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        output += chunk;
      });
    }
    const service: Service = {
      name,
      url: `http://127.0.0.1:${port}`,
      proc,
      output: () => output,
      assertRunning() {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(
            `${name} exited (${proc.exitCode ?? proc.signalCode ?? '?'}):\n${output.slice(-4000)}`,
          );
        }
      },
      stop: () => stopProcess(proc).finally(() => started.delete(service)),
    };
    started.add(service);
    try {
      await waitFor(
        `${name} to be ready`,
        async () => ((await fetch(`${service.url}/-/ready`)).ok ? true : undefined),
        { timeoutMs: readyTimeoutMs, watch: [service] },
      );
      return service;
    } catch (error) {
      await service.stop();
      if (attempt < 3 && /address already in use/i.test(output)) continue;
      throw error;
    }
  }
}

/** Throws, with its output, if any started service has exited. */
export function assertServicesRunning(): void {
  for (const service of started) service.assertRunning();
}

/** Stops every service still running; for afterAll, so it also runs after a failed test. */
export async function stopServices(): Promise<void> {
  await Promise.allSettled([...started].map((s) => s.stop()));
}
