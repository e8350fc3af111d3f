/** The daily recipient limit (10,000 per mailbox per rolling 24 h on the twin clock), over a real session. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ALICE, RawSmtp, SCANNER, startHarness, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function rcptBatch(c: RawSmtp, n: number, offset: number): Promise<string[]> {
  let batch = '';
  for (let i = 0; i < n; i++) batch += `RCPT TO:<r${offset + i}@fabrikam.example>\r\n`;
  c.write(batch);
  const replies: string[] = [];
  for (let i = 0; i < n; i++) replies.push((await c.reply())!);
  return replies;
}

it('refuses the 10,001st recipient of the day with 550 5.4.5, and allows again a day later', async () => {
  const c = await RawSmtp.connect(h.twin.port);
  try {
    await c.reply();
    await c.startTls(h.ca);
    expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toMatch(/^235 /);
    expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^250 /);
    const first = await rcptBatch(c, 9_999, 0);
    expect(first.every((r) => r.startsWith('250 '))).toBe(true);
    expect(await c.command(`RCPT TO:<${ALICE}>`)).toMatch(/^250 /); // the 10,000th
    expect(await c.command('RCPT TO:<one-too-many@fabrikam.example>')).toBe('550 5.4.5 Daily user sending quota exceeded.');
    expect(await c.command('DATA')).toMatch(/^354 /);
    expect(await c.command(`From: ${SCANNER}\r\nSubject: many\r\n\r\nhi\r\n.`)).toMatch(/^250 2\.0\.0 OK/);

    // The 10,000 count now: a new transaction cannot add anyone.
    expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^250 /);
    expect(await c.command(`RCPT TO:<${ALICE}>`)).toBe('550 5.4.5 Daily user sending quota exceeded.');
    expect(await c.command('RSET')).toMatch(/^250 /);

    await h.clock.advance(24 * 3600_000);
    expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^250 /);
    expect(await c.command(`RCPT TO:<${ALICE}>`)).toMatch(/^250 /);
  } finally {
    await c.quit();
  }
});
