/** Read models shared by the API and the pages (NVRAM, event log, statechart). */
import path from 'node:path';
import { redactSecrets } from '../nvram/inspect.ts';
import type { Nvram } from '../nvram/index.ts';
import { toMermaid } from '../model/transitionTable.ts';
import type { PanelContext } from './context.ts';
import { iso } from './presenters.ts';

export function nvramView(nvram: Nvram) {
  const stats = nvram.stats();
  const content = redactSecrets(nvram.data);
  // The admin password hash is not a secret in the crypto sense, but nobody needs to see it either.
  const panel = content.panel as Record<string, unknown> | undefined;
  if (panel && panel.adminPassword) panel.adminPassword = '<scrypt hash>';
  const sections = Object.entries(nvram.data).map(([name, value]) => ({
    name,
    bytes: Buffer.byteLength(JSON.stringify(value) ?? ''),
  }));
  const total = Buffer.byteLength(JSON.stringify(nvram.data));
  return {
    file: path.basename(stats.file),
    capacityBytes: stats.capacityBytes,
    usedBytes: total,
    banks: stats.banks.map((b) => ({ ...b })),
    boot: { ...nvram.boot },
    sections,
    secrets: Object.entries(nvram.data.secrets).map(([name, blob]) => ({
      name,
      sealedBytes: Buffer.from(blob.ct, 'base64').length,
      kid: blob.kid,
    })),
    content,
  };
}

export function eventLogView(nvram: Nvram) {
  return nvram.data.eventLog.map((e) => ({ at: iso(e.at), kind: e.kind, message: e.message, ...(e.data ? { data: { ...e.data } } : {}) }));
}

export function statechartView(ctx: PanelContext) {
  const current = ctx.sim.device.state();
  return {
    states: [...ctx.table.states],
    transitions: ctx.table.transitions.map((t) => ({ ...t })),
    current,
    mermaid: toMermaid(ctx.table, current),
  };
}
