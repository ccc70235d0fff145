import type { Snapshot } from '../collection/snapshot.js';

/** Every character that could open markup or end an attribute, as a numeric reference. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The landing page: what this is, where the metrics are, and how the last collection went. */
export function renderLanding(
  version: string,
  telemetryPath: string,
  snapshot: Snapshot | undefined,
  /** The arrivals page is linked only when served (--arrivals.enabled). */
  arrivals = false,
): string {
  let state = '<p>No collection has finished yet.</p>';
  if (snapshot) {
    const pass = (success: boolean, error: string | undefined) =>
      success ? 'ok' : `failed (${error ?? 'error'})`;
    const reports = snapshot.reports
      .map(
        (r) =>
          `<tr><td>${escapeHtml(r.account)}</td><td>${r.status}</td><td>${pass(r.success, r.error)}</td>` +
          `<td>${r.counts ? r.counts.upgradeCount : '–'}</td><td>${r.counts ? r.counts.deviceCount : '–'}</td><td>${r.pages ?? '–'}</td></tr>`,
      )
      .join('\n');
    const campaigns = snapshot.campaigns
      .map((c) => {
        const listed = c.counts ? [...c.counts.campaigns.values()].reduce((a, b) => a + b, 0) : '–';
        return (
          `<tr><td>${escapeHtml(c.account)}</td><td>${c.api}</td><td>${pass(c.listing.success, c.listing.error)}</td>` +
          `<td>${pass(c.devices.success, c.devices.error)}</td><td>${listed}</td><td>${c.counts ? c.counts.devices.walked.length : '–'}</td><td>${c.pages}</td></tr>`
        );
      })
      .join('\n');
    state =
      `<p>Last collection started ${new Date(snapshot.startedAtSeconds * 1000).toISOString()} and took ${snapshot.durationSeconds.toFixed(3)} s.</p>\n` +
      (reports
        ? `<h2>Upgrades (FOTA v1)</h2>\n<table><tr><th>account</th><th>status</th><th>last pass</th><th>upgrades</th><th>devices</th><th>pages</th></tr>\n${reports}\n</table>\n`
        : '') +
      (campaigns
        ? `<h2>Campaigns (FOTA v2, v3)</h2>\n<table><tr><th>account</th><th>api</th><th>listing</th><th>devices</th><th>campaigns</th><th>walked</th><th>pages</th></tr>\n${campaigns}\n</table>`
        : '');
  }
  const path = escapeHtml(telemetryPath);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ThingSpace FOTA exporter</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}</style></head>
<body><h1>ThingSpace FOTA exporter</h1>
<p>Version ${escapeHtml(version)}. Metrics: <a href="${path}">${path}</a> · <a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a>${arrivals ? ' · Arrivals behind the entered counters: <a href="arrivals">/arrivals</a> (<a href="api/v1/arrivals">JSON</a>)' : ''}</p>
${state}
</body></html>
`;
}
