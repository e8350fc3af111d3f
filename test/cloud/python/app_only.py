"""MSAL for Python's ConfidentialClientApplication.acquire_token_for_client against the twin, then smtplib XOAUTH2
with the app-only token for a mailbox. Prints one JSON line: token claims (no token) and the SMTP reply.

argv: authority client_id client_secret scope mailbox smtp_host smtp_port. The CA is given by REQUESTS_CA_BUNDLE
(for MSAL's requests) and read again here for smtplib's STARTTLS.
"""
import base64
import json
import os
import smtplib
import ssl
import sys
from email.message import EmailMessage

import msal

authority, client_id, secret, scope, mailbox, host, port = sys.argv[1:8]
app = msal.ConfidentialClientApplication(client_id, client_credential=secret, authority=authority, instance_discovery=False)
result = app.acquire_token_for_client(scopes=[scope])
out = {
    "error": result.get("error"),
    "error_codes": result.get("error_codes"),
    "error_description": (result.get("error_description") or "").split("\r\n")[0],
    "has_refresh_token": "refresh_token" in result,
}
token = result.get("access_token")
if token:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    out["claims"] = {k: claims.get(k) for k in ("aud", "roles", "idtyp", "scp", "appid", "oid", "tid")}
    with smtplib.SMTP(host, int(port), timeout=20) as s:
        s.ehlo("scanserver.local")
        s.starttls(context=ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"]))
        s.ehlo("scanserver.local")
        try:
            code, reply = s.auth("XOAUTH2", lambda challenge=None: f"user={mailbox}\x01auth=Bearer {token}\x01\x01", initial_response_ok=True)
            out["smtp"] = {"code": code, "reply": reply.decode()}
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = mailbox, mailbox, "Scan (app-only)"
            msg.set_content("scanned page")
            out["refused"] = s.send_message(msg)
        except smtplib.SMTPResponseException as e:
            out["smtp"] = {"code": e.smtp_code, "reply": e.smtp_error.decode()}
print(json.dumps(out), flush=True)
