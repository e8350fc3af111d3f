/** The documented ~50-line Python driver (examples/minimal-driver) passes `driver check`: the docs' example works. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkDriver } from '../../src/driver/cli.ts';
import { connectDriver } from '../../src/driver/client.ts';

const PYTHON = '/usr/bin/python3';
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const gone = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
  child = undefined;
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

describe.skipIf(!existsSync(PYTHON) && !process.env.CI)('examples/minimal-driver', () => {
  it('answers every mandatory route and declares no optional capability', async () => {
    const port = await freePort();
    child = spawn(PYTHON, ['examples/minimal-driver/driver.py', String(port)], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      // bounded: the interpreter needs a moment to bind
      if (await connectDriver({ url, timeoutMs: 1000 }).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await checkDriver(url, 5000);
    expect(r).toMatchObject({ name: 'minimal example', ok: true });
    expect(r.lines.filter((l) => l.detail === 'not offered').map((l) => l.call)).toEqual(['clock', 'nvram', 'power', 'events']);
  });
});
