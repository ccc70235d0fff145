/**
 * The HTTP surface: /metrics, a landing page, and the health and readiness probes. Only GET and HEAD are
 * served, and no error detail ever reaches a client. A scrape never waits on ThingSpace: it reads the
 * last published snapshot.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Snapshot } from '../collection/snapshot.js';
import type { Logger } from '../log.js';
import { CONTENT_TYPE } from '../metrics/render.js';
import type { ArrivalJournal } from '../arrivals/journal.js';
import { ARRIVALS_API_PATH, ARRIVALS_PAGE_PATH, arrivalsApi, arrivalsPage } from './arrivals.js';
import { renderLanding } from './landing.js';

export interface MetricsSource {
  readonly ready: boolean;
  readonly snapshot: Snapshot | undefined;
  metrics(): Promise<string>;
  /** The same exposition gzipped, when the source can serve it so. */
  metricsGzipped?(): Promise<Buffer>;
}

export function createApp(
  source: MetricsSource,
  options: {
    telemetryPath: string;
    version: string;
    logger: Logger;
    /** Serves /api/v1/arrivals and /arrivals from it; absent (--arrivals.enabled=false): both are 404. */
    arrivals?: ArrivalJournal;
    /** Wall clock for the arrivals' default window. */
    now?: () => number;
  },
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    res.set('Allow', 'GET, HEAD').status(405).type('text/plain').send('Method Not Allowed\n');
  });

  app.get(options.telemetryPath, async (req, res, next) => {
    try {
      res.set({ 'Content-Type': CONTENT_TYPE, Vary: 'Accept-Encoding' });
      if (source.metricsGzipped && req.acceptsEncodings('gzip', 'identity') === 'gzip') {
        res.set('Content-Encoding', 'gzip').send(await source.metricsGzipped());
      } else {
        res.send(await source.metrics());
      }
    } catch (error) {
      next(error);
    }
  });
  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('Healthy\n');
  });
  app.get('/-/ready', (_req, res) => {
    if (source.ready) res.type('text/plain').send('Ready\n');
    else
      res.status(503).type('text/plain').send('Not ready: the first collection has not finished\n');
  });
  if (options.arrivals) {
    const now = options.now ?? Date.now;
    app.get(ARRIVALS_API_PATH, arrivalsApi(options.arrivals, now));
    app.get(ARRIVALS_PAGE_PATH, arrivalsPage(options.arrivals, now));
  }
  app.get('/', (_req, res) => {
    res
      .type('html')
      .send(
        renderLanding(
          options.version,
          options.telemetryPath,
          source.snapshot,
          options.arrivals !== undefined,
        ),
      );
  });
  app.use((_req: Request, res: Response) => {
    res.status(404).type('text/plain').send('Not Found\n');
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    options.logger.error({ err: error }, 'request failed');
    res.status(500).type('text/plain').send('Internal Server Error\n');
  });
  return app;
}
