/**
 * Printers of one fleet slice share one TLS context per trust store content (src/adapters/tls/deviceTls.ts
 * TrustContextCache): the same SecureContext object while their stores hold the same roots, a context of its own
 * as soon as a printer's store differs — and the check stays each printer's: over a real handshake with the twin,
 * the printer that deleted the twin's root is refused while its neighbour on the shared context connects.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustContextCache, type DeviceTls } from '../../src/adapters/tls/deviceTls.ts';
import { startSimulator, type Simulator, type SimulatorInternals } from '../../src/sim/simulator.ts';
import { startTwin, type Twin } from '../../src/cloud/twin.ts';
import { DEFAULT_TENANT_FILE } from '../../src/cloud/tenant-fixture.ts';
import { VirtualClock } from '../../src/time/clock.ts';
import { silentLogger } from '../../src/log/logger.ts';

type Sim = Simulator & { internals: SimulatorInternals };
let dir: string;
let twin: Twin;
const sims: Sim[] = [];
const clock = new VirtualClock();
const shared = new TrustContextCache();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mfp-tls-sharing-'));
  const tenantFile = path.join(dir, 'tenant.json');
  await writeFile(tenantFile, await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  twin = await startTwin({ stateDir: path.join(dir, 'cloud'), clock, tenantFile, seed: 1, logger: silentLogger(), smtpGreetingDelayMs: 0 });
}, 120_000);

afterAll(async () => {
  for (const s of sims) await s.close();
  await twin?.close();
  await rm(dir, { recursive: true, force: true });
});

async function printer(name: string, tlsContexts?: TrustContextCache): Promise<Sim> {
  const sim = await startSimulator({ stateDir: path.join(dir, name), clock, cloud: { mode: 'twin' }, twin, logger: silentLogger(), ...(tlsContexts ? { tlsContexts } : {}) });
  sims.push(sim);
  return sim;
}

const tlsOf = (s: Sim): DeviceTls => s.internals.adapters.tls;

/** A TLS handshake with the twin's Entra endpoint on the printer's own options: 'connected' or the refusal. */
function handshake(s: Sim): Promise<string> {
  const url = new URL(twin.entraUrl);
  return new Promise((resolve) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), servername: 'login.microsoftonline.com', ...tlsOf(s).connectOptions() });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: Error & { reason?: string; code?: string }) => {
      socket.destroy();
      resolve(err.reason ?? err.code ?? err.message);
    });
  });
}

describe('TLS contexts shared within a slice', () => {
  it('two printers with the same store use one context object; a printer without the cache has its own', async () => {
    const a = await printer('a', shared);
    const b = await printer('b', shared);
    const alone = await printer('alone');
    expect(tlsOf(a)).not.toBe(tlsOf(b)); // each printer keeps its own judgement (clock, store)
    expect(tlsOf(a).current()).toBe(tlsOf(b).current());
    expect(tlsOf(a).connectOptions().secureContext).toBe(tlsOf(b).connectOptions().secureContext);
    expect(tlsOf(alone).current()).not.toBe(tlsOf(a).current());
    expect(shared.size).toBe(1);
    expect(await handshake(a)).toBe('connected');
    expect(await handshake(b)).toBe('connected');
  });

  it('a printer whose store changed gets a context of its own and is refused; its neighbour still connects', async () => {
    const [a, b] = sims;
    const [root] = a!.trustStore.list();
    await a!.trustStore.remove(root!.fingerprint);
    expect(tlsOf(a!).current()).not.toBe(tlsOf(b!).current());
    expect(shared.size).toBe(2);
    expect(await handshake(a!)).not.toBe('connected');
    expect(await handshake(b!)).toBe('connected');
    // Importing the root back: the same content as the neighbour's store, so the shared context again.
    await a!.trustStore.importPem(twin.caPem);
    expect(tlsOf(a!).current()).toBe(tlsOf(b!).current());
    expect(await handshake(a!)).toBe('connected');
  });
});
