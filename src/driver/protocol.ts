/**
 * The driver protocol, version 1: the remote (HTTP + JSON) form of the printer interface (src/device/printer.ts).
 * A tester writes a driver for any printer (web panel, console, emulator) that answers these routes; the harness
 * talks to it through src/driver/client.ts. The zod schemas here are the one definition: the server and the client
 * validate with them, and the JSON Schemas and the OpenAPI document (src/driver/openapi.ts) are generated from them,
 * so the published document cannot drift from what is checked.
 */
import { z } from 'zod';
import { LEAF_STATES } from '../../machines/oauthDevice.ts';
import { JOB_STATUSES } from '../nvram/schema.ts';
import { OPERATOR_EVENT_TYPES } from '../device/validation.ts';
import { CODE_KINDS } from '../device/failures.ts';

export const DRIVER_PROTOCOL = 'mfp-driver';
export const DRIVER_PROTOCOL_VERSION = 1;
/** Every route lives under this prefix, so a second version can be served beside the first. */
export const DRIVER_BASE = `/driver/v${DRIVER_PROTOCOL_VERSION}`;

/** Optional capabilities a driver may declare. Steps needing one a driver lacks are skipped, never covered. */
export const DRIVER_CAPABILITIES = ['clock', 'nvram', 'power', 'events'] as const;
export type DriverCapability = (typeof DRIVER_CAPABILITIES)[number];

export const helloSchema = z
  .object({
    protocol: z.literal(DRIVER_PROTOCOL),
    version: z.int().min(1),
    name: z.string().min(1).max(200),
    capabilities: z
      .object(Object.fromEntries(DRIVER_CAPABILITIES.map((c) => [c, z.boolean()])) as Record<DriverCapability, z.ZodBoolean>)
      // Optional (a v1 driver may leave them out, meaning false): power-cycle can lose the device key (`deviceKey` in
      // its request); the printer offers the settings' authMethod `smtpAuth` (a password) and `oauth2AppOnly`.
      .extend({ deviceKey: z.boolean().optional(), smtpAuth: z.boolean().optional(), oauth2AppOnly: z.boolean().optional() }),
  })
  .loose();
export type Hello = z.infer<typeof helloSchema>;

export const leafStateSchema = z.enum(LEAF_STATES);

/**
 * `code` is the code as text ("AADSTS70020", "5.7.139", "HTTP 503"), as in the first v1 drivers; `codeKind` (added
 * within v1, optional so those drivers still validate) says which protocol it comes from.
 */
export const lastErrorSchema = z
  .object({ reason: z.string(), code: z.string().nullable(), codeKind: z.enum(CODE_KINDS).nullable().optional(), reply: z.string().nullable() })
  .loose();

/** The public state and what the printer can report of it; a field a printer cannot report is null. */
export const statusSchema = z
  .object({
    state: leafStateSchema,
    since: z.number().nullable(),
    account: z.string().nullable(),
    userCode: z.string().nullable(),
    verificationUri: z.string().nullable(),
    expiresAt: z.number().nullable(),
    tokenExpiresAt: z.number().nullable(),
    lastError: lastErrorSchema.nullable(),
    jobId: z.string().nullable(),
    retryAt: z.number().nullable(),
    /** The disk under the NVRAM or the spool is failing (docs/nvram.md, "Storage faults"); absent on printers that do not say. */
    storageFault: z
      .object({
        reason: z.string(),
        area: z.enum(['nvram', 'spool']),
        operation: z.enum(['read', 'write']),
        code: z.string(),
        message: z.string(),
        since: z.number(),
        failures: z.int(),
        retryAt: z.number().nullable(),
      })
      .nullable()
      .optional(),
  })
  .loose();
export type DriverStatus = z.infer<typeof statusSchema>;

export const dispatchResultSchema = z
  .object({ accepted: z.boolean(), state: leafStateSchema, reason: z.string().optional() })
  .loose();
export type DriverDispatchResult = z.infer<typeof dispatchResultSchema>;

/** A job as a driver reports it: no spool path (content stays on the printer). */
export const jobSchema = z
  .object({
    id: z.string().min(1),
    messageId: z.string().nullable(),
    status: z.enum(JOB_STATUSES),
    to: z.array(z.string()),
    subject: z.string(),
    attempts: z.int().min(0),
    reply: z.string().nullable(),
    createdAt: z.number(),
    updatedAt: z.number(),
  })
  .loose();
export type DriverJob = z.infer<typeof jobSchema>;
export const jobListSchema = z.array(jobSchema);

