/**
 * With --storage.path, the id memories behind the entered counters (every v1 report's and every account ×
 * campaign API's) and the counters' values outlive a restart: after a collection that read something, they
 * are written to `arrivals.snapshot` beside state.json, and at start-up a snapshot of the last day takes the
 * place of the learning pass. Arrivals while the exporter was down are then counted by its first pass, and
 * that pass's observed seconds run from the last complete pass before the stop: to the rules a restart is a
 * collection gap like any other. The counters continue from their saved values, so Prometheus sees no reset
 * (a reset followed by a first pass larger than the old value would hide part of it from increase()).
 *
 * The file: an 8-byte magic, a uint32 format version, a uint32 header length, the header (JSON: the memories'
 * times and flags, campaign and status lists, counter values, and how many entries each table holds), the
 * tables' entries (12 bytes each, see IdTable.writeEntries) in header order, and a SHA-256 of everything
 * before it. Millions of ids take 12 bytes each: written in chunks of WRITE_CHUNK_BYTES, awaiting the disk
 * between chunks, so scrapes are served during a write and the write adds at most a chunk to the process's
 * memory.
 *
 * Rules that keep the counters honest:
 * - The snapshot is written after the collection's passes and before its counters are published, so the
 *   file never holds less than what Prometheus may have scraped: a crash at any moment restarts from values
 *   that Prometheus has seen or is about to see, and their arrivals are never counted twice.
 * - A write that fails (or would pass MAX_SNAPSHOT_BYTES) removes the older snapshot: restoring it would put
 *   the counters below what was published. The next restart then learns, as without --storage.path.
 * - Writes are atomic (temporary file, fsync, rename, directory fsync) and never run two at once: the
 *   collection loop waits for its write before the next collection starts.
 * - A snapshot is used only if it is younger than FORGET_AFTER_MS (the memory's own horizon) and readable in
 *   full by this version; its memories of configured account × status / API pairs are restored, the others
 *   dropped (adding an account keeps the others counting across the restart; the new one learns). One that
 *   restores nothing is ignored. Either way, one log line says what happened.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readSync, rmSync, type Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CampaignMemory, type CampaignMemorySnapshot } from '../arrivals/campaign-memory.js';
import type { SavedSeries } from '../arrivals/counters.js';
import type { EnteredCounters } from '../arrivals/entered.js';
import { ENTRY_BYTES, IdTable } from '../arrivals/id-table.js';
import {
  FORGET_AFTER_MS,
  ReportMemory,
  type ReportMemorySnapshot,
} from '../arrivals/report-memory.js';
import { CAMPAIGN_APIS, type Api, type CampaignApi } from '../campaigns/statuses.js';
import type { Clock } from '../clock.js';
import { reportKey } from '../collection/snapshot.js';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../upgrades/statuses.js';
import { errorCode, syncDirectory } from './store.js';

export const ARRIVALS_SNAPSHOT_FILE = 'arrivals.snapshot';
const MAGIC = Buffer.from('TSFOTAID', 'latin1');
export const ARRIVALS_SNAPSHOT_VERSION = 1;
const FORMAT = 'thingspace-fota-exporter/arrivals';
const PREAMBLE_BYTES = MAGIC.length + 8;
const DIGEST_BYTES = 32;
/**
 * Whole entries a write encodes between two awaits: 256 KiB, some 2 ms of the event loop (8 ms for 1 MiB
 * measured on a busy 2-core machine), so a scrape during a write waits at most that long.
 */
const WRITE_CHUNK_BYTES = Math.floor((256 * 1024) / ENTRY_BYTES) * ENTRY_BYTES;
/** Whole entries read at once at start-up (nothing is served yet): 1 MiB. */
const READ_CHUNK_BYTES = Math.floor((1024 * 1024) / ENTRY_BYTES) * ENTRY_BYTES;
/**
 * The largest snapshot written or read: some 22 million ids, ten times the largest fleet measured
 * (docs/performance.md). Above it nothing is written and the older snapshot is removed.
 */
export const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;
const TEMP_MARK = '.tmp-';
let temps = 0;

/** The entered counters' families, by the name the file gives them. */
const FAMILIES = [
  'upgrades',
  'upgradeDevices',
  'upgradesObserved',
  'campaignDevices',
  'campaignDevicesObserved',
] as const satisfies readonly (keyof EnteredCounters)[];
type FamilyName = (typeof FAMILIES)[number];
const V1_FAMILIES: readonly FamilyName[] = ['upgrades', 'upgradeDevices', 'upgradesObserved'];

