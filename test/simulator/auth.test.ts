import type { RunningSimulator } from '../../src/simulator/index.js';
import {
  ACCOUNT_1,
  basic,
  control,
  getPage,
  getToken,
  http,
  json,
  login,
  signIn,
  startFrozen,
} from './helpers.js';

interface Token {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

interface ErrorBody {
  errorCode: string;
  errorMessage: string;
}

interface GatewayFault {
  fault: { code: string; message: string; description: string };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('simulator credentials', () => {
  let sim: RunningSimulator;

  beforeEach(async () => {
    sim = await startFrozen({
      accounts: 1,
      upgradesPerStatus: {
        RequestPending: 1,
        Queued: 2,
        RequestFailed: 0,
        InProgress: 0,
        Finished: 0,
        UpgradeFailed: 0,
      },
    });
  });
  afterEach(async () => {
    await sim.close();
  });

  test('client credentials give a bearer token, the same one while it lives', async () => {
    const first = await getToken(sim.url);
    expect(first.status).toBe(200);
    const token = json<Token>(first);
    expect(token).toEqual({
      access_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 3600,
      scope: expect.any(String),
    });
    const again = json<Token>(await getToken(sim.url));
    expect(again.access_token).toBe(token.access_token);
  });

  test('wrong client credentials and grant types are refused with OAuth errors', async () => {
    const wrong = await getToken(sim.url, 'demo-client', 'nope');
    expect(wrong.status).toBe(401);
    expect(json(wrong)).toEqual({ error: 'invalid_client', error_description: expect.any(String) });
    const missing = await http(`${sim.url}/api/ts/v1/oauth2/token`, {
      method: 'POST',
      body: 'grant_type=client_credentials',
    });
    expect(missing.status).toBe(401);
    const grant = await http(`${sim.url}/api/ts/v1/oauth2/token`, {
      method: 'POST',
      headers: { authorization: basic('demo-client', 'demo-secret') },
      body: 'grant_type=password',
    });
    expect(grant.status).toBe(400);
    expect(json(grant)).toMatchObject({ error: 'unsupported_grant_type' });
  });

  test('login needs a bearer token and gives a session GUID', async () => {
    const noBearer = await http(`${sim.url}/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo-user', password: 'demo-password' }),
    });
    expect(noBearer.status).toBe(401);
    expect(json<GatewayFault>(noBearer).fault.code).toBe('900902');
    const bad = await login(sim.url, 'not-a-token');
    expect(json<GatewayFault>(bad).fault.code).toBe('900901');
    const bearer = json<Token>(await getToken(sim.url)).access_token;
    const ok = await login(sim.url, bearer);
    expect(ok.status).toBe(200);
    expect(json(ok)).toEqual({ sessionToken: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  test('five consecutive failed logins lock the user until restart', async () => {
    const bearer = json<Token>(await getToken(sim.url)).access_token;
    for (let i = 1; i <= 5; i += 1) {
      const failed = await login(sim.url, bearer, 'demo-user', 'wrong');
      expect(failed.status).toBe(400);
      expect(json<ErrorBody>(failed).errorCode).toBe('UnifiedWebService.AUTHENTICATION_FAILED');
    }
    const locked = await login(sim.url, bearer);
    expect(locked.status).toBe(400);
    expect(json<ErrorBody>(locked).errorCode).toBe(
      'UnifiedWebService.AUTHENTICATION_FAILED.User.Locked',
    );
    const stats = await control<{ login: unknown }>(sim, 'stats');
    expect(stats.login).toEqual({ consecutiveFailures: 5, failedTotal: 5, locked: true });
  });

  test('a lost login answer (504 or closed) comes after the check: failures counted, the fifth locks', async () => {
    const bearer = json<Token>(await getToken(sim.url)).access_token;
    sim.setFaults({ loginLostAnswer: '504' });
    for (let i = 0; i < 3; i += 1) {
      const lost = await login(sim.url, bearer, 'demo-user', 'wrong');
      expect(lost.status).toBe(504);
      expect(lost.headers['content-type']).toBe('text/html');
    }
    sim.setFaults({ loginLostAnswer: 'close' });
    for (let i = 0; i < 2; i += 1) {
      await expect(login(sim.url, bearer, 'demo-user', 'wrong')).rejects.toThrow();
    }
    const stats = await control<{ login: unknown; requests: Record<string, unknown> }>(
      sim,
      'stats',
    );
    expect(stats.login).toEqual({ consecutiveFailures: 5, failedTotal: 5, locked: true });
    expect(stats.requests.session_login).toEqual({ '504': 3, closed: 2 });
  });

  test('a lost answer to the right password still opened a session and reset the count', async () => {
    const bearer = json<Token>(await getToken(sim.url)).access_token;
    expect((await login(sim.url, bearer, 'demo-user', 'wrong')).status).toBe(400);
    sim.setFaults({ loginLostAnswer: '504' });
    expect((await login(sim.url, bearer)).status).toBe(504);
    const stats = await control<{ login: unknown }>(sim, 'stats');
    expect(stats.login).toEqual({ consecutiveFailures: 0, failedTotal: 1, locked: false });
  });

  test('a fixed login status is answered before any check: nothing counted', async () => {
    await control(sim, 'faults', 'PUT', { loginFixedStatus: '404' });
    for (let i = 0; i < 6; i += 1) {
      const answer = await login(sim.url, 'no-bearer-at-all', 'demo-user', 'wrong');
      expect(answer.status).toBe(404);
      expect(answer.text).toContain('<title>404 Not Found</title>');
    }
    await control(sim, 'faults', 'PUT', { loginFixedStatus: '302' });
    const moved = await login(sim.url, 'x');
    expect(moved.status).toBe(302);
    expect(moved.headers.location).toBe('/login/');
    const stats = await control<{ login: unknown }>(sim, 'stats');
    expect(stats.login).toEqual({ consecutiveFailures: 0, failedTotal: 0, locked: false });
  });

  test('the login faults are set through /_sim/faults as strings or null', async () => {
    for (const [change, expected] of [
      [{ loginFixedStatus: '404' }, { loginFixedStatus: 404 }],
      [{ loginFixedStatus: null }, { loginFixedStatus: null }],
      [{ loginLostAnswer: 'close' }, { loginLostAnswer: 'close' }],
      [{ loginLostAnswer: null }, { loginLostAnswer: null }],
    ] as const) {
      const answer = await http(`${sim.url}/_sim/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(change),
      });
      expect(answer.status).toBe(200);
      expect(json(answer)).toMatchObject(expected);
    }
    for (const bad of [{ loginFixedStatus: '200' }, { loginLostAnswer: '502' }]) {
      const answer = await http(`${sim.url}/_sim/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(bad),
      });
      expect(answer.status).toBe(400);
    }
  });

  test('a successful login resets the count of consecutive failures', async () => {
    const bearer = json<Token>(await getToken(sim.url)).access_token;
    for (let i = 0; i < 4; i += 1) await login(sim.url, bearer, 'demo-user', 'wrong');
    expect((await login(sim.url, bearer)).status).toBe(200);
    for (let i = 0; i < 4; i += 1) await login(sim.url, bearer, 'demo-user', 'wrong');
    expect((await login(sim.url, bearer)).status).toBe(200);
    expect(sim.stats().login).toEqual({ consecutiveFailures: 0, failedTotal: 8, locked: false });
  });

  test('a malformed login body is an input error, not a failed login', async () => {
    const bearer = json<Token>(await getToken(sim.url)).access_token;
    const answer = await http(`${sim.url}/api/m2m/v1/session/login`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}` },
      body: '{not json',
    });
    expect(answer.status).toBe(400);
    expect(json<ErrorBody>(answer).errorCode).toBe('UnifiedWebService.INPUT_INVALID');
    expect(sim.stats().login.failedTotal).toBe(0);
  });

