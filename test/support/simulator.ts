/** The simulator as a separate process, with its control API, and its truth as series for comparing. */
import { SIMULATOR_BIN, startProcess, type Running } from './process.js';
import type { Truth } from '../../bench/lib/series.mjs';

export const SIMULATOR_ENV = {
  THINGSPACE_CLIENT_ID: 'demo-client',
  THINGSPACE_CLIENT_SECRET: 'demo-secret',
  THINGSPACE_USERNAME: 'demo-user',
  THINGSPACE_PASSWORD: 'demo-password',
};

export interface SimulatorProcess extends Running {
  url: string;
  truth(maxLabelValues?: number): Promise<Truth>;
  stats(): Promise<Record<string, unknown>>;
  setFaults(changes: Record<string, unknown>): Promise<void>;
  advance(ticks: number): Promise<number>;
  post(path: string, body?: unknown): Promise<unknown>;
}

async function json(res: Response): Promise<unknown> {
  if (!res.ok) throw new Error(`${res.url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

export async function startSimulatorProcess(args: string[]): Promise<SimulatorProcess> {
  const p = startProcess(SIMULATOR_BIN, ['--listen-address', '127.0.0.1:0', ...args]);
  const line = await p.waitForLine((l) => l.msg === 'simulator listening');
  const url = String(line.url);
  const post = async (path: string, body?: unknown) =>
    json(
      await fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      }),
    );
  return {
    ...p,
    url,
    truth: async (max = 50) =>
      (await json(await fetch(`${url}/_sim/truth?maxLabelValues=${max}`))) as Truth,
    stats: async () => (await json(await fetch(`${url}/_sim/stats`))) as Record<string, unknown>,
    setFaults: async (changes) => {
      await json(
        await fetch(`${url}/_sim/faults`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(changes),
        }),
      );
    },
    advance: async (ticks) =>
      ((await post(`/_sim/advance?ticks=${ticks}`)) as { generation: number }).generation,
    post,
  };
}

// Truth as series is shared with the benchmark (bench/lib/series.mjs), which runs without a build step.
export { BUSINESS_METRICS, truthSeries } from '../../bench/lib/series.mjs';
export type { StatusTruth, Truth } from '../../bench/lib/series.mjs';
