/**
 * Where the arrivals journal (journal.ts) keeps its entries: typed-array columns in chunks of CHUNK
 * entries, outside the V8 heap.
 *
 * Why not one object per entry: 100,000 entry objects with their device-id strings held about 147 B of
 * live heap each, and V8's old generation grows with headroom on top, so a full journal cost about 500 B
 * of resident memory per entry (54 MiB at the default cap, past the 200 MiB target). Here an entry is
 * 44 B of columns plus the bytes of its device id (and of a reason its chunk has not met yet), allocated
 * exactly, and the texts that repeat live once.
 *
 * - Texts that repeat (account, status, reason label, firmware, campaign) are numbered in a TextTable shared
 *   by all chunks; a chunk numbers the texts it uses again, locally, so that its columns are 16-bit
 *   (a chunk has at most 1 + TEXT_FIELDS × CHUNK distinct texts, under 65,536).
 * - Device ids, upgrade ids and raw reasons are UTF-8 bytes in the chunk's own buffer: they are often
 *   distinct (a reason may carry a time or a device number), and a distinct text in the shared table would
 *   cost a string and a map entry on the heap, 100 bytes and more. An upgrade's device entries, written one
 *   after another, share its id's bytes; a reason met again in the same chunk shares the first one's.
 * - A text lives while a chunk that uses it lives: the table counts chunks, not entries, so dropping an
 *   entry costs nothing and freeing a chunk releases its texts.
 *
 * Pure: nothing here does I/O.
 */
import type { Api } from '../campaigns/statuses.js';

/** Entries per chunk: the granularity at which memory is freed. */
export const CHUNK = 4096;

/** The text fields of an entry, in column order. */
export const TEXT_FIELDS = [
  'account',
  'api',
  'status',
  'campaignId',
  'campaignName',
  'deviceStatus',
  'reasonLabel',
  'firmwareFrom',
  'firmwareTo',
] as const;
export type TextField = (typeof TEXT_FIELDS)[number];
const FIELDS = TEXT_FIELDS.length;
const COLUMN: Readonly<Record<TextField, number>> = Object.fromEntries(
  TEXT_FIELDS.map((field, i) => [field, i]),
) as Record<TextField, number>;

/** One entry as written and read back: a device entry, or an upgrade without devices (deviceId null). */
export interface Row {
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
  /** Wall-clock ms when the exporter first saw it arrive. */
  readonly firstSeenMs: number;
}

/** Which rows to visit: first seen at or after sinceMs, and each named field's text accepted. */
export interface Selection {
  readonly sinceMs: number;
  readonly fields: readonly (readonly [TextField, (text: string | null) => boolean])[];
}

/** Numbers each distinct text once; a number is reused once no chunk uses its text. */
class TextTable {
  private readonly ids = new Map<string, number>();
  /** Index 0 is no text (null). */
  private readonly texts: (string | null)[] = [null];
  private readonly users: number[] = [0];
  private readonly free: number[] = [];

  /** The text's number, counting one more chunk that uses it. */
  acquire(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.free.pop() ?? this.texts.length;
      this.texts[id] = text;
      this.users[id] = 0;
      this.ids.set(text, id);
    }
    this.users[id]!++;
    return id;
  }

  /** One chunk fewer uses the text. */
  release(id: number): void {
    if (--this.users[id]! > 0) return;
    this.ids.delete(this.texts[id]!);
    this.texts[id] = null;
    this.free.push(id);
  }

  text(id: number): string | null {
    return this.texts[id] ?? null;
  }

  /** Distinct texts in use. */
  get size(): number {
    return this.ids.size;
  }
}

/** Bytes a string can take in UTF-8. */
const utf8Bound = (text: string) => text.length * 3;

class Chunk {
  length = 0;
  readonly firstSeen = new Float64Array(CHUNK);
  /** Local text numbers, FIELDS per entry. */
  readonly fields = new Uint16Array(CHUNK * FIELDS);
  /** Start and length in `bytes` of the device id, the upgrade id and the raw reason; length 0 is none. */
  readonly deviceAt = new Uint32Array(CHUNK);
  readonly deviceLength = new Uint16Array(CHUNK);
  readonly upgradeAt = new Uint32Array(CHUNK);
  readonly upgradeLength = new Uint16Array(CHUNK);
  readonly reasonAt = new Uint32Array(CHUNK);
  readonly reasonLength = new Uint16Array(CHUNK);
  bytes: Buffer = Buffer.allocUnsafeSlow(CHUNK * 16);
  used = 0;
  /** Local text number → the table's; local 0 is no text. */
  globals = new Uint32Array(256);
  distinct = 1;
  /** Text → local number, while the chunk is written; dropped once it is full. */
  private locals: Map<string, number> | null = new Map();
  /** Reason → the entry that first wrote its bytes, while the chunk is written. */
  private reasons: Map<string, number> | null = new Map();
  private lastUpgrade: string | null = null;

