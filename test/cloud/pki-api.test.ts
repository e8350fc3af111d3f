/** /_twin/pki: the twin's root, a migration scheduled on the twin clock, refusals, and the switch (cross-signed). */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/clock.ts';
import { api, startTestTwin } from './helpers.ts';

describe('/_twin/pki', () => {
  it('shows the root, schedules a migration at a virtual time, refuses a second one, cancels, and switches cross-signed', async () => {
    const clock = new VirtualClock();
    const twin = await startTestTwin({ clock });
    try {
      const first = (await api(twin, 'GET', '/_twin/pki')).json;
      expect(first).toMatchObject({ root: { subject: 'mfp-oauth-sim twin CA', pem: twin.caPem }, previous: [], crossSigned: false, scheduled: null });
      const at = new Date(clock.now() + 3_600_000).toISOString();
      const scheduled = await api(twin, 'POST', '/_twin/pki/migrate', { at, name: 'Twin Root 2026' });
      expect(scheduled.status).toBe(200);
      expect(scheduled.json.scheduled).toMatchObject({ at, crossSign: false, root: { subject: 'Twin Root 2026' } });
      expect(scheduled.json.root.fingerprint).toBe(first.root.fingerprint); // not switched yet
      const again = await api(twin, 'POST', '/_twin/pki/migrate', {});
      expect(again.status).toBe(409);
      expect((await api(twin, 'POST', '/_twin/pki/migrate', { at: 'tomorrow' })).status).toBe(400);
      expect((await api(twin, 'DELETE', '/_twin/pki/migrate')).json.scheduled).toBeNull();

      // Cross-signed by the old root: this client, which trusts only the old root, still reaches the twin after it.
      const switched = (await api(twin, 'POST', '/_twin/pki/migrate', { crossSign: true })).json;
      expect(switched).toMatchObject({ crossSigned: true, previous: [{ fingerprint: first.root.fingerprint }], root: { subject: 'mfp-oauth-sim twin CA G2' } });
      expect(new X509Certificate(switched.root.pem).ca).toBe(true);
      expect((await api(twin, 'GET', '/_twin/pki')).json.root.fingerprint).toBe(switched.root.fingerprint);
      const doc = (await api(twin, 'GET', '/_twin/openapi.json')).json;
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/_twin/pki', '/_twin/pki/migrate']));
    } finally {
      await twin.close();
    }
  });
});
