/**
 * The staged token cache and a commit in flight.
 *
 * The race: msal-node stages a new token cache (`Dispatcher.staged`) whenever a token call answers — for example a
 * refresh that answers while another step's NVRAM write is still in flight. That write took its copy of `staged`
 * when it began, so the new cache is not in it. The old code cleared `staged` unconditionally once the write was
 * done (`this.staged = undefined`), so the cache that arrived meanwhile was lost: never written, and after the next
 * power cycle the printer booted with the older tokens. The fix (commit 164e453) clears `staged` only when what is
 * staged is what was written — except for a sign-out's write (`deleteTokens`), which drops late answers too.
 *
 * The NVRAM here is a stand-in whose write waits on the test, so the answer lands exactly while a write is in flight.
 */
import { describe, expect, it } from 'vitest';
import { Dispatcher, TOKEN_CACHE_SECRET, type Snapshot } from '../../src/device/dispatch.ts';
import type { Nvram } from '../../src/nvram/index.ts';
import type { NvramData } from '../../src/nvram/schema.ts';
import type { StorageFaults } from '../../src/device/storage-fault.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { VirtualClock } from '../../src/time/clock.ts';

/** An NVRAM whose writes wait until the test lets them through; the vault is a map the test reads. */
function heldNvram() {
  const vault = new Map<string, string>();
  const waiting: (() => void)[] = [];
  const draft = { eventLog: [], jobLog: [], spool: [] } as unknown as NvramData;
  const nvram = {
    update: async (mutate: (d: NvramData, v: { set(n: string, s: string): void; delete(n: string): void }) => void) => {
      await new Promise<void>((resolve) => waiting.push(resolve));
      mutate(draft, { set: (n, s) => void vault.set(n, s), delete: (n) => void vault.delete(n) });
    },
  } as unknown as Nvram;
  /** Lets the oldest waiting write through and waits until the commit around it has finished. */
  const finishWrite = async (commit: Promise<void>) => {
    while (waiting.length === 0) await new Promise((r) => setImmediate(r));
    waiting.shift()!();
    await commit;
  };
  return { nvram, vault, finishWrite };
}

function dispatcher(nvram: Nvram): Dispatcher {
  const storage = { logLines: () => [], failed: (err: unknown) => err, committed: () => {} } as unknown as StorageFaults;
  return new Dispatcher({
    nvram,
    clock: new VirtualClock(),
    log: silentLogger(),
    snapshot: {} as Snapshot, // commit() does not read the statechart
    since: 0,
    storage,
    afterStep: async () => {},
  });
}

describe('Dispatcher.commit and a token cache staged while its write is in flight', () => {
  it('keeps the late cache staged, and the next commit writes it', async () => {
    const { nvram, vault, finishWrite } = heldNvram();
    const core = dispatcher(nvram);
    core.staged = 'cache-1';
    const first = core.commit(() => {});
    core.staged = 'cache-2'; // a refresh answers while the first write is on its way to the medium
    await finishWrite(first);
    expect(vault.get(TOKEN_CACHE_SECRET)).toBe('cache-1'); // the first write held what was staged when it began
    expect(core.staged).toBe('cache-2'); // old code: undefined — the refresh's tokens were lost

    await finishWrite(core.commit(() => {}));
    expect(vault.get(TOKEN_CACHE_SECRET)).toBe('cache-2');
    expect(core.staged).toBeUndefined(); // written: nothing left to stage
  });

  it('a sign-out write drops a cache that answered late, and deletes the stored one', async () => {
    const { nvram, vault, finishWrite } = heldNvram();
    const core = dispatcher(nvram);
    core.staged = 'cache-1';
    await finishWrite(core.commit(() => {}));
    const signOut = core.commit(() => {}, true);
    core.staged = 'late-cache'; // abandoned work answering after the sign-out began
    await finishWrite(signOut);
    expect(vault.has(TOKEN_CACHE_SECRET)).toBe(false);
    expect(core.staged).toBeUndefined();
  });
});
