/**
 * What one account's campaigns of one API have shown this process, for the campaign entered counter: a
 * device counts once per status, when first seen with it in a walked campaign. The same rules as a report's
 * memory (report-memory.ts), at campaign scale, with completeness judged per campaign:
 *
 * - The first complete listing of the account × API learns which campaigns exist. A campaign first listed
 *   after that is new, and if it is walked in the pass that first listed it, that walk counts every
 *   device's status (they all entered their status since the previous listing). Every other first walk
 *   learns: a campaign listed before the listing was learned, and one first listed while folded by
 *   --collector.max-campaigns (or left out by the lookback) and walked only in a later pass, whatever
 *   happened to its devices meanwhile.
 * - A campaign's arrivals count when its walk completes. A walk that fails holds back what it read (the
 *   devices are remembered, so they never count twice) until a later walk of that campaign completes.
 * - The account × API's observed seconds move with every pass that covers its time: the listing completed
 *   and, if any campaign was walked, at least one walk completed. Such a pass adds the time since the
 *   previous one. A campaign not read completely by a covering pass (its walk failed, or it was folded)
 *   misses that time; the other campaigns keep counting with the observed seconds moving.
 * - A campaign that comes back after missing at most max(RELEARN_AFTER_MS, the time the covering pass
 *   adds) releases what it held back, and its walk counts as usual. One that misses more learns again:
 *   what it held back is dropped and its next complete walk only learns. Why this bound: what a returning
 *   campaign counts at once is what it would have counted over the time it missed plus the pass's own
 *   time, so any hour's window holds at most twice that campaign's usual share of arrivals per covered
 *   hour (with a 5-minute interval: its usual hour, and at most the hour it missed). The spike rule's
 *   threshold is 3 × the previous day's arrivals per observed hour × the hours the last hour covers, and
 *   the missed hour lowers that baseline by at most 1/24 of the campaign's share: 2 < 3 × 23/24, so a
 *   steady rate stays silent and a spike inside a short failure still fires. A longer failure is not
 *   guessed at: its arrivals are lost, ThingSpaceFotaCampaignDataStale pages on the campaign after an
 *   hour. When no walk completes at all (every campaign of the account failing), the pass covers no time
 *   and nothing is missed: the next covering pass adds the whole gap and the campaigns release the gap's
 *   arrivals with it, as for a collection gap of the account.
 * - Each device's statuses are kept as a bit set under a 53-bit hash of its id (id-table.ts): 24 to 48
 *   bytes a device. Whenever the listing completes, a campaign's memory is dropped FORGET_AFTER_MS after it
 *   was last walked, listed ids likewise: memory stays bounded while one campaign fails for days.
 * - Device statuses are an open set: the known ones have fixed bits, the first unknown ones (at most
 *   MAX_UNKNOWN_STATUSES, or --collector.max-label-values if lower) get the next bits, later ones count as "other".
 * - Each counted arrival may carry an opaque payload (the drill-down's entry details); endPass hands back
 *   the payloads of exactly the arrivals it counts, held back and released with them.
 */
import { OTHER, boundLength, UNKNOWN } from '../labels/bound.js';
import { CAMPAIGN_DEVICE_STATUSES } from '../campaigns/statuses.js';
import { hashId, IdTable } from './id-table.js';
import { FORGET_AFTER_MS } from './report-memory.js';

/** 32 bits a device: the known statuses, the unknown ones, and "other". */
const OTHER_BIT = 31;
export const MAX_UNKNOWN_STATUSES = OTHER_BIT - CAMPAIGN_DEVICE_STATUSES.length;

/** Observed time a campaign may miss and still release what it held back (see the header). */
export const RELEARN_AFTER_MS = 3_600_000;

/** Arrivals read by walks that have not completed yet, with their payloads. */
class Held<T> {
  readonly counts = new Map<string, number>();
  details: T[] | undefined;
  detailStatuses: string[] | undefined;

  add(label: string, detail: T | undefined): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    if (detail === undefined) return;
    (this.details ??= []).push(detail);
    (this.detailStatuses ??= []).push(label);
  }
}

