// @ts-check
/**
 * Child processes of the benchmark: Node scripts started with their JSON log lines collected, peak RSS
 * and CPU time read from /proc while they live, and every one of them killed when the benchmark ends,
 * however it ends.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** @typedef {Record<string, unknown>} LogLine */

/**
 * @typedef {object} Child
 * @property {string} name
 * @property {import('node:child_process').ChildProcess} proc
 * @property {number} pid
 * @property {LogLine[]} lines every JSON line seen on stdout or stderr, with `_at` (ms, performance.now)
 * @property {() => string} output the last 4 KiB of raw output, for error messages
 * @property {(match: (line: LogLine) => boolean, timeoutMs?: number, after?: number) => Promise<LogLine>} waitForLine
 *   the first JSON line matching (among the lines from index `after` on), or a rejection on exit or timeout
 * @property {Promise<number | null>} exited
 * @property {(signal?: NodeJS.Signals, graceMs?: number) => Promise<number | null>} stop
 */

/** @type {Set<import('node:child_process').ChildProcess>} */
const running = new Set();

/** Kills every child still running; synchronous, so it also works from an 'exit' handler. */
export function killAll() {
  for (const proc of running) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/**
 * Starts `node [nodeArgs] script [args]`.
 * @param {string} name for messages
 * @param {string} script
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, nodeArgs?: string[], cwd?: string }} [options]
 * @returns {Child}
 */
export function startNode(name, script, args, options = {}) {
  const env = { PATH: process.env.PATH ?? '', ...options.env };
  if (process.env.NODE_OPTIONS && env.NODE_OPTIONS === undefined)
    env.NODE_OPTIONS = process.env.NODE_OPTIONS;
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  /** @type {LogLine[]} */
  const lines = [];
  let tail = '';
  /** @type {{ match: (l: LogLine) => boolean, resolve: (l: LogLine) => void }[]} */
  const waiters = [];
  /** @param {string} text */
  const onLine = (text) => {
    if (!text.startsWith('{')) return;
    /** @type {LogLine} */
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    line._at = performance.now();
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  for (const stream of [proc.stdout, proc.stderr]) {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (/** @type {string} */ chunk) => {
      tail = (tail + chunk).slice(-4096);
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
      // An exposition on stdout (--once) is not JSON: keep the buffer from growing without bound.
      if (buffer.length > 1 << 20 && !buffer.startsWith('{')) buffer = '';
    });
  }
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => {
    proc.once('exit', (code) => {
      running.delete(proc);
      resolve(code);
    });
    proc.once('error', () => {
      running.delete(proc);
      resolve(null);
    });
  });
  const pid = proc.pid ?? -1;
  return {
    name,
    proc,
    pid,
    lines,
    exited,
    output: () => tail,
    waitForLine(match, timeoutMs = 60_000, after = 0) {
      const found = lines.slice(after).find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name}: no expected log line within ${timeoutMs} ms:\n${tail}`));
        }, timeoutMs);
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}) before the expected log line:\n${tail}`));
        });
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Peak resident set size of a live process (VmHWM), in bytes.
 * @param {number} pid
 */
export function peakRssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * Resident set size of a live process now (VmRSS), in bytes.
 * @param {number} pid
 */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

const CLOCK_TICKS = 100;

/**
 * User plus system CPU time a live process has used so far, in seconds (USER_HZ is 100 on Linux).
 * @param {number} pid
 */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Kill the children on every way out: normal exit, an uncaught error, Ctrl-C, SIGTERM. */
export function killChildrenOnExit() {
  process.once('exit', killAll);
  for (const signal of /** @type {NodeJS.Signals[]} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}
