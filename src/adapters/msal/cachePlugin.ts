/**
 * MSAL's token cache, kept in the sealed NVRAM secret through the runtime's TokenCacheStore. Reads take the
 * committed (or staged) cache; writes only stage it — the runtime commits it in the same NVRAM write as the
 * transition the outcome causes, so a power cut never leaves tokens without the state that uses them.
 */
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import type { TokenCacheStore } from '../../device/ports.ts';

/** A serialized MSAL cache with nothing in it. */
export const EMPTY_MSAL_CACHE = JSON.stringify({ Account: {}, IdToken: {}, AccessToken: {}, RefreshToken: {}, AppMetadata: {} });

/**
 * `clearMemory` empties the application's in-memory cache (its `clearCache()`): msal-node's `deserialize` merges
 * what it reads into what it holds, so on its own it would keep — and write back — an account the runtime deleted.
 * Every access deserializes, an unchanged store too: msal-node's `overwriteCache()` clears its memory and rebuilds it
 * from the text the plugin last deserialized.
 */
export function nvramCachePlugin(store: TokenCacheStore, clearMemory: () => void): ICachePlugin {
  // The text MSAL's memory was last made from or written to (null: nothing yet).
  let mirrored: string | null = null;
  return {
    async beforeCacheAccess(ctx: TokenCacheContext) {
      const stored = store.load() ?? EMPTY_MSAL_CACHE;
      // The store changed under MSAL (SIGN_OUT, a new sign-in, a permanent refresh failure, a refused or dropped
      // stage): what it holds now replaces the memory, an absent secret with an empty cache. Only then: two MSAL
      // calls in flight at once (an abandoned sign-in finishing beside the next) must not erase what the other
      // has saved but not yet written through here.
      if (stored !== mirrored) clearMemory();
      ctx.tokenCache.deserialize(stored);
      mirrored = stored;
    },
    async afterCacheAccess(ctx: TokenCacheContext) {
      if (!ctx.cacheHasChanged) return;
      const serialized = ctx.tokenCache.serialize();
      store.stage(serialized);
      mirrored = serialized; // refused by the runtime (abandoned work): the store differs, and the next access clears
    },
  };
}

interface SerializedAccount {
  home_account_id: string;
  username: string;
}
interface SerializedAccessToken {
  home_account_id: string;
  secret: string;
  target: string;
  cached_at?: string;
  expires_on?: string;
}

/**
 * The newest access token for `username` with `scope` in a serialized cache (MSAL's cross-language cache schema),
 * read without MSAL: acquireTokenSilent would judge expiry by Date.now(), while the device's clock owns that.
 */
export function accessTokenFromCache(serialized: string | undefined, username: string, scope: string): string | null {
  if (!serialized) return null;
  let cache: { Account?: Record<string, SerializedAccount>; AccessToken?: Record<string, SerializedAccessToken> };
  try {
    cache = JSON.parse(serialized);
  } catch {
    return null;
  }
  const wanted = username.trim().toLowerCase();
  const homes = new Set(
    Object.values(cache.Account ?? {})
      .filter((a) => a.username?.toLowerCase() === wanted)
      .map((a) => a.home_account_id),
  );
  const scopeLc = scope.toLowerCase();
  const tokens = Object.values(cache.AccessToken ?? {})
    .filter((t) => homes.has(t.home_account_id) && t.target?.toLowerCase().split(' ').includes(scopeLc))
    .sort((a, b) => Number(b.cached_at ?? 0) - Number(a.cached_at ?? 0));
  return tokens[0]?.secret ?? null;
}
