/**
 * The exporter's HTTP surface as an attacker or a broken client sees it, over raw sockets so that nothing
 * normalises the request on the way: only GET and HEAD are served (others 405), and whatever arrives —
 * malformed URLs and `%` sequences, hostile arrivals queries, path traversal, huge headers, garbage, smuggling attempts — no answer
 * carries a stack trace or any internal detail, no answer is a 5xx, and the process keeps serving.
 * (TLS and basic auth are test/integration/web-config.test.ts.)
 */
import { jest } from '@jest/globals';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { logLines, startPair, waitForCollection, type ExporterProcess } from '../support/faults.js';
import { killAll } from '../support/process.js';

jest.setTimeout(60_000);

let exporter: ExporterProcess;
let port: number;

beforeAll(async () => {
  ({ exporter } = await startPair([
    '--seed',
    '3',
    '--accounts',
    '1',
    '--upgrades-per-status',
    '5',
  ]));
  await waitForCollection(exporter, 1);
  port = Number(new URL(exporter.url).port);
});
afterAll(() => killAll());

interface RawAnswer {
  /** 0 when the server closed the connection without an answer. */
  status: number;
  head: string;
  body: string;
}

/** Sends bytes as they are and reads until the server closes (requests say Connection: close). */
function raw(payload: string | Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset is an answer too: no detail
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split === -1 ? '' : text.slice(split + 4) });
    });
    socket.write(payload);
  });
}

