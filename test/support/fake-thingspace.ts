/**
 * A scriptable fake of ThingSpace for the client's integration tests: real sockets on 127.0.0.1, the real
 * token flow, and hooks that let a test break one answer at a time. The full simulator is src/simulator;
 * this fake exists so a test can say exactly which request fails and how.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { UPGRADE_STATUSES, type UpgradeStatus } from '../../src/upgrades/statuses.js';

export interface FakeDevice {
  deviceId: string;
  status: string;
  resultReason?: string;
}

export interface FakeUpgrade {
  id: string;
  accountName: string;
  firmwareName: string;
  firmwareTo: string;
  startDate: string;
  status: UpgradeStatus;
  deviceList: FakeDevice[];
}

export const FAKE_CREDENTIALS = {
  clientId: 'fake-client-id',
  clientSecret: 'fake-client-secret-Zq9',
  username: 'fake-user',
  password: 'fake-password-Xk7',
};

export interface ReportRequest {
  account: string;
  status: string;
  index: string;
  /** How many report requests the fake had served before this one. */
  seq: number;
}

/**
 * A hook's answer replaces the normal one: a status and a JSON body (or raw text), 'reset', or 'hang' (no
 * answer at all: the client's timeout ends the request).
 */
export type Override =
  | { status: number; body: unknown; raw?: string; headers?: Record<string, string> }
  | 'reset'
  | 'hang';

export interface FakeOptions {
  data: Record<string, Partial<Record<UpgradeStatus, FakeUpgrade[]>>>;
  pageSize?: number;
  /** How the cursor is written: the documented key, the misspelt one, or a numeric record index. */
  cursor?: 'id' | 'misspelt' | 'numeric';
}