interface CampaignEntry<T> {
  readonly devices: IdTable;
  /** A complete walk has taught the memory its devices' statuses: later walks count. */
  learned: boolean;
  /** New, and first walked in the pass that first listed it: its walks count before any completed. */
  countsFromStart: boolean;
  lastWalkedMs: number;
  /** Observed time added by covering passes since its last complete walk, without it. */
  missedMs: number;
  /** The pass (see CampaignMemory.pass) of its last complete walk. */
  completedPass: number;
  held: Held<T> | undefined;
}

export interface CampaignPassResult<T> {
  /** Devices counted by this pass, by device status label. */
  readonly arrivals: Map<string, number>;
  /** The payloads given with the arrivals counted, in counting order (only those given one). */
  readonly details: T[];
  /** The device status label each payload of `details` was counted under. */
  readonly detailStatuses: string[];
  /** ThingSpace time this pass's counts cover; 0 unless the pass covered the account's time. */
  readonly observedSeconds: number;
}

/** A walk of one campaign: `see` each device as read, `end` once the walk is over. */
export interface CampaignWalk<T> {
  /**
   * `detail` is asked only for a device that counts (a payload for each arrival would cost a spike its
   * memory); it may answer undefined, and the arrival then counts without one.
   */
  see(deviceId: unknown, status: string | undefined, detail?: () => T | undefined): void;
  end(complete: boolean): void;
}

export class CampaignMemory<T = unknown> {
  private listingLearned = false;
  /** Listed ids: when last listed, and the pass that first listed them if they were new then. */
  private readonly listed = new Map<string, { lastMs: number; newInPass: number | undefined }>();
  private readonly campaigns = new Map<string, CampaignEntry<T>>();
  private readonly bits = new Map<string, number>(CAMPAIGN_DEVICE_STATUSES.map((s, i) => [s, i]));
  private readonly labels: string[] = [...CAMPAIGN_DEVICE_STATUSES];
  private readonly maxUnknown: number;
  /** End of the last pass that covered the account's time (the observed seconds run from there). */
  private lastCoveredMs: number | undefined;
  /** Passes ended so far: the current pass's number. */
  private pass = 0;
  /** Walks begun and completed in the current pass. */
  private walksBegun = 0;
  private walksCompleted = 0;

  constructor(maxLabelValues: number) {
    this.maxUnknown = Math.min(maxLabelValues, MAX_UNKNOWN_STATUSES);
    this.labels[OTHER_BIT] = OTHER;
  }

  /** Devices remembered, and the bytes they take. */
  get size(): { devices: number; bytes: number } {
    let devices = 0;
    let bytes = 0;
    for (const c of this.campaigns.values()) {
      devices += c.devices.size;
      bytes += c.devices.bytes;
    }
    return { devices, bytes };
  }

  /** The campaigns a listing pass saw (all of them, or those read before it failed). */
  listedCampaigns(ids: Iterable<string>, complete: boolean, nowMs: number): void {
    for (const id of ids) {
      const known = this.listed.get(id);
      if (known) known.lastMs = nowMs;
      else
        this.listed.set(id, {
          lastMs: nowMs,
          newInPass: this.listingLearned ? this.pass : undefined,
        });
    }
    if (complete) this.listingLearned = true;
  }

  /** A walk of one campaign in the current pass. */
  walk(campaignId: string, nowMs: number): CampaignWalk<T> {
    let entry = this.campaigns.get(campaignId);
    if (!entry) {
      entry = {
        devices: new IdTable(),
        learned: false,
        // Only a walk in the pass that first listed the campaign may count it whole: one first walked
        // later (folded meanwhile), or walked again after its memory was dropped, learns.
        countsFromStart: this.listed.get(campaignId)?.newInPass === this.pass,
        lastWalkedMs: nowMs,
        missedMs: 0,
        completedPass: -1,
        held: undefined,
      };
      this.campaigns.set(campaignId, entry);
    }
    entry.lastWalkedMs = nowMs;
    this.walksBegun++;
    const current = entry;
    const counting = current.learned || current.countsFromStart;
    return {
      see: (deviceId, status, detail) => {
        if (deviceId === undefined || deviceId === null || deviceId === '') return;
        const key = hashId(String(deviceId));
        const bit = this.bitOf(boundLength(status || UNKNOWN));
        const mask = current.devices.get(key) ?? 0;
        const flag = 2 ** bit;
        if (Math.floor(mask / flag) % 2 === 1) return;
        current.devices.set(key, mask + flag);
        if (counting) (current.held ??= new Held()).add(this.labels[bit]!, detail?.());
      },
      end: (complete) => {
        if (!complete) return;
        current.completedPass = this.pass;
        this.walksCompleted++;
      },
    };
  }

