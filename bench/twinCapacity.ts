/**
 * `npm run bench:twin`: how many requests one twin process serves — the figure docs/scaling.md sizes a distributed
 * twin from ("When one twin is not enough"). The twin runs alone (`mfp-sim cloud`, its own process, as a bench of
 * real printers meets it); this process is the load, on the other core. Three loads, one after another:
 *  - token requests (client credentials, RS256-signed tokens) on keep-alive connections;
 *  - the same, a fresh TLS connection per request (what printers that wake once an hour do);
 *  - mail submissions: a fresh STARTTLS connection per mail, XOAUTH2 with an app-only token, a one-page scan attached.
 * Each reports requests per second and the twin's CPU per request (from /proc: its user + system time), which is
 * what one core of the twin can serve, whether or not this process kept it busy.
 *
 * The baseline, in the same run: the same loads against the bare limit's servers (src/fleet/bareMailLimit.ts: a
 * node:https server answering a token JSON, smtp-server draining each message; the same certificate and greeting
 * pause) in a process of their own. The ratio is the twin's CPU per request over theirs: what simulating Entra and
 * Exchange costs beyond TLS, HTTP and SMTP themselves (signing, checking, parsing, filing, journalling).
 *
 * Not part of `npm run bench`: the tenant it needs is its own (more mailboxes than the fixture's), and it runs two
 * server processes beside the bench's.
 *
 * TWIN_BENCH_SECONDS (default 8) per load; TWIN_BENCH_CONCURRENCY (default 32) token requests in flight, twice as
 * many mails (each mostly waiting for its greeting). TWIN_BENCH_NODE_FLAGS: Node flags for the twin's process,
 * space-separated (`--cpu-prof --cpu-prof-dir=DIR` profiles the twin under load; NODE_OPTIONS refuses --cpu-prof).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { Pool } from 'undici';
import { DEFAULT_SMTP_GREETING_DELAY_MS } from '../src/cloud/exchange/exchange-smtp-server.ts';
import { processCpuMsOf } from '../src/util/process-cpu.ts';
import { untilSignal } from '../src/util/signals.ts';
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
const LOADS = ['token requests, keep-alive connections', 'token requests, a fresh TLS connection each', 'mail submissions (STARTTLS, XOAUTH2, a fresh connection each)'] as const;

/** A setting that cannot be used: said in one line, before anything starts. */
class UsageError extends Error {}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return n;
}

/** A server process under load: where its token endpoint and SMTP port are, and the token its SMTP accepts. */
interface ServerUnderLoad {
  child: ChildProcess;
  baseUrl: string;
  tokenPath: string;
  smtpPort: number;
  ca: string;
  /** The access token the mail load submits with (the twin's is fetched from its own token endpoint). */
  mailToken: string | null;
}

/** Server processes still running: stopped with this one, however it ends. */
const running = new Set<ChildProcess>();

function stopOnSignals(): void {
  void untilSignal().then((signal) => {
    for (const child of running) child.kill('SIGTERM');
    process.exit(128 + os.constants.signals[signal]);
  });
}

