import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/clock.js';
import { LOCKOUT_SECTION, LockoutMemory, type RawCredentials } from '../../src/storage/lockout.js';
import { STATE_FILE, StateStore, StorageError, type StoreLogger } from '../../src/storage/store.js';

let dir: string;
const stores: StateStore[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'storage-'));
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  rmSync(dir, { recursive: true, force: true });
});

interface Logged {
  level: 'error' | 'warn';
  fields: object;
  message: string;
}

function recorder(): StoreLogger & { lines: Logged[] } {
  const lines: Logged[] = [];
  return {
    lines,
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
  };
}

function fixedClock(wallMs: number, monotonicMs = 5000): Clock & { wall: number; mono: number } {
  const clock = {
    wall: wallMs,
    mono: monotonicMs,
    wallMs: () => clock.wall,
    monotonicMs: () => clock.mono,
  };
  return clock;
}

function load(path = dir, options: Parameters<typeof StateStore.load>[1] = {}): StateStore {
  const store = StateStore.load(path, options);
  stores.push(store);
  return store;
}

const file = () => join(dir, STATE_FILE);
const onDisk = () => JSON.parse(readFileSync(file(), 'utf8')) as Record<string, unknown>;
const sectionsOnDisk = () => onDisk().sections as Record<string, unknown>;

describe('StateStore: directory and file', () => {
  it('creates a missing directory, starts empty, and writes a private file on save', async () => {
    const nested = join(dir, 'a', 'b');
    const store = load(nested);
    expect(statSync(nested).isDirectory()).toBe(true);
    expect(statSync(nested).mode & 0o777).toBe(0o700);
    expect(store.persistent).toBe(true);
    expect(store.damaged).toBeUndefined();
    expect(store.section('x').get()).toBeUndefined();
    expect(existsSync(join(nested, STATE_FILE))).toBe(false);

    store.section('x').set({ n: 1 });
    await store.save();
    const written = JSON.parse(readFileSync(join(nested, STATE_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(written).toMatchObject({
      format: 'thingspace-fota-exporter/state',
      version: 1,
      sections: { x: { n: 1 } },
    });
    expect(statSync(join(nested, STATE_FILE)).mode & 0o777).toBe(0o600);
    expect(readdirSync(nested)).toEqual([STATE_FILE]);
  });

  it('reads back what it saved, and keeps sections it does not know', async () => {
    writeFileSync(
      file(),
      JSON.stringify({
        format: 'thingspace-fota-exporter/state',
        version: 1,
        writtenAt: '2024-01-01T00:00:00.000Z',
        sections: { future: { from: 'a later feature' } },
      }),
    );
    const store = load();
    store.section('mine').set([1, 'two', { three: null }]);
    await store.save();
    const again = load();
    expect(again.section('mine').get()).toEqual([1, 'two', { three: null }]);
    expect(again.section('future').get()).toEqual({ from: 'a later feature' });
  });

  it('a save resolves only once its state is on disk; saves during a write share the next one', async () => {
    const store = load();
    const seen: number[] = [];
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 40; i++) {
      store.section('n').set(i);
      saves.push(
        store.save().then(() => {
          seen.push(sectionsOnDisk().n as number);
          expect(sectionsOnDisk().n).toBeGreaterThanOrEqual(i);
        }),
      );
    }
    await Promise.all(saves);
    expect(sectionsOnDisk().n).toBe(40);
    expect(seen).toHaveLength(40);
    expect(readdirSync(dir)).toEqual([STATE_FILE]);
  });

  it('leftovers of an interrupted write are removed at start-up and never read', () => {
    writeFileSync(
      file(),
      JSON.stringify({
        format: 'thingspace-fota-exporter/state',
        version: 1,
        writtenAt: '2024-01-01T00:00:00.000Z',
        sections: { n: 1 },
      }),
    );
    writeFileSync(`${file()}.tmp-999-1`, '{"format": "thingspace-fota-exp');
    const store = load();
    expect(store.damaged).toBeUndefined();
    expect(store.section('n').get()).toBe(1);
    expect(readdirSync(dir)).toEqual([STATE_FILE]);
  });

  it('a store in memory writes nothing', async () => {
    const store = StateStore.inMemory();
    store.section('x').set(1);
    await store.save();
    expect(store.persistent).toBe(false);
    expect(store.file).toBeUndefined();
  });
});

describe('StateStore: a directory it cannot use is a configuration error', () => {
  it('a path below a regular file', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => load(join(dir, 'file', 'state'))).toThrow(StorageError);
    expect(() => load(join(dir, 'file', 'state'))).toThrow(/cannot use .*file\/state" \(ENOTDIR\)/);
  });

  it('a path that is a regular file', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => load(join(dir, 'file'))).toThrow(/file" exists and is not a directory/);
  });

  // sysfs accepts no new files, even from root: a directory that exists but cannot be written
  it('a directory that exists but cannot be written', () => {
    expect(statSync('/sys/kernel').isDirectory()).toBe(true);
    expect(() => load('/sys/kernel')).toThrow(/directory "\/sys\/kernel" is not writable/);
  });

  it('a failed save rejects with the file and the reason, is logged, and the next save can succeed', async () => {
    const logger = recorder();
    const sub = join(dir, 'state');
    const store = load(sub, { logger });
    rmSync(sub, { recursive: true });
    writeFileSync(sub, 'in the way');
    store.section('x').set(1);
    await expect(store.save()).rejects.toThrow(
      new StorageError(`cannot write ${join(sub, STATE_FILE)} (ENOTDIR)`),
    );
    expect(logger.lines).toEqual([
      {
        level: 'error',
        fields: { file: join(sub, STATE_FILE), error: 'ENOTDIR' },
        message: 'could not write the state file',
      },
    ]);
    rmSync(sub);
    mkdirSync(sub);
    await store.save();
    expect(JSON.parse(readFileSync(join(sub, STATE_FILE), 'utf8'))).toMatchObject({
      sections: { x: 1 },
    });
  });
});

