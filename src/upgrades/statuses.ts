/**
 * The upgrade statuses of the FOTA v1 reports endpoint, in lifecycle order.
 * This list is the single source: the collector, the metrics, the simulator and the docs derive from it.
 */
export const UPGRADE_STATUSES = [
  'RequestPending',
  'Queued',
  'RequestFailed',
  'InProgress',
  'Finished',
  'UpgradeFailed',
] as const;

export type UpgradeStatus = (typeof UPGRADE_STATUSES)[number];

export function isUpgradeStatus(value: string): value is UpgradeStatus {
  return (UPGRADE_STATUSES as readonly string[]).includes(value);
}
