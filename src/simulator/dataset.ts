/**
 * The simulated ThingSpace state: accounts, their upgrades per status, and how that state moves
 * from one tick to the next. Devices are not stored: an upgrade keeps a device count and a seed, and
 * its device entries are derived on demand, so millions of device entries cost almost no memory.
 */
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import {
  DEVICE_OUTCOMES,
  FIRMWARES,
  SPIKE_OUTCOMES,
  failureReason,
  type DeviceOutcome,
  type Firmware,
} from './catalog.js';
import type { SimClock } from './clock.js';
import { Random, hashInts, hashString, mix32 } from './random.js';

export interface DatasetOptions {
  readonly seed: number;
  readonly accounts: number;
  readonly upgradesPerStatus: Readonly<Record<UpgradeStatus, number>>;
  readonly devicesPerUpgradeMean: number;
  readonly devicesPerUpgradeMax: number;
  /** When set, the initial device entries add up to exactly this many. */
  readonly totalDevices: number | null;
  readonly startTimeMs: number;
  /** Simulated time that one tick moves the clock forward. */
  readonly tickStepMs: number;
  /** Mean number of new upgrades per account per tick. */
  readonly arrivalsPerTick: number;
}

/** 'spike' devices all failed: set by the failure-spike scenario. */
export type DeviceProfile = 'normal' | 'spike';

export interface Upgrade {
  readonly id: string;
  /** Creation order; breaks ties between equal start dates so the served order is total. */
  readonly seq: number;
  readonly accountName: string;
  readonly firmware: Firmware;
  /** Start instant; a date-only startDate stands for UTC midnight. */
  readonly startMs: number;
  readonly startDate: string;
  status: UpgradeStatus;
  profile: DeviceProfile;
  readonly deviceCount: number;
  /** Offset of the first device's IMEI: device i is IMEI_BASE + firstDevice + i. */
  readonly firstDevice: number;
  readonly deviceSeed: number;
  /** Bumped on every change, so a cached serialisation can tell it is stale. */
  version: number;
}

export interface FailureSpikeRequest {
  readonly account?: string;
  readonly upgrades?: number;
  readonly devicesPerUpgrade?: number;
}

/** What the failure-spike scenario did to the v1 upgrades of one account. */
export interface UpgradeSpikeResult {
  readonly convertedUpgrades: number;
  readonly addedUpgrades: number;
  readonly failedDevices: number;
}

/** An upgrade's entry into a status, with the device profile it entered with (its devices derive from both). */
export interface Entry {
  readonly upgrade: Upgrade;
  readonly status: UpgradeStatus;
  readonly profile: DeviceProfile;
}

/** Upgrades that entered one status after some generation, and their device entries. */
export interface EnteredCount {
  readonly upgrades: number;
  readonly devices: number;
}

/**
 * Every entry of upgrades into one status after generation 0, in order: the generation of each, and
 * the running total of their device entries, so "entered since g" is two binary searches away.
 */
class EntryLog {
  private readonly generations: number[] = [];
  private readonly deviceTotals: number[] = [];
  private readonly entries: Entry[] = [];

  add(generation: number, entry: Entry): void {
    this.generations.push(generation);
    this.deviceTotals.push(
      (this.deviceTotals[this.deviceTotals.length - 1] ?? 0) + entry.upgrade.deviceCount,
    );
    this.entries.push(entry);
  }

  /** The entries after `generation`, in order. */
  entriesSince(generation: number): readonly Entry[] {
    return this.entries.slice(this.firstAfter(generation));
  }

  since(generation: number): EnteredCount {
    const low = this.firstAfter(generation);
    const total = this.deviceTotals[this.deviceTotals.length - 1] ?? 0;
    const before = low === 0 ? 0 : (this.deviceTotals[low - 1] ?? 0);
    return { upgrades: this.generations.length - low, devices: total - before };
  }

  private firstAfter(generation: number): number {
    let low = 0;
    let high = this.generations.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.generations[middle] ?? 0) <= generation) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