export interface FakeThingSpace {
  url: string;
  counts: { oauth: number; login: number; reports: number; rejectedLogins: number };
  /** Called before each report answer; return an Override to replace it. */
  onReport?: (req: ReportRequest) => Override | undefined;
  password: string;
  clientSecret: string;
  expireBearer(): void;
  expireSession(): void;
  close(): Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeThingSpace(options: FakeOptions): Promise<FakeThingSpace> {
  const pageSize = options.pageSize ?? 50;
  const bearers = new Set<string>();
  const sessions = new Set<string>();
  const fake: FakeThingSpace = {
    url: '',
    counts: { oauth: 0, login: 0, reports: 0, rejectedLogins: 0 },
    password: FAKE_CREDENTIALS.password,
    clientSecret: FAKE_CREDENTIALS.clientSecret,
    expireBearer: () => bearers.clear(),
    expireSession: () => sessions.clear(),
    close: async () => undefined,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const auth = req.headers.authorization ?? '';
    if (req.method === 'POST' && url === '/api/ts/v1/oauth2/token') {
      fake.counts.oauth++;
      const expected = Buffer.from(`${FAKE_CREDENTIALS.clientId}:${fake.clientSecret}`).toString(
        'base64',
      );
      if (
        auth !== `Basic ${expected}` ||
        (await readBody(req)) !== 'grant_type=client_credentials'
      ) {
        fake.counts.rejectedLogins++;
        return send(res, 401, {
          error: 'invalid_client',
          error_description: 'Client authentication failed',
        });
      }
      const token = `bearer-${randomUUID()}`;
      bearers.add(token);
      return send(res, 200, {
        access_token: token,
        token_type: 'bearer',
        expires_in: 3600,
        scope: 'ts.fota',
      });
    }
    const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!bearer || !bearers.has(bearer)) {
      return send(res, 401, {
        fault: {
          code: bearer ? '900901' : '900902',
          message: 'Invalid Credentials',
          description: 'Access failure',
        },
      });
    }
    if (req.method === 'POST' && url === '/api/m2m/v1/session/login') {
      fake.counts.login++;
      const body = JSON.parse(await readBody(req)) as { username?: string; password?: string };
      if (body.username !== FAKE_CREDENTIALS.username || body.password !== fake.password) {
        fake.counts.rejectedLogins++;
        return send(res, 400, {
          errorCode: 'UnifiedWebService.AUTHENTICATION_FAILED',
          errorMessage: 'Invalid username or password',
        });
      }
      const session = randomUUID();
      sessions.add(session);
      return send(res, 200, { sessionToken: session });
    }
    const match = /^\/api\/fota\/v1\/reports\/([^/]+)\/status\/([^/]+)\/index\/([^/]+)$/.exec(url);
    if (req.method !== 'GET' || !match)
      return send(res, 404, { errorCode: 'NOT_FOUND', errorMessage: url });
    const session = req.headers['vz-m2m-token'];
    if (typeof session !== 'string' || !sessions.has(session)) {
      return send(res, 400, {
        errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
        errorMessage: 'Session token expired',
      });
    }
    const [, account, status, index] = match.map(decodeURIComponent) as [
      string,
      string,
      string,
      string,
    ];
    const seq = fake.counts.reports++;
    const override = fake.onReport?.({ account, status, index, seq });
    if (override === 'reset') {
      req.socket.destroy();
      return;
    }
    // Left open: close() ends it with every other connection.
    if (override === 'hang') return;
    if (override) {
      res.writeHead(override.status, { 'content-type': 'application/json', ...override.headers });
      res.end(override.raw ?? JSON.stringify(override.body));
      return;
    }
    const reports = options.data[account];
    if (!reports || !(UPGRADE_STATUSES as readonly string[]).includes(status)) {
      return send(res, 400, {
        errorCode: 'INVALID_PARAMETER',
        errorMessage: 'Invalid account name format',
      });
    }
    const list = reports[status as UpgradeStatus] ?? [];
    let start: number;
    if (index === '0') start = 0;
    else if (options.cursor === 'numeric') start = Number(index);
    else start = list.findIndex((u) => u.id === index) + 1;
    if (!(start >= 0 && start <= list.length) || (index !== '0' && start === 0)) {
      return send(res, 400, {
        errorCode: 'INVALID_PARAMETER',
        errorMessage: 'Invalid index value',
      });
    }
    const page = list.slice(start, start + pageSize);
    const hasMoreFlag = start + pageSize < list.length;
    const last = page[page.length - 1];
    const cursor = options.cursor === 'numeric' ? start + page.length : last?.id;
    const key = options.cursor === 'misspelt' ? 'lastSeenUpgrdadeId' : 'lastSeenUpgradeId';
    return send(res, 200, { hasMoreFlag, [key]: cursor, reportList: page });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) =>
      send(res, 500, { errorCode: 'FAKE', errorMessage: String(error) }),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/** Deterministic data: `upgrades` per status, `devices` per upgrade, a few firmware targets and reasons. */
export function makeData(
  accounts: string[],
  upgrades: number,
  devices: number,
): FakeOptions['data'] {
  const reasons = [
    'success',
    'Upgrade completed successfully',
    'Device not found',
    'Invalid "IMEI" \\ x',
    undefined,
  ];
  const deviceStatuses = ['Device Accepted', 'UpgradeSuccess', 'UpgradeFailed', 'Request Pending'];
  const data: FakeOptions['data'] = {};
  let n = 0;
  for (const account of accounts) {
    data[account] = {};
    for (const status of UPGRADE_STATUSES) {
      const list: FakeUpgrade[] = [];
      for (let u = 0; u < upgrades; u++) {
        const deviceList: FakeDevice[] = [];
        for (let d = 0; d < devices; d++) {
          n++;
          const reason = reasons[n % reasons.length];
          deviceList.push({
            deviceId: String(900000000000000 + n),
            status: deviceStatuses[(n >> 1) % deviceStatuses.length]!,
            ...(reason === undefined ? {} : { resultReason: reason }),
          });
        }
        list.push({
          id: `${account}-${status}-${u}`,
          accountName: account,
          firmwareName: 'FOTA_Model-A',
          firmwareTo: `Firmware-0${u % 3}`,
          startDate:
            u % 2 ? `2018-04-${String((u % 28) + 1).padStart(2, '0')}` : '2018-04-01T16:03:00.000Z',
          status,
          deviceList,
        });
      }
      data[account]![status] = list;
    }
  }
  return data;
}

/** What a correct exporter reports for `data` (no label capping needed at these sizes), as series keys. */
export function expectedSeries(data: FakeOptions['data']): Map<string, number> {
  const out = new Map<string, number>();
  const add = (key: string, v: number) => out.set(key, (out.get(key) ?? 0) + v);
  const key = (name: string, labels: Record<string, string>) =>
    `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
  for (const [account, reports] of Object.entries(data)) {
    for (const status of UPGRADE_STATUSES) {
      const list = reports[status] ?? [];
      if (list.length === 0)
        add(key('thingspace_fota_upgrades', { account, status, firmware_to: '' }), 0);
      let oldest = Infinity;
      for (const u of list) {
        add(key('thingspace_fota_upgrades', { account, status, firmware_to: u.firmwareTo }), 1);
        const t =
          Date.parse(u.startDate.length === 10 ? `${u.startDate}T00:00:00Z` : u.startDate) / 1000;
        oldest = Math.min(oldest, t);
        for (const d of u.deviceList) {
          add(
            key('thingspace_fota_upgrade_devices', {
              account,
              status,
              firmware_to: u.firmwareTo,
              device_status: d.status,
              result_reason: d.resultReason ?? 'none',
            }),
            1,
          );
        }
      }
      if (list.length > 0)
        add(
          key('thingspace_fota_upgrade_oldest_start_timestamp_seconds', { account, status }),
          oldest,
        );
    }
  }
  return out;
}
