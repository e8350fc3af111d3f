// The twin's refresh-token store: opaque tokens, held only as hashes, each found again by its own text alone.
import { describe, expect, it } from 'vitest';
import { REFRESH_TOKEN_INACTIVITY_MS, RefreshTokenStore } from '../../../src/cloud/entra/refresh-tokens.ts';

const GRANT = {
  upn: 'scanner@contoso.example',
  clientId: 'client-a',
  scopes: { resource: ['SMTP.Send'], oidc: ['offline_access' as const] },
  issuedAt: Date.UTC(2026, 0, 1),
  sessionGeneration: 2,
  mfaGeneration: 1,
  mfaDone: true,
};

describe('RefreshTokenStore', () => {
  it('issues an opaque token in Entra’s 1.AQ… form and finds its record by that token only', () => {
    const store = new RefreshTokenStore();
    const { token, record } = store.issue(GRANT);
    expect(token).toMatch(/^1\.AQ[A-Za-z0-9_-]{214}$/);
    expect(record).toEqual({ ...GRANT, id: expect.stringMatching(/^[0-9a-f]{12}$/), rotatedAt: null });
    expect(store.find(token)).toBe(record);
    expect(store.find(`${token}x`)).toBeUndefined();
    expect(store.find('')).toBeUndefined();
  });

  it('keeps every token apart, and no token text in what it holds', () => {
    const store = new RefreshTokenStore();
    const a = store.issue(GRANT);
    const b = store.issue({ ...GRANT, upn: 'other@contoso.example' });
    expect(a.token).not.toBe(b.token);
    expect(a.record.id).not.toBe(b.record.id);
    expect(store.find(b.token)?.upn).toBe('other@contoso.example');
    expect(store.all()).toEqual([a.record, b.record]);
    expect(JSON.stringify(store.all())).not.toContain(a.token.slice(4, 40));
  });

  it('lets a token die of inactivity after 90 days', () => {
    expect(REFRESH_TOKEN_INACTIVITY_MS).toBe(90 * 24 * 3600 * 1000);
  });
});

describe('RefreshTokenStore persistence', () => {
  it('entries() saves records by hash only; restore() into a new store finds the same tokens', () => {
    const store = new RefreshTokenStore();
    const a = store.issue(GRANT);
    const b = store.issue({ ...GRANT, upn: 'other@contoso.example' });
    const saved = store.entries();
    expect(saved).toHaveLength(2);
    expect(saved.map(([, rec]) => rec)).toEqual([a.record, b.record]);
    expect(JSON.stringify(saved)).not.toContain(a.token.slice(4, 40));
    const again = new RefreshTokenStore();
    again.restore(saved);
    expect(again.find(a.token)).toEqual(a.record);
    expect(again.find(b.token)?.upn).toBe('other@contoso.example');
    expect(again.all()).toHaveLength(2);
  });
});