describe('StateStore: a file it cannot use', () => {
  const valid = { format: 'thingspace-fota-exporter/state', version: 1, writtenAt: 'x' };
  it.each([
    ['not JSON', () => writeFileSync(file(), '{"format": "thingspace-fota'), 'is not valid JSON'],
    [
      'JSON of something else',
      () => writeFileSync(file(), '[1, 2]'),
      'is not a state file of this exporter',
    ],
    [
      'from a newer version',
      () => writeFileSync(file(), JSON.stringify({ ...valid, version: 2, sections: {} })),
      'was written by another version of the exporter (format version 2, this one reads 1)',
    ],
    [
      'without sections',
      () => writeFileSync(file(), JSON.stringify({ ...valid, sections: [] })),
      'has no sections object',
    ],
    ['unreadable (a directory)', () => mkdirSync(file()), 'cannot be read (EISDIR)'],
  ])('%s: kept aside, an empty state marked damaged on disk at once', (_what, make, reason) => {
    make();
    const logger = recorder();
    const clock = fixedClock(Date.UTC(2024, 4, 1, 12));
    const store = load(dir, { logger, clock });
    expect(store.damaged).toEqual({
      reason: `${file()} ${reason}`,
      at: '2024-05-01T12:00:00.000Z',
      keptAs: `${file()}.damaged-${clock.wall}`,
    });
    expect(existsSync(`${file()}.damaged-${clock.wall}`)).toBe(true);
    expect(onDisk()).toMatchObject({ damaged: store.damaged, sections: {} });
    expect(logger.lines).toEqual([
      expect.objectContaining({
        level: 'error',
        fields: expect.objectContaining({ problem: reason }),
      }),
    ]);
    // the mark stays through restarts and saves, until the file is removed
    clock.wall += 60_000;
    const again = load(dir, { clock });
    expect(again.damaged).toEqual(store.damaged);
    rmSync(file());
    expect(load(dir, { clock }).damaged).toBeUndefined();
  });

  it('the damaged copy keeps the original bytes', () => {
    writeFileSync(file(), 'garbage\u0000bytes');
    const clock = fixedClock(1_700_000_000_000);
    load(dir, { clock });
    expect(readFileSync(`${file()}.damaged-${clock.wall}`, 'utf8')).toBe('garbage\u0000bytes');
  });
});

