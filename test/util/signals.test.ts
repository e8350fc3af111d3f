import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { untilSignal } from '../../src/util/signals.ts';

describe('untilSignal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('resolves with %s and leaves no listener behind', async (signal) => {
    const proc = new EventEmitter();
    const stopped = untilSignal(proc);
    expect(proc.listenerCount('SIGINT')).toBe(1);
    expect(proc.listenerCount('SIGTERM')).toBe(1);
    proc.emit(signal);
    await expect(stopped).resolves.toBe(signal);
    expect(proc.listenerCount('SIGINT')).toBe(0);
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('does not resolve on other signals', async () => {
    const proc = new EventEmitter();
    let resolved = false;
    void untilSignal(proc).then(() => (resolved = true));
    proc.emit('SIGHUP');
    await Promise.resolve();
    expect(resolved).toBe(false);
    proc.emit('SIGTERM');
    await Promise.resolve();
    expect(resolved).toBe(true);
  });
});
