"""The printer's runtime: one worker thread takes events from a queue, steps the machine, stores the result, then
starts the effects. Effects run on threads of their own and answer with outcome events; a deadline thread raises the
machine's deadlines on wall time. A power cycle stops everything, and boots again from the state file.

Known firmware bugs can be switched on (--bug), one at a time, to see the test suite catch them:
  retry-5.7.139-forever     treats "535 5.7.139" as transient and retries it without end
  forget-tokens             loses its sign-in across a power cycle (boots as if never signed in)
  poll-every-second         polls the token endpoint every second, whatever the interval and slow_down say
  new-message-id            gives every resend of a job a new Message-ID
"""
import queue
import threading
import time
import uuid

import machine
import services
import storage

BUGS = ("retry-5.7.139-forever", "forget-tokens", "poll-every-second", "new-message-id")
LOG_LIMIT = 500


def now_ms():
    return int(time.time() * 1000)


class Printer:
    def __init__(self, config):
        self.config = config
        self.bug = config.bug
        self.lock = threading.RLock()
        self.idle_changed = threading.Condition(self.lock)
        self.events = []          # transitions: {seq, at, from, to, event}
        self.seq = 0
        self.epoch = 0            # bumped at power-off: outcomes of a former life are dropped
        self.in_flight = 0
        self.queue = None
        self._boot()

    # ---- life cycle -------------------------------------------------------------------------------------------
    def _boot(self):
        doc = storage.load(self.config.state_file) or {}
        self.settings = doc.get("settings") or {}
        self.state = doc.get("state") or "unconfigured"
        self.ctx = {**machine.initial_context(), **(doc.get("ctx") or {})}
        self.jobs = doc.get("jobs") or []
        self.since = doc.get("since") or now_ms()
        cache = doc.get("tokenCache")
        if self.bug == "forget-tokens":
            cache = None
        self.entra = services.Entra(self.config.authority, self.config.client_id, cache)
        self.queue = queue.Queue()
        self.flow = None
        self.running = True
        epoch = self.epoch
        self.worker = threading.Thread(target=self._work, args=(epoch,), daemon=True)
        self.ticker = threading.Thread(target=self._tick, args=(epoch,), daemon=True)
        self.worker.start()
        self.ticker.start()
        if doc:
            if self.bug == "forget-tokens" and self.state in machine.SIGNED_IN + ("reauthRequired",):
                # The bug: the token store is not kept, and the firmware then starts over as not signed in.
                self.state, self.ctx = "ready", {**machine.initial_context(), "account": self.ctx["account"]}
            self.post(machine.boot_event(self.state, self.ctx, now_ms(), self.config.skew_ms))
        else:
            self._store()

    def power_cycle(self, off_ms):
        with self.lock:
            self.running = False
            self.epoch += 1
            self.in_flight = 0
            self.queue.put(None)
            self.idle_changed.notify_all()
        time.sleep(off_ms / 1000)
        with self.lock:
            self._boot()
        self.wait_settled(5)
        return self.state

    # ---- events ---------------------------------------------------------------------------------------------
    def post(self, event, epoch=None):
        with self.lock:
            if epoch is not None and epoch != self.epoch:
                return
            self.queue.put(event)

    def dispatch(self, event, timeout=10):
        """An operator event, handled in order with everything else; answers whether the machine took it."""
        done = threading.Event()
        answer = {}
        self.post({**event, "_answer": (done, answer)})
        if not done.wait(timeout):
            return {"accepted": False, "state": self.state, "reason": "the printer did not answer in time"}
        return answer

    def _work(self, epoch):
        q = self.queue
        while True:
            event = q.get()
            if event is None:
                return
            with self.lock:
                if epoch != self.epoch:
                    return
                reply = event.pop("_answer", None)
                handled = self._step(event)
                self._pump()
                if reply:
                    done, answer = reply
                    answer.update(accepted=handled, state=self.state)
                    if not handled:
                        answer["reason"] = f"{event['type']} does not apply in {self.state}"
                    done.set()
                self.idle_changed.notify_all()

    def _step(self, event):
        before, old_ctx = self.state, self.ctx
        state, ctx, actions, handled = machine.step(self.state, self.ctx, event)
        if not handled:
            return False
        if event["type"] == "SAVE_SETTINGS":
            self.settings = event["settings"]
        self.state, self.ctx = state, ctx
        if state != before:
            self.since = now_ms()
        self.seq += 1
        self.events.append({"seq": self.seq, "at": now_ms(), "from": before, "to": state, "event": event["type"]})
        del self.events[:-LOG_LIMIT]
        for action in actions:
            self._record(action, old_ctx)
        self._store()
        for action in actions:
            self._effect(action)
        return True

    def _pump(self):
        """The job pump: the oldest waiting job goes when the machine can send; else waiting jobs are held."""
        waiting = [j for j in self.jobs if j["status"] in ("queued", "held")]
        if not waiting:
            return
        if machine.can_send(self.state, self.ctx):
            self._step({"type": "SEND", "jobId": waiting[0]["id"]})
        elif self.state in ("unconfigured", "ready", "requestingCode", "codePending", "authFailed", "reauthRequired"):
            changed = False
            for j in waiting:
                if j["status"] == "queued":
                    j.update(status="held", updatedAt=now_ms())
                    changed = True
            if changed:
                self._store()

    # ---- records -------------------------------------------------------------------------------------------
    def _job(self, job_id):
        return next((j for j in self.jobs if j["id"] == job_id), None)

    def _record(self, action, old_ctx):
        job = self._job(old_ctx["jobId"]) if old_ctx["jobId"] else None
        if action == "delete_tokens":
            self.entra.forget()
        elif action == "erase_all":
            self.settings, self.jobs = {}, []
        elif action == "hold_job" and job:
            job.update(status="held", updatedAt=now_ms())
        elif action == "requeue_job" and job:
            job.update(status="queued", updatedAt=now_ms())
        elif action == "complete_job" and job:
            job.update(status="sent", updatedAt=now_ms())
            job.pop("body", None)  # content leaves the spool once the mail is delivered
        elif action == "fail_job" and job:
            job.update(status="failed", updatedAt=now_ms())
        if self.state == "sending":
            current = self._job(self.ctx["jobId"])
            if current and current["status"] != "sending":
                current.update(status="sending", updatedAt=now_ms())

    def _store(self):
        storage.save(self.config.state_file, {
            "settings": self.settings, "state": self.state, "ctx": self.ctx, "since": self.since, "jobs": self.jobs,
            "tokenCache": None if self.bug == "forget-tokens" else self.entra.cache_blob(),
        })

    # ---- effects -------------------------------------------------------------------------------------------
    def _effect(self, action):
        runner = {"request_code": self._request_code, "refresh": self._refresh, "submit": self._submit,
                  "poll_cancel": self._cancel_poll}.get(action)
        if runner is None:
            return
        if action == "poll_cancel":
            return runner()
        epoch = self.epoch
        self.in_flight += 1

        released = []

        def release():
            # Once: the effect is over for idle(), even if its thread goes on (polling waits for the user, not us).
            with self.lock:
                if not released:
                    released.append(True)
                    if epoch == self.epoch:
                        self.in_flight -= 1
                        self.idle_changed.notify_all()

        def run():
            try:
                if action == "request_code":
                    runner(epoch, release)
                else:
                    runner(epoch)
            finally:
                release()

        threading.Thread(target=run, daemon=True).start()

    def _request_code(self, epoch, release):
        event, flow = self.entra.request_code()
        with self.lock:
            self.flow = flow
        self.post(event, epoch)
        release()  # the code is on the panel: from here the printer waits for the user, as the reference printer
        if flow is None:
            return
        cancelled = threading.Event()
        with self.lock:
            self.cancel_poll = cancelled
        while not cancelled.is_set():
            interval = 1 if self.bug == "poll-every-second" else flow.get("interval", 5)
            if cancelled.wait(interval):
                return
            outcome = self.entra.poll_once(flow)
            if self.bug == "poll-every-second":
                flow["interval"] = 1  # the bug: slow_down is ignored too
            if outcome is not None:
                self.post(outcome, epoch)
                return

    def _cancel_poll(self):
        cancel = getattr(self, "cancel_poll", None)
        if cancel:
            cancel.set()

    def _retry_at(self, retries):
        delays = self.config.retry_delays_ms
        return now_ms() + delays[min(retries, len(delays) - 1)]

    def _refresh(self, epoch):
        # MSAL updates its cache here; the commit of the outcome event stores it with the new state.
        outcome = self.entra.refresh(None)
        if outcome.get("transient"):
            outcome["retryAt"] = self._retry_at(self.ctx["refreshRetries"])  # from the failure, not the attempt
        self.post(outcome, epoch)

    def _submit(self, epoch):
        with self.lock:
            job = dict(self._job(self.ctx["jobId"]) or {})
            retries = self.ctx["sendRetries"]
            if job and self.bug == "new-message-id":
                live = self._job(job["id"])
                live["messageId"] = f"<{uuid.uuid4()}@python-printer.invalid>"
                job["messageId"] = live["messageId"]
            if job:
                live = self._job(job["id"])
                live["attempts"] = live.get("attempts", 0) + 1
                self._store()
        if not job:
            return self.post({"type": "SEND_FAILED", "category": "rejected", "transient": False, "retryAt": None,
                              "reason": "job-missing", "code": None, "reply": None}, epoch)
        token, _ = self.entra.access_token()
        if not token:
            return self.post({"type": "SEND_FAILED", "category": "auth-rejected", "transient": False,
                              "retryAt": None, "reason": "no-access-token", "code": None, "reply": None}, epoch)
        outcome = services.smtp_send(self.config.smtp_endpoint, self.settings.get("smtpServerName") or "smtp.office365.com",
                                     self.config.ca_file, self.settings.get("authUsername"),
                                     self.settings.get("authEmailAddress"), token, job, job["messageId"], None)
        if outcome.get("transient"):
            outcome["retryAt"] = self._retry_at(retries)  # the backoff counts from the refusal, not from the attempt
        if outcome["type"] == "SEND_FAILED" and self.bug == "retry-5.7.139-forever" and outcome.get("code") == "5.7.139":
            outcome.update(transient=True, retryAt=now_ms() + self.config.retry_delays_ms[0], retryForever=True)
        with self.lock:
            live = self._job(job["id"])
            if live:
                live["reply"] = outcome.get("reply")
        self.post(outcome, epoch)

    # ---- deadlines -----------------------------------------------------------------------------------------
    def _tick(self, epoch):
        raised = set()
        while True:
            time.sleep(0.05)
            with self.lock:
                if epoch != self.epoch:
                    return
                due = machine.deadlines(self.state, self.ctx, self.config.skew_ms)
                key_now = now_ms()
                for kind, at in due.items():
                    key = (kind, at, self.state)
                    if at <= key_now and key not in raised:
                        raised.add(key)
                        self.queue.put({"type": kind})

    # ---- what the driver asks ------------------------------------------------------------------------------
    def submit_job(self, to, subject, body):
        with self.lock:
            job_id = str(uuid.uuid4())
            job = {"id": job_id, "messageId": f"<{job_id}@python-printer.invalid>", "status": "queued", "to": to,
                   "subject": subject, "body": body, "attempts": 0, "reply": None,
                   "createdAt": now_ms(), "updatedAt": now_ms()}
            self.jobs.append(job)
            self._store()
            self.queue.put({"type": "_PUMP"})
            return {k: v for k, v in job.items() if k != "body"}

    def status(self):
        with self.lock:
            c = self.ctx
            return {"state": self.state, "since": self.since, "account": c["account"], "userCode": c["userCode"],
                    "verificationUri": c["verificationUri"], "expiresAt": c["codeExpiresAt"],
                    "tokenExpiresAt": c["accessTokenExpiresAt"], "lastError": c["lastError"],
                    "jobId": c["jobId"], "retryAt": c["retryAt"]}

    def job_list(self):
        with self.lock:
            return [{k: v for k, v in j.items() if k != "body"} for j in self.jobs]

    def events_after(self, after):
        with self.lock:
            return {"next": self.seq, "events": [e for e in self.events if e["seq"] > after]}

    def stored(self):
        with self.lock:
            return storage.redacted(storage.load(self.config.state_file) or {})

    def wait_settled(self, timeout):
        """True once no effect is in flight, the queue is empty and no job waits that could go now."""
        end = time.time() + timeout
        with self.lock:
            while True:
                waiting = any(j["status"] in ("queued", "held", "sending") for j in self.jobs)
                sendable = waiting and (machine.can_send(self.state, self.ctx) or self.state in ("sending", "refreshing"))
                if self.in_flight == 0 and self.queue.empty() and not sendable:
                    return True
                left = end - time.time()
                if left <= 0:
                    return False
                self.idle_changed.wait(min(left, 0.1))
