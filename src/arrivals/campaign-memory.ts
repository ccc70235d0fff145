/**
 * What one account's campaigns of one API have shown this process, for the campaign entered counter: a
 * device counts once per status, when first seen with it in a walked campaign. The same rules as a report's
 * memory (report-memory.ts), at campaign scale:
 *
 * - The first complete listing of the account × API learns which campaigns exist. A campaign first listed
 *   after that is new: its first walk counts every device's status. A campaign listed before (or not walked
 *   until now: folded, or final beyond the lookback) learns on its first complete walk.
 * - Each device's statuses are kept as a bit set under a 53-bit hash of its id (id-table.ts): 24 to 48
 *   bytes a device. A campaign's memory is dropped FORGET_AFTER_MS after it was last walked; listed ids likewise.
 * - A complete pass (listing and every walk) that counts adds the time since the previous complete pass to
 *   the observed seconds.
 * - Device statuses are an open set: the known ones have fixed bits, the first unknown ones (at most
 *   MAX_UNKNOWN_STATUSES, or --collector.max-label-values if lower) get the next bits, later ones count as "other".
 */
import { OTHER, boundLength, UNKNOWN } from '../labels/bound.js';
import { CAMPAIGN_DEVICE_STATUSES } from '../campaigns/statuses.js';
import { hashId, IdTable } from './id-table.js';
import { FORGET_AFTER_MS } from './report-memory.js';

/** 32 bits a device: the known statuses, the unknown ones, and "other". */
const OTHER_BIT = 31;
export const MAX_UNKNOWN_STATUSES = OTHER_BIT - CAMPAIGN_DEVICE_STATUSES.length;

interface CampaignEntry {
  readonly devices: IdTable;
  learned: boolean;
  /** First listed after the listing was learned and walked for the first time: its devices all count. */
  readonly isNew: boolean;
  lastWalkedMs: number;
}

/** `T`: what a walk hands `see` for each device; endPass returns those of the devices it counted. */
export class CampaignMemory<T = never> {
  private listingLearned = false;
  private readonly listed = new Map<string, { lastMs: number; isNew: boolean }>();
  private readonly campaigns = new Map<string, CampaignEntry>();
  private readonly bits = new Map<string, number>(CAMPAIGN_DEVICE_STATUSES.map((s, i) => [s, i]));
  private readonly labels: string[] = [...CAMPAIGN_DEVICE_STATUSES];
  private readonly maxUnknown: number;
  private lastCompleteMs: number | undefined;
  private arrivals = new Map<string, number>();
  private details: T[] = [];

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
      else this.listed.set(id, { lastMs: nowMs, isNew: this.listingLearned });
    }
    if (complete) this.listingLearned = true;
  }

  /** A walk of one campaign; `see` each device as read, `end` once the walk is over. */
  walk(
    campaignId: string,
    nowMs: number,
  ): {
    see(deviceId: unknown, status: string | undefined, detail?: T): void;
    end(complete: boolean): void;
  } {
    let entry = this.campaigns.get(campaignId);
    if (!entry) {
      const listed = this.listed.get(campaignId);
      entry = {
        devices: new IdTable(),
        learned: false,
        isNew: listed?.isNew === true,
        lastWalkedMs: nowMs,
      };
      // Only a campaign's first walk can be that of a new campaign: one walked again after its memory was
      // dropped (folded for a day) learns again instead of counting every device a second time.
      if (listed) listed.isNew = false;
      this.campaigns.set(campaignId, entry);
    }
    entry.lastWalkedMs = nowMs;
    const current = entry;
    const counting = current.learned || current.isNew;
    return {
      see: (deviceId, status, detail) => {
        if (deviceId === undefined || deviceId === null || deviceId === '') return;
        const key = hashId(String(deviceId));
        const bit = this.bitOf(boundLength(status || UNKNOWN));
        const mask = current.devices.get(key) ?? 0;
        const flag = 2 ** bit;
        if (Math.floor(mask / flag) % 2 === 1) return;
        current.devices.set(key, mask + flag);
        if (counting) {
          const label = this.labels[bit]!;
          this.arrivals.set(label, (this.arrivals.get(label) ?? 0) + 1);
          if (detail !== undefined) this.details.push(detail);
        }
      },
      end: (complete) => {
        if (complete) current.learned = true;
      },
    };
  }

  /**
   * Ends a pass: the arrivals it counted (by device status label), the details `see` was given for exactly
   * those, and the time it covers.
   */
  endPass(
    complete: boolean,
    nowMs: number,
  ): { arrivals: Map<string, number>; details: T[]; observedSeconds: number } {
    const arrivals = this.arrivals;
    const details = this.details;
    this.arrivals = new Map();
    this.details = [];
    let observedSeconds = 0;
    if (complete) {
      if (this.lastCompleteMs !== undefined)
        observedSeconds = Math.max(0, nowMs - this.lastCompleteMs) / 1000;
      this.lastCompleteMs = nowMs;
      const cutoff = nowMs - FORGET_AFTER_MS;
      for (const [id, c] of this.campaigns) if (c.lastWalkedMs < cutoff) this.campaigns.delete(id);
      for (const [id, l] of this.listed) if (l.lastMs < cutoff) this.listed.delete(id);
    }
    return { arrivals, details, observedSeconds };
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
}