export const ACCOUNT_PREFIX = '0242078689';
/** ThingSpace keeps upgrade history for six months. */
export const HISTORY_MS = 182 * 86_400_000;
const IMEI_BASE = 900_000_000_000_000;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** How far back the initial start dates of each status reach, in days. */
const INITIAL_AGE_DAYS: Readonly<Record<UpgradeStatus, number>> = {
  RequestPending: 3,
  Queued: 10,
  RequestFailed: 175,
  InProgress: 20,
  Finished: 175,
  UpgradeFailed: 175,
};
/** Per-tick chances that an upgrade moves on; each upgrade takes at most one step per tick. */
const TRANSITIONS: Readonly<Partial<Record<UpgradeStatus, readonly [UpgradeStatus, number][]>>> = {
  RequestPending: [
    ['Queued', 0.1],
    ['RequestFailed', 0.02],
  ],
  Queued: [
    ['InProgress', 0.08],
    ['UpgradeFailed', 0.01],
  ],
  InProgress: [
    ['Finished', 0.1],
    ['UpgradeFailed', 0.02],
  ],
};
/** Lognormal spread of devices per upgrade: most upgrades are small, a few are fleets. */
const DEVICE_COUNT_SIGMA = 1.6;
const EMPTY_DEVICE_LIST_CHANCE = 0.01;
/** Departed upgrade ids stay resolvable as cursors for this many generations. */
const DEPARTED_CURSOR_GENERATIONS = 1000;
const SPIKE_DEFAULT_UPGRADES = 10;
const SPIKE_DEFAULT_DEVICES = 25;

export function accountName(index: number): string {
  return `${ACCOUNT_PREFIX}-${String(index + 1).padStart(5, '0')}`;
}

/** Served order: oldest start first, then creation order. */
export function compareUpgrades(a: Upgrade, b: Upgrade): number {
  return a.startMs - b.startMs || a.seq - b.seq;
}

/** Index of the first upgrade in `list` that is served after `upgrade` (which need not be in it). */
export function positionAfter(list: readonly Upgrade[], upgrade: Upgrade): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const item = list[middle];
    if (item !== undefined && compareUpgrades(item, upgrade) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

interface OutcomeTable {
  readonly outcomes: readonly DeviceOutcome[];
  readonly totalWeight: number;
}

function outcomeTable(outcomes: readonly DeviceOutcome[]): OutcomeTable {
  return { outcomes, totalWeight: outcomes.reduce((sum, o) => sum + o.weight, 0) };
}

const OUTCOME_TABLES = Object.fromEntries(
  UPGRADE_STATUSES.map((status) => [status, outcomeTable(DEVICE_OUTCOMES[status])]),
) as Record<UpgradeStatus, OutcomeTable>;
const SPIKE_TABLE = outcomeTable(SPIKE_OUTCOMES);
const STATUS_SALT = Object.fromEntries(
  UPGRADE_STATUSES.map((status) => [status, hashString(status)]),
) as Record<UpgradeStatus, number>;
const SPIKE_SALT = hashString('spike');

export type DeviceVisitor = (deviceId: string, status: string, reason: string | undefined) => void;

/**
 * Visits the device entries of an upgrade in list order. Entries are a pure function of the
 * upgrade's seed, status and profile, so a status change re-derives them consistently.
 */
export function forEachDevice(upgrade: Upgrade, visit: DeviceVisitor): void {
  forEachDeviceAs(upgrade, upgrade.status, upgrade.profile, visit);
}

/** The device entries the upgrade had, or has, in `status` with `profile` (an entry's devices). */
export function forEachDeviceAs(
  upgrade: Upgrade,
  status: UpgradeStatus,
  profile: DeviceProfile,
  visit: DeviceVisitor,
): void {
  const spike = profile === 'spike';
  const table = spike ? SPIKE_TABLE : OUTCOME_TABLES[status];
  const salt = spike ? SPIKE_SALT : STATUS_SALT[status];
  const base = IMEI_BASE + upgrade.firstDevice;
  for (let i = 0; i < upgrade.deviceCount; i += 1) {
    const h = hashInts(upgrade.deviceSeed, salt, i);
    let point = (h / 4294967296) * table.totalWeight;
    let chosen = table.outcomes[0];
    for (const outcome of table.outcomes) {
      chosen = outcome;
      point -= outcome.weight;
      if (point < 0) break;
    }
    if (chosen === undefined) continue;
    const reason =
      chosen.reason === 'failure'
        ? failureReason(mix32(h ^ 0x5f3759df))
        : (chosen.reason ?? undefined);
    visit(String(base + i), chosen.status, reason);
  }
}

type StatusLists = Record<UpgradeStatus, Upgrade[]>;

function emptyLists(): StatusLists {
  return Object.fromEntries(UPGRADE_STATUSES.map((s) => [s, [] as Upgrade[]])) as StatusLists;
}

function mergeSorted(a: readonly Upgrade[], b: readonly Upgrade[]): Upgrade[] {
  if (b.length === 0) return a.slice();
  if (a.length === 0) return b.slice();
  const out: Upgrade[] = new Array<Upgrade>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Upgrade;
    const y = b[j] as Upgrade;
    if (compareUpgrades(x, y) <= 0) {
      out[k++] = x;
      i += 1;
    } else {
      out[k++] = y;
      j += 1;
    }
  }
  while (i < a.length) out[k++] = a[i++] as Upgrade;
  while (j < b.length) out[k++] = b[j++] as Upgrade;
  return out;
}

