"""The printer's state file: one JSON document written whole, power-safe (write a temporary file, fsync, rename,
fsync the folder), private to its owner (0600). It holds settings, the state, its context, the jobs with their
content (the spool) and the MSAL token cache.
"""
import json
import os
import tempfile

VERSION = 1


def load(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ValueError(f"{path}: not a python-printer state file of version {VERSION}")
    return doc


def save(path, doc):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=folder)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({**doc, "version": VERSION}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def redacted(doc):
    """What the driver's nvram capability shows: everything but the token cache and job bodies."""
    out = json.loads(json.dumps(doc))
    if out.get("tokenCache"):
        out["tokenCache"] = "[sealed]"
    for job in out.get("jobs", []):
        job.pop("body", None)
    return out
