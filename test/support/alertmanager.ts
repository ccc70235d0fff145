/**
 * A real Alertmanager for the live test (Debian's prometheus-alertmanager, or upstream's
 * alertmanager binary): clustering off, its own storage, and the shipped example configuration with
 * its receivers pointed at the test's webhook and its waits shortened.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { findOnPath } from '../rules/promtool.js';
import { startService, type Service } from './services.js';

const BINARIES = ['prometheus-alertmanager', 'alertmanager'];
let warned = false;

/**
 * The Alertmanager binary, or undefined after a loud notice outside CI (as requireTool does for
 * Prometheus); in CI (CI=true) a missing binary is an error: .ci/run installs it.
 */
export function findAlertmanager(): string | undefined {
  for (const name of BINARIES) {
    const path = findOnPath(name);
    if (path) return path;
  }
  if (process.env.CI === 'true') {
    throw new Error(
      'prometheus-alertmanager is not on PATH; CI must install it (apt-get install prometheus-alertmanager)',
    );
  }
  if (!warned) {
    warned = true;
    console.warn(
      [
        '',
        '!'.repeat(78),
        '!! SKIPPED: Alertmanager is not installed, so the end-to-end paging tests pass without',
        '!! running. Install it: apt-get install prometheus-alertmanager (Debian/Ubuntu), or put',
        '!! the alertmanager binary from a Prometheus release on PATH. In CI (CI=true) this fails.',
        '!'.repeat(78),
        '',
      ].join('\n'),
    );
  }
  return undefined;
}

interface RouteYaml {
  receiver?: string;
  group_wait?: string;
  group_interval?: string;
  routes?: RouteYaml[];
  [key: string]: unknown;
}

interface ReceiverYaml {
  name: string;
  webhook_configs?: { url?: string; [key: string]: unknown }[];
  [key: string]: unknown;
}

/**
 * The example configuration (deploy/compose/alertmanager.yml) as the test runs it: every webhook
 * receiver posts to `webhookUrl`, and group_wait / group_interval are `wait` wherever they are set,
 * so a notification leaves within seconds instead of 30s. Routing, grouping, repeat intervals and
 * inhibition stay as shipped. A receiver of another kind (e-mail, Slack, ...) cannot reach the test,
 * so it is refused rather than silently dropped.
 */
export function testAlertmanagerConfig(exampleText: string, webhookUrl: string, wait: string) {
  const config = parse(exampleText) as { route: RouteYaml; receivers: ReceiverYaml[] };
  const shorten = (route: RouteYaml) => {
    if (route === config.route || route.group_wait !== undefined) route.group_wait = wait;
    if (route === config.route || route.group_interval !== undefined) route.group_interval = wait;
    for (const child of route.routes ?? []) shorten(child);
  };
  shorten(config.route);
  for (const receiver of config.receivers) {
    const kinds = Object.keys(receiver).filter((k) => k.endsWith('_configs'));
    if (kinds.some((k) => k !== 'webhook_configs') || !receiver.webhook_configs?.length) {
      throw new Error(`receiver ${receiver.name} is not a webhook receiver: ${kinds.join(', ')}`);
    }
    for (const webhook of receiver.webhook_configs) webhook.url = webhookUrl;
  }
  return stringify(config);
}

export async function startAlertmanager(
  bin: string,
  configFile: string,
  workDir: string,
): Promise<Service> {
  return startService('alertmanager', bin, (port) => [
    `--config.file=${configFile}`,
    `--storage.path=${join(workDir, 'alertmanager-data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // An empty address turns clustering (gossip on 0.0.0.0:9094 by default) off.
    '--cluster.listen-address=',
    '--log.level=warn',
  ]);
}

/**
 * Renders `text` with Alertmanager's template engine (`amtool template render`, offline) over the
 * notification data `data` (a webhook payload is that data as JSON), with the definitions in
 * `definitions` loaded as a template file, as `templates:` in alertmanager.yml loads them.
 */
export function renderTemplate(
  amtool: string,
  workDir: string,
  { text, definitions = '', data }: { text: string; definitions?: string; data: string },
): string {
  const templateFile = join(workDir, 'definitions.tmpl');
  const dataFile = join(workDir, 'template-data.json');
  writeFileSync(templateFile, definitions);
  writeFileSync(dataFile, data);
  const result = spawnSync(
    amtool,
    [
      'template',
      'render',
      `--template.glob=${templateFile}`,
      `--template.data=${dataFile}`,
      `--template.text=${text}`,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (result.status !== 0) {
    throw new Error(`amtool template render failed: ${result.stderr}${String(result.error ?? '')}`);
  }
  return result.stdout;
}
