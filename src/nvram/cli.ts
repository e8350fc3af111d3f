/**
 * `nvram show|verify|reset --file F [--json]`. The lead engineer mounts nvramCommand() in src/cli.ts.
 * Exit codes go through process.exitCode so the process ends on its own.
 */
import { Command } from 'commander';
import { DEFAULT_NVRAM_FILE } from './index.ts';
import { inspectImage, resetImage, verifyImage, type ImageInspection } from './inspect.ts';

export interface NvramCliOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleOutput: NvramCliOutput = { out: (l) => console.log(l), err: (l) => console.error(l) };

export function nvramCommand(output: NvramCliOutput = consoleOutput): Command {
  const nvram = new Command('nvram').description('inspect, verify or reset a simulated NVRAM image (no device key needed; secrets stay sealed)');

  nvram
    .command('show')
    .description('print the current content (secrets redacted), banks, sequence numbers and write counts')
    .option('--file <path>', 'NVRAM image', DEFAULT_NVRAM_FILE)
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string; json?: boolean }) => {
      const report = await inspectImage(opts.file);
      if (opts.json) output.out(JSON.stringify(report, null, 2));
      else output.out(formatInspection(report));
      if (!report.valid) process.exitCode = 1;
    });

  nvram
    .command('verify')
    .description('exit 0 when a device boots from the image (a torn bank is named in the reason); 1 with the reason when no bank is valid, a bank was erased or zeroed (silent rollback), or the device key beside the image cannot open its secrets')
    .option('--file <path>', 'NVRAM image', DEFAULT_NVRAM_FILE)
    .option('--key <path>', 'device key file (default: secure-element.key beside the image)')
    .option('--json', 'machine-readable output')
    // A damaged bank beside a valid one is what a power cut mid-commit leaves, so it is OK by default; a lab that
    // damages banks on purpose (or suspects the medium) wants it to fail.
    .option('--strict', 'also exit 1 when a bank failed its checks although a device still boots from the other')
    .action(async (opts: { file: string; key?: string; json?: boolean; strict?: boolean }) => {
      const result = await verifyImage(opts.file, undefined, opts.key);
      const failed = !result.ok || (opts.strict === true && result.reason !== null);
      if (opts.json) output.out(JSON.stringify(result));
      else if (result.ok && failed) output.err(`DAMAGED: a device boots from bank ${result.bank} seq ${result.seq}, but ${result.reason}`);
      else if (result.ok) output.out(`OK: bank ${result.bank} seq ${result.seq}${result.reason ? ` (${result.reason})` : ''}`);
      else if (result.bank) output.err(`DEGRADED: a device boots from bank ${result.bank} seq ${result.seq}, but ${result.reason}`);
      else output.err(`INVALID: ${result.reason}`);
      process.exitCode = failed ? 1 : 0;
    });

  nvram
    .command('reset')
    .description('write factory defaults into both banks (keeps the device identity, wipes secrets)')
    .option('--file <path>', 'NVRAM image', DEFAULT_NVRAM_FILE)
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string; json?: boolean }) => {
      try {
        await resetImage(opts.file);
      } catch (err) {
        const e = err as Error & { code?: string };
        output.err(opts.json ? JSON.stringify({ ok: false, code: e.code ?? null, message: e.message }) : `reset failed: ${e.message}`);
        process.exitCode = 1;
        return;
      }
      const result = await verifyImage(opts.file);
      output.out(opts.json ? JSON.stringify({ ok: true, bank: result.bank, seq: result.seq }) : `factory defaults written (bank ${result.bank} seq ${result.seq})`);
      process.exitCode = 0;
    });

  return nvram;
}

export function formatInspection(r: ImageInspection): string {
  const lines = [`NVRAM image ${r.file}`, `status: ${r.valid ? `valid, current bank ${r.currentBank} seq ${r.seq}` : 'NO VALID BANK'}`];
  if (r.reason) lines.push(`note: ${r.reason}`);
  lines.push('banks:');
  for (const b of r.banks) {
    const state = b.valid ? 'valid' : b.blank ? 'blank' : `INVALID (${b.error})`;
    lines.push(`  ${b.name}: seq ${b.seq}, firmware ${b.firmwareVersion ?? '-'}, ${b.bytes} bytes, ${b.writes} writes, ${state}`);
  }
  if (r.current) {
    lines.push('content (secrets redacted):');
    for (const l of JSON.stringify(r.current, null, 2).split('\n')) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}
