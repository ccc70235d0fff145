/**
 * The /arrivals page in a real browser (Debian's chromium-headless-shell, as installed by .ci/run):
 * loaded from a running exporter, a filter submitted through its form, the rendered table read back:
 * the counts by account, firmware and reason, the device rows, and a reason holding <script> shown as
 * text and never run.
 */
import { jest } from '@jest/globals';
import { startExporter, type Harness } from '../support/exporter-harness.js';
import {
  startFakeThingSpace,
  type FakeOptions,
  type FakeThingSpace,
  type FakeUpgrade,
} from '../support/fake-thingspace.js';
import { launchChromium, type Browser } from '../support/chromium.js';

jest.setTimeout(90_000);

const A = '0000000001';
const B = '0000000002';
const SCRIPT = `<script>window.__ran = 1; document.title = 'RAN'</script> Device not found`;

function upgrade(
  account: string,
  id: string,
  firmwareTo: string,
  devices: [string, string][],
): FakeUpgrade {
  return {
    id,
    accountName: account,
    firmwareName: 'FOTA_Model-A',
    firmwareTo,
    startDate: '2026-01-02T03:04:05.000Z',
    status: 'UpgradeFailed',
    deviceList: devices.map(([deviceId, resultReason]) => ({
      deviceId,
      status: 'UpgradeFailed',
      resultReason,
    })),
  };
}

let fake: FakeThingSpace | undefined;
let harness: Harness | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await harness?.close();
  await fake?.close();
});

interface Rendered {
  search: string;
  title: string;
  ran: unknown;
  scripts: number;
  summary: string;
  groups: Record<string, [string, string][]>;
  rows: string[][];
}

const READ = `(() => ({
  search: location.search,
  title: document.title,
  ran: window.__ran ?? null,
  scripts: document.querySelectorAll('script').length,
  summary: document.querySelector('#summary').textContent,
  groups: Object.fromEntries([...document.querySelectorAll('table.group')].map((t) => [
    t.dataset.group,
    [...t.querySelectorAll('tr')].slice(1).map((r) => [...r.cells].map((c) => c.textContent)),
  ])),
  rows: [...document.querySelectorAll('#arrivals tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
}))()`;

test('the page lists, groups and filters arrivals, and shows a <script> reason as text', async () => {
  const data: FakeOptions['data'] = {
    [A]: { UpgradeFailed: [upgrade(A, 'old-a', 'FW-1', [['900000000000001', 'Old failure']])] },
    [B]: { UpgradeFailed: [] },
  };
  fake = await startFakeThingSpace({ data });
  harness = await startExporter(fake.url, [A, B], ['--collector.interval=1h']);
  await harness.exporter.collectOnce(); // learns what is there: nothing to list
  data[A]!.UpgradeFailed!.push(
    upgrade(A, 'new-a1', 'FW-X', [
      ['900000000000011', 'Device not found'],
      ['900000000000012', 'Device not found'],
    ]),
    upgrade(A, 'new-a2', 'FW-Y', [
      ['900000000000021', SCRIPT],
      ['900000000000022', 'Device not found'],
    ]),
  );
  data[B]!.UpgradeFailed!.push(
    upgrade(B, 'new-b1', 'FW-X', [['900000000000031', 'Invalid device IMEI']]),
  );
  await harness.exporter.collectOnce();

  browser = await launchChromium();
  const tab = await browser.open();
  await tab.goto(`${harness.url}/arrivals`);
  const all = await tab.evaluate<Rendered>(READ);
  expect(all.summary).toMatch(/^5 arrivals match/);
  expect(all.groups.account).toEqual([
    [A, '4'],
    [B, '1'],
  ]);
  expect(all.rows).toHaveLength(5);

  // Submit a filter through the form: account A, status UpgradeFailed.
  await tab.navigateBy(`(() => {
    document.querySelector('input[name=account]').value = ${JSON.stringify(A)};
    document.querySelector('input[name=status][value=UpgradeFailed]').checked = true;
    document.querySelector('form button[type=submit]').click();
  })()`);
  const page = await tab.evaluate<Rendered>(READ);
  const params = new URLSearchParams(page.search);
  expect(params.get('account')).toBe(A);
  expect(params.getAll('status')).toEqual(['UpgradeFailed']);
  expect(page.summary).toMatch(/^4 arrivals match/);
  expect(page.groups).toEqual({
    account: [[A, '4']],
    firmware_to: [
      ['FW-X', '2'],
      ['FW-Y', '2'],
    ],
    reason: [
      ['Device not found', '3'],
      // Grouped by the reason label, normalised as the metrics label it; the raw text is in the row.
      [SCRIPT.replace('= 1;', '= <n>;'), '1'],
    ],
  });
  // Rows: first seen, account, api, status, upgrade id, campaign id, campaign, device id, device
  // status, result reason, reason label, firmware from, firmware to.
  const rows = page.rows.map((r) => [r[1], r[2], r[3], r[4], r[7], r[9], r[12]]);
  expect(rows.sort((x, y) => (x[4]! < y[4]! ? -1 : 1))).toEqual([
    [A, 'v1', 'UpgradeFailed', 'new-a1', '900000000000011', 'Device not found', 'FW-X'],
    [A, 'v1', 'UpgradeFailed', 'new-a1', '900000000000012', 'Device not found', 'FW-X'],
    [A, 'v1', 'UpgradeFailed', 'new-a2', '900000000000021', SCRIPT, 'FW-Y'],
    [A, 'v1', 'UpgradeFailed', 'new-a2', '900000000000022', 'Device not found', 'FW-Y'],
  ]);
  // The reason is text on the page: no script element, and nothing it says was run.
  expect(page.scripts).toBe(0);
  expect(page.ran).toBeNull();
  expect(page.title).toBe('Arrivals · ThingSpace FOTA exporter');
});
