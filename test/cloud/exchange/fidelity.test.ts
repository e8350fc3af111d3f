/**
 * Exchange fidelity (issue 11 item 7) as nodemailer — the device's own SMTP client, unmodified — sees it: the EHLO
 * list in Exchange's order before and after STARTTLS, STARTTLS's reply, DSN parameters accepted, a bracketed stamp
 * from the twin's (virtual) clock in January, and an idle session closed with Exchange's text. Python's smtplib checks
 * the same against the whole twin in test/cloud/exchange-fidelity-smtplib.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { inExchangeOrder } from '../../../src/cloud/exchange/ehlo.ts';
import { startExchangeTwin } from '../../../src/cloud/exchange/index.ts';
import { createFaultPlan } from '../../../src/cloud/faults.ts';
import { VirtualClock } from '../../../src/time/clock.ts';
import { ALICE, RawSmtp, SCANNER, scanMail, startHarness, transportFor, type TwinHarness } from './fixture.ts';

const EXCHANGE_EHLO_PLAIN = ['SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'STARTTLS', '8BITMIME', 'SMTPUTF8'];
const EXCHANGE_EHLO_TLS = ['SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'AUTH LOGIN XOAUTH2', '8BITMIME', 'SMTPUTF8'];

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness({ smtpGreetingDelayMs: 0 });
});
afterAll(async () => h?.close());

/** Every line the server sent and the client wrote, as nodemailer's transaction log records them. */
function serverLines() {
  const lines: string[] = [];
  const sent: string[] = [];
  const record = (meta: { tnx?: string }, ...msg: unknown[]) => {
    if (meta?.tnx === 'server') lines.push(...String(msg[0] ?? '').split(/\r?\n/));
    if (meta?.tnx === 'client') sent.push(String(msg[0] ?? ''));
  };
  const logger = { level: () => {}, trace: record, debug: record, info: record, warn: record, error: record, fatal: record };
  return { lines, sent, logger };
}

