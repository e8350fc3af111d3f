/** GET /api/events over a real loopback socket: a status event on connect, then transitions, and it survives a power cycle. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { basic, login, panelUnderTest, type PanelUnderTest } from './support.ts';

type Sse = { event: string; data: any };

/** Reads server-sent events from a fetch response body. */
function eventReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: Sse[] = [];
  return {
    async next(timeoutMs = 5000): Promise<Sse> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const ready = queue.shift();
        if (ready) return ready;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event in time')), Math.max(1, deadline - Date.now()))),
        ]);
        if (chunk.done) throw new Error('stream ended');
        buffer += decoder.decode(chunk.value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = block.match(/^event: (.*)$/m)?.[1];
          const data = block.match(/^data: (.*)$/m)?.[1];
          if (event && data) queue.push({ event, data: JSON.parse(data) });
        }
      }
    },
    cancel: () => reader.cancel(),
  };
}

describe('server-sent events', () => {
  let p: PanelUnderTest;
  let url: string;
  beforeAll(async () => {
    p = await panelUnderTest();
    url = await p.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses an unauthenticated stream', async () => {
    const res = await fetch(`${url}/api/events`);
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });

  it('delivers the status on connect, then each transition, also after a power cycle', async () => {
    const res = await fetch(`${url}/api/events`, { headers: { authorization: basic() } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const events = eventReader(res.body!);
    try {
      expect(await events.next()).toMatchObject({ event: 'status', data: { state: 'unconfigured' } });

      await p.sim.device.saveSettings(OAUTH_SETTINGS);
      const t = await events.next();
      expect(t).toMatchObject({ event: 'transition', data: { from: 'unconfigured', to: 'ready', event: 'SAVE_SETTINGS', status: { state: 'ready', account: 'scanner@contoso.com' } } });
      expect(Date.parse(t.data.at)).toBe(p.sim.clock.now());

      await p.sim.device.send({ type: 'START_AUTH' });
      expect((await events.next()).data).toMatchObject({ from: 'ready', to: 'requestingCode' });
      expect((await events.next()).data).toMatchObject({ from: 'requestingCode', to: 'codePending', status: { userCode: 'FAKECODE1' } });

      await p.sim.powerCycle(0);
      expect(await events.next()).toMatchObject({ event: 'boot', data: { state: 'authFailed' } });
      await p.sim.device.send({ type: 'DISMISS' });
      expect((await events.next()).data).toMatchObject({ from: 'authFailed', to: 'ready', event: 'DISMISS' });
    } finally {
      await events.cancel();
    }
  });

  it('works with the login session cookie (what the panel script uses)', async () => {
    const { cookie } = await login(p.app);
    const res = await fetch(`${url}/api/events`, { headers: { cookie } });
    expect(res.status).toBe(200);
    const events = eventReader(res.body!);
    try {
      expect((await events.next()).event).toBe('status');
    } finally {
      await events.cancel();
    }
  });
});
