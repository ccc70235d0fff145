/**
 * Outbound proxies, through real ones: tinyproxy and squid started on 127.0.0.1 by the test, in front of a
 * fake ThingSpace served over HTTP and HTTPS. Whether a request went through a proxy is read on both ends:
 * the server sees every proxied connection arrive from the proxy's outgoing address (127.0.0.2 or
 * 127.0.0.3, direct ones from 127.0.0.1), and the proxy's own log holds one CONNECT per such connection.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/config/settings.js';
import { Exporter } from '../../src/exporter.js';
import { createLogger, SecretScrubber } from '../../src/log.js';
import {
  createDispatcher,
  DispatcherConfigError,
  type DispatcherOptions,
} from '../../src/thingspace/dispatcher.js';
import { ThingSpaceError } from '../../src/thingspace/errors.js';
import { UPGRADE_STATUSES } from '../../src/upgrades/statuses.js';
import { converse, sendVia } from '../support/conversation.js';
import { parseExposition, seriesMap } from '../support/exposition.js';
import {
  expectedSeries,
  FAKE_CREDENTIALS,
  makeData,
  startFakeThingSpace,
  type FakeThingSpace,
} from '../support/fake-thingspace.js';
import type { RunningProxy } from '../support/proxy-process.js';
import { squidBinary, startSquid, type RunningSquid } from '../support/squid.js';
import { startTinyproxy, tinyproxyBinary } from '../support/tinyproxy.js';
import { makeTestPki, startFront, type Front, type TestPki } from '../support/tls-fake.js';

const ACCOUNT = '0242078689-00001';
const DATA = makeData([ACCOUNT], 3, 2);
const UPGRADES = UPGRADE_STATUSES.reduce((sum, s) => sum + (DATA[ACCOUNT]![s]?.length ?? 0), 0);
const DIRECT = '127.0.0.1';
const POOL = { connections: 6, timeoutMs: 10_000, caFile: '' };

const withTinyproxy = tinyproxyBinary() ? describe : describe.skip;
const withSquid = squidBinary() ? describe : describe.skip;

let fake: FakeThingSpace;
let pki: TestPki;
let caFile: string;
let httpFront: Front;
let httpsFront: Front;

beforeAll(async () => {
  fake = await startFakeThingSpace({ data: DATA });
  pki = makeTestPki();
  const ca = pki.ca('corp');
  caFile = ca.certFile;
  httpFront = await startFront(fake.url);
  httpsFront = await startFront(fake.url, pki.serverCert(ca, 'thingspace'));
});

afterAll(async () => {
  await httpFront?.close();
  await httpsFront?.close();
  await fake?.close();
  pki?.remove();
});

const portOf = (front: Front) => Number(new URL(front.url).port);

interface Run {
  upgrades: number;
  sent: number;
  /** Requests and connections the server saw during the run, by where they came from. */
  peers: Set<string>;
  requests: number;
  connectionsFrom(peer: string): number;
}

/** One conversation with ThingSpace behind `front`, with a dispatcher built from `options`. */
async function run(front: Front, options: Partial<DispatcherOptions>): Promise<Run> {
  const mark = { requests: front.requests.length, connections: front.connections.length };
  const net = createDispatcher({ ...POOL, env: {}, ...options });
  try {
    const result = await converse(sendVia(front.url, net.dispatcher), ACCOUNT);
    const requests = front.requests.slice(mark.requests);
    const connections = front.connections.slice(mark.connections);
    return {
      upgrades: result.upgrades,
      sent: result.requests,
      peers: new Set(requests.map((r) => r.peer)),
      requests: requests.length,
      connectionsFrom: (peer) => connections.filter((c) => c.peer === peer).length,
    };
  } finally {
    // Closes the tunnels too: squid logs a CONNECT when it ends.
    await net.dispatcher.destroy();
  }
}

