/**
 * Our printer in real-Microsoft mode against the twin run standalone, offline: the code path for the real service
 * (authority https://login.microsoftonline.com/<tenant>, smtp.office365.com, no twin routes) with only the bench seams
 * a firmware bench has — where the names resolve (the twin's DNS responder, or fixed entries), the twin's CA added to
 * the public roots, and the test ports. The seed's steps run end to end; the twin's journal shows that only
 * Microsoft's names were used (Host headers, TLS server name).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startSimulator } from '../../src/sim/simulator.ts';
import { startCommand } from '../../src/app/start.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startDnsResponder, type DnsResponder } from '../../src/cloud/dns/responder.ts';
import { MICROSOFT_NAMES } from '../../src/cloud/entra/certs.ts';
import { RealClock } from '../../src/time/clock.ts';
import { signInThroughPages, startTestTwin, type TestTwin } from '../cloud/helpers.ts';
import { SETTINGS, SCANNER, RECIPIENT, submitScan, waitForState, type E2ESim } from './support.ts';

const LOGIN = 'login.microsoftonline.com';
const SMTP = 'smtp.office365.com';
const scanner = { upn: SCANNER, password: 'Scan-to-Email-2026!' };
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let twin: TestTwin;
let dns: DnsResponder;
let entraPort: number;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new RealClock() });
  entraPort = Number(new URL(twin.entraUrl).port);
  dns = await startDnsResponder({ host: '127.0.0.1', port: 0, names: [...MICROSOFT_NAMES], addresses: ['127.0.0.1'] });
});
afterAll(async () => {
  await dns?.close();
  await twin?.close();
});

/** Every Host header the printer reached the twin's Entra half with since `seq` (the sign-in pages are the user's browser). */
function hostsSince(seq: number): string[] {
  const device = twin.journal.list({ kind: 'http' }).filter((e) => e.kind === 'http' && e.seq > seq && !e.path.startsWith('/devicelogin'));
  expect(device.map((e) => (e.kind === 'http' ? e.path : ''))).toEqual(expect.arrayContaining([expect.stringMatching(/\/oauth2\/v2\.0\/devicecode$/), expect.stringMatching(/\/oauth2\/v2\.0\/token$/)]));
  return [...new Set(device.map((e) => (e.kind === 'http' ? (e.host ?? '(no Host)') : '')))];
}

function lastSeq(): number {
  return twin.journal.list({}).at(-1)?.seq ?? 0;
}

/** The copies of `subject` delivered to the recipient's inbox by the twin's Exchange. */
function delivered(subject: string) {
  return twin.control.messages(RECIPIENT).filter((m) => m.subject === subject && m.folder === 'Inbox');
}

describe('startSimulator({ cloud: microsoft, bench: { dnsServer, caPem, ports } })', () => {
  it("signs in by device code through the twin's pages and delivers a scan, under Microsoft's names only", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-msmode-'));
    const logs: string[] = [];
    const since = lastSeq();
    const sim = (await startSimulator({
      stateDir: dir,
      clock: 'real',
      logger: createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(s) } }),
      cloud: {
        mode: 'microsoft',
        tenant: twin.tenantId,
        clientId: twin.clientId,
        bench: { dnsServer: `127.0.0.1:${dns.port}`, caPem: twin.caPem, entraPort, smtpPort: twin.smtp.port },
      },
    })) as E2ESim;
    Object.assign(sim, { logs, dir });
    try {
      expect(sim.twin).toBeNull();
      expect(sim.internals.cloud.mode).toBe('microsoft');
      expect(sim.internals.cloud.authority).toBe(`https://${LOGIN}/${twin.tenantId}`);
      await sim.device.saveSettings(SETTINGS);
      await sim.device.send({ type: 'START_AUTH' });
      await waitForState(sim, 'codePending', 30_000);
      const status = sim.device.status();
      expect(status.verificationUri).toBe(`https://${LOGIN}:${entraPort}/devicelogin`);
      await signInThroughPages(twin, status.userCode!, scanner);
      await waitForState(sim, 'authorized', 30_000);

      const subject = `Scan in Microsoft mode ${Date.now()}`;
      const job = await submitScan(sim, subject);
      await sim.device.idle();
      for (let i = 0; i < 300 && sim.device.job(job.id)?.status !== 'sent'; i++) await new Promise((r) => setTimeout(r, 50));
      expect(sim.device.job(job.id)?.status, JSON.stringify(sim.device.job(job.id))).toBe('sent');
      expect(delivered(subject)).toHaveLength(1);
      expect(delivered(subject)[0]!.to).toContain(RECIPIENT);

      const hosts = hostsSince(since);
      expect(hosts).toEqual([`${LOGIN}:${entraPort}`]);
      const tls = twin.journal.list({ kind: 'smtp' }).filter((e) => e.seq > since && e.kind === 'smtp' && e.command === 'TLS');
      expect(tls.length).toBeGreaterThan(0);
      for (const e of tls) expect(e.kind === 'smtp' ? e.tls?.servername : null).toBe(SMTP);
    } finally {
      await sim.close();
    }
  });

  it('without the bench seams it is the plain real-Microsoft path: the twin CA is not trusted by default', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-msmode-'));
    const sim = (await startSimulator({
      stateDir: dir,
      clock: 'real',
      logger: createLogger({ level: 'warn', destination: { write: () => undefined } }),
      // Names resolve to the twin, but its CA is not added: TLS verification must fail, as against an impostor.
      cloud: { mode: 'microsoft', tenant: twin.tenantId, clientId: twin.clientId, bench: { resolve: [{ name: LOGIN, address: '127.0.0.1' }], entraPort } },
    })) as E2ESim;
    Object.assign(sim, { logs: [], dir });
    try {
      await sim.device.saveSettings(SETTINGS);
      await sim.device.send({ type: 'START_AUTH' });
      await waitForState(sim, 'authFailed', 30_000);
      expect(sim.device.status().lastError?.reason).toBe('unknown-ca');
    } finally {
      await sim.close();
    }
  });
});

