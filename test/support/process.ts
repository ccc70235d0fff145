/** Starts the built exporter or simulator as a child process and reads its JSON log lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EXPORTER_BIN = `${ROOT}dist/cli.js`;
export const SIMULATOR_BIN = `${ROOT}dist/simulator/cli.js`;

export function requireBuild(bin: string): void {
  if (!existsSync(bin))
    throw new Error(`${bin} is missing: run \`npm run build\` first (npm test does)`);
}

export interface Running {
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first JSON line (stdout or stderr) that matches, or rejects after timeoutMs. */
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  output(): string;
  /** Sends the signal and resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kill whatever a failed test left behind; call from afterAll/afterEach. */
export function killAll(): void {
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
}

export interface StartOptions {
  /** Working directory (a relative bin is resolved against it). */
  cwd?: string;
  /** Run as this user (tests that replay a container's USER while running as root). */
  uid?: number;
  gid?: number;
}

export function startProcess(
  bin: string,
  args: string[],
  env: Record<string, string> = {},
  options: StartOptions = {},
): Running {
  requireBuild(options.cwd ? resolve(options.cwd, bin) : bin);
  const proc = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  });
  running.add(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  const seen: Record<string, unknown>[] = [];
  const onLine = (line: string) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    seen.push(parsed);
    for (const w of [...waiters]) {
      if (w.match(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  };
  for (const [stream, sink] of [
    [proc.stdout!, stdout],
    [proc.stderr!, stderr],
  ] as const) {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      sink.push(chunk);
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
  }
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  return {
    proc,
    stdout,
    stderr,
    exited,
    output: () => stdout.join('') + stderr.join(''),
    waitForLine(match, timeoutMs = 15_000) {
      const found = seen.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no matching log line within ${timeoutMs} ms; output:\n${stdout.join('')}${stderr.join('')}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(
            new Error(
              `process exited before a matching line; output:\n${stdout.join('')}${stderr.join('')}`,
            ),
          );
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** Runs a process to completion. */
export async function runProcess(bin: string, args: string[], env: Record<string, string> = {}) {
  const p = startProcess(bin, args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout.join(''), stderr: p.stderr.join('') };
}

export async function startExporterProcess(args: string[], env: Record<string, string>) {
  const p = startProcess(EXPORTER_BIN, ['--web.listen-address=127.0.0.1:0', ...args], env);
  const line = await p.waitForLine((l) => l.msg === 'listening');
  return { ...p, url: String(line.url).replace(/\/metrics$/, ''), metricsUrl: String(line.url) };
}
