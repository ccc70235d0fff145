// @ts-check
/**
 * Run as `node --expose-gc bench/lib/arrivals-heap.mjs <entries>` by figure 8 (lib/arrivals.mjs): fills the
 * exporter's ArrivalJournal past its cap with entries made by the exporter's own code from realistic v1
 * upgrades, and prints the memory it holds per kept entry as JSON: the V8 heap (the shared texts) plus the
 * array buffers outside it (the entries' columns and id bytes).
 */
import { upgradeArrivals } from '../../dist/arrivals/details.js';
import { ArrivalJournal } from '../../dist/arrivals/journal.js';
import { ReasonLabels } from '../../dist/labels/normalise.js';
import { FIRMWARES, failureReason } from '../../dist/simulator/catalog.js';
import { hashInts } from '../../dist/simulator/random.js';

const gc = /** @type {() => void} */ (globalThis.gc);
if (!gc) throw new Error('run with --expose-gc');
const entries = Number(process.argv[2] ?? 100_000);
const DEVICES_PER_UPGRADE = 25;

const settle = () => {
  for (let i = 0; i < 3; i++) gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return { heapUsed, arrayBuffers };
};

const journal = new ArrivalJournal({ retentionMs: 86_400_000, maxEntries: entries, now: Date.now });
const reasons = new ReasonLabels();
const before = settle();
let device = 0;
// 10% more than the cap: the journal is full and has dropped its oldest, as in a long run.
const upgrades = Math.ceil((entries * 1.1) / DEVICES_PER_UPGRADE);
for (let u = 0; u < upgrades; u++) {
  const firmware = FIRMWARES[u % FIRMWARES.length];
  const deviceList = Array.from({ length: DEVICES_PER_UPGRADE }, () => {
    device++;
    return {
      // Built per device as a page's JSON.parse would, not shared with anything else.
      deviceId: JSON.parse(`"${900000000000000 + device}"`),
      status: 'UpgradeFailed',
      resultReason: JSON.parse(JSON.stringify(failureReason(hashInts(7, u, device)))),
    };
  });
  const upgrade = {
    id: JSON.parse(`"${crypto.randomUUID()}"`),
    firmwareTo: firmware?.to,
    deviceList,
  };
  journal.add(upgradeArrivals(reasons, '0242078689-00001', 'UpgradeFailed', upgrade, Date.now()));
  if (u % 100 === 99) journal.publish();
}
journal.publish();
const after = settle();
const heapBytes = after.heapUsed - before.heapUsed;
const offHeapBytes = after.arrayBuffers - before.arrayBuffers;
process.stdout.write(
  `${JSON.stringify({ kept: journal.size, heapBytes, offHeapBytes, bytesPerEntry: (heapBytes + offHeapBytes) / journal.size })}\n`,
);
