#!/usr/bin/env node
/**
 * thingspace-simulator: parse flags, start the simulator, print one JSON line with its URL, stop on
 * SIGTERM/SIGINT. Bad flags exit 2 with one line naming the flag.
 */
import { startSimulator } from './index.js';
import { OptionError, helpText, parseArgs } from './options.js';

const NAME = 'thingspace-simulator';

async function main(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof OptionError)) throw error;
    process.stderr.write(`${NAME}: ${error.message}\n`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  let running;
  try {
    running = await startSimulator(parsed.options);
  } catch (error) {
    process.stderr.write(`${NAME}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof OptionError ? 2 : 1);
  }
  process.stdout.write(`${JSON.stringify({ msg: 'simulator listening', url: running.url })}\n`);
  const stop = (): void => {
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${NAME}: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
