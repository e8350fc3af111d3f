/**
 * Power-loss sweep, littlefs style, at device level: a scripted morning of the device (configure, sign in, send, an
 * idle hour, refresh, send) is run once to record the committed content after each NVRAM write, then re-run with the
 * power cut at every write k and at every point inside it, with un-fsynced data kept or lost. After each cut the
 * image verifies, its content equals what was committed just before or just after the interrupted write (never
 * anything else, so a committed token or job is never lost), and the device boots from it.
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { POWER_CUT_POINTS, PowerCut, PowerCutIo, UNSYNCED_MODELS, powerLossSweep } from '../../src/nvram/powercut.ts';
import { openNvram, type NvramData } from '../../src/nvram/index.ts';
import { readCommitted, verifyImage } from '../../src/nvram/inspect.ts';
import { LEAF_STATES } from '../../machines/oauthDevice.ts';

/** What must survive, with random job ids folded away so two runs of the script compare equal. */
function projection(d: NvramData): string {
  const snap = d.snapshot as { value?: unknown; context?: Record<string, unknown> } | null;
  return JSON.stringify({
    value: snap?.value ?? null,
    context: snap?.context ? { ...snap.context, jobId: snap.context.jobId ? 'job' : null } : null,
    settings: d.settings,
    secrets: Object.keys(d.secrets).sort(),
    spool: d.spool.map((j) => [j.subject, j.status, j.attempts]),
    jobLog: d.jobLog.map((j) => [j.subject, j.status]),
  });
}

async function morning(h: DeviceHarness, stopIfCut: () => void): Promise<void> {
  const step = async (fn: () => Promise<unknown>) => {
    stopIfCut();
    await fn();
    await h.device.idle();
    stopIfCut();
  };
  await step(() => h.device.saveSettings(OAUTH_SETTINGS));
  await step(() => h.device.send({ type: 'START_AUTH' }));
  await step(async () => h.fake.lastSignIn().grant());
  await step(() => h.device.submitJob({ to: ['bob@contoso.com'], subject: 'scan 1' }));
  await step(() => h.advance(60 * 60_000));
  await step(() => h.device.submitJob({ to: ['bob@contoso.com'], subject: 'scan 2' }));
}

describe('device power-loss sweep', () => {
  it('every write × every cut point × both disk models: the content before or after the cut, and a clean boot', async () => {
    // Reference run on a counting (never cutting) disk: the committed content after each write of the script.
    const refDir = await mkdtemp(path.join(tmpdir(), 'mfp-sweep-ref-'));
    const refIo = new PowerCutIo();
    const ref = await DeviceHarness.create(refDir, { io: refIo });
    const bootWrites = refIo.writes;
    const committed: string[] = [projection(ref.nvram.data)]; // committed[i] = content after write bootWrites + i
    refIo.onCommitted = async () => {
      const c = await readCommitted(ref.file);
      committed.push(projection(c!.content as NvramData));
    };
    await morning(ref, () => {});
    await ref.close();
    await rm(refDir, { recursive: true, force: true });
    const writes = refIo.writes;
    expect(committed.length).toBe(writes - bootWrites + 1);
    expect(writes - bootWrites).toBeGreaterThanOrEqual(8); // the script really exercises the store
    expect(JSON.parse(committed.at(-1)!)).toMatchObject({ jobLog: [['scan 1', 'sent'], ['scan 2', 'sent']] });

    const { cases } = await powerLossSweep<{ dir: string; h: DeviceHarness | null }>({
      writes,
      setup: async () => ({ dir: await mkdtemp(path.join(tmpdir(), 'mfp-sweep-')), h: null }),
      run: async (ctx, io) => {
        ctx.h = await DeviceHarness.create(ctx.dir, { io, boot: false });
        await ctx.h.boot();
        await morning(ctx.h, () => {
          if (io.cut) throw new PowerCut(io.plan!);
        });
      },
      check: async (ctx, c) => {
        // Power is back: release the dead instance, then look at the image before the device touches it.
        ctx.h?.device?.stop();
        await ctx.h?.nvram?.close().catch(() => undefined);
        ctx.h = null;
        const file = path.join(ctx.dir, 'nvram.json');
        const where = `cut at write ${c.atWrite} (${c.point}, un-fsynced ${c.unsynced})`;
        if (c.atWrite > bootWrites) {
          const verdict = await verifyImage(file);
          expect(verdict.ok, `${where}: image does not verify: ${verdict.reason}`).toBe(true);
          const reopened = await openNvram({ file });
          const seen = projection(reopened.data);
          await reopened.close();
          const i = c.atWrite - bootWrites;
          expect([committed[i - 1], committed[i]], `${where}: content is neither before nor after the write`).toContain(seen);
        }
        ctx.h = await DeviceHarness.create(ctx.dir);
        expect(LEAF_STATES).toContain(ctx.h.device.state());
        expect((await verifyImage(file)).ok).toBe(true);
      },
      teardown: async (ctx) => {
        await ctx.h?.close().catch(() => undefined);
        await rm(ctx.dir, { recursive: true, force: true });
      },
    });
    expect(cases).toBe(writes * POWER_CUT_POINTS.length * UNSYNCED_MODELS.length);
  }, 300_000);
});
