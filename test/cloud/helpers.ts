/**
 * Test helpers for the cloud twin: a twin on ephemeral ports with a fixture tuned for fast polling, an MSAL network
 * client on undici that trusts the twin's CA (and records the raw responses so tests can read AADSTS codes), a tiny
 * cookie-keeping "browser" for the sign-in pages, and JSON calls to the control API.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { PublicClientApplication } from '@azure/msal-node';
import { startTwin, type Twin } from '../../src/cloud/twin.ts';
import { DEFAULT_TENANT_FILE } from '../../src/cloud/tenant-fixture.ts';
import type { Clock } from '../../src/time/clock.ts';
import { VirtualClock } from '../../src/time/clock.ts';

export const SMTP_SCOPE = 'https://outlook.office.com/SMTP.Send';
export const UNCONSENTED_APP = '8a2e4c6b-1d3f-4a5b-9c7d-0e1f2a3b4c5d';

export interface TestTwin extends Twin {
  agent: Agent;
  dir: string;
}

/** Starts a twin on 127.0.0.1:0 with the default fixture, patched (e.g. a 1 s polling interval for MSAL). */
export async function startTestTwin(
  opts: { clock?: Clock; seed?: number; patch?: (fixture: Record<string, any>) => void; stateDir?: string } = {},
): Promise<TestTwin> {
  const dir = opts.stateDir ?? (await mkdtemp(join(tmpdir(), 'entra-twin-')));
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  fixture.deviceCode.intervalSeconds = 1;
  opts.patch?.(fixture);
  const tenantFile = join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  const twin = await startTwin({ stateDir: dir, tenantFile, clock: opts.clock ?? new VirtualClock(), seed: opts.seed ?? 42 });
  const agent = new Agent({ connect: { ca: twin.caPem } });
  const closeTwin = twin.close;
  return Object.assign(twin, {
    agent,
    dir,
    close: async () => {
      await agent.close();
      await closeTwin();
    },
  });
}

/** MSAL's network module on undici with the twin's CA; keeps every response it saw. */
export class UndiciNetworkClient implements INetworkModule {
  readonly responses: { url: string; status: number; body: any }[] = [];
  constructor(private readonly agent: Agent) {}

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  /** The last error body the twin sent (what MSAL summarised as post_request_failed etc.). */
  lastError(): any {
    return [...this.responses].reverse().find((r) => r.status >= 400)?.body;
  }

  private async send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const res = await request(url, { method, headers: options?.headers, body: options?.body, dispatcher: this.agent });
    const text = await res.body.text();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    const body = text ? JSON.parse(text) : {};
    this.responses.push({ url, status: res.statusCode, body });
    return { status: res.statusCode, headers, body: body as T };
  }
}

export function msalFor(twin: TestTwin, clientId = twin.clientId) {
  const net = new UndiciNetworkClient(twin.agent);
  const host = new URL(twin.entraUrl).host;
  const pca = new PublicClientApplication({
    auth: { clientId, authority: twin.authority, knownAuthorities: [host] },
    system: { networkClient: net },
  });
  return { pca, net };
}

/** Starts MSAL's device code flow; resolves `code` when the device code arrives, `result` when polling ends. */
export function startDeviceCodeFlow(pca: PublicClientApplication, scopes: string[] = [SMTP_SCOPE]) {
  let gotCode!: (r: { userCode: string; message: string; verificationUri: string; interval: number }) => void;
  const code = new Promise<{ userCode: string; message: string; verificationUri: string; interval: number }>((r) => (gotCode = r));
  const result = pca.acquireTokenByDeviceCode({ scopes, deviceCodeCallback: (r) => gotCode(r) });
  // A failure before the callback would otherwise leave `code` pending forever.
  result.catch(() => {});
  return { code, result };
}

