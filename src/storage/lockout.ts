/**
 * The lockout memory: for each ThingSpace user, how many logins failed in a row (rejected, or sent and never
 * answered, which ThingSpace may have counted), when the last one was, and which credentials failed. The rules that use it live in the authenticator; this module
 * keeps the records, fingerprints the credentials and, with --storage.path, persists them in the state
 * store's `lockout` section so that restarts and user switches never give a wrong password fresh attempts.
 *
 * Nothing in the file gives back a secret: users are keyed by HMAC-SHA256 of the username under a random
 * per-store salt, and the credentials are fingerprinted with scrypt under the same salt, so that a copy of the
 * file does not allow a fast guessing attack on the password.
 *
 * Every session login is written down before it is sent, as a login without an answer, and corrected when
 * the answer comes: a process killed while waiting for it (a liveness probe, an OOM kill) restarts having
 * counted it, exactly as when the answer is lost. If that record cannot be written, the login is not sent.
 */
import { createHmac, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import type { Json, Section, StateStore } from './store.js';

export const LOCKOUT_SECTION = 'lockout';

export interface KdfParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Node's default scrypt cost: 16 MiB and some 50 ms per fingerprint, paid once per credential change. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 14, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_BYTES = 16;
/** Bounds for parameters read from a file, so that an edited file cannot make start-up exhaust memory. */
const MAX_KDF_MEMORY = 256 * 1024 * 1024;

export interface RawCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly username: string;
  readonly password: string;
}

/** Fingerprints of the configured credentials: `user` keys the records, `credentials` tells a change. */
export interface LoginIdentity {
  readonly user: string;
  readonly credentials: string;
}

export interface LockoutRecord {
  /** Logins of this user that failed in a row, rejected or unanswered (an oauth_token rejection counts too). */
  readonly failures: number;
  /** How many of those were sent and never answered: ThingSpace may or may not have counted them. */
  readonly unanswered: number;
  /** Fingerprint of the credentials last tried. */
  readonly credentials: string;
  /** When the last failure happened: wall time, the only kind that means something after a restart. */
  readonly lastFailureWallMs: number;
  /** The same moment on this process's monotonic clock, for measuring the backoff. */
  readonly lastFailureMonoMs: number;
}

/** Failures that were rejections, the rest of `failures`. */
export function rejections(record: LockoutRecord): number {
  return record.failures - record.unanswered;
}

/** One login request; exactly one of the four ends it. */
export interface LoginAttempt {
  /** ThingSpace refused the credentials: the failure stands, timed now. */
  rejected(): LockoutRecord;
  /**
   * Sent, but no verdict came back (a timeout, a 5xx, a connection closed, an answer that may be ThingSpace's
   * refusal): ThingSpace may have counted it, so it counts here too, timed now.
   */
  unanswered(): LockoutRecord;
  /** Known not to have been judged (never sent, a bearer token only, an answer from in front of ThingSpace). */
  notRejected(): void;
  /** A complete login: the user's count starts again from zero. */
  accepted(): void;
}

/** The record could not be written before a login: the login must not be sent. */
export class LockoutPersistError extends Error {
  override name = 'LockoutPersistError';
}

interface PersistedRecord {
  failures: number;
  /** Absent in files written before lost answers were told apart: then every failure was a rejection. */
  unanswered?: number;
  credentials: string;
  /** The last failure of either kind (named when only rejections were counted). */
  lastRejectionAt: string;
}

interface PersistedSection {
  salt: string;
  kdf: KdfParams;
  users: Record<string, PersistedRecord>;
}

const HEX_KEY = /^[0-9a-f]{64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validKdf(value: unknown): value is KdfParams {
  if (!isRecord(value)) return false;
  const { N, r, p } = value;
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && (n as number) > 0)) return false;
  const [n, rr, pp] = [N as number, r as number, p as number];
  return (n & (n - 1)) === 0 && n >= 2 && 128 * n * rr * pp <= MAX_KDF_MEMORY;
}

/** The section as written by this version, or why it cannot be trusted. */
function parseSection(raw: unknown): PersistedSection | string {
  if (!isRecord(raw)) return 'is not an object';
  if (typeof raw.salt !== 'string' || Buffer.from(raw.salt, 'base64').length < SALT_BYTES) {
    return 'has no usable salt';
  }
  if (!validKdf(raw.kdf)) return 'has unusable scrypt parameters';
  if (!isRecord(raw.users)) return 'has no users object';
  for (const [user, record] of Object.entries(raw.users)) {
    if (!HEX_KEY.test(user) || !isRecord(record)) return 'has an unreadable user record';
    const { failures, unanswered, credentials, lastRejectionAt } = record;
    if (
      !Number.isSafeInteger(failures) ||
      (failures as number) < 1 ||
      (unanswered !== undefined &&
        (!Number.isSafeInteger(unanswered) ||
          (unanswered as number) < 0 ||
          (unanswered as number) > (failures as number))) ||
      typeof credentials !== 'string' ||
      !HEX_KEY.test(credentials) ||
      typeof lastRejectionAt !== 'string' ||
      Number.isNaN(Date.parse(lastRejectionAt))
    ) {
      return 'has an unreadable user record';
    }
  }
  return raw as unknown as PersistedSection;
}

function scryptHex(input: string, salt: Buffer, kdf: KdfParams): Promise<string> {
  const options: ScryptOptions = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: MAX_KDF_MEMORY + 1 };
  return new Promise((resolve, reject) =>
    scrypt(input, salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key.toString('hex')),
    ),
  );
}