/** What a snapshot is taken of and restored into: the Collector's memories (by reportKey) and counters. */
export interface ArrivalsState {
  readonly reports: Map<string, ReportMemory>;
  readonly campaigns: Map<string, CampaignMemory>;
  readonly counters: EnteredCounters;
}

/** What the configured exporter reads: memories of other pairs are not restored. */
export interface ArrivalsScope {
  readonly accounts: readonly string[];
  readonly apis: readonly Api[];
  readonly maxLabelValues: number;
}

export interface SnapshotLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

interface ReportHeader {
  account: string;
  status: string;
  originWallMs: number;
  lastCompleteWallMs: number;
  entries: number;
}

interface CampaignHeader {
  account: string;
  api: string;
  listingLearned: boolean;
  lastCoveredWallMs: number | null;
  statusBits: { label: string; bit: number }[];
  listed: { id: string; lastWallMs: number }[];
  campaigns: {
    id: string;
    learned: boolean;
    countsFromStart: boolean;
    lastWalkedWallMs: number;
    missedMs: number;
    held: readonly { label: string; count: number }[];
    entries: number;
  }[];
}

interface Header {
  format: string;
  writtenAtMs: number;
  reports: ReportHeader[];
  campaigns: CampaignHeader[];
  counters: Partial<Record<FamilyName, SavedSeries[]>>;
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

/** A snapshot of `state` as header and tables; the tables are the memories' own. */
function capture(state: ArrivalsState, clock: Clock): { header: Header; tables: IdTable[] } {
  const wallMs = clock.wallMs();
  const offset = wallMs - clock.monotonicMs();
  const toWall = (mono: number) => mono + offset;
  const tables: IdTable[] = [];
  const reports: ReportHeader[] = [];
  for (const [key, memory] of state.reports) {
    const snapshot = memory.toSnapshot(toWall);
    if (!snapshot) continue; // not learned yet: the next process learns it as this one would have
    const [account, status] = splitKey(key);
    reports.push({
      account,
      status,
      originWallMs: snapshot.originWallMs,
      lastCompleteWallMs: snapshot.lastCompleteWallMs,
      entries: snapshot.ids.size,
    });
    tables.push(snapshot.ids);
  }
  const campaigns: CampaignHeader[] = [];
  for (const [key, memory] of state.campaigns) {
    const snapshot = memory.toSnapshot(toWall);
    const [account, api] = splitKey(key);
    campaigns.push({
      account,
      api,
      listingLearned: snapshot.listingLearned,
      lastCoveredWallMs: snapshot.lastCoveredWallMs ?? null,
      statusBits: snapshot.statusBits.map(({ label, bit }) => ({ label, bit })),
      listed: snapshot.listed.map((l) => ({ ...l })),
      campaigns: snapshot.campaigns.map(({ devices, ...c }) => {
        tables.push(devices);
        return { ...c, entries: devices.size };
      }),
    });
  }
  const counters: Header['counters'] = {};
  for (const name of FAMILIES) counters[name] = state.counters[name].dump();
  return { header: { format: FORMAT, writtenAtMs: wallMs, reports, campaigns, counters }, tables };
}

/** The file's bytes, a chunk at a time: preamble and header, then the tables' entries. No digest. */
function* chunks(headerText: Buffer, tables: readonly IdTable[]): Generator<Buffer> {
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt32LE(ARRIVALS_SNAPSHOT_VERSION, MAGIC.length);
  preamble.writeUInt32LE(headerText.length, MAGIC.length + 4);
  yield preamble;
  yield headerText;
  const buffer = Buffer.alloc(WRITE_CHUNK_BYTES);
  let end = 0;
  for (const table of tables) {
    let from = 0;
    while (from < table.slots) {
      const written = table.writeEntries(from, buffer, end);
      from = written.next;
      end = written.end;
      if (end + ENTRY_BYTES > buffer.length) {
        yield buffer.subarray(0, end);
        end = 0;
      }
    }
  }
  if (end > 0) yield buffer.subarray(0, end);
}

export interface WriteResult {
  readonly bytes: number;
  readonly seconds: number;
}

export class SnapshotTooLargeError extends Error {
  override name = 'SnapshotTooLargeError';
}

/**
 * Writes the snapshot of `state` to `file` atomically. The state must not change until it resolves (the
 * tables are read as the chunks go out). Rejects if the file cannot be written or would pass `maxBytes`.
 */
export async function writeArrivalsSnapshot(
  file: string,
  state: ArrivalsState,
  options: { clock: Clock; maxBytes?: number },
): Promise<WriteResult> {
  const { clock } = options;
  const maxBytes = options.maxBytes ?? MAX_SNAPSHOT_BYTES;
  const started = clock.monotonicMs();
  const { header, tables } = capture(state, clock);
  const headerText = Buffer.from(JSON.stringify(header), 'utf8');
  let entries = 0;
  for (const table of tables) entries += table.size;
  const bytes = PREAMBLE_BYTES + headerText.length + entries * ENTRY_BYTES + DIGEST_BYTES;
  if (bytes > maxBytes) {
    throw new SnapshotTooLargeError(
      `the snapshot would take ${bytes} bytes (${entries} ids), more than the ${maxBytes} allowed`,
    );
  }
  const temp = `${file}${TEMP_MARK}${process.pid}-${++temps}`;
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      const hash = createHash('sha256');
      let written = 0;
      for (const chunk of chunks(headerText, tables)) {
        hash.update(chunk);
        await handle.write(chunk);
        written += chunk.length;
      }
      const digest = hash.digest();
      await handle.write(digest);
      written += digest.length;
      // A table that changed under the write would give a file that does not match its own header.
      if (written !== bytes) throw new Error(`wrote ${written} bytes, the header says ${bytes}`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await syncDirectory(dirname(file));
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  return { bytes, seconds: (clock.monotonicMs() - started) / 1000 };
}

/** What reading a snapshot gave: memories and counters to continue from, or why there are none. */
export type ReadResult =
  | { readonly kind: 'absent' }
  | { readonly kind: 'ignored'; readonly reason: string; readonly ageSeconds?: number }
  | {
      readonly kind: 'restored';
      readonly reports: Map<string, ReportMemory>;
      readonly campaigns: Map<string, CampaignMemory>;
      readonly counters: Partial<Record<FamilyName, SavedSeries[]>>;
      readonly ageSeconds: number;
      /** Memories in the file that this configuration does not read (dropped). */
      readonly dropped: number;
      readonly ids: number;
    };

class Unusable extends Error {}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isLabels = (v: unknown): v is Record<string, string> =>
  isRecord(v) && Object.values(v).every((x) => typeof x === 'string');

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Unusable(`has an unreadable header (${what})`);
}

/** The header as this version writes it, or an Unusable naming what is wrong. */
function parseHeader(text: string): Header {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Unusable('has a header that is not JSON');
  }
  check(isRecord(parsed) && parsed.format === FORMAT, 'format');
  const { writtenAtMs, reports, campaigns, counters } = parsed;
  check(isTime(writtenAtMs), 'writtenAtMs');
  check(Array.isArray(reports), 'reports');
  for (const r of reports as unknown[]) {
    check(
      isRecord(r) &&
        typeof r.account === 'string' &&
        typeof r.status === 'string' &&
        isTime(r.originWallMs) &&
        isTime(r.lastCompleteWallMs) &&
        isCount(r.entries),
      'a report',
    );
  }
  check(Array.isArray(campaigns), 'campaigns');
  for (const c of campaigns as unknown[]) {
    check(
      isRecord(c) &&
        typeof c.account === 'string' &&
        typeof c.api === 'string' &&
        typeof c.listingLearned === 'boolean' &&
        (c.lastCoveredWallMs === null || isTime(c.lastCoveredWallMs)) &&
        Array.isArray(c.statusBits) &&
        Array.isArray(c.listed) &&
        Array.isArray(c.campaigns),
      'a campaign memory',
    );
    for (const b of c.statusBits as unknown[]) {
      check(
        isRecord(b) &&
          typeof b.label === 'string' &&
          Number.isSafeInteger(b.bit) &&
          (b.bit as number) >= 0 &&
          (b.bit as number) < 32,
        'a status bit',
      );
    }
    for (const l of c.listed as unknown[]) {
      check(isRecord(l) && typeof l.id === 'string' && isTime(l.lastWallMs), 'a listed campaign');
    }
    for (const w of c.campaigns as unknown[]) {
      check(
        isRecord(w) &&
          typeof w.id === 'string' &&
          typeof w.learned === 'boolean' &&
          typeof w.countsFromStart === 'boolean' &&
          isTime(w.lastWalkedWallMs) &&
          Number.isFinite(w.missedMs) &&
          (w.missedMs as number) >= 0 &&
          Array.isArray(w.held) &&
          (w.held as unknown[]).every(
            (h) => isRecord(h) && typeof h.label === 'string' && isCount(h.count),
          ) &&
          isCount(w.entries),
        'a walked campaign',
      );
    }
  }
  check(isRecord(counters), 'counters');
  for (const [name, series] of Object.entries(counters)) {
    check((FAMILIES as readonly string[]).includes(name) && Array.isArray(series), 'a counter');
    for (const s of series as unknown[]) {
      check(
        isRecord(s) &&
          isLabels(s.labels) &&
          isTime(s.value) &&
          s.value >= 0 &&
          isTime(s.pending) &&
          s.pending >= 0 &&
          typeof s.published === 'boolean',
        'a counter series',
      );
    }
  }
  return parsed as unknown as Header;
}

