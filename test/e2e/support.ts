/**
 * End-to-end support: a whole simulator (device runtime + msal-node + nodemailer + twin over real loopback sockets)
 * on a virtual clock, its pino output captured, and the seed's steps as helpers. The twin fixture is the default
 * tenant with a 1 s polling interval, because msal-node polls on wall time, not on the virtual clock.
 */
import { cp, mkdir, mkdtemp, readFile, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { DEFAULT_TENANT_FILE } from '../../src/cloud/tenant-fixture.ts';
import { startSimulator } from '../../src/sim/simulator.ts';
import type { SimulatorOptions } from '../../src/sim/types.ts';
import type { DevicePorts } from '../../src/device/ports.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';
import type { JobRecord } from '../../src/nvram/schema.ts';
import { TOKEN_CACHE_SECRET } from '../../src/device/device.ts';

export const SCAN_PDF = fileURLToPath(new URL('../../fixtures/scans/scan-0001.pdf', import.meta.url));
export const SCANNER = 'scanner@contoso.com';
export const RECIPIENT = 'admin@contoso.com';
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** What the admin types on the panel: Microsoft's real names; the simulated network routes them to the twin. */
export const SETTINGS = {
  smtpServerName: 'smtp.office365.com',
  smtpPort: 587,
  useSecureConnection: true,
  authMethod: 'oauth2ExchangeOnline',
  authEmailAddress: SCANNER,
  authUsername: SCANNER,
  adminEmailAddress: SCANNER,
} as const;

export type E2ESim = Awaited<ReturnType<typeof startSimulator>> & { logs: string[]; dir: string };

/** The twin's certificates are made once per test run and copied into each simulator (key generation is slow). */
let certsDir: string | null = null;

export async function startE2E(
  opts: { patchTenant?: (fixture: Record<string, any>) => void; clientId?: string; wrapPorts?: SimulatorOptions['wrapPorts'] } = {},
): Promise<E2ESim> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-e2e-'));
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  fixture.deviceCode.intervalSeconds = 0.1;
  opts.patchTenant?.(fixture);
  const tenantFile = path.join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  if (certsDir && (await exists(path.join(certsDir, 'ca.pem')))) await cp(certsDir, path.join(dir, 'cloud'), { recursive: true });
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(s) } });
  const sim = await startSimulator({ stateDir: dir, cloud: { mode: 'twin', tenantFile, seed: 7, clientId: opts.clientId }, logger, wrapPorts: opts.wrapPorts });
  if (!certsDir) {
    certsDir = await mkdtemp(path.join(tmpdir(), 'mfp-e2e-certs-'));
    await mkdir(certsDir, { recursive: true });
    await cp(path.join(dir, 'cloud'), certsDir, { recursive: true });
  }
  return Object.assign(sim, { logs, dir });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Waits for the device's transition notice into one of `states` (at once if it is there already), then for the
 * device to settle. msal-node's polling runs outside device.idle(), so a sign-in's end comes only as a notice. The
 * bound (wall time) only turns a device that never gets there into a clear failure.
 */
export async function waitForState(sim: E2ESim, states: LeafState | LeafState[], boundMs = 30_000): Promise<void> {
  const want: LeafState[] = Array.isArray(states) ? states : [states];
  const device = sim.device;
  if (!want.includes(device.state())) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`device stayed in ${device.state()} (wanted ${want.join('|')}): ${JSON.stringify(device.status().lastError)}`));
      }, boundMs);
      const stop = device.subscribe((t) => {
        if (!want.includes(t.to)) return;
        clearTimeout(timer);
        stop();
        resolve();
      });
    });
  }
  await device.idle();
}

/** Settings → START_AUTH → code on the panel. Returns the user code. */
export async function startSignIn(sim: E2ESim, settings: Record<string, unknown> = SETTINGS): Promise<string> {
  await sim.device.saveSettings(settings);
  expect(sim.device.state()).toBe('ready');
  await sim.device.send({ type: 'START_AUTH' });
  await sim.device.idle();
  const status = sim.device.status();
  expect(status.state, JSON.stringify(status.lastError)).toBe('codePending');
  return status.userCode!;
}

/** The whole seed: settings, code, approval by the user (through the twin's control API), authorized. */
export async function signIn(sim: E2ESim, settings: Record<string, unknown> = SETTINGS): Promise<void> {
  const userCode = await startSignIn(sim, settings);
  const approved = sim.twin!.control.approveDeviceCode(userCode, String(settings.authUsername));
  expect(approved.state).toBe('approved');
  await waitForState(sim, 'authorized');
}

export async function submitScan(sim: E2ESim, subject = 'Scan 0001', to: string[] = [RECIPIENT]): Promise<JobRecord> {
  return sim.device.submitJob({
    to,
    subject,
    body: 'Scanned document attached.',
    attachments: [{ filename: 'scan-0001.pdf', contentType: 'application/pdf', path: SCAN_PDF }],
  });
}

/** Every token string in the device's MSAL cache (plaintext, read through the vault). */
export function cachedTokens(sim: E2ESim): { accessTokens: string[]; refreshTokens: string[]; idTokens: string[] } {
  const raw = sim.internals.nvram.secrets.get(TOKEN_CACHE_SECRET);
  if (!raw) return { accessTokens: [], refreshTokens: [], idTokens: [] };
  const cache = JSON.parse(raw) as Record<string, Record<string, { secret: string }>>;
  const secrets = (section: string) => Object.values(cache[section] ?? {}).map((e) => e.secret);
  return { accessTokens: secrets('AccessToken'), refreshTokens: secrets('RefreshToken'), idTokens: secrets('IdToken') };
}

export function jobOf(sim: E2ESim, id: string): JobRecord {
  const job = sim.device.job(id);
  if (!job) throw new Error(`no job ${id}`);
  return job;
}

/**
 * Ports that report when each sign-in call of the OAuth adapter (msal-node's device-code polling) has ended, however
 * it ended: `ended()` is the settled promise of the latest call. For tests that must know MSAL stopped polling.
 */
export function watchSignIns(): { wrapPorts: NonNullable<SimulatorOptions['wrapPorts']>; ended: () => Promise<unknown> } {
  let last: Promise<unknown> = Promise.reject(new Error('no sign-in was started'));
  last.catch(() => {});
  const wrap = (ports: DevicePorts): DevicePorts => {
    const oauth = ports.oauth;
    return {
      ...ports,
      oauth: {
        signIn: (args) => {
          const call = oauth.signIn(args);
          last = call.then(
            (grant) => ({ granted: grant.account }),
            (err: unknown) => err,
          );
          return call;
        },
        refresh: (args) => oauth.refresh(args),
        accessToken: (args) => oauth.accessToken(args),
      },
    };
  };
  return { wrapPorts: (build) => (tokenCache) => wrap(build(tokenCache)), ended: () => last };
}