function pickFirmware(rng: Random): Firmware {
  const total = FIRMWARES.reduce((sum, f) => sum + f.weight, 0);
  let point = rng.float() * total;
  for (const firmware of FIRMWARES) {
    point -= firmware.weight;
    if (point < 0) return firmware;
  }
  return FIRMWARES[0] as Firmware;
}

/** One device count from the skewed distribution; 0 now and then, as seen in real reports. */
function drawDeviceCount(rng: Random, mean: number, max: number): number {
  if (rng.chance(EMPTY_DEVICE_LIST_CHANCE)) return 0;
  const mu = Math.log(Math.min(mean, max)) - (DEVICE_COUNT_SIGMA * DEVICE_COUNT_SIGMA) / 2;
  const count = Math.round(Math.exp(mu + DEVICE_COUNT_SIGMA * rng.normal()));
  return Math.min(max, Math.max(1, count));
}

/** Scales drawn counts so they add up to exactly `total`, keeping their skew and the bounds. */
export function fitDeviceCounts(counts: number[], total: number, max: number, rng: Random): void {
  let candidates = counts.flatMap((c, i) => (c > 0 ? [i] : []));
  if (candidates.length * max < total) candidates = counts.map((_, i) => i);
  if (candidates.length * max < total) {
    throw new Error(
      `cannot fit ${total} devices into ${counts.length} upgrades of at most ${max} devices each; ` +
        'raise --upgrades-per-status, --accounts or --devices-per-upgrade-max',
    );
  }
  const min = total >= candidates.length ? 1 : 0;
  const sum = candidates.reduce((s, i) => s + (counts[i] ?? 0), 0);
  const scale = sum > 0 ? total / sum : 0;
  let assigned = 0;
  for (const i of candidates) {
    const scaled = sum > 0 ? Math.round((counts[i] ?? 0) * scale) : 0;
    counts[i] = Math.min(max, Math.max(min, scaled));
    assigned += counts[i];
  }
  let diff = total - assigned;
  while (diff !== 0) {
    const chunk = Math.max(1, Math.ceil(Math.abs(diff) / candidates.length));
    const start = rng.int(0, candidates.length - 1);
    for (let n = 0; n < candidates.length && diff !== 0; n += 1) {
      const i = candidates[(start + n) % candidates.length] as number;
      const count = counts[i] ?? 0;
      const room = diff > 0 ? max - count : count - min;
      const step = Math.min(Math.abs(diff), room, chunk);
      if (step <= 0) continue;
      counts[i] = count + Math.sign(diff) * step;
      diff -= Math.sign(diff) * step;
    }
  }
}

function formatStartDate(startMs: number, dateOnly: boolean): string {
  const iso = new Date(startMs).toISOString();
  return dateOnly ? iso.slice(0, 10) : iso;
}

export class Dataset {
  readonly accounts: readonly string[];
  private readonly lists = new Map<string, StatusLists>();
  private readonly entries = new Map<string, Record<UpgradeStatus, EntryLog>>();
  private readonly byId = new Map<string, Upgrade>();
  private readonly departed: { generation: number; id: string }[] = [];
  private readonly changeListeners: ((upgrade: Upgrade) => void)[] = [];
  private nextSeq = 0;
  private nextDevice = 0;

