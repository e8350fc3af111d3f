/**
 * What the device accepts from operators (panel, API, CLI, scenario files), and how it says no: one message per
 * field, keyed by the field's path, so the panel can put it next to the input.
 */
import { describe, expect, it } from 'vitest';
import {
  DeviceInputError,
  isHostNameOrAddress,
  jobRequestSchema,
  parseOperatorEvent,
  parseOrThrow,
  smtpSettingsSchema,
} from '../../src/device/validation.ts';

const GOOD = {
  smtpServerName: 'smtp.office365.com',
  smtpPort: 587,
  useSecureConnection: true,
  authMethod: 'oauth2ExchangeOnline',
  authEmailAddress: 'scanner@contoso.com',
  authUsername: 'scanner@contoso.com',
  adminEmailAddress: '',
} as const;

/** The field → message map of a refusal (fails the test if the input was accepted). */
function refusal(schema: Parameters<typeof parseOrThrow>[0], input: unknown): DeviceInputError {
  try {
    parseOrThrow(schema, input, 'thing');
  } catch (err) {
    expect(err).toBeInstanceOf(DeviceInputError);
    return err as DeviceInputError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('SMTP settings', () => {
  it('accepts the seed’s settings, trims the host, and allows empty optional addresses', () => {
    expect(parseOrThrow(smtpSettingsSchema, { ...GOOD, smtpServerName: '  smtp.office365.com ' }, 'SMTP settings')).toEqual(GOOD);
  });

  it.each(['smtp.office365.com', 'a', '10.0.0.25', '[2001:db8::25]', '[::1]', '[10.0.0.25]', 'smtp-1.example.com', 'xn--bcher-kva.example', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`])(
    'accepts the host %s',
    (smtpServerName) => {
      expect(parseOrThrow(smtpSettingsSchema, { ...GOOD, smtpServerName }, 'SMTP settings').smtpServerName).toBe(smtpServerName);
    },
  );

  it.each([
    ['', 'is required'],
    ['   ', 'is required'],
    ['smtp office365.com', 'is not a host name or address'],
    ['-smtp.office365.com', 'is not a host name or address'],
    ['smtp.office365.com.', 'is not a host name or address'],
    ['smtp_office365.com', 'is not a host name or address'],
    ['[not:an:address]', 'is not a host name or address'],
    ['a..b', 'is not a host name or address'],
    ['.smtp.office365.com', 'is not a host name or address'],
    ['[:::::::::::]', 'is not a host name or address'],
    ['[]', 'is not a host name or address'],
    ['[2001:db8::25', 'is not a host name or address'],
    ['999.1.1.1', 'is not a host name or address'],
    ['10.0.0', 'is not a host name or address'],
    ['smtp-.office365.com', 'is not a host name or address'],
    [`${'a'.repeat(64)}.example.com`, 'is not a host name or address'],
    ['x'.repeat(254), 'is longer than 253 characters'],
  ])('refuses the host %j: %s', (smtpServerName, message) => {
    expect(refusal(smtpSettingsSchema, { ...GOOD, smtpServerName }).fields).toEqual({ smtpServerName: message });
  });

  it.each([
    [1, true],
    [65535, true],
    [0, false],
    [65536, false],
    [587.5, false],
  ])('port %d accepted: %s', (smtpPort, ok) => {
    if (ok) expect(parseOrThrow(smtpSettingsSchema, { ...GOOD, smtpPort }, 'x').smtpPort).toBe(smtpPort);
    else expect(Object.keys(refusal(smtpSettingsSchema, { ...GOOD, smtpPort }).fields)).toEqual(['smtpPort']);
  });

  it('says what is wrong with each field, once per field, in one refusal', () => {
    const err = refusal(smtpSettingsSchema, {
      ...GOOD,
      smtpPort: 0,
      useSecureConnection: 'yes',
      authMethod: 'basic',
      authUsername: 'not-an-address',
    });
    expect(err.fields).toEqual({
      smtpPort: 'must be 1 to 65535',
      useSecureConnection: 'must be true or false',
      authMethod: 'must be off, smtpAuth, oauth2ExchangeOnline or oauth2AppOnly',
      authUsername: 'is not an e-mail address',
    });
    expect(err.message).toBe(
      'invalid thing: smtpPort must be 1 to 65535; useSecureConnection must be true or false; ' +
        'authMethod must be off, smtpAuth, oauth2ExchangeOnline or oauth2AppOnly; authUsername is not an e-mail address',
    );
    expect(err.name).toBe('DeviceInputError');
  });

  it('refuses fields it does not know, and a body that is not an object', () => {
    expect(Object.keys(refusal(smtpSettingsSchema, { ...GOOD, smtpPassword: 'x' }).fields)).toEqual(['(body)']);
    expect(Object.keys(refusal(smtpSettingsSchema, 'smtp.office365.com').fields)).toEqual(['(body)']);
  });

  it('an address longer than 254 characters is refused', () => {
    const long = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}.com`;
    expect(long.length).toBe(255);
    expect(Object.keys(refusal(smtpSettingsSchema, { ...GOOD, adminEmailAddress: long }).fields)).toEqual(['adminEmailAddress']);
  });
});

describe('job requests', () => {
  it('fills in the defaults', () => {
    expect(parseOrThrow(jobRequestSchema, { to: ['bob@contoso.com'] }, 'job')).toEqual({
      to: ['bob@contoso.com'],
      subject: '',
      body: '',
      attachments: [],
    });
    const withFile = parseOrThrow(jobRequestSchema, { to: ['bob@contoso.com'], attachments: [{ filename: 'scan.pdf', path: '/spool/scan.pdf' }] }, 'job');
    expect(withFile.attachments).toEqual([{ filename: 'scan.pdf', contentType: 'application/octet-stream', path: '/spool/scan.pdf' }]);
  });

  it('keys a refusal by the path of the bad value', () => {
    expect(refusal(jobRequestSchema, { to: [] }).fields).toEqual({ to: 'needs at least one recipient' });
    expect(refusal(jobRequestSchema, { to: ['bob@contoso.com', 'nobody'] }).fields).toEqual({ 'to.1': 'is not an e-mail address' });
    expect(refusal(jobRequestSchema, { to: ['bob@contoso.com'], subject: 'x'.repeat(999) }).fields).toEqual({
      subject: 'is longer than 998 characters',
    });
    expect(Object.keys(refusal(jobRequestSchema, { to: ['bob@contoso.com'], attachments: [{ filename: '', path: 'p' }] }).fields)).toEqual([
      'attachments.0.filename',
    ]);
  });

  it('at most 100 recipients, 10 attachments, a 998-character subject and a 1,000,000-character body', () => {
    const to = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@contoso.com`);
    const file = { filename: 'scan.pdf', path: '/spool/scan.pdf' };
    expect(parseOrThrow(jobRequestSchema, { to: to(100), subject: 'x'.repeat(998), body: 'y'.repeat(1_000_000), attachments: Array(10).fill(file) }, 'job').to).toHaveLength(100);
    expect(Object.keys(refusal(jobRequestSchema, { to: to(101) }).fields)).toEqual(['to']);
    expect(Object.keys(refusal(jobRequestSchema, { to: to(1), attachments: Array(11).fill(file) }).fields)).toEqual(['attachments']);
    expect(refusal(jobRequestSchema, { to: to(1), body: 'y'.repeat(1_000_001) }).fields).toEqual({ body: 'is longer than 1,000,000 characters' });
  });
});

describe('operator events', () => {
  it('accepts the six operator events, as a name or as { type }', () => {
    for (const type of ['START_AUTH', 'CANCEL_AUTH', 'SIGN_OUT', 'RETRY', 'DISMISS', 'FACTORY_RESET']) {
      expect(parseOperatorEvent(type)).toEqual({ type });
      expect(parseOperatorEvent({ type, extra: 1 })).toEqual({ type });
    }
  });

  it.each([['TOKEN_GRANTED'], [{ type: 'SEND' }], [{ type: 42 }], [null], [{}], ['start_auth']])('refuses %j, naming what it accepts', (input) => {
    let err: unknown;
    try {
      parseOperatorEvent(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeviceInputError);
    expect((err as DeviceInputError).fields).toEqual({ type: 'is not an operator event' });
    expect((err as Error).message).toContain('expected one of START_AUTH, CANCEL_AUTH, SIGN_OUT, RETRY, DISMISS, FACTORY_RESET');
    expect((err as Error).message).toMatch(/\(settings and jobs have their own calls\)$/);
  });
});

describe('host names and addresses at their edges', () => {
  it.each([
    ['mail.test1', true], // a last label with digits and letters is a name
    ['mail.1a', true],
    ['[::1]', true],
    ['[192.0.2.25]', true],
    ['999.1.1.10', false], // all digits: must be an IPv4 address
    ['x::1]', false], // brackets on one side only
    ['[::1', false],
    ['x192.0.2.1]', false],
  ])('%s → %s', (host, ok) => {
    expect(isHostNameOrAddress(host)).toBe(ok);
  });
});