  constructor(private readonly table: TextTable) {}

  get full(): boolean {
    return this.length === CHUNK;
  }

  private local(text: string | null): number {
    if (text === null) return 0;
    let local = this.locals!.get(text);
    if (local === undefined) {
      local = this.distinct++;
      if (local === this.globals.length) {
        const grown = new Uint32Array(this.globals.length * 2);
        grown.set(this.globals);
        this.globals = grown;
      }
      this.globals[local] = this.table.acquire(text);
      this.locals!.set(text, local);
    }
    return local;
  }

  /** Writes `text`'s UTF-8 bytes; returns [start, length]. */
  private write(text: string): [number, number] {
    if (this.used + utf8Bound(text) > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(
        Math.max(this.bytes.length * 2, this.used + utf8Bound(text)),
      );
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    const start = this.used;
    this.used += this.bytes.write(text, start, 'utf8');
    return [start, this.used - start];
  }

  append(row: Row): void {
    const i = this.length++;
    this.firstSeen[i] = row.firstSeenMs;
    const at = i * FIELDS;
    for (let f = 0; f < FIELDS; f++) this.fields[at + f] = this.local(row[TEXT_FIELDS[f]!]);
    if (row.deviceId !== null) [this.deviceAt[i], this.deviceLength[i]] = this.write(row.deviceId);
    if (row.upgradeId !== null) {
      if (row.upgradeId === this.lastUpgrade && i > 0) {
        this.upgradeAt[i] = this.upgradeAt[i - 1]!;
        this.upgradeLength[i] = this.upgradeLength[i - 1]!;
      } else {
        [this.upgradeAt[i], this.upgradeLength[i]] = this.write(row.upgradeId);
      }
    }
    this.lastUpgrade = row.upgradeId;
    if (row.resultReason !== null) {
      const first = this.reasons!.get(row.resultReason);
      if (first === undefined) {
        [this.reasonAt[i], this.reasonLength[i]] = this.write(row.resultReason);
        this.reasons!.set(row.resultReason, i);
      } else {
        this.reasonAt[i] = this.reasonAt[first]!;
        this.reasonLength[i] = this.reasonLength[first]!;
      }
    }
    if (this.full) this.seal();
  }

  /** Full: no more writes, so the lookup goes and the buffers shrink to what they hold. */
  private seal(): void {
    this.locals = null;
    this.reasons = null;
    this.lastUpgrade = null;
    const bytes = Buffer.allocUnsafeSlow(this.used);
    this.bytes.copy(bytes, 0, 0, this.used);
    this.bytes = bytes;
    this.globals = this.globals.slice(0, this.distinct);
  }

  /** Gives the chunk's texts back to the table. */
  free(): void {
    for (let local = 1; local < this.distinct; local++) this.table.release(this.globals[local]!);
  }

  text(i: number, field: TextField): string | null {
    return this.table.text(this.globals[this.fields[i * FIELDS + COLUMN[field]]!]!);
  }

  /** An id or a reason kept as bytes. */
  private id(at: number, length: number): string | null {
    return length === 0 ? null : this.bytes.toString('utf8', at, at + length);
  }

  row(i: number): Row {
    const at = i * FIELDS;
    const text = (field: TextField) =>
      this.table.text(this.globals[this.fields[at + COLUMN[field]]!]!);
    return {
      account: text('account')!,
      api: text('api') as Api,
      status: text('status')!,
      upgradeId: this.id(this.upgradeAt[i]!, this.upgradeLength[i]!),
      campaignId: text('campaignId'),
      campaignName: text('campaignName'),
      deviceId: this.id(this.deviceAt[i]!, this.deviceLength[i]!),
      deviceStatus: text('deviceStatus'),
      resultReason: this.id(this.reasonAt[i]!, this.reasonLength[i]!),
      reasonLabel: text('reasonLabel'),
      firmwareFrom: text('firmwareFrom'),
      firmwareTo: text('firmwareTo'),
      firstSeenMs: this.firstSeen[i]!,
    };
  }

  /** For each local text number, whether `accepts` takes its text. */
  accepted(accepts: (text: string | null) => boolean): Uint8Array {
    const flags = new Uint8Array(this.distinct);
    for (let local = 0; local < this.distinct; local++)
      flags[local] = accepts(this.table.text(this.globals[local]!)) ? 1 : 0;
    return flags;
  }

  /** Whether entry i passes the selection, given the chunk's accepted flags per selected field. */
  passes(i: number, sinceMs: number, columns: readonly number[], flags: readonly Uint8Array[]) {
    if (this.firstSeen[i]! < sinceMs) return false;
    const at = i * FIELDS;
    for (let s = 0; s < columns.length; s++)
      if (flags[s]![this.fields[at + columns[s]!]!] === 0) return false;
    return true;
  }

  /** Bytes held: columns, id bytes and local numbers. */
  get bytesHeld(): number {
    return (
      this.firstSeen.byteLength +
      this.fields.byteLength +
      this.deviceAt.byteLength +
      this.deviceLength.byteLength +
      this.upgradeAt.byteLength +
      this.upgradeLength.byteLength +
      this.reasonAt.byteLength +
      this.reasonLength.byteLength +
      this.bytes.length +
      this.globals.byteLength
    );
  }
}

/**
 * Rows at positions that only grow: append at the end, release from the front. A position stays the same
 * row for as long as the row is kept, so that it can serve as a cursor.
 */
export class ArrivalColumns {
  private readonly table = new TextTable();
  private chunks: Chunk[] = [];
  /** Position of chunks[0]'s first row. */
  private base = 0;
  private end = 0;

