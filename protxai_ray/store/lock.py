"""The store's one lock: an object that says who is writing something (a release, a scheduled re-run).

The lock object (``S/locks/rerun-release=2024_05.json``, ``S/releases/release=R/_lock``) holds
``{"owner", "host", "pid", "acquired", "heartbeat", "expires"}``. It is created with a compare-and-swap
(``Store.put_if(..., version=None)``: exclusive create), refreshed by a heartbeat thread every third of
its time-to-live while held, and deleted only while it is still ours (``delete_if`` on the version we
wrote). A lock whose holder is gone is taken over, again by compare-and-swap on the version we read, so
two takers cannot both win:

- its ``expires`` is in the past (the holder stopped heart-beating: killed, or its machine died), or
- it was written on this host by a process id that no longer exists (a killed local writer: taken over at
  once instead of after the TTL).

Example::

    with StoreLock(store, "locks/rerun-release=2024_05.json", what="re-run of release 2024_05"):
        ...
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

from protxai_ray.errors import RunError
from protxai_ray.store.fs import Store, encode_json, open_store

DEFAULT_TTL_S = 120.0


class Locked(RunError):
    """Someone else holds the lock (alive: heart-beating, not expired)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_gone(info: dict, now: float | None = None) -> bool:
    """True when the lock ``info`` may be taken over: expired, or a dead process of this host."""
    now = time.time() if now is None else now
    if float(info.get("expires", float("inf"))) <= now:
        return True
    pid = info.get("pid")
    return info.get("host") == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid)


def describe(info: dict) -> str:
    """``held by HOST pid N, heartbeat 3 s ago`` for error messages."""
    beat = time.time() - float(info.get("heartbeat", info.get("acquired", time.time())))
    return (
        f"held by {info.get('host', '?')} pid {info.get('pid', '?')}, last heartbeat {max(beat, 0):.0f} s ago"
    )


class StoreLock:
    """An exclusive lock object at ``rel`` in ``store``; ``Locked`` when a live holder has it."""

    def __init__(self, store: Store | str, rel: str, *, what: str = "", ttl_s: float = DEFAULT_TTL_S) -> None:
        self.store = open_store(store, check=False)
        self.rel = rel
        self.what = what or rel
        self.ttl_s = float(ttl_s)
        self.owner = uuid.uuid4().hex
        self._version: str | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    @property
    def location(self) -> str:
        return self.store.uri_of(self.rel)

    def _body(self, acquired: float | None = None) -> bytes:
        now = time.time()
        return encode_json(
            {
                "owner": self.owner,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "acquired": acquired or now,
                "heartbeat": now,
                "expires": now + self.ttl_s,
            }
        )

    def _read(self) -> tuple[dict | None, str | None]:
        data, version = self.store.read_versioned(self.rel)
        if data is None:
            return None, None
        try:
            return json.loads(data), version
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}, version  # unreadable: treat as held until its TTL cannot be known -> never gone

    def acquire(self) -> StoreLock:
        body = self._body()
        for _ in range(5):
            if self.store.put_if(self.rel, body, None):
                break
            info, version = self._read()
            if info is None:  # released between our two calls: try again
                continue
            if not info or not holder_gone(info):
                raise Locked(
                    f"{self.what} is being written by another process ({self.location}, {describe(info or {})}); retry later"
                )
            if self.store.put_if(self.rel, body, version):
                break  # took over a dead holder's lock
        else:
            raise Locked(f"{self.what}: lost the race for lock {self.location}; retry later")
        info, self._version = self._read()
        if not info or info.get("owner") != self.owner:
            raise Locked(
                f"{self.what} is being written by another process ({self.location}, {describe(info or {})}); retry later"
            )
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name=f"lock-{self.rel}", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with self._guard:
                if self._version is None:
                    return
                info, version = self._read()
                if info is None or info.get("owner") != self.owner:
                    self.lost = True  # taken over (we were presumed dead): stop touching it
                    return
                if self.store.put_if(self.rel, self._body(info.get("acquired")), version):
                    self._version = self._read()[1]

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._guard:
            if self._version is None:
                return
            info, version = self._read()
            self._version = None
            if info and info.get("owner") == self.owner and version is not None:
                self.store.delete_if(self.rel, version)

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
