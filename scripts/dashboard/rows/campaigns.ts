/**
 * FOTA v2 (HTTP devices) and v3 (LWM2M devices): campaigns, their rollout, their failures, and how
 * well the exporter reads them.
 */
import { COLLECTION_LATE_SECONDS, DATA_STALE_SECONDS, runbook } from '../alerts.js';
import {
  barGaugePanel,
  q,
  stateTimelinePanel,
  steps,
  tablePanel,
  timeseriesPanel,
  valueMap,
  type Section,
} from '../panels.js';
import {
  CAMPAIGN_INCREASE,
  CAMPAIGN_THRESHOLD,
  CONCLUDED_DEVICE_STATUSES,
  FAILED_DEVICE_STATUS_REGEX,
  campaign,
  campaignDevicesIn,
  campaignShareIn,
  campaignTotalDevices,
  forActiveCampaigns,
  increase,
  orZero,
} from '../queries.js';

const table = { instant: true, table: true } as const;

const activeCampaignColumns = {
  account: 'Account',
  api: 'API',
  campaign_id: 'Campaign',
  campaign_name: 'Name',
  campaign_status: 'Status',
  firmware_from: 'From firmware',
  firmware_to: 'To firmware',
  'Value #A': 'Devices',
  'Value #B': 'Succeeded',
  'Value #C': 'Failed or rejected',
  'Value #D': 'Progress',
  'Value #E': 'Ends',
};

