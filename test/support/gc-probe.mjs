/**
 * Preloaded into the exporter by the soak test (NODE_OPTIONS=--import=<this file>). On SIGUSR2 it runs a
 * full garbage collection, then writes one JSON line to stderr: the heap still in use, resident memory,
 * external and array-buffer memory, open file descriptors and active handles. It changes nothing else, so
 * the heap it reports is what the exporter really keeps alive.
 */
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

process.on('SIGUSR2', () => {
  gc();
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
  const line = {
    msg: 'gc-probe',
    heapUsed,
    rss,
    external,
    arrayBuffers,
    fds: readdirSync('/proc/self/fd').length,
    handles: process.getActiveResourcesInfo().length,
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
});
