/**
 * The bare limit of one soak mail, measured in the same run as the soak: nodemailer → smtp-server with SASL XOAUTH2
 * over STARTTLS (the twin's certificate, TLS ≥ 1.2, the same pause before the greeting as the soak's twin), plus one
 * token request over HTTPS (a fresh TLS connection to a bare node:https server answering a token JSON) — what a
 * printer that refreshes before nearly every mail, as the soak's does, cannot do without. Nothing of ours is in the
 * way: no NVRAM, no statechart, no msal-node, no JWT, no MIME parsing.
 *
 * The pause before the greeting: smtp-server hard-codes 100 ms; the twin's ExchangeSmtpServer is smtp-server with
 * only that pause made configurable (and an Exchange-worded greeting line), so the limit uses it with plain options
 * to give both sides the same pause.
 */
import https from 'node:https';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { ExchangeSmtpServer } from '../cloud/exchange/exchange-smtp-server.ts';
import { RealClock } from '../time/clock.ts';
import { processCpuMs } from '../util/process-cpu.ts';

const SCAN_PDF = fileURLToPath(new URL('../../fixtures/scans/scan-0001.pdf', import.meta.url));
const USER = 'bench@example.test';
const TOKEN = 'bench-access-token';

export interface BareLimit {
  /** Mean wall ms of one bare mail (token request + submission). */
  msPerMail: number;
  /**
   * Mean CPU ms of one bare mail: user + system of the whole process (every thread: the servers' side, Node's thread
   * pool, V8's background threads), which tells whether the wall time above was work or waiting.
   */
  cpuMsPerMail: number;
  mails: number;
}

/** The bare limit's two servers, listening on loopback: what the twin would be with nothing of ours in the way. */
export interface BareServers {
  smtpPort: number;
  httpsPort: number;
  /** The one access token both servers know (the token endpoint hands it out, SMTP accepts it for any mailbox). */
  accessToken: string;
  close(): Promise<void>;
}

/**
 * smtp-server taking XOAUTH2 with the one token and draining each message, and a node:https server answering every
 * request with a token JSON; both with the credentials' certificate, TLS ≥ 1.2.
 */
export async function startBareServers(credentials: string, opts: { greetingDelayMs: number }): Promise<BareServers> {
  const key = await readFile(path.join(credentials, 'server-key.pem'), 'utf8');
  const cert = await readFile(path.join(credentials, 'server.pem'), 'utf8');
  const smtp = new ExchangeSmtpServer(
    {
      key,
      cert,
      secure: false,
      minVersion: 'TLSv1.2',
      authMethods: ['XOAUTH2'],
      disableReverseLookup: true,
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.method === 'XOAUTH2' && auth.username && auth.accessToken === TOKEN) callback(null, { user: auth.username });
        else callback(null, { data: { status: '401', schemes: 'bearer' } });
      },
      onData(stream, _session, callback) {
        stream.on('data', () => {});
        stream.on('end', () => callback(null, '2.0.0 OK'));
      },
    },
    new RealClock(),
    opts.greetingDelayMs,
  );
  const tokenServer = https.createServer({ key, cert, minVersion: 'TLSv1.2' }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token_type: 'Bearer', access_token: TOKEN, expires_in: 3600, refresh_token: 'r' }));
    });
  });
  const smtpPort = await listen((cb) => smtp.listen(0, '127.0.0.1', cb), () => smtp.server.address());
  const httpsPort = await listen((cb) => tokenServer.listen(0, '127.0.0.1', cb), () => tokenServer.address());
  return {
    smtpPort,
    httpsPort,
    accessToken: TOKEN,
    async close() {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
    },
  };
}

/** Runs `mails` bare submissions one after another and returns the mean wall time of each. */
export async function bareMailLimit(credentials: string, opts: { mails: number; greetingDelayMs: number }): Promise<BareLimit> {
  const ca = await readFile(path.join(credentials, 'ca.pem'), 'utf8');
  // One client TLS context for the whole run, as a printer keeps one trust store (the device's adapters do the same).
  const secureContext = tls.createSecureContext({ ca, minVersion: 'TLSv1.2' });
  const servers = await startBareServers(credentials, opts);
  const { smtpPort, httpsPort } = servers;

  const tokenRequest = () =>
    new Promise<string>((resolve, reject) => {
      const body = 'grant_type=refresh_token&refresh_token=r&client_id=c&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send';
      const req = https.request(
        { host: '127.0.0.1', port: httpsPort, method: 'POST', path: '/token', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }, ...({ secureContext } as https.RequestOptions) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { access_token: string }).access_token));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const oneMail = async (n: number) => {
    const accessToken = await tokenRequest();
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: smtpPort,
      secure: false,
      requireTLS: true,
      tls: { minVersion: 'TLSv1.2', secureContext },
      auth: { type: 'OAuth2', user: USER, accessToken },
      pool: false,
    });
    try {
      await transport.sendMail({
        messageId: `<bare-${n}@mfp-sim.bench>`,
        from: USER,
        to: [USER],
        subject: `bare ${n}`,
        text: 'Scanned document attached.',
        attachments: [{ filename: 'scan-0001.pdf', contentType: 'application/pdf', path: SCAN_PDF }],
      });
    } finally {
      transport.close();
    }
  };

  try {
    for (let i = 0; i < 5; i++) await oneMail(-i); // warm-up: JIT, TLS session code paths
    const started = performance.now();
    const cpuStarted = processCpuMs();
    for (let i = 0; i < opts.mails; i++) await oneMail(i);
    return { msPerMail: (performance.now() - started) / opts.mails, cpuMsPerMail: (processCpuMs() - cpuStarted) / opts.mails, mails: opts.mails };
  } finally {
    await servers.close();
  }
}

async function listen(start: (cb: () => void) => void, address: () => unknown): Promise<number> {
  await new Promise<void>((resolve) => start(resolve));
  const a = address();
  if (!a || typeof a !== 'object' || !('port' in a)) throw new Error('server did not bind');
  return (a as { port: number }).port;
}
