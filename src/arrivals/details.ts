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
import type { Kept, Origin, Texts } from './journal.js';

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
  texts: Texts,
  reasons: ReasonLabels,
  account: string,
  status: UpgradeStatus,
  upgrade: Upgrade,
  nowMs: number,
  limit = Infinity,
): Kept[] {
  const origin: Origin = {
    account: texts.of(account)!,
    api: 'v1',
    upgradeId: texts.of(upgrade.id),
    campaignId: null,
    campaignName: null,
    firmwareFrom: null,
    firmwareTo: texts.of(upgrade.firmwareTo),
    firstSeenMs: nowMs,
  };
  const entered = texts.of(status)!;
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
      deviceId: texts.unique(
        typeof device.deviceId === 'string' || typeof device.deviceId === 'number'
          ? device.deviceId
          : null,
      ),
      deviceStatus: texts.of(device.status),
      resultReason: texts.of(device.resultReason),
      reasonLabel: texts.of(reasons.of(device.resultReason)),
    });
  }
  return kept;
}

/** The entries of the campaign devices a pass counted, one Origin per campaign. */
export function campaignArrivals(
  texts: Texts,
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
        account: texts.of(account)!,
        api,
        upgradeId: null,
        campaignId: texts.of(campaign.id),
        campaignName: texts.of(campaign.name),
        firmwareFrom: texts.of(campaign.firmwareFrom),
        firmwareTo: texts.of(campaign.firmwareTo),
        firstSeenMs: nowMs,
      };
      origins.set(campaign, origin);
    }
    return {
      origin,
      // The label the campaign memory counted the device under ("unknown" for none, "other" past the bound
      // on unknown statuses), so that entries and the counter agree status for status.
      status: texts.of(statuses[i]!)!,
      deviceId: texts.unique(device.deviceId),
      deviceStatus: texts.of(device.status),
      resultReason: texts.of(device.resultReason),
      reasonLabel: texts.of(reasons.of(device.resultReason)),
    };
  });
}
