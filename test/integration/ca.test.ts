/**
 * Private CAs, with real TLS handshakes: CAs and server certificates made by openssl, a fake ThingSpace
 * served over HTTPS on 127.0.0.1, reached directly, through tinyproxy (CONNECT), and through squid serving
 * TLS itself (an HTTPS proxy). A request counts as "through the proxy" when the server saw it arrive from
 * the proxy's outgoing address (127.0.0.2).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/settings.js';
import {
  createDispatcher,
  DispatcherConfigError,
  type DispatcherOptions,
} from '../../src/thingspace/dispatcher.js';
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { converse, sendVia } from '../support/conversation.js';
import { makeData, startFakeThingSpace, type FakeThingSpace } from '../support/fake-thingspace.js';
import type { RunningProxy } from '../support/proxy-process.js';
import { squidBinary, startSquid, type RunningSquid } from '../support/squid.js';
import { startTinyproxy, tinyproxyBinary } from '../support/tinyproxy.js';
import {
  makeTestPki,
  startFront,
  type Front,
  type TestCa,
  type TestCert,
  type TestPki,
} from '../support/tls-fake.js';

const ACCOUNT = '0242078689-00001';
const DATA = makeData([ACCOUNT], 2, 2);
const UPGRADES = UPGRADE_STATUSES.reduce((sum, s) => sum + (DATA[ACCOUNT]![s]?.length ?? 0), 0);
const POOL = { connections: 6, timeoutMs: 10_000 };
const CERTIFICATE_ERROR = 'network error (UNABLE_TO_VERIFY_LEAF_SIGNATURE)';

const withTinyproxy = tinyproxyBinary() ? describe : describe.skip;
const withSquid = squidBinary() ? describe : describe.skip;

let fake: FakeThingSpace;
let pki: TestPki;
let corp: TestCa;
let other: TestCa;
let proxyCert: TestCert;
/** ThingSpace with a certificate from the company CA, and another one from an unrelated CA. */
let corpFront: Front;
let otherFront: Front;

beforeAll(async () => {
  fake = await startFakeThingSpace({ data: DATA });
  pki = makeTestPki();
  corp = pki.ca('corp');
  other = pki.ca('other');
  proxyCert = pki.serverCert(corp, 'proxy');
  corpFront = await startFront(fake.url, pki.serverCert(corp, 'thingspace'));
  otherFront = await startFront(fake.url, pki.serverCert(other, 'thingspace-other'));
});

afterAll(async () => {
  await corpFront?.close();
  await otherFront?.close();
  await fake?.close();
  pki?.remove();
});

const portOf = (front: Front) => Number(new URL(front.url).port);

function options(overrides: Partial<DispatcherOptions>): DispatcherOptions {
  return { ...POOL, caFile: '', env: {}, ...overrides };
}

/** A conversation through `front`; resolves with what the server saw, or rejects as the client did. */
async function run(front: Front, opts: DispatcherOptions) {
  const mark = {
    requests: front.requests.length,
    connections: front.connections.length,
    tlsErrors: front.tlsErrors,
  };
  const net = createDispatcher(opts);
  const seen = () => ({
    requests: front.requests.slice(mark.requests),
    connections: front.connections.slice(mark.connections),
    /** The server hears of a refused handshake (the client's alert) after the client has given up. */
    serverSawTlsError: () => eventually(() => front.tlsErrors > mark.tlsErrors),
  });
  try {
    const result = await converse(sendVia(front.url, net.dispatcher), ACCOUNT);
    return { ok: true as const, result, net, ...seen() };
  } catch (error) {
    return { ok: false as const, error, net, ...seen() };
  } finally {
    await net.dispatcher.destroy();
  }
}

type Outcome = Awaited<ReturnType<typeof run>>;

async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return condition();
}

function expectSuccess(outcome: Outcome, peer = '127.0.0.1'): void {
  if (!outcome.ok) throw outcome.error;
  expect(outcome.result.upgrades).toBe(UPGRADES);
  expect(outcome.requests).toHaveLength(outcome.result.requests);
  expect(new Set(outcome.requests.map((r) => r.peer))).toEqual(new Set([peer]));
}

