"""Python's smtplib, unmodified, doing basic SMTP AUTH against the twin. Prints one JSON line, never the password.

argv: host port cafile mechanism(LOGIN|PLAIN) user password. LOGIN goes through smtplib's own login() (which picks
the mechanism from EHLO); PLAIN, which Exchange accepts without listing it, through smtplib's auth() with auth_plain.
On success a message is sent from the user to itself.
"""
import json
import smtplib
import ssl
import sys
from email.message import EmailMessage

host, port, cafile, mechanism, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
out = {"mechanism": mechanism}
with smtplib.SMTP(host, port, timeout=20) as s:
    s.ehlo("scanner.local")
    s.starttls(context=ssl.create_default_context(cafile=cafile))
    s.ehlo("scanner.local")
    out["ehlo_auth"] = s.esmtp_features.get("auth", "").strip()
    try:
        if mechanism == "LOGIN":
            code, reply = s.login(user, password)
        else:
            s.user, s.password = user, password
            code, reply = s.auth("PLAIN", s.auth_plain)
        out.update(ok=True, code=code, reply=reply.decode())
    except smtplib.SMTPResponseException as e:
        out.update(ok=False, code=e.smtp_code, reply=e.smtp_error.decode())
    except smtplib.SMTPException as e:
        out.update(ok=False, code=None, reply=str(e))
    if out["ok"]:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = user, user, "Scan (basic auth)"
        msg.set_content("scanned page")
        out["refused"] = s.send_message(msg)
print(json.dumps(out), flush=True)
