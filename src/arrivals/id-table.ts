/**
 * A compact memory of ids: 53-bit hashes of the ids in a typed-array open-addressing table, each with one
 * 32-bit value. A Map of strings would cost about 100 bytes an id; this costs 12 bytes a slot with a quarter
 * to half of the slots in use, so 24 to 48 bytes an id, which keeps the memory of a fleet of millions of
 * devices inside the exporter's RSS budget.
 *
 * Two different ids share a hash with probability about n² / 2^54 (1 in 36,000 for a million ids); the only
 * effect of such a collision is that one arrival is not counted.
 */

/** cyrb53: a fast, well-mixed 53-bit string hash. Never 0, which marks an empty slot. */
export function hashId(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0) || 1;
}

const MIN_CAPACITY = 16;
/** Bytes of one entry in writeEntries' and readEntries' records. */
export const ENTRY_BYTES = 12;

export class IdTable {
  private keys: Float64Array;
  private values: Uint32Array;
  private count = 0;

  constructor(capacity = MIN_CAPACITY) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(MIN_CAPACITY, capacity * 2)));
    this.keys = new Float64Array(size);
    this.values = new Uint32Array(size);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table, for the benchmark's memory figures. */
  get bytes(): number {
    return this.keys.byteLength + this.values.byteLength;
  }

  private slot(key: number): number {
    const mask = this.keys.length - 1;
    // The low 32 bits of the hash are well mixed; probe linearly from there.
    let i = (key % 4294967296) & mask;
    while (this.keys[i] !== 0 && this.keys[i] !== key) i = (i + 1) & mask;
    return i;
  }

  /** The value stored for `key`, or undefined. */
  get(key: number): number | undefined {
    const i = this.slot(key);
    return this.keys[i] === 0 ? undefined : this.values[i];
  }

  set(key: number, value: number): void {
    let i = this.slot(key);
    if (this.keys[i] === 0) {
      if ((this.count + 1) * 2 > this.keys.length) {
        this.rehash(this.keys.length * 2);
        i = this.slot(key);
      }
      this.keys[i] = key;
      this.count++;
    }
    this.values[i] = value;
  }

  forEach(visit: (key: number, value: number) => void): void {
    for (let i = 0; i < this.keys.length; i++)
      if (this.keys[i] !== 0) visit(this.keys[i]!, this.values[i]!);
  }

  /** Keeps only the entries `keep` says yes to, shrinking the table when it emptied (no tombstones). */
  retain(keep: (key: number, value: number) => boolean): void {
    const { keys, values } = this;
    let kept = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0 && keep(keys[i]!, values[i]!)) kept++;
    if (kept === this.count) return;
    const next = new IdTable(kept);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== 0 && keep(keys[i]!, values[i]!)) next.set(keys[i]!, values[i]!);
    }
    this.keys = next.keys;
    this.values = next.values;
    this.count = next.count;
  }

  /**
   * Copies entries, from slot `from` on, into `out` at `at` as 12-byte records (key as float64, value as
   * uint32, little-endian) until `out` is full or the table ends: the --storage.path snapshot writes a table
   * of millions of ids in bounded chunks. Returns the slot to continue from (the slot count at the end) and
   * the bytes written.
   */
  writeEntries(from: number, out: Buffer, at: number): { next: number; end: number } {
    const { keys, values } = this;
    let i = from;
    let end = at;
    for (; i < keys.length && end + ENTRY_BYTES <= out.length; i++) {
      if (keys[i] === 0) continue;
      out.writeDoubleLE(keys[i]!, end);
      out.writeUInt32LE(values[i]!, end + 8);
      end += ENTRY_BYTES;
    }
    return { next: i, end };
  }

  /** Slots of the table (the bound of writeEntries' `from`). */
  get slots(): number {
    return this.keys.length;
  }

  /**
   * Adds the 12-byte records of `bytes` (see writeEntries). Returns false, leaving the records read so far,
   * at a key that no hashId can give (not a whole number in 1 … 2^53 − 1).
   */
  readEntries(bytes: Buffer): boolean {
    for (let at = 0; at + ENTRY_BYTES <= bytes.length; at += ENTRY_BYTES) {
      const key = bytes.readDoubleLE(at);
      if (!Number.isSafeInteger(key) || key <= 0) return false;
      this.set(key, bytes.readUInt32LE(at + 8));
    }
    return true;
  }

  private rehash(size: number): void {
    const { keys, values } = this;
    this.keys = new Float64Array(size);
    this.values = new Uint32Array(size);
    this.count = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.set(keys[i]!, values[i]!);
  }
}
