"""Suite-wide fixtures: the shipped data, and a real SeaweedFS S3 server started once per session."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.services.seaweed import SeaweedServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
UNIPROT_DATA = SHARED_DATA / "uniprot"
TMBED_DATA = SHARED_DATA / "tmbed"

# Keep the 2-core machine usable when several tests run torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_bucket_counter = itertools.count()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory) -> SeaweedServer:
    """A real S3 server for the whole session; tests that stop it must restart it."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(seaweed, monkeypatch) -> dict[str, str]:
    """AWS_* variables pointing at the test server, set for this test."""
    env = seaweed.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_store(seaweed, s3_env) -> str:
    """A fresh ``s3://bucket/prefix`` store URI on the test server."""
    bucket = f"protxai-{os.getpid()}-{next(_bucket_counter)}"
    seaweed.create_bucket(bucket)
    return f"s3://{bucket}/store"
