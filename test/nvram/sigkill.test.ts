/**
 * A real process writing NVRAM is SIGKILLed at random moments (20 times, seeded). After each kill the image must
 * verify and hold a counter >= the last commit the child acknowledged (and at most one more: the write in flight).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openNvram } from '../../src/nvram/index.ts';
import { readCommitted, verifyImage } from '../../src/nvram/inspect.ts';
import { seededRandom } from '../../src/util/random.ts';
import { tempDirs } from './helpers.ts';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child-writer.ts');
const KILLS = 20;

interface Round {
  started: number;
  lastAck: number;
  output: string;
}

/** Starts the child, lets it write for `delayMs` after it is ready, then SIGKILLs it. */
function runAndKill(file: string, keyFile: string, delayMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, keyFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let started = -1;
    let lastAck = -1;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      for (const m of out.matchAll(/^committed (\d+)$/gm)) lastAck = Math.max(lastAck, Number(m[1]));
      const ready = /^ready (\d+)/m.exec(out);
      if (ready && started < 0) {
        started = Number(ready[1]);
        timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(giveUp);
      clearTimeout(timer);
      if (signal !== 'SIGKILL' || started < 0) reject(new Error(`child ended by ${signal ?? `exit ${code}`} before the kill: ${err || out}`));
      else resolve({ started, lastAck: Math.max(lastAck, started), output: out });
    });
  });
}

describe('SIGKILL while writing', () => {
  it(`survives ${KILLS} kills at random moments without losing an acknowledged commit`, async () => {
    const dir = await dirs.make();
    const file = path.join(dir, 'nvram.img');
    const keyFile = path.join(dir, 'secure-element.key');
    const rnd = seededRandom(0x5167);
    let floor = 0;
    let totalAcks = 0;
    for (let i = 0; i < KILLS; i++) {
      const round = await runAndKill(file, keyFile, rnd.int(0, 120));
      expect(round.started).toBeGreaterThanOrEqual(floor); // the previous round's acknowledged commits survived
      const verdict = await verifyImage(file);
      expect(verdict.ok, verdict.reason ?? '').toBe(true);
      const committed = await readCommitted(file);
      const counter = ((committed?.content as { panel: { counter?: number } }).panel.counter ?? 0);
      expect(counter).toBeGreaterThanOrEqual(round.lastAck);
      expect(counter).toBeLessThanOrEqual(round.lastAck + 1);
      totalAcks += round.lastAck - round.started;
      floor = counter;
    }
    expect(totalAcks).toBeGreaterThan(KILLS); // the kills really landed among writes, not before the first one
    // The image is still a working NVRAM with its sealed secret readable.
    const nvram = await openNvram({ file, keyFile });
    expect(nvram.data.panel.counter).toBe(floor);
    if (floor >= 3) expect(nvram.secrets.get('msal-cache')).toMatch(/^token-\d+-x+$/);
    await nvram.close();
  }, 180_000);
});
