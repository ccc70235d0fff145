// @ts-check
/**
 * The ThingSpace simulator as a separate process, its control API, and the two tokens every client of the
 * benchmark logs in with (OAuth2 client credentials, then the M2M session login), obtained once.
 */
import { request } from 'undici';
import { startNode } from './proc.mjs';

export const CREDENTIALS = {
  clientId: 'demo-client',
  clientSecret: 'demo-secret',
  username: 'demo-user',
  password: 'demo-password',
};

/** The exporter reads its credentials from these. */
export const EXPORTER_ENV = {
  THINGSPACE_CLIENT_ID: CREDENTIALS.clientId,
  THINGSPACE_CLIENT_SECRET: CREDENTIALS.clientSecret,
  THINGSPACE_USERNAME: CREDENTIALS.username,
  THINGSPACE_PASSWORD: CREDENTIALS.password,
};

/**
 * @typedef {object} Summary
 * @property {number} generation
 * @property {Record<string, Record<string, { upgrades: number, devices: number }>>} accounts
 * @property {Record<string, Record<string, Record<string, { campaigns: number, devices: number }>>>} campaigns
 *   account → api → campaign status → campaigns and their device entries
 */

/**
 * What /_sim/truth is asked for (docs/simulator.md, "Truth"); every field is optional.
 * @typedef {object} TruthQuery
 * @property {number} [maxLabelValues]
 * @property {string} [campaignLookback] a duration such as 7d
 * @property {number} [maxCampaigns]
 * @property {number} [now] ms since the epoch: the exporter's wall clock, which decides its walk set
 * @property {number} [enteredSince] a generation: adds what entered each status after it
 */

/**
 * @param {string} url
 * @param {{ method?: 'GET' | 'POST' | 'PUT', headers?: Record<string, string>, body?: string }} [init]
 * @returns {Promise<any>}
 */
async function json(url, init = {}) {
  const res = await request(url, {
    method: init.method ?? 'GET',
    headers: init.headers,
    body: init.body,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300)
    throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

/**
 * @param {string} root the repository root
 * @param {string[]} args simulator flags (the listen address and --tick 0 are added)
 */
export async function startSimulator(root, args) {
  const child = startNode('simulator', `${root}dist/simulator/cli.js`, [
    '--listen-address',
    '127.0.0.1:0',
    '--tick',
    '0',
    ...args,
  ]);
  const line = await child.waitForLine((l) => l.msg === 'simulator listening', 120_000);
  const url = String(line.url);
  return {
    child,
    url,
    /**
     * @param {TruthQuery} [query]
     * @returns {Promise<import('./series.d.mts').Truth>}
     */
    truth: (query = {}) => {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query))
        if (value !== undefined) params.set(key, String(value));
      return json(`${url}/_sim/truth?${params}`);
    },
    /** @returns {Promise<Summary>} */
    summary: () => json(`${url}/_sim/summary`),
    /** @returns {Promise<Record<string, any>>} */
    stats: () => json(`${url}/_sim/stats`),
    /** The OAuth bearer token and the M2M session token, as the exporter obtains them. */
    async login() {
      const basic = Buffer.from(`${CREDENTIALS.clientId}:${CREDENTIALS.clientSecret}`).toString(
        'base64',
      );
      const token = await json(`${url}/api/ts/v1/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
      const session = await json(`${url}/api/m2m/v1/session/login`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token.access_token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ username: CREDENTIALS.username, password: CREDENTIALS.password }),
      });
      return { bearer: String(token.access_token), session: String(session.sessionToken) };
    },
    stop: () => child.stop(),
  };
}

/** @typedef {Awaited<ReturnType<typeof startSimulator>>} Simulator */
