#!/usr/bin/env python3
"""A minimal driver for the mfp-sim driver protocol v1 (docs/driver-protocol.md), Python stdlib only.

It wraps a pretend printer held in memory; replace the Printer class with calls to your printer's web panel
(a browser driver such as Playwright), its console (pexpect) or its vendor API. No optional capability.
Run: python3 driver.py 9100   then   mfp-sim driver check http://127.0.0.1:9100
"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPERATOR = {"START_AUTH", "CANCEL_AUTH", "SIGN_OUT", "RETRY", "DISMISS", "FACTORY_RESET"}

class Printer:  # your printer goes here
    def __init__(self):
        self.state, self.since, self.jobs = "unconfigured", time.time() * 1000, []
    def status(self):
        fields = ["account", "userCode", "verificationUri", "expiresAt", "tokenExpiresAt", "lastError", "jobId", "retryAt"]
        return {"state": self.state, "since": self.since, **{f: None for f in fields}}
    def save_settings(self, s):
        if self.state == "unconfigured": self.state = "ready"
        return {"accepted": True, "state": self.state}
    def operator(self, event):
        return {"accepted": False, "state": self.state, "reason": f"{event} not wired in this example"}

PRINTER = Printer()

class Driver(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json" if status < 400 else "application/problem+json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def refuse(self, status, title):
        self.answer(status, {"type": "about:blank", "title": title, "status": status})
    def do_GET(self):
        if self.path == "/driver/v1/hello":
            caps = {"clock": False, "nvram": False, "power": False, "events": False}
            return self.answer(200, {"protocol": "mfp-driver", "version": 1, "name": "minimal example", "capabilities": caps})
        if self.path == "/driver/v1/status": return self.answer(200, PRINTER.status())
        if self.path == "/driver/v1/jobs": return self.answer(200, PRINTER.jobs)
        self.refuse(404, "no such driver route")
    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"null")
        except ValueError:
            return self.refuse(400, "body is not JSON")
        if self.path == "/driver/v1/settings": return self.answer(200, PRINTER.save_settings(body))
        if self.path == "/driver/v1/operator" and isinstance(body, dict) and body.get("type") in OPERATOR:
            return self.answer(200, PRINTER.operator(body["type"]))
        if self.path == "/driver/v1/idle": return self.answer(200, {"ok": True})
        self.refuse(404 if self.path != "/driver/v1/operator" else 400, "not handled")
    def log_message(self, *args):
        pass

if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 9100), Driver).serve_forever()
