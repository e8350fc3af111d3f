/**
 * The JSON API under /api: every route authenticated (session + CSRF header for writes, or HTTP Basic), every route
 * with a schema. Device refusals map to HTTP: invalid input → 400 with field messages (nothing saved), an operator
 * event the current state does not handle → 409 `{ error, state }`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireCapability, type DispatchResult, type OperatorEventType } from '../../device/printer.ts';
import { deviceNow, type PanelContext } from '../context.ts';
import { jobView, perObject, settingsWarnings, statusFacts, statusPresenter } from '../presenters.ts';
import {
  dispatchResultSchema,
  eventLogSchema,
  jobIdParams,
  jobSchema,
  powerCycleSchema,
  smtpSettingsInputSchema,
  smtpSettingsSchema,
  statusSchema,
  testMailSchema,
  clockSettingsInputSchema,
  clockFaultSchema,
} from '../schemas.ts';
import type { ClockService, ClockStatus } from '../../device/clockService.ts';
import { bootView, eventLogView, nvramView, statechartView } from '../views-data.ts';
import { requireAdminApi } from './auth.ts';
import { trustApiRoutes } from '../trust/routes.ts';
import { isTimeZone as isTimeZoneName } from '../../device/printer.ts';

const errors = { 400: { $ref: 'PanelError#' }, 401: { $ref: 'PanelError#' }, 403: { $ref: 'PanelError#' }, 409: { $ref: 'PanelError#' }, 503: { $ref: 'PanelError#' } };
const security: { [label: string]: string[] }[] = [{ basicAuth: [] }, { sessionCookie: [] }];

function answer(reply: FastifyReply, result: DispatchResult) {
  if (!result.accepted) return reply.code(409).send({ error: result.reason ?? 'not handled in this state', state: result.state });
  return { accepted: true, state: result.state };
}

export function apiPlugin(ctx: PanelContext) {
  return async function api(app: FastifyInstance): Promise<void> {
    const printer = ctx.sim.printer;

    app.addHook('onRequest', requireAdminApi);
    // A browser session needs the CSRF token (header x-csrf-token) on writes; Basic credentials are never ambient.
    app.addHook('preHandler', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      if (request.adminVia === 'session' && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
        return app.csrfProtection(request, reply, done);
      }
      done();
    });

    await app.register(trustApiRoutes(ctx, security, errors));

    // Scripts poll this route: each status and boot report is presented once (perObject), the clock's now per request.
    const presentStatus = statusPresenter(perObject(statusFacts));
    const presentBoot = perObject(bootView);
    app.get('/status', {
      schema: { tags: ['device'], summary: 'Device state, account, code, deadlines, last error', security, response: { 200: { $ref: 'DeviceStatus#' }, ...errors } },
    }, async () => ({ ...presentStatus(await printer.status(), deviceNow(ctx)), boot: presentBoot(await printer.bootReport()) }));

    app.get('/settings/smtp', {
      schema: { tags: ['settings'], summary: 'SMTP settings', security, response: { 200: { $ref: 'SmtpSettings#' }, ...errors } },
    }, async () => printer.settings());

    app.put<{ Body: Record<string, unknown> }>('/settings/smtp', {
      schema: {
        tags: ['settings'],
        summary: 'Save SMTP settings (any subset of the fields; the rest stay as they are)',
        security,
        body: smtpSettingsInputSchema,
        response: {
          200: {
            type: 'object',
            properties: { settings: { $ref: 'SmtpSettings#' }, state: { type: 'string' }, warnings: { type: 'array', items: { type: 'string' } } },
          },
          ...errors,
        },
      },
    }, async (request, reply) => {
      const result = await printer.saveSettings(request.body);
      if (!result.accepted) return reply.code(409).send({ error: result.reason ?? 'not handled in this state', state: result.state });
      const settings = await printer.settings();
      return { settings, state: result.state, warnings: settingsWarnings(settings) };
    });

    const operator = (url: string, method: 'POST' | 'DELETE', type: OperatorEventType, summary: string) =>
      app.route({
        method,
        url,
        schema: { tags: ['oauth'], summary, security, response: { 200: { $ref: 'DispatchResult#' }, ...errors } },
        handler: async (_request, reply) => answer(reply, await printer.send({ type })),
      });
    operator('/oauth/start', 'POST', 'START_AUTH', 'Start Authentication (START_AUTH): request a device code');
    operator('/oauth/cancel', 'POST', 'CANCEL_AUTH', 'Cancel a sign-in in progress (CANCEL_AUTH)');
    operator('/oauth/token', 'DELETE', 'SIGN_OUT', 'Delete Token (SIGN_OUT)');
    operator('/device/retry', 'POST', 'RETRY', 'Retry the failed job now (RETRY)');
    operator('/device/dismiss', 'POST', 'DISMISS', 'Dismiss a failure (DISMISS)');
    operator('/device/factory-reset', 'POST', 'FACTORY_RESET', 'Factory reset: settings, jobs and tokens erased');

    app.post<{ Body: { offMs?: number } | null }>('/device/power-cycle', {
      schema: {
        tags: ['device'],
        summary: 'Power off, stay off offMs of clock time, boot from the same NVRAM',
        security,
        body: powerCycleSchema,
        response: { 200: { type: 'object', properties: { state: { type: 'string' } } }, ...errors },
      },
    }, async (request) => {
      const report = await requireCapability(printer, 'power').powerCycle(request.body?.offMs ?? 0);
      return { state: report.stateAfter };
    });

    app.post<{ Body: { to: string | string[]; subject?: string; body?: string } }>('/mail/test', {
      schema: {
        tags: ['mail'],
        summary: 'Send Test E-mail: queue a job',
        security,
        body: testMailSchema,
        response: { 202: { type: 'object', properties: { jobId: { type: 'string' }, status: { type: 'string' } } }, ...errors },
      },
    }, async (request, reply) => {
      const { to, subject, body } = request.body;
      const job = await printer.submitJob({
        to: Array.isArray(to) ? to : [to],
        subject: subject ?? 'Test e-mail from the MFP',
        body: body ?? 'This is a test e-mail sent from Web Image Monitor.',
      });
      return reply.code(202).send({ jobId: job.id, status: job.status });
    });

    app.get('/jobs', {
      schema: { tags: ['mail'], summary: 'Jobs: spool first, then the job log', security, response: { 200: { type: 'array', items: { $ref: 'Job#' } }, ...errors } },
    }, async () => (await printer.jobs()).map(jobView));

    app.get<{ Params: { id: string } }>('/jobs/:id', {
      schema: { tags: ['mail'], summary: 'One job', security, params: jobIdParams, response: { 200: { $ref: 'Job#' }, 404: { $ref: 'PanelError#' }, ...errors } },
    }, async (request, reply) => {
      const job = await printer.job(request.params.id);
      if (!job) return reply.code(404).send({ error: 'no such job' });
      return jobView(job);
    });

    app.get('/eventlog', {
      schema: { tags: ['device'], summary: 'Event log from NVRAM (transitions with times)', security, response: { 200: eventLogSchema, ...errors } },
    }, async () => eventLogView(printer));

    app.get('/nvram', {
      schema: {
        tags: ['device'],
        summary: 'NVRAM: banks, sections, sizes, write counts; secrets redacted',
        security,
        response: { 200: { type: 'object', additionalProperties: true }, ...errors },
      },
    }, async () => nvramView(printer));

    const clockView = (c: ClockStatus) => ({
      ...c,
      now: new Date(c.now).toISOString(),
      lastSync: c.lastSync ? { ...c.lastSync, at: new Date(c.lastSync.at).toISOString() } : null,
    });
    const deviceClock = (reply: FastifyReply): ClockService | null => {
      if (ctx.sim.deviceClock) return ctx.sim.deviceClock;
      void reply.code(409).send({ error: 'this printer has no device clock' });
      return null;
    };

    app.get('/settings/clock', {
      schema: { tags: ['settings'], summary: 'Date/time, time zone, NTP on/off and the last NTP outcome', security, response: { 200: { $ref: 'ClockSettings#' }, ...errors } },
    }, async (_request, reply) => {
      const c = deviceClock(reply);
      return c ? clockView(c.status()) : reply;
    });

    app.put<{ Body: { dateTime?: string; ntpEnabled?: boolean; timeZone?: string } }>('/settings/clock', {
      schema: {
        tags: ['settings'],
        summary: 'Set the date/time and/or the time zone and NTP switch; bad input changes nothing',
        security,
        body: clockSettingsInputSchema,
        response: { 200: { $ref: 'ClockSettings#' }, ...errors },
      },
    }, async (request, reply) => {
      const c = deviceClock(reply);
      if (!c) return reply;
      const { dateTime, ...settings } = request.body;
      const at = dateTime === undefined ? null : Date.parse(dateTime);
      if (at !== null && !Number.isFinite(at)) return reply.code(400).send({ error: 'invalid date/time', fields: { dateTime: 'not an RFC 3339 date-time' } });
      // Checked before touching the clock, so a bad time zone leaves the date alone too (ajv checked the types).
      if (settings.timeZone !== undefined && !isTimeZoneName(settings.timeZone)) {
        return reply.code(400).send({ error: 'invalid clock settings', fields: { timeZone: `not an IANA time zone name: ${JSON.stringify(settings.timeZone)}` } });
      }
      if (at !== null) await c.setDateTime(at);
      if (settings.timeZone !== undefined || settings.ntpEnabled !== undefined) await c.saveTimeSettings(settings);
      return clockView(c.status());
    });

    app.post('/device/clock/sync', {
      schema: {
        tags: ['device'],
        summary: 'One NTP exchange now (whether or not NTP is on); the clock is corrected when it succeeds',
        security,
        response: { 200: { $ref: 'ClockSettings#' }, ...errors },
      },
    }, async (_request, reply) => {
      const c = deviceClock(reply);
      if (!c) return reply;
      await c.syncNow();
      return clockView(c.status());
    });

    app.post<{ Body: { stepMs?: number; driftPpm?: number; battery?: 'ok' | 'dead' } }>('/device/clock/fault', {
      schema: {
        tags: ['device'],
        summary: 'Simulation: inject RTC faults (step, drift, dead battery); answers the clock as the printer now reads it',
        security,
        body: clockFaultSchema,
        response: { 200: { $ref: 'ClockSettings#' }, ...errors },
      },
    }, async (request, reply) => {
      const c = deviceClock(reply);
      if (!c) return reply;
      const { stepMs, driftPpm, battery } = request.body;
      if (battery !== undefined) c.rtc.setBattery(battery === 'ok');
      if (driftPpm !== undefined) c.rtc.setDrift(driftPpm);
      if (stepMs !== undefined) c.rtc.step(stepMs);
      await c.idle();
      return clockView(c.status());
    });

    app.get('/statechart', {
      schema: {
        tags: ['device'],
        summary: 'The statechart as a table (states, transitions) with the current state',
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              states: { type: 'array', items: { type: 'string' } },
              transitions: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' }, source: { type: 'string' }, event: { type: 'string' },
                    guard: { type: ['string', 'null'] }, target: { type: 'string' }, declaredIn: { type: 'string' },
                  },
                },
              },
              current: { type: 'string' },
              mermaid: { type: 'string' },
            },
          },
          ...errors,
        },
      },
    }, async () => statechartView(ctx));
  };
}

export { statusSchema, smtpSettingsSchema, jobSchema, dispatchResultSchema };
