/** Runs the exporter in-process against a fake, with its HTTP server on 127.0.0.1 and its logs in memory. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/parse.js';
import type { Config } from '../../src/config/settings.js';
import { Exporter } from '../../src/exporter.js';
import { createLogger, SecretScrubber } from '../../src/log.js';
import { createApp } from '../../src/server/app.js';
import { FAKE_CREDENTIALS } from './fake-thingspace.js';

export interface Harness {
  exporter: Exporter;
  config: Config;
  url: string;
  logs: string[];
  scrape(path?: string): Promise<{ status: number; type: string | null; text: string }>;
  close(): Promise<void>;
}

export const CREDENTIAL_ENV = {
  THINGSPACE_CLIENT_ID: FAKE_CREDENTIALS.clientId,
  THINGSPACE_CLIENT_SECRET: FAKE_CREDENTIALS.clientSecret,
  THINGSPACE_USERNAME: FAKE_CREDENTIALS.username,
  THINGSPACE_PASSWORD: FAKE_CREDENTIALS.password,
};

export async function startExporter(
  baseUrl: string,
  accounts: string[],
  flags: string[] = [],
  env: Record<string, string> = {},
): Promise<Harness> {
  const config = parseConfig(
    [
      `--thingspace.base-url=${baseUrl}`,
      `--thingspace.accounts=${accounts.join(',')}`,
      '--log.level=debug',
      // The fake serves FOTA v1 only, unless a test asks for the campaign APIs too.
      ...(flags.some((f) => f.startsWith('--thingspace.apis')) ? [] : ['--thingspace.apis=v1']),
      ...flags,
    ],
    { ...CREDENTIAL_ENV, ...env },
  );
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const scrubber = new SecretScrubber();
  const logger = createLogger(config.logLevel, scrubber, sink);
  const exporter = new Exporter(config, {
    logger,
    scrubber,
    version: '0.0.0-test',
    sleep: async () => undefined,
  });
  const server: Server = createServer(
    createApp(exporter, {
      telemetryPath: config.telemetryPath,
      version: '0.0.0-test',
      logger,
      arrivals: exporter.arrivals,
    }),
  );
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    exporter,
    config,
    url,
    logs,
    async scrape(path = config.telemetryPath) {
      const res = await fetch(url + path);
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    },
    async close() {
      await exporter.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
