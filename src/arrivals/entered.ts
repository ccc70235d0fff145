/**
 * The entered counters (upgrades and campaign devices arriving in a status) and the observed seconds the
 * rules divide them by. Series known up front exist from start-up at 0, so increase() sees the first arrival.
 */
import { CAMPAIGN_DEVICE_STATUSES, type Api, type CampaignApi } from '../campaigns/statuses.js';
import { UPGRADE_STATUSES } from '../upgrades/statuses.js';
import { CounterFamily } from './counters.js';

export class EnteredCounters {
  readonly upgrades = new CounterFamily(['account', 'status']);
  readonly upgradeDevices = new CounterFamily(['account', 'status']);
  readonly upgradesObserved = new CounterFamily(['account', 'status']);
  readonly campaignDevices = new CounterFamily(['account', 'api', 'device_status']);
  readonly campaignDevicesObserved = new CounterFamily(['account', 'api']);

  constructor(accounts: readonly string[], apis: readonly Api[]) {
    for (const account of accounts) {
      if (apis.includes('v1')) {
        for (const status of UPGRADE_STATUSES) {
          for (const family of [this.upgrades, this.upgradeDevices, this.upgradesObserved]) {
            family.create({ account, status });
          }
        }
      }
      for (const api of apis.filter((a): a is CampaignApi => a !== 'v1')) {
        this.campaignDevicesObserved.create({ account, api });
        for (const device_status of CAMPAIGN_DEVICE_STATUSES) {
          this.campaignDevices.create({ account, api, device_status });
        }
      }
    }
  }

  /** Makes the collection's increments visible, with its snapshot. */
  publish(): void {
    for (const family of this.families()) family.publish();
  }

  families(): CounterFamily[] {
    return [
      this.upgrades,
      this.upgradeDevices,
      this.upgradesObserved,
      this.campaignDevices,
      this.campaignDevicesObserved,
    ];
  }
}
