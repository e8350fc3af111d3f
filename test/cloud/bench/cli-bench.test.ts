/**
 * `mfp-sim cloud` on a bench, as an operator runs it: bound to 0.0.0.0 with the DNS responder. The banner carries the
 * control token (once), the hosts-file line and the responder; the token opens /_twin (and the conformance command),
 * nothing else does; the token never reaches the process log.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resolver } from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

describe('mfp-sim cloud --host 0.0.0.0 --dns-port 0', () => {
  it('prints the token once, the hosts-file line and the responder; the token opens /_twin and the conformance command', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'twin-cli-bench-'));
    const child = spawn('node', ['bin/mfp-sim.mjs', 'cloud', '--host', '0.0.0.0', '--entra-port', '0', '--smtp-port', '0', '--dns-port', '0', '--state-dir', dir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'debug', MFP_TWIN_CONTROL_TOKEN: '' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const agent = new Agent({ connect: { ca: await waitFor(() => readFile(path.join(dir, 'ca.pem'), 'utf8')) } });
    try {
      await waitFor(async () => {
        if (!/DNS responder:/.test(out)) throw new Error(`banner not complete:\n${out}\n${err}`);
      });
      const token = /Control token:\s+(\S+)/.exec(out)?.[1];
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(out.split(token!).length - 1).toBe(1);
      expect(out).toMatch(/Hosts-file line:\s+\S+ login\.microsoftonline\.com smtp\.office365\.com\n/);
      const dnsPort = Number(/DNS responder:\s+0\.0\.0\.0:(\d+) udp\+tcp/.exec(out)?.[1]);
      const hostsAddress = /Hosts-file line:\s+(\S+)/.exec(out)![1]!;
      const entra = /Control API:\s+(https:\/\/127\.0\.0\.1:\d+)\/_twin/.exec(out)![1]!;

      const r = new Resolver({ timeout: 3000, tries: 2 });
      r.setServers([`127.0.0.1:${dnsPort}`]);
      expect(await r.resolve4('login.microsoftonline.com')).toEqual([hostsAddress]);

      const clock = (authorization?: string) => request(`${entra}/_twin/clock`, { dispatcher: agent, ...(authorization ? { headers: { authorization } } : {}) });
      const denied = await clock();
      expect(denied.statusCode).toBe(401);
      await denied.body.dump();
      const ok = await clock(`Bearer ${token}`);
      expect(ok.statusCode).toBe(200);
      await ok.body.dump();

      const conformance = (extra: string[]) =>
        new Promise<{ code: number; stderr: string }>((resolve) => {
          execFile('node', ['bin/mfp-sim.mjs', 'cloud', 'conformance', '--url', entra, '--ca', path.join(dir, 'ca.pem'), ...extra], { cwd: ROOT, env: { ...process.env, MFP_TWIN_CONTROL_TOKEN: '' } }, (e, _o, stderr) =>
            resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stderr }),
          );
        });
      const [without, withToken] = await Promise.all([conformance([]), conformance(['--token', token!])]);
      expect(without.code).toBe(2);
      expect(without.stderr).toMatch(/401/);
      expect(withToken.code, withToken.stderr).toBe(0);
      // The process log (stderr) never carries the token.
      expect(err).not.toContain(token!);
    } finally {
      await agent.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});

describe('mfp-sim cloud: bad bench options', () => {
  it('are refused before anything is created', async () => {
    const { cloudCommand } = await import('../../../src/cloud/cli.ts');
    const stateDir = path.join(tmpdir(), `twin-never-${process.pid}`);
    const cases: [string[], RegExp][] = [
      [['--dns-port', 'x'], /expected a port number/],
      [['--dns-port', '70000'], /expected a port number/],
      [['--dns-port', '0', '--dns-address', 'not-an-ip'], /expected an IPv4 or IPv6 address/],
      [['--dns-address', '127.0.0.1'], /--dns-address needs --dns-port/],
    ];
    for (const [args, want] of cases) {
      let printed = '';
      const cmd = cloudCommand()
        .exitOverride()
        .configureOutput({ writeErr: (t) => (printed += t), writeOut: () => undefined });
      const e = await cmd.parseAsync([...args, '--state-dir', stateDir], { from: 'user' }).then(
        () => null,
        (x: Error) => x,
      );
      expect(e, args.join(' ')).not.toBeNull();
      expect(`${printed} ${e!.message}`).toMatch(want);
    }
    await expect(readFile(path.join(stateDir, 'ca.pem'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

/** Retries `f` (wall time) until it resolves, for what a child process writes as it starts. */
async function waitFor<T>(f: () => Promise<T>, timeoutMs = 150_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
