/**
 * The arrivals journal: the upgrades and device entries behind the entered counters, kept so that an
 * operator can see which upgrades and devices a spike is made of (GET /api/v1/arrivals, /arrivals).
 *
 * - An entry is made exactly where the entered counters count, and becomes visible when they do
 *   (publish(), with the collection's snapshot): for a status, account and window, the distinct upgrade
 *   ids listed equal the increase of thingspace_fota_upgrades_entered_total, and the entries with a device
 *   id that of the device counters.
 * - Bounded: entries older than the retention and the oldest beyond max-entries are dropped (counted).
 * - Small: entries live in typed-array columns outside the V8 heap, each repeated text once (columns.ts,
 *   which says why and what an entry costs); free texts are cut to MAX_TEXT_LENGTH code points.
 *
 * Pure: the clock is injected, nothing here does I/O.
 */
import type { Api } from '../campaigns/statuses.js';
import { boundLength, UNKNOWN } from '../labels/bound.js';
import { ArrivalColumns, type Row, type Selection, type TextField } from './columns.js';

/** Longest raw text kept (a reason, a device id, a firmware or campaign name), in code points. */
export const MAX_TEXT_LENGTH = 500;

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

/** The public shape of an arrival (the API's JSON and CSV): an entry as kept, its time in RFC 3339. */
export type Arrival = Omit<Row, 'firstSeenMs'> & {
  readonly firstSeen: string;
};

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

/** An entry as the columns keep it: the origin's fields flattened into it. */
function toRow(kept: Kept): Row {
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
    firstSeenMs: origin.firstSeenMs,
  };
}

function arrivalOf(row: Row): Arrival {
  const { firstSeenMs, ...fields } = row;
  return { ...fields, firstSeen: new Date(firstSeenMs).toISOString() };
}

export function toArrival(kept: Kept): Arrival {
  return arrivalOf(toRow(kept));
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

/**
 * A text as an entry keeps it: cut to MAX_TEXT_LENGTH code points; null for missing or empty. Numbers
 * (a v1 device id may be one) are written out. The columns (columns.ts) keep one copy of each text that
 * repeats, so nothing is interned here.
 */
export function keptText(text: string | number | null | undefined): string | null {
  if (text === undefined || text === null || text === '') return null;
  const raw = typeof text === 'number' ? String(text) : text;
  // A sliced string keeps its parent alive; flattening it through a template keeps only the cut part.
  return raw.length > MAX_TEXT_LENGTH ? `${cut(raw, MAX_TEXT_LENGTH)}` : raw;
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

/** The filter as the columns judge it: each text field's accepted texts. */
function selection(filter: ArrivalFilter): Selection {
  const fields: [TextField, (text: string | null) => boolean][] = [];
  const { statuses, account, api, firmwareTo, reason } = filter;
  if (statuses !== null) fields.push(['status', (text) => text !== null && statuses.has(text)]);
  if (account !== null) fields.push(['account', (text) => text === account]);
  if (api !== null) fields.push(['api', (text) => text === api]);
  if (firmwareTo !== null)
    fields.push([
      'firmwareTo',
      (text) => text === firmwareTo || firmwareLabel(text) === firmwareTo,
    ]);
  if (reason !== null) fields.push(['reasonLabel', (text) => text === reason]);
  return { sinceMs: filter.sinceMs, fields };
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
  readonly arrivals: readonly Arrival[];
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
  /** Every entry written; the kept ones are at positions [head, published), the pending ones after. */
  private readonly columns = new ArrivalColumns();
  private head = 0;
  private published = 0;
  /** Entries the collection under way may still make (see take()). */
  private room: number;
  private readonly statusesMet = new Set<string>();
  private readonly statusesPending = new Set<string>();
  readonly dropped: Dropped = { retention: 0, max_entries: 0 };

  constructor(private readonly options: JournalOptions) {
    this.room = options.maxEntries;
  }

  /** Entries kept now. */
  get size(): number {
    return this.published - this.head;
  }

  /** Bytes the entries hold outside the V8 heap, and distinct texts they share (for the benchmark). */
  get footprint(): { bytes: number; texts: number } {
    return { bytes: this.columns.bytes, texts: this.columns.texts };
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
    for (const k of kept) {
      this.columns.append(toRow(k));
      this.statusesPending.add(k.status);
    }
    this.makeRoom();
  }

  /**
   * Entries written beyond max-entries push the oldest kept ones out now rather than at publish(), where
   * they would go anyway: otherwise a collection that brings a full cap holds twice the cap until it ends.
   * Meanwhile the list shows fewer of the old entries, never any of the new.
   */
  private makeRoom(): void {
    const excess = this.columns.written - this.head - this.options.maxEntries;
    const out = Math.min(excess, this.size);
    if (out <= 0) return;
    this.head += out;
    this.drop('max_entries', out);
    this.columns.releaseBefore(this.head);
  }

  private drop(bound: keyof Dropped, count: number): void {
    this.dropped[bound] += count;
    this.options.onDropped?.(bound, count);
  }

  /** Makes the arrivals added since the last publish visible, then applies the bounds. */
  publish(): void {
    this.published = this.columns.written;
    for (const status of this.statusesPending) this.statusesMet.add(status);
    this.statusesPending.clear();
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
    while (this.head < this.published && this.columns.firstSeenMs(this.head) < cutoff) {
      this.head++;
      aged++;
    }
    if (aged > 0) this.drop('retention', aged);
    this.columns.releaseBefore(this.head);
  }

  /** A page of matches, newest first, starting before position `before` (a previous page's `next`). */
  list(filter: ArrivalFilter, limit: number, before: number | null = null): Page {
    this.prune();
    const out: Arrival[] = [];
    const end = before === null ? this.published : Math.min(this.published, before);
    for (const position of this.columns.select(selection(filter), this.head, end)) {
      if (out.length === limit) return { arrivals: out, next: position + 1 };
      out.push(arrivalOf(this.columns.row(position)));
    }
    return { arrivals: out, next: null };
  }

  /** Counts of every match by account, target firmware and reason: the shape of a failure at a glance. */
  groups(filter: ArrivalFilter): Groups {
    this.prune();
    const {
      total,
      counts: [accounts, firmware, reasons],
    } = this.columns.countBy(selection(filter), this.head, this.published, [
      (text) => text('account')!,
      (text) => firmwareLabel(text('firmwareTo')),
      (text) => text('reasonLabel') ?? '(no devices)',
    ]);
    return { total, accounts: accounts!, firmware: firmware!, reasons: reasons! };
  }
}
