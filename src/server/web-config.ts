/**
 * The Prometheus exporter-toolkit web configuration (`--web.config.file`): TLS and basic authentication,
 * in the same YAML format as the Go exporters so operators can reuse their files.
 * https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
 */
import { readFileSync } from 'node:fs';
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
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

function readPem(
  path: unknown,
  field: string,
  readFile: (p: string) => Buffer,
): { path: string; pem: Buffer } {
  if (typeof path !== 'string' || path === '')
    throw new WebConfigError(`tls_server_config.${field} is required`);
  try {
    return { path, pem: readFile(path) };
  } catch (error) {
    throw new WebConfigError(
      `tls_server_config.${field}: cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

export function parseWebConfig(
  text: string,
  readFile: (p: string) => Buffer = (p) => readFileSync(p),
): WebConfig {
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
  const cert = readPem(tls.cert_file, 'cert_file', readFile);
  const key = readPem(tls.key_file, 'key_file', readFile);
  const ca = tls.client_ca_file
    ? readPem(tls.client_ca_file, 'client_ca_file', readFile)
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
 * The certificate, key and CA files a configuration text names, read leniently (never throws), so that
 * they are polled for changes even while the text as a whole is refused: a file it names may appear later.
 */
export function referencedFiles(text: string): string[] {
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
    .filter((path): path is string => typeof path === 'string' && path !== '');
}

/**
 * Checks basic-auth credentials. bcrypt is deliberately slow, so a verified (user, password, hash) is
 * remembered by its SHA-256 for the life of the hash; scrapes then cost a hash, not a bcrypt round.
 */
export class BasicAuthChecker {
  private readonly verified = new Set<string>();
  constructor(private readonly users: ReadonlyMap<string, string>) {}

  get enabled(): boolean {
    return this.users.size > 0;
  }

  async check(authorization: string | undefined): Promise<boolean> {
    if (!authorization?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const hash = this.users.get(user);
    if (!hash) return false;
    const key = createHash('sha256')
      .update(`${user}\0${decoded.slice(colon + 1)}\0${hash}`)
      .digest('hex');
    if (this.verified.has(key)) return true;
    const ok = await bcrypt.compare(decoded.slice(colon + 1), hash);
    if (ok && this.verified.size < 1000) this.verified.add(key);
    return ok;
  }
}
