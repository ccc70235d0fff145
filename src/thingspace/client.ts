/**
 * The ThingSpace API as the collector sees it: one report page at a time, with tokens attached, renewed
 * once when ThingSpace rejects them, transient failures retried, and the answer validated.
 */
import type { UpgradeStatus } from '../upgrades/statuses.js';
import type { Authenticator } from './auth.js';
import {
  isBearerRejection,
  isSessionRejection,
  parseErrorBody,
  ThingSpaceError,
} from './errors.js';
import { throwIfTransient, type Send } from './http.js';
import type { Retry } from './retry.js';
import { parseReportPage, type ReportPage } from './schema.js';

const MAX_TOKEN_RENEWALS = 3;

export interface ReportSource {
  fetchReportPage(account: string, status: UpgradeStatus, startIndex: string): Promise<ReportPage>;
}

export class ThingSpaceClient implements ReportSource {
  constructor(
    private readonly send: Send,
    private readonly auth: Authenticator,
    private readonly retry: Retry,
  ) {}

  async fetchReportPage(
    account: string,
    status: UpgradeStatus,
    startIndex: string,
  ): Promise<ReportPage> {
    const path = `/api/fota/v1/reports/${encodeURIComponent(account)}/status/${status}/index/${encodeURIComponent(startIndex)}`;
    // A rejected token is renewed and the request sent again, a bounded number of times: with short-lived
    // tokens and long backoffs a renewed token may expire too, but a token rejected twice is a refusal.
    const rejected = new Set<string>();
    for (;;) {
      const tokens = await this.auth.tokens();
      const response = await this.retry(async () => {
        const res = await this.send({
          endpoint: 'reports',
          method: 'GET',
          path,
          headers: { authorization: `Bearer ${tokens.bearer}`, 'vz-m2m-token': tokens.session },
        });
        throwIfTransient('reports', res);
        return res;
      });
      if (response.status < 300) {
        this.auth.touchSession(tokens.session);
        return parseReportPage(response.body);
      }
      const body = parseErrorBody(response.body);
      const detail = `reports answered HTTP ${response.status}${body.code ? ` ${body.code}` : ''}${body.message ? `: ${body.message}` : ''}`;
      const tokenKind = isSessionRejection(body)
        ? 'session'
        : isBearerRejection(response.status, body)
          ? 'bearer'
          : undefined;
      if (tokenKind === undefined) {
        throw new ThingSpaceError('http', detail, body.code, response.status);
      }
      const token = tokenKind === 'bearer' ? tokens.bearer : tokens.session;
      if (rejected.has(token) || rejected.size >= MAX_TOKEN_RENEWALS) {
        throw new ThingSpaceError(
          'auth',
          `${detail} (after renewing the ${tokenKind} token)`,
          body.code,
          response.status,
        );
      }
      rejected.add(token);
      this.auth.invalidate(tokenKind, token);
    }
  }
}
