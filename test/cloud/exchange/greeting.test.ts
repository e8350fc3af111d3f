/**
 * The pause before the SMTP greeting (smtp-server's early-talker check): 100 ms by default like the library and a
 * real server, configurable down to 0 for long simulations. A client that talks before the greeting is refused
 * either way. Timing bounds are one-sided where a loaded machine could only make things slower.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ExchangeSmtpServer } from '../../../src/cloud/exchange/exchange-smtp-server.ts';
import { VirtualClock } from '../../../src/time/clock.ts';
import { ALICE, RawSmtp, SCANNER, scanMail, startHarness, transportFor, type TwinHarness } from './fixture.ts';

const harnesses: TwinHarness[] = [];
afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
});

async function harness(smtpGreetingDelayMs?: number): Promise<TwinHarness> {
  const h = await startHarness(smtpGreetingDelayMs === undefined ? {} : { smtpGreetingDelayMs });
  harnesses.push(h);
  return h;
}

/** Wall milliseconds from connect to the 220 greeting. */
async function greetingAfter(h: TwinHarness): Promise<{ ms: number; reply: string | null }> {
  const c = await RawSmtp.connect(h.twin.port);
  const started = performance.now();
  const reply = await c.reply();
  const ms = performance.now() - started;
  await c.quit();
  return { ms, reply };
}

describe('greeting delay', () => {
  it('waits smtp-server\'s 100 ms by default and the configured time otherwise', async () => {
    const byDefault = await greetingAfter(await harness());
    expect(byDefault.reply).toMatch(/^220 .* Microsoft ESMTP MAIL Service ready at /);
    expect(byDefault.ms).toBeGreaterThanOrEqual(95);
    const longer = await greetingAfter(await harness(400));
    expect(longer.ms).toBeGreaterThanOrEqual(395);
  });

  it('greets at once with 0, and a submission still goes through', async () => {
    const h = await harness(0);
    const timings: number[] = [];
    for (let i = 0; i < 3; i++) timings.push((await greetingAfter(h)).ms);
    // The default pause alone is 100 ms; at least one of three greetings comes well before it, even on a busy machine.
    expect(Math.min(...timings)).toBeLessThan(60);
    const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER));
    await transport.sendMail(scanMail(SCANNER, ALICE));
    transport.close();
    expect(h.twin.mailStore.list(SCANNER)).toHaveLength(1);
  });

  it('still refuses a client that talks before the greeting', async () => {
    const h = await harness(300);
    const c = await RawSmtp.connect(h.twin.port);
    c.write('EHLO early.example\r\n');
    expect(await c.reply()).toMatch(/^421 .*You talk too soon/);
  });

  it('refuses a negative or non-finite delay', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ExchangeSmtpServer({}, new VirtualClock(), bad)).toThrow(RangeError);
    }
  });
});
