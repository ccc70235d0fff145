/**
 * The Prometheus exporter-toolkit web configuration (`--web.config.file`): TLS and basic authentication,
 * in the same YAML format as the Go exporters so operators can reuse their files.
 * https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  createHmac,
  createPrivateKey,
  randomBytes,
  randomInt,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import bcrypt from 'bcryptjs';
import { parse as parseYaml } from 'yaml';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
} as const;

export interface TlsSettings {
  secureContext: SecureContextOptions;
  requestCert: boolean;
  /** Whether a client certificate that does not verify against client_ca_file is refused. */
  rejectUnauthorized: boolean;
  clientAuthType: ClientAuthType;
  /**
   * Who may connect: client_auth_type, min_version and the client CA certificates. Two settings with the
   * same value admit the same clients, so connections made under one may go on under the other.
   */
  accessPolicy: string;
  /** The server certificate, for the log line that says what is being served. */
  certificate: { sha256: string; notAfter: string };
}

export interface WebConfig {
  tls?: TlsSettings;
  /** Username → bcrypt hash. Empty: no authentication. */
  users: ReadonlyMap<string, string>;
}

export class WebConfigError extends Error {
  override name = 'WebConfigError';
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new WebConfigError(`${where} must be a mapping`);
  return value as Record<string, unknown>;
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new WebConfigError(`${where}: unsupported field "${key}"`);
  }
}

/**
 * Where a file named in the configuration is read from. As in exporter-toolkit (TLSConfig.SetDirectory
 * with the configuration file's directory), a relative path is relative to the configuration file, not
 * to the working directory, so a file written for a Go exporter names the same files here.
 */
export function resolveNamedFile(named: string, directory: string): string {
  return isAbsolute(named) ? named : resolve(directory, named);
}

export interface ParseOptions {
  /** The directory of the configuration file, against which relative file paths resolve. */
  directory?: string;
  /** Reads a named file by its resolved path. */
  readFile?: (path: string) => Buffer;
}

function readPem(
  named: unknown,
  field: string,
  options: Required<ParseOptions>,
): { path: string; pem: Buffer } {
  if (typeof named !== 'string' || named === '')
    throw new WebConfigError(`tls_server_config.${field} is required`);
  const path = resolveNamedFile(named, options.directory);
  try {
    return { path, pem: options.readFile(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const relative = path === named ? '' : `; "${named}" is relative to the web config file`;
    throw new WebConfigError(
      `tls_server_config.${field}: cannot read "${path}" (${code}${relative})`,
    );
  }
}

export function parseWebConfig(text: string, parseOptions: ParseOptions = {}): WebConfig {
  const options: Required<ParseOptions> = {
    directory: parseOptions.directory ?? '.',
    readFile: parseOptions.readFile ?? ((p) => readFileSync(p)),
  };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new WebConfigError(`not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const root = record(doc, 'the file');
  onlyKeys(root, ['tls_server_config', 'basic_auth_users'], 'the file');

  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(record(root.basic_auth_users, 'basic_auth_users'))) {
    if (typeof hash !== 'string' || !/^\$2[aby]\$\d{2}\$.{53}$/.test(hash)) {
      throw new WebConfigError(`basic_auth_users.${user}: not a bcrypt hash`);
    }
    users.set(user, hash);
  }

  if (root.tls_server_config === undefined) return { users };
  const tls = record(root.tls_server_config, 'tls_server_config');
  onlyKeys(
    tls,
    ['cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'min_version'],
    'tls_server_config',
  );
  const clientAuthType = (tls.client_auth_type ?? 'NoClientCert') as ClientAuthType;
  if (!CLIENT_AUTH_TYPES.includes(clientAuthType)) {
    throw new WebConfigError(
      `tls_server_config.client_auth_type must be one of ${CLIENT_AUTH_TYPES.join(', ')}`,
    );
  }
  const minVersion = (tls.min_version ?? 'TLS12') as keyof typeof TLS_VERSIONS;
  if (!(minVersion in TLS_VERSIONS)) {
    throw new WebConfigError(
      `tls_server_config.min_version must be one of ${Object.keys(TLS_VERSIONS).join(', ')}`,
    );
  }
  const verifies =
    clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert';
  if (verifies && !tls.client_ca_file) {
    throw new WebConfigError(
      `tls_server_config.client_ca_file is required with client_auth_type ${clientAuthType}`,
    );
  }
  const cert = readPem(tls.cert_file, 'cert_file', options);
  const key = readPem(tls.key_file, 'key_file', options);
  const ca = tls.client_ca_file
    ? readPem(tls.client_ca_file, 'client_ca_file', options)
    : undefined;

  // Checked here rather than left to OpenSSL: a mismatched key surfaces from createSecureContext as
  // "key values mismatch" naming no file, and a CA file without a certificate is accepted silently (and
  // then no client verifies).
  const leaf = certificates(cert.pem, 'cert_file', cert.path)[0]!;
  if (!leaf.checkPrivateKey(loadKey(key.pem, key.path))) {
    throw new WebConfigError(
      `tls_server_config.key_file "${key.path}" does not match the certificate in cert_file "${cert.path}"`,
    );
  }
  const clientCas = ca ? certificates(ca.pem, 'client_ca_file', ca.path) : [];
  const secureContext: SecureContextOptions = {
    cert: cert.pem,
    key: key.pem,
    ca: ca?.pem,
    minVersion: TLS_VERSIONS[minVersion],
  };
  try {
    createSecureContext(secureContext);
  } catch (error) {
    // OpenSSL's reason ("ee key too small", "ca md too weak") names a property, never key material.
    const { reason, code } = error as { reason?: string; code?: string };
    throw new WebConfigError(
      `tls_server_config: OpenSSL refused cert_file "${cert.path}" with key_file "${key.path}"${ca ? ` and client_ca_file "${ca.path}"` : ''}: ${reason ?? code ?? 'error'}`,
    );
  }
  const accessPolicy = [clientAuthType, minVersion, ...clientCas.map((c) => c.fingerprint256)].join(
    ' ',
  );
  return {
    users,
    tls: {
      secureContext,
      clientAuthType,
      requestCert: clientAuthType !== 'NoClientCert',
      rejectUnauthorized: clientAuthType === 'RequireAndVerifyClientCert',
      accessPolicy,
      certificate: { sha256: leaf.fingerprint256, notAfter: new Date(leaf.validTo).toISOString() },
    },
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function certificates(pem: Buffer, field: string, path: string): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    throw new WebConfigError(`tls_server_config.${field} "${path}" holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new WebConfigError(
        `tls_server_config.${field} "${path}": PEM certificate ${i + 1} does not parse`,
      );
    }
  });
}