/** The CONNECTs the proxy logged since `before`, once it has logged `expected` of them. */
async function connectsSince(proxy: RunningProxy, before: number, expected: number) {
  const all = await proxy.waitForRequests(before + expected);
  return all.slice(before);
}

/**
 * Proves the proxy logged nothing since `before`: a request sent through it on purpose must be the next
 * (and only) entry. Both proxies log in order, so nothing earlier can still be on its way.
 */
async function expectUntouched(proxy: RunningProxy, before: number, front: Front): Promise<void> {
  const net = createDispatcher({ ...POOL, env: {}, proxyUrl: new URL(proxy.url) });
  try {
    const res = await request(`${front.url}/sentinel`, { dispatcher: net.dispatcher });
    await res.body.dump();
  } finally {
    await net.dispatcher.destroy();
  }
  const since = (await proxy.waitForRequests(before + 1)).slice(before);
  expect(since).toEqual([expect.objectContaining({ method: 'CONNECT' })]);
}

function expectThroughOnly(result: Run, proxy: RunningProxy): void {
  expect(result.upgrades).toBe(UPGRADES);
  expect(result.requests).toBe(result.sent);
  expect(result.peers).toEqual(new Set([proxy.outgoingAddress]));
}

withTinyproxy('through tinyproxy', () => {
  // A (127.0.0.2) plays the environment's proxy, B (127.0.0.3) the one given by the flag.
  let proxyA: RunningProxy;
  let proxyB: RunningProxy;

  beforeAll(async () => {
    const connectPorts = [portOf(httpFront), portOf(httpsFront)];
    proxyA = await startTinyproxy({ connectPorts, outgoingAddress: '127.0.0.2' });
    proxyB = await startTinyproxy({ connectPorts, outgoingAddress: '127.0.0.3' });
  });

  afterAll(async () => {
    await proxyA?.stop();
    await proxyB?.stop();
  });

  async function expectThrough(
    proxy: RunningProxy,
    before: number,
    result: Run,
    front: Front,
  ): Promise<void> {
    expectThroughOnly(result, proxy);
    const tunnels = result.connectionsFrom(proxy.outgoingAddress);
    expect(tunnels).toBeGreaterThan(0);
    const logged = await connectsSince(proxy, before, tunnels);
    expect(logged).toEqual(
      Array.from({ length: tunnels }, () => ({
        method: 'CONNECT',
        target: `127.0.0.1:${portOf(front)}`,
      })),
    );
  }

  test.each(['HTTP_PROXY', 'http_proxy'])(
    '%s: every request to an http:// ThingSpace goes through the proxy, one CONNECT per connection',
    async (variable) => {
      const before = { a: proxyA.requests().length, b: proxyB.requests().length };
      const result = await run(httpFront, { env: { [variable]: proxyA.url } });
      await expectThrough(proxyA, before.a, result, httpFront);
      await expectUntouched(proxyB, before.b, httpFront);
    },
  );

  test.each(['HTTPS_PROXY', 'https_proxy'])(
    '%s: every request to an https:// ThingSpace goes through the proxy',
    async (variable) => {
      const before = proxyA.requests().length;
      const result = await run(httpsFront, { env: { [variable]: proxyA.url }, caFile });
      await expectThrough(proxyA, before, result, httpsFront);
    },
  );

  test('HTTPS_PROXY alone leaves http:// direct; HTTP_PROXY alone also carries https:// (undici, unlike curl)', async () => {
    let before = proxyA.requests().length;
    const direct = await run(httpFront, { env: { HTTPS_PROXY: proxyA.url } });
    expect(direct.peers).toEqual(new Set([DIRECT]));
    await expectUntouched(proxyA, before, httpFront);

    before = proxyA.requests().length;
    const proxied = await run(httpsFront, { env: { HTTP_PROXY: proxyA.url }, caFile });
    await expectThrough(proxyA, before, proxied, httpsFront);
  });

  test('the lower-case variable wins when both forms are set', async () => {
    const before = { a: proxyA.requests().length, b: proxyB.requests().length };
    const result = await run(httpFront, {
      env: { http_proxy: proxyB.url, HTTP_PROXY: proxyA.url },
    });
    await expectThrough(proxyB, before.b, result, httpFront);
    await expectUntouched(proxyA, before.a, httpFront);
  });

  test.each([
    ['NO_PROXY', '127.0.0.1'],
    ['no_proxy', '127.0.0.1'],
    ['NO_PROXY', 'example.com localhost,127.0.0.1:PORT'],
    ['NO_PROXY', '*'],
  ])('%s=%s covering the host: no request goes through the proxy', async (variable, value) => {
    const before = proxyA.requests().length;
    const noProxy = value.replace('PORT', String(portOf(httpFront)));
    const result = await run(httpFront, {
      env: { HTTP_PROXY: proxyA.url, HTTPS_PROXY: proxyA.url, [variable]: noProxy },
    });
    expect(result.upgrades).toBe(UPGRADES);
    expect(result.requests).toBe(result.sent);
    expect(result.peers).toEqual(new Set([DIRECT]));
    expect(result.connectionsFrom(proxyA.outgoingAddress)).toBe(0);
    await expectUntouched(proxyA, before, httpFront);
  });

  test('NO_PROXY naming another port of the host does not apply', async () => {
    const before = proxyA.requests().length;
    const result = await run(httpFront, {
      env: { HTTP_PROXY: proxyA.url, NO_PROXY: '127.0.0.1:1' },
    });
    await expectThrough(proxyA, before, result, httpFront);
  });

  test('--thingspace.proxy-url overrides all four proxy variables', async () => {
    const before = { a: proxyA.requests().length, b: proxyB.requests().length };
    const env = {
      HTTP_PROXY: proxyA.url,
      http_proxy: proxyA.url,
      HTTPS_PROXY: proxyA.url,
      https_proxy: proxyA.url,
    };
    const plain = await run(httpFront, { env, proxyUrl: new URL(proxyB.url) });
    await expectThrough(proxyB, before.b, plain, httpFront);
    const tls = await run(httpsFront, { env, proxyUrl: new URL(proxyB.url), caFile });
    await expectThrough(proxyB, before.b + plain.connectionsFrom('127.0.0.3'), tls, httpsFront);
    await expectUntouched(proxyA, before.a, httpFront);
  });

  test('--thingspace.proxy-url still honours NO_PROXY', async () => {
    const before = proxyB.requests().length;
    const result = await run(httpFront, {
      env: { NO_PROXY: '127.0.0.1' },
      proxyUrl: new URL(proxyB.url),
    });
    expect(result.peers).toEqual(new Set([DIRECT]));
    await expectUntouched(proxyB, before, httpFront);
  });

  test('a proxy that refuses the destination is an http error naming its answer, not a crash', async () => {
    const strict = await startTinyproxy({ connectPorts: [1] });
    try {
      const before = httpFront.requests.length;
      const net = createDispatcher({ ...POOL, env: { HTTP_PROXY: strict.url } });
      const error = await converse(sendVia(httpFront.url, net.dispatcher), ACCOUNT).catch(
        (e: unknown) => e,
      );
      await net.dispatcher.destroy();
      expect(error).toBeInstanceOf(ThingSpaceError);
      expect(error).toMatchObject({ kind: 'http', message: 'network error (PROXY_403)' });
      expect(httpFront.requests.length).toBe(before);
      const logged = await strict.waitForRequests(1);
      expect(logged[0]).toEqual({ method: 'CONNECT', target: `127.0.0.1:${portOf(httpFront)}` });
    } finally {
      await strict.stop();
    }
  });
});

