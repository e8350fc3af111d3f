/**
 * `npm run bench:twin`: how many requests one twin process serves — the figure docs/scaling.md sizes a distributed
 * twin from ("When one twin is not enough"). The twin runs alone (`mfp-sim cloud`, its own process, as a bench of
 * real printers meets it); this process is the load, on the other core. Three loads, one after another:
 *  - token requests (client credentials, RS256-signed tokens) on keep-alive connections;
 *  - the same, a fresh TLS connection per request (what printers that wake once an hour do);
 *  - mail submissions: a fresh STARTTLS connection per mail, XOAUTH2 with an app-only token, a one-page scan attached.
 * Each reports requests per second and the twin's CPU per request (from /proc: its user + system time), which is
 * what one core of the twin can serve, whether or not this process kept it busy. Not part of `npm run bench`: it
 * has no baseline to be a ratio against, and the tenant it needs is its own (more mailboxes than the fixture's).
 *
 * TWIN_BENCH_SECONDS (default 8) per load; TWIN_BENCH_CONCURRENCY (default 32) token requests in flight, twice as
 * many mails (each mostly waiting for its greeting).
 * TWIN_BENCH_NODE_FLAGS: Node flags for the twin's process, space-separated (`--cpu-prof --cpu-prof-dir=DIR` profiles
 * the twin under load; NODE_OPTIONS refuses --cpu-prof).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { Pool } from 'undici';
import { machine, tempDir } from './support.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = path.join(ROOT, 'fixtures/tenants/contoso.json');
const SCAN_PDF = path.join(ROOT, 'fixtures/scans/scan-0001.pdf');
/** The fixture's app-only application and its service principal (SMTP.SendAsApp, FullAccess on mailboxes). */
const APP = { clientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a', secret: 'Xq8~AppOnly.Secret-Contoso-2026', servicePrincipal: '2b3c4d5e-6f70-4b8c-9dae-000000000b01' };
/**
 * Exchange allows 3 connections per mailbox at once: the mail load spreads over this many mailboxes, two connections
 * each. A mail waits ~100 ms of wall time for its greeting (smtp-server's early-talker pause, the twin's default), so
 * it takes many in flight to keep the twin busy.
 */
const MAILBOXES = 32;
const START_TIMEOUT_MS = 60_000;

/** A setting that cannot be used: said in one line, before anything starts. */
class UsageError extends Error {}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return n;
}

interface Twin {
  child: ChildProcess;
  entraUrl: string;
  smtpPort: number;
  tenantId: string;
  ca: string;
}

/** The contoso fixture with MAILBOXES more mailboxes the app-only service principal may send as. */
async function loadTenant(file: string): Promise<string[]> {
  const tenant = JSON.parse(await readFile(FIXTURE, 'utf8'));
  const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `load${i + 1}@contoso.com`);
  for (const upn of mailboxes) {
    tenant.users.push({ upn, displayName: `Load ${upn}`, password: `Load-${randomUUID()}`, mfa: 'none', objectId: randomUUID(), smtpAuthEnabled: true });
    tenant.exchange.mailboxPermissions.push({ mailbox: upn, servicePrincipal: APP.servicePrincipal, accessRights: ['FullAccess'] });
  }
  await writeFile(file, JSON.stringify(tenant));
  return mailboxes;
}

async function startTwin(dir: string, tenantFile: string): Promise<Twin> {
  const nodeFlags = (process.env.TWIN_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, path.join(ROOT, 'bin/mfp-sim.mjs'), 'cloud', '--entra-port', '0', '--smtp-port', '0', '--state-dir', path.join(dir, 'cloud'), '--tenant', tenantFile], {
    stdio: ['ignore', 'ignore', 'pipe'], // its log (JSON lines) is on stderr; the banner on stdout is for people
  });
  const ready = await new Promise<{ entraUrl: string; smtpPort: number; tenantId: string }>((resolve, reject) => {
    const lines = createInterface({ input: child.stderr! });
    child.once('exit', (code) => reject(new Error(`the twin exited (${code}) before it listened`)));
    // Certificates and the signing key are made on the first start: seconds, not a minute.
    const late = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the twin did not listen within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.once('exit', () => clearTimeout(late));
    lines.on('line', (line) => {
      let entry: { msg?: string; entraUrl?: string; smtpPort?: number; tenantId?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return; // not one of its log lines
      }
      if (entry.msg !== 'twin listening' || !entry.entraUrl || !entry.smtpPort || !entry.tenantId) return;
      clearTimeout(late);
      resolve({ entraUrl: entry.entraUrl, smtpPort: entry.smtpPort, tenantId: entry.tenantId });
    });
  });
  child.stderr!.resume(); // keep reading its log so it never blocks on a full pipe
  // Stopped from outside (Ctrl+C, a test's timeout): the twin goes too, not left holding its ports.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      child.kill('SIGTERM');
      process.exit(128 + os.constants.signals[signal]);
    });
  }
  return { child, ...ready, ca: await readFile(path.join(dir, 'cloud/ca.pem'), 'utf8') };
}

/** User + system CPU ms of a process so far (Linux /proc; null elsewhere). */
function cpuMsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ on Linux
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

interface LoadResult {
  load: string;
  requests: number;
  failures: number;
  seconds: number;
  perSecond: number;
  /** The twin's CPU per request, ms: one core of the twin serves 1000 / this a second. */
  twinCpuMsPerRequest: number | null;
  /** Share of one core the twin used, and this process (the load). */
  twinCores: number | null;
  loadCores: number;
  firstFailure: string | null;
}

