/**
 * One error policy: ajv failures and device input errors → 400 with one message per field; CSRF → 403; anything
 * else keeps its 4xx, and a real fault is a logged 500 without details. /api answers JSON, pages answer HTML.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DeviceInputError } from '../../device/validation.ts';
import { StorageFaultError } from '../../device/storage-fault.ts';

type AjvIssue = { instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> };

export function fieldsFromAjv(issues: AjvIssue[], context?: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const path = (issue.instancePath ?? '').split('/').filter(Boolean);
    if (issue.keyword === 'required' && typeof issue.params?.missingProperty === 'string') path.push(issue.params.missingProperty);
    if (issue.keyword === 'additionalProperties' && typeof issue.params?.additionalProperty === 'string') {
      fields[[...path, issue.params.additionalProperty].join('.')] ??= 'is not a known field';
      continue;
    }
    const key = path.length ? path.join('.') : context === 'body' ? '(body)' : `(${context ?? 'request'})`;
    const message =
      issue.keyword === 'required' ? 'is required' : issue.keyword === 'anyOf' && key === 'to' ? 'must be an e-mail address or a list of them' : (issue.message ?? 'is invalid');
    fields[key] ??= message;
  }
  return fields;
}

const wantsJson = (request: FastifyRequest) => request.url.startsWith('/api') || request.url.startsWith('/docs');

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let status = 500;
    let body: { error: string; fields?: Record<string, string> };
    if (error.validation) {
      status = 400;
      const fields = fieldsFromAjv(error.validation as AjvIssue[], error.validationContext);
      body = { error: `invalid input: ${Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('; ')}`, fields };
    } else if (error instanceof DeviceInputError) {
      status = 400;
      body = { error: error.message, fields: error.fields };
    } else if (error instanceof StorageFaultError) {
      // The printer's disk refused the change (full, read-only, failing): nothing was changed; try again later.
      status = 503;
      body = { error: error.message };
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      body = { error: error.code?.startsWith('FST_CSRF') ? `CSRF check failed: ${error.message}` : error.message };
    } else {
      request.log.error({ err: error }, 'panel request failed');
      body = { error: 'internal error' };
    }
    if (wantsJson(request)) return reply.code(status).send(body);
    return reply.code(status).type('text/html; charset=utf-8').send(errorHtml(status, body.error));
  });

  app.setNotFoundHandler(async (request, reply) => {
    if (wantsJson(request)) return reply.code(404).send({ error: 'not found' });
    return reply.code(404).type('text/html; charset=utf-8').send(errorHtml(404, 'This page does not exist.'));
  });
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function errorHtml(status: number, message: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Web Image Monitor</title>' +
    '<link rel="stylesheet" href="/assets/panel.css"></head><body class="bare"><main class="card narrow">' +
    `<h1>Error ${status}</h1><p>${esc(message)}</p><p><a href="/status">Back to Web Image Monitor</a></p></main></body></html>`
  );
}
