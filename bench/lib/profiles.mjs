// @ts-check
/**
 * The benchmark's profiles (bench/run.mjs, bench/profile.mjs): the data the simulator serves and the APIs the
 * exporter reads. docs/performance.md describes them.
 */

/**
 * @typedef {object} Profile
 * @property {string} name
 * @property {string} description
 * @property {'v1' | 'accounts' | 'campaigns'} kind
 *   v1: FOTA v1 reports only (--thingspace.apis=v1, a simulator without campaigns), measured against the
 *   floor and the naive client; accounts: many accounts, one exporter run, sized per account against the
 *   `compareWith` profile; campaigns: v2 and v3 campaigns only (--thingspace.apis=v2,v3), against the floor
 * @property {string[]} apis the exporter's --thingspace.apis
 * @property {number} accounts
 * @property {number} upgradesPerStatus
 * @property {number} totalDevices v1 device entries in all (0: no upgrades)
 * @property {{ perAccount: string, totalDevices: number, devicesMax: number }} [campaigns]
 *   the simulator's --campaigns-per-account, --campaign-total-devices, --campaign-devices-max (none: no campaigns)
 * @property {number} [cacheMb] the simulator's --cache-mb (default 512)
 * @property {string} [compareWith] accounts: the profile with the same data per account and fewer accounts
 */

/** @type {Profile[]} */
export const PROFILES = [
  {
    name: '20k',
    description: '1 account, 6 × 10 pages',
    kind: 'v1',
    apis: ['v1'],
    accounts: 1,
    upgradesPerStatus: 1000,
    totalDevices: 20_000,
  },
  {
    name: '200k',
    description: '1 account, 6 × 30 pages',
    kind: 'v1',
    apis: ['v1'],
    accounts: 1,
    upgradesPerStatus: 3000,
    totalDevices: 200_000,
  },
  {
    name: '2M',
    description: '1 account, 6 × 100 pages',
    kind: 'v1',
    apis: ['v1'],
    accounts: 1,
    upgradesPerStatus: 10_000,
    totalDevices: 2_000_000,
  },
  {
    name: '50acc',
    description: '50 accounts, 300 × 2 pages',
    kind: 'v1',
    apis: ['v1'],
    accounts: 50,
    upgradesPerStatus: 200,
    totalDevices: 500_000,
  },
  {
    name: '500acc',
    description: '500 accounts, 3000 × 2 pages, 50acc ×10',
    kind: 'accounts',
    apis: ['v1'],
    accounts: 500,
    upgradesPerStatus: 200,
    totalDevices: 5_000_000,
    cacheMb: 1024,
    compareWith: '50acc',
  },
  {
    name: 'campaigns',
    description: '1 account, 12 scheduled campaigns per API (v2, v3), about 1,030 pages',
    kind: 'campaigns',
    apis: ['v2', 'v3'],
    accounts: 1,
    upgradesPerStatus: 0,
    totalDevices: 0,
    campaigns: { perAccount: 'CampaignScheduled=12', totalDevices: 1_000_000, devicesMax: 200_000 },
  },
];

/** --quick: the same shapes, tiny, for the smoke test. */
/** @type {Profile[]} */
export const QUICK_PROFILES = [
  {
    name: 'q2k',
    description: '1 account, 6 × 2 pages',
    kind: 'v1',
    apis: ['v1'],
    accounts: 1,
    upgradesPerStatus: 200,
    totalDevices: 2_000,
  },
  {
    name: 'q20k',
    description: '1 account, 6 × 5 pages',
    kind: 'v1',
    apis: ['v1'],
    accounts: 1,
    upgradesPerStatus: 500,
    totalDevices: 20_000,
  },
  {
    name: 'q5acc',
    description: '5 accounts, 30 × 1 page',
    kind: 'v1',
    apis: ['v1'],
    accounts: 5,
    upgradesPerStatus: 100,
    totalDevices: 6_000,
  },
  {
    name: 'q15acc',
    description: '15 accounts, 90 × 1 page, q5acc ×3',
    kind: 'accounts',
    apis: ['v1'],
    accounts: 15,
    upgradesPerStatus: 100,
    totalDevices: 18_000,
    compareWith: 'q5acc',
  },
  {
    name: 'qcampaigns',
    description: '1 account, 2 scheduled campaigns per API (v2, v3)',
    kind: 'campaigns',
    apis: ['v2', 'v3'],
    accounts: 1,
    upgradesPerStatus: 0,
    totalDevices: 0,
    campaigns: { perAccount: 'CampaignScheduled=2', totalDevices: 10_000, devicesMax: 4_000 },
  },
];

/** @param {Profile} profile @param {number} latencyMs */
export function simulatorArgs(profile, latencyMs) {
  const args = [
    '--seed',
    '1',
    '--accounts',
    String(profile.accounts),
    '--upgrades-per-status',
    String(profile.upgradesPerStatus),
  ];
  if (profile.totalDevices > 0) args.push('--total-devices', String(profile.totalDevices));
  args.push(
    '--page-size',
    '100',
    '--latency-ms',
    String(latencyMs),
    '--cache-mb',
    String(profile.cacheMb ?? 512),
    // A profile without campaigns has none at all: the simulator then serves what it served before v2/v3.
    '--campaigns-per-account',
    profile.campaigns?.perAccount ?? '0',
  );
  if (profile.campaigns) {
    args.push(
      '--campaign-total-devices',
      String(profile.campaigns.totalDevices),
      '--campaign-devices-max',
      String(profile.campaigns.devicesMax),
    );
  }
  return args;
}
