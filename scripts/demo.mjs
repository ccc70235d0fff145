// `npm run demo`: the ThingSpace simulator and the exporter wired to it, until Ctrl-C.
// DEMO_SIMULATOR_ADDRESS (default 127.0.0.1:9776) and DEMO_EXPORTER_ADDRESS (default 127.0.0.1:9775)
// move them; DEMO_INTERVAL (default 15s) is the exporter's collection interval.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const simulatorAddress = process.env.DEMO_SIMULATOR_ADDRESS ?? '127.0.0.1:9776';
const exporterAddress = process.env.DEMO_EXPORTER_ADDRESS ?? '127.0.0.1:9775';
const interval = process.env.DEMO_INTERVAL ?? '15s';
const children = [];

function start(name, script, args, env = {}) {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const waiters = [];
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        process.stdout.write(`[${name}] ${line}\n`);
        let parsed;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue;
        }
        for (const w of waiters.splice(0)) if (!w(parsed)) waiters.push(w);
      }
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`demo: the ${name} exited unexpectedly (${signal ?? code}); stopping`);
      stop(1);
    }
  });
  const waitFor = (match) =>
    new Promise((resolve) => waiters.push((line) => (match(line) ? (resolve(line), true) : false)));
  return { child, waitFor };
}

let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

// A fleet shaped like a real one, on all three APIs: FOTA v1 upgrades with mostly finished history and a
// small failed share, and a dozen v2 (HTTP) and v3 (LWM2M) campaigns per account. The clock is at now, so
// that ages and campaign end dates look real on the dashboard.
const simulator = start('simulator', 'dist/simulator/cli.js', [
  '--listen-address',
  simulatorAddress,
  '--start-time',
  'now',
  '--upgrades-per-status',
  'RequestPending=4,Queued=8,RequestFailed=2,InProgress=10,Finished=120,UpgradeFailed=6',
  '--campaigns-per-account',
  '12',
  '--campaign-devices-mean',
  '400',
  '--campaign-arrivals-per-tick',
  '0.1',
]);
const { url: simulatorUrl } = await simulator.waitFor((l) => l.msg === 'simulator listening');
const truth = await (await fetch(`${simulatorUrl}/_sim/truth`)).json();
const accounts = Object.keys(truth.accounts).join(',');

const exporter = start(
  'exporter',
  'dist/cli.js',
  [
    `--thingspace.base-url=${simulatorUrl}`,
    `--thingspace.accounts=${accounts}`,
    `--collector.interval=${interval}`,
    `--web.listen-address=${exporterAddress}`,
  ],
  {
    THINGSPACE_CLIENT_ID: 'demo-client',
    THINGSPACE_CLIENT_SECRET: 'demo-secret',
    THINGSPACE_USERNAME: 'demo-user',
    THINGSPACE_PASSWORD: 'demo-password',
  },
);
const { url: metricsUrl } = await exporter.waitFor((l) => l.msg === 'listening');
const base = metricsUrl.replace(/\/metrics$/, '');
console.log(`
demo: the exporter is collecting FOTA v1 upgrades and v2/v3 campaigns from the ThingSpace simulator
every ${interval}.
  metrics:        ${metricsUrl}
  landing page:   ${base}/
  simulator:      ${simulatorUrl}  (truth: ${simulatorUrl}/_sim/truth?now=<unix ms>)
  rehearse an UpgradeFailed spike:  curl -X POST ${simulatorUrl}/_sim/scenario/failure-spike
Press Ctrl-C to stop both.
`);
