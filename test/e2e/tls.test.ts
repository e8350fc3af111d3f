/**
 * A device that does not trust the twin's CA, over real sockets: msal-node reports only endpoints_resolution_error,
 * the adapter still says "tls" with the certificate error's code; the mail adapter says "tls" too. Also: routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceAdapters, resolveEndpoint, twinCloud } from '../../src/adapters/index.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { TokenCacheStore } from '../../src/device/ports.ts';
import { SCANNER, SCAN_PDF, startE2E, type E2ESim } from './support.ts';

let sim: E2ESim;
beforeAll(async () => {
  sim = await startE2E();
});
afterAll(async () => {
  await sim?.close();
});

/** A token cache store in memory (a test double for the runtime's NVRAM-backed one). */
function memoryCacheStore(): TokenCacheStore {
  let value: string | undefined;
  return { load: () => value, stage: (s) => void (value = s ?? undefined) };
}

describe('TLS and the simulated network', () => {
  it('routes Microsoft names to the twin, and leaves other hosts alone', () => {
    const cloud = twinCloud(sim.twin!);
    expect(resolveEndpoint(cloud.network, 'SMTP.Office365.com', 587)).toEqual(sim.twin!.smtp);
    expect(resolveEndpoint(cloud.network, 'smtp.office365.com', 25)).toEqual(sim.twin!.smtp);
    expect(resolveEndpoint(cloud.network, 'mail.example.com', 587)).toEqual({ host: 'mail.example.com', port: 587 });
    expect(sim.internals.adapters.oauth!.authority).toBe(sim.twin!.authority);
  });

  it('an untrusted Entra certificate: code-request-failed, reason unknown-ca, with the certificate error code', async () => {
    const cloud = { ...twinCloud(sim.twin!), network: { ...twinCloud(sim.twin!).network, caPem: null } };
    const adapters = createDeviceAdapters({ cloud, logger: silentLogger() });
    const { oauth } = adapters.ports(memoryCacheStore());
    const codes: unknown[] = [];
    await expect(
      oauth.signIn({ account: SCANNER, onCode: (c) => codes.push(c), cancel: { cancelled: false, onCancel: () => {} } }),
    ).rejects.toMatchObject({ kind: 'code-request-failed', reason: 'unknown-ca', code: { kind: 'socket', value: expect.stringMatching(/CERT|SIGNATURE|SELF_SIGNED/) } });
    expect(codes).toEqual([]);
    await adapters.shutdown();
  });

  it('an untrusted Exchange certificate after STARTTLS: SendFailure tls (unknown-ca), permanent', async () => {
    const cloud = { ...twinCloud(sim.twin!), network: { ...twinCloud(sim.twin!).network, caPem: null } };
    const adapters = createDeviceAdapters({ cloud, logger: silentLogger() });
    const { mail } = adapters.ports(memoryCacheStore());
    await expect(
      mail.submit({
        target: { host: 'smtp.office365.com', port: 587, secure: true, user: SCANNER },
        accessToken: 'not-a-token',
        message: {
          messageId: '<tls-test@mfp-sim.invalid>',
          from: SCANNER,
          to: ['admin@contoso.com'],
          subject: 'tls',
          text: '',
          attachments: [{ filename: 'scan.pdf', contentType: 'application/pdf', path: SCAN_PDF }],
        },
      }),
    ).rejects.toMatchObject({ category: 'tls', reason: 'unknown-ca', transient: false });
    await adapters.shutdown();
  });
});
