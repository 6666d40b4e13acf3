"""Connecting to Ray: in-process local Ray by default, or an existing cluster checked for reachability first.

``ray.init(address=...)`` against a dead address retries for a long time and then dies with a stack of
Ray internals; a TCP connect with a short timeout first turns that into one ``RunError`` line.
"""

from __future__ import annotations

import logging
import os
import socket
from urllib.parse import urlparse

from protxai_ray.errors import RunError

CONNECT_TIMEOUT_S = 3.0


def address_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray address (``host:port``, ``ray://host:port``, ``http://host:port``); None for auto."""
    if address in ("auto", "local"):
        return None
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if not parsed.hostname or not parsed.port:
        raise RunError(f"--ray-address {address!r} is not HOST:PORT, ray://HOST:PORT or auto")
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
            "check --ray-address (the head's GCS port, e.g. 10.0.0.1:6379, or ray://HOST:10001)"
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
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise RunError(f"cannot join Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
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
