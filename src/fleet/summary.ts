/** The fleet's summary as text: states, mails, refreshes, failures, wall time, memory. */
import { kib, mib, type MsalMemory } from './memory.ts';
import type { FleetReport } from './types.ts';
import { codeText } from '../device/failures.ts';
import { processLimitHit } from './processLimit.ts';

export function formatSummary(r: FleetReport, extra: { msal?: MsalMemory | null } = {}): string {
  const n = r.rows.length;
  const states = Object.entries(r.states)
    .sort((a, b) => b[1] - a[1])
    .map(([s, c]) => `${s} ${c}`)
    .join(', ');
  const phases = Object.entries(r.phaseWallMs)
    .map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
  const troubled = r.rows.filter((row) => row.errors.length > 0 || row.failures > 0 || row.state !== 'authorized');
  const scope = r.shard
    ? `Shard ${r.shard.index}/${r.shard.count} (printers ${r.shard.first + 1}…${r.shard.first + r.shard.devices} of ${r.options.devices})`
    : r.mergedFrom
      ? `Merged ${r.mergedFrom.length} shards: fleet`
      : 'Fleet';
  const lines = [
    `${scope} of ${n} printers, ${r.options.workers} worker${r.options.workers > 1 ? 's' : ''}, seed ${r.options.seed}: ${r.ok ? 'OK' : 'NOT OK'}`,
    `  States:        ${states}`,
    `  Mails:         ${r.totals.mailsSent} sent of ${r.totals.mailsExpected} (every one checked in the twin's mailboxes: ${r.rows.every((row) => row.mailbox?.messageIdsMatch) ? 'yes' : 'no'})`,
    `  Sign-ins:      ${r.totals.signIns}   Refreshes: ${r.totals.refreshes}   Failures: ${r.totals.failures}   Step errors: ${r.totals.errors}`,
    `  Simulated:     ${(r.simulatedMs / 3_600_000).toFixed(1)} h in ${(r.wallMs / 1000).toFixed(1)} s of wall time (${phases})`,
    `  Mail latency:  p50 ${r.mailLatency.p50} ms, p90 ${r.mailLatency.p90} ms, p99 ${r.mailLatency.p99} ms, max ${r.mailLatency.max} ms over ${r.mailLatency.count} mails (wall, submit to sent)`,
    `  Memory:        RSS ${mib(r.memory.rssBefore)} before, peak ${mib(r.memory.rssPeak)}; per device ${kib(r.memory.rssPerDevice)} RSS, ${kib(r.memory.heapPerDevice)} heap`,
  ];
  if (r.limit) {
    const l = r.limit;
    lines.push(
      `  Day vs limit:  ${(l.dayWallMs / 1000).toFixed(1)} s for ${l.dayMails} mails; limit ${l.dayMails} × ${l.bareMsPerMail.toFixed(2)} ms bare (the mean of ${l.bareMails} timed: ${l.bareBeforeMsPerMail.toFixed(2)} ms before the run, ${l.bareAfterMsPerMail.toFixed(2)} ms after it) ÷ ${l.cores} cores = ${(l.limitMs / 1000).toFixed(1)} s; ${l.ratio.toFixed(2)}× (target ≤ 1.5×)`,
      `  CPU per mail:  day ${l.dayCpuMsPerMail.toFixed(2)} ms, bare ${l.bareCpuMsPerMail.toFixed(2)} ms (user + system, every thread of the process)`,
    );
  }
  if (extra.msal) {
    lines.push(`  msal-node:     ${kib(extra.msal.pcaBytes)} heap per PublicClientApplication, ${kib(extra.msal.adapterBytes)} with the printer's undici Agent (before sign-in)`);
  }
  lines.push(`  State dir:     ${r.options.stateDir}`);
  const limited = r.rows.filter((row) => row.errors.some((e) => processLimitHit(e)));
  if (limited.length > 0) {
    lines.push(`  ! ${limited.length} printer(s) failed on a limit of the process, not of the device: ${processLimitHit(limited[0]!.errors.find((e) => processLimitHit(e))!)}`);
  }
  for (const row of troubled.slice(0, 10)) {
    const why = row.errors[0] ?? (row.lastError ? `${row.lastError.reason}${row.lastError.code ? ` (${codeText(row.lastError.code)})` : ''}` : `${row.failures} failure(s)`);
    lines.push(`  ! ${row.id}: ${row.state}, ${why}`);
  }
  if (troubled.length > 10) lines.push(`  ! … and ${troubled.length - 10} more (see /fleet with --serve, or --json)`);
  return lines.join('\n');
}