describe('LockoutMemory', () => {
  const creds: RawCredentials = {
    clientId: 'cid',
    clientSecret: 'csecret',
    username: 'alice',
    password: 'hunter2',
  };

  it('keys users by username only, tells any change of the credentials, and differs between stores', async () => {
    const a = new LockoutMemory(load());
    const base = await a.identify(creds);
    expect(base.user).toMatch(/^[0-9a-f]{64}$/);
    expect(base.credentials).toMatch(/^[0-9a-f]{64}$/);
    for (const key of Object.keys(creds) as (keyof RawCredentials)[]) {
      const changed = await a.identify({ ...creds, [key]: `${creds[key]}!` });
      expect(changed.credentials).not.toBe(base.credentials);
      expect(changed.user === base.user).toBe(key !== 'username');
    }
    const other = new LockoutMemory(StateStore.inMemory());
    const elsewhere = await other.identify(creds);
    expect(elsewhere.user).not.toBe(base.user);
    expect(elsewhere.credentials).not.toBe(base.credentials);
  });

  it('the salt is kept with the records: a restart recognises the same user and credentials', async () => {
    const first = new LockoutMemory(load());
    const identity = await first.identify(creds);
    (await first.begin(identity)).rejected();
    await stores[0]!.close();
    const second = new LockoutMemory(load());
    expect(await second.identify(creds)).toEqual(identity);
    expect(second.get(identity.user)).toMatchObject({ failures: 1 });
  });

  it('converts a persisted rejection time to this process’s monotonic clock, never into the future', async () => {
    const t0 = Date.UTC(2024, 0, 1);
    const first = new LockoutMemory(load(dir, { clock: fixedClock(t0) }), fixedClock(t0, 100));
    const identity = await first.identify(creds);
    (await first.begin(identity)).rejected();
    await stores[0]!.close();

    const later = fixedClock(t0 + 120_000, 7_000);
    expect(new LockoutMemory(load(), later).get(identity.user)).toMatchObject({
      failures: 1,
      lastFailureWallMs: t0,
      lastFailureMonoMs: 7_000 - 120_000,
    });
    // the wall clock went back an hour since: the rejection counts as just now, not an hour ahead
    const stepped = fixedClock(t0 - 3_600_000, 7_000);
    expect(new LockoutMemory(load(), stepped).get(identity.user)).toMatchObject({
      lastFailureMonoMs: 7_000,
    });
  });

  it('an attempt ends exactly once', async () => {
    const memory = new LockoutMemory(undefined);
    const attempt = await memory.begin(await memory.identify(creds));
    attempt.notRejected();
    expect(() => attempt.rejected()).toThrow('ended twice');
  });

  it.each([
    ['scrypt parameters that would need gigabytes', { N: 2 ** 24, r: 8, p: 1 }],
    ['an N that is not a power of two', { N: 1000, r: 8, p: 1 }],
  ])('a section with %s is not trusted', async (_what, kdf) => {
    writeFileSync(
      file(),
      JSON.stringify({
        format: 'thingspace-fota-exporter/state',
        version: 1,
        writtenAt: 'x',
        sections: {
          [LOCKOUT_SECTION]: { salt: Buffer.alloc(16, 7).toString('base64'), kdf, users: {} },
        },
      }),
    );
    const memory = new LockoutMemory(load());
    expect(memory.unknown).toMatch(/has unusable scrypt parameters/);
  });
});