function get(target: string, headers: string[] = [], method = 'GET'): Promise<RawAnswer> {
  return raw(
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`,
  );
}

/** Signs of internals: stack frames, file paths, error class names, library names, system error codes. */
const INTERNALS =
  /\bat [\w.<>]+ \(|\bat (?:file:|node:|\/)|\/work\/|\/home\/|\/usr\/|node_modules|dist\/|\.[cm]?[jt]s:\d+|[A-Z]\w*Error\b|\bE[A-Z]{3,}\b|\b(?:express|undici|pino|errno|stack|exception|syscall)\b/;

/** Every answer: one of the small texts the server is meant to send, or a page it serves. */
const EXPECTED_BODIES = new Set([
  '',
  'Not Found\n',
  'Method Not Allowed\n',
  'Healthy\n',
  'Ready\n',
  'Unauthorized\n',
  'Forbidden\n',
]);

function expectNoDetail(answer: RawAnswer): void {
  expect(answer.status).not.toBeGreaterThanOrEqual(500);
  expect(answer.head).not.toMatch(/x-powered-by|^etag:/im);
  expect(answer.head).not.toMatch(INTERNALS);
  const page = answer.body.startsWith('<!doctype html>');
  // The arrivals API: a list (JSON or CSV), or a 400 naming the parameter.
  const listed = /^\{"(?:arrivals|error)":|^account,api,status,/.test(answer.body);
  const served = page || listed || answer.body.startsWith('# HELP thingspace_fota');
  if (!served) expect(EXPECTED_BODIES).toContain(answer.body);
  else if (page || listed) expect(answer.body).not.toMatch(INTERNALS);
}

describe('only GET and HEAD', () => {
  const paths = [
    '/metrics',
    '/',
    '/-/healthy',
    '/-/ready',
    '/arrivals',
    '/api/v1/arrivals',
    '/api/v1/arrivals?format=csv',
    '/no-such-page',
  ];

  test.each(paths)('GET and HEAD %s are served; HEAD has no body', async (path) => {
    const got = await get(path);
    const head = await get(path, [], 'HEAD');
    const expected = path === '/no-such-page' ? 404 : 200;
    expect([got.status, head.status]).toEqual([expected, expected]);
    expect(head.body).toBe('');
    expectNoDetail(got);
    expectNoDetail(head);
  });

  test.each(
    ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK'].flatMap(
      (method) => paths.map((path) => [method, path] as const),
    ),
  )('%s %s is 405 with Allow: GET, HEAD', async (method, path) => {
    const answer = await get(path, ['Content-Length: 0'], method);
    expect(answer.status).toBe(405);
    expect(answer.head).toMatch(/^allow: GET, HEAD$/im);
    expect(answer.body).toBe('Method Not Allowed\n');
    expectNoDetail(answer);
  });

  test('a POST with a 4 MiB body is refused at once', async () => {
    // The answer may come, and the connection close, while the body is still being sent: read it
    // as soon as it arrives rather than at the close (a reset could discard it).
    const answer = await new Promise<RawAnswer>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/metrics' },
        (res: IncomingMessage) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              head: Object.entries(res.headers)
                .map(([k, v]) => `${k}: ${String(v)}`)
                .join('\r\n'),
              body,
            }),
          );
        },
      );
      req.on('error', (error) => reject(error));
      req.end(Buffer.alloc(4 * 2 ** 20, 'x'));
    });
    expect(answer.status).toBe(405);
    expectNoDetail(answer);
  });

  test.each(['BREW', 'FOO', 'get'])('an unknown method %s is refused with no detail', async (m) => {
    const answer = await get('/metrics', [], m);
    expect([400, 405, 501]).toContain(answer.status);
    expectNoDetail(answer);
  });

  test('CONNECT is not served', async () => {
    const answer = await raw('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    expect([0, 400, 405]).toContain(answer.status);
    expectNoDetail(answer);
  });
});

describe('malformed URLs and % sequences', () => {
  test.each([
    '/%',
    '/%%',
    '/%zz',
    '/%E0%A4%A',
    '/%C0%AF',
    '/%ED%A0%80',
    '/metrics%',
    '/metrics%00',
    '/metrics%2F',
    '/metrics/',
    '/METRICS',
    '/-/ready%',
    '/%2D/healthy',
    '/?a=%',
    '/metrics?%=%&a[b]=1&a[b]=2&__proto__[x]=1',
    '/-/ready?x=%ff',
    '//',
    '/;',
    '/metrics;jsessionid=1',
    '/\u00e9',
    '/%u0041',
    `/${'%41'.repeat(2000)}`,
    '*',
    'http://evil.example/metrics',
    'metrics',
    // The arrivals routes read a query: what does not parse is a 400 naming the parameter, never a 5xx.
    '/api/v1/arrivals?since=%',
    '/api/v1/arrivals?since=99999999999999999999999',
    '/api/v1/arrivals?since=-1e400',
    '/api/v1/arrivals?limit=1e400',
    '/api/v1/arrivals?limit=0x10',
    '/api/v1/arrivals?cursor=%ff%fe',
    '/api/v1/arrivals?cursor=../../etc/passwd',
    '/api/v1/arrivals?status[]=x&status[__proto__]=1',
    '/api/v1/arrivals?__proto__[status]=1&constructor[prototype][x]=1',
    `/api/v1/arrivals?${'status=UpgradeFailed&'.repeat(500)}`,
    '/api/v1/arrivals?format=xml',
    '/api/v1/arrivals/',
    '/arrivals?status=%3Cscript%3E',
    '/arrivals?account=%00&reason=%ED%A0%80',
    '/arrivals?since=2026-13-45T99:99:99Z',
  ])('%s', async (target) => {
    const answer = await get(target);
    expect(answer.status).not.toBe(0);
    expectNoDetail(answer);
  });
});

describe('path traversal', () => {
  test.each([
    '/../../../../etc/passwd',
    '/..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/metrics/../../../etc/passwd',
    '/-/../../package.json',
    '/..\\..\\..\\etc\\passwd',
    '/package.json',
    '/dist/cli.js',
    '/src/cli.ts',
    '/node_modules/express/package.json',
    '/.env',
    '/.git/config',
    '/proc/self/environ',
  ])('%s is not found and reveals nothing', async (target) => {
    const answer = await get(target);
    expect(answer.status).toBe(404);
    expect(answer.body).toBe('Not Found\n');
    expectNoDetail(answer);
  });
});

describe('broken and hostile requests', () => {
  test.each([
    ['a 20 kB header', `GET /metrics HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`],
    ['a 100 kB URL', `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: a\r\n\r\n`],
    [
      '3000 headers',
      `GET /metrics HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join('')}Connection: close\r\n\r\n`,
    ],
    ['a garbage request line', 'GARBAGE\r\n\r\n'],
    ['binary noise', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37) % 256))],
    ['a control character in the path', 'GET /\u0001 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['a space in a header name', 'GET /metrics HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n'],
    ['a header without a colon', 'GET /metrics HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n'],
    [
      'Content-Length and Transfer-Encoding (smuggling)',
      'GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n',
    ],
    [
      'two Content-Lengths',
      'GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    ],
    [
      'a non-numeric Content-Length',
      'GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n',
    ],
    [
      'a bad chunked body',
      'GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n',
    ],
    ['an obsolete line folding', 'GET /metrics HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n'],
    ['HTTP/0.9', 'GET /metrics\r\n\r\n'],
    [
      'HTTP/2.0 in an HTTP/1 request line',
      'GET /metrics HTTP/2.0\r\nHost: a\r\nConnection: close\r\n\r\n',
    ],
    ['HTTP/1.0 without Host', 'GET /metrics HTTP/1.0\r\n\r\n'],
    ['an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['a TLS ClientHello on the plain port', Buffer.from('160301002e010000', 'hex')],
    [
      'a malformed Authorization header',
      'GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: Basic %%%\r\nConnection: close\r\n\r\n',
    ],
  ])('%s', async (_what, payload) => {
    const answer = await raw(payload);
    expectNoDetail(answer);
  });

  test('the process kept serving and logged no failed request', async () => {
    expect((await get('/-/healthy')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(200);
    expect(exporter.proc.exitCode).toBeNull();
    const errors = logLines(exporter).filter((l) => l.level === 'error' || l.level === 'fatal');
    expect(errors).toEqual([]);
    expect(exporter.output()).not.toMatch(/unhandled rejection/);
  });
});
