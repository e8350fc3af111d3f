/** Read models shared by the API and the pages (NVRAM, event log, statechart). */
import { requireCapability, type BootReport, type Printer } from '../device/printer.ts';
import { bootWarnings } from '../device/boot.ts';
import { toMermaid } from '../model/transitionTable.ts';
import type { PanelContext } from './context.ts';
import { iso } from './presenters.ts';

/** The panel's NVRAM page shows the (redacted) content: its printer must offer the image inspection. */
export async function nvramView(printer: Printer) {
  const h = await printer.nvramHealth();
  const content = await requireCapability(printer, 'nvramImage').content();
  return { file: h.file, capacityBytes: h.capacityBytes, usedBytes: h.usedBytes, banks: h.banks, boot: h.image, sections: h.sections, secrets: h.secrets, content };
}

export async function eventLogView(printer: Printer) {
  return (await printer.eventLog()).map((e) => ({ at: iso(e.at), kind: e.kind, message: e.message, ...(e.data ? { data: e.data } : {}) }));
}

export async function statechartView(ctx: PanelContext) {
  const { state: current } = await ctx.sim.printer.status();
  return {
    states: [...ctx.table.states],
    transitions: ctx.table.transitions.map((t) => ({ ...t })),
    current,
    mermaid: toMermaid(ctx.table, current),
  };
}

/**
 * How the last boot went, for the status (API and page): the coded reasons with their text, and which of them are
 * warnings (a bank fallback, a lost image, a changed key, a reconciled spool) rather than news (first boot, migration).
 */
export function bootView(report: BootReport) {
  const warnings = new Set(bootWarnings(report));
  return {
    at: iso(report.at),
    outcome: report.outcome,
    bank: report.bank,
    seq: report.seq,
    reasons: report.reasons.map((r) => ({ code: r.code, detail: r.detail, warning: warnings.has(r) })),
  };
}
