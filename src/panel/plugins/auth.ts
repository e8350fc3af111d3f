/**
 * Who is asking. An administrator is recognised by a server-side session (its id in the encrypted cookie set by the
 * login form; see sessions.ts) or by HTTP Basic `admin:<password>` on each request (scripts). Both go through the
 * same password check and the same lockout, which takes its attempt slot before the check (see lockout.ts).
 * A 401 never carries `WWW-Authenticate`: a browser that never prompted never caches Basic credentials, so Basic
 * cannot become an ambient credential for cross-site requests (which is why Basic requests need no CSRF token).
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PanelContext } from '../context.ts';
import { hashPassword, verifyPassword, type StoredPasswordHash } from '../../device/admin.ts';
import { mmss } from '../wording.ts';
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
    /** Id of the server-side session (SessionStore); the cookie alone proves nothing. */
    sid: string;
    flash: Flash | undefined;
    _csrf: string;
  }
}

export type CheckResult = 'ok' | 'bad-credentials' | 'locked';

/** Verified against when the user name is not the administrator's, so a wrong name costs what a wrong password does. */
const DUMMY_HASH_PROMISE = () => hashPassword(randomBytes(16).toString('base64'));

/**
 * The password check shared by the login form and HTTP Basic. Locked out is decided here, before the printer is
 * asked anything; the password itself is verified by the printer (`admin.check`, serialized with its other work).
 */
export function createPasswordCheck(ctx: PanelContext) {
  // A Basic header that verified once is remembered by a SHA-256 digest keyed with a per-process random prefix (not
  // the header itself, which carries the password), so a script's every request does not pay for scrypt. The digest
  // is only ever compared in this process, so a keyed prefix is enough (a one-shot hash costs half an HMAC). It is
  // forgotten when the printer's password revision changes (a change here, through another face, a reset).
  const cacheKey = randomBytes(32).toString('base64');
  let remembered: { digest: Buffer; revision: string } | null = null;
  const digestOf = (header: string) => hash('sha256', cacheKey + header, 'buffer');
  const admin = ctx.sim.printer.admin;

  let dummy: Promise<StoredPasswordHash> | null = null;

  const verify = async (address: string, user: string, password: string, digest: Buffer | null, revision: string): Promise<CheckResult> => {
    // The slot is taken before the ~70 ms check: a burst of parallel guesses verifies at most the limit.
    const slot = ctx.lockout.tryBegin(address);
    if (!slot) return 'locked';
    let ok = false;
    try {
      // Always one scrypt, whatever the user name: the answer's timing does not tell a wrong name from a wrong password.
      if (user === ADMIN_USER) ok = await admin.check(password);
      else await verifyPassword(password, await (dummy ??= DUMMY_HASH_PROMISE()));
    } finally {
      if (ok) slot.succeeded();
      else slot.failed();
    }
    if (!ok) return 'bad-credentials';
    if (digest) remembered = { digest, revision };
    return 'ok';
  };

  /** 'locked' while locked out, 'bad-credentials' when no password is set, else the stored password's revision. */
  const current = async (address: string): Promise<{ revision: string } | 'locked' | 'bad-credentials'> => {
    if (ctx.lockout.remainingMs(address) > 0) return 'locked';
    const revision = await admin.revision();
    return revision === null ? 'bad-credentials' : { revision };
  };

  return {
    /** The login form's user name and password. */
    async password(address: string, user: string, password: string): Promise<CheckResult> {
      const now = await current(address);
      return typeof now === 'string' ? now : verify(address, user, password, null, now.revision);
    },
    /** An `Authorization: Basic …` header (see isBasic). Locked out is answered without a promise. */
    basic(address: string, header: string): CheckResult | Promise<CheckResult> {
      if (ctx.lockout.remainingMs(address) > 0) return 'locked';
      return current(address).then((now) => {
        if (typeof now === 'string') return now;
        const digest = digestOf(header);
        if (remembered && remembered.revision === now.revision && timingSafeEqual(digest, remembered.digest)) return 'ok';
        const { user, password } = parseBasic(header);
        return verify(address, user, password, digest, now.revision);
      });
    },
    /** After a password change: no remembered header stays valid. */
    forget(): void {
      remembered = null;
    },
  };
}

