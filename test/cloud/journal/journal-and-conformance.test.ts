/**
 * The wire journal and the conformance report over real sockets: a misbehaving client is flagged by exactly the rule
 * it breaks, with the journal entries that show it; secrets never reach the journal; bad queries are refused with
 * RFC 7807 problems; JUnit output parses with one testcase per rule.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { VirtualClock } from '../../../src/time/clock.ts';
import { CONFORMANCE_RULE_IDS, conformanceReport } from '../../../src/cloud/journal/conformance.ts';
import { WireJournal } from '../../../src/cloud/journal/wire-journal.ts';
import { SMTP_SCOPE, api, oauth, startTestTwin, type TestTwin } from '../helpers.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
let twin: TestTwin;
let clock: VirtualClock;

beforeAll(async () => {
  clock = new VirtualClock();
  twin = await startTestTwin({ clock, patch: (f) => (f.deviceCode.intervalSeconds = 5) });
}, 120_000); // a twin start on a loaded machine can take longer than the 30 s default
afterAll(async () => {
  await twin?.close();
});

const lastSeq = () => twin.journal.list().at(-1)?.seq ?? 0;
async function report(since: number) {
  const res = await api(twin, 'GET', `/_twin/conformance?since=${since}`);
  expect(res.status).toBe(200);
  return res.json as { passed: boolean; rules: { id: string; verdict: string; evidence: number[]; findings: string[] }[] };
}
const failing = (r: Awaited<ReturnType<typeof report>>) => r.rules.filter((x) => x.verdict === 'fail').map((x) => x.id);

async function newCode() {
  const res = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: `${SMTP_SCOPE} offline_access` });
  expect(res.status).toBe(200);
  return res.json as { device_code: string; user_code: string; interval: number };
}
const poll = (deviceCode: string) => oauth(twin, '/oauth2/v2.0/token', { grant_type: DEVICE_GRANT, client_id: twin.clientId, device_code: deviceCode });

/** A line-by-line SMTP talker over plain TCP (bounded: every wait gives up after 5 s). */
function smtpTalk(port: number) {
  const sock = connect({ host: '127.0.0.1', port });
  let buf = '';
  const waiters: (() => void)[] = [];
  sock.on('data', (d) => {
    buf += d;
    waiters.splice(0).forEach((w) => w());
  });
  const reply = () =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply; got ${JSON.stringify(buf)}`)), 5000);
      const check = () => {
        const m = /^(?:\d{3}-.*\r\n)*\d{3} .*\r\n/.exec(buf);
        if (!m) return void waiters.push(check);
        buf = buf.slice(m[0].length);
        clearTimeout(timer);
        resolve(m[0]);
      };
      check();
    });
  return { reply, send: (line: string) => sock.write(`${line}\r\n`), close: () => sock.destroy() };
}

describe('the wire journal', () => {
  it('journals OAuth requests with grant type, client_id, status, error and AADSTS, and never a code or secret', async () => {
    const since = lastSeq();
    const code = await newCode();
    const res = await poll(code.device_code);
    expect(res.json.error).toBe('authorization_pending');
    const j = await api(twin, 'GET', `/_twin/journal?kind=http&since=${since}`);
    expect(j.status).toBe(200);
    const [req, pollEntry] = j.json.entries;
    expect(req).toMatchObject({ kind: 'http', method: 'POST', path: `/${twin.tenantId}/oauth2/v2.0/devicecode`, clientId: twin.clientId, status: 200, interval: 5, client: '127.0.0.1' });
    expect(pollEntry).toMatchObject({ grantType: DEVICE_GRANT, status: 400, error: 'authorization_pending', aadsts: 70016 });
    expect(JSON.stringify(j.json)).not.toContain(code.device_code);
    expect(JSON.stringify(j.json)).not.toContain(code.user_code);
    expect(j.json).toMatchObject({ capacity: expect.any(Number), dropped: 0 });
  });

  it('exports NDJSON, one parseable entry per line, filtered by client', async () => {
    const res = await api(twin, 'GET', '/_twin/journal?format=ndjson&client=127.0.0.1');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^application\/x-ndjson/);
    const lines = res.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((e) => e.client === '127.0.0.1' && typeof e.seq === 'number')).toBe(true);
    const none = await api(twin, 'GET', '/_twin/journal?client=10.9.9.9');
    expect(none.json.entries).toEqual([]);
  });

  it('refuses bad filters with an RFC 7807 problem and changes nothing', async () => {
    const before = twin.journal.list().length;
    for (const q of ['kind=ftp', 'since=-1', 'since=abc', 'format=xml', 'bogus=1', 'client=', `client=${'a'.repeat(321)}`]) {
      const res = await api(twin, 'GET', `/_twin/journal?${q}`);
      expect(res.status, q).toBe(400);
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
      expect(res.json).toMatchObject({ type: 'about:blank', title: 'Bad request', status: 400, detail: expect.any(String) });
    }
    expect((await api(twin, 'GET', '/_twin/conformance?format=pdf')).status).toBe(400);
    expect(twin.journal.list().length).toBe(before);
  });

  it('is a bounded ring that counts what it dropped', () => {
    const j = new WireJournal(() => 0, 3);
    for (let i = 0; i < 5; i++) j.add({ kind: 'smtp', client: '127.0.0.1', session: 's', command: 'NOOP' });
    expect(j.list().map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(j.dropped).toBe(2);
    expect(() => new WireJournal(() => 0, 0)).toThrow(RangeError);
  });

  it('lists the new routes in the OpenAPI document', async () => {
    const doc = (await api(twin, 'GET', '/_twin/openapi.json')).json;
    expect(doc.paths['/_twin/journal'].get.parameters.map((p: any) => p.name).sort()).toEqual(['client', 'format', 'kind', 'since']);
    expect(doc.paths['/_twin/conformance'].get.parameters.map((p: any) => p.name).sort()).toEqual(['client', 'format', 'kind', 'since']);
    expect(doc.paths['/_twin/journal.html'].get.parameters.map((p: any) => p.name).sort()).toEqual(['client', 'kind', 'since']);
  });
});

describe('the conformance report flags a misbehaving client by exactly its rule', () => {
  it('polling every second against a 5 s interval → device-code.poll-interval, with the polls as evidence', async () => {
    const since = lastSeq();
    const code = await newCode();
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) {
      await clock.advance(1000);
      await poll(code.device_code);
      seqs.push(lastSeq());
    }
    const r = await report(since);
    expect(failing(r)).toEqual(['device-code.poll-interval']);
    const rule = r.rules.find((x) => x.id === 'device-code.poll-interval')!;
    expect(rule.evidence).toEqual(expect.arrayContaining(seqs));
  });

  it('a client that keeps the interval passes; one that ignores slow_down is flagged', async () => {
    let since = lastSeq();
    const code = await newCode();
    for (let i = 0; i < 2; i++) {
      await clock.advance(5000);
      await poll(code.device_code);
    }
    expect(failing(await report(since))).toEqual([]);
    expect((await report(since)).rules.find((x) => x.id === 'device-code.poll-interval')!.verdict).toBe('pass');

    since = lastSeq();
    const c2 = await newCode();
    const added = await api(twin, 'POST', '/_twin/faults', { target: 'token', count: 1, action: { kind: 'error', error: 'slow_down', aadsts: 70016, status: 400 } });
    expect(added.status, added.text).toBe(201);
    await clock.advance(5000);
    const first = await poll(c2.device_code);
    await clock.advance(5000); // should have been 10 s after slow_down
    await poll(c2.device_code);
    expect(first.json.error).toBe('slow_down');
    expect(failing(await report(since))).toEqual(['device-code.slow-down']);
  });

  it('polling on after authorization_declined → device-code.stop-polling', async () => {
    const since = lastSeq();
    const code = await newCode();
    twin.control.declineDeviceCode(code.user_code);
    await clock.advance(5000);
    expect((await poll(code.device_code)).json.error).toBe('authorization_declined');
    await clock.advance(5000);
    await poll(code.device_code);
    const after = lastSeq();
    const r = await report(since);
    expect(failing(r)).toEqual(['device-code.stop-polling']);
    expect(r.rules.find((x) => x.id === 'device-code.stop-polling')!.evidence).toContain(after);
  });

  it('AUTH before STARTTLS → smtp.starttls-before-auth, with the AUTH entry as evidence', async () => {
    const since = lastSeq();
    const s = smtpTalk(twin.smtp.port);
    try {
      expect(await s.reply()).toMatch(/^220 /);
      s.send('EHLO misbehaving.printer');
      await s.reply();
      s.send('AUTH XOAUTH2 dXNlcj1hQGIBYXV0aD1CZWFyZXIgeHgBAQ==');
      expect(await s.reply()).toMatch(/^5\d\d /);
      s.send('QUIT');
      await s.reply().catch(() => '');
    } finally {
      s.close();
    }
    const entries = twin.journal.list({ kind: 'smtp', since });
    const auth = entries.find((e) => e.kind === 'smtp' && e.command === 'AUTH')!;
    expect(auth).toMatchObject({ mechanism: 'XOAUTH2', outcome: 'refused' });
    expect(entries.find((e) => e.kind === 'smtp' && e.command === 'EHLO')).toMatchObject({ ehlo: 'misbehaving.printer', reply: 250 });
    expect(JSON.stringify(entries)).not.toContain('dXNlcj1h'); // the SASL payload is a secret
    const r = await report(since);
    expect(failing(r)).toEqual(['smtp.starttls-before-auth']);
    expect(r.rules.find((x) => x.id === 'smtp.starttls-before-auth')!.evidence).toEqual([auth.seq]);
  });

  it('a new Message-ID per resend of one job → smtp.one-message-id-per-job (journal-level check)', () => {
    const j = new WireJournal(() => 0);
    const msg = (session: string, messageId: string, reply: number) => {
      j.add({ kind: 'smtp', client: '10.0.0.9', session, command: 'MAIL', mailFrom: 'scanner@contoso.com', reply: 250 });
      j.add({ kind: 'smtp', client: '10.0.0.9', session, command: 'RCPT', rcptTo: 'admin@contoso.com', reply: 250 });
      return j.add({ kind: 'smtp', client: '10.0.0.9', session, command: 'MESSAGE', messageId, size: 10, reply });
    };
    const a = msg('s1', '<a@x>', 451);
    const b = msg('s2', '<b@x>', 250);
    const r = conformanceReport(j.list());
    expect(r.rules.filter((x) => x.verdict === 'fail').map((x) => x.id)).toEqual(['smtp.one-message-id-per-job']);
    expect(r.rules.find((x) => x.id === 'smtp.one-message-id-per-job')!.evidence).toEqual([a.seq, b.seq]);
  });

  it('retrying AUTH after 5.7.139 → smtp.no-retry-5.7.139 (journal-level check)', () => {
    const j = new WireJournal(() => 0);
    j.add({ kind: 'smtp', client: '10.0.0.9', session: 's1', command: 'TLS', tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } });
    const first = j.add({ kind: 'smtp', client: '10.0.0.9', session: 's1', command: 'AUTH', mechanism: 'XOAUTH2', reply: 535, enhanced: '5.7.139', outcome: 'refused' });
    j.add({ kind: 'smtp', client: '10.0.0.9', session: 's2', command: 'TLS', tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } });
    const again = j.add({ kind: 'smtp', client: '10.0.0.9', session: 's2', command: 'AUTH', mechanism: 'XOAUTH2', reply: 535, enhanced: '5.7.139', outcome: 'refused' });
    const r = conformanceReport(j.list());
    expect(r.rules.filter((x) => x.verdict === 'fail').map((x) => x.id)).toEqual(['smtp.no-retry-5.7.139']);
    expect(r.rules.find((x) => x.id === 'smtp.no-retry-5.7.139')!.evidence).toEqual([first.seq, again.seq]);
  });

  it('switching from a password to XOAUTH2 after 5.7.139 (basic auth off) is the remedy, not a retry; a second password AUTH is', () => {
    const j = new WireJournal(() => 0);
    const tls = (session: string) => j.add({ kind: 'smtp', client: '10.0.0.9', session, command: 'TLS', tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } });
    tls('s1');
    const basic = j.add({ kind: 'smtp', client: '10.0.0.9', session: 's1', command: 'AUTH', mechanism: 'LOGIN', upn: 'scanner@contoso.com', reply: 535, enhanced: '5.7.139', outcome: 'refused' });
    tls('s2');
    j.add({ kind: 'smtp', client: '10.0.0.9', session: 's2', command: 'AUTH', mechanism: 'XOAUTH2', upn: 'scanner@contoso.com', reply: 235, outcome: 'accepted' });
    const rule = () => conformanceReport(j.list()).rules.find((x) => x.id === 'smtp.no-retry-5.7.139')!;
    expect(rule().verdict).toBe('pass');
    tls('s3');
    const again = j.add({ kind: 'smtp', client: '10.0.0.9', session: 's3', command: 'AUTH', mechanism: 'PLAIN', upn: 'scanner@contoso.com', reply: 535, enhanced: '5.7.139', outcome: 'refused' });
    expect(rule().verdict).toBe('fail');
    expect(rule().evidence).toEqual([basic.seq, again.seq]);
  });
});

describe('the journal page', () => {
  it('shows the verdicts and a table per client, escapes what clients sent, and runs no script', async () => {
    const s = smtpTalk(twin.smtp.port);
    try {
      expect(await s.reply()).toMatch(/^220 /);
      s.send('EHLO <script>alert(1)</script>');
      await s.reply();
      s.send('QUIT');
      await s.reply().catch(() => '');
    } finally {
      s.close();
    }
    const res = await api(twin, 'GET', '/_twin/journal.html');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
    expect(String(res.headers['content-security-policy'])).toContain("default-src 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.text).not.toMatch(/<script/i);
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.text).toContain('<h2 id="client-0">Client 127.0.0.1</h2>');
    // Every rule is listed; a failing rule's evidence links to the rows that show it.
    for (const id of CONFORMANCE_RULE_IDS) expect(res.text).toContain(`<code>${id}</code>`);
    const link = /href="#seq-(\d+)"/.exec(res.text);
    expect(link).not.toBeNull();
    expect(res.text).toContain(`id="seq-${link![1]}"`);
    // A browser asking /_twin/journal gets the same page; asking for a format gets that format.
    const { request } = await import('undici');
    const browse = async (path: string) => {
      const r = await request(`${twin.entraUrl}${path}`, { dispatcher: twin.agent, headers: { accept: 'text/html,application/xhtml+xml' } });
      return { type: String(r.headers['content-type']), text: await r.body.text() };
    };
    expect((await browse('/_twin/journal')).type).toMatch(/^text\/html/);
    expect((await browse('/_twin/journal?format=json')).type).toMatch(/^application\/json/);
    const filtered = await api(twin, 'GET', '/_twin/journal.html?kind=http&client=10.9.9.9');
    expect(filtered.text).toContain('No entries yet.');
    const bad = await api(twin, 'GET', '/_twin/journal.html?kind=ftp');
    expect(bad.status).toBe(400);
    expect(String(bad.headers['content-type'])).toMatch(/^application\/problem\+json/);
  });

  it('filters by client_id or UPN as well as by address', async () => {
    const byApp = await api(twin, 'GET', `/_twin/journal?client=${twin.clientId.toUpperCase()}`);
    expect(byApp.json.entries.length).toBeGreaterThan(0);
    expect(byApp.json.entries.every((e: { clientId?: string }) => e.clientId === twin.clientId)).toBe(true);
  });
});

describe('rules read only what they know', () => {
  it('entries of other kinds (holds) pass through the rules and the page', async () => {
    const j = new WireJournal(() => 0);
    j.add({ kind: 'hold.timeout', client: '10.0.0.9', target: 'token', ms: 30000 } as never);
    const r = conformanceReport(j.list());
    expect(r.passed).toBe(true);
    expect(r.rules.every((x) => x.verdict === 'not-applicable')).toBe(true);
    const { journalEta, journalPage } = await import('../../../src/cloud/journal/journal-page.ts');
    const html = journalPage(journalEta(), { entries: j.list(), capacity: 10, dropped: 0, now: 0, report: r });
    expect(html).toContain('hold.timeout');
    expect(html).toContain('&quot;target&quot;:&quot;token&quot;');
  });

  it('two printers behind one address are told apart by the account of each token answer', () => {
    const j = new WireJournal(() => Date.parse('2026-01-05T08:00:00Z'));
    const token = (upn: string, grantType: string) =>
      j.add({ kind: 'http', client: '10.0.0.9', method: 'POST', path: '/t/oauth2/v2.0/token', grantType, clientId: 'app', status: 200, expiresIn: 3600, upn, durationMs: 1 });
    token('a@contoso.com', 'urn:ietf:params:oauth:grant-type:device_code');
    token('b@contoso.com', 'refresh_token'); // b's own token is old (before the journal): not an early refresh
    expect(conformanceReport(j.list()).rules.find((x) => x.id === 'token.no-early-refresh')!.verdict).toBe('not-applicable');
    const early = token('a@contoso.com', 'refresh_token');
    const r = conformanceReport(j.list()).rules.find((x) => x.id === 'token.no-early-refresh')!;
    expect(r.verdict).toBe('fail');
    expect(r.evidence).toEqual([1, early.seq]);
  });

  it('TLS older than 1.2 → smtp.starttls-before-auth (journal-level: the twin itself refuses such a handshake)', () => {
    const j = new WireJournal(() => 0);
    const tls = j.add({ kind: 'smtp', client: '10.0.0.9', session: 's1', command: 'TLS', tls: { version: 'TLSv1.1', cipher: 'ECDHE-RSA-AES128-SHA' } });
    j.add({ kind: 'smtp', client: '10.0.0.9', session: 's1', command: 'AUTH', mechanism: 'XOAUTH2', reply: 235, outcome: 'accepted', upn: 'scanner@contoso.com' });
    const r = conformanceReport(j.list());
    expect(r.rules.filter((x) => x.verdict === 'fail').map((x) => x.id)).toEqual(['smtp.starttls-before-auth']);
    expect(r.rules.find((x) => x.id === 'smtp.starttls-before-auth')!.evidence).toEqual([tls.seq]);
  });
});

describe('report formats', () => {
  it('--format junit parses as JUnit XML with one testcase per rule, failures where rules fail', async () => {
    const res = await api(twin, 'GET', '/_twin/conformance?format=junit');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^application\/xml/);
    const xml = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testcase' || name === 'testsuite' }).parse(res.text);
    const cases = xml.testsuites.testsuite.flatMap((s: any) => s.testcase);
    expect(cases.map((c: any) => c['@_name']).sort()).toEqual([...CONFORMANCE_RULE_IDS].sort());
    const failed = cases.filter((c: any) => c.failure !== undefined).map((c: any) => c['@_name']);
    expect(failed).toEqual(expect.arrayContaining(['device-code.poll-interval', 'device-code.stop-polling', 'smtp.starttls-before-auth']));
    const text = await api(twin, 'GET', '/_twin/conformance?format=text');
    expect(text.text).toMatch(/^conformance: FAIL/);
    expect(text.text).toContain('RFC 8628 §3.5');
  });
});
