/**
 * The control API under /_twin (JSON, loopback peers only): tenant and user switches, device code approval, the
 * virtual clock, fault plans, mailboxes and the fake phones. Every route has a schema, so the OpenAPI document at
 * /_twin/openapi.json lists it and bad bodies are refused before they reach the twin.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/swagger';
import { renderPhonePage } from '../signin/routes.ts';
import { authMethodsRoutes } from './auth-methods-routes.ts';
import { journalRoutes } from './journal-routes.ts';
import { ControlError, type TwinControl } from './control.ts';
import { faultActionProblem } from '../faults.ts';
import { faultActionSchema } from './fault-action-schema.ts';
import { holdsRoutes } from './holds-routes.ts';
import { throttlingRoutes } from './throttling-routes.ts';
import { pkiRoutes } from './pki-routes.ts';

const isLoopback = (addr: string | undefined) =>
  !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));

const upnParam = {
  type: 'object',
  required: ['upn'],
  properties: { upn: { type: 'string', maxLength: 256 } },
} as const;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

const userSchema = {
  type: 'object',
  properties: {
    upn: { type: 'string' },
    displayName: { type: 'string' },
    objectId: { type: 'string' },
    enabled: { type: 'boolean' },
    mfa: { type: 'string', enum: ['sms', 'authenticator', 'none'] },
    smtpAuthEnabled: { type: ['boolean', 'null'] },
    sendAs: { type: 'array', items: { type: 'string' } },
    mailboxFull: { type: 'boolean' },
  },
} as const;

/** `remotePeers`: the twin is bound beyond loopback and the bearer token (checked before routing) admits any peer. */
export function controlRoutes(control: TwinControl, opts: { remotePeers?: boolean } = {}) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', async (req, reply) => {
      if (!opts.remotePeers && !isLoopback(req.socket.remoteAddress)) {
        return reply.code(403).send({ error: 'forbidden', message: 'the twin control API answers loopback peers only' });
      }
    });

    app.setErrorHandler((err, req, reply) => {
      if (err instanceof ControlError) return reply.code(err.status).send({ error: 'control_error', message: err.message });
      const status = (err as { statusCode?: number }).statusCode;
      if (status && status < 500) return reply.code(status).send({ error: 'bad_request', message: (err as Error).message });
      req.log.error({ err }, 'twin control failure');
      return reply.code(500).send({ error: 'internal', message: 'twin control failure' });
    });

    app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

    const tag = (t: string) => ({ tags: [t] });
    if (control.authMethods) await app.register(authMethodsRoutes(control.authMethods));
    if (control.journal) await app.register(journalRoutes(control.journal));
    if (control.holds) await app.register(holdsRoutes(control.holds));
    if (control.throttle) await app.register(throttlingRoutes(control.throttle));
    if (control.pki) await app.register(pkiRoutes(control.pki));

    app.get('/tenant', { schema: { ...tag('tenant'), summary: 'Tenant settings, authority, apps and SMTP endpoint' } }, () => control.tenant());
    app.patch(
      '/tenant',
      {
        schema: {
          ...tag('tenant'),
          summary: 'Change tenant switches',
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              smtpAuthEnabled: { type: 'boolean' },
              securityDefaults: { type: 'boolean' },
              blockDeviceCodeFlow: { type: 'boolean' },
              consentGranted: { type: 'boolean' },
              sendAsDeniedAfterData: { type: 'boolean' },
            },
          },
        },
      },
      (req) => control.patchTenant(req.body as Parameters<TwinControl['patchTenant']>[0]),
    );

    app.get('/users', { schema: { ...tag('users'), summary: 'Users and mailboxes', response: { 200: { type: 'array', items: userSchema } } } }, () =>
      control.users(),
    );
    app.post(
      '/users',
      {
        schema: {
          ...tag('users'),
          summary: 'Add a user (and mailbox)',
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['upn', 'displayName', 'password'],
            properties: {
              upn: { type: 'string', maxLength: 256, pattern: '^[^@\\s]+@[^@\\s]+$' },
              displayName: { type: 'string', minLength: 1, maxLength: 256 },
              password: { type: 'string', minLength: 1, maxLength: 256 },
              mfa: { type: 'string', enum: ['sms', 'authenticator', 'none'], default: 'none' },
              phone: { type: 'string', maxLength: 64 },
              enabled: { type: 'boolean' },
              smtpAuthEnabled: { type: ['boolean', 'null'] },
              sendAs: { type: 'array', items: { type: 'string', maxLength: 256 }, maxItems: 100 },
              mailboxFull: { type: 'boolean' },
            },
          },
          response: { 201: userSchema, 409: errorSchema },
        },
      },
      (req, reply) => reply.code(201).send(control.addUser(req.body as Parameters<TwinControl['addUser']>[0])),
    );
    app.patch(
      '/users/:upn',
      {
        schema: {
          ...tag('users'),
          summary: 'Change a user or mailbox (requireMfa: the next refresh answers interaction_required 50076)',
          params: upnParam,
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              enabled: { type: 'boolean' },
              smtpAuthEnabled: { type: ['boolean', 'null'] },
              sendAs: { type: 'array', items: { type: 'string', maxLength: 256 }, maxItems: 100 },
              mailboxFull: { type: 'boolean' },
              mfa: { type: 'string', enum: ['sms', 'authenticator', 'none'] },
              displayName: { type: 'string', minLength: 1, maxLength: 256 },
              phone: { type: ['string', 'null'], maxLength: 64 },
              requireMfa: { type: 'boolean' },
            },
          },
          response: { 200: userSchema },
        },
      },
      (req) => control.patchUser((req.params as { upn: string }).upn, req.body as Parameters<TwinControl['patchUser']>[1]),
    );
    app.post(
      '/users/:upn/password',
      {
        schema: {
          ...tag('users'),
          summary: 'Admin password reset: every refresh token of the user dies (50173)',
          params: upnParam,
          body: { type: 'object', additionalProperties: false, required: ['password'], properties: { password: { type: 'string', minLength: 1, maxLength: 256 } } },
        },
      },
      (req, reply) => {
        control.resetPassword((req.params as { upn: string }).upn, (req.body as { password: string }).password);
        return reply.code(204).send();
      },
    );
    app.post(
      '/users/:upn/revoke',
      { schema: { ...tag('users'), summary: 'Revoke all sign-in sessions (refresh tokens die, 50173)', params: upnParam } },
      (req, reply) => {
        control.revokeSessions((req.params as { upn: string }).upn);
        return reply.code(204).send();
      },
    );

    app.get(
      '/device-codes',
      {
        schema: {
          ...tag('device-codes'),
          summary: 'Pending device codes (all=true: also finished and expired ones)',
          querystring: { type: 'object', properties: { all: { type: 'boolean' } } },
        },
      },
      (req) => control.deviceCodes((req.query as { all?: boolean }).all === true),
    );
    const codeParam = { type: 'object', required: ['userCode'], properties: { userCode: { type: 'string', maxLength: 32 } } } as const;
    app.post(
      '/device-codes/:userCode/approve',
      {
        schema: {
          ...tag('device-codes'),
          summary: 'Approve as if the user signed in (tenant policies still apply)',
          params: codeParam,
          body: { type: 'object', required: ['upn'], additionalProperties: false, properties: { upn: { type: 'string', maxLength: 256 } } },
        },
      },
      (req) => control.approveDeviceCode((req.params as { userCode: string }).userCode, (req.body as { upn: string }).upn),
    );
    app.post(
      '/device-codes/:userCode/decline',
      { schema: { ...tag('device-codes'), summary: 'Decline as if the user pressed Cancel', params: codeParam } },
      (req) => control.declineDeviceCode((req.params as { userCode: string }).userCode),
    );

    app.get('/clock', { schema: { ...tag('clock'), summary: "The twin's clock" } }, () => control.clock());
    app.get('/ntp', { schema: { ...tag('clock'), summary: "The twin's SNTP server (UDP): endpoint, reachable, requests answered" } }, () => control.ntp());
    app.put(
      '/ntp',
      {
        schema: {
          ...tag('clock'),
          summary: 'NTP unreachable fault: reachable false drops every SNTP request, true answers again',
          body: { type: 'object', required: ['reachable'], additionalProperties: false, properties: { reachable: { type: 'boolean' } } },
        },
      },
      (req) => control.setNtpReachable((req.body as { reachable: boolean }).reachable),
    );
    app.post(
      '/clock/advance',
      {
        schema: {
          ...tag('clock'),
          summary: 'Move a virtual clock forward (409 on a real clock)',
          body: { type: 'object', required: ['ms'], additionalProperties: false, properties: { ms: { type: 'integer', minimum: 0, maximum: 10 * 365 * 24 * 3600_000 } } },
        },
      },
      (req) => control.advanceClock((req.body as { ms: number }).ms),
    );

    app.get('/faults', { schema: { ...tag('faults'), summary: 'Active fault rules' } }, () => control.faults());
    app.post(
      '/faults',
      {
        schema: {
          ...tag('faults'),
          summary: 'Add a fault rule (targets devicecode, token, smtp.*)',
          body: {
            type: 'object',
            required: ['target', 'action'],
            additionalProperties: false,
            properties: {
              target: { type: 'string', enum: ['devicecode', 'token', 'smtp.connect', 'smtp.auth', 'smtp.mail', 'smtp.data'] },
              action: faultActionSchema,
              count: { type: 'integer', minimum: 1, maximum: 1_000_000 },
              probability: { type: 'number', minimum: 0, maximum: 1 },
              seed: { type: 'integer' },
            },
          },
        },
      },
      (req, reply) => reply.code(201).send(control.addFault(validFaultRule(req.body))),
    );
    app.delete('/faults', { schema: { ...tag('faults'), summary: 'Remove all fault rules' } }, (_req, reply) => {
      control.clearFaults();
      return reply.code(204).send();
    });

    app.get('/mailboxes/:upn/messages', { schema: { ...tag('mailboxes'), summary: 'Messages in a mailbox', params: upnParam } }, (req) =>
      control.messages((req.params as { upn: string }).upn),
    );
    app.get(
      '/mailboxes/:upn/messages/:id',
      {
        schema: {
          ...tag('mailboxes'),
          summary: 'One message, raw (message/rfc822)',
          params: { type: 'object', required: ['upn', 'id'], properties: { upn: { type: 'string', maxLength: 256 }, id: { type: 'string', maxLength: 128 } } },
        },
      },
      (req, reply) => {
        const { upn, id } = req.params as { upn: string; id: string };
        return reply.type('message/rfc822').send(control.rawMessage(upn, id));
      },
    );

    app.get(
      '/phone/:upn',
      { schema: { ...tag('phone'), summary: "One-time codes sent to the user's phone, newest first (HTML for browsers)", params: upnParam } },
      (req: FastifyRequest, reply: FastifyReply) => {
        const upn = (req.params as { upn: string }).upn;
        const messages = control.phone(upn);
        if (String(req.headers.accept ?? '').includes('text/html')) {
          return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(renderPhonePage(upn, messages));
        }
        return reply.header('cache-control', 'no-store').send(messages);
      },
    );

    app.get('/tokens', { schema: { ...tag('tokens'), summary: 'Issued refresh tokens (redacted ids and status only)' } }, () => control.tokens());
  };
}

/** The schema checks shapes; this checks that each action kind has the fields it needs. */
function validFaultRule(body: unknown): Parameters<TwinControl['addFault']>[0] {
  const rule = body as Parameters<TwinControl['addFault']>[0];
  const problem = faultActionProblem(rule.action);
  if (problem) throw new ControlError(400, problem);
  return rule;
}