/** Reads the child's stdout until `pattern` matches (the banner), or fails with what it printed. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no match for ${pattern} in ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    child.stdout!.on('data', (c) => {
      out += c;
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.stderr!.on('data', (c) => (err += c));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${out}\n${err}`));
    });
  });
}

describe('mfp-sim start --cloud microsoft --tenant … --client-id … with the bench options', () => {
  it('runs the seed steps end to end against the standalone twin (driven over the driver protocol)', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-msmode-cli-'));
    const since = lastSeq();
    const child = spawn(
      'npx',
      [
        'mfp-sim', 'start', '--cloud', 'microsoft', '--tenant', 'contoso.onmicrosoft.com', '--client-id', twin.clientId,
        '--resolve', `${LOGIN}:127.0.0.1`, '--resolve', `${SMTP}:127.0.0.1`, '--ca', twin.caPath,
        '--entra-port', String(entraPort), '--smtp-port', String(twin.smtp.port),
        '--port', '0', '--driver-port', '0', '--state-dir', dir,
      ],
      // Its own process group: npx runs the simulator as a child of its own, and a SIGTERM to npx alone can leave
      // that child running after the test.
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, MFP_ADMIN_PASSWORD: 'bench-admin-password-1' } },
    );
    try {
      const banner = await waitForOutput(child, /Driver protocol:\s+(http:\/\/\S+)\/driver\/v1\/hello/, 150_000);
      expect(banner).toMatch(new RegExp(`Microsoft:\\s+contoso\\.onmicrosoft\\.com / app ${twin.clientId} \\(${LOGIN.replace(/\./g, '\\.')}:${entraPort}, ${SMTP.replace(/\./g, '\\.')}:${twin.smtp.port}\\)`));
      expect(banner).toMatch(/Bench names:\s+resolved by fixed login\.microsoftonline\.com=127\.0\.0\.1 smtp\.office365\.com=127\.0\.0\.1/);
      expect(banner).not.toMatch(/Microsoft twin:/);
      const base = `${/Driver protocol:\s+(http:\/\/\S+)\/driver\/v1\/hello/.exec(banner)![1]}/driver/v1`;
      const call = async (method: 'GET' | 'POST', p: string, body?: unknown) => {
        const res = await request(`${base}${p}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`${method} ${p}: ${res.statusCode} ${text}`);
        return JSON.parse(text);
      };
      const poll = async (want: string) => {
        for (let i = 0; i < 600; i++) {
          const s = await call('GET', '/status');
          if (s.state === want) return s;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`printer never reached ${want}: ${JSON.stringify(await call('GET', '/status'))}`);
      };

      expect((await call('POST', '/settings', SETTINGS)).accepted).toBe(true);
      await call('POST', '/operator', { type: 'START_AUTH' });
      const pending = await poll('codePending');
      expect(pending.verificationUri).toBe(`https://${LOGIN}:${entraPort}/devicelogin`);
      await signInThroughPages(twin, pending.userCode, scanner);
      await poll('authorized');
      const subject = `CLI scan in Microsoft mode ${Date.now()}`;
      await call('POST', '/jobs', { to: [RECIPIENT], subject, body: 'Scanned on a bench.' });
      await call('POST', '/idle');
      const jobs = (await call('GET', '/jobs')) as { jobs?: { status: string }[] } | { status: string }[];
      const list = Array.isArray(jobs) ? jobs : (jobs.jobs ?? []);
      expect(list.map((j) => j.status)).toContain('sent');
      expect(delivered(subject)).toHaveLength(1);
      expect(hostsSince(since)).toEqual([`${LOGIN}:${entraPort}`]);
    } finally {
      const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // the group is gone already
      }
      await exited;
    }
  });

  it('refuses bench options that do not fit the mode, and bad values, before creating anything', async () => {
    const stateDir = path.join(tmpdir(), `mfp-never-started-${process.pid}`);
    const cases: [string[], RegExp][] = [
      [['--resolve', `${LOGIN}:127.0.0.1`], /--resolve: only with --cloud microsoft/],
      [['--dns-address', '127.0.0.1'], /--dns-address needs --dns-port/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--dns-port', '0'], /--dns-port: only with --cloud twin/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--resolve', 'no-address'], /expected name:address/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--resolve', `${LOGIN}:not-an-ip`], /expected name:address/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--dns-server', 'dns.example'], /expected a DNS server/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--dns-server', '127.0.0.1:99999'], /expected a DNS server/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--ca', '/nonexistent.pem'], /--ca \/nonexistent\.pem/],
      [['--cloud', 'microsoft', '--tenant', 't', '--client-id', 'c', '--ca', fileURLToPath(import.meta.url)], /no PEM certificate/],
      [['--cloud', 'microsoft', '--tenant', 't'], /needs --tenant .* and --client-id/],
    ];
    for (const [args, want] of cases) {
      let printed = '';
      const cmd = startCommand()
        .exitOverride()
        .configureOutput({ writeErr: (s) => (printed += s), writeOut: () => undefined });
      const err = await cmd.parseAsync([...args, '--state-dir', stateDir], { from: 'user' }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, args.join(' ')).not.toBeNull();
      expect(`${printed} ${err!.message}`, args.join(' ')).toMatch(want);
    }
    await expect(stat(stateDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