export const settingsRequestSchema = z
  .object({
    smtpServerName: z.string(),
    smtpPort: z.int(),
    useSecureConnection: z.boolean(),
    authMethod: z.enum(['off', 'smtpAuth', 'oauth2ExchangeOnline', 'oauth2AppOnly']),
    authEmailAddress: z.string(),
    authUsername: z.string(),
    adminEmailAddress: z.string(),
    // Optional within v1 (issue 14): app-only's identifiers, and the method's secret, write-only (sealed by the
    // printer, never answered back). A printer without these methods refuses them as it refuses any bad settings.
    appTenantId: z.string().optional(),
    appClientId: z.string().optional(),
    smtpPassword: z.string().optional(),
    clientSecret: z.string().optional(),
  })
  .strict();

export const operatorRequestSchema = z.object({ type: z.enum(OPERATOR_EVENT_TYPES) }).strict();

/** A job with its content inline (a remote printer has no access to the harness's files). */
export const jobRequestSchema = z
  .object({
    to: z.array(z.string()).min(1).max(100),
    subject: z.string().max(998).default(''),
    body: z.string().max(1_000_000).default(''),
  })
  .strict();
export type DriverJobRequest = z.input<typeof jobRequestSchema>;

export const DEVICE_KEY_LOSSES = ['deleted', 'replaced', 'truncated'] as const;
export const powerCycleRequestSchema = z
  .object({
    offMs: z.int().min(0).max(365 * 24 * 3600 * 1000),
    /** While the power is off the device key file is deleted, replaced or truncated (capability `deviceKey`). */
    deviceKey: z.enum(DEVICE_KEY_LOSSES).optional(),
  })
  .strict();
export const powerCycleResultSchema = z.object({ stateAfter: leafStateSchema }).loose();

export const clockSchema = z.object({ now: z.number() }).strict();
export const clockAdvanceRequestSchema = z.object({ ms: z.int().min(0).max(365 * 24 * 3600 * 1000) }).strict();

export const nvramSchema = z.object({ content: z.record(z.string(), z.unknown()) }).strict();

export const transitionSchema = z
  .object({ seq: z.int().min(0), at: z.number(), from: leafStateSchema, to: leafStateSchema, event: z.string() })
  .loose();
export const eventsSchema = z.object({ next: z.int().min(0), events: z.array(transitionSchema) }).strict();
export type DriverTransition = z.infer<typeof transitionSchema>;

/** RFC 7807 problem answer for every refusal. */
export const problemSchema = z
  .object({ type: z.string().optional(), title: z.string(), status: z.int(), detail: z.string().optional() })
  .loose();

export const okSchema = z.object({ ok: z.literal(true) }).strict();

/** The route table: method, path, request and answer schemas, and the capability a route needs (if any). */
export const DRIVER_ROUTES = {
  hello: { method: 'GET', path: '/hello', answer: helloSchema, summary: 'protocol version, printer name and capabilities' },
  status: { method: 'GET', path: '/status', answer: statusSchema, summary: 'public state (one of the eleven names) and the fields the printer can report' },
  saveSettings: { method: 'POST', path: '/settings', request: settingsRequestSchema, answer: dispatchResultSchema, summary: 'save the SMTP settings' },
  operator: { method: 'POST', path: '/operator', request: operatorRequestSchema, answer: dispatchResultSchema, summary: 'an operator stimulus: START_AUTH, CANCEL_AUTH, SIGN_OUT, RETRY, DISMISS, FACTORY_RESET' },
  submitJob: { method: 'POST', path: '/jobs', request: jobRequestSchema, answer: jobSchema, summary: 'submit a scan-to-email job with its content' },
  jobs: { method: 'GET', path: '/jobs', answer: jobListSchema, summary: 'jobs and their outcomes, oldest first' },
  idle: { method: 'POST', path: '/idle', answer: okSchema, summary: 'answers once nothing is queued or in flight' },
  powerCycle: { method: 'POST', path: '/power-cycle', request: powerCycleRequestSchema, answer: powerCycleResultSchema, capability: 'power', summary: 'power off for offMs of the printer clock, then boot' },
  clock: { method: 'GET', path: '/clock', answer: clockSchema, capability: 'clock', summary: 'the virtual clock shared with the twin' },
  advanceClock: { method: 'POST', path: '/clock/advance', request: clockAdvanceRequestSchema, answer: clockSchema, capability: 'clock', summary: 'move the virtual clock (and the twin with it)' },
  nvram: { method: 'GET', path: '/nvram', answer: nvramSchema, capability: 'nvram', summary: 'stored content with secrets redacted' },
  events: { method: 'GET', path: '/events', answer: eventsSchema, capability: 'events', summary: 'transitions since ?after=seq (poll)' },
} as const satisfies Record<
  string,
  { method: 'GET' | 'POST'; path: string; request?: z.ZodType; answer: z.ZodType; capability?: DriverCapability; summary: string }
>;
export type DriverCall = keyof typeof DRIVER_ROUTES;
