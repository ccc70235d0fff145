/**
 * --web.config.file reloads against real TLS handshakes: a changed client-certificate policy governs the
 * next connection (and no connection made under the old policy is served again), renewed certificate, key
 * and client CA files are picked up with the YAML unchanged, and a reload that fails keeps the previous
 * configuration and says why. Certificates are made by openssl here.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { Agent, request } from 'undici';
import { listen, type Listening } from '../../src/server/listen.js';
import { CLIENT_AUTH_TYPES } from '../../src/server/web-config.js';

const dir = mkdtempSync(join(tmpdir(), 'tsfota-reload-'));
const file = (name: string) => join(dir, name);
const read = (name: string) => readFileSync(file(name));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(name: string): void {
  openssl('req', '-x509', ...newKey, '-days', '1', '-subj', `/CN=${name}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`)); // prettier-ignore
}
function issue(name: string, cn: string, ca: string): void {
  openssl('req', ...newKey, '-subj', `/CN=${cn}`, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`)); // prettier-ignore
  openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${ca}.crt`), '-CAkey', file(`${ca}.key`), '-CAcreateserial', '-days', '1', '-extfile', file('san.cnf'), '-out', file(`${name}.crt`)); // prettier-ignore
}
const fingerprint = (name: string) => new X509Certificate(read(`${name}.crt`)).fingerprint256;

beforeAll(() => {
  writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  makeCa('ca1');
  makeCa('ca2');
  // Two generations of the server certificate, as a renewal produces them (new key each time).
  issue('server1', '127.0.0.1', 'ca1');
  issue('server2', '127.0.0.1', 'ca1');
  issue('good', 'scraper', 'ca1');
  issue('foreign', 'intruder', 'ca2');
  openssl('req', '-x509', '-newkey', 'rsa:512', '-nodes', '-days', '1', '-subj', '/CN=weak', '-keyout', file('weak.key'), '-out', file('weak.crt')); // prettier-ignore
});

let listening: Listening | undefined;
const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.destroy()));
  await listening?.close();
  listening = undefined;
});

// --- the exporter side ---------------------------------------------------------------------------

type LogLine = { level: number; msg: string; file?: string } & Record<string, unknown>;

function captureLogs() {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  );
  const count = (msg: string) => lines.filter((l) => l.msg.startsWith(msg)).length;
  return { logger, lines, count };
}

const RELOADED = 'web configuration reloaded';
const NOT_RELOADED = 'web configuration not reloaded';

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 8000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not seen in time: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

type App = (req: IncomingMessage, res: ServerResponse) => void;
// The answer names the client's port, so a test can tell a reused connection from a new one.
const okApp: App = (req, res) => res.end(`ok ${req.socket.remotePort}`);

async function start(yaml: string, app: App = okApp) {
  const logs = captureLogs();
  writeFileSync(file('web.yml'), yaml);
  listening = await listen(app, {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: file('web.yml'),
    logger: logs.logger,
    watchIntervalMs: 40,
  });
  return { ...logs, port: Number(new URL(listening.url).port) };
}

/** Runs `change` and resolves once the exporter has logged the outcome of the reload it caused. */
async function reloadAfter(
  logs: ReturnType<typeof captureLogs>,
  change: () => void,
  outcome: typeof RELOADED | typeof NOT_RELOADED = RELOADED,
): Promise<LogLine> {
  const before = logs.count(outcome);
  change();
  await waitFor(`"${outcome}" logged`, () => logs.count(outcome) > before);
  return logs.lines.filter((l) => l.msg.startsWith(outcome)).at(-1)!;
}

interface TlsYaml {
  cert?: string;
  key?: string;
  clientAuth?: string;
  clientCa?: string;
  users?: string;
}
function yaml(t: TlsYaml): string {
  return [
    'tls_server_config:',
    `  cert_file: ${t.cert ?? file('server1.crt')}`,
    `  key_file: ${t.key ?? file('server1.key')}`,
    `  client_auth_type: ${t.clientAuth ?? 'NoClientCert'}`,
    `  client_ca_file: ${t.clientCa ?? file('ca1.crt')}`,
    ...(t.users ? ['basic_auth_users:', `  prometheus: ${t.users}`] : []),
    '',
  ].join('\n');
}

// --- the scraper side ----------------------------------------------------------------------------

