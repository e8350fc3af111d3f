"""The printer's own state machine: pure, no I/O, no clock of its own.

Written from the public contract (the eleven state names and their transitions in the project's
statechart reference), not from the simulator's code: this printer shares no code with it.

step(state, ctx, event) returns (state, ctx, actions, handled). `actions` are names the runtime carries out after it
has stored the new state: effects ("request_code", "poll_cancel", "refresh", "submit") and records ("hold_job",
"complete_job", "fail_job", "requeue_job", "delete_tokens", "erase_all").
"""
from copy import deepcopy

STATES = (
    "unconfigured", "ready", "requestingCode", "codePending", "authFailed", "authorized",
    "tokenExpired", "refreshing", "sending", "sendFailure", "reauthRequired",
)
SIGNING_IN = ("requestingCode", "codePending")
SIGNED_IN = ("authorized", "tokenExpired", "refreshing", "sending", "sendFailure")
MAX_RETRIES = 3


def initial_context():
    return {
        "account": None, "userCode": None, "verificationUri": None, "codeExpiresAt": None,
        "accessTokenExpiresAt": None, "accessTokenStale": False, "jobId": None, "sendRetries": 0,
        "refreshRetries": 0, "forcedRefreshUsed": False, "retryAt": None, "lastError": None,
    }


def settings_complete(settings):
    return (settings.get("authMethod") == "oauth2ExchangeOnline"
            and bool(settings.get("authEmailAddress", "").strip())
            and bool(settings.get("authUsername", "").strip()))


def same_account(a, b):
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def failure(event):
    return {"reason": event.get("reason", "unknown"), "code": event.get("code"), "reply": event.get("reply")}


class _Step:
    """Collects the outcome of one event: a target state, context changes and actions."""

    def __init__(self, state, ctx):
        self.state, self.ctx, self.actions, self.handled = state, ctx, [], False

    def go(self, target, *actions, **changes):
        self.handled = True
        self.target = target
        self.ctx.update(changes)
        self.actions.extend(actions)
        return self


def _no_session(ctx):
    ctx.update(accessTokenExpiresAt=None, accessTokenStale=False, jobId=None, sendRetries=0, refreshRetries=0,
               forcedRefreshUsed=False, retryAt=None)


def _no_sign_in(ctx):
    ctx.update(userCode=None, verificationUri=None, codeExpiresAt=None)


def _account_of(settings):
    return settings["authUsername"].strip() if settings_complete(settings) else None


def step(state, ctx, event):
    """One event. Unhandled events leave state and context as they were (handled=False)."""
    ctx = deepcopy(ctx)
    s = _Step(state, ctx)
    s.target = state
    kind = event["type"]
    _transition(s, state, ctx, kind, event)
    if not s.handled:
        return state, ctx, [], False
    target = s.target
    actions = list(s.actions)
    # Exit and entry actions (a self-transition marked "reenter" runs entry again; none of ours has an entry effect).
    if state in SIGNING_IN and target not in SIGNING_IN:
        actions.insert(0, "poll_cancel")
        _no_sign_in(ctx)
    if target == "requestingCode" and state != "requestingCode":
        actions += ["delete_tokens", "request_code"]
    if target == "refreshing" and state != "refreshing":
        actions.append("refresh")
    if target == "sending" and state != "sending":
        actions.append("submit")
    return target, ctx, actions, True


