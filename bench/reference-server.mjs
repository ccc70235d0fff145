// @ts-check
/**
 * The reference of the scrape figure: an express server that answers GET /metrics with bytes it holds in
 * memory: the exporter's own exposition, fetched once by the benchmark and handed over in a file, with
 * the exporter's Content-Type (and Content-Encoding, when it compressed its answer). Same framework and settings as the exporter's server (no ETag, no
 * X-Powered-By), so the difference is the exporter's own work per scrape and the collection beside it.
 *
 * Run: node bench/reference-server.mjs <body file> <content type> [content encoding]; prints
 * {"msg":"listening","url":…}.
 */
import { readFileSync } from 'node:fs';
import express from 'express';

const [file, contentType, contentEncoding] = process.argv.slice(2);
if (!file || !contentType) {
  process.stderr.write(
    'usage: node bench/reference-server.mjs <body file> <content type> [content encoding]\n',
  );
  process.exit(2);
}
const body = readFileSync(file);

const app = express();
app.disable('x-powered-by');
app.disable('etag');
/** @type {Record<string, string>} */
const headers = { 'Content-Type': contentType };
if (contentEncoding) headers['Content-Encoding'] = contentEncoding;
app.get('/metrics', (_req, res) => {
  res.set(headers).send(body);
});

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(
    `${JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}/metrics`, bytes: body.length })}\n`,
  );
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
