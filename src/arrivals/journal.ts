/**
 * The arrivals journal: the upgrades and device entries behind the entered counters, kept so that an
 * operator can see which upgrades and devices a spike is made of (GET /api/v1/arrivals, /arrivals).
 *
 * - An entry is made exactly where the entered counters count, and becomes visible when they do
 *   (publish(), with the collection's snapshot): for a status, account and window, the distinct upgrade
 *   ids listed equal the increase of thingspace_fota_upgrades_entered_total, and the entries with a device
 *   id that of the device counters.
 * - Bounded: entries older than the retention and the oldest beyond max-entries are dropped (counted).
 * - Small: the texts that repeat (accounts, statuses, reasons, firmware, campaign names, upgrade ids) are
 *   interned; free texts are cut to MAX_TEXT_LENGTH code points; the fields an upgrade's or a campaign's
 *   device entries share live once, in an Origin.
 *
 * Pure: the clock is injected, nothing here does I/O.
 */
import type { Api } from '../campaigns/statuses.js';
import { boundLength, UNKNOWN } from '../labels/bound.js';

/** Longest raw text kept (a reason, a device id, a firmware or campaign name), in code points. */
export const MAX_TEXT_LENGTH = 500;
/** Interned texts remembered at once; past it the table starts again (entries keep their texts). */
const MAX_INTERNED = 20_000;

/** What the device entries of one upgrade (v1) or of one campaign walk (v2/v3) share. */
export interface Origin {
  readonly account: string;
  readonly api: Api;
  readonly upgradeId: string | null;
  readonly campaignId: string | null;
  readonly campaignName: string | null;
  readonly firmwareFrom: string | null;
  readonly firmwareTo: string | null;
  /** Wall-clock ms when the exporter first saw it arrive. */
  readonly firstSeenMs: number;
}

/** One arrival as kept: one device entry, or an upgrade without devices (deviceId null). */
export interface Kept {
  readonly origin: Origin;
  /** The status entered: the report's status (v1), the device status counted (v2/v3). */
  readonly status: string;
  readonly deviceId: string | null;
  readonly deviceStatus: string | null;
  /** Raw, as ThingSpace sent it (cut to MAX_TEXT_LENGTH). */
  readonly resultReason: string | null;
  /** As the metrics label it; null for an upgrade without devices. */
  readonly reasonLabel: string | null;
}

/** The public shape of an arrival (the API's JSON and CSV). */
export interface Arrival {
  readonly account: string;
  readonly api: Api;
  readonly status: string;
  readonly upgradeId: string | null;
  readonly campaignId: string | null;
  readonly campaignName: string | null;
  readonly deviceId: string | null;
  readonly deviceStatus: string | null;
  readonly resultReason: string | null;
  readonly reasonLabel: string | null;
  readonly firmwareFrom: string | null;
  readonly firmwareTo: string | null;
  readonly firstSeen: string;
}

export const ARRIVAL_FIELDS = [
  'account',
  'api',
  'status',
  'upgradeId',
  'campaignId',
  'campaignName',
  'deviceId',
  'deviceStatus',
  'resultReason',
  'reasonLabel',
  'firmwareFrom',
  'firmwareTo',
  'firstSeen',
] as const satisfies readonly (keyof Arrival)[];

export function toArrival(kept: Kept): Arrival {
  const { origin } = kept;
  return {
    account: origin.account,
    api: origin.api,
    status: kept.status,
    upgradeId: origin.upgradeId,
    campaignId: origin.campaignId,
    campaignName: origin.campaignName,
    deviceId: kept.deviceId,
    deviceStatus: kept.deviceStatus,
    resultReason: kept.resultReason,
    reasonLabel: kept.reasonLabel,
    firmwareFrom: origin.firmwareFrom,
    firmwareTo: origin.firmwareTo,
    firstSeen: new Date(origin.firstSeenMs).toISOString(),
  };
}

