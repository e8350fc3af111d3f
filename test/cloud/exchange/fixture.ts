/**
 * Test fixture for the Exchange twin, standing in for the Entra half until it is wired in: a test CA and server
 * certificate (selfsigned), an RS256 signing key whose public JWK is what the fake token trust publishes, a token
 * signer, an in-memory fake directory, a real fault plan and a virtual clock. Plus two clients: the unmodified
 * nodemailer transport (as the device uses it) and a raw line-based SMTP client for protocol-level probes.
 */
import net from 'node:net';
import tls from 'node:tls';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import type { Logger } from 'pino';
import { generate } from 'selfsigned';
import type { CloudDirectory, DirectoryUser, FaultPlan, TenantPolicy, TokenTrust } from '../../../src/cloud/contracts.ts';
import { createFaultPlan } from '../../../src/cloud/faults.ts';
import { startExchangeTwin, type ExchangeTwin } from '../../../src/cloud/exchange/index.ts';
import { WireJournal } from '../../../src/cloud/journal/wire-journal.ts';
import { VirtualClock } from '../../../src/time/clock.ts';

export const TENANT_ID = '0b1f8a4e-5c3d-4e2f-9a7b-1c2d3e4f5a6b';
export const ISSUER = `https://sts.windows.net/${TENANT_ID}/`;
export const DOMAIN = 'contoso.example';

