/**
 * The `--storage.path` state: one JSON file, `state.json`, in a directory the exporter owns, holding named
 * sections (the lockout memory now; more may follow). It is read once at start-up and rewritten whole on
 * every save, atomically: a temporary file is written and fsynced, then renamed over the old one and the
 * directory fsynced, so a crash at any moment leaves either the old file or the new one, never half of one.
 *
 * One writer: the process's only StateStore serialises its saves, and sections never touch the file
 * themselves. Two exporters must not share a directory.
 *
 * A file that exists but cannot be used (unreadable, not JSON, not ours, from a newer version) is kept
 * aside as `state.json.damaged-<ms>`, and the exporter starts from an empty state that carries a `damaged`
 * mark. The mark is written into every later save, so that owners of sections whose loss is not harmless
 * (the lockout memory) can stay on the safe side across restarts until an operator removes the file.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';

export const STATE_FILE = 'state.json';
const FORMAT = 'thingspace-fota-exporter/state';
const VERSION = 1;
const TEMP_MARK = '.tmp-';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The few logger methods the store uses; a pino logger fits. */
export interface StoreLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * The directory cannot hold the state (missing and not creatable, not a directory, not writable), or a
 * write failed. At start-up it is a configuration error: exit 2, naming --storage.path.
 */
export class StorageError extends Error {
  override name = 'StorageError';
}

/** Why an earlier state was lost; kept in the file until the operator removes it. */
export interface Damage {
  readonly reason: string;
  /** Wall time at which the exporter found the file unusable, ISO 8601. */
  readonly at: string;
  /** Where the unusable file was moved, if it could be. */
  readonly keptAs?: string;
}

/** One named part of the state. What `get` returns came from disk: the owner must validate it. */
export interface Section {
  get(): unknown;
  /** Replaces the section's value in memory; it reaches the disk with the next save(). */
  set(value: Json): void;
}

export interface StoreOptions {
  clock?: Clock;
  logger?: StoreLogger;
}

interface Document {
  format: string;
  version: number;
  writtenAt: string;
  damaged?: Damage;
  sections: Record<string, Json>;
}