/** Reads exactly `length` bytes at `position`, or throws an Unusable for a file that ends before. */
function readExactly(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buffer, got, length - got, position + got);
    if (n === 0) throw new Unusable('is truncated');
    got += n;
  }
  return buffer;
}

/**
 * Reads `file` at start-up (synchronously: before the first collection, nothing else to serve yet) and
 * keeps what `scope` reads. Never throws: an unusable file is `ignored` with the reason.
 */
export function readArrivalsSnapshot(
  file: string,
  scope: ArrivalsScope,
  options: { clock: Clock; maxBytes?: number },
): ReadResult {
  const { clock } = options;
  const maxBytes = options.maxBytes ?? MAX_SNAPSHOT_BYTES;
  removeLeftovers(file);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { kind: 'absent' };
    return { kind: 'ignored', reason: `cannot be read (${errorCode(error)})` };
  }
  try {
    return readOpen(fd, fstatSync(fd), scope, clock, maxBytes);
  } catch (error) {
    if (error instanceof Unusable) return { kind: 'ignored', reason: error.message };
    return { kind: 'ignored', reason: `cannot be read (${errorCode(error)})` };
  } finally {
    closeSync(fd);
  }
}

function readOpen(
  fd: number,
  stat: Stats,
  scope: ArrivalsScope,
  clock: Clock,
  maxBytes: number,
): ReadResult {
  if (stat.size > maxBytes) {
    throw new Unusable(`takes ${stat.size} bytes, more than the ${maxBytes} allowed`);
  }
  if (stat.size < PREAMBLE_BYTES + DIGEST_BYTES) throw new Unusable('is truncated');
  const preamble = readExactly(fd, PREAMBLE_BYTES, 0);
  if (!preamble.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Unusable('is not an arrivals snapshot of this exporter');
  }
  const version = preamble.readUInt32LE(MAGIC.length);
  if (version !== ARRIVALS_SNAPSHOT_VERSION) {
    throw new Unusable(
      `was written by another version of the exporter (format version ${version}, this one reads ${ARRIVALS_SNAPSHOT_VERSION})`,
    );
  }
  const headerLength = preamble.readUInt32LE(MAGIC.length + 4);
  if (PREAMBLE_BYTES + headerLength + DIGEST_BYTES > stat.size) throw new Unusable('is truncated');
  const headerBytes = readExactly(fd, headerLength, PREAMBLE_BYTES);
  const hash = createHash('sha256').update(preamble).update(headerBytes);
  const header = parseHeader(headerBytes.toString('utf8'));

  const tableEntries = [
    ...header.reports.map((r) => r.entries),
    ...header.campaigns.flatMap((c) => c.campaigns.map((w) => w.entries)),
  ];
  const bodyBytes = tableEntries.reduce((n, e) => n + e * ENTRY_BYTES, 0);
  const expected = PREAMBLE_BYTES + headerLength + bodyBytes + DIGEST_BYTES;
  if (stat.size < expected) throw new Unusable('is truncated');
  if (stat.size > expected) throw new Unusable('has bytes after its end');

  const wallMs = clock.wallMs();
  const ageMs = wallMs - header.writtenAtMs;
  const ageSeconds = Math.round(ageMs / 1000);
  if (ageMs < 0) {
    throw new Unusable(`was written ${-ageSeconds} s in the future (the wall clock went back?)`);
  }
  if (ageMs > FORGET_AFTER_MS) {
    return {
      kind: 'ignored',
      ageSeconds,
      reason: `is older than the id memory's ${FORGET_AFTER_MS / 3_600_000} h horizon (written ${(ageMs / 3_600_000).toFixed(1)} h ago)`,
    };
  }

  const accounts = new Set(scope.accounts);
  const readsV1 = scope.apis.includes('v1');
  const campaignApis = new Set<string>(CAMPAIGN_APIS.filter((a) => scope.apis.includes(a)));
  const keepReport = (r: ReportHeader) =>
    readsV1 &&
    accounts.has(r.account) &&
    (UPGRADE_STATUSES as readonly string[]).includes(r.status);
  const keepCampaigns = (c: CampaignHeader) => accounts.has(c.account) && campaignApis.has(c.api);

  // The tables, in header order: read (and hashed) whole, kept only for the memories restored.
  let position = PREAMBLE_BYTES + headerLength;
  let ids = 0;
  const readTable = (entries: number, keep: boolean): IdTable | undefined => {
    const table = keep ? new IdTable(entries) : undefined;
    let left = entries * ENTRY_BYTES;
    while (left > 0) {
      const chunk = readExactly(fd, Math.min(left, READ_CHUNK_BYTES), position);
      hash.update(chunk);
      position += chunk.length;
      left -= chunk.length;
      if (table && !table.readEntries(chunk)) throw new Unusable('holds an id that is not a hash');
    }
    if (table) ids += table.size;
    return table;
  };
  const offset = wallMs - clock.monotonicMs();
  const toMono = (wall: number) => wall - offset;

  const reports = new Map<string, ReportMemory>();
  let dropped = 0;
  for (const r of header.reports) {
    const keep = keepReport(r);
    const table = readTable(r.entries, keep);
    if (!table) {
      dropped++;
      continue;
    }
    const snapshot: ReportMemorySnapshot = {
      originWallMs: r.originWallMs,
      lastCompleteWallMs: r.lastCompleteWallMs,
      ids: table,
    };
    reports.set(
      reportKey(r.account, r.status as UpgradeStatus),
      ReportMemory.fromSnapshot(snapshot, toMono),
    );
  }
  const campaigns = new Map<string, CampaignMemory>();
  for (const c of header.campaigns) {
    const keep = keepCampaigns(c);
    const walked = c.campaigns.map((w) => ({ ...w, devices: readTable(w.entries, keep) }));
    if (!keep) {
      dropped++;
      continue;
    }
    const snapshot: CampaignMemorySnapshot = {
      listingLearned: c.listingLearned,
      lastCoveredWallMs: c.lastCoveredWallMs ?? undefined,
      statusBits: c.statusBits,
      listed: c.listed,
      campaigns: walked.map(({ entries: _entries, devices, ...w }) => ({
        ...w,
        devices: devices!,
      })),
    };
    campaigns.set(
      reportKey(c.account, c.api as CampaignApi),
      CampaignMemory.fromSnapshot(snapshot, scope.maxLabelValues, toMono),
    );
  }
  const digest = readExactly(fd, DIGEST_BYTES, position);
  if (!digest.equals(hash.digest())) throw new Unusable('does not match its checksum (damaged)');

  if (reports.size === 0 && campaigns.size === 0) {
    const held = new Set([...header.reports, ...header.campaigns].map((m) => m.account));
    throw new Unusable(
      held.size === 0
        ? 'holds no id memory'
        : `holds the id memories of other accounts or APIs (${held.size} account(s), none of them configured with the APIs read now)`,
    );
  }
  const counters: Partial<Record<FamilyName, SavedSeries[]>> = {};
  for (const name of FAMILIES) {
    const v1 = V1_FAMILIES.includes(name);
    counters[name] = (header.counters[name] ?? []).filter(
      (s) =>
        accounts.has(s.labels.account ?? '') &&
        (v1 ? readsV1 : campaignApis.has(s.labels.api ?? '')),
    );
  }
  return { kind: 'restored', reports, campaigns, counters, ageSeconds, dropped, ids };
}