/** Cuts a text to `max` code points, never inside a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  let points = 0;
  while (end < text.length && points < max) {
    end += text.codePointAt(end)! > 0xffff ? 2 : 1;
    points++;
  }
  return text.slice(0, end);
}

/** One copy of each repeated text; bounded, because the texts are not. */
export class Texts {
  private readonly table = new Map<string, string>();

  /** The interned, cut text; null for missing or empty. */
  of(text: string | number | null | undefined): string | null {
    if (text === undefined || text === null || text === '') return null;
    const raw = typeof text === 'number' ? String(text) : text;
    let kept = this.table.get(raw);
    if (kept === undefined) {
      // A sliced string keeps its parent alive; flattening it through a template keeps only the cut part.
      kept = raw.length > MAX_TEXT_LENGTH ? `${cut(raw, MAX_TEXT_LENGTH)}` : raw;
      if (this.table.size >= MAX_INTERNED) this.table.clear();
      this.table.set(raw, kept);
    }
    return kept;
  }

  /** Device ids rarely repeat: cut and copied out of the page's JSON text, never interned. */
  unique(text: string | number | null | undefined): string | null {
    if (text === undefined || text === null || text === '') return null;
    const raw = typeof text === 'number' ? String(text) : text;
    return raw.length > MAX_TEXT_LENGTH ? `${cut(raw, MAX_TEXT_LENGTH)}` : raw;
  }
}

/** What to list; null: any. */
export interface ArrivalFilter {
  readonly statuses: ReadonlySet<string> | null;
  readonly account: string | null;
  readonly api: Api | null;
  /** Wall-clock ms; entries first seen at or after it. */
  readonly sinceMs: number;
  /** The raw target firmware, or its label (cut; "unknown" for none). */
  readonly firmwareTo: string | null;
  /** The normalised reason label. */
  readonly reason: string | null;
}

export function firmwareLabel(firmwareTo: string | null): string {
  return boundLength(firmwareTo ?? UNKNOWN);
}

function matches(kept: Kept, filter: ArrivalFilter): boolean {
  const { origin } = kept;
  if (origin.firstSeenMs < filter.sinceMs) return false;
  if (filter.statuses !== null && !filter.statuses.has(kept.status)) return false;
  if (filter.account !== null && origin.account !== filter.account) return false;
  if (filter.api !== null && origin.api !== filter.api) return false;
  if (
    filter.firmwareTo !== null &&
    origin.firmwareTo !== filter.firmwareTo &&
    firmwareLabel(origin.firmwareTo) !== filter.firmwareTo
  )
    return false;
  if (filter.reason !== null && kept.reasonLabel !== filter.reason) return false;
  return true;
}

export interface JournalOptions {
  readonly retentionMs: number;
  readonly maxEntries: number;
  /** Wall clock, ms since the epoch. */
  readonly now: () => number;
  /** Told of every drop, for thingspace_fota_arrivals_dropped_total. */
  readonly onDropped?: (bound: keyof Dropped, count: number) => void;
}

export interface Dropped {
  /** Aged out: first seen longer than the retention ago. */
  retention: number;
  /** Pushed out by newer entries beyond max-entries. */
  max_entries: number;
}

export interface Page {
  /** Newest first. */
  readonly arrivals: readonly Kept[];
  /** Where the next page starts (a position), or null when this page holds the last match. */
  readonly next: number | null;
}

export interface Groups {
  readonly total: number;
  readonly accounts: ReadonlyMap<string, number>;
  readonly firmware: ReadonlyMap<string, number>;
  readonly reasons: ReadonlyMap<string, number>;
}

export class ArrivalJournal {
  readonly texts = new Texts();
  /** Entries in the order they were published; the live ones are entries[head…]. */
  private entries: Kept[] = [];
  private head = 0;
  /** Position of entries[0]: positions only grow, so a cursor stays valid while entries drop. */
  private base = 0;
  private pending: Kept[] = [];
  /** Entries the collection under way may still make (see take()). */
  private room: number;
  private readonly statusesMet = new Set<string>();
  readonly dropped: Dropped = { retention: 0, max_entries: 0 };