/** Starts a server process and waits for the JSON line (on `stream`) that `ready` recognises. */
async function spawnServer<T>(what: string, args: string[], stream: 'stdout' | 'stderr', ready: (entry: Record<string, unknown>) => T | null): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', stream === 'stdout' ? 'pipe' : 'ignore', stream === 'stderr' ? 'pipe' : 'inherit'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const output = child[stream]!;
  const info = await new Promise<T>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it listened`)));
    // Certificates and the signing key are made on the first start: seconds, not a minute.
    const late = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not listen within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.once('exit', () => clearTimeout(late));
    createInterface({ input: output }).on('line', (line) => {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        return; // not one of its JSON lines
      }
      const found = entry && typeof entry === 'object' ? ready(entry as Record<string, unknown>) : null;
      if (found === null) return;
      clearTimeout(late);
      resolve(found);
    });
  });
  output.resume(); // keep reading, so it never blocks on a full pipe
  return { child, info };
}

async function stopServer(server: ServerUnderLoad): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
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

async function startTwin(stateDir: string, tenantFile: string): Promise<ServerUnderLoad> {
  const nodeFlags = (process.env.TWIN_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  // Its log (JSON lines) is on stderr; the banner on stdout is for people.
  const { child, info } = await spawnServer('the twin', [...nodeFlags, path.join(ROOT, 'bin/mfp-sim.mjs'), 'cloud', '--entra-port', '0', '--smtp-port', '0', '--state-dir', stateDir, '--tenant', tenantFile], 'stderr', (e) =>
    e.msg === 'twin listening' && typeof e.entraUrl === 'string' && typeof e.smtpPort === 'number' && typeof e.tenantId === 'string' ? { entraUrl: e.entraUrl, smtpPort: e.smtpPort, tenantId: e.tenantId } : null,
  );
  return { child, baseUrl: info.entraUrl, tokenPath: `/${info.tenantId}/oauth2/v2.0/token`, smtpPort: info.smtpPort, ca: await readFile(path.join(stateDir, 'ca.pem'), 'utf8'), mailToken: null };
}

/** The bare limit's servers with the twin's certificate (its state directory) and the twin's greeting pause. */
async function startBare(stateDir: string): Promise<ServerUnderLoad> {
  const { child, info } = await spawnServer('the bare servers', [path.join(ROOT, 'bin/run-ts.mjs'), path.join(ROOT, 'bench/bareServers.ts'), stateDir, String(DEFAULT_SMTP_GREETING_DELAY_MS)], 'stdout', (e) =>
    e.msg === 'bare listening' && typeof e.httpsPort === 'number' && typeof e.smtpPort === 'number' && typeof e.accessToken === 'string' ? { httpsPort: e.httpsPort, smtpPort: e.smtpPort, accessToken: e.accessToken } : null,
  );
  return { child, baseUrl: `https://127.0.0.1:${info.httpsPort}`, tokenPath: '/token', smtpPort: info.smtpPort, ca: await readFile(path.join(stateDir, 'ca.pem'), 'utf8'), mailToken: info.accessToken };
}

interface LoadResult {
  requests: number;
  failures: number;
  perSecond: number;
  /** The server's CPU per request, ms: one core of it serves 1000 / this a second. */
  serverCpuMsPerRequest: number | null;
  /** Share of one core the server used, and this process (the load). */
  serverCores: number | null;
  loadCores: number;
  firstFailure: string | null;
}

/** Runs `one` with `concurrency` in flight for `seconds` and counts. */
async function drive(serverPid: number, seconds: number, concurrency: number, one: (worker: number) => Promise<void>): Promise<LoadResult> {
  const t0 = performance.now();
  const server0 = processCpuMsOf(serverPid);
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
  const server1 = processCpuMsOf(serverPid);
  const self = process.cpuUsage(self0);
  const serverMs = server0 === null || server1 === null ? null : server1 - server0;
  return {
    requests,
    failures,
    perSecond: requests / elapsed,
    serverCpuMsPerRequest: serverMs === null || requests === 0 ? null : serverMs / requests,
    serverCores: serverMs === null ? null : serverMs / 1000 / elapsed,
    loadCores: (self.user + self.system) / 1e6 / elapsed,
    firstFailure,
  };
}

const TOKEN_BODY = new URLSearchParams({ grant_type: 'client_credentials', client_id: APP.clientId, client_secret: APP.secret, scope: 'https://outlook.office365.com/.default' }).toString();

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
function freshTokenRequest(server: ServerUnderLoad): Promise<string> {
  const url = new URL(server.tokenPath, server.baseUrl);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(TOKEN_BODY), connection: 'close' };
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', agent: false, ca: server.ca, headers }, (res) => {
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
    req.end(TOKEN_BODY);
  });
}

