"""The cluster story of infra/README.md, run as written: SeaweedFS on loopback, a Ray head with token
authentication, `ray job submit` of jobs/attribute.py, and the run committed in the S3 store.

The commands are read from the README's ``local-cluster`` block and run with only ports and paths
substituted (free ports, a temporary directory, a temporary HOME holding ~/.ray/auth_token). The one
deviation: `ray start --head` runs through ``RayHead`` (``--block`` in its own process group, every other
Ray port pinned to a free one, stopped by pid); the test checks that every flag of the README's line is
on that command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.conftest import PROJECT_ROOT
from tests.services.ray_head import RayHead, venv_env
from tests.services.seaweed import server_ports

README = PROJECT_ROOT / "infra" / "README.md"
AWS_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
SEAWEED_PORTS = {"master": 9333, "volume": 9340, "filer": 8888, "s3": 8333, "admin": 23646}
RAY_PORTS = {"gcs": 6379, "dashboard": 8265}
MODEL = "protxai_ray/demo_models/membrane"
RUN_ID = "local-1"


def readme_commands() -> list[str]:
    """The shell commands of the README's local-cluster block: continuations joined, heredocs kept whole."""
    text = README.read_text()
    block = text.split("<!-- local-cluster:begin -->", 1)[1].split("<!-- local-cluster:end -->", 1)[0]
    lines = block.split("```bash\n", 1)[1].rsplit("```", 1)[0].splitlines()
    commands, i = [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "<<'EOF'" in line:
            end = lines.index("EOF", i)
            commands.append("\n".join([line, *lines[i : end + 1]]))
            i = end + 1
            continue
        while line.endswith("\\"):
            line = line[:-1].rstrip() + " " + lines[i].strip()
            i += 1
        commands.append(line)
    return commands


def _seaweed_ports() -> dict[str, int]:
    """The README's SeaweedFS services on free port pairs (base and gRPC base + 10000) below the
    ephemeral range, like the test SeaweedFS server's."""
    return server_ports(tuple(SEAWEED_PORTS))


def substitute(command: str, ports: dict[str, int], paths: dict[str, str]) -> str:
    for name, default in {**SEAWEED_PORTS, **RAY_PORTS}.items():
        if name in ports:
            command = re.sub(rf"(?<=[:=]){default}(?!\d)", str(ports[name]), command)
    for old, new in paths.items():
        command = command.replace(old, new)
    return command


def _listening(pid: int) -> set[tuple[str, int]]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    out = set()
    for proc in procs:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                out.add((conn.laddr.ip, conn.laddr.port))
    return out


@pytest.mark.slow
def test_infra_readme_local_cluster_as_written(tmp_path):
    from protxai_ray import __version__
    from protxai_ray.models.registry import weights_sha256
    from protxai_ray.pipeline.provenance import source_sha256

    home = tmp_path / "home"
    home.mkdir()
    ports = _seaweed_ports()
    paths = {"/tmp/seaweed": str(tmp_path / "seaweed")}
    env = venv_env({"HOME": str(home)})
    for key in (*AWS_KEYS, "RAY_AUTH_MODE", "RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(key, None)  # only what the README exports
    commands = readme_commands()
    assert any(c.startswith("ray job submit") for c in commands)
    weed: subprocess.Popen | None = None
    head: RayHead | None = None
    outputs: dict[str, str] = {}
    sources_before = source_sha256()
    try:
        for raw in commands:
            if raw.startswith("ray start"):
                head = RayHead(
                    tmp_path / "ray-head",
                    num_cpus=2,
                    env_extra={k: env[k] for k in (*AWS_KEYS, "RAY_AUTH_MODE", "HOME") if k in env},
                )
                head.start()
                ports.update(gcs=head.port, dashboard=head.dashboard_port)
                flags = shlex.split(substitute(raw, ports, paths))[2:]
                missing = [f for f in flags if f not in head.command]
                assert not missing, f"README's ray start flags not on the test head's command: {missing}"
                continue
            command = substitute(raw, ports, paths)
            if command.startswith("export "):
                for assignment in shlex.split(command)[1:]:
                    key, _, value = assignment.partition("=")
                    env[key] = value
                continue
            if command.startswith("weed mini"):
                assert command.endswith("&")
                weed = subprocess.Popen(
                    ["bash", "-c", "exec " + command[:-1]],
                    cwd=PROJECT_ROOT,
                    env=env,
                    start_new_session=True,
                )
                continue
            run_env = dict(env)
            if command.startswith("ray job submit"):  # the submitting shell needs no S3 credentials
                for key in AWS_KEYS:
                    run_env.pop(key, None)
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=PROJECT_ROOT,
                env=run_env,
                capture_output=True,
                text=True,
                timeout=480 if command.startswith("ray job submit") else 120,
            )
            assert done.returncode == 0, f"{raw[:80]}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            outputs[raw.split()[0] + " " + raw.split()[1]] = done.stdout + done.stderr

        assert weed is not None and head is not None
        # SeaweedFS listens on loopback only, on the README's five ports and their gRPC ports.
        listening = _listening(weed.pid)
        assert listening and {ip for ip, _ in listening} == {"127.0.0.1"}, listening
        allowed = {p for port in SEAWEED_PORTS if port in ports for p in (ports[port], ports[port] + 10000)}
        assert {port for _, port in listening} <= allowed, listening

        secret = env["AWS_SECRET_ACCESS_KEY"]
        assert f"run_id={RUN_ID}" in outputs["ray job"]
        assert "local-1" in outputs["protxai query"]
        assert secret not in outputs["ray job"]

        # The run committed, with the model path as given, its weights' hash and the code's version.
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret,
            region_name=env["AWS_REGION"],
        )
        body = s3.get_object(Bucket="protxai", Key=f"store/runs/run_id={RUN_ID}/manifest.json")["Body"]
        manifest = json.loads(body.read())
        assert manifest["finished"] is not None and manifest["shards"]
        assert manifest["model"]["path"] == MODEL
        assert manifest["model"]["sha256"] == weights_sha256(str(PROJECT_ROOT / MODEL))
        code = manifest["code"]
        assert code["package"] == __version__ and manifest["code_version"].startswith(__version__)
        assert code["git_commit"] is None  # the working-dir package has no .git and none was passed
        if source_sha256() == sources_before:  # (others may edit the tree meanwhile)
            assert code["source_sha256"] == sources_before

        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        # What `ray job list` shows carries no credentials; without RAY_AUTH_MODE=token it is refused.
        listed = subprocess.run(
            ["ray", "job", "list", "--address", dashboard],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0 and secret not in listed.stdout + listed.stderr
        no_mode = {k: v for k, v in env.items() if k != "RAY_AUTH_MODE"}
        refused = subprocess.run(
            ["ray", "job", "list", "--address", dashboard],
            env=no_mode,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode != 0 and "authentication token" in refused.stdout + refused.stderr

        # A driver outside a job joins the same cluster through RAY_ADDRESS (no resource arguments).
        joined = subprocess.run(
            [
                "protxai",
                "attribute",
                "--store",
                "s3://protxai/store",
                "--release",
                "tmbed_cv4",
                "--model",
                MODEL,
                "--target",
                "label",
                "--steps",
                "8",
                "--where",
                "length < 60",
                "--run-id",
                "joined-1",
                "--no-progress",
            ],
            cwd=PROJECT_ROOT,
            env={**env, "RAY_ADDRESS": head.address},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert joined.returncode == 0, joined.stdout[-2000:] + joined.stderr[-2000:]
        body = s3.get_object(Bucket="protxai", Key="store/runs/run_id=joined-1/manifest.json")["Body"]
        assert json.loads(body.read())["finished"] is not None
    finally:
        if head is not None:
            head.stop()
        if weed is not None and weed.poll() is None:
            os.killpg(weed.pid, signal.SIGTERM)
            try:
                weed.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(weed.pid, signal.SIGKILL)
                weed.wait(timeout=5)


def test_readme_block_parses_into_the_documented_steps():
    commands = readme_commands()
    starts = [c.split()[0] for c in commands]
    assert starts.count("weed") == 1 and "ray" in starts
    weed_line = next(c for c in commands if c.startswith("weed mini"))
    for flag in ("-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false", "-s3.config="):
        assert flag in weed_line
    submit = next(c for c in commands if c.startswith("ray job submit"))
    assert "AWS_" not in submit and "runtime-env" not in submit
    assert "export RAY_AUTH_MODE=token" in commands
    ray_start = commands.index(next(c for c in commands if c.startswith("ray start")))
    assert commands.index("export RAY_AUTH_MODE=token") < ray_start
    assert all("AWS_SECRET_ACCESS_KEY" not in c or c.startswith("export ") for c in commands)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("http://127.0.0.1:8265", "dashboard"),
        ("ray://127.0.0.1:10001", "Ray Client"),
        ("head", "not HOST:PORT"),
    ],
)
def test_addresses_that_cannot_run_a_pipeline_fail_in_one_line(address, message):
    from protxai_ray.errors import RunError
    from protxai_ray.pipeline.cluster import address_host_port

    assert address_host_port("auto") is None
    assert address_host_port("10.0.0.1:6379") == ("10.0.0.1", 6379)
    with pytest.raises(RunError, match=message):
        address_host_port(address)


def test_code_version_without_git_takes_the_commit_from_the_environment(monkeypatch):
    from protxai_ray.pipeline import provenance

    monkeypatch.setattr(provenance, "_git_commit", lambda root: None)
    monkeypatch.delenv(provenance.GIT_COMMIT_ENV, raising=False)
    info = provenance.code_version.__wrapped__()
    assert info["git_commit"] is None and len(info["source_sha256"]) == 64
    monkeypatch.setenv(provenance.GIT_COMMIT_ENV, "0123abc")
    assert provenance.code_version.__wrapped__()["git_commit"] == "0123abc"
    assert provenance._git_commit(Path("/nonexistent")) is None
