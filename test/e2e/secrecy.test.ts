/** Tokens stay secret end to end: not in the NVRAM image, not in the logs — checked against the real token strings. */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MINUTE, cachedTokens, signIn, startE2E, submitScan, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** Long enough to be unique, short enough to catch a truncated copy. */
const fingerprints = (tokens: string[]) => tokens.flatMap((t) => [t, t.slice(-40)]);

describe('token secrecy', () => {
  it('after sign-in, refresh and a send, nvram.json and the pino logs contain no token text', async () => {
    sim = await startE2E();
    await signIn(sim);
    const seen = new Set<string>();
    const collect = () => {
      const t = cachedTokens(sim!);
      for (const s of [...t.accessTokens, ...t.refreshTokens, ...t.idTokens]) seen.add(s);
    };
    collect();
    await sim.advance(91 * MINUTE);
    await submitScan(sim);
    await sim.device.idle();
    collect();
    // Two grants: sign-in and refresh, each with access, refresh and id tokens.
    expect(seen.size).toBeGreaterThanOrEqual(5);
    const tokens = fingerprints([...seen]);

    const image = await readFile(path.join(sim.dir, 'nvram.json'), 'latin1');
    expect(image.length).toBeGreaterThan(1000);
    for (const t of tokens) expect(image.includes(t), 'token text in nvram.json').toBe(false);
    // The cache is there, sealed: it opens with the device key and holds the tokens.
    expect(image).toContain('msal-cache');

    const logs = sim.logs.join('');
    expect(logs).toContain('"msg":"transition"');
    expect(logs).toContain('message accepted');
    for (const t of tokens) expect(logs.includes(t), 'token text in the logs').toBe(false);
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/); // no JWT of any kind
  });
});
