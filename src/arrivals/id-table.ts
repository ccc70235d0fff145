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

  private rehash(size: number): void {
    const { keys, values } = this;
    this.keys = new Float64Array(size);
    this.values = new Uint32Array(size);
    this.count = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.set(keys[i]!, values[i]!);
  }
}