withSquid('through squid with Basic auth', () => {
  const USER = 'alice';
  // Characters that must be percent-encoded in a URL, so both forms exist.
  const PASSWORD = 'p@ss:w/rd %+?#x';
  const ENCODED = encodeURIComponent(PASSWORD);
  const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  let squid: RunningSquid;
  let withCredentials: string;

  const leaks = (text: string) => [PASSWORD, ENCODED, BASIC].filter((form) => text.includes(form));

  beforeAll(async () => {
    squid = await startSquid({
      connectPorts: [portOf(httpFront), portOf(httpsFront)],
      basicAuth: { user: USER, password: PASSWORD },
    });
    withCredentials = `http://${USER}:${ENCODED}@127.0.0.1:${squid.port}`;
  });

  afterAll(async () => {
    await squid?.stop();
  });

  async function expectAuthenticatedTunnels(before: number, result: Run): Promise<void> {
    expectThroughOnly(result, squid);
    const tunnels = result.connectionsFrom(squid.outgoingAddress);
    expect(tunnels).toBeGreaterThan(0);
    const logged = await connectsSince(squid, before, tunnels);
    expect(logged).toHaveLength(tunnels);
    for (const entry of logged) {
      expect(entry).toMatchObject({ method: 'CONNECT', status: 200, user: USER });
    }
  }

  test('credentials in --thingspace.proxy-url, percent-encoded, are accepted', async () => {
    const before = squid.requests().length;
    const result = await run(httpFront, { env: {}, proxyUrl: new URL(withCredentials) });
    await expectAuthenticatedTunnels(before, result);
  });

  test('credentials in HTTPS_PROXY work the same, tunnelling TLS to ThingSpace', async () => {
    const before = squid.requests().length;
    const result = await run(httpsFront, { env: { HTTPS_PROXY: withCredentials }, caFile });
    await expectAuthenticatedTunnels(before, result);
  });

  test.each([
    ['no credentials', () => squid.url],
    ['a wrong password', () => `http://${USER}:wrong-${ENCODED}@127.0.0.1:${squid.port}`],
  ])('with %s the 407 is an http error naming it; no password in it', async (_case, proxyUrl) => {
    const before = { squid: squid.requests().length, front: httpFront.requests.length };
    const net = createDispatcher({ ...POOL, env: {}, proxyUrl: new URL(proxyUrl()) });
    const error = await converse(sendVia(httpFront.url, net.dispatcher), ACCOUNT).catch(
      (e: unknown) => e,
    );
    await net.dispatcher.destroy();
    expect(error).toBeInstanceOf(ThingSpaceError);
    expect(error).toMatchObject({ kind: 'http', message: 'network error (PROXY_407)' });
    const text = `${String(error)} ${(error as Error).stack} ${JSON.stringify(error)}`;
    expect(leaks(text)).toEqual([]);
    expect(leaks(net.describe() + JSON.stringify(net.proxy))).toEqual([]);
    expect(httpFront.requests.length).toBe(before.front);
    const logged = await squid.waitForRequests(before.squid + 1);
    expect(logged[before.squid]).toMatchObject({ method: 'CONNECT', status: 407 });
  });

  test('the exporter collects every report through the proxy and logs it without the password', async () => {
    const mark = {
      squid: squid.requests().length,
      requests: httpsFront.requests.length,
      connections: httpsFront.connections.length,
      fake: fake.counts.oauth + fake.counts.login + fake.counts.reports,
    };
    const config = parseConfig(
      [
        `--thingspace.base-url=${httpsFront.url}`,
        `--thingspace.accounts=${ACCOUNT}`,
        // The fake serves FOTA v1 only.
        '--thingspace.apis=v1',
        `--thingspace.proxy-url=${withCredentials}`,
        `--thingspace.ca-file=${caFile}`,
        '--log.level=debug',
      ],
      {
        THINGSPACE_CLIENT_ID: FAKE_CREDENTIALS.clientId,
        THINGSPACE_CLIENT_SECRET: FAKE_CREDENTIALS.clientSecret,
        THINGSPACE_USERNAME: FAKE_CREDENTIALS.username,
        THINGSPACE_PASSWORD: FAKE_CREDENTIALS.password,
      },
    );
    const logs: string[] = [];
    const scrubber = new SecretScrubber();
    const logger = createLogger(
      config.logLevel,
      scrubber,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(chunk.toString());
          done();
        },
      }),
    );
    // The wiring the CLI does.
    const net = createDispatcher({
      connections: config.concurrency + 2,
      timeoutMs: config.timeout,
      proxyUrl: config.proxyUrl,
      caFile: config.caFile,
      env: {},
    });
    for (const secret of net.secrets) scrubber.add(secret);
    logger.info({ proxy: net.proxy, caFile: config.caFile }, `network: ${net.describe()}`);
    const exporter = new Exporter(config, {
      logger,
      scrubber,
      version: '0.0.0-test',
      dispatcher: net.dispatcher,
      sleep: async () => undefined,
    });
    try {
      const snapshot = await exporter.collectOnce();
      expect(snapshot.reports.filter((r) => !r.success)).toEqual([]);
      const samples = parseExposition(await exporter.metrics());
      expect(
        seriesMap(samples, [
          'thingspace_fota_upgrades',
          'thingspace_fota_upgrade_devices',
          'thingspace_fota_upgrade_oldest_start_timestamp_seconds',
        ]),
      ).toEqual(expectedSeries(DATA));
    } finally {
      await exporter.stop();
    }
    const requests = httpsFront.requests.slice(mark.requests);
    const served = fake.counts.oauth + fake.counts.login + fake.counts.reports - mark.fake;
    expect(requests.length).toBe(served);
    expect(new Set(requests.map((r) => r.peer))).toEqual(new Set([squid.outgoingAddress]));
    const tunnels = httpsFront.connections
      .slice(mark.connections)
      .filter((c) => c.peer === squid.outgoingAddress).length;
    const logged = await connectsSince(squid, mark.squid, tunnels);
    expect(logged).toHaveLength(tunnels);
    expect(logged.every((e) => e.status === 200 && e.user === USER)).toBe(true);

    const text = logs.join('');
    expect(text).toContain(`network: https:// through http://${USER}:***@127.0.0.1:${squid.port}`);
    expect(leaks(text)).toEqual([]);
  });

  test('the secrets handed back cover every form a password could take in a log line', () => {
    const net = createDispatcher({ ...POOL, env: { HTTPS_PROXY: withCredentials } });
    void net.dispatcher.destroy();
    const scrubber = new SecretScrubber();
    for (const secret of net.secrets) scrubber.add(secret);
    const lines = [
      `proxy ${withCredentials} failed`,
      `decoded ${PASSWORD}`,
      `proxy-authorization: Basic ${BASIC}`,
      JSON.stringify({ password: PASSWORD }),
    ].map((line) => scrubber.scrub(line));
    expect(leaks(lines.join('\n'))).toEqual([]);
  });
});