def _transition(s, state, ctx, kind, event):
    if kind == "FACTORY_RESET":
        # Settings, jobs and tokens erased: a factory-reset printer has nothing left to send.
        s.go("unconfigured", "delete_tokens", "erase_all")
        ctx.clear()
        ctx.update(initial_context())
        return
    if kind == "SAVE_SETTINGS":
        return _save_settings(s, state, ctx, event["settings"])
    if state == "unconfigured":
        if kind == "SEND":
            return s.go(state, "hold_job")
        if kind == "POWER_CYCLE":
            return s.go(state)
    elif state == "ready":
        if kind == "START_AUTH":
            return s.go("requestingCode", lastError=None)
        if kind == "SEND":
            return s.go(state, "hold_job")
        if kind == "POWER_CYCLE":
            return s.go(state)
    elif state in SIGNING_IN:
        if kind == "CANCEL_AUTH":
            return s.go("ready")
        if kind == "SEND":
            return s.go(state, "hold_job")
        if kind == "POWER_CYCLE":
            return s.go("authFailed", lastError={"reason": "interrupted-by-restart", "code": None, "reply": None})
        if state == "requestingCode":
            if kind == "CODE_ISSUED":
                return s.go("codePending", userCode=event["userCode"], verificationUri=event["verificationUri"],
                            codeExpiresAt=event["expiresAt"])
            if kind == "CODE_FAILED":
                return s.go("authFailed", lastError=failure(event))
        else:
            if kind == "TOKEN_GRANTED":
                if same_account(ctx["account"], event["account"]):
                    _no_sign_in(ctx)
                    _no_session(ctx)
                    return s.go("authorized", accessTokenExpiresAt=event["accessTokenExpiresAt"], lastError=None)
                return s.go("authFailed", "delete_tokens", lastError={
                    "reason": "account-mismatch", "code": None,
                    "reply": f"Signed in as {event['account']}, but Auth. Username is {ctx['account'] or '(none)'}"})
            if kind in ("AUTH_DECLINED", "CODE_EXPIRED", "POLL_FAILED"):
                return s.go("authFailed", lastError=failure(event))
            if kind == "CODE_DEADLINE":
                return s.go("authFailed", lastError={"reason": "code-expired", "code": None, "reply": None})
    elif state == "authFailed":
        if kind == "START_AUTH":
            return s.go("requestingCode", lastError=None)
        if kind == "DISMISS":
            return s.go("ready", lastError=None)
        if kind == "SEND":
            return s.go(state, "hold_job")
        if kind == "POWER_CYCLE":
            return s.go(state)
    elif state == "reauthRequired":
        if kind == "START_AUTH":
            return s.go("requestingCode", lastError=None)
        if kind == "SIGN_OUT":
            return s.go("ready", "delete_tokens", lastError=None)
        if kind == "SEND":
            return s.go(state, "hold_job")
        if kind == "POWER_CYCLE":
            return s.go(state)
    elif state in SIGNED_IN:
        if kind == "SIGN_OUT":
            _no_session(ctx)
            return s.go("ready", "requeue_job", "delete_tokens", lastError=None)
        _signed_in(s, state, ctx, kind, event)


def _save_settings(s, state, ctx, settings):
    complete = settings_complete(settings)
    account = _account_of(settings)
    if state in ("unconfigured", "ready", "authFailed"):
        changes = {"account": account}
        if state != "ready":
            changes["lastError"] = None if (complete or state == "authFailed") else ctx["lastError"]
        return s.go("ready" if complete else "unconfigured", **changes)
    leaves, changes = not complete, not same_account(ctx["account"], settings.get("authUsername"))
    if state in SIGNING_IN:
        if leaves:
            return s.go("unconfigured", account=account)
        if changes:
            return s.go("ready", account=account)
        return s.go(state, account=account)
    if state in SIGNED_IN:
        if leaves or changes:
            _no_session(ctx)
            return s.go("unconfigured" if leaves else "ready", "requeue_job", "delete_tokens", account=account)
        return s.go(state, account=account)
    if state == "reauthRequired":
        if leaves or changes:
            return s.go("unconfigured" if leaves else "ready", "delete_tokens", account=account, lastError=None)
        return s.go(state, account=account)


