"""The printer's clients of Microsoft: MSAL for Python (device code flow, refresh) and smtplib (XOAUTH2 over
STARTTLS). Each call returns the statechart's outcome event as a dict; nothing here keeps state of its own except the
MSAL token cache, which the caller persists.
"""
import base64
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate

import msal
import requests

SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
# Exchange's enhanced status codes that no retry can fix (the reference statechart: permanent).
PERMANENT_SMTP = {"5.7.139": "smtp-auth-disabled", "5.7.60": "send-as-denied", "5.2.2": "mailbox-full",
                  "5.7.30": "basic-auth-removed"}


def now_ms():
    return int(time.time() * 1000)


def _fail(kind, reason, code=None, reply=None, **extra):
    return {"type": kind, "reason": reason, "code": code, "reply": reply, **extra}


class _NoReplayedRefusals(dict):
    """MSAL's http_cache (any dict-like, documented as cheap to start afresh) minus its "UI required cache": MSAL
    answers a POST identical to one refused with HTTP 400 in the last 60 s from memory, without asking Entra. This
    printer retries only when its state machine says so (the operator's Start Authentication, RETRY_DUE after a
    transient refresh failure), so a replayed refusal would make it show requestingCode or refreshing and then fail
    with an old answer, nothing on the wire. Those entries are not kept (their keys end in " 400"); the 429/5xx
    Retry-After entries and the discovery documents are."""

    def __setitem__(self, key, value):
        if isinstance(key, str) and key.endswith(" 400"):
            return  # MSAL's index still names the key; the lookup then misses (KeyError) and the request is made
        super().__setitem__(key, value)


class Entra:
    """MSAL's PublicClientApplication with a serializable cache (the printer's sealed store keeps it)."""

    def __init__(self, authority, client_id, cache_blob=None):
        self.cache = msal.SerializableTokenCache()
        if cache_blob:
            self.cache.deserialize(cache_blob)
        self.app = msal.PublicClientApplication(client_id, authority=authority, token_cache=self.cache,
                                                instance_discovery=False, http_cache=_NoReplayedRefusals())

    def cache_blob(self):
        return self.cache.serialize()

    def forget(self):
        for account in self.app.get_accounts():
            self.app.remove_account(account)

    def request_code(self):
        try:
            flow = self.app.initiate_device_flow(scopes=[SMTP_SCOPE])
        except (requests.RequestException, ValueError, OSError) as e:
            return _fail("CODE_FAILED", "network", reply=str(e)[:200]), None
        if "user_code" not in flow:
            return _fail("CODE_FAILED", flow.get("error") or "code-refused", code=_aadsts(flow),
                         reply=(flow.get("error_description") or "")[:200]), None
        event = {"type": "CODE_ISSUED", "userCode": flow["user_code"], "verificationUri": flow["verification_uri"],
                 "expiresAt": int(flow["expires_at"] * 1000)}
        return event, flow

    def poll_once(self, flow):
        """One token request of the device code grant. None: keep polling (pending / slow_down)."""
        try:
            result = self.app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)
        except (requests.RequestException, ValueError, OSError) as e:
            return _fail("POLL_FAILED", "network", reply=str(e)[:200])
        error = result.get("error")
        if error in ("authorization_pending", "slow_down"):
            return None
        if "access_token" in result:
            claims = result.get("id_token_claims") or {}
            account = claims.get("preferred_username") or ""
            return {"type": "TOKEN_GRANTED", "account": account,
                    "accessTokenExpiresAt": now_ms() + int(result.get("expires_in", 3600)) * 1000}
        if error == "authorization_declined":
            return _fail("AUTH_DECLINED", "declined", code=_aadsts(result))
        if error in ("expired_token", "code_expired"):
            return _fail("CODE_EXPIRED", "code-expired", code=_aadsts(result))
        return _fail("POLL_FAILED", error or "poll-failed", code=_aadsts(result),
                     reply=(result.get("error_description") or "")[:200])

    def refresh(self, retry_at):
        accounts = self.app.get_accounts()
        if not accounts:
            return _fail("REFRESH_FAILED", "no-refresh-token", transient=False, retryAt=None)
        try:
            result = self.app.acquire_token_silent_with_error([SMTP_SCOPE], account=accounts[0], force_refresh=True)
        except (requests.RequestException, ValueError, OSError) as e:
            return _fail("REFRESH_FAILED", "network", reply=str(e)[:200], transient=True, retryAt=retry_at)
        if result and "access_token" in result:
            return {"type": "REFRESHED", "accessTokenExpiresAt": now_ms() + int(result.get("expires_in", 3600)) * 1000}
        result = result or {}
        error = result.get("error") or "refresh-failed"
        # invalid_grant (revoked, expired, password changed) and interaction_required need the admin; the rest
        # (temporarily_unavailable, server errors) may pass.
        transient = error in ("temporarily_unavailable", "server_error") or str(result.get("status", "")).startswith("5")
        return _fail("REFRESH_FAILED", "refresh-token-revoked" if error == "invalid_grant" else error,
                     code=_aadsts(result), reply=(result.get("error_description") or "")[:200],
                     transient=transient, retryAt=retry_at if transient else None)

    def access_token(self):
        """The cached access token while it is valid. Not acquire_token_silent: MSAL for Python treats a token with
        less than 5 minutes left as expired and refreshes it on every call, while this printer refreshes at its own
        deadline (the state machine's ACCESS_TOKEN_DEADLINE), whatever the token's lifetime."""
        accounts = self.app.get_accounts()
        if not accounts:
            return None, None
        now_s = time.time()
        cached = [t for t in self.cache.find(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[SMTP_SCOPE])
                  if int(t.get("expires_on", 0)) > now_s]
        if cached:
            best = max(cached, key=lambda t: int(t.get("expires_on", 0)))
            return best.get("secret"), accounts[0].get("username")
        result = self.app.acquire_token_silent([SMTP_SCOPE], account=accounts[0]) or {}
        return result.get("access_token"), accounts[0].get("username")


