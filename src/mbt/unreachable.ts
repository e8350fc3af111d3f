/**
 * The one place where rows of `transitionTable(oauthDeviceMachine)` are declared unreachable, each with the reason.
 * The coverage check accepts an uncovered row only if it is listed here; a listed row that gets covered fails the
 * check too (the declaration would be wrong). Both reasons below are facts about the statechart, derived by hand and
 * confirmed by the model graph (no state of it enables these rows): they are worth a look by the statechart's owner.
 */
export const UNREACHABLE_ROWS: Readonly<Record<string, string>> = {
  'refreshing:REFRESHED#1':
    'refreshing always has a job: every way in carries one (tokenExpired SEND takes it; tokenExpired RETRY_DUE needs ' +
    'retryAt, which only a transient REFRESH_FAILED sets, keeping the job; 535 5.7.3 and sendFailure RETRY/RETRY_DUE ' +
    'come from a job), so the unguarded "no job → authorized" branch after hasJob never fires.',
  'refreshing:REFRESH_FAILED#3':
    'same invariant: with a job, a transient failure without retries left takes the hasJob branch (#2) to sendFailure; ' +
    'the last, job-less branch to tokenExpired never fires.',
};
