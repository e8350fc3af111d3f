/**
 * What the device accepts from operators (panel, API, CLI, scenario files). Everything is checked before anything
 * changes; a refusal carries one message per field so the panel can show it next to the input.
 */
import { isIP, isIPv4 } from 'node:net';
import { z } from 'zod';

export class DeviceInputError extends Error {
  constructor(
    message: string,
    /** Field path → message, e.g. { smtpPort: 'must be an integer from 1 to 65535' }. */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DeviceInputError';
  }
}

/** One DNS label (RFC 1123): letters, digits and inner hyphens, 1 to 63 characters. */
const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * A host name made of valid labels (no empty label, so no `a..b`), an IPv4 address, or an address literal in brackets
 * that really is an address (`[2001:db8::25]`, not `[:::::::::::]`). A name whose last label is all digits must be an
 * IPv4 address (no top-level domain is numeric, RFC 3696), so `999.1.1.1` is refused rather than looked up.
 */
export function isHostNameOrAddress(host: string): boolean {
  if (host.startsWith('[') && host.endsWith(']')) return isIP(host.slice(1, -1)) !== 0;
  const labels = host.split('.');
  if (!labels.every((label) => DNS_LABEL.test(label))) return false;
  return /^[0-9]+$/.test(labels[labels.length - 1]!) ? isIPv4(host) : true;
}

const hostname = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(253, 'is longer than 253 characters')
  .refine(isHostNameOrAddress, 'is not a host name or address');

const optionalEmail = z.union([z.literal(''), z.email('is not an e-mail address').max(254)]);
const optionalGuid = z.union([z.literal(''), z.guid('is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)')]);
/** A password or client secret as typed: printable, no line breaks (they would break AUTH and the form). */
const secretText = z
  .string('must be a string')
  .max(256, 'is longer than 256 characters')
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters');

export const smtpSettingsSchema = z
  .object({
    smtpServerName: hostname,
    smtpPort: z.int('must be an integer').min(1, 'must be 1 to 65535').max(65535, 'must be 1 to 65535'),
    useSecureConnection: z.boolean('must be true or false'),
    authMethod: z.enum(['off', 'smtpAuth', 'oauth2ExchangeOnline', 'oauth2AppOnly'], 'must be off, smtpAuth, oauth2ExchangeOnline or oauth2AppOnly'),
    authEmailAddress: optionalEmail,
    authUsername: optionalEmail,
    adminEmailAddress: optionalEmail,
    appTenantId: optionalGuid.optional(),
    appClientId: optionalGuid.optional(),
  })
  .strict();

/**
 * The write-only secrets a settings form may carry next to the settings: the basic password and the app's client
 * secret. Never stored with the settings (they are sealed), never answered back. Absent or '' keeps what is sealed.
 */
export const credentialInputSchema = z
  .object({
    smtpPassword: secretText.optional(),
    clientSecret: secretText.optional(),
  })
  .strict();
export type CredentialInput = z.infer<typeof credentialInputSchema>;

export const jobRequestSchema = z
  .object({
    to: z.array(z.email('is not an e-mail address').max(254)).min(1, 'needs at least one recipient').max(100),
    subject: z.string().max(998, 'is longer than 998 characters').default(''),
    body: z.string().max(1_000_000, 'is longer than 1,000,000 characters').default(''),
    attachments: z
      .array(
        z
          .object({
            filename: z.string().min(1).max(255),
            contentType: z.string().min(1).max(255).default('application/octet-stream'),
            path: z.string().min(1).max(4096),
          })
          .strict(),
      )
      .max(10)
      .default([]),
  })
  .strict();

export type JobRequest = z.input<typeof jobRequestSchema>;

export const OPERATOR_EVENT_TYPES = ['START_AUTH', 'CANCEL_AUTH', 'SIGN_OUT', 'RETRY', 'DISMISS', 'FACTORY_RESET'] as const;
export type SimpleOperatorEvent = { type: (typeof OPERATOR_EVENT_TYPES)[number] };

export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    const key = issue.path.length ? issue.path.join('.') : '(body)';
    if (!fields[key]) fields[key] = issue.message;
  }
  const summary = Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join('; ');
  throw new DeviceInputError(`invalid ${what}: ${summary}`, fields);
}

export function parseOperatorEvent(input: unknown): SimpleOperatorEvent {
  const type = input && typeof input === 'object' ? (input as { type?: unknown }).type : input;
  if (typeof type !== 'string' || !(OPERATOR_EVENT_TYPES as readonly string[]).includes(type)) {
    throw new DeviceInputError(
      `unknown operator event ${JSON.stringify(type)}; expected one of ${OPERATOR_EVENT_TYPES.join(', ')} ` +
        '(settings and jobs have their own calls)',
      { type: 'is not an operator event' },
    );
  }
  return { type: type as SimpleOperatorEvent['type'] };
}