def _aadsts(result):
    codes = result.get("error_codes") or []
    return f"AADSTS{codes[0]}" if codes else None


def build_message(job, sender, message_id):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(job["to"])
    msg["Subject"] = job["subject"]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg.set_content(job["body"] or "")
    return msg


def smtp_send(endpoint, server_name, ca_file, username, sender, token, job, message_id, retry_at, timeout=30):
    """One submission: EHLO, STARTTLS (verified against server_name with the bench's CA), AUTH XOAUTH2, MAIL, RCPT,
    DATA. Returns SENT or SEND_FAILED with the reply classified."""
    host, port = endpoint
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with smtplib.SMTP(timeout=timeout) as s:
            s.connect(host, port)
            s._host = server_name  # starttls() checks the certificate against this name (and sends it as SNI)
            s.ehlo("python-printer")
            s.starttls(context=context)
            s.ehlo("python-printer")
            initial = f"user={username}\x01auth=Bearer {token}\x01\x01"
            s.auth("XOAUTH2", lambda challenge=None: "" if challenge else initial, initial_response_ok=True)
            msg = build_message(job, sender, message_id)
            code, reply = s.mail(sender)
            if code != 250:
                return _smtp_failure(code, reply, retry_at)
            for rcpt in job["to"]:
                code, reply = s.rcpt(rcpt)
                if code not in (250, 251):
                    return _smtp_failure(code, reply, retry_at)
            code, reply = s.data(msg.as_bytes())
            if code != 250:
                return _smtp_failure(code, reply, retry_at)
            return {"type": "SENT", "reply": f"{code} {reply.decode(errors='replace')}"}
    except smtplib.SMTPResponseException as e:
        return _smtp_failure(e.smtp_code, e.smtp_error, retry_at)
    except (smtplib.SMTPException, socket.timeout, OSError, ssl.SSLError) as e:
        return {"type": "SEND_FAILED", "category": "connection", "transient": True, "retryAt": retry_at,
                "reason": "connection", "code": getattr(e, "errno", None) and str(e.errno), "reply": str(e)[:200]}


def _smtp_failure(code, reply, retry_at):
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    enhanced = text.split(" ", 1)[0] if text[:1].isdigit() and "." in text.split(" ", 1)[0] else None
    line = f"{code} {text}"
    if code == 535 and enhanced == "5.7.3":
        return {"type": "SEND_FAILED", "category": "auth-rejected", "transient": False, "retryAt": None,
                "reason": "auth-rejected", "code": enhanced, "reply": line}
    if 400 <= code < 500:
        category = "throttled" if enhanced == "4.3.2" else "transient"
        return {"type": "SEND_FAILED", "category": category, "transient": True, "retryAt": retry_at,
                "reason": category, "code": enhanced, "reply": line}
    category = PERMANENT_SMTP.get(enhanced, "rejected")
    return {"type": "SEND_FAILED", "category": category, "transient": False, "retryAt": None,
            "reason": category, "code": enhanced, "reply": line}


def xoauth2_blob(username, token):
    """The SASL XOAUTH2 initial response, base64 (for logs of tests; never printed with a real token)."""
    return base64.b64encode(f"user={username}\x01auth=Bearer {token}\x01\x01".encode()).decode()
