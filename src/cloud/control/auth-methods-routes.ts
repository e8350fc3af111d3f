/**
 * Control routes for basic auth and app-only sending (issue 14), registered inside the /_twin plugin so they share
 * its loopback check, error handler and OpenAPI document. Secrets go in, never out (only their hints are answered).
 */
import type { FastifyInstance } from 'fastify';
import type { AuthMethodsControl, BasicAuthPatchBody } from './auth-methods-control.ts';

const guid = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' } as const;
const instant = { type: 'string', maxLength: 40, description: 'ISO 8601 instant with a zone, e.g. 2026-12-31T00:00:00Z' } as const;
const clientIdParam = { type: 'object', required: ['clientId'], properties: { clientId: guid } } as const;
const upnParam = { type: 'object', required: ['upn'], properties: { upn: { type: 'string', maxLength: 256 } } } as const;
const rights = { type: 'array', minItems: 1, maxItems: 2, uniqueItems: true, items: { type: 'string', enum: ['FullAccess', 'SendAs'] } } as const;

export function authMethodsRoutes(control: AuthMethodsControl) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const tag = (t: string) => ({ tags: [t] });

    app.get('/tenant/basic-auth', { schema: { ...tag('basic auth'), summary: "Basic SMTP AUTH calendar, admin switch and today's status" } }, () =>
      control.basicAuth(),
    );
    app.patch(
      '/tenant/basic-auth',
      {
        schema: {
          ...tag('basic auth'),
          summary: 'Move the calendar or flip the administrator switch',
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              disabledByDefaultFrom: instant,
              adminReEnabled: { type: 'boolean' },
              finalRemovalAt: { anyOf: [instant, { type: 'null' }] },
              tenantCreatedAt: instant,
            },
          },
        },
      },
      (req) => control.patchBasicAuth(req.body as BasicAuthPatchBody),
    );

    app.get('/apps/credentials', { schema: { ...tag('app-only'), summary: 'App-only credentials of every app (secret hints only)' } }, () =>
      control.appCredentials(),
    );
    app.get('/apps/:clientId/credentials', { schema: { ...tag('app-only'), summary: "One app's credentials", params: clientIdParam } }, (req) =>
      control.appCredentialsOf((req.params as { clientId: string }).clientId),
    );
    app.patch(
      '/apps/:clientId/credentials',
      {
        schema: {
          ...tag('app-only'),
          summary: 'Enterprise application object id (null: none in the tenant), admin consent, application permissions',
          params: clientIdParam,
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              servicePrincipalObjectId: { anyOf: [guid, { type: 'null' }] },
              adminConsent: { type: 'boolean' },
              applicationPermissions: { type: 'array', maxItems: 20, items: { type: 'string', maxLength: 100 } },
            },
          },
        },
      },
      (req) => control.patchAppCredentials((req.params as { clientId: string }).clientId, req.body as object),
    );
    app.post(
      '/apps/:clientId/secrets',
      {
        schema: {
          ...tag('app-only'),
          summary: 'Add a client secret (the value is never answered back)',
          params: clientIdParam,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['value', 'expiresAt'],
            properties: { value: { type: 'string', minLength: 8, maxLength: 256 }, expiresAt: instant },
          },
        },
      },
      (req, reply) => {
        const body = req.body as { value: string; expiresAt: string };
        return reply.code(201).send(control.addSecret((req.params as { clientId: string }).clientId, body));
      },
    );
    app.delete('/apps/:clientId/secrets', { schema: { ...tag('app-only'), summary: "Delete all of an app's client secrets", params: clientIdParam } }, (req) =>
      control.clearSecrets((req.params as { clientId: string }).clientId),
    );
    app.post(
      '/apps/:clientId/certificates',
      {
        schema: {
          ...tag('app-only'),
          summary: 'Upload a certificate (PEM, public part) for client assertions',
          params: clientIdParam,
          body: { type: 'object', additionalProperties: false, required: ['pem'], properties: { pem: { type: 'string', maxLength: 16384 } } },
        },
      },
      (req, reply) => reply.code(201).send(control.addCertificate((req.params as { clientId: string }).clientId, (req.body as { pem: string }).pem)),
    );

    app.get('/exchange/service-principals', { schema: { ...tag('app-only'), summary: 'Service principals registered in Exchange (Get-ServicePrincipal)' } }, () =>
      control.servicePrincipals(),
    );
    app.post(
      '/exchange/service-principals',
      {
        schema: {
          ...tag('app-only'),
          summary: 'New-ServicePrincipal -AppId -ObjectId (the enterprise application\'s object id)',
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['appId', 'objectId'],
            properties: { appId: guid, objectId: guid, displayName: { type: 'string', maxLength: 256, default: '' } },
          },
        },
      },
      (req, reply) => reply.code(201).send(control.addServicePrincipal(req.body as { appId: string; objectId: string; displayName: string })),
    );
    app.delete(
      '/exchange/service-principals/:objectId',
      { schema: { ...tag('app-only'), summary: 'Remove-ServicePrincipal (its mailbox permissions go too)', params: { type: 'object', required: ['objectId'], properties: { objectId: guid } } } },
      (req, reply) => {
        control.removeServicePrincipal((req.params as { objectId: string }).objectId);
        return reply.code(204).send();
      },
    );

    app.get('/mailboxes/:upn/permissions', { schema: { ...tag('app-only'), summary: 'Get-MailboxPermission', params: upnParam } }, (req) =>
      control.mailboxPermissions((req.params as { upn: string }).upn),
    );
    app.post(
      '/mailboxes/:upn/permissions',
      {
        schema: {
          ...tag('app-only'),
          summary: 'Add-MailboxPermission -User <service principal object id> -AccessRights',
          params: upnParam,
          body: { type: 'object', additionalProperties: false, required: ['servicePrincipal', 'accessRights'], properties: { servicePrincipal: guid, accessRights: rights } },
        },
      },
      (req, reply) =>
        reply.code(201).send(control.grantMailboxPermission((req.params as { upn: string }).upn, req.body as { servicePrincipal: string; accessRights: ('FullAccess' | 'SendAs')[] })),
    );
    app.delete(
      '/mailboxes/:upn/permissions/:servicePrincipal',
      { schema: { ...tag('app-only'), summary: 'Remove-MailboxPermission', params: { type: 'object', required: ['upn', 'servicePrincipal'], properties: { upn: { type: 'string', maxLength: 256 }, servicePrincipal: guid } } } },
      (req) => {
        const p = req.params as { upn: string; servicePrincipal: string };
        return control.revokeMailboxPermission(p.upn, p.servicePrincipal);
      },
    );
  };
}
