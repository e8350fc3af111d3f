/**
 * The Web Image Monitor pages: server-rendered (eta), one form per action, every form with a CSRF token, no inline
 * script. Wording follows the printer's own panel and the reference statechart's wording column.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LeafState } from '../../../machines/oauthDevice.ts';
import { DeviceInputError } from '../../device/validation.ts';
import { deviceNow, type PanelContext } from '../context.ts';
import { jobView, settingsWarnings, statusView } from '../presenters.ts';
import { describeError, mmss, SECRET_HINT, STATE_TITLES, STATE_TONE } from '../wording.ts';
import { renderPage, setFlash } from '../render.ts';
import { renderStatechartSvg } from '../statechartSvg.ts';
import { bootView, eventLogView, nvramView, statechartView } from '../views-data.ts';
import { requireAdminPage } from './auth.ts';
import { trustPageRoutes } from '../trust/routes.ts';
import { isTimeZone, requireCapability, type OperatorEventType } from '../../device/printer.ts';
import type { ClockStatus } from '../../device/clockService.ts';

const SIGNED_IN: LeafState[] = ['authorized', 'tokenExpired', 'refreshing', 'sending', 'sendFailure'];
const formString = { type: 'string', maxLength: 4096 } as const;
const anyForm = { type: 'object', additionalProperties: formString } as const;

type SmtpForm = Record<string, string | undefined>;

/** A form's strings to the device's settings shape; the device's own validation says what is wrong. */
function settingsFromForm(body: SmtpForm): Record<string, unknown> {
  const port = body.smtpPort ?? '';
  return {
    smtpServerName: body.smtpServerName ?? '',
    smtpPort: /^\s*\d{1,6}\s*$/.test(port) ? Number(port) : port,
    useSecureConnection: body.useSecureConnection === 'on',
    authMethod: body.authMethod ?? '',
    authEmailAddress: (body.authEmailAddress ?? '').trim(),
    authUsername: (body.authUsername ?? '').trim(),
    adminEmailAddress: (body.adminEmailAddress ?? '').trim(),
    appTenantId: (body.appTenantId ?? '').trim(),
    appClientId: (body.appClientId ?? '').trim(),
    // Write-only: an empty field keeps the sealed secret, so it is left out.
    ...(body.smtpPassword ? { smtpPassword: body.smtpPassword } : {}),
    ...(body.clientSecret ? { clientSecret: body.clientSecret } : {}),
  };
}

/** A form's values as the page may show them again: everything but the secrets. */
function withoutSecrets(values: Record<string, unknown>): Record<string, unknown> {
  const { smtpPassword: _password, clientSecret: _secret, ...shown } = values;
  return shown;
}

/** The methods whose status block (with "Start Authentication") sits in SMTP under the method. */
const OAUTH_METHODS: readonly string[] = ['oauth2ExchangeOnline', 'oauth2AppOnly'];

