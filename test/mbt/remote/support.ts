/** Our printer (src/sim, virtual clock, the embedded twin on sockets) behind the driver protocol, for remote runs. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { startSimulator } from '../../../src/sim/simulator.ts';
import { localPrinter } from '../../../src/sim/printer.ts';
import { startDriverServer, type DriverServer } from '../../../src/driver/server.ts';
import { DEFAULT_TENANT_FILE } from '../../../src/cloud/tenant-fixture.ts';
import { silentLogger } from '../../../src/log/logger.ts';

export interface OurPrinter {
  driverUrl: string;
  twinUrl: string;
  caFile: string;
  close(): Promise<void>;
}

export async function startOurPrinter(): Promise<OurPrinter> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-remote-mbt-'));
  const fixture = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
  fixture.deviceCode.intervalSeconds = 0.1; // a sign-in costs a tenth of a second of wall time, not five
  const tenantFile = path.join(dir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  const sim = await startSimulator({ stateDir: dir, clock: 'virtual', cloud: { mode: 'twin', tenantFile, seed: 7 }, logger: silentLogger(), settleOnBoot: false });
  let driver: DriverServer;
  try {
    driver = await startDriverServer({ printer: localPrinter(sim), name: 'mfp-sim reference printer' });
  } catch (err) {
    await sim.close();
    throw err;
  }
  return {
    driverUrl: driver.url,
    twinUrl: sim.twin!.entraUrl,
    caFile: sim.twin!.caPath,
    async close() {
      await driver.close();
      await sim.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
