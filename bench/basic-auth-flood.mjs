#!/usr/bin/env node
// @ts-check
/**
 * Basic-auth flood: how long an authorised scrape of /metrics takes while clients send wrong passwords for
 * a known user, against the same with no attackers, and with as many clients sending no credentials at
 * all (answered 401 without bcrypt: what the request flood alone costs). docs/reliability.md
 * ("Basic-auth flood") holds the figures and the method.
 *
 *   npm run build && node bench/basic-auth-flood.mjs
 *
 * Environment: FLOOD_SECONDS (each phase, default 30), FLOOD_CLIENTS (attackers, default 50),
 * FLOOD_COST (bcrypt cost of the configured hash, default 10), EXPORTER_CLI (the exporter to measure,
 * default dist/cli.js; point it at another build to compare).
 *
 * The simulator and the exporter run as their own processes, the attackers (autocannon, one connection
 * each, a new wrong password on every request) as a third, so that neither the attack nor the
 * measurement shares an event loop with the other. The scraper is one keep-alive connection, like
 * Prometheus, scraping again 50 ms after each answer; its credentials are verified once before the
 * phases begin, as a running Prometheus's are. The exporter collects once before the measurement and
 * not during it (--collector.interval=1h), so the figures are about authentication alone.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { killChildrenOnExit, startNode } from './lib/proc.mjs';
import { PROFILES, simulatorArgs } from './lib/profiles.mjs';
import { EXPORTER_ENV, startSimulator } from './lib/simulator.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const USER = 'prometheus';
const PASSWORD = 'scrape-s3cret';
const basic = (/** @type {string} */ user, /** @type {string} */ password) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

if (process.argv[2] === 'attack')
  await attack(
    process.argv[3] ?? '',
    Number(process.argv[4]),
    process.argv[5] === 'wrong-password',
  );
else await main();

/**
 * The attackers, in their own process: `clients` connections sending, for `seconds`, wrong passwords for
 * USER (a new one each time) or no credentials; prints the statuses they got as one JSON line.
 * @param {string} url
 * @param {number} seconds
 * @param {boolean} wrongPasswords
 */
async function attack(url, seconds, wrongPasswords) {
  const { default: autocannon } = await import('autocannon');
  const clients = Number(process.env.FLOOD_CLIENTS ?? 50);
  const result = await autocannon({
    url,
    connections: clients,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        path: '/metrics',
        setupRequest: (req) =>
          wrongPasswords
            ? {
                ...req,
                headers: {
                  ...req.headers,
                  authorization: basic(USER, randomBytes(9).toString('base64')),
                },
              }
            : req,
      },
    ],
  });
  process.stdout.write(
    `${JSON.stringify({
      attack: {
        clients,
        seconds,
        requests: result.requests.total,
        statuses: result.statusCodeStats,
        errors: result.errors,
        timeouts: result.timeouts,
      },
    })}\n`,
  );
}

/**
 * One scraper for `seconds`: latencies in ms of every scrape, and their statuses.
 * @param {string} url
 * @param {number} seconds
 */
async function scrape(url, seconds) {
  const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  /** @type {number[]} */
  const latencies = [];
  /** @type {Record<string, number>} */
  const statuses = {};
  const end = performance.now() + seconds * 1000;
  try {
    while (performance.now() < end) {
      const start = performance.now();
      const res = await request(url, {
        dispatcher: agent,
        headers: { authorization: basic(USER, PASSWORD), 'accept-encoding': 'gzip' },
      });
      await res.body.arrayBuffer();
      latencies.push(performance.now() - start);
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await agent.close();
  }
  latencies.sort((a, b) => a - b);
  const at = (/** @type {number} */ q) =>
    Number(
      (
        latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] ?? NaN
      ).toFixed(1),
    );
  return {
    scrapes: latencies.length,
    statuses,
    ms: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) },
  };
}

/** @param {string} url @param {number} seconds @param {'wrong-password' | 'no-credentials'} mode */
function startAttackers(url, seconds, mode) {
  const child = spawn(process.execPath, [SELF, 'attack', url, String(seconds), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim()).attack)
        : reject(new Error(`attackers exited ${code}`)),
    ),
  );
}

async function main() {
  killChildrenOnExit();
  const seconds = Number(process.env.FLOOD_SECONDS ?? 30);
  const cost = Number(process.env.FLOOD_COST ?? 10);
  const exporterCli = process.env.EXPORTER_CLI ?? `${ROOT}dist/cli.js`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsfota-flood-'));
  const webConfig = path.join(dir, 'web.yml');
  writeFileSync(webConfig, `basic_auth_users:\n  ${USER}: ${bcrypt.hashSync(PASSWORD, cost)}\n`);
  const profile = PROFILES.find((p) => p.name === '20k');
  if (!profile) throw new Error('profile 20k is missing');
  const sim = await startSimulator(ROOT, simulatorArgs(profile, 0));
  const summary = await sim.summary();
  const exporter = startNode(
    'exporter',
    exporterCli,
    [
      '--web.listen-address=127.0.0.1:0',
      `--web.config.file=${webConfig}`,
      `--thingspace.base-url=${sim.url}`,
      `--thingspace.accounts=${Object.keys(summary.accounts).join(',')}`,
      `--thingspace.apis=${profile.apis.join(',')}`,
      '--collector.interval=1h',
    ],
    { env: EXPORTER_ENV },
  );
  try {
    const listening = await exporter.waitForLine((l) => l.msg === 'listening', 60_000);
    await exporter.waitForLine((l) => l.msg === 'collection finished', 300_000);
    const url = String(listening.url);
    // The scraper's credentials verified once, as a running Prometheus's are.
    const warm = await request(url, { headers: { authorization: basic(USER, PASSWORD) } });
    await warm.body.arrayBuffer();
    if (warm.statusCode !== 200) throw new Error(`the scraper is refused: ${warm.statusCode}`);

    const quiet = await scrape(url, seconds);
    /** @param {'wrong-password' | 'no-credentials'} mode */
    const underAttack = async (mode) => {
      const attackers = startAttackers(url, seconds + 2, mode);
      await new Promise((r) => setTimeout(r, 1000));
      const scrapes = await scrape(url, seconds);
      return { ...scrapes, attack: await attackers };
    };
    const flooded = await underAttack('wrong-password');
    const noCredentials = await underAttack('no-credentials');
    const result = {
      exporter: path.relative(ROOT, exporterCli),
      bcryptCost: cost,
      seconds,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
      quiet,
      flooded,
      noCredentials,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await exporter.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
