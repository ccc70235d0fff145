import { describeSetting } from './parse.js';
import { SETTINGS, type SettingSpec } from './settings.js';

const SPECS = Object.values(SETTINGS) as SettingSpec<unknown>[];

export function renderHelp(name: string, version: string): string {
  const lines = [
    `${name} ${version}: a Prometheus exporter for ThingSpace FOTA upgrade reports.`,
    '',
    `Usage: ${name} [flags]    (every flag can also be set by its environment variable; a flag wins)`,
    '',
  ];
  for (const spec of SPECS) {
    const def = spec.default === undefined ? 'required' : `default "${spec.default}"`;
    lines.push(`  ${describeSetting(spec)}  [${def}]`, `      ${spec.meaning}`);
  }
  lines.push('  --help      Show this help and exit.', '  --version   Show the version and exit.');
  return lines.join('\n') + '\n';
}

/** The README's configuration table; a test keeps the README in sync with it. */
export function renderConfigTable(): string {
  const rows = ['| flag | environment | default | meaning |', '|---|---|---|---|'];
  for (const spec of SPECS) {
    const env = spec.secret ? `\`${spec.env}\` or \`${spec.env}_FILE\`` : `\`${spec.env}\``;
    const def =
      spec.default === undefined
        ? 'required'
        : spec.default === ''
          ? '(empty)'
          : `\`${spec.default}\``;
    rows.push(`| ${spec.flag ? `\`${spec.flag}\`` : '—'} | ${env} | ${def} | ${spec.meaning} |`);
  }
  return rows.join('\n');
}
