"""A local Ray head for tests (``ray start --head --block`` on free loopback ports), stopped by its pid.

``ray stop`` would kill every Ray on the machine; instead the head runs with ``--block`` in its own
session (process group): its GCS, raylet, dashboard and workers are its descendants, and ``stop()``
signals exactly that group (then sweeps any descendant that left it, by pid, via psutil).
Token authentication is disabled explicitly (``RAY_AUTH_MODE=disabled``) for loopback-only tests;
``env_extra={"RAY_AUTH_MODE": "token", "HOME": DIR}`` starts a head that enforces the token in
``DIR/.ray/auth_token`` (``tests/pipeline/test_jobs.py``).

``RayWorkerNode`` joins such a head as a second node on the same machine (``ray start --address=HEAD
--block``, own temp dir and ports, own process group): ``kill()`` SIGKILLs its whole group (raylet, agents,
its workers) to simulate losing the node; ``pids()`` lists its processes, so a test can tell which
actors it hosted. ``RayHead.nodes()`` is the head's view of the cluster's nodes (state API).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.services.seaweed import free_port


def venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for Ray processes: the venv's bin first on PATH, token auth off, 1 torch thread."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_AUTH_MODE"] = "disabled"
    env.setdefault("OMP_NUM_THREADS", "1")
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(extra or {})
    return env


def node_port_flags() -> list[str]:
    """Every per-node port of ``ray start``, explicit and free: other Rays on the machine (parallel test
    sessions) must not collide."""
    return [
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
    ]


@dataclass
class RayHead:
    """One running head; ``address`` is the GCS ``127.0.0.1:PORT``, ``dashboard`` the job API URL."""

    workdir: Path
    num_cpus: int = 2
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    dashboard_port: int = 0
    client_port: int = 0
    process: subprocess.Popen | None = None
    temp_dir: str | None = None
    command: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start(self, timeout: float = 150.0, attempts: int = 2) -> None:
        """Start the head; on a loaded machine a sub-process may time out once, so try again."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise

    def _start_once(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.dashboard_port, self.client_port = free_port(), free_port(), free_port()
        ray_bin = Path(sys.executable).parent / "ray"
        cmd = [
            str(ray_bin),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={self.client_port}",
            *node_port_flags(),
            f"--num-cpus={self.num_cpus}",
            "--num-gpus=0",
            "--disable-usage-stats",
            # short: Ray's AF_UNIX socket paths under it must stay below 108 bytes
            f"--temp-dir={self._temp_dir()}",
        ]
        self.command = cmd
        log = open(self.workdir / "ray-head.out", "ab")
        self.process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=venv_env(self.env_extra), start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray head exited early; see {self.workdir / 'ray-head.out'}")
            if self._ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"ray head not ready after {timeout}s; see {self.workdir / 'ray-head.out'}")

    def _temp_dir(self) -> str:
        if self.temp_dir is None:
            self.temp_dir = tempfile.mkdtemp(prefix="rayh-", dir="/tmp")
        return self.temp_dir

    def nodes(self) -> list[dict]:
        """The cluster's nodes as the head sees them (``node_id``, ``state`` ALIVE/DEAD, ``resources_total``)."""
        url = f"{self.dashboard}/api/v0/nodes?limit=100&detail=true"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        return body["data"]["result"]["result"]

    def pids(self) -> set[int]:
        """The head's process and all its descendants now (raylet, GCS, agents, workers on the head node)."""
        return _process_tree(self.process)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
            with urllib.request.urlopen(f"{self.dashboard}/api/version", timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:
            return exc.code == 401  # token authentication on: the dashboard answers, and refuses us
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the head's process group and any descendants (only what this object started)."""
        if self.process is None:
            return
        try:
            descendants = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            descendants = []
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with_group = [p for p in descendants if p.is_running()]
        for proc in with_group:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(with_group, timeout=10)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers still in the group
        except ProcessLookupError:
            pass
        self.process = None
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None


def _process_tree(process: subprocess.Popen | None) -> set[int]:
    if process is None or process.poll() is not None:
        return set()
    try:
        root = psutil.Process(process.pid)
        return {root.pid, *(p.pid for p in root.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


@dataclass
class RayWorkerNode:
    """A second Ray node on this machine joined to ``head`` (its own temp dir, ports and process group)."""

    head: RayHead
    workdir: Path
    num_cpus: int = 1
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    temp_dir: str | None = None
    node_id: str | None = None

    def start(self, timeout: float = 150.0) -> None:
        """Start the node and wait until the head lists it ALIVE (``node_id`` set)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.temp_dir = tempfile.mkdtemp(prefix="rayw-", dir="/tmp")
        before = {n["node_id"] for n in self.head.nodes()}
        cmd = [
            str(Path(sys.executable).parent / "ray"),
            "start",
            f"--address={self.head.address}",
            "--block",
            "--node-ip-address=127.0.0.1",
            *node_port_flags(),
            f"--num-cpus={self.num_cpus}",
            "--num-gpus=0",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]
        log = open(self.workdir / "ray-worker-node.out", "ab")
        self.process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=venv_env(self.env_extra), start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"ray worker node exited early; see {self.workdir / 'ray-worker-node.out'}"
                )
            new = [
                n
                for n in self.head.nodes()
                if not n["is_head_node"] and n["node_id"] not in before and n["state"] == "ALIVE"
            ]
            if new:
                self.node_id = new[0]["node_id"]
                return
            time.sleep(0.5)
        self.kill()
        raise RuntimeError(
            f"ray worker node not ALIVE after {timeout}s; see {self.workdir / 'ray-worker-node.out'}"
        )

    def pids(self) -> set[int]:
        """The node's ``ray start`` process and all its descendants now (raylet, agents, workers)."""
        return _process_tree(self.process)

    def kill(self) -> set[int]:
        """Lose the node: SIGKILL its process group and every descendant; returns the pids killed."""
        if self.process is None:
            return set()
        pids = self.pids()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        left = []
        for pid in pids:  # descendants that left the group (none expected)
            try:
                proc = psutil.Process(pid)
                proc.kill()
                left.append(proc)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=10)
        self.process.wait(timeout=10)
        return pids

    def stop(self) -> None:
        """Kill the node if still running and remove its temp dir (only what this object started)."""
        self.kill()
        self.process = None
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None