/** Refused by the client at the handshake: a clear http error, and not one request reached ThingSpace. */
function expectCertificateRefused(outcome: Outcome): void {
  expect(outcome.ok).toBe(false);
  const error = outcome.ok ? undefined : outcome.error;
  expect(error).toBeInstanceOf(ThingSpaceError);
  expect(error).toMatchObject({ kind: 'http', message: CERTIFICATE_ERROR });
  expect(outcome.requests).toEqual([]);
}

describe('direct connections', () => {
  test('without a CA file the handshake fails with a certificate error, and no request is sent', async () => {
    const outcome = await run(corpFront, options({}));
    expectCertificateRefused(outcome);
    expect(outcome.connections.length).toBeGreaterThan(0);
    expect(await outcome.serverSawTlsError()).toBe(true);
  });

  test('with the company CA in --thingspace.ca-file every request succeeds', async () => {
    const outcome = await run(corpFront, options({ caFile: corp.certFile }));
    expectSuccess(outcome);
    expect(outcome.net.extraCaCertificates).toBe(1);
    expect(outcome.net.describe()).toBe(
      `no proxy: connections to ThingSpace go direct; CA certificates trusted besides Node's: 1 from --thingspace.ca-file "${corp.certFile}"`,
    );
  });

  test("another CA's file does not make the company certificate trusted", async () => {
    expectCertificateRefused(await run(corpFront, options({ caFile: other.certFile })));
  });

  test('a bundle with text between the certificates trusts each of them', async () => {
    const bundle = join(pki.dir, 'bundle.pem');
    writeFileSync(
      bundle,
      `# Corporate bundle\n${readFileSync(other.certFile, 'utf8')}\nsubject=CN = corp\n${readFileSync(corp.certFile, 'utf8')}`,
    );
    const first = await run(corpFront, options({ caFile: bundle }));
    expectSuccess(first);
    expect(first.net.extraCaCertificates).toBe(2);
    expectSuccess(await run(otherFront, options({ caFile: bundle })));
  });

  test('NODE_EXTRA_CA_CERTS stays trusted next to the CA file (Node alone would drop it)', async () => {
    const env = { NODE_EXTRA_CA_CERTS: other.certFile };
    const first = await run(corpFront, options({ caFile: corp.certFile, env }));
    expectSuccess(first);
    expect(first.net.extraCaCertificates).toBe(2);
    expect(first.net.describe()).toContain(
      `1 from --thingspace.ca-file "${corp.certFile}", 1 from NODE_EXTRA_CA_CERTS`,
    );
    expect(first.net.warnings).toEqual([]);
    expectSuccess(await run(otherFront, options({ caFile: corp.certFile, env })));
  });

  test('an unreadable NODE_EXTRA_CA_CERTS next to the CA file is a warning, not an error', async () => {
    const missing = join(pki.dir, 'missing-extra.pem');
    const outcome = await run(
      corpFront,
      options({ caFile: corp.certFile, env: { NODE_EXTRA_CA_CERTS: missing } }),
    );
    expectSuccess(outcome);
    expect(outcome.net.warnings).toEqual([
      `NODE_EXTRA_CA_CERTS: cannot read "${missing}" (ENOENT); only --thingspace.ca-file and Node's bundled CAs are trusted for ThingSpace`,
    ]);
  });
});

