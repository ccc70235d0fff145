/**
 * The journal's entries (journal.ts) made from what a pass read: a v1 upgrade that arrived in its report,
 * or a campaign device that arrived in a status. Only arrivals are turned into entries, so the cost is paid
 * per arrival, not per device read.
 */
import type { ListedCampaign } from '../campaigns/aggregate.js';
import type { CampaignDevice } from '../campaigns/schema.js';
import type { CampaignApi } from '../campaigns/statuses.js';
import type { ReasonLabels } from '../labels/normalise.js';
import type { Upgrade } from '../upgrades/schema.js';
import type { UpgradeStatus } from '../upgrades/statuses.js';
import { keptText, type Kept, type Origin } from './journal.js';

/** A campaign device as read by a walk: the payload a campaign memory hands back for each arrival. */
export interface CampaignArrivalDetail {
  readonly campaign: ListedCampaign;
  readonly device: CampaignDevice;
}

/**
 * The entries of an upgrade that arrived in a v1 report: one per device entry (the first `limit`), one
 * without a device if none.
 */
export function upgradeArrivals(
  reasons: ReasonLabels,
  account: string,
  status: UpgradeStatus,
  upgrade: Upgrade,
  nowMs: number,
  limit = Infinity,
): Kept[] {
  const origin: Origin = {
    account: keptText(account)!,
    api: 'v1',
    upgradeId: keptText(upgrade.id),
    campaignId: null,
    campaignName: null,
    firmwareFrom: null,
    firmwareTo: keptText(upgrade.firmwareTo),
    firstSeenMs: nowMs,
  };
  const entered = keptText(status)!;
  const devices = upgrade.deviceList ?? [];
  if (devices.length === 0) {
    return [
      {
        origin,
        status: entered,
        deviceId: null,
        deviceStatus: null,
        resultReason: null,
        reasonLabel: null,
      },
    ];
  }
  const kept: Kept[] = [];
  for (let i = 0; i < devices.length && i < limit; i++) {
    const device = devices[i]!;
    kept.push({
      origin,
      status: entered,
      // The schema does not check v1 device ids' type: a number is written out, anything else is none.
      deviceId: keptText(
        typeof device.deviceId === 'string' || typeof device.deviceId === 'number'
          ? device.deviceId
          : null,
      ),
      deviceStatus: keptText(device.status),
      resultReason: keptText(device.resultReason),
      reasonLabel: keptText(reasons.of(device.resultReason)),
    });
  }
  return kept;
}

/** The entries of the campaign devices a pass counted, one Origin per campaign. */
export function campaignArrivals(
  reasons: ReasonLabels,
  account: string,
  api: CampaignApi,
  details: readonly CampaignArrivalDetail[],
  /** The device status label each detail was counted under, as the campaign memory returns it. */
  statuses: readonly string[],
  nowMs: number,
): Kept[] {
  const origins = new Map<ListedCampaign, Origin>();
  return details.map(({ campaign, device }, i) => {
    let origin = origins.get(campaign);
    if (!origin) {
      origin = {
        account: keptText(account)!,
        api,
        upgradeId: null,
        campaignId: keptText(campaign.id),
        campaignName: keptText(campaign.name),
        firmwareFrom: keptText(campaign.firmwareFrom),
        firmwareTo: keptText(campaign.firmwareTo),
        firstSeenMs: nowMs,
      };
      origins.set(campaign, origin);
    }
    return {
      origin,
      // The label the campaign memory counted the device under ("unknown" for none, "other" past the bound
      // on unknown statuses), so that entries and the counter agree status for status.
      status: keptText(statuses[i]!)!,
      deviceId: keptText(device.deviceId),
      deviceStatus: keptText(device.status),
      resultReason: keptText(device.resultReason),
      reasonLabel: keptText(reasons.of(device.resultReason)),
    };
  });
}
