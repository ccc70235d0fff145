/**
 * deploy/kubernetes/ against the code and against itself: every manifest parses, the kustomization
 * lists them, labels and ports line up from Deployment to Service to ServiceMonitor, the environment
 * is one the exporter accepts (through its own parser), secrets arrive as files, the probes and the
 * security context are the ones the issue asks for, and the scrape matches prometheus/prometheus.yml.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { SETTINGS } from '../../src/config/settings.js';
import { readDockerfile } from './dockerfile.js';
import {
  DEFAULT_LISTEN_PORT,
  EXPORTER_ENV,
  exporterConfig,
  loadAllYaml,
  loadYaml,
  repoPath,
} from './helpers.js';

const DIR = 'deploy/kubernetes';

interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  livenessProbe: Probe;
  readinessProbe: Probe;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface Deployment {
  kind: 'Deployment';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    replicas: number;
    strategy: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        automountServiceAccountToken: boolean;
        securityContext: Record<string, unknown>;
        containers: Container[];
        volumes: {
          name: string;
          secret?: {
            secretName: string;
            defaultMode?: number;
            items?: { key: string; path: string }[];
          };
        }[];
      };
    };
  };
}
interface Service {
  metadata: { labels: Record<string, string> };
  spec: {
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string | number }[];
  };
}
interface ServiceMonitor {
  apiVersion: string;
  kind: string;
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints: {
      port: string;
      path: string;
      interval: string;
      scrapeTimeout: string;
      relabelings?: {
        action?: string;
        targetLabel: string;
        replacement: string;
        sourceLabels?: string[];
      }[];
    }[];
  };
}
interface Secret {
  kind: string;
  metadata: { name: string };
  stringData: Record<string, string>;
}

const manifests = readdirSync(repoPath(DIR))
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const deployment = loadYaml<Deployment>(`${DIR}/deployment.yaml`);
const service = loadYaml<Service>(`${DIR}/service.yaml`);
const monitor = loadYaml<ServiceMonitor>(`${DIR}/servicemonitor.yaml`);
const secret = loadYaml<Secret>(`${DIR}/secret.example.yaml`);
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;

function subset(part: Record<string, string>, whole: Record<string, string>): boolean {
  return Object.entries(part).every(([k, v]) => whole[k] === v);
}

test('every manifest parses and the kustomization applies all but the example Secret', () => {
  for (const file of manifests) expect(loadAllYaml(`${DIR}/${file}`).length).toBeGreaterThan(0);
  const kustomization = loadYaml<{ resources: string[]; images: { name: string }[] }>(
    `${DIR}/kustomization.yaml`,
  );
  expect([...kustomization.resources].sort()).toEqual(
    manifests.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml'),
  );
  expect(manifests).toEqual(
    expect.arrayContaining([
      'deployment.yaml',
      'service.yaml',
      'servicemonitor.yaml',
      'prometheusrule.yaml',
    ]),
  );
  // The kustomize image name is the one the Deployment uses.
  expect(kustomization.images.map((i) => i.name)).toContain(container.image.split(':')[0]);
});

test('one replica, no overlap of two pods, a grace period above the exporter’s 5 s', () => {
  expect(deployment.spec.replicas).toBe(1);
  expect(deployment.spec.strategy.type).toBe('Recreate');
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5);
  expect(pod.containers).toHaveLength(1);
  expect(
    subset(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels),
  ).toBe(true);
});

test('ports and probes: /-/healthy for liveness, /-/ready for readiness, on the exporter port', () => {
  expect(container.ports).toEqual([
    expect.objectContaining({ name: 'http-metrics', containerPort: DEFAULT_LISTEN_PORT }),
  ]);
  expect(container.livenessProbe.httpGet).toEqual({ path: '/-/healthy', port: 'http-metrics' });
  expect(container.readinessProbe.httpGet).toEqual({ path: '/-/ready', port: 'http-metrics' });
  const listen = container.env.find((e) => e.name === 'WEB_LISTEN_ADDRESS')?.value;
  expect(listen ?? SETTINGS.listenAddress.default).toBe(`:${DEFAULT_LISTEN_PORT}`);
  expect(container.resources.requests?.cpu).toBeDefined();
  expect(container.resources.requests?.memory).toBeDefined();
  expect(container.resources.limits?.memory).toBeDefined();
});

test('the environment is one the exporter accepts, with the secrets as files from the Secret', () => {
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? '']));
  for (const name of Object.keys(env)) expect([name, EXPORTER_ENV.has(name)]).toEqual([name, true]);
  const mount = container.volumeMounts.find((m) => m.mountPath === '/etc/thingspace');
  expect(mount).toMatchObject({ readOnly: true });
  expect(mount?.subPath).toBeUndefined(); // a subPath mount would not see a rotated Secret
  const volume = pod.volumes.find((v) => v.name === mount?.name);
  expect(volume?.secret?.secretName).toBe(secret.metadata.name);
  expect(volume?.secret?.defaultMode).toBe(0o440);
  // Each *_FILE names a file the Secret volume provides, from a key the example Secret has.
  const files: Record<string, string> = {};
  const items = volume?.secret?.items ?? [];
  for (const spec of Object.values(SETTINGS)) {
    if (!('secret' in spec && spec.secret)) continue;
    expect(env[spec.env]).toBeUndefined();
    const path = env[`${spec.env}_FILE`];
    expect([spec.env, path?.startsWith(`${mount!.mountPath}/`)]).toEqual([spec.env, true]);
    const item = items.find((i) => posix.join(mount!.mountPath, i.path) === path);
    expect([spec.env, item !== undefined && item.key in secret.stringData]).toEqual([
      spec.env,
      true,
    ]);
    files[path!] = `${DIR}/secret.example.yaml`; // any readable, non-empty file will do
  }
  expect(Object.keys(secret.stringData).sort()).toEqual(items.map((i) => i.key).sort());
  const config = exporterConfig(env, files);
  expect(config.baseUrl.protocol).toBe('https:');
  expect(config.allowInsecureHttp).toBe(false);
});

test('the security context: non-root (the image’s uid), read-only root, no capabilities, seccomp', () => {
  const stages = readDockerfile(repoPath('Dockerfile')).stages;
  const user = stages[stages.length - 1]!.instructions.find((i) => i.keyword === 'USER')?.rest;
  const [uid, gid] = (user ?? '').split(':').map(Number);
  expect(pod.automountServiceAccountToken).toBe(false);
  expect(pod.securityContext).toMatchObject({
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid ?? uid,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(container.securityContext).toMatchObject({
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  expect(container.securityContext.capabilities).not.toHaveProperty('add');
});

test('Service and ServiceMonitor reach the pod and scrape it as prometheus/prometheus.yml does', () => {
  const labels = deployment.spec.template.metadata.labels;
  expect(subset(service.spec.selector, labels)).toBe(true);
  // The Service selects by name and component only, so shard Deployments sit behind it too.
  expect(Object.keys(service.spec.selector)).not.toContain('app.kubernetes.io/instance');
  expect(service.spec.ports).toEqual([
    expect.objectContaining({
      name: 'http-metrics',
      port: DEFAULT_LISTEN_PORT,
      targetPort: 'http-metrics',
    }),
  ]);
  expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
  expect(monitor.kind).toBe('ServiceMonitor');
  expect(subset(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
  const [endpoint] = monitor.spec.endpoints;
  expect(endpoint?.port).toBe('http-metrics');
  expect(endpoint?.path).toBe(SETTINGS.telemetryPath.default);
  const example = loadYaml<{
    scrape_configs: { job_name: string; scrape_interval: string; scrape_timeout: string }[];
  }>('prometheus/prometheus.yml');
  const job = example.scrape_configs.find((c) => c.job_name === 'thingspace-fota')!;
  expect(endpoint?.interval).toBe(job.scrape_interval);
  expect(endpoint?.scrapeTimeout).toBe(job.scrape_timeout);
  // The alerts look for job="thingspace-fota".
  expect(endpoint?.relabelings).toContainEqual(
    expect.objectContaining({ targetLabel: 'job', replacement: job.job_name }),
  );
  expect(readFileSync(repoPath('prometheus/rules/thingspace-fota.rules.yml'), 'utf8')).toContain(
    `job="${job.job_name}"`,
  );
});