/** Runs `one` with `concurrency` in flight for `seconds` and counts. */
async function drive(load: string, twinPid: number, seconds: number, concurrency: number, one: (worker: number) => Promise<void>): Promise<LoadResult> {
  const t0 = performance.now();
  const twin0 = cpuMsOf(twinPid);
  const self0 = process.cpuUsage();
  const end = t0 + seconds * 1000;
  let requests = 0;
  let failures = 0;
  let firstFailure: string | null = null;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < end) {
        try {
          await one(worker);
          requests++;
        } catch (err) {
          failures++;
          firstFailure ??= (err as Error).message;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const twin1 = cpuMsOf(twinPid);
  const self = process.cpuUsage(self0);
  const twinMs = twin0 === null || twin1 === null ? null : twin1 - twin0;
  return {
    load,
    requests,
    failures,
    seconds: elapsed,
    perSecond: requests / elapsed,
    twinCpuMsPerRequest: twinMs === null || requests === 0 ? null : twinMs / requests,
    twinCores: twinMs === null ? null : twinMs / 1000 / elapsed,
    loadCores: (self.user + self.system) / 1e6 / elapsed,
    firstFailure,
  };
}

const tokenBody = (scope: string) =>
  new URLSearchParams({ grant_type: 'client_credentials', client_id: APP.clientId, client_secret: APP.secret, scope }).toString();

/** The access token of a token response, or null when the body is not one. */
function accessTokenIn(text: string): string | null {
  try {
    const token = (JSON.parse(text) as { access_token?: unknown }).access_token;
    return typeof token === 'string' && token !== '' ? token : null;
  } catch {
    return null;
  }
}

/** One token request on a connection of its own, closed after it (https with no agent). */
function freshTokenRequest(twin: Twin, body: string): Promise<string> {
  const url = new URL(`/${twin.tenantId}/oauth2/v2.0/token`, twin.entraUrl);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent: false, ca: twin.ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const token = res.statusCode === 200 ? accessTokenIn(text) : null;
        if (token === null) reject(new Error(`token endpoint answered ${res.statusCode}: ${text.slice(0, 200)}`));
        else resolve(token);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const seconds = positiveInt('TWIN_BENCH_SECONDS', 8);
  const concurrency = positiveInt('TWIN_BENCH_CONCURRENCY', 32);
  const dir = await tempDir('twin-capacity');
  const tenantFile = path.join(dir, 'tenant.json');
  const mailboxes = await loadTenant(tenantFile);
  const twin = await startTwin(dir, tenantFile);
  const pid = twin.child.pid!;
  const started = new Date();
  const load = os.loadavg()[0]!;
  const results: LoadResult[] = [];
  try {
    const body = tokenBody('https://outlook.office365.com/.default');
    const tokenPath = `/${twin.tenantId}/oauth2/v2.0/token`;
    const pool = new Pool(twin.entraUrl, { connections: concurrency, connect: { ca: twin.ca } });
    results.push(
      await drive('token requests, keep-alive connections', pid, seconds, concurrency, async () => {
        const res = await pool.request({ path: tokenPath, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`token endpoint answered ${res.statusCode}: ${text.slice(0, 200)}`);
      }),
    );
    await pool.close();
    results.push(await drive('token requests, a fresh TLS connection each', pid, seconds, concurrency, async () => void (await freshTokenRequest(twin, body))));

    const accessToken = await freshTokenRequest(twin, body);
    const attachment = await readFile(SCAN_PDF);
    results.push(
      await drive('mail submissions (STARTTLS, XOAUTH2 app-only, a fresh connection each)', pid, seconds, Math.min(2 * concurrency, 2 * MAILBOXES), async (worker) => {
        const user = mailboxes[worker % mailboxes.length]!;
        const transport = nodemailer.createTransport({ host: '127.0.0.1', port: twin.smtpPort, secure: false, requireTLS: true, tls: { ca: twin.ca, servername: 'smtp.office365.com' }, auth: { type: 'OAuth2', user, accessToken } });
        try {
          await transport.sendMail({ from: user, to: 'admin@contoso.com', subject: 'Scan', text: 'Scanned page attached.', attachments: [{ filename: 'scan-0001.pdf', content: attachment }] });
        } finally {
          transport.close();
        }
      }),
    );
  } finally {
    twin.child.kill('SIGTERM');
    await new Promise((resolve) => (twin.child.exitCode !== null ? resolve(null) : twin.child.once('exit', resolve)));
    await rm(dir, { recursive: true, force: true });
  }

  const m = machine();
  console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform} (load average ${load.toFixed(2)} at start)`);
  console.log(`Date: ${started.toISOString()}   ${seconds} s per load, ${concurrency} token requests or ${Math.min(2 * concurrency, 2 * MAILBOXES)} mails in flight\n`);
  console.log('| Load | Served | Per second | Twin CPU per request | Twin cores busy | Load cores busy | Failures |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const cpu = r.twinCpuMsPerRequest === null ? 'n/a' : `${r.twinCpuMsPerRequest.toFixed(2)} ms`;
    const cores = r.twinCores === null ? 'n/a' : r.twinCores.toFixed(2);
    console.log(`| ${r.load} | ${r.requests} | ${r.perSecond.toFixed(0)} | ${cpu} | ${cores} | ${r.loadCores.toFixed(2)} | ${r.failures}${r.firstFailure ? ` (${r.firstFailure})` : ''} |`);
  }
  if (results.some((r) => r.failures > 0)) process.exitCode = 1;
}

try {
  await main();
} catch (err) {
  console.error(err instanceof UsageError ? `bench:twin: ${err.message}` : err);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