function loadKey(pem: Buffer, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    // The code only (ERR_OSSL_UNSUPPORTED, ERR_MISSING_PASSPHRASE, …): nothing of the key's text.
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new WebConfigError(
      `tls_server_config.key_file "${path}" holds no PEM private key that can be used (${code})`,
    );
  }
}

/**
 * Whether a request may be served on a connection, by the client certificate its handshake produced.
 * RequireAndVerifyClientCert is normally enforced by the handshake itself; it is checked here too because
 * a resumed TLS 1.3 session counts as verified even when it carries no certificate at all.
 */
export function clientCertificateAllowed(
  type: ClientAuthType,
  peer: { presented: boolean; authorized: boolean },
): boolean {
  switch (type) {
    case 'NoClientCert':
    case 'RequestClientCert':
      return true;
    case 'RequireAnyClientCert':
      return peer.presented;
    case 'VerifyClientCertIfGiven':
      return !peer.presented || peer.authorized;
    case 'RequireAndVerifyClientCert':
      return peer.presented && peer.authorized;
  }
}

/**
 * The certificate, key and CA files a configuration text names, resolved as parseWebConfig resolves them
 * and read leniently (never throws), so that they are polled for changes even while the text as a whole
 * is refused: a file it names may appear later.
 */
export function referencedFiles(text: string, directory: string): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return [];
  }
  const tls = (doc as { tls_server_config?: unknown } | null)?.tls_server_config;
  if (typeof tls !== 'object' || tls === null) return [];
  const fields = tls as Record<string, unknown>;
  return ['cert_file', 'key_file', 'client_ca_file']
    .map((field) => fields[field])
    .filter((path): path is string => typeof path === 'string' && path !== '')
    .map((path) => resolveNamedFile(path, directory));
}

/** Compares a password with a bcrypt hash; bcryptjs's async compare, or a spy in tests. */
export type PasswordComparer = (password: string, hash: string) => Promise<boolean>;

/** `busy`: the check was not made because too many were already waiting (answered 429). */
export type AuthOutcome = 'allowed' | 'denied' | 'busy';

export interface BasicAuthLimits {
  /** bcrypt comparisons run at once. */
  concurrentChecks: number;
  /** Checks that may wait for a free slot; beyond that a check is answered `busy` without bcrypt. */
  waitingChecks: number;
  /** Verified credentials remembered, least recently used dropped first. */
  verifiedCacheSize: number;
}

