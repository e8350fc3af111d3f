/**
 * Waiting for the twin by its wire journal instead of by the clock: `nextEntry` resolves with the first entry, added
 * from now on, that matches. Subscribe (call it) before the action that produces the entry. The bound only turns a
 * missing entry into a clear failure; nothing is timed.
 */
import type { FaultPlan, FaultTarget } from '../../../src/cloud/contracts.ts';
import type { JournalEntry, SmtpJournalEntry, WireJournal } from '../../../src/cloud/journal/wire-journal.ts';

/** Resolves once `count` entries matching have been journalled (from now on). */
export function entries(journal: WireJournal, count: number, matches: (e: JournalEntry) => boolean, what = 'matching journal entries', boundMs = 30_000): Promise<JournalEntry[]> {
  return new Promise((resolve, reject) => {
    const seen: JournalEntry[] = [];
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`the twin journalled ${seen.length} of ${count} ${what} within ${boundMs} ms`));
    }, boundMs);
    const stop = journal.subscribe((e) => {
      if (!matches(e)) return;
      seen.push(e);
      if (seen.length < count) return;
      clearTimeout(timer);
      stop();
      resolve(seen);
    });
  });
}

export async function nextEntry(journal: WireJournal, matches: (e: JournalEntry) => boolean, what = 'matching journal entry', boundMs = 30_000): Promise<JournalEntry> {
  return (await entries(journal, 1, matches, what, boundMs))[0]!;
}

export const isSmtp = (e: JournalEntry): e is SmtpJournalEntry => e.kind === 'smtp';

/**
 * Resolves when the twin takes a rule for `target` from its fault plan, i.e. when a request reaches that stage (for
 * `smtp.data`: the whole message is in and the twin is about to answer it). Watches the plan object the twin uses.
 */
export function faultTaken(plan: FaultPlan, target: FaultTarget, boundMs = 30_000): Promise<void> {
  const take = plan.take;
  return new Promise((resolve, reject) => {
    const restore = () => {
      plan.take = take;
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      restore();
      reject(new Error(`the twin took no ${target} fault within ${boundMs} ms`));
    }, boundMs);
    plan.take = (t) => {
      const action = take.call(plan, t);
      if (t === target && action) {
        restore();
        resolve();
      }
      return action;
    };
  });
}
