/**
 * Harness for the black-box suites against examples/python-printer: a twin on a real clock with the short-lifetime
 * tenant (the printer has no virtual clock) and the printer as a child process in its own process group, so that
 * `stop()` ends the interpreter and every thread it started. Needs Debian's python3-msal with /usr/bin/python3.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { startTwin, type Twin } from '../../src/cloud/twin.ts';
import { connectDriver, type DriverClient } from '../../src/driver/client.ts';
import type { SmtpSettings } from '../../src/nvram/schema.ts';
import { RealClock } from '../../src/time/clock.ts';

export const PYTHON = '/usr/bin/python3';
export const SHORT_TENANT = resolve('fixtures/tenants/contoso-short.json');
export const PRINTER = resolve('examples/python-printer/printer.py');

/** Whether /usr/bin/python3 can import msal (the python printer's one dependency outside the standard library). */
export function pythonMsalAvailable(): boolean {
  return spawnSync(PYTHON, ['-c', 'import msal, requests'], { stdio: 'ignore' }).status === 0;
}

export const OAUTH_SETTINGS: SmtpSettings = {
  smtpServerName: 'smtp.office365.com',
  smtpPort: 587,
  useSecureConnection: true,
  authMethod: 'oauth2ExchangeOnline',
  authEmailAddress: 'scanner@contoso.com',
  authUsername: 'scanner@contoso.com',
  adminEmailAddress: 'admin@contoso.com',
};

export async function startShortTwin(stateDir?: string): Promise<Twin> {
  const dir = stateDir ?? (await mkdtemp(join(tmpdir(), 'pp-twin-')));
  return startTwin({ stateDir: dir, tenantFile: SHORT_TENANT, clock: new RealClock(), seed: 12 });
}

export interface PythonPrinter {
  url: string;
  driver: DriverClient;
  child: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

export interface PythonPrinterOptions {
  bug?: string;
  /**
   * Refresh this long before the access token expires (the short tenant's tokens live 30 s): 10 s, a third of the
   * life, so the refresh is not early by the twin's rule token.no-early-refresh (at most half the life left).
   */
  tokenSkewS?: number;
  retryDelaysS?: string;
  stateFile?: string;
}

export async function startPythonPrinter(twin: Twin, o: PythonPrinterOptions = {}): Promise<PythonPrinter> {
  const stateFile = o.stateFile ?? join(await mkdtemp(join(tmpdir(), 'pp-state-')), 'state.json');
  const args = [
    PRINTER,
    '--authority', twin.authority,
    '--client-id', twin.clientId,
    '--ca', twin.caPath,
    '--smtp', `${twin.smtp.host}:${twin.smtp.port}`,
    '--state-file', stateFile,
    '--driver-port', '0',
    '--token-skew-s', String(o.tokenSkewS ?? 10),
    '--retry-delays-s', o.retryDelaysS ?? '1,1,1',
  ];
  if (o.bug) args.push('--bug', o.bug);
  const child = spawn(PYTHON, args, {
    env: { PATH: '/usr/bin:/bin', REQUESTS_CA_BUNDLE: twin.caPath, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: stop() kills the interpreter and whatever it started
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  };
  try {
    const first = await Promise.race([
      createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next(),
      exited.then(() => ({ done: true as const, value: undefined })),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('python printer did not start within 20 s')), 20_000)),
    ]);
    if (first.done) throw new Error(`python printer ended at start: ${stderr}`);
    const url = (JSON.parse(first.value) as { driver: string }).driver;
    const driver = await connectDriver({ url, timeoutMs: 15_000 });
    return { url, driver, child, stderr: () => stderr, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Polls `probe` every 100 ms until it returns a value; bounded (wall time is what this printer runs on). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, withinMs: number): Promise<T> {
  const end = Date.now() + withinMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${withinMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Settings, START_AUTH, the twin approves the code: the printer ends up `authorized`. */
export async function signIn(twin: Twin, p: PythonPrinter): Promise<void> {
  await p.driver.saveSettings(OAUTH_SETTINGS);
  const started = await p.driver.send({ type: 'START_AUTH' });
  if (!started.accepted) throw new Error(`START_AUTH refused in ${started.state}: ${started.reason}`);
  const code = await eventually('a user code', async () => (await p.driver.status()).userCode ?? undefined, 15_000);
  twin.control.approveDeviceCode(code, 'scanner@contoso.com');
  await eventually('authorized', async () => ((await p.driver.status()).state === 'authorized' ? true : undefined), 20_000);
}
