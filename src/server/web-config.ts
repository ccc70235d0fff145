/**
 * The Prometheus exporter-toolkit web configuration (`--web.config.file`): TLS and basic authentication,
 * in the same YAML format as the Go exporters so operators can reuse their files.
 * https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import bcrypt from 'bcryptjs';
import { parse as parseYaml } from 'yaml';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

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

function readPem(path: unknown, field: string, readFile: (p: string) => Buffer): Buffer {
  if (typeof path !== 'string' || path === '')
    throw new WebConfigError(`tls_server_config.${field} is required`);
  try {
    return readFile(path);
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
  return {
    users,
    tls: {
      secureContext: {
        cert: readPem(tls.cert_file, 'cert_file', readFile),
        key: readPem(tls.key_file, 'key_file', readFile),
        ca: tls.client_ca_file
          ? readPem(tls.client_ca_file, 'client_ca_file', readFile)
          : undefined,
        minVersion: TLS_VERSIONS[minVersion],
      },
      clientAuthType,
      requestCert: clientAuthType !== 'NoClientCert',
      rejectUnauthorized: clientAuthType === 'RequireAndVerifyClientCert',
    },
  };
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
