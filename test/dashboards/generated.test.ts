/**
 * The committed dashboard is the generator's output (scripts/dashboard/thingspace-fota.ts). Change
 * the generator, then regenerate the file with
 *   UPDATE_DASHBOARD=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/dashboards
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARD_PATH, renderDashboard } from '../../scripts/dashboard/thingspace-fota.js';
import { ROOT } from '../rules/model.js';

const file = join(ROOT, DASHBOARD_PATH);

describe(DASHBOARD_PATH, () => {
  it('is up to date with scripts/dashboard/thingspace-fota.ts', () => {
    const expected = renderDashboard();
    if (process.env.UPDATE_DASHBOARD === '1') {
      writeFileSync(file, expected);
      console.warn(`wrote ${DASHBOARD_PATH}`);
    }
    const committed = readFileSync(file, 'utf8');
    if (committed !== expected) {
      throw new Error(
        `${DASHBOARD_PATH} is out of date: regenerate it with\n` +
          '  UPDATE_DASHBOARD=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/dashboards',
      );
    }
  });
});
