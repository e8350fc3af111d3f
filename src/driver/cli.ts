/**
 * `mfp-sim driver check URL`: calls every route of a driver once (read-only ones, plus the optional ones it
 * declares that change nothing) and says what the driver can do; `mfp-sim driver openapi` prints the protocol.
 */
import { Command, InvalidArgumentError } from 'commander';
import { connectDriver, DEFAULT_DRIVER_TIMEOUT_MS, DriverError } from './client.ts';
import { driverJsonSchemas, driverOpenApi } from './openapi.ts';
import { DRIVER_CAPABILITIES } from './protocol.ts';

const ms = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 600_000) throw new InvalidArgumentError('must be milliseconds from 1 to 600000');
  return n;
};

export interface DriverCheckLine {
  call: string;
  ok: boolean;
  detail: string;
}

/** Every call that is safe on a printer in use: nothing here changes its state (clock advance by 0, no power cycle). */
export async function checkDriver(url: string, timeoutMs: number): Promise<{ name: string; lines: DriverCheckLine[]; ok: boolean }> {
  const d = await connectDriver({ url, timeoutMs });
  const lines: DriverCheckLine[] = [{ call: 'hello', ok: true, detail: `${d.hello.protocol} v${d.hello.version} "${d.hello.name}"` }];
  const attempt = async (call: string, f: () => Promise<string>) => {
    try {
      lines.push({ call, ok: true, detail: await f() });
    } catch (err) {
      lines.push({ call, ok: false, detail: err instanceof DriverError ? err.message : String(err) });
    }
  };
  await attempt('status', async () => `state ${(await d.status()).state}`);
  await attempt('jobs', async () => `${(await d.jobs()).length} job(s)`);
  await attempt('idle', async () => (await d.idle(), 'idle'));
  for (const cap of DRIVER_CAPABILITIES) {
    if (!d.capabilities[cap]) {
      lines.push({ call: cap, ok: true, detail: 'not offered' });
      continue;
    }
    if (cap === 'clock') await attempt('clock', async () => `now ${new Date(await d.advance(0)).toISOString()}`);
    if (cap === 'nvram') await attempt('nvram', async () => `${Object.keys(await d.nvram()).length} section(s)`);
    if (cap === 'events') await attempt('events', async () => `${(await d.events(0)).events.length} transition(s) kept`);
    if (cap === 'power') lines.push({ call: 'powerCycle', ok: true, detail: 'offered (not called: it would reboot the printer)' });
  }
  return { name: d.hello.name, lines, ok: lines.every((l) => l.ok) };
}

export function driverCommand(): Command {
  const cmd = new Command('driver').description('the driver protocol: put any printer under the model-based tests (docs/driver-protocol.md)');
  cmd
    .command('check')
    .description('call every endpoint of a driver once and report what it can do (changes nothing on the printer)')
    .argument('<url>', 'the driver, e.g. http://127.0.0.1:9100')
    .option('--timeout <ms>', 'per-call timeout', ms, DEFAULT_DRIVER_TIMEOUT_MS)
    .option('--json', 'print the result as JSON')
    .action(async (url: string, o: { timeout: number; json?: boolean }) => {
      try {
        const r = await checkDriver(url, o.timeout);
        if (o.json) console.log(JSON.stringify(r, null, 2));
        else {
          console.log(`driver "${r.name}" at ${url}`);
          for (const l of r.lines) console.log(`  ${l.ok ? 'ok  ' : 'FAIL'} ${l.call.padEnd(10)} ${l.detail}`);
        }
        if (!r.ok) process.exitCode = 1;
      } catch (err) {
        console.error(err instanceof DriverError ? err.message : String(err));
        process.exitCode = 1;
      }
    });
  cmd
    .command('openapi')
    .description('print the protocol as an OpenAPI 3.1 document (or --schemas: the JSON Schemas by call)')
    .option('--schemas', 'JSON Schemas of every request and answer instead')
    .action((o: { schemas?: boolean }) => {
      console.log(JSON.stringify(o.schemas ? driverJsonSchemas() : driverOpenApi(), null, 2));
    });
  return cmd;
}
