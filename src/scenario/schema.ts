/**
 * The scenario file format (JSON), validated with zod. A step is an object with exactly one key, the step's kind
 * ({ "advance": "10h" }); kinds that take nothing may also be written as a bare string ("startAuth"). Steps are
 * validated one by one so an error names the step and the field: `steps[3].expect.state: …`.
 * See docs/scenarios.md for the reference.
 */
import { z } from 'zod';
import { JOB_STATUSES } from '../device/printer.ts';
import { LEAF_STATES } from '../../machines/oauthDevice.ts';
import { credentialInputSchema, smtpSettingsSchema } from '../device/validation.ts';
import { parseDuration } from './duration.ts';
import { DEVICE_KEY_FAULTS } from '../sim/device-key-fault.ts';

/** A duration string ("10h", "61m", "90d", "1h30m", "500ms") turned into milliseconds. */
const duration = z
  .string('must be a duration like "10h", "61m" or "90d"')
  .refine((s) => parseDuration(s) !== null, 'must be a duration like "10h", "61m" or "90d"')
  .transform((s) => parseDuration(s)!);

const upn = z.email('must be an e-mail address (user principal name)');
const leafState = z.enum(LEAF_STATES, `must be one of ${LEAF_STATES.join(', ')}`);
/** One state or a list of states (any of them will do). */
const states = z.union([leafState, z.array(leafState).min(1)], `must be one of ${LEAF_STATES.join(', ')}, or a list of them`);
const jobStatus = z.enum(JOB_STATUSES, `must be one of ${JOB_STATUSES.join(', ')}`);
const label = z.string().min(1, 'must not be empty').max(100);

/** Kinds that take no argument: `{}`, `true` and the bare string are the same step. */
const nothing = z.preprocess((v) => (v === true || v === null ? {} : v), z.object({}).strict());

const faultAction = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('error'), error: z.string().min(1), aadsts: z.int().optional(), description: z.string().optional(), suberror: z.string().optional(), status: z.int().optional() }).strict(),
    z.object({ kind: z.literal('http'), status: z.int().min(100).max(599) }).strict(),
    z.object({ kind: z.literal('throttle'), retryAfterSeconds: z.int().min(0) }).strict(),
    z.object({ kind: z.literal('reply'), reply: z.string().regex(/^[245]\d\d[ -]/, 'must be an SMTP reply line like "432 4.3.2 …"') }).strict(),
    z.object({ kind: z.literal('delay'), ms: z.int().min(0).max(60_000) }).strict(),
    z.object({ kind: z.literal('drop') }).strict(),
  ],
  'must be an action with kind error, http, throttle, reply, delay or drop',
);

const FAULT_TARGETS = ['devicecode', 'token', 'smtp.connect', 'smtp.auth', 'smtp.mail', 'smtp.data'] as const;

const jobExpectation = z.union([
  jobStatus,
  z
    .object({
      status: jobStatus.optional(),
      attempts: z.int().min(0).optional(),
      replyContains: z.string().optional(),
    })
    .strict(),
]);

const mailboxExpectation = z
  .object({
    upn,
    folder: z.enum(['Inbox', 'SentItems'], 'must be Inbox or SentItems').optional(),
    count: z.int().min(0).optional(),
    subject: z.string().optional(),
  })
  .strict();

/** A signed duration ("-2h", "+90s", "3d") for RTC steps and skews. */
const signedDuration = z.string().transform((text, ctx) => {
  const m = /^([+-]?)(.*)$/.exec(text.trim())!;
  const ms = parseDuration(m[2]!);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like "2h" or "-90s"' });
    return z.NEVER;
  }
  return m[1] === '-' ? -ms : ms;
});

/** The printer's clock as a scenario checks it (src/device/clockService.ts). */
const clockExpectation = z
  .object({
    /** |device time − world time| at most this. */
    skewAtMost: duration.optional(),
    /** |device time − world time| at least this. */
    skewAtLeast: duration.optional(),
    /** The device believes it is earlier than this date (e.g. after an RTC reset to the firmware epoch). */
    before: z.iso.datetime().optional(),
    ntpEnabled: z.boolean().optional(),
    lastSync: z.enum(['ok', 'failed', 'none']).optional(),
  })
  .strict();

