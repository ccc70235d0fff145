/**
 * bcrypt comparisons on a worker thread. bcryptjs is pure JavaScript, and its async compare gives the
 * event loop back only every 100 ms of work: at cost 10 a comparison (about 70 ms on a 2-core machine)
 * runs in one piece, so on the main thread every request, /metrics included, waits for the comparison
 * under way. On a thread of its own it holds nothing but its own queue.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PasswordComparer } from './web-config.js';

// bcryptjs by its resolved location: a data: module cannot resolve a bare name, and the working
// directory must not matter.
const BCRYPTJS = pathToFileURL(createRequire(import.meta.url).resolve('bcryptjs')).href;

// A data: URL rather than a file beside this one, so that the same code runs from dist/ and under the
// tests' TypeScript loader. A hash bcryptjs cannot read matches nothing.
const SOURCE = `
import { parentPort } from 'node:worker_threads';
import bcrypt from ${JSON.stringify(BCRYPTJS)};
parentPort.on('message', ({ id, password, hash }) => {
  let matches = false;
  try {
    matches = bcrypt.compareSync(password, hash);
  } catch {
    matches = false;
  }
  parentPort.postMessage({ id, matches });
});
`;

interface Pending {
  resolve(matches: boolean): void;
  reject(error: Error): void;
}

export class PasswordWorker {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  /** Compares on the worker, started at the first comparison and again after it died. */
  readonly compare: PasswordComparer = (password, hash) =>
    new Promise<boolean>((resolve, reject) => {
      const worker = this.worker ?? this.start();
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, password, hash });
    });

  private start(): Worker {
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(SOURCE)}`));
    // The server keeps the process alive; an idle worker must not keep it from exiting.
    worker.unref();
    worker.on('message', (message: { id: number; matches: unknown }) => {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      waiting?.resolve(message.matches === true);
    });
    worker.on('error', (error) => this.lost(worker, error));
    worker.on('exit', (code) => this.lost(worker, new Error(`bcrypt worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  /** Comparisons under way fail (their requests get a 500); the next one starts a new worker. */
  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.lost(worker, new Error('server closed'));
    await worker.terminate();
  }
}
