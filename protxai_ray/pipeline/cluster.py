"""Connecting to Ray: in-process local Ray by default, or an existing cluster checked for reachability first.

Addresses (``--ray-address`` or ``RAY_ADDRESS``; Ray sets the latter inside ``ray job submit``): the head's
GCS address ``HOST:PORT`` (``ray start --head --port``, default 6379) or ``auto`` (the head started on
this machine). Joining takes the cluster's resources as they are (no ``num_cpus``). Refused with one
line each: ``http(s)://`` (the dashboard / job-submission address, for ``ray job submit --address``) and
``ray://`` (Ray Client: Ray Data pipelines do not run over it in Ray 2.60). A cluster started with
``RAY_AUTH_MODE=token`` needs the same variable and its token here (README "Cluster use").

``ray.init(address=...)`` against a dead address retries for a long time and then dies with a stack of
Ray internals; a TCP connect with a short timeout first turns that into one ``RunError`` line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO
from urllib.parse import urlparse

from protxai_ray.errors import RunError

CONNECT_TIMEOUT_S = 3.0


def address_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray GCS address ``HOST:PORT``; None for auto. RunError for any other form."""
    if address in ("auto", "local"):
        return None
    scheme = address.split("://", 1)[0].lower() if "://" in address else ""
    if scheme in ("http", "https"):
        raise RunError(
            f"Ray address {address!r} is the dashboard (job submission) address: give it to "
            "`ray job submit --address`; --ray-address / RAY_ADDRESS take the head's GCS address HOST:6379 or auto"
        )
    if scheme == "ray":
        raise RunError(
            f"Ray Client address {address!r}: Ray Data pipelines do not run over Ray Client (ray://) in "
            "Ray 2.60; submit the run with `ray job submit` (jobs/attribute.py) or give the head's GCS "
            "address HOST:6379 from a machine of the cluster's network"
        )
    parsed = urlparse(f"ray://{address}")
    if scheme or not parsed.hostname or not parsed.port:
        raise RunError(f"Ray address {address!r} is not HOST:PORT (the head's GCS address) or auto")
    return parsed.hostname, parsed.port


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """RunError (one line) unless something listens on the address's host and port."""
    target = address_host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        raise RunError(
            f"Ray cluster at {address} is unreachable ({exc.strerror or exc}); "
            "check --ray-address / RAY_ADDRESS (the head's GCS address, e.g. 10.0.0.1:6379)"
        ) from None


def connect(address: str | None) -> bool:
    """Initialise Ray unless it already is; True when this call started it (the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    # Ray's own messages (token-auth notice, Ray Data progress/INFO lines, workers' stdout) go to Ray's
    # log files (session_*/logs), not over the command's progress bar; errors still surface as exceptions.
    kwargs = {"logging_level": logging.ERROR, "log_to_driver": False, "configure_logging": True}
    # Inside `ray job submit`, Ray sets RAY_ADDRESS: join the job's cluster.
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_reachable(address)
        try:  # no resource arguments: a running cluster's resources are its own
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, TimeoutError, ValueError, ray.exceptions.RayError) as exc:
            hint = ""
            if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
                hint = (
                    " (if the cluster runs with RAY_AUTH_MODE=token, set RAY_AUTH_MODE=token here too, "
                    "with its token in ~/.ray/auth_token or RAY_AUTH_TOKEN_PATH)"
                )
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise RunError(f"cannot join Ray cluster at {address}: {first}{hint}") from None
    else:
        # address="local": a private in-process instance even when a `ray start` head runs on this machine
        # (plain ray.init() would join that head and then refuse num_cpus).
        ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, **kwargs)
    return True


def quiet_ray_data_console() -> None:
    """Ray Data logs INFO/WARNING lines to the console (progress-bar notice, "execution finished"); keep
    them in its session log file (ray-data.log) only."""
    for handler in logging.getLogger("ray.data").handlers:
        if type(handler).__name__ != "SessionFileHandler":
            handler.setLevel(logging.ERROR)


class CurrentStderr:
    """A file object that writes to whatever ``sys.stderr`` is at each call (for progress bars created
    before ``native_stderr_to_ray_logs`` swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def fileno(self) -> int:
        return sys.stderr.fileno()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", None) or "utf-8"


def _ray_logs_dir() -> str:
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    path = node.get_logs_dir_path() if node is not None else None
    return path or tempfile.gettempdir()


# The terminal streams handed out as sys.stderr, one per terminal (device, inode): never closed, because
# logging handlers created while one was sys.stderr (Ray Data configures its own) keep writing to it.
_TERMINALS: dict[tuple[int, int], TextIO] = {}


def _terminal_stream(fd: int, encoding: str) -> TextIO:
    """A text stream on (a duplicate of) ``fd``, reused for the same terminal/file."""
    info = os.fstat(fd)
    key = (info.st_dev, info.st_ino)
    stream = _TERMINALS.get(key)
    if stream is None or stream.closed:
        stream = open(os.dup(fd), "w", encoding=encoding, errors="backslashreplace", buffering=1)  # noqa: SIM115
        _TERMINALS[key] = stream
    return stream


@contextlib.contextmanager
def native_stderr_to_ray_logs() -> Iterator[None]:
    """While Ray runs, file descriptor 2 of this process goes to ``<ray session>/logs/driver-native.log``.

    Ray's C++ core worker logs straight to fd 2, past Python's logging (e.g. the ``core_worker.cc`` line
    that every Ray Data actor pool triggers: "has constructor arguments in the object store and
    max_restarts > 0" — Ray Data always passes its transform by reference). Python's ``sys.stderr`` is
    re-pointed at the original terminal, so our progress bar, warnings and tracebacks still reach the user.
    Does nothing when stderr has no file descriptor (e.g. captured by a test runner).
    """
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    original = sys.stderr
    log = open(os.path.join(_ray_logs_dir(), "driver-native.log"), "ab")  # noqa: SIM115 - closed below
    try:
        stream = _terminal_stream(terminal, getattr(original, "encoding", None) or "utf-8")
        os.dup2(log.fileno(), 2)
        sys.stderr = stream
        try:
            yield
        finally:
            stream.flush()
            sys.stderr = original
    finally:
        os.dup2(terminal, 2)
        os.close(terminal)
        log.close()
