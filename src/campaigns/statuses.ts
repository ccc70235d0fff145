/**
 * The campaign-based FOTA APIs and their vocabularies (../shared/api/CAMPAIGNS-NOTES.md).
 * These lists are the single source: the collector, the metrics, the simulator and the docs derive from them.
 * Every list is an open set at ThingSpace: a value not listed here is kept as it comes, never dropped.
 */

/** v2 serves HTTP(S) FOTA devices, v3 LWM2M devices; v1 (OMA-DM) is the upgrade reports of src/upgrades. */
export const CAMPAIGN_APIS = ['v2', 'v3'] as const;
export type CampaignApi = (typeof CAMPAIGN_APIS)[number];

/** Every API the exporter can read, as `--thingspace.apis` names them. */
export const APIS = ['v1', ...CAMPAIGN_APIS] as const;
export type Api = (typeof APIS)[number];

/**
 * The campaign statuses the history endpoint is asked for, one listing each: the SDK's enum (the same list
 * on both DOCS history pages) plus CampaignPreScheduled, which the v3 lifecycle page and an SDK example use.
 */
export const CAMPAIGN_STATUSES = [
  'CampaignRequestPending',
  'CampaignRequestQueued',
  'CampaignPreScheduled',
  'CampaignScheduled',
  'CampaignEnded',
  'CampaignCancelled',
  'CampaignAborted',
  'CampaignFailed',
  'CampaignRequestFailed',
] as const;
export type KnownCampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/**
 * Statuses after which a campaign's devices no longer change: such a campaign is walked only while its
 * endDate is within --collector.campaign-lookback. Any other status, an unknown one included, is walked.
 */
export const FINAL_CAMPAIGN_STATUSES: readonly KnownCampaignStatus[] = [
  'CampaignEnded',
  'CampaignCancelled',
  'CampaignAborted',
  'CampaignFailed',
  'CampaignRequestFailed',
];

export function isFinalCampaignStatus(status: string): boolean {
  return (FINAL_CAMPAIGN_STATUSES as readonly string[]).includes(status);
}

/**
 * Device statuses seen in campaign device lists (DOCS v2 lifecycle page; v3 adds UpgradePending). The
 * entered counter has a series for each from start-up; other values get theirs when first met.
 */
export const CAMPAIGN_DEVICE_STATUSES = [
  'Accepted',
  'UpgradePending',
  'UpgradeSuccess',
  'UpgradeFailed',
  'DeviceRejected',
  'CampaignCancelled',
  'CampaignAborted',
] as const;
