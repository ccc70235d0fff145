/** The Overview row: the state of the fleet and of the exporter at a glance. */
import { FAILURE_RATIO_ALERT, IN_PROGRESS_STUCK_SECONDS, QUEUED_STUCK_SECONDS } from '../alerts.js';
import { q, statPanel, steps, valueMap, type Section } from '../panels.js';
import { campaign, exporter, fleet, spikingAccounts } from '../queries.js';

export const stuckThresholds = steps(
  'green',
  [QUEUED_STUCK_SECONDS, 'orange'],
  [IN_PROGRESS_STUCK_SECONDS, 'red'],
);

export const oldestAge = (aggregate: boolean): string => {
  const age = `time() - ${fleet('thingspace_fota_upgrade_oldest_start_timestamp_seconds', 'status=~"InProgress|Queued"')}`;
  return aggregate ? `max by (status) (${age})` : age;
};

const failureRatioNow =
  `sum(${fleet('thingspace_fota:upgrades:sum', 'status="UpgradeFailed"')})\n/\n` +
  `sum(${fleet('thingspace_fota:upgrades:sum', 'status=~"UpgradeFailed|Finished"')})`;

const failingCollections =
  `count(\n  ${fleet('thingspace_fota_collection_success')} == 0\n  or\n  ` +
  `${campaign('thingspace_fota_campaign_collection_success')} == 0\n) or vector(0)`;

export const overview: Section = {
  title: 'Overview',
  cells: [
    statPanel({
      title: 'Upgrades by status',
      description:
        'How many FOTA v1 upgrades the ThingSpace report lists in each status now, for the selected accounts. Finished and UpgradeFailed hold six months of history.',
      unit: 'short',
      queries: [
        q(`sum by (status) (${fleet('thingspace_fota:upgrades:sum')})`, '{{status}}', {
          instant: true,
        }),
      ],
      thresholds: steps('blue'),
      w: 9,
      h: 5,
    }),
    statPanel({
      title: 'Accounts in a failure spike',
      description:
        'Accounts whose new failures of the last hour reach their spike threshold now: upgrades or device entries entering UpgradeFailed (FOTA v1), or campaign devices entering a failed or rejected status (v2/v3). The same comparisons as ThingSpaceFotaUpgradeFailedSpike, ThingSpaceFotaUpgradeFailedDevicesSpike and ThingSpaceFotaCampaignDeviceFailureSpike, which fire once it has lasted for their `for:` duration.',
      unit: 'short',
      queries: [q(spikingAccounts, 'accounts', { instant: true })],
      thresholds: steps('green', [1, 'red']),
      w: 3,
      h: 5,
    }),
    statPanel({
      title: 'Failure ratio (six months)',
      description:
        'UpgradeFailed / (UpgradeFailed + Finished) over the six months of FOTA v1 report history of the selected accounts. ThingSpaceFotaHighFailureRatio fires above 20% for an account.',
      unit: 'percentunit',
      decimals: 1,
      queries: [q(failureRatioNow, 'failure ratio', { instant: true })],
      thresholds: steps('green', [FAILURE_RATIO_ALERT / 2, 'orange'], [FAILURE_RATIO_ALERT, 'red']),
      w: 3,
      h: 5,
    }),
    statPanel({
      title: 'Oldest InProgress / Queued upgrade',
      description:
        'How long ago the oldest FOTA v1 upgrade still InProgress started, and the oldest still Queued was due to start (negative: scheduled in the future). Alerts: Queued after 1 day, InProgress after 3 days.',
      unit: 's',
      queries: [q(oldestAge(true), '{{status}}', { instant: true })],
      thresholds: stuckThresholds,
      w: 3,
      h: 5,
    }),
    statPanel({
      title: 'Failing collections',
      description:
        'Collections whose last pass failed: FOTA v1 reports (one per account and status) and campaign stages (listing and device walk, per account and API). The exporter serves their last good values for --collector.max-stale (3 collection intervals by default), then drops them.',
      unit: 'short',
      queries: [q(failingCollections, 'failing', { instant: true })],
      thresholds: steps('green', [1, 'red']),
      w: 3,
      h: 5,
    }),
    statPanel({
      title: 'Login blocked',
      description:
        'Whether the exporter stopped logging in to ThingSpace after repeated failed logins (rejected, or sent without an answer that ThingSpace may have counted), to keep the user from being locked (ThingSpace locks it at five failed logins). Nothing is collected while blocked.',
      unit: 'none',
      queries: [
        q(`max(${exporter('thingspace_fota_login_blocked')})`, 'blocked', { instant: true }),
      ],
      mappings: valueMap([
        [0, 'no', 'green'],
        [1, 'BLOCKED', 'red'],
      ]),
      thresholds: steps('green', [1, 'red']),
      w: 3,
      h: 5,
    }),
  ],
};
