/** The MSAL cache plugin's rule: MSAL's memory mirrors the device's token store, and is emptied only when the store changed under it. */
import type { TokenCacheContext } from '@azure/msal-node';
import { describe, expect, it, vi } from 'vitest';
import { EMPTY_MSAL_CACHE, nvramCachePlugin } from '../../src/adapters/msal/cachePlugin.ts';
import type { TokenCacheStore } from '../../src/device/ports.ts';

/** A store like the runtime's: stage() may be refused (abandoned work), and the secret may be deleted. */
function store(initial?: string) {
  let text = initial;
  let refuse = false;
  const s: TokenCacheStore & { delete(): void; refuseStages(on: boolean): void } = {
    load: () => text,
    stage: (serialized) => {
      if (!refuse) text = serialized ?? undefined; // null: the runtime deletes the secret
    },
    delete: () => (text = undefined),
    refuseStages: (on) => (refuse = on),
  };
  return s;
}

/** One cache access as msal-node makes it: before, its own work (which may change the cache), after. */
function access(plugin: ReturnType<typeof nvramCachePlugin>, memory: { text: string }, change?: string) {
  const deserialize = vi.fn((t: string) => void (memory.text = t));
  const ctx = { tokenCache: { deserialize, serialize: () => memory.text }, cacheHasChanged: false };
  return (async () => {
    await plugin.beforeCacheAccess(ctx as unknown as TokenCacheContext);
    if (change !== undefined) {
      memory.text = change;
      ctx.cacheHasChanged = true;
    }
    await plugin.afterCacheAccess(ctx as unknown as TokenCacheContext);
    return deserialize.mock.calls.map((c) => c[0]);
  })();
}

describe('MSAL cache plugin', () => {
  it('deserializes on every access but empties MSAL’s memory only when the store changed under it', async () => {
    const tokens = store('{"A":1}');
    const clear = vi.fn();
    const plugin = nvramCachePlugin(tokens, clear);
    const memory = { text: '' };

    expect(await access(plugin, memory)).toEqual(['{"A":1}']);
    expect(clear).toHaveBeenCalledTimes(1); // the first access: memory holds nothing of the store yet
    expect(await access(plugin, memory, '{"A":2}')).toEqual(['{"A":1}']);
    expect(tokens.load()).toBe('{"A":2}');
    expect(await access(plugin, memory)).toEqual(['{"A":2}']); // what it wrote itself: no clear
    expect(clear).toHaveBeenCalledTimes(1);

    tokens.delete(); // SIGN_OUT
    expect(await access(plugin, memory)).toEqual([EMPTY_MSAL_CACHE]);
    expect(clear).toHaveBeenCalledTimes(2);
  });

  it('a stage the runtime refuses (abandoned work) is dropped from MSAL’s memory at the next access', async () => {
    const tokens = store('{"A":1}');
    const clear = vi.fn();
    const plugin = nvramCachePlugin(tokens, clear);
    const memory = { text: '' };
    await access(plugin, memory);
    tokens.refuseStages(true);
    await access(plugin, memory, '{"abandoned":1}');
    expect(tokens.load()).toBe('{"A":1}');
    tokens.refuseStages(false);
    expect(await access(plugin, memory)).toEqual(['{"A":1}']);
    expect(clear).toHaveBeenCalledTimes(2);
  });
});