/** The three loads against one server, in LOADS order. */
async function runLoads(server: ServerUnderLoad, mailboxes: string[], seconds: number, concurrency: number): Promise<LoadResult[]> {
  const pid = server.child.pid!;
  const pool = new Pool(server.baseUrl, { connections: concurrency, connect: { ca: server.ca } });
  const kept = await drive(pid, seconds, concurrency, async () => {
    const res = await pool.request({ path: server.tokenPath, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: TOKEN_BODY });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`token endpoint answered ${res.statusCode}: ${text.slice(0, 200)}`);
  });
  await pool.close();
  const fresh = await drive(pid, seconds, concurrency, async () => void (await freshTokenRequest(server)));
  const accessToken = server.mailToken ?? (await freshTokenRequest(server));
  const attachment = await readFile(SCAN_PDF);
  const mails = await drive(pid, seconds, Math.min(2 * concurrency, 2 * MAILBOXES), async (worker) => {
    const user = mailboxes[worker % mailboxes.length]!;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, requireTLS: true, tls: { ca: server.ca, servername: 'smtp.office365.com' }, auth: { type: 'OAuth2', user, accessToken } });
    try {
      await transport.sendMail({ from: user, to: 'admin@contoso.com', subject: 'Scan', text: 'Scanned page attached.', attachments: [{ filename: 'scan-0001.pdf', content: attachment }] });
    } finally {
      transport.close();
    }
  });
  return [kept, fresh, mails];
}

async function main(): Promise<void> {
  const seconds = positiveInt('TWIN_BENCH_SECONDS', 8);
  const concurrency = positiveInt('TWIN_BENCH_CONCURRENCY', 32);
  stopOnSignals();
  const dir = await tempDir('twin-capacity');
  const stateDir = path.join(dir, 'cloud');
  const tenantFile = path.join(dir, 'tenant.json');
  const started = new Date();
  const load = os.loadavg()[0]!;
  let twin: LoadResult[];
  let bare: LoadResult[];
  try {
    const mailboxes = await loadTenant(tenantFile);
    // One server at a time, so neither shares its core with the other.
    const twinServer = await startTwin(stateDir, tenantFile);
    try {
      twin = await runLoads(twinServer, mailboxes, seconds, concurrency);
    } finally {
      await stopServer(twinServer);
    }
    const bareServer = await startBare(stateDir);
    try {
      bare = await runLoads(bareServer, mailboxes, seconds, concurrency);
    } finally {
      await stopServer(bareServer);
    }
  } finally {
    for (const child of running) child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }

  const m = machine();
  const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)} ms`);
  console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform} (load average ${load.toFixed(2)} at start)`);
  console.log(`Date: ${started.toISOString()}   ${seconds} s per load and server, ${concurrency} token requests or ${Math.min(2 * concurrency, 2 * MAILBOXES)} mails in flight\n`);
  console.log('| Load | Twin: served a second | Twin CPU a request | Twin cores busy | Load cores busy | Bare: served a second | Bare CPU a request | Twin ÷ bare CPU | Failures (twin, bare) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  LOADS.forEach((name, i) => {
    const t = twin[i]!;
    const b = bare[i]!;
    const ratio = t.serverCpuMsPerRequest !== null && b.serverCpuMsPerRequest ? `${(t.serverCpuMsPerRequest / b.serverCpuMsPerRequest).toFixed(2)}×` : 'n/a';
    const failures = `${t.failures}, ${b.failures}${t.firstFailure ?? b.firstFailure ? ` (${t.firstFailure ?? b.firstFailure})` : ''}`;
    console.log(`| ${name} | ${t.perSecond.toFixed(0)} | ${ms(t.serverCpuMsPerRequest)} | ${t.serverCores?.toFixed(2) ?? 'n/a'} | ${t.loadCores.toFixed(2)} | ${b.perSecond.toFixed(0)} | ${ms(b.serverCpuMsPerRequest)} | ${ratio} | ${failures} |`);
  });
  if ([...twin, ...bare].some((r) => r.failures > 0 || r.requests === 0)) process.exitCode = 1;
}

try {
  await main();
} catch (err) {
  console.error(err instanceof UsageError ? `bench:twin: ${err.message}` : err);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
