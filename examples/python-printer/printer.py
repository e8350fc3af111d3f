#!/usr/bin/env python3
"""A second printer, written from scratch: MSAL for Python's device code flow and refresh, smtplib with XOAUTH2, its
own state file and state machine, and a driver for the mfp-sim driver protocol v1 (docs/driver-protocol.md).

Run it against the twin (Debian: apt-get install python3-msal; use /usr/bin/python3):
  REQUESTS_CA_BUNDLE=<twin CA> /usr/bin/python3 printer.py --authority https://127.0.0.1:8443/<tenant> \
      --client-id <app> --ca <twin CA> --smtp 127.0.0.1:2587 --state-file /tmp/pp/state.json --driver-port 9100
then `mfp-sim driver check http://127.0.0.1:9100`. --bug NAME switches on one known firmware bug (runtime.py).
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import runtime  # noqa: E402

OPERATOR = {"START_AUTH", "CANCEL_AUTH", "SIGN_OUT", "RETRY", "DISMISS", "FACTORY_RESET"}
SETTINGS_FIELDS = {"smtpServerName": str, "smtpPort": int, "useSecureConnection": bool, "authMethod": str,
                   "authEmailAddress": str, "authUsername": str, "adminEmailAddress": str}
AUTH_METHODS = {"off", "smtpAuth", "oauth2ExchangeOnline"}
MAX_OFF_MS = 120_000  # wall time: this printer has no virtual clock, a power cut lasts what it lasts
MAX_BODY = 2_000_000


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authority", required=True, help="MSAL authority, https://host:port/<tenant>")
    p.add_argument("--client-id", required=True)
    p.add_argument("--ca", dest="ca_file", required=True, help="the CA the printer trusts for SMTP (Entra: REQUESTS_CA_BUNDLE)")
    p.add_argument("--smtp", required=True, help="host:port where the bench routes the SMTP server name to")
    p.add_argument("--state-file", required=True)
    p.add_argument("--driver-port", type=int, default=9100)
    p.add_argument("--driver-host", default="127.0.0.1")
    p.add_argument("--token-skew-s", type=float, default=300, help="refresh this long before the access token expires")
    p.add_argument("--retry-delays-s", default="30,120,480", help="backoff after transient failures")
    p.add_argument("--bug", choices=runtime.BUGS, default=None)
    a = p.parse_args(argv)
    host, _, port = a.smtp.rpartition(":")
    a.smtp_endpoint = (host, int(port))
    a.skew_ms = int(a.token_skew_s * 1000)
    a.retry_delays_ms = [int(float(x) * 1000) for x in a.retry_delays_s.split(",")]
    return a


def settings_problem(body):
    if not isinstance(body, dict):
        return "settings must be a JSON object"
    unknown = set(body) - set(SETTINGS_FIELDS)
    if unknown:
        return f"unknown settings field(s): {', '.join(sorted(unknown))}"
    for name, kind in SETTINGS_FIELDS.items():
        if name not in body:
            return f"{name} is missing"
        if not isinstance(body[name], kind) or (kind is int and isinstance(body[name], bool)):
            return f"{name} must be a {kind.__name__}"
    if body["authMethod"] not in AUTH_METHODS:
        return f"authMethod must be one of {', '.join(sorted(AUTH_METHODS))}"
    return None


def job_problem(body):
    if not isinstance(body, dict) or set(body) - {"to", "subject", "body"}:
        return "a job is {to: [addresses], subject, body}"
    to = body.get("to")
    if not isinstance(to, list) or not to or len(to) > 100 or not all(isinstance(t, str) and "@" in t for t in to):
        return "to must be a list of 1 to 100 addresses"
    if not isinstance(body.get("subject", ""), str) or not isinstance(body.get("body", ""), str):
        return "subject and body must be strings"
    return None


def make_handler(printer, name):
    base = "/driver/v1"

    class Driver(BaseHTTPRequestHandler):
        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json" if status < 400 else "application/problem+json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refuse(self, status, title, detail=None):
            problem = {"type": "about:blank", "title": title, "status": status}
            if detail:
                problem["detail"] = detail
            self.answer(status, problem)

        def route(self):
            path, _, query = self.path.partition("?")
            return (path[len(base):] if path.startswith(base + "/") else None), query

        def do_GET(self):
            path, query = self.route()
            if path == "/hello":
                caps = {"clock": False, "nvram": True, "power": True, "events": True}
                return self.answer(200, {"protocol": "mfp-driver", "version": 1, "name": name, "capabilities": caps})
            if path == "/status":
                return self.answer(200, printer.status())
            if path == "/jobs":
                return self.answer(200, printer.job_list())
            if path == "/nvram":
                return self.answer(200, {"content": printer.stored()})
            if path == "/events":
                after = 0
                for part in query.split("&"):
                    if part.startswith("after="):
                        try:
                            after = int(part[6:])
                        except ValueError:
                            return self.refuse(400, "after must be an integer")
                return self.answer(200, printer.events_after(after))
            if path in ("/clock", "/clock/advance"):
                return self.refuse(501, "this printer has no virtual clock")
            self.refuse(404, "no such driver route")

        def do_POST(self):
            path, _ = self.route()
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                return self.refuse(413, "request body too large")
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                return self.refuse(400, "body is not JSON")
            if path == "/settings":
                problem = settings_problem(body)
                if problem:
                    return self.refuse(400, "invalid settings", problem)
                return self.answer(200, printer.dispatch({"type": "SAVE_SETTINGS", "settings": body}))
            if path == "/operator":
                if not isinstance(body, dict) or set(body) != {"type"} or body["type"] not in OPERATOR:
                    return self.refuse(400, "invalid operator event", f"type must be one of {', '.join(sorted(OPERATOR))}")
                return self.answer(200, printer.dispatch({"type": body["type"]}))
            if path == "/jobs":
                problem = job_problem(body)
                if problem:
                    return self.refuse(400, "invalid job", problem)
                return self.answer(200, printer.submit_job(body["to"], body.get("subject", ""), body.get("body", "")))
            if path == "/idle":
                printer.wait_settled(60)
                return self.answer(200, {"ok": True})
            if path == "/power-cycle":
                if not isinstance(body, dict) or set(body) != {"offMs"} or not isinstance(body["offMs"], int) \
                        or isinstance(body["offMs"], bool) or body["offMs"] < 0:
                    return self.refuse(400, "invalid power cycle", "the body is {offMs: integer >= 0}")
                if body["offMs"] > MAX_OFF_MS:
                    return self.refuse(422, "power cut too long for wall time",
                                       f"this printer has no virtual clock: offMs must be at most {MAX_OFF_MS}")
                return self.answer(200, {"stateAfter": printer.power_cycle(body["offMs"])})
            if path == "/clock/advance":
                return self.refuse(501, "this printer has no virtual clock")
            self.refuse(404, "no such driver route")

        def log_message(self, *args):
            pass

    return Driver


def main(argv=None):
    config = parse_args(sys.argv[1:] if argv is None else argv)
    printer = runtime.Printer(config)
    name = "python-printer" + (f" (bug: {config.bug})" if config.bug else "")
    server = ThreadingHTTPServer((config.driver_host, config.driver_port), make_handler(printer, name))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(json.dumps({"driver": f"http://{host}:{port}", "name": name}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    threading.current_thread().name = "driver"
    main()