type Client = 'none' | 'good' | 'foreign';
interface Probe {
  /** `ok` for 200, `refused` for 403 or a connection that ended without an answer. */
  outcome: string;
  detail: string;
  serverFingerprint?: string;
  session?: Buffer;
}

/** One request on a fresh TLS connection (resuming `session` when given), as a scraper sends it. */
function probe(
  port: number,
  client: Client,
  options: {
    session?: Buffer;
    authorization?: string;
    /** A TCP connection already open to the server, to run the handshake over. */
    socket?: Socket;
    /** Runs between the handshake and the request. */
    beforeRequest?: () => Promise<unknown>;
  } = {},
): Promise<Probe> {
  return new Promise((resolve) => {
    let data = '';
    let session: Buffer | undefined;
    let serverFingerprint: string | undefined;
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: read('ca1.crt'),
      ...(client === 'none' ? {} : { cert: read(`${client}.crt`), key: read(`${client}.key`) }),
      ...(options.session ? { session: options.session } : {}),
      ...(options.socket ? { socket: options.socket } : {}),
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('session', (s: Buffer) => (session = s));
    socket.on('secureConnect', async () => {
      serverFingerprint = socket.getPeerCertificate().fingerprint256;
      await options.beforeRequest?.();
      const auth = options.authorization ? `Authorization: ${options.authorization}\r\n` : '';
      socket.write(
        `GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: close\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    let error = '';
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data)?.[1];
      const outcome =
        status === '200'
          ? 'ok'
          : status === '403' || status === undefined
            ? 'refused'
            : `status ${status}`;
      resolve({
        outcome,
        detail: status ?? (error || 'closed without an answer'),
        serverFingerprint,
        session,
      });
    });
  });
}

async function outcomes(port: number): Promise<Record<Client, string>> {
  const [none, good, foreign] = await Promise.all(
    (['none', 'good', 'foreign'] as const).map((c) => probe(port, c)),
  );
  return { none: none!.outcome, good: good!.outcome, foreign: foreign!.outcome };
}

/** A keep-alive scraper (one connection, reused), like Prometheus; `body` is the last answer's. */
function keepAliveScraper(client: Client) {
  const agent = new Agent({
    connections: 1,
    keepAliveTimeout: 60_000,
    connect: {
      ca: read('ca1.crt'),
      ...(client === 'none' ? {} : { cert: read(`${client}.crt`), key: read(`${client}.key`) }),
    },
  });
  agents.push(agent);
  const scraper = {
    body: '',
    async get(port: number, path = '/-/healthy'): Promise<string> {
      scraper.body = '';
      try {
        const res = await request(`https://127.0.0.1:${port}${path}`, { dispatcher: agent });
        scraper.body = await res.body.text();
        if (res.statusCode === 200) return 'ok';
        return res.statusCode === 403 ? 'refused' : `status ${res.statusCode}`;
      } catch {
        return 'refused';
      }
    },
  };
  return scraper;
}

// What each client_auth_type admits, as the exporter-toolkit documents it.
const ADMITS: Record<(typeof CLIENT_AUTH_TYPES)[number], Record<Client, string>> = {
  NoClientCert: { none: 'ok', good: 'ok', foreign: 'ok' },
  RequestClientCert: { none: 'ok', good: 'ok', foreign: 'ok' },
  RequireAnyClientCert: { none: 'refused', good: 'ok', foreign: 'ok' },
  VerifyClientCertIfGiven: { none: 'ok', good: 'ok', foreign: 'refused' },
  RequireAndVerifyClientCert: { none: 'refused', good: 'ok', foreign: 'refused' },
};

// --- client-certificate policy -------------------------------------------------------------------

const transitions = CLIENT_AUTH_TYPES.flatMap((from) =>
  CLIENT_AUTH_TYPES.filter((to) => to !== from).map((to) => [from, to] as const),
);

test.each(transitions)(
  'client_auth_type %s → %s: new connections get the new policy',
  async (from, to) => {
    const logs = await start(yaml({ clientAuth: from }));
    const { port } = logs;
    expect(await outcomes(port)).toEqual(ADMITS[from]);
    const line = await reloadAfter(logs, () =>
      writeFileSync(file('web.yml'), yaml({ clientAuth: to })),
    );
    expect(await outcomes(port)).toEqual(ADMITS[to]);
    expect(line.client_auth_type).toBe(to);
  },
);

test('a kept-alive connection from before a tightening is not served under the old policy', async () => {
  const logs = await start(yaml({ clientAuth: 'NoClientCert' }));
  const scraper = keepAliveScraper('none');
  expect(await scraper.get(logs.port)).toBe('ok');
  await reloadAfter(logs, () =>
    writeFileSync(file('web.yml'), yaml({ clientAuth: 'RequireAndVerifyClientCert' })),
  );
  expect(await scraper.get(logs.port)).toBe('refused');
  expect(await scraper.get(logs.port)).toBe('refused');
});

test('a request in flight when the policy tightens is answered; its connection is not reused', async () => {
  let arrived!: () => void;
  let release!: () => void;
  const inside = new Promise<void>((r) => (arrived = r));
  const gate = new Promise<void>((r) => (release = r));
  const app: App = (req, res) => {
    if (req.url !== '/slow') return res.end('ok');
    arrived();
    void gate.then(() => res.end('slow'));
  };
  const logs = await start(yaml({ clientAuth: 'NoClientCert' }), app);
  const scraper = keepAliveScraper('none');
  const slow = scraper.get(logs.port, '/slow');
  await inside;
  await reloadAfter(logs, () =>
    writeFileSync(file('web.yml'), yaml({ clientAuth: 'RequireAndVerifyClientCert' })),
  );
  release();
  expect(await slow).toBe('ok');
  expect(await scraper.get(logs.port)).toBe('refused');
});

test('a scraper still allowed after a policy change loses no scrape, idle or busy at the change', async () => {
  let arrived!: () => void;
  let release!: () => void;
  const inside = new Promise<void>((r) => (arrived = r));
  const gate = new Promise<void>((r) => (release = r));
  const app: App = (req, res) => {
    if (req.url !== '/slow') return okApp(req, res);
    arrived();
    void gate.then(() => okApp(req, res));
  };
  const logs = await start(yaml({ clientAuth: 'NoClientCert' }), app);
  const idle = keepAliveScraper('good');
  const busy = keepAliveScraper('good');
  expect(await idle.get(logs.port)).toBe('ok');
  const idleBefore = idle.body;
  const slow = busy.get(logs.port, '/slow');
  await inside;
  await reloadAfter(logs, () =>
    writeFileSync(file('web.yml'), yaml({ clientAuth: 'RequireAndVerifyClientCert' })),
  );
  release();
  expect(await slow).toBe('ok');
  const busyBefore = busy.body;
  expect(await idle.get(logs.port)).toBe('ok');
  expect(await busy.get(logs.port)).toBe('ok');
  // Both on new connections, made under the new policy.
  expect(idle.body).not.toBe(idleBefore);
  expect(busy.body).not.toBe(busyBefore);
});

test('connections opened before the client CA changes but not yet used are not served after it', async () => {
  // The client certificates verify under the CA of their own handshake, so only the connection's age
  // tells that they are not to be served.
  writeFileSync(file('clients-ca.pem'), read('ca1.crt'));
  const logs = await start(
    yaml({ clientAuth: 'RequireAndVerifyClientCert', clientCa: file('clients-ca.pem') }),
  );
  const caBecomes = (ca: string) => () =>
    reloadAfter(logs, () => writeFileSync(file('clients-ca.pem'), read(`${ca}.crt`)));

  // TCP accepted under ca1; handshake and request after the change to ca2.
  const accepted = once(listening!.server, 'connection');
  const tcp = connectTcp(logs.port, '127.0.0.1');
  await accepted;
  await caBecomes('ca2')();
  expect(await probe(logs.port, 'good', { socket: tcp })).toMatchObject({ outcome: 'refused' });
  expect((await probe(logs.port, 'foreign')).outcome).toBe('ok');

  // Handshake done under ca2; request after the change back to ca1.
  expect(await probe(logs.port, 'foreign', { beforeRequest: caBecomes('ca1') })).toMatchObject({
    outcome: 'refused',
  });
  expect((await probe(logs.port, 'good')).outcome).toBe('ok');
});

test('a TLS session from before a tightening cannot be resumed to skip the client certificate', async () => {
  const logs = await start(yaml({ clientAuth: 'NoClientCert' }));
  const before = await probe(logs.port, 'none');
  expect(before.outcome).toBe('ok');
  expect(before.session).toBeDefined();
  await reloadAfter(logs, () =>
    writeFileSync(file('web.yml'), yaml({ clientAuth: 'RequireAndVerifyClientCert' })),
  );
  const resumed = await probe(logs.port, 'none', { session: before.session! });
  expect(resumed).toMatchObject({ outcome: 'refused' });
});

// --- renewed files, YAML unchanged ---------------------------------------------------------------

/** How the files behind an unchanged YAML get renewed in the field. */
const RENEWALS: Record<string, { setup(): TlsYaml; renew(): void }> = {
  // kubelet's Secret volume: tls.crt → ..data/tls.crt, and ..data swapped atomically to a new directory.
  'Kubernetes Secret volume (..data symlink swap)': {
    setup() {
      const vol = file('secret');
      rmSync(vol, { recursive: true, force: true });
      mkdirSync(join(vol, '..2026_1'), { recursive: true });
      writeFileSync(join(vol, '..2026_1', 'tls.crt'), read('server1.crt'));
      writeFileSync(join(vol, '..2026_1', 'tls.key'), read('server1.key'));
      symlinkSync('..2026_1', join(vol, '..data'));
      symlinkSync('..data/tls.crt', join(vol, 'tls.crt'));
      symlinkSync('..data/tls.key', join(vol, 'tls.key'));
      return { cert: join(vol, 'tls.crt'), key: join(vol, 'tls.key') };
    },
    renew() {
      const vol = file('secret');
      mkdirSync(join(vol, '..2026_2'));
      writeFileSync(join(vol, '..2026_2', 'tls.crt'), read('server2.crt'));
      writeFileSync(join(vol, '..2026_2', 'tls.key'), read('server2.key'));
      symlinkSync('..2026_2', join(vol, '..data_tmp'));
      renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
      rmSync(join(vol, '..2026_1'), { recursive: true });
    },
  },
  // certbot: live/ holds symlinks into archive/, re-pointed at the new files one after the other.
  'certbot (live/ symlinks re-pointed)': {
    setup() {
      rmSync(file('le'), { recursive: true, force: true });
      mkdirSync(file('le/archive'), { recursive: true });
      mkdirSync(file('le/live'));
      writeFileSync(file('le/archive/fullchain1.pem'), read('server1.crt'));
      writeFileSync(file('le/archive/privkey1.pem'), read('server1.key'));
      symlinkSync('../archive/fullchain1.pem', file('le/live/fullchain.pem'));
      symlinkSync('../archive/privkey1.pem', file('le/live/privkey.pem'));
      return { cert: file('le/live/fullchain.pem'), key: file('le/live/privkey.pem') };
    },
    renew() {
      writeFileSync(file('le/archive/fullchain2.pem'), read('server2.crt'));
      writeFileSync(file('le/archive/privkey2.pem'), read('server2.key'));
      unlinkSync(file('le/live/fullchain.pem'));
      symlinkSync('../archive/fullchain2.pem', file('le/live/fullchain.pem'));
      unlinkSync(file('le/live/privkey.pem'));
      symlinkSync('../archive/privkey2.pem', file('le/live/privkey.pem'));
    },
  },
  'files overwritten in place': {
    setup() {
      writeFileSync(file('inplace.crt'), read('server1.crt'));
      writeFileSync(file('inplace.key'), read('server1.key'));
      return { cert: file('inplace.crt'), key: file('inplace.key') };
    },
    renew() {
      writeFileSync(file('inplace.crt'), read('server2.crt'));
      writeFileSync(file('inplace.key'), read('server2.key'));
    },
  },
  'new files renamed over the old ones': {
    setup() {
      writeFileSync(file('renamed.crt'), read('server1.crt'));
      writeFileSync(file('renamed.key'), read('server1.key'));
      return { cert: file('renamed.crt'), key: file('renamed.key') };
    },
    renew() {
      writeFileSync(file('renamed.crt.new'), read('server2.crt'));
      writeFileSync(file('renamed.key.new'), read('server2.key'));
      renameSync(file('renamed.key.new'), file('renamed.key'));
      renameSync(file('renamed.crt.new'), file('renamed.crt'));
    },
  },
};

test.each(Object.keys(RENEWALS))(
  'a renewed server certificate is served to new connections: %s',
  async (style) => {
    const renewal = RENEWALS[style]!;
    const logs = await start(
      yaml({ ...renewal.setup(), clientAuth: 'RequireAndVerifyClientCert' }),
    );
    const scraper = keepAliveScraper('good');
    expect(await scraper.get(logs.port)).toBe('ok');
    const connection = scraper.body;
    expect((await probe(logs.port, 'good')).serverFingerprint).toBe(fingerprint('server1'));
    const yamlBefore = readFileSync(file('web.yml'), 'utf8');

    renewal.renew();
    // Cert and key may be seen half-replaced (cert new, key old): the renewal is done once the new
    // certificate is what a new connection gets.
    await waitFor(
      'the renewed certificate served',
      async () => (await probe(logs.port, 'good')).serverFingerprint === fingerprint('server2'),
    );
    expect(readFileSync(file('web.yml'), 'utf8')).toBe(yamlBefore);
    expect(await outcomes(logs.port)).toEqual(ADMITS.RequireAndVerifyClientCert);
    // A renewal changes no one's access: the scraper's kept-alive connection carries on.
    expect(await scraper.get(logs.port)).toBe('ok');
    expect(scraper.body).toBe(connection);
    expect(logs.lines.at(-1)?.msg).toBe(RELOADED);
  },
);

test('a replaced client CA file is enforced on new, kept-alive and resumed connections', async () => {
  writeFileSync(file('clients-ca.pem'), read('ca1.crt'));
  const logs = await start(
    yaml({ clientAuth: 'RequireAndVerifyClientCert', clientCa: file('clients-ca.pem') }),
  );
  const { port } = logs;
  const scraper = keepAliveScraper('good');
  expect(await scraper.get(port)).toBe('ok');
  const earlier = await probe(port, 'good');
  expect(earlier.outcome).toBe('ok');
  expect(earlier.session).toBeDefined();
  expect(await outcomes(port)).toEqual({ none: 'refused', good: 'ok', foreign: 'refused' });

  await reloadAfter(logs, () => writeFileSync(file('clients-ca.pem'), read('ca2.crt')));

  expect(await outcomes(port)).toEqual({ none: 'refused', good: 'refused', foreign: 'ok' });
  expect((await probe(port, 'good', { session: earlier.session! })).outcome).toBe('refused');
  expect(await scraper.get(port)).toBe('refused');
});

test('a file the new YAML names is picked up when it appears', async () => {
  rmSync(file('later.crt'), { force: true });
  rmSync(file('later.key'), { force: true });
  const logs = await start(yaml({ clientAuth: 'RequireAndVerifyClientCert' }));
  const failed = await reloadAfter(
    logs,
    () =>
      writeFileSync(
        file('web.yml'),
        yaml({
          cert: file('later.crt'),
          key: file('later.key'),
          clientAuth: 'RequireAndVerifyClientCert',
        }),
      ),
    NOT_RELOADED,
  );
  expect(failed.msg).toContain(`"${file('later.crt')}" (ENOENT)`);
  expect((await probe(logs.port, 'good')).serverFingerprint).toBe(fingerprint('server1'));

  await reloadAfter(logs, () => {
    writeFileSync(file('later.key'), read('server2.key'));
    writeFileSync(file('later.crt'), read('server2.crt'));
  });
  await waitFor(
    'the new certificate served',
    async () => (await probe(logs.port, 'good')).serverFingerprint === fingerprint('server2'),
  );
});

// --- failed reloads ------------------------------------------------------------------------------

const PASSWORD = 'reload-s3cret';
const HASH = bcrypt.hashSync(PASSWORD, 4);
const basic = `Basic ${Buffer.from(`prometheus:${PASSWORD}`).toString('base64')}`;

/** Each breaks a working configuration in one way; `says` must all appear in the error line. */
const BREAKAGES: Record<string, { apply(): void; says: () => string[] }> = {
  'YAML that does not parse': {
    apply: () => writeFileSync(file('web.yml'), 'tls_server_config: [broken\n'),
    says: () => [file('web.yml'), 'not valid YAML'],
  },
  'the YAML file removed': {
    apply: () => rmSync(file('web.yml')),
    says: () => [file('web.yml'), 'cannot read', 'ENOENT'],
  },
  'the YAML file replaced by a directory': {
    apply: () => {
      rmSync(file('web.yml'));
      mkdirSync(file('web.yml'));
    },
    says: () => [file('web.yml'), 'cannot read', 'EISDIR'],
  },
  'the certificate file removed': {
    apply: () => rmSync(file('live.crt')),
    says: () => [file('web.yml'), 'cert_file', file('live.crt'), 'ENOENT'],
  },
  'a key that does not match the certificate': {
    apply: () => writeFileSync(file('live.key'), read('server2.key')),
    says: () => [file('web.yml'), file('live.key'), file('live.crt'), 'does not match'],
  },
  'a certificate file that holds no certificate': {
    apply: () => writeFileSync(file('live.crt'), 'not a certificate\n'),
    says: () => [file('web.yml'), 'cert_file', file('live.crt'), 'no PEM certificate'],
  },
  'a key file that holds no key': {
    apply: () => writeFileSync(file('live.key'), read('server1.crt')),
    says: () => [file('web.yml'), 'key_file', file('live.key'), 'no PEM private key'],
  },
  'a certificate OpenSSL refuses (RSA 512 bits)': {
    apply: () => {
      writeFileSync(file('live.key'), read('weak.key'));
      writeFileSync(file('live.crt'), read('weak.crt'));
    },
    says: () => [file('web.yml'), file('live.crt'), file('live.key'), 'ee key too small'],
  },
  'a client CA file that holds no certificate': {
    apply: () => writeFileSync(file('live-ca.pem'), 'garbage\n'),
    says: () => [file('web.yml'), 'client_ca_file', file('live-ca.pem'), 'no PEM certificate'],
  },
  'VerifyClientCertIfGiven without a client CA': {
    apply: () =>
      writeFileSync(
        file('web.yml'),
        `tls_server_config:\n  cert_file: ${file('live.crt')}\n  key_file: ${file('live.key')}\n  client_auth_type: VerifyClientCertIfGiven\n`,
      ),
    says: () => [file('web.yml'), 'client_ca_file is required'],
  },
  'TLS switched off': {
    apply: () => writeFileSync(file('web.yml'), `basic_auth_users:\n  prometheus: ${HASH}\n`),
    says: () => [file('web.yml'), 'restart'],
  },
};

test.each(Object.keys(BREAKAGES))(
  'a failed reload keeps the previous configuration and says why: %s',
  async (name) => {
    const breakage = BREAKAGES[name]!;
    rmSync(file('web.yml'), { recursive: true, force: true });
    writeFileSync(file('live.crt'), read('server1.crt'));
    writeFileSync(file('live.key'), read('server1.key'));
    writeFileSync(file('live-ca.pem'), read('ca1.crt'));
    const working = yaml({
      cert: file('live.crt'),
      key: file('live.key'),
      clientAuth: 'RequireAndVerifyClientCert',
      clientCa: file('live-ca.pem'),
      users: HASH,
    });
    const logs = await start(working);
    const { port } = logs;
    const serving = async () => ({
      good: await probe(port, 'good', { authorization: basic }),
      goodWithoutPassword: (await probe(port, 'good')).detail,
      none: (await probe(port, 'none', { authorization: basic })).outcome,
      foreign: (await probe(port, 'foreign', { authorization: basic })).outcome,
    });
    const expected = {
      good: expect.objectContaining({ outcome: 'ok', serverFingerprint: fingerprint('server1') }),
      goodWithoutPassword: '401',
      none: 'refused',
      foreign: 'refused',
    };
    expect(await serving()).toEqual(expected);

    const line = await reloadAfter(logs, breakage.apply, NOT_RELOADED);
    expect(line.level).toBe(50);
    const text = JSON.stringify(line);
    for (const part of breakage.says()) expect(text).toContain(part);
    expect(await serving()).toEqual(expected);

    // Nothing secret in any line: no key material, no hash, no password.
    const all = logs.lines.map((l) => JSON.stringify(l)).join('\n');
    const keyBody = [read('server1.key'), read('server2.key'), read('weak.key')]
      .flatMap((k) => k.toString().split('\n'))
      .filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const secret of [...keyBody, HASH, PASSWORD, 'PRIVATE KEY'])
      expect(all).not.toContain(secret);

    // Put right, it is taken up again.
    rmSync(file('web.yml'), { recursive: true, force: true });
    await reloadAfter(logs, () => {
      writeFileSync(file('live.crt'), read('server1.crt'));
      writeFileSync(file('live.key'), read('server1.key'));
      writeFileSync(file('live-ca.pem'), read('ca1.crt'));
      writeFileSync(file('web.yml'), working);
    });
    expect(await serving()).toEqual(expected);
  },
);