/** A test CA and a server certificate for 127.0.0.1 / localhost signed by it. */
export async function makeTestCertificates(): Promise<{ ca: string; key: string; cert: string }> {
  const now = new Date();
  const caPems = await generate([{ name: 'commonName', value: 'mfp-oauth-sim test CA' }], {
    algorithm: 'sha256',
    keyType: 'ec',
    notBeforeDate: new Date(now.getTime() - 60_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    algorithm: 'sha256',
    keyType: 'ec',
    notBeforeDate: new Date(now.getTime() - 60_000),
    ca: { key: caPems.private, cert: caPems.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  return { ca: caPems.cert, key: server.private, cert: server.cert };
}

/** An RS256 key pair and a signer for access tokens shaped like Entra's tokens for Exchange SMTP. */
export async function makeTokenSigner(clock: VirtualClock, kid = 'test-key-1') {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const sign = (claims: JWTPayload, key: CryptoKey = privateKey, keyId = kid) => {
    const nowS = Math.floor(clock.now() / 1000);
    return new SignJWT({
      aud: 'https://outlook.office.com',
      iss: ISSUER,
      tid: TENANT_ID,
      scp: 'SMTP.Send',
      iat: nowS,
      nbf: nowS,
      exp: nowS + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: keyId, typ: 'JWT' })
      .sign(key);
  };
  return { jwk, sign, privateKey };
}

/** Fake directory: the Exchange twin reads it through CloudDirectory; tests change it directly. */
export class FakeDirectory implements CloudDirectory {
  tenant: TenantPolicy = {
    tenantId: TENANT_ID,
    domains: [DOMAIN],
    smtpAuthEnabled: true,
    securityDefaults: false,
    sendAsDeniedAfterData: false,
  };
  readonly users = new Map<string, DirectoryUser>();

  policy(): TenantPolicy {
    return this.tenant;
  }
  user(upn: string): DirectoryUser | undefined {
    return this.users.get(upn.toLowerCase());
  }
  add(upn: string, patch: Partial<DirectoryUser> = {}): DirectoryUser {
    const u: DirectoryUser = {
      upn,
      displayName: upn.split('@')[0]!,
      objectId: `00000000-0000-4000-8000-${String(this.users.size + 1).padStart(12, '0')}`,
      enabled: true,
      mfa: 'none',
      smtpAuthEnabled: null,
      sendAs: [],
      mailboxFull: false,
      ...patch,
    };
    this.users.set(upn.toLowerCase(), u);
    return u;
  }
  patch(upn: string, patch: Partial<DirectoryUser>): void {
    const u = this.user(upn);
    if (!u) throw new Error(`no such user ${upn}`);
    Object.assign(u, patch);
  }
}

export interface TwinHarness {
  twin: ExchangeTwin;
  clock: VirtualClock;
  directory: FakeDirectory;
  faults: FaultPlan;
  /** The twin's wire journal: what tests wait on instead of sleeping (test/cloud/journal/events.ts). */
  journal: WireJournal;
  ca: string;
  sign: (claims: JWTPayload, key?: CryptoKey, kid?: string) => Promise<string>;
  /** A token for `upn` with the usual claims (override any). */
  tokenFor: (upn: string, claims?: JWTPayload) => Promise<string>;
  close(): Promise<void>;
}

export const SCANNER = `scanner@${DOMAIN}`;
export const ALICE = `alice@${DOMAIN}`;
export const BOB = `bob@${DOMAIN}`;

export async function startHarness(
  options: { maxMessageBytes?: number; logger?: Logger; smtpGreetingDelayMs?: number; idleTimeoutMs?: number } = {},
): Promise<TwinHarness> {
  const clock = new VirtualClock();
  const [certs, signer] = await Promise.all([makeTestCertificates(), makeTokenSigner(clock)]);
  const directory = new FakeDirectory();
  directory.add(SCANNER);
  directory.add(ALICE);
  directory.add(BOB);
  const trust: TokenTrust = { jwks: () => ({ keys: [signer.jwk] }), issuers: () => [ISSUER] };
  const faults = createFaultPlan();
  const journal = new WireJournal(() => clock.now());
  const twin = await startExchangeTwin({
    journal,
    host: '127.0.0.1',
    port: 0,
    tls: { key: certs.key, cert: certs.cert },
    clock,
    directory,
    trust,
    faults,
    ...options,
  });
  return {
    twin,
    clock,
    directory,
    faults,
    journal,
    ca: certs.ca,
    sign: signer.sign,
    tokenFor: (upn, claims = {}) => signer.sign({ upn, unique_name: upn, ...claims }),
    close: () => twin.close(),
  };
}

/** The device's way to send: unmodified nodemailer, STARTTLS required, XOAUTH2 with a ready access token. */
export function transportFor(h: TwinHarness, user: string, accessToken: string, extra: Partial<SMTPTransport.Options> = {}) {
  return nodemailer.createTransport({
    host: h.twin.host,
    port: h.twin.port,
    secure: false,
    requireTLS: true,
    auth: { type: 'OAuth2', user, accessToken },
    tls: { ca: h.ca, minVersion: 'TLSv1.2' },
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 10_000,
    ...extra,
  } as SMTPTransport.Options);
}

/** The error nodemailer reports for a refused send, with the fields tests look at. */
export interface SendError {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  message: string;
}

export async function sendExpectingError(
  transport: Transporter,
  mail: SendMailOptions,
): Promise<SendError> {
  try {
    await transport.sendMail(mail);
  } catch (err) {
    return err as SendError;
  } finally {
    transport.close();
  }
  throw new Error('expected the send to be refused, but it was accepted');
}

/**
 * A raw SMTP client: one line out, one (possibly multi-line) reply in. Used to probe what nodemailer never sends.
 */
export class RawSmtp {
  private socket: net.Socket | tls.TLSSocket;
  private buffer = '';
  private waiters: (() => void)[] = [];
  private ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach(socket);
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawSmtp> {
    const socket = net.connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', () => {});
    return new RawSmtp(socket);
  }

  private attach(socket: net.Socket | tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Reads one complete reply ("250-…" lines up to "250 …"); null when the server closed the connection first. */
  async reply(timeoutMs = 5_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^((?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n)/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[1]!.length);
        return m[1]!.trimEnd();
      }
      if (this.ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; buffer: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async command(line: string): Promise<string | null> {
    this.write(line + '\r\n');
    return this.reply();
  }

  /** EHLO, STARTTLS, handshake with the test CA, EHLO again; returns the second EHLO reply. */
  async startTls(ca: string, tlsOptions: tls.ConnectionOptions = { minVersion: 'TLSv1.2' }): Promise<string | null> {
    await this.command('EHLO raw.test');
    const go = await this.command('STARTTLS');
    if (!go?.startsWith('220')) throw new Error(`STARTTLS refused: ${go}`);
    const plain = this.socket as net.Socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, ca, servername: 'localhost', ...tlsOptions });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    secure.on('error', () => {});
    this.socket = secure;
    this.buffer = '';
    this.attach(secure);
    return this.command('EHLO raw.test');
  }

  /** AUTH XOAUTH2 with the given user and token (initial response, as nodemailer sends it). */
  authXoauth2(user: string, token: string): Promise<string | null> {
    return this.command(`AUTH XOAUTH2 ${Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64')}`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  async quit(): Promise<void> {
    if (!this.ended) {
      this.write('QUIT\r\n');
      await this.reply().catch(() => null);
    }
    this.socket.destroy();
  }
}

/** A small message as the device would send it. */
export function scanMail(from: string, to: string | string[], extra: SendMailOptions = {}): SendMailOptions {
  return {
    from,
    to,
    subject: 'Scanned document',
    text: 'Scanned from MFP-SIM.',
    attachments: [{ filename: 'scan-0001.pdf', content: Buffer.from('%PDF-1.4\n% fake scan for tests\n'), contentType: 'application/pdf' }],
    ...extra,
  };
}
