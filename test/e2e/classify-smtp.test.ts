/**
 * The SMTP classifier's table (pure unit test; it lives with the e2e suite because test/e2e is this module's test
 * area). Every reply in microsoft-protocol-facts.md, plus transport and TLS failures as nodemailer reports them.
 */
import { describe, expect, it } from 'vitest';
import { classifySmtp, enhancedCodeOf, smtpFactsOf } from '../../src/adapters/mail/classify.ts';

const host = 'SN2PR00CA0018.namprd00.prod.outlook.com';
const diag = `[${host} 2026-01-05T08:00:00.000Z 08DE1A2B3C4D5E]`;

describe('classifySmtp: Exchange Online replies', () => {
  it.each([
    [`535 5.7.3 Authentication unsuccessful [${host}]`, 'auth-rejected', false, '5.7.3'],
    [`535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ${diag}`, 'smtp-auth-disabled', false, '5.7.139'],
    [`535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. ${diag}`, 'smtp-auth-disabled', false, '5.7.139'],
    [`535 5.7.139 Authentication unsuccessful, basic authentication is disabled. ${diag}`, 'smtp-auth-disabled', false, '5.7.139'],
    [`535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. ${diag}`, 'smtp-auth-disabled', false, '5.7.139'],
    ['550 5.7.30 Basic authentication is not supported for Client Submission', 'smtp-auth-disabled', false, '5.7.30'],
    ['530 5.7.57 Client not authenticated to send mail.', 'auth-rejected', false, '5.7.57'],
    ['550 5.7.60 SMTP; Client does not have permissions to send as this sender', 'send-as-denied', false, '5.7.60'],
    ['554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.', 'send-as-denied', false, '5.2.0'],
    ['550 5.2.252 Sender throttled due to continuous send as denied errors.', 'send-as-denied', false, '5.2.252'],
    ['550 5.2.251 Sender throttled due to continuous send as denied errors.', 'send-as-denied', false, '5.2.251'],
    ['432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.', 'throttled', true, '4.3.2'],
    ['554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded', 'quota', false, '5.2.2'],
    ['550 5.4.5 Daily user sending quota exceeded.', 'quota', false, '5.4.5'],
    ['552 5.3.4 Message size exceeds fixed maximum message size', 'other', false, '5.3.4'],
    ['535 5.7.8  Authentication credentials invalid.', 'auth-rejected', false, '5.7.8'],
    ['554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException', 'other', false, '5.2.0'],
    ['451 4.7.0 Temporary server error. Please try again later', 'other', true, '4.7.0'],
    ['421 4.3.2 Service not available, closing transmission channel', 'throttled', true, '4.3.2'],
    ['421 Service not available', 'network', true, '421'],
    ['500 5.5.2 Error: command not recognized', 'other', false, '5.5.2'],
  ] as const)('%s', (reply, category, transient, code) => {
    const responseCode = Number(reply.slice(0, 3));
    const f = classifySmtp({ code: 'EAUTH', responseCode, response: reply });
    expect({ category: f.category, transient: f.transient, code: f.code, reply: f.reply }).toEqual({ category, transient, code, reply });
  });

  it('reads the basic code from the reply when nodemailer gives no responseCode', () => {
    expect(classifySmtp({ code: 'EENVELOPE', response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' })).toMatchObject({
      category: 'send-as-denied',
      transient: false,
    });
  });

  it('enhancedCodeOf', () => {
    expect(enhancedCodeOf('535 5.7.139 Authentication unsuccessful')).toBe('5.7.139');
    expect(enhancedCodeOf('250-2.0.0 OK')).toBe('2.0.0');
    expect(enhancedCodeOf('421 Service not available')).toBeNull();
    expect(enhancedCodeOf(undefined)).toBeNull();
  });
});

describe('classifySmtp: connections and TLS', () => {
  it.each([
    [{ code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:587' }, 'network', true, 'ECONNREFUSED'],
    [{ code: 'ESOCKET', originalCode: 'ECONNRESET', message: 'read ECONNRESET' }, 'network', true, 'ECONNRESET'],
    [{ code: 'ETIMEDOUT', message: 'Greeting never received' }, 'network', true, 'ETIMEDOUT'],
    [{ code: 'ECONNECTION', message: 'Connection closed unexpectedly' }, 'network', true, 'ECONNECTION'],
    [{ code: 'EDNS', originalCode: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND smtp.office365.com' }, 'network', true, 'ENOTFOUND'],
    [{ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' }, 'tls', false, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    [{ code: 'ESOCKET', originalCode: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }, 'tls', false, 'SELF_SIGNED_CERT_IN_CHAIN'],
    [{ code: 'ESOCKET', originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, 'tls', false, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    [{ code: 'ESOCKET', originalCode: 'ERR_SSL_UNSUPPORTED_PROTOCOL', message: 'unsupported protocol' }, 'tls', false, 'ERR_SSL_UNSUPPORTED_PROTOCOL'],
    [{ code: 'ETLS', message: 'Error initiating TLS - STARTTLS not offered' }, 'tls', false, 'ETLS'],
    [{ code: 'ETLS', originalCode: 'ECONNRESET', message: 'Error initiating TLS - read ECONNRESET' }, 'network', true, 'ECONNRESET'],
    [{ code: 'EAUTH', message: "Can't create new access token for user" }, 'auth-rejected', false, 'EAUTH'],
    [{ code: 'EMESSAGE', originalCode: 'ENOENT', message: 'ENOENT: no such file' }, 'other', false, 'EMESSAGE'],
    [{ message: 'something odd' }, 'other', true, null],
  ] as const)('%o', (facts, category, transient, code) => {
    const f = classifySmtp(facts);
    expect({ category: f.category, transient: f.transient, code: f.code }).toEqual({ category, transient, code });
  });

  it('smtpFactsOf reads nodemailer error fields', () => {
    const err = Object.assign(new Error('Invalid login: 535 5.7.3 Authentication unsuccessful'), {
      code: 'EAUTH',
      responseCode: 535,
      response: '535 5.7.3 Authentication unsuccessful',
      command: 'AUTH XOAUTH2',
    });
    expect(smtpFactsOf(err)).toEqual({
      code: 'EAUTH',
      originalCode: undefined,
      responseCode: 535,
      response: '535 5.7.3 Authentication unsuccessful',
      message: 'Invalid login: 535 5.7.3 Authentication unsuccessful',
    });
  });
});
