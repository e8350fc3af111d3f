/**
 * Scripted clients that misbehave on purpose, over real sockets (undici for OAuth, nodemailer for SMTP): each is
 * flagged by exactly the rule it breaks (every other rule passes or is not applicable) with the journal entries that
 * show it, and the same client behaving well passes. Time is the twin's virtual clock, advanced by the script.
 */
import nodemailer, { type SendMailOptions } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/time/clock.ts';
import type { JournalEntry, SmtpJournalEntry } from '../../../src/cloud/journal/wire-journal.ts';
import { SMTP_SCOPE, api, oauth, startTestTwin, type TestTwin } from '../helpers.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const SCANNER = 'scanner@contoso.com';
const SCOPE = `${SMTP_SCOPE} offline_access`;
let twin: TestTwin;
let clock: VirtualClock;

beforeAll(async () => {
  clock = new VirtualClock();
  twin = await startTestTwin({ clock, patch: (f) => (f.deviceCode.intervalSeconds = 5) });
}, 120_000); // a twin start on a loaded machine can take longer than the 30 s default
afterAll(async () => {
  await twin?.close();
});

interface Report {
  passed: boolean;
  rules: { id: string; verdict: string; evidence: number[]; findings: string[] }[];
}
const lastSeq = () => twin.journal.list().at(-1)?.seq ?? 0;
/** The last token request of a grant: by kind, not as the journal's last entry (a connection's close may follow it). */
const lastGrantSeq = (grantType: string) => twin.journal.list().filter((e) => e.kind === 'http' && e.grantType === grantType).at(-1)?.seq ?? 0;
async function report(since: number): Promise<Report> {
  const res = await api(twin, 'GET', `/_twin/conformance?since=${since}`);
  expect(res.status).toBe(200);
  return res.json as Report;
}
/** The rule ids that fail, and the evidence of the one expected. */
async function flagged(since: number, rule: string) {
  const r = await report(since);
  const failing = r.rules.filter((x) => x.verdict === 'fail');
  expect(failing.map((x) => x.id), JSON.stringify(failing)).toEqual([rule]);
  return r.rules.find((x) => x.id === rule)!;
}
const entries = (since: number) => twin.journal.list({ since });
const smtpEntries = (since: number, command: string) => entries(since).filter((e): e is SmtpJournalEntry => e.kind === 'smtp' && e.command === command);
const seqOf = (e: JournalEntry | undefined) => e!.seq;

async function newCode(scope = SCOPE) {
  const res = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope });
  expect(res.status).toBe(200);
  return res.json as { device_code: string; user_code: string; interval: number; expires_in: number };
}
const poll = (deviceCode: string) => oauth(twin, '/oauth2/v2.0/token', { grant_type: DEVICE_GRANT, client_id: twin.clientId, device_code: deviceCode });

/** A sign-in done right: code, approval, one poll after the interval. */
async function signIn(upn = SCANNER): Promise<{ access_token: string; refresh_token: string; expires_in: number }> {
  const code = await newCode();
  expect(twin.control.approveDeviceCode(code.user_code, upn).state).toBe('approved');
  await clock.advance(5000);
  const res = await poll(code.device_code);
  expect(res.status, res.text).toBe(200);
  return res.json;
}
const refresh = (refreshToken: string) =>
  oauth(twin, '/oauth2/v2.0/token', { grant_type: 'refresh_token', client_id: twin.clientId, refresh_token: refreshToken, scope: SCOPE });

function transport(user: string, accessToken: string) {
  return nodemailer.createTransport({
    host: twin.smtp.host,
    port: twin.smtp.port,
    secure: false,
    requireTLS: true,
    auth: { type: 'OAuth2', user, accessToken },
    tls: { ca: twin.caPem, minVersion: 'TLSv1.2' },
    connectionTimeout: 5000,
    greetingTimeout: 5000,
  } as SMTPTransport.Options);
}
/** One submission on its own connection; resolves with the reply or the refusal (never throws). */
async function send(user: string, accessToken: string, mail: SendMailOptions = {}): Promise<{ ok: boolean; code?: number; text: string }> {
  const t = transport(user, accessToken);
  try {
    const info = await t.sendMail({ from: user, to: 'admin@contoso.com', subject: 'Scan', text: 'Scanned document attached.', ...mail });
    return { ok: true, text: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, text: e.response ?? e.message };
  } finally {
    t.close();
  }
}

