import { METRIC_DEFINITIONS } from './definitions.js';

/** The README's metrics table; a test keeps the README in sync with METRIC_DEFINITIONS. */
export function renderMetricsTable(): string {
  const rows = ['| metric | type | labels | meaning |', '|---|---|---|---|'];
  for (const def of METRIC_DEFINITIONS) {
    const labels = def.labels.length ? def.labels.join(', ') : '—';
    rows.push(`| \`${def.name}\` | ${def.type} | ${labels} | ${def.help.replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n');
}
