/**
 * The Web Image Monitor panel of the simulated printer. `startPanel` listens (127.0.0.1:8080 by default) and returns
 * the URL and the password generated on first boot (null when one was set or already stored) for the CLI to print.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildPanel } from './app.ts';
import type { PanelOptions, PanelSim } from './types.ts';

export { buildPanel } from './app.ts';
export type { PanelOptions, PanelSim } from './types.ts';

export const DEFAULT_PANEL_HOST = '127.0.0.1';
export const DEFAULT_PANEL_PORT = 8080;

export interface StartPanelOptions extends Omit<PanelOptions, 'publicUrl'> {
  sim: PanelSim;
  host?: string;
  /** 0 = ephemeral. */
  port?: number;
}

export interface RunningPanel {
  url: string;
  generatedPassword: string | null;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** The names a panel bound to `host` is reached by: that address, or every local address and the host name for 0.0.0.0/::. */
function servedNames(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  return [...addresses, hostname()];
}

export async function startPanel(opts: StartPanelOptions): Promise<RunningPanel> {
  const host = opts.host ?? DEFAULT_PANEL_HOST;
  const port = opts.port ?? DEFAULT_PANEL_PORT;
  const app = await buildPanel({ ...opts, publicUrl: undefined, allowedHosts: [...(opts.allowedHosts ?? []), ...servedNames(host)] });
  await app.listen({ host, port });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  return {
    url,
    generatedPassword: app.panel.generatedPassword,
    app,
    close: () => app.close(),
  };
}
