// Rewrites the generated tables in README.md from the compiled config and metric definitions.
// Run through `npm run docs` (which builds first); test/docs/readme.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigTable } from '../dist/config/usage.js';
import { renderMetricsTable } from '../dist/metrics/docs.js';

const file = new URL('../README.md', import.meta.url);
let text = readFileSync(file, 'utf8');
for (const [name, table] of [
  ['config-table', renderConfigTable()],
  ['metrics-table', renderMetricsTable()],
]) {
  const pattern = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!pattern.test(text)) throw new Error(`README.md has no ${name} markers`);
  text = text.replace(pattern, `$1${table}\n$2`);
}
writeFileSync(file, text);
