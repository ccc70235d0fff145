/**
 * Basic auth as exporter-toolkit checks it, with a bound on bcrypt work: an unknown user costs a bcrypt
 * comparison like a known one, a verified password is remembered until basic_auth_users changes, and at
 * most BASIC_AUTH_LIMITS.concurrentChecks comparisons run while a bounded number wait (the rest get 429).
 * Comparisons are observed through an injected comparer, never timed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { listen, type Listening } from '../../src/server/listen.js';
import { PasswordWorker } from '../../src/server/password-worker.js';
import {
  BASIC_AUTH_LIMITS,
  BasicAuth,
  type PasswordComparer,
} from '../../src/server/web-config.js';

const dir = mkdtempSync(join(tmpdir(), 'tsfota-auth-'));
const logger = pino({ level: 'silent' });
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// Cost 4 keeps the real comparisons fast; the decoy must follow whatever cost the configuration uses.
const ALICE = bcrypt.hashSync('alice-pass', 4);
const BOB = bcrypt.hashSync('bob-pass', 4);

/** bcrypt, noting every comparison it is asked for. */
function spyingComparer() {
  const calls: { password: string; hash: string }[] = [];
  const compare: PasswordComparer = (password, hash) => {
    calls.push({ password, hash });
    return bcrypt.compare(password, hash);
  };
  return { compare, calls };
}

/** A comparer whose comparisons end only when the test says so. */
function heldComparer() {
  let running = 0;
  let maxRunning = 0;
  const held: { password: string; finish(matches: boolean): void }[] = [];
  const compare: PasswordComparer = (password) =>
    new Promise<boolean>((resolve) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      held.push({
        password,
        finish: (matches) => {
          running--;
          resolve(matches);
        },
      });
    });
  return { compare, held, maxRunning: () => maxRunning };
}

const settle = () => new Promise((r) => setImmediate(r));

test('an unknown user costs a bcrypt comparison at the configured cost, and is refused whatever it says', async () => {
  const spy = spyingComparer();
  const auth = new BasicAuth(new Map([['alice', ALICE]]), { compare: spy.compare });
  expect(await auth.check(basic('mallory', 'alice-pass'))).toBe('denied');
  expect(spy.calls).toHaveLength(1);
  expect(spy.calls[0]!.password).toBe('alice-pass');
  expect(spy.calls[0]!.hash).toMatch(/^\$2[aby]\$04\$[./A-Za-z0-9]{53}$/);
  expect(spy.calls[0]!.hash).not.toBe(ALICE);

  // Even a comparer that says yes does not let an unknown user in.
  const yes = new BasicAuth(new Map([['alice', ALICE]]), { compare: () => Promise.resolve(true) });
  expect(await yes.check(basic('mallory', 'anything'))).toBe('denied');
  expect(await yes.check(basic('alice', 'anything'))).toBe('allowed');
});

test('the decoy takes the cost most configured hashes use', async () => {
  const spy = spyingComparer();
  const cost5 = bcrypt.hashSync('x', 5);
  const auth = new BasicAuth(
    new Map([
      ['a', cost5],
      ['b', bcrypt.hashSync('y', 5)],
      ['c', ALICE],
    ]),
    { compare: spy.compare },
  );
  await auth.check(basic('nobody', 'x'));
  expect(spy.calls[0]!.hash.slice(0, 7)).toBe('$2b$05$');
});

test('a request without usable credentials is refused without bcrypt', async () => {
  const spy = spyingComparer();
  const auth = new BasicAuth(new Map([['alice', ALICE]]), { compare: spy.compare });
  for (const header of [
    undefined,
    'Bearer x',
    'Basic',
    `Basic ${Buffer.from('no-colon').toString('base64')}`,
  ])
    expect(await auth.check(header)).toBe('denied');
  expect(spy.calls).toHaveLength(0);
  // The scheme is case-insensitive, as in Go.
  expect(await auth.check(`basic ${basic('alice', 'alice-pass').slice(6)}`)).toBe('allowed');
});

test('a verified password is remembered; a wrong one is compared every time', async () => {
  const spy = spyingComparer();
  const auth = new BasicAuth(new Map([['alice', ALICE]]), { compare: spy.compare });
  expect(await auth.check(basic('alice', 'alice-pass'))).toBe('allowed');
  expect(await auth.check(basic('alice', 'alice-pass'))).toBe('allowed');
  expect(await auth.check(basic('alice', 'alice-pass'))).toBe('allowed');
  expect(spy.calls).toHaveLength(1);
  expect(await auth.check(basic('alice', 'wrong'))).toBe('denied');
  expect(await auth.check(basic('alice', 'wrong'))).toBe('denied');
  expect(spy.calls).toHaveLength(3);
});

