/**
 * The Dockerfile replayed without Docker (there is no Docker engine where the tests run): the build
 * context is the tracked files minus .dockerignore, each stage's COPY and RUN steps run in a directory
 * standing for its filesystem (npm ci and npm run build with the host's npm, from its cache), and the
 * runtime stage's directory then runs the exporter and the simulator with the ENTRYPOINT, ENV and
 * USER of the file, configured as docker-compose.yml configures them. Checks that the runtime stage
 * holds only production dependencies and dist/, that the exporter collects from the simulator, that
 * the HEALTHCHECK command passes and fails when it should, and that SIGTERM ends it with 0.
 *
 * What the replay cannot show: the base image itself (the host's Node runs instead of
 * node:20-alpine's; the test checks the major versions agree) and a read-only root filesystem (the
 * runtime directory is made read-only and, when the tests run as root, the processes run as the
 * image's non-root uid, so a write into the application or home directory would fail here too).
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { killAll, startProcess, type Running } from '../support/process.js';
import {
  isIgnored,
  parseDockerignore,
  readDockerfile,
  replay,
  type ReplayedStage,
} from './dockerfile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

/** npm ci twice and a build: minutes on a cold cache. */
const REPLAY_TIMEOUT = 600_000;

let tmp = '';
let context = '';
let runtime: ReplayedStage;
let build: ReplayedStage;

/** The tracked files as they are in the working tree (uncommitted edits included). */
function trackedFiles(): string[] {
  const out = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`git ls-files failed: ${out.stderr}`);
  return out.stdout.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

/** The uid:gid of the Dockerfile's USER when the tests run as root, so the processes drop root. */
function imageIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const match = /^(\d+)(?::(\d+))?$/.exec(runtime.user ?? '');
  if (!match) throw new Error(`USER must be numeric (uid or uid:gid), got "${runtime.user}"`);
  const uid = Number(match[1]);
  return { uid, gid: match[2] === undefined ? uid : Number(match[2]) };
}

/** Starts an image command (`node <script> …`) from the runtime directory, as the image's user. */
function start(argv: string[], env: Record<string, string>): Running {
  const [command, script = '', ...args] = argv;
  if (command !== 'node') throw new Error(`only node commands are replayed, got "${command}"`);
  // The image's `node` is the host's here.
  return startProcess(script, args, env, {
    cwd: join(runtime.root, runtime.workdir),
    ...imageIds(),
  });
}

/** The environment a container gets: PATH, HOME (none here), the image's ENV, then the service's. */
function containerEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    TMPDIR: '/nonexistent',
    ...runtime.env,
    ...extra,
  };
}

interface ComposeService {
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
}

const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fota-image-'));
  chmodSync(tmp, 0o755); // the image's uid must reach the runtime directory
  context = join(tmp, 'context');
  const rules = parseDockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
  for (const file of trackedFiles()) {
    if (isIgnored(rules, file)) continue;
    mkdirSync(dirname(join(context, file)), { recursive: true });
    cpSync(join(ROOT, file), join(context, file));
  }
  const stages = await replay(readDockerfile(join(ROOT, 'Dockerfile')), {
    context,
    workRoot: join(tmp, 'stages'),
    npmCiExtra: ['--prefer-offline'],
  });
  const names = [...stages.keys()];
  build = stages.get('build')!;
  runtime = stages.get(names[names.length - 1]!)!;
  // The runtime stage's files are root's and read-only to the process; make them read-only for
  // everyone, so that a write would fail here even when the tests do not run as root.
  spawnSync('chmod', ['-R', 'a-w', runtime.root]);
}, REPLAY_TIMEOUT);

