#!/usr/bin/env node
/**
 * The command: configuration in, exporter and HTTP server up, signals handled. Configuration errors exit
 * with code 2 and one line naming the setting; `--once` exits 0 or 1 by the collection's outcome.
 */
import { describeSetting, parseConfig } from './config/parse.js';
import { ConfigError, SETTINGS, type Config } from './config/settings.js';
import { renderHelp } from './config/usage.js';
import { allSucceeded } from './collection/snapshot.js';
import { Exporter } from './exporter.js';
import { createDispatcher, type ThingSpaceDispatcher } from './thingspace/dispatcher.js';
import { createLogger, SecretScrubber, type Logger } from './log.js';
import { createApp } from './server/app.js';
import { StateStore, StorageError } from './storage/store.js';
import { listen, ListenError } from './server/listen.js';
import { WebConfigError } from './server/web-config.js';
import { VERSION } from './version.js';

const NAME = 'thingspace-fota-exporter';
const SHUTDOWN_GRACE_MS = 4000;

async function runOnce(exporter: Exporter): Promise<number> {
  const snapshot = await exporter.collectOnce();
  process.stdout.write(await exporter.metrics());
  await exporter.stop();
  return allSucceeded(snapshot) ? 0 : 1;
}

async function serve(config: Config, exporter: Exporter, logger: Logger): Promise<void> {
  const app = createApp(exporter, {
    telemetryPath: config.telemetryPath,
    version: VERSION,
    logger,
    arrivals: exporter.arrivals,
  });
  const { host, port } = config.listenAddress;
  const listening = await listen(app, { host, port, webConfigFile: config.webConfigFile, logger });
  logger.info({ url: `${listening.url}${config.telemetryPath}`, version: VERSION }, 'listening');
  exporter.start();

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A collection in flight is abandoned: its snapshot would never be served.
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
    void Promise.all([listening.close(), exporter.stop()]).finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(renderHelp(NAME, VERSION));
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${NAME} ${VERSION} (node ${process.version})\n`);
    return 0;
  }
  let config: Config;
  let network: ThingSpaceDispatcher;
  try {
    config = parseConfig(argv, env);
    // The proxy and the CA file are read here, so that a bad one is a configuration error (exit 2).
    network = createDispatcher({
      connections: config.concurrency + 2,
      timeoutMs: config.timeout,
      proxyUrl: config.proxyUrl,
      caFile: config.caFile,
      env,
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${NAME}: configuration error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const scrubber = new SecretScrubber();
  // Proxy credentials never change while the process runs: pinned, never evicted by newer tokens.
  for (const secret of network.secrets) scrubber.pin(secret);
  // In --once mode stdout carries the exposition, so logs go to stderr.
  const logger = createLogger(config.logLevel, scrubber, config.once ? 2 : 1);
  reportFatal = (what, error) =>
    logger.fatal({ err: error }, `${what}: ${String((error as Error)?.message ?? error)}`);
  logger.info(
    { proxy: network.proxy, caFile: config.caFile || undefined },
    `network: ${network.describe()}`,
  );
  for (const warning of network.warnings) logger.warn(warning);
  let store: StateStore | undefined;
  if (config.storagePath !== '') {
    try {
      store = StateStore.load(config.storagePath, { logger });
    } catch (error) {
      if (!(error instanceof StorageError)) throw error;
      process.stderr.write(
        `${NAME}: configuration error: ${describeSetting(SETTINGS.storagePath)}: ${error.message}\n`,
      );
      await network.dispatcher.destroy().catch(() => undefined);
      return 2;
    }
  }
  const exporter = new Exporter(config, {
    logger,
    scrubber,
    version: VERSION,
    dispatcher: network.dispatcher,
    store,
  });
  if (config.once) return runOnce(exporter);
  try {
    await serve(config, exporter, logger);
  } catch (error) {
    const setting =
      error instanceof WebConfigError
        ? SETTINGS.webConfigFile
        : error instanceof ListenError
          ? SETTINGS.listenAddress
          : undefined;
    if (!setting) throw error;
    process.stderr.write(
      `${NAME}: configuration error: ${describeSetting(setting)}: ${(error as Error).message}\n`,
    );
    await exporter.stop();
    return 2;
  }
  return undefined;
}

/**
 * A promise rejected with nobody listening is a bug of ours: its message goes through the scrubbed logger
 * (once there is one), and the process exits non-zero so that its supervisor restarts it in a known state.
 */
let reportFatal = (what: string, error: unknown): void => {
  process.stderr.write(`${NAME}: ${what}: ${(error as Error)?.name ?? typeof error}\n`);
};
process.on('unhandledRejection', (reason) => {
  reportFatal('unhandled rejection', reason);
  process.exit(70);
});

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    reportFatal('fatal', error);
    process.exit(1);
  },
);
