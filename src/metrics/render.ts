/**
 * Renders a snapshot and the entered counters in the Prometheus text format, once per collection: scrapes
 * then cost a string copy, however many device entries the collection read.
 */
import type { CounterFamily } from '../arrivals/counters.js';
import type { EnteredCounters } from '../arrivals/entered.js';
import type { Snapshot } from '../collection/snapshot.js';
import { boundLength, UNKNOWN } from '../labels/bound.js';
import { CAPPED_LABELS } from '../upgrades/aggregate.js';
import { definition, type MetricName } from './definitions.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value)
    ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    : value;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

class Family {
  readonly lines: string[] = [];
  constructor(readonly name: MetricName) {}

  /** `labels` is the already rendered `a="x",b="y"` text. */
  add(labels: string, value: number): void {
    this.lines.push(`${this.name}{${labels}} ${value}`);
  }

  render(): string {
    if (this.lines.length === 0) return '';
    const def = definition(this.name);
    return `# HELP ${def.name} ${escapeHelp(def.help)}\n# TYPE ${def.name} ${def.type}\n${this.lines.join('\n')}\n`;
  }
}

function label(name: string, value: string): string {
  return `${name}="${escapeLabelValue(value)}"`;
}

export function renderSnapshot(snapshot: Snapshot): string {
  const upgrades = new Family('thingspace_fota_upgrades');
  const devices = new Family('thingspace_fota_upgrade_devices');
  const oldest = new Family('thingspace_fota_upgrade_oldest_start_timestamp_seconds');
  const success = new Family('thingspace_fota_collection_success');
  const lastSuccess = new Family('thingspace_fota_collection_last_success_timestamp_seconds');
  const duration = new Family('thingspace_fota_collection_duration_seconds');
  const pages = new Family('thingspace_fota_collection_pages');
  const folded = new Family('thingspace_fota_label_values_folded');

  for (const report of snapshot.reports) {
    const base = `${label('account', report.account)},${label('status', report.status)}`;
    success.add(base, report.success ? 1 : 0);
    if (report.lastSuccessSeconds !== undefined) lastSuccess.add(base, report.lastSuccessSeconds);
    const counts = report.counts;
    if (!counts) continue;
    if (report.pages !== undefined) pages.add(base, report.pages);
    if (counts.oldestStartSeconds !== undefined) oldest.add(base, counts.oldestStartSeconds);
    // Dashboards and alerts should see 0, not absence, for a status without upgrades.
    if (counts.upgrades.size === 0) upgrades.add(`${base},firmware_to=""`, 0);
    for (const [firmware, count] of counts.upgrades)
      upgrades.add(`${base},${label('firmware_to', firmware)}`, count);
    for (const [firmware, byStatus] of counts.devices) {
      const withFirmware = `${base},${label('firmware_to', firmware)}`;
      for (const [deviceStatus, byReason] of byStatus) {
        const withStatus = `${withFirmware},${label('device_status', deviceStatus)}`;
        for (const [reason, count] of byReason)
          devices.add(`${withStatus},${label('result_reason', reason)}`, count);
      }
    }
    for (const name of CAPPED_LABELS)
      folded.add(`${base},${label('label', name)}`, counts.folded[name]);
  }
  for (const [account, seconds] of snapshot.accountDurations)
    duration.add(label('account', account), seconds);

  return [
    upgrades,
    devices,
    oldest,
    success,
    lastSuccess,
    duration,
    pages,
    folded,
    ...renderCampaigns(snapshot.campaigns),
  ]
    .map((f) => f.render())
    .join('');
}

function renderCampaigns(states: Snapshot['campaigns']): Family[] {
  const campaigns = new Family('thingspace_fota_campaigns');
  const devices = new Family('thingspace_fota_campaign_devices');
  const info = new Family('thingspace_fota_campaign_info');
  const deviceStatus = new Family('thingspace_fota_campaign_device_status');
  const total = new Family('thingspace_fota_campaign_total_devices');
  const end = new Family('thingspace_fota_campaign_end_timestamp_seconds');
  const folded = new Family('thingspace_fota_campaigns_folded');
  const labelsFolded = new Family('thingspace_fota_campaign_label_values_folded');
  const success = new Family('thingspace_fota_campaign_collection_success');
  const lastSuccess = new Family(
    'thingspace_fota_campaign_collection_last_success_timestamp_seconds',
  );

  for (const state of states) {
    const base = `${label('account', state.account)},${label('api', state.api)}`;
    for (const [stage, outcome] of [
      ['listing', state.listing],
      ['devices', state.devices],
    ] as const) {
      const withStage = `${base},${label('stage', stage)}`;
      success.add(withStage, outcome.success ? 1 : 0);
      if (outcome.lastSuccessSeconds !== undefined)
        lastSuccess.add(withStage, outcome.lastSuccessSeconds);
    }
    const counts = state.counts;
    if (!counts) continue;
    for (const [status, count] of counts.campaigns)
      campaigns.add(`${base},${label('campaign_status', status)}`, count);
    folded.add(base, counts.folded);
    for (const [campaignStatus, byStatus] of counts.devices.devices) {
      const withCampaign = `${base},${label('campaign_status', campaignStatus)}`;
      for (const [status, byReason] of byStatus) {
        const withStatus = `${withCampaign},${label('device_status', status)}`;
        for (const [reason, count] of byReason)
          devices.add(`${withStatus},${label('result_reason', reason)}`, count);
      }
    }
    for (const walked of counts.devices.walked) {
      const c = walked.campaign;
      const withId = `${base},${label('campaign_id', boundLength(c.id))}`;
      info.add(
        [
          withId,
          label('campaign_name', boundLength(c.name || UNKNOWN)),
          label('firmware_from', boundLength(c.firmwareFrom || UNKNOWN)),
          label('firmware_to', boundLength(c.firmwareTo || UNKNOWN)),
          label('campaign_status', c.status),
        ].join(','),
        1,
      );
      for (const [status, count] of walked.deviceStatus)
        deviceStatus.add(`${withId},${label('device_status', status)}`, count);
      if (walked.totalDevice !== undefined) total.add(withId, walked.totalDevice);
      if (walked.endSeconds !== undefined) end.add(withId, walked.endSeconds);
    }
    for (const name of ['device_status', 'result_reason'] as const)
      labelsFolded.add(`${base},${label('label', name)}`, counts.devices.folded[name]);
  }
  return [
    campaigns,
    devices,
    info,
    deviceStatus,
    total,
    end,
    folded,
    labelsFolded,
    success,
    lastSuccess,
  ];
}

function renderCounter(name: MetricName, counters: CounterFamily): string {
  const family = new Family(name);
  for (const { labels, value } of counters.entries()) {
    family.add(counters.labelNames.map((n) => label(n, labels[n] ?? '')).join(','), value);
  }
  return family.render();
}

export function renderEntered(entered: EnteredCounters): string {
  return [
    renderCounter('thingspace_fota_upgrades_entered_total', entered.upgrades),
    renderCounter('thingspace_fota_upgrade_devices_entered_total', entered.upgradeDevices),
    renderCounter('thingspace_fota_upgrades_observed_seconds_total', entered.upgradesObserved),
    renderCounter('thingspace_fota_campaign_devices_entered_total', entered.campaignDevices),
    renderCounter(
      'thingspace_fota_campaign_devices_observed_seconds_total',
      entered.campaignDevicesObserved,
    ),
  ].join('');
}