const expectation = z
  .object({
    clock: clockExpectation.optional(),
    state: states.optional(),
    lastError: z
      .union([z.null(), z.object({ reason: z.string().optional(), code: z.string().nullable().optional() }).strict()])
      .optional(),
    account: z.string().nullable().optional(),
    jobs: z.record(label, jobExpectation).optional(),
    mailbox: z.union([mailboxExpectation, z.array(mailboxExpectation).min(1)]).optional(),
    nvram: z
      .object({
        /** No token (access, refresh, id) appears in the image file's bytes. */
        noTokenText: z.literal(true).optional(),
        /** Nor do these strings (e.g. a firmware-1 plaintext password). */
        excludes: z.array(z.string().min(4)).optional(),
      })
      .strict()
      .optional(),
    eventLog: z.object({ contains: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]) }).strict().optional(),
  })
  .strict()
  .refine((e) => Object.keys(e).length > 0, 'must check at least one thing');

/** Every step kind but `repeat` (which holds steps and is validated recursively). */
export const STEP_ARGS = {
  // With the write-only secrets (the basic password, the app's client secret) a panel form carries too.
  settings: smtpSettingsSchema.partial().extend(credentialInputSchema.shape),
  startAuth: nothing,
  cancelAuth: nothing,
  signOut: nothing,
  retry: nothing,
  dismiss: nothing,
  factoryReset: nothing,
  submitJob: z
    .object({
      label: label.optional(),
      to: z.array(upn).min(1, 'needs at least one recipient'),
      subject: z.string().max(998).default(''),
      body: z.string().default(''),
      /** File names under fixtures/scans/, or paths relative to the scenario file. */
      attachments: z.array(z.string().min(1)).max(10).default([]),
      /** false: do not wait for the device to finish with it (to cut the power while it is sending). */
      settle: z.boolean().default(true),
    })
    .strict(),
  /** Then waits (wall time, `timeout`; default 5 s or two polling intervals + 3 s) for msal-node's next poll to bring the answer. */
  approve: z.preprocess((v) => (typeof v === 'string' ? { upn: v } : v), z.object({ upn, timeout: duration.optional() }).strict()),
  decline: z.preprocess((v) => (v === true || v === null ? {} : v), z.object({ timeout: duration.optional() }).strict()),
  patchTenant: z
    .object({
      smtpAuthEnabled: z.boolean().optional(),
      securityDefaults: z.boolean().optional(),
      blockDeviceCodeFlow: z.boolean().optional(),
      consentGranted: z.boolean().optional(),
      sendAsDeniedAfterData: z.boolean().optional(),
    })
    .strict(),
  patchUser: z
    .object({
      upn,
      enabled: z.boolean().optional(),
      smtpAuthEnabled: z.boolean().nullable().optional(),
      sendAs: z.array(upn).optional(),
      mailboxFull: z.boolean().optional(),
      mfa: z.enum(['sms', 'authenticator', 'none']).optional(),
      requireMfa: z.boolean().optional(),
    })
    .strict(),
  resetPassword: z.preprocess(
    (v) => (typeof v === 'string' ? { upn: v } : v),
    z.object({ upn, password: z.string().min(8).default('Scenario-Reset-Passw0rd!') }).strict(),
  ),
  revokeSessions: z.preprocess((v) => (typeof v === 'string' ? { upn: v } : v), z.object({ upn }).strict()),
  fault: z
    .object({
      target: z.enum(FAULT_TARGETS, `must be one of ${FAULT_TARGETS.join(', ')}`),
      action: faultAction,
      count: z.int().min(1).optional(),
      probability: z.number().min(0).max(1).optional(),
      seed: z.int().optional(),
    })
    .strict(),
  clearFaults: nothing,
  /** The printer's clock: faults on its RTC (step, drift, battery) and NTP, and what an admin sets (date, zone, NTP). */
  clock: z
    .object({
      /** "world" = the shared (true) time; or an RFC 3339 date-time. */
      set: z.union([z.literal('world'), z.iso.datetime({ offset: true })]).optional(),
      step: signedDuration.optional(),
      driftPpm: z.number().min(-100_000).max(100_000).optional(),
      battery: z.enum(['ok', 'dead']).optional(),
      ntp: z.boolean().optional(),
      timeZone: z.string().min(1).optional(),
      /** The twin's NTP server answers (true) or drops every request (false: "NTP unreachable"). */
      ntpReachable: z.boolean().optional(),
      /** One NTP exchange now. */
      sync: z.literal(true).optional(),
    })
    .strict()
    .refine((c) => Object.keys(c).length > 0, 'must change at least one thing'),
  /** The printer's trust store, as its admin changes it on the Certificates page. */
  trust: z
    .object({
      /** "twin-root": the root the twin's chain leads to now (what the admin downloads); or a PEM. */
      import: z.union([z.literal('twin-root'), z.string().includes('-----BEGIN CERTIFICATE-----')]).optional(),
      /** "factory": every factory root; or a SHA-256 fingerprint as listed. */
      delete: z.string().min(1).optional(),
    })
    .strict()
    .refine((t) => t.import !== undefined || t.delete !== undefined, 'needs import or delete'),
  /** The twin re-issues its server certificates under a new root (src/cloud/pki.ts), now or `in` a while. */
  rootMigration: z
    .object({ in: duration.optional(), crossSign: z.boolean().optional(), name: z.string().min(1).max(64).optional() })
    .strict(),
  advance: duration,
  advanceUntil: z.object({ state: states, cap: duration }).strict(),
  powerCycle: z.preprocess(
    (v) => (typeof v === 'string' ? { off: v } : v === true || v === null ? {} : v),
    z.object({ off: duration.default(0), deviceKey: z.enum(DEVICE_KEY_FAULTS).optional() }).strict(),
  ),
  /** Wall time: for what msal-node and sockets do outside the virtual clock (a sign-in's polling, a send in flight). */
  waitFor: z
    .object({
      state: states.optional(),
      jobs: z.record(label, jobStatus).optional(),
      timeout: duration.default(20_000),
    })
    .strict()
    .refine((w) => w.state !== undefined || w.jobs !== undefined, 'needs a state or jobs to wait for'),
  expect: expectation,
  note: z.string(),
} as const;

