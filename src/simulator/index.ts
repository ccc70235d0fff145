/**
 * Programmatic entry point: start a simulator in-process (tests, benchmarks) and stop it cleanly.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  defaultOptions,
  parseFaultChanges,
  validateOptions,
  type FaultSettings,
  type SimulatorOptions,
} from './options.js';
import { createRequestHandler } from './server.js';
import { Simulator, type FailureSpikeResult, type StatsSnapshot } from './simulator.js';
import type { FailureSpikeRequest } from './dataset.js';
import type { Truth, TruthQuery } from './truth.js';

export type { FaultSettings, SimulatorOptions } from './options.js';
export type { FailureSpikeResult, StatsSnapshot } from './simulator.js';
export type { Truth, TruthQuery, StatusTruth, UpgradeSeries, DeviceSeries } from './truth.js';
export type {
  CampaignTruth,
  CampaignStatusSeries,
  CampaignDeviceSeries,
  DeviceStatusSeries,
  WalkedCampaign,
} from './campaign-truth.js';
export type { FailureSpikeRequest } from './dataset.js';
export type { CampaignSpikeResult } from './campaign-dataset.js';
export { defaultOptions } from './options.js';

export interface RunningSimulator {
  /** Base URL, e.g. http://127.0.0.1:9776 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The options in force, defaults filled in. */
  readonly options: SimulatorOptions;
  /** Moves simulated time by `ticks` ticks; returns the new generation. */
  advance(ticks?: number): number;
  /** Merges fault changes (validated like PUT /_sim/faults); returns the settings in force. */
  setFaults(changes: Partial<FaultSettings>): FaultSettings;
  failureSpike(request?: FailureSpikeRequest): FailureSpikeResult;
  /** The /_sim/truth object; a number is maxLabelValues alone. */
  truth(query?: number | TruthQuery): Truth;
  stats(): StatsSnapshot;
  /** Stops ticking, closes the listener and destroys every open connection, hung ones included. */
  close(): Promise<void>;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startSimulator(
  overrides: Partial<SimulatorOptions> = {},
): Promise<RunningSimulator> {
  const options: SimulatorOptions = { ...defaultOptions(), ...overrides };
  validateOptions(options);
  const sim = new Simulator(options);
  const hung = new Set<ServerResponse>();
  const server = createServer(
    createRequestHandler(sim, {
      onHang: (res) => {
        hung.add(res);
        res.on('close', () => hung.delete(res));
      },
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenAddress.port, options.listenAddress.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  sim.start();
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost(options.listenAddress.host)}:${port}`,
    port,
    options,
    advance: (ticks = 1) => sim.advance(ticks),
    setFaults: (changes) => sim.faults.update(parseFaultChanges(changes)),
    failureSpike: (request) => sim.failureSpike(request),
    truth: (query) =>
      JSON.parse(
        sim.truthJson(typeof query === 'number' ? { maxLabelValues: query } : query),
      ) as Truth,
    stats: () => sim.statsSnapshot(),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        sim.stop();
        server.close(() => resolve());
        for (const res of hung) res.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
