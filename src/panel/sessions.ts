/**
 * Server-side login sessions. The encrypted cookie only names a session (a random id); whether it is still valid is
 * decided here, so logging out ends the session for every copy of its cookie, and a password change ends them all.
 * Idle and absolute timeouts run on the panel's clock. One store per panel; a restart ends every session (like a
 * printer's panel).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../time/clock.ts';

/** A session unused for this long ends. */
export const SESSION_IDLE_MS = 30 * 60_000;
/** A session ends this long after login, however busy. */
export const SESSION_ABSOLUTE_MS = 8 * 60 * 60_000;
/** Sessions kept at most; the least recently used one is ended first. */
export const MAX_SESSIONS = 1_000;

interface Session {
  createdAt: number;
  lastSeenAt: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly clock: () => Clock) {}

  /** Starts a session and returns its id (to be kept in the encrypted cookie). */
  create(): string {
    const id = randomBytes(24).toString('base64url');
    const now = this.clock().now();
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next();
      if (!oldest.done) this.sessions.delete(oldest.value);
    }
    this.sessions.set(id, { createdAt: now, lastSeenAt: now });
    return id;
  }

  /** True when the id names a live session; touching it extends the idle timeout (never the absolute one). */
  touch(id: unknown): boolean {
    if (typeof id !== 'string') return false;
    const session = this.sessions.get(id);
    if (!session) return false;
    const now = this.clock().now();
    if (now - session.lastSeenAt >= SESSION_IDLE_MS || now - session.createdAt >= SESSION_ABSOLUTE_MS) {
      this.sessions.delete(id);
      return false;
    }
    session.lastSeenAt = now;
    // Map order doubles as least-recently-used order.
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return true;
  }

  revoke(id: unknown): void {
    if (typeof id === 'string') this.sessions.delete(id);
  }

  /** Sign out everywhere. */
  revokeAll(): void {
    this.sessions.clear();
  }

  get size(): number {
    return this.sessions.size;
  }
}