export type StepKind = keyof typeof STEP_ARGS | 'repeat';
export const STEP_KINDS: readonly StepKind[] = [...(Object.keys(STEP_ARGS) as (keyof typeof STEP_ARGS)[]), 'repeat'];

/** Where a step sits in the file: its JSON path (["steps", 3, "repeat", "steps", 0]) and line. */
export interface StepOrigin {
  path: (string | number)[];
  line: number | undefined;
}

export type SimpleStep = {
  [K in keyof typeof STEP_ARGS]: { kind: K; args: z.output<(typeof STEP_ARGS)[K]>; origin: StepOrigin };
}[keyof typeof STEP_ARGS];

export interface RepeatStep {
  kind: 'repeat';
  args: { times: number; steps: Step[] };
  origin: StepOrigin;
}

export type Step = SimpleStep | RepeatStep;

export type Expectation = z.output<typeof expectation>;
export type JobExpectation = z.output<typeof jobExpectation>;
export type MailboxExpectation = z.output<typeof mailboxExpectation>;

/** The scenario's header; `steps` are validated separately (see load.ts). */
export const scenarioHeaderSchema = z
  .object({
    name: z.string().min(1, 'must not be empty'),
    description: z.string().default(''),
    /** Tenant fixture, relative to the scenario file (default: fixtures/tenants/contoso.json). */
    tenant: z.string().min(1).optional(),
    /** msal-node polls on wall time: the twin's polling interval is set to this many seconds (default 1). */
    pollIntervalSeconds: z.number().min(0.05).max(60).default(0.1),
    /** Seeds the twin's token lifetimes (60–90 minutes), so a scenario runs the same every time. */
    seed: z.int().default(1),
    /** NVRAM image to boot from (copied into the state dir), relative to the scenario file. */
    nvramImage: z.string().min(1).optional(),
    /** Device key ("secure element") that goes with the image, when its secrets should stay readable. */
    nvramKey: z.string().min(1).optional(),
    /** The virtual clock's start (ISO 8601); default 2026-01-05T08:00:00Z. */
    startAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time like 2026-01-05T08:00:00Z' }).optional(),
    steps: z.array(z.unknown()).min(1, 'needs at least one step'),
  })
  .strict();

export type ScenarioHeader = Omit<z.output<typeof scenarioHeaderSchema>, 'steps'>;

export interface Scenario extends ScenarioHeader {
  steps: Step[];
  /** The file it came from (null for an object passed in code); relative paths resolve against its directory. */
  file: string | null;
  baseDir: string;
}