  /**
   * Ends a pass: the arrivals it counts (by device status label, with their payloads) and the time it
   * covers. `listingComplete`: every campaign status was listed completely in this pass.
   */
  endPass(listingComplete: boolean, nowMs: number): CampaignPassResult<T> {
    const covered = listingComplete && (this.walksBegun === 0 || this.walksCompleted > 0);
    let creditMs = 0;
    if (covered) {
      if (this.lastCoveredMs !== undefined) creditMs = Math.max(0, nowMs - this.lastCoveredMs);
      this.lastCoveredMs = nowMs;
    }
    const arrivals = new Map<string, number>();
    const details: T[] = [];
    const detailStatuses: string[] = [];
    for (const c of this.campaigns.values()) {
      if (c.completedPass === this.pass) {
        if (c.held) {
          for (const [label, n] of c.held.counts)
            arrivals.set(label, (arrivals.get(label) ?? 0) + n);
          if (c.held.details) {
            for (const d of c.held.details) details.push(d);
            for (const s of c.held.detailStatuses!) detailStatuses.push(s);
          }
          c.held = undefined;
        }
        c.learned = true;
        c.missedMs = 0;
        continue;
      }
      c.missedMs += creditMs;
      if (c.missedMs > Math.max(RELEARN_AFTER_MS, creditMs) && (c.learned || c.countsFromStart)) {
        // Missed too long to be told from a spike: what it held back goes, its next complete walk learns.
        c.held = undefined;
        c.learned = false;
        c.countsFromStart = false;
      }
    }
    if (listingComplete) {
      const cutoff = nowMs - FORGET_AFTER_MS;
      for (const [id, c] of this.campaigns) if (c.lastWalkedMs < cutoff) this.campaigns.delete(id);
      for (const [id, l] of this.listed) if (l.lastMs < cutoff) this.listed.delete(id);
    }
    this.pass++;
    this.walksBegun = 0;
    this.walksCompleted = 0;
    return { arrivals, details, detailStatuses, observedSeconds: creditMs / 1000 };
  }

  private bitOf(status: string): number {
    const bit = this.bits.get(status);
    if (bit !== undefined) return bit;
    if (this.bits.size - CAMPAIGN_DEVICE_STATUSES.length >= this.maxUnknown) return OTHER_BIT;
    // Bits: the known statuses, then the unknown ones in order of arrival; "other" is OTHER_BIT.
    const next = this.bits.size;
    this.bits.set(status, next);
    this.labels[next] = status;
    return next;
  }

  // --- The --storage.path snapshot (src/storage/arrivals-snapshot.ts): kept apart from the counting rules
  // above, so that a new field of the memory is added here and in CampaignMemorySnapshot only.

  /**
   * The memory as plain values, its times as wall time (the only kind that means something after a
   * restart). The device tables are the memory's own, not copies: they must be written before the next pass.
   */
  toSnapshot(toWallMs: (monotonicMs: number) => number): CampaignMemorySnapshot {
    return {
      listingLearned: this.listingLearned,
      lastCoveredWallMs:
        this.lastCoveredMs === undefined ? undefined : toWallMs(this.lastCoveredMs),
      statusBits: [...this.bits, [OTHER, OTHER_BIT] as const].map(([label, bit]) => ({
        label,
        bit,
      })),
      // Which pass first listed a campaign means nothing to the next process: its first pass is a new one.
      listed: [...this.listed].map(([id, l]) => ({ id, lastWallMs: toWallMs(l.lastMs) })),
      campaigns: [...this.campaigns].map(([id, c]) => ({
        id,
        learned: c.learned,
        countsFromStart: c.countsFromStart,
        lastWalkedWallMs: toWallMs(c.lastWalkedMs),
        missedMs: c.missedMs,
        // Held-back counts are kept, their payloads (the drill-down's details of this process) are not.
        held: [...(c.held?.counts ?? [])].map(([label, count]) => ({ label, count })),
        devices: c.devices,
      })),
    };
  }

