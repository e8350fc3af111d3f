"""An unmodified smtplib client that submits with XOAUTH2 step by step and prints one JSON line per step (flushed),
so a test can see how far it got while the twin holds it. Args: host port cafile user access_token."""
import base64
import json
import smtplib
import ssl
import sys

host, port, cafile, user, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def step(name, code, reply=b""):
    print(json.dumps({"step": name, "code": code, "reply": reply.decode("utf-8", "replace")}), flush=True)


# The constructor returns once the greeting came, and raises SMTPConnectError unless it was 220.
smtp = smtplib.SMTP(host, port, timeout=60)
step("greeting", 220)
code, reply = smtp.ehlo("python-smtplib")
step("ehlo", code)
context = ssl.create_default_context(cafile=cafile)
code, reply = smtp.starttls(context=context)
step("starttls", code, reply)
smtp.ehlo("python-smtplib")
sasl = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()
code, reply = smtp.docmd("AUTH", "XOAUTH2 " + sasl)
step("auth", code, reply)
try:
    smtp.quit()
except smtplib.SMTPServerDisconnected:
    pass
