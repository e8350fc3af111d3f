/**
 * Transport-level protections: helmet's security headers (CSP without inline scripts or styles), encrypted session
 * cookie, CSRF tokens kept in that session, and the rate-limit plugin (applied per route: only the login is limited).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import secureSession from '@fastify/secure-session';
import csrf from '@fastify/csrf-protection';
import helmet, { type HelmetOptions } from 'helmet';
import rateLimit from '@fastify/rate-limit';
import formbody from '@fastify/formbody';

export const SESSION_COOKIE = 'wim_session';
/** Idle sessions end after this long (seconds); a restart ends them all (random key per start). */
export const SESSION_EXPIRY_S = 8 * 60 * 60;

const HELMET_OPTIONS: HelmetOptions = {
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
};

/**
 * The headers helmet sets for HELMET_OPTIONS, computed once. Our policy is static (no per-request nonces), so every
 * response gets the same set; @fastify/helmet instead rebuilt helmet's middleware, CSP parsing included, on every
 * request, which was the panel's largest per-request cost after the HTTP stack itself.
 */
export function securityHeaders(options: HelmetOptions = HELMET_OPTIONS): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
  });
  return Object.freeze(headers);
}

/** The host names and addresses a panel answers to: loopback's, plus those it is served on (DNS-rebinding guard). */
export function allowedHostNames(extra: readonly string[] = []): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
  for (const name of extra) {
    const bare = name.trim().toLowerCase();
    if (!bare) continue;
    names.add(bare);
    if (bare.includes(':') && !bare.startsWith('[')) names.add(`[${bare}]`);
  }
  return names;
}

/** `Host` without its port, lower-cased ("[::1]:8080" → "[::1]"). */
export function hostNameOf(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export async function registerSecurity(app: FastifyInstance, opts: { sessionKey?: Buffer; allowedHosts?: readonly string[] }): Promise<void> {
  const headers = securityHeaders();
  const hosts = allowedHostNames(opts.allowedHosts);
  // The headers go on every route and on 404s and errors too (onRequest runs before routing decides); a handler may
  // still override one (swagger-ui's own CSP for its static page). A page on another site that rebinds its own name
  // to this panel's address sends its own name as Host: it is refused before anything else runs (no login attempt,
  // no lockout, no session). One hook for both: the first to run on every request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(headers);
    if (hosts.has(hostNameOf(request.headers.host))) return done();
    reply.code(421).send({ error: `this panel is not served as "${hostNameOf(request.headers.host) || '(no Host)'}"` });
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