afterAll(() => {
  killAll();
  if (tmp) {
    spawnSync('chmod', ['-R', 'u+w', tmp]);
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the build context holds what the build needs and nothing else', () => {
  const top = readdirSync(context).sort();
  expect(top).toEqual([
    'package-lock.json',
    'package.json',
    'src',
    'tsconfig.build.json',
    'tsconfig.json',
  ]);
  const rules = parseDockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
  for (const path of [
    'node_modules/x/index.js',
    'dist/cli.js',
    '.git/HEAD',
    'test/unit/a.test.ts',
    'bench/results.json',
    'coverage/lcov.info',
    '.env',
    'src/node_modules/x',
    'grafana/dashboards/a.json',
  ]) {
    expect([path, isIgnored(rules, path)]).toEqual([path, true]);
  }
  expect(isIgnored(rules, 'src/cli.ts')).toBe(false);
});

test('the stages are node 20 images and run the steps the issue asks for', () => {
  expect(build.from).toMatch(/^node:20-/);
  expect(runtime.from).toMatch(/^node:20-/);
  // The replay runs the host's node: it must be the same major version as the image's.
  expect(process.versions.node.split('.')[0]).toBe('20');
  expect(build.ran).toEqual([expect.stringMatching(/^npm ci\b/), 'npm run build']);
  expect(runtime.ran).toEqual([
    expect.stringMatching(/^npm ci .*--omit=dev/),
    // The --storage.path mount point, owned by the runtime user.
    'mkdir -p /var/lib/thingspace-fota-exporter',
    'chown 1000:1000 /var/lib/thingspace-fota-exporter',
  ]);
  expect(runtime.skipped).toEqual(['npm cache clean --force']);
  expect(runtime.env.NODE_ENV).toBe('production');
  expect(runtime.user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric and not root
  expect(runtime.entrypoint).toEqual(['node', 'dist/cli.js']);
  expect(runtime.labels['org.opencontainers.image.version']).toBe(PACKAGE.version);
  expect(runtime.labels['org.opencontainers.image.title']).toBe('thingspace-fota-exporter');
  expect(runtime.labels['org.opencontainers.image.licenses']).toBe('Apache-2.0');
});

test('the runtime stage holds production dependencies and dist/ only', () => {
  const app = join(runtime.root, runtime.workdir);
  expect(readdirSync(app).sort()).toEqual([
    'dist',
    'node_modules',
    'package-lock.json',
    'package.json',
  ]);
  expect(existsSync(join(app, 'dist/cli.js'))).toBe(true);
  expect(existsSync(join(app, 'dist/simulator/cli.js'))).toBe(true);
  const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const devOnly = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev === true)
    .map(([path]) => path);
  expect(devOnly.length).toBeGreaterThan(0);
  expect(devOnly.filter((path) => existsSync(join(app, path)))).toEqual([]);
  for (const name of [
    'typescript',
    'jest',
    'ts-jest',
    'eslint',
    'prettier',
    ...Object.keys(PACKAGE.devDependencies),
  ]) {
    expect([name, existsSync(join(app, 'node_modules', name))]).toEqual([name, false]);
  }
  for (const name of ['express', 'pino', 'prom-client', 'undici', 'yaml']) {
    expect([name, existsSync(join(app, 'node_modules', name))]).toEqual([name, true]);
  }
});

test('the runtime stage runs the compose stack: simulator, exporter, health check, SIGTERM', async () => {
  // The simulator as docker-compose.yml runs it, on a free loopback port instead of 0.0.0.0:9776.
  const simulatorService = compose.services.simulator!;
  const simArgs = [...(simulatorService.command ?? [])];
  const at = simArgs.indexOf('--listen-address');
  expect(at).toBeGreaterThanOrEqual(0);
  simArgs[at + 1] = '127.0.0.1:0';
  const simulator = start([...simulatorService.entrypoint!, ...simArgs], containerEnv({}));
  const listening = await simulator.waitForLine((l) => l.msg === 'simulator listening');
  const simulatorUrl = String(listening.url);

  // The exporter with the compose environment: the compose secrets' files (copied so the image's
  // uid can read them), the simulator at its loopback address, a loopback port.
  const service = compose.services.exporter!;
  const secrets = join(tmp, 'run-secrets');
  mkdirSync(secrets, { mode: 0o755 });
  for (const name of service.secrets ?? []) {
    writeFileSync(join(secrets, name), readFileSync(join(ROOT, compose.secrets[name]!.file)), {
      mode: 0o644,
    });
  }
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    env[key] = String(value).replace(/^\/run\/secrets\//, `${secrets}/`);
  }
  Object.assign(env, {
    THINGSPACE_BASE_URL: simulatorUrl,
    WEB_LISTEN_ADDRESS: '127.0.0.1:0',
    COLLECTOR_INTERVAL: '1h', // one collection is enough
  });
  // The state volume: a new named volume takes the owner and mode of the image's mount point.
  const mountPoint = statSync(join(runtime.root, env.STORAGE_PATH!));
  const volume = join(tmp, 'state-volume');
  mkdirSync(volume);
  if (process.getuid?.() === 0) chownSync(volume, mountPoint.uid, mountPoint.gid);
  // (owner write restored: beforeAll took every write bit off the replayed image, the mount point's too)
  chmodSync(volume, (mountPoint.mode & 0o7777) | 0o200);
  env.STORAGE_PATH = volume;
  const exporter = start([...runtime.entrypoint!, ...(runtime.cmd ?? [])], containerEnv(env));
  const line = await exporter.waitForLine((l) => l.msg === 'listening');
  const metricsUrl = String(line.url);
  const base = metricsUrl.replace(/\/metrics$/, '');
  const port = new URL(base).port;

  // Run as the image's user when the tests run as root (see imageIds).
  const ids = imageIds();
  if (ids.uid !== undefined && existsSync(`/proc/${exporter.proc.pid}/status`)) {
    const status = readFileSync(`/proc/${exporter.proc.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(ids.uid));
  }

  expect((await fetch(`${base}/-/healthy`)).status).toBe(200);
  await exporter.waitForLine((l) => l.msg === 'collection finished', 60_000);
  expect((await fetch(`${base}/-/ready`)).status).toBe(200);
  const text = await (await fetch(metricsUrl)).text();
  const accounts = env.THINGSPACE_ACCOUNTS!.split(',');
  const success = text
    .split('\n')
    .filter((l) => l.startsWith('thingspace_fota_collection_success{'));
  expect(success).toHaveLength(accounts.length * 6);
  for (const sample of success) expect(sample).toMatch(/ 1$/);
  for (const account of accounts) expect(text).toContain(`account="${account}"`);
  expect(text).toContain(`thingspace_fota_exporter_build_info{version="${PACKAGE.version}"`);

  // The HEALTHCHECK exactly as written, with the image's default :port form and a host:port.
  const health = runtime.healthcheck!.exec;
  const check = (address: string) =>
    spawnSync(health[0] === 'node' ? process.execPath : health[0]!, health.slice(1), {
      env: containerEnv({ WEB_LISTEN_ADDRESS: address }),
      timeout: 20_000,
    }).status;
  expect(check(`:${port}`)).toBe(0);
  expect(check(`127.0.0.1:${port}`)).toBe(0);

  // SIGTERM, as `docker stop` sends it to PID 1: exit 0 within 5 s.
  const t0 = Date.now();
  exporter.proc.kill('SIGTERM');
  expect(await exporter.exited).toBe(0);
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(check(`:${port}`)).toBe(1);

  simulator.proc.kill('SIGTERM');
  expect(await simulator.exited).toBe(0);
  // The exporter kept its state in the volume (the login it made is recorded there)...
  expect(readdirSync(volume)).toContain('state.json');
  // ...and wrote nothing into the runtime stage (its files were read-only, and stay as they were).
  expect(readdirSync(join(runtime.root, runtime.workdir)).sort()).toEqual([
    'dist',
    'node_modules',
    'package-lock.json',
    'package.json',
  ]);
}, 120_000);