  constructor(
    private readonly options: DatasetOptions,
    private readonly clock: SimClock,
  ) {
    this.accounts = Array.from({ length: options.accounts }, (_, i) => accountName(i));
    for (const account of this.accounts) {
      this.entries.set(
        account,
        Object.fromEntries(UPGRADE_STATUSES.map((s) => [s, new EntryLog()])) as Record<
          UpgradeStatus,
          EntryLog
        >,
      );
    }
    const rng = new Random(options.seed, hashString('initial'));
    const plan: { account: string; status: UpgradeStatus }[] = [];
    for (const account of this.accounts) {
      for (const status of UPGRADE_STATUSES) {
        for (let n = 0; n < options.upgradesPerStatus[status]; n += 1)
          plan.push({ account, status });
      }
    }
    const counts = plan.map(() =>
      drawDeviceCount(rng, options.devicesPerUpgradeMean, options.devicesPerUpgradeMax),
    );
    if (options.totalDevices !== null) {
      fitDeviceCounts(counts, options.totalDevices, options.devicesPerUpgradeMax, rng);
    }
    const unsorted = new Map<string, StatusLists>(this.accounts.map((a) => [a, emptyLists()]));
    plan.forEach(({ account, status }, i) => {
      const ageMs = rng.float() * INITIAL_AGE_DAYS[status] * DAY_MS;
      const upgrade = this.create(rng, account, status, this.clockMs - ageMs, counts[i] ?? 0);
      unsorted.get(account)?.[status].push(upgrade);
    });
    for (const [account, lists] of unsorted) {
      for (const status of UPGRADE_STATUSES) lists[status].sort(compareUpgrades);
      this.lists.set(account, lists);
    }
  }

  /** Increments with every change of state (each tick, each scenario). */
  get generation(): number {
    return this.clock.generation;
  }

  /** The simulated clock, in ms since the epoch. */
  get clockMs(): number {
    return this.clock.clockMs;
  }

  /** Upgrades that entered `status` at a generation after `generation`, wherever they are now. */
  enteredSince(account: string, status: UpgradeStatus, generation: number): EnteredCount {
    return this.entries.get(account)?.[status].since(generation) ?? { upgrades: 0, devices: 0 };
  }

  /** The entries into `status` after `generation`, in order: which upgrades, with which devices. */
  entriesSince(account: string, status: UpgradeStatus, generation: number): readonly Entry[] {
    return this.entries.get(account)?.[status].entriesSince(generation) ?? [];
  }

  /** Called with each upgrade that changes status or leaves the history. */
  onChange(listener: (upgrade: Upgrade) => void): void {
    this.changeListeners.push(listener);
  }

  hasAccount(account: string): boolean {
    return this.lists.has(account);
  }

  /** The upgrades of one account and status, in served order (oldest first). */
  list(account: string, status: UpgradeStatus): readonly Upgrade[] {
    return this.lists.get(account)?.[status] ?? [];
  }

  /** Any upgrade by id, including ones that recently changed status or left the history. */
  findUpgrade(id: string): Upgrade | undefined {
    return this.byId.get(id);
  }

  totals(): { upgrades: number; devices: number } {
    let upgrades = 0;
    let devices = 0;
    for (const lists of this.lists.values()) {
      for (const status of UPGRADE_STATUSES) {
        upgrades += lists[status].length;
        for (const upgrade of lists[status]) devices += upgrade.deviceCount;
      }
    }
    return { upgrades, devices };
  }

  /** One step of simulated time, once the clock has moved: transitions, departures, arrivals. */
  tick(): void {
    const rng = new Random(this.options.seed, hashString('tick'), this.generation);
    const cutoff = this.clockMs - HISTORY_MS;
    for (const account of this.accounts) {
      const lists = this.lists.get(account);
      if (lists === undefined) continue;
      const movers = emptyLists();
      for (const status of UPGRADE_STATUSES) {
        const transitions = TRANSITIONS[status];
        if (transitions === undefined) continue;
        lists[status] = lists[status].filter((upgrade) => {
          let point = rng.float();
          for (const [target, chance] of transitions) {
            point -= chance;
            if (point < 0) {
              movers[target].push(upgrade);
              return false;
            }
          }
          return true;
        });
      }
      for (const status of UPGRADE_STATUSES) {
        for (const upgrade of movers[status]) this.changeStatus(upgrade, status, upgrade.profile);
        lists[status] = mergeSorted(lists[status], movers[status].sort(compareUpgrades));
        const keep = lists[status].findIndex((upgrade) => upgrade.startMs >= cutoff);
        const leaving = keep === -1 ? lists[status] : lists[status].slice(0, keep);
        for (const upgrade of leaving) this.depart(upgrade);
        if (leaving.length > 0) lists[status] = keep === -1 ? [] : lists[status].slice(keep);
      }
      const arrivals: Upgrade[] = [];
      for (let n = rng.poisson(this.options.arrivalsPerTick); n > 0; n -= 1) {
        const startMs = this.clockMs - rng.float() * this.options.tickStepMs;
        const count = drawDeviceCount(
          rng,
          this.options.devicesPerUpgradeMean,
          this.options.devicesPerUpgradeMax,
        );
        arrivals.push(this.create(rng, account, 'RequestPending', startMs, count));
      }
      lists.RequestPending = mergeSorted(lists.RequestPending, arrivals.sort(compareUpgrades));
    }
    while (
      this.departed.length > 0 &&
      (this.departed[0]?.generation ?? 0) < this.generation - DEPARTED_CURSOR_GENERATIONS
    ) {
      const gone = this.departed.shift();
      if (gone !== undefined) this.byId.delete(gone.id);
    }
  }