test('the cache is bounded and drops the least recently used', async () => {
  const spy = spyingComparer();
  const users = new Map(['u1', 'u2', 'u3'].map((u) => [u, bcrypt.hashSync(`${u}-pass`, 4)]));
  const auth = new BasicAuth(users, { compare: spy.compare, limits: { verifiedCacheSize: 2 } });
  const ok = (u: string) => auth.check(basic(u, `${u}-pass`));
  await ok('u1');
  await ok('u2');
  await ok('u1'); // u1 used last: u2 is the one to go
  await ok('u3');
  expect(spy.calls.map((c) => c.password)).toEqual(['u1-pass', 'u2-pass', 'u3-pass']);
  await ok('u1');
  await ok('u2');
  expect(spy.calls.map((c) => c.password)).toEqual(['u1-pass', 'u2-pass', 'u3-pass', 'u2-pass']);
});

test('a change of basic_auth_users drops what was verified; the same users keep it', async () => {
  const spy = spyingComparer();
  const auth = new BasicAuth(new Map([['alice', ALICE]]), { compare: spy.compare });
  await auth.check(basic('alice', 'alice-pass'));
  auth.setUsers(new Map([['alice', ALICE]]));
  await auth.check(basic('alice', 'alice-pass'));
  expect(spy.calls).toHaveLength(1);
  auth.setUsers(new Map([['alice', ALICE], ['bob', BOB]])); // prettier-ignore
  expect(await auth.check(basic('alice', 'alice-pass'))).toBe('allowed');
  expect(spy.calls).toHaveLength(2);
  auth.setUsers(new Map([['bob', BOB]]));
  expect(await auth.check(basic('alice', 'alice-pass'))).toBe('denied');
});

test('a check that was under way at a change is answered but not remembered', async () => {
  const held = heldComparer();
  const auth = new BasicAuth(new Map([['alice', ALICE]]), { compare: held.compare });
  const first = auth.check(basic('alice', 'alice-pass'));
  await settle();
  auth.setUsers(new Map([['alice', bcrypt.hashSync('new-pass', 4)]]));
  held.held[0]!.finish(true);
  expect(await first).toBe('allowed');
  const again = auth.check(basic('alice', 'alice-pass'));
  await settle();
  expect(held.held).toHaveLength(2);
  held.held[1]!.finish(false);
  expect(await again).toBe('denied');
});

test('comparisons are bounded: one runs, a few wait, the rest are answered busy without bcrypt', async () => {
  const held = heldComparer();
  const auth = new BasicAuth(new Map([['alice', ALICE]]), { compare: held.compare });
  const { concurrentChecks, waitingChecks } = BASIC_AUTH_LIMITS;
  const sent = concurrentChecks + waitingChecks + 5;
  const outcomes = Array.from({ length: sent }, (_, i) => auth.check(basic('alice', `wrong-${i}`)));
  await settle();
  expect(auth.load).toEqual({ running: concurrentChecks, waiting: waitingChecks });
  expect(held.held).toHaveLength(concurrentChecks);
  // The five beyond the queue are answered at once.
  const early = await Promise.all(outcomes.slice(concurrentChecks + waitingChecks));
  expect(early).toEqual(Array(5).fill('busy'));

  // Each finished comparison lets exactly one waiting check in.
  while (held.held.some((h) => h !== undefined)) {
    const next = held.held.findIndex((h) => h !== undefined);
    const h = held.held[next]!;
    delete held.held[next];
    h.finish(false);
    await settle();
    expect(held.maxRunning()).toBe(concurrentChecks);
  }
  const answered = await Promise.all(outcomes.slice(0, concurrentChecks + waitingChecks));
  expect(answered).toEqual(Array(concurrentChecks + waitingChecks).fill('denied'));
  expect(auth.load).toEqual({ running: 0, waiting: 0 });
  // Every wrong password that was let in was compared; none beyond the bound was.
  expect(held.held.length).toBe(concurrentChecks + waitingChecks);
});

// --- through the server --------------------------------------------------------------------------

let listening: Listening | undefined;
afterEach(async () => {
  await listening?.close();
  listening = undefined;
});

