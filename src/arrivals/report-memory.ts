/**
 * What one report (account × status, or one campaign's device list) has shown this process: which ids it
 * holds, and whether a complete pass has happened yet. It decides what counts as an arrival:
 *
 * - The first complete pass after start-up learns: it records ids and counts nothing, so a restart never
 *   looks like a spike. A pass that fails before any pass completed also only learns. A memory restored
 *   from the --storage.path snapshot (fromSnapshot) has learned already: a restart is then a collection gap.
 * - After that, an id not remembered counts once when read, even if the pass later fails: it is a real
 *   arrival, and being remembered it never counts twice.
 * - Ids are forgotten only after a complete pass, and only when not seen for FORGET_AFTER_MS: an id stays
 *   remembered while it stays in the report and for a day after, so a short report followed by the full one
 *   never counts an upgrade twice, and memory is bounded by the report plus a day of departures.
 * - Each complete counting pass covers the time since the previous complete pass (observed seconds): after a
 *   collection gap the arrivals of the whole gap are counted at once, together with the gap's length, so
 *   rules can tell them from a spike.
 */
import { hashId, IdTable } from './id-table.js';

export const FORGET_AFTER_MS = 24 * 3_600_000;

export interface PassResult {
  /** Ids counted as arrivals by this pass, and the devices they brought. */
  readonly arrivals: number;
  readonly devices: number;
  /** ThingSpace time this pass's counts cover; 0 unless the pass completed and counted. */
  readonly observedSeconds: number;
}

export class ReportMemory {
  private learned = false;
  private lastCompleteMs: number | undefined;
  private passStartMs = 0;
  private arrivals = 0;
  private devices = 0;

  constructor(
    /** The monotonic ms that second 0 stands for. */
    private readonly originMs: number,
    /** id hash → last seen, in seconds on the monotonic clock since `origin`. */
    private readonly ids = new IdTable(),
  ) {}

  get size(): number {
    return this.ids.size;
  }

  get bytes(): number {
    return this.ids.bytes;
  }

  /** Whether a complete pass has taught the memory what the report held. */
  get counting(): boolean {
    return this.learned;
  }

  beginPass(nowMs: number): void {
    this.passStartMs = nowMs;
    this.arrivals = 0;
    this.devices = 0;
  }

  /** An id read by the current pass; `devices` are the device entries it brings. Returns true if it arrived. */
  see(id: string, devices: number): boolean {
    const key = hashId(id);
    const known = this.ids.get(key) !== undefined;
    this.ids.set(key, this.second(this.passStartMs));
    if (known || !this.learned) return false;
    this.arrivals++;
    this.devices += devices;
    return true;
  }

  endPass(complete: boolean, nowMs: number): PassResult {
    const counted = this.learned;
    let observedSeconds = 0;
    if (complete) {
      if (counted && this.lastCompleteMs !== undefined) {
        observedSeconds = Math.max(0, nowMs - this.lastCompleteMs) / 1000;
      }
      this.learned = true;
      this.lastCompleteMs = nowMs;
      const cutoff = this.second(this.passStartMs - FORGET_AFTER_MS);
      if (cutoff > 0) this.ids.retain((_key, seen) => seen >= cutoff);
    }
    return { arrivals: this.arrivals, devices: this.devices, observedSeconds };
  }

  private second(ms: number): number {
    return Math.max(0, Math.floor((ms - this.originMs) / 1000));
  }

  /**
   * What the --storage.path snapshot keeps (src/storage/arrivals-snapshot.ts), once the memory has learned:
   * its times as wall time, the only kind that means something after a restart. The table is the memory's
   * own, not a copy: it must be written before the next pass changes it.
   */
  toSnapshot(toWallMs: (monotonicMs: number) => number): ReportMemorySnapshot | undefined {
    if (!this.learned || this.lastCompleteMs === undefined) return undefined;
    return {
      originWallMs: toWallMs(this.originMs),
      lastCompleteWallMs: toWallMs(this.lastCompleteMs),
      ids: this.ids,
    };
  }

  /**
   * A memory that continues from a snapshot: it counts from its first pass, which covers the time since the
   * snapshot's last complete pass. Ids keep their last-seen seconds, counted from the same origin.
   */
  static fromSnapshot(
    snapshot: ReportMemorySnapshot,
    toMonotonicMs: (wallMs: number) => number,
  ): ReportMemory {
    const memory = new ReportMemory(toMonotonicMs(snapshot.originWallMs), snapshot.ids);
    memory.learned = true;
    memory.lastCompleteMs = toMonotonicMs(snapshot.lastCompleteWallMs);
    return memory;
  }
}

export interface ReportMemorySnapshot {
  /** The wall time that an id's last-seen second 0 stands for. */
  readonly originWallMs: number;
  /** Wall time of the last complete pass: the next pass's observed seconds start here. */
  readonly lastCompleteWallMs: number;
  /** Id hash → last seen, in seconds since the origin. */
  readonly ids: IdTable;
}