  /**
   * Fails every queued and in-progress upgrade of one account and adds new failed ones, all with
   * failed devices: the shape of an UpgradeFailed spike an operator should be alerted to.
   */
  failureSpike(account: string, request: FailureSpikeRequest = {}): UpgradeSpikeResult {
    const lists = this.lists.get(account);
    if (lists === undefined) throw new RangeError(`unknown account ${JSON.stringify(account)}`);
    const rng = new Random(this.options.seed, hashString('failure-spike'), this.generation);
    const converted = [...lists.Queued, ...lists.InProgress];
    lists.Queued = [];
    lists.InProgress = [];
    for (const upgrade of converted) this.changeStatus(upgrade, 'UpgradeFailed', 'spike');
    const added: Upgrade[] = [];
    const devices = request.devicesPerUpgrade ?? SPIKE_DEFAULT_DEVICES;
    for (let n = request.upgrades ?? SPIKE_DEFAULT_UPGRADES; n > 0; n -= 1) {
      const startMs = this.clockMs - rng.float() * Math.min(this.options.tickStepMs, DAY_MS);
      // Created with its profile, so that the entry log records the devices it entered with.
      const upgrade = this.create(rng, account, 'UpgradeFailed', startMs, devices, 'spike');
      added.push(upgrade);
    }
    const all = [...converted, ...added].sort(compareUpgrades);
    lists.UpgradeFailed = mergeSorted(lists.UpgradeFailed, all);
    return {
      convertedUpgrades: converted.length,
      addedUpgrades: added.length,
      failedDevices: all.reduce((sum, upgrade) => sum + upgrade.deviceCount, 0),
    };
  }

  private create(
    rng: Random,
    account: string,
    status: UpgradeStatus,
    approximateStartMs: number,
    deviceCount: number,
    profile: DeviceProfile = 'normal',
  ): Upgrade {
    const dateOnly = rng.chance(0.5);
    const startMs = dateOnly
      ? Math.floor(approximateStartMs / DAY_MS) * DAY_MS
      : Math.floor(approximateStartMs / MINUTE_MS) * MINUTE_MS;
    const upgrade: Upgrade = {
      id: rng.uuid(),
      seq: this.nextSeq++,
      accountName: account,
      firmware: pickFirmware(rng),
      startMs,
      startDate: formatStartDate(startMs, dateOnly),
      status,
      profile,
      deviceCount,
      firstDevice: this.nextDevice,
      deviceSeed: rng.uint32(),
      version: 0,
    };
    this.nextDevice += deviceCount;
    this.byId.set(upgrade.id, upgrade);
    this.logEntry(upgrade);
    return upgrade;
  }

  /** Entries at generation 0 are the starting state: no "entered since" ever counts them. */
  private logEntry(upgrade: Upgrade): void {
    if (this.generation === 0) return;
    this.entries.get(upgrade.accountName)?.[upgrade.status].add(this.generation, {
      upgrade,
      status: upgrade.status,
      profile: upgrade.profile,
    });
  }

  private changeStatus(upgrade: Upgrade, status: UpgradeStatus, profile: DeviceProfile): void {
    upgrade.status = status;
    upgrade.profile = profile;
    this.logEntry(upgrade);
    upgrade.version += 1;
    for (const listener of this.changeListeners) listener(upgrade);
  }

  private depart(upgrade: Upgrade): void {
    this.departed.push({ generation: this.generation, id: upgrade.id });
    upgrade.version += 1;
    for (const listener of this.changeListeners) listener(upgrade);
  }
}