/**
 * One comparison at a time: they run on one worker thread (password-worker.ts), which leaves the other
 * core of a small machine to the event loop; and a comparer that runs on the event loop (bcryptjs's async
 * compare) gains nothing from a second one but a longer wait between two turns of the loop. Eight waiting
 * checks are about 8 × 70 ms at cost 10 on a 2-core machine, so a scraper whose check has to wait is
 * answered well inside a scrape timeout; a flood beyond that is answered 429 without bcrypt work. The
 * cache size is exporter-toolkit's.
 */
export const BASIC_AUTH_LIMITS: BasicAuthLimits = {
  concurrentChecks: 1,
  waitingChecks: 8,
  verifiedCacheSize: 100,
};

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The hash an unknown user's password is compared with, so that an unknown user costs what a known one
 * does and the response time does not tell which usernames exist (exporter-toolkit uses a fixed cost-10
 * hash; taking the cost the configured hashes use matches them exactly). Salt and digest are random: no
 * password matches it, and an unknown user is refused whatever the comparison says.
 */
function decoyHash(users: ReadonlyMap<string, string>): string {
  const costs = new Map<string, number>();
  for (const hash of users.values()) {
    const cost = hash.slice(4, 6);
    costs.set(cost, (costs.get(cost) ?? 0) + 1);
  }
  const [cost] = [...costs].sort(([a, m], [b, n]) => n - m || Number(b) - Number(a))[0] ?? ['10'];
  let rest = '';
  for (let i = 0; i < 53; i++) rest += BCRYPT_ALPHABET[randomInt(BCRYPT_ALPHABET.length)];
  return `$2b$${cost}$${rest}`;
}

function sameUsers(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([user, hash]) => b.get(user) === hash);
}

const BUSY = Symbol('busy');

/**
 * Checks basic-auth credentials the way exporter-toolkit does: an unknown user is compared with a decoy
 * hash, and a verified (user, password, hash) is remembered, so a scrape costs an HMAC rather than a
 * bcrypt comparison. Comparisons are bounded (BASIC_AUTH_LIMITS) so that wrong passwords sent in a loop
 * cost a bounded share of the CPU and a bounded queue, never an unbounded backlog. Only successes are remembered: a failure cache would be
 * defeated by varying the password and would let a flood push verified scrapers out.
 */
export class BasicAuth {
  private users: ReadonlyMap<string, string> = new Map();
  private decoy = '';
  private readonly verified = new Map<string, true>();
  /** Keys the cache: what is kept in memory is no plain hash of a password. */
  private readonly cacheKey = randomBytes(32);
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly compare: PasswordComparer;
  private readonly limits: BasicAuthLimits;

  constructor(
    users: ReadonlyMap<string, string>,
    options: { compare?: PasswordComparer; limits?: Partial<BasicAuthLimits> } = {},
  ) {
    this.compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    this.limits = { ...BASIC_AUTH_LIMITS, ...options.limits };
    this.setUsers(users);
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** Comparisons running and waiting, for tests and diagnostics. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * Applies the basic_auth_users of a (re)loaded configuration. Remembered checks are dropped when the
   * users or their hashes change (a reload that only renews a certificate keeps them); a check already
   * under way finishes against the users it started with but is not remembered.
   */
  setUsers(users: ReadonlyMap<string, string>): void {
    if (sameUsers(users, this.users)) return;
    this.users = users;
    this.verified.clear();
    this.decoy = decoyHash(users);
  }

  async check(authorization: string | undefined): Promise<AuthOutcome> {
    // The scheme is case-insensitive (RFC 7617), as Go's Request.BasicAuth reads it.
    if (!authorization || !/^basic /i.test(authorization)) return 'denied';
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return 'denied';
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const users = this.users;
    const configured = users.get(user);
    const hash = configured ?? this.decoy;
    const key = createHmac('sha256', this.cacheKey)
      .update(JSON.stringify([user, password, hash]))
      .digest('base64');
    if (configured && this.verified.delete(key)) {
      this.verified.set(key, true);
      return 'allowed';
    }
    const matches = await this.bounded(() => this.compare(password, hash));
    if (matches === BUSY) return 'busy';
    if (!matches || !configured) return 'denied';
    if (users === this.users) {
      if (this.verified.size >= this.limits.verifiedCacheSize) {
        this.verified.delete(this.verified.keys().next().value!);
      }
      this.verified.set(key, true);
    }
    return 'allowed';
  }

  private async bounded<T>(task: () => Promise<T>): Promise<T | typeof BUSY> {
    if (this.running < this.limits.concurrentChecks) this.running++;
    else if (this.waiting.length >= this.limits.waitingChecks) return BUSY;
    // The slot is handed over by the check that frees it, so `running` already counts this one.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