const BASIC = /^Basic\s+/i;
const isBasic = (header: string | undefined): header is string => header !== undefined && BASIC.test(header);

function parseBasic(header: string): { user: string; password: string } {
  const decoded = Buffer.from(header.replace(BASIC, '').trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { user: decoded, password: '' };
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function applyBasicResult(request: FastifyRequest, result: CheckResult): void {
  if (result === 'ok') request.adminVia = 'basic';
  else request.authProblem = result;
}

export async function registerAuth(app: FastifyInstance, ctx: PanelContext, opts: { loginRateLimit: number }): Promise<void> {
  const check = createPasswordCheck(ctx);
  app.decorateRequest('adminVia', null);
  app.decorateRequest('authProblem', null);

  // Callback style, not async: most requests are decided synchronously (see createPasswordCheck).
  app.addHook('onRequest', (request, _reply, done) => {
    const header = request.headers.authorization;
    if (!isBasic(header)) {
      if (ctx.sessions.touch(request.session.get('sid'))) request.adminVia = 'session';
      done();
      return;
    }
    const result = check.basic(request.ip, header);
    if (typeof result === 'string') {
      applyBasicResult(request, result);
      done();
    } else {
      result.then((r) => {
        applyBasicResult(request, r);
        done();
      }, done);
    }
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
      const result = await check.password(request.ip, request.body.userName ?? '', request.body.password ?? '');
      if (result === 'locked') {
        return loginPage(request, reply, ctx.lockout.remainingMs(request.ip) > 0
            ? `Too many failed logins. Try again in ${mmss(ctx.lockout.remainingMs(request.ip))}.`
            : 'Too many failed logins at once. Try again in a moment.', 429);
      }
      if (result === 'bad-credentials') return loginPage(request, reply, 'The user name or password is incorrect.', 401);
      // A fresh session: nothing from before the login (CSRF secret included) carries over.
      request.session.regenerate();
      request.session.set('sid', ctx.sessions.create());
      return reply.redirect('/status');
    },
  );

  app.post('/logout', { schema: { hide: true }, onRequest: requireAdminPage, preHandler: app.csrfProtection }, async (request, reply) => {
    // Server-side: every copy of this cookie stops working, not just the browser's.
    ctx.sessions.revoke(request.session.get('sid'));
    request.session.delete();
    return reply.redirect('/login');
  });

  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    '/api/admin/password',
    {
      schema: {
        summary: 'Change the administrator password; every session ends (sign out everywhere)',
        tags: ['admin'],
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: { currentPassword: { type: 'string', maxLength: 256 }, newPassword: { type: 'string', minLength: 8, maxLength: 256 } },
        },
        response: { 200: { type: 'object', properties: { changed: { type: 'boolean' }, sessionsEnded: { type: 'boolean' } } } },
      },
      onRequest: requireAdminApi,
      preHandler: (request, reply, done) => (request.adminVia === 'session' ? app.csrfProtection(request, reply, done) : done()),
    },
    async (request, reply) => {
      const result = await check.password(request.ip, ADMIN_USER, request.body.currentPassword);
      if (result === 'locked') return reply.code(429).send({ error: 'too many failed logins; locked out for a while' });
      if (result !== 'ok') return reply.code(400).send({ error: 'invalid input: currentPassword is not the current password', fields: { currentPassword: 'is not the current password' } });
      await ctx.sim.printer.admin.change(request.body.newPassword);
      check.forget();
      ctx.sessions.revokeAll();
      ctx.lockout.reset();
      return { changed: true, sessionsEnded: true };
    },
  );
}

/** onRequest hook for the JSON API: 401 without credentials, 429 while locked out (callback style: no promise). */
export function requireAdminApi(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
  if (request.adminVia) return done();
  // Answering ends the hook chain; done() must then not be called.
  if (request.authProblem === 'locked') reply.code(429).send({ error: 'too many failed logins; locked out for a while' });
  else reply.code(401).send({ error: 'authentication required (session cookie or HTTP Basic admin:<password>)' });
}

/** onRequest hook for pages: to the login page. */
export async function requireAdminPage(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.adminVia) return;
  if (request.method === 'GET') await reply.redirect('/login');
  else await reply.code(401).type('text/plain').send('authentication required');
}