async function get(authorization?: string) {
  const res = await fetch(`${listening!.url}/-/healthy`, {
    headers: authorization ? { authorization } : {},
  });
  await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

test('while the queue is full a new check is answered 429 and a verified scraper is still served', async () => {
  const path = join(dir, 'busy.yml');
  writeFileSync(path, `basic_auth_users:\n  alice: ${ALICE}\n`);
  let hold = false;
  const held = heldComparer();
  const real = spyingComparer();
  listening = await listen((_req, res) => res.end('ok'), {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: path,
    logger,
    comparePassword: (password, hash) =>
      hold ? held.compare(password, hash) : real.compare(password, hash),
  });
  expect((await get(basic('alice', 'alice-pass'))).status).toBe(200);

  hold = true;
  // A request's check is queued synchronously when the request arrives.
  let arrived = 0;
  listening.server.on('request', () => arrived++);
  const { concurrentChecks, waitingChecks } = BASIC_AUTH_LIMITS;
  const flood = Array.from({ length: concurrentChecks + waitingChecks }, (_, i) =>
    get(basic('alice', `wrong-${i}`)),
  );
  while (arrived < concurrentChecks + waitingChecks) await settle();
  expect(held.held).toHaveLength(concurrentChecks);
  expect(await get(basic('alice', 'another-guess'))).toEqual({ status: 429, retryAfter: '1' });
  expect(await get(basic('mallory', 'x'))).toEqual({ status: 429, retryAfter: '1' });
  expect((await get(basic('alice', 'alice-pass'))).status).toBe(200);

  for (let i = 0; i < concurrentChecks + waitingChecks; i++) {
    while (held.held.length <= i) await settle();
    held.held[i]!.finish(false);
  }
  expect((await Promise.all(flood)).map((r) => r.status)).toEqual(
    Array(concurrentChecks + waitingChecks).fill(401),
  );
  expect(real.calls).toHaveLength(1);
});

test('a reload that changes basic_auth_users drops the verified passwords; a refused one is 401', async () => {
  const path = join(dir, 'reload.yml');
  writeFileSync(path, `basic_auth_users:\n  alice: ${ALICE}\n`);
  const spy = spyingComparer();
  const lines: string[] = [];
  listening = await listen((_req, res) => res.end('ok'), {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: path,
    logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
    watchIntervalMs: 30,
    comparePassword: spy.compare,
  });
  expect((await get(basic('alice', 'alice-pass'))).status).toBe(200);
  expect((await get(basic('alice', 'alice-pass'))).status).toBe(200);
  expect(spy.calls).toHaveLength(1);
  writeFileSync(path, `basic_auth_users:\n  alice: ${ALICE}\n  bob: ${BOB}\n`);
  const end = Date.now() + 5000;
  while (!lines.some((l) => l.includes('web configuration reloaded'))) {
    if (Date.now() > end) throw new Error('no reload');
    await new Promise((r) => setTimeout(r, 20));
  }
  expect((await get(basic('alice', 'alice-pass'))).status).toBe(200);
  expect(spy.calls).toHaveLength(2);
  expect(await get(basic('alice', 'wrong'))).toEqual({ status: 401, retryAfter: null });
});

// --- the worker thread ---------------------------------------------------------------------------

test('the bcrypt worker answers like bcryptjs and leaves the event loop turning meanwhile', async () => {
  const worker = new PasswordWorker();
  try {
    expect(await worker.compare('alice-pass', ALICE)).toBe(true);
    expect(await worker.compare('wrong', ALICE)).toBe(false);
    expect(await worker.compare('x', 'not a hash')).toBe(false);

    // bcryptjs on the main thread gives the loop back once per 100 ms of work at most: a cost-12
    // comparison (four times a cost-10 one) would let it turn a handful of times. On the worker it turns
    // freely until the answer comes.
    const slow = bcrypt.hashSync('slow', 12);
    let turns = 0;
    let done = false;
    const answer = worker.compare('slow', slow).finally(() => (done = true));
    while (!done) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    expect(await answer).toBe(true);
    expect(turns).toBeGreaterThan(50);
  } finally {
    await worker.close();
  }
});

test('comparisons pending when the worker is closed fail, and a new worker serves the next', async () => {
  const worker = new PasswordWorker();
  const pending = worker.compare('x', bcrypt.hashSync('x', 10));
  await worker.close();
  await expect(pending).rejects.toThrow('server closed');
  try {
    expect(await worker.compare('alice-pass', ALICE)).toBe(true);
  } finally {
    await worker.close();
  }
});
