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
    [`535 5.7.139 Authentication unsuccessful, basic authentication is disabled. ${diag}`, 'basic-auth-disabled', false, '5.7.139'],
    [`535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. ${diag}`, 'smtp-auth-disabled', false, '5.7.139'],
    ['550 5.7.30 Basic authentication is not supported for Client Submission', 'basic-auth-disabled', false, '5.7.30'],
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
    // Only 5.2.251–5.2.255 are the send-as throttle; their neighbours are not.
    ['550 5.2.253 Sender throttled due to continuous send as denied errors.', 'send-as-denied', false, '5.2.253'],
    ['550 5.2.255 Sender throttled due to continuous send as denied errors.', 'send-as-denied', false, '5.2.255'],
    ['550 5.2.250 Mailbox unavailable', 'other', false, '5.2.250'],
    ['550 5.2.256 Mailbox unavailable', 'other', false, '5.2.256'],
    ['550 5.2.25 Mailbox unavailable', 'other', false, '5.2.25'],
    // Servers that send no enhanced code (not Exchange): the basic code and the words decide.
    ['535 Authentication failed', 'auth-rejected', false, '535'],
    ['450 Too many connections, try again later', 'throttled', true, '450'],
    ['451 Server busy', 'throttled', true, '451'],
    ['452 Hourly limit exceeded', 'throttled', true, '452'],
    ['454 Throttling: slow down', 'throttled', true, '454'],
    ['550 Too many recipients', 'other', false, '550'],
    ['400 4.4.1 Connection timed out', 'other', true, '4.4.1'],
    ['499 Try again', 'other', true, '499'],
    ['400 Server busy', 'throttled', true, '400'],
    ['500 Too many commands', 'other', false, '500'],
  ] as const)('%s', (reply, category, transient, code) => {
    const responseCode = Number(reply.slice(0, 3));
    const f = classifySmtp({ code: 'EAUTH', responseCode, response: reply });
    expect({ category: f.category, transient: f.transient, code: f.code, reply: f.reply }).toEqual({ category, transient, code: { kind: 'smtp', value: code }, reply });
  });

  it('reads the basic code from the reply when nodemailer gives no responseCode', () => {
    expect(classifySmtp({ code: 'EENVELOPE', response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' })).toMatchObject({
      category: 'send-as-denied',
      transient: false,
    });
  });

  it('a response code without a reply line still classifies, and stands in for the reply', () => {
    const f = classifySmtp({ code: 'EAUTH', responseCode: 535 });
    expect({ category: f.category, transient: f.transient, code: f.code, reply: f.reply }).toEqual({
      category: 'auth-rejected',
      transient: false,
      code: { kind: 'smtp', value: '535' },
      reply: '535',
    });
    expect(classifySmtp({ code: 'EENVELOPE', responseCode: 452 })).toMatchObject({ category: 'other', transient: true, code: { kind: 'smtp', value: '452' } });
  });

  it('the reply line is kept without its line ending; a failure without words has a null reply', () => {
    expect(classifySmtp({ code: 'EAUTH', responseCode: 535, response: '535 5.7.3 Authentication unsuccessful\r\n' }).reply).toBe('535 5.7.3 Authentication unsuccessful');
    expect(classifySmtp({ code: 'ETIMEDOUT' }).reply).toBeNull();
  });

  it('a reply below 400 is not a refusal: the error is classified from nodemailer’s code', () => {
    expect(classifySmtp({ code: 'ECONNECTION', responseCode: 250, response: '250 2.0.0 OK' })).toMatchObject({ category: 'network', transient: true, code: { kind: 'nodemailer', value: 'ECONNECTION' } });
    expect(classifySmtp({ code: 'EMESSAGE', response: '354 Start mail input' })).toMatchObject({ category: 'other', transient: false, code: { kind: 'nodemailer', value: 'EMESSAGE' } });
  });

  it('enhancedCodeOf', () => {
    expect(enhancedCodeOf('  535 5.7.3 Authentication unsuccessful\r\n')).toBe('5.7.3');
    expect(enhancedCodeOf('550 5.2.252 Sender throttled')).toBe('5.2.252');
    expect(enhancedCodeOf('550 6.7.3 not a class')).toBeNull();
    expect(enhancedCodeOf('550 5.7.1234 too many digits')).toBeNull();
    expect(enhancedCodeOf('5.7.3 no basic code')).toBeNull();
    expect(enhancedCodeOf('Error: 550 5.7.1 relay denied')).toBeNull();
    expect(enhancedCodeOf('535 5.7.139 Authentication unsuccessful')).toBe('5.7.139');
    expect(enhancedCodeOf('250-2.0.0 OK')).toBe('2.0.0');
    expect(enhancedCodeOf('421 Service not available')).toBeNull();
    expect(enhancedCodeOf(undefined)).toBeNull();
  });
});

