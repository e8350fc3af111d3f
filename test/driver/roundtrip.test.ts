/** Our simulated printer behind the driver protocol, driven through the client: the seed's steps end to end. */
import { afterEach, describe, expect, it } from 'vitest';
import { localPrinter } from '../../src/sim/printer.ts';
import { startDriverServer, type DriverServer } from '../../src/driver/server.ts';
import { connectDriver, DriverError } from '../../src/driver/client.ts';
import { driverOpenApi, driverJsonSchemas } from '../../src/driver/openapi.ts';
import { DRIVER_ROUTES } from '../../src/driver/protocol.ts';
import { DAY, RECIPIENT, SCANNER, SETTINGS, startE2E, waitForState, type E2ESim } from '../e2e/support.ts';

let sim: E2ESim | undefined;
let server: DriverServer | undefined;
afterEach(async () => {
  await server?.close();
  await sim?.close();
  sim = server = undefined;
});

describe('driver protocol against our printer', () => {
  it('signs in, sends a job, power-cycles and moves the clock through the driver, with every capability declared', async () => {
    sim = await startE2E();
    server = await startDriverServer({ printer: localPrinter(sim), name: 'mfp-sim reference printer' });
    const d = await connectDriver({ url: server.url, timeoutMs: 5000 });
    expect(d.hello).toMatchObject({ protocol: 'mfp-driver', version: 1, capabilities: { clock: true, nvram: true, power: true, events: true } });
    expect((await d.status()).state).toBe('unconfigured');

    expect(await d.saveSettings({ ...SETTINGS })).toMatchObject({ accepted: true, state: 'ready' });
    expect(await d.send({ type: 'START_AUTH' })).toMatchObject({ accepted: true });
    await d.idle();
    const pending = await d.status();
    expect(pending.state).toBe('codePending');
    sim.twin!.control.approveDeviceCode(pending.userCode!, SCANNER);
    await waitForState(sim, 'authorized');
    expect(await d.status()).toMatchObject({ state: 'authorized', account: SCANNER });

    const job = await d.submitJob({ to: [RECIPIENT], subject: 'via driver', body: 'hello' });
    expect(job).not.toHaveProperty('contentPath');
    await d.idle();
    expect((await d.jobs()).find((j) => j.id === job.id)?.status).toBe('sent');
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.messageId)).toEqual([job.messageId]);

    const before = await d.now();
    expect(await d.advance(1000)).toBeGreaterThanOrEqual(before + 1000);
    expect((await d.powerCycle(2 * DAY)).stateAfter).toBe('tokenExpired');
    const ev = await d.events(0);
    expect(ev.events.map((e) => `${e.from}>${e.to}`)).toEqual(expect.arrayContaining(['unconfigured>ready', 'authorized>tokenExpired']));
    expect(JSON.stringify(await d.nvram())).not.toMatch(/eyJ/); // no token in what the driver shows
  });

  it('refuses bad input with a problem naming the call and changes nothing', async () => {
    sim = await startE2E();
    server = await startDriverServer({ printer: localPrinter(sim), name: 'ref' });
    const d = await connectDriver({ url: server.url, timeoutMs: 5000 });
    const err = await d.send({ type: 'NOT_AN_EVENT' as 'RETRY' }).catch((e) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err.message).toMatch(/driver call operator \(POST \/driver\/v1\/operator\): refused with HTTP 400/);
    const bad = await d.saveSettings({ ...SETTINGS, smtpPort: 0 }).catch((e) => e);
    expect(bad.message).toMatch(/saveSettings.*HTTP 400.*smtpPort/);
    expect((await d.status()).state).toBe('unconfigured');
  });

  it('publishes an OpenAPI document and JSON Schemas for every route', () => {
    const doc = driverOpenApi() as { paths: Record<string, Record<string, { operationId: string }>> };
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    expect(ops.sort()).toEqual(Object.keys(DRIVER_ROUTES).sort());
    const schemas = driverJsonSchemas() as Record<string, { properties?: Record<string, { enum?: string[] }> }>;
    expect(schemas['status.answer'].properties?.state.enum).toHaveLength(12); // the eleven public names and app-only's requestingToken
  });
});
