import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { emptyCounts } from '../../src/upgrades/aggregate.js';
import type { Snapshot } from '../../src/collection/snapshot.js';
import { createLogger, SecretScrubber } from '../../src/log.js';
import { CONTENT_TYPE } from '../../src/metrics/render.js';
import { createApp, type MetricsSource } from '../../src/server/app.js';

const EXPOSITION = '# HELP x_metric A test metric.\n# TYPE x_metric gauge\nx_metric 1\n';

class FakeSource implements MetricsSource {
  ready = false;
  snapshot: Snapshot | undefined = undefined;
  calls = 0;
  metrics: () => Promise<string> = async () => {
    this.calls++;
    return EXPOSITION;
  };
}

interface Running {
  base: string;
  source: FakeSource;
  logs: string[];
  server: Server;
}

const running: Server[] = [];

async function start(telemetryPath = '/metrics', version = '1.2.3'): Promise<Running> {
  const source = new FakeSource();
  const logs: string[] = [];
  const scrubber = new SecretScrubber();
  scrubber.add('app-secret-Pq7Wm2');
  const logger = createLogger('info', scrubber, { write: (line: string) => void logs.push(line) });
  const app = createApp(source, { telemetryPath, version, logger });
  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  running.push(server);
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, source, logs, server };
}

afterAll(async () => {
  await Promise.all(
    running.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

function parseContentType(header: string | null) {
  const [type, ...params] = (header ?? '').split(';').map((p) => p.trim());
  return {
    type: type?.toLowerCase(),
    params: Object.fromEntries(
      params.map((p) => {
        const [k, v] = p.split('=');
        return [k!.toLowerCase(), v!.replace(/^"|"$/g, '').toLowerCase()];
      }),
    ),
  };
}

function snapshotWith(accounts: string[]): Snapshot {
  return {
    startedAtSeconds: 1_700_000_000,
    durationSeconds: 2.5,
    campaigns: [],
    reports: accounts.map((account) => ({
      account,
      status: 'Queued' as const,
      success: true,
      lastSuccessSeconds: 1_700_000_002,
      counts: emptyCounts(),
      pages: 1,
    })),
    accountDurations: new Map(accounts.map((a) => [a, 1])),
  };
}

describe('createApp', () => {
  let app: Running;
  beforeAll(async () => {
    app = await start();
  });

  it('serves metrics() on the telemetry path with the text-format content type', async () => {
    const res = await fetch(`${app.base}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(EXPOSITION);
    expect(parseContentType(res.headers.get('content-type'))).toEqual(
      parseContentType(CONTENT_TYPE),
    );
    expect(parseContentType(res.headers.get('content-type'))).toEqual({
      type: 'text/plain',
      params: { version: '0.0.4', charset: 'utf-8' },
    });
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('calls metrics() on each scrape', async () => {
    const before = app.source.calls;
    await (await fetch(`${app.base}/metrics`)).text();
    await (await fetch(`${app.base}/metrics`)).text();
    expect(app.source.calls).toBe(before + 2);
  });

  it('answers HEAD on the telemetry path without a body', async () => {
    const res = await fetch(`${app.base}/metrics`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('/-/ready is 503 until ready, then 200', async () => {
    app.source.ready = false;
    const before = await fetch(`${app.base}/-/ready`);
    expect(before.status).toBe(503);
    await before.text();
    app.source.ready = true;
    const after = await fetch(`${app.base}/-/ready`);
    expect(after.status).toBe(200);
    await after.text();
    app.source.ready = false;
  });

  it('/-/healthy is 200 whatever the readiness', async () => {
    app.source.ready = false;
    const res = await fetch(`${app.base}/-/healthy`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/healthy/i);
  });

  it('the landing page links the telemetry path and says when nothing was collected yet', async () => {
    app.source.snapshot = undefined;
    const res = await fetch(`${app.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('href="/metrics"');
    expect(html).toContain('1.2.3');
    expect(html).toMatch(/No collection/);
  });

  it('the landing page escapes account names', async () => {
    const evil = `<script>alert("x")</script>&'`;
    app.source.snapshot = snapshotWith(['0242078689-00001', evil]);
    const html = await (await fetch(`${app.base}/`)).text();
    app.source.snapshot = undefined;
    expect(html).toContain('0242078689-00001');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain(evil);
    expect(html).toContain('&#60;script&#62;');
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])(
    '%s is 405 with Allow: GET, HEAD',
    async (method) => {
      const res = await fetch(`${app.base}/metrics`, {
        method,
        body: method === 'POST' ? 'x=1' : undefined,
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      await res.text();
    },
  );

  it('POST to any path is 405 and never reaches metrics()', async () => {
    const before = app.source.calls;
    const res = await fetch(`${app.base}/`, { method: 'POST' });
    expect(res.status).toBe(405);
    await res.text();
    expect(app.source.calls).toBe(before);
  });

  it.each(['/nope', '/metrics/extra', '/-/', '/-/reload'])(
    'an unknown path %s is 404',
    async (path) => {
      const res = await fetch(`${app.base}${path}`);
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('Not Found\n');
    },
  );

  it('an exception in metrics() is a 500 with no detail in the body, and is logged', async () => {
    const failing = await start();
    failing.source.metrics = async () => {
      throw new Error('registry exploded: app-secret-Pq7Wm2');
    };
    const res = await fetch(`${failing.base}/metrics`);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toBe('Internal Server Error\n');
    expect(body).not.toMatch(/exploded|at |\.ts|Error:/);
    const logged = failing.logs.join('');
    expect(logged).toContain('registry exploded');
    expect(logged).not.toContain('app-secret-Pq7Wm2');
  });

  it('a synchronous throw in metrics() is handled the same way', async () => {
    const failing = await start();
    failing.source.metrics = () => {
      throw new TypeError('sync boom');
    };
    const res = await fetch(`${failing.base}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('Internal Server Error\n');
  });

  it('serves a custom telemetry path, and the default one is then unknown', async () => {
    const custom = await start('/custom/path');
    const res = await fetch(`${custom.base}/custom/path`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(EXPOSITION);
    const old = await fetch(`${custom.base}/metrics`);
    expect(old.status).toBe(404);
    await old.text();
    const landing = await (await fetch(`${custom.base}/`)).text();
    expect(landing).toContain('href="/custom/path"');
  });
});