  /**
   * A memory that continues from a snapshot. Status bits are matched by label, so a snapshot of another
   * version's status list (or a lower --collector.max-label-values: the unknown statuses beyond it become
   * "other") still reads right; devices are rewritten only when a bit moved.
   */
  static fromSnapshot(
    snapshot: CampaignMemorySnapshot,
    maxLabelValues: number,
    toMonotonicMs: (wallMs: number) => number,
  ): CampaignMemory {
    const memory = new CampaignMemory(maxLabelValues);
    memory.listingLearned = snapshot.listingLearned;
    memory.lastCoveredMs =
      snapshot.lastCoveredWallMs === undefined
        ? undefined
        : toMonotonicMs(snapshot.lastCoveredWallMs);
    const moved = new Map<number, number>();
    // Known statuses first, so that an unknown one never takes a bit a known one needs.
    const ordered = [...snapshot.statusBits].sort((a, b) => a.bit - b.bit);
    for (const { label, bit } of ordered) {
      const now = bit === OTHER_BIT ? OTHER_BIT : memory.bitOf(label);
      if (now !== bit) moved.set(bit, now);
    }
    for (const l of snapshot.listed) {
      memory.listed.set(l.id, { lastMs: toMonotonicMs(l.lastWallMs), newInPass: undefined });
    }
    for (const c of snapshot.campaigns) {
      if (moved.size > 0) {
        c.devices.forEach((key, mask) => c.devices.set(key, remapBits(mask, moved)));
      }
      let held: Held<unknown> | undefined;
      for (const { label, count } of c.held) {
        // A label the bits no longer hold (a lower --collector.max-label-values) is held as "other".
        const restored = memory.labels[memory.bitOf(label)]!;
        held ??= new Held();
        held.counts.set(restored, (held.counts.get(restored) ?? 0) + count);
      }
      memory.campaigns.set(c.id, {
        devices: c.devices,
        learned: c.learned,
        countsFromStart: c.countsFromStart,
        lastWalkedMs: toMonotonicMs(c.lastWalkedWallMs),
        missedMs: c.missedMs,
        completedPass: -1,
        held,
      });
    }
    return memory;
  }
}

/** A device's status bits with each moved bit at its new place (several may land on "other"). */
function remapBits(mask: number, moved: ReadonlyMap<number, number>): number {
  let out = 0;
  for (let bit = 0; bit <= OTHER_BIT; bit++) {
    const flag = 2 ** bit;
    if (Math.floor(mask / flag) % 2 === 0) continue;
    const to = 2 ** (moved.get(bit) ?? bit);
    if (Math.floor(out / to) % 2 === 0) out += to;
  }
  return out;
}

/** A CampaignMemory as plain values, wall times; written and read by src/storage/arrivals-snapshot.ts. */
export interface CampaignMemorySnapshot {
  readonly listingLearned: boolean;
  /** End of the last pass that covered the account's time: the observed seconds run from there. */
  readonly lastCoveredWallMs: number | undefined;
  /** Which device status each bit of the device masks stands for. */
  readonly statusBits: readonly { readonly label: string; readonly bit: number }[];
  readonly listed: readonly {
    readonly id: string;
    readonly lastWallMs: number;
  }[];
  readonly campaigns: readonly {
    readonly id: string;
    readonly learned: boolean;
    readonly countsFromStart: boolean;
    readonly lastWalkedWallMs: number;
    /** Observed time missed since its last complete walk (a duration: no clock to rebase). */
    readonly missedMs: number;
    /** Arrivals read by walks that have not completed yet, by device status label. */
    readonly held: readonly { readonly label: string; readonly count: number }[];
    /** Device id hash → status bits. */
    readonly devices: IdTable;
  }[];
}