export async function api(twin: TestTwin, method: string, path: string, body?: unknown) {
  const res = await request(`${twin.entraUrl}${path}`, {
    method: method as 'GET',
    dispatcher: twin.agent,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

/** A form POST or GET to the OAuth endpoints, as a plain client would. */
export async function oauth(twin: TestTwin, path: string, form: Record<string, string> | string, contentType = 'application/x-www-form-urlencoded') {
  const res = await request(`${twin.authority}${path}`, {
    method: 'POST',
    dispatcher: twin.agent,
    headers: { 'content-type': contentType },
    body: typeof form === 'string' ? form : new URLSearchParams(form).toString(),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: safeJson(text), text };
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Microsoft's error body: checks the shape and returns it. */
export function expectEntraError(body: any): { error: string; error_codes: number[]; error_description: string; suberror?: string } {
  if (!body || typeof body !== 'object') throw new Error(`not a JSON error body: ${JSON.stringify(body)}`);
  for (const k of ['error', 'error_description', 'error_codes', 'timestamp', 'trace_id', 'correlation_id', 'error_uri']) {
    if (!(k in body)) throw new Error(`error body lacks ${k}: ${JSON.stringify(body)}`);
  }
  if (!/^AADSTS\d+: .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/s.test(body.error_description))
    throw new Error(`error_description not in Microsoft's format: ${JSON.stringify(body.error_description)}`);
  return body;
}

/** A browser without JavaScript: keeps cookies, posts forms, follows 303s. */
export class FormBrowser {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly twin: TestTwin) {}

  get(path: string) {
    return this.go('GET', path);
  }

  post(path: string, form: Record<string, string>) {
    return this.go('POST', path, new URLSearchParams(form).toString());
  }

  private async go(method: 'GET' | 'POST', path: string, body?: string): Promise<Page> {
    for (let hops = 0; hops < 5; hops++) {
      const res = await request(`${this.twin.entraUrl}${path}`, {
        method,
        dispatcher: this.twin.agent,
        headers: {
          accept: 'text/html',
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...(this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        },
        body,
      });
      const setCookie = res.headers['set-cookie'];
      for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
        const [pair] = c.split(';');
        const [k, v] = pair!.split('=');
        if (!v || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(k!.trim());
        else this.cookies.set(k!.trim(), v);
      }
      const html = await res.body.text();
      if (res.statusCode === 303 || res.statusCode === 302) {
        path = String(res.headers.location);
        method = 'GET';
        body = undefined;
        continue;
      }
      return new Page(res.statusCode, html, path);
    }
    throw new Error('too many redirects');
  }
}

export class Page {
  constructor(
    readonly status: number,
    readonly html: string,
    readonly path: string,
  ) {}

  get title(): string {
    return decode(/<h1[^>]*>([\s\S]*?)<\/h1>/.exec(this.html)?.[1] ?? '');
  }

  get error(): string | null {
    const m = /<p class="error"[^>]*>([\s\S]*?)<\/p>/.exec(this.html);
    return m ? decode(m[1]!) : null;
  }

  get text(): string {
    return decode(this.html.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ');
  }

  /** Every input has a <label for=…> naming it. */
  inputsWithoutLabel(): string[] {
    const ids = [...this.html.matchAll(/<input[^>]*\bid="([^"]+)"/g)].map((m) => m[1]!);
    const inputs = [...this.html.matchAll(/<input\b[^>]*>/g)].length;
    const labelled = new Set([...this.html.matchAll(/<label[^>]*\bfor="([^"]+)"/g)].map((m) => m[1]!));
    const missing = ids.filter((id) => !labelled.has(id));
    if (inputs > ids.length) missing.push('(input without id)');
    return missing;
  }
}

function decode(s: string): string {
  return s
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

/** Walks the pages as `upn` and approves (or cancels) the code; returns the last page. */
export async function signInThroughPages(
  twin: TestTwin,
  userCode: string,
  who: { upn: string; password: string },
  choice: 'continue' | 'cancel' = 'continue',
): Promise<Page> {
  const b = new FormBrowser(twin);
  await b.get('/devicelogin');
  let page = await b.post('/devicelogin', { otc: userCode });
  if (page.path !== '/devicelogin/signin') throw new Error(`code refused: ${page.error}`);
  page = await b.post('/devicelogin/signin', { login: who.upn });
  page = await b.post('/devicelogin/password', { passwd: who.password });
  if (page.path === '/devicelogin/verify') {
    const otp = twin.control.latestOneTimeCode(who.upn);
    page = await b.post('/devicelogin/verify', { otc_mfa: otp ?? '' });
  }
  if (!page.title.startsWith('Are you trying to sign in to')) return page;
  return b.post('/devicelogin/confirm', { action: choice });
}

export const DAY_MS = 24 * 3600_000;