describe('an unusable --thingspace.ca-file is a configuration error that shows none of the file', () => {
  const MARK = 'LEAKMARKLEAKMARK';
  const files: Record<string, () => string> = {
    missing: () => join(pki.dir, 'nope.pem'),
    directory: () => {
      const dir = join(pki.dir, 'a-directory');
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    empty: () => write('empty.pem', ''),
    'not PEM': () => write('text.pem', `${MARK} this is not a certificate\n`),
    DER: () => {
      const der = join(pki.dir, 'corp.der');
      execFileSync('openssl', ['x509', '-in', corp.certFile, '-outform', 'der', '-out', der]);
      return der;
    },
    'a private key': () => corp.keyFile,
    'a damaged certificate': () => {
      const lines = readFileSync(corp.certFile, 'utf8').split('\n');
      lines[2] = `${MARK}${lines[2]!.slice(MARK.length)}`;
      return write('damaged.pem', lines.join('\n'));
    },
    'an unterminated block': () =>
      write(
        'unterminated.pem',
        `${readFileSync(corp.certFile, 'utf8')}-----BEGIN CERTIFICATE-----\n${MARK}\n`,
      ),
  };

  function write(name: string, text: string): string {
    const path = join(pki.dir, name);
    writeFileSync(path, text);
    return path;
  }

  test.each([
    ['missing', '(ENOENT)'],
    ['directory', '(EISDIR)'],
    ['empty', 'holds no PEM certificate'],
    ['not PEM', 'holds no PEM certificate'],
    ['DER', 'holds no PEM certificate'],
    ['a private key', 'block 1 of 1 is a PRIVATE KEY; only CERTIFICATE blocks belong'],
    ['a damaged certificate', 'certificate 1 of 1 is not a valid X.509 certificate'],
    ['an unterminated block', 'has an unterminated PEM block'],
  ])('%s: %s', (kind, detail) => {
    const path = files[kind]!();
    let error: unknown;
    try {
      createDispatcher(options({ caFile: path }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DispatcherConfigError);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: '--thingspace.ca-file' });
    const message = (error as Error).message;
    expect(message.startsWith(`--thingspace.ca-file: `)).toBe(true);
    expect(message).toContain(`"${path}"`);
    expect(message).toContain(detail);
    let content = '';
    try {
      content = readFileSync(path, 'latin1');
    } catch {
      // missing or a directory: nothing to leak
    }
    const pieces = content
      .split(/\r?\n/)
      .filter((line) => line.length >= 12 && !/^-----/.test(line));
    for (const piece of [...pieces, MARK]) expect(message).not.toContain(piece);
  });
});

withTinyproxy('through a CONNECT proxy (tinyproxy)', () => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    proxy = await startTinyproxy({ connectPorts: [portOf(corpFront)] });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test('the tunnelled handshake fails without the CA file and succeeds with it', async () => {
    const env = { HTTPS_PROXY: proxy.url };
    const before = proxy.requests().length;
    const refused = await run(corpFront, options({ env }));
    expectCertificateRefused(refused);
    // The handshake happened with ThingSpace, through the tunnel.
    expect(await refused.serverSawTlsError()).toBe(true);
    expect(refused.connections.length).toBeGreaterThan(0);
    expect(new Set(refused.connections.map((c) => c.peer))).toEqual(
      new Set([proxy.outgoingAddress]),
    );
    const tunnels = refused.connections.length;
    expect((await proxy.waitForRequests(before + tunnels)).slice(before)).toEqual(
      Array.from({ length: tunnels }, () => ({
        method: 'CONNECT',
        target: `127.0.0.1:${portOf(corpFront)}`,
      })),
    );

    const accepted = await run(corpFront, options({ env, caFile: corp.certFile }));
    expectSuccess(accepted, proxy.outgoingAddress);
  });
});

withSquid('through an HTTPS proxy (squid serving TLS)', () => {
  let squid: RunningSquid;

  beforeAll(async () => {
    squid = await startSquid({ connectPorts: [portOf(corpFront)], tls: proxyCert });
  });

  afterAll(async () => {
    await squid?.stop();
  });

  test('the same CA file makes both the proxy and ThingSpace trusted', async () => {
    const before = squid.requests().length;
    const outcome = await run(
      corpFront,
      options({ env: { HTTPS_PROXY: squid.httpsUrl }, caFile: corp.certFile }),
    );
    expectSuccess(outcome, squid.outgoingAddress);
    const tunnels = outcome.connections.length;
    const logged = (await squid.waitForRequests(before + tunnels)).slice(before);
    expect(logged).toHaveLength(tunnels);
    for (const entry of logged) {
      expect(entry).toMatchObject({
        method: 'CONNECT',
        status: 200,
        target: `127.0.0.1:${portOf(corpFront)}`,
      });
    }
  });

  test('without the CA file the proxy itself is refused: ThingSpace sees no connection', async () => {
    const outcome = await run(corpFront, options({ env: { HTTPS_PROXY: squid.httpsUrl } }));
    expectCertificateRefused(outcome);
    expect(outcome.connections).toEqual([]);
  });
});
