/**
 * docker-compose.yml and docker-compose.thingspace.yml against the code they configure: the
 * exporter's environment through its own config parser, the simulator's command through its own
 * flag parser, every mounted file present, Prometheus and Grafana wired to what the repository ships.
 * (That the image really runs this simulator command and this exporter environment is
 * test/deploy/image.test.ts's part.)
 */
import {
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
import { join, posix } from 'node:path';
import { SETTINGS } from '../../src/config/settings.js';
import { parseArgs } from '../../src/simulator/options.js';
import {
  DEFAULT_LISTEN_PORT,
  EXPORTER_ENV,
  exists,
  exporterConfig,
  loadYaml,
  promtool,
  repoPath,
  runTool,
} from './helpers.js';

interface Service {
  image?: string;
  build?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  secrets?: string[];
  ports?: string[];
  volumes?: string[];
  read_only?: boolean;
  depends_on?: Record<string, unknown> | string[];
  profiles?: string[];
  healthcheck?: { test: string[] };
}

interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

const compose = loadYaml<Compose>('docker-compose.yml');
const override = loadYaml<Compose>('docker-compose.thingspace.yml', ['!reset']);
const services = compose.services;

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

function env(s: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
}

/** Bind mounts as [host path relative to the repository, container path]. */
function binds(s: Service): [string, string][] {
  return (s.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([source]) => source!.startsWith('./'))
    .map(([source, target]) => [posix.normalize(source!), target!]);
}

/** The repository path a container path comes from through the service's bind mounts. */
function hostPath(s: Service, containerPath: string): string | undefined {
  for (const [source, target] of binds(s)) {
    if (containerPath === target) return source;
    if (containerPath.startsWith(`${target}/`))
      return posix.join(source, containerPath.slice(target.length + 1));
  }
  return undefined;
}

/** The simulator's parsed options from its compose command. */
function simulatorOptions() {
  const parsed = parseArgs(service('simulator').command ?? []);
  if (parsed.help) throw new Error('the simulator command asks for --help');
  return parsed.options;
}

test('the stack has its six services; exporter and simulator share the image built here', () => {
  expect(Object.keys(services).sort()).toEqual([
    'alert-log',
    'alertmanager',
    'exporter',
    'grafana',
    'prometheus',
    'simulator',
  ]);
  const exporter = service('exporter');
  const simulator = service('simulator');
  expect(exporter.build).toBe('.');
  expect(simulator.build).toBe('.');
  expect(simulator.image).toBe(exporter.image);
  expect(exporter.entrypoint).toBeUndefined(); // the image's ENTRYPOINT: node dist/cli.js
  expect(simulator.entrypoint).toEqual(['node', 'dist/simulator/cli.js']);
  for (const s of [exporter, simulator]) expect(s.read_only).toBe(true);
  expect(service('prometheus').image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
  expect(service('grafana').image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
});

test('the simulator command is valid, listens on the compose network and moves', () => {
  const options = simulatorOptions();
  expect(options.listenAddress.host).toBe('0.0.0.0');
  expect(options.allowRemote).toBe(true);
  expect(options.tickMs).toBeGreaterThan(0);
  const simulatorPort = options.listenAddress.port;
  expect(service('simulator').ports).toEqual([`127.0.0.1:${simulatorPort}:${simulatorPort}`]);
  // Its own health check, on its own port (the image's one asks the exporter's port).
  expect(service('simulator').healthcheck?.test.join(' ')).toContain(
    `http://127.0.0.1:${simulatorPort}/_sim/summary`,
  );
});

test('the exporter environment is valid for the exporter and points at the simulator', () => {
  const exporter = service('exporter');
  const vars = env(exporter);
  for (const name of Object.keys(vars))
    expect([name, EXPORTER_ENV.has(name)]).toEqual([name, true]);
  const files: Record<string, string> = {};
  for (const name of exporter.secrets ?? []) {
    const secret = compose.secrets[name];
    expect([name, secret?.file !== undefined && exists(secret.file)]).toEqual([name, true]);
    files[`/run/secrets/${name}`] = secret!.file;
  }
  const config = exporterConfig(vars, files);
  const options = simulatorOptions();
  expect(config.baseUrl.hostname).toBe('simulator');
  expect(Number(config.baseUrl.port)).toBe(options.listenAddress.port);
  expect(config.allowInsecureHttp).toBe(true);
  // The demo secrets are the simulator's credentials.
  expect(config.clientId.read()).toBe(options.clientId);
  expect(config.clientSecret.read()).toBe(options.clientSecret);
  expect(config.username.read()).toBe(options.username);
  expect(config.password.read()).toBe(options.password);
  // Secrets only as files.
  for (const spec of Object.values(SETTINGS)) {
    if ('secret' in spec && spec.secret) {
      expect(vars[spec.env]).toBeUndefined();
      expect(vars[`${spec.env}_FILE`]).toMatch(/^\/run\/secrets\//);
    }
  }
  // As many accounts as the simulator has (image.test.ts collects every one of them from it).
  expect(config.accounts).toHaveLength(options.accounts);
  expect(config.listenAddress.port).toBe(DEFAULT_LISTEN_PORT);
  expect(exporter.ports).toEqual([`127.0.0.1:${DEFAULT_LISTEN_PORT}:${DEFAULT_LISTEN_PORT}`]);
  expect(exporter.depends_on).toEqual({ simulator: { condition: 'service_healthy' } });
});

test('every bind-mounted path exists in the repository', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const [source] of binds(s))
      expect([name, source, exists(source)]).toEqual([name, source, true]);
  }
  for (const [name, secret] of Object.entries(compose.secrets)) {
    expect([name, exists(secret.file)]).toEqual([name, true]);
  }
  for (const volume of [...Object.values(services).flatMap((s) => s.volumes ?? [])]) {
    const source = volume.split(':')[0]!;
    if (!source.startsWith('./')) expect(Object.keys(compose.volumes ?? {})).toContain(source);
  }
});

test('Prometheus scrapes the exporter service with the shipped rules', () => {
  const prometheus = service('prometheus');
  const configFile = hostPath(prometheus, '/etc/prometheus/prometheus.yml');
  expect(configFile).toBeDefined();
  const config = loadYaml<{
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  }>(configFile!);
  const job = config.scrape_configs.find((c) => c.job_name === 'thingspace-fota');
  expect(job?.static_configs).toEqual([{ targets: [`exporter:${DEFAULT_LISTEN_PORT}`] }]);
  // The rules the alerts name this job in.
  expect(readFileSync(repoPath('prometheus/rules/thingspace-fota.rules.yml'), 'utf8')).toContain(
    'job="thingspace-fota"',
  );
  // Every rule_files entry resolves (relative to the config's directory in the container) to
  // prometheus/rules/, and together they load every shipped rules file.
  const loaded = new Set<string>();
  for (const pattern of config.rule_files) {
    const containerPattern = posix.resolve('/etc/prometheus', pattern);
    const dir = hostPath(prometheus, posix.dirname(containerPattern));
    expect([pattern, dir]).toEqual([pattern, 'prometheus/rules']);
    const glob = new RegExp(
      `^${posix.basename(containerPattern).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`,
    );
    for (const file of readdirSync(repoPath(dir!))) if (glob.test(file)) loaded.add(file);
  }
  const shipped = readdirSync(repoPath('prometheus/rules')).filter((f) => /\.ya?ml$/.test(f));
  expect([...loaded].sort()).toEqual(shipped.sort());
});

test('promtool accepts the compose Prometheus config with the rules where the container has them', () => {
  const binary = promtool();
  if (!binary) return;
  const prometheus = service('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'fota-compose-prom-'));
  try {
    // The container's /etc/prometheus, laid out from the bind mounts.
    for (const [source, target] of binds(prometheus)) {
      if (!target.startsWith('/etc/prometheus')) continue;
      const to = join(dir, target.slice('/etc/prometheus'.length));
      mkdirSync(join(to, statSync(repoPath(source)).isDirectory() ? '.' : '..'), {
        recursive: true,
      });
      cpSync(repoPath(source), to, { recursive: true });
    }
    const result = runTool(binary, ['check', 'config', 'prometheus.yml'], dir);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Grafana gets the provisioning and the dashboards where the provisioning files look', () => {
  const grafana = service('grafana');
  expect(hostPath(grafana, '/etc/grafana/provisioning')).toBe('grafana/provisioning');
  // Each dashboard provider's path is a mounted directory of dashboards.
  const providersDir = 'grafana/provisioning/dashboards';
  const providerFiles = readdirSync(repoPath(providersDir)).filter((f) => /\.ya?ml$/.test(f));
  expect(providerFiles.length).toBeGreaterThan(0);
  for (const file of providerFiles) {
    const { providers } = loadYaml<{ providers: { options: { path: string } }[] }>(
      `${providersDir}/${file}`,
    );
    for (const provider of providers) {
      const dir = hostPath(grafana, provider.options.path);
      expect([file, dir]).toEqual([file, 'grafana/dashboards']);
      expect(readdirSync(repoPath(dir!)).filter((f) => f.endsWith('.json')).length).toBeGreaterThan(
        0,
      );
    }
  }
  // Each data source URL names a compose service and the port it serves on.
  const sourcesDir = 'grafana/provisioning/datasources';
  for (const file of readdirSync(repoPath(sourcesDir)).filter((f) => /\.ya?ml$/.test(f))) {
    const { datasources } = loadYaml<{ datasources: { type: string; url: string }[] }>(
      `${sourcesDir}/${file}`,
    );
    for (const source of datasources) {
      const url = new URL(source.url);
      expect(Object.keys(services)).toContain(url.hostname);
      expect(service(url.hostname).ports).toContain(`127.0.0.1:${url.port}:${url.port}`);
    }
  }
  const home = env(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  expect(home).toBeDefined();
  const homeFile = hostPath(grafana, home!);
  expect(homeFile !== undefined && exists(homeFile)).toBe(true);
});

test('docker-compose.thingspace.yml turns the stack to real ThingSpace, credentials as files', () => {
  expect(Object.keys(override.services).sort()).toEqual(['exporter', 'simulator']);
  expect(override.services.simulator!.profiles?.length).toBeGreaterThan(0);
  const vars = env(override.services.exporter!);
  for (const name of Object.keys(vars))
    expect([name, EXPORTER_ENV.has(name)]).toEqual([name, true]);
  expect(vars.THINGSPACE_BASE_URL).toBe(SETTINGS.baseUrl.default);
  expect(vars.THINGSPACE_ALLOW_INSECURE_HTTP).toBe('false');
  expect(vars.THINGSPACE_ACCOUNTS).toMatch(/^\$\{THINGSPACE_ACCOUNTS:\?/);
  expect(vars.COLLECTOR_INTERVAL).toBe(SETTINGS.interval.default);
  // Every secret the exporter uses comes from THINGSPACE_SECRETS_DIR instead of the demo files.
  expect(Object.keys(override.secrets).sort()).toEqual(Object.keys(compose.secrets).sort());
  for (const secret of Object.values(override.secrets)) {
    expect(secret.file).toMatch(/^\$\{THINGSPACE_SECRETS_DIR:\?[^}]*\}\/\w+$/);
  }
  // The override's depends_on is `!reset {}`: the exporter no longer waits for the simulator.
  expect(readFileSync(repoPath('docker-compose.thingspace.yml'), 'utf8')).toMatch(
    /^ {4}depends_on: !reset \{\}$/m,
  );
  // The demo secret files are what the simulator accepts, not real credentials.
  for (const secret of Object.values(compose.secrets)) {
    expect(secret.file.startsWith('./deploy/compose/demo-secrets/')).toBe(true);
  }
});

test('docker compose accepts the stack (docker-compose config)', () => {
  // Debian 12 ships docker-compose 1.29, which predates the top-level `name` (Compose v2 reads it);
  // everything else in the file is checked by it, with the name given as the project name instead.
  const binary = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((b) =>
    existsSync(b),
  );
  if (!binary) {
    if (process.env.CI === 'true') throw new Error('docker-compose is required in CI');
    console.warn(
      'SKIPPED: docker-compose not found; install it with `apt-get install docker-compose`',
    );
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fota-compose-'));
  try {
    const text = readFileSync(repoPath('docker-compose.yml'), 'utf8');
    const name = /^name: (\S+)$/m.exec(text)?.[1];
    expect(name).toBe('thingspace-fota');
    writeFileSync(join(dir, 'docker-compose.yml'), text.replace(/^name: \S+\n/m, ''));
    const result = runTool(
      binary,
      [
        '-f',
        join(dir, 'docker-compose.yml'),
        '--project-directory',
        repoPath('.'),
        '-p',
        name!,
        'config',
        '-q',
      ],
      repoPath('.'),
    );
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