  constructor(private readonly options: JournalOptions) {
    this.room = options.maxEntries;
  }

  /** Entries kept now. */
  get size(): number {
    return this.entries.length - this.head;
  }

  get droppedTotal(): number {
    return this.dropped.retention + this.dropped.max_entries;
  }

  /** Statuses entries were recorded with since start-up (the open set of campaign device statuses). */
  hasStatus(status: string): boolean {
    return this.statusesMet.has(status);
  }

  /** The statuses met since start-up, in the order met. */
  statuses(): string[] {
    return [...this.statusesMet];
  }

  /**
   * Of `wanted` arrivals the collection under way counted, how many get an entry. A collection makes at
   * most max-entries of them: past that only max-entries could be kept anyway, and building entries to drop
   * them would cost a spike far larger than the cap its memory (the rest are counted as dropped at once).
   * Which of one collection's arrivals are kept when it alone brings more is the first ones read: they all
   * entered at that collection, and older collections' entries are still dropped first.
   */
  take(wanted: number): number {
    const granted = Math.min(wanted, this.room);
    this.room -= granted;
    if (wanted > granted) this.drop('max_entries', wanted - granted);
    return granted;
  }

  /** Entries of arrivals counted by a pass (granted by take()); visible at the next publish(), with the counters. */
  add(kept: readonly Kept[]): void {
    for (const k of kept) this.pending.push(k);
  }

  private drop(bound: keyof Dropped, count: number): void {
    this.dropped[bound] += count;
    this.options.onDropped?.(bound, count);
  }

  /** Makes the arrivals added since the last publish visible, then applies the bounds. */
  publish(): void {
    for (const k of this.pending) {
      this.entries.push(k);
      this.statusesMet.add(k.status);
    }
    this.pending = [];
    this.room = this.options.maxEntries;
    this.prune();
  }

  /** Drops what is past the retention or beyond max-entries, oldest first. */
  prune(): void {
    const excess = this.size - this.options.maxEntries;
    if (excess > 0) {
      this.head += excess;
      this.drop('max_entries', excess);
    }
    // Publish order is nearly first-seen order (passes run side by side): stop at the first young entry.
    const cutoff = this.options.now() - this.options.retentionMs;
    let aged = 0;
    while (
      this.head < this.entries.length &&
      this.entries[this.head]!.origin.firstSeenMs < cutoff
    ) {
      this.head++;
      aged++;
    }
    if (aged > 0) this.drop('retention', aged);
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  /** A page of matches, newest first, starting before position `before` (a previous page's `next`). */
  list(filter: ArrivalFilter, limit: number, before: number | null = null): Page {
    this.prune();
    const out: Kept[] = [];
    const start =
      before === null
        ? this.entries.length - 1
        : Math.min(this.entries.length, before - this.base) - 1;
    for (let i = start; i >= this.head; i--) {
      const kept = this.entries[i]!;
      if (!matches(kept, filter)) continue;
      if (out.length === limit) return { arrivals: out, next: this.base + i + 1 };
      out.push(kept);
    }
    return { arrivals: out, next: null };
  }

  /** Counts of every match by account, target firmware and reason: the shape of a failure at a glance. */
  groups(filter: ArrivalFilter): Groups {
    this.prune();
    const accounts = new Map<string, number>();
    const firmware = new Map<string, number>();
    const reasons = new Map<string, number>();
    const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
    let total = 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const kept = this.entries[i]!;
      if (!matches(kept, filter)) continue;
      total++;
      add(accounts, kept.origin.account);
      add(firmware, firmwareLabel(kept.origin.firmwareTo));
      add(reasons, kept.reasonLabel ?? '(no devices)');
    }
    return { total, accounts, firmware, reasons };
  }
}