describe('device-code misbehaviour, each flagged by exactly its rule', () => {
  it('a first poll straight after the code (as MSAL for Python does), then one per interval, passes', async () => {
    const since = lastSeq();
    const code = await newCode();
    await poll(code.device_code);
    await clock.advance(5000);
    await poll(code.device_code);
    const r = await report(since);
    expect(r.rules.find((x) => x.id === 'device-code.poll-interval')!.verdict).toBe('pass');
    expect(r.passed).toBe(true);
  });

  it('polling on after the code expired → device-code.stop-polling', async () => {
    const since = lastSeq();
    const code = await newCode();
    await clock.advance((code.expires_in + 5) * 1000);
    const first = await poll(code.device_code);
    expect(first.json.error).toMatch(/^(code_expired|expired_token)$/);
    await clock.advance(5000);
    await poll(code.device_code);
    const rule = await flagged(since, 'device-code.stop-polling');
    expect(rule.evidence).toContain(lastSeq());
  });

  it('a new code while one is pending, both polled → device-code.no-new-code-while-pending; abandoning one (a cancel) passes', async () => {
    let since = lastSeq();
    const a = await newCode();
    await clock.advance(5000);
    await poll(a.device_code);
    await newCode();
    const second = lastSeq();
    await clock.advance(5000);
    await poll(a.device_code);
    const rule = await flagged(since, 'device-code.no-new-code-while-pending');
    expect(rule.evidence).toEqual(expect.arrayContaining([second, lastSeq()]));

    // A cancel and a new sign-in: the old code is never polled again.
    since = lastSeq();
    const c = await newCode();
    await clock.advance(5000);
    await poll(c.device_code);
    const d = await newCode();
    await clock.advance(5000);
    await poll(d.device_code);
    const r = await report(since);
    expect(r.rules.find((x) => x.id === 'device-code.no-new-code-while-pending')!.verdict).toBe('pass');
    expect(r.passed).toBe(true);
  });

  it('a code request without offline_access → device-code.offline-access', async () => {
    const since = lastSeq();
    await newCode(SMTP_SCOPE);
    const rule = await flagged(since, 'device-code.offline-access');
    expect(rule.evidence).toEqual([lastSeq()]);
  });

  it('polling on through a 429 with Retry-After → http.retry-after', async () => {
    const since = lastSeq();
    const code = await newCode();
    const f = await api(twin, 'POST', '/_twin/faults', { target: 'token', count: 1, action: { kind: 'throttle', retryAfterSeconds: 30 } });
    expect(f.status, f.text).toBe(201);
    await clock.advance(5000);
    const throttled = await poll(code.device_code);
    expect(throttled.status).toBe(429);
    const throttledSeq = lastSeq();
    expect(twin.journal.list({ since: throttledSeq - 1 })[0]).toMatchObject({ status: 429, retryAfter: 30 });
    await clock.advance(5000); // Retry-After said 30 s
    await poll(code.device_code);
    const rule = await flagged(since, 'http.retry-after');
    expect(rule.evidence).toEqual([throttledSeq, lastSeq()]);

    // Waiting the 30 s passes.
    const ok = lastSeq();
    const c2 = await newCode();
    await api(twin, 'POST', '/_twin/faults', { target: 'token', count: 1, action: { kind: 'throttle', retryAfterSeconds: 30 } });
    await clock.advance(5000);
    await poll(c2.device_code);
    await clock.advance(30_000);
    await poll(c2.device_code);
    const r = await report(ok);
    expect(r.rules.find((x) => x.id === 'http.retry-after')!.verdict).toBe('pass');
    expect(r.passed).toBe(true);
  });
});

describe('token misbehaviour', () => {
  it('refreshing before every send → token.no-early-refresh; sending on the cached token passes', async () => {
    let since = lastSeq();
    let tokens = await signIn();
    const refreshes: number[] = [];
    for (const i of [1, 2]) {
      await clock.advance(60_000);
      const res = await refresh(tokens.refresh_token);
      expect(res.status, res.text).toBe(200);
      refreshes.push(lastGrantSeq('refresh_token'));
      tokens = res.json;
      expect((await send(SCANNER, tokens.access_token, { subject: `Scan ${i}` })).ok).toBe(true);
    }
    const rule = await flagged(since, 'token.no-early-refresh');
    expect(rule.evidence).toEqual(expect.arrayContaining(refreshes));

    since = lastSeq();
    tokens = await signIn();
    for (const i of [1, 2]) {
      await clock.advance(60_000);
      expect((await send(SCANNER, tokens.access_token, { subject: `Cached ${i}` })).ok).toBe(true);
    }
    const r = await report(since);
    expect(r.rules.find((x) => x.id === 'token.no-early-refresh')!.verdict).toBe('not-applicable');
    expect(r.rules.find((x) => x.id === 'token.refresh-before-expiry')!.verdict).toBe('pass');
    expect(r.passed).toBe(true);
  });

  it('presenting an access token after it expired → token.refresh-before-expiry', async () => {
    const since = lastSeq();
    const tokens = await signIn();
    await clock.advance((tokens.expires_in + 60) * 1000);
    const res = await send(SCANNER, tokens.access_token);
    expect(res).toMatchObject({ ok: false, code: 535 });
    expect(res.text).toMatch(/5\.7\.3/);
    const auth = smtpEntries(since, 'AUTH').at(-1);
    const rule = await flagged(since, 'token.refresh-before-expiry');
    expect(rule.evidence).toContain(seqOf(auth));
  });
});