export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message ?? String(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the sections of a parsed file, or why it cannot be used. */
function validate(parsed: unknown): { sections: Record<string, Json>; damaged?: Damage } | string {
  if (!isRecord(parsed) || parsed.format !== FORMAT) return 'is not a state file of this exporter';
  if (parsed.version !== VERSION) {
    // A newer version may count differently; guessing could give a locked-out user a fresh attempt.
    return `was written by another version of the exporter (format version ${JSON.stringify(parsed.version)}, this one reads ${VERSION})`;
  }
  if (!isRecord(parsed.sections)) return 'has no sections object';
  const damaged = parsed.damaged;
  if (damaged !== undefined) {
    if (
      !isRecord(damaged) ||
      typeof damaged.reason !== 'string' ||
      typeof damaged.at !== 'string'
    ) {
      return 'has an unreadable damage mark';
    }
    const keptAs = typeof damaged.keptAs === 'string' ? { keptAs: damaged.keptAs } : {};
    return {
      sections: parsed.sections as Record<string, Json>,
      damaged: { reason: damaged.reason, at: damaged.at, ...keptAs },
    };
  }
  return { sections: parsed.sections as Record<string, Json> };
}

export class StateStore {
  private readonly sections: Map<string, Json>;
  private writing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private temps = 0;

  private constructor(
    /** The state file, or undefined for a store that only lives in memory. */
    readonly file: string | undefined,
    private readonly dir: string | undefined,
    sections: Record<string, Json>,
    /** Set when an earlier state was lost: see the module comment. */
    readonly damaged: Damage | undefined,
    private readonly clock: Clock,
    private readonly logger: StoreLogger | undefined,
  ) {
    this.sections = new Map(Object.entries(sections));
  }

  /** Without --storage.path: the same API, nothing written, everything lost at exit. */
  static inMemory(): StateStore {
    return new StateStore(undefined, undefined, {}, undefined, systemClock, undefined);
  }

  /**
   * Prepares `dir` (created if missing) and reads its state file. Throws a StorageError when the directory
   * cannot be used; an unusable file is not an error (see the module comment) but is logged.
   */
  static load(dir: string, options: StoreOptions = {}): StateStore {
    const clock = options.clock ?? systemClock;
    const file = join(dir, STATE_FILE);
    prepareDirectory(dir);

    let text: string | undefined;
    let problem: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') problem = `cannot be read (${errorCode(error)})`;
    }
    let sections: Record<string, Json> = {};
    let damaged: Damage | undefined;
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        problem = 'is not valid JSON';
      }
      if (problem === undefined) {
        const result = validate(parsed);
        if (typeof result === 'string') problem = result;
        else ({ sections, damaged } = result);
      }
    }
    if (problem === undefined) {
      return new StateStore(file, dir, sections, damaged, clock, options.logger);
    }

    const at = new Date(clock.wallMs()).toISOString();
    let keptAs: string | undefined = `${file}.damaged-${clock.wallMs()}`;
    try {
      renameSync(file, keptAs);
    } catch (error) {
      options.logger?.warn(
        { file, error: errorCode(error) },
        'could not move the damaged state file aside; it will be overwritten',
      );
      keptAs = undefined;
    }
    const store = new StateStore(
      file,
      dir,
      {},
      { reason: `${file} ${problem}`, at, ...(keptAs ? { keptAs } : {}) },
      clock,
      options.logger,
    );
    // Written now, so that the mark survives even if the process dies before its first save.
    store.writeSync();
    options.logger?.error(
      { file, problem, keptAs },
      'the state file could not be used: starting from an empty state marked damaged (logins stay blocked until the file is removed)',
    );
    return store;
  }

  /** The --storage.path directory, or undefined for a store that only lives in memory. */
  get directory(): string | undefined {
    return this.dir;
  }

  /** True when saves reach a file. */
  get persistent(): boolean {
    return this.file !== undefined;
  }

  section(name: string): Section {
    return {
      get: () => this.sections.get(name),
      set: (value) => {
        this.sections.set(name, value);
      },
    };
  }

  /**
   * Writes the state as it is when the write starts. Resolves once a write that started after this call
   * is on disk; rejects (and logs) if that write failed. Calls during a write share the next one.
   */
  save(): Promise<void> {
    if (!this.persistent) return Promise.resolve();
    if (this.queued) return this.queued;
    if (!this.writing) {
      this.writing = this.write().finally(() => {
        this.writing = undefined;
      });
      return this.writing;
    }
    this.queued = this.writing
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.save();
      });
    return this.queued;
  }

  /** Waits for the writes in flight (their failures were logged already). */
  async close(): Promise<void> {
    await (this.queued ?? this.writing)?.catch(() => undefined);
  }

  private document(): Document {
    return {
      format: FORMAT,
      version: VERSION,
      writtenAt: new Date(this.clock.wallMs()).toISOString(),
      ...(this.damaged ? { damaged: this.damaged } : {}),
      sections: Object.fromEntries(this.sections),
    };
  }

  private tempName(): string {
    return `${this.file!}${TEMP_MARK}${process.pid}-${++this.temps}`;
  }

  private async write(): Promise<void> {
    const file = this.file!;
    const text = `${JSON.stringify(this.document(), null, 2)}\n`;
    const temp = this.tempName();
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      await syncDirectory(this.dir!);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      this.logger?.error({ file, error: errorCode(error) }, 'could not write the state file');
      throw new StorageError(`cannot write ${file} (${errorCode(error)})`);
    }
  }

  private writeSync(): void {
    const file = this.file!;
    const temp = this.tempName();
    try {
      const fd = openSync(temp, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(this.document(), null, 2)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, file);
      syncDirectorySync(this.dir!);
    } catch (error) {
      rmSync(temp, { force: true });
      throw new StorageError(`cannot write ${file} (${errorCode(error)})`);
    }
  }
}

/** Creates the directory if needed and proves it writable the way saves will use it. */
function prepareDirectory(dir: string): void {
  let exists = true;
  try {
    if (!statSync(dir).isDirectory()) {
      throw new StorageError(`${JSON.stringify(dir)} exists and is not a directory`);
    }
  } catch (error) {
    if (error instanceof StorageError) throw error;
    if (errorCode(error) !== 'ENOENT') {
      throw new StorageError(`cannot use ${JSON.stringify(dir)} (${errorCode(error)})`);
    }
    exists = false;
  }
  if (!exists) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StorageError(
        `cannot create directory ${JSON.stringify(dir)} (${errorCode(error)})`,
      );
    }
  }
  // Leftovers of a write interrupted by a crash: never renamed, so never part of the state.
  try {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(`${STATE_FILE}${TEMP_MARK}`)) rmSync(join(dir, name), { force: true });
    }
  } catch (error) {
    throw new StorageError(`cannot list directory ${JSON.stringify(dir)} (${errorCode(error)})`);
  }
  const probe = join(dir, `${STATE_FILE}${TEMP_MARK}probe-${process.pid}`);
  try {
    const fd = openSync(probe, 'wx', 0o600);
    try {
      writeSync(fd, 'probe\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    rmSync(probe, { force: true });
    throw new StorageError(
      `directory ${JSON.stringify(dir)} is not writable (${errorCode(error)})`,
    );
  }
  rmSync(probe, { force: true });
}

/** A rename is durable only once the directory entry is; some file systems cannot fsync a directory. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync().catch((error: unknown) => {
      if (errorCode(error) !== 'EINVAL') throw error;
    });
  } finally {
    await handle.close();
  }
}

function syncDirectorySync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch (error) {
    if (errorCode(error) !== 'EINVAL') throw error;
  } finally {
    closeSync(fd);
  }
}
