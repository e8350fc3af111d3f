import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nvramCommand } from '../../src/nvram/cli.ts';
import { readCommitted } from '../../src/nvram/inspect.ts';
import { FIXTURE_DEVICE, FIXTURE_MSAL_CACHE, FIXTURE_SMTP_PASSWORD } from '../../fixtures/nvram/values.ts';
import { copyFixture, tempDirs } from './helpers.ts';

const dirs = tempDirs();
afterEach(async () => {
  process.exitCode = undefined;
  await dirs.cleanup();
});

/** Runs `nvram <args>` in-process and captures what it prints and the exit code it sets. */
async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  process.exitCode = undefined;
  const cmd = nvramCommand({ out: (l) => out.push(l), err: (l) => err.push(l) });
  cmd.exitOverride();
  await cmd.parseAsync(args, { from: 'user' });
  const code = process.exitCode ?? 0;
  process.exitCode = undefined;
  return { out: out.join('\n'), err: err.join('\n'), code };
}

describe('nvram CLI', () => {
  it('show prints banks, seq, write counts and content with secrets redacted', async () => {
    const file = await copyFixture('firmware-2.img', await dirs.make());
    const { out, code } = await run('show', '--file', file);
    expect(code).toBe(0);
    expect(out).toMatch(/status: valid, current bank B seq 2/);
    expect(out).toMatch(/A: seq 1, firmware 2, \d+ bytes, 1 writes, valid/);
    expect(out).toMatch(/B: seq 2, firmware 2, \d+ bytes, 1 writes, valid/);
    expect(out).toMatch(/"msal-cache": "<sealed \d+ bytes>"/);
    expect(out).not.toContain(FIXTURE_MSAL_CACHE);
    expect(out).not.toContain('"ct"');
  });

  it('show --json is machine-readable', async () => {
    const file = await copyFixture('firmware-2.img', await dirs.make());
    const report = JSON.parse((await run('show', '--file', file, '--json')).out);
    expect(report).toMatchObject({ valid: true, currentBank: 'B', seq: 2, current: { device: FIXTURE_DEVICE, secrets: { 'msal-cache': expect.stringMatching(/^<sealed/) } } });
    expect(report.banks).toHaveLength(2);
  });

  it('show never prints a firmware-1 plaintext password', async () => {
    const file = await copyFixture('firmware-1.img', await dirs.make());
    const { out } = await run('show', '--file', file);
    expect(out).toMatch(/migrates to firmware 2 on next boot/);
    expect(out).toMatch(/"smtpPassword": "<plaintext \d+ bytes/);
    expect(out).not.toContain(FIXTURE_SMTP_PASSWORD);
  });

  it.each([
    ['firmware-2.img', 0, /^OK: bank B seq 2$/],
    ['crc-mismatch.img', 0, /^OK: bank A seq 1 \(bank B: payload CRC mismatch/],
    ['garbage.img', 1, /^INVALID: no valid bank: bank A: header damaged/],
    ['truncated-header.img', 1, /^INVALID: no valid bank/],
    ['empty.img', 1, /^INVALID: blank image/],
  ])('verify %s exits %d with the reason', async (fixture, exit, message) => {
    const dir = await dirs.make();
    const file = await copyFixture(fixture, dir);
    // The device key that sealed firmware-2's secrets sits beside its image, as on the printer.
    if (fixture === 'firmware-2.img' || fixture === 'crc-mismatch.img') await copyFixture('firmware-2.key', dir, 'secure-element.key');
    const before = await fs.readFile(file);
    const { out, err, code } = await run('verify', '--file', file);
    expect(code).toBe(exit);
    expect(exit === 0 ? out : err).toMatch(message);
    expect((await fs.readFile(file)).equals(before)).toBe(true);
  });

  it('verify --strict exits 1 for a damaged bank that a device would fall back from, 0 for an intact image', async () => {
    const dir = await dirs.make();
    await copyFixture('firmware-2.key', dir, 'secure-element.key');
    const damaged = await run('verify', '--strict', '--file', await copyFixture('crc-mismatch.img', dir));
    expect(damaged.code).toBe(1);
    expect(damaged.err).toMatch(/^DAMAGED: a device boots from bank A seq 1, but bank B: payload CRC mismatch/);
    const intact = await run('verify', '--strict', '--file', await copyFixture('firmware-2.img', dir));
    expect(intact.code).toBe(0);
  });

  it('verify on a missing file exits 1', async () => {
    const { err, code } = await run('verify', '--file', path.join(await dirs.make(), 'none.img'));
    expect(code).toBe(1);
    expect(err).toMatch(/no image file at/);
  });

  it('reset writes factory defaults into both banks, keeping the device identity', async () => {
    const file = await copyFixture('firmware-2.img', await dirs.make());
    const { out, code } = await run('reset', '--file', file);
    expect(code).toBe(0);
    expect(out).toMatch(/factory defaults written \(bank B seq 4\)/);
    const report = JSON.parse((await run('show', '--file', file, '--json')).out);
    expect(report.banks.map((b: { seq: number; valid: boolean }) => [b.seq, b.valid])).toEqual([[3, true], [4, true]]);
    expect(report.current).toMatchObject({ device: FIXTURE_DEVICE, secrets: {}, settings: { smtp: { authMethod: 'off' } } });
    expect((await readCommitted(file))?.content).toMatchObject({ eventLog: [{ kind: 'nvram.factory-reset' }] });
    expect((await fs.readFile(file)).includes(Buffer.from('"ct"'))).toBe(false); // no sealed blob left in either bank
  });

  it('reset refuses an image from newer firmware and leaves it untouched', async () => {
    const file = await copyFixture('firmware-3.img', await dirs.make());
    const before = await fs.readFile(file);
    const { err, code } = await run('reset', '--file', file);
    expect(code).toBe(1);
    expect(err).toMatch(/downgrade refused/);
    expect((await fs.readFile(file)).equals(before)).toBe(true);
  });
});
