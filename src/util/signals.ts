/**
 * The one way a long-running command waits to be stopped: until SIGINT (Ctrl+C) or SIGTERM (a service manager, a
 * container runtime). Both listeners are removed on the first signal, so a second Ctrl+C during shutdown gets Node's
 * default (exit at once) instead of being swallowed.
 */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** What untilSignal needs of `process` (a test passes an EventEmitter). */
export interface SignalSource {
  once(event: NodeJS.Signals, listener: () => void): unknown;
  off(event: NodeJS.Signals, listener: () => void): unknown;
}

/** Resolves with the first of SIGINT / SIGTERM that arrives. */
export function untilSignal(source: SignalSource = process): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handlers = STOP_SIGNALS.map((signal) => {
      const handler = () => {
        for (const [s, h] of handlers) source.off(s, h);
        resolve(signal);
      };
      return [signal, handler] as const;
    });
    for (const [s, h] of handlers) source.once(s, h);
  });
}
