/** The README's tables are generated from the code; this fails when they drift (fix: `npm run docs`). */
import { readFileSync } from 'node:fs';
import { renderConfigTable } from '../../src/config/usage.js';
import { renderMetricsTable } from '../../src/metrics/docs.js';
import { ROOT } from '../support/process.js';

const readme = readFileSync(`${ROOT}README.md`, 'utf8');

test('the configuration table matches the settings', () => {
  expect(readme).toContain(
    `<!-- config-table:start -->\n${renderConfigTable()}\n<!-- config-table:end -->`,
  );
});

test('the metrics table matches the metric definitions', () => {
  expect(readme).toContain(
    `<!-- metrics-table:start -->\n${renderMetricsTable()}\n<!-- metrics-table:end -->`,
  );
});

test('the quick start is the two commands CI and users rely on', () => {
  const blocks = [
    ...readme
      .split('## Quick start')[1]!
      .split('\n## ')[0]!
      .matchAll(/```sh\n([\s\S]*?)```/g),
  ].map((m) => m[1]!.trim());
  expect(blocks).toEqual(['npm ci && npm run demo', 'npm ci && npm test']);
});