describe('SMTP misbehaviour', () => {
  it('retrying AUTH after 5.7.139 → smtp.no-retry-5.7.139, with both refusals', async () => {
    const since = lastSeq();
    const tokens = await signIn('nosmtp@contoso.com');
    for (let i = 0; i < 2; i++) {
      const res = await send('nosmtp@contoso.com', tokens.access_token, { from: 'nosmtp@contoso.com' });
      expect(res.text).toMatch(/5\.7\.139/);
    }
    const auths = smtpEntries(since, 'AUTH').filter((e) => e.outcome === 'refused');
    expect(auths.map((a) => a.upn)).toEqual(['nosmtp@contoso.com', 'nosmtp@contoso.com']);
    const rule = await flagged(since, 'smtp.no-retry-5.7.139');
    expect(rule.evidence).toEqual(auths.map((a) => a.seq));
  });

  it('retrying MAIL FROM a mailbox without Send As after 5.7.60 → smtp.no-retry-5.7.60', async () => {
    const since = lastSeq();
    const tokens = await signIn();
    for (let i = 0; i < 2; i++) {
      const res = await send(SCANNER, tokens.access_token, { from: 'megan@contoso.com' });
      expect(res.text).toMatch(/5\.7\.60/);
    }
    const mails = smtpEntries(since, 'MAIL');
    expect(mails.map((m) => [m.mailFrom, m.enhanced])).toEqual([
      ['megan@contoso.com', '5.7.60'],
      ['megan@contoso.com', '5.7.60'],
    ]);
    const rule = await flagged(since, 'smtp.no-retry-5.7.60');
    expect(rule.evidence).toEqual(mails.map((m) => m.seq));
  });

  it('resubmitting at once after 5.2.2 (mailbox full) → smtp.no-retry-5.2.2', async () => {
    const since = lastSeq();
    const tokens = await signIn();
    twin.control.patchUser(SCANNER, { mailboxFull: true });
    try {
      for (let i = 0; i < 2; i++) expect((await send(SCANNER, tokens.access_token, { subject: 'Full', messageId: '<full-1@printer>' })).text).toMatch(/5\.2\.2/);
    } finally {
      twin.control.patchUser(SCANNER, { mailboxFull: false });
    }
    const refused = smtpEntries(since, 'MESSAGE')[0];
    expect(refused).toMatchObject({ reply: 554, enhanced: '5.2.2', messageId: '<full-1@printer>', upn: SCANNER });
    const rule = await flagged(since, 'smtp.no-retry-5.2.2');
    expect(rule.evidence[0]).toBe(refused!.seq);
  });

  it('retrying AUTH with the same refused token after 5.7.3 → smtp.no-retry-5.7.3', async () => {
    const since = lastSeq();
    for (let i = 0; i < 2; i++) expect((await send(SCANNER, 'not-a-token-at-all')).text).toMatch(/5\.7\.3/);
    const auths = smtpEntries(since, 'AUTH').filter((e) => e.outcome === 'refused');
    const rule = await flagged(since, 'smtp.no-retry-5.7.3');
    expect(rule.evidence).toEqual(auths.map((a) => a.seq));
  });

  it('a 5.7.3, a fresh token and one more try passes; trying again after the fresh token was refused too is flagged', async () => {
    const since = lastSeq();
    expect((await send(SCANNER, 'expired-or-foreign-token')).text).toMatch(/5\.7\.3/);
    const tokens = await signIn();
    expect((await send(SCANNER, tokens.access_token)).ok).toBe(true);
    expect((await report(since)).passed).toBe(true);

    // Exchange refuses the fresh token too (here by a fault): one more AUTH without a new sign-in is flagged.
    const again = lastSeq();
    const refused = { target: 'smtp.auth', count: 2, action: { kind: 'reply', reply: '535 5.7.3 Authentication unsuccessful' } };
    expect((await api(twin, 'POST', '/_twin/faults', refused)).status).toBe(201);
    expect((await send(SCANNER, tokens.access_token)).text).toMatch(/5\.7\.3/);
    await clock.advance(60_000);
    const res = await refresh(tokens.refresh_token);
    expect(res.status).toBe(200);
    expect((await send(SCANNER, res.json.access_token)).text).toMatch(/5\.7\.3/);
    await clock.advance(60_000);
    expect((await send(SCANNER, res.json.access_token)).ok).toBe(true);
    const auths = smtpEntries(again, 'AUTH');
    const rule = await flagged(again, 'smtp.no-retry-5.7.3');
    expect(rule.evidence).toEqual([auths[1]!.seq, auths[2]!.seq]);
  });

  it('resending at once after 432 4.3.2 → smtp.backoff-4.3.2; waiting 30 s passes', async () => {
    let since = lastSeq();
    const tokens = await signIn();
    const throttle = { target: 'smtp.mail', count: 1, action: { kind: 'reply', reply: '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.' } };
    expect((await api(twin, 'POST', '/_twin/faults', throttle)).status).toBe(201);
    expect((await send(SCANNER, tokens.access_token)).text).toMatch(/4\.3\.2/);
    expect((await send(SCANNER, tokens.access_token)).ok).toBe(true);
    const rule = await flagged(since, 'smtp.backoff-4.3.2');
    const throttled = smtpEntries(since, 'MAIL').find((m) => m.enhanced === '4.3.2');
    expect(rule.evidence[0]).toBe(throttled!.seq);

    since = lastSeq();
    expect((await api(twin, 'POST', '/_twin/faults', throttle)).status).toBe(201);
    expect((await send(SCANNER, tokens.access_token)).text).toMatch(/4\.3\.2/);
    await clock.advance(30_000);
    expect((await send(SCANNER, tokens.access_token)).ok).toBe(true);
    const r = await report(since);
    expect(r.rules.find((x) => x.id === 'smtp.backoff-4.3.2')!.verdict).toBe('pass');
    expect(r.passed).toBe(true);
  });

  it('four connections at once for one mailbox → smtp.max-connections (the twin refuses the fourth with 4.3.2)', async () => {
    const since = lastSeq();
    const tokens = await signIn();
    // MAIL FROM waits 1.5 s (wall) on the first three, so all four sessions are open together.
    expect((await api(twin, 'POST', '/_twin/faults', { target: 'smtp.mail', count: 3, action: { kind: 'delay', ms: 1500 } })).status).toBe(201);
    const results = await Promise.all([1, 2, 3, 4].map((i) => send(SCANNER, tokens.access_token, { subject: `Parallel ${i}` })));
    await api(twin, 'DELETE', '/_twin/faults');
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.find((r) => !r.ok)!.text).toMatch(/4\.3\.2/);
    const auths = smtpEntries(since, 'AUTH');
    const rule = await flagged(since, 'smtp.max-connections');
    expect(rule.evidence.sort()).toEqual(auths.map((a) => a.seq).sort());
    expect(smtpEntries(since, 'CLOSE')).toHaveLength(4);
  });

  it('a resend of one job with a new Message-ID → smtp.one-message-id-per-job; keeping it passes', async () => {
    for (const [messageIds, rule] of [
      [['<job-7@printer>', '<job-7-resend@printer>'], 'smtp.one-message-id-per-job'],
      [['<job-8@printer>', '<job-8@printer>'], null],
    ] as const) {
      const since = lastSeq();
      const tokens = await signIn();
      twin.control.patchUser(SCANNER, { mailboxFull: true });
      const mail = { subject: `Job ${messageIds[0]}`, text: 'Scanned document attached.', attachments: [{ filename: 'scan.pdf', content: Buffer.from('%PDF-1.4') }] };
      expect((await send(SCANNER, tokens.access_token, { ...mail, messageId: messageIds[0] })).text).toMatch(/5\.2\.2/);
      twin.control.patchUser(SCANNER, { mailboxFull: false });
      await clock.advance(11 * 60_000); // the operator freed the mailbox and pressed Retry: not a blind retry
      const again = await signIn();
      expect((await send(SCANNER, again.access_token, { ...mail, messageId: messageIds[1] })).ok).toBe(true);
      const messages = smtpEntries(since, 'MESSAGE');
      expect(messages[0]!.digest).toBe(messages[1]!.digest);
      if (rule) expect((await flagged(since, rule)).evidence).toEqual(messages.map((m) => m.seq));
      else expect((await report(since)).passed).toBe(true);
    }
  });
});

describe('the journal carries what the rules read, and no secrets', () => {
  it('codeRef ties polls to their code without the code; token answers carry expiresIn and upn', async () => {
    const since = lastSeq();
    const code = await newCode();
    twin.control.approveDeviceCode(code.user_code, SCANNER);
    await clock.advance(5000);
    const res = await poll(code.device_code);
    const [req, answer] = entries(since);
    expect(req).toMatchObject({ codeRef: expect.stringMatching(/^[0-9a-f]{12}$/), expiresIn: code.expires_in });
    expect(answer).toMatchObject({ codeRef: (req as { codeRef: string }).codeRef, status: 200, expiresIn: res.json.expires_in, upn: SCANNER });
    const text = JSON.stringify(entries(since));
    for (const secret of [code.device_code, code.user_code, res.json.access_token, res.json.refresh_token, res.json.id_token]) expect(text).not.toContain(secret);
  });
});
