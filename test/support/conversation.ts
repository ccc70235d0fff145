/**
 * The exporter's side of a short ThingSpace conversation (token, session login, the first report page of
 * every status) sent with the exporter's own HTTP edge, createSend, over a given dispatcher.
 */
import type { Dispatcher } from 'undici';
import { createSend, type HttpResponse, type Send } from '../../src/thingspace/http.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { FAKE_CREDENTIALS } from './fake-thingspace.js';

export function sendVia(baseUrl: string, dispatcher: Dispatcher, timeoutMs = 10_000): Send {
  return createSend({
    baseUrl: new URL(baseUrl),
    dispatcher,
    timeoutMs,
    maxBodyBytes: 10_000_000,
    observe: () => undefined,
  });
}

export interface Conversation {
  /** Requests sent, each answered. */
  requests: number;
  /** Upgrades in the first page of every status report. */
  upgrades: number;
}

function expectOk(what: string, res: HttpResponse): Record<string, unknown> {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}`);
  return res.body as Record<string, unknown>;
}

export async function converse(send: Send, account: string): Promise<Conversation> {
  const basic = Buffer.from(`${FAKE_CREDENTIALS.clientId}:${FAKE_CREDENTIALS.clientSecret}`);
  const token = expectOk(
    'oauth token',
    await send({
      endpoint: 'oauth_token',
      method: 'POST',
      path: '/api/ts/v1/oauth2/token',
      headers: {
        authorization: `Basic ${basic.toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    }),
  );
  const bearer = `Bearer ${String(token.access_token)}`;
  const session = expectOk(
    'session login',
    await send({
      endpoint: 'session_login',
      method: 'POST',
      path: '/api/m2m/v1/session/login',
      headers: { authorization: bearer, 'content-type': 'application/json' },
      body: JSON.stringify({
        username: FAKE_CREDENTIALS.username,
        password: FAKE_CREDENTIALS.password,
      }),
    }),
  );
  // All statuses at once, as the collector does, so the pool opens several connections (tunnels).
  const pages = await Promise.all(
    UPGRADE_STATUSES.map(async (status) =>
      expectOk(
        `report ${status}`,
        await send({
          endpoint: 'reports',
          method: 'GET',
          path: `/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/0`,
          headers: { authorization: bearer, 'vz-m2m-token': String(session.sessionToken) },
        }),
      ),
    ),
  );
  const upgrades = pages.reduce((sum, page) => sum + (page.reportList as unknown[]).length, 0);
  return { requests: 2 + UPGRADE_STATUSES.length, upgrades };
}
