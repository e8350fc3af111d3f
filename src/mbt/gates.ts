/**
 * Gates in front of the device's three effects (sign-in, refresh, submission). A gated call waits until the executor
 * releases it, then runs the real adapter against the twin. This stands in for network latency: it lets a test hold
 * the device in `requestingCode`, `refreshing` or `sending` (states the real system passes through in milliseconds)
 * and apply a stimulus there, which is what the statechart's rows for those states are about. The outcome itself is
 * never faked: it is whatever the real adapter gets from the twin, scripted beforehand through the twin's control API.
 */
import type { AppTokenPort, DevicePorts, TokenCacheStore } from '../device/ports.ts';

export type GateKind = 'signIn' | 'refresh' | 'submit';

interface Held {
  seq: number;
  release: () => void;
  abandon: (why: Error) => void;
}

export class EffectGates {
  private readonly held: Record<GateKind, Held[]> = { signIn: [], refresh: [], submit: [] };
  private seq = 0;
  private readonly waiters = new Set<() => void>();

  /** Wraps a port factory so that every effect call waits at its gate first. */
  wrap(build: (cache: TokenCacheStore) => DevicePorts): (cache: TokenCacheStore) => DevicePorts {
    return (cache) => {
      const ports = build(cache);
      return {
        oauth: {
          signIn: (args) => this.hold('signIn').then(() => ports.oauth.signIn(args)),
          refresh: (args) => this.hold('refresh').then(() => ports.oauth.refresh(args)),
          accessToken: (args) => ports.oauth.accessToken(args),
        },
        mail: { submit: (args) => this.hold('submit').then(() => ports.mail.submit(args)) },
        // A client-credentials request is token work like a refresh: it waits at the same gate.
        ...(ports.appOnly ? { appOnly: gatedAppOnly(ports.appOnly, () => this.hold('refresh')) } : {}),
      };
    };
  }

  private hold(kind: GateKind): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.held[kind].push({ seq: ++this.seq, release: resolve, abandon: reject });
      for (const w of [...this.waiters]) w();
    });
  }

  count(kind: GateKind): number {
    return this.held[kind].length;
  }

  /** Lets the newest held call of `kind` through (older ones were abandoned by the device and are dropped). */
  release(kind: GateKind): boolean {
    const list = this.held[kind];
    const newest = list.pop();
    this.abandon(kind);
    newest?.release();
    return newest !== undefined;
  }

  /** Fails every held call of `kind`: the device already left the state that started it and drops its outcome. */
  abandon(kind: GateKind): void {
    for (const h of this.held[kind].splice(0)) h.abandon(new Error(`gated ${kind} abandoned`));
  }

  abandonAll(): void {
    for (const k of ['signIn', 'refresh', 'submit'] as const) this.abandon(k);
  }

  /** Calls `listener` whenever any call reaches its gate. Returns the unsubscribe function. */
  onHold(listener: () => void): () => void {
    this.waiters.add(listener);
    return () => this.waiters.delete(listener);
  }

  /** Resolves once a call of `kind` is held (at once if one is), or rejects after `timeoutMs` of wall time. */
  async waitHeld(kind: GateKind, timeoutMs: number): Promise<void> {
    if (this.held[kind].length > 0) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        if (this.held[kind].length === 0) return;
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new Error(`no ${kind} call reached its gate within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(done);
    });
  }
}

function gatedAppOnly(port: AppTokenPort, gate: () => Promise<void>): AppTokenPort {
  return { request: (args) => gate().then(() => port.request(args)), accessToken: (args) => port.accessToken(args) };
}
