import { it } from 'vitest';
import { ALICE, SCANNER, scanMail, startHarness, transportFor } from './fixture.ts';
it('measure', async () => {
  const h = await startHarness();
  const token = await h.tokenFor(SCANNER);
  for (let i = 0; i < 5; i++) { const t = transportFor(h, SCANNER, token); await t.sendMail(scanMail(SCANNER, ALICE)); t.close(); }
  let t0 = performance.now();
  const N = 100;
  for (let i = 0; i < N; i++) { const t = transportFor(h, SCANNER, token); await t.sendMail(scanMail(SCANNER, ALICE)); t.close(); }
  const seq = (performance.now() - t0) / N;
  const users = Array.from({ length: 10 }, (_, i) => `u${i}@contoso.example`);
  for (const u of users) h.directory.add(u);
  const tokens = await Promise.all(users.map((u) => h.tokenFor(u)));
  t0 = performance.now();
  await Promise.all(users.flatMap((u, i) => [0, 1, 2].map(async () => { for (let k = 0; k < 10; k++) { const t = transportFor(h, u, tokens[i]!); await t.sendMail(scanMail(u, ALICE)); t.close(); } })));
  const conc = performance.now() - t0;
  console.log(`sequential: ${seq.toFixed(1)} ms/send (new TLS connection each); concurrent 30 connections x 10 sends: ${(300 / (conc / 1000)).toFixed(0)} sends/s`);
  const big = scanMail(SCANNER, ALICE, { attachments: [{ filename: 'big.pdf', content: Buffer.alloc(10 * 1024 * 1024, 0x41) }] });
  t0 = performance.now(); const t = transportFor(h, SCANNER, token); await t.sendMail(big); t.close();
  console.log(`10 MiB attachment: ${(performance.now() - t0).toFixed(0)} ms; rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
  await h.close();
}, 120_000);