  test('reports need both tokens, with the gateway and session error bodies', async () => {
    const auth = await signIn(sim.url);
    const url = `${sim.url}/api/fota/v1/reports/${ACCOUNT_1}/status/Queued/index/0`;
    const noBearer = await http(url, { headers: { 'vz-m2m-token': auth.session } });
    expect(noBearer.status).toBe(401);
    expect(json<GatewayFault>(noBearer)).toEqual({
      fault: { code: '900902', message: 'Missing Credentials', description: expect.any(String) },
    });
    const badBearer = await getPage(sim.url, { ...auth, bearer: 'x' }, ACCOUNT_1, 'Queued', 0);
    expect(badBearer.status).toBe(401);
    expect(json<GatewayFault>(badBearer).fault).toMatchObject({
      code: '900901',
      message: 'Invalid Credentials',
    });
    const noSession = await http(url, { headers: { authorization: `Bearer ${auth.bearer}` } });
    expect(noSession.status).toBe(400);
    expect(json<ErrorBody>(noSession).errorCode).toBe(
      'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid',
    );
    const badSession = await getPage(sim.url, { ...auth, session: 'nope' }, ACCOUNT_1, 'Queued', 0);
    expect(json<ErrorBody>(badSession).errorCode).toContain('SessionToken');
    expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
  });

  test('expired tokens: 900901 for the bearer, SessionToken.Expired for the session', async () => {
    const auth = await signIn(sim.url);
    await control(sim, 'expire?tokens=session', 'POST');
    const session = await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0);
    expect(session.status).toBe(400);
    expect(json<ErrorBody>(session).errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
    );
    await control(sim, 'expire?tokens=bearer', 'POST');
    const bearer = await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0);
    expect(bearer.status).toBe(401);
    expect(json<GatewayFault>(bearer).fault.code).toBe('900901');
    const fresh = json<Token>(await getToken(sim.url));
    expect(fresh.access_token).not.toBe(auth.bearer);
  });

  test('the session error status is configurable', async () => {
    sim.setFaults({ sessionErrorStatus: 403 });
    const auth = await signIn(sim.url);
    const answer = await getPage(sim.url, { ...auth, session: 'nope' }, ACCOUNT_1, 'Queued', 0);
    expect(answer.status).toBe(403);
  });

  test('a session lives while it is used and expires after idling', async () => {
    sim.setFaults({ sessionTtlSeconds: 1 });
    const auth = await signIn(sim.url);
    for (let i = 0; i < 3; i += 1) {
      await sleep(500);
      expect((await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0)).status).toBe(200);
    }
    await sleep(1300);
    const idle = await getPage(sim.url, auth, ACCOUNT_1, 'Queued', 0);
    expect(json<ErrorBody>(idle).errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
    );
  });

  test('a bearer token expires after its lifetime, and a new one is issued', async () => {
    sim.setFaults({ bearerTtlSeconds: 1 });
    const token = json<Token>(await getToken(sim.url));
    expect(token.expires_in).toBe(1);
    await sleep(1200);
    expect((await login(sim.url, token.access_token)).status).toBe(401);
    expect(json<Token>(await getToken(sim.url)).access_token).not.toBe(token.access_token);
  });

  test('stats count requests by endpoint and outcome', async () => {
    await signIn(sim.url);
    await getToken(sim.url, 'x', 'y');
    const stats = sim.stats();
    expect(stats.requests.oauth_token).toEqual({ '200': 1, '401': 1 });
    expect(stats.requests.session_login).toEqual({ '200': 1 });
    await control(sim, 'reset-stats', 'POST');
    expect(sim.stats().requests.oauth_token).toEqual({});
  });
});
