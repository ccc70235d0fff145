/**
 * Relative cert_file, key_file and client_ca_file are read from the web config file's directory, as
 * exporter-toolkit reads them, both at start and when polling for renewed files; the working directory
 * plays no part. The working directory of the exporter holds same-named decoys that must not be read.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import pino from 'pino';
import { listen, type Listening } from '../../src/server/listen.js';
import { WebConfigError } from '../../src/server/web-config.js';
import { EXPORTER_BIN, killAll, startProcess } from '../support/process.js';
import { makeTestPki, type TestCa, type TestCert, type TestPki } from '../support/tls-fake.js';

let pki: TestPki;
let ca: TestCa;
let first: TestCert;
let second: TestCert;
let decoy: TestCert;

beforeAll(() => {
  pki = makeTestPki();
  ca = pki.ca('paths');
  first = pki.serverCert(ca, 'first');
  second = pki.serverCert(ca, 'second');
  decoy = pki.serverCert(ca, 'decoy');
});

let root: string;
let listening: Listening | undefined;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tsfota-paths-'));
});
afterEach(async () => {
  await listening?.close();
  listening = undefined;
  killAll();
  rmSync(root, { recursive: true, force: true });
});
afterAll(() => pki.remove());

const fingerprint = (cert: TestCert) =>
  new X509Certificate(readFileSync(cert.certFile)).fingerprint256;

/**
 * root/conf/web.yml naming tls/server.pem, tls/server.key and tls/ca.pem relative to itself, and in
 * root/tls/ the same names holding something else: another certificate, and a CA file with no certificate
 * (reading it would refuse the whole configuration).
 */
function layout(cert: TestCert): string {
  mkdirSync(join(root, 'conf', 'tls'), { recursive: true });
  copyFileSync(cert.certFile, join(root, 'conf', 'tls', 'server.pem'));
  copyFileSync(cert.keyFile, join(root, 'conf', 'tls', 'server.key'));
  copyFileSync(ca.certFile, join(root, 'conf', 'tls', 'ca.pem'));
  mkdirSync(join(root, 'tls'));
  copyFileSync(decoy.certFile, join(root, 'tls', 'server.pem'));
  copyFileSync(decoy.keyFile, join(root, 'tls', 'server.key'));
  writeFileSync(join(root, 'tls', 'ca.pem'), 'not a certificate\n');
  const config = join(root, 'conf', 'web.yml');
  writeFileSync(
    config,
    [
      'tls_server_config:',
      '  cert_file: tls/server.pem',
      '  key_file: ./tls/server.key',
      '  client_auth_type: VerifyClientCertIfGiven',
      '  client_ca_file: tls/ca.pem',
      '',
    ].join('\n'),
  );
  return config;
}

/** The certificate served on a new connection, and the status of GET /-/healthy on it. */
function probe(port: number): Promise<{ fingerprint?: string; status?: string }> {
  return new Promise((resolve, reject) => {
    let data = '';
    let served: string | undefined;
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(ca.certFile) });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('secureConnect', () => {
      served = socket.getPeerCertificate().fingerprint256;
      socket.write('GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () =>
      resolve({ fingerprint: served, status: /^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] }),
    );
  });
}

test('the exporter started from another directory reads the files beside its web config, not the same names in its working directory', async () => {
  layout(first);
  const exporter = startProcess(
    EXPORTER_BIN,
    [
      '--web.listen-address=127.0.0.1:0',
      // Relative itself: resolved against the working directory, as Go's filepath.Dir leaves it.
      '--web.config.file=conf/web.yml',
      '--thingspace.accounts=0000000001',
      '--thingspace.base-url=http://127.0.0.1:9',
    ],
    {
      THINGSPACE_CLIENT_ID: 'a-id',
      THINGSPACE_CLIENT_SECRET: 'b-secret',
      THINGSPACE_USERNAME: 'c-user',
      THINGSPACE_PASSWORD: 'd-password',
    },
    { cwd: root },
  );
  const line = await exporter.waitForLine((l) => l.msg === 'listening');
  expect(String(line.url)).toMatch(/^https:/);
  const port = Number(new URL(String(line.url)).port);
  expect(await probe(port)).toEqual({ fingerprint: fingerprint(first), status: '200' });
  expect(await exporter.stop()).toBe(0);
});

test('a renewed certificate under a relative path is picked up', async () => {
  const config = layout(first);
  const lines: { msg: string }[] = [];
  listening = await listen((_req, res) => res.end('ok'), {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: config,
    logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
    watchIntervalMs: 30,
  });
  const port = Number(new URL(listening.url).port);
  expect(await probe(port)).toEqual({ fingerprint: fingerprint(first), status: '200' });

  copyFileSync(second.keyFile, join(root, 'conf', 'tls', 'server.key'));
  copyFileSync(second.certFile, join(root, 'conf', 'tls', 'server.pem'));
  const end = Date.now() + 8000;
  while ((await probe(port)).fingerprint !== fingerprint(second)) {
    if (Date.now() > end) throw new Error('the renewed certificate was not served');
    await new Promise((r) => setTimeout(r, 30));
  }
  expect(lines.some((l) => l.msg === 'web configuration reloaded')).toBe(true);
  expect(lines.some((l) => l.msg.startsWith('web configuration not reloaded'))).toBe(false);
});

test('a missing relative file is named by the path read, and said to be relative to the config', async () => {
  const config = layout(first);
  rmSync(join(root, 'conf', 'tls', 'server.pem'));
  const attempt = listen((_req, res) => res.end('ok'), {
    host: '127.0.0.1',
    port: 0,
    webConfigFile: config,
    logger: pino({ level: 'silent' }),
  });
  await expect(attempt).rejects.toThrow(WebConfigError);
  await expect(attempt).rejects.toThrow(
    `tls_server_config.cert_file: cannot read "${join(root, 'conf', 'tls', 'server.pem')}" (ENOENT; "tls/server.pem" is relative to the web config file)`,
  );
});