/** Temporary files of a write that a crash interrupted: never renamed, so never a snapshot. */
function removeLeftovers(file: string): void {
  const prefix = `${basename(file)}${TEMP_MARK}`;
  try {
    for (const name of readdirSync(dirname(file))) {
      if (name.startsWith(prefix)) rmSync(join(dirname(file), name), { force: true });
    }
  } catch {
    // Nothing to clean, or a directory we cannot list: the write will say so.
  }
}

export interface ArrivalsPersistenceDeps {
  readonly clock: Clock;
  readonly logger: SnapshotLogger;
  /** A write failed (or was over the size limit); counted in thingspace_fota_arrivals_snapshot_errors_total. */
  readonly onWriteFailed?: () => void;
  readonly onWritten?: (result: WriteResult, wallMs: number) => void;
  readonly maxBytes?: number;
}

/**
 * The snapshot's life in a running exporter: restored once at start-up, written after each collection
 * that read something, before its counters are published.
 */
export class ArrivalsPersistence {
  private lastCountersTotal: number | undefined;
  private lastWrite: WriteResult | undefined;

  constructor(
    readonly file: string,
    private readonly deps: ArrivalsPersistenceDeps,
  ) {}

  static in(dir: string, deps: ArrivalsPersistenceDeps): ArrivalsPersistence {
    return new ArrivalsPersistence(join(dir, ARRIVALS_SNAPSHOT_FILE), deps);
  }

