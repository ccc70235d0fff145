import type { Snapshot } from '../collection/snapshot.js';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The landing page: what this is, where the metrics are, and how the last collection went. */
export function renderLanding(
  version: string,
  telemetryPath: string,
  snapshot: Snapshot | undefined,
): string {
  let state = '<p>No collection has finished yet.</p>';
  if (snapshot) {
    const rows = snapshot.reports
      .map(
        (r) =>
          `<tr><td>${escapeHtml(r.account)}</td><td>${r.status}</td><td>${r.success ? 'ok' : `failed (${r.error ?? 'error'})`}</td>` +
          `<td>${r.counts ? r.counts.upgradeCount : '–'}</td><td>${r.counts ? r.counts.deviceCount : '–'}</td><td>${r.pages ?? '–'}</td></tr>`,
      )
      .join('\n');
    state =
      `<p>Last collection started ${new Date(snapshot.startedAtSeconds * 1000).toISOString()} and took ${snapshot.durationSeconds.toFixed(3)} s.</p>\n` +
      `<table><tr><th>account</th><th>status</th><th>last pass</th><th>upgrades</th><th>devices</th><th>pages</th></tr>\n${rows}\n</table>`;
  }
  const path = escapeHtml(telemetryPath);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ThingSpace FOTA exporter</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}</style></head>
<body><h1>ThingSpace FOTA exporter</h1>
<p>Version ${escapeHtml(version)}. Metrics: <a href="${path}">${path}</a> · <a href="/-/healthy">/-/healthy</a> · <a href="/-/ready">/-/ready</a></p>
${state}
</body></html>
`;
}
