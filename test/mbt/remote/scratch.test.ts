import { it } from 'vitest';
import { startOurPrinter } from './support.ts';
import { openRemote, runRemote } from '../../../src/mbt/remote/run.ts';
it('scratch', async () => {
  const p = await startOurPrinter();
  try {
    const t = await openRemote({ driverUrl: p.driverUrl, twinUrl: p.twinUrl, twinCaFile: p.caFile, stepTimeoutMs: 10000 });
    const r = await runRemote(t, { pathIds: (process.env.PATHS ?? 'path-1').split(','), failuresDir: '/tmp/mbtfail', onCase: (c) => console.log(c.outcome, c.name, c.failure?.message ?? '', c.skipped?.reason ?? '', Math.round(c.ms)) });
    console.log(JSON.stringify(r.coverage.totals), r.aborted);
  } finally { await p.close(); }
}, 300000);
