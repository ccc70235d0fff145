/** `npm run demo` (after its build step): simulator and exporter come up wired together, and Ctrl-C stops both. */
import { spawn } from 'node:child_process';
import { parseExposition } from '../support/exposition.js';
import { ROOT } from '../support/process.js';

test('the demo serves metrics collected from the simulator and stops cleanly on SIGINT', async () => {
  const demo = spawn(process.execPath, ['scripts/demo.mjs'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DEMO_EXPORTER_ADDRESS: '127.0.0.1:0',
      DEMO_SIMULATOR_ADDRESS: '127.0.0.1:0',
      DEMO_INTERVAL: '1s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
  try {
    const metricsUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not start:\n${output}`)), 20_000);
      demo.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /metrics:\s+(\S+)/.exec(output);
        if (match && output.includes('"collection finished"')) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    });
    const samples = parseExposition(await (await fetch(metricsUrl)).text());
    const success = samples.filter((s) => s.name === 'thingspace_fota_collection_success');
    expect(success.length).toBeGreaterThan(0);
    expect(success.every((s) => s.value === 1)).toBe(true);
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(metricsUrl)).rejects.toThrow();
  } finally {
    demo.kill('SIGKILL');
  }
});
