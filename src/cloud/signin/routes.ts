/**
 * The device login pages a user walks in a browser: code → account → password → one-time code → "Are you trying to
 * sign in to …?" → done. Plain server-rendered HTML (eta), forms posted with @fastify/formbody, the flow found
 * through a signed cookie. Secrets (passwords, one-time codes) are never rendered or logged.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type {} from '@fastify/cookie';
import { Eta } from 'eta';
import type { UserRecord } from '../directory.ts';
import { normaliseUserCode, type DeviceCodeRecord } from '../entra/device-codes.ts';
import type { EntraError } from '../entra/errors.ts';
import type { PhoneOutbox } from '../entra/phone.ts';
import type { EntraService } from '../entra/service.ts';
import { SignInFlowStore, type FlowStep, type SignInFlow } from './flows.ts';

export interface SignInRoutesOptions {
  service: EntraService;
  phone: PhoneOutbox;
}

const VIEWS = fileURLToPath(new URL('./views', import.meta.url));
const COOKIE = 'twin_flow';
const OTP_TTL_MS = 5 * 60_000;
const MAX_FIELD = 1024;

export const Messages = {
  badCode: "That code didn't work. Check the code and try again.",
  expiredCode: "The code you entered has expired. Get a new code from the device you're trying to sign in to and try again.",
  usedCode: "That code was already used. Get a new code from the device you're trying to sign in to and try again.",
  noUser: 'This username may be incorrect. Make sure you typed it correctly. Otherwise, contact your admin.',
  disabled: 'Your account has been disabled. Contact your admin. (AADSTS50057: The user account is disabled.)',
  badPassword:
    "Your account or password is incorrect. If you don't remember your password, reset it now. " +
    '(AADSTS50126: Error validating credentials due to invalid username or password.)',
  locked:
    'Your account is temporarily locked to prevent unauthorized use. Try again later, and if you still have trouble, ' +
    'contact your admin. (AADSTS50053)',
  badOtp: "You didn't enter the expected verification code. Please try again.",
  expiredOtp: 'That verification code has expired. We sent you a new one.',
  sessionLost: 'Your sign-in session was not found or has timed out. Enter the code again.',
} as const;

export function signInRoutes(opts: SignInRoutesOptions) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { service, phone } = opts;
    const directory = service.directory;
    const now = () => service.clock.now();
    const flows = new SignInFlowStore(now);
    const eta = new Eta({ views: VIEWS, cache: true, autoEscape: true });
    const css = readFileSync(new URL('./views/twin.css', import.meta.url), 'utf8');

    await app.register(formbody, { bodyLimit: 16 * 1024 });

    const render = (reply: FastifyReply, view: string, data: Record<string, unknown>, status = 200) =>
      reply
        .code(status)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-security-policy', "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
        .header('x-content-type-options', 'nosniff')
        .send(eta.render(`./${view}`, { error: null, identity: null, ...data }));

    const field = (req: FastifyRequest, name: string): string => {
      const body = req.body;
      const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
      return typeof v === 'string' ? v.slice(0, MAX_FIELD).trim() : '';
    };

    const appName = (rec: DeviceCodeRecord) => directory.app(rec.clientId)?.displayName ?? 'the application';

    /** The flow of this browser at the expected step, with its still-pending code; otherwise a page was sent. */
    const currentFlow = (req: FastifyRequest, reply: FastifyReply, steps: FlowStep[]) => {
      const raw = req.cookies[COOKIE];
      const unsigned = raw ? req.unsignCookie(raw) : null;
      const flow = unsigned?.valid ? flows.get(unsigned.value) : undefined;
      if (!flow || !steps.includes(flow.step)) {
        render(reply, 'code', { title: 'Enter code', error: Messages.sessionLost }, 400);
        return null;
      }
      const rec = service.deviceCodes.byUser(flow.userCode);
      if (!rec || service.deviceCodes.isExpired(rec)) {
        flows.delete(flow.id);
        render(reply, 'code', { title: 'Enter code', error: Messages.expiredCode }, 400);
        return null;
      }
      if (rec.state !== 'pending') {
        flows.delete(flow.id);
        render(reply, 'code', { title: 'Enter code', error: Messages.usedCode }, 400);
        return null;
      }
      return { flow, rec };
    };

    const lockedOut = (u: UserRecord) => u.lockedUntil > now();
    const recordFailure = (u: UserRecord) => {
      u.failedSignIns += 1;
      if (u.failedSignIns >= directory.signIn.maxFailedAttempts) {
        u.failedSignIns = 0;
        u.lockedUntil = now() + directory.signIn.lockoutSeconds * 1000;
      }
    };

    const sendOtp = (flow: SignInFlow, u: UserRecord) => {
      const method = u.mfa === 'authenticator' ? 'authenticator' : 'sms';
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      flow.otp = code;
      flow.otpMethod = method;
      flow.otpExpiresAt = now() + OTP_TTL_MS;
      phone.deliver({
        upn: u.upn,
        method,
        code,
        text: method === 'sms' ? `Use verification code ${code} for Microsoft authentication.` : `Microsoft Authenticator: ${code}`,
        sentAt: new Date(now()).toISOString(),
      });
    };

    const verifyPage = (reply: FastifyReply, flow: SignInFlow, u: UserRecord, error: string | null, status = 200) =>
      render(
        reply,
        'verify',
        {
          title: 'Enter code',
          identity: u.upn,
          upn: u.upn,
          error,
          instructions:
            flow.otpMethod === 'sms'
              ? `We texted your phone ${maskPhone(u.phone)}. Please enter the code to sign in.`
              : 'Enter the code displayed in the Microsoft Authenticator app on your mobile device.',
        },
        status,
      );

    const confirmPage = (reply: FastifyReply, rec: DeviceCodeRecord, upn: string) =>
      render(reply, 'confirm', { title: `Are you trying to sign in to ${appName(rec)}?`, identity: upn });

    const policyPage = (reply: FastifyReply, err: EntraError) => {
      const titles: Record<number, string> = {
        65001: 'Need admin approval',
        53003: 'You cannot access this right now',
        530035: 'Your sign-in was blocked',
        50057: 'Your account has been disabled',
      };
      return render(
        reply,
        'message',
        { title: titles[err.aadsts ?? 0] ?? 'Sign-in failed', lines: [`AADSTS${err.aadsts}: ${err.description}`, 'You may now close this window.'] },
        403,
      );
    };

    /** Password or one-time code accepted: either show the policy refusal or ask for confirmation. */
    const afterAuthentication = (reply: FastifyReply, flow: SignInFlow, rec: DeviceCodeRecord, u: UserRecord) => {
      u.failedSignIns = 0;
      const refusal = service.signInPolicyError(rec.clientId, u);
      if (refusal) {
        service.completeSignIn(rec, u, flow.mfaDone);
        flow.step = 'finished';
        return policyPage(reply, refusal);
      }
      flow.step = 'confirm';
      return confirmPage(reply, rec, u.upn);
    };

    // A broken or oversized form, or a wrong content type, gets a page rather than a stack trace.
    app.setErrorHandler((err, req, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) req.log.error({ err }, 'sign-in page failure');
      return render(
        reply,
        'message',
        { title: 'Something went wrong', lines: ["We couldn't process that request. Go back and try again."], restart: true },
        status >= 500 ? 500 : 400,
      );
    });

    app.get('/devicelogin/twin.css', (_req, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
    );

    app.get<{ Querystring: { otc?: string } }>('/devicelogin', (req, reply) =>
      render(reply, 'code', { title: 'Enter code', code: typeof req.query.otc === 'string' ? req.query.otc.slice(0, 32) : '' }),
    );

    app.post('/devicelogin', (req, reply) => {
      const entered = field(req, 'otc');
      const rec = entered ? service.deviceCodes.byUser(normaliseUserCode(entered)) : undefined;
      const again = (error: string) => render(reply, 'code', { title: 'Enter code', code: entered.slice(0, 32), error }, 400);
      if (!rec) return again(Messages.badCode);
      if (service.deviceCodes.isExpired(rec)) return again(Messages.expiredCode);
      if (rec.state !== 'pending') return again(Messages.usedCode);
      const flow = flows.create(rec.userCode);
      reply.setCookie(COOKIE, flow.id, { signed: true, httpOnly: true, secure: true, sameSite: 'lax', path: '/devicelogin' });
      return reply.redirect('/devicelogin/signin', 303);
    });

    app.get('/devicelogin/signin', (req, reply) => {
      if (!currentFlow(req, reply, ['signin'])) return reply;
      return render(reply, 'signin', { title: 'Sign in' });
    });

    app.post('/devicelogin/signin', (req, reply) => {
      const cur = currentFlow(req, reply, ['signin']);
      if (!cur) return reply;
      const login = field(req, 'login').toLowerCase();
      const u = directory.record(login);
      if (!u) return render(reply, 'signin', { title: 'Sign in', login: login.slice(0, 256), error: Messages.noUser }, 400);
      if (!u.enabled) return render(reply, 'signin', { title: 'Sign in', login: u.upn, error: Messages.disabled }, 400);
      cur.flow.upn = u.upn;
      cur.flow.step = 'password';
      return reply.redirect('/devicelogin/password', 303);
    });

    app.get('/devicelogin/password', (req, reply) => {
      const cur = currentFlow(req, reply, ['password']);
      if (!cur) return reply;
      return render(reply, 'password', { title: 'Enter password', identity: cur.flow.upn });
    });

    app.post('/devicelogin/password', (req, reply) => {
      const cur = currentFlow(req, reply, ['password']);
      if (!cur) return reply;
      const { flow, rec } = cur;
      const u = directory.record(flow.upn ?? '')!;
      const page = (error: string) => render(reply, 'password', { title: 'Enter password', identity: u.upn, error }, 400);
      if (lockedOut(u)) return page(Messages.locked);
      if (field(req, 'passwd') !== u.password) {
        recordFailure(u);
        return page(lockedOut(u) ? Messages.locked : Messages.badPassword);
      }
      if (u.mfa === 'none') return afterAuthentication(reply, flow, rec, u);
      sendOtp(flow, u);
      flow.step = 'verify';
      return reply.redirect('/devicelogin/verify', 303);
    });

    app.get('/devicelogin/verify', (req, reply) => {
      const cur = currentFlow(req, reply, ['verify']);
      if (!cur) return reply;
      return verifyPage(reply, cur.flow, directory.record(cur.flow.upn ?? '')!, null);
    });

    app.post('/devicelogin/verify', (req, reply) => {
      const cur = currentFlow(req, reply, ['verify']);
      if (!cur) return reply;
      const { flow, rec } = cur;
      const u = directory.record(flow.upn ?? '')!;
      if (lockedOut(u)) return verifyPage(reply, flow, u, Messages.locked, 400);
      if (now() >= flow.otpExpiresAt) {
        sendOtp(flow, u);
        return verifyPage(reply, flow, u, Messages.expiredOtp, 400);
      }
      if (field(req, 'otc_mfa').replace(/\s/g, '') !== flow.otp) {
        recordFailure(u);
        return verifyPage(reply, flow, u, lockedOut(u) ? Messages.locked : Messages.badOtp, 400);
      }
      flow.otp = null;
      flow.mfaDone = true;
      return afterAuthentication(reply, flow, rec, u);
    });

    app.get('/devicelogin/confirm', (req, reply) => {
      const cur = currentFlow(req, reply, ['confirm']);
      if (!cur) return reply;
      return confirmPage(reply, cur.rec, cur.flow.upn ?? '');
    });

    app.post('/devicelogin/confirm', (req, reply) => {
      const cur = currentFlow(req, reply, ['confirm']);
      if (!cur) return reply;
      const { flow, rec } = cur;
      const u = directory.record(flow.upn ?? '')!;
      const name = appName(rec);
      flow.step = 'finished';
      flows.delete(flow.id);
      reply.clearCookie(COOKIE, { path: '/devicelogin' });
      if (field(req, 'action') !== 'continue') {
        service.decline(rec);
        return render(reply, 'message', {
          title: name,
          identity: u.upn,
          lines: [`You have declined to sign in to the ${name} application on your device. You may now close this window.`],
        });
      }
      const refusal = service.completeSignIn(rec, u, flow.mfaDone);
      if (refusal) return policyPage(reply, refusal);
      return render(reply, 'message', {
        title: name,
        identity: u.upn,
        lines: [`You have signed in to the ${name} application on your device. You may now close this window.`],
      });
    });
  };
}

/** "+1 425 555 0142" → "+X XXXXXXXX42", as the real page masks it. */
export function maskPhone(phone: string | null): string {
  const digits = (phone ?? '').replace(/\D/g, '');
  if (digits.length < 2) return 'on file';
  return `+X XXXXXXXX${digits.slice(-2)}`;
}

export function renderPhonePage(upn: string, messages: { sentAt: string; method: string; text: string }[]): string {
  const eta = new Eta({ views: VIEWS, cache: true, autoEscape: true });
  return eta.render('./phone', { title: `Phone of ${upn}`, error: null, identity: null, messages });
}
