/**
 * Transport-level protections: helmet (CSP without inline scripts or styles), encrypted session cookie, CSRF tokens
 * kept in that session, and the rate-limit plugin (applied per route: only the login is limited).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import secureSession from '@fastify/secure-session';
import csrf from '@fastify/csrf-protection';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import formbody from '@fastify/formbody';

export const SESSION_COOKIE = 'wim_session';
/** Idle sessions end after this long (seconds); a restart ends them all (random key per start). */
export const SESSION_EXPIRY_S = 8 * 60 * 60;

export async function registerSecurity(app: FastifyInstance, opts: { sessionKey?: Buffer }): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Plain HTTP on loopback: no HSTS, no upgrade of form posts to https.
    strictTransportSecurity: false,
  });
  await app.register(cookie);
  await app.register(secureSession, {
    key: opts.sessionKey ?? randomBytes(32),
    cookieName: SESSION_COOKIE,
    expiry: SESSION_EXPIRY_S,
    cookie: { path: '/', httpOnly: true, sameSite: 'strict', secure: false },
  });
  await app.register(csrf, { sessionPlugin: '@fastify/secure-session' });
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(rateLimit, { global: false });
}
