/** FOTA v1 (OMA-DM devices): failure spikes, the upgrade lifecycle and the device entries. */
import { FAILURE_RATIO_ALERT, runbook } from '../alerts.js';
import { q, steps, tablePanel, timeseriesPanel, type Section } from '../panels.js';
import {
  DEVICES_INCREASE,
  DEVICES_THRESHOLD,
  UPGRADES_INCREASE,
  UPGRADES_THRESHOLD,
  failedDevicesNewByFirmwareAndReason,
  fleet,
} from '../queries.js';
import { oldestAge, stuckThresholds } from './overview.js';

const BREAKDOWN_ROWS = 20;

/** From a spike panel's series to the failures behind it, on the exporter's /arrivals page. */
const V1_FAILED_ARRIVALS = {
  title: 'Failed upgrades and devices of ${__field.labels.account} (/arrivals)',
  query: 'account=${__field.labels.account:percentencode}&api=v1&status=UpgradeFailed',
};

export const failedUpgrades: Section = {
  title: 'Failed upgrades',
  cells: [
    timeseriesPanel({
      title: 'Failed upgrades: new in the last hour vs spike threshold',
      description:
        "Solid: upgrades of each account that entered UpgradeFailed in the last hour, counted once by the exporter when their id first appears in that report (increase of thingspace_fota_upgrades_entered_total over 1h, recorded as thingspace_fota:upgrades_entered:increase1h); upgrades ageing out of the six-month report do not hide them, and a restart or a short report adds none. Dashed red: the alert's own threshold (thingspace_fota:upgrades_entered:spike_threshold1h): 3 times the previous day's average hourly arrivals, scaled to the hours of ThingSpace time the last hour covered (a collection gap's backlog is compared with a gap's worth of baseline), and at least 5; only the minimum while there is no baseline yet. ThingSpaceFotaUpgradeFailedSpike fires when the solid line stays at or above the dashed one.",
      unit: 'short',
      min: 0,
      queries: [
        q(fleet(UPGRADES_INCREASE, 'status="UpgradeFailed"'), '{{account}} new failed upgrades'),
        q(fleet(UPGRADES_THRESHOLD), '{{account}} spike threshold'),
      ],
      thresholdSeries: ['B'],
      links: [runbook('ThingSpaceFotaUpgradeFailedSpike')],
      arrivals: [V1_FAILED_ARRIVALS],
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Failed devices: new in the last hour vs spike threshold',
      description:
        "Solid: device entries of the upgrades that entered UpgradeFailed in the last hour, counted with their upgrade (increase of thingspace_fota_upgrade_devices_entered_total over 1h, recorded as thingspace_fota:upgrade_devices_entered:increase1h): one big campaign failing at once. Dashed red: the alert's own threshold (thingspace_fota:upgrade_devices_entered:spike_threshold1h): 3 times the previous day's average hourly arrivals, scaled to the hours the last hour covered, and at least 50. ThingSpaceFotaUpgradeFailedDevicesSpike compares these two lines.",
      unit: 'short',
      min: 0,
      queries: [
        q(fleet(DEVICES_INCREASE, 'status="UpgradeFailed"'), '{{account}} new failed devices'),
        q(fleet(DEVICES_THRESHOLD), '{{account}} spike threshold'),
      ],
      thresholdSeries: ['B'],
      links: [runbook('ThingSpaceFotaUpgradeFailedDevicesSpike')],
      arrivals: [V1_FAILED_ARRIVALS],
      w: 12,
      h: 8,
    }),
    tablePanel({
      title: "Last hour's failed devices by firmware and reason",
      description: `Which target firmware (firmware_to) and result reasons make up the last hour's failures: for each, how many more device entries of UpgradeFailed upgrades the report holds than an hour ago (a firmware and reason new in the last hour counts in full), summed over the selected accounts; the ${BREAKDOWN_ROWS} largest. This is a difference of gauges, net of failed upgrades ageing out of the six-month report meanwhile, so it can show less than the spike panels; the spike alerts count arrivals with the exporter's counters, which have no firmware or reason label. Empty until Prometheus has an hour of history.`,
      unit: 'short',
      queries: [
        q(failedDevicesNewByFirmwareAndReason(BREAKDOWN_ROWS), '', { instant: true, table: true }),
      ],
      rename: {
        firmware_to: 'Target firmware',
        result_reason: 'Result reason',
        Value: 'New failed devices (1h, net)',
      },
      hide: ['Time'],
      sortBy: 'New failed devices (1h, net)',
      arrivals: [
        {
          title: 'Failed devices of this firmware and reason (/arrivals)',
          query:
            'api=v1&status=UpgradeFailed&firmware_to=${__data.fields.firmware_to:percentencode}&reason=${__data.fields.result_reason:percentencode}',
        },
      ],
      w: 12,
      h: 8,
    }),
    tablePanel({
      title: 'Failures by target firmware',
      description:
        'Upgrades in UpgradeFailed, and their device entries, by the firmware they were to install (firmware_to; "other" beyond the --collector.max-label-values firmware versions with the most devices). Which firmware fails, over the six months of history?',
      unit: 'short',
      queries: [
        q(
          `sum by (firmware_to) (${fleet('thingspace_fota_upgrades', 'status="UpgradeFailed"')}) > 0`,
          '',
          { instant: true, table: true },
        ),
        q(
          `sum by (firmware_to) (${fleet('thingspace_fota_upgrade_devices', 'status="UpgradeFailed"')}) > 0`,
          '',
          { instant: true, table: true },
        ),
      ],
      rename: {
        firmware_to: 'Target firmware',
        'Value #A': 'Failed upgrades',
        'Value #B': 'Failed devices',
      },
      hide: ['Time'],
      sortBy: 'Failed upgrades',
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Failure ratio by account',
      description:
        'UpgradeFailed / (UpgradeFailed + Finished) per account over its six months of report history (recorded only while both reports are read). It moves slowly; the dashed line is the 20% of ThingSpaceFotaHighFailureRatio.',
      unit: 'percentunit',
      min: 0,
      queries: [q(fleet('thingspace_fota:upgrades:failure_ratio'), '{{account}}')],
      thresholds: steps('green', [FAILURE_RATIO_ALERT, 'red']),
      thresholdLines: true,
      links: [runbook('ThingSpaceFotaHighFailureRatio')],
      w: 24,
      h: 7,
    }),
  ],
};