describe('classifySmtp: the reason of a TLS failure', () => {
  it.each([
    [{ code: 'ETLS', originalCode: 'CERT_NOT_YET_VALID', message: 'certificate is valid from 2025-01-01' }, 'cert-not-yet-valid'],
    [{ code: 'ETLS', originalCode: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, 'cert-expired'],
    [{ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' }, 'unknown-ca'],
    [{ code: 'ESOCKET', originalCode: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', message: 'no root issued it' }, 'unknown-ca'],
    [{ code: 'ESOCKET', originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, 'hostname-mismatch'],
    [{ code: 'ESOCKET', originalCode: 'ERR_SSL_UNSUPPORTED_PROTOCOL', message: 'unsupported protocol' }, 'protocol'],
    [{ message: 'certificate has expired' }, 'cert-expired'],
    [{ code: 'ETLS', message: 'Error initiating TLS - STARTTLS not offered' }, 'protocol'],
  ] as const)('%o → %s', (facts, reason) => {
    expect(classifySmtp(facts)).toMatchObject({ category: 'tls', transient: false, reason });
  });
});

describe('classifySmtp: connections and TLS', () => {
  it.each([
    [{ code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:587' }, 'network', true, { kind: 'socket', value: 'ECONNREFUSED' }],
    [{ code: 'ESOCKET', originalCode: 'ECONNRESET', message: 'read ECONNRESET' }, 'network', true, { kind: 'socket', value: 'ECONNRESET' }],
    [{ code: 'ETIMEDOUT', message: 'Greeting never received' }, 'network', true, { kind: 'nodemailer', value: 'ETIMEDOUT' }],
    [{ code: 'ECONNECTION', message: 'Connection closed unexpectedly' }, 'network', true, { kind: 'nodemailer', value: 'ECONNECTION' }],
    [{ code: 'EDNS', originalCode: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND smtp.office365.com' }, 'network', true, { kind: 'socket', value: 'ENOTFOUND' }],
    [{ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' }, 'tls', false, { kind: 'socket', value: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }],
    [{ code: 'ESOCKET', originalCode: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' }, 'tls', false, { kind: 'socket', value: 'SELF_SIGNED_CERT_IN_CHAIN' }],
    [{ code: 'ESOCKET', originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, 'tls', false, { kind: 'socket', value: 'ERR_TLS_CERT_ALTNAME_INVALID' }],
    [{ code: 'ESOCKET', originalCode: 'ERR_SSL_UNSUPPORTED_PROTOCOL', message: 'unsupported protocol' }, 'tls', false, { kind: 'socket', value: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }],
    [{ code: 'ETLS', message: 'Error initiating TLS - STARTTLS not offered' }, 'tls', false, { kind: 'nodemailer', value: 'ETLS' }],
    [{ code: 'ETLS', originalCode: 'ECONNRESET', message: 'Error initiating TLS - read ECONNRESET' }, 'network', true, { kind: 'socket', value: 'ECONNRESET' }],
    [{ code: 'EAUTH', message: "Can't create new access token for user" }, 'auth-rejected', false, { kind: 'nodemailer', value: 'EAUTH' }],
    [{ code: 'EMESSAGE', originalCode: 'ENOENT', message: 'ENOENT: no such file' }, 'other', false, { kind: 'nodemailer', value: 'EMESSAGE' }],
    [{ message: 'something odd' }, 'other', true, null],
    // Every socket failure nodemailer can pass on is a network failure, worth retrying.
    [{ code: 'ESOCKET', message: 'socket closed' }, 'network', true, { kind: 'nodemailer', value: 'ESOCKET' }],
    [{ code: 'ESOCKET', originalCode: 'EPIPE', message: 'write EPIPE' }, 'network', true, { kind: 'socket', value: 'EPIPE' }],
    [{ code: 'ESOCKET', originalCode: 'EHOSTUNREACH', message: 'connect EHOSTUNREACH' }, 'network', true, { kind: 'socket', value: 'EHOSTUNREACH' }],
    [{ code: 'ESOCKET', originalCode: 'ENETUNREACH', message: 'connect ENETUNREACH' }, 'network', true, { kind: 'socket', value: 'ENETUNREACH' }],
    [{ code: 'EDNS', originalCode: 'EAI_AGAIN', message: 'getaddrinfo EAI_AGAIN smtp.office365.com' }, 'network', true, { kind: 'socket', value: 'EAI_AGAIN' }],
    [{ code: 'ESOCKET', originalCode: 'ECONNABORTED', message: 'connection aborted' }, 'network', true, { kind: 'socket', value: 'ECONNABORTED' }],
    [{ code: 'EPROTOCOL', message: 'Invalid greeting' }, 'network', true, { kind: 'nodemailer', value: 'EPROTOCOL' }],
    [{ code: 'ESOCKET', originalCode: 'ECONNRESET', message: 'Client network socket disconnected before secure TLS connection was established' }, 'network', true, { kind: 'socket', value: 'ECONNRESET' }],
    // TLS, also when only the words say so.
    [{ code: 'EREQUIRETLS', message: 'Can not send mail without a secure connection' }, 'tls', false, { kind: 'nodemailer', value: 'EREQUIRETLS' }],
    [{ code: 'ESOCKET', message: 'self-signed certificate' }, 'tls', false, { kind: 'nodemailer', value: 'ESOCKET' }],
    [{ message: 'certificate has expired' }, 'tls', false, { kind: 'nodemailer', value: 'ETLS' }],
    // Nodemailer could not offer credentials, or refused our own message before it left.
    [{ code: 'ENOAUTH', message: 'Missing credentials for "XOAUTH2"' }, 'auth-rejected', false, { kind: 'nodemailer', value: 'ENOAUTH' }],
    [{ code: 'EENVELOPE', message: 'No recipients defined' }, 'other', false, { kind: 'nodemailer', value: 'EENVELOPE' }],
    [{ code: 'EFILEACCESS', message: 'File access rejected' }, 'other', false, { kind: 'nodemailer', value: 'EFILEACCESS' }],
    [{ code: 'ESTREAM', message: 'stream error' }, 'other', false, { kind: 'nodemailer', value: 'ESTREAM' }],
    [{ code: 'ECONFIG', message: 'bad config' }, 'other', false, { kind: 'nodemailer', value: 'ECONFIG' }],
    [{ code: 'EWHATEVER', message: 'something new' }, 'other', true, { kind: 'socket', value: 'EWHATEVER' }],
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

  it('smtpFactsOf ignores fields of the wrong type and takes whatever was thrown', () => {
    expect(smtpFactsOf(Object.assign(new Error('x'), { code: '', responseCode: '535', response: 42 }))).toEqual({
      code: undefined,
      originalCode: undefined,
      responseCode: undefined,
      response: undefined,
      message: 'x',
    });
    expect(smtpFactsOf('socket hang up')).toMatchObject({ code: undefined, message: 'socket hang up' });
    expect(smtpFactsOf(null)).toMatchObject({ code: undefined, message: 'null' });
    expect(smtpFactsOf({ code: 'ETIMEDOUT', originalCode: 'ETIMEDOUT' })).toMatchObject({ code: 'ETIMEDOUT', originalCode: 'ETIMEDOUT' });
  });
});

describe('classifySmtp: failures without an SMTP status', () => {
  it('a connection failure keeps nodemailer’s words as the reply the admin reads', () => {
    const f = classifySmtp({ code: 'ESOCKET', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 52.96.0.1:587' });
    expect(f).toMatchObject({ category: 'network', transient: true, reply: 'connect ECONNREFUSED 52.96.0.1:587' });
  });

  it('a reply line that does not open with a status code is not read as one (digits later in it included)', () => {
    const f = classifySmtp({ code: 'ETIMEDOUT', response: 'Greeting never received within 600 seconds', message: 'Greeting never received' });
    expect(f).toMatchObject({ category: 'network', transient: true });
  });
});
