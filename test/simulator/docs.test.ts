import { readFile } from 'node:fs/promises';
import { ALL_FLAGS } from '../../src/simulator/options.js';

/** Cells of a Markdown table row; `\|` inside a cell is not a separator. */
function cells(row: string): string[] {
  return row
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

describe('docs/simulator.md', () => {
  test('documents every flag in a table row with its current default', async () => {
    const doc = await readFile('docs/simulator.md', 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => line.startsWith('| `--'))
      .map(cells);
    const documented = rows.map((row) => /^`(--[a-z0-9-]+)/.exec(row[0] ?? '')?.[1]);
    expect(documented.filter((flag) => flag !== '--help')).toEqual(
      ALL_FLAGS.map((spec) => spec.flag),
    );
    for (const spec of ALL_FLAGS) {
      const row = rows.find((r) => /^`(--[a-z0-9-]+)/.exec(r[0] ?? '')?.[1] === spec.flag) ?? [];
      const usage = spec.value === null ? spec.flag : `${spec.flag} ${spec.value}`;
      expect(row[0]).toBe(`\`${usage}\``);
      expect(row[1]).toBe(`\`${spec.show(spec.default)}\``);
      expect(row[2]).toBe(spec.description);
      if (spec.json !== undefined) expect(row[3]).toBe(`\`${spec.key}\``);
    }
  });
});