export class LockoutMemory {
  /**
   * Set when the counts cannot be known (the state file was found damaged, or its lockout section is
   * unreadable): one more login might be the user's fifth failure, so none is allowed.
   */
  readonly unknown: string | undefined;
  private readonly records = new Map<string, LockoutRecord>();
  private pending: { user: string; record: LockoutRecord } | undefined;
  private readonly salt: Buffer;
  private readonly kdf: KdfParams;
  private readonly section: Section | undefined;
  private cached: { key: string; identity: Promise<LoginIdentity> } | undefined;

  constructor(
    private readonly store: StateStore | undefined,
    private readonly clock: Clock = systemClock,
    kdf: KdfParams = DEFAULT_KDF,
  ) {
    this.salt = randomBytes(SALT_BYTES);
    this.kdf = kdf;
    if (!store?.persistent) return;
    const file = store.file!;
    if (store.damaged) {
      this.unknown = `${store.damaged.reason} (found ${store.damaged.at}), so the count of rejected logins is unknown`;
      return;
    }
    this.section = store.section(LOCKOUT_SECTION);
    const raw = this.section.get();
    if (raw === undefined) {
      this.persistSection();
      return;
    }
    const parsed = parseSection(raw);
    if (typeof parsed === 'string') {
      // Left as it is on disk: rewriting it would turn "unknown" into "no failures" at the next restart.
      this.section = undefined;
      this.unknown = `the lockout section of ${file} ${parsed}, so the count of rejected logins is unknown`;
      return;
    }
    this.salt = Buffer.from(parsed.salt, 'base64');
    this.kdf = parsed.kdf;
    const wallNow = clock.wallMs();
    const monoNow = clock.monotonicMs();
    for (const [user, record] of Object.entries(parsed.users)) {
      const wall = Date.parse(record.lastRejectionAt);
      // A rejection "in the future" (the wall clock went back since) counts as just now: the wait may only
      // get longer, never shorter.
      const elapsed = Math.max(0, wallNow - wall);
      this.records.set(user, {
        failures: record.failures,
        unanswered: record.unanswered ?? 0,
        credentials: record.credentials,
        lastFailureWallMs: wall,
        lastFailureMonoMs: monoNow - elapsed,
      });
    }
  }

  get persistent(): boolean {
    return this.section !== undefined;
  }

  /** Where the records are kept, for messages. */
  get location(): string {
    return this.store?.file ?? 'memory';
  }

  /**
   * Fingerprints of these credentials. scrypt is slow by design, so the result for the current values is
   * kept (in memory only, where the secrets themselves already are).
   */
  identify(raw: RawCredentials): Promise<LoginIdentity> {
    const key = JSON.stringify([raw.clientId, raw.clientSecret, raw.username, raw.password]);
    if (this.cached?.key === key) return this.cached.identity;
    const user = createHmac('sha256', this.salt).update(`user\0${raw.username}`).digest('hex');
    const identity = scryptHex(key, this.salt, this.kdf).then((credentials) => ({
      user,
      credentials,
    }));
    this.cached = { key, identity };
    identity.catch(() => {
      if (this.cached?.identity === identity) this.cached = undefined;
    });
    return identity;
  }

  get(user: string): LockoutRecord | undefined {
    return this.records.get(user);
  }

  /**
   * Starts an attempt. With `recordFirst` (a session login, which can lock the user) it is recorded as a
   * login without an answer, on disk when persistent, before the caller sends it; an oauth_token request
   * (client credentials, which cannot lock the user) is recorded only if it is rejected.
   */
  async begin(identity: LoginIdentity, recordFirst = true): Promise<LoginAttempt> {
    if (this.pending) throw new Error('a login attempt is already in progress');
    const previous = this.records.get(identity.user);
    const record = (unanswered: boolean): LockoutRecord => ({
      failures: (previous?.failures ?? 0) + 1,
      unanswered: (previous?.unanswered ?? 0) + (unanswered ? 1 : 0),
      credentials: identity.credentials,
      lastFailureWallMs: this.clock.wallMs(),
      lastFailureMonoMs: this.clock.monotonicMs(),
    });
    const pending = { user: identity.user, record: record(true) };
    if (recordFirst) {
      this.pending = pending;
      try {
        await this.save(true);
      } catch (error) {
        this.pending = undefined;
        throw new LockoutPersistError((error as Error).message);
      }
    }
    let ended = false;
    const end = (apply: () => void) => {
      if (ended) throw new Error('login attempt ended twice');
      ended = true;
      if (this.pending === pending) this.pending = undefined;
      apply();
      void this.save(false);
    };
    const failed = (unanswered: boolean): LockoutRecord => {
      const confirmed = record(unanswered);
      end(() => this.records.set(identity.user, confirmed));
      return confirmed;
    };
    return {
      rejected: () => failed(false),
      unanswered: () => failed(true),
      notRejected: () => end(() => undefined),
      accepted: () => end(() => this.records.delete(identity.user)),
    };
  }

  private persistSection(): void {
    if (!this.section) return;
    const users: Record<string, Json> = {};
    const records = new Map(this.records);
    if (this.pending) records.set(this.pending.user, this.pending.record);
    for (const [user, record] of records) {
      users[user] = {
        failures: record.failures,
        unanswered: record.unanswered,
        credentials: record.credentials,
        lastRejectionAt: new Date(record.lastFailureWallMs).toISOString(),
      };
    }
    this.section.set({
      salt: this.salt.toString('base64'),
      kdf: { ...this.kdf },
      users,
    });
  }

  /**
   * Before an attempt the write must succeed; afterwards a failed write (logged by the store) leaves the
   * pessimistic record of the attempt on disk, which errs on the safe side.
   */
  private async save(required: boolean): Promise<void> {
    if (!this.section || !this.store) return;
    this.persistSection();
    if (required) await this.store.save();
    else await this.store.save().catch(() => undefined);
  }
}