/** The EHLO replies' extension lines, in order (the first EHLO line is the greeting "<host> Hello [addr]"). */
function ehloReplies(lines: string[]): string[][] {
  const replies: string[][] = [];
  let current: string[] | null = null;
  for (const line of lines) {
    const m = /^250([- ])(.*)$/.exec(line);
    if (m && / Hello \[/.test(m[2]!) && !current) current = [];
    else if (m && current) current.push(m[2]!);
    if (m?.[1] === ' ' && current) {
      replies.push(current);
      current = null;
    }
  }
  return replies;
}

describe('Exchange fidelity, with nodemailer', () => {
  it("lists Exchange's extensions in Exchange's order before and after STARTTLS, and answers STARTTLS as Exchange", async () => {
    const { lines, logger } = serverLines();
    const conn = new SMTPConnection({ host: h.twin.host, port: h.twin.port, requireTLS: true, tls: { ca: h.ca }, debug: true, logger: logger as never });
    conn.on('error', () => {});
    // connect() calls back once the greeting, EHLO, STARTTLS and the second EHLO are done.
    await new Promise<void>((resolve) => conn.connect(() => resolve()));
    const closed = new Promise<void>((resolve) => conn.once('end', () => resolve()));
    conn.quit();
    await closed;
    expect(ehloReplies(lines)).toEqual([EXCHANGE_EHLO_PLAIN, EXCHANGE_EHLO_TLS]);
    expect(lines).toContain('220 2.0.0 SMTP server ready');
  });

  it('accepts DSN parameters (MAIL FROM RET= ENVID=, RCPT NOTIFY= ORCPT=), which EHLO advertises', async () => {
    const before = h.twin.mailStore.list(SCANNER).length;
    const { lines, sent, logger } = serverLines();
    const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER), { debug: true, logger: logger as never });
    const info = await transport.sendMail({ ...scanMail(SCANNER, ALICE), dsn: { id: 'job-0042', return: 'headers', notify: ['failure', 'delay'], recipient: SCANNER } });
    transport.close();
    expect(info.accepted).toEqual([ALICE]);
    expect(h.twin.mailStore.list(SCANNER)).toHaveLength(before + 1);
    // nodemailer sends the parameters only because EHLO listed DSN; both commands got 250.
    expect(sent).toContain(`MAIL FROM:<${SCANNER}> RET=HDRS ENVID=job-0042`);
    expect(sent.find((l) => l.startsWith(`RCPT TO:<${ALICE}>`))).toMatch(/ NOTIFY=FAILURE,DELAY ORCPT=rfc822;/);
    expect(lines.filter((l) => /^250 2\.1\.[05] /.test(l))).toHaveLength(2);
  });

  it('the deviation, as a client that ignores EHLO sees it: BDAT is an unknown command, BODY=BINARYMIME a bad parameter', async () => {
    const c = await RawSmtp.connect(h.twin.port);
    try {
      await c.reply();
      await c.startTls(h.ca);
      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
      expect(await c.command(`MAIL FROM:<${SCANNER}> BODY=BINARYMIME`)).toMatch(/^501 .*Invalid BODY parameter value/);
      expect(await c.command(`MAIL FROM:<${SCANNER}> BODY=8BITMIME SMTPUTF8`)).toMatch(/^250 /);
      expect(await c.command(`RCPT TO:<${ALICE}>`)).toMatch(/^250 /);
      expect(await c.command('BDAT 0 LAST')).toMatch(/^500 5\.5\.2 /);
      expect(await c.command('RSET')).toMatch(/^250 /); // the session goes on
    } finally {
      await c.quit();
    }
  });

  it("stamps a 5.7.139 refusal with the twin's clock (virtual, January), not wall time", async () => {
    await h.clock.advanceTo(Date.parse('2027-01-14T09:30:15.250Z'));
    h.directory.tenant.smtpAuthEnabled = false;
    try {
      const c = await RawSmtp.connect(h.twin.port);
      await c.reply();
      await c.startTls(h.ca);
      const reply = await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER));
      await c.quit();
      expect(reply).toMatch(/^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\. .* \[\S+\.prod\.outlook\.com 2027-01-14T09:30:15\.250Z [0-9A-F]{14}\]$/);
    } finally {
      h.directory.tenant.smtpAuthEnabled = true;
    }
  });

  it('closes a session left idle after 334 (inside AUTH LOGIN) with 451 4.7.0 Timeout waiting for client input', async () => {
    // A short timeout (two seconds of wall time: longer than a loaded machine's pauses between the steps before 334).
    const idle = await startHarness({ smtpGreetingDelayMs: 0, idleTimeoutMs: 2_000 });
    try {
      const c = await RawSmtp.connect(idle.twin.port);
      await c.reply();
      await c.startTls(idle.ca);
      expect(await c.command('AUTH LOGIN')).toMatch(/^334 /);
      // Wait for the server's own word (no timing asserted): its idle timeout, then the end of the connection.
      expect(await c.reply(30_000)).toBe('451 4.7.0 Timeout waiting for client input');
      expect(await c.reply(30_000)).toBeNull();
      expect(c.closed).toBe(true);
    } finally {
      await idle.close();
    }
  });

  it('refuses an idle timeout that is not a positive number, and starts nothing', async () => {
    const base = { host: '127.0.0.1', port: 0, tls: { key: '', cert: '' }, clock: new VirtualClock(), directory: h.directory, trust: { jwks: () => ({ keys: [] }), issuers: () => [] }, faults: createFaultPlan() };
    for (const idleTimeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(startExchangeTwin({ ...base, idleTimeoutMs })).rejects.toThrow(/idleTimeoutMs must be > 0/);
    }
  });
});

describe("Exchange's EHLO order", () => {
  it("reorders smtp-server's list, keeps what Exchange does not list at the end in the library's order, drops nothing", () => {
    const library = ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'AUTH LOGIN XOAUTH2', 'XCLIENT NAME ADDR', 'SIZE 157286400', 'XFORWARD NAME'];
    expect(inExchangeOrder(library)).toEqual([
      'SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'AUTH LOGIN XOAUTH2', '8BITMIME', 'SMTPUTF8', 'XCLIENT NAME ADDR', 'XFORWARD NAME',
    ]);
    expect(inExchangeOrder(['size 10', 'starttls'])).toEqual(['size 10', 'starttls']);
    expect(inExchangeOrder([])).toEqual([]);
  });
});