  /** The figures of the write since the last call, if any, for the collection's log line. */
  takeWrite(): WriteResult | undefined {
    const write = this.lastWrite;
    this.lastWrite = undefined;
    return write;
  }

  /** Before the first collection: continues from the snapshot if there is a usable one. One log line. */
  restore(state: ArrivalsState, scope: ArrivalsScope): ReadResult {
    const { clock, logger } = this.deps;
    const started = clock.monotonicMs();
    const result = readArrivalsSnapshot(this.file, scope, {
      clock,
      ...(this.deps.maxBytes !== undefined ? { maxBytes: this.deps.maxBytes } : {}),
    });
    const file = this.file;
    if (result.kind === 'absent') {
      logger.info({ file }, 'no arrivals snapshot: the first pass learns');
    } else if (result.kind === 'ignored') {
      logger.warn(
        { file, reason: result.reason, ageSeconds: result.ageSeconds },
        `arrivals snapshot ignored: it ${result.reason}; the first pass learns`,
      );
    } else {
      for (const [key, memory] of result.reports) state.reports.set(key, memory);
      for (const [key, memory] of result.campaigns) state.campaigns.set(key, memory);
      for (const name of FAMILIES) state.counters[name].restore(result.counters[name] ?? []);
      this.lastCountersTotal = this.countersTotal(state);
      logger.info(
        {
          file,
          ageSeconds: result.ageSeconds,
          reports: result.reports.size,
          campaignApis: result.campaigns.size,
          dropped: result.dropped,
          ids: result.ids,
          seconds: Number(((clock.monotonicMs() - started) / 1000).toFixed(3)),
        },
        'arrivals snapshot restored: what arrived while the exporter was down is counted by the first pass, as after a collection gap',
      );
    }
    return result;
  }