export const backlog: Section = {
  title: 'Upgrades and backlog',
  cells: [
    timeseriesPanel({
      title: 'Upgrades by status over time',
      description:
        'Upgrades the report lists in each status, for the selected accounts. Finished and UpgradeFailed hold six months of history, so they also go down as old upgrades age out.',
      unit: 'short',
      min: 0,
      queries: [q(`sum by (status) (${fleet('thingspace_fota:upgrades:sum')})`, '{{status}}')],
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Upgrades entering each status in the last hour',
      description:
        "Upgrades that reached each status in the last hour, counted once by the exporter when their id first appears in that status's report (thingspace_fota:upgrades_entered:increase1h). Not a difference of counts: upgrades leaving or ageing out do not cancel them. The UpgradeFailed line is what the spike alert watches. The exporter's first pass after a start only learns what is there, so a restart adds nothing.",
      unit: 'short',
      min: 0,
      queries: [q(`sum by (status) (${fleet(UPGRADES_INCREASE)})`, '{{status}}')],
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Backlog: pending, queued and in-progress upgrades',
      description:
        'Upgrades not concluded yet: RequestPending, Queued and InProgress. A queue that grows while InProgress stays flat means upgrades do not start.',
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (status) (${fleet('thingspace_fota:upgrades:sum', 'status=~"RequestPending|Queued|InProgress"')})`,
          '{{status}}',
        ),
      ],
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Age of the oldest InProgress / Queued upgrade',
      description:
        'Per account: how long ago the oldest InProgress upgrade started and the oldest Queued one was due to start. Dashed lines: 1 day (ThingSpaceFotaUpgradeStuckQueued) and 3 days (ThingSpaceFotaUpgradeStuckInProgress).',
      unit: 's',
      queries: [q(oldestAge(false), '{{account}} {{status}}')],
      thresholds: stuckThresholds,
      thresholdLines: true,
      w: 12,
      h: 8,
    }),
  ],
};

export const devices: Section = {
  title: 'Devices',
  cells: [
    timeseriesPanel({
      title: 'Device entries by device status',
      description:
        "Device entries of all the FOTA v1 upgrades in the report, by the device's own status (Device Accepted, Request Pending, UpgradeSuccess, UpgradeFailed, ...), which can differ from its upgrade's status.",
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (device_status) (${fleet('thingspace_fota_upgrade_devices')})`,
          '{{device_status}}',
        ),
      ],
      w: 12,
      h: 9,
    }),
    tablePanel({
      title: 'Top device failure reasons',
      description:
        'The ten most frequent result reasons of failed FOTA v1 devices: device entries of RequestFailed and UpgradeFailed upgrades, and devices reporting a failure status in any upgrade. Reasons are normalised (dates, times, numbers and device ids replaced by <date>, <time>, <n>, <id>). "none": the device gave no reason; "other": beyond the --collector.max-label-values reasons with the most devices.',
      unit: 'short',
      queries: [
        q(
          `topk(10,\n` +
            `  sum by (status, device_status, result_reason) (${fleet('thingspace_fota_upgrade_devices', 'status=~"UpgradeFailed|RequestFailed"')})\n` +
            `  or\n` +
            `  sum by (status, device_status, result_reason) (${fleet('thingspace_fota_upgrade_devices', 'device_status=~"(?i).*fail.*"')})\n` +
            `)`,
          '',
          { instant: true, table: true },
        ),
      ],
      rename: {
        status: 'Upgrade status',
        device_status: 'Device status',
        result_reason: 'Result reason',
        Value: 'Devices',
      },
      hide: ['Time'],
      sortBy: 'Devices',
      w: 12,
      h: 9,
    }),
  ],
};
