"""Python's smtplib, unmodified, reading what the twin's SMTP front end says. Prints one JSON line, never the password.

argv: host port cafile user password. Records the EHLO lines before and after STARTTLS (in the order received), the
STARTTLS reply, a basic AUTH LOGIN attempt's reply (the test picks a date on which it is refused with a bracketed
stamp), and then leaves a second session idle inside AUTH LOGIN (after the server's 334) until the server speaks:
the idle-timeout reply, and whether the server then closed the connection.
"""
import json
import smtplib
import ssl
import sys

host, port, cafile, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=cafile)
out = {}


def lines(ehlo_resp):
    return ehlo_resp.decode().split("\n")[1:]  # smtplib joins the reply's lines with \n; the first is the greeting


with smtplib.SMTP(host, port, timeout=20) as s:
    s.ehlo("scanner.local")
    out["ehlo_plain"] = lines(s.ehlo_resp)
    code, reply = s.starttls(context=context)
    out["starttls"] = f"{code} {reply.decode()}"
    s.ehlo("scanner.local")
    out["ehlo_tls"] = lines(s.ehlo_resp)
    try:
        code, reply = s.login(user, password)
        out["login"] = f"{code} {reply.decode()}"
    except smtplib.SMTPResponseException as e:
        out["login"] = f"{e.smtp_code} {e.smtp_error.decode()}"

# A legacy-printer proxy's session: AUTH LOGIN, the server asks for the user name, and nothing comes for a while.
s = smtplib.SMTP(host, port, timeout=60)
s.ehlo("proxy.local")
s.starttls(context=context)
s.ehlo("proxy.local")
code, _ = s.docmd("AUTH", "LOGIN")
out["auth_prompt"] = code
code, reply = s.getreply()  # blocks until the server says something: its idle timeout
out["idle"] = f"{code} {reply.decode()}"
try:
    s.noop()
    out["closed_after_idle"] = False
except smtplib.SMTPServerDisconnected:
    out["closed_after_idle"] = True
s.close()
print(json.dumps(out), flush=True)
