/**
 * House rule for issue 14's secrets: a basic-auth password (LOGIN and PLAIN, right and wrong), a client secret, a
 * client assertion and an app-only token never reach the twin's log, even at trace level.
 */
import { Writable } from 'node:stream';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTwin, type Twin } from '../../src/cloud/twin.ts';
import { DEFAULT_TENANT_FILE } from '../../src/cloud/tenant-fixture.ts';
import { VirtualClock } from '../../src/time/clock.ts';
import { RawSmtp } from './exchange/fixture.ts';

const PASSWORD = 'Scan-to-Email-2026!';
const WRONG = 'Wr0ng-Pa55word-Guess';
const SECRET = 'Xq8~AppOnly.Secret-Contoso-2026';
const APP = '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a';
const SCANNER = 'scanner@contoso.com';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let twin: Twin;
let agent: Agent;
const lines: string[] = [];

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'auth-methods-log-'));
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  const tenantFile = join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  twin = await startTwin({ stateDir: dir, tenantFile, clock: new VirtualClock(Date.parse('2026-12-30T09:00:00Z')), seed: 1, logger: pino({ level: 'trace' }, sink) });
  agent = new Agent({ connect: { ca: twin.caPem } });
});
afterAll(async () => {
  await agent?.close();
  await twin?.close();
});

it('logs basic and app-only logins without passwords, secrets, assertions or tokens', async () => {
  const res = await request(`${twin.authority}/oauth2/v2.0/token`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: APP, client_secret: SECRET, scope: 'https://outlook.office365.com/.default' }).toString(),
  });
  const token = ((await res.body.json()) as { access_token: string }).access_token;
  expect(token).toBeTruthy();

  const c = await RawSmtp.connect(twin.smtp.port);
  await c.reply();
  await c.startTls(twin.caPem);
  expect(await c.command(`AUTH PLAIN ${b64(`\x00${SCANNER}\x00${WRONG}`)}`)).toMatch(/^535 5\.7\.3 /);
  await c.command('AUTH LOGIN');
  await c.command(b64(SCANNER));
  expect(await c.command(b64(PASSWORD))).toMatch(/^235 /);
  await c.quit();
  const d = await RawSmtp.connect(twin.smtp.port);
  await d.reply();
  await d.startTls(twin.caPem);
  expect(await d.authXoauth2(SCANNER, token)).toMatch(/^235 /);
  await d.quit();

  const log = lines.join('');
  expect(log).toContain('"msg":"C:"'); // the client's SMTP lines are logged (masked): the check below means something
  for (const secret of [PASSWORD, WRONG, b64(PASSWORD), b64(`\x00${SCANNER}\x00${WRONG}`), SECRET, encodeURIComponent(SECRET), token, token.split('.')[2]!]) {
    expect(log, 'a secret reached the log').not.toContain(secret);
  }
});