  /**
   * After a collection's passes, before its counters are published. `readSomething`: some pass completed.
   * Nothing to write when no pass completed and nothing was counted (ThingSpace down): the file on disk
   * still matches what is published. Never throws.
   */
  async afterCollection(state: ArrivalsState, readSomething: boolean): Promise<void> {
    const total = this.countersTotal(state);
    if (!readSomething && total === this.lastCountersTotal) return;
    const { clock, logger } = this.deps;
    try {
      const result = await writeArrivalsSnapshot(this.file, state, {
        clock,
        ...(this.deps.maxBytes !== undefined ? { maxBytes: this.deps.maxBytes } : {}),
      });
      this.lastCountersTotal = total;
      this.lastWrite = result;
      this.deps.onWritten?.(result, clock.wallMs());
    } catch (error) {
      this.lastWrite = undefined;
      this.deps.onWriteFailed?.();
      // The older snapshot would restore counters below what is about to be published.
      let removed = true;
      try {
        await rm(this.file, { force: true });
      } catch {
        removed = false;
      }
      logger.error(
        {
          file: this.file,
          error: error instanceof SnapshotTooLargeError ? error.message : errorCode(error),
          olderSnapshotRemoved: removed,
        },
        removed
          ? 'could not write the arrivals snapshot: a restart now learns again (arrivals while down are not counted)'
          : 'could not write the arrivals snapshot, nor remove the older one: a restart may count arrivals twice; remove it',
      );
      this.lastCountersTotal = undefined;
    }
  }

  private countersTotal(state: ArrivalsState): number {
    let total = 0;
    for (const name of FAMILIES) total += state.counters[name].total();
    return total;
  }
}
