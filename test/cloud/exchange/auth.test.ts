import { generateKeyPair } from 'jose';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, SCANNER, scanMail, sendExpectingError, startHarness, transportFor, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const HOST = String.raw`[A-Z0-9]+\.namprd\d\d\.prod\.outlook\.com`;
const BAD_TOKEN = new RegExp(String.raw`^535 5\.7\.3 Authentication unsuccessful \[${HOST}\]$`);
/** The bracketed tail of 5.7.139 replies: host, timestamp on the twin's clock, id. */
const diag = () => String.raw`\[${HOST} ${new Date(h.clock.now()).toISOString().replace(/\./g, '\\.')} [0-9A-F]{14}\]`;

async function authFailure(user: string, token: string) {
  const err = await sendExpectingError(transportFor(h, user, token), scanMail(user, ALICE));
  expect(err.code).toBe('EAUTH');
  return err;
}

async function expectBadToken(user: string, token: string) {
  const err = await authFailure(user, token);
  expect(err.responseCode).toBe(535);
  expect(err.response).toMatch(BAD_TOKEN);
}

describe('XOAUTH2 token verification (535 5.7.3)', () => {
  it('refuses a token signed with a key the Entra twin did not publish', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    await expectBadToken(SCANNER, await h.sign({ upn: SCANNER }, privateKey)); // same kid, wrong key
    await expectBadToken(SCANNER, await h.sign({ upn: SCANNER }, privateKey, 'unknown-kid'));
  });

  it('refuses a token for another audience, and accepts the outlook.office365.com alias', async () => {
    await expectBadToken(SCANNER, await h.tokenFor(SCANNER, { aud: 'https://graph.microsoft.com' }));
    const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER, { aud: 'https://outlook.office365.com' }));
    await expect(transport.sendMail(scanMail(SCANNER, ALICE))).resolves.toMatchObject({ response: expect.stringMatching(/^250 /) });
    transport.close();
  });

  it('refuses a token from another issuer', async () => {
    await expectBadToken(SCANNER, await h.tokenFor(SCANNER, { iss: 'https://sts.windows.net/ffffffff-0000-0000-0000-000000000000/' }));
  });

  it('refuses a token without the SMTP.Send scope', async () => {
    await expectBadToken(SCANNER, await h.tokenFor(SCANNER, { scp: 'Mail.Read IMAP.AccessAsUser.All' }));
    await expectBadToken(SCANNER, await h.tokenFor(SCANNER, { scp: undefined }));
  });

  it('refuses a token whose upn is not the SASL user', async () => {
    await expectBadToken(ALICE, await h.tokenFor(SCANNER));
  });

  it('refuses something that is not a JWT at all', async () => {
    await expectBadToken(SCANNER, 'not-a-token');
  });

  it('refuses a token for a user the directory does not know, and one for a disabled user', async () => {
    await expectBadToken('ghost@contoso.example', await h.tokenFor('ghost@contoso.example'));
    h.directory.patch(ALICE, { enabled: false });
    try {
      await expectBadToken(ALICE, await h.tokenFor(ALICE));
    } finally {
      h.directory.patch(ALICE, { enabled: true });
    }
  });

  it('judges expiry on the twin clock: the same token works, then fails once the clock passes exp', async () => {
    const token = await h.tokenFor(SCANNER); // exp = now + 3600 s on the virtual clock
    const transport = transportFor(h, SCANNER, token);
    await transport.sendMail(scanMail(SCANNER, ALICE));
    transport.close();

    await h.clock.advance(3599_000);
    const stillValid = transportFor(h, SCANNER, token);
    await stillValid.sendMail(scanMail(SCANNER, ALICE));
    stillValid.close();

    await h.clock.advance(2_000);
    await expectBadToken(SCANNER, token);
  });
});

describe('tenant and mailbox policy (535 5.7.139)', () => {
  it('SMTP AUTH off for the tenant refuses a mailbox that follows the tenant', async () => {
    h.directory.tenant.smtpAuthEnabled = false;
    try {
      const err = await authFailure(SCANNER, await h.tokenFor(SCANNER));
      expect(err.responseCode).toBe(535);
      expect(err.response).toMatch(
        new RegExp(
          String.raw`^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\. Visit https://aka\.ms/smtp_auth_disabled for more information\. ${diag()}$`,
        ),
      );
    } finally {
      h.directory.tenant.smtpAuthEnabled = true;
    }
  });

  it('a per-mailbox true overrides a tenant false', async () => {
    h.directory.tenant.smtpAuthEnabled = false;
    h.directory.patch(SCANNER, { smtpAuthEnabled: true });
    try {
      const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER));
      await transport.sendMail(scanMail(SCANNER, ALICE));
      transport.close();
    } finally {
      h.directory.tenant.smtpAuthEnabled = true;
      h.directory.patch(SCANNER, { smtpAuthEnabled: null });
    }
  });

  it('a per-mailbox false refuses with the Mailbox variant even when the tenant allows it', async () => {
    h.directory.patch(SCANNER, { smtpAuthEnabled: false });
    try {
      const err = await authFailure(SCANNER, await h.tokenFor(SCANNER));
      expect(err.responseCode).toBe(535);
      expect(err.response).toMatch(
        new RegExp(
          String.raw`^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox\. Visit https://aka\.ms/smtp_auth_disabled for more information\. ${diag()}$`,
        ),
      );
    } finally {
      h.directory.patch(SCANNER, { smtpAuthEnabled: null });
    }
  });

  it('security defaults lock SMTP AUTH even for an allowed mailbox', async () => {
    h.directory.tenant.securityDefaults = true;
    h.directory.patch(SCANNER, { smtpAuthEnabled: true });
    try {
      const err = await authFailure(SCANNER, await h.tokenFor(SCANNER));
      expect(err.responseCode).toBe(535);
      expect(err.response).toMatch(
        new RegExp(String.raw`^535 5\.7\.139 Authentication unsuccessful, user is locked by your organization's security defaults policy\. ${diag()}$`),
      );
    } finally {
      h.directory.tenant.securityDefaults = false;
      h.directory.patch(SCANNER, { smtpAuthEnabled: null });
    }
  });

  it('basic authentication (AUTH LOGIN with a password) is refused', async () => {
    const transport = nodemailer.createTransport({
      host: h.twin.host,
      port: h.twin.port,
      secure: false,
      requireTLS: true,
      auth: { user: SCANNER, pass: 'Password1!' },
      authMethod: 'LOGIN',
      tls: { ca: h.ca, minVersion: 'TLSv1.2' },
    });
    const err = await sendExpectingError(transport, scanMail(SCANNER, ALICE));
    expect(err.code).toBe('EAUTH');
    expect(err.responseCode).toBe(535);
    expect(err.response).toMatch(new RegExp(String.raw`^535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled\. ${diag()}$`));
  });
});
