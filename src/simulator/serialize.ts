/**
 * Upgrade JSON as served. Serialising fleets of thousands of devices on every request would make
 * the simulator, not the exporter, the bottleneck of a benchmark, so each upgrade's JSON is kept
 * as bytes until the upgrade changes, within a memory budget. Past the budget nothing is evicted
 * (a sequential walk would evict exactly what it needs next); the rest is serialised per request.
 */
import { forEachDevice, type Dataset, type Upgrade } from './dataset.js';

/** Reason and status texts repeat a lot; their JSON encoding is memoised (the set is bounded). */
const encoded = new Map<string, string>();
const ENCODED_LIMIT = 100_000;

function encode(text: string): string {
  let json = encoded.get(text);
  if (json === undefined) {
    json = JSON.stringify(text);
    if (encoded.size < ENCODED_LIMIT) encoded.set(text, json);
  }
  return json;
}

export function serializeUpgrade(upgrade: Upgrade): string {
  const parts: string[] = [];
  forEachDevice(upgrade, (deviceId, status, reason) => {
    parts.push(
      reason === undefined
        ? `{"deviceId":"${deviceId}","status":${encode(status)}}`
        : `{"deviceId":"${deviceId}","status":${encode(status)},"resultReason":${encode(reason)}}`,
    );
  });
  const firmwareTo =
    upgrade.firmware.to === undefined ? '' : `,"firmwareTo":${encode(upgrade.firmware.to)}`;
  return (
    `{"id":"${upgrade.id}","accountName":${encode(upgrade.accountName)},` +
    `"firmwareName":${encode(upgrade.firmware.name)}${firmwareTo},` +
    `"startDate":"${upgrade.startDate}","status":"${upgrade.status}",` +
    `"deviceList":[${parts.join(',')}]}`
  );
}

interface CacheEntry {
  readonly version: number;
  readonly json: Buffer;
}

export class UpgradeJsonCache {
  private readonly entries = new Map<Upgrade, CacheEntry>();
  private bytes = 0;

  constructor(
    private readonly budgetBytes: number,
    dataset: Dataset,
  ) {
    dataset.onChange((upgrade) => this.forget(upgrade));
  }

  json(upgrade: Upgrade): Buffer {
    const hit = this.entries.get(upgrade);
    if (hit !== undefined && hit.version === upgrade.version) return hit.json;
    if (hit !== undefined) this.forget(upgrade);
    const json = Buffer.from(serializeUpgrade(upgrade));
    if (this.bytes + json.length <= this.budgetBytes) {
      this.entries.set(upgrade, { version: upgrade.version, json });
      this.bytes += json.length;
    }
    return json;
  }

  usage(): { upgrades: number; bytes: number; budgetBytes: number } {
    return { upgrades: this.entries.size, bytes: this.bytes, budgetBytes: this.budgetBytes };
  }

  private forget(upgrade: Upgrade): void {
    const entry = this.entries.get(upgrade);
    if (entry === undefined) return;
    this.entries.delete(upgrade);
    this.bytes -= entry.json.length;
  }
}
