/**
 * A real browser for the page tests: Debian's chromium-headless-shell, driven over the Chrome DevTools
 * protocol on its --remote-debugging-port with undici's WebSocket (no browser-automation dependency).
 * Only what the tests need: open a tab, go to a URL and wait for its load, evaluate an expression.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';

export const CHROMIUM = '/usr/bin/chromium-headless-shell';

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
}

export interface Tab {
  /** Loads `url` and resolves once its load event fired. */
  goto(url: string): Promise<void>;
  /** Runs `action` (which navigates, e.g. a form submit) and resolves once the next page loaded. */
  navigateBy(action: string): Promise<void>;
  /** The value of a JavaScript expression in the page, returned by value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
}

export interface Browser {
  open(): Promise<Tab>;
  close(): Promise<void>;
}

class Connection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((method: string, params: unknown) => void)[] = [];

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
        method?: string;
        params?: unknown;
      };
      if (message.id !== undefined) {
        const waiting = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiting?.reject(new Error(message.error.message));
        else waiting?.resolve(message.result ?? {});
      } else if (message.method) {
        for (const listener of this.listeners) listener(message.method, message.params);
      }
    });
  }

  static async open(url: string): Promise<Connection> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve());
      socket.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
    });
    return new Connection(socket);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  once(method: string, timeoutMs = 15_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${method} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const listener = (m: string, params: unknown) => {
        if (m !== method) return;
        clearTimeout(timer);
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolve(params);
      };
      this.listeners.push(listener);
    });
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.addEventListener('close', resolve));
    this.socket.close();
    await closed;
  }
}

/** Starts the browser on a port of its choosing, in a throw-away profile. */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'arrivals-chromium-'));
  const child: ChildProcess = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    // Its own process group: /usr/bin/chromium-headless-shell is a wrapper, and the browser and its
    // helpers are its children, which a signal to the wrapper alone would leave running.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${text}`)), 20_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`chromium exited (${code}): ${text}`)));
  });
  const http = endpoint.replace(/^ws:\/\/([^/]+)\/.*$/, 'http://$1');
  const connections: Connection[] = [];

  return {
    async open(): Promise<Tab> {
      const res = await fetch(`${http}/json/new?about:blank`, { method: 'PUT' });
      const target = (await res.json()) as { webSocketDebuggerUrl: string };
      const page = await Connection.open(target.webSocketDebuggerUrl);
      connections.push(page);
      await page.send('Page.enable');
      await page.send('Runtime.enable');
      const evaluate = async <T>(expression: string): Promise<T> => {
        const result = (await page.send('Runtime.evaluate', {
          expression,
          returnByValue: true,
          awaitPromise: true,
        })) as { result: { value: T }; exceptionDetails?: { text: string } };
        if (result.exceptionDetails)
          throw new Error(`${expression}: ${result.exceptionDetails.text}`);
        return result.result.value;
      };
      return {
        async goto(url) {
          const loaded = page.once('Page.loadEventFired');
          await page.send('Page.navigate', { url });
          await loaded;
        },
        async navigateBy(action) {
          const loaded = page.once('Page.loadEventFired');
          await evaluate(action);
          await loaded;
        },
        evaluate,
      };
    },
    async close() {
      await Promise.all(connections.map((c) => c.close()));
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        const group = (signal: NodeJS.Signals) => {
          try {
            process.kill(-child.pid!, signal);
          } catch {
            // the group is gone already
          }
        };
        group('SIGTERM');
        const timer = setTimeout(() => group('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      // Its helper processes may hold the other end of the pipe a moment longer.
      child.stderr?.destroy();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
