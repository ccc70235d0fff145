/** --web.config.file: TLS with real handshakes (certificates made by the test) and bcrypt basic auth. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { Agent, request } from 'undici';
import { listen, type Listening } from '../../src/server/listen.js';
import { parseWebConfig, WebConfigError } from '../../src/server/web-config.js';
import { EXPORTER_BIN, runProcess } from '../support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'tsfota-tls-'));
const file = (name: string) => join(dir, name);
const logger = pino({ level: 'silent' });

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

beforeAll(() => {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
  );
  writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn] of [
    ['server', '127.0.0.1'],
    ['client', 'scraper'],
  ]) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      file('san.cnf'),
      '-out',
      file(`${name}.crt`),
    );
  }
});

let listening: Listening | undefined;
afterEach(async () => {
  await listening?.close();
  listening = undefined;
});

const app = (_req: unknown, res: { end(s: string): void }) => res.end('ok');
const hash = (password: string) => bcrypt.hashSync(password, 4);
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function get(url: string, options: { authorization?: string; client?: boolean } = {}) {
  const dispatcher = new Agent({
    connect: {
      ca: readFileSync(file('ca.crt')),
      ...(options.client
        ? { cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) }
        : {}),
    },
  });
  try {
    const res = await request(`${url}/-/healthy`, {
      dispatcher,
      headers: options.authorization ? { authorization: options.authorization } : {},
    });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

test('TLS and basic auth protect every request; right and wrong passwords', async () => {
  writeFileSync(
    file('web.yml'),
    `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\nbasic_auth_users:\n  prometheus: ${hash('s3cret-pass')}\n`,
  );
  listening = await listen(app, {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: file('web.yml'),
    logger,
  });
  expect(listening.url).toMatch(/^https:/);
  expect(
    (await get(listening.url, { authorization: basic('prometheus', 's3cret-pass') })).status,
  ).toBe(200);
  expect((await get(listening.url, { authorization: basic('prometheus', 'wrong') })).status).toBe(
    401,
  );
  expect((await get(listening.url, { authorization: basic('nobody', 's3cret-pass') })).status).toBe(
    401,
  );
  expect((await get(listening.url)).status).toBe(401);
});

test('RequireAndVerifyClientCert refuses a handshake without a client certificate', async () => {
  writeFileSync(
    file('mtls.yml'),
    `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${file('ca.crt')}\n  min_version: TLS13\n`,
  );
  listening = await listen(app, {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: file('mtls.yml'),
    logger,
  });
  expect((await get(listening.url, { client: true })).status).toBe(200);
  await expect(get(listening.url)).rejects.toThrow();
});

test('a key that does not match the certificate is refused at start, naming both files', async () => {
  writeFileSync(
    file('mismatch.yml'),
    `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('client.key')}\n`,
  );
  const attempt = listen(app, {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: file('mismatch.yml'),
    logger,
  });
  await expect(attempt).rejects.toThrow(WebConfigError);
  await expect(attempt).rejects.toThrow(
    `tls_server_config.key_file "${file('client.key')}" does not match the certificate in cert_file "${file('server.crt')}"`,
  );
});

test('the file is re-read when it changes; a broken change keeps the previous configuration', async () => {
  const path = file('reload.yml');
  writeFileSync(path, `basic_auth_users:\n  alice: ${hash('first')}\n`);
  listening = await listen(app, {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: path,
    logger,
    watchIntervalMs: 50,
  });
  const at = async (password: string) =>
    (await fetch(`${listening!.url}/`, { headers: { authorization: basic('alice', password) } }))
      .status;
  expect(await at('first')).toBe(200);
  writeFileSync(path, `basic_auth_users:\n  alice: ${hash('second')}\n`);
  await waitFor(async () => (await at('second')) === 200);
  expect(await at('first')).toBe(401);
  writeFileSync(path, 'basic_auth_users: [broken\n');
  await new Promise((r) => setTimeout(r, 300));
  expect(await at('second')).toBe(200);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.each([
  ['basic_auth_users:\n  bob: plaintext\n', 'basic_auth_users.bob: not a bcrypt hash'],
  ['tls_server_config:\n  key_file: /x\n', 'tls_server_config.cert_file is required'],
  [
    'tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /x\n',
    'cannot read "/nonexistent.crt"',
  ],
  [
    'tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n',
    'client_auth_type must be one of',
  ],
  ['http_server_config:\n  http2: true\n', 'unsupported field "http_server_config"'],
])('a bad web configuration is refused with a clear message: %j', (text, message) => {
  expect(() => parseWebConfig(text)).toThrow(WebConfigError);
  expect(() => parseWebConfig(text)).toThrow(message);
});

test('the exporter exits 2 naming --web.config.file when the file is bad', async () => {
  writeFileSync(file('bad.yml'), 'basic_auth_users:\n  bob: plaintext\n');
  const { code, stderr } = await runProcess(
    EXPORTER_BIN,
    [
      '--thingspace.accounts=0000000001',
      '--web.listen-address=127.0.0.1:0',
      `--web.config.file=${file('bad.yml')}`,
    ],
    {
      THINGSPACE_CLIENT_ID: 'a-id',
      THINGSPACE_CLIENT_SECRET: 'b-secret',
      THINGSPACE_USERNAME: 'c-user',
      THINGSPACE_PASSWORD: 'd-password',
    },
  );
  expect(code).toBe(2);
  expect(stderr).toContain('--web.config.file (WEB_CONFIG_FILE)');
  expect(stderr).not.toContain('d-password');
});