describe('a proxy that accepts connections and never answers', () => {
  test('the request times out (kind timeout) instead of hanging', async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const net = createDispatcher({
      ...POOL,
      timeoutMs: 300,
      env: { HTTP_PROXY: `http://127.0.0.1:${port}` },
    });
    try {
      const error = await sendVia(
        httpFront.url,
        net.dispatcher,
        300,
      )({
        endpoint: 'reports',
        method: 'GET',
        path: '/api/fota/v1/reports/x/status/Finished/index/0',
        headers: {},
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ThingSpaceError);
      expect(error).toMatchObject({ kind: 'timeout' });
      expect(held.length).toBeGreaterThan(0);
    } finally {
      await net.dispatcher.destroy();
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('proxy settings without a network', () => {
  test('no proxy configured: a plain Agent, whatever the real process environment says', async () => {
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = 'http://127.0.0.1:1';
    try {
      for (const env of [{}, { NO_PROXY: '127.0.0.1' }, { http_proxy: '', HTTP_PROXY: '' }]) {
        const net = createDispatcher({ ...POOL, env });
        expect(net.dispatcher).toBeInstanceOf(Agent);
        expect(net.proxy).toEqual({ source: 'none' });
        expect(net.secrets).toEqual([]);
        const result = await run(httpFront, { env });
        expect(result.peers).toEqual(new Set([DIRECT]));
        await net.dispatcher.destroy();
      }
      // With only HTTPS_PROXY injected, http:// must go direct, not through the real HTTP_PROXY.
      const result = await run(httpFront, { env: { HTTPS_PROXY: 'http://127.0.0.1:1' } });
      expect(result.peers).toEqual(new Set([DIRECT]));
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
    }
  });

  test('an empty lower-case variable hides the upper-case one, as in undici', () => {
    const net = createDispatcher({
      ...POOL,
      env: { https_proxy: '', HTTPS_PROXY: 'http://proxy.example:3128' },
    });
    expect(net.proxy).toEqual({ source: 'none' });
    void net.dispatcher.destroy();
  });

  test('descriptions show the user and host, never the password', () => {
    const password = 'Sup3r:s@cret/%';
    const encoded = encodeURIComponent(password);
    const net = createDispatcher({
      ...POOL,
      env: {
        HTTPS_PROXY: `http://bob:${encoded}@proxy.example:3128`,
        http_proxy: 'proxy.example:8080',
        NO_PROXY: '.internal,10.0.0.0',
      },
    });
    void net.dispatcher.destroy();
    expect(net.proxy).toEqual({
      source: 'environment',
      https: 'http://bob:***@proxy.example:3128',
      httpsFrom: 'HTTPS_PROXY',
      http: 'http://proxy.example:8080',
      httpFrom: 'http_proxy',
      noProxy: '.internal,10.0.0.0',
      noProxyFrom: 'NO_PROXY',
    });
    expect(net.describe()).toBe(
      'https:// through http://bob:***@proxy.example:3128 (HTTPS_PROXY); http:// through http://proxy.example:8080 (http_proxy); direct for NO_PROXY=.internal,10.0.0.0',
    );
    const basic = Buffer.from(`bob:${password}`).toString('base64');
    expect(new Set(net.secrets)).toEqual(new Set([password, encoded, basic, `Basic ${basic}`]));
    const shown = net.describe() + JSON.stringify(net.proxy);
    for (const form of [password, encoded, basic, 'Sup3r']) expect(shown).not.toContain(form);
  });

  test('the flag is described as the proxy for both schemes', () => {
    const net = createDispatcher({
      ...POOL,
      env: { HTTPS_PROXY: 'http://other.example:1' },
      proxyUrl: new URL('https://carol:pw-123@proxy.example:3129'),
    });
    void net.dispatcher.destroy();
    expect(net.describe()).toBe(
      'https:// through https://carol:***@proxy.example:3129 (--thingspace.proxy-url)',
    );
    expect(net.proxy.source).toBe('flag');
    expect(net.describe()).not.toContain('pw-123');
  });

  test.each([
    ['HTTPS_PROXY', 'http://alice:pw-Leak1@[not-a-host', 'is not a valid proxy URL'],
    ['https_proxy', 'socks5://alice:pw-Leak1@proxy.example:1080', 'proxy scheme socks5'],
    ['HTTP_PROXY', 'http://alice:pw-Leak1%zz@proxy.example:3128', 'invalid %-escape'],
  ])('a bad %s is a configuration error that does not quote it', (variable, value, detail) => {
    let error: unknown;
    try {
      createDispatcher({ ...POOL, env: { [variable]: value } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DispatcherConfigError);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: variable });
    expect((error as Error).message).toContain(`${variable}: `);
    expect((error as Error).message).toContain(detail);
    expect(`${(error as Error).message} ${JSON.stringify(error)}`).not.toContain('pw-Leak1');
  });
});
