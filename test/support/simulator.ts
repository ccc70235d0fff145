/** The simulator as a separate process, with its control API, and its truth as series for comparing. */
import { SIMULATOR_BIN, startProcess, type Running } from './process.js';
import { seriesKey } from './exposition.js';

export interface StatusTruth {
  upgrades: { firmware_to: string; count: number }[];
  devices: { firmware_to: string; device_status: string; result_reason: string; count: number }[];
  oldestStartTimestampSeconds: number | null;
}
export interface Truth {
  generation: number;
  accounts: Record<string, Record<string, StatusTruth>>;
}

export const SIMULATOR_ENV = {
  THINGSPACE_CLIENT_ID: 'demo-client',
  THINGSPACE_CLIENT_SECRET: 'demo-secret',
  THINGSPACE_USERNAME: 'demo-user',
  THINGSPACE_PASSWORD: 'demo-password',
};

export const BUSINESS_METRICS = [
  'thingspace_fota_upgrades',
  'thingspace_fota_upgrade_devices',
  'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
];

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

/** The business series a correct exporter must serve for this truth, keyed like seriesMap(). */
export function truthSeries(
  truth: Truth,
  only?: (account: string, status: string) => boolean,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [account, statuses] of Object.entries(truth.accounts)) {
    for (const [status, t] of Object.entries(statuses)) {
      if (only && !only(account, status)) continue;
      if (t.upgrades.length === 0)
        out.set(seriesKey('thingspace_fota_upgrades', { account, status, firmware_to: '' }), 0);
      for (const u of t.upgrades)
        out.set(
          seriesKey('thingspace_fota_upgrades', { account, status, firmware_to: u.firmware_to }),
          u.count,
        );
      for (const d of t.devices) {
        const { count, ...labels } = d;
        out.set(
          seriesKey('thingspace_fota_upgrade_devices', { account, status, ...labels }),
          count,
        );
      }
      if (t.oldestStartTimestampSeconds !== null) {
        out.set(
          seriesKey('thingspace_fota_upgrade_oldest_start_timestamp_seconds', { account, status }),
          t.oldestStartTimestampSeconds,
        );
      }
    }
  }
  return out;
}