export const campaigns: Section = {
  title: 'Campaigns (FOTA v2 and v3)',
  cells: [
    tablePanel({
      title: 'Campaigns by status and API',
      description:
        "Campaigns in each account's campaign history by campaign status, one column per API (v2: HTTP devices, v3: LWM2M devices), summed over the selected accounts. Every known status has a row, 0 when no campaign has it; a status ThingSpace adds appears as it comes.",
      unit: 'short',
      queries: [
        q(`sum by (api, campaign_status) (${campaign('thingspace_fota_campaigns')})`, '', table),
      ],
      transform: [
        {
          id: 'groupingToMatrix',
          options: {
            columnField: 'api',
            rowField: 'campaign_status',
            valueField: 'Value',
          },
        },
      ],
      rename: { 'campaign_status\\api': 'Campaign status', v2: 'v2', v3: 'v3' },
      hide: [],
      sortBy: 'Campaign status',
      ascending: true,
      w: 7,
      h: 9,
    }),
    tablePanel({
      title: 'Active campaigns: progress',
      description: `Walked campaigns not in a final status (not ended, cancelled, aborted or failed), one row each: the campaign's totalDevice, the devices that upgraded (UpgradeSuccess) and that failed or were rejected, and its progress, the share of totalDevice in a concluded device status (${CONCLUDED_DEVICE_STATUSES.join(', ')}); Accepted and UpgradePending devices are still to come. Ends: the campaign's end date. Campaigns beyond --collector.max-campaigns are not walked and not listed (see Campaigns not walked).`,
      unit: 'short',
      queries: [
        q(forActiveCampaigns(campaignTotalDevices), '', table),
        q(forActiveCampaigns(campaignDevicesIn('UpgradeSuccess')), '', table),
        q(forActiveCampaigns(campaignDevicesIn(FAILED_DEVICE_STATUS_REGEX)), '', table),
        q(forActiveCampaigns(campaignShareIn(CONCLUDED_DEVICE_STATUSES.join('|'))), '', table),
        q(
          forActiveCampaigns(
            `1000 * ${campaign('thingspace_fota_campaign_end_timestamp_seconds')}`,
          ),
          '',
          table,
        ),
      ],
      rename: activeCampaignColumns,
      hide: ['Time', 'job', 'instance'],
      sortBy: 'Devices',
      columns: {
        Progress: { unit: 'percentunit', min: 0, max: 1, gauge: true },
        Ends: { unit: 'dateTimeAsIso' },
      },
      w: 17,
      h: 9,
    }),
    timeseriesPanel({
      title: 'Campaign device failures: new in the last hour vs spike threshold',
      description:
        "Solid: devices of each account's walked campaigns that entered a failed or rejected status in the last hour, per API, counted once per device and status by the exporter (thingspace_fota_campaign_devices_entered_total, recorded as thingspace_fota:campaign_devices_failed_entered:increase1h); the exporter's first pass only learns, and a new campaign's devices count from its first walk. Dashed red: the alert's own threshold (thingspace_fota:campaign_devices_failed_entered:spike_threshold1h), computed like the FOTA v1 device threshold, at least 50. ThingSpaceFotaCampaignDeviceFailureSpike compares these two lines.",
      unit: 'short',
      min: 0,
      queries: [
        q(campaign(CAMPAIGN_INCREASE), '{{account}} {{api}} new failed devices'),
        q(campaign(CAMPAIGN_THRESHOLD), '{{account}} {{api}} spike threshold'),
      ],
      thresholdSeries: ['B'],
      links: [runbook('ThingSpaceFotaCampaignDeviceFailureSpike')],
      arrivals: [
        {
          title:
            'Failed campaign devices of ${__field.labels.account} ${__field.labels.api} (/arrivals)',
          query:
            'account=${__field.labels.account:percentencode}&api=${__field.labels.api:percentencode}&status=UpgradeFailed&status=DeviceRejected',
        },
      ],
      w: 12,
      h: 8,
    }),
    tablePanel({
      title: 'Top campaign failure reasons',
      description:
        'The ten most frequent result reasons of campaign devices in a failed or rejected status (UpgradeFailed, DeviceRejected), summed over the walked campaigns of the selected accounts. Reasons are normalised (dates, times, numbers and device ids replaced by <date>, <time>, <n>, <id>, so v3 reasons with a time inside fold into one); "none": no reason given; "other": beyond the --collector.max-label-values reasons with the most devices.',
      unit: 'short',
      queries: [
        q(
          `topk(10, sum by (api, device_status, result_reason) (${campaign('thingspace_fota_campaign_devices', `device_status=~"${FAILED_DEVICE_STATUS_REGEX}"`)}))`,
          '',
          table,
        ),
      ],
      rename: {
        api: 'API',
        device_status: 'Device status',
        result_reason: 'Result reason',
        Value: 'Devices',
      },
      hide: ['Time'],
      sortBy: 'Devices',
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Campaign devices by device status',
      description:
        'Device entries of the walked campaigns by device status (Accepted, UpgradePending, UpgradeSuccess, UpgradeFailed, DeviceRejected, CampaignCancelled, CampaignAborted), per API: where the rollouts stand.',
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (api, device_status) (${campaign('thingspace_fota_campaign_devices')})`,
          '{{api}} {{device_status}}',
        ),
      ],
      w: 12,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Campaign devices entering each status',
      description:
        'Devices of the walked campaigns first seen in each device status, per $__rate_interval and API: the rollout moving (thingspace_fota_campaign_devices_entered_total). A device counts once per status; the first pass after the exporter starts only learns.',
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (api, device_status) (${increase(campaign('thingspace_fota_campaign_devices_entered_total'))})`,
          '{{api}} {{device_status}}',
        ),
      ],
      w: 12,
      h: 8,
    }),
    barGaugePanel({
      title: 'Time since the last successful campaign collection',
      description:
        'How long ago each account and API last read its campaign listing (every campaign status) and walked the devices of every campaign completely. Orange: 15 minutes; red: 1 hour. ThingSpaceFotaCampaignCollectionFailing fires while a stage keeps failing.',
      unit: 's',
      queries: [
        q(
          `time() - ${campaign('thingspace_fota_campaign_collection_last_success_timestamp_seconds')}`,
          '{{account}} {{api}} {{stage}}',
          { instant: true },
        ),
      ],
      thresholds: steps('green', [COLLECTION_LATE_SECONDS, 'orange'], [DATA_STALE_SECONDS, 'red']),
      links: [runbook('ThingSpaceFotaCampaignCollectionFailing')],
      w: 6,
      h: 8,
    }),
    stateTimelinePanel({
      title: 'Campaign collection success',
      description:
        "For each account and API: whether the last pass read every campaign listing (stage listing) and every walked campaign's device list (stage devices) completely. A failing listing or walk keeps its last good values for --collector.max-stale; FOTA v1 is never affected.",
      unit: 'none',
      queries: [
        q(campaign('thingspace_fota_campaign_collection_success'), '{{account}} {{api}} {{stage}}'),
      ],
      mappings: valueMap([
        [1, 'ok', 'green'],
        [0, 'failed', 'red'],
      ]),
      w: 6,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Campaign collection errors',
      description:
        'Failed campaign listings and walks per $__rate_interval, by account, API, stage and kind (auth, http, timeout, throttled, parse, pagination, oversize, config, internal). A kind gets its series at its first error; until then the stage shows a 0 line named "none".',
      unit: 'short',
      min: 0,
      queries: [
        q(
          orZero(
            `sum by (account, api, stage, error) (${increase(campaign('thingspace_fota_campaign_collection_errors_total'))})`,
            `sum by (account, api, stage) (0 * ${campaign('thingspace_fota_campaign_collection_success')})`,
            ['account', 'api', 'stage'],
            'error',
          ),
          '{{account}} {{api}} {{stage}} {{error}}',
        ),
      ],
      w: 6,
      h: 8,
    }),
    timeseriesPanel({
      title: 'Campaigns not walked (over --collector.max-campaigns)',
      description:
        'Campaigns that qualified for a device walk (not final, or final within --collector.campaign-lookback) but were not walked, because each account and API walks at most --collector.max-campaigns (the newest are kept). Their devices are missing from every per-campaign panel above; raise the limit if this is not 0.',
      unit: 'short',
      min: 0,
      queries: [
        q(
          `sum by (account, api) (${campaign('thingspace_fota_campaigns_folded')})`,
          '{{account}} {{api}}',
        ),
      ],
      w: 6,
      h: 8,
    }),
  ],
};