def _signed_in(s, state, ctx, kind, event):
    stale = ctx["accessTokenStale"]
    if state == "authorized":
        if kind == "SEND":
            return s.go("sending", jobId=event["jobId"], sendRetries=0, forcedRefreshUsed=False, lastError=None)
        if kind == "ACCESS_TOKEN_DEADLINE":
            return s.go("tokenExpired", accessTokenStale=True)
        if kind == "POWER_CYCLE":
            if event.get("accessDeadlinePassed") or stale:
                return s.go("tokenExpired", accessTokenStale=True)
            return s.go(state)
    elif state == "tokenExpired":
        if kind == "SEND" and ctx["jobId"] is None:
            return s.go("refreshing", jobId=event["jobId"], sendRetries=0, forcedRefreshUsed=False, lastError=None)
        if kind == "RETRY_DUE" and ctx["retryAt"] is not None:
            return s.go("refreshing", retryAt=None)
        if kind == "RETRY":
            return s.go("refreshing", retryAt=None)
        if kind == "POWER_CYCLE":
            return s.go(state)
    elif state == "refreshing":
        if kind == "REFRESHED":
            changes = dict(accessTokenExpiresAt=event["accessTokenExpiresAt"], accessTokenStale=False,
                           refreshRetries=0, retryAt=None)
            return s.go("sending" if ctx["jobId"] is not None else "authorized", **changes)
        if kind == "REFRESH_FAILED":
            if not event.get("transient"):
                _no_session(ctx)
                return s.go("reauthRequired", "hold_job", "delete_tokens", lastError=failure(event))
            if ctx["refreshRetries"] < MAX_RETRIES:
                return s.go("tokenExpired", lastError=failure(event), retryAt=event.get("retryAt"),
                            refreshRetries=min(MAX_RETRIES, ctx["refreshRetries"] + 1))
            target = "sendFailure" if ctx["jobId"] is not None else "tokenExpired"
            return s.go(target, lastError=failure(event), refreshRetries=0, retryAt=None)
        if kind == "POWER_CYCLE":
            return s.go("tokenExpired", "requeue_job", jobId=None, sendRetries=0, forcedRefreshUsed=False,
                        retryAt=None, accessTokenStale=True)
    elif state == "sending":
        if kind == "ACCESS_TOKEN_DEADLINE" and not stale:
            return s.go(state, accessTokenStale=True)
        if kind == "SENT":
            return s.go("tokenExpired" if stale else "authorized", "complete_job", jobId=None, sendRetries=0,
                        forcedRefreshUsed=False, retryAt=None, lastError=None)
        if kind == "SEND_FAILED":
            if event.get("category") == "auth-rejected" and not ctx["forcedRefreshUsed"]:
                return s.go("refreshing", lastError=failure(event), forcedRefreshUsed=True, accessTokenStale=True)
            if not event.get("transient"):
                return s.go("sendFailure", lastError=failure(event), retryAt=None)
            if ctx["sendRetries"] < MAX_RETRIES or event.get("retryForever"):
                return s.go("sendFailure", lastError=failure(event), retryAt=event.get("retryAt"),
                            sendRetries=min(MAX_RETRIES, ctx["sendRetries"] + 1))
            return s.go("sendFailure", lastError=failure(event), retryAt=None)
        if kind == "POWER_CYCLE":
            passed = event.get("accessDeadlinePassed") or stale
            return s.go("tokenExpired" if passed else "authorized", "requeue_job", jobId=None, sendRetries=0,
                        forcedRefreshUsed=False, retryAt=None, accessTokenStale=passed)
    elif state == "sendFailure":
        if kind == "RETRY":
            return s.go("refreshing" if stale else "sending", sendRetries=0, retryAt=None)
        if kind == "RETRY_DUE" and ctx["retryAt"] is not None:
            return s.go("refreshing" if stale else "sending", retryAt=None)
        if kind == "ACCESS_TOKEN_DEADLINE" and not stale:
            return s.go(state, accessTokenStale=True)
        if kind == "DISMISS":
            return s.go("tokenExpired" if stale else "authorized", "fail_job", jobId=None, sendRetries=0,
                        forcedRefreshUsed=False, retryAt=None, lastError=None)
        if kind == "POWER_CYCLE":
            return s.go(state)


def deadlines(state, ctx, skew_ms):
    """The deadlines the state listens for: {event type: time in ms}."""
    d = {}
    if state == "codePending" and ctx["codeExpiresAt"] is not None:
        d["CODE_DEADLINE"] = ctx["codeExpiresAt"]
    at = ctx["accessTokenExpiresAt"]
    if at is not None and (state == "authorized" or (state in ("sending", "sendFailure") and not ctx["accessTokenStale"])):
        d["ACCESS_TOKEN_DEADLINE"] = at - skew_ms
    if ctx["retryAt"] is not None and state in ("tokenExpired", "sendFailure"):
        d["RETRY_DUE"] = ctx["retryAt"]
    return d


def boot_event(state, ctx, now_ms, skew_ms):
    """POWER_CYCLE as the restored printer sees it: did the access deadline pass while it was off?"""
    at = ctx.get("accessTokenExpiresAt")
    return {"type": "POWER_CYCLE", "accessDeadlinePassed": at is not None and now_ms >= at - skew_ms}


def can_send(state, ctx):
    return state == "authorized" or (state == "tokenExpired" and ctx["jobId"] is None)