/** Waits (bounded, wall time) until the device leaves `state`, so a click lands on the page of what happened. */
async function waitWhile(ctx: PanelContext, state: LeafState, timeoutMs: number): Promise<void> {
  const printer = ctx.sim.printer;
  let off = () => {};
  // Subscribed before the state is read, so a step between the two is not missed.
  const left = new Promise<void>((resolve) => {
    off = printer.subscribe((n) => {
      if (n.to !== state) resolve();
    });
  });
  try {
    if ((await printer.status()).state !== state) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([left, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  } finally {
    off();
  }
}

export function pagesPlugin(ctx: PanelContext) {
  return async function pages(app: FastifyInstance): Promise<void> {
    const printer = ctx.sim.printer;
    const now = () => deviceNow(ctx); // the device's times (deadlines, token expiry) are on its own clock
    /**
     * The operator buttons of the status page: shown exactly when the statechart takes the event now (`can`), never
     * from a list of states kept here. RETRY in tokenExpired is the statechart's "Renew now" (refresh without a job).
     */
    const operatorButtons = async (state: string) => ({
      canStart: await printer.can('START_AUTH'),
      canRetry: await printer.can('RETRY'),
      retryLabel: state === 'tokenExpired' ? 'Renew now' : 'Retry',
      canDismiss: await printer.can('DISMISS'),
    });
    const post = { preHandler: app.csrfProtection, schema: { hide: true, body: anyForm } };
    const render = (req: FastifyRequest, reply: FastifyReply, view: string, data: Record<string, unknown> & { title: string; nav?: string }, status = 200) =>
      renderPage(ctx, req, reply, view, data, status);
    const statusModel = async () => {
      const s = await printer.status();
      return { s, v: statusView(s, now()), tone: STATE_TONE[s.state], title: STATE_TITLES[s.state] };
    };

    /**
     * The "OAuth 2.0 Authentication" block (oauth-block.eta), shown on its page and in SMTP under the method. Only its
     * own page reloads on a transition: in SMTP a reload would throw away what the administrator is typing.
     */
    const oauthBlock = async (reloadOnTransition: boolean) => {
      const { s, v, tone, title } = await statusModel();
      return {
        tone,
        stateTitle: title,
        stateText: v.stateText,
        lastError: s.lastError ? describeError(s.lastError) : null,
        advice: v.advice,
        canStart: await printer.can('START_AUTH'),
        signingIn: s.state === 'requestingCode' || s.state === 'codePending',
        signedIn: SIGNED_IN.includes(s.state) || s.state === 'reauthRequired',
        reloadOnTransition,
      };
    };

    app.addHook('onRequest', requireAdminPage);

    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/status'));

    // ------------------------------------------------------------------ status
    app.get('/status', { schema: { hide: true } }, async (req, reply) => {
      const { s, v, tone, title } = await statusModel();
      const settings = await printer.settings();
      const job = s.jobId ? await printer.job(s.jobId) : undefined;
      return render(req, reply, 'status.eta', {
        title: 'Status',
        nav: 'status',
        st: v,
        tone,
        stateTitle: title,
        lastError: s.lastError ? { ...s.lastError, text: describeError(s.lastError) } : null,
        tokenRemaining: s.tokenExpiresAt ? mmss(s.tokenExpiresAt - now()) : null,
        settings,
        job: job ? jobView(job) : null,
        ...(await operatorButtons(s.state)),
        warnings: settingsWarnings(settings),
        boot: bootView(await printer.bootReport()),
      });
    });

    // ------------------------------------------------------------------ SMTP settings
    const smtpPage = async (req: FastifyRequest, reply: FastifyReply, values: Record<string, unknown>, fieldErrors: Record<string, string>, status = 200) => {
      const stored = await printer.settings();
      return render(req, reply, 'smtp.eta', {
        title: 'SMTP',
        nav: 'smtp',
        values: withoutSecrets(values),
        fieldErrors,
        secretHint: SECRET_HINT,
        warnings: fieldErrors && Object.keys(fieldErrors).length ? [] : settingsWarnings(stored),
        // As the seed places it (step 4: "Start Authentication" in "OAuth 2.0 Authentication" in "SMTP"), for OAuth.
        oauth: OAUTH_METHODS.includes(stored.authMethod) ? await oauthBlock(false) : null,
      }, status);
    };

    app.get('/settings/smtp', { schema: { hide: true } }, async (req, reply) => smtpPage(req, reply, { ...(await printer.settings()) }, {}));

    app.post<{ Body: SmtpForm }>('/settings/smtp', post, async (req, reply) => {
      const input = settingsFromForm(req.body);
      try {
        const result = await printer.saveSettings(input);
        if (!result.accepted) {
          setFlash(req, { kind: 'error', text: `Not saved: ${result.reason ?? 'the device is busy'}.` });
          return reply.redirect('/settings/smtp');
        }
      } catch (err) {
        if (err instanceof DeviceInputError) {
          return smtpPage(req, reply, { ...input, smtpPort: req.body.smtpPort ?? '' }, err.fields, 400);
        }
        throw err;
      }
      setFlash(req, { kind: 'ok', text: 'The settings were saved.' });
      return reply.redirect('/settings/smtp');
    });

    // ------------------------------------------------------------------ Date/Time
    const clockModel = (c: ClockStatus) => ({
      ...c,
      nowUtc: new Date(c.now).toISOString().replace('.000Z', 'Z'),
      nowLocal: new Date(c.now).toLocaleString('en-GB', { timeZone: c.timeZone }),
      lastSyncText: !c.lastSync
        ? 'none since power-on'
        : c.lastSync.ok
          ? `OK at ${new Date(c.lastSync.at).toISOString()}, corrected by ${c.lastSync.offsetMs} ms`
          : `failed at ${new Date(c.lastSync.at).toISOString()}: ${c.lastSync.message}`,
    });
    const clockPage = (req: FastifyRequest, reply: FastifyReply, error: string | null, status = 200) =>
      render(req, reply, 'clock.eta', {
        title: 'Date/Time',
        nav: 'clock',
        clock: ctx.sim.deviceClock ? clockModel(ctx.sim.deviceClock.status()) : null,
        error,
      }, status);

    app.get('/settings/clock', { schema: { hide: true } }, async (req, reply) => clockPage(req, reply, null));

    app.post<{ Body: Record<string, string | undefined> }>('/settings/clock', post, async (req, reply) => {
      const c = ctx.sim.deviceClock;
      if (!c) return clockPage(req, reply, 'this printer has no adjustable clock', 409);
      const dateText = (req.body.dateTime ?? '').trim();
      const timeZone = (req.body.timeZone ?? '').trim();
      // Both checked before anything changes: a bad field leaves the clock and the settings as they were.
      const at = dateText ? Date.parse(dateText) : null;
      if (at !== null && (!Number.isFinite(at) || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(dateText))) {
        return clockPage(req, reply, `"${dateText}" is not a date/time like 2026-01-05T08:00:00Z`, 400);
      }
      if (!isTimeZone(timeZone)) return clockPage(req, reply, `"${timeZone}" is not an IANA time zone name`, 400);
      if (at !== null) await c.setDateTime(at);
      await c.saveTimeSettings({ timeZone, ntpEnabled: req.body.ntpEnabled !== undefined });
      setFlash(req, { kind: 'ok', text: 'The date/time settings were saved.' });
      return reply.redirect('/settings/clock');
    });

    app.post('/settings/clock/sync', post, async (req, reply) => {
      const c = ctx.sim.deviceClock;
      if (!c) return clockPage(req, reply, 'this printer has no adjustable clock', 409);
      const outcome = await c.syncNow();
      setFlash(req, outcome.ok ? { kind: 'ok', text: `NTP sync: clock corrected by ${outcome.offsetMs} ms.` } : { kind: 'error', text: `NTP sync failed: ${outcome.message}.` });
      return reply.redirect('/settings/clock');
    });

    // ------------------------------------------------------------------ Certificates (the TLS trust store)
    await app.register(trustPageRoutes(ctx, post));

    // ------------------------------------------------------------------ OAuth 2.0 Authentication
    app.get('/oauth', { schema: { hide: true } }, async (req, reply) => {
      const { v } = await statusModel();
      return render(req, reply, 'oauth.eta', {
        title: 'OAuth 2.0 Authentication',
        nav: 'oauth',
        st: v,
        settings: await printer.settings(),
        oauth: await oauthBlock(true),
      });
    });

    app.post('/oauth/start', post, async (req, reply) => {
      const result = await printer.send({ type: 'START_AUTH' });
      if (!result.accepted) {
        setFlash(req, { kind: 'error', text: `Authentication could not start: ${result.reason}.` });
        return reply.redirect('/oauth');
      }
      await waitWhile(ctx, 'requestingCode', 10_000);
      return reply.redirect('/oauth/code');
    });

    const codePage = async (req: FastifyRequest, reply: FastifyReply, notice: string | null) => {
      const { s, v } = await statusModel();
      return render(req, reply, 'code.eta', {
        title: 'OAuth 2.0 Authentication',
        nav: 'oauth',
        st: v,
        state: s.state,
        remainingSeconds: s.expiresAt ? Math.max(0, Math.round((s.expiresAt - now()) / 1000)) : 0,
        remaining: s.expiresAt ? mmss(s.expiresAt - now()) : null,
        signedIn: SIGNED_IN.includes(s.state),
        lastError: s.lastError ? describeError(s.lastError) : null,
        notice,
      });
    };

    app.get('/oauth/code', { schema: { hide: true } }, async (req, reply) => codePage(req, reply, null));

    app.post('/oauth/ok', post, async (req, reply) => {
      const { state, account } = await printer.status();
      if (SIGNED_IN.includes(state)) {
        setFlash(req, { kind: 'ok', text: `Authenticated as ${account ?? ''}.` });
        return reply.redirect('/status');
      }
      if (state === 'codePending' || state === 'requestingCode') {
        return codePage(req, reply, 'Authentication is not complete yet. Finish signing in at the Microsoft page, then click OK.');
      }
      setFlash(req, { kind: 'error', text: STATE_TITLES[state] });
      return reply.redirect('/status');
    });

    app.post('/oauth/cancel', post, async (req, reply) => {
      const result = await printer.send({ type: 'CANCEL_AUTH' });
      setFlash(req, result.accepted ? { kind: 'info', text: 'Authentication was cancelled.' } : { kind: 'warn', text: `Nothing to cancel: ${result.reason}.` });
      return reply.redirect('/oauth');
    });

    app.get('/oauth/delete', { schema: { hide: true } }, async (req, reply) =>
      render(req, reply, 'confirm.eta', {
        title: 'Delete Token',
        nav: 'oauth',
        question: `Delete the token of ${(await printer.status()).account ?? 'this device'}? Scan to e-mail stops until someone signs in again.`,
        action: '/oauth/delete',
        confirmLabel: 'Delete Token',
        cancelHref: '/oauth',
      }),
    );

    app.post('/oauth/delete', post, async (req, reply) => {
      const result = await printer.send({ type: 'SIGN_OUT' });
      setFlash(req, result.accepted ? { kind: 'ok', text: 'The token was deleted.' } : { kind: 'warn', text: `No token deleted: ${result.reason}.` });
      return reply.redirect('/oauth');
    });

    // ------------------------------------------------------------------ Send Test E-mail, logs
    const mailPage = async (req: FastifyRequest, reply: FastifyReply, values: Record<string, string>, fieldErrors: Record<string, string>, status = 200) => {
      const settings = await printer.settings();
      return render(req, reply, 'mail.eta', { title: 'Send Test E-mail', nav: 'mail', values, fieldErrors, sender: settings.adminEmailAddress || settings.authEmailAddress }, status);
    };

    app.get('/mail/test', { schema: { hide: true } }, async (req, reply) =>
      mailPage(req, reply, { to: (await printer.settings()).authEmailAddress, subject: 'Test e-mail from the MFP', body: 'This is a test e-mail sent from Web Image Monitor.' }, {}),
    );

    app.post<{ Body: Record<string, string | undefined> }>('/mail/test', post, async (req, reply) => {
      const values = { to: req.body.to ?? '', subject: req.body.subject ?? '', body: req.body.body ?? '' };
      const to = values.to.split(/[,;\s]+/).filter(Boolean);
      try {
        const job = await printer.submitJob({ to, subject: values.subject, body: values.body });
        setFlash(req, { kind: 'ok', text: `Test e-mail queued (job ${job.id.slice(0, 8)}).` });
        return reply.redirect('/jobs');
      } catch (err) {
        if (err instanceof DeviceInputError) {
          const fieldErrors: Record<string, string> = {};
          for (const [k, v] of Object.entries(err.fields)) fieldErrors[k.split('.')[0] === '(body)' ? 'to' : k.split('.')[0]!] = v;
          return mailPage(req, reply, values, fieldErrors, 400);
        }
        throw err;
      }
    });

    app.get('/jobs', { schema: { hide: true } }, async (req, reply) =>
      render(req, reply, 'jobs.eta', { title: 'Job Log', nav: 'jobs', jobs: (await printer.jobs()).map(jobView).sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '')) }),
    );

    app.get('/events', { schema: { hide: true } }, async (req, reply) =>
      render(req, reply, 'events.eta', { title: 'Event Log', nav: 'events', entries: (await eventLogView(printer)).reverse() }),
    );

    app.get('/nvram', { schema: { hide: true } }, async (req, reply) => {
      const view = await nvramView(printer);
      return render(req, reply, 'nvram.eta', { title: 'NVRAM', nav: 'nvram', n: view, contentJson: JSON.stringify(view.content, null, 2) });
    });

    app.get('/statechart', { schema: { hide: true } }, async (req, reply) => {
      const sc = await statechartView(ctx);
      return render(req, reply, 'statechart.eta', {
        title: 'Statechart',
        nav: 'statechart',
        current: sc.current,
        currentTitle: STATE_TITLES[sc.current],
        rows: sc.transitions.filter((t) => t.source === sc.current),
        allRows: sc.transitions,
      });
    });

    app.get('/statechart.svg', { schema: { hide: true } }, async (_req, reply) =>
      reply
        .type('image/svg+xml')
        .header('Cache-Control', 'no-store')
        .send(renderStatechartSvg(ctx.machine, ctx.table, (await printer.status()).state)),
    );

    // ------------------------------------------------------------------ maintenance
    app.get('/maintenance', { schema: { hide: true } }, async (req, reply) =>
      render(req, reply, 'maintenance.eta', { title: 'Maintenance', nav: 'maintenance', state: (await printer.status()).state }),
    );

    const operatorForm = (path: string, type: OperatorEventType, done: (state: string) => string) =>
      app.post(path, post, async (req, reply) => {
        const before = (await printer.status()).state;
        const result = await printer.send({ type });
        setFlash(req, result.accepted ? { kind: 'ok', text: done(before) } : { kind: 'warn', text: `Not done: ${result.reason}.` });
        return reply.redirect('/status');
      });
    operatorForm('/device/retry', 'RETRY', (from) => (from === 'tokenExpired' ? 'Renewing the access token now.' : 'Retrying the job now.'));
    operatorForm('/device/dismiss', 'DISMISS', () => 'Dismissed.');

    app.get('/maintenance/factory-reset', { schema: { hide: true } }, async (req, reply) =>
      render(req, reply, 'confirm.eta', {
        title: 'Factory Reset',
        nav: 'maintenance',
        question: 'Erase the SMTP settings, the job log and the token? The administrator password is kept.',
        action: '/maintenance/factory-reset',
        confirmLabel: 'Factory Reset',
        cancelHref: '/maintenance',
      }),
    );
    operatorForm('/maintenance/factory-reset', 'FACTORY_RESET', () => 'The device was reset to factory settings.');

    app.post('/maintenance/power-cycle', post, async (req, reply) => {
      const report = await requireCapability(printer, 'power').powerCycle(0);
      setFlash(req, { kind: 'ok', text: `The device was restarted; it came back as ${STATE_TITLES[report.stateAfter]}.` });
      return reply.redirect('/status');
    });
  };
}