  /** The position after the last row written. */
  get written(): number {
    return this.end;
  }

  /** Distinct texts held, for tests and the benchmark. */
  get texts(): number {
    return this.table.size;
  }

  /** Bytes held in the columns (outside the V8 heap), for the benchmark. */
  get bytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.bytesHeld, 0);
  }

  append(row: Row): void {
    let last = this.chunks.at(-1);
    if (last === undefined || last.full) {
      last = new Chunk(this.table);
      this.chunks.push(last);
    }
    last.append(row);
    this.end++;
  }

  private chunkOf(position: number): [Chunk, number] {
    const offset = position - this.base;
    return [this.chunks[Math.floor(offset / CHUNK)]!, offset % CHUNK];
  }

  firstSeenMs(position: number): number {
    const [chunk, i] = this.chunkOf(position);
    return chunk.firstSeen[i]!;
  }

  row(position: number): Row {
    const [chunk, i] = this.chunkOf(position);
    return chunk.row(i);
  }

  /** Frees the chunks whose rows all lie before `position` (rows nobody will read again). */
  releaseBefore(position: number): void {
    let gone = 0;
    while (gone < this.chunks.length && this.base + (gone + 1) * CHUNK <= position) {
      this.chunks[gone]!.free();
      gone++;
    }
    if (gone === 0) return;
    this.chunks = this.chunks.slice(gone);
    this.base += gone * CHUNK;
  }

  /**
   * The positions in [from, to) whose rows pass the selection, newest first. Each chunk's texts are
   * judged once per chunk, not once per row.
   */
  *select(selection: Selection, from: number, to: number): Generator<number> {
    const columns = selection.fields.map(([field]) => COLUMN[field]);
    let position = to - 1;
    while (position >= from) {
      const [chunk, last] = this.chunkOf(position);
      const flags = selection.fields.map(([, accepts]) => chunk.accepted(accepts));
      const first = Math.max(0, last - (position - from));
      for (let i = last; i >= first; i--, position--)
        if (chunk.passes(i, selection.sinceMs, columns, flags)) yield position;
    }
  }

  /** Counts of the selected rows by the texts `key` reads from each. */
  countBy(
    selection: Selection,
    from: number,
    to: number,
    keys: readonly ((text: (field: TextField) => string | null) => string)[],
  ): { total: number; counts: Map<string, number>[] } {
    const counts = keys.map(() => new Map<string, number>());
    let total = 0;
    for (const position of this.select(selection, from, to)) {
      total++;
      const [chunk, i] = this.chunkOf(position);
      const text = (field: TextField) => chunk.text(i, field);
      keys.forEach((key, k) => {
        const value = key(text);
        counts[k]!.set(value, (counts[k]!.get(value) ?? 0) + 1);
      });
    }
    return { total, counts };
  }
}
