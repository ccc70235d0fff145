/**
 * The receiving end of Alertmanager's webhook_config, in the test: an HTTP server on 127.0.0.1 that
 * keeps every notification it is sent. The payload is Alertmanager's webhook format (version 4);
 * it is checked field by field, so a malformed notification fails the test instead of passing as
 * "no alert".
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
}

export interface WebhookNotification {
  /** Date.now() when it arrived. */
  receivedAt: number;
  receiver: string;
  status: 'firing' | 'resolved';
  /** The payload as received: also Alertmanager's template data (amtool template render). */
  body: string;
  groupLabels: Record<string, string>;
  alerts: WebhookAlert[];
}

export interface WebhookReceiver {
  url: string;
  notifications: WebhookNotification[];
  /** Payloads that were not a valid notification, with the reason; the test expects none. */
  rejected: string[];
  /** Every alert of every notification, with the time its notification arrived. */
  alerts(): (WebhookAlert & { receivedAt: number })[];
  close(): Promise<void>;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

function isStatus(value: unknown): value is 'firing' | 'resolved' {
  return value === 'firing' || value === 'resolved';
}

/** The notification in `body`, or a string saying what is wrong with it. */
export function parseNotification(body: string, receivedAt: number): WebhookNotification | string {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    return `not JSON: ${body.slice(0, 200)}`;
  }
  if (typeof payload !== 'object' || payload === null) return 'not an object';
  const p = payload as Record<string, unknown>;
  if (p.version !== '4') return `version ${String(p.version)}, expected "4"`;
  if (typeof p.receiver !== 'string') return 'no receiver';
  if (!isStatus(p.status)) return `status ${String(p.status)}`;
  if (!isStringRecord(p.groupLabels)) return 'groupLabels';
  if (!Array.isArray(p.alerts) || p.alerts.length === 0) return 'no alerts';
  const alerts: WebhookAlert[] = [];
  for (const item of p.alerts as unknown[]) {
    if (typeof item !== 'object' || item === null) return 'an alert is not an object';
    const a = item as Record<string, unknown>;
    if (!isStatus(a.status) || !isStringRecord(a.labels) || !isStringRecord(a.annotations)) {
      return `malformed alert: ${JSON.stringify(item).slice(0, 200)}`;
    }
    if (typeof a.startsAt !== 'string') return 'an alert has no startsAt';
    alerts.push({
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.startsAt,
    });
  }
  return {
    receivedAt,
    receiver: p.receiver,
    status: p.status,
    body,
    groupLabels: p.groupLabels,
    alerts,
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  req.setEncoding('utf8');
  let body = '';
  for await (const chunk of req) body += chunk as string;
  return body;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: WebhookNotification[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (req.method !== 'POST') {
        rejected.push(`${req.method ?? '?'} ${req.url ?? ''}`);
        res.writeHead(405).end();
        return;
      }
      const parsed = parseNotification(body, Date.now());
      if (typeof parsed === 'string') {
        rejected.push(parsed);
        res.writeHead(400).end();
      } else {
        notifications.push(parsed);
        res.writeHead(200).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    notifications,
    rejected,
    alerts: () =>
      notifications.flatMap((n) => n.alerts.map((a) => ({ ...a, receivedAt: n.receivedAt }))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
