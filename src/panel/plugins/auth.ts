/**
 * Who is asking. An administrator is recognised by the encrypted session cookie (set by the login form) or by HTTP
 * Basic `admin:<password>` on each request (scripts). Both go through the same password check and the same lockout.
 * A 401 never carries `WWW-Authenticate`: a browser that never prompted never caches Basic credentials, so Basic
 * cannot become an ambient credential for cross-site requests (which is why Basic requests need no CSRF token).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PanelContext } from '../context.ts';
import { storedHash, verifyPassword } from '../credentials.ts';
import { mmss } from '../presenters.ts';
import { renderPage, type Flash } from '../render.ts';

export const ADMIN_USER = 'admin';

declare module 'fastify' {
  interface FastifyRequest {
    /** How the administrator was recognised on this request, or null. */
    adminVia: 'session' | 'basic' | null;
    /** Why Basic credentials were refused. */
    authProblem: 'bad-credentials' | 'locked' | null;
  }
}
declare module '@fastify/secure-session' {
  interface SessionData {
    admin: boolean;
    flash: Flash | undefined;
    _csrf: string;
  }
}

export type CheckResult = 'ok' | 'bad-credentials' | 'locked';

export function createPasswordCheck(ctx: PanelContext) {
  // A Basic header that verified once is remembered by an HMAC under a per-process key (not the password), so a
  // script's every request does not pay for scrypt. It is forgotten when the stored hash changes.
  const cacheKey = randomBytes(32);
  let remembered: { digest: Buffer; hash: string } | null = null;

  return async function check(user: string, password: string, rememberAs?: string): Promise<CheckResult> {
    if (ctx.lockout.remainingMs() > 0) return 'locked';
    const stored = storedHash(ctx.sim.device.nvram);
    if (!stored) return 'bad-credentials';
    const digest = rememberAs ? createHmac('sha256', cacheKey).update(rememberAs).digest() : null;
    if (digest && remembered && remembered.hash === stored.hash && timingSafeEqual(digest, remembered.digest)) return 'ok';
    const ok = user === ADMIN_USER && (await verifyPassword(password, stored));
    if (!ok) {
      ctx.lockout.recordFailure();
      return 'bad-credentials';
    }
    ctx.lockout.recordSuccess();
    if (digest) remembered = { digest, hash: stored.hash };
    return 'ok';
  };
}

function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header || !/^Basic\s+/i.test(header)) return null;
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, '').trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { user: decoded, password: '' };
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function registerAuth(app: FastifyInstance, ctx: PanelContext, opts: { loginRateLimit: number }): Promise<void> {
  const check = createPasswordCheck(ctx);
  app.decorateRequest('adminVia', null);
  app.decorateRequest('authProblem', null);

  app.addHook('onRequest', async (request) => {
    const basic = parseBasic(request.headers.authorization);
    if (basic) {
      const result = await check(basic.user, basic.password, request.headers.authorization);
      if (result === 'ok') request.adminVia = 'basic';
      else request.authProblem = result;
      return;
    }
    if (request.session.get('admin') === true) request.adminVia = 'session';
  });

  const loginPage = (request: FastifyRequest, reply: FastifyReply, error: string | null, status = 200) =>
    renderPage(ctx, request, reply, 'login.eta', { title: 'Administrator Login', error }, status);

  app.get('/login', { schema: { hide: true } }, async (request, reply) => {
    if (request.adminVia) return reply.redirect('/status');
    return loginPage(request, reply, null);
  });

  app.post<{ Body: { userName?: string; password?: string } }>(
    '/login',
    {
      schema: {
        hide: true,
        body: {
          type: 'object',
          properties: { userName: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 }, _csrf: { type: 'string' } },
        },
      },
      config: { rateLimit: { max: opts.loginRateLimit, timeWindow: '1 minute' } },
      preHandler: app.csrfProtection,
    },
    async (request, reply) => {
      const result = await check(request.body.userName ?? '', request.body.password ?? '');
      if (result === 'locked') {
        return loginPage(request, reply, `Too many failed logins. Try again in ${mmss(ctx.lockout.remainingMs())}.`, 429);
      }
      if (result === 'bad-credentials') return loginPage(request, reply, 'The user name or password is incorrect.', 401);
      // A fresh session: nothing from before the login (CSRF secret included) carries over.
      request.session.regenerate();
      request.session.set('admin', true);
      return reply.redirect('/status');
    },
  );

  app.post('/logout', { schema: { hide: true }, onRequest: requireAdminPage, preHandler: app.csrfProtection }, async (request, reply) => {
    request.session.delete();
    return reply.redirect('/login');
  });
}

/** onRequest hook for the JSON API: 401 without credentials, 429 while locked out. */
export async function requireAdminApi(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.adminVia) return;
  if (request.authProblem === 'locked') {
    await reply.code(429).send({ error: 'too many failed logins; locked out for a while' });
    return;
  }
  await reply.code(401).send({ error: 'authentication required (session cookie or HTTP Basic admin:<password>)' });
}

/** onRequest hook for pages: to the login page. */
export async function requireAdminPage(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.adminVia) return;
  if (request.method === 'GET') await reply.redirect('/login');
  else await reply.code(401).type('text/plain').send('authentication required');
}
